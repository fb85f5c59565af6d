"""p-median by the radius formulation on each node's nearest sites, widened where needed.

A truncated model (formulation 3 of `models.location_blocks` on a prefix of every node's
sorted sites) is a relaxation: its last kept level is charged only up to the first distance
left out, so every plan costs at least as much in truth as in the model, and the model's
bound is valid for the whole problem. A plan whose every node is served within its kept
prefix costs exactly what the model says. So:

    1. start from the greedy plan's radii, times `INITIAL_FACTOR` (every node keeps its
       sites up to about twice as far into its list as the greedy plan's nearest open one);
    2. LP rounds: solve the truncated LP; widen every node whose boundary level is used
       (z_ℓ > 0), until none is — then the truncated LP's optimum is feasible for the full
       LP at the same value, so the two LPs agree. Each round starts from the previous
       round's optimal basis (`models.location_warm`);
    3. the settled LP's optimum, rounded (largest y* first), is a plan; when its true cost is
       within the gap of the LP bound, it is the answer (an integral y* always is);
    4. MIP rounds, the first on the settled LP's own model with y made binary: solve; widen
       the nodes served beyond their prefix; stop once the best true cost found is within
       the gap of the best bound (a proof), or no node needs widening.

How fast rows grow changes only the number of rounds, never the answer: every bound used
is a truncated model's, and every cost is recomputed from the plan.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import pyomo.environ as pyo

from allocator.solving.solve import SolveOptions

from .location.common import Limits, Pairs, Rows, greedy_median, nearest_open, rows_state, snap, values
from .location.median import MedianInput, RadiusArrays, build_radius_model, radius_arrays, radius_start
from .location_solvers import DEFAULT_GAP, Clock, Outcome, relative_gap
from .location_warm import warm_lp

INITIAL_FACTOR = 2.0        # rows start at this multiple of the pairs up to the greedy plan's nearest open site
WIDEN_MARGIN = 1.5          # rows grow to this multiple of where their LP site mass reaches one


def p_median(inputs: list[MedianInput], spend: float, exact: bool, options: SolveOptions, clock: Clock) -> Outcome:
    t0 = time.perf_counter()
    if any(np.any(b.pairs.degree[b.weights > 0] == 0) for b in inputs):
        clock.build_s += time.perf_counter() - t0
        return Outcome("infeasible", [], details={"reason": "node_without_site"})
    states, best = [], []
    room = spend - sum(float(b.cost[b.required].sum()) for b in inputs)
    for b in inputs:
        rows = rows_state(b.pairs, b.required)
        rows.full[b.weights <= 0] = 0          # nodes without demand need no levels
        n_new = b.n_open - float(b.count[b.required].sum()) if np.isfinite(b.n_open) else b.pairs.n_sites
        greedy = greedy_median(b.pairs, b.weights, b.required, n_new, b.cost, room)
        room -= float(b.cost[greedy & ~b.required].sum())
        _widen_to(rows, b.pairs, greedy, np.ones(b.pairs.n_nodes, bool), double=False)
        rows.keep = snap(rows, b.pairs, np.ceil(INITIAL_FACTOR * rows.keep).astype(np.int64))
        states.append(rows)
        best.append(greedy)
    clock.build_s += time.perf_counter() - t0
    target = options.gap if options.gap is not None else DEFAULT_GAP
    upper, lower, best_open, status, rounds = math.inf, -math.inf, None, "error", 0
    if _within_limits(inputs, best, spend, exact):
        upper, best_open = _median_value(inputs, best), best
    lower, lp_rounds, last = _widen_by_relaxation(inputs, states, spend, exact, options, clock)
    if last is not None:
        candidate = _rounded_plan(inputs, last, spend, exact)
        if candidate is not None and _median_value(inputs, candidate) < upper - 1e-9:
            upper, best_open = _median_value(inputs, candidate), candidate
    while True:
        if relative_gap(upper, lower) is not None and relative_gap(upper, lower) <= target + 1e-12:
            status = "optimal"
            break
        rounds += 1
        model, arrays, slices = _mip_model(inputs, states, spend, exact, last if rounds == 1 else None, clock)
        result = clock.run(model, options, radius_start(model, inputs, states, best_open) if best_open is not None else None)
        status = result.status
        if not result.has_solution:
            break
        picked = values(model.site_open) > 0.5
        opened = [picked[s] for s in slices]
        value = _median_value(inputs, opened)
        if value < upper - 1e-9:
            upper, best_open = value, opened
        if result.bound is not None:
            lower = max(lower, result.bound)
        outside = [_outside(st, b.pairs, o) for st, b, o in zip(states, inputs, opened)]
        if relative_gap(upper, lower) is not None and relative_gap(upper, lower) <= target + 1e-12:
            status = "optimal"
            break
        if not any(o.any() for o in outside):
            break                       # exact model for this plan: HiGHS's own status stands
        if status != "optimal" or clock.out_of_time():
            status = "time_limit"
            break
        for st, b, o, out in zip(states, inputs, opened, outside):
            _widen_to(st, b.pairs, o, out, double=True)
    details = {"rounds": rounds, "lp_rounds": lp_rounds, "model_pairs": int(sum(st.keep.sum() for st in states)),
               "all_pairs": int(sum(len(b.pairs.site) for b in inputs))}
    if best_open is None:
        return Outcome(status, [], None, None if not np.isfinite(lower) else lower, None, details)
    bound = lower if np.isfinite(lower) else None
    return Outcome(status, best_open, upper, bound, relative_gap(upper, bound), details)


def _widen_by_relaxation(inputs: list[MedianInput], states: list[Rows], spend: float, exact: bool,
                         options: SolveOptions, clock: Clock, max_rounds: int = 30) -> tuple[float, int, _LastLp | None]:
    """Widen rows until the truncated LP relaxation uses no row's boundary level.

    The truncated LP is a relaxation of the full LP; when its optimum leaves every
    boundary z at 0 it is feasible for the full LP at the same value, so the two optima
    agree. Returns that value (a lower bound), the number of LP rounds and, when the rows
    settled, the last LP (its model then serves the first MIP round). Each round's LP
    starts from the previous round's optimal basis (`models.location_warm`).

    A row whose boundary is used is widened to where its LP site mass reaches one
    (Σ_{j among its first k sites} y*_j ≥ 1, so that y* itself would leave the new boundary
    at 0), with a margin (`WIDEN_MARGIN`) for y* moving, and at least doubled: the rule
    only decides how fast rows grow, never the answer.
    """
    lower, rounds, warm = -math.inf, 0, None
    lp_options = replace(options, gap=None)
    while rounds < max_rounds and not clock.out_of_time():
        rounds += 1
        t0 = time.perf_counter()
        sites, arrays, slices = radius_arrays(inputs, states)
        model = build_radius_model(sites, arrays, _limits(inputs, spend, exact), relaxed=True)
        clock.build_s += time.perf_counter() - t0
        warm, handover_s = warm_lp(model, arrays.levels, warm)
        clock.handover_s += handover_s
        result = clock.run(model, lp_options, persistent=warm.persistent)
        if result.status != "optimal" or result.objective is None:
            break                       # only an optimal LP gives a bound
        lower = max(lower, result.objective)
        z, y = values(model.farther_than_level), values(model.site_open)
        used = arrays.boundary & (z > 1e-7)
        if not used.any():
            return lower, rounds, _LastLp(model, arrays, slices, y)
        for k, (b, st) in enumerate(zip(inputs, states)):
            grow = np.zeros(b.pairs.n_nodes, bool)
            grow[arrays.node[used & (arrays.block == k)]] = True
            want = np.maximum(2 * st.keep, np.ceil(WIDEN_MARGIN * _mass_reach(b.pairs, y[slices[k]])).astype(np.int64))
            st.keep = np.where(grow, np.maximum(st.keep, snap(st, b.pairs, want)), st.keep)
    return lower, rounds, None


@dataclass
class _LastLp:
    """The settled LP of `_widen_by_relaxation`: its model, arrays, site slices and optimal y."""

    model: object
    arrays: RadiusArrays
    slices: list
    y: np.ndarray


def _limits(inputs: list[MedianInput], spend: float, exact: bool) -> Limits:
    return Limits(spend, np.array([b.n_open for b in inputs], float), exact)


def _mip_model(inputs: list[MedianInput], states: list[Rows], spend: float, exact: bool, last: _LastLp | None,
               clock: Clock) -> tuple[pyo.ConcreteModel, RadiusArrays, list]:
    """The MIP of a round: the settled LP's own model with y made binary, or a new one on the current rows."""
    t0 = time.perf_counter()
    if last is not None:
        model, arrays, slices = last.model, last.arrays, last.slices
        for v in model.site_open.values():
            v.domain = pyo.Binary
    else:
        sites, arrays, slices = radius_arrays(inputs, states)
        model = build_radius_model(sites, arrays, _limits(inputs, spend, exact))
    clock.build_s += time.perf_counter() - t0
    return model, arrays, slices


def _rounded_plan(inputs: list[MedianInput], last: _LastLp, spend: float, exact: bool) -> list[np.ndarray] | None:
    """The LP optimum rounded: in each block the required sites and then the sites of largest y*
    up to the block's count (a plan only when it keeps every limit; an integral y* gives itself)."""
    plan = []
    for b, sl in zip(inputs, last.slices):
        y = last.y[sl]
        is_open = b.required | (y > 1 - 1e-6)
        used = float(b.count[is_open].sum())
        for j in (np.argsort(-y, kind="stable") if np.isfinite(b.n_open) else []):
            if used >= b.n_open - 1e-9:
                break
            if not is_open[j] and used + b.count[j] <= b.n_open + 1e-9:
                is_open[j], used = True, used + float(b.count[j])
        plan.append(is_open)
    return plan if _within_limits(inputs, plan, spend, exact) else None


def _mass_reach(pairs: Pairs, y: np.ndarray) -> np.ndarray:
    """Per node: the number of its nearest pairs whose site mass Σ y_j first reaches one (degree when never)."""
    if len(pairs.site) == 0:
        return np.zeros(pairs.n_nodes, np.int64)
    cum = np.cumsum(y[pairs.site])
    before = np.r_[0.0, cum][pairs.indptr[:-1]]
    reached = (cum - np.repeat(before, pairs.degree)) >= 1 - 1e-6
    first = np.full(pairs.n_nodes, len(pairs.site))
    idx = np.flatnonzero(reached)
    np.minimum.at(first, pairs.rows()[idx], idx)
    return np.where(first < len(pairs.site), first + 1 - pairs.indptr[:-1], pairs.degree)


def _first_open_pair(pairs: Pairs, opened: np.ndarray) -> np.ndarray:
    """Per node: absolute index of its first (nearest) open pair, or len(pairs) when none."""
    pos = np.full(pairs.n_nodes, len(pairs.site))
    hit = np.flatnonzero(opened[pairs.site])
    np.minimum.at(pos, pairs.rows()[hit], hit)
    return pos


def _widen_to(st: Rows, pairs: Pairs, opened: np.ndarray, which: np.ndarray, double: bool) -> None:
    """Keep, for the nodes in `which`, pairs up to their nearest open site (at least twice as many when `double`)."""
    start = pairs.indptr[:-1]
    pos = _first_open_pair(pairs, opened)
    found = pos < len(pairs.site)
    want = np.where(found, st.bounds[np.minimum(pos, max(len(pairs.site) - 1, 0))] - start, st.full)
    if double:
        want = np.maximum(want, 2 * st.keep)
    st.keep = np.where(which, np.maximum(st.keep, snap(st, pairs, want)), st.keep)


def _outside(st: Rows, pairs: Pairs, opened: np.ndarray) -> np.ndarray:
    """Nodes whose nearest open site lies beyond their kept pairs."""
    pos = _first_open_pair(pairs, opened)
    return ((pos - pairs.indptr[:-1]) >= st.keep) & (st.keep < st.full)


def _median_value(inputs: list[MedianInput], opened: list[np.ndarray]) -> float:
    total = 0.0
    for b, o in zip(inputs, opened):
        _, dist = nearest_open(b.pairs, o)
        used = b.weights > 0
        total += float(b.weights[used] @ dist[used]) if used.any() else 0.0
    return total


def _within_limits(inputs: list[MedianInput], opened: list[np.ndarray], spend: float, exact: bool) -> bool:
    cost = sum(float(b.cost[o].sum()) for b, o in zip(inputs, opened))
    counts_ok = all((abs(float(b.count[o].sum()) - b.n_open) < 1e-9) if exact else float(b.count[o].sum()) <= b.n_open + 1e-9
                    for b, o in zip(inputs, opened) if np.isfinite(b.n_open))
    reach_ok = all(np.all(np.isfinite(nearest_open(b.pairs, o)[1][b.weights > 0])) for b, o in zip(inputs, opened))
    return cost <= spend + 1e-9 and counts_ok and reach_ok
