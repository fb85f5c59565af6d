"""One money model for every model (README, "What the budget pays"): the money lines of
plan.json recomputed from the plan's tables and the city's files, the budget each model holds,
--p in place of the budget, and facilities runs that work with nothing but --model.

The tiny city by hand: budget 500; today's staff are 4 full-time workers (7 each) and 5
part-time (1.2 each), 34 in all, and 17 officers (12 each), 204; the existing sites S1, S4,
S8 run at 50 + 20 + 80 = 150 a year, a committed line."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from allocator.cli import main
from allocator.data.loader import load_instance
from allocator.plans.checks import check_plan
from allocator.plans.make import make_plan
from allocator.plans.plan import read_plan, write_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions
from conftest import TINY

FAST = SolveOptions(threads=1)
GRID_TODAY, OFFICERS_TODAY, COMMITTED = 34.0, 204.0, 150.0
HELD = {"grid": OFFICERS_TODAY, "enforcement": GRID_TODAY, "facilities": GRID_TODAY + OFFICERS_TODAY, "city": 0.0}


@pytest.fixture(scope="module")
def tiny():
    return load_instance(TINY)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A generated city of 5 towns: its budget is far below its existing sites' running cost."""
    folder = tmp_path_factory.mktemp("gen") / "city"
    result = CliRunner().invoke(main, ["generate", "--towns", "5", "--seed", "1", "--out", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def lines_from_tables(tables: dict[str, pd.DataFrame]) -> dict[str, float]:
    """What a plan charges the budget, from its tables and the tiny city's files alone."""
    sal = {"fulltime": 7.0, "parttime": 1.2, "professional": 10.0, "enforcement": 12.0}
    out = {}
    if "grid_staff" in tables:
        g, t = tables["grid_staff"], tables["town_staff"]
        d = tables["districts"]                    # today's grid workers without a post, paid in the district pools
        out["grid_workers"] = (sal["fulltime"] * (g["fulltime"].sum() + d["fulltime_pool"].sum())
                               + sal["parttime"] * (g["parttime"].sum() + d["parttime_pool"].sum())
                               + sal["professional"] * t["professionals"].sum())
    if "district_pool" in tables:
        out["officers"] = sal["enforcement"] * (tables["town_staff"]["enforcement_staff"].sum()
                                                + tables["district_pool"]["pool_staff"].sum())
    if "facilities" in tables:
        sites = pd.read_csv(TINY / "sites.csv").set_index("site_id")
        f = tables["facilities"]
        new = f[(f["open"] == 1) & (f["existing"] == 0)]["site_id"]
        out["new_sites"] = float((sites.loc[new, "open_cost"] + sites.loc[new, "annual_cost"]).sum())
    return out


@pytest.mark.parametrize("model, objective", [("grid", "unmet"), ("grid", "maxmin"), ("enforcement", "maxmin"),
                                              ("enforcement", "shortfall"), ("facilities", "mclp"),
                                              ("facilities", "pmedian"), ("city", "maxmin")])
def test_money_lines_are_the_spend_the_tables_show(tiny, model, objective):
    plan = make_plan(tiny, RunOptions(model=model, objective=objective), FAST)
    assert plan.meta["status"] == "optimal" and plan.meta["check"]["passed"], plan.meta.get("explanation")
    money = plan.meta["money"]
    want = lines_from_tables(plan.tables)
    if model == "grid":
        want.pop("officers", None)
    got = {k: v for k, v in money["spend_10k_cny"].items() if k != "total"}
    assert got == pytest.approx(want)
    assert money["spend_10k_cny"]["total"] == pytest.approx(sum(want.values()))
    assert money["budget_10k_cny"] == pytest.approx(500.0 - HELD[model])
    assert money["spend_10k_cny"]["total"] <= money["budget_10k_cny"] + 1e-6
    assert money["committed_sites_10k_cny"] == pytest.approx(COMMITTED)
    assert sum(money["held_today_10k_cny"].values()) == pytest.approx(HELD[model])


def test_the_checker_recomputes_the_money_lines(tiny, tmp_path):
    folder = write_plan(make_plan(tiny, RunOptions(model="facilities"), FAST), tmp_path / "plan")
    assert check_plan(read_plan(folder), tiny).passed
    for key in ("new_sites", "total"):
        plan = read_plan(folder)
        plan.meta["money"]["spend_10k_cny"][key] += 1.0
        assert any(f"money.spend_10k_cny.{key}" in v for v in check_plan(plan, tiny).violations)
    plan = read_plan(folder)
    plan.meta["money"]["committed_sites_10k_cny"] = 0.0           # the committed line cannot vanish
    assert any("committed_sites" in v for v in check_plan(plan, tiny).violations)
    plan = read_plan(folder)
    plan.meta["money"]["budget_10k_cny"] = 500.0                  # the budget is what today's staff leave
    assert any("money.budget_10k_cny" in v for v in check_plan(plan, tiny).violations)


def test_existing_sites_running_cost_is_never_charged(tiny):
    """Before: a budget was compared with the existing sites' running cost; 200 > 150 + 34 + 0, but
    the budget pays today's staff (238) first: nothing is left, and the plan opens no new site."""
    plan = make_plan(tiny, RunOptions(model="facilities", budget=238.0), FAST)
    assert plan.meta["status"] == "optimal" and plan.meta["check"]["passed"]
    assert plan.meta["money"]["spend_10k_cny"]["new_sites"] == 0.0
    assert plan.meta["money"]["committed_sites_10k_cny"] == pytest.approx(COMMITTED)


def test_p_replaces_the_budget_and_with_both_both_hold(tiny):
    alone = make_plan(tiny, RunOptions(model="facilities", p=1), FAST)
    assert alone.meta["money"]["budget_10k_cny"] is None and alone.meta["check"]["passed"]
    assert alone.meta["money"]["spend_10k_cny"]["new_sites"] > 500.0 - HELD["facilities"]   # no budget row
    both = make_plan(tiny, RunOptions(model="facilities", p=1, budget=300.0), FAST)
    assert both.meta["money"]["budget_10k_cny"] == pytest.approx(300.0 - HELD["facilities"])
    assert both.meta["money"]["spend_10k_cny"]["new_sites"] <= 62.0 + 1e-9 and both.meta["check"]["passed"]
    opened = both.tables["facilities"]
    assert (opened[(opened["open"] == 1) & (opened["existing"] == 0)].groupby("service").size() <= 1).all()


def test_lscp_holds_p_as_its_checker_does(tiny):
    """Before, lscp ignored --p and its plan failed the checker, which holds it."""
    plan = make_plan(tiny, RunOptions(model="facilities", objective="lscp", p=2), FAST)
    assert plan.meta["status"] == "optimal" and plan.meta["check"]["passed"]
    short = make_plan(tiny, RunOptions(model="facilities", objective="lscp", p=1), FAST)
    assert short.meta["status"] == "infeasible" and "raise --p to at least 2" in short.meta["explanation"]


def test_grid_and_enforcement_get_what_the_city_budget_leaves(tiny):
    grid = make_plan(tiny, RunOptions(model="grid", objective="unmet", budget=300.0), FAST)
    assert grid.meta["money"]["budget_10k_cny"] == pytest.approx(300.0 - OFFICERS_TODAY)
    enforcement = make_plan(tiny, RunOptions(model="enforcement", budget=300.0), FAST)
    assert enforcement.meta["money"]["budget_10k_cny"] == pytest.approx(300.0 - GRID_TODAY)
    assert enforcement.meta["enforcement"]["budget"] == pytest.approx(300.0 - GRID_TODAY)
    for plan in (grid, enforcement):
        assert plan.meta["check"]["passed"]


def test_solve_says_what_the_budget_leaves_for_new_sites(tmp_path):
    r = CliRunner().invoke(main, ["solve", str(TINY), "--model", "facilities", "--out", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    assert "budget for new sites: 262 (city budget 500 less today's staff 238), 10k CNY a year" in r.output
    assert "committed, not charged: existing sites' running cost 150" in r.output


@pytest.mark.parametrize("objective", ["mclp", "lscp", "lscpb", "pmedian", "pcenter"])
def test_facilities_with_defaults_on_a_generated_city(generated, tmp_path, objective):
    """Before: infeasible for every objective (budget 2,089 against running cost 14,646)."""
    out = tmp_path / "plan"
    r = CliRunner().invoke(main, ["solve", str(generated), "--model", "facilities", "--objective", objective,
                                  "--threads", "1", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.strip().splitlines()[-1])["status"] == "optimal"
    checked = CliRunner().invoke(main, ["check", str(out), str(generated)])
    assert checked.exit_code == 0, checked.output
