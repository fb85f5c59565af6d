"""Procedure for capacitated assignment (capacitated p-median, CFLP).

    assignment  formulation 5 of `models.location.assignment` on each node's cheapest arcs. The
                slack u_i takes demand left to the arcs outside the model at the least cost
                beyond them, so every truncated model is a relaxation and its bound is valid;
                a plan that uses no slack is feasible for the whole problem and costs exactly
                the model's value. A plan that uses slack is completed (`complete_assignment`:
                the same open sites, each slack node's demand sent to open sites with capacity
                left, cheapest first) into a plan of the whole problem whose cost is recomputed,
                so every plan HiGHS finds, also the last one at the time limit, can be the
                answer. Nodes that use slack get twice as many arcs, and the loop stops once
                the best plan is within the gap of the best bound.

When a block's pairs are themselves each node's nearest sites only (`AssignInput.tail_cost`
finite), a node that uses slack with every pair in the model gets longer pairs from `widen`
(the caller's: e.g. `models.facilities_data.widen_rows`), at least up to the nearest site the
last plan opened, so that plan is completed at once; its slack costs the tail meanwhile, so the
bound stays valid for the problem over every site, and infeasibility is proven too.

Before the first model, the sites that must stay open are tried alone (`_kept_sites_plan`):
when they hold every node (each sent to the cheapest one with room; a node with no room among
its nearest sites gets longer pairs, as above), that plan is the first incumbent and HiGHS's
start, so a run cut short before HiGHS finds a plan still has one.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

from allocator.models.location.assignment import (AssignInput, assigned_sites, assignment_arrays, assignment_cost,
                                                  build_assignment_model, complete_assignment, fill_block, idle_nodes, plan_shares, plan_start,
                                                  shares_on, uncapacitated_shares)
from allocator.models.location.common import Limits, Rows, rows_state, snap, values
from allocator.solving.solve import SolveOptions, relative_gap

from .common import DEFAULT_GAP, Clock, Outcome

INITIAL_ARCS = 50_000        # assignment models start with about this many arcs
BUILD_S_PER_ARC = 5e-5       # seconds to build and hand over one arc (about 125 s for the bundled city's 2.4
                             # million on a busy 2-core machine): a model the time left cannot cover is not begun

Widen = Callable[[int, np.ndarray, np.ndarray], AssignInput]   # (block, nodes to widen, open sites) -> longer pairs


def assignment(inputs: list[AssignInput], spend: float, exact: bool, single_source: bool, options: SolveOptions,
               clock: Clock, widen: Widen | None = None) -> Outcome:
    t0 = time.perf_counter()
    inputs = list(inputs)
    if any(np.any((b.pairs.degree == 0) & (b.demand > 0) & ~_open_end(b)) for b in inputs):
        clock.build_s += time.perf_counter() - t0
        return Outcome("infeasible", [], details={"reason": "node_without_site"})
    kept, inputs = _kept_sites_plan(inputs, single_source, widen)
    states = []
    for b in inputs:
        st = rows_state(b.pairs, np.zeros(b.pairs.n_sites, bool))
        per_node = max(10, math.ceil(INITIAL_ARCS / max(1, b.pairs.n_nodes)))
        st.keep = st.full.copy() if len(b.pairs.site) <= INITIAL_ARCS else snap(st, b.pairs, np.full(b.pairs.n_nodes, per_node))
        states.append(st)
    clock.build_s += time.perf_counter() - t0
    target = options.gap if options.gap is not None else DEFAULT_GAP
    idle = np.concatenate([idle_nodes(b) for b in inputs]) if inputs else np.zeros(0, bool)
    upper, lower, best, last, status, rounds = math.inf, -math.inf, None, None, "error", 0
    repaired, widened = False, 0
    if kept is not None:                # the sites that stay open hold everyone: a plan before any model
        upper, best, last = assignment_cost(inputs, *kept), kept, kept
    while True:
        arcs_next = float(sum(st.keep.sum() for st in states))
        if clock.out_of_time() or (best is not None and not clock.time_to_build(arcs_next, BUILD_S_PER_ARC)):
            status = "time_limit"       # no time left to build the next model: the best plan so far stands
            break
        rounds += 1
        t1 = time.perf_counter()
        sites, arcs, parts = assignment_arrays(inputs, states, single_source)
        count = np.array([b.n_open for b in inputs], float)
        model = build_assignment_model(sites, arcs, Limits(spend, count, exact))
        start = plan_start(model, inputs, parts, *last) if last is not None else None
        clock.build_s += time.perf_counter() - t1
        result = clock.run(model, options, start, stage=f"assignment round {rounds}")
        status = result.status
        if not result.has_solution:
            break
        t2 = time.perf_counter()
        x, u, y = values(model.assigned), values(model.unassigned), values(model.site_open) > 0.5
        opened, shares = plan_shares(inputs, parts, x, y)
        shares = uncapacitated_shares(inputs, opened, shares)
        slack = (u > 1e-6) & ~idle
        plan = complete_assignment(inputs, opened, shares, single_source)
        if plan is not None:
            cost = assignment_cost(inputs, opened, plan)        # recomputed from the plan, whatever x was
            if cost < upper - 1e-9:
                upper, best, repaired = cost, (opened, plan), bool(slack.any())
        last = (opened, plan if plan is not None else shares)
        clock.extract_s += time.perf_counter() - t2
        if result.bound is not None:
            lower = max(lower, result.bound)
        if best is not None and relative_gap(upper, lower) <= target + 1e-12:
            status = "optimal"
            break
        if not slack.any():
            break
        stop = status != "optimal" or clock.out_of_time()
        if stop and best is not None:
            status = "time_limit"
            break
        t3 = time.perf_counter()
        # out of time without a plan: rows still reach the open sites, so the last plan is completed
        grown = _grow(inputs, states, slack, widen, opened, every=stop)
        if grown is None:               # slack on rows no one can widen: no proof either way
            status = "time_limit" if best is not None or stop else "error"
            break
        for k, new in grown.items():
            best = _moved(best, k, inputs[k], new)
            last = _moved(last, k, inputs[k], new)
            inputs[k] = new
            widened += 1
        if grown and plan is None:      # the longer rows reach the plan's open sites: complete it now
            plan = complete_assignment(inputs, last[0], last[1], single_source)
            if plan is not None and assignment_cost(inputs, last[0], plan) < upper - 1e-9:
                upper, best, repaired, last = assignment_cost(inputs, last[0], plan), (last[0], plan), True, (last[0], plan)
        clock.build_s += time.perf_counter() - t3
        if stop:
            status = "time_limit"
            break
    details = {"rounds": rounds, "model_arcs": int(sum(st.keep.sum() for st in states)),
               "all_arcs": int(sum(len(b.pairs.site) for b in inputs)), "repaired": repaired}
    if widened:
        details["widened_pairs"] = widened
    if best is None:
        return Outcome(status if status != "optimal" else "error", [], None, lower if np.isfinite(lower) else None, None, details)
    opened, plan = best
    details.update(assignment=assigned_sites(inputs, plan), shares=plan)
    bound = lower if np.isfinite(lower) else None
    return Outcome(status, opened, upper, bound, relative_gap(upper, bound), details)


def _kept_sites_plan(inputs: list[AssignInput], single_source: bool, widen: Widen | None):
    """(open sites, shares) with only the required sites open and every node sent to the cheapest
    of them with room (`fill_block`), or None when they cannot hold everyone: a plan HiGHS starts
    from, and the answer when it finds none of its own in the time given. A node that finds no room
    among its pairs while they leave sites out gets longer pairs (`widen`) and the block is filled
    again, until every node has room or its pairs reach every site. Returns the plan and the inputs
    (with the widened blocks)."""
    inputs = list(inputs)
    opened = [np.asarray(b.required, bool).copy() for b in inputs]
    if not all(o.any() for o, b in zip(opened, inputs) if b.demand.sum() > 0):
        return None, inputs
    shares = []
    for k, is_open in enumerate(opened):
        while True:
            b = inputs[k]
            share, stuck = fill_block(b, is_open, np.zeros(len(b.pairs.site)), single_source)
            if not len(stuck):
                break
            nodes = np.zeros(b.pairs.n_nodes, bool)
            nodes[stuck] = True
            if widen is None or not _open_end(b)[stuck].all():
                return None, inputs
            used = np.bincount(b.pairs.site, weights=b.demand[b.pairs.rows()] * share, minlength=b.pairs.n_sites)
            room = is_open & (b.capacity - used >= b.demand[stuck].min() - 1e-9)
            inputs[k] = widen(k, nodes, room if room.any() else is_open)    # rows reach a kept site with room
        shares.append(share)
    return (opened, shares), inputs


def _open_end(b: AssignInput) -> np.ndarray:
    """Per node: its pairs leave sites out (a finite tail cost)."""
    return np.zeros(b.pairs.n_nodes, bool) if b.tail_cost is None else np.isfinite(b.tail_cost)


def _grow(inputs: list[AssignInput], states: list[Rows], slack: np.ndarray, widen: Widen | None,
          opened: list[np.ndarray], every: bool = False) -> dict | None:
    """Double the kept arcs of every node that used slack; a node that already keeps all its pairs
    (with `every`, any node that used slack and whose pairs leave sites out) gets longer pairs from
    `widen` (reaching the plan's open sites `opened`). Returns the blocks replaced (None when a node
    cannot grow)."""
    grown, off = {}, 0
    for k, (b, st) in enumerate(zip(inputs, states)):
        n = b.pairs.n_nodes
        grow = slack[off:off + n]
        off += n
        stuck = grow & ((st.keep >= b.pairs.degree) | (every & _open_end(b)))
        if stuck.any():
            if widen is None or not _open_end(b)[stuck].all():
                return None
            new = widen(k, stuck, opened[k])
            wider = rows_state(new.pairs, np.zeros(new.pairs.n_sites, bool))
            wider.keep = np.minimum(st.keep, wider.full)
            states[k], st, b = wider, wider, new
            grown[k] = new
        st.keep = np.where(grow, np.maximum(st.keep, snap(st, b.pairs, 2 * st.keep)), st.keep)
    return grown


def _moved(plan, k: int, old: AssignInput, new: AssignInput):
    """A plan (open sites, shares per block) with block k's shares moved onto the new block's pairs."""
    if plan is None:
        return None
    opened, shares = plan
    shares = list(shares)
    shares[k] = shares_on(old.pairs, new.pairs, shares[k])
    return opened, shares
