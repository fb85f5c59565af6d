"""Infeasibility of the grid staffing model explained: its requirement families and the model
`allocator.explain` relaxes (the run's model without its reductions, every grid and town
modelled, so that x_g ≥ 1 is a bound per grid and the budget row holds every salary).
"""
from __future__ import annotations

from dataclasses import replace

import pyomo.environ as pyo

from allocator.models.grid import build_model, grid_data
from allocator.solving.explain_words import MONEY, Family
from allocator.solving.grid import options_of

BUDGET_REMEDY = "raise the budget (--budget) to {target}"
FAMILIES: dict[str, Family] = {
    "spend_within_budget": Family(
        "the budget", MONEY, 1, "the budget of {limit} falls {amount} short{of_held}",
        BUDGET_REMEDY + ", or allow part-time cover instead of a full-time worker in rural grids", verb="paying for"),
    "headcount_within_limit": Family(
        "the headcount", "posts", 1, "the headcount of {limit} falls {amount} short{of_held}",
        "raise the headcount (--headcount) to {target}", verb="covering"),
    "town_coverage_reaches_level": Family(
        "covering all grid work", "hours", 2, "{amount} of grid work a year would stay uncovered in {members} ({ids})",
        "accept less than full coverage (--objective unmet or maxmin), or raise the budget", member="town",
        held="all grid work in {members}"),
    "fulltime_workers.lower": Family(
        "one full-time worker per grid (一格一员)", "full-time workers", 3,
        "one full-time worker per grid cannot be kept in {members} ({ids})",
        "cover those grids with part-time helpers or a professional", member="grid",
        held="one full-time worker per grid in {members}"),
    "professionals.lower": Family(
        "professional cover (一员多格)", "professionals", 3,
        "the required professionals are {amount} short in {members} ({ids})",
        "let one professional cover more grids (professional_max_grids in the norms)", member="town",
        held="the required professionals in {members}"),
    "parttime_helpers.upper": Family(
        "the part-time helpers allowed per grid", "part-time helpers", 3,
        "{amount} beyond the limit per grid would be needed in {members} ({ids})",
        "raise parttime_max_per_grid in the norms", member="grid", held="the most part-time helpers in {members}"),
}
DEFINITIONS: set[str] = {"town_spend_is_salaries", "town_unmet_is_sum", "professional_hours_within_town", "grid_work_is_covered"}


def build(instance, options) -> tuple[pyo.ConcreteModel, dict]:
    """The grid model of the run without its reductions: every grid and town modelled, budget row present."""
    run = options_of(instance, options)
    every = replace(grid_data(instance), reduced=False)
    kept = replace(run, objective="cost" if run.objective == "cost" else "unmet")
    return build_model(instance, kept, every), {}
