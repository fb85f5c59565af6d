"""The efficient reference plan starts the equity sequence: no second max-efficiency solve for a
ratio's first plan, and leximin's first round starts from it (a run cut short keeps a plan)."""
from __future__ import annotations

import allocator.solving.leximin as leximin
from allocator.data.loader import load_instance
from allocator.plans.make import make_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions

ONE = SolveOptions(threads=1)


def test_ratio_measures_start_from_the_reference(tiny_dir):
    city = load_instance(tiny_dir)
    for measure in ("hoover", "gini"):
        plan = make_plan(city, RunOptions(model="city", objective=measure), ONE)
        names = [s["stage"] for s in plan.meta["stages"]]
        assert names[0] == "efficient plan (the reference)" and "first plan (max efficiency)" not in names, names
        assert plan.meta["status"] == "optimal" and plan.meta["check"]["passed"]


def test_with_equity_bounds_the_ratio_finds_its_own_first_plan(tiny_dir):
    """Bounds held after the reference may cut it off: then the sequence solves its own first plan."""
    city = load_instance(tiny_dir)
    plan = make_plan(city, RunOptions(model="city", objective="hoover", equity_bounds=(("maxmin", 0.5),)), ONE)
    assert "first plan (max efficiency)" in [s["stage"] for s in plan.meta["stages"]]


def test_leximin_first_round_is_given_the_reference(tiny_dir, monkeypatch):
    starts = []
    real = leximin.solve

    def recording(model, options, start=None, **kw):
        starts.append(start)
        return real(model, options, start=start, **kw)

    monkeypatch.setattr(leximin, "solve", recording)
    plan = make_plan(load_instance(tiny_dir), RunOptions(model="city", objective="leximin"), ONE)
    assert plan.meta["check"]["passed"] and starts and starts[0] is not None and len(starts[0]) > 0
