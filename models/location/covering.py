"""Covering formulations: maximal covering with coverage levels, set covering and the backup
stage of LSCP-B, on blocks prepared by the exact reductions of `models.location.common`.

Shared sites, spend row (S) and count rows (P) as in `models.location.common`.

1. Maximal covering with coverage levels — `build_coverage_model`

    max  C₀ + Σ_j b_j y_j + Σ_ℓ W_ℓ g_ℓ v_ℓ                                     (1)
    s.t. v_ℓ ≤ v_prev(ℓ) + Σ_{j∈S_ℓ} y_j           ∀ ℓ ∈ LEVELS                (2)
         0 ≤ v_ℓ ≤ 1

   A level ℓ is one distinct coverage level L_ℓ of a merged node row, highest first; S_ℓ
   the sites giving exactly L_ℓ; v_ℓ = 1 when an open site gives the row at least L_ℓ;
   g_ℓ = L_ℓ − L_next (the floor after the last). Plain covering has one level, L = 1.

2. Set covering, and the backup stage of LSCP-B — `build_set_cover_model`

    min  Σ_j c_j y_j                                                            (1)
    s.t. Σ_{j∈N_r} y_j ≥ 1 − f_r                   ∀ r ∈ ROWS                  (2)
   backup stage:  max Σ_r W_r u_r  with (2) for rows with one site in all and
         Σ_{j∈N_r} y_j − u_r ≥ 1 − f_r             ∀ r ∈ BACKUP_ROWS           (3)
         Σ_j c_j y_j ≤ C*  (the first stage's least spend),  0 ≤ u_r ≤ 1       (4)

    symbol      attribute                       meaning
    y_j         m.site_open[j]                  site j open
    v_ℓ         m.level_reached[ℓ]              coverage level ℓ reached (1)
    u_r         m.backup_covered[r]             row r covered twice (2)
    c_j, k_j    SiteArrays.cost, .count         spend and count weight of site j

A covering problem is prepared (`prepare_cover`) by the reductions R1–R5, flattened into
the model's arrays (`flatten_cover`) and given a greedy incumbent by coverage per cost.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from ..linear import linear
from .common import (CoverBlock, Levels, Limits, Pairs, SiteArrays, add_shared_limits, add_site_variables, level_sites,
                     levels_of, merge_rows, reduce_cover)
from .heuristics import greedy_cover


# --- 1. maximal covering ----------------------------------------------------------------------

@dataclass
class CoverageArrays:
    levels: Levels
    pair_site: np.ndarray      # model site of each pair
    weight: np.ndarray         # W_ℓ per level
    gain: np.ndarray           # g_ℓ per level
    constant: float            # C₀


def build_coverage_model(sites: SiteArrays, cover: CoverageArrays, limits: Limits) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel("maximal_covering")
    y = add_site_variables(m, sites)
    v = _add_level_variables(m, cover)
    _add_level_links(m, y, v, cover)
    add_shared_limits(m, y, sites, limits)
    _add_coverage_objective(m, y, v, sites, cover)
    return m


def _add_level_variables(m, cover: CoverageArrays) -> list:
    m.LEVELS = pyo.RangeSet(0, len(cover.levels) - 1) if len(cover.levels) else pyo.Set(initialize=[])
    m.level_reached = pyo.Var(m.LEVELS, bounds=(0, 1))
    return [m.level_reached[k] for k in range(len(cover.levels))]


def _add_level_links(m, y: list, v: list, cover: CoverageArrays) -> None:
    site, start, end = level_sites(cover.levels, cover.pair_site)
    prev = cover.levels.prev.tolist()

    @m.Constraint(m.LEVELS)
    def level_reached_through_open_site(m, k):
        """(2) Σ_{j∈S_ℓ} y_j + v_prev(ℓ) − v_ℓ ≥ 0  (written with the sites' coefficients +1: a bare
        variable per site is the fastest row to build and hand over)"""
        group = site[start[k]:end[k]]
        variables = [y[j] for j in group] + [v[k]]
        coefs = [1.0] * len(group) + [-1.0]
        if prev[k] >= 0:
            variables.append(v[prev[k]])
            coefs.append(1.0)
        return (0.0, linear(coefs, variables), None)


def _add_coverage_objective(m, y: list, v: list, sites: SiteArrays, cover: CoverageArrays) -> None:
    js = np.flatnonzero(sites.objective).tolist()
    coefs = sites.objective[js].tolist() + (cover.weight * cover.gain).tolist()
    expr = linear(coefs, [y[j] for j in js] + v)
    m.covered_demand = pyo.Objective(expr=expr + cover.constant, sense=pyo.maximize)


# --- covering blocks: preparation, flat arrays, starts and plans --------------------------------

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
    flat = flatten_cover(blocks)
    sites = flat["sites"]
    chosen = greedy_cover(flat["pairs"], flat["weight"], flat["floor"], sites.objective, sites.cost, sites.count,
                          sites.block, spend_room, rooms)
    return PreparedCover(inputs, blocks, flat, chosen, spend_room, rooms)


def flatten_cover(blocks: list[CoverBlock]) -> dict:
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


def coverage_start(model, flat: dict, chosen: np.ndarray) -> dict:
    pairs, levels = flat["pairs"], flat["coverage"].levels
    best = flat["floor"].copy()
    hit = chosen[pairs.site]
    np.maximum.at(best, pairs.rows()[hit], pairs.value[hit])
    reached = best[levels.row] >= levels.value - 1e-12
    start = ComponentMap((model.site_open[j], float(c)) for j, c in enumerate(chosen))
    start.update((model.level_reached[k], float(r)) for k, r in enumerate(reached))
    return start


def greedy_value(flat: dict, chosen: np.ndarray) -> float:
    pairs = flat["pairs"]
    best = flat["floor"].copy()
    hit = chosen[pairs.site]
    np.maximum.at(best, pairs.rows()[hit], pairs.value[hit])
    return float(flat["coverage"].constant + flat["sites"].objective @ chosen + flat["weight"] @ (best - flat["floor"]))


def unflatten_open(inputs: list[CoverInput], blocks: list[CoverBlock], picked: np.ndarray) -> list[np.ndarray]:
    out, off = [], 0
    for inp, b in zip(inputs, blocks):
        is_open = inp.fixed.copy()
        is_open[b.sites[picked[off:off + len(b.sites)]]] = True
        out.append(is_open)
        off += len(b.sites)
    return out


# --- 2. set covering and backup -----------------------------------------------------------------

@dataclass
class SetCoverArrays:
    indptr: np.ndarray          # rows × model sites
    pair_site: np.ndarray
    need: np.ndarray            # 1 − f_r per row
    backup: np.ndarray          # bool per row: may be covered twice (3)
    weight: np.ndarray          # W_r (backup objective)
    constant: float = 0.0       # constant part of the objective


def build_set_cover_model(sites: SiteArrays, cover: SetCoverArrays, limits: Limits, backup: bool) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel("backup_covering" if backup else "set_covering")
    y = add_site_variables(m, sites)
    m.ROWS = pyo.RangeSet(0, len(cover.need) - 1) if len(cover.need) else pyo.Set(initialize=[])
    u = _add_backup_variables(m, cover) if backup else None
    _add_node_cover(m, y, u, cover)
    add_shared_limits(m, y, sites, limits)
    if backup:
        m.backup_demand = pyo.Objective(expr=linear(cover.weight[cover.backup].tolist(), u) + cover.constant, sense=pyo.maximize)
    else:
        js = np.flatnonzero(sites.cost).tolist()
        m.spend = pyo.Objective(expr=linear(sites.cost[js].tolist(), [y[j] for j in js]) + cover.constant, sense=pyo.minimize)
    return m


def _add_backup_variables(m, cover: SetCoverArrays) -> list:
    rows = np.flatnonzero(cover.backup).tolist()
    m.BACKUP_ROWS = pyo.Set(initialize=rows)
    m.backup_covered = pyo.Var(m.BACKUP_ROWS, bounds=(0, 1))
    return [m.backup_covered[r] for r in rows]


def _add_node_cover(m, y: list, u: list | None, cover: SetCoverArrays) -> None:
    site, ptr, need = cover.pair_site.tolist(), cover.indptr.tolist(), cover.need.tolist()
    backup_var = {} if u is None else dict(zip(np.flatnonzero(cover.backup).tolist(), u))

    @m.Constraint(m.ROWS)
    def node_is_covered(m, r):
        """(2) Σ_{j∈N_r} y_j ≥ 1 − f_r;  (3) with − u_r on backup rows"""
        group = site[ptr[r]:ptr[r + 1]]
        variables, coefs = [y[j] for j in group], [1.0] * len(group)
        if r in backup_var:
            variables.append(backup_var[r])
            coefs.append(-1.0)
        return (need[r], linear(coefs, variables), None)


@dataclass
class BackupProblem:
    """The arrays of the backup stage: the free sites of every block side by side, the rows
    left to decide, and the first stage's plan on the free sites (a start)."""

    sites: SiteArrays
    cover: SetCoverArrays
    free: list[tuple[int, np.ndarray]]     # per block: (block, original index of its free sites)
    start: np.ndarray                      # y of the first stage's plan per model site
    fixed_spend: float                     # spend of the fixed sites
    n_sites: int


def backup_problem(inputs: list[CoverInput], first_open: list[np.ndarray]) -> BackupProblem:
    """Formulation 2 with (3) and (4) for the blocks of `inputs`, after R1–R3 (rows merged on
    their free sites, rows already doubly covered by fixed sites, or with no free site, left out)."""
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
    y0 = np.concatenate(start_y) if start_y else np.zeros(0)
    return BackupProblem(site_arrays, cover, sites, y0, fixed_spend, n_sites)


def backup_open(inputs: list[CoverInput], free: list[tuple[int, np.ndarray]], picked: np.ndarray) -> list[np.ndarray]:
    """Open sites per block (original indices) from the backup model's choice of free sites."""
    opened, off = [], 0
    for k, f in free:
        o = inputs[k].fixed.copy()
        o[f[picked[off:off + len(f)]]] = True
        opened.append(o)
        off += len(f)
    return opened


def double_cover_weight(inputs: list[CoverInput], opened: list[np.ndarray]) -> float:
    total = 0.0
    for b, o in zip(inputs, opened):
        p = b.pairs
        hits = np.bincount(p.rows(), weights=o[p.site].astype(float), minlength=p.n_nodes)
        total += float(b.weights[(hits >= 2) & (p.degree >= 2)].sum())
    return total
