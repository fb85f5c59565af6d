"""Solution procedures of the location families over one or more blocks (e.g. services).

Every HiGHS call goes through `allocator.solving.solve.solve`. Blocks share only the spend row and
have their own count rows; a procedure returns an `Outcome` with the open sites per block.

    maximal_cover   reductions R1–R5 (models.location_data), a greedy incumbent by coverage
                    per cost; the LP relaxation (HiGHS presolve off) bounds the optimum, and
                    when the greedy plan is within the gap of that bound it is the answer;
                    otherwise one MIP, started from the greedy plan.
    set_cover       R1, R3, R4, one MIP; for the backup variant (LSCP-B) a second MIP that
                    maximises doubly covered demand within the first stage's least spend.

p-median is in `models.location_median`, capacitated assignment and p-center in
`models.location_assign`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
from pyomo.common.collections import ComponentMap

from allocator.solving.solve import Persistent, SolveOptions, SolveResult, solve

from .location_blocks import CoverageArrays, Limits, SetCoverArrays, SiteArrays, build_coverage_model, build_set_cover_model
from .location_data import CoverBlock, Pairs, greedy_cover, levels_of, merge_rows, reduce_cover

DEFAULT_GAP = 1e-4
INITIAL_ARCS = 50_000        # assignment models start with about this many arcs


@dataclass
class Clock:
    """Seconds spent building, handing over, in HiGHS and extracting."""

    limit: float | None = None
    start: float = field(default_factory=time.perf_counter)
    build_s: float = 0.0
    handover_s: float = 0.0
    solve_s: float = 0.0
    extract_s: float = 0.0
    version: str = ""
    info: dict = field(default_factory=dict)

    def run(self, model, options: SolveOptions, start: dict | None = None, highs_options: dict | None = None,
            persistent: Persistent | None = None, relax: bool = False) -> SolveResult:
        remaining = self.remaining()
        result = solve(model, replace(options, time_limit=remaining), start, persistent=persistent,
                       highs_options=highs_options, relax=relax)
        self.handover_s += result.handover_s
        self.solve_s += result.solve_s
        self.version = result.solver_version
        for k, v in result.highs_info.items():
            self.info[k] = self.info.get(k, 0) + v
        return result

    def remaining(self) -> float | None:
        if self.limit is None:
            return None
        return max(0.5, self.limit - (time.perf_counter() - self.start))

    def out_of_time(self) -> bool:
        return self.limit is not None and time.perf_counter() - self.start >= self.limit

    def timings(self) -> dict:
        return {"build_s": self.build_s, "handover_s": self.handover_s, "solve_s": self.solve_s, "extract_s": self.extract_s}


@dataclass
class Outcome:
    """What a procedure found: open sites per block (original indices) and the solver's word."""

    status: str
    open: list[np.ndarray]
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    details: dict = field(default_factory=dict)

    @property
    def has_solution(self) -> bool:
        return bool(self.open) and self.objective is not None

    def solve_result(self, clock: Clock) -> SolveResult:
        return SolveResult(self.status, self.objective, self.bound, self.gap, self.status, solver_version=clock.version,
                           handover_s=clock.handover_s, solve_s=clock.solve_s, has_solution=self.has_solution,
                           highs_info=dict(clock.info))


def relative_gap(value: float | None, bound: float | None) -> float | None:
    if value is None or bound is None:
        return None
    return abs(value - bound) / max(abs(value), 1e-10)


def _values(variables) -> np.ndarray:
    return np.array([0.0 if v.value is None else float(v.value) for v in variables.values()])


# --- maximal covering -----------------------------------------------------------------------

@dataclass
class CoverInput:
    """One covering block: node weights, level pairs, and per-site cost, count weight, fixed flag."""

    weights: np.ndarray
    pairs: Pairs
    cost: np.ndarray
    count: np.ndarray
    fixed: np.ndarray


@dataclass
class PreparedCover:
    """A maximal-covering problem after the exact reductions, with its greedy incumbent."""

    inputs: list[CoverInput]
    blocks: list[CoverBlock]
    flat: dict
    chosen: np.ndarray                 # greedy choice over the model's sites
    spend_room: float                  # B − spend of fixed sites
    rooms: np.ndarray                  # per block: p − count of fixed sites
    feasible: bool = True

    def model(self):
        return build_coverage_model(self.flat["sites"], self.flat["coverage"], Limits(self.spend_room, self.rooms))


def prepare_cover(inputs: list[CoverInput], spend: float, counts: list[float]) -> PreparedCover:
    spend_room = spend - sum(float(b.cost[b.fixed].sum()) for b in inputs)
    rooms = np.array([c - float(b.count[b.fixed].sum()) for b, c in zip(inputs, counts)], dtype=float)
    if spend_room < -1e-9 or (rooms < -1e-9).any():
        return PreparedCover(inputs, [], {}, np.zeros(0, bool), spend_room, rooms, feasible=False)
    blocks = [reduce_cover(b.weights, b.pairs, b.cost, b.count, b.fixed, spend_room, r) for b, r in zip(inputs, rooms)]
    flat = _flatten_cover(blocks)
    sites = flat["sites"]
    chosen = greedy_cover(flat["pairs"], flat["weight"], flat["floor"], sites.objective, sites.cost, sites.count,
                          sites.block, spend_room, rooms)
    return PreparedCover(inputs, blocks, flat, chosen, spend_room, rooms)


def maximal_cover(inputs: list[CoverInput], spend: float, counts: list[float], options: SolveOptions,
                  clock: Clock) -> tuple[Outcome, PreparedCover]:
    t0 = time.perf_counter()
    prep = prepare_cover(inputs, spend, counts)
    if not prep.feasible:
        clock.build_s += time.perf_counter() - t0
        return Outcome("infeasible", [], details={"reason": "fixed_sites_exceed_limits", "spend_room": prep.spend_room}), prep
    flat, blocks = prep.flat, prep.blocks
    details = {"reductions": [b.stats for b in blocks], "greedy_objective": _greedy_value(flat, prep.chosen)}
    if len(flat["sites"].cost) == 0:                  # the reductions decided everything
        clock.build_s += time.perf_counter() - t0
        value = flat["coverage"].constant
        return Outcome("optimal", [b.fixed.copy() for b in inputs], value, value, 0.0, details), prep
    model = prep.model()
    start = _coverage_start(model, flat, prep.chosen)
    clock.build_s += time.perf_counter() - t0
    persistent = Persistent()             # one hand-over for the LP bound and the MIP after it
    proof = _greedy_within_gap(model, prep, details, options, clock, persistent)
    if proof is not None:
        return proof, prep
    result = clock.run(model, options, start, persistent=persistent)
    t1 = time.perf_counter()
    if result.has_solution:
        opened = _unflatten_open(inputs, blocks, _values(model.site_open) > 0.5)
        outcome = Outcome(result.status, opened, result.objective, result.bound, result.gap, details)
    elif result.status == "time_limit":               # HiGHS kept nothing: the greedy plan stands
        details["fallback"] = "greedy"
        value = details["greedy_objective"]
        outcome = Outcome("time_limit", _unflatten_open(inputs, blocks, prep.chosen), value, result.bound,
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
    lp = clock.run(model, replace(options, gap=None), highs_options={"presolve": "off"}, persistent=persistent, relax=True)
    if lp.status != "optimal" or lp.objective is None:
        return None
    details["lp_bound"] = lp.objective
    value = details["greedy_objective"]
    bound = max(lp.objective, value)
    gap = relative_gap(value, bound)
    if gap is None or gap > target + 1e-12:
        return None
    details["proof"] = "greedy plan within the gap of the LP bound"
    return Outcome("optimal", _unflatten_open(prep.inputs, prep.blocks, prep.chosen), value, bound, gap, details)


def _flatten_cover(blocks: list[CoverBlock]) -> dict:
    site_off = np.concatenate(([0], np.cumsum([len(b.sites) for b in blocks])))
    row_off = np.concatenate(([0], np.cumsum([len(b.row_weight) for b in blocks])))
    indptr = [np.zeros(1, np.int64)] + [b.pairs.indptr[1:] + sum(len(x.pairs.site) for x in blocks[:k]) for k, b in enumerate(blocks)]
    pairs = Pairs(np.concatenate(indptr), np.concatenate([b.pairs.site + site_off[k] for k, b in enumerate(blocks)]).astype(np.int64),
                  np.concatenate([b.pairs.value for b in blocks]), int(site_off[-1]))
    weight = np.concatenate([b.row_weight for b in blocks])
    floor = np.concatenate([b.row_floor for b in blocks])
    sites = SiteArrays(np.concatenate([np.full(len(b.sites), k) for k, b in enumerate(blocks)]).astype(np.int64),
                       np.concatenate([b.cost for b in blocks]).astype(float), np.concatenate([b.count for b in blocks]).astype(float),
                       np.zeros(int(site_off[-1]), dtype=bool), np.concatenate([b.bonus for b in blocks]))
    levels = levels_of(pairs)
    nxt = np.where(np.r_[levels.row[1:] == levels.row[:-1], False], np.r_[levels.value[1:], 0.0], floor[levels.row])
    coverage = CoverageArrays(levels, pairs.site, weight[levels.row], levels.value - nxt, float(sum(b.constant for b in blocks)))
    return {"pairs": pairs, "weight": weight, "floor": floor, "sites": sites, "coverage": coverage,
            "site_off": site_off, "row_off": row_off}


def _coverage_start(model, flat: dict, chosen: np.ndarray) -> dict:
    pairs, levels = flat["pairs"], flat["coverage"].levels
    best = flat["floor"].copy()
    hit = chosen[pairs.site]
    np.maximum.at(best, pairs.rows()[hit], pairs.value[hit])
    reached = best[levels.row] >= levels.value - 1e-12
    start = ComponentMap((model.site_open[j], float(c)) for j, c in enumerate(chosen))
    start.update((model.level_reached[k], float(r)) for k, r in enumerate(reached))
    return start


def _greedy_value(flat: dict, chosen: np.ndarray) -> float:
    pairs = flat["pairs"]
    best = flat["floor"].copy()
    hit = chosen[pairs.site]
    np.maximum.at(best, pairs.rows()[hit], pairs.value[hit])
    return float(flat["coverage"].constant + flat["sites"].objective @ chosen + flat["weight"] @ (best - flat["floor"]))


def _unflatten_open(inputs: list[CoverInput], blocks: list[CoverBlock], picked: np.ndarray) -> list[np.ndarray]:
    out, off = [], 0
    for inp, b in zip(inputs, blocks):
        is_open = inp.fixed.copy()
        is_open[b.sites[picked[off:off + len(b.sites)]]] = True
        out.append(is_open)
        off += len(b.sites)
    return out


# --- set covering and backup ------------------------------------------------------------------

def set_cover(inputs: list[CoverInput], spend: float, backup: bool, options: SolveOptions, clock: Clock) -> Outcome:
    """Least spend covering every coverable node; with `backup`, then most doubly covered weight."""
    t0 = time.perf_counter()
    ones = [replace(b, weights=np.ones(b.pairs.n_nodes)) for b in inputs]
    blocks = [reduce_cover(b.weights, b.pairs, b.cost, b.count, b.fixed, fold=False) for b in ones]
    fixed_spend = sum(float(b.cost[b.fixed].sum()) for b in inputs)
    flat = _flatten_cover(blocks)
    if len(flat["weight"]) == 0:              # fixed sites already cover every coverable node
        clock.build_s += time.perf_counter() - t0
        opened = [b.fixed.copy() for b in inputs]
        details = {"reductions": [b.stats for b in blocks], "least_spend": fixed_spend}
        value = _double_cover_weight(inputs, opened) if backup else fixed_spend
        if backup and not clock.out_of_time():
            return _backup_stage(inputs, opened, fixed_spend, options, clock, details)
        return Outcome("optimal" if fixed_spend <= spend + 1e-9 else "infeasible", opened, value, value, 0.0, details)
    cover = SetCoverArrays(flat["pairs"].indptr, flat["pairs"].site, np.ones(len(flat["weight"])),
                           np.zeros(len(flat["weight"]), bool), flat["weight"], fixed_spend)
    model = build_set_cover_model(flat["sites"], cover, Limits(spend - fixed_spend), backup=False)
    clock.build_s += time.perf_counter() - t0
    first = clock.run(model, options)
    if not first.has_solution:
        return Outcome(first.status, [], None, first.bound, None, {"stage": "cover"})
    picked = _values(model.site_open) > 0.5
    opened = _unflatten_open(inputs, blocks, picked)
    least = float(sum(b.cost[o].sum() for b, o in zip(inputs, opened)))
    details = {"reductions": [b.stats for b in blocks], "least_spend": least, "least_spend_bound": first.bound,
               "least_spend_gap": first.gap}
    if not backup:
        return Outcome(first.status, opened, least, first.bound, first.gap, details)
    if clock.out_of_time():
        return Outcome("time_limit", opened, _double_cover_weight(inputs, opened), None, None, details)
    return _backup_stage(inputs, opened, least, options, clock, details)


def _backup_stage(inputs: list[CoverInput], first_open: list[np.ndarray], least: float, options: SolveOptions,
                  clock: Clock, details: dict) -> Outcome:
    t0 = time.perf_counter()
    rows_site, rows_need, rows_backup, rows_weight, sites, start_y = [], [], [], [], [], []
    indptr, constant, n_sites, n_pairs = [0], 0.0, 0, 0
    for k, b in enumerate(inputs):
        p = b.pairs
        rows = p.rows()
        fixed_hits = np.bincount(rows, weights=b.fixed[p.site].astype(float), minlength=p.n_nodes)
        total = p.degree
        free = p.take(~b.fixed[p.site])
        row_of, merged, weight, floor = merge_rows(free, fixed_hits, b.weights)
        # rows already doubly covered by fixed sites are constant; rows with no free site too
        tot = np.zeros(len(weight))
        has = row_of >= 0
        np.maximum.at(tot, row_of[has], total[has])
        eligible = tot >= 2
        need = 1 - floor
        keep = ~(eligible & (floor >= 2)) & ~(~eligible & (need <= 0))
        constant += float(b.weights[(fixed_hits >= 2)].sum())
        free_idx = np.flatnonzero(~b.fixed)
        local = np.full(len(b.fixed), -1)
        local[free_idx] = np.arange(len(free_idx)) + n_sites
        for r in np.flatnonzero(keep):
            seg = merged.site[merged.indptr[r]:merged.indptr[r + 1]]
            rows_site.append(local[seg])
            n_pairs += len(seg)
            indptr.append(n_pairs)
        rows_need += np.maximum(need[keep], 0).tolist()
        rows_backup += eligible[keep].tolist()
        rows_weight += weight[keep].tolist()
        sites.append((k, free_idx))
        start_y.append(first_open[k][free_idx])
        n_sites += len(free_idx)
    site_arrays = SiteArrays(np.concatenate([np.full(len(f), k) for k, f in sites]).astype(np.int64),
                             np.concatenate([inputs[k].cost[f] for k, f in sites]).astype(float),
                             np.concatenate([inputs[k].count[f] for k, f in sites]).astype(float),
                             np.zeros(n_sites, bool), np.zeros(n_sites))
    cover = SetCoverArrays(np.array(indptr), np.concatenate(rows_site).astype(np.int64) if rows_site else np.zeros(0, np.int64),
                           np.array(rows_need, float), np.array(rows_backup, bool), np.array(rows_weight, float), constant)
    fixed_spend = sum(float(b.cost[b.fixed].sum()) for b in inputs)
    room = least - fixed_spend
    if n_sites == 0 or not rows_need:          # nothing left to decide
        clock.build_s += time.perf_counter() - t0
        value = _double_cover_weight(inputs, first_open)
        return Outcome("optimal", first_open, value, value, 0.0, details)
    model = build_set_cover_model(site_arrays, cover, Limits(room * (1 + 1e-9) + 1e-9), backup=True)
    y0 = np.concatenate(start_y) if start_y else np.zeros(0)
    start = ComponentMap((model.site_open[j], float(v)) for j, v in enumerate(y0))
    clock.build_s += time.perf_counter() - t0
    second = clock.run(model, options, start)
    if not second.has_solution:
        return Outcome(second.status, first_open, _double_cover_weight(inputs, first_open), None, None, details)
    picked = _values(model.site_open) > 0.5
    opened, off = [], 0
    for k, f in sites:
        o = inputs[k].fixed.copy()
        o[f[picked[off:off + len(f)]]] = True
        opened.append(o)
        off += len(f)
    value = _double_cover_weight(inputs, opened)
    return Outcome(second.status, opened, value, second.bound, relative_gap(value, second.bound), details)


def _double_cover_weight(inputs: list[CoverInput], opened: list[np.ndarray]) -> float:
    total = 0.0
    for b, o in zip(inputs, opened):
        p = b.pairs
        hits = np.bincount(p.rows(), weights=o[p.site].astype(float), minlength=p.n_nodes)
        total += float(b.weights[(hits >= 2) & (p.degree >= 2)].sum())
    return total
