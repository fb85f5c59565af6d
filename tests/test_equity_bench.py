"""The equity benchmark (allocator/equity_bench.py): the theory's orderings across objectives,
exact JSON keys, reproducibility records and exit codes. A small generated city, in process."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from allocator.studies.equity_bench import JSON_KEYS, parse_objectives, read_bench, run_bench
from allocator.studies.equity_runs import ProblemSpec
from allocator.data.generate import generate_city, write_city
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions
from allocator.cli import main

EXACT = SolveOptions(threads=1, seed=0, gap=0.0)
TOL = 2e-5          # the tie-break hold (δ = 1e-5 relative) and HiGHS's tolerances stay below it
OBJECTIVES = ["utilitarian", "maxmin", "leximin", "range", "mad", "gini", "owa", "alpha", "hoover"]


@pytest.fixture(scope="module")
def small_city(tmp_path_factory):
    return write_city(generate_city(8, 3), tmp_path_factory.mktemp("small") / "city", "folder")


@pytest.fixture(scope="module")
def city_bench(small_city, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "b"
    return run_bench(small_city, ProblemSpec("city"), OBJECTIVES, out, solve_options=EXACT), out


def test_city_bench_orderings(city_bench):
    frame, _ = city_bench
    assert frame["objective"].tolist() == OBJECTIVES
    assert frame["status"].eq("optimal").all() and frame["check_passed"].all()
    table = frame.set_index("objective")
    assert (table.loc["utilitarian", "efficiency"] >= table["efficiency"] - TOL).all()
    assert (table.loc["maxmin", "min_level"] >= table["min_level"] - TOL).all()
    assert table.loc["leximin", "min_level"] == pytest.approx(table.loc["maxmin", "min_level"], abs=TOL)
    assert (table.loc["gini", "gini"] <= table["gini"] + TOL).all()
    assert (table.loc["hoover", "hoover"] <= table["hoover"] + TOL).all()
    assert table.loc["utilitarian", "price_of_fairness"] == 0.0
    assert (table["price_of_fairness"] >= -TOL).all()
    pof = (table.loc["utilitarian", "efficiency"] - table["efficiency"]) / table.loc["utilitarian", "efficiency"]
    assert table["price_of_fairness"].tolist() == pytest.approx(pof.tolist())
    assert (table["solve_s"] >= 0).all()


def test_bench_files_record_how_to_reproduce(city_bench, small_city):
    frame, out = city_bench
    for name in ("bench.csv", "bench.json", "bench.png", "bench.svg"):
        assert (out / name).exists()
    lines = (out / "bench.csv").read_text().splitlines()
    assert lines[0].startswith("# instance:") and "sha256" in lines[0]
    assert "highs" in lines[1] and "seed 0" in lines[1] and "threads 1" in lines[1]
    assert read_bench(out)["efficiency"].tolist() == pytest.approx(frame["efficiency"].tolist())
    sidecar = json.loads((out / "bench.json").read_text())
    assert sidecar["seed"] == 0 and sidecar["versions"]["highs"] and len(sidecar["instance_sha256"]) == 64
    assert [list(row) for row in sidecar["rows"]] == [list(JSON_KEYS)] * len(OBJECTIVES)


def test_enforcement_bench_by_district(small_city, tmp_path):
    spec = ProblemSpec("enforcement", by="district", run=RunOptions(model="enforcement", headcount=60, allow_release=True))
    frame = run_bench(small_city, spec, parse_objectives("maxmin,gini,range"), tmp_path / "e", solve_options=EXACT)
    assert frame["objective"].tolist() == ["utilitarian", "maxmin", "gini", "range"]
    table = frame.set_index("objective")
    assert (table.loc["utilitarian", "efficiency"] >= table["efficiency"] - TOL).all()
    assert (table.loc["maxmin", "min_level"] >= table["min_level"] - TOL).all()


def test_cli_json_keys_exact(small_city, tmp_path):
    r = CliRunner().invoke(main, ["equity-bench", str(small_city), "--model", "enforcement", "--headcount", "60", "--allow-release",
                                  "--objectives", "utilitarian,maxmin", "--out", str(tmp_path / "j"), "--json", "--gap", "0"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output.splitlines()[-1])
    assert [list(row) for row in rows] == [list(JSON_KEYS)] * 2
    assert [row["objective"] for row in rows] == ["utilitarian", "maxmin"]
    assert rows[0]["price_of_fairness"] == 0.0
    assert list(pd.read_csv(tmp_path / "j" / "bench.csv", comment="#").columns[:len(JSON_KEYS)]) == list(JSON_KEYS)


@pytest.mark.parametrize("args", [
    ["--objectives", "maxmin,envy"],
    ["--objectives", ","],
    ["--model", "facilities", "--budget", "1"],
    ["--index-weights", "0,0,0"],
])
def test_cli_bad_input_exits_2(tiny_dir, tmp_path, args):
    r = CliRunner().invoke(main, ["equity-bench", str(tiny_dir), "--out", str(tmp_path / "x"), *args])
    assert r.exit_code == 2, r.output
    assert not (tmp_path / "x").exists()


def test_gini_over_too_many_groups_is_refused(monkeypatch, tiny_dir, tmp_path):
    monkeypatch.setattr("allocator.models.equity_problem.MAX_PAIR_GROUPS", 2)
    r = CliRunner().invoke(main, ["equity-bench", str(tiny_dir), "--model", "enforcement", "--by", "town",
                                  "--objectives", "gini", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "pair rows" in r.output, r.output
