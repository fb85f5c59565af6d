"""Equity objectives on the grid model and the facilities model alone (models/block_equity.py):
the theory's orderings across objectives, the model's level equal to the one recomputed from the
plan's tables, every plan passing its model's checker, and budgets no plan can keep refused."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from allocator.studies.equity_bench import run_bench
from allocator.studies.equity_runs import ProblemSpec
from allocator.studies.frontier import run_frontier
from allocator.data.generate import generate_city, write_city
from allocator.data.loader import load_instance
from allocator.plans.plan import read_plan
from allocator.plans.make import make_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions
from allocator.cli import main
from allocator.models.grid import grid_data
from allocator.data.money import staff_today

EXACT = SolveOptions(threads=1, seed=0, gap=0.0)
TOL = 2e-5
OBJECTIVES = ["utilitarian", "maxmin", "gini", "hoover"]


@pytest.fixture(scope="module")
def busy_city(tmp_path_factory):
    """8 towns, 163 grids; 6 h per household a year, so most grids need more than one full-time worker. No
    part-time helpers and at most one full-time worker per grid today: workers employed today are kept and
    paid in any case, and helpers would cover most of the work whatever the budget (the budget, not today's
    staff, should decide the spread here); a district's full-time workers beyond one per grid couple its
    towns, which made the cost solve of this city take 80 s instead of 2."""
    path = write_city(generate_city(8, 3), tmp_path_factory.mktemp("busy") / "city", "folder")
    yaml = path / "city.yaml"
    yaml.write_text(yaml.read_text() + "norms:\n  grid_hours_per_household: 6.0\n")
    grids = pd.read_csv(path / "grids.csv")
    grids.assign(parttime_now=0, fulltime_now=grids["fulltime_now"].clip(upper=1)).to_csv(path / "grids.csv", index=False)
    return path


@pytest.fixture(scope="module")
def budgets(busy_city) -> tuple[float, float]:
    """The cheapest grid plan and the cost of covering every hour."""
    city = load_instance(busy_city)
    full = make_plan(city, RunOptions(model="grid", objective="cost"), EXACT).meta["objective_value"]
    return grid_data(city).mandatory_cost, float(full)


def _orderings(frame) -> None:
    """Each objective is best in its own measure."""
    assert frame["status"].eq("optimal").all() and frame["check_passed"].all(), frame
    table = frame.set_index("objective")
    assert (table.loc["utilitarian", "efficiency"] >= table["efficiency"] - TOL).all()
    assert (table.loc["maxmin", "min_level"] >= table["min_level"] - TOL).all()
    assert (table.loc["gini", "gini"] <= table["gini"] + TOL).all()
    if "hoover" in table.index:
        assert (table.loc["hoover", "hoover"] <= table["hoover"] + TOL).all()


def _modelled_equals_recomputed(out, measure: str) -> dict:
    meta = read_plan(out / "plans" / f"objective={measure}").meta
    assert meta["equity"]["modelled_value"] == pytest.approx(meta["equity"]["measured"], abs=1e-6)
    return meta


def test_grid_bench_under_a_binding_budget(busy_city, budgets, tmp_path):
    least, full = budgets
    assert least < full                                  # the budget leaves choices to make
    budget = least + 0.4 * (full - least)             # for grid workers: --budget pays today's officers first
    officers = staff_today(load_instance(busy_city))["officers"]
    spec = ProblemSpec("grid", run=RunOptions(model="grid", budget=budget + officers))
    frame = run_bench(busy_city, spec, ["utilitarian", "maxmin", "gini"], tmp_path / "g", solve_options=EXACT)
    _orderings(frame)
    table = frame.set_index("objective")
    assert table.loc["utilitarian", "efficiency"] < 1.0 - 1e-6       # the budget binds
    meta = _modelled_equals_recomputed(tmp_path / "g", "maxmin")
    assert meta["model"] == "grid"
    tables = read_plan(tmp_path / "g" / "plans" / "objective=maxmin").tables
    assert float(tables["districts"]["spend"].sum()) <= budget + 1e-6


def test_facilities_bench_and_frontier(busy_city, tmp_path):
    city = load_instance(busy_city)
    staff = sum(staff_today(city).values())          # 400 for new sites after today's staff
    spec = ProblemSpec("facilities", run=RunOptions(model="facilities", budget=staff + 400.0))
    frame = run_bench(busy_city, spec, OBJECTIVES, tmp_path / "f", solve_options=EXACT)
    _orderings(frame)
    _modelled_equals_recomputed(tmp_path / "f", "maxmin")
    front = run_frontier(busy_city, spec, "maxmin", 2, tmp_path / "fr", workers=0, solve_options=EXACT)
    assert front["status"].eq("optimal").all() and front["check_passed"].all()
    u = front.sort_values("point")["efficiency"].to_numpy()
    assert all(a >= b - TOL for a, b in zip(u, u[1:]))


@pytest.mark.parametrize("args, words", [
    (["--model", "grid", "--budget", "10"], "one full-time worker per grid"),
    (["--model", "facilities", "--budget", "1"], "existing sites"),
    (["--model", "grid", "--headcount", "5"], "budget only"),
    (["--model", "facilities", "--by", "town"], "districts"),
])
def test_limits_no_plan_can_keep_exit_2_before_any_solve(busy_city, tmp_path, args, words):
    for command in (["equity-bench"], ["frontier", "--equity", "maxmin"]):
        out = tmp_path / command[0]
        r = CliRunner().invoke(main, [*command, str(busy_city), "--out", str(out), *args])
        assert r.exit_code == 2, r.output
        assert words in r.output and "Traceback" not in r.output
        assert not out.exists()


def test_cli_grid_bench_json(busy_city, budgets, tmp_path):
    least, full = budgets
    officers = staff_today(load_instance(busy_city))["officers"]
    r = CliRunner().invoke(main, ["equity-bench", str(busy_city), "--model", "grid", "--budget", str(least + 50 + officers),
                                  "--objectives", "maxmin", "--out", str(tmp_path / "j"), "--json", "--gap", "0"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output.splitlines()[-1])
    assert [row["objective"] for row in rows] == ["utilitarian", "maxmin"]
    assert rows[1]["min_level"] >= rows[0]["min_level"] - TOL
