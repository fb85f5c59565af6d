"""Infeasibility of the city budget model explained: its requirement families and the model
`allocator.explain` relaxes.

The model is `models.city`'s (every grid modelled, so x_g ≥ 1 is a bound per grid; minimum
enforcement teams as plain bounds s_t ≥ s_min), with the city budget B made a variable β so
that one relaxation raises every limit the budget sets:

    city_spend_within_granted_budget   Σ_d S_d ≤ β                              (definition)
    budget_granted_10k_cny.upper       β ≤ B                          the budget  (tier 1)

When city.yaml sets no city_pool, the pool is the budget beyond the districts' own budgets,
P = max(0, β − Σ_d O_d), held exact with one binary z and M = Σ_d O_d + Σ_d K_d + B:

    transfers_within_granted_pool      Σ_d T_d ≤ π                               (definition)
    granted_pool_is_budget_beyond_own  π ≤ β − Σ_d O_d + M (1 − z)               (definition)
    granted_pool_zero_unless_open      π ≤ M z                                   (definition)

otherwise `transfers_within_city_pool` (Σ_d T_d ≤ P) is the pool family (tier 1). The other
families: district own budgets S_d − T_d ≤ O_d and transfer caps T_d ≤ K_d (tier 1, per
district), the enforcement headcount and move limit (tier 1), one full-time worker per grid,
the required professionals and a minimum team per town (tier 3).

A city of more than SETTLED_ABOVE_GRIDS grids is too large for the elastic solves in their
time: when its staffing floor breaks a budget, the least budgets are settled from the data
(`budget_floor`, the same figures the elastic model finds on a small city) without a solve.
"""
from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pyomo.environ as pyo

from allocator.solving.explain_enforcement import DEFINITIONS as ENFORCEMENT_DEFINITIONS
from allocator.solving.explain_enforcement import FAMILIES as _ENF
from allocator.solving.explain_grid import FAMILIES as _GRID
from allocator.solving.explain_words import MONEY, Family, money, plain

SETTLED_ABOVE_GRIDS = 5_000   # above: a budget conflict of the staffing floor is settled from the data, no elastic solve
TOL = 1e-6

FAMILIES: dict[str, Family] = {
    "budget_granted_10k_cny.upper": Family(
        "the city budget", MONEY, 1, "the city budget of {limit} falls {amount} short{of_held}",
        "raise the budget (--budget, or budget in city.yaml) to {target}", verb="paying for"),
    "transfers_within_city_pool": Family(
        "the city pool", MONEY, 1, "the city pool of {limit} falls {amount} short of the transfers districts need",
        "raise city_pool in city.yaml to {target_plain} (10k CNY)"),
    "district_spend_within_own_budget_and_transfer": Family(
        "the districts' own budgets", MONEY, 1, "own budgets fall short in {members} ({each})",
        "raise own_budget in districts.csv ({raised}, in 10k CNY)", member="district"),
    "transfer_10k_cny.upper": Family(
        "the transfer caps", MONEY, 1, "transfer caps fall short in {members} ({each})",
        "raise transfer_cap in districts.csv ({raised}, in 10k CNY)", member="district"),
    "headcount_not_exceeded": replace(_ENF["headcount_not_exceeded"], held_from=("posted_staff.lower",)),
    "moves_within_limit": replace(_ENF["moves_within_limit"], held_from=("posted_staff.lower",)),
    "budget_not_exceeded": _ENF["budget_not_exceeded"],
    "posted_staff.lower": _ENF["posted_staff.lower"],
    "fulltime_workers.lower": _GRID["fulltime_workers.lower"],
    "professionals.lower": _GRID["professionals.lower"],
}
def _equity_family(measure: str, words: str, direction: str, exact: bool) -> Family:
    """An --equity-bound row: exact in the index's units for maxmin, range and mad; named only for the
    measures held as a scaled row (gini, owa, hoover), whose slack is not in the measure's units."""
    if exact:
        return Family(f"the equity bound ({measure})", "index points", 2,
                      f"{words} cannot be held at {{limit}} together with the budgets; it misses by {{amount}}",
                      f"{direction} --equity-bound {measure} to {{target_plain}}")
    return Family(f"the equity bound ({measure})", "units", 2,
                  f"{words} cannot be held at the bound asked together with the budgets",
                  f"{direction} --equity-bound {measure}, or raise the budgets")


EQUITY_BOUNDS: dict[str, Family] = {
    "floor_at_least_bound": _equity_family("maxmin", "the lowest district service index", "lower", True),
    "band_within_bound": _equity_family("range", "the range of the districts' service index", "raise", True),
    "mad_within_bound": _equity_family("mad", "the mean absolute deviation of the districts' service index", "raise", True),
    "gini_within_bound": _equity_family("gini", "the Gini index of the districts' service index", "raise", False),
    "owa_within_bound": _equity_family("owa", "the ordered weighted average of the districts' service index", "lower", False),
    "hoover_within_bound": _equity_family("hoover", "the Hoover index of district spend against population", "raise", False),
}
FAMILIES.update(EQUITY_BOUNDS)

DEFINITIONS: set[str] = {
    "district_spend_is_sum_of_blocks", "service_index_is_weighted_coverage", "city_spend_within_granted_budget",
    "transfers_within_granted_pool", "granted_pool_is_budget_beyond_own", "granted_pool_zero_unless_open",
    "town_spend_is_salaries", "deficit_at_least_gap", "deficit_at_most_gap_when_short", "deficit_zero_unless_short",
    "unmet_at_least_gap", "unmet_at_most_gap_when_short", "unmet_zero_unless_short", "town_counted_at_most_standard",
    "level_reached_through_open_site", "level_reached_when_site_open", "level_reached_when_higher_reached",
    "group_spend_adds_up", *ENFORCEMENT_DEFINITIONS}


def build(instance, options) -> tuple[pyo.ConcreteModel | None, dict]:
    """The city model of the run, unreduced, with the budget (and a default pool) as above; for a
    city of more than SETTLED_ABOVE_GRIDS grids whose staffing floor the budgets cannot pay,
    (None, {"settled": …}) with the figures of `budget_floor`."""
    from allocator.models import city

    opts = city.CityOptions.resolve(instance, options)
    if len(instance.grids) > SETTLED_ABOVE_GRIDS:
        settled = budget_floor(instance, options, opts)
        if settled:
            return None, settled
    cm = city.build_model(instance, opts, options, every_grid=True)
    _hold_equity_bounds(cm, instance, options)
    e = cm.enforcement.options
    for v in cm.enforcement.model.posted_staff.values():
        v.setlb(e.min_team)
        v.setub(None)
    own = float(instance.districts["own_budget"].sum())
    caps = float(instance.districts["transfer_cap"].sum())
    _granted_budget(cm.model, opts.budget_10k_cny, own, caps, default_pool=instance.config.city_pool is None)
    return cm.model, {}


def _hold_equity_bounds(cm, instance, options) -> None:
    """The run's --equity-bound rows, as the solving model holds them (families `EQUITY_BOUNDS`)."""
    if not options.equity_bounds:
        return
    from allocator.models.city import problem_of
    from allocator.models.city_equity import hold_bound

    problem = problem_of(cm, instance)
    for measure, bound in options.equity_bounds:
        hold_bound(problem, measure, bound)


def _granted_budget(m, budget: float, own: float, caps: float, default_pool: bool) -> None:
    """β ≤ B in place of the budget row; with `default_pool`, π = max(0, β − Σ O) in place of P."""
    m.budget_granted_10k_cny = pyo.Var(bounds=(0.0, budget))
    m.city_spend_within_budget.deactivate()
    m.city_spend_within_granted_budget = pyo.Constraint(
        expr=pyo.quicksum(m.district_spend_10k_cny.values()) <= m.budget_granted_10k_cny)
    if not default_pool:
        return
    big = own + caps + budget
    m.transfers_within_city_pool.deactivate()
    m.granted_pool_10k_cny = pyo.Var(within=pyo.NonNegativeReals)
    m.granted_pool_open = pyo.Var(within=pyo.Binary)
    m.transfers_within_granted_pool = pyo.Constraint(expr=pyo.quicksum(m.transfer_10k_cny.values()) <= m.granted_pool_10k_cny)
    m.granted_pool_is_budget_beyond_own = pyo.Constraint(
        expr=m.granted_pool_10k_cny <= m.budget_granted_10k_cny - own + big * (1 - m.granted_pool_open))
    m.granted_pool_zero_unless_open = pyo.Constraint(expr=m.granted_pool_10k_cny <= big * m.granted_pool_open)


def budget_floor(instance, options, opts) -> dict | None:
    """The least budgets the staffing floor needs, from the data alone.

    The least spend of district d is its floor F_d (`models.city.mandatory_spend_of`: a full-time
    worker per grid, the required professionals, a minimum team per town; no new site), and its
    least transfer t_d = min(K_d, (F_d − O_d)⁺). A plan exists (headcount and moves aside) iff
    F_d ≤ O_d + K_d for every d, Σ_d t_d ≤ P and Σ_d F_d ≤ B; with the default pool
    P = max(0, B − Σ O) the budget must reach max(Σ F, Σ O + Σ t) when Σ t > 0."""
    from allocator.solving import enforcement as enf
    from allocator.models import grid as grd
    from allocator.models.city import mandatory_spend_of

    from allocator.solving.run import RunOptions

    asked = RunOptions(model="enforcement", objective="shortfall", headcount=options.headcount, max_moves=options.max_moves)
    need = mandatory_spend_of(instance, grd.grid_data(instance), enf.EnforcementOptions.resolve(instance, asked, tie_break=False))
    own = pd.Series(instance.districts["own_budget"].to_numpy(float), index=need.index)     # need: districts in city order
    cap = pd.Series(instance.districts["transfer_cap"].to_numpy(float), index=need.index)
    parts, findings = _district_floors(need, own, cap)
    transfers = float((need - own).clip(lower=0).clip(upper=cap).sum())
    for text, found in _city_limits(float(need.sum()), float(own.sum()), transfers, opts,
                                    default_pool=instance.config.city_pool is None):
        parts.append(text)
        findings.append(found)
    if not parts:
        return None
    head = ("from the data (the least spend of each district is its staffing floor: one full-time worker per grid, the "
            "required professionals and a minimum enforcement team per town): ")
    return {"settled": head + "; and ".join(parts), "findings": findings}


def _district_floors(need: pd.Series, own: pd.Series, cap: pd.Series) -> tuple[list[str], list[dict]]:
    """Districts whose floor F_d exceeds O_d + K_d: words and findings."""
    parts, findings = [], []
    for d in need.index[need > own + cap + TOL]:
        short = float(need[d] - own[d] - cap[d])
        findings.append({"family": "district", "district": d, "amount": short,
                         "own_budget_target": float(own[d]) + short, "transfer_cap_target": float(cap[d]) + short})
        parts.append(f"district {d} falls {money(short)} short of its floor of {money(float(need[d]))}; raise own_budget "
                     f"(to {plain(own[d] + short, True)}) or transfer_cap (to {plain(cap[d] + short, True)}) of {d} "
                     "in districts.csv (10k CNY)")
    return parts, findings


def _city_limits(total: float, own: float, transfers: float, opts, default_pool: bool) -> list[tuple[str, dict]]:
    """The budget B ≥ max(Σ F, Σ O + Σ t) (default pool, Σ t > 0) or B ≥ Σ F; an explicit pool P ≥ Σ t."""
    out = []
    budget, pool = opts.budget_10k_cny, opts.city_pool_10k_cny
    target = max(total, own + transfers) if default_pool and transfers > TOL else total
    if target > budget + TOL:
        out.append((f"the city budget of {money(budget)} falls {money(target - budget)} short of the staffing floor"
                    f"{' and the transfers it needs from the pool' if target > total + TOL else ''}; raise the budget "
                    f"(--budget, or budget in city.yaml) to at least {money(target)} ({plain(target, True)} in the 10k CNY "
                    "of --budget)", {"family": "budget", "amount": target - budget, "target": target}))
    if not default_pool and transfers > pool + TOL:
        out.append((f"the city pool of {money(pool)} falls {money(transfers - pool)} short of the transfers districts "
                    f"need; raise city_pool in city.yaml to {plain(transfers, True)} (10k CNY)",
                    {"family": "pool", "amount": transfers - pool, "target": transfers}))
    return out
