"""The quick proof of a max-U stage (allocator.solving.split): its bound is a relaxation's, its plan a
plan of the model, and a stage it proves has the optimum HiGHS proves on the whole model."""
from __future__ import annotations

from dataclasses import replace

import pyomo.environ as pyo
import pytest
from pyomo.common.collections import ComponentMap

from conftest import invoke

from allocator.data.generate import generate_city, write_city
from allocator.models.equity_problem import maximise_efficiency
from allocator.plans.checks import check_plan
from allocator.plans.make import make_plan
from allocator.solving.city import city_problem
from allocator.solving.equity import solve_bounded, solve_measure
from allocator.solving import split as split_module
from allocator.solving.run import RunOptions
from allocator.solving.solve import TARGET_OUT_OF_REACH, TARGET_REACHED, SolveOptions, Target, primary_gap, solve
from allocator.solving.split import PLAN_PART, meeting, solve_split

EXACT = SolveOptions(threads=1, seed=0, gap=0.0)
GAP = 1e-4


def _max_u(city, split: bool):
    problem = city_problem(city, RunOptions(model="city", objective="utilitarian"))
    if not split:
        problem.split = None
    return problem


@pytest.mark.parametrize("towns,seed", [(8, 3), (12, 1), (20, 1)])
def test_the_split_bounds_and_plans_the_model(towns, seed):
    """The relaxation's bound is never below max U (solved exactly on the whole model), the restriction's plan
    never above it, and a proof the split claims holds against that optimum."""
    city = generate_city(towns, seed)
    whole = _max_u(city, split=False)
    maximise_efficiency(whole)
    best = solve(whole.model, EXACT).objective
    problem = _max_u(city, split=True)
    maximise_efficiency(problem)
    out = solve_split(problem.model, problem.split, SolveOptions(threads=1, seed=0, gap=GAP), True, "max U", lp_first=True)
    bounds = [r for name, r in out.parts if name != PLAN_PART]
    plans = [r for name, r in out.parts if name == PLAN_PART]
    assert bounds and all(r.bound >= best - 1e-9 for r in bounds) and out.bound >= best - 1e-9
    assert all(r.objective <= best + 1e-9 for r in plans if r.has_solution)
    if out.proven is not None:
        assert out.proven.objective >= best * (1 - GAP) - 1e-9 and out.proven.status == "optimal"


@pytest.mark.parametrize("measure", ["utilitarian", "maxmin", "owa"])
def test_stages_with_the_split_reach_the_optimum_of_the_whole_model(measure):
    """Every max-efficiency stage (the objective of utilitarian, the tie-break of the others) tries the split
    first; the plan's objective and efficiency match the sequence solved on the whole model alone."""
    city = generate_city(12, 1)
    options = SolveOptions(threads=1, seed=0, gap=GAP)
    with_split = solve_measure(_max_u(city, split=True), measure, options)
    alone = solve_measure(_max_u(city, split=False), measure, options)
    assert with_split.status == alone.status == "optimal"
    assert with_split.modelled == pytest.approx(alone.modelled, rel=2 * GAP, abs=1e-6)
    tried = [s for s in with_split.stages if "split" in s]
    assert tried and all(s["split"][0]["stage"] == "bound of the LP relaxation" for s in tried)
    assert any(s["stage"] == "tie-break: max efficiency" for s in tried) == (measure != "utilitarian")


def test_a_frontier_point_tries_the_lp_round_and_reaches_the_whole_models_optimum():
    """An ε-constraint point (max U with maxmin bounded) runs the split from its LP round; its efficiency is
    the whole model's within the gap, and its plan keeps the bound."""
    city = generate_city(12, 1)
    options = SolveOptions(threads=1, seed=0, gap=GAP)
    reference = solve_measure(_max_u(city, split=False), "maxmin", options)
    floor = 0.99 * reference.modelled                # above the most efficient plan's lowest level
    with_split = solve_bounded(_max_u(city, split=True), "maxmin", floor, options)
    alone = solve_bounded(_max_u(city, split=False), "maxmin", floor, options)
    assert with_split.status == alone.status == "optimal"
    assert with_split.result.objective == pytest.approx(alone.result.objective, rel=2 * GAP)
    assert with_split.modelled >= floor - 1e-9
    assert with_split.stages[0]["split"][0]["stage"] == "bound of the LP relaxation"


def test_a_city_plan_proven_by_the_split_passes_the_check():
    """The plan the split proves is loaded and written: `allocator check` recomputes it from its tables."""
    city = generate_city(20, 1)
    plan = make_plan(city, RunOptions(model="city", objective="utilitarian"), SolveOptions(threads=1, seed=0))
    assert plan.meta["status"] in ("optimal", "time_limit") and check_plan(plan, city).passed
    first = plan.meta["stages"][0]
    assert first["stage"] == "max efficiency" and [p["stage"] for p in first["split"]][:2] == [
        "bound of the LP relaxation", "plan from the sites it opens whole"]


def test_the_summary_says_where_a_stage_tried_the_split(tmp_path):
    """A max-efficiency stage's summary line gives the split's bound and plan beside the stage's own figures."""
    folder = write_city(generate_city(12, 1), tmp_path / "city", "folder")
    result = invoke("solve", folder, "--model", "city", "--objective", "utilitarian", "--threads", "1",
                    "--out", tmp_path / "plan")
    assert result.exit_code == 0, result.output
    line = next(s for s in result.output.splitlines() if s.startswith("  stage 1, max efficiency"))
    assert "first a bound from the LP relaxation" in line and "a plan from its whole sites" in line, line


def test_a_round_that_does_not_prove_leaves_its_bound_and_the_better_plan():
    """Asked for a gap the LP round cannot meet, the split runs its second round; its bound is the tighter of
    the two, no plan is above max U, and the plan it hands on is the better of the two rounds'."""
    city = generate_city(20, 1)
    whole = _max_u(city, split=False)
    maximise_efficiency(whole)
    best = solve(whole.model, EXACT).objective
    problem = _max_u(city, split=True)
    maximise_efficiency(problem)
    out = solve_split(problem.model, problem.split, SolveOptions(threads=1, seed=0, gap=1e-9), True, "max U", lp_first=True)
    names = [name for name, _ in out.parts]
    assert names == ["bound of the LP relaxation", PLAN_PART, "bound with sites opened in part", PLAN_PART]
    bounds = [out.parts[0][1].bound, out.parts[2][1].bound]
    assert out.bound == min(bounds) and out.bound >= best - 1e-9
    plans = [out.parts[1][1], out.parts[3][1]]
    assert all(p.objective <= best + 1e-9 for p in plans) and out.proven is None
    assert out.plan_result is max(plans, key=lambda p: p.objective)


@pytest.mark.parametrize("bound", [0.76, -3.0])
@pytest.mark.parametrize("maximise", [True, False])
def test_meeting_is_the_least_value_the_bound_proves(bound, maximise):
    """The restriction's target: a value at the gap asked from the bound, and no worse value within it."""
    value = meeting(bound, GAP, maximise)
    assert primary_gap(value, bound, maximise) == pytest.approx(GAP, rel=1e-9)
    worse = value - 1e-6 if maximise else value + 1e-6
    assert primary_gap(worse, bound, maximise) > GAP


def test_a_target_stops_highs_at_a_plan_good_enough_or_a_bound_that_rules_one_out():
    """HiGHS stops at the first plan as good as the target, keeping it; and stops once its bound lies below a
    target above max U. Neither run claims to be optimal, and each keeps its plan and bound."""
    city = generate_city(20, 1)
    problem = _max_u(city, split=False)
    maximise_efficiency(problem)
    best = solve(problem.model, EXACT)
    low = solve(problem.model, EXACT, target=Target(0.0, True))
    assert low.termination == TARGET_REACHED and low.status == "time_limit" and low.has_solution
    assert 0.0 <= low.objective <= best.objective + 1e-9 and low.bound >= best.objective - 1e-9
    high = solve(problem.model, EXACT, target=Target(best.objective * 1.01, True))
    assert high.termination == TARGET_OUT_OF_REACH and high.status == "time_limit"
    assert best.objective - 1e-9 <= high.bound < best.objective * 1.01


def test_a_stage_the_split_does_not_prove_counts_its_parts_in_its_seconds():
    """A stage's seconds are its whole time: when the split does not prove it, its parts' seconds and those of
    HiGHS on the whole model after them."""
    problem = _max_u(generate_city(12, 1), split=True)
    out = solve_measure(problem, "utilitarian", SolveOptions(threads=1, seed=0, gap=1e-9), tie_break="none")
    stage = out.stages[0]
    parts = sum(p["seconds"] for p in stage["split"])
    assert len(stage["split"]) == 4 and stage["seconds"] > parts > 0
    assert out.result.handover_s + out.result.solve_s == pytest.approx(stage["seconds"], rel=1e-6)


def test_a_round_met_by_an_earlier_rounds_plan_loads_that_plan(monkeypatch):
    """When round 1's plan misses its own bound but meets round 2's tighter one, round 2 needs no plan of its
    own: the stage is proven with round 1's plan, and that plan, not round 2's relaxation, is loaded."""
    city = generate_city(20, 1)
    problem = _max_u(city, split=True)
    maximise_efficiency(problem)
    solve(problem.model, EXACT)                                 # the optimum, to start from
    start = ComponentMap((v, v.value) for v in problem.model.component_data_objects(pyo.Var, active=True)
                         if v.value is not None)
    real = split_module._relaxed
    calls = []

    def relaxed(*args, **kwargs):         # round 1's bound made looser by 0.2 %: still a bound, one its plan misses
        r = real(*args, **kwargs)
        calls.append(r)
        return replace(r, bound=r.bound * 1.002) if len(calls) == 1 else r

    monkeypatch.setattr(split_module, "_relaxed", relaxed)
    out = solve_split(problem.model, problem.split, SolveOptions(threads=1, seed=0, gap=1e-3), True, "max U",
                      incumbent=start)          # at 1e-3, round 2's bound (5e-4 above the optimum here) meets it
    assert [name for name, _ in out.parts] == ["bound of the LP relaxation", PLAN_PART, "bound with sites opened in part"]
    assert out.proven is not None and out.proven.objective == out.parts[1][1].objective
    objective = next(problem.model.component_data_objects(pyo.Objective, active=True))
    assert pyo.value(objective) == pytest.approx(out.proven.objective, abs=1e-9)
    assert all(abs(v.value - round(v.value)) < 1e-6 for v in problem.split.fixed())
