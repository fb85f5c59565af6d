"""Solving the grid staffing model (`allocator.models.grid`, which states the formulation).

`run` turns the planner's RunOptions into GridOptions (`options_of`: the objective, cost by
default; the budget of --budget, else the city's budget under unmet and maxmin; --headcount),
then:

- settles the run from the data when it can: `cost` is infeasible when one full-time worker per
  grid and the required professionals already exceed the budget or the headcount, while `unmet`
  and `maxmin` then leave grids vacant (`GridOptions.vacancies`: a budget-limited objective
  always has a plan, with unmet hours); the required staff alone when they cover every grid (no
  town left to model);
- `cost` and `unmet`: one solve of the model. `cost` is built without the unmet-hour accounts
  (`GridOptions.full_cover_only`). `cost` with --budget is first solved without the budget
  row (6) and its least cost compared with B: above B (by HiGHS's bound) the run is
  infeasible; within B the plan stands; only when HiGHS leaves that comparison undecided is
  the model built again with (6) and solved within the budget;
- `unmet` and `maxmin` with grids left vacant: over each town's options (how many of its largest
  grids it staffs, `staffing_options`): `unmet` is exact from the data by a recursion over towns on
  the budget in whole units where that is small enough (`_least_unmet_by_budget`), else one solve
  of `build_vacancy_model`; `maxmin`
  is exact from the data, a bisection on the towns' option ratios for the highest level whose
  cheapest options fit the limits;
- `maxmin`: a search on the common level ρ. Each step solves the block-separable min C
  s.t. (1)-(5), (7) with ρ fixed (the model is built once and handed to HiGHS once, through
  a persistent `Persistent` hand-over; ρ is a mutable parameter) and compares C with B: the
  level is reached when HiGHS's plan costs at most B, out of reach when its lower bound
  exceeds B, else undecided. The gap reported is (ρ_hi − ρ_lo) / ρ_lo: ρ_lo is the minimum
  ratio of the best plan found, ρ_hi the lowest level proven out of reach (or 1). --gap is
  the search's tolerance (default 1 %); each step's MIP gap follows from how far its
  estimated least cost lies from B. Levels are aimed where the cost curve through the steps
  so far meets B: just below it to raise ρ_lo, or just above ρ_lo to prove ρ_hi; halving
  when four steps in a row land on one side (`allocator.solving.level_search`). Each step
  gets at most the time left (120 s when no --time-limit is given); at most 30 steps.

The plan is read off the integer decisions (`staffing_from_model`), and the objective value
and gap are recomputed from it. The headline is the objective asked: under `maxmin` the
level ρ_lo of the plan, its bound ρ_hi and their gap; `stages` lists each step's least-cost
solve (value, bound, gap of the cost at that level), and under `cost` with --budget the
solve without and the solve within the budget row.

When `unmet` finds no unmet hour, or `maxmin` full coverage, the answer says nothing about the
budget: the run then says so (`degeneracy`), with the least cost of covering all work, from
which budget on every budget gives that answer.
"""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from allocator.data.instance import Instance
from allocator.data.money import Budget, model_budget
from allocator.models.grid import DEFAULT_OBJECTIVE, OBJECTIVES, GridData, GridOptions, build_model, grid_data
from allocator.models.grid_plan import (GridStaffing, mandatory_staffing, plan_figures, plan_tables, staff_kept,
                                        staffing_from_decisions, staffing_from_model)
from allocator.models.grid_vacancies import (build_vacancy_model, chosen_options, level_options, staffing_options,
                                             vacancy_spend)
from allocator.solving.level_search import LevelSearch
from allocator.solving.run import ModelRun, RunOptions, stage_record
from allocator.solving.solve import Persistent, SolveOptions, SolveResult, deadline_of, relative_gap, solve

__all__ = ["DEFAULT_OBJECTIVE", "OBJECTIVES", "grid_money", "options_of", "run"]

DEFAULT_LEVEL_GAP = 0.01     # maxmin search tolerance when no --gap is given
MAX_PROBES = 30
PROBE_LIMIT_S = 120.0        # longest single step of the maxmin search when no --time-limit is given


def options_of(city: Instance, options: RunOptions) -> GridOptions:
    """The model's options for a run: the objective (cost by default), the budget (what the city budget,
    --budget or city.yaml's, leaves after today's officers — `allocator.data.money`; cost without
    --budget has no budget row) and the headcount."""
    objective = options.objective or DEFAULT_OBJECTIVE
    return GridOptions(objective, grid_money(city, options).limit, options.headcount,
                       no_worse_than_today=options.no_worse_than_today)


def grid_money(city: Instance, options: RunOptions) -> Budget:
    """The budget of a grid run (README, "What the budget pays")."""
    return model_budget(city, "grid", options.budget, explicit_only=(options.objective or DEFAULT_OBJECTIVE) == "cost")


def run(city: Instance, options: RunOptions, solve_options: SolveOptions) -> ModelRun:
    """Solve one grid-staffing objective and return the plan tables, figures and timings."""
    grid_options = options_of(city, options)
    objective, budget, headcount = grid_options.objective, grid_options.budget_10k_cny, grid_options.headcount_max
    t0 = time.perf_counter()
    data = grid_data(city, grid_options.professional_cover_required, keep_today=not options.allow_release)
    held = grid_money(city, options).held_total
    why = _mandatory_shortfall(data, budget, headcount, held)
    kept = _today_shortfall(data, budget, headcount, held, objective)
    if budget is not None and budget < 0:    # today's officers take more than the whole budget: no grid plan at all
        why = (f"the budget {budget + held:,.0f} (10k CNY/yr) does not cover today's officers ({held:,.0f}), so nothing "
               f"is left for grid workers; raise the budget (--budget) to at least {held + data.mandatory_cost:,.0f} "
               f"for one full-time worker per grid, or above {held + data.today_cost:,.0f} for a plan that leaves grids vacant")
    elif kept:                               # not even today's grid workers can be paid: no plan keeps them
        why = kept
    elif why and objective != "cost":        # unmet, maxmin: grids the limits cannot staff stay vacant
        grid_options, data = replace(grid_options, vacancies=True), replace(data, reduced=False)
        why = None
    if why:
        figures = {"mandatory_cost_10k_cny": data.mandatory_cost, "budget_limit_10k_cny": budget,
                   "mandatory_posts": data.mandatory_posts, "headcount_limit": headcount}
        return ModelRun(_decided("infeasible"), objective, build_s=time.perf_counter() - t0, explanation=why,
                        meta={"figures": figures})
    if not data.modelled_towns.any():   # the required staff already cover every grid: nothing to choose
        plan = mandatory_staffing(data)
        value = {"cost": plan.cost, "unmet": 0.0, "maxmin": plan.min_ratio}[objective]
        outcome = _outcome(city, data, grid_options, _decided("optimal", value), plan, value, time.perf_counter() - t0, 0.0)
        return _with_degeneracy(city, data, grid_options, solve_options, outcome, held)
    if grid_options.vacancies:
        outcome = _run_vacancies(city, data, grid_options, solve_options, t0)
    elif objective == "maxmin":
        outcome = _run_maxmin(city, data, grid_options, solve_options, t0)
    else:
        outcome = _run_single(city, data, grid_options, solve_options, t0)
    return _with_degeneracy(city, data, grid_options, solve_options, outcome, held)


def _with_degeneracy(city: Instance, data: GridData, options: GridOptions, solve_options: SolveOptions,
                     outcome: ModelRun, held: float = 0.0) -> ModelRun:
    """Say when the answer does not depend on the budget: all work covered (unmet 0, maxmin 1) at
    this budget, and so at any budget from the least cost of full coverage on; or grids left vacant.
    Budgets are said as --budget means them: the city budget, `held` (today's officers) included."""
    figures = outcome.meta.get("figures") or {}
    if not outcome.tables or options.objective == "cost":
        return outcome
    if options.vacancies:
        vacant = int(figures.get("vacant_grids", 0))
        kept = " and today's grid workers kept" if data.kept_cost > 0 else ""
        pooled = int(figures.get("parttime_pooled", 0))
        helpers = (f"; today's {pooled:,} part-time helpers without a post are paid in the district pools (a plan that "
                   f"leaves grids vacant posts no helper: this plan is the best of those)" if pooled else "")
        text = (f"the limits cannot pay one full-time worker in every grid with the required professionals{kept} "
                f"({_limits_needed(data, options, held)}): {vacant:,} of {len(data.grid_ids):,} grids are left vacant and "
                f"all their work is unmet{helpers}")
        return _noted(outcome, text, {"kind": "vacancies", "vacant_grids": vacant,
                                      "mandatory_cost_10k_cny": data.mandatory_cost})
    if figures.get("unmet_hours", 1.0) > 1e-6:
        return outcome
    full = _full_cover_cost(city, data, options, solve_options)
    what = "unmet is 0" if options.objective == "unmet" else "the lowest town coverage is 1.0"
    text = (f"the budget covers all grid work: {what} at any budget from {full + held:,.0f} (10k CNY/yr: the least "
            f"cost of covering every grid, {full:,.0f}, plus today's officers, {held:,.0f}); try --budget below "
            f"{full + held:,.0f} to see what a shorter budget leaves undone")
    return _noted(outcome, text, {"kind": "budget covers all work", "from_budget_10k_cny": full + held})


def _limits_needed(data: GridData, options: GridOptions, held: float = 0.0) -> str:
    parts = []
    if options.budget_10k_cny is not None and data.mandatory_cost > options.budget_10k_cny * (1 + 1e-9):
        parts.append(f"{data.mandatory_cost + held:,.0f} needed with today's officers ({held:,.0f}), "
                     f"budget {options.budget_10k_cny + held:,.0f} (10k CNY/yr)")
    if options.headcount_max is not None and data.mandatory_posts > options.headcount_max:
        parts.append(f"{data.mandatory_posts:,} posts needed, headcount {options.headcount_max:,}")
    return "; ".join(parts)


def _noted(outcome: ModelRun, text: str, figures: dict) -> ModelRun:
    outcome.meta["degeneracy"] = {"statement": text, **figures}
    outcome.explanation = text if not outcome.explanation else f"{outcome.explanation}; {text}"
    return outcome


def _full_cover_cost(city: Instance, data: GridData, options: GridOptions, solve_options: SolveOptions) -> float:
    """The least cost of covering all grid work (the `cost` objective, no budget row), within the headcount."""
    if not data.modelled_towns.any():
        return data.mandatory_cost
    m = build_model(city, GridOptions("cost", None, options.headcount_max, full_cover_only=True), data)
    result = solve(m, replace(solve_options, progress=False))
    if result.has_solution:
        return staffing_from_model(m, data).cost
    return options.budget_10k_cny

def _mandatory_shortfall(data: GridData, budget: float | None, headcount: int | None, held: float = 0.0) -> str | None:
    """`held`: what the city budget pays first for today's officers (the run's budget is --budget less it)."""
    n, y = len(data.grid_ids), int(data.professionals_min.sum())
    rule = f"the {y} professionals required to cover at most {data.grids_per_professional} grids each"
    kept = (f", plus the grid workers employed today that leave without a post in their district's pool "
            f"({data.kept_cost:,.1f})" if data.kept_cost > 0 else "")
    if budget is not None and data.mandatory_cost > budget * (1 + 1e-9):
        left = f" (the city budget {budget + held:,.1f} less today's officers {held:,.1f})" if held else ""
        return (f"the budget for grid workers of {budget:,.1f} (10k CNY/yr){left} falls short of the "
                f"{data.mandatory_cost:,.1f} needed for one full-time worker in each of the {n} grids "
                f"({n * data.salary['fulltime']:,.1f}) plus {rule} ({y * data.salary['professional']:,.1f}){kept}; raise the "
                f"budget (--budget) to at least {data.mandatory_cost + held:,.1f}")
    if headcount is not None and data.mandatory_posts > headcount:
        pooled = (f", plus the {data.kept_posts:,} full-time workers employed today beyond one per grid"
                  if data.kept_posts else "")
        return (f"the headcount of {headcount:,} posts falls short of the {data.mandatory_posts:,} needed for one "
                f"full-time worker in each of the {n} grids plus {rule}{pooled}")
    return None


def _today_shortfall(data: GridData, budget: float | None, headcount: int | None, held: float = 0.0,
                     objective: str = "unmet") -> str | None:
    """Under (8) every plan pays today's grid workers (posted or pooled): a budget or headcount below them
    has no plan unless release is allowed. The budget named is the least that gives a plan: today's workers
    (unmet, maxmin: grids may stay vacant), or one full-time worker per grid with them (cost)."""
    if not data.keep_today:
        return None
    x0, z0 = data.today()
    workers = f"the {int(x0.sum()):,} full-time and {int(z0.sum()):,} part-time grid workers employed today"
    if budget is not None and 0 <= budget and data.today_cost > budget * (1 + 1e-9):
        left = f" (the city budget {budget + held:,.1f} less today's officers {held:,.1f})" if held else ""
        return (f"the budget for grid workers of {budget:,.1f} (10k CNY/yr){left} is below the {data.today_cost:,.1f} "
                f"that {workers} cost, and nobody employed today is dismissed; let grid workers leave the service "
                f"(--allow-release) or raise the budget (--budget) to at least "
                f"{(data.mandatory_cost if objective == 'cost' else data.today_cost) + held:,.1f}")
    if headcount is not None and int(x0.sum()) > headcount:
        return (f"the headcount of {headcount:,} posts is below the {int(x0.sum()):,} full-time grid workers employed "
                f"today, and nobody employed today is dismissed; let grid workers leave the service (--allow-release) "
                f"or raise the headcount (--headcount) to at least "
                f"{data.mandatory_posts if objective == 'cost' else int(x0.sum()):,}")
    return None


def _decided(status: str, value: float | None = None) -> SolveResult:
    """The outcome when the data settle the answer and no solve is needed."""
    gap = 0.0 if value is not None else None
    return SolveResult(status, value, value, gap, "decided from the data", has_solution=value is not None)


def _outcome(city: Instance, data: GridData, options: GridOptions, result: SolveResult, plan: GridStaffing, value: float,
             build_s: float, extract_s: float, extra: dict | None = None, note: str | None = None,
             stages: list[dict] | None = None) -> ModelRun:
    t0 = time.perf_counter()
    tables = plan_tables(city, data, plan)
    figures = plan_figures(data, plan, options.budget_10k_cny, options.headcount_max, options.professional_cover_required)
    figures["modelled_grids"], figures["modelled_towns"] = int(data.modelled_grids.sum()), int(data.modelled_towns.sum())
    figures.update(extra or {})
    meta = {"figures": figures, "grid": {"staff": staff_kept(tables, not data.keep_today)}}
    if "level_search" in figures:
        meta["level_search"] = figures.pop("level_search")
    return ModelRun(result, options.objective, tables, value, build_s, extract_s + time.perf_counter() - t0, meta, note,
                    stages=stages or [])


def _run_single(city: Instance, data: GridData, options: GridOptions, solve_options: SolveOptions, t0: float) -> ModelRun:
    unbudgeted = options.objective == "cost" and options.budget_10k_cny is not None
    options = replace(options, full_cover_only=True)     # no unmet-hour accounts under cost (ρ = 1)
    m = build_model(city, replace(options, budget_10k_cny=None) if unbudgeted else options, data)
    build_s = time.perf_counter() - t0
    result = solve(m, solve_options)
    stages = [stage_record("cost, without the budget row" if unbudgeted else options.objective, result)]
    if unbudgeted and result.bound is not None and result.bound > options.budget_10k_cny * (1 + 1e-9):
        return ModelRun(replace(result, status="infeasible", has_solution=False), "cost", build_s=build_s,
                        explanation=_cost_above_budget(data, options, result))
    if unbudgeted and not (result.has_solution and result.objective <= options.budget_10k_cny * (1 + 1e-9)):
        if result.status != "optimal":                  # out of time before the least cost was told from B
            why = (f"no plan covering all work within the budget of {options.budget_10k_cny:,.1f} was found in time; "
                   f"full coverage costs at least {result.bound or data.mandatory_cost:,.1f} (10k CNY/yr)")
            return ModelRun(replace(result, has_solution=False), "cost", build_s=build_s, explanation=why)
        t1 = time.perf_counter()
        m = build_model(city, options, data)            # B lies within HiGHS's gap: search within the budget
        build_s += time.perf_counter() - t1
        first, result = result, solve(m, solve_options)
        stages.append(stage_record("cost within the budget", result))
        result = replace(result, handover_s=result.handover_s + first.handover_s, solve_s=result.solve_s + first.solve_s)
    t1 = time.perf_counter()
    if not result.has_solution:
        why = None
        if result.status == "infeasible":
            why = _guard_infeasible(options) if options.no_worse_than_today else _explain_infeasible(data, options)
        return ModelRun(result, options.objective, build_s=build_s, extract_s=time.perf_counter() - t1, explanation=why)
    plan = staffing_from_model(m, data)
    value = plan.cost if options.objective == "cost" else float(plan.unmet.sum())
    result = replace(result, objective=value, gap=_gap(value, result.bound, result.status))
    return _outcome(city, data, options, result, plan, value, build_s, time.perf_counter() - t1, stages=stages)


def _gap(value: float, bound: float | None, status: str) -> float | None:
    if bound is None:
        return None
    # a least cost (or unmet) is never below its bound: a bound above it is rounding, a gap of 0
    gap = relative_gap(value, min(bound, value)) if value > 1e-9 else (0.0 if bound >= -1e-9 else None)
    return 0.0 if status == "optimal" and gap is not None and gap < 1e-9 else gap


def _cost_above_budget(data: GridData, options: GridOptions, result: SolveResult) -> str:
    exact = result.status == "optimal" and result.objective is not None
    amount = result.objective if exact else result.bound
    posts = (f" within the headcount of {options.headcount_max:,} posts" if options.headcount_max is not None else "")
    return (f"covering all {data.workload.sum():,.0f} hours of grid work{posts} {'needs' if exact else 'needs at least'} "
            f"{amount:,.1f} (10k CNY/yr), more than the budget of {options.budget_10k_cny:,.1f}")


def _explain_infeasible(data: GridData, options: GridOptions) -> str:
    """The required staff fit the limits (checked before solving), so full coverage is what conflicts."""
    limits = [f"the headcount of {options.headcount_max:,} posts"] if options.headcount_max is not None else []
    limits += [f"the budget of {options.budget_10k_cny:,.1f} (10k CNY/yr)"] if options.budget_10k_cny is not None else []
    return (f"no staffing within {' and '.join(limits) or 'the limits'} covers all {data.workload.sum():,.0f} hours of "
            f"grid work (part-time helpers are limited to {data.parttime_max} per grid)")


def _one_grid_per_town_cost(data: GridData) -> float:
    """The least cost at which every town covers some of its work: one staffed grid (and, where cover is
    required, one professional) in every town, and today's workers that leaves in the pools (`vacancy_spend`)."""
    cost = float(len(data.town_ids) * data.salary["fulltime"]
                 + (data.professionals_min > 0).sum() * data.salary["professional"])
    if not data.keep_today:
        return cost
    x0, z0 = data.today()
    towns = np.bincount(np.searchsorted(data.district_ids, data.town_district), minlength=len(x0))
    return cost + float(np.maximum(x0 - towns, 0).sum() * data.salary["fulltime"] + z0.sum() * data.salary["parttime"])


def _maxmin_at_zero(city: Instance, data: GridData, options: GridOptions, solve_options: SolveOptions,
                    t0: float) -> ModelRun:
    """Below the cost of one staffed grid per town some town covers nothing: the lowest coverage is 0 in
    every plan. The plan given is the one with the fewest unmet hours within the limits."""
    outcome = _run_vacancies(city, data, replace(options, objective="unmet"), solve_options, t0)
    if not outcome.tables:
        return outcome
    floor = _one_grid_per_town_cost(data)
    value = float(outcome.meta["figures"]["min_coverage"])
    outcome.objective, outcome.objective_value = "maxmin", value
    outcome.result = replace(outcome.result, objective=value, bound=value, gap=0.0)
    text = (f"the budget cannot staff one grid in every town ({floor:,.1f} needed, 10k CNY/yr): the lowest town "
            f"coverage is 0 at any budget below {floor:,.1f}; this plan leaves the fewest unmet hours")
    return _noted(outcome, text, {"kind": "lowest coverage 0", "below_budget_10k_cny": floor})


# --- maxmin: search on the common coverage level (allocator.solving.level_search) ----------

def _run_vacancies(city: Instance, data: GridData, options: GridOptions, solve_options: SolveOptions, t0: float) -> ModelRun:
    """unmet and maxmin when the limits cannot staff every grid: over each town's options
    (`staffing_options`). unmet: one solve of the multiple-choice model; maxmin: exact from the data,
    the highest town coverage level whose cheapest options fit the limits (below the cost of one staffed
    grid per town, the level is 0 and the plan is unmet's)."""
    table = staffing_options(data)
    if options.objective == "maxmin" and options.no_worse_than_today:
        return _solve_vacancy_model(city, data, options, solve_options, t0, table)
    if options.objective == "maxmin":
        if _one_grid_per_town_cost(data) > options.budget_10k_cny * (1 + 1e-9):
            return _maxmin_at_zero(city, data, options, solve_options, t0)
        chosen = _highest_level(table, data, options)
        plan = staffing_from_decisions(data, *table.decisions(data, chosen))
        result = replace(_decided("optimal", plan.min_ratio), termination="level from the town options")
        return _outcome(city, data, options, result, plan, plan.min_ratio, time.perf_counter() - t0, 0.0)
    chosen = None if options.no_worse_than_today else _least_unmet_by_budget(table, data, options)
    if chosen is not None:              # exact, from the data
        plan = staffing_from_decisions(data, *table.decisions(data, chosen))
        value = float(plan.unmet.sum())
        result = replace(_decided("optimal", value), termination="least unmet over the town options, by budget")
        return _outcome(city, data, options, result, plan, value, time.perf_counter() - t0, 0.0)
    return _solve_vacancy_model(city, data, options, solve_options, t0, table)


def _solve_vacancy_model(city: Instance, data: GridData, options: GridOptions, solve_options: SolveOptions, t0: float,
                         table) -> ModelRun:
    """One solve of `build_vacancy_model` (unmet; maxmin under --no-worse-than-today)."""
    m = build_vacancy_model(table, options, data)
    build_s = time.perf_counter() - t0
    result = solve(m, solve_options)
    t1 = time.perf_counter()
    if not result.has_solution:
        why = _guard_infeasible(options) if result.status == "infeasible" and options.no_worse_than_today else None
        return ModelRun(result, options.objective, build_s=build_s, extract_s=time.perf_counter() - t1, explanation=why)
    plan = staffing_from_decisions(data, *table.decisions(data, chosen_options(m, table)))
    if options.objective == "maxmin":
        value = plan.min_ratio
        gap = None if result.bound is None else max(0.0, result.bound - value) / max(value, 1e-10)
        result = replace(result, objective=value, gap=0.0 if result.status == "optimal" and gap is not None and gap < 1e-6 else gap)
    else:
        value = float(plan.unmet.sum())
        result = replace(result, objective=value, gap=_gap(value, result.bound, result.status))
    return _outcome(city, data, options, result, plan, value, build_s, time.perf_counter() - t1)


def _guard_infeasible(options: GridOptions) -> str:
    budget = f"the budget of {options.budget_10k_cny:,.1f} (10k CNY/yr)" if options.budget_10k_cny is not None else "the limits"
    return (f"no staffing within {budget} keeps every district's grid coverage at least at the coverage today's "
            f"posted workers give it (--no-worse-than-today); raise the budget (--budget) or drop the guard")


DP_CELLS_MAX = 40_000_000     # towns × budget units the exact unmet recursion may hold (one int16 each)


def _least_unmet_by_budget(table, data: GridData, options: GridOptions):
    """The town options of least unmet hours within the budget, exactly, by recursion over towns on the
    budget in whole units (f_t(b) = min_k f_{t−1}(b − C_tk) + U_tk): when salaries are whole multiples
    of 1, 0.1 or 0.01 (10k CNY), no headcount limit applies and towns × budget units stay within
    DP_CELLS_MAX; otherwise None (the multiple-choice model is solved instead)."""
    if options.headcount_max is not None or (data.keep_today and data.today()[0].any()):
        return None                                  # (8) for full-time workers couples the towns of a district
    salaries = [data.salary["fulltime"], data.salary["professional"]]
    unit = next((u for u in (1.0, 0.1, 0.01) if all(abs(c / u - round(c / u)) < 1e-9 for c in salaries)), None)
    if unit is None:
        return None
    helpers = data.today_cost if data.keep_today else 0.0   # today's helpers, pooled: such plans post none
    budget = int(np.floor((options.budget_10k_cny - helpers) / unit + 1e-6))
    starts = np.flatnonzero(np.r_[True, table.town[1:] != table.town[:-1]])
    ends = np.r_[starts[1:], len(table.town)]
    if len(starts) * (budget + 1) > DP_CELLS_MAX or np.diff(np.r_[starts, len(table.town)]).max() > 32_000:
        return None
    cost = np.rint(table.cost / unit).astype(np.int64)
    best = np.zeros(budget + 1)                      # least unmet of the towns so far within b units
    picks = np.empty((len(starts), budget + 1), np.int16)
    for t, (a, z) in enumerate(zip(starts, ends)):
        step = np.full(budget + 1, np.inf)
        pick = np.zeros(budget + 1, np.int16)
        for j in range(a, z):                        # options by rising k, so rising cost
            c = cost[j]
            if c > budget:
                break
            candidate = best[: budget + 1 - c] + table.unmet[j]
            better = candidate < step[c:] - 1e-9
            step[c:][better], pick[c:][better] = candidate[better], j - a
        best, picks[t] = step, pick
    chosen, b = np.empty(len(starts), np.int64), budget
    for t in range(len(starts) - 1, -1, -1):
        chosen[t] = starts[t] + picks[t, b]
        b -= cost[chosen[t]]
    return chosen


def _highest_level(table, data: GridData, options: GridOptions):
    """The options of the highest level every town reaches within the limits: the levels worth trying are
    the towns' option ratios; the cost of the cheapest options reaching a level rises with it (bisection)."""
    w = data.town_workload[table.town]
    ratios = np.unique(1.0 - np.divide(table.unmet, w, out=np.zeros_like(table.unmet), where=w > 0))

    def fits(level: float):
        chosen = level_options(table, data.town_workload, level)
        cost, posts = vacancy_spend(data, table, chosen)
        ok = cost <= options.budget_10k_cny * (1 + 1e-9)
        if options.headcount_max is not None:
            ok = ok and posts <= options.headcount_max
        return ok, chosen

    lo, hi = 0, len(ratios) - 1          # ratios[lo] fits (level 0: every grid vacant)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(ratios[mid])[0]:
            lo = mid
        else:
            hi = mid - 1
    return fits(ratios[lo])[1]


def _run_maxmin(city: Instance, data: GridData, options: GridOptions, solve_options: SolveOptions, t0: float) -> ModelRun:
    m = build_model(city, replace(options, coverage_level=1.0), data)
    build_s = time.perf_counter() - t0
    tolerance = solve_options.gap if solve_options.gap is not None else DEFAULT_LEVEL_GAP
    start, first = mandatory_staffing(data), None
    if options.no_worse_than_today:     # the search starts from the cheapest plan that keeps (9): level 0
        m.coverage_level.set_value(0.0)
        first = solve(m, replace(solve_options, stage="least cost keeping today's coverage"))
        if not (first.has_solution and first.objective is not None and first.objective <= options.budget_10k_cny * (1 + 1e-9)):
            status = "infeasible" if first.status == "infeasible" or (first.bound or 0.0) > options.budget_10k_cny * (1 + 1e-9) else first.status
            return ModelRun(replace(first, status=status, has_solution=False), "maxmin", build_s=build_s,
                            explanation=_guard_infeasible(options) if status == "infeasible" else None)
        start = staffing_from_model(m, data)
    search = LevelSearch(start, options.budget_10k_cny, tolerance)
    deadline = deadline_of(solve_options)
    steps, handover_s, solve_s, extract_s, version, highs = [], 0.0, 0.0, 0.0, "", Persistent()
    stages: list[dict] = [stage_record("least cost keeping today's coverage", first)] if first is not None else []
    while not search.converged() and len(steps) < MAX_PROBES:
        remaining = PROBE_LIMIT_S if deadline is None else deadline - time.time()
        if remaining <= 0:
            break
        level = 1.0 if not steps else search.next_level()
        gap = search.probe_gap(level)
        m.coverage_level.set_value(level)
        stage = f"level search step {len(steps) + 1}: level {level:.4f}"
        r = solve(m, replace(solve_options, time_limit=remaining, gap=gap, stage=stage), persistent=highs)   # hand-over once
        handover_s, solve_s, version = handover_s + r.handover_s, solve_s + r.solve_s, r.solver_version
        t1 = time.perf_counter()
        verdict = search.record(level, r, lambda: staffing_from_model(m, data))
        extract_s += time.perf_counter() - t1
        steps.append({"level": level, "verdict": verdict, "status": r.status, "mip_gap_asked": gap,
                      "least_cost": r.objective, "cost_bound": r.bound, "handover_s": r.handover_s, "solve_s": r.solve_s})
        stages.append(stage_record(f"least cost at level {level:.6g}: {verdict}", r))
    status = "optimal" if search.converged() else "time_limit"
    result = SolveResult(status, search.lo, search.hi, search.gap, "level search", solver_version=version,
                         handover_s=handover_s, solve_s=solve_s, has_solution=True, highs_info={"steps": len(steps)})
    extra = {"level_reached": search.lo, "level_out_of_reach": search.hi, "level_gap": search.gap,
             "level_tolerance": tolerance, "level_search": steps}
    note = None if search.converged() else (
        f"the search stopped after {len(steps)} steps with the minimum coverage ratio between {search.lo:.4f} "
        f"(this plan) and {search.hi:.4f}")
    return _outcome(city, data, options, result, search.best, search.lo, build_s, extract_s, extra, note, stages)
