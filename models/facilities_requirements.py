"""The facilities model an infeasibility explanation relaxes, and its requirements in the
planner's words.

The solving layer's location procedures reduce and truncate; this model is the
city's own, unreduced, so that every id is a grid, site or service of the city. Over the
chosen services s, sites j (existing or candidate) and grids i, with y_j ∈ {0, 1}:

    spend_within_budget          Σ_j c_j y_j ≤ B                                       (tier 1)
    new_sites_within_p[s]        Σ_{j new ∈ s} y_j ≤ p      (with --p)                  (tier 1)
    site_open.lower              y_j ≥ 1 for an existing site (kept open)                (tier 3)
    lscp, lscpb:
      grid_within_reach[s,i]     Σ_{j∈N_is} y_j ≥ 1 for every grid some site reaches     (tier 2)
    pmedian, pcenter:
      grid_has_a_site[s,i]       Σ_{j∈P_is} y_j ≥ 1 for every grid with demand (P_is: the
                                 grid's pairs of `minutes_pairs`), rows met by an existing
                                 site left out                                           (tier 2)
    cpmedian, cflp (single source, x_ij ∈ {0, 1} over the pairs):
      grid_served_once[s,i]      Σ_j x_ij = 1 for every grid with demand      (definition)
      served_only_by_open_site   x_ij ≤ y_j                                   (definition)
      capacity_not_exceeded[j]   Σ_i q_is x_ij ≤ K_j                                     (tier 3)
      above MAX_ARCS pairs, instead: open_capacity_meets_demand[s]  Σ_j K_j y_j ≥ Σ_i q_is
      (a necessary condition only; the words say so)

B is FacilitiesOptions.budget_10k_cny, p .new_sites_per_service; c_j, N_is, q_is, K_j as in
`models.facilities` (`models.facilities_data.ServiceData`). `REQUIREMENTS` holds each
family's words, `DEFINITIONS` the rows never relaxed.

    symbol      attribute                       meaning
    y_j         m.site_open[j]                  site j open
    x_ij        m.served[s, i, j]               grid i served by site j for service s
"""
from __future__ import annotations

import math

import numpy as np
import pyomo.environ as pyo

from .facilities import FacilitiesOptions
from .facilities_data import ServiceData
from .location.common import Pairs
from .requirements import BUDGET_REMEDY, MONEY, Family

MAX_ARCS = 200_000            # pairs above which capacities are explained by total open capacity
COVERING = ("lscp", "lscpb")
ASSIGNING = ("pmedian", "pcenter", "cpmedian", "cflp")
CAPACITATED = ("cpmedian", "cflp")


# --- the planner's words for each requirement (an infeasibility explanation relaxes them) ----------

REQUIREMENTS: dict[str, Family] = {
    "spend_within_budget": Family(                                     # _add_sites
        "the budget", MONEY, 1, "the budget for new sites of {limit} falls {amount} short{of_held}",
        BUDGET_REMEDY, verb="paying for"),
    "new_sites_within_p": Family(                                      # _add_sites
        "the number of new sites (--p)", "sites", 1,
        "new sites per service (--p) are limited to {limit}, too few in {members} ({each} more)",
        "raise --p to {target}", member="service", shared=True, held="the new sites of {members}"),
    "grid_within_reach": Family(                                       # build_model, lscp and lscpb
        "covering every grid a site can reach (lscp)", "grids", 2,
        "{members} ({ids}) would stay without a site within their service's minutes",
        "use --objective mclp (the most demand covered within --budget and --p)", member="grid",
        held="cover within reach of {members}"),
    "grid_has_a_site": Family(                                         # build_model, pmedian and pcenter
        "a site for every grid with demand", "grids", 2, "{members} ({ids}) would have no open site to go to",
        "raise the budget (--budget) or --p", member="grid", held="a site for {members}"),
    "capacity_not_exceeded": Family(                                   # _add_capacities
        "site capacities", "persons", 3, "the capacity falls short at {members} ({each})",
        "raise their capacity in sites.csv ({raised} persons), or add sites (rows of sites.csv)", member="site",
        held="the full capacity of {members}"),
    "open_capacity_meets_demand": Family(                              # _add_capacities, above MAX_ARCS pairs
        "capacity for all demand", "persons", 3,
        "the open sites' capacity falls short in {members} ({each}; from total capacity: serving each grid "
        "from one site may need more)", "raise capacity in sites.csv, or add sites (rows of sites.csv)", member="service"),
    "site_open.lower": Family(                                         # _add_sites
        "keeping existing sites open", "sites", 3, "{members} ({ids}) would have to close",
        "to allow that, set existing to 0 for them in sites.csv (the model keeps existing sites open)",
        member="existing site"),       # their running cost is committed, not charged: never what the budget pays for
}
DEFINITIONS: frozenset[str] = frozenset({"grid_served_once", "served_only_by_open_site"})    # _add_capacities


# --- the model ---------------------------------------------------------------------------------

def build_model(data: list[ServiceData], pairs: list[Pairs], grid_ids: np.ndarray,
                options: FacilitiesOptions) -> pyo.ConcreteModel:
    """The model above for `options`' objective, budget and p over the services of `data`; `pairs`:
    each service's `minutes_pairs` (assigning objectives; every grid with demand has one)."""
    m = pyo.ConcreteModel("facilities_explained")
    _add_sites(m, data, options)
    if options.objective in COVERING:
        _add_rows(m, "grid_within_reach", [((d.service, grid_ids[i]), d.site_ids[_sites(d.reach, i)])
                                           for d in data for i in np.flatnonzero(d.reach.degree > 0)])
    elif options.objective in CAPACITATED:
        _add_capacities(m, data, pairs, grid_ids)
    elif options.objective in ASSIGNING:
        _add_rows(m, "grid_has_a_site", [((d.service, grid_ids[i]), d.site_ids[_sites(p, i)])
                                         for d, p in zip(data, pairs) for i in np.flatnonzero(d.demand > 0)
                                         if not (d.existing[_sites(p, i)].any() and not options.allow_closing)])
    return m


def _sites(p: Pairs, i: int) -> np.ndarray:
    return p.site[p.indptr[i]:p.indptr[i + 1]]


def _add_sites(m, data: list[ServiceData], options: FacilitiesOptions) -> None:
    """y_j with existing sites held open (a lower bound), the budget row and p (lscp and lscpb hold it too)."""
    ids = [str(j) for d in data for j in d.site_ids]
    cost = {str(j): float(c) for d in data for j, c in zip(d.site_ids, d.spend)}
    kept = {str(j) for d in data for j in d.site_ids[d.existing]} if not options.allow_closing else set()
    m.SITES = pyo.Set(initialize=ids, ordered=True)
    m.site_open = pyo.Var(m.SITES, within=pyo.Binary, bounds=lambda m, j: (1 if j in kept else 0, 1))
    if math.isfinite(options.budget_10k_cny):
        m.spend_within_budget = pyo.Constraint(
            expr=pyo.quicksum(cost[j] * m.site_open[j] for j in ids) <= options.budget_10k_cny)
    if math.isfinite(options.new_sites_per_service):
        new = {d.service: [str(j) for j in d.site_ids[~d.existing]] for d in data}
        m.SERVICES = pyo.Set(initialize=[s for s in new if new[s]], ordered=True)
        m.new_sites_within_p = pyo.Constraint(
            m.SERVICES, rule=lambda m, s: pyo.quicksum(m.site_open[j] for j in new[s]) <= options.new_sites_per_service)


def _add_rows(m, name: str, rows: list) -> None:
    """One row Σ_{j ∈ sites} y_j ≥ 1 per (key, sites)."""
    keyed = {key: [str(j) for j in sites] for key, sites in rows}
    index = pyo.Set(initialize=list(keyed), dimen=2, ordered=True)
    m.add_component(f"{name}_index", index)
    m.add_component(name, pyo.Constraint(index, rule=lambda m, s, i: pyo.quicksum(m.site_open[j] for j in keyed[s, i]) >= 1))


def _add_capacities(m, data: list[ServiceData], pairs: list[Pairs], grid_ids: np.ndarray) -> None:
    """Single-source assignment with capacity rows; above MAX_ARCS pairs, total open capacity per service."""
    if sum(int(p.degree[d.demand > 0].sum()) for d, p in zip(data, pairs)) > MAX_ARCS:
        need = {d.service: float(d.demand.sum()) for d in data}
        caps = {d.service: [(str(j), float(k)) for j, k in zip(d.site_ids, d.capacity)] for d in data}
        m.CAPACITY_SERVICES = pyo.Set(initialize=list(need), ordered=True)
        m.open_capacity_meets_demand = pyo.Constraint(m.CAPACITY_SERVICES, rule=lambda m, s: pyo.quicksum(
            k * m.site_open[j] for j, k in caps[s]) >= need[s])
        return
    arcs, demand, capacity = [], {}, {}
    for d, p in zip(data, pairs):
        for i in np.flatnonzero(d.demand > 0):
            demand[d.service, grid_ids[i]] = float(d.demand[i])
            arcs += [(d.service, grid_ids[i], str(d.site_ids[j])) for j in _sites(p, i)]
        capacity.update((str(j), float(k)) for j, k in zip(d.site_ids, d.capacity))
    m.ARCS = pyo.Set(initialize=arcs, dimen=3, ordered=True)
    m.DEMAND_ROWS = pyo.Set(initialize=list(demand), dimen=2, ordered=True)
    m.served = pyo.Var(m.ARCS, within=pyo.Binary)
    by_row: dict = {}
    by_site: dict = {}
    for a in arcs:
        by_row.setdefault(a[:2], []).append(a)
        by_site.setdefault(a[2], []).append(a)
    m.grid_served_once = pyo.Constraint(m.DEMAND_ROWS, rule=lambda m, s, i: pyo.quicksum(m.served[a] for a in by_row[s, i]) == 1)
    m.served_only_by_open_site = pyo.Constraint(m.ARCS, rule=lambda m, s, i, j: m.served[s, i, j] <= m.site_open[j])
    m.USED_SITES = pyo.Set(initialize=list(by_site), ordered=True)
    m.capacity_not_exceeded = pyo.Constraint(m.USED_SITES, rule=lambda m, j: pyo.quicksum(
        demand[a[:2]] * m.served[a] for a in by_site[j]) <= capacity[j])
