"""Validation rules: raw text tables in, typed frames out, every problem collected.

Each rule is a small function that appends `Problem`s naming the file, the row the user
sees, the column, the value and the rule; none stops at the first problem.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from allocator.errors import Problem
from allocator.data.readers import RawTable
from allocator.data.schema import LONLAT, TABLE_BY_NAME, Column, Table, column_limit

MISSING = {"", "nan", "NaN", "NAN", "NA", "N/A", "n/a", "null", "NULL", "None", "#N/A"}


class RowNumbers(tuple):
    """The row each frame row came from; immutable, so pandas need not deep-copy it with attrs."""

    def __deepcopy__(self, memo: dict) -> "RowNumbers":
        return self


def type_table(raw: RawTable, problems: list[Problem]) -> pd.DataFrame | None:
    """Check columns and cell types of one table; return it typed (None if unusable)."""
    table = TABLE_BY_NAME[raw.name]
    _check_header(raw, problems)
    present = set(raw.header)
    missing = [c.name for c in table.columns if c.required and c.name not in present]
    for name in missing:
        problems.append(Problem(raw.file, "required column is missing", column=name))
    if not raw.rows and table.name in ("districts", "towns", "grids"):
        problems.append(Problem(raw.file, "table has no data rows"))
    if table.has_coordinates:
        _check_coordinate_columns(raw, present, problems)
    columns: dict[str, Any] = {}
    position = {h: i for i, h in enumerate(raw.header)}
    for spec in (*table.columns, *LONLAT):
        if spec.name in position and (spec in table.columns or table.has_coordinates):
            cells = [row[position[spec.name]] for row in raw.rows]
            columns[spec.name] = _type_column(raw, spec, cells, problems)
    for extra in raw.header:
        if extra not in columns and extra:
            columns[extra] = [row[position[extra]].strip() for row in raw.rows]
    frame = pd.DataFrame(columns)
    frame.attrs["row_numbers"] = RowNumbers(raw.row_numbers)
    frame.attrs["file"] = raw.file
    if missing or (not raw.rows and table.name in ("districts", "towns", "grids")):
        return None
    _check_unique_key(raw, table, frame, problems)
    return frame


def _check_header(raw: RawTable, problems: list[Problem]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(raw.header, start=1):
        if not name:
            problems.append(Problem(raw.file, f"header cell {i} is empty", row=1))
        elif name in seen:
            problems.append(Problem(raw.file, "column appears twice in the header", row=1, column=name))
        seen.add(name)


def _check_coordinate_columns(raw: RawTable, present: set[str], problems: list[Problem]) -> None:
    has_xy = {"x", "y"} <= present
    has_ll = {"lon", "lat"} <= present
    if has_xy or has_ll:
        return
    pair = ("lon", "lat") if {"lon", "lat"} & present and not {"x", "y"} & present else ("x", "y")
    absent = next(c for c in pair if c not in present)
    problems.append(Problem(raw.file, "coordinates are missing: give columns x and y (metres) or lon and lat (degrees)", column=absent))


def _type_column(raw: RawTable, spec: Column, cells: list[str], problems: list[Problem]) -> list[Any]:
    """The column's typed values; a column with no problem is typed at once (`_clean_column`),
    any other cell by cell, so each problem names its row."""
    clean = _clean_column(spec, cells)
    if clean is not None:
        return clean
    out: list[Any] = []
    for cell, row in zip(cells, raw.row_numbers):
        text = cell.strip()
        if text in MISSING:
            if spec.required or spec.name in ("x", "y", "lon", "lat"):
                problems.append(Problem(raw.file, "value is missing", row=row, column=spec.name, value=cell if cell else None))
            out.append(None if spec.kind in ("id", "str", "enum") else math.nan)
            continue
        out.append(_typed_cell(raw, spec, text, row, problems))
    return out


def _clean_column(spec: Column, cells: list[str]) -> list[Any] | None:
    """The values `_typed_cell` gives a column none of whose cells breaks a rule, typed in one pass
    (a city's 50,000 grids in milliseconds instead of seconds); None when any cell might break one."""
    texts = [cell.strip() for cell in cells]
    if not MISSING.isdisjoint(texts):
        return None
    if spec.kind in ("id", "str"):
        return texts
    if spec.kind == "enum":
        values = [text.lower() for text in texts]
        return values if set(values) <= set(spec.choices) else None
    try:
        numbers = np.fromiter(map(float, texts), dtype=np.float64, count=len(texts))
    except ValueError:
        return None
    if not np.isfinite(numbers).all():
        return None
    if spec.kind == "flag":
        return numbers.astype(np.int64).tolist() if np.isin(numbers, (0.0, 1.0)).all() else None
    limit = column_limit(spec)
    if spec.name not in ("lon", "lat") and (np.abs(numbers) > limit.high).any():
        return None
    if spec.kind == "int" and (numbers != np.floor(numbers)).any():
        return None
    if (spec.positive and (numbers <= 0).any()) or (spec.nonnegative and (numbers < 0).any()):
        return None
    bounds = {"lon": 180, "lat": 90}.get(spec.name)
    if bounds is not None and (np.abs(numbers) > bounds).any():
        return None
    return numbers.astype(np.int64).tolist() if spec.kind == "int" else numbers.tolist()


def _typed_cell(raw: RawTable, spec: Column, text: str, row: int, problems: list[Problem]) -> Any:
    def bad(rule: str) -> None:
        problems.append(Problem(raw.file, rule, row=row, column=spec.name, value=text))

    if spec.kind in ("id", "str"):
        return text
    if spec.kind == "enum":
        value = text.lower()
        if value not in spec.choices:
            bad(f"unknown value; use one of {', '.join(spec.choices)}")
        return value
    try:
        number = float(text)
    except ValueError:
        bad({"float": "must be a number", "flag": "must be 0 or 1"}.get(spec.kind, "must be a whole number"))
        return math.nan
    if not math.isfinite(number):
        bad("must be a finite number")
        return math.nan
    if spec.kind == "flag":
        if number not in (0.0, 1.0):
            bad("must be 0 or 1")
        return int(number == 1.0)
    limit = column_limit(spec)
    if spec.name not in ("lon", "lat") and abs(number) > limit.high:     # the sign is checked below
        bad(f"number is too large: {limit.rule()}")
        return math.nan
    if spec.kind == "int":
        if not number.is_integer():
            bad("must be a whole number")
            return math.nan
        number = int(number)
    if spec.positive and number <= 0:
        bad("must be greater than 0")
    elif spec.nonnegative and number < 0:
        bad("must not be negative")
    if spec.name == "lon" and not -180 <= number <= 180:
        bad("longitude must lie between -180 and 180")
    if spec.name == "lat" and not -90 <= number <= 90:
        bad("latitude must lie between -90 and 90")
    return number


def _check_unique_key(raw: RawTable, table: Table, frame: pd.DataFrame, problems: list[Problem]) -> None:
    """Each key appears once; rows with a missing key part are already reported as missing."""
    key = list(table.key)
    rows = frame.attrs["row_numbers"]
    first: dict[tuple, int] = {}
    for i, value in enumerate(frame[key].itertuples(index=False, name=None)):
        if any(pd.isna(v) for v in value):
            continue
        if value in first:
            problems.append(Problem(raw.file, f"duplicate id; the same id is already on row {rows[first[value]]}",
                                    row=rows[i], column="+".join(key), value="/".join(value)))
        else:
            first[value] = i


def check_references(frames: dict[str, pd.DataFrame], problems: list[Problem]) -> None:
    """Every foreign key resolves: grid→town→district, site→town, travel→grid and site."""
    for name, frame in frames.items():
        for spec in TABLE_BY_NAME[name].columns:
            if not spec.refers_to:
                continue
            target_table, target_column = spec.refers_to.split(".")
            target = frames.get(target_table)
            if target is None or spec.name not in frame:
                continue
            known = set(target[target_column].dropna())
            rows = frame.attrs["row_numbers"]
            for i, value in enumerate(frame[spec.name]):
                if not pd.isna(value) and value not in known:
                    problems.append(Problem(frame.attrs["file"], f"refers to an id not found in {target.attrs['file']} column '{target_column}'", row=rows[i], column=spec.name, value=value))


def check_implied_parents(frames: dict[str, pd.DataFrame], problems: list[Problem]) -> None:
    """A table that gives a town also giving its district (an extra column `district_id`, as in
    grids.csv) must name the town's own district: two parents for one row change its meaning."""
    towns = frames.get("towns")
    if towns is None or "district_id" not in towns:
        return
    district_of = dict(zip(towns["town_id"], towns["district_id"]))
    for name, frame in frames.items():
        if name in ("towns", "districts") or not {"town_id", "district_id"} <= set(frame.columns):
            continue
        rows = frame.attrs["row_numbers"]
        for i, (town, district) in enumerate(zip(frame["town_id"], frame["district_id"])):
            own = district_of.get(town)
            if own is None or pd.isna(own) or district is None or not str(district).strip():
                continue                     # an unknown town is reported as such
            if str(district).strip() != own:
                problems.append(Problem(frame.attrs["file"], f"town {town} lies in district {own} ({towns.attrs['file']}), "
                                                             f"not in {district}", row=rows[i], column="district_id", value=district))


def check_identities(frames: dict[str, pd.DataFrame], tolerance: float, problems: list[Problem]) -> None:
    """Population identities within and across tables."""
    towns, grids, districts = frames.get("towns"), frames.get("grids"), frames.get("districts")
    if towns is not None:
        _rows_where(towns, towns["pop_resident"] > towns["pop_registered"], "pop_resident",
                    "registered residents living in the town (pop_resident) cannot exceed the registered population (pop_registered)", problems)
    if grids is not None:
        _rows_where(grids, grids["elderly"] + grids["children"] > grids["population"], "elderly",
                    "elderly + children exceed the grid's population", problems)
        _rows_where(grids, grids["households"] > grids["population"], "households",
                    "more households than persons in the grid", problems)
    if towns is not None and grids is not None:
        _check_grid_totals(towns, grids, tolerance, problems)
    if districts is not None and towns is not None:
        _every_parent_has_children(districts, "district_id", towns, "towns", problems)
    if towns is not None and grids is not None:
        _every_parent_has_children(towns, "town_id", grids, "grids", problems)


def _rows_where(frame: pd.DataFrame, mask: pd.Series, column: str, rule: str, problems: list[Problem]) -> None:
    rows = frame.attrs["row_numbers"]
    for i in np.flatnonzero(mask.fillna(False).to_numpy(dtype=bool)):
        problems.append(Problem(frame.attrs["file"], rule, row=rows[i], column=column, value=frame[column].iloc[i]))


def _check_grid_totals(towns: pd.DataFrame, grids: pd.DataFrame, tolerance: float, problems: list[Problem]) -> None:
    population = pd.to_numeric(grids["population"], errors="coerce")
    held = population.groupby(grids["town_id"]).sum()
    unknown = set(grids["town_id"][population.isna()])   # a bad cell is reported where it is
    actual = pd.to_numeric(towns["pop_resident"], errors="coerce") + pd.to_numeric(towns["pop_migrant"], errors="coerce")
    rows = towns.attrs["row_numbers"]
    for i, (town, total) in enumerate(zip(towns["town_id"], actual)):
        if town not in held.index or town in unknown or not math.isfinite(total):
            continue
        in_grids = float(held[town])
        if abs(in_grids - total) > tolerance * max(total, 1.0):
            problems.append(Problem(towns.attrs["file"], f"actual population pop_resident + pop_migrant = {total:,.0f} but the town's grids hold {in_grids:,.0f} persons (more than {tolerance:.0%} apart)", row=rows[i], column="pop_migrant", value=towns["pop_migrant"].iloc[i]))


def _every_parent_has_children(parents: pd.DataFrame, key: str, children: pd.DataFrame, what: str, problems: list[Problem]) -> None:
    have = set(children[key].dropna())
    rows = parents.attrs["row_numbers"]
    for i, value in enumerate(parents[key]):
        if not pd.isna(value) and value not in have:
            problems.append(Problem(parents.attrs["file"], f"has no {what} in {children.attrs['file']}", row=rows[i], column=key, value=value))
