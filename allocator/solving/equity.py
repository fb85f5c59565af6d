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
                  until N(x_k) − λ_k D(x_k) ≥ −δ·D(x_k), or λ_k ≤ RATIO_ABS_TOLERANCE (the
                  ratio is ≥ 0, so it is then within HiGHS's absolute gap of its least; a step
                  at such a λ would only hand HiGHS costs a million times apart); λ falls
                  monotonically to the least ratio. The hold below is at least
                  RATIO_HOLD_FLOOR (a Gini or Hoover of 1e-3 is equality to any reader; a
                  tighter hold of N ≤ λ D puts its coefficients a million times apart). Then hold the ratio ≤ λ* (1 + δ) and max U.

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

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from allocator.models import equity as eq
from allocator.models.equity_problem import (HOLD_TOLERANCE, RATIO_MEASURES, EquityProblem, PlanLevels, attach_measure,
                                             check_measure, hold_value, maximise_efficiency, ratio_objective,
                                             require_a_gain)
from allocator.solving.leximin import solve_leximin
from allocator.solving.run import missed_gap_note, stage_record
from allocator.solving.solve import SolveOptions, SolveResult, deadline_of, primary_gap, solve
from allocator.solving.split import bounded_by, solve_split

DINKELBACH_TOLERANCE = 1e-6
RATIO_ABS_TOLERANCE = 1e-6    # a ratio (Gini, Hoover ≥ 0) this close to 0 is at its least (HiGHS's mip_abs_gap)
RATIO_HOLD_FLOOR = 1e-3       # a ratio is held at no less: N ≤ λ D with λ far below this puts coefficients 1e6 apart
DINKELBACH_MAX_STEPS = 25
PRIMARY_TIME_SHARE = 0.75       # under a time limit the objective's solve leaves a quarter for the tie-break
DINKELBACH_TIME_SHARE = 0.5      # under a time limit a step gets half the time left: later steps and the tie-break need some
STATUS_RANK = {"optimal": 0, "time_limit": 1}
NO_TIE_BREAK = "none"             # utilitarian without its tie-break: any most efficient plan (the efficient reference)


@dataclass
class EquityOutcome:
    """The end of a solve sequence: the loaded plan and how it was reached.

    `result` is the headline: the primary objective's value on the loaded plan, the bound proven on
    it and their gap, with the sequence's worst status and its summed timings; `stages` lists each
    solve's own figures; `status_text` says how a sequence cut short ended; `plan_is` names the
    objective the plan answers (the measure, except a leximin stopped before its first round)."""

    status: str
    result: SolveResult | None
    measure: str
    role: str                                      # "objective" | "constraint"
    bound: float | None = None                     # the ε-constraint's bound (role "constraint")
    modelled: float | None = None                  # the measure as the model computes it
    stages: list[dict] = field(default_factory=list)
    status_text: str | None = None
    plan_is: str | None = None
    sense: str = "maximize"                        # of the primary objective
    held_within: float | None = None               # a ratio held at RATIO_HOLD_FLOOR: the absolute distance a reader ignores

    @property
    def has_solution(self) -> bool:
        return self.result is not None and self.result.has_solution

    def as_meta(self) -> dict:
        return {"measure": self.measure, "role": self.role, "bound": self.bound, "modelled_value": self.modelled,
                "status": self.status}

    def headline(self, value: float | None, asked_gap: float | None = None) -> SolveResult | None:
        """The headline with the primary's value recomputed from the plan's tables, and its gap. An
        optimum proven on the model whose recomputed gap exceeds the gap asked (`asked_gap`, else
        HiGHS's 1e-4) says so in `status_text` (alpha's logarithm is drawn with tangent lines)."""
        if self.result is None or value is None:
            return self.result
        gap = primary_gap(value, self.result.bound, self.sense == "maximize")
        if self._within_hold(value):
            said = (f"this plan's {self.measure}, {value:.2g}, lies within {self.held_within:g} of that least: "
                    f"both are equality, and a relative gap ({100 * gap:.3g} %) between numbers this near 0 says no more")
        else:
            said = missed_gap_note(self.measure, self.status, gap, asked_gap)
        if said and said not in (self.status_text or ""):
            self.status_text = f"{self.status_text}; {said}" if self.status_text else said
        return replace(self.result, objective=value, gap=gap)

    def _within_hold(self, value: float) -> bool:
        """A ratio held at the floor, whose plan lies within the floor of its least (the bound)."""
        bound = self.result.bound if self.result is not None else None
        return self.held_within is not None and bound is not None and value - bound <= self.held_within + 1e-12


# --- the solve sequences ---------------------------------------------------------------------

class _Sequence:
    """Solves of one sequence: combined timings, a start from the previous plan, the worst status, and
    the record of each stage."""

    def __init__(self, problem: EquityProblem, options: SolveOptions, start: ComponentMap | None = None):
        self.problem, self.options = problem, options
        self.start = start                          # a feasible plan to start from before any solve of its own
        self.stages: list[dict] = []
        self.results: list[SolveResult] = []        # the solves that change the plan
        self.aside: list[SolveResult] = []          # solves that only prove a bound (LP relaxations)
        self.deadline = deadline_of(options)

    def tie_break(self) -> SolveResult:
        """max U with the measure held, at the sequence's gap (HiGHS's 1e-4 unless --gap says otherwise): the
        most efficient of the measure's optimal plans, proven as every other stage is."""
        return self.run(TIE_BREAK, split=True)

    def run(self, purpose: str, share: float = 1.0, split: bool = False) -> SolveResult:
        """Solve from the loaded plan; with a time limit, within `share` of the time left. `split` (a max U
        stage of a problem with a `Split`): first the quick proof of allocator.solving.split; when it does not
        prove the stage, its plan (if better than none) starts HiGHS on the whole model."""
        start = self._incumbent()
        found, bound, parts = None, None, []
        if split and self.problem.split is not None:
            proven, plan, parts = solve_split(self.problem.model, self.problem.split, self._options(share, purpose),
                                              True, purpose, start)
            if proven is not None:
                self.results.append(proven)
                self.stages.append(stage_record(purpose, proven, split=_split_record(parts)))
                return proven
            self.aside.extend(r for _, r in parts)
            bound = parts[0][1].bound if parts else None    # the relaxation's: it bounds the whole model too
            if plan is not None:
                start, found = plan, parts[-1][1]
        r = solve(self.problem.model, self._options(share, purpose), start=start)
        if not r.has_solution and found is not None:      # HiGHS found nothing in time: the split's plan stands
            for v, x in start.items():
                v.set_value(x, skip_validation=True)
            r = replace(found, status="time_limit" if r.status == "optimal" else r.status, bound=r.bound,
                        handover_s=r.handover_s, solve_s=r.solve_s)
        r = bounded_by(r, bound, True, self.options.gap)
        self.results.append(r)
        self.stages.append(stage_record(purpose, r, **({"split": _split_record(parts)} if parts else {})))
        return r

    def relaxation(self, purpose: str) -> SolveResult:
        """Solve the LP relaxation of the active objective; the loaded plan is put back afterwards."""
        kept = [(v, v.value) for v in self.problem.model.component_data_objects(pyo.Var, active=True)]
        r = solve(self.problem.model, self._options(1.0, purpose), relax=True)
        for v, x in kept:
            v.set_value(x, skip_validation=True)
        self.aside.append(r)
        self.stages.append(stage_record(purpose, r))
        return r

    def _options(self, share: float, purpose: str) -> SolveOptions:
        options = replace(self.options, deadline=self.deadline, stage=purpose)
        if self.deadline is None:
            return options
        return replace(options, time_limit=max(1.0, share * (self.deadline - time.time())))

    def _incumbent(self) -> ComponentMap | None:
        """The plan loaded last (a failed solve loads nothing, so the variables still hold it)."""
        if not any(r.has_solution for r in self.results):
            return self.start
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
        every = self.results + self.aside
        return replace(loaded[-1], status=status, handover_s=sum(r.handover_s for r in every),
                       solve_s=sum(r.solve_s for r in every))


def _split_record(parts: list) -> list[dict]:
    """The parts of a split stage (allocator.solving.split), for plan.json: its bound, its plan."""
    return [stage_record(name, r) for name, r in parts]


def solve_measure(problem: EquityProblem, measure: str, options: SolveOptions, tie_break: str | None = None,
                  start: ComponentMap | None = None) -> EquityOutcome:
    """Optimise `measure`, then break ties (see the module docstring); the plan is left loaded. `start`:
    a feasible max-efficiency plan, loaded (the efficient reference): the first solve starts from it,
    and a ratio's Dinkelbach λ_0 is its ratio (no first-plan solve of its own)."""
    check_measure(measure, "objective", len(problem.levels))
    seq = _Sequence(problem, options, start)
    if measure == "utilitarian":
        return _utilitarian(problem, seq, tie_break or "maxmin")
    if measure == "leximin":
        return _leximin(problem, seq)
    if measure in RATIO_MEASURES:
        if start is None and not _utilitarian_start(problem, seq).has_solution:
            return _outcome(seq, measure, "objective", sense="minimize",
                            text=f"{measure} {_ended(seq.results[-1].status)} before a first plan was found")
        term, ratio, proof = _minimise_ratio(problem, measure, seq, prove=True)
        out = _then_efficiency(problem, seq, term, ratio, proof)
        if ratio < RATIO_HOLD_FLOOR and out.has_solution:        # the stated restriction, said with the plan
            said = (f"{measure} is held at {RATIO_HOLD_FLOOR:g}, not at its least ({ratio:.2g}): below {RATIO_HOLD_FLOOR:g} "
                    f"{measure} is equality to any reader, and a tighter hold would hand HiGHS numbers a million times "
                    f"apart; the gap is measured from that least")
            out.status_text = f"{out.status_text}; {said}" if out.status_text else said
            out.held_within = RATIO_HOLD_FLOOR
        return out
    term = attach_measure(problem, measure, "objective")
    first = seq.run(f"optimise {measure}", share=PRIMARY_TIME_SHARE)
    if not first.has_solution:
        return _outcome(seq, measure, "objective", sense=term.sense, text=f"{measure} {_ended(first.status)} with no plan")
    hold_value(term, term.modelled())
    return _then_efficiency(problem, seq, term, term.modelled(), _Proof(first.bound, first.status == "optimal", measure))


def solve_bounded(problem: EquityProblem, measure: str, bound: float, options: SolveOptions,
                  start: ComponentMap | None = None) -> EquityOutcome:
    """Max U with `measure` bounded by `bound` (an ε-constraint point of the frontier); U is the primary.
    `start`: a plan of the problem that keeps the bound (e.g. a point with a tighter bound), loaded and
    given to HiGHS as its first incumbent, so the point is at least as efficient as that plan."""
    check_measure(measure, "constraint", len(problem.levels))
    if start is not None:
        for v, x in start.items():
            v.set_value(x, skip_validation=True)
    term = attach_measure(problem, measure, "constraint", bound)      # its variables start from the loaded plan
    efficiency = maximise_efficiency(problem)
    seq = _Sequence(problem, options, None if start is None else loaded_plan(problem))
    r = seq.run(f"max efficiency, {measure} bounded by {bound:.6g}", split=True)
    text = None if r.status == "optimal" else f"max efficiency {_ended(r.status)}" + ("" if r.has_solution else " with no plan")
    out = _outcome(seq, measure, "constraint", bound, primary=efficiency, primary_bound=r.bound, text=text)
    out.modelled = term.modelled() if r.has_solution else None
    return out


@dataclass
class _Proof:
    """What the solves of a primary objective proved: a bound on it, whether they finished, and words."""

    bound: float | None
    finished: bool
    what: str


def _utilitarian(problem: EquityProblem, seq: _Sequence, tie_break: str) -> EquityOutcome:
    term = maximise_efficiency(problem)
    first = seq.run("max efficiency", share=1.0 if tie_break == NO_TIE_BREAK else PRIMARY_TIME_SHARE, split=True)
    if not first.has_solution:
        return _outcome(seq, "utilitarian", "objective", text=f"max efficiency {_ended(first.status)} with no plan")
    value = term.modelled()
    if tie_break == NO_TIE_BREAK:
        out = _outcome(seq, "utilitarian", "objective", primary=term, primary_bound=first.bound,
                       text=None if first.status == "optimal" else "max efficiency was not proven optimal")
        out.modelled = value
        return out
    hold_value(term, value)
    tied = len(seq.results)
    if tie_break in RATIO_MEASURES:
        _minimise_ratio(problem, tie_break, seq)
    else:                                   # leximin's first round is max-min: ties go to maxmin
        attach_measure(problem, "maxmin" if tie_break == "leximin" else tie_break, "objective")
        seq.run(f"tie-break: {tie_break}")
    text = _tie_text(_Proof(first.bound, first.status == "optimal", "max efficiency"), seq.results[tied:],
                     f"the fairest by {tie_break}", f"fairer by {tie_break}")
    out = _outcome(seq, "utilitarian", "objective", primary=term, primary_bound=first.bound, text=text)
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
    result = solve_leximin(problem.model, problem.levels, options, tolerance=HOLD_TOLERANCE, start=seq.start)
    if result.result is not None:
        seq.results.append(replace(result.result, handover_s=result.handover_s, solve_s=result.solve_s))
    seq.stages.extend(result.stages)
    rounds, group = len(result.rounds), problem.group
    stopped = f"leximin stopped after round {rounds} {_at(result.status)}"
    lowest = _Lowest(problem)
    if result.result is None or not result.result.has_solution:
        return _outcome(seq, "leximin", "objective", primary=lowest, primary_bound=result.first_bound,
                        text=f"{stopped} with no plan")
    maximise_efficiency(problem)
    seq.tie_break()
    plan_is, text = "leximin", None
    if result.status != "optimal" and rounds == 0:
        plan_is = "maxmin"
        lowest_is = ("its lowest level proven the highest, the levels above it not leximin" if result.first_proven else
                     "its lowest level not proven the highest")
        text = (f"{stopped}: no round finished, so this is not a leximin plan but the max-min plan found so far "
                f"({lowest_is}), made as efficient as that lowest level allows")
    elif result.status != "optimal":
        fixed = sum(len(r["fixed"]) for r in result.rounds)
        text = (f"{stopped}: {fixed} of {len(problem.levels)} {group}s are at their leximin levels, the others "
                f"are held at or above the last level reached")
    elif seq.results[-1].status != "optimal":
        text = (f"leximin is complete; the tie-break for max efficiency {_ended(seq.results[-1].status)}: another "
                f"leximin plan may be more efficient")
    out = _outcome(seq, "leximin", "objective", primary=lowest, primary_bound=result.first_bound, text=text, plan_is=plan_is)
    out.modelled = min(result.levels.values())
    if result.status != "optimal" and out.status == "optimal":
        out.status = result.status
        out.result = replace(out.result, status=result.status)
    return out


@dataclass
class _Lowest:
    """The primary of leximin (its first criterion): the lowest level of the loaded plan."""

    problem: EquityProblem
    sense: str = "maximize"

    def measured(self) -> float:
        return min(float(pyo.value(e)) for e in self.problem.levels.values())


def _then_efficiency(problem: EquityProblem, seq: _Sequence, term: eq.EquityTerm, value: float, proof: _Proof) -> EquityOutcome:
    """The measure is held (a bound); the most efficient of its optimal plans."""
    maximise_efficiency(problem)
    tied = len(seq.results)
    seq.tie_break()
    text = _tie_text(proof, seq.results[tied:], "the most efficient", "more efficient")
    out = _outcome(seq, term.measure, "objective", primary=term, primary_bound=proof.bound, text=text)
    if not proof.finished and out.status == "optimal":     # Dinkelbach's steps ran out before λ converged
        out.status = "time_limit"
        out.result = replace(out.result, status="time_limit")
    out.modelled = value
    return out


def _minimise_ratio(problem: EquityProblem, measure: str, seq: _Sequence, prove: bool = False) -> tuple[eq.EquityTerm, float, _Proof]:
    """Dinkelbach's method on the loaded plan; leaves the ratio bounded by its least value.

    With `prove`, the least denominator D_min over the LP relaxation is found first, and every step k
    gives a lower bound on the least ratio: N(x) − λ_k D(x) ≥ F_k (HiGHS's bound of the step) for every
    plan x, so N/D ≥ λ_k + min(0, F_k)/D_min; the ratio itself is ≥ 0."""
    term, numerator, denominator = ratio_objective(problem, measure)
    b = term.block
    best = float(pyo.value(b.ratio_weight))
    lowest = _least_denominator(term, seq) if prove else None
    bound, converged, steps = 0.0, False, 0
    for step in range(DINKELBACH_MAX_STEPS):
        if best <= RATIO_ABS_TOLERANCE:     # within HiGHS's own absolute gap of the floor 0: no step can prove more
            bound, converged = 0.0, True
            break
        r = seq.run(f"min {measure}: Dinkelbach step {step + 1}, λ = {best:.6g}", share=DINKELBACH_TIME_SHARE)
        steps += 1
        if r.bound is not None:
            if r.bound >= 0:
                bound = max(bound, best)
            elif lowest is not None and lowest > 0:
                bound = max(bound, best + r.bound / lowest)
        if not r.has_solution:
            break
        n, d = float(pyo.value(numerator)), float(pyo.value(denominator))
        if n - best * d >= -DINKELBACH_TOLERANCE * max(d, 1e-12):
            converged = r.status == "optimal"
            break
        best = n / d
        b.ratio_weight.set_value(best)
    b.ratio_gap.deactivate()
    term.set_bound(max(best * (1 + HOLD_TOLERANCE), RATIO_HOLD_FLOOR))
    what = f"min {measure}" if converged else f"min {measure} (Dinkelbach stopped after {steps} steps, not converged)"
    return term, best, _Proof(bound, converged, what)


def _least_denominator(term: eq.EquityTerm, seq: _Sequence) -> float | None:
    """min D over the LP relaxation: no plan has a smaller denominator (None when not proven)."""
    b = term.block
    b.ratio_gap.deactivate()
    b.least_denominator.activate()
    r = seq.relaxation(f"least {term.measure} denominator (LP relaxation, for the bound)")
    b.least_denominator.deactivate()
    b.ratio_gap.activate()
    return r.bound if r.status == "optimal" else None


def _tie_text(proof: _Proof, tie: list[SolveResult], best: str, better: str) -> str | None:
    """How an objective-then-tie-break sequence ended, in words (None when every solve was proven)."""
    last = tie[-1] if tie else None
    tie_done = last is not None and last.status == "optimal"
    if proof.finished and tie_done:
        return None
    if not proof.finished:
        text = f"{proof.what} was not proven optimal"
        return text + (f"; the tie-break then chose {best} of the plans as good as the one found" if tie_done else
                       "; the tie-break did not finish either")
    return (f"{proof.what} is proven; the tie-break {_ended(last.status if last else 'time_limit')}, so another plan "
            f"as good in {proof.what} may be {better}")


def _ended(status: str) -> str:
    return "stopped at the time limit" if status == "time_limit" else f"ended {status}"


def _at(status: str) -> str:
    return "at the time limit" if status == "time_limit" else f"({status})"


def _outcome(seq: _Sequence, measure: str, role: str, bound: float | None = None, *, primary=None,
             primary_bound: float | None = None, text: str | None = None, plan_is: str | None = None,
             sense: str | None = None) -> EquityOutcome:
    """The outcome of the sequence: the headline is `primary`'s value on the loaded plan (an EquityTerm
    or anything with `measured()` and `sense`) against `primary_bound`."""
    sense = sense or (primary.sense if primary is not None else "maximize")
    result = seq.combined()
    if result is None:
        out_of_time = seq.deadline is not None and time.time() >= seq.deadline
        status = "time_limit" if out_of_time else "error"
        return EquityOutcome(status, SolveResult(status, None, None, None, "no solve ran"), measure, role, bound,
                             stages=seq.stages, status_text=text or ("no time was left for a solve" if out_of_time else None),
                             plan_is=plan_is or measure, sense=sense)
    if result.has_solution and primary is not None:
        value = primary.measured()
        result = replace(result, objective=value, bound=primary_bound,
                         gap=primary_gap(value, primary_bound, sense == "maximize"))
    else:
        result = replace(result, objective=None, bound=primary_bound, gap=None)
    return EquityOutcome(result.status, result, measure, role, bound, stages=seq.stages, status_text=text,
                         plan_is=plan_is or measure, sense=sense)


# --- no levelling down: the efficient plan as the reference of every equity plan ---------------
#
# Equality bought by lowering groups for nobody's gain is refused. The efficient plan E (a plan
# of max U on the problem as built, before any equity bound; levels L^E, efficiency U*) is solved
# first (`efficient_reference`): max U alone, without the utilitarian objective's tie-break for the
# fairest of the most efficient plans (a plan any max-U plan dominates lowers someone for nobody's
# gain, whichever max-U plan shows it; on Chongqing that tie-break had not been proven in 56 s
# where max U took 26 s), or the utilitarian plan a study solved before. After the equity sequence
# and its tie-break (the measure held, max U, proven at the sequence's gap like every stage: a gap
# of 0 is out of reach on a city of 34,000 grids, where the tie-break of maxmin on Chongqing was at
# 3.4e-5 after 78 s), `keep_undominated` compares the plan's levels with L^E: when E is at least
# as good for every group and better for one (within LEVEL_TOLERANCE), the measure could only
# reach its value by lowering someone. Then every row and objective the
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
    r = solve_measure(problem, "utilitarian", options, tie_break=NO_TIE_BREAK).result
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


TIE_BREAK = "tie-break: max efficiency"


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
    """Load the efficient plan as the answer; under equity bounds only if it keeps them."""
    for v, value in reference.values.items():
        v.set_value(value, skip_validation=True)
    if bounded and not _keeps_active_rows(problem, skip="not_dominated"):
        why = "the efficient plan misses the equity bounds and every plan keeping them is dominated by it"
        return EquityOutcome("infeasible", SolveResult("infeasible", None, None, None, why), measure, "objective",
                             stages=outcome.stages, plan_is=measure, sense=outcome.sense)
    stages = outcome.stages + [stage_record("the efficient plan (no plan it does not dominate is better on the measure)",
                                            reference.result)]
    done = EquityOutcome(reference.result.status, replace(reference.result, bound=None, gap=None), measure, "objective",
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


def loaded_plan(problem: EquityProblem) -> ComponentMap:
    """Every active variable's loaded value (a start for HiGHS)."""
    return ComponentMap((v, v.value) for v in problem.model.component_data_objects(pyo.Var, active=True)
                        if v.value is not None)


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
    outcome = solve_measure(problem, measure, left(), tie_break, start)
    if reference is not None:
        outcome.stages.insert(0, stage_record("efficient plan (the reference)", reference.result))
    if not outcome.has_solution:
        return _timed_with(outcome, solved_here), {}
    again, record = keep_undominated(problem, measure, reference,
                                     lambda: solve_measure(problem, measure, left(), tie_break),
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
