"""One --time-limit for a whole command, and progress a person can follow.

A command's deadline bounds every solve of it (stages of a sequence, a study's jobs); a HiGHS
that stops looking at the clock is abandoned at the deadline; progress lines carry the stage
and the job, redrawn on a terminal and one line per update anywhere else."""
from __future__ import annotations

import json
import time
from pathlib import Path

import highspy
import pytest
from click.testing import CliRunner

import allocator.solving.solve as seam
from allocator.cli import main
from allocator.solving.solve import SolveOptions, solve
from tests.test_solve import hard_knapsack, knapsack

ALLOWED_SHARE, ALLOWED_S = 1.1, 2.0          # the promise: wall ≤ 1.1 × limit + 2 s
MARGIN_S = 2.0                               # tests run on a busy machine: a generous margin on top


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def within(wall: float, limit: float) -> bool:
    return wall <= ALLOWED_SHARE * limit + ALLOWED_S + MARGIN_S


@pytest.fixture(scope="module")
def city100(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cities") / "c100"
    assert invoke("generate", "--towns", 100, "--seed", 1, "--out", out).exit_code == 0
    return out


# --- the seam -------------------------------------------------------------------------------

def test_a_solve_past_the_deadline_returns_at_once_without_a_plan():
    m, _ = knapsack()
    t0 = time.monotonic()
    r = solve(m, SolveOptions(time_limit=60, deadline=time.time() - 1))
    assert time.monotonic() - t0 < 1.0
    assert r.status == "time_limit" and not r.has_solution and r.solve_s == 0.0


def test_highs_gets_only_the_time_left_to_the_deadline():
    m = hard_knapsack(n=400, k=12)
    t0 = time.monotonic()
    r = solve(m, SolveOptions(time_limit=60, deadline=time.time() + 1.5, threads=1))
    wall = time.monotonic() - t0
    assert r.status == "time_limit" and r.has_solution
    assert wall < 1.5 + seam.GRACE_S + seam.ABANDON_S + 1.0


def test_a_highs_that_stops_looking_at_the_clock_is_abandoned(monkeypatch):
    """HiGHS's root separation can run for many seconds with neither its time limit nor a callback
    looked at: the command stops waiting for it once the guard's time has passed."""
    monkeypatch.setattr(highspy.Highs, "run", lambda self: time.sleep(6) or highspy.HighsStatus.kOk)
    m, _ = knapsack()
    t0 = time.monotonic()
    r = solve(m, SolveOptions(time_limit=0.5, threads=1))
    wall = time.monotonic() - t0
    assert wall < 0.5 + seam.GRACE_S + seam.ABANDON_S + 1.0, wall
    assert r.status == "time_limit" and r.termination == "abandoned past the deadline" and not r.has_solution
    assert seam.abandoned_runs() >= 1


def test_with_deadline_takes_a_share_of_the_time_left_and_keeps_a_reserve():
    now = time.time()
    job = SolveOptions(time_limit=100, deadline=now + 40, parts=4).with_deadline()
    assert now + 10 - seam.reserve_s(10) - 0.5 <= job.deadline <= now + 10.5 and job.parts == 1
    alone = SolveOptions(time_limit=20).with_deadline(rows=10_000)
    assert alone.deadline == pytest.approx(time.time() + 20 - seam.reserve_s(20, 10_000), abs=0.5)
    assert SolveOptions().with_deadline().deadline is None


# --- commands -------------------------------------------------------------------------------

def test_a_multi_stage_city_solve_keeps_the_command_limit(city100, tmp_path):
    """maxmin then its tie-break, on a city whose loading, building and solving need well over 3 s."""
    t0 = time.monotonic()
    result = invoke("solve", city100, "--model", "city", "--objective", "gini", "--time-limit", 3, "--threads", 1,
                    "--out", tmp_path / "plan", "--json")
    wall = time.monotonic() - t0
    # a plan (exit 0) or, on a machine too busy to load and build in time, none (exit 4): never a late one
    assert result.exit_code in (0, 4), result.output
    payload = json.loads(result.output.strip().splitlines()[-1])
    assert payload["status"] == "time_limit"          # the city needed longer: the limit did the stopping
    assert within(wall, 3), wall


def test_equity_bench_shares_one_limit_between_its_objectives(city100, tmp_path):
    """Four objectives of the city model under one 6 s limit, not 6 s each."""
    t0 = time.monotonic()
    result = invoke("equity-bench", city100, "--model", "city", "--objectives", "utilitarian,maxmin,gini,hoover",
                    "--time-limit", 6, "--out", tmp_path / "bench", "--json")
    wall = time.monotonic() - t0
    assert result.exit_code in (0, 4), result.output      # 4: an objective the limit left without a plan
    assert within(wall, 6), wall


def test_frontier_shares_one_limit_between_its_points(city100, tmp_path):
    t0 = time.monotonic()
    result = invoke("frontier", city100, "--model", "city", "--equity", "gini", "--points", 2, "--workers", 0,
                    "--time-limit", 6, "--out", tmp_path / "frontier", "--json")
    wall = time.monotonic() - t0
    assert within(wall, 6), (wall, result.output)


# --- progress -------------------------------------------------------------------------------

def test_progress_off_a_terminal_is_one_line_per_update(monkeypatch, capfd):
    monkeypatch.setattr(seam, "PROGRESS_LINE_EVERY_S", 0.2)
    m = hard_knapsack(n=400, k=12)
    r = solve(m, SolveOptions(time_limit=1.5, threads=1, progress=True, stage="tie-break: max efficiency"))
    assert r.status == "time_limit"
    err = capfd.readouterr().err
    assert "\r" not in err
    lines = [line for line in err.splitlines() if "incumbent" in line]
    assert len(lines) >= 2, err
    assert all(line.startswith("  tie-break: max efficiency: ") and " gap " in line and " s left" in line for line in lines)


def test_a_study_names_its_job_and_the_running_solve(monkeypatch, capfd, city100, tmp_path):
    """equity-bench in this process: 'objective k/n' with the stage, incumbent and gap of the running solve."""
    monkeypatch.setattr(seam, "PROGRESS_LINE_EVERY_S", 0.0)      # a line at every callback: the solves take a tenth of a second
    result = invoke("equity-bench", city100, "--model", "city", "--objectives", "utilitarian,maxmin", "--gap", 0.01,
                    "--out", tmp_path / "bench")
    err = capfd.readouterr().err + result.output      # fd 2, or click's stream when it has none (this runner)
    assert result.exit_code in (0, 1), result.output
    assert "\r" not in err
    running = [line for line in err.splitlines() if "incumbent" in line]
    assert any(line.startswith("  objective 1/2 (objective=utilitarian) · ") for line in running), (err, result.output)
    assert any(line.startswith("  objective 2/2 (objective=maxmin) · ") for line in running), err
    assert all(" gap " in line for line in running)


# --- the default limit of `solve` -----------------------------------------------------------------

def test_solve_has_a_default_time_limit_that_says_so(tmp_path, tiny_dir, monkeypatch):
    """Without --time-limit a solve stops at DEFAULT_TIME_LIMIT with its best plan, says that the limit was
    the default and how to lift it; plan.json records the limit held; --no-time-limit holds none."""
    import allocator.cli as cli

    ok = invoke("solve", tiny_dir, "--model", "enforcement", "--out", tmp_path / "a")
    assert ok.exit_code == 0, ok.output
    assert json.loads((tmp_path / "a" / "plan.json").read_text())["options"]["time_limit"] == cli.DEFAULT_TIME_LIMIT
    free = invoke("solve", tiny_dir, "--model", "enforcement", "--no-time-limit", "--out", tmp_path / "b")
    assert free.exit_code == 0, free.output
    assert json.loads((tmp_path / "b" / "plan.json").read_text())["options"]["time_limit"] is None
    both = invoke("solve", tiny_dir, "--model", "enforcement", "--no-time-limit", "--time-limit", 5, "--out", tmp_path / "c")
    assert both.exit_code == 2 and "--no-time-limit" in both.output and not (tmp_path / "c").exists()
    monkeypatch.setattr(cli, "DEFAULT_TIME_LIMIT", 1e-3)               # stopped at once: at the default limit
    cut = invoke("solve", tiny_dir, "--model", "city", "--out", tmp_path / "d")
    assert "default time limit" in cut.output and "--no-time-limit" in cut.output, cut.output
