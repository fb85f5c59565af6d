"""Equity measures as Pyomo objectives or constraints over group levels (DESIGN §5).

A model exposes its group levels L_g (a dict g → linear Pyomo expression: towns' coverage
ratios, districts' coverage rates, ...) and optional weights w_g > 0 (population;
W = Σ_g w_g). `attach` adds one measure to the model in its own block, either as THE
objective (the model's active objectives are deactivated) or as a constraint next to the
model's own objective (a bound β). Every form below is exact, except `alpha`, whose
approximation error is computed and returned.

    utilitarian  U = Σ_g w_g L_g                       max U         | U ≥ β
    maxmin       L_g ≥ t  ∀g                            max t         | t ≥ β
    leximin      a sequence of max-min solves (`solve_leximin` of the solving layer) over the
                 rows of `leximin_block`:
                     L_g ≥ t          g free     (level_at_least_floor)
                     L_g ≥ f_g        g fixed    (level_at_least_fixed, f_g mutable)
                 with the objectives max t (raise_floor) and max Σ_g π_g L_g (raise_one,
                 π_g mutable: one group picked), the rounds switching them on and off
    range        ℓ ≤ L_g ≤ u  ∀g                        min u − ℓ     | u − ℓ ≤ β
    mad          e_g ≥ ±(L_g − μ), μ = Σ_h w_h L_h / W  min Σ w_g e_g / W  | ≤ β
    gini         d_gh ≥ ±(L_g − L_h)  ∀ g < h,  N = Σ_{g<h} w_g w_h d_gh
                 (Gini = Σ_g Σ_h w_g w_h |L_g − L_h| / (2 W Σ_g w_g L_g) = N / (W Σ_g w_g L_g))
                 bound:     N ≤ β · W · Σ_g w_g L_g     (multiplied out: exact, linear)
                 objective: the weighted mean is held, Σ_g w_g L_g = W·m (param `mean`),
                            and min N / (W²·m). Charnes–Cooper would have to rescale every
                            constraint of the model, which this module never sees.
    owa          OWA(L) = Σ_k v_k L_(k), L_(1) ≤ … ≤ L_(n), v_1 ≥ … ≥ v_n ≥ 0 (Ogryczak–Śliwiński):
                 = Σ_k (v_k − v_{k+1}) Θ_k, Θ_k = sum of the k lowest levels
                 = max Σ_k (v_k − v_{k+1}) (k·r_k − Σ_g s_gk),  s_gk ≥ r_k − L_g,  s_gk ≥ 0
                 (Θ_n = Σ_g L_g needs no variables). max OWA | OWA ≥ β. Default weights
                 v_k = (2(n−k)+1)/n²: OWA = mean·(1 − Gini), Sen's welfare.
    alpha        φ(L) = L^{1−α}/(1−α), α = 1: ln L (proportional fairness), α = 0: linear.
                 Tangent cuts at z_0 < … < z_K over [lo, hi]:
                     y_g ≤ φ(z_k) + z_k^{−α} (L_g − z_k)   ∀ g, k
                 max Σ_g w_g y_g | Σ_g w_g y_g ≥ β. y_g ≥ φ(L_g): an outer approximation;
                 on [lo, hi], y_g − φ(L_g) ≤ ε = max over the tangents' crossing points
                 (computed exactly: y − φ is convex between crossings), so the optimum of
                 the true welfare is missed by at most W·ε (`max_error_total`).
                 lo, hi default to the bounds the variables imply; for α ≥ 1, lo > 0 and
                 levels are held ≥ lo.
    hoover       levels are resources r_g, weights the populations p_g (P = Σ p_g), R = Σ r_g.
                 total_resources R₀ given: Σ_g r_g = R₀ is held and
                     e_g ≥ ±(r_g/R₀ − p_g/P),  H = ½ Σ_g e_g:   min H | H ≤ β
                 otherwise (bound only, R > 0): e_g ≥ ±(P·r_g − p_g·R),  Σ_g e_g ≤ 2β·P·R.

Weights are used by utilitarian, mad, gini, alpha and hoover; maxmin, leximin, range and
owa look at levels only. As a constraint the auxiliary variables only bound the measure:
report `EquityTerm.measured()` (numpy, allocator.metrics, on the solution's levels);
`modelled()` is the value of the model's own expression (equal to it at an optimum when the
measure is the objective).

    symbol        attribute (in the measure's block b)     meaning
    t             b.floor_level                           lowest level (maxmin; leximin: of the free groups)
    u, ℓ          b.ceiling_level, b.floor_level          band of the levels (range)
    e_g           b.deviation[g]                           |L_g − μ| (mad) / share gap (hoover)
    d_gh          b.pair_gap[p], p ∈ b.PAIRS               |L_g − L_h| (gini)
    r_k, s_gk     b.rank_threshold[k], b.shortfall[g, k]   OWA's ordered sums
    y_g           b.utility[g]                             tangent-cut utility (alpha)
    β             b.bound_value                            the bound (mutable: `set_bound`)
    f_g, π_g      b.fixed_level[g], b.pick[g]              leximin: floors of fixed groups, the group raised
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Hashable, Mapping

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.fbbt.fbbt import compute_bounds_on_expr

from allocator import metrics

from .requirements import Family

MEASURES = ("utilitarian", "maxmin", "leximin", "range", "mad", "gini", "owa", "alpha", "hoover")
NATURAL_SENSE = {"utilitarian": "maximize", "maxmin": "maximize", "range": "minimize", "mad": "minimize",
                 "gini": "minimize", "owa": "maximize", "alpha": "maximize", "hoover": "minimize"}
PARAMETERS = {"utilitarian": (), "maxmin": (), "range": (), "mad": (), "gini": ("mean",), "owa": ("owa_weights",),
              "alpha": ("alpha", "lo", "hi", "pieces"), "hoover": ("total_resources",)}
USES_WEIGHTS = {"utilitarian", "mad", "gini", "alpha", "hoover"}
DEFAULT_PIECES = 32


@dataclass(frozen=True, eq=False)
class EquityTerm:
    """What `attach` added: the block holding its components and what to report."""

    measure: str
    role: str                       # "objective" | "constraint"
    sense: str                      # "maximize" | "minimize": the direction that is better
    block: pyo.Block
    value: Any                      # Pyomo expression of the measure as modelled
    levels: dict                    # group → level expression
    weights: dict | None            # group → weight (None: all 1)
    bound: float | None
    report: dict = field(default_factory=dict)   # form used, parameters, approximation error

    def level_values(self) -> dict:
        return {g: float(pyo.value(e)) for g, e in self.levels.items()}

    def modelled(self) -> float:
        return float(pyo.value(self.value))

    def measured(self) -> float:
        """The measure of the solution's levels, computed in numpy (allocator.metrics)."""
        x = _clip(np.array(list(self.level_values().values())))
        w = None if self.weights is None else np.array([self.weights[g] for g in self.levels])
        return measure_value(self.measure, x, w, self.report)

    def set_bound(self, bound: float) -> None:
        """Change β in place (ε-constraint sweeps): the model is not rebuilt."""
        if self.role != "constraint":
            raise ValueError("only a constraint has a bound")
        self.block.bound_value.set_value(float(bound))

    def approximation_error(self) -> float:
        """alpha: Σ_g w_g (y_g − φ(L_g)) at the solution (≤ report['max_error_total'] on [lo, hi])."""
        if self.measure != "alpha":
            return 0.0
        return self.modelled() - self.measured()


_NUMPY = {
    "utilitarian": lambda x, w, p: metrics.utilitarian(x, w), "maxmin": lambda x, w, p: float(np.min(x)),
    "leximin": lambda x, w, p: float(np.min(x)), "range": lambda x, w, p: metrics.value_range(x),
    "mad": lambda x, w, p: metrics.mad(x, w), "gini": lambda x, w, p: metrics.gini(x, w),
    "owa": lambda x, w, p: metrics.owa(x, p["owa_weights"]), "alpha": lambda x, w, p: metrics.alpha_fair(x, p["alpha"], w),
    "hoover": lambda x, w, p: metrics.hoover(x, w),
}


def measure_value(measure: str, x: np.ndarray, w: np.ndarray | None, params: Mapping | None = None) -> float:
    """The numpy value of `measure` for levels x and weights w (as `EquityTerm.measured`);
    owa needs params['owa_weights'], alpha params['alpha']."""
    if measure not in _NUMPY:
        raise ValueError(f"unknown equity measure {measure!r}; use one of {', '.join(MEASURES)}")
    return _NUMPY[measure](x, w, params or {})


def _clip(x: np.ndarray) -> np.ndarray:
    """Solver noise: levels a hair below zero are zero."""
    return np.where((x < 0) & (x > -1e-7), 0.0, x)


# --- attach --------------------------------------------------------------------------------

def attach(model: pyo.Block, levels: Mapping[Hashable, Any], measure: str, weights: Mapping[Hashable, float] | None = None,
           as_: str = "objective", bound: float | None = None, sense: str | None = None, **params) -> EquityTerm:
    """Add `measure` of `levels` to `model` as its objective or as a constraint with `bound`.

    Parameters by measure: gini `mean` (objective only: the weighted mean level held),
    owa `owa_weights` (non-increasing, worst-off first), alpha `alpha` (default 1), `lo`,
    `hi`, `pieces`; hoover `total_resources`.
    """
    groups, w = _check_inputs(levels, measure, weights, as_, bound, params)
    sense = _check_sense(measure, sense)
    block = pyo.Block()
    model.add_component(free_name(model, f"equity_{measure}"), block)
    block.GROUPS = pyo.Set(initialize=range(len(groups)), ordered=True)
    if as_ == "constraint":
        block.bound_value = pyo.Param(initialize=float(bound), mutable=True)
    exprs = [levels[g] for g in groups]
    value, report = _BUILDERS[measure](block, exprs, w, as_, sense, dict(params))
    if as_ == "objective":
        report["replaced_objectives"] = deactivate_objectives(model)
        block.objective = pyo.Objective(expr=value, sense=pyo.maximize if sense == "maximize" else pyo.minimize)
    report.setdefault("weights", "used" if measure in USES_WEIGHTS else "not used")
    kept = None if w is None or measure not in USES_WEIGHTS else dict(zip(groups, w.tolist()))
    return EquityTerm(measure, as_, sense, block, value, dict(zip(groups, exprs)), kept, bound, report)


def _check_inputs(levels, measure, weights, as_, bound, params) -> tuple[list, np.ndarray | None]:
    if measure == "leximin":
        raise ValueError("leximin is a sequence of solves: call the solving layer's "
                         "solve_leximin(model, levels, solve_options)")
    if measure not in NATURAL_SENSE:
        raise ValueError(f"unknown equity measure {measure!r}; use one of {', '.join(MEASURES)}")
    unknown = sorted(set(params) - set(PARAMETERS[measure]))
    if unknown:
        raise ValueError(f"{measure} takes no parameter {', '.join(unknown)}; it takes: {', '.join(PARAMETERS[measure]) or 'none'}")
    if as_ not in ("objective", "constraint"):
        raise ValueError(f"as_ must be 'objective' or 'constraint', not {as_!r}")
    if as_ == "constraint" and (bound is None or not math.isfinite(bound)):
        raise ValueError(f"{measure} as a constraint needs a finite bound")
    groups = list(levels)
    if not groups:
        raise ValueError("no group levels given")
    if weights is None:
        if measure == "hoover":
            raise ValueError("hoover needs the groups' populations as weights")
        return groups, None
    missing = [g for g in groups if g not in weights]
    if missing:
        raise ValueError(f"weights lack groups {missing[:5]}")
    w = np.array([float(weights[g]) for g in groups])
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be finite, ≥ 0 and not all zero")
    return groups, w


def _check_sense(measure: str, sense: str | None) -> str:
    natural = NATURAL_SENSE[measure]
    if sense is None or sense == natural:
        return natural
    if sense not in ("maximize", "minimize"):
        raise ValueError(f"sense must be 'maximize' or 'minimize', not {sense!r}")
    if measure != "utilitarian":
        raise ValueError(f"{measure} is linearised exactly only when it is {natural[:-1]}ed (sense={natural!r})")
    return sense


def free_name(model: pyo.Block, name: str) -> str:
    candidate, k = name, 2
    while model.component(candidate) is not None:
        candidate, k = f"{name}_{k}", k + 1
    return candidate


def deactivate_objectives(model: pyo.Block) -> list[str]:
    names = []
    for obj in model.component_data_objects(pyo.Objective, active=True, descend_into=True):
        obj.deactivate()
        names.append(obj.name)
    return names


def leximin_block(model: pyo.Block, L: list) -> pyo.Block:
    """The rows and objectives of the leximin rounds over levels L (see the module docstring), in a
    new block `equity_leximin`: every group free (level_at_least_fixed off), max t active."""
    b = pyo.Block()
    model.add_component(free_name(model, "equity_leximin"), b)
    b.GROUPS = pyo.Set(initialize=range(len(L)), ordered=True)
    b.floor_level = pyo.Var()
    b.fixed_level = pyo.Param(b.GROUPS, mutable=True, initialize=0.0)
    b.pick = pyo.Param(b.GROUPS, mutable=True, initialize=0.0)

    @b.Constraint(b.GROUPS)
    def level_at_least_floor(b, g):
        return L[g] >= b.floor_level

    @b.Constraint(b.GROUPS)
    def level_at_least_fixed(b, g):
        return L[g] >= b.fixed_level[g]

    b.level_at_least_fixed.deactivate()
    b.raise_floor = pyo.Objective(expr=b.floor_level, sense=pyo.maximize)
    b.raise_one = pyo.Objective(expr=pyo.quicksum(b.pick[g] * L[g] for g in b.GROUPS), sense=pyo.maximize)
    b.raise_one.deactivate()
    return b


def _weights_or_ones(w: np.ndarray | None, n: int) -> np.ndarray:
    return np.ones(n) if w is None else w


def _bound_row(value, b, sense: str):
    return value >= b.bound_value if sense == "maximize" else value <= b.bound_value


# --- the planner's words for the bound rows (an infeasibility explanation relaxes them) -------------
# A measure held as a constraint (the city's --equity-bound, `models.equity_problem.hold_bound`,
# over its districts' service index; hoover over district spend): the bound row of each measure
# built below is a requirement, the rows that give its auxiliary variables their meaning are
# definitions (relaxing them could only do what relaxing the bound row does).

def _bound_family(measure: str, words: str, direction: str, exact: bool) -> Family:
    """An --equity-bound row: exact in the index's units for maxmin, range and mad; named only for the
    measures held as a scaled row (gini, owa, hoover), whose slack is not in the measure's units."""
    if exact:
        return Family(f"the equity bound ({measure})", "index points", 2,
                      f"{words} cannot be held at {{limit}} together with the budgets; it misses by {{amount}}",
                      f"{direction} --equity-bound {measure} to {{target_plain}}")
    return Family(f"the equity bound ({measure})", "units", 2,
                  f"{words} cannot be held at the bound asked together with the budgets",
                  f"{direction} --equity-bound {measure}, or raise the budget (--budget) or own_budget in districts.csv")


REQUIREMENTS: dict[str, Family] = {
    "floor_at_least_bound": _bound_family("maxmin", "the lowest district service index", "lower", True),
    "band_within_bound": _bound_family("range", "the range of the districts' service index", "raise", True),
    "mad_within_bound": _bound_family("mad", "the mean absolute deviation of the districts' service index", "raise", True),
    "gini_within_bound": _bound_family("gini", "the Gini index of the districts' service index", "raise", False),
    "owa_within_bound": _bound_family("owa", "the ordered weighted average of the districts' service index", "lower", False),
    "hoover_within_bound": _bound_family("hoover", "the Hoover index of district spend against population", "raise", False),
}
DEFINITIONS: frozenset[str] = frozenset({
    "level_at_least_floor",                                            # maxmin: L_g ≥ t
    "level_below_ceiling", "level_above_floor",                        # range: ℓ ≤ L_g ≤ u
    "deviation_covers_excess", "deviation_covers_deficit",             # mad, hoover: e_g ≥ ±(…)
    "pair_gap_covers_rise", "pair_gap_covers_fall",                    # gini: d_gh ≥ ±(L_g − L_h)
    "shortfall_covers_threshold_gap",                                  # owa: s_gk ≥ r_k − L_g
})


# --- measures --------------------------------------------------------------------------------

def _utilitarian(b, L, w, as_, sense, params):
    """U = Σ_g w_g L_g"""
    w = _weights_or_ones(w, len(L))
    value = pyo.quicksum(float(w[g]) * L[g] for g in b.GROUPS)
    if as_ == "constraint":
        b.welfare_within_bound = pyo.Constraint(expr=_bound_row(value, b, sense))
    return value, {"form": "Σ w_g L_g"}


def _maxmin(b, L, w, as_, sense, params):
    """L_g ≥ t ∀g; max t | t ≥ β"""
    b.floor_level = pyo.Var()

    @b.Constraint(b.GROUPS)
    def level_at_least_floor(b, g):
        return L[g] >= b.floor_level

    if as_ == "constraint":
        b.floor_at_least_bound = pyo.Constraint(expr=b.floor_level >= b.bound_value)
    return b.floor_level, {"form": "L_g ≥ t"}


def _range(b, L, w, as_, sense, params):
    """ℓ ≤ L_g ≤ u ∀g; min u − ℓ | u − ℓ ≤ β"""
    b.ceiling_level = pyo.Var()
    b.floor_level = pyo.Var()

    @b.Constraint(b.GROUPS)
    def level_below_ceiling(b, g):
        return L[g] <= b.ceiling_level

    @b.Constraint(b.GROUPS)
    def level_above_floor(b, g):
        return L[g] >= b.floor_level

    value = b.ceiling_level - b.floor_level
    if as_ == "constraint":
        b.band_within_bound = pyo.Constraint(expr=value <= b.bound_value)
    return value, {"form": "ℓ ≤ L_g ≤ u"}


def _mad(b, L, w, as_, sense, params):
    """e_g ≥ ±(L_g − μ); Σ w_g e_g / W"""
    w = _weights_or_ones(w, len(L))
    total = float(w.sum())
    mean = pyo.quicksum(float(w[g]) * L[g] for g in b.GROUPS) / total
    b.deviation = pyo.Var(b.GROUPS, within=pyo.NonNegativeReals)

    @b.Constraint(b.GROUPS)
    def deviation_covers_excess(b, g):
        return b.deviation[g] >= L[g] - mean

    @b.Constraint(b.GROUPS)
    def deviation_covers_deficit(b, g):
        return b.deviation[g] >= mean - L[g]

    value = pyo.quicksum(float(w[g]) * b.deviation[g] for g in b.GROUPS) / total
    if as_ == "constraint":
        b.mad_within_bound = pyo.Constraint(expr=value <= b.bound_value)
    return value, {"form": "e_g ≥ ±(L_g − μ)"}


def _gini(b, L, w, as_, sense, params):
    """d_gh ≥ ±(L_g − L_h); N ≤ β W Σ w L, or min N/(W² m) with Σ w L = W m"""
    w = _weights_or_ones(w, len(L))
    W = float(w.sum())
    n = len(L)
    b.PAIRS = pyo.Set(initialize=[(g, h) for g in range(n) for h in range(g + 1, n)], dimen=2, ordered=True)
    b.pair_gap = pyo.Var(b.PAIRS, within=pyo.NonNegativeReals)

    @b.Constraint(b.PAIRS)
    def pair_gap_covers_rise(b, g, h):
        return b.pair_gap[g, h] >= L[g] - L[h]

    @b.Constraint(b.PAIRS)
    def pair_gap_covers_fall(b, g, h):
        return b.pair_gap[g, h] >= L[h] - L[g]

    numerator = pyo.quicksum(float(w[g] * w[h]) * b.pair_gap[g, h] for g, h in b.PAIRS)
    total = pyo.quicksum(float(w[g]) * L[g] for g in b.GROUPS)
    if as_ == "constraint":
        b.gini_within_bound = pyo.Constraint(expr=numerator <= b.bound_value * W * total)
        return numerator / (W * total), {"form": "Σ_{g<h} w_g w_h d_gh ≤ γ·W·Σ_g w_g L_g (multiplied out)"}
    mean = params.get("mean")
    if mean is None or not mean > 0:
        raise ValueError("gini as the objective needs mean= (> 0), the weighted mean level to hold: "
                         "the Gini index is scale-free, so without it every equal plan (even all zero) is optimal")
    b.weighted_mean_held = pyo.Constraint(expr=total == W * float(mean))
    return numerator / (W * W * float(mean)), {"form": "min Σ w_g w_h d_gh / (W² m) with the weighted mean held at m",
                                                "mean": float(mean)}


def _owa(b, L, w, as_, sense, params):
    """Σ_k (v_k − v_{k+1}) (k r_k − Σ_g s_gk), s_gk ≥ r_k − L_g"""
    n = len(L)
    v = np.asarray(params.get("owa_weights", metrics.gini_welfare_weights(n)), dtype=float)
    if v.shape != (n,) or np.any(v < 0) or np.any(np.diff(v) > 1e-12):
        raise ValueError(f"owa_weights must be {n} non-increasing numbers ≥ 0 (the worst-off group first)")
    step = v - np.append(v[1:], 0.0)
    ranks = [k for k in range(1, n) if step[k - 1] > 0]
    b.RANKS = pyo.Set(initialize=ranks, ordered=True)
    b.rank_threshold = pyo.Var(b.RANKS)
    b.shortfall = pyo.Var(b.GROUPS, b.RANKS, within=pyo.NonNegativeReals)

    @b.Constraint(b.GROUPS, b.RANKS)
    def shortfall_covers_threshold_gap(b, g, k):
        return b.shortfall[g, k] >= b.rank_threshold[k] - L[g]

    value = pyo.quicksum(float(step[k - 1]) * (k * b.rank_threshold[k] - pyo.quicksum(b.shortfall[g, k] for g in b.GROUPS))
                         for k in b.RANKS)
    value = value + float(step[n - 1]) * pyo.quicksum(L)
    if as_ == "constraint":
        b.owa_within_bound = pyo.Constraint(expr=value >= b.bound_value)
    return value, {"form": "Σ_k (v_k − v_{k+1}) Θ_k, Θ_k = max k r_k − Σ_g (r_k − L_g)⁺", "owa_weights": v.tolist()}


def _alpha(b, L, w, as_, sense, params):
    """y_g ≤ φ(z_k) + z_k^{−α}(L_g − z_k); Σ_g w_g y_g"""
    alpha = float(params.get("alpha", 1.0))
    if alpha < 0:
        raise ValueError("alpha must be ≥ 0")
    w = _weights_or_ones(w, len(L))
    if alpha == 0:
        value = pyo.quicksum(float(w[g]) * L[g] for g in b.GROUPS)
        report = {"form": "α = 0: Σ w_g L_g", "alpha": 0.0, "max_error": 0.0, "max_error_total": 0.0}
    else:
        lo, hi, floors = _alpha_range(L, alpha, params.get("lo"), params.get("hi"))
        grid = metrics.tangent_points(lo, hi, alpha, int(params.get("pieces", DEFAULT_PIECES)))
        _add_tangent_cuts(b, L, alpha, grid, lo, floors)
        value = pyo.quicksum(float(w[g]) * b.utility[g] for g in b.GROUPS)
        error = metrics.tangent_error(grid, lo, hi, alpha)
        report = {"form": "tangent cuts (outer approximation)", "alpha": alpha, "lo": lo, "hi": hi,
                  "tangent_points": grid.tolist(), "max_error": error, "max_error_total": error * float(w.sum()),
                  "levels_held_at_least_lo": len(floors)}
    if as_ == "constraint":
        b.welfare_within_bound = pyo.Constraint(expr=value >= b.bound_value)
    return value, report


def _alpha_range(L, alpha: float, lo, hi) -> tuple[float, float, list[int]]:
    """[lo, hi] of the tangent grid, and the groups whose bounds do not already imply L_g ≥ lo (α ≥ 1)."""
    bounds = [compute_bounds_on_expr(e) for e in L]
    lows = [b[0] for b in bounds]
    if hi is None:
        highs = [b[1] for b in bounds]
        if any(h is None or not math.isfinite(h) for h in highs):
            raise ValueError("alpha needs hi=: the variables' bounds do not bound every level from above")
        hi = max(highs)
    if lo is None:
        known = [x for x in lows if x is not None and math.isfinite(x)]
        lo = max(0.0, min(known)) if len(known) == len(lows) else 0.0
    lo, hi = float(lo), float(hi)
    if alpha >= 1 and lo <= 0:
        raise ValueError(f"alpha = {alpha:g} values a zero level at −∞: give lo > 0, the lowest level to allow")
    if not 0 <= lo < hi:
        raise ValueError(f"alpha needs 0 ≤ lo < hi, not lo = {lo:g}, hi = {hi:g}")
    floors = [g for g, x in enumerate(lows) if x is None or x < lo - 1e-12] if alpha >= 1 else []
    return lo, hi, floors


def _add_tangent_cuts(b, L, alpha: float, grid: np.ndarray, lo: float, floors: list[int]) -> None:
    b.POINTS = pyo.Set(initialize=range(len(grid)), ordered=True)
    b.utility = pyo.Var(b.GROUPS)
    phi, slope = metrics.alpha_utility(grid, alpha), grid ** -alpha

    @b.Constraint(b.GROUPS, b.POINTS)
    def utility_below_tangent(b, g, k):
        return b.utility[g] <= float(phi[k]) + float(slope[k]) * (L[g] - float(grid[k]))

    b.FLOORED = pyo.Set(initialize=floors, ordered=True)

    @b.Constraint(b.FLOORED)
    def level_at_least_lo(b, g):
        return L[g] >= lo


def _hoover(b, L, w, as_, sense, params):
    """e_g ≥ ±(r_g/R₀ − p_g/P), or e_g ≥ ±(P r_g − p_g R) and Σ e_g ≤ 2βPR"""
    P = float(w.sum())
    b.deviation = pyo.Var(b.GROUPS, within=pyo.NonNegativeReals)
    total = params.get("total_resources")
    if total is not None:
        R0 = float(total)
        if not R0 > 0:
            raise ValueError("total_resources must be > 0")
        b.total_resources_held = pyo.Constraint(expr=pyo.quicksum(L) == R0)
        gap = [L[g] / R0 - float(w[g]) / P for g in range(len(L))]
        value = 0.5 * pyo.quicksum(b.deviation[g] for g in b.GROUPS)
        form = "Σ r_g = R₀ held; e_g ≥ ±(r_g/R₀ − p_g/P)"
    elif as_ == "objective":
        raise ValueError("hoover as the objective needs total_resources= (the total held): H is a ratio otherwise")
    else:
        R = pyo.quicksum(L)
        gap = [P * L[g] - float(w[g]) * R for g in range(len(L))]
        value = 0.5 * pyo.quicksum(b.deviation[g] for g in b.GROUPS) / (P * R)
        form = "e_g ≥ ±(P r_g − p_g R), Σ e_g ≤ 2 h P R (multiplied out; needs R > 0)"

    @b.Constraint(b.GROUPS)
    def deviation_covers_excess(b, g):
        return b.deviation[g] >= gap[g]

    @b.Constraint(b.GROUPS)
    def deviation_covers_deficit(b, g):
        return b.deviation[g] >= -gap[g]

    if as_ == "constraint":
        scale = 1.0 if total is not None else P * pyo.quicksum(L)
        b.hoover_within_bound = pyo.Constraint(
            expr=0.5 * pyo.quicksum(b.deviation[g] for g in b.GROUPS) <= b.bound_value * scale)
    return value, {"form": form}


_BUILDERS = {"utilitarian": _utilitarian, "maxmin": _maxmin, "range": _range, "mad": _mad, "gini": _gini,
             "owa": _owa, "alpha": _alpha, "hoover": _hoover}
