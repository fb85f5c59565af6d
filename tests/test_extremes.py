"""Extreme values get exit 2 naming the place and the rule, or a correct plan: never an
internal error, a memory error or a hang. The ranges live in allocator/data/schema.py."""
from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pandas as pd
import pyomo.environ as pyo
import pytest

from allocator.data.schema import TABLES, column_limit
from conftest import TINY, invoke, refused

BAD_INPUT = 2



# --- the reported cases -----------------------------------------------------------------------

def test_a_huge_surge_pattern_is_refused_not_a_memory_error(tmp_path):
    out = tmp_path / "p"
    result = invoke("solve", TINY, "--model", "enforcement", "--objective", "expected", "--scenarios", "surge:999999999",
                    "--out", out)
    refused(result, "--scenarios", "at most 1,000")
    assert not out.exists()


def test_a_surge_pattern_too_large_for_the_city_is_refused(tmp_path):
    from allocator.data.scenarios import surge_pattern
    from allocator.errors import InputError

    towns = pd.DataFrame({"district_id": "D1"}, index=pd.Index([f"T{i}" for i in range(2001)], name="town_id"))
    with pytest.raises(InputError, match="towns × scenarios"):
        surge_pattern("surge:1000", towns)
    result = invoke("solve", TINY, "--model", "enforcement", "--objective", "expected", "--scenarios", "surge:1000",
                    "--threads", 1, "--out", tmp_path / "ok")
    assert result.exit_code == 0, result.output          # the largest pattern on a small city is a plan


def test_a_target_of_1e300_is_refused_not_refused_by_highs(tmp_path):
    result = invoke("solve", TINY, "--model", "enforcement", "--objective", "moves", "--target", "1e300", "--out", tmp_path / "p")
    refused(result, "--target", "at most 10")


def test_the_largest_target_is_explained_as_infeasible(tmp_path):
    result = invoke("solve", TINY, "--model", "enforcement", "--objective", "moves", "--target", "10", "--threads", 1,
                    "--out", tmp_path / "p")
    assert result.exit_code == 3 and "infeasible:" in result.output


@pytest.fixture(scope="module")
def city5(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cities") / "c5"
    assert invoke("generate", "--towns", 5, "--seed", 1, "--out", out).exit_code == 0
    return out


def _with_events(city: Path, folder: Path, events: float) -> Path:
    shutil.copytree(city, folder)
    grids = pd.read_csv(folder / "grids.csv", dtype=str, keep_default_na=False)
    grids.loc[0, "events_per_year"] = repr(float(events))
    grids.to_csv(folder / "grids.csv", index=False)
    return folder


def test_a_workload_of_1e15_is_refused_not_a_hang(city5, tmp_path):
    city = _with_events(city5, tmp_path / "big", 1e15)
    t0 = time.monotonic()
    result = invoke("solve", city, "--model", "grid", "--time-limit", 20, "--threads", 1, "--out", tmp_path / "p")
    refused(result, "grids.csv", "row 2", "events_per_year", "10,000,000")
    assert time.monotonic() - t0 < 30 and not (tmp_path / "p").exists()


def test_the_largest_workload_gives_a_checked_plan_within_the_limit(city5, tmp_path):
    city = _with_events(city5, tmp_path / "edge", LIMITS_EVENTS)
    t0 = time.monotonic()
    result = invoke("solve", city, "--model", "grid", "--time-limit", 20, "--threads", 1, "--json", "--out", tmp_path / "p")
    wall = time.monotonic() - t0
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["check_passed"] is True and answer["status"] in ("optimal", "time_limit")
    assert wall < 1.1 * 20 + 10
    staff = pd.read_csv(tmp_path / "p" / "grid_staff.csv")
    assert staff["workload_hours"].max() >= 1.5 * LIMITS_EVENTS     # the edge grid is in the plan, its work covered
    assert staff["unmet_hours"].abs().max() < 1e-6


LIMITS_EVENTS = next(c for t in TABLES for c in t.columns if c.name == "events_per_year").high


@pytest.mark.parametrize("text, accepted", [("2e3", 2000.0), ("1_000", 1000.0), ("2.5E+3", 2500.0), ("1.0e+308", None),
                                            (".inf", None), ("1e10", None), ("0", None)])
def test_city_budget_in_any_number_notation_within_its_range(tiny_copy, text, accepted):
    path = tiny_copy / "city.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("budget: 500", f"budget: {text}"), encoding="utf-8")
    result = invoke("validate", tiny_copy)
    if accepted is None:
        refused(result, "city.yaml", "'budget'", "1,000,000,000")
    else:
        assert result.exit_code == 0 and f"{accepted:,.0f}" in result.output, result.output
    assert not re.search(r"\d[\d,]{30}", result.output)      # no 300-digit number


# --- every setting and option outside its range -------------------------------------------------

@pytest.mark.parametrize("line, words", [
    ("headcount: 100000000", ["'headcount'", "10,000,000"]),
    ("headcount: 2.5", ["'headcount'", "whole number"]),
    ("city_pool: 1e10", ["'city_pool'"]),
    ("salaries: {fulltime: 50000}", ["'salaries.fulltime'", "1,000"]),
    ("coverage_minutes: {health: 5000}", ["'coverage_minutes.health'", "1,440"]),
    ("norms: {hours_fulltime: 0}", ["'norms.hours_fulltime'", "positive"]),
    ("norms: {grid_hours_per_event: 1e9}", ["'norms.grid_hours_per_event'", "1,000,000"]),
    ("population_tolerance: 1", ["'population_tolerance'", "below 1"]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_city_settings_outside_their_range(tiny_copy, line, words):
    path = tiny_copy / "city.yaml"
    text = path.read_text(encoding="utf-8")
    if line.startswith("salaries"):
        text = "\n".join(x for x in text.splitlines() if not x.startswith("salaries")) + "\n"
    path.write_text(text + line + "\n", encoding="utf-8")
    refused(invoke("validate", tiny_copy), "city.yaml", *words)


NUMERIC = [(t, c) for t in TABLES if t.name != "travel" for c in t.columns if c.kind in ("int", "float")]


@pytest.mark.parametrize("table, column", NUMERIC, ids=[f"{t.name}.{c.name}" for t, c in NUMERIC])
def test_every_data_column_has_a_range(tiny_copy, table, column):
    limit = column_limit(column)
    frame = pd.read_csv(tiny_copy / table.file, dtype=str, keep_default_na=False)
    frame.loc[0, column.name] = str(int(limit.high * 10))
    frame.to_csv(tiny_copy / table.file, index=False)
    refused(invoke("validate", tiny_copy), table.file, "row 2", f"'{column.name}'", "too large")


def test_travel_minutes_have_a_range(tiny_copy):
    (tiny_copy / "travel.csv").write_text("from_id,site_id,minutes\nG1,S1,1e9\n", encoding="utf-8")
    refused(invoke("validate", tiny_copy), "travel.csv", "row 2", "'minutes'", "10,000")


T = str(TINY)
OPTIONS = [
    (["solve", T, "--model", "enforcement", "--budget", "1e300"], "--budget"),
    (["solve", T, "--model", "enforcement", "--headcount", "100000000"], "--headcount"),
    (["solve", T, "--model", "enforcement", "--max-moves", "100000000"], "--max-moves"),
    (["solve", T, "--model", "facilities", "--p", "10000000"], "--p"),
    (["solve", T, "--model", "enforcement", "--time-limit", "1e9"], "--time-limit"),
    (["solve", T, "--model", "enforcement", "--time-limit", "0"], "--time-limit"),
    (["solve", T, "--model", "enforcement", "--gap", "2"], "--gap"),
    (["solve", T, "--model", "enforcement", "--threads", "100000"], "--threads"),
    (["solve", T, "--model", "enforcement", "--seed", "10000000000000"], "--seed"),
    (["solve", T, "--model", "enforcement", "--objective", "expected", "--scenarios", "surge:5", "--cvar", "1"], "--cvar"),
    (["solve", T, "--model", "enforcement", "--objective", "expected", "--scenarios", "surge:5", "--cvar-weight", "1e9"], "--cvar-weight"),
    (["solve", T, "--model", "enforcement", "--objective", "expected", "--scenarios", "district-surge:1e3"], "--scenarios"),
    (["solve", T, "--model", "city", "--equity-bound", "gini=1e300"], "--equity-bound"),
    (["sweep", T, "--model", "enforcement", "--param", "budget=1e300", "--workers", "0"], "--param budget"),
    (["sweep", T, "--model", "enforcement", "--param", "target_ratio=20", "--workers", "0"], "--param target_ratio"),
    (["sweep", T, "--model", "enforcement", "--param", "headcount=1", "--workers", "100000"], "--workers"),
    (["frontier", T, "--equity", "maxmin", "--budget", "1e300"], "--budget"),
    (["equity-bench", T, "--time-limit", "1e300"], "--time-limit"),
    (["equity-bench", T, "--seed", "-1"], "--seed"),
]


@pytest.mark.parametrize("args, option", OPTIONS, ids=[" ".join(a[2:]) for a, _ in OPTIONS])
def test_every_numeric_option_has_a_range(args, option, tmp_path):
    out = tmp_path / "out"
    refused(invoke(*args, "--out", out), option, "must be")
    assert not out.exists()


def test_a_scenario_file_multiplier_has_a_range(tmp_path):
    scenarios = tmp_path / "s.csv"
    scenarios.write_text("scenario,probability,town_id,multiplier\nbig,1,T1,1e12\n", encoding="utf-8")
    result = invoke("solve", TINY, "--model", "enforcement", "--objective", "expected", "--scenarios", scenarios,
                    "--out", tmp_path / "p")
    refused(result, "s.csv", "row 2", "'multiplier'", "100")


@pytest.mark.parametrize("args", [
    ["--model", "facilities", "--objective", "pmedian", "--p", "1000000"],
    ["--model", "city", "--budget", "1000000000"],
    ["--model", "enforcement", "--max-moves", "10000000", "--headcount", "10000000", "--seed", "2147483647"],
    ["--model", "enforcement", "--objective", "expected", "--scenarios", "district-surge:100", "--cvar", "0.999999",
     "--cvar-weight", "1000"],
], ids=["p", "budget", "headcount", "surge"])
def test_the_largest_values_give_a_checked_plan(args, tmp_path):
    result = invoke("solve", TINY, *args, "--threads", 1, "--time-limit", 60, "--json", "--out", tmp_path / "p")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["check_passed"] is True
    assert invoke("check", tmp_path / "p", TINY).exit_code == 0


# --- what HiGHS receives -------------------------------------------------------------------------

@pytest.mark.parametrize("build, words", [
    (lambda m: setattr(m, "c", pyo.Constraint(expr=1e300 * m.x + m.y <= 5)), ["constraint c", "coefficient 1e+300", "x"]),
    (lambda m: setattr(m, "c", pyo.Constraint(expr=m.x + m.y >= 1e300)), ["constraint c", "bounds [1e+300"]),
    (lambda m: setattr(m, "o2", pyo.Objective(expr=float("nan") * m.x)) or m.o.deactivate(), ["objective", "cost nan of x"]),
], ids=["coefficient", "bound", "cost"])
def test_numbers_highs_cannot_take_are_named_before_it_refuses(build, words):
    from allocator.solving.highs_model import compile_model

    m = pyo.ConcreteModel()
    m.x, m.y = pyo.Var(bounds=(0, 10)), pyo.Var(bounds=(0, 10))
    m.o = pyo.Objective(expr=m.x + m.y)
    build(m)
    with pytest.raises(ValueError) as caught:
        compile_model(m)
    for word in words:
        assert word in str(caught.value), (word, str(caught.value))


def test_a_scenario_file_with_too_many_scenarios_is_refused(tmp_path):
    from allocator.data.scenarios import read_scenario_file
    from allocator.errors import InputError

    towns = pd.DataFrame({"district_id": "D1"}, index=pd.Index([f"T{i}" for i in range(300)], name="town_id"))
    scenarios = tmp_path / "s.csv"
    scenarios.write_text("scenario,probability,town_id,multiplier\n"
                         + "".join(f"s{k},0.001,T1,2\n" for k in range(1000)), encoding="utf-8")
    with pytest.raises(InputError, match="towns × scenarios"):
        read_scenario_file(scenarios, towns)


def test_index_weights_far_apart_are_refused(tmp_path):
    result = invoke("equity-bench", TINY, "--index-weights", "1e300,1,1", "--objectives", "maxmin", "--out", tmp_path / "b")
    refused(result, "--index-weights", "one millionth of the largest")
    assert not (tmp_path / "b").exists()
    ok = invoke("equity-bench", TINY, "--index-weights", "1,0,0.000001", "--objectives", "maxmin", "--out", tmp_path / "c")
    assert ok.exit_code == 0, ok.output
