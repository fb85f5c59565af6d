"""The headline of a multi-stage run is the objective asked: plan.json, `solve` (summary and
--json), frontier.csv and bench.csv give that objective's value, bound and gap, each stage's
figures listed under it; a sequence cut short says so and never names another objective's
plan after the one asked. The primary objective is recomputed from the plan's tables by the
independent checker. Small generated cities, solved in process."""
from __future__ import annotations

import json
import re
from dataclasses import replace

import pandas as pd
import pytest
from click.testing import CliRunner

from allocator.cli import main
from allocator.data.money import staff_today
from allocator.data.generate import generate_city, write_city
from allocator.data.loader import load_instance
from allocator.plans.checks import check_plan
from allocator.plans.make import make_plan
from allocator.plans.plan import read_plan
from allocator.solving import leximin as leximin_solving
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions
from allocator.studies.equity_bench import read_bench, run_bench
from allocator.studies.equity_runs import ProblemSpec
from allocator.studies.frontier import read_frontier, run_frontier
from test_grid import TINY, small_city as grid_city

EXACT = SolveOptions(threads=1, seed=0, gap=0.0)
TOL = 2e-5          # the tie-break hold (δ = 1e-5 relative) and HiGHS's tolerances stay below it


@pytest.fixture(scope="module")
def small_city(tmp_path_factory):
    """8 streets/towns in 3 districts, 163 grids, 187 sites."""
    return write_city(generate_city(8, 3), tmp_path_factory.mktemp("headline") / "city", "folder")


def recomputed(plan, city) -> float:
    """The plan's objective recomputed from its tables alone (the independent checker)."""
    report = check_plan(plan, city)
    assert report.passed, report.violations
    return report.objective


def primary_gap(value: float, bound: float, maximise: bool) -> float:
    if (value >= bound) if maximise else (value <= bound):
        return 0.0
    return abs(value - bound) / max(abs(value), 1e-10)


def assert_headline(meta: dict, value: float, maximise: bool) -> None:
    """objective_value is the primary recomputed from the tables; mip_gap is its gap to bound."""
    assert meta["objective_value"] == pytest.approx(value, abs=1e-9)
    assert meta["bound"] is not None
    assert meta["mip_gap"] == pytest.approx(primary_gap(value, meta["bound"], maximise), rel=1e-6, abs=1e-12)


# --- plan.json ---------------------------------------------------------------------------------

def test_city_maxmin_headline_is_the_lowest_index_against_its_own_bound(small_city):
    """Stage 1 maximises the lowest index, stage 2 the efficiency with it held: the headline bound is
    stage 1's bound on the lowest index, proven to the exact gap — not the efficiency's bound."""
    city = load_instance(small_city)
    plan = make_plan(city, RunOptions(model="city", objective="maxmin"), EXACT)
    m = plan.meta
    lowest = recomputed(plan, city)
    assert lowest == pytest.approx(plan.tables["districts"]["service_index"].min(), abs=1e-9)
    assert_headline(m, lowest, maximise=True)
    assert m["status"] == "optimal" and m["status_text"] is None
    assert m["bound"] == pytest.approx(lowest, abs=TOL)            # proven: the bound is the lowest index's
    names = [s["stage"] for s in m["stages"]]
    assert names == ["efficient plan (the reference)", "optimise maxmin", "tie-break: max efficiency"]
    assert m["stages"][1]["bound"] == m["bound"]
    tie = m["stages"][-1]                                          # the tie-break's figures are efficiency's
    assert tie["value"] == pytest.approx(m["city"]["efficiency"], abs=TOL) and tie["value"] > lowest + 0.01


def test_grid_maxmin_bisection_headline_is_the_level_and_stages_are_the_steps():
    city = grid_city(load_instance(TINY), {"A": [3300.0, 2500.0], "B": [3000.0, 2200.0]})
    budget = 50.0 + staff_today(city)["officers"]        # 50 for grid workers once today's officers are paid
    plan = make_plan(city, RunOptions(model="grid", objective="maxmin", budget=budget), SolveOptions(threads=1, gap=1e-6))
    m = plan.meta
    level = recomputed(plan, city)
    assert_headline(m, level, maximise=True)
    assert level <= m["bound"] == pytest.approx(m["figures"]["level_out_of_reach"])
    steps = m["level_search"]
    assert len(m["stages"]) == len(steps) >= 2
    for stage, step in zip(m["stages"], steps):                   # each step's least cost, with its own bound
        assert stage["stage"].startswith("least cost at level") and stage["value"] == step["least_cost"]
        assert stage["bound"] == step["cost_bound"]


def test_enforcement_headline_is_the_shortfall_and_the_tie_break_is_listed(small_city):
    city = load_instance(small_city)
    plan = make_plan(city, RunOptions(model="enforcement", objective="shortfall"), SolveOptions(threads=1, seed=0))
    m = plan.meta
    short = recomputed(plan, city)
    towns = plan.tables["town_staff"]
    by_hand = (towns["enforcement_demand"] - towns["enforcement_staff"] - towns["pool_share"]).clip(lower=0).sum()
    assert short == pytest.approx(by_hand, abs=1e-9)
    assert_headline(m, short, maximise=False)
    assert [s["stage"] for s in m["stages"]] == ["shortfall", "tie-break: fewest moves", "tie-break: fewest officers released"]
    assert m["bound"] == m["stages"][0]["bound"]
    moves = towns["moves_in"].sum() + plan.tables["district_pool"]["pool_staff"].sum()
    assert m["stages"][1]["value"] == moves and m["stages"][2]["value"] == towns["moves_out"].sum()


def test_enforcement_maxmin_headline_is_the_lowest_ratio_from_the_data(small_city):
    city = load_instance(small_city)
    plan = make_plan(city, RunOptions(model="enforcement"), SolveOptions(threads=1, seed=0))
    m = plan.meta
    assert_headline(m, recomputed(plan, city), maximise=True)
    assert m["bound"] == m["enforcement"]["level_search"]["unreachable_level"]
    assert m["stages"][0]["stage"].startswith("maxmin: highest common level")


def stopping_first_solve(monkeypatch):
    """HiGHS stops leximin's first solve (max t) at the time limit, with the plan it found."""
    real, calls = leximin_solving.solve, []

    def solve(model, options, **kw):
        r = real(model, options, **kw)
        calls.append(r)
        return replace(r, status="time_limit") if len(calls) == 1 else r
    monkeypatch.setattr(leximin_solving, "solve", solve)
    return calls


def test_leximin_cut_short_in_round_one_is_a_maxmin_plan_and_says_so(small_city, monkeypatch):
    """Stopped in its first solve, leximin has no round: the plan is the max-min plan found (the floor t
    it reached held through the efficiency tie-break), named maxmin, never the utilitarian plan."""
    city = load_instance(small_city)
    utilitarian = make_plan(city, RunOptions(model="city", objective="utilitarian"), EXACT)
    calls = stopping_first_solve(monkeypatch)
    plan = make_plan(city, RunOptions(model="city", objective="leximin"), EXACT)
    m = plan.meta
    assert len(calls) == 1
    assert m["status"] == "time_limit"
    assert m["status_text"].startswith("leximin stopped after round 0 at the time limit")
    assert m["objective"] == "maxmin" and m["objective_asked"] == "leximin"
    lowest = recomputed(plan, city)                                 # checked as a max-min plan
    floor = next(s["value"] for s in m["stages"] if s["stage"].startswith("leximin"))   # the level t reached
    assert lowest >= floor - TOL
    assert lowest > utilitarian.tables["districts"]["service_index"].min() + 0.01
    assert_headline(m, lowest, maximise=True)


# --- the command line --------------------------------------------------------------------------

def test_cli_solve_json_and_summary_give_the_primary_and_each_stage(small_city, tmp_path):
    runner = CliRunner()
    args = ["solve", str(small_city), "--model", "city", "--objective", "maxmin", "--threads", "1", "--gap", "0"]
    done = runner.invoke(main, args + ["--json", "--out", str(tmp_path / "a")])
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout.strip().splitlines()[-1])
    city = load_instance(small_city)
    lowest = recomputed(read_plan(tmp_path / "a"), city)
    assert out["objective"] == pytest.approx(lowest, abs=1e-9) and out["objective_name"] == "maxmin"
    assert out["gap"] == pytest.approx(primary_gap(lowest, out["bound"], True), abs=1e-12)
    assert [s["stage"] for s in out["stages"]] == ["efficient plan (the reference)", "optimise maxmin",
                                                   "tie-break: max efficiency"]
    shown = runner.invoke(main, args + ["--out", str(tmp_path / "b")])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    head = next(line for line in lines if line.startswith("city / maxmin: status optimal"))
    assert f"objective {lowest:,.6g}" in head and "bound" in head
    assert any(line.startswith("  stage 2, optimise maxmin: optimal") for line in lines)
    assert any(line.startswith("  stage 3, tie-break: max efficiency: optimal") for line in lines)


# --- frontier.csv and bench.csv ----------------------------------------------------------------

def test_frontier_csv_gives_each_points_primary(small_city, tmp_path):
    out = tmp_path / "f"
    run_frontier(small_city, ProblemSpec("city"), "maxmin", 1, out, workers=0, solve_options=EXACT)
    frame = read_frontier(out).set_index("role")
    for role, objective, column, stages in (("utilitarian", "utilitarian", "efficiency", 2),
                                            ("point", "utilitarian", "efficiency", 1),     # max U, maxmin bounded
                                            ("fairest", "maxmin", "equity", 3)):    # the reference first
        row = frame.loc[role]
        assert row["objective"] == objective
        assert row["objective_value"] == pytest.approx(row[column], abs=1e-9)       # recomputed from the tables
        assert row["gap"] == pytest.approx(primary_gap(row["objective_value"], row["bound"], True), abs=1e-9)
        assert row["bound"] == pytest.approx(row["objective_value"], abs=TOL)      # exact: the primary's own bound
        assert row["stages"].count(";") == stages - 1                               # an end's tie-break listed too
    assert frame.loc["fairest", "stages"].startswith("efficient plan (the reference): optimal")
    # in one process the efficient end was solved first: its plan is the reference, taking no time here
    assert frame.loc["fairest", "stages"].split(";")[0].endswith("0.0 s (kept from an earlier solve)")
    assert "; optimise maxmin: optimal" in frame.loc["fairest", "stages"]


def test_bench_csv_gives_each_objectives_primary(small_city, tmp_path):
    out = tmp_path / "b"
    run_bench(small_city, ProblemSpec("city"), ["utilitarian", "maxmin", "gini"], out, solve_options=EXACT)
    frame = read_bench(out).set_index("objective")
    for objective, column, maximise in (("utilitarian", "efficiency", True), ("maxmin", "min_level", True),
                                        ("gini", "gini", False)):
        row = frame.loc[objective]
        assert row["objective_value"] == pytest.approx(row[column], abs=1e-9)
        assert row["gap"] == pytest.approx(primary_gap(row["objective_value"], row["bound"], maximise), abs=1e-9)   # CSV: 10 digits
        assert row["bound"] == pytest.approx(row["objective_value"], abs=TOL)
    assert "Dinkelbach" in frame.loc["gini", "stages"]
    assert pd.isna(frame.loc["maxmin", "status_text"])


def test_leximin_under_a_real_time_limit_says_where_it_stopped():
    """60 towns: the efficient plan (the reference) and then leximin under 3 s; the limit stops leximin
    in its first rounds."""
    city = generate_city(60, 1)
    plan = make_plan(city, RunOptions(model="city", objective="leximin"), SolveOptions(threads=1, gap=0.0, time_limit=3.0))
    m = plan.meta
    assert m["status"] == "time_limit"
    assert re.match(r"leximin stopped after round \d+ at the time limit", m["status_text"]), m["status_text"]
    rounds = int(re.search(r"round (\d+)", m["status_text"]).group(1))
    if rounds == 0:                                                # no round finished: a max-min plan, named so
        assert m["objective"] == "maxmin" and m["objective_asked"] == "leximin" and "max-min plan" in m["status_text"]
    else:
        assert m["objective"] == "leximin"
    assert_headline(m, recomputed(plan, city), maximise=True)


def test_an_optimum_on_the_model_that_the_plan_misses_says_so(tmp_path):
    """alpha's logarithm is drawn with tangent lines: when the value recomputed from the plan lies
    further from the bound than the gap asked, "optimal" comes with the words that say why."""
    from allocator.data.generate import generate_city, write_city
    from allocator.data.loader import load_instance
    from allocator.plans.make import make_plan
    from allocator.solving.run import RunOptions
    from allocator.solving.solve import SolveOptions

    folder = tmp_path / "city"
    write_city(generate_city(20, 1), folder, "folder")
    plan = make_plan(load_instance(folder), RunOptions(model="city", objective="alpha"), SolveOptions(threads=1))
    m = plan.meta
    assert m["check"]["passed"] and m["status"] == "optimal" and m["mip_gap"] > 1e-4       # 0.062 % on this city
    assert "optimal for the model; the model draws alpha's logarithm with tangent lines" in (m.get("status_text") or "")
    maxmin = make_plan(load_instance(folder), RunOptions(model="city", objective="maxmin"), SolveOptions(threads=1)).meta
    assert "optimal for the model" not in (maxmin.get("status_text") or "")                 # exact: nothing to say
