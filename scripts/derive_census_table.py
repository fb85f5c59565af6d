"""Derive the compact county table shipped inside the package from the 2020 census workbook.

    python scripts/derive_census_table.py [--census ../shared/data/china-census2020-county]

Reads sheet 七普（年鉴） of census_county_2020_v1.xlsx (Lei Dong et al., github.com/leiii/census,
MIT licence) and writes allocator/data/china/counties_2020.csv: one row per coded row of the sheet
(rows without a 区划代码, the nation's among them, are left out), with the columns `allocator
build-city` uses. It copies the census LICENSE beside the table. The same workbook gives byte-identical files.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import openpyxl
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CENSUS = ROOT.parent / "shared" / "data" / "china-census2020-county"
OUT = ROOT / "allocator" / "data" / "china"
SHEET = "七普（年鉴）"
COLUMNS = {                                   # census column -> table column
    "区划代码": "adcode", "省": "province", "市": "city", "区县": "name",
    "人口数_合计": "pop", "城镇人口": "urban", "乡村人口": "rural", "家庭户数": "households",
    "人口比重_0-14岁": "share_0_14", "人口比重_65岁及以上": "share_65",
    "户口登记地在外乡镇街道人口_本县": "elsewhere_same_district",
    "户口登记地在外乡镇街道人口_本省其他县": "elsewhere_other_district",
    "户口登记地在外乡镇街道人口_省外": "elsewhere_other_province",
}
COUNTS = ["pop", "urban", "rural", "households", "elsewhere_same_district", "elsewhere_other_district",
          "elsewhere_other_province"]


def read_sheet(path: Path) -> pd.DataFrame:
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        rows = book[SHEET].iter_rows(values_only=True)
        header = next(rows)
        at = [header.index(c) for c in COLUMNS]
        kept = [[row[i] for i in at] for row in rows if isinstance(row[at[0]], (int, float))]
    finally:
        book.close()
    return pd.DataFrame(kept, columns=list(COLUMNS.values()))


def derive(census: Path) -> pd.DataFrame:
    frame = read_sheet(census / "census_county_2020_v1.xlsx")
    frame["adcode"] = frame["adcode"].astype("int64")
    # A count the sheet gives as "NA" (长汀县's residents registered in another county) is stored
    # empty; build-city reads it as 0 and says so in the city's PROVENANCE.md.
    for column in COUNTS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").round().astype("Int64")
    if frame["adcode"].duplicated().any():
        raise SystemExit(f"duplicate codes: {sorted(frame.loc[frame['adcode'].duplicated(), 'adcode'])[:5]}")
    return frame.sort_values("adcode", kind="stable").reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--census", type=Path, default=DEFAULT_CENSUS, help="folder holding census_county_2020_v1.xlsx")
    parser.add_argument("--out", type=Path, default=OUT, help="folder to write (default: the package's)")
    args = parser.parse_args(argv)
    table = derive(args.census)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "counties_2020.csv", index=False, lineterminator="\n")
    shutil.copyfile(args.census / "LICENSE", args.out / "CENSUS-LICENSE")
    print(f"{len(table):,} rows -> {args.out / 'counties_2020.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
