"""The roadmap's command line, year data and headline (the exactness tests are in test_roadmap_exact.py)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from allocator.data.loader import load_instance
from allocator.data.years import Years, grown, year_city
from conftest import invoke, refused


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    folder = tmp_path_factory.mktemp("roadmap") / "city"
    assert invoke("generate", "--towns", 8, "--seed", 3, "--out", folder).exit_code == 0
    return folder


def solve_json(city, out, *args):
    result = invoke("solve", city, "--model", "roadmap", "--threads", 1, "--json", "--out", out, *args)
    return result, (json.loads(result.output.splitlines()[-1]) if result.exit_code in (0, 3) else None)


@pytest.mark.parametrize("args, words", [
    (["--model", "city", "--years", "2026:2027"], ["--years applies to --model roadmap only"]),
    (["--model", "grid", "--hire-quota", "officers=3"], ["--hire-quota applies to --model roadmap only"]),
    (["--model", "roadmap", "--years", "2030:2026"], ["FIRST ≤ LAST"]),
    (["--model", "roadmap", "--years", "2026-2030"], ["FIRST:LAST"]),
    (["--model", "roadmap", "--years", "2026:2070"], ["1 to 30 years"]),
    (["--model", "roadmap", "--hire-quota", "doctors=3"], ["KIND one of fulltime, parttime, professional, officers"]),
    (["--model", "roadmap", "--hire-quota", "officers=3", "--hire-quota", "officers=4"], ["once per kind"]),
    (["--model", "roadmap", "--objective", "target"], ["--target-level"]),
    (["--model", "roadmap", "--target-level", "0.5"], ["only with --objective target"]),
    (["--model", "roadmap", "--objective", "target", "--target-level", "0.5", "--years", "2026:2027",
      "--target-year", "2029"], ["within the roadmap's years"]),
    (["--model", "roadmap", "--years", "2026:2027", "--build-lag", "2"], ["no year of 2026:2027"]),
    (["--model", "roadmap", "--objective", "gini"], ["--objective"]),
])
def test_bad_roadmap_options_exit_2_and_write_nothing(city, tmp_path, args, words):
    out = tmp_path / "plan"
    refused(invoke("solve", city, *args, "--out", out), *words)
    assert not out.exists()


def test_default_years_are_the_five_year_plan(city, tmp_path):
    result, answer = solve_json(city, tmp_path / "p", "--time-limit", 120, "--gap", "1e-2")
    assert result.exit_code == 0 and answer["check_passed"], result.output
    table = pd.read_csv(tmp_path / "p" / "roadmap.csv")
    assert table["year"].tolist() == [2026, 2027, 2028, 2029, 2030]
    # the headline bound holds the LP relaxation's value, a bound on every roadmap
    stages = answer["stages"]
    assert stages[0]["stage"].startswith("LP relaxation") and answer["bound"] <= stages[0]["value"] + 1e-9


def test_year_data_grow_populations_and_scale_budgets(city, tmp_path):
    folder = tmp_path / "grown"
    frames = {name: pd.read_csv(city / f"{name}.csv") for name in ("districts", "towns", "grids", "sites")}
    frames["districts"]["growth"] = [0.1] + [0.0] * (len(frames["districts"]) - 1)
    folder.mkdir()
    for name, frame in frames.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    config = yaml.safe_load((city / "city.yaml").read_text())
    config["budgets"] = {2027: config["budget"] * 1.5}
    (folder / "city.yaml").write_text(yaml.safe_dump(config))
    c = load_instance(folder)
    years = Years.of(c, 2026, 2028, growth=0.02)
    assert years.budgets == (c.config.budget, c.config.budget * 1.5, c.config.budget * 1.02 ** 2)
    later = year_city(c, years, 2027)
    d0 = c.districts.index[0]
    grew = c.towns["district_id"].astype(str) == str(d0)
    assert np.allclose(later.towns.loc[grew, "pop_resident"], np.rint(c.towns.loc[grew, "pop_resident"] * 1.1))
    assert later.towns.loc[~grew, "pop_resident"].equals(c.towns.loc[~grew, "pop_resident"])
    assert np.allclose(later.districts["own_budget"], c.districts["own_budget"] * 1.5)
    assert later.config.budget == c.config.budget * 1.5
    assert grown(load_instance(city), 3) is not None and year_city(c, years, 2026).towns.equals(c.towns)
    # with --budget the budgets list is not read
    assert Years.of(c, 2026, 2027, budget=100.0).budgets == (100.0, 100.0)


def test_the_check_recomputes_roadmap_csv(city, tmp_path):
    out = tmp_path / "p"
    result, _ = solve_json(city, out, "--years", "2026:2027")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "roadmap.csv")
    table.loc[1, "hires_officers"] += 1
    table.to_csv(out / "roadmap.csv", index=False)
    checked = invoke("check", out, city)
    assert checked.exit_code == 5 and "roadmap.csv 2027 hires_officers" in checked.output, checked.output


def test_alpha_says_when_its_tangents_leave_a_gap(city, tmp_path):
    """alpha is solved on tangent lines: an optimum of the model whose recomputed value lies further from the
    bound than the gap asked is still `optimal`, and says why under the headline."""
    result, answer = solve_json(city, tmp_path / "p", "--years", "2026:2027", "--objective", "alpha")
    assert result.exit_code == 0 and answer["check_passed"], result.output
    assert answer["status"] == "optimal" and answer["gap"] > 1e-4
    assert "tangent lines" in answer["status_text"] and f"{100 * answer['gap']:.2g} %" in answer["status_text"]


def test_leximin_raises_the_lowest_index_of_any_year_first(city, tmp_path):
    """Leximin over every year's and district's index: its lowest index of any year is at least the maxmin
    roadmap's (which raises the mean of the yearly lowest), and the check recomputes it."""
    lowest = {}
    for objective in ("leximin", "maxmin"):
        result, answer = solve_json(city, tmp_path / objective, "--years", "2026:2027", "--objective", objective)
        assert result.exit_code == 0 and answer["check_passed"], result.output
        lowest[objective] = pd.read_csv(tmp_path / objective / "roadmap.csv")["lowest_index"].min()
        if objective == "leximin":
            assert answer["objective"] == pytest.approx(lowest[objective], abs=1e-9)
            assert any(s["stage"].startswith("leximin round") for s in answer["stages"])
    assert lowest["leximin"] >= lowest["maxmin"] - 1e-6


def test_a_sweep_runs_roadmaps(city, tmp_path):
    """Roadmap options are sweep parameters: one checked roadmap per budget growth, the years written FIRST:LAST."""
    out = tmp_path / "sweep"
    result = invoke("sweep", city, "--model", "roadmap", "--param", "budget_growth=0,0.1", "--param", "years=2026:2027",
                    "--out", out)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "sweep.csv")
    assert table["budget_growth"].tolist() == [0.0, 0.1] and set(table["years"]) == {"2026:2027"}
    assert table["check_passed"].all() and (table["status"] == "optimal").all()
    assert table["objective"].iloc[1] >= table["objective"].iloc[0] - 1e-4     # more money, no worse a roadmap
