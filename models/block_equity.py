"""Equity problems of one block alone: the grid model, the facilities model (districts under
one budget) and the enforcement model (towns or districts) (DESIGN §5).

`allocator frontier` and `allocator equity-bench` compare groups g. Each problem is an
`EquityProblem` (models.equity_problem) with group levels L_g, weights w_g (Σ w_g = 1, so
efficiency U = Σ_g w_g L_g), population shares p_g and resources r_g (Hoover's index
compares r_g / Σ r with p_g):

grid        L_d = G_d = 1 − Σ_{t∈d} U_t / W_d      share of district d's grid workload met
            w_d = W_d / Σ_e W_e                    so U is the city's met share of workload
            F + Σ_t s_t + pools ≤ B                 grid_spend_within_budget (today's grid workers kept,
                                                    models.grid (8), unless release is allowed)
            today: G0_d = 1 − U0_d / W_d            what today's posted workers cover (--no-worse-than-today)
            (models.city_blocks.GridBlock: exact unmet hours U_t, town spend s_t, fixed spend F)

facilities  L_d = F_d = Σ_{i∈d,s} a_is c_is / Σ_{i∈d,s} a_is   target-group demand a within reach,
                                                               pooled over the services
            w_d = Σ_{i∈d,s} a_is / Σ a                         so U is the city's covered share
            Σ_d Σ_{j∈d} c_j y_j ≤ B                  facilities_spend_within_budget
            (models.city_blocks.FacilitiesBlock: maximal covering of every service, new sites j
            at open + running cost c_j; existing sites kept open, their running cost K_d
            committed and not charged — allocator.data.money — but counted in the district's
            resources r_d)

Grid and facilities: r_d = district spend / B, p_d = population share; a district with no
workload (grid) or no target-group demand (facilities) has no level and is left out. The
budget B is checked against the least spend any plan has (`least_spend`) before a model is
built.

enforcement L_t = (s_t + q_t) / D_t  (towns), or L_d = Σ_{t∈d} (s_t + q_t) / Σ_{t∈d} D_t
            (districts: district_coverage_ratio[d], a defined variable)
            w_g = D_g / Σ D                          the staffing standard
            r_g = c_enf·(s_t + q_t) (towns), c_enf·(Σ_{t∈d} s_t + r_d) (districts:
                  district_spend_10k_cny[d]), over c_enf·headcount; p_g its population
            (models.city_blocks.EnforcementBlock: models.enforcement's first-stage model —
            headcount, team minimum, move limit — with a town counted at most at its standard)

The plan tables are the model's own (grid_staff/town_staff/districts, facilities/coverage/
districts, or town_staff/district_pool/districts), so `allocator check` verifies them with
the model's checker; `grid_levels`, `facilities_levels` and `enforcement_levels` recompute
every L_g, w_g and r_g from those tables alone.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.contrib.fbbt.fbbt import compute_bounds_on_expr
from pyomo.core.expr.numvalue import is_constant

from allocator.data.instance import Instance

from .city_blocks import EnforcementBlock, FacilitiesBlock, GridBlock, counted_officers, district_ids
from .enforcement import EnforcementOptions
from .equity_problem import EquityProblem, PlanLevels, defined_variables
from .facilities import FacilitiesOptions
from .facilities_tables import plan_tables
from .grid import grid_data
from .grid_plan import mandatory_staffing


def least_spend(city: Instance, model: str, services=(), keep_today: bool = True) -> tuple[float, str]:
    """The least spend (10k CNY/yr) of any grid plan (with `keep_today`, today's grid workers kept:
    models.grid (8)), or of any facilities plan over `services`, and what it pays for."""
    if model == "grid":
        data = grid_data(city, keep_today=keep_today)
        kept = " and the grid workers employed today it leaves without a post" if data.kept_cost > 0 else ""
        return data.mandatory_cost, f"one full-time worker per grid, the required professionals{kept}"
    return 0.0, "no new site (the existing sites' running cost is committed, not charged)"


def district_population(city: Instance) -> pd.Series:
    towns = city.towns
    people = pd.Series(city.town_population().to_numpy(float), index=towns["district_id"].astype(str).to_numpy())
    return people.groupby(level=0).sum().reindex(district_ids(city)).fillna(0.0).astype(float)


def _problem(m: pyo.ConcreteModel, city: Instance, levels: dict, weights: pd.Series, spend: dict, budget: float,
             lowest: float, tables, plan_levels, meta: dict) -> EquityProblem:
    groups = list(weights.index)
    people = district_population(city).reindex(groups)
    return EquityProblem(
        model=m, levels=defined_variables(m, "district_level", {d: levels[d] for d in groups}),
        weights=(weights / weights.sum()).to_dict(), population=(people / people.sum()).to_dict(),
        resources={d: spend[d] / budget for d in groups}, level_range=(max(0.5 * lowest, 1e-3), 1.0),
        tables=tables, plan_levels=plan_levels, group="district", meta=meta)


def _within_budget(m: pyo.ConcreteModel, name: str, spend, budget: float) -> None:
    """spend ≤ B as a row (no row when nothing is left to decide: spend is then a checked constant)."""
    if not is_constant(spend):
        m.add_component(name, pyo.Constraint(expr=spend <= budget))


# --- grid ------------------------------------------------------------------------------------

def grid_problem(city: Instance, budget: float, keep_today: bool = True) -> EquityProblem:
    """Districts' share of grid workload met under the budget B; with `keep_today` today's grid workers stay
    posted or pooled (models.grid (8)). Today's level of d, G0_d = 1 − U0_d/W_d, is what today's posted workers
    cover (`GridData.today_unmet_by_district`; the guard --no-worse-than-today holds L_d ≥ G0_d)."""
    block = GridBlock.build(city, keep_today=keep_today)
    m, data = block.model, block.data
    weights = block.workload[block.workload > 0]
    spend = {d: block.spend(d) for d in district_ids(city)}
    _within_budget(m, "grid_spend_within_budget", pyo.quicksum(spend.values()), budget)
    least = mandatory_staffing(data)
    unmet = pd.Series(least.unmet, index=data.town_district[data.grid_town]).groupby(level=0).sum()
    lowest = float((1.0 - unmet.reindex(weights.index).fillna(0.0) / weights).min())
    problem = _problem(m, city, {d: block.level(d) for d in weights.index}, weights, spend, budget, lowest,
                       lambda: block.tables(city), lambda tables: grid_levels(tables, city, list(weights.index)),
                       {})
    problem.release_spend = lambda: block.release_spend(budget)
    today = pd.Series(data.today_unmet_by_district(), index=data.district_ids.astype(str))
    problem.today_levels = {d: 1.0 - float(today.get(d, 0.0)) / float(weights[d]) for d in weights.index}
    return problem


def grid_levels(tables: dict[str, pd.DataFrame], city: Instance, groups: list[str]) -> PlanLevels:
    """G_d, W_d and spend of a grid plan, from its tables."""
    g = tables["grid_staff"]
    by = g.groupby(g["district_id"].astype(str).to_numpy())
    workload, unmet = by["workload_hours"].sum().reindex(groups), by["unmet_hours"].sum().reindex(groups)
    spend = tables["districts"].set_index(tables["districts"]["district_id"].astype(str))["spend"].reindex(groups)
    return PlanLevels(1.0 - unmet / workload, workload / workload.sum(), district_population(city).reindex(groups),
                      spend.astype(float))


# --- facilities ------------------------------------------------------------------------------

def facilities_problem(city: Instance, options: FacilitiesOptions, budget: float) -> EquityProblem:
    """Districts' covered share of target-group demand under the budget B (`options`: as
    `FacilitiesBlock.build` takes them)."""
    block = FacilitiesBlock.build(city, options)
    kept = _kept_spend(city, block)
    demand = _district_demand(city, block)
    weights = demand[demand > 0]
    spend = {d: float(kept[d]) + block.spend(d) for d in district_ids(city)}
    m = block.model
    _within_budget(m, "facilities_spend_within_budget", pyo.quicksum(block.spend(d) for d in district_ids(city)), budget)
    lows = [block.level(d) if isinstance(block.level(d), float) else (compute_bounds_on_expr(block.level(d))[0] or 0.0)
            for d in weights.index]

    def tables() -> dict[str, pd.DataFrame]:
        return plan_tables(city, block.cover.data, block.opened(), None, block.options)

    services = list(block.options.services)
    problem = _problem(m, city, {d: block.level(d) for d in weights.index}, weights, spend, budget, min(lows),
                       tables, lambda t: facilities_levels(t, city, list(weights.index)),
                       {"facilities": {"services": services, "allow_closing": False}})
    problem.release_spend = block.release_spend
    problem.today_levels = block.today_levels(city).reindex(weights.index).to_dict()    # always held: today's sites stay open
    return problem


def _kept_spend(city: Instance, block: FacilitiesBlock) -> pd.Series:
    """K_d: the running cost of the existing sites of each district (they stay open)."""
    sites = city.sites[city.sites["service"].isin(block.options.services) & (city.sites["existing"] == 1)]
    town_district = city.towns.set_index(city.towns["town_id"].astype(str))["district_id"].astype(str)
    by = town_district.reindex(sites["town_id"].astype(str)).to_numpy()
    return (pd.Series(sites["annual_cost"].to_numpy(float), index=by).groupby(level=0).sum()
            .reindex(district_ids(city)).fillna(0.0))


def _district_demand(city: Instance, block: FacilitiesBlock) -> pd.Series:
    """Σ_{i∈d,s} a_is: the target-group demand of each district's grids, pooled over the services."""
    district_of = _grid_districts(city)
    total = sum(pd.Series(d.demand, index=district_of).groupby(level=0).sum() for d in block.cover.data)
    return total.reindex(district_ids(city)).fillna(0.0).astype(float)


def _grid_districts(city: Instance) -> np.ndarray:
    town_district = city.towns.set_index(city.towns["town_id"].astype(str))["district_id"].astype(str)
    return town_district.reindex(city.grids["town_id"].astype(str)).to_numpy()


def facilities_levels(tables: dict[str, pd.DataFrame], city: Instance, groups: list[str]) -> PlanLevels:
    """F_d, demand shares and spend of a facilities plan, recomputed from coverage.csv and facilities.csv."""
    c = tables["coverage"]
    district_of = pd.Series(_grid_districts(city), index=city.grids["grid_id"].astype(str))
    d = district_of.reindex(c["node_id"].astype(str)).to_numpy()
    a = c["demand"].to_numpy(float)
    demand = pd.Series(a, index=d).groupby(level=0).sum().reindex(groups)
    covered = pd.Series(a * c["covered"].to_numpy(float), index=d).groupby(level=0).sum().reindex(groups)
    f = tables["facilities"]
    sites = city.sites.set_index(city.sites["site_id"].astype(str))
    cost = _site_cost(sites.reindex(f["site_id"].astype(str)), f)
    spend = pd.Series(cost, index=f["district_id"].astype(str).to_numpy()).groupby(level=0).sum()
    return PlanLevels(covered / demand, demand / demand.sum(), district_population(city).reindex(groups),
                      spend.reindex(groups).fillna(0.0).astype(float))


def _site_cost(sites: pd.DataFrame, f: pd.DataFrame) -> np.ndarray:
    """Spend of each open site: its running cost, plus its opening cost when new."""
    is_open = f["open"].to_numpy(int) == 1
    new = f["existing"].to_numpy(int) == 0
    running = sites["annual_cost"].to_numpy(float)
    return is_open * (running + new * sites["open_cost"].to_numpy(float))


# --- enforcement -----------------------------------------------------------------------------

def enforcement_problem(city: Instance, options: EnforcementOptions, by: str) -> EquityProblem:
    """Towns' (or districts') enforcement coverage ratios as levels (`options`: as
    `EnforcementBlock.build` takes them)."""
    block = EnforcementBlock.build(city, options)
    m, salary = block.model, block.options.salary_10k_cny
    population = pd.Series(city.town_population().to_numpy(float), index=block.demand.index)
    if by == "town":
        groups = list(block.demand.index)
        levels = {t: block.town_level(t) for t in groups}
        standard, people = block.demand, population
        resources = {t: salary * (m.posted_staff[t] + m.pool_share[t]) for t in groups}
        floor = float((block.options.min_team / block.demand).min())
    else:
        groups = district_ids(city)
        levels = defined_variables(m, "district_coverage_ratio", {d: block.district_level(d) for d in groups})
        standard = block.demand.groupby(block.town_district).sum().reindex(groups)
        people = population.groupby(block.town_district).sum().reindex(groups)
        resources = defined_variables(m, "district_spend_10k_cny", {d: block.spend(d) for d in groups})
        teams = block.town_district.value_counts().reindex(groups) * block.options.min_team
        floor = float((teams / standard).min())
    weights = (standard / standard.sum()).to_dict()
    today = np.minimum(pd.Series(pyo.value(m.staff_today[t]) for t in block.demand.index).to_numpy(float),
                       block.cap.reindex(block.demand.index).to_numpy(float))      # officers counted today
    counted_today = pd.Series(today, index=block.demand.index)
    if by != "town":
        counted_today = counted_today.groupby(block.town_district).sum()
    today_levels = (counted_today.reindex(standard.index) / standard).to_dict()
    scale = salary * block.options.headcount           # Hoover is scale-free; HiGHS wants numbers near 1
    return EquityProblem(
        model=m, levels=levels, weights=weights, population=(people / people.sum()).to_dict(),
        resources={g: r / scale for g, r in resources.items()},
        level_range=(0.5 * floor, block.level_cap(by)), tables=lambda: block.tables(city),
        plan_levels=lambda tables: enforcement_levels(tables, city, by), group=by,
        meta={"enforcement": block.options.as_meta()}, today_levels=today_levels)


def enforcement_levels(tables: dict[str, pd.DataFrame], city: Instance, by: str) -> PlanLevels:
    """Levels, weights, populations and resources of an enforcement plan, from its tables."""
    t = tables["town_staff"]
    salary = city.config.salary("enforcement")
    population = pd.Series(city.town_population().to_numpy(float), index=city.towns["town_id"].astype(str).to_numpy())
    key = t["town_id"].astype(str) if by == "town" else t["district_id"].astype(str)
    team = math.ceil(float(city.config.norms["enforcement_min_team"]) - 1e-9)
    covered = pd.Series(counted_officers(t, team), index=t.index).groupby(key.to_numpy()).sum()
    standard = t["enforcement_demand"].groupby(key.to_numpy()).sum()
    people = population.reindex(t["town_id"].astype(str)).groupby(key.to_numpy()).sum()
    if by == "town":
        resources = salary * (t["enforcement_staff"] + t["pool_share"]).groupby(key.to_numpy()).sum()
    else:
        pools = tables["district_pool"].set_index(tables["district_pool"]["district_id"].astype(str))["pool_staff"]
        resources = salary * t["enforcement_staff"].groupby(key.to_numpy()).sum().add(pools.astype(float), fill_value=0.0)
    ids = standard.index
    return PlanLevels(covered / standard, standard / standard.sum(), people.reindex(ids), resources.reindex(ids).fillna(0.0))
