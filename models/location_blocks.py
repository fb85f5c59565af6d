"""Pyomo formulations of the location families, built from prepared arrays.

Each builder takes flat arrays — several blocks (one per service) side by side, sharing only
the spend and count rows — and returns a ConcreteModel. Only the pairs and levels prepared in
`models.location_data` enter, so the model grows with reachable pairs, never with n × m.

Shared by every family:

    y_j ∈ {0, 1}                     ∀ j ∈ SITES      (fixed at 1 for fixed-open sites)
    Σ_j c_j y_j ≤ B                                    (S) spend_within_budget
    Σ_{j∈J_b} k_j y_j ≤ p_b  (or = p_b)  ∀ b ∈ BLOCKS  (P) sites_within_count

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

3. p-median, radius formulation (Elloumi 2010) — `build_radius_model`

    min  Σ_i w_i D_i1 + Σ_ℓ w_i(ℓ) (D_next(ℓ) − D_ℓ) z_ℓ                        (1)
    s.t. z_ℓ + Σ_{j∈S_ℓ} y_j ≥ z_prev(ℓ)            ∀ ℓ ∈ LEVELS  (z_prev = 1 first)  (2)
         z_ℓ = 0 on the last level of a complete row, 0 ≤ z_ℓ ≤ 1

   Levels are the distinct distances D of each node's sorted sites; z_ℓ = 1 when no open
   site lies within D_ℓ. A truncated row's last level costs D_beyond − D_ℓ, a lower bound on
   what is left out, so a truncated model is a relaxation (see `models.location`).

4. p-center — `build_center_model`: (2) of 3 and

    min  Σ_b ( R⁰_b + Σ_{k∈K_b} (R_{k+1} − R_k) u_k )                           (1)
         u_κ(ℓ) ≥ z_ℓ                               ∀ ℓ with κ(ℓ) defined        (4)
         u_k ≥ u_{k+1}                              ∀ consecutive k in a block   (5)

   R_k are the distinct (weighted) distances of block b from R⁰_b (the largest nearest-site
   distance, a lower bound) up to a known feasible radius; u_k = 1 when the radius exceeds
   R_k; κ(ℓ) is the largest R_k below the node's next level.

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
    v_ℓ         m.level_reached[ℓ]              coverage level ℓ reached (1)
    u_r         m.backup_covered[r]             row r covered twice (2)
    z_ℓ         m.farther_than_level[ℓ]         node farther than level ℓ (3, 4)
    u_k         m.radius_exceeds[k]             radius beyond R_k (4)
    x_a         m.assigned[a]                   share of node i(a) served by site j(a) (5)
    u_i         m.unassigned[i]                 share left to arcs outside the model (5)
    c_j, k_j    SiteArrays.cost, .count         spend and count weight of site j
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression

from .location_data import Levels


@dataclass
class SiteArrays:
    """Model sites of all blocks side by side."""

    block: np.ndarray          # block of each model site
    cost: np.ndarray           # spend per site (S)
    count: np.ndarray          # weight in the count row (P)
    fixed: np.ndarray          # bool: y fixed at 1
    objective: np.ndarray      # objective coefficient of y (bonus or fixed charge)


@dataclass
class Limits:
    """The shared rows: spend room (S) and count room per block (P)."""

    spend: float = np.inf
    count: np.ndarray | None = None       # per block; inf = no row
    count_exact: bool = False


SPEND_GROUP = 64       # sites per partial sum of the spend row (S)


def linear(coefs: list[float], variables: list) -> LinearExpression:
    """Σ_k coefs[k]·variables[k], built as its final terms at once (a coefficient 1 keeps the bare variable)."""
    return LinearExpression([v if c == 1 else MonomialTermExpression((c, v)) for c, v in zip(coefs, variables)])


# --- shared parts ---------------------------------------------------------------------------

def _add_site_variables(m, sites: SiteArrays, relaxed: bool = False) -> list:
    m.SITES = pyo.RangeSet(0, len(sites.cost) - 1) if len(sites.cost) else pyo.Set(initialize=[])
    m.site_open = pyo.Var(m.SITES, domain=pyo.UnitInterval if relaxed else pyo.Binary)
    for j in np.flatnonzero(sites.fixed).tolist():
        m.site_open[j].setlb(1)          # a bound, not fix(): HiGHS's presolve removes it
    return [m.site_open[j] for j in range(len(sites.cost))]


def _add_shared_limits(m, y: list, sites: SiteArrays, limits: Limits) -> None:
    _add_spend_limit(m, y, sites, limits)
    _add_count_limits(m, y, sites, limits)


def _add_spend_limit(m, y: list, sites: SiteArrays, limits: Limits) -> None:
    """(S) as Σ_g s_g ≤ B with s_g = Σ_{j∈g} c_j y_j over groups g of SPEND_GROUP sites.

    One dense row over thousands of binaries makes every simplex iteration and HiGHS's
    presolve slow (measured: 20,000 sites, 90 s for 1,800 iterations); partial sums keep
    each row short and leave the model's solutions and bound unchanged.
    """
    if not np.isfinite(limits.spend):
        return
    idx = np.flatnonzero(sites.cost != 0)
    groups = [idx[k:k + SPEND_GROUP].tolist() for k in range(0, len(idx), SPEND_GROUP)]
    m.SPEND_GROUPS = pyo.RangeSet(0, len(groups) - 1) if groups else pyo.Set(initialize=[])
    m.group_spend = pyo.Var(m.SPEND_GROUPS, bounds=(0, None))
    cost = sites.cost

    @m.Constraint(m.SPEND_GROUPS)
    def group_spend_adds_up(m, g):
        """(S′) s_g − Σ_{j∈g} c_j y_j = 0"""
        js = groups[g]
        return (0.0, linear([1.0] + (-cost[js]).tolist(), [m.group_spend[g]] + [y[j] for j in js]), 0.0)

    @m.Constraint()
    def spend_within_budget(m):
        """(S) Σ_g s_g ≤ B"""
        return (None, linear([1.0] * len(groups), [m.group_spend[g] for g in range(len(groups))]), float(limits.spend))


def _add_count_limits(m, y: list, sites: SiteArrays, limits: Limits) -> None:
    if limits.count is None or not np.isfinite(limits.count).any():
        return
    blocks = np.flatnonzero(np.isfinite(limits.count)).tolist()
    m.LIMITED_BLOCKS = pyo.Set(initialize=blocks)

    @m.Constraint(m.LIMITED_BLOCKS)
    def sites_within_count(m, b):
        """(P) Σ_{j∈J_b} k_j y_j ≤ p_b (= p_b for p-median and p-center)"""
        idx = np.flatnonzero((sites.block == b) & (sites.count != 0)).tolist()
        expr = linear(sites.count[idx].tolist(), [y[j] for j in idx])
        room = float(limits.count[b])
        return (room if limits.count_exact else None, expr, room)


def _level_sites(levels: Levels, pair_site: np.ndarray) -> tuple[list, list, list]:
    return pair_site.tolist(), levels.start.tolist(), levels.end.tolist()


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
    y = _add_site_variables(m, sites)
    v = _add_level_variables(m, cover)
    _add_level_links(m, y, v, cover)
    _add_shared_limits(m, y, sites, limits)
    _add_coverage_objective(m, y, v, sites, cover)
    return m


def _add_level_variables(m, cover: CoverageArrays) -> list:
    m.LEVELS = pyo.RangeSet(0, len(cover.levels) - 1) if len(cover.levels) else pyo.Set(initialize=[])
    m.level_reached = pyo.Var(m.LEVELS, bounds=(0, 1))
    return [m.level_reached[k] for k in range(len(cover.levels))]


def _add_level_links(m, y: list, v: list, cover: CoverageArrays) -> None:
    site, start, end = _level_sites(cover.levels, cover.pair_site)
    prev = cover.levels.prev.tolist()

    @m.Constraint(m.LEVELS)
    def level_reached_through_open_site(m, k):
        """(2) v_ℓ − v_prev(ℓ) − Σ_{j∈S_ℓ} y_j ≤ 0"""
        group = site[start[k]:end[k]]
        variables = [v[k]] + [y[j] for j in group]
        coefs = [1.0] + [-1.0] * len(group)
        if prev[k] >= 0:
            variables.append(v[prev[k]])
            coefs.append(-1.0)
        return (None, linear(coefs, variables), 0.0)


def _add_coverage_objective(m, y: list, v: list, sites: SiteArrays, cover: CoverageArrays) -> None:
    js = np.flatnonzero(sites.objective).tolist()
    coefs = sites.objective[js].tolist() + (cover.weight * cover.gain).tolist()
    expr = linear(coefs, [y[j] for j in js] + v)
    m.covered_demand = pyo.Objective(expr=expr + cover.constant, sense=pyo.maximize)


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
    y = _add_site_variables(m, sites)
    m.ROWS = pyo.RangeSet(0, len(cover.need) - 1) if len(cover.need) else pyo.Set(initialize=[])
    u = _add_backup_variables(m, cover) if backup else None
    _add_node_cover(m, y, u, cover)
    _add_shared_limits(m, y, sites, limits)
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


# --- 3. p-median (radius formulation) ---------------------------------------------------------

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
    y = _add_site_variables(m, sites, relaxed)
    z = _add_farther_variables(m, radius)
    _add_farther_links(m, y, z, radius)
    _add_shared_limits(m, y, sites, limits)
    js = np.flatnonzero(sites.objective).tolist()
    expr = linear(sites.objective[js].tolist() + radius.cost.tolist(), [y[j] for j in js] + z)
    m.weighted_distance = pyo.Objective(expr=expr + radius.constant, sense=pyo.minimize)
    return m


def _add_farther_variables(m, radius: RadiusArrays) -> list:
    n = len(radius.levels)
    m.LEVELS = pyo.RangeSet(0, n - 1) if n else pyo.Set(initialize=[])
    m.farther_than_level = pyo.Var(m.LEVELS, bounds=(0, 1))
    z = [m.farther_than_level[k] for k in range(n)]
    for k in np.flatnonzero(radius.closed).tolist():
        z[k].setub(0)
    return z


def _add_farther_links(m, y: list, z: list, radius: RadiusArrays) -> None:
    site, start, end = _level_sites(radius.levels, radius.pair_site)
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


# --- 4. p-center --------------------------------------------------------------------------------

@dataclass
class CenterArrays:
    radius: RadiusArrays        # its `cost` is unused
    radius_block: np.ndarray    # block of each radius level k
    radius_step: np.ndarray     # R_{k+1} − R_k
    raises: np.ndarray          # per node level ℓ: radius level κ(ℓ) or -1
    constant: float             # Σ_b R⁰_b


def build_center_model(sites: SiteArrays, center: CenterArrays, limits: Limits) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel("p_center")
    y = _add_site_variables(m, sites)
    z = _add_farther_variables(m, center.radius)
    _add_farther_links(m, y, z, center.radius)
    u = _add_radius_variables(m, center)
    _add_radius_links(m, z, u, center)
    _add_shared_limits(m, y, sites, limits)
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


# --- 5. assignment ------------------------------------------------------------------------------

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
    y = _add_site_variables(m, sites)
    x, u = _add_assignment_variables(m, arcs)
    _add_node_assignment(m, x, u, arcs)
    _add_open_site_links(m, y, x, arcs)
    _add_capacity_limits(m, y, x, arcs)
    _add_capacity_cover(m, y, sites, arcs)
    _add_shared_limits(m, y, sites, limits)
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
