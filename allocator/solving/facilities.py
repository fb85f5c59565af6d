"""Solving the facilities model (`models.facilities`): the run's options, one procedure per
objective, the plan tables and the meta of plan.json.

    mclp        `maximal_cover` over all services side by side, coupled only by the budget
                row: HiGHS gets a greedy incumbent (coverage per cost) to start from. The LP
                relaxation is solved first (HiGHS presolve off: its presolve is pathological
                on a budget row over thousands of sites); when the greedy plan is within the
                requested gap of that bound it is returned as proven, otherwise the MIP runs
                from it.
    lscp, lscpb `set_cover` service by service, the budget checked on the sum (one joint
                solve under the budget when the sum exceeds it unproven)
    pmedian     `p_median` (LP rounds, then MIP rounds) on each grid's walking-minute pairs
    pcenter     `p_center` on the same pairs, every grid with demand weighing 1
    cpmedian    `assignment`, single source, arcs costing demand × minutes (`p_median` when every
                site can hold all of its service's demand: the two problems are then one). First,
                from the data alone: when the least spend that buys the capacity the kept sites
                lack (`capacity_need`) exceeds the budget, the run is infeasible at once
    cflp        `assignment`, single source, with the sites' spend as fixed charges and
                travel_cost_per_person_minute × demand × minutes per arc

The procedures are those of `allocator.solving.location`; the formulations are in
`models.location`. `facilities_options` translates the command line's RunOptions into the
model's own FacilitiesOptions.
"""
from __future__ import annotations

import math
import time

import numpy as np

from allocator.data.instance import Instance
from allocator.models.facilities import (COST_CONVENTION, DEFAULT_OBJECTIVE, OBJECTIVES, FacilitiesOptions, cover_inputs,
                                         fixed_spend_text)
from allocator.models.facilities_data import ServiceData, grid_rows, nearest_site_minutes, services_data, widen_rows
from allocator.models.facilities_tables import plan_figures, plan_tables
from allocator.models.location.assignment import AssignInput, CapacityNeed, capacity_need, capacity_short
from allocator.models.location.median import MedianInput
from allocator.solving.run import ModelRun, RunOptions
from allocator.solving.solve import SolveOptions, deadline_of, relative_gap

from .location.assignment import assignment
from .location.center import p_center
from .location.common import Clock, Outcome
from .location.covering import maximal_cover, set_cover
from .location.median import p_median

__all__ = ["DEFAULT_OBJECTIVE", "OBJECTIVES", "capacity_needs", "facilities_options", "run"]


def facilities_options(city: Instance, run: RunOptions, **fixed) -> FacilitiesOptions:
    """The model's options from the run's (objective, services, budget, p) and the city."""
    return FacilitiesOptions.for_city(city, run.objective, run.services, run.budget, run.p, **fixed)


def run(city: Instance, options: RunOptions, solve_options: SolveOptions) -> ModelRun:
    opts = facilities_options(city, options)
    clock = Clock(solve_options.time_limit, deadline=deadline_of(solve_options))
    t0 = time.perf_counter()
    data = services_data(city, opts.services)
    clock.build_s += time.perf_counter() - t0
    outcome, assigned, extra = _solve(city, data, opts, solve_options, clock)
    if outcome.open and not opts.allow_closing:        # existing sites stay open (a site in no row has no value)
        outcome.open = [o | d.existing for o, d in zip(outcome.open, data)]
    meta = {"facilities": _meta(opts, data, outcome, extra)}
    if not outcome.open:
        return ModelRun(outcome.solve_result(clock), opts.objective, {}, None, clock.build_s, clock.extract_s, meta,
                        _restricted(extra, _explain(outcome, data, opts)))
    t1 = time.perf_counter()
    tables = plan_tables(city, data, outcome.open, assigned, opts)
    figures = plan_figures(city, data, tables, opts, outcome.open)
    meta["facilities"].update(figures)
    clock.extract_s += time.perf_counter() - t1
    result = outcome.solve_result(clock)
    said = _degeneracy(city, data, opts, figures, outcome.status)
    if said:
        meta["degeneracy"] = said
    return ModelRun(result, opts.objective, tables, figures["objective_value"], clock.build_s, clock.extract_s, meta,
                    _restricted(extra, said["statement"] if said else None))


def _degeneracy(city: Instance, data: list[ServiceData], opts: FacilitiesOptions, figures: dict,
                status: str) -> dict | None:
    """When the plan is as good as the objective can be with every site open, no budget above its
    spend changes it: say so (with the budget, in city terms, from which it holds), rather than
    present the value as something the budget bought. mclp: every grid a site reaches is covered;
    p-median: every grid walks to its nearest site of all; p-center: every service's worst grid
    is as near as its nearest site of all allows."""
    if status != "optimal" or opts.objective not in ("mclp", "pmedian", "pcenter"):
        return None
    best = _best_possible(city, data, opts.objective)
    value = float(figures["objective_value"])
    if abs(value - best) > 1e-9 * max(1.0, abs(best)):
        return None
    held = opts.money.held_total if opts.money is not None else 0.0
    spend = float(figures["spend_10k_cny"])
    what = {"mclp": "every grid a site can reach is covered",
            "pmedian": "every grid walks to its nearest site of all",
            "pcenter": "every service's farthest grid is as near as its nearest site of all allows"}[opts.objective]
    text = (f"{what}, so no budget can do better: every budget from {spend + held:,.1f} (10k CNY a year: "
            f"this plan's new sites {spend:,.1f} and today's staff {held:,.1f}) on reaches this value")
    return {"statement": text, "from_budget_10k_cny": spend + held, "best_possible": best}


def _best_possible(city: Instance, data: list[ServiceData], objective: str) -> float:
    """The objective with every site of every service open (straight-line minutes, or travel.csv's)."""
    if objective == "mclp":
        return float(sum(d.demand[d.reach.degree > 0].sum() for d in data))
    total = 0.0
    for d in data:
        near = nearest_site_minutes(city, d.site_rows)
        used = d.demand > 0
        total += float(d.demand[used] @ near[used]) if objective == "pmedian" else float(near[used].max(initial=0.0))
    return total


def _restricted(extra: dict, explanation: str | None) -> str | None:
    """The explanation, led by the restriction the run was solved on (if any)."""
    if not extra.get("restriction"):
        return explanation
    return extra["restriction"] + (f"; {explanation}" if explanation else "")


def _solve(city: Instance, data: list[ServiceData], opts: FacilitiesOptions, solve_options: SolveOptions,
           clock: Clock) -> tuple[Outcome, list[np.ndarray] | None, dict]:
    objective, budget, p = opts.objective, opts.budget_10k_cny, opts.new_sites_per_service
    if objective == "mclp":
        outcome, _ = maximal_cover(cover_inputs(data, opts), budget, [p] * len(data), solve_options, clock)
        return outcome, None, {}
    if objective in ("lscp", "lscpb"):
        return _set_cover(data, opts, solve_options, clock), None, {}
    required = [d.existing & (not opts.allow_closing) for d in data]
    count = [(~d.existing).astype(float) for d in data]
    t0 = time.perf_counter()
    # every site holds all of its service's demand: the capacitated p-median is the p-median
    as_median = objective == "cpmedian" and all(np.all(d.capacity >= d.demand.sum()) for d in data)
    if objective in ("pmedian", "pcenter") or as_median:
        rows = [grid_rows(city, d.site_rows, through=rq) for d, rq in zip(data, required)]
        clock.build_s += time.perf_counter() - t0
    if (objective in ("pmedian", "pcenter") or as_median) and not (as_median and any(r.restricted for r in rows)):
        inputs = [MedianInput(d.demand if objective != "pcenter" else (d.demand > 0).astype(float), r.pairs, rq, d.spend, c, p)
                  for d, r, rq, c in zip(data, rows, required, count)]
        procedure = p_center if objective == "pcenter" else p_median
        outcome = procedure(inputs, budget, False, solve_options, clock)
        restricted = [(d.service, r.nearest) for d, r in zip(data, rows) if r.restricted]
        extra = {"pairs": _pair_note([r.pairs for r in rows], data, bool(restricted))}
        if as_median:
            extra["solved_as"] = "pmedian: every site can hold all of its service's demand"
        if restricted:
            extra["restriction"] = (f"{outcome.status} among each grid's {restricted[0][1]} nearest sites of "
                                    f"{', '.join(s for s, _ in restricted)} only (too many grid-site pairs to hold "
                                    "them all, and no existing site that must stay open to bound them): farther sites "
                                    "were not considered")
        return outcome, None, extra
    needs = capacity_needs(data, required)
    if capacity_short(needs, budget):         # decided from the data, before any model
        return Outcome("infeasible", [], details={"reason": "capacity", "capacity_needs": needs}), None, {}
    t0 = time.perf_counter()
    rows = [grid_rows(city, d.site_rows) for d in data]
    clock.build_s += time.perf_counter() - t0
    travel = opts.travel_cost_per_person_minute if objective == "cflp" else 1.0

    def block(k: int) -> AssignInput:
        d, r = data[k], rows[k]
        return AssignInput(r.pairs, travel * d.demand[r.pairs.rows()] * r.pairs.value, d.demand, d.capacity,
                           d.spend if objective == "cflp" else np.zeros(len(d.spend)), required[k], d.spend, count[k], p,
                           travel * d.demand * r.tail)

    def widen(k: int, nodes: np.ndarray, is_open: np.ndarray) -> AssignInput:
        rows[k] = widen_rows(city, data[k].site_rows, rows[k], nodes, is_open)
        return block(k)

    outcome = assignment([block(k) for k in range(len(data))], budget, False, True, solve_options, clock, widen)
    return outcome, outcome.details.pop("assignment", None), {"pairs": _pair_note([r.pairs for r in rows], data)}


def capacity_needs(data: list[ServiceData], required: list[np.ndarray]) -> list[CapacityNeed]:
    """Per service: the capacity its optional sites must add, and the least spend that buys it."""
    return [capacity_need(d.demand, d.capacity, rq, d.spend) for d, rq in zip(data, required)]


def _set_cover(data: list[ServiceData], opts: FacilitiesOptions, solve_options: SolveOptions, clock: Clock) -> Outcome:
    """lscp / lscpb. The least spend is a sum over services, so each service is solved alone and
    the budget is checked on the sum (every service must be fully covered either way)."""
    inputs = cover_inputs(data, opts)
    p = opts.new_sites_per_service
    parts = [set_cover([b], math.inf, opts.objective == "lscpb", solve_options, clock, p) for b in inputs]
    if not all(o.open for o in parts):
        bad = next(o for o in parts if not o.open)
        return Outcome(bad.status, [], None, None, None, bad.details)
    least = sum(float(o.details.get("least_spend", 0.0)) for o in parts)
    proven = all(o.details.get("least_spend_gap") in (None, 0.0) or o.status == "optimal" for o in parts)
    if least > opts.budget_10k_cny + 1e-9 and proven:
        return Outcome("infeasible", [], None, None, None, {"reason": "budget", "least_spend": least})
    if least > opts.budget_10k_cny + 1e-9:
        return set_cover(inputs, opts.budget_10k_cny, opts.objective == "lscpb", solve_options, clock, p)
    status = "optimal" if all(o.status == "optimal" for o in parts) else next(o.status for o in parts if o.status != "optimal")
    value = sum(o.objective for o in parts)
    bound = sum(o.bound for o in parts) if all(o.bound is not None for o in parts) else None
    gap = relative_gap(value, bound)
    return Outcome(status, [o.open[0] for o in parts], value, bound, gap,
                   {"least_spend": least, "split_by_service": True,
                    "reductions": [r for o in parts for r in o.details.get("reductions", [])]})


def _pair_note(pairs, data: list[ServiceData], restricted: bool = False) -> str:
    complete = all(len(p.site) == p.n_nodes * d.existing.size for p, d in zip(pairs, data))
    if complete:
        return "every grid-site pair"
    if restricted:
        return "each grid's nearest sites only (a restriction of the problem)"
    return ("each grid's nearest sites, and farther ones wherever a plan could use them (or the pairs of "
            "travel.csv)")


def _meta(opts: FacilitiesOptions, data: list[ServiceData], outcome: Outcome, extra: dict) -> dict:
    out = {"services": list(opts.services),
           "budget_10k_cny": None if math.isinf(opts.budget_10k_cny) else opts.budget_10k_cny,
           "new_sites_per_service": None if math.isinf(opts.new_sites_per_service) else opts.new_sites_per_service,
           "allow_closing": opts.allow_closing, "cost_convention": COST_CONVENTION,
           "travel_cost_per_person_minute": opts.travel_cost_per_person_minute,
           "coverage_minutes": {d.service: d.coverage_minutes for d in data}}
    for key in ("reductions", "least_spend", "greedy_objective", "fallback", "rounds", "lp_rounds", "model_pairs",
                "all_pairs", "model_arcs", "all_arcs", "split_by_service", "repaired", "widened_pairs"):
        if key in outcome.details:
            out[key] = outcome.details[key]
    out.update(extra)
    return out


def _explain(outcome: Outcome, data: list[ServiceData], opts: FacilitiesOptions) -> str | None:
    if outcome.status != "infeasible":
        return None if outcome.status == "optimal" else f"no plan was found ({outcome.status})"
    reason = outcome.details.get("reason")
    if reason == "fixed_sites_exceed_limits" or opts.budget_10k_cny < 0:
        return fixed_spend_text(data, opts)
    if reason == "node_without_site":
        empty = [d.service for d in data if d.existing.size == 0]
        if empty:
            return (f"the city has no {', '.join(empty)} sites, so {opts.objective} cannot assign the grids to one; "
                    f"add sites (sites.csv) or leave {', '.join(empty)} out (--services)")
        return ("some grids with demand have no site of their service in travel.csv, "
                f"so {opts.objective} cannot assign them; add their pairs to travel.csv or use --objective mclp")
    if reason == "capacity":
        return _capacity_text(data, outcome.details["capacity_needs"], opts)
    if opts.objective in ("cpmedian", "cflp"):
        short = [d.service for d in data if d.capacity.sum() < d.demand.sum()]
        if short:
            return (f"the sites of {', '.join(short)} cannot hold the demand even if all were open; raise capacity "
                    f"in sites.csv, or leave {', '.join(short)} out (--services)")
        limits = []
        if opts.budget_10k_cny is not None and math.isfinite(opts.budget_10k_cny):
            limits.append(f"the budget for new sites of {opts.budget_10k_cny:,.0f} (10k CNY/yr)")
        if opts.new_sites_per_service is not None and math.isfinite(opts.new_sites_per_service):
            limits.append(f"at most {opts.new_sites_per_service:g} new sites per service (--p)")
        return ("no plan holds every grid's demand within the capacities"
                + (f" under {' and '.join(limits)}" if limits else "") + "; raise the budget (--budget) or --p")
    if opts.objective in ("lscp", "lscpb"):
        least = outcome.details.get("least_spend")
        held = opts.money.held_total if opts.money is not None else 0.0
        if least is not None and least > opts.budget_10k_cny + 1e-9:
            return (f"covering every coverable grid costs {least:,.1f} (10k CNY a year) in new sites, more than the "
                    f"{opts.budget_10k_cny:,.1f} the budget leaves for them; raise the budget (--budget) to at least "
                    f"{least + held:,.1f}, leave --budget out (lscp then has no budget row), or use --objective mclp")
        return (f"covering every coverable grid needs more than {opts.new_sites_per_service:g} new sites in some "
                "service; raise --p, leave it out, or use --objective mclp")
    return (f"no plan meets the budget {opts.budget_10k_cny:,.6g} and the limit on new sites together; "
            "raise the budget (--budget) or --p")


def _capacity_text(data: list[ServiceData], needs: list[CapacityNeed], opts: FacilitiesOptions) -> str:
    """Why the capacitated models have no plan, from the data (`capacity_need`): what today's sites
    hold, what the rest costs at least, and the option that lifts it."""
    short = [(d.service, n) for d, n in zip(data, needs) if n.short]
    held = ("the sites kept hold only part of the demand (" + "; ".join(
        f"{s} {n.held:,.0f} of {n.demand:,.0f} persons" if k == 0 else f"{s} {n.held:,.0f} of {n.demand:,.0f}"
        for k, (s, n) in enumerate(short)) + ")")
    names = ", ".join(s for s, _ in short)
    least, whole = sum(n.least_spend for _, n in short), sum(n.whole_spend for _, n in short)
    kept = opts.money.held_total if opts.money is not None else 0.0
    return (f"{held}; new sites that hold the rest cost at least {least:,.0f} (10k CNY a year), more than the "
            f"{opts.budget_10k_cny:,.0f} the budget leaves for new sites; raise the budget (--budget) to "
            f"{math.ceil(whole + kept):,} (it then buys that capacity), or leave {names} out (--services)")
