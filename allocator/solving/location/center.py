"""Procedure for p-center.

    p_center    formulation 4 of `models.location.center` on the pairs within a feasible
                radius R̄ found by farthest-first (an optimal plan never serves a node farther
                than R̄), from the lower bound R⁰ = max_i min_j w_i d_ij; one MIP, started
                from the farthest-first plan, which is the answer (status time_limit) when
                HiGHS stops at the time limit before it keeps any plan of its own.
"""
from __future__ import annotations

import time

import numpy as np

from allocator.models.location.center import build_center_model, center_problem, center_start, radius_of, weighted_pairs
from allocator.models.location.common import Limits, values
from allocator.models.location.heuristics import nearest_open
from allocator.models.location.median import MedianInput
from allocator.solving.solve import SolveOptions, relative_gap

from .common import Clock, Outcome


def p_center(inputs: list[MedianInput], spend: float, exact: bool, options: SolveOptions, clock: Clock) -> Outcome:
    t0 = time.perf_counter()
    weighted = [weighted_pairs(b) for b in inputs]
    if any(np.any(p.degree[b.weights > 0] == 0) for p, b in zip(weighted, inputs)):
        clock.build_s += time.perf_counter() - t0
        return Outcome("infeasible", [], details={"reason": "node_without_site"})
    problem = center_problem(inputs, weighted, spend, exact)
    model = build_center_model(problem.sites, problem.center, Limits(spend, np.array([b.n_open for b in inputs], float), exact))
    start = center_start(model, inputs, weighted, problem.parts, problem.greedy, problem.center)
    clock.build_s += time.perf_counter() - t0
    result = clock.run(model, options, start)
    if not result.has_solution:
        if result.status == "time_limit" and _within_limits(inputs, weighted, problem.greedy, spend, exact):
            # HiGHS kept nothing before the time limit: the farthest-first plan it was given stands
            value = sum(radius_of(wp, b, g) for wp, b, g in zip(weighted, inputs, problem.greedy))
            return Outcome("time_limit", [g.copy() for g in problem.greedy], value, result.bound,
                           relative_gap(value, result.bound), {"fallback": "greedy"})
        return Outcome(result.status, [], None, result.bound, None, {})
    y = values(model.site_open) > 0.5
    opened, off = [], 0
    for b in inputs:
        opened.append(y[off:off + b.pairs.n_sites] | b.required)     # a required site in no row has no value
        off += b.pairs.n_sites
    value = sum(radius_of(wp, b, o) for wp, b, o in zip(weighted, inputs, opened))
    return Outcome(result.status, opened, value, result.bound, relative_gap(value, result.bound),
                   {"model_pairs": int(len(problem.center.radius.pair_site)), "all_pairs": int(sum(len(w.site) for w in weighted))})


def _within_limits(inputs: list[MedianInput], weighted, opened: list[np.ndarray], spend: float, exact: bool) -> bool:
    """The plan keeps the spend row, every block's count row and reaches every node with weight."""
    cost = sum(float(b.cost[o].sum()) for b, o in zip(inputs, opened))
    for b, wp, o in zip(inputs, weighted, opened):
        used = float(b.count[o].sum())
        if np.isfinite(b.n_open) and (abs(used - b.n_open) > 1e-9 if exact else used > b.n_open + 1e-9):
            return False
        if not np.all(np.isfinite(nearest_open(wp, o)[1][b.weights > 0])):
            return False
    return cost <= spend + 1e-9
