"""A model's group levels, ready for any equity measure of `models.equity` (DESIGN §5).

A model offers an `EquityProblem`: its Pyomo model, group levels L_g (Pyomo expressions),
weights w_g (Σ_g w_g = 1), populations p_g and resources r_g (spend, for Hoover), the range
every level keeps, and how to read plan tables back (`PlanLevels`). Efficiency is the
utilitarian level

    U = Σ_g w_g L_g                                   (the weighted mean level)

The functions here only change a built model; the solving layer's equity sequences
(solving/equity.py) decide what to solve in which order.

    attach_measure   the measure m of models.equity as the objective, or as a bound β
                     (t ≥ β, u − ℓ ≤ β, MAD ≤ β, Gini ≤ β, OWA ≥ β, α-welfare ≥ β, Hoover ≤ β);
                     its new variables take the values the loaded plan implies
    hold_bound       m within β in every later solve (E ≥ β for maxmin, owa, alpha;
                     E ≤ β for range, mad, gini, hoover)
    hold_value       m held at its optimum m*:  E ≥ m* − δ (or E ≤ m* + δ),
                     δ = HOLD_TOLERANCE·max(1, |m*|)
    ratio_objective  gini and hoover as ratios N/D, for Dinkelbach's method:
                         gini    N = Σ_{g<h} w_g w_h d_gh,  D = W Σ_g w_g L_g      (levels)
                         hoover  N = ½ Σ_g e_g,             D = P·R                (resources r_g
                                                                                    against p_g)
                     with the bound form N ≤ β D (β = 1 to start) and the objective
                     min N − λ D, λ the ratio of the loaded plan (mutable); beside it the
                     objective min D, inactive (its LP relaxation bounds the ratio from below)

HOLD_TOLERANCE = 1e-5: a tighter hold, below HiGHS's feasibility tolerance (1e-6), was
refused by its presolve.

    symbol   attribute (in the measure's block b)   meaning
    λ        b.ratio_weight                         Dinkelbach's ratio weight
    N − λD   b.ratio_gap                            Dinkelbach's objective
    min D    b.least_denominator                    the least denominator (inactive)
    m*       b.value_held                           the row holding the optimum
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from allocator.errors import InputError, Problem
from allocator.metrics import alpha_utility, gini_welfare_weights

from . import equity as eq

HOLD_TOLERANCE = 1e-5           # above HiGHS's feasibility tolerance (1e-6): a tighter hold can be refused by presolve
MAX_PAIR_GROUPS = 300            # gini's pairwise rows: at most n(n−1)/2 ≈ 45,000
RATIO_MEASURES = ("gini", "hoover")
BOUNDABLE = tuple(m for m in eq.MEASURES if m not in ("leximin", "utilitarian"))


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
            params["owa_weights"] = gini_welfare_weights(len(self.levels))
        if measure == "alpha":
            params.setdefault("alpha", 1.0)
        if measure == "hoover":
            return eq.measure_value("hoover", self.resources.to_numpy(float), self.population.to_numpy(float))
        w = self.weights.to_numpy(float)
        return eq.measure_value(measure, np.clip(self.levels.to_numpy(float), 0.0, None), w / w.sum(), params)


@dataclass(frozen=True)
class Split:
    """Integer decisions that make a model slow to bound but quick to finish once they are fixed (the city
    model's new sites against its officers): the model with `relaxed` (its integer variables that may take
    fractional values) is a relaxation, so its optimum, or any bound HiGHS proves on it, bounds the model's
    (for max U: U* ≤ U*_relaxed); the model with `fixed` (decisions) fixed wherever that relaxation's plan
    has them whole, and free where it has them in part, is a restriction, so its plan is a plan of the model
    (relaxation-induced neighbourhood search). When the two meet within the gap, that plan is proven. `first`,
    if given, is a cheaper relaxation tried the same way before `relaxed` (the city model: its LP) where the
    solving layer asks for it. `rows`: constraints every plan of the model meets, switched off in the model
    and held in that first round (they tighten the LP; on the whole model HiGHS was slower with them)."""

    relaxed: Callable[[], list]                  # integer variables a bound may take in part
    fixed: Callable[[], list]                    # decisions a plan keeps where the bound's plan has them whole
    first: Callable[[], list] | None = None      # a wider relaxation tried first (every integer variable: the LP)
    rows: Callable[[], list] | None = None       # valid rows (every plan meets them) held in the round of `first`


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
    release_spend: Callable[[], None] | None = None     # lets the plan choose spend a reduction settled (Hoover)
    today_levels: dict | None = None              # group → the level today's resources give it (None: not known)
    split: Split | None = None                    # a quick bound and plan for max efficiency (allocator.solving.split)
    kept: dict = field(default_factory=dict, repr=False)   # what solves on this built model leave for later sequences
                                                           # on it (allocator.solving.fair: the efficient plan, kept plans)

    def efficiency(self):
        return pyo.quicksum(float(self.weights[g]) * self.levels[g] for g in self.levels)


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


# --- changes to a built model ------------------------------------------------------------------

def _params(problem: EquityProblem, measure: str) -> dict:
    if measure == "alpha":
        lo, hi = problem.level_range
        return {"alpha": 1.0, "lo": lo, "hi": hi}
    return {}


def attach_measure(problem: EquityProblem, measure: str, as_: str, bound: float | None = None) -> eq.EquityTerm:
    """`measure` of the problem's levels (hoover: of its resources against populations) as the objective
    or as a constraint with `bound`, started from the loaded plan (`initialise`)."""
    if measure == "hoover":
        if problem.release_spend is not None:      # Hoover scores spend: no reduction may settle it
            problem.release_spend()
        term = eq.attach(problem.model, problem.resources, "hoover", problem.population, as_=as_, bound=bound)
    else:
        weights = problem.weights if measure in eq.USES_WEIGHTS else None
        term = eq.attach(problem.model, problem.levels, measure, weights, as_=as_, bound=bound, **_params(problem, measure))
    initialise(term)
    return term


def hold_bound(problem: EquityProblem, measure: str, bound: float) -> eq.EquityTerm:
    """Keep `measure` within `bound` in every later solve: E ≥ b for a welfare measure or the minimum
    (maxmin, owa, alpha), E ≤ b for an inequality measure (range, mad, gini, hoover)."""
    check_measure(measure, "constraint", len(problem.levels))
    return attach_measure(problem, measure, "constraint", bound)


def initialise(term: eq.EquityTerm) -> None:
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
        z, alpha = np.asarray(term.report["tangent_points"]), term.report["alpha"]
        cuts = alpha_utility(z, alpha)[None, :] + z[None, :] ** -alpha * (L[:, None] - z[None, :])
        for g in b.GROUPS:
            b.utility[g].set_value(float(cuts[g].min()))


# The row `hold_value` adds only keeps a solved optimum between the stages of a solve sequence:
# a definition for an infeasibility explanation, never relaxed.
DEFINITIONS: frozenset[str] = frozenset({"value_held"})
# Rows of the no-levelling-down stage and of the guard --no-worse-than-today (added only when a plan
# is dominated by the efficient plan, or the guard is asked for): never relaxed either.
GUARD_DEFINITIONS: frozenset[str] = frozenset({"level_above_efficient_plan", "some_group_better_off",   # require_a_gain
                                               "level_not_below_today"})                                # hold_today


def hold_value(term: eq.EquityTerm, value: float) -> None:
    """Keep the measure at its optimum (within δ) from now on; its objective, if it is one, is switched off."""
    slack = HOLD_TOLERANCE * max(1.0, abs(value))
    b = term.block
    if term.role == "objective":
        b.objective.deactivate()
    if term.sense == "maximize":
        b.value_held = pyo.Constraint(expr=term.value >= value - slack)
    else:
        b.value_held = pyo.Constraint(expr=term.value <= value + slack)


def hold_today(problem: EquityProblem) -> None:
    """The guard --no-worse-than-today: L_g ≥ L^today_g for every group (block `no_worse_than_today`)."""
    if problem.today_levels is None:
        raise InputError(Problem("--no-worse-than-today", "this model does not know the level today's resources give "
                                                          "each group; the guard holds for --model enforcement"))
    groups = list(problem.levels)
    b = pyo.Block()
    problem.model.add_component(eq.free_name(problem.model, "no_worse_than_today"), b)
    b.level_not_below_today = pyo.Constraint(range(len(groups)), rule=lambda b, i: problem.levels[groups[i]]
                                             >= float(problem.today_levels[groups[i]]) - 1e-9)


def require_a_gain(problem: EquityProblem, reference: dict, gain: float) -> None:
    """Block `not_dominated`: some group at least `gain` above its level in the `reference` plan,
    L_g ≥ (L^E_g + gain)·y_g, Σ_g y_g ≥ 1, y_g binary (the reference plan cannot dominate the plan)."""
    groups = list(problem.levels)
    b = pyo.Block()
    problem.model.add_component(eq.free_name(problem.model, "not_dominated"), b)
    b.better_off = pyo.Var(range(len(groups)), within=pyo.Binary)
    b.level_above_efficient_plan = pyo.Constraint(range(len(groups)), rule=lambda b, i: problem.levels[groups[i]]
                                                  >= (reference[groups[i]] + gain) * b.better_off[i])
    b.some_group_better_off = pyo.Constraint(expr=sum(b.better_off[i] for i in range(len(groups))) >= 1)


def maximise_efficiency(problem: EquityProblem) -> eq.EquityTerm:
    """max U as the objective (every other objective switched off)."""
    return eq.attach(problem.model, problem.levels, "utilitarian", problem.weights)


def ratio_objective(problem: EquityProblem, measure: str):
    """gini or hoover bounded by β = 1 (to be lowered with `set_bound`), and the objective min N − λ D
    with λ (`b.ratio_weight`) the ratio of the loaded plan; every other objective is switched off
    (`b.least_denominator`, min D, is added inactive).
    Returns the term, N and D."""
    term = attach_measure(problem, measure, "constraint", 1.0)
    numerator, denominator = _ratio_parts(problem, term)
    b = term.block
    b.ratio_weight = pyo.Param(initialize=loaded_ratio(problem, measure), mutable=True)
    b.ratio_gap = pyo.Objective(expr=numerator - b.ratio_weight * denominator, sense=pyo.minimize)
    b.least_denominator = pyo.Objective(expr=denominator, sense=pyo.minimize)
    b.least_denominator.deactivate()
    for other in problem.model.component_data_objects(pyo.Objective, active=True):
        if other is not b.ratio_gap:
            other.deactivate()
    return term, numerator, denominator


def loaded_ratio(problem: EquityProblem, measure: str) -> float:
    """The measure (gini or hoover) of the plan loaded in the model (Dinkelbach's λ_0)."""
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
