"""The enforcement tie-break is exact: among plans with the primary objective's optimum, the plan
has the fewest moves, and among those the fewest officers leaving their posts — proven, at the
planner's default gap too (a weighted sum solved at a relative gap of 1e-4 left released
officers unproven). Checked against enumeration and against a model solved separately."""
from __future__ import annotations

from dataclasses import replace

import pyomo.environ as pyo
import pytest

from allocator.data.generate import generate_city
from allocator.plans.make import make_plan
from allocator.solving import enforcement
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions, solve
from test_enforcement import CASE_A, case_a_data, city, enumerate_plans, level, members

DEFAULT = SolveOptions(threads=1, seed=0)           # the planner's default relative gap (1e-4)
EXACT = SolveOptions(threads=1, seed=0, gap=0.0)


def moves_and_released(plan) -> tuple[int, int]:
    """From the plan's tables: arrivals plus pool officers, and officers leaving their posts."""
    towns = plan.tables["town_staff"]
    moves = int(towns["moves_in"].sum() + plan.tables["district_pool"]["pool_staff"].sum())
    released = int((towns["enforcement_now"] - towns["enforcement_staff"]).clip(lower=0).sum())
    assert released == towns["moves_out"].sum()
    return moves, released


def fewest_separately(instance, objective: str, value: float) -> tuple[int, int]:
    """A model of its own holding the primary at `value`: min moves (exact), then, holding them, min
    officers leaving their posts (exact)."""
    opts = enforcement.enforcement_options(instance, RunOptions(model="enforcement", objective=objective))
    m = enforcement.build_model(instance, opts)
    m.primary.deactivate()
    slack = 1e-7 * max(1.0, abs(value))
    m.held = pyo.Constraint(expr=m.primary.expr <= value + slack if m.primary.sense == pyo.minimize
                            else m.primary.expr >= value - slack)
    moves = sum(m.moved_in.values()) + sum(m.pool_staff.values())
    m.fewest_moves = pyo.Objective(expr=moves)
    first = solve(m, EXACT)
    assert first.status == "optimal" and first.gap == 0.0
    least_moves = round(first.objective)
    m.fewest_moves.deactivate()
    m.moves_held = pyo.Constraint(expr=moves <= least_moves + 0.5)
    m.fewest_released = pyo.Objective(expr=sum(m.moved_out.values()))
    second = solve(m, EXACT)
    assert second.status == "optimal" and second.gap == 0.0
    return least_moves, round(second.objective)


def test_generated_city_tie_break_is_proven_at_the_default_gap():
    """60 towns: at the default gap the weighted tie-break stopped one released officer above the
    fewest (45,102 = 673·67 + 11 against 10); each step is now proven."""
    instance = generate_city(60, 3)
    plan = make_plan(instance, RunOptions(model="enforcement", objective="shortfall"), DEFAULT)
    assert plan.meta["status"] == "optimal" and plan.meta["check"]["passed"]
    assert moves_and_released(plan) == fewest_separately(instance, "shortfall", plan.meta["objective_value"])


def test_tie_break_matches_enumeration_at_the_default_gap():
    demand, today, district = case_a_data()
    for objective in ("shortfall", "maxmin"):
        for max_moves in (2, 4, 8):
            plans = list(enumerate_plans(demand, today, district, 18, max_moves, 2))

            def primary(s, r):
                if objective == "maxmin":
                    return -min(level([s[i] for i in members(district, d)], [demand[i] for i in members(district, d)], r[d])
                                for d in r)
                return sum(max(0.0, sum(max(0.0, demand[i] - s[i]) for i in members(district, d)) - r[d]) for d in r)
            best = min(primary(s, r) for s, r, _ in plans)
            optimal = [(moves, sum(max(0, a - b) for a, b in zip(today, s))) for s, r, moves in plans
                       if primary(s, r) <= best + 1e-9]
            plan = make_plan(city(CASE_A, min_team=2), RunOptions(model="enforcement", objective=objective,
                                                                  max_moves=max_moves), DEFAULT)
            assert plan.meta["status"] == "optimal" and plan.meta["check"]["passed"]
            assert moves_and_released(plan) == min(optimal), (objective, max_moves)


def test_a_step_stopped_at_the_time_limit_is_not_called_optimal(monkeypatch):
    """The last step (fewest released) stops at the time limit: the plan is kept, its headline is still
    the proven shortfall, and its status and words say the tie-break was not proven."""
    real, calls = enforcement.solve, []

    def stopping(model, options, **kw):
        r = real(model, options, **kw)
        calls.append(options)
        return replace(r, status="time_limit") if len(calls) == 3 else r
    monkeypatch.setattr(enforcement, "solve", stopping)
    plan = make_plan(city(CASE_A, min_team=2), RunOptions(model="enforcement", objective="shortfall", max_moves=4), DEFAULT)
    m = plan.meta
    assert [o.gap for o in calls] == [None, 0.0, 0.0]               # the steps run exact, the primary at the planner's gap
    assert m["status"] == "time_limit" and m["check"]["passed"]
    assert "the tie-break for the fewest officers released stopped at the time limit" in m["status_text"]
    assert [s["status"] for s in m["stages"]] == ["optimal", "optimal", "time_limit"]
    assert m["mip_gap"] == pytest.approx(0.0, abs=1e-9)
