"""Infeasibility of the enforcement model explained: which model `allocator.solving.explain` relaxes
(the run's model with plain bounds s_t ≥ s_min: the solving model narrows them). The words are
`models.enforcement`'s `REQUIREMENTS` and `DEFINITIONS`.
"""
from __future__ import annotations

import pyomo.environ as pyo

from allocator.models.enforcement import DEFINITIONS, REQUIREMENTS, build_model
from allocator.solving.enforcement import enforcement_money, enforcement_options

__all__ = ["REQUIREMENTS", "DEFINITIONS", "build"]


def build(instance, options) -> tuple[pyo.ConcreteModel, dict]:
    """The enforcement model of the run with plain bounds s_t ≥ s_min (the solving model narrows them)."""
    opts = enforcement_options(instance, options, level_search=False, tie_break=False)
    m = build_model(instance, opts)
    for v in m.posted_staff.values():
        v.setlb(opts.min_team)
        v.setub(None)
    return m, {"budget_held": enforcement_money(instance, options).held_total}
