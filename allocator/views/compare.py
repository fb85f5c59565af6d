"""Plans side by side: per district (or town) metrics, deltas against the first plan, equity.

`load_plans` reads plan folders and refuses plans of different cities (instance_sha256);
`compare` turns them into a `Comparison` — a head block (model, objective, status, gap and
equity of each plan) and one frame of metrics per plan — which `allocator.compare_text`
prints for a terminal and `allocator.export` writes to Excel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from allocator.data.instance import Instance
from allocator.data.loader import load_instance
from allocator.errors import InputError, Problem
from allocator.metrics import equity_table
from allocator.plans.levels import plan_levels as levels_of
from allocator.plans.plan import Plan, read_plan
from allocator.views.labels import EQUITY_KEYS, METRICS

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
BY = ("district", "town")
MAIN_LEVEL = {"enforcement": "enforcement_coverage", "grid": "grid_coverage", "facilities": "cov_all", "city": "service_index"}
MAIN_STAFF = {"enforcement": "enforcement_total", "grid": "grid_workers", "facilities": "sites_open", "city": "transfer"}
Progress = Callable[[str], None]


@dataclass
class PlanSet:
    """Plans of one city and the city when loaded. `labels` are short keys for tables (A, B, C …,
    or --label); `names` say which plan is which in charts, legends and the report (--label, else
    `plan_labels`)."""

    plans: list[Plan]
    instance: Instance | None = None
    letters: list[str] | None = None      # given with --label, or kept by a subset of the plans
    given: list[str] | None = None        # --label

    @property
    def labels(self) -> list[str]:
        return list(self.letters) if self.letters else [label_of(i) for i in range(len(self.plans))]

    @property
    def names(self) -> list[str]:
        return list(self.given) if self.given else plan_labels(self.plans)

    @property
    def folders(self) -> list[str]:
        return [Path(p.path).name if p.path else label for p, label in zip(self.plans, self.labels)]


def label_of(i: int) -> str:
    return LETTERS[i] if i < len(LETTERS) else f"P{i + 1}"


LABEL_OPTIONS = ("model", "objective", "basis", "budget", "headcount", "p", "services", "target_ratio", "max_moves",
                 "scenarios", "equity_bounds", "allow_release", "no_worse_than_today", "time_limit", "gap", "seed")


def plan_labels(plans: list[Plan]) -> list[str]:
    """Names that tell the plans apart: their folder names when those differ, else the options that
    differ between them (e.g. "basis=actual"), else A, B, C …"""
    folders = [Path(p.path).name if p.path else "" for p in plans]
    if all(folders) and len(set(folders)) == len(plans):
        return folders
    options = [{**(p.meta.get("options") or {}), "model": p.model, "objective": p.meta.get("objective")} for p in plans]
    differ = [k for k in LABEL_OPTIONS if len({_shown(o.get(k)) for o in options}) > 1]
    named = [", ".join(f"{k}={_shown(o.get(k))}" for k in differ) for o in options]
    if differ and len(set(named)) == len(plans):
        return named
    return [label_of(i) for i in range(len(plans))]


def _shown(value) -> str:
    if value is None:
        return "default"
    if isinstance(value, (list, tuple)):
        return "+".join(_shown(v) for v in value) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def given_labels(labels: tuple[str, ...], plans: int) -> list[str] | None:
    """--label, once per plan in order, each different (None when not given)."""
    if not labels:
        return None
    if len(labels) != plans or len(set(labels)) != len(labels) or not all(x.strip() for x in labels):
        raise InputError(Problem("--label", f"give one different, non-empty --label per plan ({plans} plans, "
                                            f"{len(labels)} labels)"))
    return [x.strip() for x in labels]


def load_plans(folders: list[Path], force: bool = False, instance: Path | None = None,
               city: str = "optional", progress: Progress | None = None, labels: tuple[str, ...] = ()) -> PlanSet:
    """Read plan folders; refuse plans of different cities unless `force`; load their city.

    `city`: "required" (fail without it), "optional" (--instance, else plan.json's
    instance_source when it exists) or "given" (only an explicit --instance).
    """
    if not folders:
        raise InputError(Problem("PLAN", "name at least one plan folder"))
    named = given_labels(labels, len(folders))
    plans = [read_plan(f) for f in folders]
    if not force:
        check_same_instance(plans)
    if city == "given" and instance is None:
        return PlanSet(plans, None, named, named)
    return PlanSet(plans, resolve_instance(plans, instance, city == "required", force, progress), named, named)


def check_same_instance(plans: list[Plan]) -> None:
    hashes = {p.meta.get("instance_sha256") for p in plans} - {None}
    if len(hashes) > 1:
        lines = ", ".join(f"{label_of(i)} = {p.path} (instance {p.meta.get('instance')!r}, "
                          f"sha256 {str(p.meta.get('instance_sha256'))[:12]}…)" for i, p in enumerate(plans))
        raise InputError(Problem("PLAN", f"the plans were made for different instances: {lines}; "
                                         "compare plans of one city, or pass --force"))


def resolve_instance(plans: list[Plan], path: Path | None, required: bool, force: bool,
                     progress: Progress | None = None) -> Instance | None:
    """The city of the plans: --instance, else plan.json's instance_source (None when optional and absent)."""
    source = path or find_source(plans[0])
    if source is None or not Path(source).exists():
        if path is not None or required:
            where = f"{source} does not exist" if source else "plan.json names no instance_source"
            raise InputError(Problem(str(path or plans[0].path), f"needs the instance the plan was solved on ({where}); "
                                                                  "pass --instance DIR"))
        return None
    if progress:
        progress(f"loading instance {source}")
    city = load_instance(source)
    expected = plans[0].meta.get("instance_sha256")
    if expected not in (None, city.content_hash()) and not force:
        raise InputError(Problem(str(source), f"is not the instance plan {plans[0].path} was made for "
                                              f"({plans[0].meta.get('instance')!r}; content differs); pass the right --instance or --force"))
    return city


def find_source(plan: Plan) -> str | None:
    """plan.json's instance_source: as written, or relative to a folder above the plan (solved elsewhere)."""
    source = plan.meta.get("instance_source")
    if not source or Path(source).is_absolute() or Path(source).exists() or plan.path is None:
        return source
    for folder in Path(plan.path).resolve().parents:
        if (folder / source).exists():
            return str(folder / source)
    return source


# ---------------------------------------------------------------- metrics per unit

def unit_metrics(plan: Plan, by: str = "district", instance: Instance | None = None) -> pd.DataFrame:
    """One row per district (or town) the plan covers, one column per metric it has."""
    check_by(by)
    parts = [_district_columns(plan) if by == "district" else None,
             _enforcement(plan, by), _grid(plan, by), _facilities(plan, by, instance)]
    frame = pd.DataFrame()
    for part in parts:
        if part is not None and len(part):
            part = part.copy()
            part.index = part.index.astype(str)
            frame = part.combine_first(frame) if len(frame) else part
    return frame[order_metrics(frame.columns)] if len(frame) else frame


def check_by(by: str) -> None:
    if by not in BY:
        raise InputError(Problem("--by", f"compare by district or town, not {by!r}"))


def order_metrics(columns) -> list[str]:
    known = [m for m in METRICS if m in columns]
    return known + sorted(c for c in columns if c not in METRICS)


def _district_columns(plan: Plan) -> pd.DataFrame | None:
    d = plan.tables.get("districts")
    if d is None or "district_id" not in d:
        return None
    d = d.set_index(d["district_id"].astype(str))
    keep = [c for c in d.columns if c not in ("district_id", "name", "mean_coverage", "min_coverage")
            and pd.api.types.is_numeric_dtype(d[c])]
    return d[keep].astype(float)


def _enforcement(plan: Plan, by: str) -> pd.DataFrame | None:
    t = plan.tables.get("town_staff")
    if t is None or "enforcement_staff" not in t or t["enforcement_staff"].isna().all():
        return None
    t = t[t["enforcement_staff"].notna()].copy()
    t["pool_share"] = t["pool_share"].fillna(0.0)
    t["served"] = t["enforcement_staff"] + t["pool_share"]
    key = "town_id" if by == "town" else "district_id"
    g = t.groupby(t[key].astype(str))
    out = pd.DataFrame({"enforcement_staff": g["enforcement_staff"].sum(), "enforcement_now": g["enforcement_now"].sum(),
                        "enforcement_demand": g["enforcement_demand"].sum(), "moves_in": g["moves_in"].sum(),
                        "moves_out": g["moves_out"].sum()})
    if "released" in t:                    # officers leaving the service (plans made with --allow-release)
        out["released"] = g["released"].sum()
    out["enforcement_coverage"] = _ratio(g["served"].sum(), out["enforcement_demand"])
    if by == "town":
        out["enforcement_total"] = g["served"].sum()
        return out
    pool = plan.tables.get("district_pool")
    out["pool_staff"] = (pool.set_index(pool["district_id"].astype(str))["pool_staff"].reindex(out.index).fillna(0.0)
                         if pool is not None else g["pool_share"].sum())
    out["enforcement_total"] = out["enforcement_staff"] + out["pool_staff"]
    out["enforcement_coverage_min"] = g["coverage_ratio"].min()
    return out


def _grid(plan: Plan, by: str) -> pd.DataFrame | None:
    s = plan.tables.get("grid_staff")
    if s is None or not len(s):
        return None
    key = "town_id" if by == "town" else "district_id"
    g = s.groupby(s[key].astype(str))
    out = pd.DataFrame({"fulltime": g["fulltime"].sum(), "parttime": g["parttime"].sum(), "unmet_hours": g["unmet_hours"].sum()})
    out["grid_workers"] = out["fulltime"] + out["parttime"]
    out["grid_coverage"] = 1.0 - _ratio(out["unmet_hours"], g["workload_hours"].sum()).fillna(0.0)
    t = plan.tables.get("town_staff")
    if t is not None and t["professionals"].notna().any():
        out["professionals"] = t.groupby(t[key].astype(str))["professionals"].sum()
        if by == "district":
            town_cov = (1.0 - _ratio(s.groupby("town_id")["unmet_hours"].sum(), s.groupby("town_id")["workload_hours"].sum()))
            district_of = s.groupby("town_id")["district_id"].first().astype(str)
            out["grid_coverage_min"] = town_cov.fillna(1.0).groupby(district_of).min()
    return out


def _facilities(plan: Plan, by: str, instance: Instance | None) -> pd.DataFrame | None:
    f = plan.tables.get("facilities")
    if f is None or not len(f):
        return None
    key = "town_id" if by == "town" else "district_id"
    is_open = f["open"].astype(float) > 0.5
    g = is_open.groupby(f[key].astype(str))
    out = pd.DataFrame({"sites_open": g.sum().astype(float),
                        "new_sites": (is_open & (f["existing"].astype(int) == 0)).groupby(f[key].astype(str)).sum().astype(float)})
    districts = plan.tables.get("districts")
    has_rates = districts is not None and any(str(c).startswith("cov_") for c in districts.columns)
    if by == "town" or not has_rates:          # a city plan's districts.csv holds no cov_ columns
        rates = town_coverage(plan, instance, by)
        if rates is not None:
            out = out.join(rates, how="outer")
    return out


def town_coverage(plan: Plan, instance: Instance | None, by: str = "town") -> pd.DataFrame | None:
    """cov_<service> and cov_all per town (or district) from coverage.csv (needs the city's grid →
    town map, and town → district)."""
    c = plan.tables.get("coverage")
    if c is None or instance is None:
        return None
    grids = instance.grids.set_index(instance.grids["grid_id"].astype(str))
    unit_of = grids["town_id"].astype(str)
    if by == "district":
        unit_of = unit_of.map(instance.towns.set_index(instance.towns["town_id"].astype(str))["district_id"].astype(str))
    c = c.assign(town=c["node_id"].astype(str).map(unit_of), hit=c["demand"] * c["covered"])
    c = c[c["town"].notna()]
    per = c.groupby(["town", "service"])[["hit", "demand"]].sum()
    rates = _ratio(per["hit"], per["demand"]).unstack("service")
    rates.columns = [f"cov_{s}" for s in rates.columns]
    total = c.groupby("town")[["hit", "demand"]].sum()
    rates["cov_all"] = _ratio(total["hit"], total["demand"])
    return rates


def today_metrics(plan: Plan, by: str, instance: Instance | None) -> pd.DataFrame:
    """What the city has today, in the plan's metrics where it is known (staff now, existing sites)."""
    key = "town_id" if by == "town" else "district_id"
    out = pd.DataFrame()
    t = plan.tables.get("town_staff")
    if t is not None and "enforcement_now" in t and t["enforcement_now"].notna().any():
        g = t[t["enforcement_now"].notna()].groupby(t[key].astype(str))
        out["enforcement_total"] = g["enforcement_now"].sum()
        out["enforcement_staff"] = out["enforcement_total"]
        out["enforcement_coverage"] = _ratio(out["enforcement_total"], g["enforcement_demand"].sum())
    f = plan.tables.get("facilities")
    if f is not None and len(f):
        existing = (f["existing"].astype(int) == 1).groupby(f[key].astype(str)).sum().astype(float)
        out = out.join(existing.rename("sites_open"), how="outer") if len(out) else existing.rename("sites_open").to_frame()
    if instance is not None:
        g = instance.grids.assign(district_id=instance.grids["town_id"].map(instance.towns["district_id"]))
        staff = g.groupby(g[key].astype(str))[["fulltime_now", "parttime_now"]].sum().astype(float)
        staff.columns = ["fulltime", "parttime"]
        staff["grid_workers"] = staff["fulltime"] + staff["parttime"]
        out = staff.join(out, how="outer") if len(out) else staff
    out.index = out.index.astype(str)
    return out


def unit_names(plans: list[Plan], by: str, instance: Instance | None) -> pd.Series:
    """id → name of each district (plan's districts.csv, else the city) or town (the city), else the id."""
    names: dict[str, str] = {}
    if by == "district":
        for plan in plans:
            d = plan.tables.get("districts")
            if d is not None and "name" in d:
                names.update({str(k): str(v) for k, v in zip(d["district_id"], d["name"]) if isinstance(v, str)})
    table = None if instance is None else (instance.districts if by == "district" else instance.towns)
    if table is not None:
        key = "district_id" if by == "district" else "town_id"
        names = {**{str(k): str(v) for k, v in zip(table[key], table["name"])}, **names}
    return pd.Series(names, dtype=object)


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    den = den.astype(float)
    return (num.astype(float) / den.where(den > 0)).astype(float)


# ---------------------------------------------------------------- equity

LEVEL_KIND = {"enforcement_coverage": "enforcement", "grid_coverage": "grid", "cov_all": "facilities"}


@dataclass
class Levels:
    """The level a plan is judged by, per unit, and the units' populations (None: equal weights)."""

    key: str
    values: pd.Series
    weights: pd.Series | None = None


def plan_levels(plan: Plan, by: str, instance: Instance | None, values: pd.DataFrame | None = None) -> Levels:
    """The plan's main coverage level per unit: population-weighted (allocator.metrics) when the
    city is at hand, else read from the plan's own tables with equal weights."""
    values = unit_metrics(plan, by, instance) if values is None else values
    key = main_level(plan, values)
    if key is None:
        return Levels("", pd.Series(dtype=float))
    level = values[key].dropna().astype(float)
    if instance is None:
        return Levels(key, level)
    frame = levels_of(plan, instance, by)
    frame.index = frame.index.astype(str)
    if LEVEL_KIND.get(key) in frame:
        level = frame[LEVEL_KIND[key]].dropna()
    return Levels(key, level, frame["weight"].reindex(level.index))


def main_level(plan: Plan, values: pd.DataFrame) -> str | None:
    key = MAIN_LEVEL.get(plan.model)
    if key in values:
        return key
    ratios = [c for c in values.columns if c.endswith("coverage") or c.startswith("cov_")]
    return ratios[0] if ratios else None


def equity(levels: Levels) -> dict[str, float]:
    """allocator.metrics' equity measures of the levels (NaN for a plan without levels)."""
    if not len(levels.values):
        return {k: math.nan for k in EQUITY_KEYS}
    return {k: v for k, v in equity_table(levels.values, levels.weights).items() if k in EQUITY_KEYS}


# ---------------------------------------------------------------- the comparison

@dataclass
class Comparison:
    """Plans side by side: `head` one row per plan, `values[label]` one frame (unit × metric) per plan."""

    by: str
    labels: list[str]
    head: pd.DataFrame
    names: pd.Series
    values: dict[str, pd.DataFrame]
    metrics: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)     # metrics not every plan has (plans of different models)

    @property
    def units(self) -> list[str]:
        ids = sorted(set().union(*(v.index for v in self.values.values())))
        return ids

    def column(self, metric: str, label: str) -> pd.Series:
        frame = self.values[label]
        return frame[metric].reindex(self.units) if metric in frame else pd.Series(np.nan, index=self.units)

    def delta(self, metric: str, label: str) -> pd.Series:
        return self.column(metric, label) - self.column(metric, self.labels[0])

    def wide(self) -> pd.DataFrame:
        """unit id, name, then per metric each plan's value and its delta against the first plan."""
        key = f"{self.by}_id"
        out = pd.DataFrame({key: self.units, "name": [self.names.get(u, u) for u in self.units]})
        for metric in self.metrics:
            for label in self.labels:
                out[f"{metric} [{label}]"] = self.column(metric, label).to_numpy()
            for label in self.labels[1:]:
                out[f"{metric} [{label}-{self.labels[0]}]"] = self.delta(metric, label).to_numpy()
        return out


def compare(planset: PlanSet, by: str = "district") -> Comparison:
    check_by(by)
    values, rows = {}, []
    for plan, label, folder, name in zip(planset.plans, planset.labels, planset.folders, planset.names):
        frame = unit_metrics(plan, by, planset.instance)
        values[label] = frame
        rows.append({**head_row(plan, label, folder, by, planset.instance, frame), "name": name})
    every = set().union(*(v.columns for v in values.values()))
    models = {p.model for p in planset.plans}
    common = set.intersection(*(set(v.columns) for v in values.values())) if len(models) > 1 else every
    metrics, dropped = order_metrics(common), order_metrics(every - common)
    names = unit_names(planset.plans, by, planset.instance)
    return Comparison(by, planset.labels, pd.DataFrame(rows).set_index("label"), names, values, metrics, dropped)


def check_same_model(planset: PlanSet) -> None:
    """Plans of different models compare unlike things (a grid plan's spend is not an enforcement
    plan's): refused unless --force, which compares the columns both have."""
    models = [p.model for p in planset.plans]
    if len(set(models)) > 1:
        shown = ", ".join(f"{label} = {model}" for label, model in zip(planset.labels, models))
        raise InputError(Problem("PLAN", f"the plans are of different models ({shown}): their figures measure different "
                                         "things; compare plans of one model, or pass --force to compare only the "
                                         "columns they share"))


def _released(plan: Plan) -> str:
    """Officers leaving the service: a number with --allow-release, "none (not allowed)" otherwise, "-" without enforcement."""
    towns = plan.tables.get("town_staff")
    if towns is None or "enforcement_now" not in towns or towns["enforcement_now"].isna().all():
        return "-"
    if "released" in towns and (plan.meta.get("options") or {}).get("allow_release"):
        return f"{int(towns['released'].sum()):,}"
    return "none (not allowed)"


def _grid_released(plan: Plan) -> str:
    """Grid workers leaving the service (full-time + part-time): a number with --allow-release, "none (not
    allowed)" otherwise, "-" for a plan without grid workers or without today's workers in its tables."""
    districts = plan.tables.get("districts")
    if districts is None or "fulltime_released" not in districts:
        return "-"
    if (plan.meta.get("options") or {}).get("allow_release"):
        return f"{int(districts['fulltime_released'].sum() + districts['parttime_released'].sum()):,}"
    return "none (not allowed)"


def head_row(plan: Plan, label: str, folder: str, by: str, instance: Instance | None, values: pd.DataFrame) -> dict:
    m = plan.meta
    levels = plan_levels(plan, by, instance, values)
    weights = "-" if not levels.key else ("population" if levels.weights is not None else "equal")
    return {"label": label, "folder": folder, "model": m.get("model"), "objective": m.get("objective"),
            "objective_value": m.get("objective_value"), "status": m.get("status"), "mip_gap": m.get("mip_gap"),
            "released": _released(plan), "grid_released": _grid_released(plan),
            "instance": m.get("instance"), "basis": m.get("basis"), "level": levels.key, "weights": weights, **equity(levels)}
