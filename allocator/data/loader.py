"""Load an instance (folder or workbook), validate it whole, return a typed `Instance`."""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pandas as pd

from allocator.data import geo
from allocator.data.config import check_config
from allocator.errors import InputError, Problem
from allocator.data.land import LAND_FILE, read_land
from allocator.data.instance import CityConfig, Instance
from allocator.data.readers import read_source
from allocator.data.schema import LONLAT, TABLE_BY_NAME, TABLES
from allocator.data.validate import check_identities, check_implied_parents, check_references, type_table

MAX_ROWS_DEFAULT = 5_000_000
MAX_ROWS_ENV = "ALLOCATOR_MAX_ROWS"
_RAISE_LIMIT = f"raise the limit (allocator --max-rows N, or {MAX_ROWS_ENV}) if the city is really so large"


def load_instance(path: str | Path, basis: str | None = None, max_rows: int | None = None) -> Instance:
    """Read, validate and type a city. Raises `InputError` listing every problem found.

    `max_rows` caps the rows of every table (default: $ALLOCATOR_MAX_ROWS, else 5,000,000);
    it is checked on the files before they are read whole (line ends of every kind counted), and
    again row by row while each table (CSV or sheet) is read, so a huge instance is refused before
    it fills memory. Files of a folder must lie inside it (a symlink out is refused)."""
    path = Path(path)
    max_rows = max_rows_limit(max_rows)
    _precheck(path, max_rows)
    raw, problems = read_source(path, max_rows)
    _check_size(raw.tables, max_rows)
    config = check_config(raw.config, raw.config_file, problems, raw.config_rows) if raw.config is not None else None
    frames: dict[str, pd.DataFrame] = {}
    for name, table in raw.tables.items():
        frame = type_table(table, problems)
        if frame is not None:
            frames[name] = frame
    check_references(frames, problems)
    check_implied_parents(frames, problems)
    tolerance = config.population_tolerance if config else 0.02
    check_identities(frames, tolerance, problems)
    _check_coordinate_kinds(frames, problems)
    if config is not None and "sites" in frames:
        _check_site_services(frames["sites"], config, problems)
    if problems or config is None:
        raise InputError(problems or [Problem(str(path), "instance could not be read")])
    instance = _assemble(config, frames, str(path))
    if path.is_dir() and (path / LAND_FILE).is_file():
        if not geo.uses_lonlat(frames["grids"]):
            raise InputError(Problem(str(path / LAND_FILE), "land polygons need lon/lat coordinates in the tables; "
                                                            "grids.csv gives x/y metres: remove land.geojson or give lon/lat"))
        instance = replace(instance, land=read_land(path / LAND_FILE))
    return instance.with_basis(basis)


def max_rows_limit(max_rows: int | None = None) -> int:
    if max_rows is not None:
        return int(max_rows)
    text = os.environ.get(MAX_ROWS_ENV, "").strip()
    if not text:
        return MAX_ROWS_DEFAULT
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise InputError(Problem(MAX_ROWS_ENV, "must be a whole number of rows ≥ 1", value=text, label="setting"))
    return value


def _precheck(path: Path, max_rows: int) -> None:
    """Before reading: every file of a folder inside it, and no table longer than `max_rows`."""
    if path.is_dir():
        root = path.resolve()
        for name in ["city.yaml", *(t.file for t in TABLES)]:
            file = path / name
            if file.is_symlink() or file.exists():
                if not file.resolve().is_relative_to(root):
                    raise InputError(Problem(name, f"points outside the instance folder (to {file.resolve()}); "
                                                   "copy the file into the folder instead of linking to it"))
                if name.endswith(".csv") and file.is_file():
                    _check_lines(file, name, max_rows)
    # a workbook's sheets are counted while they are read (readers.read_workbook): the size a sheet
    # declares (<dimension>) may be absent or wrong


def _check_lines(file: Path, shown: str, max_rows: int, chunk: int = 1 << 20) -> None:
    """Count line ends (LF, CRLF and a lone CR, as the CSV reader splits rows) without keeping the
    text; stop as soon as the cap (+ header) is passed."""
    lines = 0
    cr_before = False                       # the previous block ended in CR: a LF opening this one ends no new line
    with file.open("rb") as f:
        while block := f.read(chunk):
            lines += block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n") - (cr_before and block[:1] == b"\n")
            cr_before = block[-1:] == b"\r"
            if lines > max_rows + 1:
                raise InputError(Problem(shown, f"its rows exceed the limit of {max_rows:,} rows per table (counted before "
                                                f"reading); {_RAISE_LIMIT}"))


def _check_size(tables, max_rows: int) -> None:
    for table in tables.values():
        if len(table.rows) > max_rows:
            raise InputError(Problem(table.file, f"{len(table.rows):,} rows exceed the limit of {max_rows:,} rows per table ({MAX_ROWS_ENV})"))


def _check_coordinate_kinds(frames: dict[str, pd.DataFrame], problems: list[Problem]) -> None:
    kinds = {f.attrs["file"]: geo.uses_lonlat(f) for name, f in frames.items()
             if TABLE_BY_NAME[name].has_coordinates and ({"x", "y"} <= set(f.columns) or {"lon", "lat"} <= set(f.columns))}
    if len(set(kinds.values())) > 1:
        lonlat = [file for file, v in kinds.items() if v]
        xy = [file for file, v in kinds.items() if not v]
        verb = "gives" if len(lonlat) == 1 else "give"
        problems.append(Problem(", ".join(lonlat), f"{verb} lon/lat degrees while {', '.join(xy)} give x/y metres; use one kind of coordinates in every table", column="lon"))


def _check_site_services(sites: pd.DataFrame, config: CityConfig, problems: list[Problem]) -> None:
    rows = sites.attrs["row_numbers"]
    for i, service in enumerate(sites["service"]):
        if service is not None and service in TABLE_BY_NAME["sites"].column("service").choices and service not in config.services:
            problems.append(Problem(sites.attrs["file"], f"service is not among the city's services in city.yaml ({', '.join(config.services)})", row=rows[i], column="service", value=service))


def _assemble(config: CityConfig, frames: dict[str, pd.DataFrame], source: str) -> Instance:
    origin = config.origin
    if any(geo.uses_lonlat(f) for f in frames.values()):
        if origin is None:
            towns = frames["towns"]
            origin = (round(float(towns["lon"].mean()), 6), round(float(towns["lat"].mean()), 6))
    typed = {}
    for name, frame in frames.items():
        table = TABLE_BY_NAME[name]
        if table.has_coordinates and geo.uses_lonlat(frame):
            frame = geo.add_xy(frame, origin)
        typed[name] = finish_frame(_without_empty(frame, table), table)
    if origin is not None and config.origin is None:
        config = replace(config, origin=origin)
    empty_sites = pd.DataFrame({c.name: pd.Series(dtype=_dtype(c.kind)) for c in TABLE_BY_NAME["sites"].columns})
    return Instance(config=config, districts=typed["districts"], towns=typed["towns"], grids=typed["grids"],
                    sites=typed.get("sites", finish_frame(empty_sites, TABLE_BY_NAME["sites"])),
                    travel=_given(typed.get("travel")), source=source)


def _without_empty(frame: pd.DataFrame, table) -> pd.DataFrame:
    """An optional column left empty in every row (as a filled template leaves districts' growth) counts as absent."""
    empty = [c.name for c in table.columns if not c.required and c.name not in ("x", "y") and c.name in frame
             and len(frame) and frame[c.name].isna().all()]
    return frame.drop(columns=empty) if empty else frame


def _given(travel: pd.DataFrame | None) -> pd.DataFrame | None:
    """An optional table with no rows (as in the template) counts as absent."""
    return travel if travel is not None and len(travel) else None


def _dtype(kind: str) -> str:
    return {"int": "int64", "flag": "int64", "float": "float64"}.get(kind, "object")


def finish_frame(frame: pd.DataFrame, table) -> pd.DataFrame:
    """Contract columns first, in contract order, with fixed dtypes; extra columns after."""
    specs = [*table.columns, *(LONLAT if table.has_coordinates else ())]
    ordered = [c.name for c in specs if c.name in frame.columns]
    extra = [c for c in frame.columns if c not in ordered]
    out = frame[ordered + extra].copy()
    for spec in specs:
        if spec.name in out.columns:
            out[spec.name] = out[spec.name].astype(_dtype(spec.kind))
    out.attrs = {}
    if len(table.key) == 1:
        out.index = pd.Index(out[table.key[0]].to_numpy(), name=None)
    else:
        out = out.reset_index(drop=True)
    return out


def travel_warning(instance: Instance) -> str | None:
    """The words of a partial travel.csv, or None. travel.csv may list only the pairs that matter
    (a full table of every grid and site can be huge), so leaving pairs out is allowed, but it
    changes meaning: a pair it leaves out is out of reach, however close the site is."""
    travel = instance.travel
    if travel is None:
        return None
    sites = instance.sites[instance.sites["service"].isin(instance.config.services)]
    pairs = len(instance.grids) * len(sites)
    listed = len(travel[travel["site_id"].isin(sites["site_id"])])
    if listed >= pairs:
        return None
    grids_without = len(instance.grids) - travel.loc[travel["site_id"].isin(sites["site_id"]), "from_id"].nunique()
    return (f"travel.csv gives minutes for {listed:,} of the {pairs:,} grid-site pairs; the other {pairs - listed:,} "
            f"count as out of reach (no site serves a grid travel.csv does not pair it with)"
            + (f", and {grids_without:,} grids have no site at all" if grids_without else "")
            + "; list every pair, or remove travel.csv to use walking distances")
