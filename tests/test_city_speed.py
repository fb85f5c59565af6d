"""Studies reuse one built city model per process (allocator.studies.equity_runs), the efficient plan
proven once (allocator.solving.equity), starts for frontier points, and ends retried (frontier.py).
Every optimum is compared with a fresh model's; plans are rechecked from their tables."""
from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
import pytest

from allocator.data.generate import generate_city, write_city
from allocator.data.loader import load_instance
from allocator.plans.checks import check_plan
from allocator.plans.make import make_plan
from allocator.plans.plan import Plan
from allocator.solving import equity as equity_solving
from allocator.solving import fair
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions
from allocator.studies import equity_runs
from allocator.studies.equity_bench import DEFAULT_OBJECTIVES, run_bench
from allocator.studies.equity_runs import Job, ProblemSpec, build_problem, kept_problem, solve_plan
from allocator.studies.frontier import run_frontier

EXACT = SolveOptions(threads=1, seed=0, gap=0.0)
TOL = 2e-5


@pytest.fixture(scope="module")
def city_dir(tmp_path_factory):
    """8 towns in 3 districts."""
    return write_city(generate_city(8, 3), tmp_path_factory.mktemp("speed") / "city", "folder")


def _names(problem) -> list[str]:
    return [c.local_name for c in problem.model.component_objects(descend_into=False)]


def test_a_kept_problem_comes_back_as_built(city_dir):
    city, spec = load_instance(city_dir), ProblemSpec("city")
    problem = build_problem(city, spec)
    built = _names(problem)
    solve_plan(city, spec, Job("objective", "gini", role="objective"), EXACT)      # adds and switches off rows
    assert _names(problem) != built
    again = kept_problem(city, spec)
    assert again is problem and _names(again) == built
    solve_plan(city, spec, Job("objective", "hoover", role="objective"), EXACT)    # frees idle staff and sites
    assert kept_problem(city, spec) is None                                      # changed: built again


def _fresh(city, spec, job) -> Plan:
    equity_runs.build_problem(city, spec)          # a new model, nothing kept from earlier jobs
    return solve_plan(city, spec, job, EXACT)


def _count_measures(monkeypatch) -> tuple[list[str], object]:
    """Count the measures allocator.solving.equity solves on its own (an efficient reference solved again shows as
    "utilitarian"); returns the list of measures and the real solve_measure, to put back."""
    calls, solve_measure = [], equity_solving.solve_measure

    def counting(problem, measure, *args, **kwargs):
        calls.append(measure)
        return solve_measure(problem, measure, *args, **kwargs)

    monkeypatch.setattr(equity_solving, "solve_measure", counting)
    return calls, solve_measure


def test_every_objective_on_the_reused_model_matches_a_fresh_model(city_dir, tmp_path, monkeypatch):
    """The bench solves all objectives on one model (the efficient plan proven once); each optimum equals
    the optimum of a model built for that objective alone, and every plan passes the checker."""
    city, spec = load_instance(city_dir), ProblemSpec("city")
    calls, solve_measure = _count_measures(monkeypatch)
    frame = run_bench(city_dir, spec, list(DEFAULT_OBJECTIVES), tmp_path / "b", workers=0, solve_options=EXACT)
    assert frame["status"].eq("optimal").all(), frame[["objective", "status", "status_text"]]
    # the efficient plan is solved once, by the utilitarian job: no objective solves it again as its reference
    assert calls.count("utilitarian") == 0, calls
    monkeypatch.setattr(equity_solving, "solve_measure", solve_measure)
    for _, row in frame.iterrows():
        fresh = _fresh(city, spec, Job("objective", row["objective"], role="objective"))
        assert fresh.meta["status"] == "optimal"
        assert check_plan(fresh, city).passed
        assert row["objective_value"] == pytest.approx(fresh.meta["objective_value"], abs=TOL), row["objective"]
        assert row["efficiency"] == pytest.approx(fresh.meta["equity"]["efficiency"], abs=TOL), row["objective"]


@pytest.mark.parametrize("measure", ["maxmin", "gini"])
def test_frontier_points_start_from_tighter_plans_and_stay_monotone(city_dir, tmp_path, measure):
    """Under a loose gap HiGHS may stop anywhere within it; started from the plan of the next tighter point,
    efficiency still never rises towards the fair end, and every point keeps its bound."""
    loose = SolveOptions(threads=1, seed=0, gap=0.3)
    frame = run_frontier(city_dir, ProblemSpec("city"), measure, 6, tmp_path / "f", workers=0, solve_options=loose)
    assert frame["check_passed"].all()
    u = frame.sort_values("point")["efficiency"].to_numpy()
    points = frame[frame["role"] == "point"].sort_values("point")
    assert (np.diff(points["efficiency"].to_numpy()) <= 1e-9).all(), points[["point", "efficiency", "equity"]]
    assert u[-2] >= u[-1] - 1e-9                       # the tightest point is at least as efficient as the fairest end
    if measure == "maxmin":
        assert (points["equity"] >= points["equity_bound"] - TOL).all()
    else:
        assert (points["equity"] <= points["equity_bound"] + TOL).all()


@pytest.mark.parametrize("measure", ["maxmin", "gini"])
def test_the_fairest_end_starts_from_the_efficient_end(city_dir, tmp_path, monkeypatch, measure):
    """In one process the efficient end's plan (max U, whatever its tie-break) is the fairest end's efficient
    reference: max U is not solved again, and the fairest end is still the measure's optimum."""
    city, spec = load_instance(city_dir), ProblemSpec("city")
    equity_runs.build_problem(city, spec)          # nothing kept from earlier tests
    calls, solve_measure = _count_measures(monkeypatch)
    frame = run_frontier(city_dir, spec, measure, 2, tmp_path / "f", workers=0, solve_options=EXACT)
    assert calls.count("utilitarian") == 0, calls
    assert frame["status"].eq("optimal").all() and frame["check_passed"].all()
    monkeypatch.setattr(equity_solving, "solve_measure", solve_measure)
    fresh = _fresh(city, spec, Job("objective", measure, role="objective"))
    fairest = frame[frame["role"] == "fairest"].iloc[0]
    assert fairest["equity"] == pytest.approx(fresh.meta["objective_value"], abs=TOL)


def test_plans_shared_between_processes_start_the_points(city_dir, tmp_path):
    """A frontier writes its fairest end's and points' plans to starts/; a process that built the problem
    afresh (as a Dask worker does) takes them, and the loosest point's start is that point's own plan (the
    most efficient that keeps its bound, though there are more shared plans than a problem keeps), its
    values lined up with the variables of the new build."""
    city, spec = load_instance(city_dir), ProblemSpec("city")
    out = tmp_path / "f"
    frame = run_frontier(city_dir, spec, "gini", 5, out, workers=0, solve_options=EXACT)
    assert sorted(p.name for p in (out / "starts").iterdir()) == ["fairest-006.npz"] + [f"point-00{k}.npz" for k in range(1, 6)]
    problem = build_problem(city, spec)                # a new process's problem: nothing kept
    loosest = frame[frame["point"] == 1].iloc[0]
    assert fair.kept_start(problem, "gini", loosest["equity_bound"]) is None
    equity_runs.take_shared_starts(problem, out / "starts")
    start = fair.kept_start(problem, "gini", loosest["equity_bound"])
    assert start is not None
    for v, x in start.items():
        v.set_value(x, skip_validation=True)
    levels = {g: float(pyo.value(e)) for g, e in problem.levels.items()}
    assert sum(problem.weights[g] * levels[g] for g in levels) == pytest.approx(loosest["efficiency"], abs=TOL)


def test_a_shared_plan_of_another_build_is_not_taken(city_dir):
    problem = build_problem(load_instance(city_dir), ProblemSpec("city"))
    n = len(problem.kept[fair.VARIABLES_KEY])
    groups = np.array([str(g) for g in problem.levels])
    arrays = {"level_groups": groups, "levels": np.ones(len(groups)), "resource_groups": groups,
              "resources": np.ones(len(groups)), "values": np.zeros(n + 1)}
    assert not fair.add_kept_plan(problem, arrays)
    assert fair.add_kept_plan(problem, {**arrays, "values": np.zeros(n)})


def test_an_end_stopped_without_a_plan_is_tried_again(city_dir, tmp_path, monkeypatch):
    """The fairest end's first solve stops with no plan (as at a short time limit): the frontier solves it
    again with the time left instead of stopping."""
    real, seen = equity_runs.solve_plan, []

    def stopping_once(city, spec, job, solve_options, **kwargs):
        if job.role == "fairest" and not seen:
            seen.append(job)
            plan = real(city, spec, job, solve_options, **kwargs)
            plan.meta.update(status="time_limit", objective_value=None)
            return Plan(plan.meta, {})
        return real(city, spec, job, solve_options, **kwargs)

    monkeypatch.setattr(equity_runs, "solve_plan", stopping_once)
    frame = run_frontier(city_dir, ProblemSpec("city"), "maxmin", 2, tmp_path / "f", workers=0, solve_options=EXACT)
    assert seen and list(frame["role"]) == ["utilitarian", "point", "point", "fairest"]
    assert frame["status"].eq("optimal").all() and frame["check_passed"].all()


@pytest.mark.parametrize("objective", ["maxmin", "range", "leximin"])
def test_the_tie_break_for_efficiency_is_solved_once_at_the_runs_gap(city_dir, objective):
    """The most efficient of the measure's optimal plans is solved once, at the run's gap (HiGHS's 1e-4, no
    second solve at gap 0), and the plan is as good as the plan of a run asked at gap 0 throughout."""
    city = load_instance(city_dir)
    plan = make_plan(city, RunOptions(model="city", objective=objective), SolveOptions(threads=1, seed=0))
    stages = [s["stage"] for s in plan.meta["stages"]]
    assert stages[-1] == "tie-break: max efficiency" and stages.count(stages[-1]) == 1, stages
    assert plan.meta["status"] == "optimal" and check_plan(plan, city).passed
    exact = make_plan(city, RunOptions(model="city", objective=objective), EXACT)
    u, best = plan.meta["city"]["efficiency"], exact.meta["city"]["efficiency"]
    assert best * (1 - 1e-4) - 1e-9 <= u <= best + TOL            # within the gap of the exact tie-break
    assert plan.meta["objective_value"] == pytest.approx(exact.meta["objective_value"], abs=TOL)
