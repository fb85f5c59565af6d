"""Generic facility-location solvers on arrays: p-median, CFLP, MCLP, LSCP(-B), p-center.

The same procedures serve the city model (`allocator.solving.facilities`) and, through these
functions, the comparisons with OR-Library and spopt. Nodes i (demand, n of them) and sites
j (m); distances come as a dense (n × m) array, where inf/nan means unreachable, or as a
scipy sparse matrix whose stored entries are the reachable pairs (a stored 0 is a distance
0). Reach matrices are boolean (dense or sparse; nonzero = reachable). Only reachable pairs
ever enter a model.

    solve_pmedian   min Σ_i w_i d_{i,a(i)},  Σ_j y_j = p, required sites open;
                    capacitated: Σ_{i: a(i)=j} q_i ≤ K_j y_j with single-source assignment
    solve_cflp      min Σ_j f_j y_j + Σ_ij c_ij x_ij,  Σ_j x_ij = 1, Σ_i q_i x_ij ≤ K_j y_j,
                    x_ij ≤ y_j (strong linking); c_ij is the cost of serving ALL of i's demand
                    from j; x_ij split (default) or single-source
    solve_mclp      max Σ_i w_i z_i,  z_i ≤ Σ_{j∈N_i} y_j, z_i ≤ 1;  Σ_j c_j y_j ≤ B and/or
                    Σ_j y_j ≤ p (cost and count include fixed-open sites, as in spopt);
                    partial coverage: z_i is the best level a_ij of an open site
    solve_lscp      min Σ_j c_j y_j,  Σ_{j∈N_i} y_j ≥ 1 for every coverable i;  backup
                    (LSCP-B, as spopt): then max Σ_i w_i u_i, Σ_{j∈N_i} y_j ≥ 1 + u_i for nodes
                    with two or more sites in reach, within the least spend found first
    solve_pcenter   min max_i w_i d_{i,a(i)},  Σ_j y_j = p

Formulations are in `models.location` (reductions and heuristics in its `common` module,
one module per family), procedures in `allocator.solving.location` (`covering`, `median`,
`assignment` for the capacitated models, `center`).
Assignment variables are continuous where integrality follows (uncapacitated p-median,
split-demand CFLP); the p-median and assignment models start from each node's nearest sites
and widen only where a plan needs it, stopping with a proof of optimality (see there).

Every result is a `LocationResult`; objective values are recomputed from the open sites
with numpy, not taken from the solver.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from allocator.models.location.assignment import AssignInput
from allocator.models.location.common import Pairs, as_mask, distance_pairs, level_pairs
from allocator.models.location.heuristics import nearest_open
from allocator.models.location.covering import CoverInput
from allocator.models.location.median import MedianInput
from allocator.solving.solve import SolveOptions

from .assignment import assignment
from .center import p_center
from .common import Clock, Outcome
from .covering import maximal_cover, set_cover
from .median import p_median

__all__ = ["LocationResult", "solve_pmedian", "solve_cflp", "solve_mclp", "solve_lscp", "solve_pcenter"]


@dataclass
class LocationResult:
    """The answer of a generic solver (objective recomputed from `open`)."""

    open: np.ndarray                          # bool per site
    objective: float | None
    status: str                               # optimal | time_limit | infeasible | error
    gap: float | None
    assignment: np.ndarray | None             # site index per node, -1 if none
    covered: np.ndarray | None                # coverage level per node (covering models)
    timings: dict                             # build_s, handover_s, solve_s, extract_s
    details: dict = field(default_factory=dict)


def _vector(value, n: int, default: float, name: str) -> np.ndarray:
    if value is None:
        return np.full(n, float(default))
    a = np.asarray(value, dtype=float).ravel()
    if a.shape != (n,):
        raise ValueError(f"{name} must hold {n} values, not {a.shape[0]}")
    return a


def _result(outcome: Outcome, clock: Clock, m: int, assignment=None, covered=None, objective=None) -> LocationResult:
    opened = outcome.open[0] if outcome.open else np.zeros(m, dtype=bool)
    value = objective if (objective is not None and outcome.open) else outcome.objective
    return LocationResult(opened, value if outcome.open else None, outcome.status, outcome.gap if outcome.open else None,
                          assignment, covered, clock.timings(), outcome.details)


def _coverage(pairs: Pairs, opened: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best open level per node (pairs sorted by level, highest first) and its site."""
    site, level = nearest_open(pairs, opened)
    return np.where(np.isfinite(level), level, 0.0), site


def solve_pmedian(weights, dist, p, capacity=None, demand=None, required=None,
                  solve_options: SolveOptions = SolveOptions()) -> LocationResult:
    """p-median (capacitated when `capacity` is given; `demand` q defaults to `weights`)."""
    clock = Clock(solve_options.time_limit)
    t0 = time.perf_counter()
    pairs = distance_pairs(dist)
    n, m = pairs.n_nodes, pairs.n_sites
    w = _vector(weights, n, 1.0, "weights")
    req = as_mask(required, m, "required")
    ones = np.ones(m)
    clock.build_s += time.perf_counter() - t0
    if capacity is None:
        outcome = p_median([MedianInput(w, pairs, req, ones, ones, float(p))], np.inf, True, solve_options, clock)
    else:
        q = _vector(demand if demand is not None else weights, n, 1.0, "demand")
        block = AssignInput(pairs, pairs.value[:] * w[pairs.rows()], q, _vector(capacity, m, np.inf, "capacity"),
                            np.zeros(m), req, ones, ones, float(p))
        outcome = assignment([block], np.inf, True, True, solve_options, clock)
    return _assigned_result(outcome, clock, pairs, w, m)


def _assigned_result(outcome: Outcome, clock: Clock, pairs: Pairs, w: np.ndarray, m: int) -> LocationResult:
    t0 = time.perf_counter()
    if not outcome.open:
        return _result(outcome, clock, m)
    assigned = outcome.details.pop("assignment", None)
    if assigned is None:
        assigned = [nearest_open(pairs, outcome.open[0])[0]]
    site = assigned[0]
    dist = _pair_value(pairs, site)
    used = w > 0
    value = float(w[used] @ dist[used])
    clock.extract_s += time.perf_counter() - t0
    return _result(outcome, clock, m, assignment=site, objective=value)


def _pair_value(pairs: Pairs, site: np.ndarray) -> np.ndarray:
    """Value of pair (i, site_i) per node (inf when the node has no such pair)."""
    rows = pairs.rows()
    out = np.full(pairs.n_nodes, np.inf)
    hit = pairs.site == site[rows]
    np.minimum.at(out, rows[hit], pairs.value[hit])
    return out


def solve_cflp(demand, capacity, fixed_cost, assign_cost, single_source=False,
               solve_options: SolveOptions = SolveOptions()) -> LocationResult:
    """Capacitated fixed-charge location (OR-Library `cap` convention for `assign_cost`)."""
    clock = Clock(solve_options.time_limit)
    t0 = time.perf_counter()
    pairs = distance_pairs(assign_cost)
    n, m = pairs.n_nodes, pairs.n_sites
    q = _vector(demand, n, 1.0, "demand")
    f = _vector(fixed_cost, m, 0.0, "fixed_cost")
    block = AssignInput(pairs, pairs.value.copy(), q, _vector(capacity, m, np.inf, "capacity"), f,
                        np.zeros(m, bool), np.ones(m), np.ones(m), np.inf)
    clock.build_s += time.perf_counter() - t0
    outcome = assignment([block], np.inf, False, bool(single_source), solve_options, clock)
    if not outcome.open:
        return _result(outcome, clock, m)
    t1 = time.perf_counter()
    shares = outcome.details.pop("shares", None)
    site = outcome.details.pop("assignment", [nearest_open(pairs, outcome.open[0])[0]])[0]
    value = float(f[outcome.open[0]].sum()) + (float(shares[0] @ pairs.value) if shares is not None else 0.0)
    clock.extract_s += time.perf_counter() - t1
    return _result(outcome, clock, m, assignment=site, objective=value)


def solve_mclp(weights, reach, cost=None, budget=None, p=None, fixed_open=None, closable=None, partial=None,
               solve_options: SolveOptions = SolveOptions()) -> LocationResult:
    """Maximal covering under a budget and/or a facility count (see module docstring).

    `fixed_open` sites are open and stay open unless also `closable` (then closing saves
    their cost); `partial` gives coverage levels a_ij ∈ (0, 1] on the reachable pairs. With
    `p`, unused sites are added afterwards (cheapest first, within the budget) until p are
    open, as Σ_j y_j = p asks; coverage never falls by opening more.
    """
    clock = Clock(solve_options.time_limit)
    t0 = time.perf_counter()
    pairs = level_pairs(reach, partial)
    n, m = pairs.n_nodes, pairs.n_sites
    w = _vector(weights, n, 1.0, "weights")
    c = _vector(cost, m, 1.0, "cost")
    fixed = as_mask(fixed_open, m, "fixed_open") & ~as_mask(closable, m, "closable")
    spend = np.inf if budget is None else float(budget)
    count = np.inf if p is None else float(p)
    clock.build_s += time.perf_counter() - t0
    outcome, _ = maximal_cover([CoverInput(w, pairs, c, np.ones(m), fixed)], spend, [count], solve_options, clock)
    if not outcome.open:
        return _result(outcome, clock, m)
    t1 = time.perf_counter()
    if p is not None:
        _pad_to_count(outcome.open[0], c, spend, int(p))
    covered, site = _coverage(pairs, outcome.open[0])
    value = float(w @ covered)
    clock.extract_s += time.perf_counter() - t1
    return _result(outcome, clock, m, assignment=site, covered=covered, objective=value)


def _pad_to_count(is_open: np.ndarray, cost: np.ndarray, spend: float, p: int) -> None:
    room = spend - float(cost[is_open].sum())
    for j in np.argsort(cost, kind="stable"):
        if int(is_open.sum()) >= p:
            break
        if not is_open[j] and cost[j] <= room + 1e-9:
            is_open[j] = True
            room -= cost[j]


def solve_lscp(reach, cost=None, backup=False, fixed_open=None, solve_options: SolveOptions = SolveOptions(),
               weights=None) -> LocationResult:
    """Set covering (objective: least spend); with `backup`, LSCP-B (objective: doubly covered
    weight of nodes with two or more sites in reach; `weights` default 1, as spopt counts nodes).
    `details['least_spend']` holds the first stage's spend."""
    clock = Clock(solve_options.time_limit)
    t0 = time.perf_counter()
    pairs = level_pairs(reach)
    n, m = pairs.n_nodes, pairs.n_sites
    c = _vector(cost, m, 1.0, "cost")
    w = _vector(weights, n, 1.0, "weights")
    fixed = as_mask(fixed_open, m, "fixed_open")
    clock.build_s += time.perf_counter() - t0
    outcome = set_cover([CoverInput(w, pairs, c, np.ones(m), fixed)], np.inf, bool(backup), solve_options, clock)
    if not outcome.open:
        return _result(outcome, clock, m)
    covered, site = _coverage(pairs, outcome.open[0])
    hits = np.bincount(pairs.rows(), weights=outcome.open[0][pairs.site].astype(float), minlength=n)
    outcome.details["cover_count"] = hits
    value = float(w[(hits >= 2) & (pairs.degree >= 2)].sum()) if backup else float(c[outcome.open[0]].sum())
    return _result(outcome, clock, m, assignment=site, covered=covered, objective=value)


def solve_pcenter(dist, p, weights=None, solve_options: SolveOptions = SolveOptions()) -> LocationResult:
    """p-center: minimise the largest (weighted) distance from a node to its nearest open site."""
    clock = Clock(solve_options.time_limit)
    t0 = time.perf_counter()
    pairs = distance_pairs(dist)
    n, m = pairs.n_nodes, pairs.n_sites
    w = _vector(weights, n, 1.0, "weights")
    clock.build_s += time.perf_counter() - t0
    ones = np.ones(m)
    outcome = p_center([MedianInput(w, pairs, np.zeros(m, bool), ones, ones, float(p))], np.inf, True, solve_options, clock)
    if not outcome.open:
        return _result(outcome, clock, m)
    site, dist_open = nearest_open(pairs, outcome.open[0])
    used = w > 0
    value = float((w[used] * dist_open[used]).max()) if used.any() else 0.0
    return _result(outcome, clock, m, assignment=site, objective=value)
