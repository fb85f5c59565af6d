"""Infeasibility of the city budget model explained: the model `allocator.solving.explain` relaxes.

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
the required professionals and a minimum team per town (tier 3), the --equity-bound rows
(tier 2). Their words are `models.city`'s `REQUIREMENTS` and `DEFINITIONS`; those of the rows
added here sit beside `_granted_budget`.

A city of more than SETTLED_ABOVE_GRIDS grids is too large for the elastic solves in their
time: when its staffing floor breaks a budget, the least budgets are settled from the data
(`budget_floor`, the same figures the elastic model finds on a small city) without a solve.
"""
from __future__ import annotations

import pandas as pd
import pyomo.environ as pyo

from allocator.models import grid as grd
from allocator.models.city import DEFINITIONS as CITY_DEFINITIONS
from allocator.models.city import REQUIREMENTS as CITY_REQUIREMENTS
from allocator.models.city import kept_officers_spend, mandatory_spend_of, problem_of
from allocator.models.equity_problem import hold_bound
from allocator.models.requirements import Family
from allocator.solving.city import build_city, city_options, enforcement_block_options
from allocator.solving.explain_words import money, plain

__all__ = ["REQUIREMENTS", "DEFINITIONS", "SETTLED_ABOVE_GRIDS", "build", "budget_floor"]

SETTLED_ABOVE_GRIDS = 5_000   # above: a budget conflict of the staffing floor is settled from the data, no elastic solve
TOL = 1e-6


def build(instance, options) -> tuple[pyo.ConcreteModel | None, dict]:
    """The city model of the run, unreduced, with the budget (and a default pool) as above; for a
    city of more than SETTLED_ABOVE_GRIDS grids whose staffing floor the budgets cannot pay,
    (None, {"settled": …}) with the figures of `budget_floor`."""
    opts = city_options(instance, options)
    if len(instance.grids) > SETTLED_ABOVE_GRIDS:
        settled = budget_floor(instance, options, opts)
        if settled:
            return None, settled
    cm = build_city(instance, options, opts, every_grid=True)
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
    """The run's --equity-bound rows, as the solving model holds them (words: `models.equity.REQUIREMENTS`)."""
    if not options.equity_bounds:
        return
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


# The words of the rows `_granted_budget` adds: β ≤ B is the city budget of models.city's row (5),
# which it stands for; the rows through β and π only define quantities.
GRANTED_REQUIREMENTS: dict[str, Family] = {"budget_granted_10k_cny.upper": CITY_REQUIREMENTS["city_spend_within_budget"]}
GRANTED_DEFINITIONS: frozenset[str] = frozenset({
    "city_spend_within_granted_budget", "transfers_within_granted_pool", "granted_pool_is_budget_beyond_own",
    "granted_pool_zero_unless_open"})

# The families of the model `build` returns: the city model's and those of the rows added above.
REQUIREMENTS: dict[str, Family] = {**CITY_REQUIREMENTS, **GRANTED_REQUIREMENTS}
DEFINITIONS: frozenset[str] = CITY_DEFINITIONS | GRANTED_DEFINITIONS


def budget_floor(instance, options, opts) -> dict | None:
    """The least budgets the staffing floor needs, from the data alone.

    The least spend of district d is its floor F_d (`models.city.mandatory_spend_of`: a full-time
    worker per grid, the required professionals, a minimum team per town; no new site), and its
    least transfer t_d = min(K_d, (F_d − O_d)⁺). A plan exists (headcount and moves aside) iff
    F_d ≤ O_d + K_d for every d, Σ_d t_d ≤ P and Σ_d F_d ≤ B; with the default pool
    P = max(0, B − Σ O) the budget must reach max(Σ F, Σ O + Σ t) when Σ t > 0."""
    need = mandatory_spend_of(instance, grd.grid_data(instance, keep_today=not options.allow_release),
                              enforcement_block_options(instance, options))
    own = pd.Series(instance.districts["own_budget"].to_numpy(float), index=need.index)     # need: districts in city order
    cap = pd.Series(instance.districts["transfer_cap"].to_numpy(float), index=need.index)
    parts, findings = _district_floors(need, own, cap)
    transfers = float((need - own).clip(lower=0).clip(upper=cap).sum())
    kept, _ = kept_officers_spend(instance, enforcement_block_options(instance, options))
    for text, found in _city_limits(float(need.sum()) + kept, float(own.sum()), transfers, opts,
                                    default_pool=instance.config.city_pool is None):
        parts.append(text)
        findings.append(found)
    if not parts:
        return None
    head = ("from the data (the least spend of each district is its staffing floor: one full-time worker per grid, the "
            "required professionals and a minimum enforcement team per town; the city pays every officer employed today): ")
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
