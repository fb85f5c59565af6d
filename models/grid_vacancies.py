"""The grid model when grids may stay vacant (`GridOptions.vacancies`): each town's choice is how many
of its grids it staffs, a multiple-choice knapsack over the towns' options (`StaffingOptions`,
`build_vacancy_model`); models/grid.py's docstring says why a town's k largest grids are the only
plans worth considering. The solving layer (allocator.solving.grid) also searches the highest common
coverage level over these options (`level_options`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

from . import linear as lin
from .grid import GridData, GridOptions
from .grid_plan import required_professionals


@dataclass(frozen=True)
class StaffingOptions:
    """Per town t and k = 0 … |G_t|: staffing its k largest grids (by W_g) with one full-time worker each
    and ⌈k / m_pro⌉ professionals (where cover is required) costs C_tk and leaves U_tk hours unmet:

        U_tk = Σ_{i>k} W_(i) + (Σ_{i≤k} (W_(i) − H_full)⁺ − H_pro·y_tk)⁺,   C_tk = c_full·k + c_pro·y_tk

    W_(1) ≥ W_(2) ≥ … the town's workloads (see the module docstring for why these are the only
    plans worth considering); C_tk rises and U_tk falls with k. Arrays run over every (t, k) pair, towns in order."""

    town: np.ndarray       # town number of each option
    staffed: np.ndarray    # k
    cost: np.ndarray       # C_tk, 10k CNY/yr
    unmet: np.ndarray      # U_tk, hours/yr
    posts: np.ndarray      # k + y_tk
    grid_rank: np.ndarray  # per grid: its position (1, 2, …) in its town by falling workload

    def decisions(self, data: GridData, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x, z, y of the plan that takes option `chosen[t]` (an index into the arrays) in each town."""
        k = self.staffed[chosen]
        x = (self.grid_rank <= k[data.grid_town]).astype(int)
        y = required_professionals(data, x)
        return x, np.zeros(len(x), int), y


def staffing_options(data: GridData) -> StaffingOptions:
    h, w, town = data.hours, data.workload, data.grid_town
    n_towns = len(data.town_ids)
    order = np.lexsort((-w, town))                        # by town, then by falling workload
    counts = np.bincount(town, minlength=n_towns)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(len(w), int)
    rank[order] = np.arange(len(w)) - np.repeat(first, counts) + 1
    covered = np.cumsum(np.minimum(w[order], h["fulltime"]))       # per town after subtracting the start
    excess = np.cumsum(np.maximum(w[order] - h["fulltime"], 0.0))
    start = np.repeat(first, counts)
    before_cov = np.concatenate(([0.0], covered))[start]
    before_exc = np.concatenate(([0.0], excess))[start]
    covered, excess = covered - before_cov, excess - before_exc
    k = rank[order]
    t = town[order]
    cover = data.professionals_min[t] > 0
    y = np.where(cover, -(-k // data.grids_per_professional), 0)
    work = data.town_workload[t]
    unmet = work - covered - np.minimum(excess, h["professional"] * y)
    # k = 0 in every town, then the pairs (t, k ≥ 1) in order
    towns_all = np.concatenate((np.arange(n_towns), t))
    staffed = np.concatenate((np.zeros(n_towns, int), k))
    cost = np.concatenate((np.zeros(n_towns), data.salary["fulltime"] * k + data.salary["professional"] * y))
    unmet_all = np.concatenate((data.town_workload, np.maximum(unmet, 0.0)))
    posts = np.concatenate((np.zeros(n_towns, int), k + y))
    by_town = np.lexsort((staffed, towns_all))
    return StaffingOptions(towns_all[by_town], staffed[by_town], cost[by_town], unmet_all[by_town], posts[by_town], rank)


def vacancy_spend(data: GridData, options_table: StaffingOptions, chosen: np.ndarray) -> tuple[float, int]:
    """Spend and posts of the town options `chosen`, with (8): today's full-time workers beyond the grids
    their district staffs, and every helper of today (such plans post none), paid in the pools."""
    o = options_table
    cost, posts = float(o.cost[chosen].sum()), int(o.posts[chosen].sum())
    if not data.keep_today:
        return cost, posts
    x0, z0 = data.today()
    town_district = np.searchsorted(data.district_ids, data.town_district)
    staffed = np.bincount(town_district[o.town[chosen]], weights=o.staffed[chosen], minlength=len(x0))
    pooled = np.maximum(x0 - np.rint(staffed).astype(int), 0)
    return (cost + float(pooled.sum() * data.salary["fulltime"] + z0.sum() * data.salary["parttime"]),
            posts + int(pooled.sum()))


def build_vacancy_model(options_table: StaffingOptions, options: GridOptions, data: GridData | None = None) -> pyo.ConcreteModel:
    """`unmet` when grids may stay vacant, over each town's options (a multiple-choice knapsack):

        min Σ_tk U_tk λ_tk  s.t.  Σ_k λ_tk = 1 ∀t (one_option_per_town),  Σ C_tk λ_tk ≤ B (spend_within_budget),
        Σ (k + y_tk) λ_tk ≤ H (headcount_within_limit),  λ_tk ∈ {0, 1}   (m.town_staffs[o], o = (t, k) pairs)

    and, under (8) (`data.keep_today`), Σ_{t∈d} Σ_k k λ_tk + p^full_d ≥ Σ_{g∈G_d} x0_g (fulltime_of_today_kept)
    with p^full_d and every helper of today paid within B, p^full_d counted in H; with --no-worse-than-today
    (9) Σ_{t∈d} Σ_k U_tk λ_tk ≤ U0_d (district_no_worse_than_today), and `maxmin` is then this model with
    max ρ s.t. Σ_k (1 − U_tk/W_t) λ_tk ≥ ρ ∀t (town_coverage_at_least_level; ρ m.coverage_level).

    Its relaxation is each town's convex hull of (C_tk, U_tk): far tighter than the same rules stated
    over single grids (x_g ∈ {0, 1}, a_g ≤ (W_g − H_full)⁺·x_g, …), whose proof of optimality HiGHS
    did not finish in 30 s on 306 grids."""
    o = options_table
    m = pyo.ConcreteModel("grid_vacancies")
    m.OPTIONS = pyo.RangeSet(0, len(o.town) - 1)
    m.TOWNS = pyo.RangeSet(0, int(o.town.max()) if len(o.town) else -1)
    m.town_staffs = pyo.Var(m.OPTIONS, domain=pyo.Binary)
    lam = [m.town_staffs[i] for i in range(len(o.town))]
    starts = np.flatnonzero(np.r_[True, o.town[1:] != o.town[:-1]]).tolist() + [len(o.town)]
    m.one_option_per_town = lin.rows(m.TOWNS, [
        lin.equal(lin.linear([1.0] * (b - a), lam[a:b]), 1.0) for a, b in zip(starts, starts[1:])])
    pool_cost, pool_posts, helpers = [], [], 0.0
    if data is not None and data.keep_today:
        x0, z0 = data.today()
        town_district = np.searchsorted(data.district_ids, data.town_district)[o.town]
        rows = [d for d in range(len(x0)) if x0[d] > 0]
        m.KEPT_FULLTIME_DISTRICTS = pyo.Set(initialize=[str(data.district_ids[d]) for d in rows], ordered=True)
        m.pooled_fulltime = pyo.Var(m.KEPT_FULLTIME_DISTRICTS, domain=pyo.NonNegativeReals)
        pools = list(m.pooled_fulltime.values())
        m.fulltime_of_today_kept = lin.rows(m.KEPT_FULLTIME_DISTRICTS, [
            lin.at_least(lin.linear([float(k) for k in o.staffed[town_district == d]] + [1.0],
                                    [lam[i] for i in np.flatnonzero(town_district == d)] + [pool]), float(x0[d]))
            for d, pool in zip(rows, pools)])
        for d, pool in zip(rows, pools):
            pool.set_value(float(x0[d]), skip_validation=True)
        pool_cost, pool_posts = [(data.salary["fulltime"], v) for v in pools], [(1.0, v) for v in pools]
        helpers = float(z0.sum() * data.salary["parttime"])
    if options.budget_10k_cny is not None:
        m.budget_10k_cny = pyo.Param(initialize=options.budget_10k_cny, mutable=True)
        spend = lin.linear(o.cost.tolist() + [c for c, _ in pool_cost], lam + [v for _, v in pool_cost], helpers)
        m.spend_within_budget = pyo.Constraint(expr=spend <= m.budget_10k_cny)
    if options.headcount_max is not None:
        m.headcount_max = pyo.Param(initialize=options.headcount_max, mutable=True)
        posts = lin.linear(o.posts.astype(float).tolist() + [c for c, _ in pool_posts], lam + [v for _, v in pool_posts])
        m.headcount_within_limit = pyo.Constraint(expr=posts <= m.headcount_max)
    if data is not None and options.no_worse_than_today:       # (9) Σ_{t∈d} Σ_k U_tk λ_tk ≤ U0_d
        today = data.today_unmet_by_district()
        town_district = np.searchsorted(data.district_ids, data.town_district)[o.town]
        m.GUARDED_DISTRICTS = pyo.Set(initialize=[str(d) for d in data.district_ids], ordered=True)
        m.district_no_worse_than_today = lin.rows(m.GUARDED_DISTRICTS, [
            lin.at_most(lin.linear(o.unmet[town_district == d].tolist(), [lam[i] for i in np.flatnonzero(town_district == d)]),
                        float(today[d])) for d in range(len(today))])
    for a in starts[:-1]:            # start from every grid vacant (within any limit)
        lam[a].set_value(1.0, skip_validation=True)
    if options.objective == "maxmin" and data is not None:
        # max ρ s.t. Σ_k (1 − U_tk/W_t) λ_tk ≥ ρ ∀t (town_coverage_at_least_level): the level search of the
        # solving layer, as one model, when (9) couples the towns of a district
        work = data.town_workload[o.town]
        ratio = 1.0 - np.divide(o.unmet, work, out=np.zeros_like(o.unmet), where=work > 0)
        m.coverage_level = pyo.Var(bounds=(0.0, 1.0), initialize=0.0)
        m.town_coverage_at_least_level = lin.rows(m.TOWNS, [
            lin.at_least(lin.linear(ratio[a:b].tolist() + [-1.0], lam[a:b] + [m.coverage_level]), 0.0)
            for a, b in zip(starts, starts[1:])])
        m.highest_level = pyo.Objective(expr=m.coverage_level, sense=pyo.maximize)
        return m
    m.least_unmet_hours = pyo.Objective(expr=lin.linear(o.unmet.tolist(), lam), sense=pyo.minimize)
    return m


def chosen_options(m: pyo.ConcreteModel, options_table: StaffingOptions) -> np.ndarray:
    """Index of the option each town takes in the solver's answer."""
    values = np.fromiter((v.value if v.value is not None else 0.0 for v in m.town_staffs.values()), float)
    n_towns = int(options_table.town.max()) + 1
    best = np.full(n_towns, -1)
    score = np.full(n_towns, -np.inf)
    for i in np.flatnonzero(values > 0.5):
        t = options_table.town[i]
        if values[i] > score[t]:
            best[t], score[t] = i, values[i]
    first = np.flatnonzero(np.r_[True, options_table.town[1:] != options_table.town[:-1]])
    return np.where(best >= 0, best, first)


def level_options(options_table: StaffingOptions, town_workload: np.ndarray, level: float) -> np.ndarray:
    """Per town, the cheapest option whose coverage 1 − U_tk/W_t reaches `level` (the last option if none)."""
    o = options_table
    ratio = 1.0 - np.divide(o.unmet, town_workload[o.town], out=np.zeros_like(o.unmet), where=town_workload[o.town] > 0)
    reach = ratio >= level - 1e-12
    n_towns = len(town_workload)
    last = np.r_[np.flatnonzero(o.town[1:] != o.town[:-1]), len(o.town) - 1]
    candidates = np.where(reach, np.arange(len(o.town)), len(o.town))
    first_reach = np.minimum.reduceat(candidates, np.r_[0, last[:-1] + 1])
    return np.where(first_reach < len(o.town), first_reach, last)[:n_towns]
