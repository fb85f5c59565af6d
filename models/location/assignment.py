"""Assignment (capacitated p-median, fixed-charge location), on each node's cheapest arcs.

Shared sites, spend row (S) and count rows (P) as in `models.location.common`.

5. Assignment (capacitated p-median, fixed-charge location) — `build_assignment_model`

    min  Σ_j f_j y_j + Σ_a c_a x_a + Σ_i c̲_i u_i                                (1)
    s.t. Σ_{a∈A_i} x_a + u_i = 1                     ∀ i ∈ NODES               (2)
         x_a ≤ y_j(a)                                 ∀ a ∈ ARCS                (3)
         Σ_{a∈A^j} q_i(a) x_a ≤ K_j y_j               ∀ j ∈ CAPACITATED         (4)
         Σ_{j∈J_b} K_j y_j ≥ Σ_{i∈b} q_i              ∀ b ∈ BLOCKS              (5)
         0 ≤ x_a ≤ 1 (binary when single-source), u_i ≥ 0 (= 0 for a complete row)

   u_i carries what truncated arcs leave out at c̲_i, the least cost beyond them: again a
   relaxation, exact once no u_i is used. (5) is a valid cut.

    symbol      attribute                       meaning
    y_j         m.site_open[j]                  site j open
    x_a         m.assigned[a]                   share of node i(a) served by site j(a) (5)
    u_i         m.unassigned[i]                 share left to arcs outside the model (5)
    c_j, k_j    SiteArrays.cost, .count         spend and count weight of site j
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from ..linear import linear
from .common import Limits, Pairs, SiteArrays, add_shared_limits, add_site_variables


@dataclass
class AssignInput:
    """One assignment block: pairs sorted by cost, arc cost per pair (objective), demand q per
    node, capacity K and fixed charge f per site, required sites, spend cost, count weight, p."""

    pairs: Pairs
    arc_cost: np.ndarray
    demand: np.ndarray
    capacity: np.ndarray
    fixed_charge: np.ndarray
    required: np.ndarray
    cost: np.ndarray
    count: np.ndarray
    n_open: float


@dataclass
class AssignmentArrays:
    indptr: np.ndarray          # nodes × arcs
    arc_site: np.ndarray        # model site of each arc
    arc_cost: np.ndarray        # c_a
    demand: np.ndarray          # q_i per node
    node_block: np.ndarray
    beyond_cost: np.ndarray     # c̲_i (inf: the row is complete, u_i = 0)
    capacity: np.ndarray        # K_j per model site (inf: none)
    single_source: bool


def build_assignment_model(sites: SiteArrays, arcs: AssignmentArrays, limits: Limits) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel("assignment")
    y = add_site_variables(m, sites)
    x, u = _add_assignment_variables(m, arcs)
    _add_node_assignment(m, x, u, arcs)
    _add_open_site_links(m, y, x, arcs)
    _add_capacity_limits(m, y, x, arcs)
    _add_capacity_cover(m, y, sites, arcs)
    add_shared_limits(m, y, sites, limits)
    js = np.flatnonzero(sites.objective).tolist()
    open_u = np.flatnonzero(np.isfinite(arcs.beyond_cost))
    expr = linear(sites.objective[js].tolist() + arcs.arc_cost.tolist() + arcs.beyond_cost[open_u].tolist(),
                  [y[j] for j in js] + x + [u[i] for i in open_u.tolist()])
    m.assignment_cost = pyo.Objective(expr=expr, sense=pyo.minimize)
    return m


def _add_assignment_variables(m, arcs: AssignmentArrays) -> tuple[list, list]:
    n_arcs, n_nodes = len(arcs.arc_site), len(arcs.demand)
    m.ARCS = pyo.RangeSet(0, n_arcs - 1) if n_arcs else pyo.Set(initialize=[])
    m.NODES = pyo.RangeSet(0, n_nodes - 1) if n_nodes else pyo.Set(initialize=[])
    m.assigned = pyo.Var(m.ARCS, domain=pyo.Binary if arcs.single_source else pyo.UnitInterval)
    m.unassigned = pyo.Var(m.NODES, bounds=(0, 1))
    for i in np.flatnonzero(~np.isfinite(arcs.beyond_cost)).tolist():
        m.unassigned[i].setub(0)
    return [m.assigned[a] for a in range(n_arcs)], [m.unassigned[i] for i in range(n_nodes)]


def _add_node_assignment(m, x: list, u: list, arcs: AssignmentArrays) -> None:
    ptr = arcs.indptr.tolist()

    @m.Constraint(m.NODES)
    def node_is_assigned(m, i):
        """(2) Σ_{a∈A_i} x_a + u_i = 1"""
        variables = x[ptr[i]:ptr[i + 1]] + [u[i]]
        return (1.0, linear([1.0] * len(variables), variables), 1.0)


def _add_open_site_links(m, y: list, x: list, arcs: AssignmentArrays) -> None:
    site = arcs.arc_site.tolist()

    @m.Constraint(m.ARCS)
    def assigned_only_to_open_site(m, a):
        """(3) y_j(a) − x_a ≥ 0"""
        return (0.0, linear([1.0, -1.0], [y[site[a]], x[a]]), None)


def _add_capacity_limits(m, y: list, x: list, arcs: AssignmentArrays) -> None:
    capacitated = np.isfinite(arcs.capacity)
    if not capacitated.any():
        return
    rows = np.repeat(np.arange(len(arcs.demand)), np.diff(arcs.indptr))
    order = np.argsort(arcs.arc_site, kind="stable")
    ptr = np.concatenate(([0], np.cumsum(np.bincount(arcs.arc_site, minlength=len(y))))).tolist()
    order_l, q, cap = order.tolist(), arcs.demand[rows].tolist(), arcs.capacity.tolist()
    m.CAPACITATED = pyo.Set(initialize=np.flatnonzero(capacitated).tolist())

    @m.Constraint(m.CAPACITATED)
    def capacity_not_exceeded(m, j):
        """(4) K_j y_j − Σ_{a∈A^j} q_i(a) x_a ≥ 0"""
        arcs_j = order_l[ptr[j]:ptr[j + 1]]
        return (0.0, linear([cap[j]] + [-q[a] for a in arcs_j], [y[j]] + [x[a] for a in arcs_j]), None)


def _add_capacity_cover(m, y: list, sites: SiteArrays, arcs: AssignmentArrays) -> None:
    if not np.isfinite(arcs.capacity).all() or len(y) == 0:
        return
    demand = np.bincount(arcs.node_block, weights=arcs.demand, minlength=int(sites.block.max()) + 1)
    m.DEMAND_BLOCKS = pyo.Set(initialize=np.flatnonzero(demand > 0).tolist())

    @m.Constraint(m.DEMAND_BLOCKS)
    def open_capacity_meets_demand(m, b):
        """(5) Σ_{j∈J_b} K_j y_j ≥ Σ_{i∈b} q_i   (a valid cut)"""
        idx = np.flatnonzero(sites.block == b).tolist()
        return (float(demand[b]), linear(arcs.capacity[idx].tolist(), [y[j] for j in idx]), None)


# --- the arrays of truncated blocks, starts and plans -----------------------------------------

def assignment_arrays(inputs: list[AssignInput], states, single_source: bool):
    indptr, arc_site, arc_cost, demand, node_block, beyond, parts = [np.zeros(1, np.int64)], [], [], [], [], [], []
    arc_off = site_off = 0
    for k, (b, st) in enumerate(zip(inputs, states)):
        local = np.arange(len(b.pairs.site)) - np.repeat(b.pairs.indptr[:-1], b.pairs.degree)
        mask = local < np.repeat(st.keep, b.pairs.degree)
        tp = b.pairs.take(mask)
        indptr.append(tp.indptr[1:] + arc_off)
        arc_site.append(tp.site + site_off)
        arc_cost.append(b.arc_cost[mask])
        demand.append(b.demand)
        node_block.append(np.full(b.pairs.n_nodes, k))
        first_out = np.minimum(b.pairs.indptr[:-1] + st.keep, max(len(b.pairs.site) - 1, 0))
        beyond.append(np.where(st.keep < b.pairs.degree, b.arc_cost[first_out] if len(b.arc_cost) else np.inf, np.inf))
        parts.append((mask, slice(site_off, site_off + b.pairs.n_sites), slice(arc_off, arc_off + len(tp.site))))
        arc_off += len(tp.site)
        site_off += b.pairs.n_sites
    cat = np.concatenate
    sites = SiteArrays(cat([np.full(b.pairs.n_sites, k) for k, b in enumerate(inputs)]).astype(np.int64),
                       cat([b.cost for b in inputs]).astype(float), cat([b.count for b in inputs]).astype(float),
                       cat([b.required for b in inputs]), cat([b.fixed_charge for b in inputs]).astype(float))
    arcs = AssignmentArrays(cat(indptr), cat(arc_site).astype(np.int64), cat(arc_cost).astype(float), cat(demand).astype(float),
                            cat(node_block).astype(np.int64), cat(beyond).astype(float),
                            cat([b.capacity for b in inputs]).astype(float), single_source)
    return sites, arcs, parts


def assignment_plan(inputs, states, parts, x: np.ndarray, y: np.ndarray):
    opened, assigned, shares = [], [], []
    for b, (mask, sites, arcs) in zip(inputs, parts):
        share = np.zeros(len(b.pairs.site))
        share[mask] = x[arcs]
        rows = b.pairs.rows()
        best = np.full(b.pairs.n_nodes, -1)
        top = np.full(b.pairs.n_nodes, 1e-9)
        for idx in np.argsort(-share, kind="stable"):      # largest share per node (ties: nearest)
            r = rows[idx]
            if share[idx] <= top[r]:
                if share[idx] <= 1e-9:
                    break
                continue
            top[r], best[r] = share[idx], b.pairs.site[idx]
        opened.append(y[sites].copy())
        assigned.append(best)
        shares.append(share)
    return opened, assigned, shares


def assignment_start(model, start) -> dict:
    x, u, y = start
    out = ComponentMap((model.assigned[a], float(v)) for a, v in enumerate(x) if a in model.assigned)
    out.update((model.site_open[j], float(v)) for j, v in enumerate(y))
    out.update((model.unassigned[i], float(v)) for i, v in enumerate(u))
    return out
