"""The 2020 census figures of every county of China, shipped with the package, and the choice of a city's districts.

`counties_2020.csv` is derived by scripts/derive_census_table.py from census_county_2020_v1.xlsx
(Lei Dong et al., github.com/leiii/census, MIT licence: CENSUS-LICENSE beside it). One row per
coded row of the census sheet: provinces (xx0000), prefectures (xxxx00, also the aggregate rows
市辖区 and 县 of the municipalities) and counties/districts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from allocator.errors import InputError, Problem

TABLE = Path(__file__).with_name("counties_2020.csv")
MUNICIPALITIES = ("110000", "120000", "310000", "500000")      # province-level cities: their districts are the city's
COUNT_COLUMNS = ["pop", "urban", "rural", "households", "elsewhere_same_district", "elsewhere_other_district",
                 "elsewhere_other_province"]


@dataclass(frozen=True)
class CityChoice:
    """The districts (counties) a code stands for."""

    adcode: str
    name_zh: str                 # 重庆市, 厦门市, 厦门市思明区
    level: str                   # "municipality", "prefecture" or "county"
    rows: pd.DataFrame           # the districts' census rows, by adcode
    blanks: tuple[str, ...]      # "adcode column" cells the census leaves blank (read as 0)


def read_table(path: Path = TABLE) -> pd.DataFrame:
    table = pd.read_csv(path, dtype={"adcode": str, "province": str, "city": str, "name": str}, keep_default_na=False,
                        na_values={c: [""] for c in COUNT_COLUMNS})
    return table.set_index("adcode", drop=False)


def _label(row: pd.Series) -> str:
    return f"{row['adcode']} {row['name'] if row['name'] not in ('市辖区', '县') else row['city'] + row['name']}"


def _nearest(table: pd.DataFrame, code: str, n: int = 8) -> list[str]:
    """Codes sharing the longest leading digits with `code`, then the numerically closest."""
    codes = table["adcode"]
    named = table[table["name"].str.contains(code, regex=False) | table["city"].str.contains(code, regex=False)] if code else []
    if len(named):
        return [_label(r) for _, r in named.iloc[:n].iterrows()]
    digits = re.match(r"\d*", code).group()
    for k in range(min(len(digits), 6), 0, -1):
        near = codes[codes.str.startswith(digits[:k])]
        if len(near):
            break
    else:
        near = codes
    if digits:
        near = near.iloc[(near.astype(int) - int(digits.ljust(6, "0")[:6])).abs().argsort(kind="stable")]
    return [_label(table.loc[c]) for c in near.iloc[:n]]


def choose(code: str, table: pd.DataFrame | None = None) -> CityChoice:
    """The districts of a prefecture-level city, a municipality, or one county/district.

    InputError for an unknown code (listing the nearest codes and names) and for a province
    (listing its cities: a province is too large for one instance)."""
    table = read_table() if table is None else table
    code = str(code).strip()
    where = f"adcode {code}"
    if code not in table.index:
        raise InputError(Problem(where, "is not a code of the 2020 census (a 6-digit 区划代码); nearest: "
                                        + "; ".join(_nearest(table, code))))
    row = table.loc[code]
    num = int(code)
    is_county_row = ~table["adcode"].str.endswith("00")
    if code in MUNICIPALITIES:
        rows, level, name = table[is_county_row & table["adcode"].str.startswith(code[:2])], "municipality", row["name"]
    elif num % 10000 == 0:
        cities = table[(table["adcode"].str.startswith(code[:2])) & (table["adcode"] != code)
                       & (table["adcode"].str.endswith("00") | (table["adcode"].str[2:4] == "90"))]
        raise InputError(Problem(where, f"is a province ({row['name']}), too large for one city: build one of its "
                                        "cities: " + "; ".join(_label(r) for _, r in cities.iterrows())))
    elif num % 100 == 0:
        rows = table[is_county_row & table["adcode"].str.startswith(code[:4])]
        if rows.empty:                              # a prefecture-level city without counties (东莞, 中山, 儋州)
            rows = table.loc[[code]]
        level, name = "prefecture", row["city"]
    else:
        rows, level = table.loc[[code]], "county"
        name = row["name"] if row["city"] == row["name"] else row["city"] + row["name"]
    blanks = tuple(f"{c} {col}" for col in COUNT_COLUMNS for c in rows.index[rows[col].isna()])
    rows = rows.copy()
    rows[COUNT_COLUMNS] = rows[COUNT_COLUMNS].fillna(0).astype("int64")
    return CityChoice(code, str(name), level, rows.sort_index(), blanks)
