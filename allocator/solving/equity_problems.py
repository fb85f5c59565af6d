"""The equity problems of `allocator frontier` and `allocator equity-bench`, from what the planner
asked (`RunOptions`): each model's own options are read from the run here, and the problem is
built by its formulation.

    city          allocator.solving.city.city_problem: the districts' service index I_d
                  (models.city), under the run's budget, headcount and move limit
    grid          models.block_equity.grid_problem under the budget B the city budget (--budget,
                  else city.yaml) leaves after today's officers (allocator.data.money)
    facilities    models.block_equity.facilities_problem under what it leaves after today's
                  staff, over the run's services
    enforcement   models.block_equity.enforcement_problem, towns or districts (`by`), under
                  the run's headcount and move limit and what the budget leaves after today's
                  grid workers

Grid and facilities are balanced under a budget only: --headcount is refused, and so is a
budget below the least spend of any plan (`check_block_limits`, exit 2 before any model is
built). The solve sequences over these problems are allocator.solving.equity's.
"""
from __future__ import annotations

from dataclasses import replace

from allocator.errors import InputError, Problem
from allocator.data.instance import Instance
from allocator.data.money import model_budget
from allocator.models.block_equity import enforcement_problem as enforcement_alone
from allocator.models.block_equity import facilities_problem, grid_problem, least_spend
from allocator.models.equity_problem import EquityProblem, hold_today
from allocator.solving.city import city_problem, enforcement_block_options, facilities_block_options
from allocator.solving.facilities import facilities_options
from allocator.solving.run import RunOptions

BLOCKS_ALONE = ("grid", "facilities")


def equity_problem(city: Instance, run: RunOptions, model: str, by: str = "district", index_weights=None) -> EquityProblem:
    """The `EquityProblem` of `model` on `city` (a fresh Pyomo model); `by` groups enforcement, `index_weights`
    weigh the city's service index."""
    if model == "city":
        problem = city_problem(city, run, index_weights)
    elif model in BLOCKS_ALONE:
        problem = block_problem(city, run, model)
    else:
        problem = enforcement_problem(city, run, by)
    if run.no_worse_than_today:
        hold_today(problem)
    return problem


def check_block_limits(city: Instance, run: RunOptions, model: str) -> float:
    """The budget B of a grid or facilities run; InputError (exit 2) when no plan can keep it, before any
    model is built."""
    if run.headcount is not None:
        raise InputError(Problem("--headcount", f"the {model} model is balanced under a budget only "
                                              "(use --budget; headcount limits enforcement and city)", value=run.headcount))
    money = model_budget(city, model, run.budget)
    budget = float(money.limit)
    services = () if model == "grid" else facilities_options(
        city, replace(run, model="facilities", objective="mclp")).services
    least, what = least_spend(city, model, services, keep_today=not run.allow_release)
    if least > budget * (1 + 1e-9):
        source = "--budget" if run.budget is not None else "budget (city.yaml)"
        raise InputError(Problem(source, f"{money.line()}: it falls short of the {least:,.1f} needed for {what}; "
                                         f"raise the budget to at least {least + money.held_total:,.1f}", value=money.city))
    return budget


def block_problem(city: Instance, run: RunOptions, model: str) -> EquityProblem:
    """The EquityProblem of `model` ("grid" or "facilities") alone on `city`."""
    budget = check_block_limits(city, run, model)
    if model == "grid":
        return grid_problem(city, budget, keep_today=not run.allow_release)
    return facilities_problem(city, facilities_block_options(city, run), budget)


def enforcement_problem(city: Instance, run: RunOptions, by: str) -> EquityProblem:
    """Towns' (or districts') enforcement coverage ratios as levels."""
    return enforcement_alone(city, replace(enforcement_block_options(city, run),
                                           budget_10k_cny=model_budget(city, "enforcement", run.budget).limit), by)
