"""Equity objectives and ε-constraints over a model's group levels: the solve sequences behind
`allocator solve --model city`, `allocator frontier` and `allocator equity-bench`.

They work on an `EquityProblem` (models.equity_problem: group levels L_g, weights w_g,
populations p_g, resources r_g; efficiency U = Σ_g w_g L_g) with the measures of
`models.equity`; every solve goes through `allocator.solving.solve.solve`.

Objective `m` (`solve_measure`), then a tie-break among the plans optimal for it:

    utilitarian   max U;                           then hold U ≥ U* − δ and optimise the tie measure
                                                   (default maxmin: the fairest efficient plan)
    maxmin, range, mad, owa, alpha
                  optimise m (models.equity.attach); then hold m at m* (± δ) and max U
    leximin       allocator.solving.leximin.solve_leximin; its floors stay, then max U
    gini, hoover  the ratios N/D (models.equity_problem.ratio_objective) are minimised exactly
                  by Dinkelbach's method: with λ_0 the ratio of a first feasible plan (the
                  utilitarian one),
                      x_k = argmin N(x) − λ_k D(x),   λ_{k+1} = N(x_k)/D(x_k)
                  until N(x_k) − λ_k D(x_k) ≥ −δ·D(x_k); λ falls monotonically to the least
                  ratio. Then hold the ratio ≤ λ* (1 + δ) and max U.

ε-constraint point (`solve_bounded`): the measure as a constraint with bound β
(models.equity's bound forms) and max U. Tightening β shrinks the feasible set, so U* never
rises.

δ = HOLD_TOLERANCE·max(1, |m*|) (models.equity_problem). Every solve starts from the plan
before it. Under a time limit (for the whole sequence) the objective's solve gets
PRIMARY_TIME_SHARE of it, leaving the rest for the tie-break, and a Dinkelbach step gets half
the time left; a solve that ends without proof still gives a plan (each Dinkelbach step's
plan lowers λ), the sequence goes on from it and the outcome's status says `time_limit`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import pandas as pd
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from allocator.models import equity as eq
from allocator.models.equity_problem import (HOLD_TOLERANCE, RATIO_MEASURES, EquityProblem, PlanLevels, attach_measure,
                                             check_measure, hold_value, maximise_efficiency, ratio_objective,
                                             require_a_gain)
from allocator.solving.leximin import solve_leximin
from allocator.solving.solve import SolveOptions, SolveResult, solve

DINKELBACH_TOLERANCE = 1e-6
DINKELBACH_MAX_STEPS = 25
PRIMARY_TIME_SHARE = 0.75       # under a time limit the objective's solve leaves a quarter for the tie-break
DINKELBACH_TIME_SHARE = 0.5      # under a time limit a step gets half the time left: later steps and the tie-break need some
STATUS_RANK = {"optimal": 0, "time_limit": 1}


@dataclass
class EquityOutcome:
    """The end of a solve sequence: the loaded plan and how it was reached."""

    status: str
    result: SolveResult | None
    measure: str
    role: str                                      # "objective" | "constraint"
    bound: float | None = None
    modelled: float | None = None                  # the measure as the model computes it
    steps: list[dict] = field(default_factory=list)

    @property
    def has_solution(self) -> bool:
        return self.result is not None and self.result.has_solution

    def as_meta(self) -> dict:
        return {"measure": self.measure, "role": self.role, "bound": self.bound, "modelled_value": self.modelled,
                "status": self.status, "steps": self.steps}


# --- the solve sequences ---------------------------------------------------------------------

class _Sequence:
    """Solves of one sequence: combined timings, a start from the previous plan, the worst status."""

    def __init__(self, problem: EquityProblem, options: SolveOptions):
        self.problem, self.options = problem, options
        self.steps: list[dict] = []
        self.results: list[SolveResult] = []
        self.deadline = None if options.time_limit is None else time.monotonic() + options.time_limit

    def run(self, purpose: str, share: float = 1.0) -> SolveResult:
        """Solve from the loaded plan; with a time limit, within `share` of the time left."""
        start = self._incumbent()
        options = self.options
        if self.deadline is not None:
            options = replace(options, time_limit=max(1.0, share * (self.deadline - time.monotonic())))
        r = solve(self.problem.model, options, start=start)
        self.results.append(r)
        self.steps.append({"purpose": purpose, "status": r.status, "objective": r.objective, "gap": r.gap,
                           "solve_s": r.solve_s})
        return r

    def _incumbent(self) -> ComponentMap | None:
        """The plan loaded last (a failed solve loads nothing, so the variables still hold it)."""
        if not any(r.has_solution for r in self.results):
            return None
        return ComponentMap((v, v.value) for v in self.problem.model.component_data_objects(pyo.Var, active=True)
                            if v.value is not None)

    def combined(self) -> SolveResult | None:
        """The last solve that loaded a plan (the plan the model holds), with the sequence's timings and
        its worst status: `optimal` only when every solve was; a later solve that failed to improve it
        (out of time) makes it `time_limit`."""
        loaded = [r for r in self.results if r.has_solution]
        if not loaded:
            return self.results[-1] if self.results else None
        worst = max((r.status for r in self.results), key=lambda s: STATUS_RANK.get(s, 9))
        status = worst if worst in STATUS_RANK else "time_limit"
        return replace(loaded[-1], status=status, handover_s=sum(r.handover_s for r in self.results),
                       solve_s=sum(r.solve_s for r in self.results))


def solve_measure(problem: EquityProblem, measure: str, options: SolveOptions, tie_break: str | None = None) -> EquityOutcome:
    """Optimise `measure`, then break ties (see the module docstring); the plan is left loaded."""
    check_measure(measure, "objective", len(problem.levels))
    seq = _Sequence(problem, options)
    if measure == "utilitarian":
        return _utilitarian(problem, seq, tie_break or "maxmin")
    if measure == "leximin":
        return _leximin(problem, seq)
    if measure in RATIO_MEASURES:
        if not _utilitarian_start(problem, seq).has_solution:
            return _outcome(seq, measure, "objective")
        term, ratio = _minimise_ratio(problem, measure, seq)
        return _then_efficiency(problem, seq, term, ratio)
    term = attach_measure(problem, measure, "objective")
    if not seq.run(f"optimise {measure}", share=PRIMARY_TIME_SHARE).has_solution:
        return _outcome(seq, measure, "objective")
    hold_value(term, term.modelled())
    return _then_efficiency(problem, seq, term, term.modelled())


def solve_bounded(problem: EquityProblem, measure: str, bound: float, options: SolveOptions) -> EquityOutcome:
    """Max U with `measure` bounded by `bound` (an ε-constraint point of the frontier)."""
    check_measure(measure, "constraint", len(problem.levels))
    seq = _Sequence(problem, options)
    term = attach_measure(problem, measure, "constraint", bound)
    maximise_efficiency(problem)
    r = seq.run(f"max efficiency, {measure} bounded by {bound:.6g}")
    out = _outcome(seq, measure, "constraint", bound)
    out.modelled = term.modelled() if r.has_solution else None
    return out


def _utilitarian(problem: EquityProblem, seq: _Sequence, tie_break: str) -> EquityOutcome:
    term = maximise_efficiency(problem)
    if not seq.run("max efficiency", share=PRIMARY_TIME_SHARE).has_solution:
        return _outcome(seq, "utilitarian", "objective")
    value = term.modelled()
    hold_value(term, value)
    if tie_break in RATIO_MEASURES:
        _minimise_ratio(problem, tie_break, seq)
    else:                                   # leximin's first round is max-min: ties go to maxmin
        attach_measure(problem, "maxmin" if tie_break == "leximin" else tie_break, "objective")
        seq.run(f"tie-break: {tie_break}")
    out = _outcome(seq, "utilitarian", "objective")
    out.modelled = value
    return out


def _utilitarian_start(problem: EquityProblem, seq: _Sequence) -> SolveResult:
    """A first feasible plan for Dinkelbach's λ_0: max U (its objective is then switched off)."""
    term = maximise_efficiency(problem)
    r = seq.run("first plan (max efficiency)", share=1 - PRIMARY_TIME_SHARE)
    term.block.objective.deactivate()
    return r


def _leximin(problem: EquityProblem, seq: _Sequence) -> EquityOutcome:
    options = seq.options
    if seq.deadline is not None:                  # leave the tie-break its share of the time
        options = replace(options, time_limit=max(1.0, PRIMARY_TIME_SHARE * (seq.deadline - time.monotonic())))
    result = solve_leximin(problem.model, problem.levels, options, tolerance=HOLD_TOLERANCE)
    if result.result is not None:
        seq.results.append(replace(result.result, handover_s=result.handover_s, solve_s=result.solve_s))
    seq.steps.append({"purpose": "leximin", "status": result.status, "solves": result.solves, "rounds": len(result.rounds)})
    if result.result is None or not result.result.has_solution:
        return _outcome(seq, "leximin", "objective")
    maximise_efficiency(problem)
    seq.run("tie-break: max efficiency")
    out = _outcome(seq, "leximin", "objective")
    out.modelled = min(result.levels.values())
    if result.status != "optimal" and out.status == "optimal":
        out.status = result.status
    return out


def _then_efficiency(problem: EquityProblem, seq: _Sequence, term: eq.EquityTerm, value: float) -> EquityOutcome:
    """The measure is held (a bound); the most efficient of its optimal plans."""
    maximise_efficiency(problem)
    seq.run("tie-break: max efficiency")
    out = _outcome(seq, term.measure, "objective")
    out.modelled = value
    return out


def _minimise_ratio(problem: EquityProblem, measure: str, seq: _Sequence) -> tuple[eq.EquityTerm, float]:
    """Dinkelbach's method on the loaded plan; leaves the ratio bounded by its least value."""
    term, numerator, denominator = ratio_objective(problem, measure)
    b = term.block
    best = float(pyo.value(b.ratio_weight))
    for step in range(DINKELBACH_MAX_STEPS):
        r = seq.run(f"min {measure}: Dinkelbach step {step + 1}, λ = {best:.6g}", share=DINKELBACH_TIME_SHARE)
        if not r.has_solution:
            break
        n, d = float(pyo.value(numerator)), float(pyo.value(denominator))
        if n - best * d >= -DINKELBACH_TOLERANCE * max(d, 1e-12):
            break
        best = n / d
        b.ratio_weight.set_value(best)
    b.ratio_gap.deactivate()
    term.set_bound(best * (1 + HOLD_TOLERANCE) + 1e-12)
    return term, best


def _outcome(seq: _Sequence, measure: str, role: str, bound: float | None = None) -> EquityOutcome:
    result = seq.combined()
    if result is None:
        return EquityOutcome("error", None, measure, role, bound, steps=seq.steps)
    return EquityOutcome(result.status, result, measure, role, bound, steps=seq.steps)


# --- no levelling down: the efficient plan as the reference of every equity plan ---------------
#
# Equality bought by lowering groups for nobody's gain is refused. The efficient plan E (the plan
# of objective `utilitarian`: max U, then the fairest of the most efficient plans, on the problem
# as built, before any equity bound; levels L^E, efficiency U*) is solved first
# (`efficient_reference`). After the equity sequence and an exact tie-break (`exact_efficiency`:
# the measure held, max U again with gap 0), `keep_undominated` compares the plan's levels with
# L^E: when E is at least as good for every group and better for one (within LEVEL_TOLERANCE),
# the measure could only reach its value by lowering someone. Then every row and objective the
# sequence added is switched off and the plans E does not dominate are searched: E itself, and
# the plans that leave some group better off than in E,
#
#     L_g ≥ (L^E_g + LEVEL_GAIN)·y_g,  Σ_g y_g ≥ 1,  y_g ∈ {0, 1}       (block `not_dominated`)
#
# by the same sequence (its objective, then the most efficient of its optimal plans); the better
# of that plan and E on the measure is kept (E on a tie). The outcome records the price of
# fairness (U* − U)/U* and, in the planner's words, what happened.

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
    """The plan of objective `utilitarian` on the problem as built (call it before any equity bound is
    held); the rows and objectives it added are then switched off. None when no plan was found."""
    before = {id(c) for c in problem.model.component_objects(descend_into=False)}
    r = solve_measure(problem, "utilitarian", options).result
    _switch_off_since(problem, before)
    if r is None or not r.has_solution:
        return None
    levels = {g: float(pyo.value(e)) for g, e in problem.levels.items()}
    values = ComponentMap((v, v.value) for v in problem.model.component_data_objects(pyo.Var) if v.value is not None)
    return EfficientReference(levels, _efficiency_of(problem, levels), r, values,
                              {measure: _measure_of(problem, measure, levels)})


def exact_efficiency(problem: EquityProblem, outcome: EquityOutcome, options: SolveOptions) -> EquityOutcome:
    """The tie-break made exact: with the measure held as the sequence left it and max U the active
    objective, solve again from the loaded plan with gap 0 (a plan no better is kept)."""
    if outcome.measure == "utilitarian" or not outcome.has_solution:
        return outcome
    start = ComponentMap((v, v.value) for v in problem.model.component_data_objects(pyo.Var, active=True) if v.value is not None)
    r = solve(problem.model, replace(options, gap=0.0), start=start)
    outcome.steps.append({"purpose": "tie-break: max efficiency, exact (gap 0)", "status": r.status,
                          "objective": r.objective, "gap": r.gap, "solve_s": r.solve_s})
    if r.has_solution:
        status = outcome.status if r.status == "optimal" else "time_limit"
        outcome.result = replace(r, status=status, handover_s=outcome.result.handover_s + r.handover_s,
                                 solve_s=outcome.result.solve_s + r.solve_s)
        outcome.status = status
    return outcome


def dominated_by(reference: dict, levels: dict, tolerance: float = LEVEL_TOLERANCE) -> list:
    """The groups the reference plan serves better, when it serves none worse; [] when it does not dominate."""
    if any(reference[g] < levels[g] - tolerance for g in reference):
        return []
    return [g for g in reference if reference[g] > levels[g] + tolerance]


def keep_undominated(problem: EquityProblem, measure: str, reference: EfficientReference | None, options: SolveOptions,
                     run_sequence, before: set, bounded: bool = False) -> tuple[EquityOutcome | None, dict]:
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
    outcome = exact_efficiency(problem, run_sequence(), options)
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
    """Load the efficient plan as the answer; under equity bounds only if it keeps them."""
    for v, value in reference.values.items():
        v.set_value(value, skip_validation=True)
    if bounded and not _keeps_active_rows(problem, skip="not_dominated"):
        why = "the efficient plan misses the equity bounds and every plan keeping them is dominated by it"
        return EquityOutcome("infeasible", SolveResult("infeasible", None, None, None, why), measure, "objective",
                             steps=outcome.steps)
    steps = outcome.steps + [{"purpose": "the efficient plan (no plan it does not dominate is better on the measure)",
                              "status": reference.result.status, "objective": reference.result.objective}]
    done = EquityOutcome(reference.result.status, reference.result, measure, "objective", steps=steps)
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


def _measure_of(problem: EquityProblem, measure: str, levels: dict) -> float:
    """The measure of the loaded plan (leximin: its lowest level), as models.equity_problem.PlanLevels computes it."""
    groups = list(problem.levels)
    plan = PlanLevels(pd.Series([levels[g] for g in groups], index=groups),
                      pd.Series([float(problem.weights[g]) for g in groups], index=groups),
                      pd.Series([float(problem.population[g]) for g in groups], index=groups),
                      pd.Series([max(0.0, float(pyo.value(problem.resources[g]))) for g in groups], index=groups))
    if measure == "utilitarian":
        return plan.efficiency()
    if measure == "leximin":
        return float(plan.levels.min())
    return plan.measure(measure)


def solve_fair(problem: EquityProblem, measure: str, options: SolveOptions, tie_break: str | None = None,
               hold_bounds=None) -> tuple[EquityOutcome, dict]:
    """`solve_measure` held to the efficient plan: the reference first (REFERENCE_TIME_SHARE of any time limit), then
    `hold_bounds()` (the caller's equity bounds, if any; True when it held some), the sequence, its exact
    tie-break and `keep_undominated`. Returns the outcome and its fairness record (price of fairness,
    levelling down refused, summary lines)."""
    start = time.monotonic()
    first = options if options.time_limit is None else replace(options, time_limit=max(1.0, REFERENCE_TIME_SHARE * options.time_limit))
    reference = efficient_reference(problem, first, measure)
    bounded = bool(hold_bounds and hold_bounds())

    def left() -> SolveOptions:
        if options.time_limit is None:
            return options
        return replace(options, time_limit=max(1.0, options.time_limit - (time.monotonic() - start)))

    before = {id(c) for c in problem.model.component_objects(descend_into=False)}
    outcome = solve_measure(problem, measure, left(), tie_break)
    if not outcome.has_solution:
        return outcome, {}
    outcome = exact_efficiency(problem, outcome, left())
    again, record = keep_undominated(problem, measure, reference, left(),
                                     lambda: solve_measure(problem, measure, left(), tie_break), before, bounded)
    return again or outcome, record
