"""p-median by the radius formulation on each node's nearest sites, widened where needed.

A truncated model (formulation 3 of `models.location.median` on a prefix of every node's
sorted sites) is a relaxation: its last kept level is charged only up to the first distance
left out, so every plan costs at least as much in truth as in the model, and the model's
bound is valid for the whole problem. A plan whose every node is served within its kept
prefix costs exactly what the model says. So:

    1. start from the greedy plan's radii, times `INITIAL_FACTOR` (every node keeps its
       sites up to about twice as far into its list as the greedy plan's nearest open one);
    2. LP rounds: solve the truncated LP; widen every node whose boundary level is used
       (z_ℓ > 0), until none is — then the truncated LP's optimum is feasible for the full
       LP at the same value, so the two LPs agree. Each round starts from the previous
       round's optimal basis (below);
    3. the settled LP's optimum, rounded (largest y* first), is a plan; when its true cost is
       within the gap of the LP bound, it is the answer (an integral y* always is);
    4. MIP rounds, the first on the settled LP's own model with y made binary: solve; widen
       the nodes served beyond their prefix; stop once the best true cost found is within
       the gap of the best bound (a proof), or no node needs widening.

How fast rows grow changes only the number of rounds, never the answer: every bound used
is a truncated model's, and every cost is recomputed from the plan.

Warm starts between the LP rounds (`warm_lp`). Between two rounds the radius LP
(formulation 3 of `models.location.median`) changes only by levels appended to some rows:
every kept level keeps its distance, its objective coefficient w_i (D_next − D_ℓ) (the first
level beyond a truncated row is the next level once the row grows) and its place in its row.
So the previous optimal basis carries over:

    old columns and rows       their previous status (matched by site, by (node, ordinal of
                               the level in its row), and by name and index otherwise)
    new level columns z_ℓ      nonbasic at their lower bound 0
    new level rows             basic (their slack)

This is a basis of the new LP (one more basic variable per added row). It stays dual
feasible: a new row's dual is 0 (its slack is basic), so a new column's reduced cost is its
cost, which is ≥ 0 at its lower bound. HiGHS's dual simplex starts from it instead of from
scratch. A basis only chooses where the simplex starts, never the optimum it proves; when
the levels do not match as described, no basis is given.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import highspy
import numpy as np
import pyomo.environ as pyo

from allocator.models.location.common import Levels, Limits, Pairs, Rows, rows_state, snap, values
from allocator.models.location.heuristics import greedy_median, greedy_median_joint, nearest_open
from allocator.models.location.median import MedianInput, RadiusArrays, build_radius_model, radius_arrays, radius_start
from allocator.solving.highs_model import CompiledModel, compile_model
from allocator.solving.solve import Persistent, SolveOptions, relative_gap

from .common import DEFAULT_GAP, Clock, Outcome

INITIAL_FACTOR = 2.0        # rows start at this multiple of the pairs up to the greedy plan's nearest open site
WIDEN_MARGIN = 1.5          # rows grow to this multiple of where their LP site mass reaches one


def p_median(inputs: list[MedianInput], spend: float, exact: bool, options: SolveOptions, clock: Clock) -> Outcome:
    t0 = time.perf_counter()
    if any(np.any(b.pairs.degree[b.weights > 0] == 0) for b in inputs):
        clock.build_s += time.perf_counter() - t0
        return Outcome("infeasible", [], details={"reason": "node_without_site"})
    best = _greedy(inputs, spend, exact)
    states = []
    for b, greedy in zip(inputs, best):
        rows = rows_state(b.pairs, b.required)
        rows.full[b.weights <= 0] = 0          # nodes without demand need no levels
        _widen_to(rows, b.pairs, greedy, np.ones(b.pairs.n_nodes, bool), double=False)
        rows.keep = snap(rows, b.pairs, np.ceil(INITIAL_FACTOR * rows.keep).astype(np.int64))
        states.append(rows)
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
        if clock.out_of_time() or (rounds > 0 or last is None) and not _time_to_build(clock, states):
            status = "time_limit"       # no time left to build a MIP: the best plan so far stands
            break
        rounds += 1
        model, arrays, slices = _mip_model(inputs, states, spend, exact, last if rounds == 1 else None, clock)
        result = clock.run(model, options, radius_start(model, inputs, states, best_open) if best_open is not None else None,
                           stage=f"MIP round {rounds}")
        status = result.status
        if not result.has_solution:
            break
        picked = values(model.site_open) > 0.5
        opened = [picked[s] | b.required for s, b in zip(slices, inputs)]     # a required site in no row has no value
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


BUILD_S_PER_LEVEL = 5e-5     # seconds to build and hand over one level of the radius model (about 45 s for
                             # the bundled city's 1.1 million on a busy 2-core machine)


def _time_to_build(clock: Clock, states: list[Rows]) -> bool:
    """Whether the time left covers building the next model on `states`' rows (the best plan so far
    stands otherwise)."""
    return clock.time_to_build(float(sum(st.keep.sum() for st in states)), BUILD_S_PER_LEVEL)


def _greedy(inputs: list[MedianInput], spend: float, exact: bool) -> list[np.ndarray]:
    """The better of two greedy plans: block by block, each adding the site that saves most while
    the spend left allows; and, when the spend is limited, across blocks by saving per unit of
    spend (`greedy_median_joint`). Only a starting plan: every bound is the models'."""
    room = spend - sum(float(b.cost[b.required].sum()) for b in inputs)
    n_new = [b.n_open - float(b.count[b.required].sum()) if np.isfinite(b.n_open) else b.pairs.n_sites for b in inputs]
    plans = []
    for b, k in zip(inputs, n_new):
        plans.append(greedy_median(b.pairs, b.weights, b.required, k, b.cost, room))
        room -= float(b.cost[plans[-1] & ~b.required].sum())
    if not np.isfinite(spend):
        return plans
    joint = greedy_median_joint([(b.pairs, b.weights, b.required, b.cost, k) for b, k in zip(inputs, n_new)],
                                spend - sum(float(b.cost[b.required].sum()) for b in inputs))
    if _within_limits(inputs, joint, spend, exact) and (not _within_limits(inputs, plans, spend, exact)
                                                         or _median_value(inputs, joint) < _median_value(inputs, plans)):
        return joint
    return plans


def _widen_by_relaxation(inputs: list[MedianInput], states: list[Rows], spend: float, exact: bool,
                         options: SolveOptions, clock: Clock, max_rounds: int = 30) -> tuple[float, int, _LastLp | None]:
    """Widen rows until the truncated LP relaxation uses no row's boundary level.

    The truncated LP is a relaxation of the full LP; when its optimum leaves every
    boundary z at 0 it is feasible for the full LP at the same value, so the two optima
    agree. Returns that value (a lower bound), the number of LP rounds and, when the rows
    settled, the last LP (its model then serves the first MIP round). Each round's LP
    starts from the previous round's optimal basis (`warm_lp`).

    A row whose boundary is used is widened to where its LP site mass reaches one
    (Σ_{j among its first k sites} y*_j ≥ 1, so that y* itself would leave the new boundary
    at 0), with a margin (`WIDEN_MARGIN`) for y* moving, and at least doubled: the rule
    only decides how fast rows grow, never the answer.
    """
    lower, rounds, warm = -math.inf, 0, None
    lp_options = replace(options, gap=None)
    while rounds < max_rounds and not clock.out_of_time() and _time_to_build(clock, states):
        rounds += 1
        t0 = time.perf_counter()
        sites, arrays, slices = radius_arrays(inputs, states)
        model = build_radius_model(sites, arrays, _limits(inputs, spend, exact), relaxed=True)
        clock.build_s += time.perf_counter() - t0
        warm, handover_s = warm_lp(model, arrays.levels, warm)
        clock.handover_s += handover_s
        result = clock.run(model, lp_options, persistent=warm.persistent, stage=f"LP round {rounds}")
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


# --- warm starts between LP rounds ---------------------------------------------------------

LEVEL_VAR, LEVEL_ROW = "farther_than_level", "farther_unless_open_within_level"


@dataclass
class WarmLp:
    """One round's LP: its Pyomo model, the HiGHS model it was compiled into, and its levels."""

    model: pyo.ConcreteModel
    persistent: Persistent
    levels: Levels


def warm_lp(model: pyo.ConcreteModel, levels: Levels, previous: WarmLp | None) -> tuple[WarmLp, float]:
    """Compile `model` and give it the basis carried over from `previous`; returns it and the seconds taken."""
    t0 = time.perf_counter()
    persistent = Persistent()
    persistent.compiled = compile_model(model)
    if previous is not None:
        _carry_basis(previous, model, levels, persistent.compiled)
    return WarmLp(model, persistent, levels), time.perf_counter() - t0


def level_map(old: Levels, new: Levels) -> np.ndarray | None:
    """Index in `new` of every level of `old` (same node, same ordinal in its row), or None when
    some old level has no counterpart of equal distance."""
    if len(old) == 0:
        return np.zeros(0, np.int64)
    old_first, old_ord = _ordinals(old)
    new_first, _ = _ordinals(new)
    n_rows = int(max(old.row.max(), new.row.max() if len(new) else 0)) + 1
    first_of = np.full(n_rows, -1, np.int64)
    first_of[new.row[new_first]] = np.flatnonzero(new_first)
    where = first_of[old.row] + old_ord
    ok = (first_of[old.row] >= 0) & (where < len(new))
    if not ok.all():
        return None
    same = (new.row[where] == old.row) & np.isclose(new.value[where], old.value, rtol=1e-12, atol=0.0)
    return where if same.all() else None


def _ordinals(levels: Levels) -> tuple[np.ndarray, np.ndarray]:
    """Whether each level is the first of its row, and its ordinal within the row."""
    n = len(levels)
    first = np.ones(n, bool)
    first[1:] = levels.row[1:] != levels.row[:-1]
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    return first, np.arange(n) - start


def _carry_basis(previous: WarmLp, model: pyo.ConcreteModel, levels: Levels, compiled: CompiledModel) -> None:
    old = previous.persistent.compiled
    mapping = level_map(previous.levels, levels)
    basis = old.highs.getBasis() if old is not None else None
    if mapping is None or basis is None or not basis.valid:
        return
    col = np.full(len(compiled.columns), int(_LOWER))
    old_col = np.array([int(s) for s in basis.col_status])
    for name in _names(previous.model, pyo.Var):
        old_j, new_j = _columns(old, previous.model, name), _columns(compiled, model, name)
        if name == LEVEL_VAR:
            new_j = new_j[mapping]
        if old_j is None or new_j is None or len(old_j) != len(new_j):
            return
        col[new_j] = old_col[old_j]
    old_blocks, new_blocks = _row_blocks(previous.model), _row_blocks(model)
    row = np.full(sum(n for _, n in new_blocks.values()), int(_BASIC))
    old_row = np.array([int(s) for s in basis.row_status])
    for name, (old_off, old_n) in old_blocks.items():
        new_off, new_n = new_blocks.get(name, (0, -1))
        target = new_off + (mapping if name == LEVEL_ROW else np.arange(old_n))
        if name != LEVEL_ROW and new_n != old_n:
            return
        row[target] = old_row[old_off:old_off + old_n]
    carried = highspy.HighsBasis()
    carried.col_status = [_STATUS[s] for s in col.tolist()]
    carried.row_status = [_STATUS[s] for s in row.tolist()]
    carried.valid = True
    compiled.highs.setBasis(carried)


_STATUS = {int(s): s for s in highspy.HighsBasisStatus.__members__.values()}
_LOWER, _BASIC = highspy.HighsBasisStatus.kLower, highspy.HighsBasisStatus.kBasic


def _names(model: pyo.ConcreteModel, kind) -> list[str]:
    return [c.local_name for c in model.component_objects(kind, active=True if kind is pyo.Constraint else None)]


def _columns(compiled: CompiledModel, model: pyo.ConcreteModel, name: str) -> np.ndarray | None:
    """HiGHS column of every variable of component `name`, in index order (None if one has none)."""
    cols = [compiled.index.get(id(v)) for v in getattr(model, name).values()]
    return None if any(c is None for c in cols) else np.asarray(cols, dtype=np.int64)


def _row_blocks(model: pyo.ConcreteModel) -> dict[str, tuple[int, int]]:
    """(first HiGHS row, number of rows) of every constraint component: the compiler takes active
    constraints as Pyomo lists them, component by component, each in index order."""
    blocks, off = {}, 0
    for con in model.component_objects(pyo.Constraint, active=True):
        n = sum(1 for _ in con.values())
        blocks[con.local_name] = (off, n)
        off += n
    return blocks
