"""Solving the city budget model (models.city): `allocator solve --model city`.

What the planner asked (`RunOptions`) becomes the model's own options:

    CityOptions          objective (--objective, default maxmin), index weights, budget B
                         (--budget, else city.yaml) and city pool P (city.yaml, else
                         max(0, B − Σ_d O_d))
    EnforcementOptions   the enforcement block: objective `shortfall` without its tie-break,
                         headcount and move limit from --headcount and --max-moves (else the
                         city's defaults, as in models.enforcement)
    FacilitiesOptions    the facilities block: objective `mclp`, the services of --services,
                         no budget or p of its own (the city budget pays for new sites)

`run`: build the city model; the budget conflicts the data settle (a district, the city
budget or the pool cannot pay for one full-time worker per grid, the required professionals
and a minimum team per town: `models.city.mandatory_shortfall`) end the run as infeasible
before any solve. Otherwise every --equity-bound is held (`models.equity_problem.hold_bound`)
and the objective is solved by `allocator.solving.equity.solve_measure`: the objective, then
the most efficient of its optimal plans (utilitarian: the fairest of the most efficient);
gini and hoover exactly by Dinkelbach's method, leximin by `allocator.solving.leximin`. The
plan's objective value, efficiency and lowest index are recomputed from its tables.

The headline is the objective asked (`allocator.solving.equity`): its value recomputed from the
plan's tables, the bound the sequence proved on it (the objective's own solve, before the
tie-break), and their gap; each solve of the sequence is listed in `ModelRun.stages`. A leximin
stopped before its first round gives a max-min plan and says so: its objective is `maxmin`.
"""
from __future__ import annotations

import time
from dataclasses import replace

from allocator.data.instance import Instance
from allocator.models.city import (DEFAULT_OBJECTIVE, OBJECTIVES, CityModel, CityOptions, build_model,
                                   mandatory_shortfall, mandatory_spend, plan_objective, problem_of)
from allocator.models.enforcement import EnforcementOptions
from allocator.models.enforcement_plan import move_limit_source, staff_kept
from allocator.models.equity_problem import EquityProblem, hold_bound, hold_today
from allocator.models.facilities import FacilitiesOptions
from allocator.models.grid_plan import staff_kept as grid_staff_kept
from allocator.solving.equity import solve_measure
from allocator.solving.fair import solve_fair
from allocator.solving.facilities import facilities_options
from allocator.solving.run import ModelRun, RunOptions
from allocator.solving.solve import SolveOptions, SolveResult

__all__ = ["DEFAULT_OBJECTIVE", "OBJECTIVES", "run", "city_options", "enforcement_block_options",
           "facilities_block_options", "build_city", "city_problem"]


def city_options(city: Instance, run: RunOptions, index_weights=None) -> CityOptions:
    return CityOptions.of(city, run.objective, index_weights, run.budget)


def enforcement_block_options(city: Instance, run: RunOptions) -> EnforcementOptions:
    """The enforcement block's options: objective `shortfall`, no tie-break, the run's headcount and move limit."""
    return EnforcementOptions.of(city, "shortfall", headcount=run.headcount, max_moves=run.max_moves, tie_break=False,
                                 allow_release=run.allow_release)


def facilities_block_options(city: Instance, run: RunOptions) -> FacilitiesOptions:
    """The facilities block's options: objective `mclp`, the run's services, no budget or p of its own."""
    return facilities_options(city, replace(run, model="facilities", objective="mclp", budget=None, p=None))


def build_city(city: Instance, run: RunOptions, options: CityOptions, every_grid: bool = False) -> CityModel:
    """The city model of `options`, its blocks' options read from the run."""
    return build_model(city, options, enforcement_block_options(city, run), facilities_block_options(city, run), every_grid)


def city_problem(city: Instance, run: RunOptions, index_weights=None) -> EquityProblem:
    """The districts' service indices as an EquityProblem (a fresh city model)."""
    return problem_of(build_city(city, run, city_options(city, run, index_weights)), city)


def run(city: Instance, options: RunOptions, solve_options: SolveOptions, index_weights=None) -> ModelRun:
    opts = city_options(city, options, index_weights)
    t0 = time.perf_counter()
    cm = build_city(city, options, opts)
    problem = problem_of(cm, city)
    build_s = time.perf_counter() - t0
    why = mandatory_shortfall(city, cm)
    if why:
        result = SolveResult("infeasible", None, None, None, "decided from the data")
        return ModelRun(result, opts.objective, build_s=build_s, explanation=why, meta=problem.meta)
    if options.no_worse_than_today:
        hold_today(problem)

    def hold_bounds() -> bool:
        for measure, bound in options.equity_bounds:
            hold_bound(problem, measure, bound)
        return bool(options.equity_bounds)

    if opts.objective == "utilitarian" and not options.equity_bounds:
        outcome, fairness = solve_measure(problem, opts.objective, solve_options), {}
    else:                       # held to the efficient plan: no levelling down
        outcome, fairness = solve_fair(problem, opts.objective, solve_options, hold_bounds=hold_bounds)
    meta = {**problem.meta, "equity": {**outcome.as_meta(), "bounds": [list(b) for b in options.equity_bounds],
                                       "fairness": fairness}}
    done = ModelRun(outcome.result, outcome.plan_is, build_s=build_s, meta=meta, model=problem.model,
                    stages=outcome.stages, status_text=outcome.status_text,
                    asked=opts.objective if outcome.plan_is != opts.objective else None)
    if outcome.has_solution:
        t1 = time.perf_counter()
        done.tables = problem.tables()
        levels = problem.plan_levels(done.tables)
        done.objective_value = plan_objective(levels, outcome.plan_is)
        done.result = outcome.headline(done.objective_value, solve_options.gap)
        done.status_text = outcome.status_text
        meta["city"]["efficiency"] = levels.efficiency()
        meta["city"]["min_service_index"] = float(levels.levels.min())
        meta["enforcement"] = {**meta["enforcement"], "staff": staff_kept(done.tables),
                               "move_limit_source": move_limit_source(city, options.max_moves, cm.enforcement.options)}
        meta["grid"] = {"staff": grid_staff_kept(done.tables, options.allow_release)}
        done.explanation = _budget_band(city, cm, done)
        done.extract_s = time.perf_counter() - t1
    elif outcome.status == "infeasible" and fairness.get("levelled_down_refused"):
        done.explanation = fairness["lines"][-1].removeprefix("note: ")
    elif outcome.status == "infeasible":
        bounds = " and the equity bounds" if options.equity_bounds else ""
        done.explanation = f"no plan meets the district budgets, transfer caps, city pool, staffing rules{bounds} together"
    return done


def _budget_band(city: Instance, cm: CityModel, done: ModelRun) -> str | None:
    """When the city budget B is at least the most the districts may spend (own budgets plus transfers
    within their caps and the city pool), B does not limit the plan: at any budget from what the plan
    needs (its spend S; with the default pool B − Σ O_d, at least Σ O_d + its transfers) on, it is
    within the limits and nothing better is (a better plan would have been within B, or within the
    districts' limits, which no budget moves). Below the cost of the required staff no plan exists.
    Said only for a proven optimum."""
    b, districts = cm.options.budget_10k_cny, done.tables["districts"]
    own, caps = city.districts["own_budget"].to_numpy(float), city.districts["transfer_cap"].to_numpy(float)
    most = min(float((own + caps).sum()), float(own.sum()) + cm.options.city_pool_10k_cny)
    if done.result.status != "optimal" or b < most - 1e-9:
        return None
    need = float(districts["spend"].sum())
    if city.config.city_pool is None:          # the pool is then B − Σ O_d: a lower budget must still pay the transfers
        need = max(need, float(own.sum() + districts["transfer"].sum()))
    floor = float(mandatory_spend(city, cm).sum())
    text = (f"the districts may spend at most {most:,.1f} (10k CNY/yr: own budgets plus transfers within their caps and "
            f"the city pool), so the budget of {b:,.1f} does not limit this plan: every budget from {need:,.1f} on gives "
            f"it; below {floor:,.1f} (the required staff) no plan exists")
    done.meta["degeneracy"] = {"statement": text, "from_budget_10k_cny": need, "districts_may_spend_10k_cny": most,
                               "no_plan_below_10k_cny": floor}
    return text
