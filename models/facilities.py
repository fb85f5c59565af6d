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

B is --budget, else the city's budget; p (--p) counts NEW sites per service. Existing sites
that must stay open make their running cost a constant of (3); a budget below it is
infeasible. Distances d are minutes; λ = travel_cost_per_person_minute (10k CNY per person
and minute of one-way walk, a planning assumption: about 50 trips a year at 1 CNY/min).

City scale (DESIGN §8). The maximal covering model is solved after exact reductions, each
keeping an optimal plan (see `models.location_data`): existing sites leave the model and the
grids they cover become constants; grids with identical reachable-site sets merge (weights
add); a site is dropped when another reaches a superset of its grids at no higher cost;
grids left with one site fold into that site's objective. Services are separate blocks
coupled only by the budget row (lscp/lscpb are solved service by service, the budget checked
on the sum), and HiGHS gets a greedy incumbent (coverage per cost) to start from. The LP
relaxation is solved first (HiGHS presolve off: its presolve is pathological on a budget row
over thousands of sites); when the greedy plan is within the requested gap of that bound it
is returned as proven, otherwise the MIP runs from it.

Group coverage C_g = Σ_{i∈g} q_is z_is / Σ_{i∈g} q_is by district, urban/rural and
registered/migrant (a grid's migrant share is its town's pop_migrant / (pop_resident +
pop_migrant)) is available as Pyomo expressions (`coverage_expressions`) on the model of
`build_model`, and is reported in districts.csv (cov_<service>) and plan meta.

    symbol      attribute / array                       meaning
    y_j         m.site_open[j]                          site j open
    z_is        m.level_reached[ℓ] (merged rows),        grid i covered for service s
                m.site_open[j] (folded grids)
    q_is        ServiceData.demand                      target-group persons
    c_j         ServiceData.spend                       10k CNY, first year
    N_is        ServiceData.reach                       sites within coverage minutes
    B, p        FacilitiesOptions.budget_10k_cny, .new_sites_per_service
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

from allocator.errors import InputError, Problem
from allocator.data.instance import Instance
from allocator.solving.run import ModelRun, RunOptions
from allocator.solving.solve import SolveOptions

from .facilities_data import ServiceData, minutes_pairs, service_data
from .facilities_tables import grid_groups, plan_figures, plan_tables
from allocator.solving.location import LocationResult, solve_cflp, solve_lscp, solve_mclp, solve_pcenter, solve_pmedian

from .linear import linear
from .location.assignment import AssignInput
from .location.covering import CoverInput, PreparedCover, prepare_cover
from .location.median import MedianInput
from allocator.solving.location.assignment import assignment
from allocator.solving.location.center import p_center
from allocator.solving.location.common import Clock, Outcome
from allocator.solving.location.covering import maximal_cover, set_cover
from allocator.solving.location.median import p_median

__all__ = ["OBJECTIVES", "DEFAULT_OBJECTIVE", "FacilitiesOptions", "run", "build_model", "coverage_expressions",
           "LocationResult", "solve_pmedian", "solve_cflp", "solve_mclp", "solve_lscp", "solve_pcenter"]

OBJECTIVES = ("mclp", "lscp", "lscpb", "pmedian", "cpmedian", "pcenter", "cflp")
DEFAULT_OBJECTIVE = "mclp"
TRAVEL_COST_PER_PERSON_MINUTE = 0.005      # 10k CNY per person and minute of walk a year (assumption)
GROUPINGS = ("district", "urban_rural", "registration")
COST_CONVENTION = ("spend (10k CNY, first year) = sum over open sites of annual_cost, plus open_cost for new sites; "
                   "existing sites kept open add their annual_cost as a constant")


@dataclass(frozen=True)
class FacilitiesOptions:
    """What one facilities run holds (resolved from the command line and the city)."""

    objective: str = DEFAULT_OBJECTIVE
    services: tuple[str, ...] = ()
    budget_10k_cny: float = math.inf
    new_sites_per_service: float = math.inf
    allow_closing: bool = False
    travel_cost_per_person_minute: float = TRAVEL_COST_PER_PERSON_MINUTE

    @classmethod
    def resolve(cls, city: Instance, run: RunOptions, **fixed) -> "FacilitiesOptions":
        with_sites = set(city.sites["service"].astype(str))
        services = tuple(run.services) if run.services else tuple(s for s in city.config.services if s in with_sites)
        unknown = [s for s in services if s not in city.config.services]
        if unknown:
            raise InputError(Problem("--services", f"unknown service(s) {', '.join(unknown)}; "
                                                   f"this city has {', '.join(city.config.services)}"))
        budget = run.budget if run.budget is not None else city.config.budget
        norms = city.config.norms
        return cls(objective=run.objective or DEFAULT_OBJECTIVE, services=services, budget_10k_cny=float(budget),
                   new_sites_per_service=math.inf if run.p is None else float(run.p),
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
    data = [service_data(city, s) for s in options.services]
    prepared = prepare_cover(cover_inputs(data, options), options.budget_10k_cny,
                             [options.new_sites_per_service] * len(data))
    if not prepared.feasible:
        raise InputError(Problem("--budget", _fixed_spend_text(data, options)))
    return CoverageModel(city, data, prepared, prepared.model())


def coverage_expressions(cm: CoverageModel, by: str = "district", service: str | None = None) -> dict[str, object]:
    """C_g as Pyomo expressions, one per group of `by` (district, urban_rural, registration),
    for one service or pooled over the model's services."""
    num: dict[str, list] = {}
    den: dict[str, float] = {}
    y, v = cm.model.site_open, cm.model.level_reached if hasattr(cm.model, "level_reached") else {}
    flat = cm.prepared.flat
    levels = flat["coverage"].levels
    site_off, row_off = flat["site_off"], flat["row_off"]
    for k, d in enumerate(cm.data):
        if service is not None and d.service != service:
            continue
        block = cm.prepared.blocks[k]
        for label, share in grid_groups(cm.city, by).items():
            a = d.demand * share
            if a.sum() <= 0:
                continue
            den[label] = den.get(label, 0.0) + float(a.sum())
            terms = num.setdefault(label, [[], [], 0.0])
            terms[2] += float(a @ block.node_floor)
            folded = block.node_site >= 0
            coef = np.bincount(block.node_site[folded], weights=a[folded] * (block.node_level - block.node_floor)[folded],
                               minlength=len(block.sites))
            for j in np.flatnonzero(coef).tolist():
                terms[0].append(float(coef[j]))
                terms[1].append(y[site_off[k] + j])
            rows = block.node_row >= 0
            row_a = np.bincount(block.node_row[rows], weights=a[rows], minlength=len(block.row_weight))
            mine = (levels.row >= row_off[k]) & (levels.row < row_off[k + 1])
            for ell in np.flatnonzero(mine).tolist():
                c = row_a[levels.row[ell] - row_off[k]] * flat["coverage"].gain[ell]
                if c:
                    terms[0].append(float(c))
                    terms[1].append(v[ell])
    return {g: (linear(num[g][0], num[g][1]) + num[g][2]) / den[g] for g in num}


# --- run ---------------------------------------------------------------------------------------

def run(city: Instance, options: RunOptions, solve_options: SolveOptions) -> ModelRun:
    opts = FacilitiesOptions.resolve(city, options)
    clock = Clock(solve_options.time_limit)
    t0 = time.perf_counter()
    data = [service_data(city, s) for s in opts.services]
    clock.build_s += time.perf_counter() - t0
    outcome, assigned, extra = _solve(city, data, opts, solve_options, clock)
    meta = {"facilities": _meta(opts, data, outcome, extra)}
    if not outcome.open:
        return ModelRun(outcome.solve_result(clock), opts.objective, {}, None, clock.build_s, clock.extract_s, meta,
                        _explain(outcome, data, opts))
    t1 = time.perf_counter()
    tables = plan_tables(city, data, outcome.open, assigned, opts)
    figures = plan_figures(city, data, tables, opts, outcome.open)
    meta["facilities"].update(figures)
    clock.extract_s += time.perf_counter() - t1
    result = outcome.solve_result(clock)
    return ModelRun(result, opts.objective, tables, figures["objective_value"], clock.build_s, clock.extract_s, meta)


def _solve(city: Instance, data: list[ServiceData], opts: FacilitiesOptions, solve_options: SolveOptions,
           clock: Clock) -> tuple[Outcome, list[np.ndarray] | None, dict]:
    objective, budget, p = opts.objective, opts.budget_10k_cny, opts.new_sites_per_service
    if objective == "mclp":
        outcome, _ = maximal_cover(cover_inputs(data, opts), budget, [p] * len(data), solve_options, clock)
        return outcome, None, {}
    if objective in ("lscp", "lscpb"):
        return _set_cover(data, opts, solve_options, clock), None, {}
    t0 = time.perf_counter()
    pairs = [minutes_pairs(city, d.site_rows) for d in data]
    clock.build_s += time.perf_counter() - t0
    required = [d.existing & (not opts.allow_closing) for d in data]
    count = [(~d.existing).astype(float) for d in data]
    if objective in ("pmedian", "pcenter"):
        inputs = [MedianInput(d.demand if objective == "pmedian" else (d.demand > 0).astype(float), pr, rq, d.spend, c, p)
                  for d, pr, rq, c in zip(data, pairs, required, count)]
        procedure = p_median if objective == "pmedian" else p_center
        return procedure(inputs, budget, False, solve_options, clock), None, {"pairs": _pair_note(pairs, data)}
    travel = opts.travel_cost_per_person_minute if objective == "cflp" else 1.0
    inputs = [AssignInput(pr, travel * d.demand[pr.rows()] * pr.value, d.demand, d.capacity,
                          d.spend if objective == "cflp" else np.zeros(len(d.spend)), rq, d.spend, c, p)
              for d, pr, rq, c in zip(data, pairs, required, count)]
    outcome = assignment(inputs, budget, False, True, solve_options, clock)
    return outcome, outcome.details.pop("assignment", None), {"pairs": _pair_note(pairs, data)}


def _set_cover(data: list[ServiceData], opts: FacilitiesOptions, solve_options: SolveOptions, clock: Clock) -> Outcome:
    """lscp / lscpb. The least spend is a sum over services, so each service is solved alone and
    the budget is checked on the sum (every service must be fully covered either way)."""
    inputs = cover_inputs(data, opts)
    parts = [set_cover([b], math.inf, opts.objective == "lscpb", solve_options, clock) for b in inputs]
    if not all(o.open for o in parts):
        bad = next(o for o in parts if not o.open)
        return Outcome(bad.status, [], None, None, None, bad.details)
    least = sum(float(o.details.get("least_spend", 0.0)) for o in parts)
    proven = all(o.details.get("least_spend_gap") in (None, 0.0) or o.status == "optimal" for o in parts)
    if least > opts.budget_10k_cny + 1e-9 and proven:
        return Outcome("infeasible", [], None, None, None, {"reason": "budget", "least_spend": least})
    if least > opts.budget_10k_cny + 1e-9:
        return set_cover(inputs, opts.budget_10k_cny, opts.objective == "lscpb", solve_options, clock)
    status = "optimal" if all(o.status == "optimal" for o in parts) else next(o.status for o in parts if o.status != "optimal")
    value = sum(o.objective for o in parts)
    bound = sum(o.bound for o in parts) if all(o.bound is not None for o in parts) else None
    gap = abs(value - bound) / max(abs(value), 1e-10) if bound is not None else None
    return Outcome(status, [o.open[0] for o in parts], value, bound, gap,
                   {"least_spend": least, "split_by_service": True,
                    "reductions": [r for o in parts for r in o.details.get("reductions", [])]})


def _pair_note(pairs, data: list[ServiceData]) -> str:
    complete = all(len(p.site) == p.n_nodes * d.existing.size for p, d in zip(pairs, data))
    return "every grid-site pair" if complete else "each grid's nearest sites (or the pairs of travel.csv)"


def _meta(opts: FacilitiesOptions, data: list[ServiceData], outcome: Outcome, extra: dict) -> dict:
    fixed = sum(float(d.spend[d.existing].sum()) for d in data) if not opts.allow_closing else 0.0
    out = {"services": list(opts.services), "budget_10k_cny": opts.budget_10k_cny,
           "new_sites_per_service": None if math.isinf(opts.new_sites_per_service) else opts.new_sites_per_service,
           "allow_closing": opts.allow_closing, "cost_convention": COST_CONVENTION, "fixed_spend_10k_cny": fixed,
           "travel_cost_per_person_minute": opts.travel_cost_per_person_minute,
           "coverage_minutes": {d.service: d.coverage_minutes for d in data}}
    for key in ("reductions", "least_spend", "greedy_objective", "fallback", "rounds", "lp_rounds", "model_pairs",
                "all_pairs", "model_arcs", "all_arcs", "split_by_service"):
        if key in outcome.details:
            out[key] = outcome.details[key]
    out.update(extra)
    return out


def _fixed_spend_text(data: list[ServiceData], opts: FacilitiesOptions) -> str:
    fixed = sum(float(d.spend[d.existing].sum()) for d in data)
    return (f"the budget {opts.budget_10k_cny:,.6g} (10k CNY) is below the running cost {fixed:,.6g} of the existing "
            f"{', '.join(opts.services)} sites that must stay open")


def _explain(outcome: Outcome, data: list[ServiceData], opts: FacilitiesOptions) -> str | None:
    if outcome.status != "infeasible":
        return None if outcome.status == "optimal" else f"no plan was found ({outcome.status})"
    reason = outcome.details.get("reason")
    fixed = sum(float(d.spend[d.existing].sum()) for d in data)
    if reason == "fixed_sites_exceed_limits" or (not opts.allow_closing and fixed > opts.budget_10k_cny + 1e-9):
        return _fixed_spend_text(data, opts)
    if reason == "node_without_site":
        empty = [d.service for d in data if d.existing.size == 0]
        if empty:
            return f"the city has no {', '.join(empty)} sites, so {opts.objective} cannot assign the grids to one"
        return ("some grids with demand have no site of their service in travel.csv, "
                f"so {opts.objective} cannot assign them")
    if opts.objective in ("cpmedian", "cflp"):
        short = [d.service for d in data if d.capacity.sum() < d.demand.sum()]
        if short:
            return f"the sites of {', '.join(short)} cannot hold the demand even if all were open"
        return ("no plan holds every grid's demand within the capacities under the budget "
                f"{opts.budget_10k_cny:,.6g} and at most {opts.new_sites_per_service:g} new sites per service")
    if opts.objective in ("lscp", "lscpb"):
        least = outcome.details.get("least_spend")
        cost = f" ({least:,.6g})" if least is not None else ""
        return (f"covering every coverable grid costs{cost} more than the budget {opts.budget_10k_cny:,.6g} (10k CNY); "
                "raise the budget or use --objective mclp")
    return f"no plan meets the budget {opts.budget_10k_cny:,.6g} and the limit on new sites together"
