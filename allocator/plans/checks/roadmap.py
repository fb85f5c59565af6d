"""Independent check of a roadmap plan (models/roadmap.py), from the plan files and the instance alone.

Each year y is a city plan (`allocator.plans.checks.city`) on year y's data (`allocator.data.years`:
grown populations, the year's budget and the budgets scaled with it), whose "today" is the year
before: officers posted (town_staff.enforcement_now) and sites open (facilities.existing) as the
plan's tables give them for the year before (year FIRST: the instance's today). So every year's
budget, transfers, staffing rules, move limit, headcount, coverage and index are recomputed, a new
site is charged its first year in the year it opens, and moves count against the year before.
--no-worse-than-today is held against the instance's today in every year.

Then, from the tables, what links the years (p the year before y):
    grid staff employed, per district and kind (districts.csv fulltime + fulltime_pool,
        parttime + parttime_pool, professionals): N_y ≥ N_p, and the yearly hire quotas
        (before FIRST: grids.csv fulltime_now, parttime_now; the required professionals)
    officers employed O_y = Σ enforcement_staff + Σ pool_staff: O_y ≥ O_p, and the officer quota
    sites: every site open in p is open in y; none opens before FIRST + lag; at most the build
        limit open in one year
    the target: every district's index at least τ from the target year on
    roadmap.csv, recomputed row by row; the objective, the mean of the years' measure (target: the
        spend of all years; leximin: the lowest index of any year).
Staff may leave only with --allow-release.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from allocator.data.instance import Instance
from allocator.data.schema import LIMITS
from allocator.data.years import Years, with_today, year_city
from allocator.plans.checks import TOL, CheckReport, at_most
from allocator.plans.checks import city as city_check
from allocator.plans.plan import Plan

TABLES = city_check.TABLES + ("roadmap",)
KINDS = ("fulltime", "parttime", "professional", "officers")
ROADMAP_COLUMNS = ("budget", "spend", "transfers", *(f"hires_{k}" for k in KINDS), *(f"employed_{k}" for k in KINDS),
                   "sites_opened", "mean_index", "lowest_index")


def check(plan: Plan, city: Instance) -> CheckReport:
    report = CheckReport()
    missing = [t for t in TABLES if t not in plan.tables]
    if missing:
        report.fail(f"a roadmap plan needs the tables {', '.join(missing)}")
        return report
    meta = plan.meta.get("roadmap") or {}
    years = _years(report, meta, plan)
    if years is None:
        return report
    by_year = _split(report, plan, years.years)
    if by_year is None:
        return report
    values, staff, index, before = [], {}, {}, None
    for y in years.years:
        tables = by_year[y]
        cy = year_city(city, years, y)
        part, index[y] = _check_year(plan, cy, tables, before, y, meta)
        for v in part.violations:
            report.fail(f"{y}: {v}")
        values.append(part.objective)
        staff[y] = employed(tables["districts"])
        if (plan.meta.get("options") or {}).get("no_worse_than_today"):
            _no_worse(report, plan, cy, tables, index[y], y)
        before = tables
    options = plan.meta.get("options") or {}
    today = _today(city)
    _check_carried(report, staff, years.years, bool(options.get("allow_release")), dict(meta.get("hire_quotas") or {}), today)
    _check_sites(report, city, by_year, years.years, meta)
    _check_target(report, meta, index)
    _check_roadmap_table(report, plan.tables["roadmap"], by_year, years, staff, today)
    if meta.get("objective") == "target":
        report.objective = float(sum(float(t["districts"]["spend"].sum()) for t in by_year.values()))
    elif meta.get("objective") == "leximin" and all(v is not None for v in values):
        report.objective = float(min(values))            # each year's is its lowest index
    elif all(v is not None for v in values):
        report.objective = float(np.mean(values))
    report.figures.update({"years": len(years.years), "min_service_index": float(min(i.min() for i in index.values()))})
    return report


def _years(report: CheckReport, meta: dict, plan: Plan) -> Years | None:
    try:
        ys = tuple(int(y) for y in meta["years"])
        budgets = tuple(float(meta["budgets"][str(y)]) for y in ys)
    except (KeyError, TypeError, ValueError):
        report.fail("plan.json must record the roadmap's years and their budgets (roadmap.years, roadmap.budgets)")
        return None
    if not ys or len(ys) > LIMITS["roadmap_years"].high or list(ys) != list(range(ys[0], ys[-1] + 1)) \
            or not all(LIMITS["year"].holds(y) for y in ys) or not all(LIMITS["budget"].holds(b) for b in budgets):
        report.fail(f"the roadmap's years must be 1 to {LIMITS['roadmap_years'].high:g} consecutive years, each with a budget "
                    f"that {LIMITS['budget'].rule()}")
        return None
    return Years(ys, budgets)


def _split(report: CheckReport, plan: Plan, years: tuple[int, ...]) -> dict[int, dict[str, pd.DataFrame]] | None:
    out: dict[int, dict[str, pd.DataFrame]] = {y: {} for y in years}
    for name in city_check.TABLES:
        t = plan.tables[name]
        if "year" not in t:
            report.fail(f"{name}: a roadmap table needs a year column")
            return None
        year = pd.to_numeric(t["year"], errors="coerce")
        unknown = ~year.isin(years)
        if unknown.any():
            report.fail(f"{name}: {int(unknown.sum())} rows of years outside the roadmap (e.g. {t['year'][unknown].iloc[0]})")
            return None
        for y in years:
            out[y][name] = t[year == y].drop(columns="year").reset_index(drop=True)
    return out


def _check_year(plan: Plan, cy: Instance, tables: dict, before: dict | None, y: int, meta: dict) -> tuple[CheckReport, pd.Series]:
    """Year y as a city plan on year y's data, its today the year before (see the module docstring)."""
    if before is not None:
        towns, sites = before["town_staff"], before["facilities"]
        cy = with_today(cy, pd.Series(towns["enforcement_staff"].to_numpy(), index=towns["town_id"].astype(str)),
                        pd.Series(sites["open"].to_numpy(), index=sites["site_id"].astype(str)))
    options = {**(plan.meta.get("options") or {}), "budget": cy.config.budget, "no_worse_than_today": False}
    recorded = plan.meta.get("enforcement") or {}
    options.update({"max_moves": recorded.get("max_moves"), "headcount": recorded.get("headcount")})
    objective = meta.get("objective")
    sub = Plan({"model": "city", "objective": objective if objective != "target" else "utilitarian", "options": options,
                "city": {k: v for k, v in (plan.meta.get("city") or {}).items() if k not in ("budget", "city_pool")},
                "enforcement": recorded, "facilities": plan.meta.get("facilities") or {}}, tables)
    report = city_check.check(sub, cy)
    districts = tables["districts"].set_index(tables["districts"]["district_id"].astype(str))
    return report, pd.to_numeric(districts["service_index"], errors="coerce").reindex(cy.districts.index.astype(str))


def _no_worse(report: CheckReport, plan: Plan, cy: Instance, tables: dict, index: pd.Series, y: int) -> None:
    sub = Plan({"city": plan.meta.get("city") or {}, "facilities": plan.meta.get("facilities") or {}}, tables)
    today = city_check.today_index(sub, cy)
    lower = index < today - 1e-6
    if lower.any():
        d = lower[lower].index[0]
        report.fail(f"{y}: {int(lower.sum())} districts fall below the service index today's resources give them "
                    f"(e.g. {d}: {index[d]:.6g}, today {today[d]:.6g}), which --no-worse-than-today forbids")


# --- what links the years ------------------------------------------------------------------------

def employed(districts: pd.DataFrame) -> pd.DataFrame:
    """Staff employed per district and kind: posted plus pooled."""
    d = districts.set_index(districts["district_id"].astype(str))
    col = lambda c: pd.to_numeric(d[c], errors="coerce").fillna(0.0) if c in d else pd.Series(0.0, index=d.index)  # noqa: E731
    return pd.DataFrame({"fulltime": col("fulltime") + col("fulltime_pool"), "parttime": col("parttime") + col("parttime_pool"),
                         "professional": col("professionals"), "officers": col("enforcement_staff") + col("pool_staff")})


def _today(city: Instance) -> dict[str, float]:
    """Staff employed before FIRST: grids.csv today, the required professionals ⌈grids of t / m_pro⌉ per
    town (professionals today are not in the data), towns.csv officers."""
    g = city.grids
    per_pro = int(city.config.norms["professional_max_grids"])
    grids_in_town = g.groupby(g["town_id"].astype(str)).size().to_numpy()
    return {"fulltime": float(g["fulltime_now"].sum()), "parttime": float(g["parttime_now"].sum()),
            "professional": float((-(-grids_in_town // per_pro)).sum()), "officers": float(city.towns["enforcement_now"].sum())}


def _check_carried(report: CheckReport, staff: dict, years: tuple, allow_release: bool, quotas: dict, today: dict) -> None:
    """Grid staff per district and officers city-wide employed at least as in the year before; hires within quotas."""
    for p, y in zip(years, years[1:]):
        if allow_release:
            break
        for kind in ("fulltime", "parttime", "professional"):
            drop = staff[y][kind] < staff[p][kind].reindex(staff[y].index) - TOL
            if drop.any():
                d = drop.index[drop][0]
                report.fail(f"{y}: {int(drop.sum())} districts employ fewer {kind} grid staff than in {p} "
                            f"(e.g. {d}: {staff[y][kind][d]:,.0f} after {staff[p][kind][d]:,.0f})")
        if staff[y]["officers"].sum() < staff[p]["officers"].sum() - TOL:
            report.fail(f"{y}: the city employs {staff[y]['officers'].sum():,.0f} officers, fewer than the "
                        f"{staff[p]['officers'].sum():,.0f} of {p}")
    for kind, quota in quotas.items():
        before = today[kind]
        for y in years:
            total = float(staff[y][kind].sum())
            at_most(report, f"{y}: {kind} hired (quota)", total - before, float(quota))
            before = total


def _check_sites(report: CheckReport, city: Instance, by_year: dict, years: tuple, meta: dict) -> None:
    lag, limit = int(meta.get("build_lag") or 0), meta.get("build_limit")
    today = set(city.sites.loc[city.sites["existing"].astype(int) == 1, "site_id"].astype(str))
    before: set[str] = set(today)
    for k, y in enumerate(years):
        f = by_year[y]["facilities"]
        is_open = set(f.loc[f["open"].astype(int) == 1, "site_id"].astype(str))
        existing = set(f.loc[f["existing"].astype(int) == 1, "site_id"].astype(str))
        if existing != before:
            report.fail(f"{y}: facilities.existing must mark the sites open in the year before ({len(existing ^ before)} differ)")
        closed = before - is_open
        if closed:
            report.fail(f"{y}: {len(closed)} sites open the year before are closed (e.g. {sorted(closed)[0]})")
        opened = is_open - before
        if k < lag and opened:
            report.fail(f"{y}: {len(opened)} new sites serve before a site decided in {years[0]} can ({lag} years' lag)")
        if limit is not None:
            at_most(report, f"{y}: sites opened (build limit)", float(len(opened)), float(limit))
        before = is_open | before


def _check_target(report: CheckReport, meta: dict, index: dict) -> None:
    if meta.get("objective") != "target":
        return
    level, year = meta.get("target_level"), meta.get("target_year")
    if level is None or year is None:
        report.fail("a target roadmap must record its target level and year")
        return
    for y, i in index.items():
        if y >= int(year) and (i < float(level) - 1e-6).any():
            d = i[i < float(level) - 1e-6].index[0]
            report.fail(f"{y}: district {d} has service index {i[d]:.6g}, below the target {float(level):g}")


def _check_roadmap_table(report: CheckReport, table: pd.DataFrame, by_year: dict, years: Years, staff: dict,
                         today: dict) -> None:
    if "year" not in table or [int(y) for y in table["year"]] != list(years.years):
        report.fail("roadmap.csv must hold one row per year of the roadmap, in order")
        return
    before = today
    for i, y in enumerate(years.years):
        d = by_year[y]["districts"]
        pop = pd.to_numeric(d["population"], errors="coerce").to_numpy(float)
        index = pd.to_numeric(d["service_index"], errors="coerce").to_numpy(float)
        f = by_year[y]["facilities"]
        total = staff[y].sum()
        want = {"budget": years.budgets[i], "spend": float(d["spend"].sum()), "transfers": float(d["transfer"].sum()),
                **{f"hires_{k}": float(total[k] - before[k]) for k in KINDS},
                **{f"employed_{k}": float(total[k]) for k in KINDS},
                "sites_opened": float(((f["open"].astype(int) == 1) & (f["existing"].astype(int) == 0)).sum()),
                "mean_index": float(pop @ index / pop.sum()), "lowest_index": float(index.min())}
        row = table.iloc[i]
        for column, value in want.items():
            got = pd.to_numeric(row.get(column), errors="coerce")
            if not (math.isfinite(got) and abs(got - value) <= 1e-6 * max(1.0, abs(value))):
                report.fail(f"roadmap.csv {y} {column}: {row.get(column)}, recomputed {value:.10g}")
        before = total.to_dict()
