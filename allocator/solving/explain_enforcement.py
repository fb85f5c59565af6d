"""Infeasibility of the enforcement model explained: its requirement families and the model
`allocator.explain` relaxes (the run's model with plain bounds s_t ≥ s_min: the solving model
narrows them).
"""
from __future__ import annotations

import pyomo.environ as pyo

from allocator.models.enforcement import build_model
from allocator.solving.enforcement import enforcement_options
from allocator.solving.explain_grid import BUDGET_REMEDY
from allocator.solving.explain_words import MONEY, Family

FAMILIES: dict[str, Family] = {
    "headcount_not_exceeded": Family(
        "the headcount", "officers", 1, "the headcount of {limit} falls {amount} short{of_held}",
        "raise the headcount (--headcount or headcount in city.yaml) to {target}", verb="covering"),
    "budget_not_exceeded": Family(
        "the budget", MONEY, 1, "the budget of {limit} falls {amount} short{of_held}", BUDGET_REMEDY, verb="paying for"),
    "moves_within_limit": Family(
        "the move limit", "moves", 1, "the move limit of {limit} falls {amount} short{of_held}",
        "allow {target} moves (--max-moves)", verb="reaching"),
    "coverage_meets_target": Family(
        "the coverage target", "officers", 2, "{members} ({ids}) stay {amount} short of the target ratio",
        "lower the target (--target) or raise the headcount", member="town", held="the target ratio in {members}"),
    "posted_staff.lower": Family(
        "a viable team in every town", "officers", 3,
        "a team of {bound} officers cannot be posted in {members} ({ids}): {amount} short",
        "lower enforcement_min_team in the norms, or let the district pool serve those towns", member="town",
        held="a team of {bound} in {members}"),
}
DEFINITIONS: set[str] = {"posted_staff_is_today_plus_moves", "pool_shares_within_pool", "coverage_at_least_min_ratio",
                        "shortfall_covers_gap", "deployment_within_pool", "unmet_covers_surge_gap", "gap_covers_demand",
                        "normal_gap_adds_up", "district_unmet_covers_gaps", "cvar_excess_over_threshold", "primary_value_kept"}


def build(instance, options) -> tuple[pyo.ConcreteModel, dict]:
    """The enforcement model of the run with plain bounds s_t ≥ s_min (the solving model narrows them)."""
    opts = enforcement_options(instance, options, level_search=False, tie_break=False)
    m = build_model(instance, opts)
    for v in m.posted_staff.values():
        v.setlb(opts.min_team)
        v.setub(None)
    return m, {}
