"""`allocator sweep`: the scenarios, the sweep folder, resume, and Dask (local and a real scheduler).

The tiny city (a copy with no officers today, so the grid model gets the whole budget) needs 72
(10k CNY/yr) for its grid staff: budgets below that are infeasible, budgets at or above it give
the same least-cost plan.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from allocator.errors import InputError
from allocator.data.loader import load_instance
from allocator.plans.plan import read_plan, write_plan
from allocator.plans.make import make_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions
from allocator.studies.sweep import (FINAL_STATUSES, PARAMETER_KINDS, SWEEP_CSV, SWEEP_JSON, Scenario, expand_scenarios,
                             parse_param, parse_params, read_sweep, run_sweep, solve_scenario)
from allocator.cli import main

def _without_officers(source: Path) -> Path:
    """A copy of the tiny city with no officers today: the grid model then gets the whole budget
    (README, "What the budget pays"), so --budget is the grid workers' budget. Nor part-time helpers
    today: they would be kept in pools, paid on top of the 72 the grid staff need."""
    folder = Path(tempfile.mkdtemp(prefix="sweep-tiny-")) / "tiny"
    shutil.copytree(source, folder)
    towns = pd.read_csv(folder / "towns.csv")
    towns["enforcement_now"] = 0
    towns.to_csv(folder / "towns.csv", index=False)
    grids = pd.read_csv(folder / "grids.csv")
    grids["parttime_now"] = 0
    grids.to_csv(folder / "grids.csv", index=False)
    return folder


TINY_AS_GIVEN = Path(__file__).resolve().parent / "data" / "tiny"
TINY = _without_officers(TINY_AS_GIVEN)
TESTS = Path(__file__).resolve().parent
LEAST_COST = 72.0


# ----------------------------------------------------------------------------- the grid

def test_every_run_option_can_be_swept():
    assert set(PARAMETER_KINDS) == {f.name for f in fields(RunOptions)}


@pytest.mark.parametrize("text, values", [
    ("budget=0.1:0.3:0.1", [0.1, 0.2, 0.3]),            # HI on the grid: included, no float drift
    ("budget=100:250:100", [100.0, 200.0]),             # HI off the grid: not included
    ("headcount=5:5:1", [5]),
    ("max-moves=0,3:5:1,3", [0, 3, 4, 5]),              # lists and ranges mix; repeats dropped
    ("basis=actual,registered", ["actual", "registered"]),
    ("scenarios=surge:20", ["surge:20"]),               # ':' is no range for a text option
    ("services=health+education,health", [("health", "education"), ("health",)]),
    ("equity_bounds=gini:0.05+maxmin:0.6,gini:0.03", [(("gini", 0.05), ("maxmin", 0.6)), (("gini", 0.03),)]),
])
def test_parse_param_values(text, values):
    name, parsed = parse_param(text)
    assert name == text.split("=")[0].replace("-", "_")
    assert parsed == values
    assert [type(v) for v in parsed] == [type(v) for v in values]


@pytest.mark.parametrize("text, says", [
    ("colour=red", "not a parameter"),
    ("budget", "NAME=VALUES"),
    ("budget=300:100:50", "no value"),
    ("budget=1:2", "LO:HI:STEP"),
    ("budget=1:2:0", "STEP"),
    ("budget=ten", "not a number"),
    ("budget=inf", "finite"),
    ("budget=-5", "positive"),
    ("budget=1,,2", "empty value"),
    ("headcount=2.5", "whole numbers"),
    ("p=1:3:0.5", "whole numbers"),
    ("basis=nightly", "actual, resident, registered"),
    ("cvar_alpha=1", "below 1"),
    ("services=health+parks", "services"),
    ("equity_bounds=alpha:0.5", "alpha"),
    ("equity_bounds=gini:-1", "from 0 to 100"),
    ("equity_bounds=gini:0.1+gini:0.2", "twice"),
])
def test_parse_param_refuses_with_a_message(text, says):
    with pytest.raises(InputError, match=says):
        parse_param(text)


def test_a_parameter_given_twice_is_refused():
    with pytest.raises(InputError, match="twice"):
        parse_params(["budget=1", "budget=2"])


def test_scenarios_are_the_product_first_parameter_slowest():
    grid = expand_scenarios({"budget": [60.0, 80.0, 100.5], "basis": ["actual", "registered"], "p": [1]})
    assert len(grid) == 6
    assert [s.as_dict()["budget"] for s in grid] == [60.0, 60.0, 80.0, 80.0, 100.5, 100.5]
    assert [s.as_dict()["basis"] for s in grid[:2]] == ["actual", "registered"]
    assert grid[0].name == "budget=60,basis=actual,p=1"
    assert grid[-1].name == "budget=100.5,basis=registered,p=1"
    assert len({s.name for s in grid}) == 6
    assert grid[3].options(RunOptions(model="grid")) == RunOptions(model="grid", budget=80.0, basis="registered", p=1)


def test_scenario_expansion_edge_cases():
    assert expand_scenarios({}) == [Scenario("base", ())]
    with pytest.raises(InputError, match="no value"):
        expand_scenarios({"budget": []})
    with pytest.raises(InputError, match="not a parameter"):
        expand_scenarios({"colour": ["red"]})
    with pytest.raises(InputError, match="positive"):
        expand_scenarios({"budget": [0.0]})
    with pytest.raises(InputError, match="at most"):
        expand_scenarios({"budget": list(range(1, 1001)), "headcount": list(range(1, 1001))})
    twins = expand_scenarios({"scenarios": ["surge:20", "surge/20"]})       # both print as surge_20
    assert len({s.name for s in twins}) == 2
    assert all(s.name.startswith("scenarios=surge_20~") for s in twins)


# ----------------------------------------------------------------------------- helpers

def _expected_status(budget: float) -> str:
    return "optimal" if budget >= LEAST_COST else "infeasible"


def _reference_plan(scenario: Scenario, base: RunOptions, folder: Path):
    """The scenario solved in this process, written and read back like a sweep's plan."""
    city = TINY_AS_GIVEN if base.model == "enforcement" else TINY
    plan = make_plan(load_instance(city), scenario.options(base), SolveOptions(threads=1, seed=0))
    return read_plan(write_plan(plan, folder / scenario.name))


def _assert_same_plans(out: Path, scenarios, base: RunOptions, reference_dir: Path) -> None:
    frame = read_sweep(out).set_index("scenario")
    for scenario in scenarios:
        row = frame.loc[scenario.name]
        assert row["plan_dir"], scenario.name
        got = read_plan(out / row["plan_dir"])
        want = _reference_plan(scenario, base, reference_dir)
        assert got.status == want.status == row["status"]
        if want.meta["objective_value"] is None:
            assert got.meta["objective_value"] is None and pd.isna(row["objective"])
        else:
            assert got.meta["objective_value"] == pytest.approx(want.meta["objective_value"], rel=1e-9)
            assert row["objective"] == pytest.approx(want.meta["objective_value"], rel=1e-9)
        assert sorted(got.tables) == sorted(want.tables)
        for name in want.tables:
            pd.testing.assert_frame_equal(got.tables[name], want.tables[name], check_exact=False, rtol=1e-9, atol=1e-9)


# Tasks replacing `solve_scenario` in tests: module-level, so Dask workers import them by name.

def _counted(calls: list):
    def task(*args):
        calls.append(args[2])
        return solve_scenario(*args)
    return task


def _exit_on_budget_50(*args):
    """Takes its worker process down for budget 50 (as a crash in a solver would)."""
    if args[2].budget == 50:
        os._exit(13)
    return solve_scenario(*args)


def _solve_slowly(*args):
    time.sleep(0.5)
    return solve_scenario(*args)


# ----------------------------------------------------------------------------- in process

def test_interrupted_sweep_keeps_finished_rows_and_resume_runs_only_the_rest(tmp_path):
    base = RunOptions(model="grid", objective="cost")
    scenarios = expand_scenarios({"budget": [50.0, 60.0, 72.0, 90.0, 120.0]})
    out = tmp_path / "sweep"

    def stop_after_two(done, total, row):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(TINY, base, scenarios, out, workers=0, progress=stop_after_two)
    kept = read_sweep(out)
    assert list(kept["scenario"]) == [s.name for s in scenarios[:2]]
    assert list(kept["status"]) == ["infeasible", "infeasible"]

    with open(out / SWEEP_CSV, "a", encoding="utf-8") as f:       # a line an interruption cut short
        f.write(f"{scenarios[2].name},optim")
    with pytest.raises(InputError, match="already holds a sweep"):
        run_sweep(TINY, base, scenarios, out, workers=0)

    calls: list = []
    frame = run_sweep(TINY, base, scenarios, out, workers=0, resume=True, task=_counted(calls))
    assert [c.budget for c in calls] == [72.0, 90.0, 120.0]
    assert frame.attrs["skipped"] == 2
    assert list(frame["scenario"]) == [s.name for s in scenarios]
    assert list(frame["status"]) == [_expected_status(s.as_dict()["budget"]) for s in scenarios]
    assert frame.loc[frame["status"] == "optimal", "objective"].tolist() == pytest.approx([LEAST_COST] * 3)
    assert frame.loc[frame["status"] == "optimal", "check_passed"].tolist() == [True] * 3
    on_disk = read_sweep(out)                                        # compacted: one row per scenario
    assert list(on_disk["scenario"]) == [s.name for s in scenarios]
    assert {"budget", "build_s", "solve_s", "total_s", "message", "plan_dir"} <= set(on_disk.columns)

    calls.clear()                                                    # everything final: nothing to do
    assert run_sweep(TINY, base, scenarios, out, workers=0, resume=True, task=_counted(calls)).attrs["skipped"] == 5
    assert calls == []


def test_resume_retries_errors_and_missing_plans_and_checks_the_sweep_matches(tmp_path):
    base = RunOptions(model="grid", objective="cost")
    scenarios = expand_scenarios({"budget": [80.0, 90.0, 100.0]})
    out = tmp_path / "sweep"

    def fail_on_90(*args):
        if args[2].budget == 90.0:
            raise RuntimeError("solver crashed")
        return solve_scenario(*args)

    frame = run_sweep(TINY, base, scenarios, out, workers=0, task=fail_on_90)
    assert list(frame["status"]) == ["optimal", "error", "optimal"]
    assert "solver crashed" in frame.loc[1, "message"]
    shutil.rmtree(out / frame.loc[2, "plan_dir"])                    # a finished plan deleted by hand

    calls: list = []
    frame = run_sweep(TINY, base, scenarios, out, workers=0, resume=True, task=_counted(calls))
    assert sorted(c.budget for c in calls) == [90.0, 100.0]
    assert list(frame["status"]) == ["optimal"] * 3

    with pytest.raises(InputError, match="same parameters"):
        run_sweep(TINY, base, expand_scenarios({"headcount": [10]}), out, workers=0, resume=True)
    with pytest.raises(InputError, match="other fixed options"):
        run_sweep(TINY, RunOptions(model="grid", objective="unmet"), scenarios, out, workers=0, resume=True)
    with pytest.raises(InputError, match="holds no sweep"):
        run_sweep(TINY, base, scenarios, TESTS / "data", workers=0, resume=True)


def test_cli_sweep_in_process_writes_table_and_json(tmp_path):
    out = tmp_path / "sweep"
    result = CliRunner().invoke(main, ["sweep", str(TINY), "--model", "grid", "--objective", "cost",
                                       "--param", "budget=60:90:30", "--workers", "0", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    frame = read_sweep(out)
    assert list(frame["status"]) == ["infeasible", "optimal"]
    assert (out / "plans" / "budget=90" / "grid_staff.csv").is_file()
    import json
    meta = json.loads((out / SWEEP_JSON).read_text())
    assert meta["instance_sha256"] == load_instance(TINY).content_hash()
    assert meta["parameters"] == {"budget": [60.0, 90.0]}
    assert meta["solver_version"] and meta["solve_options"]["threads"] == 1
    assert meta["counts"] == {"infeasible": 1, "optimal": 1}


@pytest.mark.parametrize("args, says", [
    (["--param", "budget=9:1:1"], "no value"),
    (["--param", "bugdet=100"], "not a parameter"),
    (["--param", "budget=lots"], "not a number"),
    (["--param", "objective=cheapest"], "objectives cost, unmet, maxmin"),
    (["--param", "objective=cost", "--objective", "unmet"], "give it once"),
    (["--param", "budget=100", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
])
def test_cli_bad_param_exits_2_and_writes_nothing(tmp_path, args, says):
    out = tmp_path / "sweep"
    result = CliRunner().invoke(main, ["sweep", str(TINY), "--model", "grid", "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert not out.exists()


# ----------------------------------------------------------------------------- Dask: local cluster

def test_local_cluster_sweep_matches_in_process_and_survives_a_crashing_task(tmp_path):
    base = RunOptions(model="grid", objective="cost")
    scenarios = expand_scenarios({"budget": [50.0, 60.0, 80.0, 100.0]})
    out = tmp_path / "sweep"
    seen: list[int] = []
    frame = run_sweep(TINY, base, scenarios, out, workers=2, task=_exit_on_budget_50,
                      progress=lambda done, total, row: seen.append(done))
    assert seen == [1, 2, 3, 4]
    by_name = frame.set_index("scenario")
    lost = by_name.loc["budget=50"]
    assert lost["status"] == "error" and "worker lost" in lost["message"] and not lost["plan_dir"]
    survivors = [s for s in scenarios if s.name != "budget=50"]
    assert [by_name.loc[s.name, "status"] for s in survivors] == ["infeasible", "optimal", "optimal"]
    assert all(str(w).startswith("tcp://127.0.0.1") for w in by_name.loc[[s.name for s in survivors], "worker"])
    _assert_same_plans(out, survivors, base, tmp_path / "reference")


# ----------------------------------------------------------------------------- Dask: a real scheduler

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask_command() -> list[str]:
    beside = Path(sys.executable).with_name("dask")
    found = str(beside) if beside.exists() else shutil.which("dask")
    if found is None:
        pytest.skip("the `dask` command is not installed")
    return [found]


class _LoopbackCluster:
    """`dask scheduler` and `dask worker` processes on 127.0.0.1, stopped by the fixture."""

    def __init__(self, folder: Path):
        self.folder, self.processes = folder, []
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        log = open(self.folder / log_name, "wb")
        process = subprocess.Popen(_dask_command() + args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   env=self.env, cwd=self.folder)
        log.close()
        self.processes.append(process)
        return process

    def start_scheduler(self) -> None:
        port = self.address.rsplit(":", 1)[1]
        self._spawn(["scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"], "scheduler.log")

    def start_worker(self, name: str) -> subprocess.Popen:
        local = self.folder / name
        local.mkdir()
        return self._spawn(["worker", self.address, "--name", name, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                            "--host", "127.0.0.1", "--local-directory", str(local), "--death-timeout", "30"],
                           f"{name}.log")

    def wait_for_workers(self, names: set[str], timeout: float = 90.0) -> dict[str, str]:
        """Addresses of the named workers once the scheduler lists them all."""
        from distributed import Client

        deadline = time.monotonic() + timeout
        with Client(self.address, timeout="60s") as client:
            while time.monotonic() < deadline:
                listed = {info["name"]: address for address, info in client.scheduler_info()["workers"].items()}
                if names <= set(listed):
                    return {n: listed[n] for n in names}
                if any(p.poll() is not None for p in self.processes):
                    break
                time.sleep(0.2)
        logs = {p.name: p.read_text(errors="replace")[-1500:] for p in self.folder.glob("*.log")}
        raise AssertionError(f"workers {names} did not join {self.address}; logs: {logs}")

    def stop(self) -> None:
        """Workers first, then the scheduler: SIGTERM, and SIGKILL after a grace period."""
        for group in (self.processes[1:], self.processes[:1]):
            for process in group:
                if process.poll() is None:
                    process.terminate()
            for process in group:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    sys.stderr.write(f"killing {process.args[1:3]} (pid {process.pid}): it ignored SIGTERM\n")
                    process.kill()
                    process.wait(timeout=10)


@pytest.fixture(scope="module")
def loopback_cluster(tmp_path_factory):
    cluster = _LoopbackCluster(tmp_path_factory.mktemp("dask"))
    try:
        cluster.start_scheduler()
        cluster.start_worker("w1")
        cluster.start_worker("w2")
        cluster.wait_for_workers({"w1", "w2"})
        yield cluster
    finally:
        cluster.stop()


def test_cli_sweep_on_a_running_scheduler_matches_in_process_plans(loopback_cluster, tmp_path):
    out = tmp_path / "sweep"
    result = CliRunner().invoke(main, ["sweep", str(TINY_AS_GIVEN), "--model", "enforcement", "--param", "max_moves=0:4:2",
                                       "--param", "objective=maxmin,shortfall", "--scheduler", loopback_cluster.address,
                                       "--out", str(out), "--seed", "0"])
    assert result.exit_code == 0, result.output
    scenarios = expand_scenarios(parse_params(["max_moves=0:4:2", "objective=maxmin,shortfall"]))
    frame = read_sweep(out)
    assert sorted(frame["scenario"]) == sorted(s.name for s in scenarios)
    assert set(frame["status"]) <= set(FINAL_STATUSES) and "optimal" in set(frame["status"])
    assert set(frame["worker"]) <= set(loopback_cluster.wait_for_workers({"w1", "w2"}).values())
    assert "scheduler tcp://127.0.0.1" in (out / SWEEP_JSON).read_text()
    _assert_same_plans(out, scenarios, RunOptions(model="enforcement"), tmp_path / "reference")


def test_sweep_completes_when_a_worker_is_killed_mid_sweep(loopback_cluster, tmp_path):
    from distributed import Client

    victim = loopback_cluster.start_worker("victim")
    address = loopback_cluster.wait_for_workers({"w1", "w2", "victim"})["victim"]
    base = RunOptions(model="grid", objective="cost")
    scenarios = expand_scenarios({"budget": [60.0 + 5 * i for i in range(10)]})
    out = tmp_path / "sweep"
    held: list = []
    with Client(loopback_cluster.address, timeout="30s") as observer:
        def kill_after_first(done, total, row):
            """After the first result, kill the extra worker as soon as it runs a scenario."""
            if done != 1:
                return
            deadline = time.monotonic() + 30
            while not held and time.monotonic() < deadline:
                held.extend(observer.processing(workers=[address]).get(address, []))
                time.sleep(0.02)
            victim.kill()
            victim.wait(timeout=15)

        frame = run_sweep(TINY, base, scenarios, out, scheduler=loopback_cluster.address,
                          progress=kill_after_first, task=_solve_slowly)
    assert held, "the killed worker held no task: the test did not lose one"
    assert victim.poll() is not None
    assert list(frame["scenario"]) == [s.name for s in scenarios]
    assert list(frame["status"]) == [_expected_status(s.as_dict()["budget"]) for s in scenarios], \
        frame[["scenario", "status", "worker", "message"]].to_string()
    assert all((out / d / "plan.json").is_file() for d in frame["plan_dir"])


def test_sweep_cells_write_numpy_floats_as_numbers():
    """A Gini or Hoover value computed by numpy reached sweep.csv as "np.float64(0.0612…)"."""
    import numpy as np

    from allocator.studies.sweep import _cell

    assert _cell(np.float64(0.0612559605)) == "0.0612559605"
    assert float(_cell(np.float64(1 / 3))) == 1 / 3 and _cell(np.float64("nan")) == ""
