"""A quick proof for max efficiency: a bound from a relaxation, a plan from a restriction.

On the city model HiGHS finds max U's bound from its root cuts and its plan from sub-MIPs: on
Chongqing 26 to 40 s, though the officers alone make the model hard and the 13,000 new sites
hardly matter to the bound. `models.equity_problem.Split` names the two parts; `solve_split`:

    bound   the model with the split's `relaxed` variables continuous (sites may open in part), a
            relaxation: every plan of the model is one of its plans, so the bound HiGHS proves on
            it, β ≥ its optimum ≥ U* (for a maximum; ≤ for a minimum)
    plan    the split's `fixed` decisions fixed where that relaxation's plan has them whole (and the
            stage's incumbent, if it has one, agrees: then that plan is one of the restriction's) and
            left free elsewhere, a restriction: its plan x is a plan of the model
    proof   x is within the gap asked of β (primary_gap(U(x), β) ≤ gap): then it is within that gap
            of U*, and the stage is proven optimal with bound β

When the two do not meet (or a part finds nothing within its time), the plan, if any, is handed
to HiGHS as the first incumbent of the whole model. Each part gets SPLIT_TIME_SHARE of the time
left, and at most SPLIT_CAP_S without a time limit, so a split that does not pay costs little. A run
asked at gap 0 skips it: two parts solved apart would not meet exactly.
Measured on Chongqing (max U, one thread): bound 2.2 s, plan 3.9 s, gap 8.8e-5 (HiGHS alone: 26 s).
"""
from __future__ import annotations

from dataclasses import replace

import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from allocator.models.equity_problem import Split
from allocator.solving.solve import (HIGHS_REL_GAP, SolveOptions, SolveResult, primary_gap, solve, tighter_bound,
                                    time_left)

__all__ = ["solve_split", "bounded_by", "SPLIT_TIME_SHARE", "SPLIT_CAP_S"]

SPLIT_TIME_SHARE = 0.3      # of the time left, for each part (on Chongqing the parts need 4-14 s, HiGHS alone 25-40 s)
SPLIT_CAP_S = 30.0          # each part's limit when the run has none
BOUND_GAP_SHARE = 0.1       # the relaxation is solved to this share of the gap asked (its bound near its optimum)
PLAN_GAP_SHARE = 0.5        # the restriction to this share (its plan near its optimum), so together they may meet it
BOUND_PART, PLAN_PART = "bound with sites opened in part", "plan from the sites it opens whole"
WHOLE = 1e-6                # a value this close to a whole number is whole


def solve_split(model: pyo.ConcreteModel, split: Split, options: SolveOptions, maximise: bool, stage: str,
                incumbent: ComponentMap | None = None) -> tuple[SolveResult | None, ComponentMap | None,
                                                                list[tuple[str, SolveResult]]]:
    """(the proven result with its plan loaded, or None; a plan of the model to start from, or None; the
    parts solved, as (name, result) for plan.json's stages). The active objective is solved. `incumbent`: a
    plan of the model; the restriction then fixes only the decisions it shares with the relaxation's plan,
    so it holds that plan and has one (relaxation-induced neighbourhood search)."""
    parts: list[tuple[str, SolveResult]] = []
    asked = HIGHS_REL_GAP if options.gap is None else options.gap
    if asked <= 0:                   # a gap of 0 asks for the whole model's own proof: the parts would not meet it
        return None, None, parts
    bound_part = _relaxed(model, split, replace(_part(options, f"{stage}: {BOUND_PART}"), gap=asked * BOUND_GAP_SHARE))
    parts.append((BOUND_PART, bound_part))
    if bound_part.bound is None or not bound_part.has_solution:
        return None, None, parts
    plan_part = _restricted(model, split, replace(_part(options, f"{stage}: {PLAN_PART}"), gap=asked * PLAN_GAP_SHARE),
                            incumbent)
    parts.append((PLAN_PART, plan_part))
    if not plan_part.has_solution:
        return None, None, parts
    plan = ComponentMap((v, v.value) for v in model.component_data_objects(pyo.Var, active=True) if v.value is not None)
    gap = primary_gap(plan_part.objective, bound_part.bound, maximise)
    if gap is None or gap > asked:
        return None, plan, parts
    proven = replace(plan_part, status="optimal", bound=bound_part.bound, gap=gap,
                     handover_s=bound_part.handover_s + plan_part.handover_s, solve_s=bound_part.solve_s + plan_part.solve_s)
    return proven, plan, parts


def _part(options: SolveOptions, stage: str) -> SolveOptions:
    left = time_left(options)
    limit = SPLIT_CAP_S if left is None else max(1.0, SPLIT_TIME_SHARE * left)
    return replace(options, time_limit=limit, stage=stage)


def _relaxed(model: pyo.ConcreteModel, split: Split, options: SolveOptions) -> SolveResult:
    """The model with the split's relaxed variables continuous (bounds kept), then put back."""
    kept = [(v, v.domain, v.lb, v.ub) for v in split.relaxed()]
    for v, _, lb, ub in kept:
        v.domain = pyo.Reals
        v.setlb(lb)
        v.setub(ub)
    try:
        return solve(model, options)
    finally:
        for v, domain, lb, ub in kept:
            v.domain = domain
            v.setlb(lb)
            v.setub(ub)


def _restricted(model: pyo.ConcreteModel, split: Split, options: SolveOptions,
                incumbent: ComponentMap | None) -> SolveResult:
    """The model with the split's decisions fixed where the loaded plan has them whole (and the incumbent, if
    any, has them at the same value), then unfixed."""
    fixed = []
    for v in split.fixed():
        x = v.value
        if v.fixed or x is None or abs(x - round(x)) > WHOLE:
            continue
        if incumbent is not None and v in incumbent and incumbent[v] is not None and abs(incumbent[v] - round(x)) > WHOLE:
            continue
        v.fix(float(round(x)))
        fixed.append(v)
    try:
        return solve(model, options, start=incumbent)
    finally:
        for v in fixed:
            v.unfix()


def bounded_by(result: SolveResult, bound: float | None, maximise: bool, gap: float | None) -> SolveResult:
    """`result` against the tighter of its bound and `bound` (the split's relaxation), `optimal` when that gap
    is within the gap asked."""
    if bound is None:
        return result
    tighter = tighter_bound(result, bound, maximise)
    if tighter.gap is not None and tighter.gap <= (HIGHS_REL_GAP if gap is None else gap):
        return replace(tighter, status="optimal")
    return tighter
