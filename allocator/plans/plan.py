"""The plan format: `plan.json` plus tidy CSV tables, written atomically.

Every later command (check, compare, chart, report, sweep) reads plans through
`read_plan`; independent checkers need nothing but these files and the instance.

plan.json keys: model, objective, objective_value, status (optimal | time_limit |
infeasible | unbounded | error), mip_gap, bound, solver, solver_version, options, seed,
threads, instance, instance_sha256, basis, timings {build_s, handover_s, solve_s,
extract_s, total_s}, created (ISO time), check {passed, violations}, explanation.

Tables (column names are the contract):
    grid_staff.csv     grid_id, town_id, district_id, fulltime, parttime, pro_hours,
                       workload_hours, unmet_hours
    town_staff.csv     town_id, district_id, professionals, enforcement_now,
                       enforcement_staff, enforcement_demand, pool_share, coverage_ratio,
                       moves_in, moves_out
    district_pool.csv  district_id, pool_staff
    pool_deploy.csv    scenario, town_id, deployed, unmet
    districts.csv      district_id, name, spend, staff by type, mean and min coverage
    facilities.csv     site_id, service, town_id, district_id, existing, open
    coverage.csv       node_id, service, demand, covered, nearest_minutes, assigned_site
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from allocator.errors import InputError, Problem
from allocator.files import quote_frame, unquote_frame, write_folder

PLAN_FILE = "plan.json"
STATUSES = ("optimal", "time_limit", "infeasible", "unbounded", "error")
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "grid_staff": ("grid_id", "town_id", "district_id", "fulltime", "parttime", "pro_hours", "workload_hours", "unmet_hours"),
    "town_staff": ("town_id", "district_id", "professionals", "enforcement_now", "enforcement_staff",
                   "enforcement_demand", "pool_share", "coverage_ratio", "moves_in", "moves_out"),
    "district_pool": ("district_id", "pool_staff"),
    "pool_deploy": ("scenario", "town_id", "deployed", "unmet"),
    "districts": ("district_id", "name", "spend"),
    "facilities": ("site_id", "service", "town_id", "district_id", "existing", "open"),
    "coverage": ("node_id", "service", "demand", "covered", "nearest_minutes", "assigned_site"),
}
ID_COLUMNS = {"grid_id", "town_id", "district_id", "site_id", "node_id", "scenario", "assigned_site", "service", "name"}


@dataclass
class Plan:
    """A solved (or explained) plan: metadata and tidy tables."""

    meta: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    path: Path | None = None

    @property
    def model(self) -> str:
        return str(self.meta.get("model", ""))

    @property
    def status(self) -> str:
        return str(self.meta.get("status", ""))

    def table(self, name: str) -> pd.DataFrame:
        if name not in self.tables:
            where = self.path or "plan"
            raise InputError(Problem(f"{where}/{name}.csv", f"the plan has no {name} table (model {self.model})"))
        return self.tables[name]


def write_plan(plan: Plan, out: str | Path, overwrite: bool = False) -> Path:
    """Write into a temporary sibling folder, then rename: never a half-written plan.

    An existing `out` is replaced only when it is a plan folder allocator wrote, holding nothing
    added or changed since, and `overwrite` is given (`allocator.files.check_folder_target`).
    Text cells a spreadsheet would take as a formula are written with a leading `'`
    (`read_plan` reads them back as they were)."""
    out = Path(out)
    def fill(tmp: Path) -> None:
        for name, frame in plan.tables.items():
            _check_columns(name, frame)
            quote_frame(frame).to_csv(tmp / f"{name}.csv", index=False, lineterminator="\n", float_format="%.10g")
        (tmp / PLAN_FILE).write_text(json.dumps(_jsonable(plan.meta), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_folder(out, fill, kind="plan", overwrite=overwrite)
    plan.path = out
    return out


def read_plan(folder: str | Path) -> Plan:
    folder = Path(folder)
    meta_file = folder / PLAN_FILE
    if not folder.is_dir() or not meta_file.is_file():
        raise InputError(Problem(str(folder), f"is not a plan folder (no {PLAN_FILE} inside)"))
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(Problem(str(meta_file), f"is not valid JSON ({err})")) from None
    except RecursionError:
        raise InputError(Problem(str(meta_file), "nests its values too deeply to be a plan")) from None
    if not isinstance(meta, dict) or "model" not in meta or "status" not in meta:
        raise InputError(Problem(str(meta_file), "lacks the keys 'model' and 'status' of a plan"))
    tables = {}
    for csv in sorted(folder.glob("*.csv")):
        tables[csv.stem] = _read_table(csv)
    return Plan(meta, tables, folder)


def _read_table(csv: Path) -> pd.DataFrame:
    try:
        header = pd.read_csv(csv, nrows=0).columns
        dtypes = {c: str for c in header if c in ID_COLUMNS}
        return unquote_frame(pd.read_csv(csv, dtype=dtypes, keep_default_na=False, na_values=[""]))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        raise InputError(Problem(str(csv), f"is not a readable plan table ({err})")) from None


def _check_columns(name: str, frame: pd.DataFrame) -> None:
    missing = [c for c in TABLE_COLUMNS.get(name, ()) if c not in frame.columns]
    if missing:
        raise ValueError(f"plan table {name} lacks columns {missing}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value
