"""Independent check of a city budget plan (models/city.py), from the plan files and the
instance alone.

Each block's tables go through its own family's checker — grid workers
(`allocator.plans.checks.grid`: staffing rules, hours, workloads), enforcement
(`allocator.plans.checks.enforcement`: team minimum, moves, headcount, pool shares, demand) and
facilities (`allocator.plans.checks.facilities`: sites, existing sites open, coverage recomputed
from walking minutes) — without their own budget rows. Then, per district d, from the
tables and the instance:

    S_d = salaries of grid workers (full-time, part-time, professionals; posted or, today's, in the
          district pool: districts.csv fulltime_pool, parttime_pool) + salary of
          enforcement officers (posted and pooled) + open_cost + annual_cost of new open sites
    T_d ≥ S_d − O_d,  0 ≤ T_d ≤ K_d,  Σ_d T_d ≤ P,  Σ_d S_d ≤ B
    s_t + q_t ≤ max(D_t, s_min)  (a town counts at most at its standard; above it only where it
                                  keeps today's officers in place with no pool share, and those
                                  officers do not count: E_d = Σ min(s_t + q_t, max(D_t, s_min)) / Σ D_t)
    G_d = 1 − Σ unmet / Σ workload,  E_d = Σ (s_t + q_t) / Σ D_t,  F_d = covered demand share
    I_d = a_G G_d + a_E E_d + a_F F_d, the index weights a recorded in plan.json (≥ 0, Σ = 1)

B is the run's --budget, else city.yaml's; P is city.yaml's city_pool, else
max(0, B − Σ O_d). The objective is recomputed as the plan's measure of the I_d with
population weights (leximin: the lowest I_d; an ε-constraint point: utilitarian).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from allocator import metrics
from allocator.data.instance import Instance
from allocator.plans.plan import Plan
from allocator.data.money import committed_sites
from allocator.plans.checks import TOL, CheckReport, at_most, check_money, ids_match
from allocator.plans.checks import enforcement as enforcement_check
from allocator.plans.checks import facilities as facilities_check
from allocator.plans.checks import grid as grid_check

TABLES = ("grid_staff", "town_staff", "district_pool", "facilities", "coverage", "districts")
MEASURES = ("utilitarian", "maxmin", "leximin", "range", "mad", "gini", "owa", "alpha", "hoover")


def check(plan: Plan, city: Instance) -> CheckReport:
    report = CheckReport()
    missing = [t for t in TABLES if t not in plan.tables]
    if missing:
        report.fail(f"a city plan needs the tables {', '.join(missing)}")
        return report
    districts = plan.tables["districts"]
    if not ids_match(report, "districts", districts, "district_id", pd.Index(city.districts.index.astype(str))):
        return report
    districts = districts.set_index(districts["district_id"].astype(str)).loc[city.districts.index.astype(str)]
    _check_blocks(report, plan, city, districts)
    spend = _spend(plan, city)
    _compare(report, districts, spend)
    _check_budget(report, plan, city, districts, spend["spend"], spend)
    _check_town_cap(report, plan, city)
    index = _check_index(report, plan, city, districts)
    population = _population(city)
    report.objective = objective(plan.meta.get("objective"), index, population, spend["spend"])
    _check_bounds(report, plan, index, population, spend["spend"])
    if (plan.meta.get("options") or {}).get("no_worse_than_today"):
        _check_no_worse_than_today(report, plan, city, index)
    report.figures.update({"city_spend": float(spend["spend"].sum()), "transfers": float(districts["transfer"].sum()),
                           "min_service_index": float(index.min())})
    return report


# --- the blocks, by their own checkers ---------------------------------------------------------

def _check_blocks(report: CheckReport, plan: Plan, city: Instance, districts: pd.DataFrame) -> None:
    towns = plan.tables["town_staff"]
    grid_towns = towns.assign(coverage_ratio=towns["grid_coverage_ratio"]) if "grid_coverage_ratio" in towns else towns
    grid_districts = pd.DataFrame({"district_id": districts.index, "spend": districts["grid_spend"],
                                   **{c: districts[c] for c in ("fulltime", "parttime", "professionals") + grid_check.KEPT_COLUMNS
                                      if c in districts}})
    allow = {"allow_release": bool((plan.meta.get("options") or {}).get("allow_release"))}
    grid_plan = Plan({"model": "grid", "objective": None, "options": allow, "figures": {"professional_cover_required": True}},
                     {"grid_staff": plan.tables["grid_staff"], "town_staff": grid_towns, "districts": grid_districts})
    _merge(report, "grid workers", grid_check.check(grid_plan, city))
    meta = plan.meta
    options = {**(meta.get("options") or {}), "budget": math.inf,       # the city's own rows hold the money;
               "target_ratio": None,                                    # its enforcement block has no --target;
               "no_worse_than_today": False}                            # its guard holds the index (below)
    recorded = {k: v for k, v in (meta.get("enforcement") or {}).items() if k != "budget"}
    enforcement_plan = Plan({"model": "enforcement", "objective": None, "options": options, "enforcement": recorded},
                            {"town_staff": towns, "district_pool": plan.tables["district_pool"],
                             "districts": _enforcement_districts(towns, districts)})
    _merge(report, "enforcement", enforcement_check.check(enforcement_plan, city))
    services = (meta.get("facilities") or {}).get("services")
    facilities_plan = Plan({"model": "facilities", "objective": "mclp", "options": {"budget": math.inf},
                            "facilities": {"services": services, "allow_closing": False}},
                           {"facilities": plan.tables["facilities"], "coverage": plan.tables["coverage"]})
    _merge(report, "facilities", facilities_check.check(facilities_plan, city))


def _enforcement_districts(towns: pd.DataFrame, districts: pd.DataFrame) -> pd.DataFrame:
    ratio = (towns["enforcement_staff"] + towns["pool_share"]) / towns["enforcement_demand"]
    by = ratio.groupby(towns["district_id"].astype(str))
    return pd.DataFrame({"district_id": districts.index, "enforcement_staff": districts["enforcement_staff"].to_numpy(),
                         "pool_staff": districts["pool_staff"].to_numpy(), "spend": districts["enforcement_spend"].to_numpy(),
                         "mean_coverage": by.mean().reindex(districts.index).to_numpy(),
                         "min_coverage": by.min().reindex(districts.index).to_numpy()})


def _merge(report: CheckReport, block: str, part: CheckReport) -> None:
    for v in part.violations:
        report.fail(f"{block}: {v}")


# --- spend, budgets, transfers --------------------------------------------------------------

def _spend(plan: Plan, city: Instance) -> pd.DataFrame:
    """Per district: grid, enforcement and new-facility spend recomputed from the tables (10k CNY/yr)."""
    ids = pd.Index(city.districts.index.astype(str))
    salary = city.config.salary
    g = plan.tables["grid_staff"]
    grid = (salary("fulltime") * g["fulltime"] + salary("parttime") * g["parttime"]).groupby(g["district_id"].astype(str)).sum()
    t = plan.tables["town_staff"]
    grid = grid.add((salary("professional") * t["professionals"]).groupby(t["district_id"].astype(str)).sum(), fill_value=0.0)
    grid = grid.add(grid_check.pool_spend(plan, city), fill_value=0.0)      # today's grid workers in district pools
    pools = plan.tables["district_pool"]
    officers = t["enforcement_staff"].groupby(t["district_id"].astype(str)).sum().add(
        pools.set_index(pools["district_id"].astype(str))["pool_staff"].astype(float), fill_value=0.0)
    f = plan.tables["facilities"]
    sites = city.sites.set_index(city.sites["site_id"].astype(str))
    cost = (sites["open_cost"] + sites["annual_cost"]).reindex(f["site_id"].astype(str)).to_numpy(float)
    new_open = (f["existing"].astype(float).to_numpy() == 0) & (f["open"].astype(float).to_numpy() > 0.5)
    facilities = pd.Series(np.where(new_open, cost, 0.0)).groupby(f["district_id"].astype(str).to_numpy()).sum()
    out = pd.DataFrame({"grid_spend": grid.reindex(ids).fillna(0.0),
                        "enforcement_spend": salary("enforcement") * officers.reindex(ids).fillna(0.0),
                        "facilities_spend": facilities.reindex(ids).fillna(0.0)}, index=ids)
    out["spend"] = out.sum(axis=1)
    return out


def _compare(report: CheckReport, districts: pd.DataFrame, spend: pd.DataFrame) -> None:
    for column in spend.columns:
        got = pd.to_numeric(districts[column], errors="coerce").to_numpy(float) if column in districts else None
        if got is None:
            report.fail(f"districts lacks column {column}")
            continue
        want = spend[column].to_numpy(float)
        off = ~(np.abs(got - want) <= TOL * np.maximum(1.0, np.abs(want)))
        if off.any():
            d = districts.index[off][0]
            report.fail(f"districts.{column}: {int(off.sum())} districts differ from the recomputed spend "
                        f"(e.g. {d}: {got[off][0]:,.6g}, recomputed {want[off][0]:,.6g})")


def limits(plan: Plan, city: Instance) -> tuple[float, float]:
    """(B, P): the city budget and transfer pool the plan was held to."""
    options = plan.meta.get("options") or {}
    budget = float(options["budget"]) if options.get("budget") is not None else float(city.config.budget)
    pool = city.config.city_pool
    if pool is None:
        pool = max(0.0, budget - float(city.districts["own_budget"].sum()))
    return budget, float(pool)


def _check_budget(report: CheckReport, plan: Plan, city: Instance, districts: pd.DataFrame, spend: pd.Series,
                  lines: pd.DataFrame | None = None) -> None:
    own = city.districts["own_budget"].to_numpy(float)
    cap = city.districts["transfer_cap"].to_numpy(float)
    for column, want in (("own_budget", own), ("transfer_cap", cap)):
        if column in districts and not np.allclose(districts[column].to_numpy(float), want, rtol=1e-9, atol=1e-9):
            report.fail(f"districts.{column} differs from the instance")
    transfer = pd.to_numeric(districts["transfer"], errors="coerce").to_numpy(float)
    names = districts.index
    for i, d in enumerate(names):
        if not transfer[i] >= -TOL:
            report.fail(f"district {d}: transfer {transfer[i]:,.6g} is negative or missing")
        at_most(report, f"district {d}: transfer (cap)", transfer[i], cap[i])
        at_most(report, f"district {d}: spend (own budget + transfer)", float(spend.iloc[i]), own[i] + transfer[i])
    budget, pool = limits(plan, city)
    at_most(report, "transfers (city pool)", float(np.nansum(transfer)), pool)
    at_most(report, "city spend (budget)", float(spend.sum()), budget)
    if lines is not None:
        check_money(report, plan, budget, {"grid_workers": float(lines["grid_spend"].sum()),
                                           "officers": float(lines["enforcement_spend"].sum()),
                                           "new_sites": float(lines["facilities_spend"].sum())}, committed_sites(city))
    recorded = plan.meta.get("city") or {}
    for key, value in (("budget", budget), ("city_pool", pool)):
        if key in recorded and recorded[key] is not None and abs(float(recorded[key]) - value) > TOL * max(1.0, value):
            report.fail(f"the plan records {key} = {recorded[key]} but its options and the instance give {value}")


def _check_town_cap(report: CheckReport, plan: Plan, city: Instance) -> None:
    t = plan.tables["town_staff"]
    team = math.ceil(float(city.config.norms["enforcement_min_team"]) - 1e-9)
    cap = np.maximum(t["enforcement_demand"].to_numpy(float), team)
    staff, share = t["enforcement_staff"].to_numpy(float), t["pool_share"].to_numpy(float)
    kept = (share <= TOL) & (staff <= t["enforcement_now"].to_numpy(float) + TOL)     # today's officers kept in place
    over = (staff + share > cap + TOL * np.maximum(1.0, cap)) & ~kept
    if over.any():
        report.fail(f"{int(over.sum())} towns count more officers than their standard or minimum team "
                    f"(e.g. {t['town_id'].to_numpy()[over][0]})")


# --- levels, index, objective ----------------------------------------------------------------

def _population(city: Instance) -> pd.Series:
    pop = pd.Series(city.town_population().to_numpy(float), index=city.towns["district_id"].astype(str).to_numpy())
    return pop.groupby(level=0).sum().reindex(city.districts.index.astype(str))


def _levels(plan: Plan, city: Instance) -> pd.DataFrame:
    ids = pd.Index(city.districts.index.astype(str))
    g = plan.tables["grid_staff"]
    sums = g.groupby(g["district_id"].astype(str))[["unmet_hours", "workload_hours"]].sum().reindex(ids)
    grid = 1.0 - (sums["unmet_hours"] / sums["workload_hours"].where(sums["workload_hours"] > 0)).fillna(0.0)
    t = plan.tables["town_staff"]
    by = t["district_id"].astype(str)
    team = math.ceil(float(city.config.norms["enforcement_min_team"]) - 1e-9)
    counted = np.minimum(t["enforcement_staff"] + t["pool_share"], np.maximum(t["enforcement_demand"], team))
    enforcement = (counted.groupby(by).sum() / t["enforcement_demand"].groupby(by).sum()).reindex(ids)
    c = plan.tables["coverage"]
    grid_district = city.grids.set_index(city.grids["grid_id"].astype(str))["town_id"].astype(str).map(
        city.towns.set_index(city.towns["town_id"].astype(str))["district_id"].astype(str))
    district = c["node_id"].astype(str).map(grid_district)
    q = c["demand"].astype(float)
    covered = (q * c["covered"].astype(float)).groupby(district).sum().reindex(ids)
    demand = q.groupby(district).sum().reindex(ids)
    facilities = (covered / demand.where(demand > 0)).fillna(1.0)
    return pd.DataFrame({"grid": grid, "enforcement": enforcement, "facilities": facilities}, index=ids)


def _check_index(report: CheckReport, plan: Plan, city: Instance, districts: pd.DataFrame) -> pd.Series:
    weights = (plan.meta.get("city") or {}).get("index_weights") or {}
    a = np.array([float(weights.get(k, np.nan)) for k in ("grid", "enforcement", "facilities")])
    if not (np.all(np.isfinite(a)) and np.all(a >= 0) and abs(a.sum() - 1.0) <= 1e-9):
        report.fail(f"plan.json must record index weights for grid, enforcement, facilities (≥ 0, summing to 1), not {weights}")
        a = np.nan_to_num(a)
    levels = _levels(plan, city)
    for column, part in (("grid_coverage", "grid"), ("enforcement_coverage", "enforcement"), ("facilities_coverage", "facilities")):
        if column in districts and not np.allclose(districts[column].to_numpy(float), levels[part].to_numpy(float), rtol=1e-6, atol=1e-9):
            report.fail(f"districts.{column} differs from the level recomputed from the plan's tables")
    index = pd.Series(levels.to_numpy(float) @ a, index=levels.index)
    claimed = pd.to_numeric(districts["service_index"], errors="coerce").to_numpy(float)
    off = ~(np.abs(claimed - index.to_numpy()) <= 1e-6)
    if off.any():
        report.fail(f"districts.service_index: {int(off.sum())} districts differ from a_G·G + a_E·E + a_F·F "
                    f"(e.g. {districts.index[off][0]}: {claimed[off][0]:.6g}, recomputed {index[off].iloc[0]:.6g})")
    return index


def today_index(plan: Plan, city: Instance) -> pd.Series:
    """I0_d = a_G G0_d + a_E E0_d + a_F F0_d, the index today's resources give each district: G0_d = 1 − Σ_g
    (W_g − H_full x0_g − H_part z0_g)⁺ / Σ_g W_g (grid_staff.workload_hours, today's posted workers of
    grids.csv); E0_d = Σ_t min(s0_t, max(D_t, s_min)) / Σ_t D_t (towns.csv enforcement_now); F0_d the share
    of the district's demand within coverage minutes of a site open today."""
    ids = pd.Index(city.districts.index.astype(str))
    a = [float(((plan.meta.get("city") or {}).get("index_weights") or {}).get(k, 0.0)) for k in ("grid", "enforcement", "facilities")]
    norms = city.config.norms
    g = plan.tables["grid_staff"].set_index(plan.tables["grid_staff"]["grid_id"].astype(str)).reindex(city.grids["grid_id"].astype(str))
    work = g["workload_hours"].to_numpy(float)
    district = city.grids["town_id"].astype(str).map(city.towns.set_index(city.towns["town_id"].astype(str))["district_id"].astype(str)).to_numpy()
    sums = pd.DataFrame({"unmet": grid_check.today_unmet_hours(city, work), "work": work}).groupby(district).sum().reindex(ids)
    grid = 1.0 - (sums["unmet"] / sums["work"].where(sums["work"] > 0)).fillna(0.0)
    t = plan.tables["town_staff"].set_index(plan.tables["town_staff"]["town_id"].astype(str))
    now = city.towns.set_index(city.towns["town_id"].astype(str))["enforcement_now"].reindex(t.index).to_numpy(float)
    team = math.ceil(float(norms["enforcement_min_team"]) - 1e-9)
    counted = pd.Series(np.minimum(now, np.maximum(t["enforcement_demand"].to_numpy(float), team)), index=t.index)
    by = t["district_id"].astype(str)
    enforcement = (counted.groupby(by).sum() / t["enforcement_demand"].groupby(by).sum()).reindex(ids)
    services = (plan.meta.get("facilities") or {}).get("services") or []
    demand, covered = facilities_check.coverage_today(city, list(services))
    f = pd.DataFrame({"covered": covered, "demand": demand}).groupby(district).sum().reindex(ids)
    facilities = (f["covered"] / f["demand"].where(f["demand"] > 0)).fillna(1.0)
    return a[0] * grid + a[1] * enforcement + a[2] * facilities


def _check_no_worse_than_today(report: CheckReport, plan: Plan, city: Instance, index: pd.Series) -> None:
    """--no-worse-than-today: every district's index I_d at least I0_d (`today_index`)."""
    today = today_index(plan, city)
    lower = index < today - 1e-6
    if lower.any():
        d = lower[lower].index[0]
        report.fail(f"{int(lower.sum())} districts fall below the service index their resources give them today "
                    f"(e.g. {d}: {index[d]:.6g}, today {today[d]:.6g}), which --no-worse-than-today forbids")


def _check_bounds(report: CheckReport, plan: Plan, index: pd.Series, population: pd.Series, spend: pd.Series) -> None:
    """Every --equity-bound the run held: E ≥ b for maxmin and owa, E ≤ b for range, mad, gini and hoover."""
    for measure, bound in (plan.meta.get("options") or {}).get("equity_bounds") or []:
        value = objective(measure, index, population, spend)
        what = f"{measure} of the districts (--equity-bound {measure}={bound:g})"
        if value is None:
            report.fail(f"{what}: not a measure this checker knows")
        elif measure in ("maxmin", "owa"):
            at_most(report, what.replace("(", "(negated, "), -value, -float(bound))
        else:
            at_most(report, what, value, float(bound))


def objective(name: str | None, index: pd.Series, population: pd.Series, spend: pd.Series) -> float | None:
    """The plan's measure of its districts' service indices (population weights), as the model reports it."""
    if name not in MEASURES:
        return None
    x = np.clip(index.to_numpy(float), 0.0, None)
    w = population.to_numpy(float) / population.sum()
    if name in ("maxmin", "leximin"):
        return float(x.min())
    return {"utilitarian": lambda: metrics.utilitarian(x, w), "range": lambda: metrics.value_range(x),
            "mad": lambda: metrics.mad(x, w), "gini": lambda: metrics.gini(x, w),
            "owa": lambda: metrics.owa(x, metrics.gini_welfare_weights(len(x))),
            "alpha": lambda: metrics.alpha_fair(x, 1.0, w),
            "hoover": lambda: metrics.hoover(spend.to_numpy(float), population.to_numpy(float))}[name]()
