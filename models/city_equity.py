"""Equity objectives and ε-constraints over a model's group levels: the solve sequences behind
`allocator solve --model city`, `allocator frontier` and `allocator equity-bench`.

A model offers an `EquityProblem`: its Pyomo model, group levels L_g (Pyomo expressions),
weights w_g (Σ_g w_g = 1), populations p_g and resources r_g (spend, for Hoover). Efficiency
is the utilitarian level U = Σ_g w_g L_g (the weighted mean level). Measures are those of
`models.equity`; every solve goes through `allocator.solving.solve.solve`.

Objective `m` (`solve_measure`), then a tie-break among the plans optimal for it:

    utilitarian   max U;                           then hold U ≥ U* − δ and optimise the tie measure
                                                   (default maxmin: the fairest efficient plan)
    maxmin, range, mad, owa, alpha
                  optimise m (models.equity.attach); then hold m at m* (± δ) and max U
    leximin       allocator.solving.leximin.solve_leximin; its floors stay, then max U
    gini, hoover  the ratios N/D are minimised exactly by Dinkelbach's method: with λ_0 the
                  ratio of a first feasible plan (the utilitarian one),
                      x_k = argmin N(x) − λ_k D(x),   λ_{k+1} = N(x_k)/D(x_k)
                  until N(x_k) − λ_k D(x_k) ≥ −δ·D(x_k); λ falls monotonically to the least
                  ratio. gini: N = Σ_{g<h} w_g w_h d_gh, D = W Σ_g w_g L_g (levels);
                  hoover: N = ½ Σ_g e_g, D = P·R (resources r_g against populations p_g).
                  Then hold the ratio ≤ λ* (1 + δ) and max U.

ε-constraint point (`solve_bounded`): the measure as a constraint with bound β
(models.equity's bound forms: t ≥ β, u − ℓ ≤ β, MAD ≤ β, Gini ≤ β, OWA ≥ β, α-welfare ≥ β,
Hoover ≤ β) and max U. Tightening β shrinks the feasible set, so U* never rises.

δ = HOLD_TOLERANCE·max(1, |m*|) (1e-5: a tighter hold, below HiGHS's feasibility tolerance,
was refused by its presolve). Every solve starts from the plan before it. Under a time limit
(for the whole sequence) a Dinkelbach step gets half the time left; a solve that ends without
proof still gives a plan (each Dinkelbach step's plan lowers λ), the sequence goes on from it
and the outcome's status says `time_limit`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from allocator.errors import InputError, Problem
from allocator.solving.solve import SolveOptions, SolveResult, solve

from . import equity as eq
from allocator.solving.leximin import solve_leximin

HOLD_TOLERANCE = 1e-5           # above HiGHS's feasibility tolerance (1e-6): a tighter hold can be refused by presolve
DINKELBACH_TOLERANCE = 1e-6
DINKELBACH_MAX_STEPS = 25
PRIMARY_TIME_SHARE = 0.75       # under a time limit the objective's solve leaves a quarter for the tie-break
DINKELBACH_TIME_SHARE = 0.5      # under a time limit a step gets half the time left: later steps and the tie-break need some
MAX_PAIR_GROUPS = 300            # gini's pairwise rows: at most n(n−1)/2 ≈ 45,000
RATIO_MEASURES = ("gini", "hoover")
BOUNDABLE = tuple(m for m in eq.MEASURES if m not in ("leximin", "utilitarian"))
STATUS_RANK = {"optimal": 0, "time_limit": 1}


@dataclass(frozen=True)
class PlanLevels:
    """What a plan's tables say per group: levels, weights, populations, resources."""

    levels: pd.Series
    weights: pd.Series
    population: pd.Series
    resources: pd.Series

    def efficiency(self) -> float:
        return float((self.weights * self.levels).sum() / self.weights.sum())

    def measure(self, measure: str, params: dict | None = None) -> float:
        """The value of `measure` on these levels (models.equity.measure_value; hoover on resources)."""
        params = dict(params or {})
        if measure == "owa" and "owa_weights" not in params:
            from allocator.metrics import gini_welfare_weights
            params["owa_weights"] = gini_welfare_weights(len(self.levels))
        if measure == "alpha":
            params.setdefault("alpha", 1.0)
        if measure == "hoover":
            return eq.measure_value("hoover", self.resources.to_numpy(float), self.population.to_numpy(float))
        w = self.weights.to_numpy(float)
        return eq.measure_value(measure, np.clip(self.levels.to_numpy(float), 0.0, None), w / w.sum(), params)


@dataclass(eq=False)
class EquityProblem:
    """A model with group levels, ready for any measure of models.equity."""

    model: pyo.ConcreteModel
    levels: dict                                  # group → level expression
    weights: dict                                 # group → weight, summing to 1
    population: dict                              # group → population share (Hoover's reference)
    resources: dict                               # group → resource expression (Hoover; any scale: scaled near 1)
    level_range: tuple[float, float]              # bounds every level keeps (alpha's tangents)
    tables: Callable[[], dict[str, pd.DataFrame]]            # plan tables of the solved model
    plan_levels: Callable[[dict[str, pd.DataFrame]], PlanLevels]   # the same, recomputed from tables
    group: str = "district"
    meta: dict = field(default_factory=dict)

    def efficiency(self):
        return pyo.quicksum(float(self.weights[g]) * self.levels[g] for g in self.levels)


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


def defined_variables(model: pyo.Block, name: str, exprs: dict) -> dict:
    """One variable per group held equal to its expression (`<name>_defined`): a level that sums many
    terms then enters each of a measure's rows as one term."""
    groups = list(exprs)
    var = pyo.Var(groups)
    model.add_component(name, var)
    model.add_component(f"{name}_defined", pyo.Constraint(groups, rule=lambda m, g: var[g] == exprs[g]))
    return {g: var[g] for g in groups}


def check_measure(measure: str, role: str = "objective", n_groups: int = 0) -> None:
    """InputError (exit 2) for a measure this role cannot use."""
    allowed = eq.MEASURES if role == "objective" else BOUNDABLE
    if measure not in allowed:
        why = "" if measure not in eq.MEASURES else (
            " (leximin has no bound form; use maxmin)" if measure == "leximin" else " (utilitarian is the efficiency axis)")
        raise InputError(Problem("--equity" if role == "constraint" else "--objective",
                                 f"use one of {', '.join(allowed)}{why}", value=measure))
    if measure == "gini" and n_groups > MAX_PAIR_GROUPS:
        raise InputError(Problem("--equity" if role == "constraint" else "--objective",
                                 f"the Gini index over {n_groups:,} groups needs {n_groups * (n_groups - 1) // 2:,} pair rows; "
                                 f"compare at most {MAX_PAIR_GROUPS} groups (e.g. --by district)", value=measure))


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


def _params(problem: EquityProblem, measure: str) -> dict:
    if measure == "alpha":
        lo, hi = problem.level_range
        return {"alpha": 1.0, "lo": lo, "hi": hi}
    return {}


def _attach(problem: EquityProblem, measure: str, as_: str, bound: float | None = None) -> eq.EquityTerm:
    if measure == "hoover":
        term = eq.attach(problem.model, problem.resources, "hoover", problem.population, as_=as_, bound=bound)
    else:
        weights = problem.weights if measure in eq.USES_WEIGHTS else None
        term = eq.attach(problem.model, problem.levels, measure, weights, as_=as_, bound=bound, **_params(problem, measure))
    _initialise(term)
    return term


def hold_bound(problem: EquityProblem, measure: str, bound: float) -> eq.EquityTerm:
    """Keep `measure` within `bound` in every later solve: E ≥ b for a welfare measure or the minimum
    (maxmin, owa, alpha), E ≤ b for an inequality measure (range, mad, gini, hoover)."""
    check_measure(measure, "constraint", len(problem.levels))
    return _attach(problem, measure, "constraint", bound)


def _initialise(term: eq.EquityTerm) -> None:
    """Give a new measure block's variables the values the loaded plan implies, so that the next solve
    starts from a complete plan (HiGHS found none within its time when a start left them out)."""
    L = [pyo.value(e, exception=False) for e in term.levels.values()]
    if any(x is None for x in L):
        return                                      # nothing solved yet
    L, b = np.asarray(L, dtype=float), term.block
    w = np.ones(len(L)) if term.weights is None else np.array(list(term.weights.values()), dtype=float)
    if term.measure in ("maxmin", "range"):
        b.floor_level.set_value(float(L.min()))
        if term.measure == "range":
            b.ceiling_level.set_value(float(L.max()))
    elif term.measure == "gini":
        for g, h in b.PAIRS:
            b.pair_gap[g, h].set_value(abs(float(L[g] - L[h])))
    elif term.measure == "mad":
        for g in b.GROUPS:
            b.deviation[g].set_value(abs(float(L[g] - w @ L / w.sum())))
    elif term.measure == "hoover":           # bound form: levels are resources r, weights populations p
        for g in b.GROUPS:
            b.deviation[g].set_value(abs(float(w.sum() * L[g] - w[g] * L.sum())))
    elif term.measure == "owa":
        ranked = np.sort(L)
        for k in b.RANKS:
            b.rank_threshold[k].set_value(float(ranked[k - 1]))
            for g in b.GROUPS:
                b.shortfall[g, k].set_value(max(0.0, float(ranked[k - 1] - L[g])))
    elif term.measure == "alpha" and hasattr(b, "utility"):
        from allocator.metrics import alpha_utility

        z, alpha = np.asarray(term.report["tangent_points"]), term.report["alpha"]
        cuts = alpha_utility(z, alpha)[None, :] + z[None, :] ** -alpha * (L[:, None] - z[None, :])
        for g in b.GROUPS:
            b.utility[g].set_value(float(cuts[g].min()))


def _hold(term: eq.EquityTerm, value: float) -> None:
    """Keep the measure at its optimum (within δ) from now on."""
    slack = HOLD_TOLERANCE * max(1.0, abs(value))
    b = term.block
    if term.role == "objective":
        b.objective.deactivate()
    if term.sense == "maximize":
        b.value_held = pyo.Constraint(expr=term.value >= value - slack)
    else:
        b.value_held = pyo.Constraint(expr=term.value <= value + slack)


def _maximise_efficiency(problem: EquityProblem) -> eq.EquityTerm:
    return eq.attach(problem.model, problem.levels, "utilitarian", problem.weights)


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
    term = _attach(problem, measure, "objective")
    if not seq.run(f"optimise {measure}", share=PRIMARY_TIME_SHARE).has_solution:
        return _outcome(seq, measure, "objective")
    _hold(term, term.modelled())
    return _then_efficiency(problem, seq, term, term.modelled())


def solve_bounded(problem: EquityProblem, measure: str, bound: float, options: SolveOptions) -> EquityOutcome:
    """Max U with `measure` bounded by `bound` (an ε-constraint point of the frontier)."""
    check_measure(measure, "constraint", len(problem.levels))
    seq = _Sequence(problem, options)
    term = _attach(problem, measure, "constraint", bound)
    _maximise_efficiency(problem)
    r = seq.run(f"max efficiency, {measure} bounded by {bound:.6g}")
    out = _outcome(seq, measure, "constraint", bound)
    out.modelled = term.modelled() if r.has_solution else None
    return out


def _utilitarian(problem: EquityProblem, seq: _Sequence, tie_break: str) -> EquityOutcome:
    term = _maximise_efficiency(problem)
    if not seq.run("max efficiency", share=PRIMARY_TIME_SHARE).has_solution:
        return _outcome(seq, "utilitarian", "objective")
    value = term.modelled()
    _hold(term, value)
    if tie_break in RATIO_MEASURES:
        _minimise_ratio(problem, tie_break, seq)
    else:                                   # leximin's first round is max-min: ties go to maxmin
        _attach(problem, "maxmin" if tie_break == "leximin" else tie_break, "objective")
        seq.run(f"tie-break: {tie_break}")
    out = _outcome(seq, "utilitarian", "objective")
    out.modelled = value
    return out


def _utilitarian_start(problem: EquityProblem, seq: _Sequence) -> SolveResult:
    """A first feasible plan for Dinkelbach's λ_0: max U (its objective is then switched off)."""
    term = _maximise_efficiency(problem)
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
    _maximise_efficiency(problem)
    seq.run("tie-break: max efficiency")
    out = _outcome(seq, "leximin", "objective")
    out.modelled = min(result.levels.values())
    if result.status != "optimal" and out.status == "optimal":
        out.status = result.status
    return out


def _then_efficiency(problem: EquityProblem, seq: _Sequence, term: eq.EquityTerm, value: float) -> EquityOutcome:
    """The measure is held (a bound); the most efficient of its optimal plans."""
    _maximise_efficiency(problem)
    seq.run("tie-break: max efficiency")
    out = _outcome(seq, term.measure, "objective")
    out.modelled = value
    return out


def _minimise_ratio(problem: EquityProblem, measure: str, seq: _Sequence) -> tuple[eq.EquityTerm, float]:
    """Dinkelbach's method on the loaded plan; leaves the ratio bounded by its least value."""
    term = _attach(problem, measure, "constraint", 1.0)
    numerator, denominator = _ratio_parts(problem, term)
    b = term.block
    b.ratio_weight = pyo.Param(initialize=_loaded_ratio(problem, measure), mutable=True)
    b.ratio_gap = pyo.Objective(expr=numerator - b.ratio_weight * denominator, sense=pyo.minimize)
    for other in problem.model.component_data_objects(pyo.Objective, active=True):
        if other is not b.ratio_gap:
            other.deactivate()
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


def _loaded_ratio(problem: EquityProblem, measure: str) -> float:
    """The measure of the plan loaded in the model (Dinkelbach's λ_0)."""
    if measure == "hoover":
        r = np.array([max(0.0, float(pyo.value(e))) for e in problem.resources.values()])
        return eq.measure_value("hoover", r, np.array(list(problem.population.values()), dtype=float)) if r.sum() > 0 else 0.0
    x = np.array([max(0.0, float(pyo.value(e))) for e in problem.levels.values()])
    return eq.measure_value("gini", x, np.array(list(problem.weights.values()), dtype=float))


def _ratio_parts(problem: EquityProblem, term: eq.EquityTerm):
    b = term.block
    if term.measure == "gini":
        w = np.array([problem.weights[g] for g in problem.levels])
        numerator = pyo.quicksum(float(w[g] * w[h]) * b.pair_gap[g, h] for g, h in b.PAIRS)
        denominator = float(w.sum()) * pyo.quicksum(float(w[g]) * e for g, e in enumerate(problem.levels.values()))
        return numerator, denominator
    population = float(sum(problem.population.values()))
    return 0.5 * pyo.quicksum(b.deviation[g] for g in b.GROUPS), population * pyo.quicksum(problem.resources.values())


def _outcome(seq: _Sequence, measure: str, role: str, bound: float | None = None) -> EquityOutcome:
    result = seq.combined()
    if result is None:
        return EquityOutcome("error", None, measure, role, bound, steps=seq.steps)
    return EquityOutcome(result.status, result, measure, role, bound, steps=seq.steps)
