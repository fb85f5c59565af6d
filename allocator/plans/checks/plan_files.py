"""What `check` needs of a plan folder before it recomputes anything: plan.json's keys of the
kind a plan holds, and plan tables whose numeric cells are numbers.

A plan folder is input like any other: it may be edited by hand, truncated or hostile. A
plan that breaks one of these rules cannot be read (exit 2, each problem named by file, key or
row and column); only a readable plan can pass or fail the check (exit 0 or 5).
"""
from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from allocator.data.schema import LIMITS, POPULATION_BASES
from allocator.errors import Problem
from allocator.plans.checks.city import MEASURES
from allocator.plans.plan import ID_COLUMNS, PLAN_FILE, STATUSES, TABLE_COLUMNS, Plan

# The objectives of each model (the solving modules' OBJECTIVES; tests hold them equal), and
# `equity-MEASURE` for a model balanced alone by `frontier` and `equity-bench`.
OBJECTIVES: dict[str, tuple[str, ...]] = {
    "grid": ("cost", "unmet", "maxmin"),
    "enforcement": ("maxmin", "shortfall", "moves", "expected"),
    "facilities": ("mclp", "lscp", "lscpb", "pmedian", "cpmedian", "pcenter", "cflp"),
    "city": MEASURES,
    "roadmap": ("utilitarian", "maxmin", "leximin", "owa", "alpha", "target"),
}
SHA256 = re.compile(r"[0-9a-f]{64}")
# options recorded in plan.json that hold a number, with their range (allocator.data.schema.LIMITS)
NUMERIC_OPTIONS = {"budget": "budget", "headcount": "headcount", "cvar_alpha": "cvar_alpha", "cvar_weight": "cvar_weight",
                   "target_ratio": "target_ratio", "max_moves": "max_moves", "p": "p", "time_limit": "time_limit",
                   "gap": "gap", "threads": "threads", "seed": "seed"}
FLAG_OPTIONS = ("allow_release", "no_worse_than_today")
SECTIONS = ("options", "money", "city", "enforcement", "facilities", "equity", "figures", "timings", "check", "roadmap")


def plan_problems(plan: Plan) -> list[Problem]:
    """Every reason the checker cannot read `plan` (empty when it can)."""
    where = str(plan.path) if plan.path is not None else "plan"
    problems = _meta_problems(plan, f"{where}/{PLAN_FILE}")
    for name, frame in sorted(plan.tables.items()):
        problems += _table_problems(name, frame, f"{where}/{name}.csv")
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _meta_problems(plan: Plan, file: str) -> list[Problem]:
    meta = plan.meta
    problems: list[Problem] = []

    def bad(key: str, rule: str) -> None:
        value = meta.get(key) if "." not in key else None
        shown = value if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
        problems.append(Problem(file, rule, column=key, value=shown, label="key"))

    model = meta.get("model")
    if not isinstance(model, str) or model not in OBJECTIVES:
        bad("model", f"unknown model; a plan's model is one of {', '.join(OBJECTIVES)}")
    if meta.get("status") not in STATUSES:
        bad("status", f"unknown status; a plan's status is one of {', '.join(STATUSES)}")
    has_tables = bool(plan.tables)
    objective = meta.get("objective")
    known = OBJECTIVES.get(model, ()) if isinstance(model, str) else ()
    if known and not (objective is None and not has_tables) and not (        # (an unknown model is named above)
            isinstance(objective, str) and (objective in known or objective.removeprefix("equity-") in MEASURES)):
        bad("objective", f"unknown objective of the {model} model; one of {', '.join(known)} or equity-MEASURE")
    value = meta.get("objective_value")
    if has_tables and not _is_number(value):
        bad("objective_value", "must be the plan's objective value, a finite number (the folder holds the plan's tables)")
    elif not has_tables and value is not None and not _is_number(value):
        bad("objective_value", "must be a finite number or null")
    sha = meta.get("instance_sha256")
    if not isinstance(sha, str) or not SHA256.fullmatch(sha):
        bad("instance_sha256", "must be the sha256 of the city the plan was made for (64 hex digits): without it "
                               "the plan cannot be matched to its city")
    if meta.get("basis") is not None and meta.get("basis") not in POPULATION_BASES:
        bad("basis", f"unknown population basis; one of {', '.join(POPULATION_BASES)}")
    for key in ("mip_gap", "bound"):
        if meta.get(key) is not None and not _is_number(meta.get(key)):
            bad(key, "must be a finite number or null")
    for key in SECTIONS:
        if meta.get(key) is not None and not isinstance(meta.get(key), dict):
            bad(key, "must be a mapping of keys to values")
    if isinstance(meta.get("stages"), (str, int, float, dict)):
        bad("stages", "must be a list of stages")
    if isinstance(meta.get("options"), dict):
        problems += _option_problems(meta["options"], file)
    if isinstance(meta.get("money"), dict):
        problems += _money_problems(meta["money"], file)
    return problems


def _option_problems(options: dict, file: str) -> list[Problem]:
    problems = []

    def bad(key: str, value: Any, rule: str) -> None:
        shown = value if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
        problems.append(Problem(file, rule, column=f"options.{key}", value=shown, label="key"))

    for key, limit_name in NUMERIC_OPTIONS.items():
        value = options.get(key)
        if value is not None and not (_is_number(value) and LIMITS[limit_name].holds(value)):
            bad(key, value, LIMITS[limit_name].rule() + " or null")
    for key in FLAG_OPTIONS:
        if options.get(key) is not None and not isinstance(options.get(key), bool):
            bad(key, options.get(key), "must be true or false")
    for key in ("objective", "scenarios", "model"):
        if options.get(key) is not None and not isinstance(options.get(key), str):
            bad(key, options.get(key), "must be text or null")
    if options.get("basis") is not None and options.get("basis") not in POPULATION_BASES:
        bad("basis", options.get("basis"), f"unknown population basis; one of {', '.join(POPULATION_BASES)}")
    services = options.get("services")
    if services is not None and (not isinstance(services, list) or not all(isinstance(s, str) for s in services)):
        bad("services", services, "must be a list of services or null")
    bounds = options.get("equity_bounds")
    if bounds is not None and (not isinstance(bounds, list) or not all(
            isinstance(b, list) and len(b) == 2 and b[0] in MEASURES and _is_number(b[1]) and LIMITS["equity_bound"].holds(b[1])
            for b in bounds)):
        bad("equity_bounds", None, f"must be a list of [measure, bound] pairs, a measure of {', '.join(MEASURES)} and a bound "
                                   f"that {LIMITS['equity_bound'].rule()}")
    return problems


def _money_problems(money: dict, file: str) -> list[Problem]:
    problems = []
    for key in ("budget_10k_cny", "city_budget_10k_cny", "committed_sites_10k_cny"):
        if money.get(key) is not None and not _is_number(money.get(key)):
            problems.append(Problem(file, "must be a finite number or null", column=f"money.{key}", label="key"))
    for key in ("spend_10k_cny", "held_today_10k_cny"):
        lines = money.get(key)
        if lines is not None and (not isinstance(lines, dict) or not all(_is_number(v) for v in lines.values())):
            problems.append(Problem(file, "must map each line to a finite number", column=f"money.{key}", label="key"))
    return problems


def _table_problems(name: str, frame: pd.DataFrame, file: str) -> list[Problem]:
    problems = [Problem(file, "a column of the plan table is missing", column=c)
                for c in TABLE_COLUMNS.get(name, ()) if c not in frame.columns]
    for column in frame.columns:
        if column in ID_COLUMNS or pd.api.types.is_numeric_dtype(frame[column]):
            continue
        numbers = pd.to_numeric(frame[column], errors="coerce")
        wrong = numbers.isna() & frame[column].notna()
        if wrong.any():
            i = int(wrong.to_numpy().nonzero()[0][0])
            more = int(wrong.sum()) - 1
            problems.append(Problem(file, "must be a number" + (f" (and {more:,} more cells of this column)" if more else ""),
                                    row=i + 2, column=str(column), value=str(frame[column].iloc[i])))
    return problems
