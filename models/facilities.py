"""Service facilities for the "seven haves" (七有) and the 15-minute community service circle
(一刻钟社区服务圈), DESIGN §4.3.

For each chosen service s (blocks side by side, sharing only the budget row), grids i are the
demand nodes with demand q_is (target group, see `models.facilities_data`), sites j of the
service are existing (fixed open unless closing is allowed) or candidates, and
N_is = sites within coverage_minutes[s] of walking. Spend c_j (10k CNY, first year) is
open_cost + annual_cost for a new site and annual_cost for an existing one.

    mclp      max Σ_s Σ_i q_is z_is                                               (1)
              z_is ≤ Σ_{j∈N_is} y_j,  0 ≤ z_is ≤ 1                                 (2)
              Σ_j c_j y_j ≤ B                                                      (3)
              Σ_{j∈J_s new} y_j ≤ p          ∀ s   (with --p)                     (4)
    lscp      min Σ_j c_j y_j   s.t.  Σ_{j∈N_is} y_j ≥ 1 for every coverable (i, s), (3)
    lscpb     lscp, then max Σ q_is u_is with Σ_{j∈N_is} y_j ≥ 1 + u_is where two sites
              reach, within the least spend (LSCP-B)
    pmedian   min Σ_s Σ_i q_is d_{i,a(i)}, (3), (4)                    (radius formulation)
    cpmedian  pmedian with Σ_{i: a(i)=j} q_is ≤ K_j y_j, one site per grid
    pcenter   min Σ_s max_{i: q_is>0} d_{i,a(i)}, (3), (4)
    cflp      min Σ_j c_j y_j + λ Σ_s Σ_i q_is d_{i,a(i)}, capacities, one site per grid, (3), (4)

c_j is what site j charges the budget (`allocator.data.money`): open_cost + annual_cost for a
new site, nothing for an existing one, whose running cost is a committed line reported apart.
B is what the city budget (--budget, else city.yaml) leaves after today's grid workers and
officers; p (--p) counts NEW sites per service and replaces B (with --p and no --budget there
is no row (3); with both, both hold). lscp and lscpb hold (3) only with --budget. Distances d are minutes; λ = travel_cost_per_person_minute (10k CNY per person
and minute of one-way walk, a planning assumption: about 50 trips a year at 1 CNY/min).

City scale (DESIGN §8). The maximal covering model is built after exact reductions, each
keeping an optimal plan (see `models.location.common`): existing sites leave the model and the
grids they cover become constants; grids with identical reachable-site sets merge (weights
add); a site is dropped when another reaches a superset of its grids at no higher cost;
grids left with one site fold into that site's objective. Services are separate blocks
coupled only by the budget row. How each objective is solved is in the solving layer
(allocator/solving/facilities.py); the formulations are those of `models.location`.

Group coverage C_g = Σ_{i∈g} q_is z_is / Σ_{i∈g} q_is by district, urban/rural and
registered/migrant (a grid's migrant share is its town's pop_migrant / (pop_resident +
pop_migrant)) is available as Pyomo expressions (`coverage_expressions`) on the model of
`build_model`, and is reported in districts.csv (cov_<service>) and plan meta.

    symbol      attribute / array                       meaning
    y_j         m.site_open[j]                          site j open
    z_is        m.level_reached[ℓ] (merged rows),        grid i covered for service s
                m.site_open[j] (folded grids)
    q_is        ServiceData.demand                      target-group persons
    c_j         ServiceData.spend                       10k CNY, first year of a new site
    N_is        ServiceData.reach                       sites within coverage minutes
    B, p        FacilitiesOptions.budget_10k_cny, .new_sites_per_service
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo
from scipy import sparse

from allocator.data.instance import Instance
from allocator.data.money import Budget, model_budget
from allocator.errors import InputError, Problem

from .facilities_data import ServiceData, services_data
from .facilities_tables import grid_labels
from .linear import linear
from .location.covering import CoverInput, PreparedCover, prepare_cover

__all__ = ["OBJECTIVES", "DEFAULT_OBJECTIVE", "FacilitiesOptions", "CoverageModel", "cover_inputs", "build_model",
           "coverage_expressions"]

OBJECTIVES = ("mclp", "lscp", "lscpb", "pmedian", "cpmedian", "pcenter", "cflp")
DEFAULT_OBJECTIVE = "mclp"
TRAVEL_COST_PER_PERSON_MINUTE = 0.005      # 10k CNY per person and minute of walk a year (assumption)
GROUPINGS = ("district", "urban_rural", "registration")
COST_CONVENTION = ("spend (10k CNY, first year) = open_cost + annual_cost of the new sites opened; existing sites' "
                   "annual_cost is committed, reported apart and not charged against the budget")
SPEND_ONLY = ("lscp", "lscpb")       # objectives whose objective is the spend: a budget row only with --budget


@dataclass(frozen=True)
class FacilitiesOptions:
    """What one facilities run holds (`for_city` fills in the city's defaults)."""

    objective: str = DEFAULT_OBJECTIVE
    services: tuple[str, ...] = ()
    budget_10k_cny: float = math.inf
    new_sites_per_service: float = math.inf
    allow_closing: bool = False
    travel_cost_per_person_minute: float = TRAVEL_COST_PER_PERSON_MINUTE
    money: Budget | None = field(default=None, compare=False)     # where B comes from

    @classmethod
    def for_city(cls, city: Instance, objective: str | None = None, services=(), budget: float | None = None,
                 p: float | None = None, **fixed) -> "FacilitiesOptions":
        """The options of a run on `city`: the services with sites (unless named), the budget the
        city budget (`budget`, else city.yaml's) leaves for new sites (`allocator.data.money`), no
        limit on new sites (unless p), the city's travel cost."""
        with_sites = set(city.sites["service"].astype(str).unique())
        services = tuple(services) if services else tuple(s for s in city.config.services if s in with_sites)
        unknown = [s for s in services if s not in city.config.services]
        if unknown:
            raise InputError(Problem("--services", f"unknown service(s) {', '.join(unknown)}; "
                                                   f"this city has {', '.join(city.config.services)}"))
        objective = objective or DEFAULT_OBJECTIVE
        money = model_budget(city, "facilities", budget, explicit_only=objective in SPEND_ONLY, p=p)
        norms = city.config.norms
        return cls(objective=objective, services=services, money=money,
                   budget_10k_cny=math.inf if money.limit is None else float(money.limit),
                   new_sites_per_service=math.inf if p is None else float(p),
                   travel_cost_per_person_minute=float(norms.get("travel_cost_per_person_minute", TRAVEL_COST_PER_PERSON_MINUTE)),
                   **fixed)


# --- the model of the city (maximal covering), for callers that add their own rows -------------

@dataclass
class CoverageModel:
    """The city's maximal covering model and what maps its variables back to grids and services."""

    city: Instance
    data: list[ServiceData]
    prepared: PreparedCover
    model: pyo.ConcreteModel


def cover_inputs(data: list[ServiceData], options: FacilitiesOptions) -> list[CoverInput]:
    """One covering block per service: new sites count 1 towards p, existing ones 0."""
    return [CoverInput(d.demand, d.reach, d.spend, (~d.existing).astype(float),
                       d.existing & (not options.allow_closing)) for d in data]


def build_model(city: Instance, options: FacilitiesOptions) -> CoverageModel:
    """The reduced maximal covering model (1)-(4) of the city, not yet solved."""
    data = services_data(city, options.services)
    prepared = prepare_cover(cover_inputs(data, options), options.budget_10k_cny,
                             [options.new_sites_per_service] * len(data))
    if not prepared.feasible:
        raise InputError(Problem("--budget", fixed_spend_text(data, options)))
    return CoverageModel(city, data, prepared, prepared.model())


def coverage_expressions(cm: CoverageModel, by: str = "district", service: str | None = None) -> dict[str, object]:
    """C_g as Pyomo expressions, one per group of `by` (district, urban_rural, registration),
    for one service or pooled over the model's services.

    With M the groups' membership of the grids (0/1, or shares for registration) and a a
    service's demand per grid: C_g's constant is M·(a ⊙ floor), a site's coefficient
    M·(a ⊙ (level − floor)) summed over the grids folded onto it, a level variable's
    M·a summed over its row's grids times the level's gain, all over M·a; one sparse product
    per service instead of one pass over every grid per group."""
    labels, membership = group_membership(cm.city, by)
    y, v = cm.model.site_open, cm.model.level_reached if hasattr(cm.model, "level_reached") else {}
    flat = cm.prepared.flat
    levels = flat["coverage"].levels
    site_off, row_off = flat["site_off"], flat["row_off"]
    den = np.zeros(len(labels))
    const = np.zeros(len(labels))
    coefs: list[list[float]] = [[] for _ in labels]
    terms: list[list] = [[] for _ in labels]
    for k, d in enumerate(cm.data):
        if service is not None and d.service != service:
            continue
        block = cm.prepared.blocks[k]
        a = np.asarray(d.demand, dtype=float)
        den += membership @ a
        const += membership @ (a * block.node_floor)
        sites = _per_group(membership, block.node_site, a * (block.node_level - block.node_floor), len(block.sites))
        rows = _per_group(membership, block.node_row, a, len(block.row_weight))
        mine = np.flatnonzero((levels.row >= row_off[k]) & (levels.row < row_off[k + 1]))
        gain = flat["coverage"].gain[mine]
        level_rows = levels.row[mine] - row_off[k]
        for g in range(len(labels)):
            if den[g] <= 0:
                continue
            _append_row(sites, g, coefs[g], terms[g], lambda j: y[site_off[k] + j])
            c = rows[g].toarray().ravel()[level_rows] * gain
            for ell in np.flatnonzero(c).tolist():
                coefs[g].append(float(c[ell]))
                terms[g].append(v[mine[ell]])
    return {label: (linear(coefs[g], terms[g]) + float(const[g])) / float(den[g])
            for g, label in enumerate(labels) if den[g] > 0}


def group_membership(city: Instance, by: str) -> tuple[list[str], sparse.csr_matrix]:
    """Group labels and their membership of the grids (groups × grids: 0/1, or each grid's
    share in its group for registration)."""
    labels, index, shares = grid_labels(city, by)
    n = len(city.grids)
    if shares is not None:
        return labels, sparse.csr_matrix(np.vstack([np.asarray(s, dtype=float) for s in shares]))
    known = index >= 0
    return labels, sparse.csr_matrix((np.ones(int(known.sum())), (index[known], np.flatnonzero(known))),
                                     shape=(len(labels), n))


def _per_group(membership: sparse.csr_matrix, node_to: np.ndarray, weight: np.ndarray, width: int) -> sparse.csr_matrix:
    """groups × targets: Σ over the grids mapped to each target (node_to ≥ 0) of membership × weight."""
    mapped = np.flatnonzero(node_to >= 0)
    spread = sparse.csr_matrix((weight[mapped], (mapped, node_to[mapped])), shape=(membership.shape[1], width))
    out = (membership @ spread).tocsr()
    out.sort_indices()
    return out


def _append_row(matrix: sparse.csr_matrix, g: int, coefs: list[float], terms: list, var) -> None:
    """Append row g's nonzeros, in column order, as (coefficient, variable) terms."""
    lo, hi = matrix.indptr[g], matrix.indptr[g + 1]
    for j, c in zip(matrix.indices[lo:hi].tolist(), matrix.data[lo:hi].tolist()):
        if c:
            coefs.append(float(c))
            terms.append(var(j))


def fixed_spend_text(data: list[ServiceData], opts: FacilitiesOptions) -> str:
    """Why no budget is left for new sites: the city budget does not pay today's staff."""
    b = opts.money
    if b is None:
        return f"the budget {opts.budget_10k_cny:,.6g} (10k CNY) is below zero"
    return (f"the city budget of {b.city:,.1f} (10k CNY a year) does not pay today's grid workers and officers "
            f"({b.held_total:,.1f}), so nothing is left for new sites; raise the budget (--budget, or budget in "
            f"city.yaml) to at least {b.held_total:,.1f}, or limit the new sites with --p (without --budget)")
