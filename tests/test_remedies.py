"""Every remedy an infeasibility message offers names the option, norm or data column that makes
it, and applying it as the message says gives a plan: each test makes the tiny city infeasible
one way, reads the figure off the message, applies it and solves again. (Facilities capacity,
city budgets, pools, own budgets and transfer caps are applied the same way in
tests/test_explain_facilities.py and tests/test_explain_city.py.)"""
from __future__ import annotations

import re

import pytest

from allocator.data.loader import load_instance
from allocator.models import enforcement as enf
from allocator.models import facilities_requirements, grid
from allocator.plans.make import make_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions
from conftest import TINY

FAST = SolveOptions(threads=1)
OPTIONS = r"--[a-z]|city\.yaml|districts\.csv|sites\.csv"     # an option, a norm (city.yaml) or a data column


@pytest.fixture(scope="module")
def tiny():
    return load_instance(TINY)


def figure(text: str, pattern: str) -> float:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in {text!r}"
    return float(found.group(1).replace(",", ""))


def solve(city, **options):
    return make_plan(city, RunOptions(**options), FAST)


@pytest.mark.parametrize("families", [grid.REQUIREMENTS, enf.REQUIREMENTS, facilities_requirements.REQUIREMENTS])
def test_every_remedy_names_an_option_norm_or_data_column(families):
    for name, family in families.items():
        if family.fixed:
            assert "no option changes this rule" in family.remedy, name
            continue
        assert re.search(OPTIONS, family.remedy), (name, family.remedy)
    assert "part-time cover" not in grid.REQUIREMENTS["spend_within_budget"].remedy      # no option made it


def test_grid_budget(tiny):
    short = solve(tiny, model="grid", objective="cost", budget=210.0)      # unmet would leave grids vacant
    assert short.meta["status"] == "infeasible"
    budget = figure(short.meta["explanation"], r"raise the budget \(--budget\) to at least ([\d,]+(?:\.\d+)?)")
    assert solve(tiny, model="grid", objective="cost", budget=budget).meta["status"] == "optimal"


def test_grid_headcount(tiny):
    short = solve(tiny, model="grid", objective="cost", headcount=3)
    assert short.meta["status"] == "infeasible"
    headcount = figure(short.meta["explanation"], r"raise the headcount \(--headcount\) to at least ([\d,]+)")
    assert solve(tiny, model="grid", objective="cost", headcount=int(headcount)).meta["status"] == "optimal"


def test_grid_full_time_rule_is_never_offered_alone(tiny):
    """The rule one full-time worker per grid has no option: a short budget names the budget only."""
    short = solve(tiny, model="grid", objective="cost", budget=250.0)
    alone = short.meta["infeasibility"]["elastic"]["alone"]
    assert [r["family"] for r in alone] == ["spend_within_budget"]


def test_enforcement_headcount(tiny):
    short = solve(tiny, model="enforcement", objective="shortfall", headcount=5)
    assert short.meta["status"] == "infeasible"
    headcount = figure(short.meta["explanation"], r"raise the headcount \(--headcount or headcount in city\.yaml\) to at least ([\d,]+)")
    assert solve(tiny, model="enforcement", objective="shortfall", headcount=int(headcount)).meta["status"] == "optimal"


def test_enforcement_budget(tiny):
    short = solve(tiny, model="enforcement", objective="shortfall", budget=100.0)
    assert short.meta["status"] == "infeasible"
    budget = figure(short.meta["explanation"], r"\(([\d,.]+) in the 10k CNY of --budget\)")
    assert solve(tiny, model="enforcement", objective="shortfall", budget=budget).meta["status"] == "optimal"


def test_enforcement_moves_and_headcount_together(tiny):
    """No moves and a target beyond the headcount: the message names both changes, made together."""
    short = solve(tiny, model="enforcement", objective="moves", target_ratio=0.9, max_moves=0)
    assert short.meta["status"] == "infeasible" and "Changed together" in short.meta["explanation"]
    moves = figure(short.meta["explanation"], r"allow ([\d,]+) moves \(--max-moves\)")
    headcount = figure(short.meta["explanation"], r"\(--headcount or headcount in city\.yaml\) to ([\d,]+)")
    plan = solve(tiny, model="enforcement", objective="moves", target_ratio=0.9, max_moves=int(moves), headcount=int(headcount))
    assert plan.meta["status"] == "optimal"


def test_facilities_p_and_mclp_for_lscp(tiny):
    short = solve(tiny, model="facilities", objective="lscp", p=1)
    assert short.meta["status"] == "infeasible"
    p = figure(short.meta["explanation"], r"raise --p to at least ([\d,]+)")
    assert solve(tiny, model="facilities", objective="lscp", p=int(p)).meta["status"] == "optimal"
    assert "use --objective mclp" in short.meta["explanation"]
    assert solve(tiny, model="facilities", objective="mclp", p=1).meta["status"] == "optimal"


def test_facilities_budget_for_new_sites(tiny):
    short = solve(tiny, model="facilities", objective="lscp", budget=500.0)
    assert short.meta["status"] == "infeasible"
    budget = figure(short.meta["explanation"], r"raise the budget \(--budget\) to at least ([\d,]+(?:\.\d+)?)")
    assert solve(tiny, model="facilities", objective="lscp", budget=budget).meta["status"] == "optimal"
