"""No dismissals by default: every officer employed today stays posted or pooled, in every
enforcement objective and in the city model, unless --allow-release; released officers then have
their own column, summary line and compare line. Every plan is read back from its tables."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from allocator import cli
from allocator.data.generate import generate_city, write_city
from allocator.data.loader import load_instance
from allocator.plans.checks import check_plan
from allocator.plans.make import make_plan
from allocator.plans.plan import read_plan, write_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions

FAST = SolveOptions(threads=1, gap=1e-6, time_limit=60)


@pytest.fixture(scope="module")
def cities(tmp_path_factory):
    """Generated cities: 20 towns (3 districts, 3 towns staffed above their standard) and 100 towns
    (6 districts, 1,104 officers today)."""
    root = tmp_path_factory.mktemp("kept")
    return {n: load_instance(write_city(generate_city(n, 1), root / f"c{n}", "folder")) for n in (20, 100)}


def employed(plan) -> tuple[int, int]:
    """(officers employed today, officers posted + pooled), from the plan tables alone."""
    towns, pools = plan.tables["town_staff"], plan.tables["district_pool"]
    return int(towns["enforcement_now"].sum()), int(towns["enforcement_staff"].sum() + pools["pool_staff"].sum())


ENFORCEMENT_RUNS = [dict(objective="maxmin"), dict(objective="shortfall"), dict(objective="moves", target_ratio=0.6),
                    dict(objective="moves", target_ratio=0.3), dict(objective="expected", scenarios="surge:3:7")]


@pytest.mark.parametrize("towns", [20, 100])
@pytest.mark.parametrize("run", ENFORCEMENT_RUNS, ids=lambda r: "-".join(str(v) for v in r.values()))
def test_no_officer_disappears_in_any_enforcement_objective(cities, towns, run):
    city = cities[towns]
    plan = make_plan(city, RunOptions(model="enforcement", **run), FAST)
    assert plan.meta["status"] == "optimal", plan.meta.get("explanation")
    today, kept = employed(plan)
    assert today <= kept
    assert plan.tables["town_staff"]["released"].sum() == 0
    assert check_plan(plan, city).passed


def test_moves_at_a_low_target_keeps_every_officer(cities):
    """Regression: `moves --target 0.6` on a six-district city posted 848 of today's 1,104 officers
    (the towns above the target were cut to it); now every officer leaving a town arrives elsewhere."""
    city = cities[100]
    assert city.districts.shape[0] == 6
    plan = make_plan(city, RunOptions(model="enforcement", objective="moves", target_ratio=0.6), FAST)
    today, kept = employed(plan)
    assert kept == today == 1104
    towns = plan.tables["town_staff"]
    assert int(towns["moves_out"].sum()) == int(towns["moves_in"].sum() + plan.tables["district_pool"]["pool_staff"].sum())


@pytest.mark.parametrize("objective", ["maxmin", "utilitarian", "gini"])
def test_city_model_keeps_the_officers_of_overstaffed_towns(cities, objective):
    """Regression: the city model capped a town's postings at its standard, so the three towns of the
    20-town city staffed above it shed officers. Now they may keep them (uncounted): nobody leaves."""
    city = cities[20]
    plan = make_plan(city, RunOptions(model="city", objective=objective), FAST)
    assert plan.meta["status"] in ("optimal", "time_limit"), plan.meta.get("explanation")
    today, kept = employed(plan)
    assert today <= kept
    assert plan.meta["check"]["passed"], plan.meta["check"]


def test_allow_release_reports_the_officers_leaving(cities, tmp_path):
    city = cities[100]
    folder = tmp_path / "released"
    result = CliRunner().invoke(cli.main, ["solve", str(city.source), "--model", "enforcement", "--objective", "moves",
                                           "--target", "0.6", "--allow-release", "--threads", "1", "--out", str(folder)])
    assert result.exit_code == 0, result.output
    plan = read_plan(folder)
    towns = plan.tables["town_staff"]
    today, kept = employed(plan)
    released = int(towns["released"].sum())
    assert released == today - kept > 0
    assert (towns["released"] <= towns["moves_out"]).all()
    assert f"{released:,} released (leaving the service)" in result.output
    assert int(plan.tables["districts"]["released"].sum()) == released
    assert check_plan(plan, city).passed
    kept_folder = tmp_path / "kept"
    CliRunner().invoke(cli.main, ["solve", str(city.source), "--model", "enforcement", "--objective", "moves",
                                  "--target", "0.6", "--threads", "1", "--out", str(kept_folder)])
    shown = CliRunner().invoke(cli.main, ["compare", str(kept_folder), str(folder)])
    line = next(row for row in shown.output.splitlines() if row.startswith("officers released"))
    assert "none (not allowed)" in line and line.rstrip().endswith(f"{released:,}")


def test_checker_refuses_a_dismissal_the_plan_does_not_allow(cities, tmp_path):
    city = cities[20]
    plan = make_plan(city, RunOptions(model="enforcement", objective="shortfall"), FAST)
    today, kept = employed(plan)
    gone = kept - today + 1                                  # one officer fewer than today's
    towns = plan.tables["town_staff"]
    i = int(np.argmax(towns["enforcement_staff"].to_numpy()))
    assert towns.loc[i, "enforcement_staff"] - gone >= 5
    towns.loc[i, "enforcement_staff"] -= gone                # officers disappear, posted = today + in − out kept
    net = towns.loc[i, "enforcement_staff"] - towns.loc[i, "enforcement_now"]
    towns.loc[i, "moves_in"], towns.loc[i, "moves_out"] = max(net, 0), max(-net, 0)
    plan.tables["districts"] = plan.tables["districts"].assign(
        enforcement_staff=towns.groupby("district_id", sort=False)["enforcement_staff"].sum().to_numpy())
    report = check_plan(plan, city)
    assert not report.passed
    assert any("neither posted nor pooled" in v for v in report.violations)


def test_summary_prints_the_move_limit_and_its_default(cities, tmp_path):
    city = cities[100]
    result = CliRunner().invoke(cli.main, ["solve", str(city.source), "--model", "enforcement", "--threads", "1",
                                           "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert "move limit: 110 (default: 10 % of today's 1,104 officers" in result.output
    assert "officers: 1,104 employed today" in result.output and "none released" in result.output


def test_a_headcount_below_todays_officers_names_the_option(cities, tmp_path):
    city = cities[100]
    result = CliRunner().invoke(cli.main, ["solve", str(city.source), "--model", "enforcement", "--headcount", "1000",
                                           "--out", str(tmp_path / "p")])
    assert result.exit_code == 3
    assert "below the 1,104 officers employed today" in result.output and "--allow-release" in result.output
    released = tmp_path / "r"
    ok = CliRunner().invoke(cli.main, ["solve", str(city.source), "--model", "enforcement", "--headcount", "1000",
                                       "--allow-release", "--threads", "1", "--out", str(released)])
    assert ok.exit_code == 0, ok.output
    assert check_plan(read_plan(released), city).passed


def test_written_plan_keeps_the_released_column(cities, tmp_path):
    city = cities[20]
    plan = make_plan(city, RunOptions(model="enforcement", objective="maxmin"), FAST)
    again = read_plan(write_plan(plan, tmp_path / "p"))
    assert "released" in again.tables["town_staff"] and check_plan(again, city).passed
