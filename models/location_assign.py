"""Procedures for capacitated assignment (capacitated p-median, CFLP) and for p-center.

    assignment  formulation 5 of `models.location_blocks` on each node's cheapest arcs. The
                slack u_i takes demand left to the arcs outside the model at the least cost
                beyond them, so every truncated model is a relaxation and its bound is valid;
                a plan that uses no slack is feasible for the whole problem and costs exactly
                the model's value. Nodes that use slack get twice as many arcs, and the loop
                stops once the best slack-free plan is within the gap of the best bound.
    p_center    formulation 4 on the pairs within a feasible radius R̄ found by farthest-first
                (an optimal plan never serves a node farther than R̄), from the lower bound
                R⁰ = max_i min_j w_i d_ij; one MIP.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from pyomo.common.collections import ComponentMap

from allocator.solving.solve import SolveOptions

from .location_blocks import AssignmentArrays, CenterArrays, Limits, RadiusArrays, SiteArrays, build_assignment_model, build_center_model
from .location_data import Pairs, greedy_center, levels_of, nearest_open
from .location_median import MedianInput, _rows_state, _snap, _stack_levels, _truncated
from .location_solvers import DEFAULT_GAP, INITIAL_ARCS, Clock, Outcome, _values, relative_gap


@dataclass
class AssignInput:
    """One assignment block: pairs sorted by cost, arc cost per pair (objective), demand q per
    node, capacity K and fixed charge f per site, required sites, spend cost, count weight, p."""

    pairs: Pairs
    arc_cost: np.ndarray
    demand: np.ndarray
    capacity: np.ndarray
    fixed_charge: np.ndarray
    required: np.ndarray
    cost: np.ndarray
    count: np.ndarray
    n_open: float


def assignment(inputs: list[AssignInput], spend: float, exact: bool, single_source: bool, options: SolveOptions,
               clock: Clock) -> Outcome:
    t0 = time.perf_counter()
    if any(np.any(b.pairs.degree[b.demand > 0] == 0) for b in inputs):
        clock.build_s += time.perf_counter() - t0
        return Outcome("infeasible", [], details={"reason": "node_without_site"})
    states = []
    for b in inputs:
        st = _rows_state(b.pairs, np.zeros(b.pairs.n_sites, bool))
        per_node = max(10, math.ceil(INITIAL_ARCS / max(1, b.pairs.n_nodes)))
        st.keep = st.full.copy() if len(b.pairs.site) <= INITIAL_ARCS else _snap(st, b.pairs, np.full(b.pairs.n_nodes, per_node))
        states.append(st)
    clock.build_s += time.perf_counter() - t0
    target = options.gap if options.gap is not None else DEFAULT_GAP
    upper, lower, best, status, rounds, start = math.inf, -math.inf, None, "error", 0, None
    while True:
        rounds += 1
        t1 = time.perf_counter()
        sites, arcs, parts = _assignment_arrays(inputs, states, single_source)
        count = np.array([b.n_open for b in inputs], float)
        model = build_assignment_model(sites, arcs, Limits(spend, count, exact))
        clock.build_s += time.perf_counter() - t1
        result = clock.run(model, options, _assignment_start(model, start) if start else None)
        status = result.status
        if not result.has_solution:
            break
        x, u, y = _values(model.assigned), _values(model.unassigned), _values(model.site_open) > 0.5
        start = (x, u, y)
        slack = u > 1e-6
        if not slack.any() and result.objective is not None and result.objective < upper - 1e-9:
            upper, best = result.objective, _assignment_plan(inputs, states, parts, x, y)
        if result.bound is not None:
            lower = max(lower, result.bound)
        if best is not None and relative_gap(upper, lower) <= target + 1e-12:
            status = "optimal"
            break
        if not slack.any():
            break
        if status != "optimal" or clock.out_of_time():
            status = "time_limit"
            break
        off = 0
        for b, st in zip(inputs, states):
            n = b.pairs.n_nodes
            grow = slack[off:off + n]
            st.keep = np.where(grow, np.maximum(st.keep, _snap(st, b.pairs, 2 * st.keep)), st.keep)
            off += n
    details = {"rounds": rounds, "model_arcs": int(sum(st.keep.sum() for st in states)),
               "all_arcs": int(sum(len(b.pairs.site) for b in inputs))}
    if best is None:
        return Outcome(status if status != "optimal" else "error", [], None, lower if np.isfinite(lower) else None, None, details)
    opened, assigned, shares = best
    details.update(assignment=assigned, shares=shares)
    bound = lower if np.isfinite(lower) else None
    return Outcome(status, opened, upper, bound, relative_gap(upper, bound), details)


def _assignment_arrays(inputs: list[AssignInput], states, single_source: bool):
    indptr, arc_site, arc_cost, demand, node_block, beyond, parts = [np.zeros(1, np.int64)], [], [], [], [], [], []
    arc_off = site_off = 0
    for k, (b, st) in enumerate(zip(inputs, states)):
        local = np.arange(len(b.pairs.site)) - np.repeat(b.pairs.indptr[:-1], b.pairs.degree)
        mask = local < np.repeat(st.keep, b.pairs.degree)
        tp = b.pairs.take(mask)
        indptr.append(tp.indptr[1:] + arc_off)
        arc_site.append(tp.site + site_off)
        arc_cost.append(b.arc_cost[mask])
        demand.append(b.demand)
        node_block.append(np.full(b.pairs.n_nodes, k))
        first_out = np.minimum(b.pairs.indptr[:-1] + st.keep, max(len(b.pairs.site) - 1, 0))
        beyond.append(np.where(st.keep < b.pairs.degree, b.arc_cost[first_out] if len(b.arc_cost) else np.inf, np.inf))
        parts.append((mask, slice(site_off, site_off + b.pairs.n_sites), slice(arc_off, arc_off + len(tp.site))))
        arc_off += len(tp.site)
        site_off += b.pairs.n_sites
    cat = np.concatenate
    sites = SiteArrays(cat([np.full(b.pairs.n_sites, k) for k, b in enumerate(inputs)]).astype(np.int64),
                       cat([b.cost for b in inputs]).astype(float), cat([b.count for b in inputs]).astype(float),
                       cat([b.required for b in inputs]), cat([b.fixed_charge for b in inputs]).astype(float))
    arcs = AssignmentArrays(cat(indptr), cat(arc_site).astype(np.int64), cat(arc_cost).astype(float), cat(demand).astype(float),
                            cat(node_block).astype(np.int64), cat(beyond).astype(float),
                            cat([b.capacity for b in inputs]).astype(float), single_source)
    return sites, arcs, parts


def _assignment_plan(inputs, states, parts, x: np.ndarray, y: np.ndarray):
    opened, assigned, shares = [], [], []
    for b, (mask, sites, arcs) in zip(inputs, parts):
        share = np.zeros(len(b.pairs.site))
        share[mask] = x[arcs]
        rows = b.pairs.rows()
        best = np.full(b.pairs.n_nodes, -1)
        top = np.full(b.pairs.n_nodes, 1e-9)
        for idx in np.argsort(-share, kind="stable"):      # largest share per node (ties: nearest)
            r = rows[idx]
            if share[idx] <= top[r]:
                if share[idx] <= 1e-9:
                    break
                continue
            top[r], best[r] = share[idx], b.pairs.site[idx]
        opened.append(y[sites].copy())
        assigned.append(best)
        shares.append(share)
    return opened, assigned, shares


def _assignment_start(model, start) -> dict:
    x, u, y = start
    out = ComponentMap((model.assigned[a], float(v)) for a, v in enumerate(x) if a in model.assigned)
    out.update((model.site_open[j], float(v)) for j, v in enumerate(y))
    out.update((model.unassigned[i], float(v)) for i, v in enumerate(u))
    return out


# --- p-center -----------------------------------------------------------------------------

def p_center(inputs: list[MedianInput], spend: float, exact: bool, options: SolveOptions, clock: Clock) -> Outcome:
    t0 = time.perf_counter()
    weighted = [_weighted(b) for b in inputs]
    if any(np.any(p.degree[b.weights > 0] == 0) for p, b in zip(weighted, inputs)):
        clock.build_s += time.perf_counter() - t0
        return Outcome("infeasible", [], details={"reason": "node_without_site"})
    parts, greedy, constant = [], [], 0.0
    steps, radius_block, raises, closed, site_off = [], [], [], [], 0
    lv_total = 0
    for k, (b, wp) in enumerate(zip(inputs, weighted)):
        n_new = b.n_open - float(b.count[b.required].sum()) if np.isfinite(b.n_open) else wp.n_sites
        g = greedy_center(wp, b.required, n_new)
        greedy.append(g)
        st = _rows_state(wp, b.required)
        st.full[b.weights <= 0] = 0
        _, near = nearest_open(wp, g)
        upper = float(near[b.weights > 0].max()) if (b.weights > 0).any() else 0.0
        within = (wp.value <= upper + 1e-12 * max(1.0, upper)) if np.isfinite(upper) else np.ones(len(wp.value), bool)
        counts = np.bincount(wp.rows()[within], minlength=wp.n_nodes)
        st.keep = _snap(st, wp, counts)
        tp = _truncated(wp, st.keep)
        lv = levels_of(tp)
        last = np.r_[lv.row[1:] != lv.row[:-1], True]
        firsts = tp.value[tp.indptr[:-1][tp.degree > 0]]
        r0 = float(firsts.max()) if len(firsts) else 0.0
        radii = np.unique(tp.value[tp.value >= r0 - 1e-12])
        radii = radii[radii >= r0 - 1e-12] if len(radii) else np.array([r0])
        nxt = np.r_[lv.value[1:], np.inf]
        kappa = np.searchsorted(radii, nxt, side="left") - 1
        link = (~last) & (kappa >= 0)
        raises.append(np.where(link, kappa + len(np.concatenate(steps)) if steps else kappa, -1))
        steps.append(np.diff(radii))
        radius_block.append(np.full(max(len(radii) - 1, 0), k))
        closed.append(last)
        constant += r0
        parts.append((tp, lv, site_off))
        site_off += wp.n_sites
        lv_total += len(lv)
    levels, pair_site = _stack_levels(parts)
    cat = np.concatenate
    sites = SiteArrays(cat([np.full(b.pairs.n_sites, k) for k, b in enumerate(inputs)]).astype(np.int64),
                       cat([b.cost for b in inputs]).astype(float), cat([b.count for b in inputs]).astype(float),
                       cat([b.required for b in inputs]), np.zeros(site_off))
    radius = RadiusArrays(levels, pair_site, np.zeros(len(levels)), cat(closed), 0.0)
    center = CenterArrays(radius, cat(radius_block).astype(np.int64), cat(steps), cat(raises).astype(np.int64), constant)
    model = build_center_model(sites, center, Limits(spend, np.array([b.n_open for b in inputs], float), exact))
    start = _center_start(model, inputs, weighted, parts, greedy, center)
    clock.build_s += time.perf_counter() - t0
    result = clock.run(model, options, start)
    if not result.has_solution:
        return Outcome(result.status, [], None, result.bound, None, {})
    y = _values(model.site_open) > 0.5
    opened, off = [], 0
    for b in inputs:
        opened.append(y[off:off + b.pairs.n_sites].copy())
        off += b.pairs.n_sites
    value = sum(_radius_of(wp, b, o) for wp, b, o in zip(weighted, inputs, opened))
    return Outcome(result.status, opened, value, result.bound, relative_gap(value, result.bound),
                   {"model_pairs": int(len(pair_site)), "all_pairs": int(sum(len(w.site) for w in weighted))})


def _weighted(b: MedianInput) -> Pairs:
    """Pairs valued w_i d_ij (order within a row is unchanged for w_i > 0); weightless nodes keep theirs."""
    w = np.where(b.weights > 0, b.weights, 1.0)
    return Pairs(b.pairs.indptr, b.pairs.site, b.pairs.value * w[b.pairs.rows()], b.pairs.n_sites)


def _radius_of(wp: Pairs, b: MedianInput, opened: np.ndarray) -> float:
    _, near = nearest_open(wp, opened)
    used = b.weights > 0
    return float(near[used].max()) if used.any() else 0.0


def _center_start(model, inputs, weighted, parts, greedy, center: CenterArrays) -> dict:
    start, y_off, lv_off, r_off = ComponentMap(), 0, 0, 0
    for k, (b, wp, (tp, lv, _), g) in enumerate(zip(inputs, weighted, parts, greedy)):
        for j in range(b.pairs.n_sites):
            start[model.site_open[y_off + j]] = float(g[j])
        _, near = nearest_open(wp, g)
        for i, far in enumerate((near[lv.row] > lv.value + 1e-12).tolist()):
            start[model.farther_than_level[lv_off + i]] = float(far)
        radius = _radius_of(wp, b, g)
        n_r = int((center.radius_block == k).sum())
        # u_k = 1 when the greedy radius exceeds R_k: R_k = R⁰ + cumulative steps
        steps = center.radius_step[r_off:r_off + n_r]
        r0 = float(tp.value[tp.indptr[:-1][tp.degree > 0]].max()) if tp.degree.any() else 0.0
        radii = r0 + np.concatenate(([0.0], np.cumsum(steps)))[:-1] if n_r else np.zeros(0)
        for i, exceeds in enumerate((radius > radii + 1e-12).tolist()):
            start[model.radius_exceeds[r_off + i]] = float(exceeds)
        y_off += b.pairs.n_sites
        lv_off += len(lv)
        r_off += n_r
    return start
