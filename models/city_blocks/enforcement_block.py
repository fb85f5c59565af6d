"""The city model's enforcement block (`EnforcementBlock`): its rows are stated in models.city_blocks'
docstring.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from allocator.data.instance import Instance

from .. import enforcement as enf
from .. import enforcement_plan
from ..requirements import Family
from .shared import EPS, district_ids


@dataclass(eq=False)
class EnforcementBlock:
    """Enforcement staffing (models.enforcement) with exact coverage levels."""

    options: enf.EnforcementOptions
    model: pyo.ConcreteModel
    demand: pd.Series               # D_t by town
    cap: pd.Series                  # max(D_t, s_min) by town
    town_district: pd.Series

    @classmethod
    def build(cls, city: Instance, options: enf.EnforcementOptions) -> "EnforcementBlock":
        """`options`: models.enforcement's, objective `shortfall` without its tie-break (the solving
        layer reads them from the planner's headcount and move limit)."""
        model = enf.build_model(city, options)
        for objective in model.component_objects(pyo.Objective):
            objective.deactivate()
        demand = enf.demand_officers(city)
        demand.index = demand.index.astype(str)
        cap = np.maximum(demand, float(options.min_team))
        _add_town_cap(model, cap)
        _add_pool_fully_shared(model)
        town_district = pd.Series(city.towns["district_id"].astype(str).to_numpy(), index=demand.index)
        return cls(options, model, demand, cap, town_district)

    def counted(self, t: str):
        """Officers counted in town t: c_t where the town may keep officers above its standard, else s_t + q_t."""
        m = self.model
        if t in m.OVERSTAFFED:
            return m.counted_staff[t]
        return m.posted_staff[t] + m.pool_share[t]

    def town_level(self, t: str):
        return self.counted(t) / float(self.demand[t])

    def district_level(self, d: str):
        m = self.model
        towns = list(m.TOWNS_IN[d])
        return pyo.quicksum(self.counted(t) for t in towns) / float(self.demand[towns].sum())

    def officers(self, d: str):
        m = self.model
        return pyo.quicksum(m.posted_staff[t] for t in m.TOWNS_IN[d]) + m.pool_staff[d]

    def spend(self, d: str):
        return self.options.salary_10k_cny * self.officers(d)

    def level_cap(self, by: str) -> float:
        """The highest level a town (or district) can reach: its cap over its standard."""
        if by == "town":
            return float((self.cap / self.demand).max())
        return float((self.cap.groupby(self.town_district).sum() / self.demand.groupby(self.town_district).sum()).max())

    def tables(self, city: Instance) -> dict[str, pd.DataFrame]:
        """Plan tables with the model's own pool shares (cleaned of solver noise) and ratios."""
        m = self.model
        tables = enforcement_plan.extract(m, city, self.options)
        towns = tables["town_staff"]
        staff = towns["enforcement_staff"].to_numpy(float)
        share = np.array([max(0.0, m.pool_share[t].value or 0.0) for t in towns["town_id"]])
        share = np.minimum(share, np.maximum(self.cap.reindex(towns["town_id"]).to_numpy() - staff, 0.0))
        pools = tables["district_pool"].set_index("district_id")["pool_staff"].astype(float)
        district = towns["district_id"].astype(str).to_numpy()
        used = pd.Series(share).groupby(district).sum()
        room = pools.reindex(used.index).to_numpy()
        scale = pd.Series(np.where(used.to_numpy() > room, room / np.maximum(used.to_numpy(), EPS), 1.0), index=used.index)
        share = share * scale.reindex(district).to_numpy()
        towns["pool_share"] = share
        towns["coverage_ratio"] = (staff + share) / towns["enforcement_demand"].to_numpy(float)
        tables["districts"] = enforcement_districts(city, towns, pools, self.options.salary_10k_cny)
        return tables


def enforcement_districts(city: Instance, towns: pd.DataFrame, pools: pd.Series, salary: float) -> pd.DataFrame:
    """districts.csv of an enforcement plan (the columns the enforcement plan checker recomputes)."""
    ids = district_ids(city)
    by = towns.groupby(towns["district_id"].astype(str))
    posted = by["enforcement_staff"].sum().reindex(ids).fillna(0).astype(int)
    pool = pools.reindex(ids).fillna(0).astype(int)
    return pd.DataFrame({"district_id": ids, "name": city.districts["name"].astype(str).to_numpy(),
                         "spend": salary * (posted + pool).to_numpy(), "enforcement_staff": posted.to_numpy(),
                         "pool_staff": pool.to_numpy(), "mean_coverage": by["coverage_ratio"].mean().reindex(ids).to_numpy(),
                         "min_coverage": by["coverage_ratio"].min().reindex(ids).to_numpy()})


# The enforcement block's words for the planner (infeasibility explanations): models.enforcement's
# `shortfall` model without a budget row, its headcount and move limit named as what they pay
# for only when minimum teams sit at their bound; its rows and the town cap define quantities.
ENFORCEMENT_REQUIREMENTS: dict[str, Family] = {
    "headcount_not_exceeded": replace(enf.REQUIREMENTS["headcount_not_exceeded"], held_from=("posted_staff.lower",)),
    "moves_within_limit": replace(enf.REQUIREMENTS["moves_within_limit"], held_from=("posted_staff.lower",)),
    "officers_of_today_kept": enf.REQUIREMENTS["officers_of_today_kept"],
    "posted_staff.lower": enf.REQUIREMENTS["posted_staff.lower"],
}
ENFORCEMENT_DEFINITIONS: frozenset[str] = frozenset({
    "posted_staff_is_today_plus_moves", "pool_shares_within_pool", "shortfall_covers_gap",   # models.enforcement
    "town_counted_at_most_standard", "town_counted_exactly",                                 # _add_town_cap
    "pool_fully_shared",                                                                     # _add_pool_fully_shared
})
# counted_within_whole_posts is neither: built switched off, no model HiGHS solves whole holds it.
WHOLE_PART = 1e-6             # a standard K_t within this of a whole number has no fraction to drop


def _add_town_cap(m, cap: pd.Series) -> None:
    over = [t for t in m.TOWNS if pyo.value(m.staff_today[t]) > cap[t] + EPS]
    m.OVERSTAFFED = pyo.Set(initialize=over, ordered=True)

    @m.Constraint(m.TOWNS)
    def town_counted_at_most_standard(m, t):
        """s_t + q_t ≤ max(D_t, s_min)  (towns not OVERSTAFFED)"""
        if t in m.OVERSTAFFED:
            return pyo.Constraint.Skip
        return m.posted_staff[t] + m.pool_share[t] <= float(cap[t])

    m.counted_staff = pyo.Var(m.OVERSTAFFED, bounds=lambda m, t: (0.0, float(cap[t])))
    m.keeps_above_standard = pyo.Var(m.OVERSTAFFED, within=pyo.Binary)
    rows = {}
    for t in m.OVERSTAFFED:
        c, f, s, q, k = m.counted_staff[t], m.keeps_above_standard[t], m.posted_staff[t], m.pool_share[t], float(cap[t])
        top = float(s.ub if s.ub is not None else pyo.value(m.staff_today[t]))
        rows[t, "within_posted"] = c <= s + q
        rows[t, "full"] = c >= k * f
        rows[t, "all_unless_full"] = c >= s + q - max(top - k, 1.0) * f      # any M ≥ ŝ_t − K_t holds it; ≥ 1 keeps it far from 0
        rows[t, "no_pool_when_full"] = q <= k * (1 - f)
    m.town_counted_exactly = pyo.Constraint(list(rows), rule=lambda m, t, r: rows[t, r])
    _add_whole_posts_bound(m, cap)


def _add_whole_posts_bound(m, cap: pd.Series) -> None:
    """c_t ≤ ⌊K_t⌋ + φ_t (s_t − ⌊K_t⌋) + q_t, φ_t = K_t − ⌊K_t⌋ (towns OVERSTAFFED, K_t not whole): implied by
    c_t ≤ min(s_t + q_t, K_t) for whole s_t, it drops the relaxation's fractions of an officer moved out.
    Built switched off: the split's LP round of max efficiency holds it (models.equity_problem.Split.rows)."""
    rows = {}
    for t in m.OVERSTAFFED:
        k = float(cap[t])
        whole = math.floor(k)
        part = k - whole
        if WHOLE_PART < part < 1.0 - WHOLE_PART:
            rows[t] = m.counted_staff[t] <= whole + part * (m.posted_staff[t] - whole) + m.pool_share[t]
    m.counted_within_whole_posts = pyo.Constraint(list(rows), rule=lambda m, t: rows[t])
    m.counted_within_whole_posts.deactivate()         # held in the split's LP round alone (models.city)


def _add_pool_fully_shared(m) -> None:
    @m.Constraint(m.DISTRICTS)
    def pool_fully_shared(m, d):
        """Σ_{t∈d} q_t ≥ r_d: every pool officer is counted in some town"""
        return pyo.quicksum(m.pool_share[t] for t in m.TOWNS_IN[d]) >= m.pool_staff[d]


def counted_officers(towns: pd.DataFrame, min_team: float) -> np.ndarray:
    """c_t = min(s_t + q_t, max(D_t, s_min)) from a town table: the officers a town's level counts."""
    cap = np.maximum(towns["enforcement_demand"].to_numpy(float), float(min_team))
    return np.minimum(towns["enforcement_staff"].to_numpy(float) + towns["pool_share"].fillna(0.0).to_numpy(float), cap)
