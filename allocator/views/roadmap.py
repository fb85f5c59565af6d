"""Roadmap plans for people: their years side by side, one year at a time, or two roadmaps compared.

A roadmap plan (`plan.json` model "roadmap") holds every table of a city plan with a `year`
column first, one block per year, and `roadmap.csv` with one row per year. The single-year
views (bars, Lorenz curves, maps, the district comparison) would mix its years; they refuse it
(`refuse_roadmaps`) and these functions read it instead: `roadmap_table` (its roadmap.csv),
`year_table` (one table of one year) and `compare_roadmaps` (roadmaps year by year).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from allocator.errors import InputError, Problem
from allocator.plans.plan import Plan

MODEL = "roadmap"
HIRE_KINDS = ("fulltime", "parttime", "professional", "officers")
ROADMAP_COLUMNS = ("year", "budget", "spend", "transfers", *(f"hires_{k}" for k in HIRE_KINDS),
                   *(f"employed_{k}" for k in HIRE_KINDS), "sites_opened", "sites_decided", "mean_index", "lowest_index",
                   "urban_districts", "urban_districts_at_worker_norm")
COMPARED = ("spend", "hires", "sites_opened", "mean_index", "lowest_index")     # compare's columns, per year


def is_roadmap(plan: Plan) -> bool:
    return plan.model == MODEL


def refuse_roadmaps(plans: list[Plan], what: str, instead: str) -> None:
    """A single-year view given a roadmap: exit 2 naming what reads roadmaps instead."""
    for plan in plans:
        if is_roadmap(plan):
            raise InputError(Problem(str(plan.path or "PLAN"), f"is a roadmap over {_span(plan)}: {what} reads plans of one "
                                                                f"year and would mix its years; {instead}"))


def require_roadmaps(plans: list[Plan], what: str) -> None:
    """A roadmap view given a plan of one year: exit 2 naming the plan."""
    for plan in plans:
        if not is_roadmap(plan):
            raise InputError(Problem(str(plan.path or "PLAN"), f"is a {plan.model} plan of one year, not a roadmap: {what} "
                                                                "reads roadmaps (allocator solve --model roadmap --years ...)"))


def refuse_mixed(plans: list[Plan], instead: str) -> bool:
    """True when every plan is a roadmap, False when none is; exit 2 when roadmaps and plans of one
    year are mixed (one's years cannot be set beside the other's districts)."""
    roadmaps = [p for p in plans if is_roadmap(p)]
    if roadmaps and len(roadmaps) < len(plans):
        single = next(p for p in plans if not is_roadmap(p))
        raise InputError(Problem(str(single.path or "PLAN"), f"is a {single.model} plan of one year and {roadmaps[0].path} a "
                                                             f"roadmap over {_span(roadmaps[0])}: one's years cannot be "
                                                             f"set beside the other's districts; {instead}"))
    return bool(roadmaps)


def _span(plan: Plan) -> str:
    years = [int(y) for y in ((plan.meta.get(MODEL) or {}).get("years") or [])]
    if not years and "roadmap" in plan.tables and "year" in plan.tables["roadmap"]:
        years = [int(y) for y in plan.tables["roadmap"]["year"]]
    return f"the years {min(years)}–{max(years)}" if years else "several years"


def roadmap_table(plan: Plan) -> pd.DataFrame:
    """roadmap.csv, one row per year in order, with `hires` (all four kinds) added; exit 2 when it is
    missing (a roadmap without a plan) or lacks a column."""
    where = f"{plan.path or 'PLAN'}/roadmap.csv"
    table = plan.tables.get("roadmap")
    if table is None:
        raise InputError(Problem(where, f"is missing: the roadmap has no plan to show (status {plan.status})"))
    missing = [c for c in ROADMAP_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(Problem(where, f"lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"))
    bad = [c for c in ROADMAP_COLUMNS if not pd.api.types.is_numeric_dtype(table[c])]
    if bad:
        raise InputError(Problem(where, f"column {bad[0]} holds a value that is not a number"))
    if table["year"].duplicated().any() or table["year"].isna().any():
        raise InputError(Problem(where, "column year must name each year once"))
    table = table.sort_values("year").reset_index(drop=True)
    table["year"] = table["year"].astype(int)
    table["hires"] = table[[f"hires_{k}" for k in HIRE_KINDS]].sum(axis=1)
    return table


def years_of(plan: Plan) -> list[int]:
    return [int(y) for y in roadmap_table(plan)["year"]]


def year_table(plan: Plan, name: str, year: int) -> pd.DataFrame:
    """One table of the roadmap (districts, facilities …) in one year, without its year column."""
    table = plan.tables.get(name)
    if table is None or "year" not in table:
        raise InputError(Problem(f"{plan.path or 'PLAN'}/{name}.csv", "is missing or has no year column"))
    return table[table["year"].astype(int) == int(year)].drop(columns="year").reset_index(drop=True)


# ---------------------------------------------------------------- roadmaps year by year

@dataclass
class RoadmapComparison:
    """Roadmaps year by year: `head` one row per plan; `values[label]` its roadmap table by year."""

    labels: list[str]
    names: list[str]
    folders: list[str]
    head: pd.DataFrame
    values: dict[str, pd.DataFrame]
    metrics: tuple[str, ...] = COMPARED
    years: list[int] = field(default_factory=list)

    def column(self, metric: str, label: str) -> pd.Series:
        return self.values[label][metric].reindex(self.years).astype(float)

    def delta(self, metric: str, label: str) -> pd.Series:
        return self.column(metric, label) - self.column(metric, self.labels[0])

    def wide(self) -> pd.DataFrame:
        """year, then per metric each plan's value and its difference from the first plan."""
        out = pd.DataFrame({"year": self.years})
        for metric in self.metrics:
            for label in self.labels:
                out[f"{metric} [{label}]"] = self.column(metric, label).to_numpy()
            for label in self.labels[1:]:
                out[f"{metric} [{label}-{self.labels[0]}]"] = self.delta(metric, label).to_numpy()
        return out


def compare_roadmaps(plans: list[Plan], labels: list[str], names: list[str], folders: list[str]) -> RoadmapComparison:
    """Roadmaps side by side per year (the years any of them plans; a year one lacks shows empty)."""
    require_roadmaps(plans, "compare of a roadmap")
    values, rows = {}, []
    for plan, label, name, folder in zip(plans, labels, names, folders):
        values[label] = roadmap_table(plan).set_index("year")
        m = plan.meta
        rows.append({"label": label, "name": name, "folder": folder, "objective": m.get("objective"),
                     "objective_value": m.get("objective_value"), "status": m.get("status"), "mip_gap": m.get("mip_gap"),
                     "years": f"{min(values[label].index)}–{max(values[label].index)}"})
    years = sorted(set().union(*(v.index for v in values.values())))
    return RoadmapComparison(labels, names, folders, pd.DataFrame(rows).set_index("label"), values, COMPARED,
                             [int(y) for y in years])


def roadmap_json(cmp: RoadmapComparison) -> dict:
    """The comparison as plain values (full precision; NaN as None)."""
    def num(v):
        v = v.item() if hasattr(v, "item") else v
        return None if isinstance(v, float) and not np.isfinite(v) else v
    years = [{"year": y,
              "values": {m: {label: num(cmp.column(m, label)[y]) for label in cmp.labels} for m in cmp.metrics},
              "deltas": {m: {label: num(cmp.delta(m, label)[y]) for label in cmp.labels[1:]} for m in cmp.metrics}}
             for y in cmp.years]
    plans = [{"label": label, **{k: num(v) for k, v in row.items()}} for label, row in cmp.head.iterrows()]
    return {"by": "year", "plans": plans, "metrics": list(cmp.metrics), "years": years}
