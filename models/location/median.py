"""p-median, radius formulation (Elloumi 2010), on each node's nearest sites.

Shared sites, spend row (S) and count rows (P) as in `models.location.common`.

3. p-median, radius formulation (Elloumi 2010) — `build_radius_model`

    min  Σ_i w_i D_i1 + Σ_ℓ w_i(ℓ) (D_next(ℓ) − D_ℓ) z_ℓ                        (1)
    s.t. z_ℓ + Σ_{j∈S_ℓ} y_j ≥ z_prev(ℓ)            ∀ ℓ ∈ LEVELS  (z_prev = 1 first)  (2)
         z_ℓ = 0 on the last level of a complete row, 0 ≤ z_ℓ ≤ 1

   Levels are the distinct distances D of each node's sorted sites; z_ℓ = 1 when no open
   site lies within D_ℓ. A truncated row's last level costs D_beyond − D_ℓ, a lower bound on
   what is left out, so a truncated model is a relaxation.

Rows are truncated per node (`Rows` of `models.location.common`); how they grow between
rounds is the procedure's (allocator/solving/location/median.py).

    symbol      attribute                       meaning
    y_j         m.site_open[j]                  site j open
    z_ℓ         m.farther_than_level[ℓ]         node farther than level ℓ (3, 4)
    c_j, k_j    SiteArrays.cost, .count         spend and count weight of site j
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from ..linear import linear
from .common import (Levels, Limits, Pairs, Rows, SiteArrays, add_shared_limits, add_site_variables, level_sites, levels_of,
                     stack_levels, truncated)
from .heuristics import nearest_open


@dataclass
class MedianInput:
    """One p-median block: node weights, distance pairs (ascending), sites required open,
    spend cost and count weight per site."""

    weights: np.ndarray
    pairs: Pairs
    required: np.ndarray
    cost: np.ndarray
    count: np.ndarray
    n_open: float                      # count room of the block (p)


@dataclass
class RadiusArrays:
    levels: Levels
    pair_site: np.ndarray      # model site of each pair
    cost: np.ndarray           # objective coefficient of z_ℓ: w_i (D_next − D_ℓ)
    closed: np.ndarray         # bool per level: z_ℓ = 0 (last level of a complete row)
    constant: float            # Σ_i w_i D_i1
    boundary: np.ndarray | None = None   # bool per level: last level of a truncated row
    node: np.ndarray | None = None       # node of each level within its block
    block: np.ndarray | None = None      # block of each level


def build_radius_model(sites: SiteArrays, radius: RadiusArrays, limits: Limits, relaxed: bool = False) -> pyo.ConcreteModel:
    """Formulation 3; `relaxed` makes y continuous (the LP relaxation)."""
    m = pyo.ConcreteModel("p_median")
    y = add_site_variables(m, sites, relaxed)
    z = add_farther_variables(m, radius)
    add_farther_links(m, y, z, radius)
    add_shared_limits(m, y, sites, limits)
    js = np.flatnonzero(sites.objective).tolist()
    expr = linear(sites.objective[js].tolist() + radius.cost.tolist(), [y[j] for j in js] + z)
    m.weighted_distance = pyo.Objective(expr=expr + radius.constant, sense=pyo.minimize)
    return m


def add_farther_variables(m, radius: RadiusArrays) -> list:
    n = len(radius.levels)
    m.LEVELS = pyo.RangeSet(0, n - 1) if n else pyo.Set(initialize=[])
    m.farther_than_level = pyo.Var(m.LEVELS, bounds=(0, 1))
    z = [m.farther_than_level[k] for k in range(n)]
    for k in np.flatnonzero(radius.closed).tolist():
        z[k].setub(0)
    return z


def add_farther_links(m, y: list, z: list, radius: RadiusArrays) -> None:
    site, start, end = level_sites(radius.levels, radius.pair_site)
    prev = radius.levels.prev.tolist()

    @m.Constraint(m.LEVELS)
    def farther_unless_open_within_level(m, k):
        """(2) z_ℓ + Σ_{j∈S_ℓ} y_j − z_prev(ℓ) ≥ 0   (≥ 1 on a first level)"""
        group = site[start[k]:end[k]]
        variables, coefs = [z[k]] + [y[j] for j in group], [1.0] * (1 + len(group))
        if prev[k] >= 0:
            variables.append(z[prev[k]])
            coefs.append(-1.0)
            return (0.0, linear(coefs, variables), None)
        return (1.0, linear(coefs, variables), None)


def radius_arrays(inputs: list[MedianInput], states: list[Rows]):
    site_parts, lv_cost, lv_closed, constant, slices = [], [], [], 0.0, []
    lv_boundary, lv_node, lv_block = [], [], []
    all_pairs, off = [], 0
    for k, (b, st) in enumerate(zip(inputs, states)):
        tp = truncated(b.pairs, st.keep)
        lv = levels_of(tp)
        last = np.r_[lv.row[1:] != lv.row[:-1], True]
        beyond_idx = b.pairs.indptr[:-1] + st.keep
        beyond = np.where(st.keep < b.pairs.degree, b.pairs.value[np.minimum(beyond_idx, len(b.pairs.value) - 1)], np.inf)
        complete = st.keep >= st.full
        nxt = np.where(last, beyond[lv.row], np.r_[lv.value[1:], 0.0])
        closed = last & complete[lv.row]
        w = b.weights[lv.row]
        lv_cost.append(np.where(closed, 0.0, w * (nxt - lv.value)))
        lv_closed.append(closed)
        lv_boundary.append(last & ~complete[lv.row])
        lv_node.append(lv.row)
        lv_block.append(np.full(len(lv), k))
        firsts = tp.indptr[:-1][tp.degree > 0]
        constant += float(b.weights[tp.degree > 0] @ tp.value[firsts])
        all_pairs.append((tp, lv, off))
        site_parts.append(k)
        slices.append(slice(off, off + b.pairs.n_sites))
        off += b.pairs.n_sites
    levels, pair_site = stack_levels(all_pairs)
    sites = SiteArrays(np.concatenate([np.full(b.pairs.n_sites, k) for k, b in enumerate(inputs)]).astype(np.int64),
                       np.concatenate([b.cost for b in inputs]).astype(float), np.concatenate([b.count for b in inputs]).astype(float),
                       np.concatenate([b.required for b in inputs]), np.zeros(off))
    radius = RadiusArrays(levels, pair_site, np.concatenate(lv_cost), np.concatenate(lv_closed), constant)
    radius.boundary = np.concatenate(lv_boundary)
    radius.node = np.concatenate(lv_node).astype(np.int64)
    radius.block = np.concatenate(lv_block).astype(np.int64)
    return sites, radius, slices


def radius_start(model, inputs: list[MedianInput], states: list[Rows], opened: list[np.ndarray]) -> dict:
    start, y_off, lv_off = ComponentMap(), 0, 0
    for b, st, o in zip(inputs, states, opened):
        for j in range(b.pairs.n_sites):
            start[model.site_open[y_off + j]] = float(o[j])
        tp = truncated(b.pairs, st.keep)
        lv = levels_of(tp)
        _, dist = nearest_open(b.pairs, o)
        far = dist[lv.row] > lv.value + 1e-12
        for k, f in enumerate(far.tolist()):
            start[model.farther_than_level[lv_off + k]] = float(f)
        y_off += b.pairs.n_sites
        lv_off += len(lv)
    return start
