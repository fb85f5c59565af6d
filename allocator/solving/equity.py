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

An equity plan is held to the efficient plan, so that no group is lowered for nobody's gain:
allocator.solving.fair (`solve_fair`), which also keeps plans on a built problem as starts.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from allocator.models import equity as eq
from allocator.models.equity_problem import (HOLD_TOLERANCE, RATIO_MEASURES, EquityProblem, attach_measure,
                                             check_measure, hold_value, maximise_efficiency, ratio_objective)
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
        stage of a problem with a `Split`: max efficiency, a tie-break for it, a frontier point): first the
        quick proof of allocator.solving.split, its LP round first; when it does not prove the stage, its plan
        (if better than none) starts HiGHS on the whole model."""
        start = self._incumbent()
        found, bound, parts = None, None, []
        if split and self.problem.split is not None:
            quick = solve_split(self.problem.model, self.problem.split, self._options(share, purpose), True, purpose, start)
            parts = quick.parts
            if quick.proven is not None:
                self.results.append(quick.proven)
                self.stages.append(stage_record(purpose, quick.proven, split=_split_record(parts)))
                return quick.proven
            self.aside.extend(r for _, r in parts)
            bound = quick.bound                              # the relaxations': they bound the whole model too
            if quick.plan is not None:
                start, found = quick.plan, quick.plan_result
        r = solve(self.problem.model, self._options(share, purpose), start=start)
        if not r.has_solution and found is not None:      # HiGHS found nothing in time: the split's plan stands
            for v, x in start.items():
                v.set_value(x, skip_validation=True)
            r = replace(found, status="time_limit" if r.status == "optimal" else r.status, bound=r.bound,
                        handover_s=r.handover_s, solve_s=r.solve_s)
        r = bounded_by(r, bound, True, self.options.gap)
        self.results.append(r)
        record = stage_record(purpose, r, **({"split": _split_record(parts)} if parts else {}))
        record["seconds"] += sum(p.handover_s + p.solve_s for _, p in parts)     # the stage's time, its split's too
        self.stages.append(record)
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


TIE_BREAK = "tie-break: max efficiency"


def loaded_plan(problem: EquityProblem) -> ComponentMap:
    """Every active variable's loaded value (a start for HiGHS)."""
    return ComponentMap((v, v.value) for v in problem.model.component_data_objects(pyo.Var, active=True)
                        if v.value is not None)
