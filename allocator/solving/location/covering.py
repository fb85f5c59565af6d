"""Covering procedures over one or more blocks (e.g. services), on the formulations of
`models.location.covering`.

    maximal_cover   reductions R1–R5 (`models.location.common`), a greedy incumbent by coverage
                    per cost; the LP relaxation (HiGHS presolve off) bounds the optimum, and
                    when the greedy plan is within the gap of that bound it is the answer;
                    otherwise one MIP, started from the greedy plan.
    set_cover       R1, R3, R4, one MIP; for the backup variant (LSCP-B) a second MIP that
                    maximises doubly covered demand within the first stage's least spend.
"""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
from pyomo.common.collections import ComponentMap

from allocator.models.location.common import Limits, reduce_cover, values
from allocator.models.location.covering import (CoverInput, PreparedCover, SetCoverArrays, backup_open, backup_problem,
                                                build_set_cover_model, coverage_start, double_cover_weight, flatten_cover,
                                                greedy_value, prepare_cover, unflatten_open)
from allocator.solving.solve import Persistent, SolveOptions, relative_gap

from .common import DEFAULT_GAP, Clock, Outcome


# --- maximal covering -----------------------------------------------------------------------

def maximal_cover(inputs: list[CoverInput], spend: float, counts: list[float], options: SolveOptions,
                  clock: Clock) -> tuple[Outcome, PreparedCover]:
    t0 = time.perf_counter()
    prep = prepare_cover(inputs, spend, counts)
    if not prep.feasible:
        clock.build_s += time.perf_counter() - t0
        return Outcome("infeasible", [], details={"reason": "fixed_sites_exceed_limits", "spend_room": prep.spend_room}), prep
    flat, blocks = prep.flat, prep.blocks
    details = {"reductions": [b.stats for b in blocks], "greedy_objective": greedy_value(flat, prep.chosen)}
    if len(flat["sites"].cost) == 0:                  # the reductions decided everything
        clock.build_s += time.perf_counter() - t0
        value = flat["coverage"].constant
        return Outcome("optimal", [b.fixed.copy() for b in inputs], value, value, 0.0, details), prep
    model = prep.model()
    start = coverage_start(model, flat, prep.chosen)
    clock.build_s += time.perf_counter() - t0
    persistent = Persistent()             # one hand-over for the LP bound and the MIP after it
    proof = _greedy_within_gap(model, prep, details, options, clock, persistent)
    if proof is not None:
        return proof, prep
    result = clock.run(model, options, start, persistent=persistent, stage="maximal cover from the greedy plan")
    t1 = time.perf_counter()
    if result.has_solution:
        opened = unflatten_open(inputs, blocks, values(model.site_open) > 0.5)
        outcome = Outcome(result.status, opened, result.objective, result.bound, result.gap, details)
    elif result.status == "time_limit":               # HiGHS kept nothing: the greedy plan stands
        details["fallback"] = "greedy"
        value = details["greedy_objective"]
        outcome = Outcome("time_limit", unflatten_open(inputs, blocks, prep.chosen), value, result.bound,
                          relative_gap(value, result.bound), details)
    else:
        outcome = Outcome(result.status, [], None, result.bound, None, details)
    clock.extract_s += time.perf_counter() - t1
    return outcome, prep


def _greedy_within_gap(model, prep: PreparedCover, details: dict, options: SolveOptions, clock: Clock,
                       persistent: Persistent) -> Outcome | None:
    """The LP relaxation's optimum bounds the plan's coverage from above; when the greedy
    plan is within the requested gap of it, that is a proof and no branch and bound is needed.

    HiGHS's presolve is switched off for this LP: on a budget row over thousands of sites
    its aggregator and singleton-column stuffing took minutes, the simplex under a second.
    """
    target = options.gap if options.gap is not None else DEFAULT_GAP
    lp = clock.run(model, replace(options, gap=None), highs_options={"presolve": "off"}, persistent=persistent, relax=True,
                   stage="LP bound")
    if lp.status != "optimal" or lp.objective is None:
        return None
    details["lp_bound"] = lp.objective
    value = details["greedy_objective"]
    bound = max(lp.objective, value)
    gap = relative_gap(value, bound)
    if gap is None or gap > target + 1e-12:
        return None
    details["proof"] = "greedy plan within the gap of the LP bound"
    return Outcome("optimal", unflatten_open(prep.inputs, prep.blocks, prep.chosen), value, bound, gap, details)


# --- set covering and backup ------------------------------------------------------------------

def set_cover(inputs: list[CoverInput], spend: float, backup: bool, options: SolveOptions, clock: Clock,
              count: float = np.inf) -> Outcome:
    """Least spend covering every coverable node; with `backup`, then most doubly covered weight. `count`:
    the most new sites (count weight) each block may open."""
    t0 = time.perf_counter()
    ones = [replace(b, weights=np.ones(b.pairs.n_nodes)) for b in inputs]
    blocks = [reduce_cover(b.weights, b.pairs, b.cost, b.count, b.fixed, fold=False) for b in ones]
    fixed_spend = sum(float(b.cost[b.fixed].sum()) for b in inputs)
    flat = flatten_cover(blocks)
    if len(flat["weight"]) == 0:              # fixed sites already cover every coverable node
        clock.build_s += time.perf_counter() - t0
        opened = [b.fixed.copy() for b in inputs]
        details = {"reductions": [b.stats for b in blocks], "least_spend": fixed_spend}
        value = double_cover_weight(inputs, opened) if backup else fixed_spend
        if backup and not clock.out_of_time():
            return _backup_stage(inputs, opened, fixed_spend, options, clock, details, count)
        return Outcome("optimal" if fixed_spend <= spend + 1e-9 else "infeasible", opened, value, value, 0.0, details)
    cover = SetCoverArrays(flat["pairs"].indptr, flat["pairs"].site, np.ones(len(flat["weight"])),
                           np.zeros(len(flat["weight"]), bool), flat["weight"], fixed_spend)
    counts = None if not np.isfinite(count) else np.full(len(inputs), float(count))
    model = build_set_cover_model(flat["sites"], cover, Limits(spend - fixed_spend, counts), backup=False)
    clock.build_s += time.perf_counter() - t0
    first = clock.run(model, options, stage="least spend covering every grid")
    if not first.has_solution:
        return Outcome(first.status, [], None, first.bound, None, {"stage": "cover"})
    picked = values(model.site_open) > 0.5
    opened = unflatten_open(inputs, blocks, picked)
    least = float(sum(b.cost[o].sum() for b, o in zip(inputs, opened)))
    details = {"reductions": [b.stats for b in blocks], "least_spend": least, "least_spend_bound": first.bound,
               "least_spend_gap": first.gap}
    if not backup:
        return Outcome(first.status, opened, least, first.bound, first.gap, details)
    if clock.out_of_time():
        return Outcome("time_limit", opened, double_cover_weight(inputs, opened), None, None, details)
    return _backup_stage(inputs, opened, least, options, clock, details, count)


def _backup_stage(inputs: list[CoverInput], first_open: list[np.ndarray], least: float, options: SolveOptions,
                  clock: Clock, details: dict, count: float = np.inf) -> Outcome:
    t0 = time.perf_counter()
    problem = backup_problem(inputs, first_open)
    room = least - problem.fixed_spend
    if problem.n_sites == 0 or len(problem.cover.need) == 0:          # nothing left to decide
        clock.build_s += time.perf_counter() - t0
        value = double_cover_weight(inputs, first_open)
        return Outcome("optimal", first_open, value, value, 0.0, details)
    counts = None if not np.isfinite(count) else np.full(len(inputs), float(count))
    model = build_set_cover_model(problem.sites, problem.cover, Limits(room * (1 + 1e-9) + 1e-9, counts), backup=True)
    start = ComponentMap((model.site_open[j], float(v)) for j, v in enumerate(problem.start))
    clock.build_s += time.perf_counter() - t0
    second = clock.run(model, options, start, stage="backup cover within the least spend")
    if not second.has_solution:
        return Outcome(second.status, first_open, double_cover_weight(inputs, first_open), None, None, details)
    picked = values(model.site_open) > 0.5
    opened = backup_open(inputs, problem.free, picked)
    value = double_cover_weight(inputs, opened)
    return Outcome(second.status, opened, value, second.bound, relative_gap(value, second.bound), details)
