"""One exit code per outcome, the same in every command (allocator.errors.Exit, README "Exit codes").

0 a plan (or a passed check), 1 internal error, 2 bad input, 3 infeasible, 4 stopped without a
plan, 5 a plan that fails the independent check, 130 interrupted."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from allocator.cli import main
from allocator.errors import Exit, batch_exit, outcome_exit
from conftest import TINY

def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def stop_at_once(monkeypatch) -> None:
    """HiGHS stops at a limit before its first plan, every time: no presolve, no simplex
    iteration, no heuristics (a short --time-limit would do the same, but not reliably)."""
    import allocator.solving.solve as seam

    original = getattr(seam, "_set_options")

    def limited(highs, options, highs_options, *limit):
        original(highs, options, highs_options, *limit)
        for key, value in {"presolve": "off", "simplex_iteration_limit": 0, "mip_max_nodes": 0, "mip_heuristic_effort": 0.0}.items():
            highs.setOptionValue(key, value)

    monkeypatch.setattr(seam, "_set_options", limited)


def first_plan_only(monkeypatch) -> None:
    """HiGHS stops at its first plan, every time, with the status of a limit reached (as a short
    --time-limit would, but not reliably once loading takes part of the limit)."""
    import allocator.solving.solve as seam

    original = getattr(seam, "_set_options")

    def limited(highs, options, highs_options, *limit):
        original(highs, options, highs_options, *limit)
        highs.setOptionValue("mip_max_improving_sols", 1)

    monkeypatch.setattr(seam, "_set_options", limited)


NO_PLAN = ["--model", "enforcement", "--threads", "1"]


@pytest.fixture(scope="module")
def city30(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cities") / "c30"
    assert invoke("generate", "--towns", 30, "--seed", 2, "--out", out).exit_code == 0
    return out


@pytest.fixture(scope="module")
def plans(tmp_path_factory, city30) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("plans")
    paths = {name: root / name for name in ("ok", "infeasible", "no_plan", "time_limited")}
    assert invoke("solve", TINY, "--model", "enforcement", "--threads", 1, "--out", paths["ok"]).exit_code == 0
    assert invoke("solve", TINY, "--model", "enforcement", "--headcount", 3, "--out", paths["infeasible"]).exit_code == 3
    with pytest.MonkeyPatch.context() as monkeypatch:
        stop_at_once(monkeypatch)
        result = invoke("solve", TINY, *NO_PLAN, "--out", paths["no_plan"])
    assert result.exit_code == Exit.NO_PLAN, result.output
    with pytest.MonkeyPatch.context() as monkeypatch:
        first_plan_only(monkeypatch)
        result = invoke("solve", city30, "--model", "city", "--threads", 1, "--out", paths["time_limited"])
    assert result.exit_code == 0, result.output
    assert json.loads((paths["time_limited"] / "plan.json").read_text())["status"] == "time_limit"
    return paths


def test_the_codes_are_distinct_and_stable():
    assert [int(c) for c in Exit] == [0, 1, 2, 3, 4, 5, 130]


@pytest.mark.parametrize("status, has_plan, passed, code", [
    ("optimal", True, True, Exit.OK), ("time_limit", True, True, Exit.OK), ("time_limit", False, None, Exit.NO_PLAN),
    ("optimal", False, None, Exit.NO_PLAN), ("infeasible", False, None, Exit.INFEASIBLE),
    ("error", True, False, Exit.CHECK_FAILED), ("time_limit", True, False, Exit.CHECK_FAILED),
    ("error", False, None, Exit.INTERNAL), ("unbounded", False, None, Exit.INTERNAL)])
def test_outcome_exit(status, has_plan, passed, code):
    assert outcome_exit(status, has_plan, passed) == code


def test_batch_exit_takes_the_worst_and_infeasible_only_when_nothing_has_a_plan():
    assert batch_exit([Exit.OK, Exit.INFEASIBLE]) == Exit.OK
    assert batch_exit([Exit.INFEASIBLE, Exit.INFEASIBLE]) == Exit.INFEASIBLE
    assert batch_exit([Exit.OK, Exit.NO_PLAN, Exit.INFEASIBLE]) == Exit.NO_PLAN
    assert batch_exit([Exit.NO_PLAN, Exit.CHECK_FAILED]) == Exit.CHECK_FAILED
    assert batch_exit([Exit.CHECK_FAILED, Exit.INTERNAL, Exit.OK]) == Exit.INTERNAL


# --- solve ---------------------------------------------------------------------------------

def test_solve_that_stops_without_a_plan_exits_4_and_says_so(monkeypatch, tmp_path):
    stop_at_once(monkeypatch)
    out = tmp_path / "p"
    result = invoke("solve", TINY, *NO_PLAN, "--out", out)
    assert result.exit_code == Exit.NO_PLAN, result.output
    assert "no plan:" in result.output and "--time-limit" in result.output
    meta = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert meta["status"] == "time_limit" and meta["objective_value"] is None
    assert not list(out.glob("*.csv"))
    as_json = invoke("solve", TINY, *NO_PLAN, "--out", tmp_path / "j", "--json")
    assert as_json.exit_code == Exit.NO_PLAN and json.loads(as_json.stdout)["status"] == "time_limit"


def test_solve_outcomes(tmp_path):
    assert invoke("solve", TINY, "--model", "enforcement", "--threads", 1, "--out", tmp_path / "a").exit_code == Exit.OK
    assert invoke("solve", TINY, "--model", "enforcement", "--headcount", 3, "--out", tmp_path / "b").exit_code == Exit.INFEASIBLE
    bad = invoke("solve", TINY, "--model", "enforcement", "--budget", "-1", "--out", tmp_path / "c")
    assert bad.exit_code == Exit.BAD_INPUT and not (tmp_path / "c").exists()


def test_solve_whose_plan_fails_the_check_exits_5(monkeypatch, tmp_path):
    import allocator.solving.enforcement as enforcement

    original = enforcement.extract

    def tampered(*args, **kwargs):
        tables = original(*args, **kwargs)
        tables["town_staff"].loc[tables["town_staff"].index[0], "enforcement_staff"] += 50
        return tables

    monkeypatch.setattr(enforcement, "extract", tampered)
    result = invoke("solve", TINY, "--model", "enforcement", "--threads", 1, "--out", tmp_path / "p")
    assert result.exit_code == Exit.CHECK_FAILED and "check: FAILED" in result.output


def test_an_internal_error_exits_1_without_a_traceback(monkeypatch, tmp_path):
    import allocator.solving.enforcement as enforcement

    def broken(*args, **kwargs):
        raise RuntimeError("a fault of the program")

    monkeypatch.setattr(enforcement, "extract", broken)
    result = invoke("solve", TINY, "--model", "enforcement", "--threads", 1, "--out", tmp_path / "p")
    assert result.exit_code == Exit.INTERNAL and "internal error" in result.output and "Traceback" not in result.output


# --- check ---------------------------------------------------------------------------------

def test_check_of_a_plan_stopped_without_tables_exits_4_and_says_why(plans):
    result = invoke("check", plans["no_plan"], TINY)
    assert result.exit_code == Exit.NO_PLAN and "no tables to check" in result.output and "time_limit" in result.output


def test_check_of_an_infeasible_plan_exits_3(plans):
    result = invoke("check", plans["infeasible"], TINY)
    assert result.exit_code == Exit.INFEASIBLE and "no tables to check" in result.output


def test_check_of_a_plan_whose_tables_are_gone_is_bad_input(plans, tmp_path):
    folder = tmp_path / "emptied"
    shutil.copytree(plans["ok"], folder)
    for csv in folder.glob("*.csv"):
        csv.unlink()
    result = invoke("check", folder, TINY)
    assert result.exit_code == Exit.BAD_INPUT and "none of the plan's tables" in result.output


def test_check_judges_a_time_limited_plan_like_any_other(plans, city30, tmp_path):
    meta = json.loads((plans["time_limited"] / "plan.json").read_text(encoding="utf-8"))
    assert meta["status"] == "time_limit" and list(plans["time_limited"].glob("*.csv"))
    assert invoke("check", plans["time_limited"], city30).exit_code == Exit.OK
    broken = tmp_path / "broken"
    shutil.copytree(plans["time_limited"], broken)
    staff = pd.read_csv(broken / "town_staff.csv")
    staff.loc[0, "enforcement_staff"] += 1000
    staff.to_csv(broken / "town_staff.csv", index=False)
    assert invoke("check", broken, city30).exit_code == Exit.CHECK_FAILED


def test_check_outcomes(plans):
    assert invoke("check", plans["ok"], TINY).exit_code == Exit.OK
    assert invoke("check", TINY, TINY).exit_code == Exit.BAD_INPUT      # not a plan folder


# --- batches: sweep, frontier, equity-bench -------------------------------------------------

def test_sweep_with_a_scenario_stopped_without_a_plan_exits_4(monkeypatch, tmp_path):
    stop_at_once(monkeypatch)
    result = invoke("sweep", TINY, "--model", "enforcement", "--param", "headcount=30,40", "--workers", 0,
                    "--out", tmp_path / "s")
    assert result.exit_code == Exit.NO_PLAN, result.output
    assert (tmp_path / "s" / "sweep.csv").exists()


def test_sweep_outcomes(tmp_path):
    ok = invoke("sweep", TINY, "--model", "enforcement", "--param", "headcount=3,40", "--workers", 0, "--out", tmp_path / "a")
    assert ok.exit_code == Exit.OK, ok.output                       # an infeasible scenario is an answer
    none = invoke("sweep", TINY, "--model", "enforcement", "--param", "headcount=3,4", "--workers", 0, "--out", tmp_path / "b")
    assert none.exit_code == Exit.INFEASIBLE, none.output           # no scenario has a plan
    assert invoke("sweep", TINY, "--model", "enforcement", "--param", "nonsense=1", "--workers", 0,
                  "--out", tmp_path / "c").exit_code == Exit.BAD_INPUT


def test_frontier_of_an_infeasible_problem_exits_3(tmp_path):
    result = invoke("frontier", TINY, "--model", "enforcement", "--headcount", 3, "--equity", "maxmin", "--points", 1,
                    "--workers", 0, "--out", tmp_path / "f")
    assert result.exit_code == Exit.INFEASIBLE, result.output
    assert "infeasible:" in result.output


def test_equity_bench_of_an_infeasible_problem_exits_3(tmp_path):
    result = invoke("equity-bench", TINY, "--model", "enforcement", "--headcount", 3, "--objectives", "maxmin",
                    "--out", tmp_path / "b")
    assert result.exit_code == Exit.INFEASIBLE, result.output


# --- the other commands: 0 done, 2 bad input -------------------------------------------------

@pytest.mark.parametrize("args", [
    ["validate", "{missing}"], ["generate", "--towns", "2", "--out", "{tmp}/g"], ["template", "{tmp}/t.csv"],
    ["compare", "{missing}"], ["export", "{missing}", "{tmp}/e.xlsx"], ["chart", "{missing}", "--kind", "bars", "--out", "{tmp}/c.png"],
    ["report", "{missing}", "--out", "{tmp}/r.html"]], ids=lambda a: a[0])
def test_bad_input_exits_2_in_every_command(args, tmp_path):
    result = invoke(*[a.format(missing=tmp_path / "missing", tmp=tmp_path) for a in args])
    assert result.exit_code == Exit.BAD_INPUT, result.output
