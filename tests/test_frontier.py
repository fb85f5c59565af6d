"""ε-constraint frontiers (allocator/frontier.py): monotone efficiency, ends equal to the
separate solves, bounds held, files and exit codes. Small generated cities, solved in process."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from allocator.studies.equity_bench import run_bench
from allocator.studies.equity_runs import ProblemSpec
from allocator.studies.frontier import FRONTIER_COLUMNS, read_frontier, run_frontier
from allocator.data.generate import generate_city, write_city
from allocator.data.loader import load_instance
from allocator.plans.make import make_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions
from allocator.cli import main

EXACT = SolveOptions(threads=1, seed=0, gap=0.0)
TOL = 2e-5          # the tie-break hold (δ = 1e-5 relative) and HiGHS's tolerances stay below it


@pytest.fixture(scope="module")
def small_city(tmp_path_factory):
    """8 streets/towns in 3 districts, 163 grids, 187 sites."""
    return write_city(generate_city(8, 3), tmp_path_factory.mktemp("small") / "city", "folder")


def _monotone(frame: pd.DataFrame) -> None:
    u = frame.sort_values("point")["efficiency"].to_numpy()
    assert (np.diff(u) <= TOL).all(), u
    assert frame["status"].eq("optimal").all()
    assert frame["check_passed"].all()


def test_city_maxmin_frontier(small_city, tmp_path):
    out = tmp_path / "f"
    frame = run_frontier(small_city, ProblemSpec("city"), "maxmin", 3, out, workers=0, solve_options=EXACT)
    assert list(frame.columns) == list(FRONTIER_COLUMNS)
    assert list(frame["role"]) == ["utilitarian", "point", "point", "point", "fairest"]
    _monotone(frame)
    points = frame[frame["role"] == "point"]
    assert (points["equity"] >= points["equity_bound"] - TOL).all()        # max-min ≥ β held
    assert np.diff(points["equity_bound"]).min() > 0
    assert frame["price_of_fairness"].iloc[0] == 0.0
    assert (frame["price_of_fairness"] >= -TOL).all()
    for name in ("frontier.csv", "frontier.json", "frontier.png", "frontier.svg", "sweep.csv"):
        assert (out / name).exists()
    assert read_frontier(out)["efficiency"].tolist() == pytest.approx(frame["efficiency"].tolist())
    header = (out / "frontier.csv").read_text().splitlines()[:2]
    assert header[0].startswith("# instance:") and "sha256" in header[0] and "seed 0" in header[1]

    city = load_instance(small_city)         # the ends are the separate solves
    for objective, role in (("utilitarian", "utilitarian"), ("maxmin", "fairest")):
        plan = make_plan(city, RunOptions(model="city", objective=objective), EXACT)
        end = frame[frame["role"] == role].iloc[0]
        assert end["efficiency"] == pytest.approx(plan.meta["city"]["efficiency"], abs=TOL)
        assert end["equity"] == pytest.approx(plan.meta["city"]["min_service_index"], abs=TOL)


def test_city_gini_frontier_tightens_downwards(small_city, tmp_path):
    frame = run_frontier(small_city, ProblemSpec("city"), "gini", 2, tmp_path / "g", workers=0, solve_options=EXACT)
    _monotone(frame)
    points = frame[frame["role"] == "point"]
    assert (points["equity"] <= points["equity_bound"] + TOL).all()        # Gini ≤ γ held
    assert np.diff(points["equity_bound"]).max() < 0
    fair = frame[frame["role"] == "fairest"].iloc[0]
    assert fair["equity"] <= frame["equity"].min() + TOL
    bench = run_bench(small_city, ProblemSpec("city"), ["utilitarian", "gini"], tmp_path / "b", solve_options=EXACT)
    row = bench.set_index("objective").loc["gini"]
    assert row["gini"] == pytest.approx(fair["equity"], abs=TOL)
    assert row["efficiency"] == pytest.approx(fair["efficiency"], abs=TOL)


@pytest.mark.parametrize("by", ["district", "town"])
def test_enforcement_frontier(small_city, tmp_path, by):
    spec = ProblemSpec("enforcement", by=by, run=RunOptions(model="enforcement", headcount=60, allow_release=True))
    frame = run_frontier(small_city, spec, "maxmin", 3, tmp_path / by, workers=0, solve_options=EXACT)
    _monotone(frame)
    top = frame[frame["role"] == "utilitarian"].iloc[0]
    fair = frame[frame["role"] == "fairest"].iloc[0]
    assert fair["equity"] >= top["equity"] - TOL
    assert top["efficiency"] >= fair["efficiency"] - TOL


def test_resume_keeps_finished_points_and_refuses_another_measure(small_city, tmp_path):
    out = tmp_path / "r"
    spec = ProblemSpec("enforcement", run=RunOptions(model="enforcement", headcount=60, allow_release=True))
    first = run_frontier(small_city, spec, "maxmin", 2, out, workers=0, solve_options=EXACT)
    again = run_frontier(small_city, spec, "maxmin", 2, out, workers=0, solve_options=EXACT, resume=True)
    assert again["efficiency"].tolist() == pytest.approx(first["efficiency"].tolist())
    r = CliRunner().invoke(main, ["frontier", str(small_city), "--model", "enforcement", "--headcount", "60", "--allow-release",
                                  "--equity", "range", "--points", "2", "--out", str(out), "--resume", "--workers", "0"])
    assert r.exit_code == 2 and "measure" in r.output, r.output


def test_cli_frontier(small_city, tmp_path):
    out = tmp_path / "c"
    r = CliRunner().invoke(main, ["frontier", str(small_city), "--model", "enforcement", "--headcount", "60", "--allow-release",
                                  "--equity", "maxmin", "--points", "2", "--workers", "0", "--gap", "0", "--out", str(out),
                                  "--json"])
    assert r.exit_code == 0, r.output
    shown = json.loads(r.output.splitlines()[-1])
    assert [p["role"] for p in shown["points"]] == ["utilitarian", "point", "point", "fairest"]
    assert (out / "frontier.png").exists() and (out / "frontier.svg").exists()


@pytest.mark.parametrize("args", [
    ["--equity", "fairness"],                        # unknown measure
    ["--equity", "leximin"],                         # no bound form
    ["--equity", "utilitarian"],                     # the efficiency axis itself
    ["--equity", "maxmin", "--model", "grid", "--headcount", "5"],   # grid is balanced under a budget
    ["--equity", "maxmin", "--points", "0"],
    ["--equity", "maxmin", "--index-weights", "1,2"],
    ["--equity", "maxmin", "--by", "town"],          # the city balances districts
])
def test_cli_frontier_bad_input_exits_2(tiny_dir, tmp_path, args):
    r = CliRunner().invoke(main, ["frontier", str(tiny_dir), "--out", str(tmp_path / "x"), "--workers", "0", *args])
    assert r.exit_code == 2, r.output
    assert "error" in r.output
    assert not (tmp_path / "x").exists()
