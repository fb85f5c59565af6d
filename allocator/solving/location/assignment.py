"""Procedure for capacitated assignment (capacitated p-median, CFLP).

    assignment  formulation 5 of `models.location.assignment` on each node's cheapest arcs. The
                slack u_i takes demand left to the arcs outside the model at the least cost
                beyond them, so every truncated model is a relaxation and its bound is valid;
                a plan that uses no slack is feasible for the whole problem and costs exactly
                the model's value. Nodes that use slack get twice as many arcs, and the loop
                stops once the best slack-free plan is within the gap of the best bound.
"""
from __future__ import annotations

import math
import time

import numpy as np

from allocator.models.location.assignment import (AssignInput, assignment_arrays, assignment_plan, assignment_start,
                                                  build_assignment_model)
from allocator.models.location.common import Limits, rows_state, snap, values
from allocator.solving.solve import SolveOptions, relative_gap

from .common import DEFAULT_GAP, Clock, Outcome

INITIAL_ARCS = 50_000        # assignment models start with about this many arcs


def assignment(inputs: list[AssignInput], spend: float, exact: bool, single_source: bool, options: SolveOptions,
               clock: Clock) -> Outcome:
    t0 = time.perf_counter()
    if any(np.any(b.pairs.degree[b.demand > 0] == 0) for b in inputs):
        clock.build_s += time.perf_counter() - t0
        return Outcome("infeasible", [], details={"reason": "node_without_site"})
    states = []
    for b in inputs:
        st = rows_state(b.pairs, np.zeros(b.pairs.n_sites, bool))
        per_node = max(10, math.ceil(INITIAL_ARCS / max(1, b.pairs.n_nodes)))
        st.keep = st.full.copy() if len(b.pairs.site) <= INITIAL_ARCS else snap(st, b.pairs, np.full(b.pairs.n_nodes, per_node))
        states.append(st)
    clock.build_s += time.perf_counter() - t0
    target = options.gap if options.gap is not None else DEFAULT_GAP
    upper, lower, best, status, rounds, start = math.inf, -math.inf, None, "error", 0, None
    while True:
        if clock.out_of_time():         # no time left to build the next model: the best plan so far stands
            status = "time_limit"
            break
        rounds += 1
        t1 = time.perf_counter()
        sites, arcs, parts = assignment_arrays(inputs, states, single_source)
        count = np.array([b.n_open for b in inputs], float)
        model = build_assignment_model(sites, arcs, Limits(spend, count, exact))
        clock.build_s += time.perf_counter() - t1
        result = clock.run(model, options, assignment_start(model, start) if start else None, stage=f"assignment round {rounds}")
        status = result.status
        if not result.has_solution:
            break
        x, u, y = values(model.assigned), values(model.unassigned), values(model.site_open) > 0.5
        start = (x, u, y)
        slack = u > 1e-6
        if not slack.any() and result.objective is not None and result.objective < upper - 1e-9:
            upper, best = result.objective, assignment_plan(inputs, states, parts, x, y)
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
            st.keep = np.where(grow, np.maximum(st.keep, snap(st, b.pairs, 2 * st.keep)), st.keep)
            off += n
    details = {"rounds": rounds, "model_arcs": int(sum(st.keep.sum() for st in states)),
               "all_arcs": int(sum(len(b.pairs.site) for b in inputs))}
    if best is None:
        return Outcome(status if status != "optimal" else "error", [], None, lower if np.isfinite(lower) else None, None, details)
    opened, assigned, shares = best
    details.update(assignment=assigned, shares=shares)
    bound = lower if np.isfinite(lower) else None
    return Outcome(status, opened, upper, bound, relative_gap(upper, bound), details)
