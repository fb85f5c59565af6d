"""p-center, on the radius levels of `models.location.median` and a ladder of radii.

Shared sites, spend row (S) and count rows (P) as in `models.location.common`.

4. p-center — `build_center_model`: (2) of 3 and

    min  Σ_b ( R⁰_b + Σ_{k∈K_b} (R_{k+1} − R_k) u_k )                           (1)
         u_κ(ℓ) ≥ z_ℓ                               ∀ ℓ with κ(ℓ) defined        (4)
         u_k ≥ u_{k+1}                              ∀ consecutive k in a block   (5)

   R_k are the distinct (weighted) distances of block b from R⁰_b (the largest nearest-site
   distance, a lower bound) up to a known feasible radius; u_k = 1 when the radius exceeds
   R_k; κ(ℓ) is the largest R_k below the node's next level.

The model holds the pairs within a radius R̄ found by farthest-first (an optimal plan never
serves a node farther than R̄; only when that plan keeps the spend and count rows, otherwise
every pair), from the lower bound R⁰ = max_i min_j w_i d_ij (`center_problem`). Farthest-first
(`models.location.common.greedy_center`) serves the blocks together under the spend row: each
step improves the block whose worst node is farthest, with a site the spend left pays for.

    symbol      attribute                       meaning
    y_j         m.site_open[j]                  site j open
    z_ℓ         m.farther_than_level[ℓ]         node farther than level ℓ (3, 4)
    u_k         m.radius_exceeds[k]             radius beyond R_k (4)
    c_j, k_j    SiteArrays.cost, .count         spend and count weight of site j
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from ..linear import linear
from .common import (Limits, Pairs, SiteArrays, add_shared_limits, add_site_variables, levels_of, rows_state, snap,
                     stack_levels, truncated)
from .heuristics import greedy_center, nearest_open
from .median import MedianInput, RadiusArrays, add_farther_links, add_farther_variables


@dataclass
class CenterArrays:
    radius: RadiusArrays        # its `cost` is unused
    radius_block: np.ndarray    # block of each radius level k
    radius_step: np.ndarray     # R_{k+1} − R_k
    raises: np.ndarray          # per node level ℓ: radius level κ(ℓ) or -1
    constant: float             # Σ_b R⁰_b


def build_center_model(sites: SiteArrays, center: CenterArrays, limits: Limits) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel("p_center")
    y = add_site_variables(m, sites)
    z = add_farther_variables(m, center.radius)
    add_farther_links(m, y, z, center.radius)
    u = _add_radius_variables(m, center)
    _add_radius_links(m, z, u, center)
    add_shared_limits(m, y, sites, limits)
    m.max_distance = pyo.Objective(expr=linear(center.radius_step.tolist(), u) + center.constant, sense=pyo.minimize)
    return m


def _add_radius_variables(m, center: CenterArrays) -> list:
    n = len(center.radius_step)
    m.RADII = pyo.RangeSet(0, n - 1) if n else pyo.Set(initialize=[])
    m.radius_exceeds = pyo.Var(m.RADII, bounds=(0, 1))
    return [m.radius_exceeds[k] for k in range(n)]


def _add_radius_links(m, z: list, u: list, center: CenterArrays) -> None:
    linked = np.flatnonzero(center.raises >= 0)
    m.RAISING_LEVELS = pyo.Set(initialize=linked.tolist())
    raises = center.raises.tolist()

    @m.Constraint(m.RAISING_LEVELS)
    def farther_level_raises_radius(m, k):
        """(4) u_κ(ℓ) − z_ℓ ≥ 0"""
        return (0.0, linear([1.0, -1.0], [u[raises[k]], z[k]]), None)

    nested = np.flatnonzero(center.radius_block[:-1] == center.radius_block[1:]).tolist() if len(u) > 1 else []
    m.NESTED_RADII = pyo.Set(initialize=nested)

    @m.Constraint(m.NESTED_RADII)
    def radius_levels_nest(m, k):
        """(5) u_k − u_{k+1} ≥ 0"""
        return (0.0, linear([1.0, -1.0], [u[k], u[k + 1]]), None)


# --- the arrays of a p-center problem -------------------------------------------------------------

@dataclass
class CenterProblem:
    """Formulation 4's arrays for some blocks, with the pieces its start and plans need."""

    sites: SiteArrays
    center: CenterArrays
    parts: list                 # per block: (truncated pairs, their levels, site offset)
    greedy: list[np.ndarray]    # per block: the farthest-first plan (open sites)


def weighted_pairs(b: MedianInput) -> Pairs:
    """Pairs valued w_i d_ij (order within a row is unchanged for w_i > 0); weightless nodes keep theirs."""
    w = np.where(b.weights > 0, b.weights, 1.0)
    return Pairs(b.pairs.indptr, b.pairs.site, b.pairs.value * w[b.pairs.rows()], b.pairs.n_sites)


def center_problem(inputs: list[MedianInput], weighted: list[Pairs], spend: float = np.inf, exact: bool = False) -> CenterProblem:
    """Formulation 4 on the pairs within each block's cap R̄_b (see module docstring): with the
    farthest-first plan keeping the spend row and the count rows, R̄_b = Σ_c R^g_c − Σ_{c≠b} R⁰_c
    (R^g the plan's radii: an optimal plan's total is at most theirs, and every other block's radius
    is at least its R⁰), which is R^g_b for one block; otherwise every pair."""
    parts, greedy, constant = [], [], 0.0
    steps, radius_block, raises, closed, site_off = [], [], [], [], 0
    lv_total = 0
    room = spend - sum(float(b.cost[b.required].sum()) for b in inputs)
    greedy = greedy_center([(wp, b.weights, b.required, b.cost,
                             b.n_open - float(b.count[b.required].sum()) if np.isfinite(b.n_open) else wp.n_sites)
                            for b, wp in zip(inputs, weighted)], room)
    caps = _radius_caps(inputs, weighted, greedy, spend, exact)
    for k, (b, wp) in enumerate(zip(inputs, weighted)):
        st = rows_state(wp, b.required)
        st.full[b.weights <= 0] = 0
        upper = caps[k]
        within = (wp.value <= upper + 1e-12 * max(1.0, upper)) if np.isfinite(upper) else np.ones(len(wp.value), bool)
        counts = np.bincount(wp.rows()[within], minlength=wp.n_nodes)
        st.keep = snap(st, wp, counts)
        tp = truncated(wp, st.keep)
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
    levels, pair_site = stack_levels(parts)
    cat = np.concatenate
    sites = SiteArrays(cat([np.full(b.pairs.n_sites, k) for k, b in enumerate(inputs)]).astype(np.int64),
                       cat([b.cost for b in inputs]).astype(float), cat([b.count for b in inputs]).astype(float),
                       cat([b.required for b in inputs]), np.zeros(site_off))
    radius = RadiusArrays(levels, pair_site, np.zeros(len(levels)), cat(closed), 0.0)
    center = CenterArrays(radius, cat(radius_block).astype(np.int64), cat(steps), cat(raises).astype(np.int64), constant)
    return CenterProblem(sites, center, parts, greedy)


def _radius_caps(inputs: list[MedianInput], weighted: list[Pairs], greedy: list[np.ndarray], spend: float,
                 exact: bool) -> list[float]:
    """R̄_b of `center_problem`: inf for every block when the farthest-first plan breaks a limit."""
    cost = sum(float(b.cost[g].sum()) for b, g in zip(inputs, greedy))
    counts = [float(b.count[g].sum()) for b, g in zip(inputs, greedy)]
    kept = cost <= spend + 1e-9 and all(
        not np.isfinite(b.n_open) or (abs(c - b.n_open) <= 1e-9 if exact else c <= b.n_open + 1e-9)
        for b, c in zip(inputs, counts))
    radii = [radius_of(wp, b, g) for wp, b, g in zip(weighted, inputs, greedy)]
    if not kept or not all(np.isfinite(radii)):
        return [np.inf] * len(inputs)
    lows = [float(wp.value[wp.indptr[:-1][(wp.degree > 0) & (b.weights > 0)]].max()) if ((wp.degree > 0) & (b.weights > 0)).any()
            else 0.0 for wp, b in zip(weighted, inputs)]
    total, low = sum(radii), sum(lows)
    return [total - (low - lows[k]) for k in range(len(inputs))]


def radius_of(wp: Pairs, b: MedianInput, opened: np.ndarray) -> float:
    _, near = nearest_open(wp, opened)
    used = b.weights > 0
    return float(near[used].max()) if used.any() else 0.0


def center_start(model, inputs, weighted, parts, greedy, center: CenterArrays) -> dict:
    start, y_off, lv_off, r_off = ComponentMap(), 0, 0, 0
    for k, (b, wp, (tp, lv, _), g) in enumerate(zip(inputs, weighted, parts, greedy)):
        for j in range(b.pairs.n_sites):
            start[model.site_open[y_off + j]] = float(g[j])
        _, near = nearest_open(wp, g)
        for i, far in enumerate((near[lv.row] > lv.value + 1e-12).tolist()):
            start[model.farther_than_level[lv_off + i]] = float(far)
        radius = radius_of(wp, b, g)
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
