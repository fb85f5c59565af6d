"""Every model keeps the plan HiGHS found when HiGHS stops at its time limit.

The time limit is simulated, not raced: every HiGHS call is made as usual, and a call that found a
plan reports it as HiGHS does when its time limit stops it (status time_limit, the plan loaded, its
bound). A run must then write that plan, which the independent checker passes."""
from __future__ import annotations

from dataclasses import replace

import pytest

import allocator.solving.enforcement as enforcement_solving
import allocator.solving.equity as equity_solving
import allocator.solving.grid as grid_solving
import allocator.solving.leximin as leximin_solving
import allocator.solving.location.common as location_common
from allocator.data.generate import generate_city
from allocator.plans.make import make_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions, solve

CASES = [
    ("grid", "cost", {"budget": 1e6}), ("grid", "unmet", {}), ("grid", "maxmin", {}),
    ("enforcement", "maxmin", {}), ("enforcement", "shortfall", {}), ("enforcement", "moves", {"target_ratio": 0.7}),
    ("enforcement", "expected", {"scenarios": "surge:3"}),
    ("city", "maxmin", {}), ("city", "utilitarian", {}), ("city", "leximin", {}), ("city", "gini", {}),
    ("facilities", "mclp", {"services": ("health",), "p": 2}), ("facilities", "lscpb", {"services": ("health",), "budget": 1e6}),
    ("facilities", "pmedian", {"services": ("health",), "p": 2}), ("facilities", "cpmedian", {"services": ("health",), "p": 2}),
    ("facilities", "pcenter", {"services": ("health",), "p": 2}), ("facilities", "cflp", {"services": ("health",), "p": 2}),
]


@pytest.fixture(scope="module")
def city():
    c = generate_city(6, 2)
    health = c.sites.index[c.sites["service"] == "health"]
    c.sites.loc[health, "capacity"] = c.grids["population"].sum()      # any one site can hold every grid
    return c


def _stopped_at_the_limit(model, options, start=None, **kw):
    r = solve(model, options, start, **kw)
    return replace(r, status="time_limit", termination="kTimeLimit") if r.has_solution else r


@pytest.mark.parametrize("model, objective, extra", CASES, ids=[f"{m}-{o}" for m, o, _ in CASES])
def test_a_plan_found_before_the_time_limit_is_written(monkeypatch, city, model, objective, extra):
    for module in (enforcement_solving, equity_solving, grid_solving, leximin_solving, location_common):
        monkeypatch.setattr(module, "solve", _stopped_at_the_limit)
    plan = make_plan(city, RunOptions(model=model, objective=objective, **extra), SolveOptions(threads=1, time_limit=60))
    m = plan.meta
    assert plan.tables, f"no plan written ({m['status']}): {m.get('explanation')}"
    assert m["status"] in ("time_limit", "optimal") and m["objective_value"] is not None
    assert m["check"]["passed"], m["check"]
