"""No levelling down: the efficient plan as the reference of every equity plan (`solve_fair`), and the
plans kept on a built problem as starts of later solves (`keep_plan`, `kept_start`, `keep_reference`).

Equality bought by lowering groups for nobody's gain is refused. The efficient plan E (a plan
of max U on the problem as built, before any equity bound; levels L^E, efficiency U*) is solved
first (`efficient_reference`): max U alone, without the utilitarian objective's tie-break for the
fairest of the most efficient plans (a plan any max-U plan dominates lowers someone for nobody's
gain, whichever max-U plan shows it; on Chongqing that tie-break had not been proven in 56 s
where max U took 26 s), or the utilitarian plan a study solved before. After the equity sequence
and its tie-break (the measure held, max U, proven at the sequence's gap like every stage: a gap
of 0 is out of reach on a city of 34,000 grids, where the tie-break of maxmin on Chongqing was at
3.4e-5 after 78 s), `keep_undominated` compares the plan's levels with L^E: when E is at least
as good for every group and better for one (within LEVEL_TOLERANCE), the measure could only
reach its value by lowering someone. Then every row and objective the
sequence added is switched off and the plans E does not dominate are searched: E itself, and
the plans that leave some group better off than in E,

    L_g ≥ (L^E_g + LEVEL_GAIN)·y_g,  Σ_g y_g ≥ 1,  y_g ∈ {0, 1}       (block `not_dominated`)

by the same sequence (its objective, then the most efficient of its optimal plans); the better
of that plan and E on the measure is kept (E on a tie). The outcome records the price of
fairness (U* − U)/U* and, in the planner's words, what happened.

The sequences themselves are allocator.solving.equity's; they are called through that module
(`equity.solve_measure`), the one place a caller or a test replaces them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from allocator.models.equity_problem import EquityProblem, PlanLevels, require_a_gain
from allocator.solving import equity
from allocator.solving.equity import NO_TIE_BREAK, EquityOutcome
from allocator.solving.run import stage_record
from allocator.solving.solve import SolveOptions, SolveResult, deadline_of

LEVEL_TOLERANCE = 1e-6     # levels closer than this count as equal when comparing with the efficient plan
LEVEL_GAIN = 1e-4          # a group counts as better off than in the efficient plan by at least this much
REFERENCE_TIME_SHARE = 0.4  # under a time limit the efficient plan gets this share of it (max U is the hardest solve)
MAXIMISED = ("utilitarian", "maxmin", "leximin", "owa", "alpha")


@dataclass
class EfficientReference:
    """The efficient plan: its levels, efficiency, every variable's value and its solve."""

    levels: dict
    efficiency: float
    result: SolveResult
    values: ComponentMap
    measures: dict = field(default_factory=dict)      # measure → its value in the efficient plan


def efficient_reference(problem: EquityProblem, options: SolveOptions, measure: str) -> EfficientReference | None:
    """A plan of max U on the problem as built (call it before any equity bound is held); the rows and
    objectives it added are then switched off. None when no plan was found.

    A reference found on this built problem before (`keep_reference`: an earlier sequence, or the
    utilitarian plan of a study, with the same gap and seed) is loaded instead of solved again when it
    was proven optimal (the problem is the same, so is its optimum), or when this solve has a time limit
    (it had a share of the time at least as large as the REFERENCE_TIME_SHARE this solve would give it)."""
    kept = problem.kept.get(REFERENCE_KEY)
    if kept is not None and kept[0] == _reference_key(options) and (
            kept[1].result.status == "optimal" or deadline_of(options) is not None):
        reference = kept[1]
        for v, x in reference.values.items():
            v.set_value(x, skip_validation=True)
        if measure not in reference.measures:
            reference.measures[measure] = _measure_of(problem, measure, reference.levels)
        return reference
    before = {id(c) for c in problem.model.component_objects(descend_into=False)}
    r = equity.solve_measure(problem, "utilitarian", options, tie_break=NO_TIE_BREAK).result
    _switch_off_since(problem, before)
    if r is None or not r.has_solution:
        return None
    return keep_reference(problem, r, options, measure)


REFERENCE_KEY = "efficient_reference"
VARIABLES_KEY, PLANS_KEY = "variables", "plans"
KEPT_PLANS = 4              # plans kept on a built problem as starts of later ε-constraint points


def mark_built(problem: EquityProblem) -> None:
    """Note the variables of the problem as built: plans of later sequences are kept by their values
    (`keep_plan`) and offered as starts (`kept_start`)."""
    problem.kept[VARIABLES_KEY] = list(problem.model.component_data_objects(pyo.Var))


def keep_plan(problem: EquityProblem) -> None:
    """Keep the loaded plan (its levels, resources and the values of the variables as built), the last
    KEPT_PLANS of them, for `kept_start`."""
    variables = problem.kept.get(VARIABLES_KEY)
    if variables is None:
        return
    values = np.array([np.nan if v.value is None else float(v.value) for v in variables])
    resources = {g: max(0.0, float(pyo.value(e))) for g, e in problem.resources.items()}
    plans = problem.kept.setdefault(PLANS_KEY, [])
    plans.append((_loaded_levels(problem), resources, values))
    del plans[:-KEPT_PLANS]


def last_kept_plan(problem: EquityProblem) -> dict[str, np.ndarray] | None:
    """The plan kept last (`keep_plan`) as arrays, for a study's jobs in other processes (`add_kept_plan`)."""
    plans = problem.kept.get(PLANS_KEY)
    if not plans:
        return None
    levels, resources, values = plans[-1]
    return {"level_groups": np.array([str(g) for g in levels]), "levels": np.array(list(levels.values()), dtype=float),
            "resource_groups": np.array([str(g) for g in resources]),
            "resources": np.array(list(resources.values()), dtype=float), "values": values}


def add_kept_plan(problem: EquityProblem, arrays: dict[str, np.ndarray]) -> bool:
    """Keep a plan another process kept on the same problem as built (`last_kept_plan`), as a start for
    `kept_start`; False when it does not fit this build (another count of variables or other groups).
    The variables as built come in the same order from the same data, so its values line up."""
    variables = problem.kept.get(VARIABLES_KEY)
    groups = {str(g): g for g in problem.levels}
    names = [str(x) for x in arrays["level_groups"]]
    if variables is None or len(arrays["values"]) != len(variables) or set(names) != set(groups):
        return False
    levels = {groups[n]: float(x) for n, x in zip(names, arrays["levels"])}
    resources = {groups.get(str(n), n): float(x) for n, x in zip(arrays["resource_groups"], arrays["resources"])}
    plans = problem.kept.setdefault(PLANS_KEY, [])
    plans.append((levels, resources, np.asarray(arrays["values"], dtype=float)))
    del plans[:-KEPT_PLANS]
    return True


def _kept_better(problem: EquityProblem, measure: str, reference: EfficientReference) -> ComponentMap | None:
    """The kept plan best on `measure` (leximin: on its lowest level) when it beats the efficient plan on it: a
    plan of the problem as built, so a feasible start for the measure's sequence (a closer Dinkelbach λ_0)."""
    judged = "maxmin" if measure == "leximin" else measure
    best, chosen = _measure_of(problem, judged, reference.levels), None
    for levels, resources, values in problem.kept.get(PLANS_KEY, []):
        value = _measure_of(problem, judged, levels, resources)
        if _better(judged, value, best):
            best, chosen = value, values
    if chosen is None:
        return None
    return ComponentMap((v, float(x)) for v, x in zip(problem.kept[VARIABLES_KEY], chosen) if np.isfinite(x))


def kept_start(problem: EquityProblem, measure: str, bound: float) -> ComponentMap | None:
    """The most efficient kept plan whose `measure` keeps `bound` (≥ for maxmin, owa, alpha, ≤ for the
    inequality measures), as a start; None when none does. Every kept plan met the rows of the problem
    as built, so that plan is feasible for the ε-constraint point and the point is at least as efficient."""
    best, chosen = -np.inf, None
    for levels, resources, values in problem.kept.get(PLANS_KEY, []):
        value = _measure_of(problem, measure, levels, resources)
        keeps = value >= bound - 1e-12 if measure in MAXIMISED else value <= bound + 1e-12
        u = _efficiency_of(problem, levels)
        if keeps and u > best:
            best, chosen = u, values
    if chosen is None:
        return None
    return ComponentMap((v, float(x)) for v, x in zip(problem.kept[VARIABLES_KEY], chosen) if np.isfinite(x))


def _reference_key(options: SolveOptions) -> tuple:
    return (options.gap, options.seed)


def keep_reference(problem: EquityProblem, result: SolveResult, options: SolveOptions,
                   measure: str | None = None) -> EfficientReference:
    """The loaded plan of `solve_measure(problem, "utilitarian")` (with any tie-break: U is held within δ of
    its maximum; nothing else held) as the efficient reference, kept on the problem for later sequences
    (see `efficient_reference`)."""
    levels = {g: float(pyo.value(e)) for g, e in problem.levels.items()}
    values = ComponentMap((v, v.value) for v in problem.model.component_data_objects(pyo.Var) if v.value is not None)
    reference = EfficientReference(levels, _efficiency_of(problem, levels), result, values,
                                   {measure: _measure_of(problem, measure, levels)} if measure else {})
    problem.kept[REFERENCE_KEY] = (_reference_key(options), reference)
    return reference


def dominated_by(reference: dict, levels: dict, tolerance: float = LEVEL_TOLERANCE) -> list:
    """The groups the reference plan serves better, when it serves none worse; [] when it does not dominate."""
    if any(reference[g] < levels[g] - tolerance for g in reference):
        return []
    return [g for g in reference if reference[g] > levels[g] + tolerance]


def keep_undominated(problem: EquityProblem, measure: str, reference: EfficientReference | None, run_sequence,
                     before: set, bounded: bool = False) -> tuple[EquityOutcome | None, dict]:
    """After an equity sequence (its plan loaded): if the efficient plan dominates it, choose among the
    plans it does not dominate (`run_sequence()` reruns the sequence). `before` holds the ids of the
    model's components before the sequence; `bounded`: equity bounds are held. Returns the new outcome
    (None: keep the first) and the fairness record for plan.json and the summary."""
    if reference is None:
        return None, {"lines": ["note: the efficient plan was not found within the time limit, so this plan is not "
                                "compared with it (no price of fairness; levelling down not checked)"]}
    levels = _loaded_levels(problem)
    lowered = dominated_by(reference.levels, levels)
    if not lowered:
        return None, fairness_record(problem, measure, reference, levels)
    first = {"measure_value": _measure_of(problem, measure, levels), "groups_lowered": [str(g) for g in lowered],
             "efficiency": _efficiency_of(problem, levels)}
    _switch_off_since(problem, before)
    require_a_gain(problem, reference.levels, LEVEL_GAIN)
    outcome = run_sequence()
    if not outcome.has_solution or not _better(measure, _measure_of(problem, measure, _loaded_levels(problem)),
                                               reference.measures[measure]):
        outcome = _back_to_reference(problem, measure, reference, outcome, bounded)
    if not outcome.has_solution:
        return outcome, {"levelled_down_refused": first, "lines": [
            f"note: {measure} and the equity bounds can be met only by lowering {len(lowered)} {problem.group}(s) below "
            f"the efficient plan for nobody's gain ({', '.join(first['groups_lowered'][:5])}); no plan is given"]}
    record = fairness_record(problem, measure, reference, _loaded_levels(problem))
    record["levelled_down_refused"] = first
    record["lines"].append(
        f"note: {measure} could reach {first['measure_value']:.4g} only by lowering {len(lowered)} {problem.group}(s) "
        f"below the efficient plan for nobody's gain ({', '.join(first['groups_lowered'][:5])}); this plan lowers "
        f"no {problem.group} for nobody's gain and reaches {record['measure_value']:.4g}")
    return outcome, record


def _better(measure: str, value: float, than: float) -> bool:
    """Strictly better on the measure (beyond LEVEL_TOLERANCE)."""
    if measure in MAXIMISED:
        return value > than + LEVEL_TOLERANCE
    return value < than - LEVEL_TOLERANCE


def _back_to_reference(problem: EquityProblem, measure: str, reference: EfficientReference, outcome: EquityOutcome,
                       bounded: bool) -> EquityOutcome:
    """Load the efficient plan as the answer; under equity bounds only if it keeps them. The answer's
    seconds are those of `outcome`, the search that found nothing better (the reference's own are
    counted where it was solved)."""
    for v, value in reference.values.items():
        v.set_value(value, skip_validation=True)
    spent = {"handover_s": outcome.result.handover_s, "solve_s": outcome.result.solve_s} if outcome.result else {}
    if bounded and not _keeps_active_rows(problem, skip="not_dominated"):
        why = "the efficient plan misses the equity bounds and every plan keeping them is dominated by it"
        return EquityOutcome("infeasible", replace(SolveResult("infeasible", None, None, None, why), **spent), measure,
                             "objective", stages=outcome.stages, plan_is=measure, sense=outcome.sense)
    stages = outcome.stages + [{**stage_record("the efficient plan (no plan it does not dominate is better on the measure)",
                                               reference.result), "seconds": 0.0}]
    done = EquityOutcome(reference.result.status, replace(reference.result, bound=None, gap=None, **spent), measure,
                         "objective",
                         stages=stages, plan_is=measure, sense=outcome.sense,
                         status_text=f"the efficient plan is given: no plan it does not dominate is better on {measure}")
    done.modelled = reference.measures[measure]
    return done


def _keeps_active_rows(problem: EquityProblem, skip: str, tolerance: float = 1e-6) -> bool:
    """Every active row holds for the loaded values (rows of blocks named `skip*` aside)."""
    for c in problem.model.component_data_objects(pyo.Constraint, active=True):
        if c.parent_block().local_name.startswith(skip):
            continue
        body = pyo.value(c.body, exception=False)
        if body is None:
            continue
        lo, hi = pyo.value(c.lower) if c.has_lb() else None, pyo.value(c.upper) if c.has_ub() else None
        if (lo is not None and body < lo - tolerance * max(1.0, abs(lo))) or (hi is not None and body > hi + tolerance * max(1.0, abs(hi))):
            return False
    return True


def fairness_record(problem: EquityProblem, measure: str, reference: EfficientReference, levels: dict) -> dict:
    """The price of fairness (U* − U)/U* against the efficient plan, with the summary's line."""
    u = _efficiency_of(problem, levels)
    price = (reference.efficiency - u) / reference.efficiency if reference.efficiency else 0.0
    value = _measure_of(problem, measure, levels)
    return {"efficient_value": reference.efficiency, "efficiency": u, "price_of_fairness": price,
            "measure_value": value, "efficient_levels": {str(g): v for g, v in reference.levels.items()},
            "lines": [f"price of fairness: {100 * price:.2f} % of efficiency ({u:.4f} against {reference.efficiency:.4f} "
                      f"in the most efficient plan)"]}


def _switch_off_since(problem: EquityProblem, before: set) -> None:
    """Switch off every block, row and objective added to the model since `before` (ids of its components)."""
    for component in list(problem.model.component_objects(descend_into=False)):
        if id(component) not in before and isinstance(component, (pyo.Block, pyo.Constraint, pyo.Objective)):
            component.deactivate()


def _loaded_levels(problem: EquityProblem) -> dict:
    return {g: float(pyo.value(e)) for g, e in problem.levels.items()}


def _efficiency_of(problem: EquityProblem, levels: dict) -> float:
    return float(sum(float(problem.weights[g]) * levels[g] for g in levels))


def _measure_of(problem: EquityProblem, measure: str, levels: dict, resources: dict | None = None) -> float:
    """The measure of the loaded plan (leximin: its lowest level), as models.equity_problem.PlanLevels computes it;
    `resources`: Hoover's resources of another plan (default: the loaded plan's)."""
    groups = list(problem.levels)
    resources = resources or {g: max(0.0, float(pyo.value(problem.resources[g]))) for g in groups}
    plan = PlanLevels(pd.Series([levels[g] for g in groups], index=groups),
                      pd.Series([float(problem.weights[g]) for g in groups], index=groups),
                      pd.Series([float(problem.population[g]) for g in groups], index=groups),
                      pd.Series([resources[g] for g in groups], index=groups))
    if measure == "utilitarian":
        return plan.efficiency()
    if measure == "leximin":
        return float(plan.levels.min())
    return plan.measure(measure)


def solve_fair(problem: EquityProblem, measure: str, options: SolveOptions, tie_break: str | None = None,
               hold_bounds=None) -> tuple[EquityOutcome, dict]:
    """`solve_measure` held to the efficient plan: the reference first (REFERENCE_TIME_SHARE of any time limit), then
    `hold_bounds()` (the caller's equity bounds, if any; True when it held some), the sequence, its
    tie-break and `keep_undominated`. Returns the outcome and its fairness record (price of fairness,
    levelling down refused, summary lines)."""
    deadline = deadline_of(options)
    options = replace(options, deadline=deadline)        # one limit for the reference and the sequence
    first = options if deadline is None else replace(
        options, time_limit=max(1.0, REFERENCE_TIME_SHARE * (deadline - time.time())), stage="efficient plan (the reference)")
    kept = problem.kept.get(REFERENCE_KEY)
    reference = efficient_reference(problem, first, measure)
    solved_here = [reference.result] if reference is not None and (kept is None or kept[1] is not reference) else []
    bounded = bool(hold_bounds and hold_bounds())

    def left() -> SolveOptions:
        if deadline is None:
            return options
        return replace(options, time_limit=max(1.0, deadline - time.time()))

    before = {id(c) for c in problem.model.component_objects(descend_into=False)}
    start = reference.values if reference is not None and not bounded else None    # feasible unless bounds were added
    if start is not None:                               # a plan kept from an earlier job, better on the measure
        start = _kept_better(problem, measure, reference) or start
        for v, x in start.items():                      # loaded: the sequence starts from the efficient plan
            v.set_value(x, skip_validation=True)
    outcome = equity.solve_measure(problem, measure, left(), tie_break, start)
    if reference is not None:
        first_stage = stage_record("efficient plan (the reference)", reference.result)
        if not solved_here:        # kept from an earlier solve of this problem: no time spent on it here
            first_stage.update(seconds=0.0, kept_from_earlier_solve=True)
        outcome.stages.insert(0, first_stage)
    if not outcome.has_solution:
        return _timed_with(outcome, solved_here), {}
    again, record = keep_undominated(problem, measure, reference,
                                     lambda: equity.solve_measure(problem, measure, left(), tie_break),
                                     before, bounded)
    if again is None:
        return _timed_with(outcome, solved_here), record
    return _timed_with(again, solved_here + [outcome.result]), record


def _timed_with(outcome: EquityOutcome, others: list[SolveResult | None]) -> EquityOutcome:
    """The outcome, its hand-over and HiGHS seconds counting also those of `others` (the solves made on its
    way: the efficient reference, a sequence it replaced), so the run's timings add up."""
    others = [r for r in others if r is not None]
    if outcome.result is None or not others:
        return outcome
    outcome.result = replace(outcome.result, handover_s=outcome.result.handover_s + sum(r.handover_s for r in others),
                             solve_s=outcome.result.solve_s + sum(r.solve_s for r in others))
    return outcome
