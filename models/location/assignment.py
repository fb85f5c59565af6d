"""Assignment (capacitated p-median, fixed-charge location), on each node's cheapest arcs.

Shared sites, spend row (S) and count rows (P) as in `models.location.common`.

5. Assignment (capacitated p-median, fixed-charge location) — `build_assignment_model`

    min  Σ_j f_j y_j + Σ_a c_a x_a + Σ_i c̲_i u_i                                (1)
    s.t. Σ_{a∈A_i} x_a + u_i = 1                     ∀ i ∈ NODES               (2)
         x_a ≤ y_j(a)                                 ∀ a ∈ ARCS                (3)
         Σ_{a∈A^j} q_i(a) x_a ≤ K_j y_j               ∀ j ∈ CAPACITATED         (4)
         Σ_{j∈J_b} K_j y_j ≥ Σ_{i∈b} q_i              ∀ b ∈ BLOCKS              (5)
         0 ≤ x_a ≤ 1 (binary when single-source), u_i ≥ 0 (= 0 for a complete row)

   Without a row (4) (every site holds all the demand) single source is free: given y, each node's
   cheapest open arc serves it whole, so x stays continuous.

   u_i carries what truncated arcs leave out at c̲_i, the least cost beyond them: again a
   relaxation, exact once no u_i is used. (5) is a valid cut. When a node's pairs themselves
   leave sites out (`AssignInput.tail_cost`, e.g. each grid's nearest sites only), a row that
   holds all its pairs keeps u_i at the tail cost, so the model stays a relaxation of the
   problem over every site.

A plan read off a truncated model may leave some u_i > 0. `complete_assignment` turns it into
a plan of the whole problem: the open sites stay as they are and each such node's share goes
to open sites among all its pairs with capacity left, cheapest first (a feasible plan, so its
cost is an upper bound; None when some node finds no room).

Capacity a budget can buy — `capacity_need`. Every plan opens sites whose capacity holds the
block's demand, (5) with y integral. What the required sites do not hold, N_b = Σ_i q_i −
Σ_{j required} K_j, the optional sites must; the least spend that buys N_b of capacity is at
least the fractional knapsack min Σ c_j y_j s.t. Σ K_j y_j ≥ N_b, 0 ≤ y ≤ 1 (sites by c_j/K_j,
the last one in part). So when Σ_b of those least spends exceeds the budget, no plan exists —
decided from the data, before any model is built. Taking whole sites in the same
order gives a spend that does buy N_b (capacity only: single-source assignment may still need
more).

    symbol      attribute                       meaning
    y_j         m.site_open[j]                  site j open
    x_a         m.assigned[a]                   share of node i(a) served by site j(a) (5)
    u_i         m.unassigned[i]                 share left to arcs outside the model (5)
    c_j, k_j    SiteArrays.cost, .count         spend and count weight of site j
"""
from __future__ import annotations

import math
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
    tail_cost: np.ndarray | None = None     # per node: least cost of a site left out of `pairs` (None: rows complete)


@dataclass(frozen=True)
class CapacityNeed:
    """What one block's optional sites must hold, and what buying it costs (`capacity_need`)."""

    demand: float               # Σ_i q_i
    held: float                 # Σ_{j required} K_j
    need: float                 # N_b = max(0, demand − held)
    available: float            # Σ K_j over the optional sites
    least_spend: float          # fractional knapsack: no plan spends less on this block (inf: cannot hold N_b)
    whole_spend: float          # whole sites in the same order: a spend that buys N_b (inf: cannot)

    @property
    def short(self) -> bool:
        return self.need > 1e-9


def capacity_need(demand: np.ndarray, capacity: np.ndarray, required: np.ndarray, cost: np.ndarray) -> CapacityNeed:
    """The capacity a block's optional sites must add and its least spend (module docstring):
    demand q per node; capacity K, required flag and spend c per site."""
    total = float(np.sum(demand))
    held = float(np.sum(capacity[required]))
    need = max(0.0, total - held)
    optional = ~np.asarray(required, bool) & (capacity > 0)
    cap, cost = capacity[optional], cost[optional]
    available = float(cap.sum())
    if need <= 1e-9:
        return CapacityNeed(total, held, 0.0, available, 0.0, 0.0)
    if available < need - 1e-9:
        return CapacityNeed(total, held, need, available, math.inf, math.inf)
    order = np.argsort(cost / cap, kind="stable")
    cum = np.cumsum(cap[order])
    last = int(np.searchsorted(cum, need - 1e-9))          # the site that completes N_b
    before = float(cum[last - 1]) if last > 0 else 0.0
    whole = float(cost[order][:last + 1].sum())
    least = whole - float(cost[order][last]) * (1.0 - (need - before) / float(cap[order][last]))
    return CapacityNeed(total, held, need, available, least, whole)


def capacity_short(needs: list[CapacityNeed], spend: float) -> bool:
    """No plan can hold every block's demand within `spend` (proven). Sites that cannot hold the
    demand even all open, and the count limits, are left to the model, whose explanation says by
    how much each must grow."""
    if any(n.least_spend == math.inf for n in needs):
        return False
    return sum(n.least_spend for n in needs) > spend + 1e-6 * max(1.0, abs(spend))


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
        tail = np.full(b.pairs.n_nodes, np.inf) if b.tail_cost is None else b.tail_cost
        beyond.append(np.where(st.keep < b.pairs.degree, b.arc_cost[first_out] if len(b.arc_cost) else np.inf, tail))
        parts.append((mask, slice(site_off, site_off + b.pairs.n_sites), slice(arc_off, arc_off + len(tp.site))))
        arc_off += len(tp.site)
        site_off += b.pairs.n_sites
    cat = np.concatenate
    capacity = cat([_effective_capacity(b) for b in inputs]).astype(float)
    sites = SiteArrays(cat([np.full(b.pairs.n_sites, k) for k, b in enumerate(inputs)]).astype(np.int64),
                       cat([b.cost for b in inputs]).astype(float), cat([b.count for b in inputs]).astype(float),
                       cat([b.required for b in inputs]), cat([b.fixed_charge for b in inputs]).astype(float))
    arcs = AssignmentArrays(cat(indptr), cat(arc_site).astype(np.int64), cat(arc_cost).astype(float), cat(demand).astype(float),
                            cat(node_block).astype(np.int64), cat(beyond).astype(float),
                            capacity, single_source and bool(np.isfinite(capacity).any()))
    return sites, arcs, parts


def _effective_capacity(b: AssignInput) -> np.ndarray:
    """K_j, or inf (no row (4)) where the site holds the block's whole demand: the row then only
    repeats x_a ≤ y_j, and a capacity far above the demand would make it a poorly scaled big-M."""
    capacity = np.asarray(b.capacity, float)
    return np.where(capacity >= float(np.sum(b.demand)), np.inf, capacity)


def uncapacitated_shares(inputs, opened: list[np.ndarray], shares: list[np.ndarray]) -> list[np.ndarray]:
    """In every block where no site's capacity binds (no row (4)), each node wholly on its cheapest
    open pair (the best assignment for these open sites; nodes without one keep their shares)."""
    out = []
    for b, is_open, share in zip(inputs, opened, shares):
        if np.isfinite(_effective_capacity(b)).any() or len(b.pairs.site) == 0:
            out.append(share)
            continue
        rows, n = b.pairs.rows(), b.pairs.n_nodes
        hit = is_open[b.pairs.site]
        least = np.full(n, np.inf)
        np.minimum.at(least, rows[hit], b.arc_cost[hit])
        cheapest = np.flatnonzero(hit & (b.arc_cost <= least[rows]))
        first = np.full(n, len(rows))
        np.minimum.at(first, rows[cheapest], cheapest)
        found = first < len(rows)
        share = share.copy()
        share[found[rows]] = 0.0
        share[first[found]] = 1.0
        out.append(share)
    return out


def plan_shares(inputs, parts, x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per block: open sites and the share of every pair of `pairs` (0 beyond the model's arcs)."""
    opened, shares = [], []
    for b, (mask, sites, arcs) in zip(inputs, parts):
        share = np.zeros(len(b.pairs.site))
        share[mask] = np.clip(x[arcs], 0.0, 1.0)
        opened.append(y[sites].copy())
        shares.append(share)
    return opened, shares


def assigned_sites(inputs, shares: list[np.ndarray]) -> list[np.ndarray]:
    """Per block: the site of each node's largest share (ties: the nearest), -1 for none."""
    assigned = []
    for b, share in zip(inputs, shares):
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
        assigned.append(best)
    return assigned


def assignment_plan(inputs, states, parts, x: np.ndarray, y: np.ndarray):
    opened, shares = plan_shares(inputs, parts, x, y)
    return opened, assigned_sites(inputs, shares), shares


def assignment_cost(inputs, opened: list[np.ndarray], shares: list[np.ndarray]) -> float:
    """Σ_j f_j y_j + Σ_a c_a x_a of a plan over the blocks' pairs (formulation 5 without slack)."""
    return float(sum(b.fixed_charge[o].sum() + b.arc_cost @ sh for b, o, sh in zip(inputs, opened, shares)))


def idle_nodes(b: AssignInput) -> np.ndarray:
    """Per node: no demand and nothing to pay wherever it goes (its share changes neither cost nor load)."""
    top = np.zeros(b.pairs.n_nodes)
    if len(b.arc_cost):
        np.maximum.at(top, b.pairs.rows(), np.abs(b.arc_cost))
    return (b.demand <= 0) & (top <= 0)


def complete_assignment(inputs, opened: list[np.ndarray], shares: list[np.ndarray], single_source: bool,
                        tol: float = 1e-6) -> list[np.ndarray] | None:
    """Shares that serve every node wholly, opening nothing: each node's missing share (1 − Σ of
    its shares) goes to the open sites among its pairs with capacity left, cheapest first —
    whole, to one site, when `single_source` (nodes of largest demand first). None when some
    node finds no room (idle nodes go to an open site when they have one, and never fail)."""
    out = []
    for b, is_open, share in zip(inputs, opened, shares):
        share, stuck = fill_block(b, is_open, share, single_source, tol, first_only=True)
        if len(stuck):
            return None
        out.append(share)
    return out


def fill_block(b: AssignInput, is_open: np.ndarray, share: np.ndarray, single_source: bool, tol: float = 1e-6,
               first_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """`complete_assignment` on one block: the completed shares and the nodes that found no room among
    their pairs (all of them, or the first with `first_only`)."""
    share = share.copy()
    rows = b.pairs.rows()
    missing = 1.0 - np.bincount(rows, weights=share, minlength=b.pairs.n_nodes)
    idle = idle_nodes(b)
    needy = np.flatnonzero(missing > tol)
    stuck: list[int] = []
    if len(needy) == 0:
        return share, np.zeros(0, np.int64)
    if single_source:
        share[np.isin(rows, needy)] = 0.0
        missing[needy] = 1.0
        needy = needy[np.argsort(-b.demand[needy], kind="stable")]
    left = b.capacity - np.bincount(b.pairs.site, weights=b.demand[rows] * share, minlength=b.pairs.n_sites)
    for i in needy.tolist():
        idx = np.arange(b.pairs.indptr[i], b.pairs.indptr[i + 1])
        idx = idx[is_open[b.pairs.site[idx]]]
        idx = idx[np.argsort(b.arc_cost[idx], kind="stable")]
        q, need = float(b.demand[i]), float(missing[i])
        for a in idx.tolist():
            j = b.pairs.site[a]
            room = left[j] / q if q > 0 else np.inf
            if single_source:
                if room >= 1.0 - 1e-9:
                    share[a], left[j], need = 1.0, left[j] - q, 0.0
                    break
                continue
            give = min(need, room)
            if give > 0:
                share[a] += give
                left[j] -= give * q
                need -= give
            if need <= tol:
                break
        if need > tol and not idle[i]:
            stuck.append(i)
            if first_only:
                break
    return share, np.asarray(stuck, np.int64)


def shares_on(old: Pairs, new: Pairs, share: np.ndarray) -> np.ndarray:
    """A share per pair of `old` moved onto the pairs of `new` (matched by node and site)."""
    m = max(old.n_sites, new.n_sites, 1)
    old_key = old.rows().astype(np.int64) * m + old.site
    new_key = new.rows().astype(np.int64) * m + new.site
    order = np.argsort(new_key, kind="stable")
    pos = order[np.searchsorted(new_key[order], old_key)]
    out = np.zeros(len(new.site))
    out[pos] = share
    return out


def assignment_start(model, start) -> dict:
    x, u, y = start
    out = ComponentMap((model.assigned[a], float(v)) for a, v in enumerate(x) if a in model.assigned)
    out.update((model.site_open[j], float(v)) for j, v in enumerate(y))
    out.update((model.unassigned[i], float(v)) for i, v in enumerate(u))
    return out


def plan_start(model, inputs, parts, opened: list[np.ndarray], shares: list[np.ndarray]) -> dict:
    """A start for `model` (built on `parts`) from a plan over the blocks' pairs: shares on the
    model's arcs, the rest of each node's share as u_i."""
    x = np.concatenate([share[mask] for share, (mask, _, _) in zip(shares, parts)]) if parts else np.zeros(0)
    y = np.concatenate([o.astype(float) for o in opened]) if opened else np.zeros(0)
    covered = [np.bincount(b.pairs.rows()[mask], weights=share[mask], minlength=b.pairs.n_nodes)
               for b, share, (mask, _, _) in zip(inputs, shares, parts)]
    u = np.clip(1.0 - np.concatenate(covered), 0.0, 1.0) if covered else np.zeros(0)
    return assignment_start(model, (x, u, y))
