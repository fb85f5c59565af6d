"""A quick proof for max efficiency: a bound from a relaxation, a plan from a restriction.

Every max-U stage of the city model runs it: max efficiency itself, the tie-break for efficiency
after an equity objective, and each frontier point (max U with the measure bounded). On the city
model HiGHS finds max U's bound from its root cuts and its plan from sub-MIPs: on Chongqing 26 to
43 s. With the enforcement block's whole-posts rows (models.city_blocks) its LP relaxation lies
within 3e-5 of max U there and opens all but a few of the 13,000 new sites whole.
`models.equity_problem.Split` names the parts; `solve_split` runs rounds, each:

    bound   the model with a relaxation's variables continuous (round 1, when the split has
            `first`: every integer variable, the LP relaxation, holding the split's valid `rows`;
            then `relaxed`: the sites opened in part), a relaxation: every plan of the model is one
            of its plans, so the bound HiGHS proves on it, β ≥ its optimum ≥ U* (for a maximum; ≤
            for a minimum); β is the tightest so far
    plan    the split's `fixed` decisions fixed where that relaxation's plan has them whole (and the
            incumbent, if there is one, agrees: then that plan is one of the restriction's) and left
            free elsewhere, a restriction: its plan x is a plan of the model (the better of the
            rounds' is kept). HiGHS is asked for a plan, not a proof (solve.Target): it stops at the
            first plan within the gap of β; in round 1 also once its own bound lies further from β
            than the gap, since then none of its plans can prove the stage
    proof   x is within the gap asked of β (primary_gap(U(x), β) ≤ gap): then it is within that gap
            of U*, and the stage is proven optimal with bound β

When no round meets (or a part finds nothing within its time), the best plan, if any, is handed
to HiGHS as the first incumbent of the whole model, and β still bounds it. Each part gets
SPLIT_TIME_SHARE of the time left (round 1's plan FIRST_PLAN_SHARE: its LP costs about 1 s), and at
most SPLIT_CAP_S without a time limit, so a split that does not pay costs little. A run asked at
gap 0 skips it: parts solved apart would not meet exactly. Measured on Chongqing (one thread): max
U proven in round 1 in 7-8 s (LP bound 1.0 s); the tie-break after maxmin in 15 s against 65 s
for round 2 alone.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from allocator.models.equity_problem import Split
from allocator.solving.solve import (HIGHS_REL_GAP, SolveOptions, SolveResult, Target, primary_gap, solve,
                                    tighter_bound, time_left)

__all__ = ["solve_split", "SplitOutcome", "bounded_by", "SPLIT_TIME_SHARE", "SPLIT_CAP_S"]

SPLIT_TIME_SHARE = 0.3      # of the time left, for each part (on Chongqing the parts need 4-14 s, HiGHS alone 25-40 s)
FIRST_PLAN_SHARE = 0.5      # the LP round's plan, whose bound cost about 1 s: it proves the stage or gives up early
SPLIT_CAP_S = 30.0          # each part's limit when the run has none
BOUND_GAP_SHARE = 0.1       # the relaxation is solved to this share of the gap asked (its bound near its optimum)
PLAN_GAP_SHARE = 0.5        # the restriction to this share (its plan near its optimum), so together they may meet it
TARGET_SHARE = 0.999        # the restriction stops at a plan within this share of the gap asked of the round's bound
LP_PART, BOUND_PART = "bound of the LP relaxation", "bound with sites opened in part"
PLAN_PART = "plan from the sites it opens whole"
WHOLE = 1e-6                # a value this close to a whole number is whole


def solve_split(model: pyo.ConcreteModel, split: Split, options: SolveOptions, maximise: bool, stage: str,
                incumbent: ComponentMap | None = None, lp_first: bool = True) -> SplitOutcome:
    """The split's rounds until one proves the stage: with `lp_first` (and a split that has `first`) the LP
    relaxation's round, holding the split's rows, then the round of `relaxed`. The active objective is
    solved. `incumbent`: a plan of the model; each restriction then fixes only the decisions it shares with
    its relaxation's plan, so it holds that plan and has one (relaxation-induced neighbourhood search). Each
    round starts from `incumbent` (the LP round's plan as the next round's start measured worse: on the
    2,000-town city max U then took 112 s to prove against 59 s), and the better plan of the two is kept."""
    out = SplitOutcome()
    asked = HIGHS_REL_GAP if options.gap is None else options.gap
    if asked <= 0:                   # a gap of 0 asks for the whole model's own proof: the parts would not meet it
        return out
    if lp_first and split.first is not None:
        with _held(split.rows() if split.rows is not None else []):
            if _round(model, split.first, split, options, maximise, stage, LP_PART, asked, out, incumbent, True):
                return out
    _round(model, split.relaxed, split, options, maximise, stage, BOUND_PART, asked, out, incumbent, False)
    return out


@contextmanager
def _held(rows: list):
    """The rows (switched off in the model) held while the block runs, then switched off again."""
    off = [row for row in rows if not row.active]
    for row in off:
        row.activate()
    try:
        yield
    finally:
        for row in off:
            row.deactivate()


@dataclass
class SplitOutcome:
    """What the split found: the proven result (its plan loaded), else the best plan of the model to start
    from and the tightest bound of its relaxations; `parts`: (name, result) of each solve, for plan.json."""

    proven: SolveResult | None = None
    plan: ComponentMap | None = None
    plan_result: SolveResult | None = None
    bound: float | None = None
    parts: list = field(default_factory=list)


def _round(model, relaxed, split: Split, options: SolveOptions, maximise: bool, stage: str, name: str, asked: float,
           out: SplitOutcome, incumbent: ComponentMap | None, give_up: bool) -> bool:
    """One relaxation and its restriction; True when they meet within the gap asked. The restriction stops at
    a plan the bound proves; with `give_up` (a round with another after it) also once its own bound shows it
    has none. The last round's restriction goes on to its best plan: HiGHS on the whole model starts from it
    (stopped early there, the 2,000-town city's max U took 83 s to prove against 59 s)."""
    bound_part = _relaxed(model, relaxed, replace(_part(options, f"{stage}: {name}"), gap=asked * BOUND_GAP_SHARE))
    out.parts.append((name, bound_part))
    if bound_part.bound is None or not bound_part.has_solution:
        return False
    out.bound = bound_part.bound if out.bound is None else (min if maximise else max)(out.bound, bound_part.bound)
    if out.plan_result is None or not _proves(out.plan_result.objective, out.bound, asked, maximise):
        aim = Target(meeting(out.bound, asked * TARGET_SHARE, maximise), maximise, give_up)
        share = FIRST_PLAN_SHARE if give_up else SPLIT_TIME_SHARE
        plan_part = _restricted(model, split, replace(_part(options, f"{stage}: {PLAN_PART}", share), gap=asked * PLAN_GAP_SHARE),
                                incumbent, aim)
        out.parts.append((PLAN_PART, plan_part))
        if not plan_part.has_solution:
            return False
    else:
        plan_part = out.plan_result                # an earlier round's plan meets this round's bound
    if out.plan_result is None or _better(plan_part.objective, out.plan_result.objective, maximise):
        out.plan = ComponentMap((v, v.value) for v in model.component_data_objects(pyo.Var, active=True)
                                if v.value is not None)
        out.plan_result = plan_part
    best = out.plan_result
    gap = primary_gap(best.objective, out.bound, maximise)
    if gap is None or gap > asked:
        return False
    for v, x in out.plan.items():               # the plan that meets (an earlier round's, possibly) is loaded
        v.set_value(x, skip_validation=True)
    seconds = [r for _, r in out.parts]
    out.proven = replace(best, status="optimal", bound=out.bound, gap=gap,
                         handover_s=sum(r.handover_s for r in seconds), solve_s=sum(r.solve_s for r in seconds))
    return True


def meeting(bound: float, gap: float, maximise: bool) -> float:
    """The least good value whose primary_gap against `bound` is `gap`: (β − v)/|v| = gap for a maximum,
    (v − β)/|v| = gap for a minimum."""
    if maximise:
        return bound / (1 + gap) if bound >= 0 else bound / (1 - gap)
    return bound / (1 - gap) if bound >= 0 else bound / (1 + gap)


def _proves(value: float, bound: float, asked: float, maximise: bool) -> bool:
    gap = primary_gap(value, bound, maximise)
    return gap is not None and gap <= asked


def _better(value: float, than: float, maximise: bool) -> bool:
    return value > than if maximise else value < than


def _part(options: SolveOptions, stage: str, share: float = SPLIT_TIME_SHARE) -> SolveOptions:
    left = time_left(options)
    limit = SPLIT_CAP_S if left is None else max(1.0, share * left)
    return replace(options, time_limit=limit, stage=stage)


def _relaxed(model: pyo.ConcreteModel, relaxed, options: SolveOptions) -> SolveResult:
    """The model with the `relaxed()` variables continuous (bounds kept), then put back."""
    kept = [(v, v.domain, v.lb, v.ub) for v in relaxed()]
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
                incumbent: ComponentMap | None, aim: Target) -> SolveResult:
    """The model with the split's decisions fixed where the loaded plan has them whole (and the incumbent, if
    any, has them at the same value), then unfixed. HiGHS stops at `aim`: a plan that the round's bound
    proves, or a bound of the restriction that shows it has none."""
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
        return solve(model, options, start=incumbent, target=aim)
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
