"""Solving the roadmap model (models.roadmap): `allocator solve --model roadmap --years FIRST:LAST`.

What the planner asked (`RunOptions`) becomes `RoadmapOptions`: the years and their budgets
(`allocator.data.years.Years`: city.yaml budgets, else --budget or city.yaml budget grown by
--budget-growth), the hire quotas (--hire-quota KIND=N), the build limit and lag, the target of
`--objective target` (--target-level, --target-year), and the city model's blocks as
`allocator.solving.city` reads them (headcount, move limit, services) for every year.

`run`: build the model; a year whose budget cannot pay the required staff (models.city
`mandatory_shortfall`) ends the run as infeasible before any solve, naming the year. Every
--equity-bound and --no-worse-than-today holds in every year. Then the sequence:

    LP relaxation   its value bounds every roadmap (LP_TIME_SHARE of the time left at most)
    first plan      the LP's sites and grid staff rounded down (models.roadmap `rounded_plan`) with
                    the rest completed by HiGHS; failing that, the steady plan (`steady_plan`:
                    today's staff kept, the required minimum, no new site) completed the same way
    objective       the MIP from the first plan (an equity objective: PRIMARY_TIME_SHARE of the
                    time left), then for maxmin, owa and alpha the most efficient plan that keeps
                    it within HOLD_TOLERANCE (no district held back for nobody's gain)

A large roadmap (Chongqing: five city models of 34,127 grids) gets no plan from HiGHS alone in
600 s; the rounded LP plan is within 0.05 % of the LP bound there. The headline is the objective
asked, recomputed from the plan's tables, against the tighter of the LP's and the MIP's bounds
(both hold for every roadmap); its status is the objective's stages' (`optimal` only when every
one was proven), and an optimum whose recomputed gap exceeds the gap asked says why (alpha).

Tables: every city plan table, one block per year with a `year` column first, each year's
"today" being the year before (town_staff.enforcement_now: last year's officers;
facilities.existing: open last year), and roadmap.csv (`roadmap_table`).
"""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from allocator.data.instance import Instance
from allocator.data.years import Years, with_today
from allocator.errors import InputError, Problem
from allocator.models.city import check_index_weights, city_plan_levels, extract, mandatory_shortfall, plan_objective
from allocator.models.equity_problem import HOLD_TOLERANCE, hold_bound, hold_today
from allocator.models.roadmap import (DEFAULT_OBJECTIVE, DEFAULT_YEARS, MEASURES, OBJECTIVES, Roadmap, RoadmapOptions,
                                      all_levels, build_roadmap, community_workers, efficiency, hold_objective_then_efficiency,
                                      rounded_plan,
                                      roadmap_table, set_objective, steady_plan)
from allocator.solving.city import enforcement_block_options, facilities_block_options
from allocator.solving.run import ModelRun, RunOptions, missed_gap_note, stage_record
from allocator.solving.leximin import solve_leximin
from allocator.solving.solve import SolveOptions, SolveResult, deadline_of, primary_gap, solve, tighter_bound

__all__ = ["DEFAULT_OBJECTIVE", "OBJECTIVES", "run", "roadmap_options"]

PRIMARY_TIME_SHARE = 0.75   # an equity objective leaves a quarter of the time left for its tie-break
LP_TIME_SHARE = 0.3         # at most this share of the time left for the LP relaxation
FIRST_PLAN_TIME_SHARE = 0.5  # at most this share of the time left to complete a first plan


def roadmap_options(city: Instance, run: RunOptions, index_weights=None) -> RoadmapOptions:
    """The roadmap the planner asked for; InputError (exit 2) names the option that is wrong."""
    first, last = run.years or DEFAULT_YEARS
    years = Years.of(city, first, last, run.budget, run.budget_growth)
    objective = run.objective or DEFAULT_OBJECTIVE
    if objective == "target":
        if run.target_level is None:
            raise InputError(Problem("--target-level", "--objective target needs the service index every district "
                                                       "must reach, e.g. --target-level 0.8"))
        target_year = run.target_year if run.target_year is not None else last
        if not first <= target_year <= last:
            raise InputError(Problem("--target-year", f"must lie within the roadmap's years {first}:{last}",
                                     value=target_year))
    elif run.target_level is not None or run.target_year is not None:
        raise InputError(Problem("--target-level", "is read only with --objective target"))
    else:
        target_year = None
    if run.build_lag >= len(years.years):
        raise InputError(Problem("--build-lag", f"a lag of {run.build_lag} years leaves no year of {first}:{last} "
                                                "in which a new site can serve", value=run.build_lag))
    return RoadmapOptions(years, objective, check_index_weights(index_weights), tuple(run.hire_quotas),
                          run.build_limit, run.build_lag, run.target_level, target_year, run.allow_release)


def build(city: Instance, run: RunOptions, options: RoadmapOptions) -> Roadmap:
    """The roadmap model, its years' blocks read from the run as the city model reads them."""
    return build_roadmap(city, options, enforcement_block_options(city, run), facilities_block_options(city, run))


def run(city: Instance, options: RunOptions, solve_options: SolveOptions, index_weights=None) -> ModelRun:
    ro = roadmap_options(city, options, index_weights)
    t0 = time.perf_counter()
    rm = build(city, options, ro)
    build_s = time.perf_counter() - t0
    meta = {"roadmap": ro.as_meta(), **_block_meta(rm)}
    why = _shortfall(rm)
    if why:
        result = SolveResult("infeasible", None, None, None, "decided from the data")
        return ModelRun(result, ro.objective, build_s=build_s, explanation=why, meta=meta)
    for problem in rm.problems.values():
        if options.no_worse_than_today:
            hold_today(problem)
        for measure, bound in options.equity_bounds:
            hold_bound(problem, measure, bound)
    set_objective(rm)
    first, stages = _solve_sequence(rm, solve_options)
    done = ModelRun(first, ro.objective, build_s=build_s, meta=meta, model=rm.model, stages=stages)
    if not first.has_solution:
        done.explanation = _no_plan(first, options)
        return done
    t1 = time.perf_counter()
    done.tables = plan_tables(rm)
    done.objective_value = plan_value(rm, done.tables)
    maximise = rm.model.roadmap_objective.sense == pyo.maximize
    tie = [s["status"] for s in stages if s["stage"] == TIE_BREAK_STAGE]
    status = "optimal" if first.status == "optimal" and all(s == "optimal" for s in tie) else "time_limit"
    gap = primary_gap(done.objective_value, first.bound, maximise)
    done.result = replace(first, status=status, objective=done.objective_value, gap=gap,
                          handover_s=sum(s["handover_s"] for s in stages), solve_s=sum(s["solve_s"] for s in stages))
    done.status_text = missed_gap_note(ro.objective, status, gap, solve_options.gap)
    roadmap = done.tables["roadmap"]
    meta["roadmap"].update({"mean_index": float(roadmap["mean_index"].mean()),
                            "lowest_index": float(roadmap["lowest_index"].min())})
    done.extract_s = time.perf_counter() - t1
    return done


def _block_meta(rm: Roadmap) -> dict:
    cm = rm.years[rm.first]
    return {"city": {**cm.options.as_meta(), "budget": None, "city_pool": None},
            "enforcement": cm.enforcement.options.as_meta(),
            "facilities": {"services": list(cm.facilities.options.services), "allow_closing": False}}


def _shortfall(rm: Roadmap) -> str | None:
    for y, cm in rm.years.items():
        why = mandatory_shortfall(rm.cities[y], cm)
        if why:
            return f"in {y}: {why}"
    return None


def _no_plan(result: SolveResult, options: RunOptions) -> str:
    if result.status == "infeasible":
        bounds = ", the equity bounds" if options.equity_bounds else ""
        return ("no roadmap meets every year's budgets, transfer caps, city pool and staffing rules together with the "
                f"hire quotas, the build limit and lag{bounds} and keeping every year's staff the next year")
    return f"HiGHS found no roadmap ({result.status}); allow more time (--time-limit)"


def _solve_sequence(rm: Roadmap, options: SolveOptions) -> tuple[SolveResult, list[dict]]:
    """The LP bound, a first plan from it, the objective from that plan, then (an equity objective) the
    most efficient plan that keeps it."""
    deadline = deadline_of(options)
    tie_break = rm.options.objective in MEASURES and rm.options.objective != "utilitarian"
    start, bound, stages = _first_plan(rm, options, deadline)
    if rm.options.objective == "leximin":
        return _leximin(rm, options, deadline, start, bound, stages)
    first = solve(rm.model, _within(options, deadline, PRIMARY_TIME_SHARE if tie_break else 1.0, rm.options.objective),
                  start=start)
    stages.append(_stage(rm.options.objective, first))
    if not first.has_solution and start is not None:          # HiGHS found nothing better in time: the first plan
        for v, x in start.items():
            v.set_value(x, skip_validation=True)
        first = replace(first, has_solution=True, objective=pyo.value(rm.model.roadmap_objective), status="time_limit")
    first = tighter_bound(first, bound, rm.model.roadmap_objective.sense == pyo.maximize)
    if not (tie_break and first.has_solution):
        return first, stages
    hold_objective_then_efficiency(rm, float(first.objective), HOLD_TOLERANCE)
    return first, stages + [_tie_break(rm, options, deadline)]


def _tie_break(rm: Roadmap, options: SolveOptions, deadline: float | None) -> dict:
    """Max efficiency with the objective held (its rows in place), from the plan loaded; a tie-break
    without a plan puts that plan back."""
    start = _loaded(rm)
    second = solve(rm.model, _within(options, deadline, 1.0, TIE_BREAK_STAGE), start=start)
    if not second.has_solution:
        for v, x in start.items():
            v.set_value(x, skip_validation=True)
    return _stage(TIE_BREAK_STAGE, second)


def _leximin(rm: Roadmap, options: SolveOptions, deadline: float | None, start: ComponentMap | None,
             bound: float | None, stages: list[dict]) -> tuple[SolveResult, list[dict]]:
    """Leximin over every year's and district's index (allocator.solving.leximin), its floors kept, then
    max efficiency. The headline is the lowest index of any year: round 1's, bounded by the LP and round 1."""
    rm.model.roadmap_objective.deactivate()
    lex = solve_leximin(rm.model, all_levels(rm), _within(options, deadline, PRIMARY_TIME_SHARE, "leximin"), start=start)
    stages = stages + [{**s, "handover_s": 0.0, "solve_s": s["seconds"]} for s in lex.stages]
    first = lex.result
    if first is None or not first.has_solution:
        if start is None:
            return first or SolveResult("time_limit", None, None, None, "leximin stopped"), stages
        for v, x in start.items():
            v.set_value(x, skip_validation=True)
        first = replace(first or SolveResult("time_limit", None, None, None, ""), has_solution=True)
    lowest = min(float(pyo.value(level)) for level in all_levels(rm).values())
    first = tighter_bound(replace(first, status=lex.status, objective=lowest, bound=lex.first_bound), bound, True)
    rm.model.efficiency_objective = pyo.Objective(expr=efficiency(rm), sense=pyo.maximize)
    return first, stages + [_tie_break(rm, options, deadline)]


def _stage(name: str, result: SolveResult) -> dict:
    """A stage of plan.json, with its hand-over and HiGHS seconds apart (the run's timings sum them)."""
    return stage_record(name, result, handover_s=result.handover_s, solve_s=result.solve_s)


def _loaded(rm: Roadmap) -> ComponentMap:
    return ComponentMap((v, v.value) for v in rm.model.component_data_objects(pyo.Var) if v.value is not None)


TIE_BREAK_STAGE = "tie-break: max efficiency"
LP_STAGE = "LP relaxation (a bound on every roadmap)"
ROUNDED_STAGE = "first plan: the LP's sites and grid staff rounded down"
STEADY_STAGE = "first plan: today's staff kept, the required minimum, no new site"


def _first_plan(rm: Roadmap, options: SolveOptions, deadline: float | None) -> tuple[ComponentMap | None, float | None, list[dict]]:
    """The LP relaxation (its value bounds every roadmap), its decisions rounded down (`rounded_plan`) and
    completed by HiGHS; failing that, the steady plan (`steady_plan`) completed. (start, LP bound, stages).
    An equity measure's LP is solved by the interior point method: on Chongqing's five years HiGHS's simplex
    had not solved maxmin's in 173 s, its interior point method took 60 s (and 49 s for utilitarian's,
    which the simplex solves in 14 s)."""
    method = None if rm.options.objective in ("utilitarian", "target") else {"solver": "ipm"}
    lp = solve(rm.model, _within(options, deadline, LP_TIME_SHARE, LP_STAGE), relax=True, highs_options=method)
    stages = [_stage(LP_STAGE, lp)]
    bound = lp.objective if lp.status == "optimal" else None
    tries = [(ROUNDED_STAGE, rounded_plan(rm))] if bound is not None else []
    for stage, decided in tries + [(STEADY_STAGE, None)]:
        start, r = _completed(rm, options, deadline, stage, steady_plan(rm) if decided is None else decided)
        stages.append(_stage(stage, r))
        if start is not None:
            return start, bound, stages
    return None, bound, stages


def _completed(rm: Roadmap, options: SolveOptions, deadline: float | None, stage: str,
               decided: ComponentMap) -> tuple[ComponentMap | None, SolveResult]:
    """HiGHS completes the plan with `decided` fixed (deficits, coverage, spend and transfers, and what
    `decided` leaves out, follow); None when no plan keeps them."""
    fixed = [v for v in decided if not v.fixed]
    for v in fixed:
        v.fix(decided[v])
    try:
        r = solve(rm.model, _within(options, deadline, FIRST_PLAN_TIME_SHARE, stage))
    finally:
        for v in fixed:
            v.unfix()
    return (_loaded(rm) if r.has_solution else None), r


def _within(options: SolveOptions, deadline: float | None, share: float, stage: str) -> SolveOptions:
    options = replace(options, deadline=deadline, stage=stage)
    if deadline is None:
        return options
    return replace(options, time_limit=max(1.0, share * (deadline - time.time())))


# --- tables ------------------------------------------------------------------------------------

def plan_tables(rm: Roadmap) -> dict[str, pd.DataFrame]:
    """Every city table, one block per year with `year` first (each year's today is the year before), and roadmap."""
    per_year, before = {}, None
    for y, cm in rm.years.items():
        cy = rm.cities[y]
        if before is not None:
            towns, sites = before["town_staff"], before["facilities"]
            cy = with_today(cy, pd.Series(towns["enforcement_staff"].to_numpy(), index=towns["town_id"].astype(str)),
                            pd.Series(sites["open"].to_numpy(), index=sites["site_id"].astype(str)))
        per_year[y] = before = extract(cm, cy)
        workers = community_workers(cy, before).set_index("district_id")
        ids = before["districts"]["district_id"].astype(str)
        before["districts"]["community_workers_urban"] = workers["community_workers"].reindex(ids).to_numpy()
        before["districts"]["community_workers_per_10k_urban"] = workers["per_10k_urban"].reindex(ids).to_numpy()
    names = list(per_year[rm.first])
    tables = {name: pd.concat([t[name].assign(year=y)[["year", *t[name].columns]] for y, t in per_year.items()],
                              ignore_index=True) for name in names}
    tables["roadmap"] = roadmap_table(rm, per_year)
    return tables


def plan_value(rm: Roadmap, tables: dict[str, pd.DataFrame]) -> float:
    """The objective recomputed from the tables: the mean over years of each year's measure (target: the spend;
    leximin: the lowest index of any year and district)."""
    if rm.options.objective == "target":
        return float(tables["districts"]["spend"].sum())
    if rm.options.objective == "leximin":
        return float(tables["districts"]["service_index"].min())
    values = []
    for y in rm.options.years.years:
        year = {k: t[t["year"] == y].drop(columns="year") for k, t in tables.items() if k != "roadmap"}
        values.append(plan_objective(city_plan_levels(year, rm.cities[y]), rm.options.objective))
    return float(np.mean(values))

