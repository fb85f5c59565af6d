"""The solve seam: statuses, loaded solutions, gaps, time limits and the wall-clock guard."""
from __future__ import annotations

import time

import numpy as np
import pyomo.environ as pyo
import pytest

from allocator.solving.solve import SolveOptions, _Watch, solve


def knapsack(n: int = 12, seed: int = 3) -> tuple[pyo.ConcreteModel, float]:
    """A small knapsack and its optimum by enumeration."""
    rng = np.random.default_rng(seed)
    w = rng.integers(5, 40, n)
    v = rng.integers(5, 40, n)
    cap = int(w.sum() // 3)
    best = 0
    for mask in range(1 << n):
        take = [(mask >> i) & 1 for i in range(n)]
        if np.dot(take, w) <= cap:
            best = max(best, int(np.dot(take, v)))
    m = pyo.ConcreteModel()
    m.ITEMS = pyo.RangeSet(0, n - 1)
    m.take = pyo.Var(m.ITEMS, within=pyo.Binary)
    m.weight_within_capacity = pyo.Constraint(expr=sum(int(w[i]) * m.take[i] for i in m.ITEMS) <= cap)
    m.value = pyo.Objective(expr=sum(int(v[i]) * m.take[i] for i in m.ITEMS), sense=pyo.maximize)
    return m, best


def test_optimal_solution_is_loaded_and_matches_enumeration():
    m, best = knapsack()
    r = solve(m, SolveOptions(gap=0.0, threads=1))
    assert r.status == "optimal" and r.has_solution
    assert r.objective == pytest.approx(best)
    assert pyo.value(m.value) == pytest.approx(best)
    assert r.gap == pytest.approx(0.0, abs=1e-9)
    assert r.solver_version.startswith("1.")


def test_infeasible_model_reports_status_without_raising():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.NonNegativeIntegers)
    m.at_least_three = pyo.Constraint(expr=m.x >= 3)
    m.at_most_two = pyo.Constraint(expr=m.x <= 2)
    m.obj = pyo.Objective(expr=m.x)
    r = solve(m, SolveOptions())
    assert r.status == "infeasible" and not r.has_solution and r.objective is None


def test_unbounded_model_reports_status():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.NonNegativeReals)
    m.obj = pyo.Objective(expr=m.x, sense=pyo.maximize)
    r = solve(m, SolveOptions())
    assert r.status in ("unbounded", "infeasible")   # HiGHS may only say "infeasible or unbounded"
    assert not r.has_solution


class _Event:
    class _Out:
        mip_primal_bound, mip_dual_bound, mip_gap = 10.0, 12.0, 0.2

    def __init__(self):
        self.data_out = self._Out()
        self.interrupted = False

    def interrupt(self):
        self.interrupted = True


def test_wall_clock_guard_interrupts_after_limit_and_grace():
    watch = _Watch(SolveOptions(time_limit=0.01))
    watch.deadline = time.monotonic() - 1.0     # as if limit + grace had passed
    event = _Event()
    watch(event)
    assert event.interrupted and watch.guard_fired
    calm = _Watch(SolveOptions(time_limit=1000))
    event = _Event()
    calm(event)
    assert not event.interrupted and not calm.guard_fired


def test_progress_line_shows_incumbent_and_gap(capsys):
    watch = _Watch(SolveOptions(progress=True))
    watch.last_print -= 10
    watch(_Event())
    watch.finish()
    err = capsys.readouterr().err
    assert "incumbent 10" in err and "gap 20.00%" in err


class _NoIncumbentEvent(_Event):
    class _Out:          # what HiGHS reports before its first plan: no incumbent, no bound, a gap of -1
        mip_primal_bound, mip_dual_bound, mip_gap = float("inf"), float("-inf"), -1.0


def test_progress_line_without_incumbent_shows_no_gap(capsys):
    watch = _Watch(SolveOptions(progress=True))
    watch.last_print -= 10
    watch(_NoIncumbentEvent())
    watch.finish()
    err = capsys.readouterr().err
    assert "incumbent none yet, bound -, gap -" in err and "%" not in err, err


def test_same_seed_and_threads_give_same_solution():
    a, _ = knapsack(n=14, seed=9)
    b, _ = knapsack(n=14, seed=9)
    solve(a, SolveOptions(threads=1, seed=5))
    solve(b, SolveOptions(threads=1, seed=5))
    assert [round(pyo.value(a.take[i])) for i in a.ITEMS] == [round(pyo.value(b.take[i])) for i in b.ITEMS]


def hard_knapsack(n: int = 150, k: int = 6, seed: int = 0) -> pyo.ConcreteModel:
    rng = np.random.default_rng(seed)
    w = rng.integers(20, 100, (k, n))
    v = w.sum(0) + rng.integers(0, 30, n)
    m = pyo.ConcreteModel()
    m.ITEMS = pyo.RangeSet(0, n - 1)
    m.DIMENSIONS = pyo.RangeSet(0, k - 1)
    m.take = pyo.Var(m.ITEMS, within=pyo.Binary)
    m.within_capacity = pyo.Constraint(m.DIMENSIONS, rule=lambda m, j: sum(int(w[j, i]) * m.take[i] for i in m.ITEMS) <= int(w[j].sum() // 2))
    m.value = pyo.Objective(expr=sum(int(v[i]) * m.take[i] for i in m.ITEMS), sense=pyo.maximize)
    return m


def test_guard_stop_keeps_the_incumbent_as_a_time_limited_plan(monkeypatch, capsys):
    import allocator.solving.solve as seam

    monkeypatch.setattr(seam, "GRACE_S", -9.0)      # the guard fires after 1 s, before HiGHS's own 10 s limit
    m = hard_knapsack()
    r = solve(m, SolveOptions(time_limit=10, threads=1))
    assert r.status == "time_limit"
    assert r.has_solution            # HiGHS's heuristics find an incumbent at the root
    assert pyo.value(m.value) == pytest.approx(r.objective)
    assert r.bound >= r.objective - 1e-6 and r.gap is not None
    assert "unhandled status" not in capsys.readouterr().err
