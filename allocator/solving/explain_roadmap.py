"""Infeasibility of the roadmap model explained: the model `allocator.solving.explain` relaxes.

The model is the roadmap the run built (`allocator.solving.roadmap.build`, with the run's equity
bounds and guard), every year's city rows in `models.city`'s words and the rows that link the years
in `models.roadmap`'s (`REQUIREMENTS`, `DEFINITIONS`): the hire quotas, the build limit and the
target are the planner's limits (tier 1 and 2); keeping last year's staff is a standing rule
(tier 3), which --allow-release lifts.
"""
from __future__ import annotations

import pyomo.environ as pyo

from allocator.models.equity_problem import hold_bound, hold_today
from allocator.models.roadmap import DEFINITIONS, REQUIREMENTS, set_objective
from allocator.solving.roadmap import build as build_roadmap
from allocator.solving.roadmap import roadmap_options

__all__ = ["REQUIREMENTS", "DEFINITIONS", "build"]


def build(instance, options) -> tuple[pyo.ConcreteModel | None, dict]:
    """The roadmap of the run with its objective (the elastic solve replaces it)."""
    rm = build_roadmap(instance, options, roadmap_options(instance, options))
    for problem in rm.problems.values():
        if options.no_worse_than_today:
            hold_today(problem)
        for measure, bound in options.equity_bounds:
            hold_bound(problem, measure, bound)
    set_objective(rm)
    return rm.model, {}
