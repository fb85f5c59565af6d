"""Infeasibility of the grid staffing model explained: which model `allocator.solving.explain` relaxes
(the run's model without its reductions, every grid and town modelled, so that x_g ≥ 1 is a bound
per grid and the budget row holds every salary). The words are `models.grid`'s `REQUIREMENTS` and
`DEFINITIONS`.
"""
from __future__ import annotations

from dataclasses import replace

import pyomo.environ as pyo

from allocator.models.grid import DEFINITIONS, REQUIREMENTS, build_model, grid_data
from allocator.solving.grid import grid_money, options_of

__all__ = ["REQUIREMENTS", "DEFINITIONS", "build"]


def build(instance, options) -> tuple[pyo.ConcreteModel, dict]:
    """The grid model of the run without its reductions: every grid and town modelled, budget row present."""
    run = options_of(instance, options)
    every = replace(grid_data(instance, keep_today=not options.allow_release), reduced=False)
    kept = replace(run, objective="cost" if run.objective == "cost" else "unmet")
    return build_model(instance, kept, every), {"budget_held": grid_money(instance, options).held_total}
