"""The levels a plan achieves per district or town, read from its tables alone.

`plan_levels(plan, instance, by)` reads a plan's tables and returns, per district or
town, the level of each kind of service the plan holds, the group's population on the
plan's basis (the weight) and its spend (the resources, for Hoover):

    column        level of group g
    enforcement   Σ_{t∈g} (s_t + q_t) / Σ_{t∈g} D_t        town_staff.csv
    grid          1 − Σ_{i∈g} u_i / Σ_{i∈g} W_i             grid_staff.csv
    facilities    Σ_{i∈g,s} q_is c_is / Σ_{i∈g,s} q_is      coverage.csv (all services)
    weight        population of g on the plan's basis
    resources     spend of g, 10k CNY/yr: salaries of enforcement officers (posted, and
                  district pools) and grid workers, opening + annual cost of the new sites
                  opened (what the plan charges the budget: README "What the budget pays")
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from allocator.data.instance import Instance
from allocator.plans.plan import Plan

LEVEL_KINDS = ("enforcement", "grid", "facilities")
GROUPINGS = ("district", "town")


def plan_levels(plan: Plan, instance: Instance, by: str = "district") -> pd.DataFrame:
    """Per district (or town) of `instance`: one level column per kind of service the plan
    holds (enforcement, grid, facilities; NaN where a group has no demand), `weight` (its
    population on the plan's basis) and `resources` (its spend, 10k CNY/yr)."""
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}; use one of {', '.join(GROUPINGS)}")
    towns = instance.towns
    town_ids = pd.Index(towns["town_id"].astype(str), name="town_id")
    town_district = pd.Series(towns["district_id"].astype(str).to_numpy(), index=town_ids)
    ids = (pd.Index(instance.districts["district_id"].astype(str), name="district_id") if by == "district" else town_ids)
    key = town_district if by == "district" else pd.Series(town_ids, index=town_ids)
    out = pd.DataFrame(index=ids)
    spend = pd.Series(0.0, index=ids)
    if _has_enforcement(plan):
        level, cost = _enforcement(plan, instance, key, by)
        out["enforcement"], spend = level.reindex(ids), spend + cost.reindex(ids).fillna(0.0)
    if "grid_staff" in plan.tables:
        level, cost = _grid(plan, instance, key)
        out["grid"], spend = level.reindex(ids), spend + cost.reindex(ids).fillna(0.0)
    if "coverage" in plan.tables:
        level, cost = _facilities(plan, instance, key)
        out["facilities"], spend = level.reindex(ids), spend + cost.reindex(ids).fillna(0.0)
    population = instance.town_population(plan.meta.get("basis") or instance.basis)
    population = pd.Series(population.to_numpy(float), index=town_ids)
    out["weight"] = population.groupby(key).sum().reindex(ids).fillna(0.0)
    out["resources"] = spend
    return out


def _has_enforcement(plan: Plan) -> bool:
    towns = plan.tables.get("town_staff")
    return towns is not None and "enforcement_demand" in towns and bool(towns["enforcement_demand"].notna().any())


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return (numerator / denominator.where(denominator > 0)).astype(float)


def _enforcement(plan: Plan, instance: Instance, key: pd.Series, by: str) -> tuple[pd.Series, pd.Series]:
    """(s + q)/D per group; spend = salary × (posted + pool officers; pool shares at town level)."""
    t = plan.table("town_staff")
    t = t[t["enforcement_demand"].notna()]
    group = t["town_id"].astype(str).map(key)
    covered = t["enforcement_staff"] + t["pool_share"].fillna(0.0)
    level = _ratio(covered.groupby(group).sum(), t["enforcement_demand"].groupby(group).sum())
    salary = instance.config.salary("enforcement")
    if by == "district" and "district_pool" in plan.tables:
        pool = plan.tables["district_pool"]
        officers = t["enforcement_staff"].groupby(group).sum().add(
            pool.set_index(pool["district_id"].astype(str))["pool_staff"].astype(float), fill_value=0.0)
    else:
        officers = covered.groupby(group).sum()
    return level, salary * officers


def _grid(plan: Plan, instance: Instance, key: pd.Series) -> tuple[pd.Series, pd.Series]:
    """1 − unmet/workload per group; spend = salaries of full-time, part-time and professional workers."""
    g = plan.table("grid_staff")
    group = g["town_id"].astype(str).map(key)
    level = 1.0 - _ratio(g["unmet_hours"].groupby(group).sum(), g["workload_hours"].groupby(group).sum())
    salary = instance.config.salary
    cost = (salary("fulltime") * g["fulltime"] + salary("parttime") * g["parttime"]).groupby(group).sum()
    towns = plan.tables.get("town_staff")
    if towns is not None and towns["professionals"].notna().any():
        pro = towns["professionals"].fillna(0.0) * salary("professional")
        cost = cost.add(pro.groupby(towns["town_id"].astype(str).map(key)).sum(), fill_value=0.0)
    d = plan.tables.get("districts")            # today's grid workers held in the district pools (by district only)
    if d is not None and "fulltime_pool" in d and set(cost.index) <= set(d["district_id"].astype(str)):
        pools = salary("fulltime") * d["fulltime_pool"].fillna(0.0) + salary("parttime") * d["parttime_pool"].fillna(0.0)
        cost = cost.add(pd.Series(pools.to_numpy(float), index=d["district_id"].astype(str)), fill_value=0.0)
    return level, cost


def _facilities(plan: Plan, instance: Instance, key: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Demand-weighted covered share over all services; spend = annual cost of open sites
    plus the opening cost of new ones."""
    c = plan.table("coverage")
    grid_town = instance.grids.set_index(instance.grids["grid_id"].astype(str))["town_id"].astype(str)
    group = c["node_id"].astype(str).map(grid_town).map(key)
    q = c["demand"].astype(float)
    level = _ratio((q * c["covered"].astype(float)).groupby(group).sum(), q.groupby(group).sum())
    cost = pd.Series(dtype=float)
    if "facilities" in plan.tables:
        f = plan.tables["facilities"]
        sites = instance.sites.set_index(instance.sites["site_id"].astype(str))
        ids = f["site_id"].astype(str)
        new = f["existing"].astype(int).to_numpy() == 0          # existing sites' running cost is committed
        each = np.where(new, sites["annual_cost"].reindex(ids).to_numpy(float) + sites["open_cost"].reindex(ids).to_numpy(float), 0.0)
        spend = pd.Series(np.where(f["open"].to_numpy(float) > 0.5, each, 0.0), index=f.index)
        cost = spend.groupby(f["town_id"].astype(str).map(key)).sum()
    return level, cost
