"""Infeasibility explained: the elastic re-solve, its words and figures, the IIS and `solve --iis`."""
from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pyomo.environ as pyo
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.solving.explain import Family, elastic, explain_infeasible, money, requirement_groups
from allocator.models.grid import REQUIREMENTS as GRID_FAMILIES
from allocator.solving.iis import compute_iis, iis_lines
from allocator.data.loader import load_instance
from allocator.data.money import staff_today
from allocator.plans.make import make_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions
from allocator.cli import main

FAST = SolveOptions(threads=1)


@pytest.fixture(scope="module")
def tiny():
    from conftest import TINY

    return load_instance(TINY)


def _relaxation(plan, family: str, kind: str = "alone") -> dict:
    found = [r for r in plan.meta["infeasibility"]["elastic"][kind] if r["family"] == family]
    assert found, f"no {kind} relaxation of {family}: {plan.meta['infeasibility']['elastic']}"
    return found[0]


# --- the elastic model on hand-made models, optima known by hand -------------------------

def _staffing(n_items: int = 3, cost: float = 7.0, budget: float = 15.0) -> pyo.ConcreteModel:
    """n posts of `cost` each, at least one per item (a bound), under a budget row."""
    m = pyo.ConcreteModel()
    m.ITEMS = pyo.Set(initialize=[f"g{i}" for i in range(n_items)])
    m.workers = pyo.Var(m.ITEMS, within=pyo.NonNegativeIntegers, bounds=(1, None))
    m.spend_within_budget = pyo.Constraint(expr=sum(cost * m.workers[i] for i in m.ITEMS) <= budget)
    m.least = pyo.Objective(expr=sum(m.workers[i] for i in m.ITEMS))
    return m


FAMS = {"spend_within_budget": GRID_FAMILIES["spend_within_budget"],
        "workers.lower": Family("one worker per item", "full-time workers", 3, "one worker is missing in {members} ({ids})",
                                "drop the rule there", member="item",
                                held="one worker per item in {members}")}


def test_each_family_alone_gets_its_least_relaxation():
    report = elastic(_staffing(), FAMS, FAST)
    by = {r.family: r for r in report.alone}
    assert by["spend_within_budget"].amount == pytest.approx(6.0)           # 3 × 7 − 15
    assert by["spend_within_budget"].target == pytest.approx(21.0)
    assert by["spend_within_budget"].proven
    assert by["workers"].amount == pytest.approx(1.0) and len(by["workers"].ids) == 1   # drop one item: 14 ≤ 15
    assert "one worker per item in 3 items" not in by["workers"].text
    assert "raise the budget (--budget) to at least 210,000 CNY (21 in the 10k CNY of --budget)" in by["spend_within_budget"].text


def test_budget_text_names_what_it_pays_for():
    report = elastic(_staffing(n_items=4, budget=20), FAMS, FAST)
    text = next(r.text for r in report.alone if r.family == "spend_within_budget")
    assert text.startswith("the budget for grid workers of 200,000 CNY falls 80,000 CNY short of paying for one worker per "
                           "item in 4 items")


def test_the_model_is_left_as_it_was():
    m = _staffing()
    elastic(m, FAMS, FAST)
    assert m.spend_within_budget.active and m.least.active
    assert all(v.lb == 1 for v in m.workers.values())
    assert [c.name for c in m.component_objects(pyo.Constraint)] == ["spend_within_budget"]


def test_unregistered_rows_are_relaxed_last_and_named():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.NonNegativeReals)
    m.floor_rule = pyo.Constraint(expr=m.x >= 5)
    m.ceiling_rule = pyo.Constraint(expr=m.x <= 3)
    m.total_is_x = pyo.Constraint(expr=m.x == m.x)      # an unregistered equality: a definition, never relaxed
    report = elastic(m, {}, FAST)
    assert report.status == "found" and not report.alone
    assert sum(r.amount for r in report.together) == pytest.approx(2.0)
    assert all(r.family in ("floor_rule", "ceiling_rule") for r in report.together)
    assert re.search(r"(floor|ceiling)_rule needs 2 units of slack; review the requirement behind", report.text)


def test_a_conflict_outside_requirements_is_said_so():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 1))
    m.defined = pyo.Constraint(expr=m.x == 2)
    report = elastic(m, {}, FAST, definitions={"defined"})
    assert report.status == "none" and "the conflict lies in how quantities are defined or in the data" in report.text


def test_ranged_and_equality_members_get_slack_on_the_side_that_needs_it():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 10))
    m.band = pyo.Constraint(expr=pyo.inequality(4, m.x, 6))
    m.x.setlb(8)
    fams = {"band": Family("the band", "units", 1, "band short by {amount}", "widen it to {target}")}
    report = elastic(m, fams, FAST)
    (r,) = report.alone
    assert r.amount == pytest.approx(2.0) and r.target == pytest.approx(8.0) and r.limit == pytest.approx(6.0)
    groups = requirement_groups(m, fams)
    assert [g.key for g in groups] == ["band"]


def test_money_words():
    assert money(320) == "3.2 million CNY"
    assert money(4.8) == "48,000 CNY"
    assert money(41866) == "418.7 million CNY"


# --- the hook in run(): every model's infeasible outcome gets the figures ----------------

def test_enforcement_headcount_shortfall_in_words(tiny):
    plan = make_plan(tiny, RunOptions(model="enforcement", headcount=3, allow_release=True), FAST)
    assert plan.meta["status"] == "infeasible"
    text = plan.meta["explanation"]
    assert text.startswith("a team of at least 5 in each of 3 towns needs 15 officers")      # the model's own words first
    assert "the headcount of 3 officers falls 12 officers short of covering a team of 5 in 3 towns" in text
    assert "to at least 15" in text
    r = _relaxation(plan, "headcount_not_exceeded")
    assert r["amount"] == pytest.approx(12) and r["target"] == pytest.approx(15) and r["proven"]
    team = _relaxation(plan, "posted_staff")
    assert sorted(team["ids"]) == ["T1", "T2", "T3"] and team["amount"] == pytest.approx(12)


def test_enforcement_move_limit_and_headcount_together(tiny):
    plan = make_plan(tiny, RunOptions(model="enforcement", objective="moves", target_ratio=1.5, max_moves=0), FAST)
    elastic_report = plan.meta["infeasibility"]["elastic"]
    families = {r["family"] for r in elastic_report["together"]}
    assert {"moves_within_limit", "headcount_not_exceeded"} <= families
    assert "Changed together" in plan.meta["explanation"]


def test_grid_budget_shortfall_matches_the_mandatory_cost(tiny):
    from allocator.models.grid import grid_data

    data = grid_data(tiny)
    officers = staff_today(tiny)["officers"]          # --budget pays today's officers first
    plan = make_plan(tiny, RunOptions(model="grid", objective="cost", budget=10.0 + officers), FAST)
    r = _relaxation(plan, "spend_within_budget")
    assert r["target"] == pytest.approx(data.mandatory_cost)
    assert r["amount"] == pytest.approx(data.mandatory_cost - 10.0)
    assert f"one full-time worker per grid in {len(tiny.grids)} grids" in r["text"]
    assert f"({data.mandatory_cost + officers:,.6g} in the 10k CNY of --budget)" in r["text"]
    assert "part-time cover" not in r["text"]           # no option makes that: not offered


@settings(max_examples=6, deadline=None)
@given(budget=st.floats(min_value=1.0, max_value=71.0))
def test_any_budget_below_the_mandatory_cost_is_raised_to_exactly_it(tiny, budget):
    from allocator.models.grid import grid_data

    plan = make_plan(tiny, RunOptions(model="grid", objective="cost", budget=budget + staff_today(tiny)["officers"]), FAST)
    assert plan.meta["status"] == "infeasible"
    r = _relaxation(plan, "spend_within_budget")
    assert r["target"] == pytest.approx(grid_data(tiny).mandatory_cost, rel=1e-6)


def test_a_model_without_a_builder_is_explained_from_the_model_it_kept():
    m = _staffing()
    outcome = SimpleNamespace(model=m, explanation=None, meta={})
    info = explain_infeasible(None, SimpleNamespace(model="a model without a builder"), FAST, outcome)
    assert info["elastic"]["status"] == "found"
    assert outcome.explanation == ("This change makes a plan possible: spend_within_budget needs 60,000 CNY of slack; "
                                   "review the budget behind spend_within_budget.")


def test_no_model_at_all_keeps_the_own_words():
    outcome = SimpleNamespace(model=None, explanation="own words", meta={})
    info = explain_infeasible(None, SimpleNamespace(model="a model without a builder"), FAST, outcome, iis=True)
    assert outcome.explanation == "own words"
    assert info["elastic"]["status"] == "unavailable" and info["iis"]["status"] == "unavailable"


# --- IIS ------------------------------------------------------------------------------------

def test_iis_names_rows_and_bounds():
    iis = compute_iis(_staffing())
    assert iis["status"] == "found" and iis["irreducible"]
    assert [r["constraint"] for r in iis["rows"]] == ["spend_within_budget"]
    assert sorted(b["variable"] for b in iis["bounds"]) == ["workers[g0]", "workers[g1]", "workers[g2]"]
    assert all(b["bound"] == "lower" and b["lower"] == 1 for b in iis["bounds"])
    lines = iis_lines(iis)
    assert "spend_within_budget: ≤ 15" in "\n".join(lines)


def test_iis_of_an_integrality_conflict_says_there_is_none():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.Integers, bounds=(0, 1))
    m.half = pyo.Constraint(expr=2 * m.x == 1)
    iis = compute_iis(m)
    assert iis["status"] == "none" and "integrality" in iis["note"]


def test_solve_iis_on_the_command_line(tiny_dir, tmp_path):
    out = tmp_path / "plan"
    result = CliRunner().invoke(main, ["solve", str(tiny_dir), "--model", "enforcement", "--headcount", "3", "--iis",
                                       "--allow-release", "--out", str(out)])
    assert result.exit_code == 3, result.output
    assert "infeasible: a team of at least 5" in result.output
    assert "headcount_not_exceeded: ≤ 3" in result.output
    assert "posted_staff[T1]: lower bound 5" in result.output
    meta = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert meta["status"] == "infeasible" and "12 officers short" in meta["explanation"]
    assert {r["constraint"] for r in meta["infeasibility"]["iis"]["rows"]} == {"headcount_not_exceeded"}


def test_solve_without_iis_records_no_iis(tiny_dir, tmp_path):
    out = tmp_path / "plan"
    result = CliRunner().invoke(main, ["solve", str(tiny_dir), "--model", "grid", "--budget", "10", "--out", str(out), "--json"])
    assert result.exit_code == 3
    payload = json.loads(result.output)
    held = staff_today(load_instance(tiny_dir))["officers"]        # --budget 10 pays today's officers first
    # one worker per grid and the required professionals (72), and today's 5 helpers kept in pools (6)
    assert f"raise the budget (--budget) to at least {money(78 + held)}" in payload["explanation"]
    meta = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert "iis" not in meta["infeasibility"] and meta["infeasibility"]["elastic"]["status"] == "found"


def test_a_search_out_of_time_says_so_not_that_nothing_helps():
    from allocator.solving.explain import ElasticReport

    report = ElasticReport("none", solves=[{"families": ["a"], "status": "time_limit"}], seconds=60.2)
    assert report.text == ("No relaxation was found in the 60 s the explanation may take: the elastic solves ran out of "
                           "time on a model this size")
    assert "the conflict lies in how quantities are defined" in ElasticReport("none", solves=[
        {"families": ["a"], "status": "infeasible"}]).text
