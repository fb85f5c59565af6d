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

import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from allocator.models import equity as eq
from allocator.models.equity_problem import (HOLD_TOLERANCE, RATIO_MEASURES, EquityProblem, attach_measure, check_measure,
                                             hold_value, maximise_efficiency, ratio_objective)
from allocator.solving.leximin import solve_leximin
from allocator.solving.solve import SolveOptions, SolveResult, deadline_of, solve

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
        self.deadline = deadline_of(options)

    def run(self, purpose: str, share: float = 1.0) -> SolveResult:
        """Solve from the loaded plan; with a time limit, within `share` of the time left."""
        start = self._incumbent()
        options = replace(self.options, deadline=self.deadline, stage=purpose)
        if self.deadline is not None:
            options = replace(options, time_limit=max(1.0, share * (self.deadline - time.time())))
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
    options = replace(seq.options, deadline=seq.deadline)
    if seq.deadline is not None:                  # leave the tie-break its share of the time
        options = replace(options, time_limit=max(1.0, PRIMARY_TIME_SHARE * (seq.deadline - time.time())))
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
