"""The hand-over to HiGHS: rows read directly or by Pyomo's walker give the same model, and re-solves
through `Persistent` push changed parameters (or assemble again) and agree with fresh solves."""
from __future__ import annotations

import itertools

import numpy as np
import pyomo.environ as pyo
import pytest
from pyomo.common.collections import ComponentMap

from allocator.solving.highs_model import compile_model
from allocator.solving.solve import Persistent, SolveOptions, solve
from allocator.models import linear as lin

EXACT = SolveOptions(gap=0.0, threads=1)


def mixed_model(direct: bool) -> pyo.ConcreteModel:
    """max 3x + 2y − z + 4w + 1 over small integers, with ranged, fixed, repeated and constant terms."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.NonNegativeIntegers, bounds=(0, 6))
    m.y = pyo.Var(within=pyo.Integers, bounds=(-2, 5))
    m.z = pyo.Var(within=pyo.Binary)
    m.w = pyo.Var(bounds=(0, 1.5))
    m.fixed = pyo.Var(initialize=2.0)
    m.fixed.fix()
    m.cap = pyo.Param(initialize=9.0)
    if direct:
        m.budget = pyo.Constraint(expr=lin.at_most(lin.linear([2.0, 1.0, 1.0, 1.0], [m.x, m.y, m.x, m.w], constant=1.0), 13.0))
        m.band = pyo.Constraint(expr=pyo.inequality(-1.0, lin.linear([1.0, -1.0], [m.x, m.y]), 2.0))
        m.link = pyo.Constraint(expr=lin.equal(lin.linear([1.0, -4.0], [m.w, m.z]), -2.5))
    else:
        m.budget = pyo.Constraint(expr=2 * m.x + m.y + m.x + m.w + 1 <= 13 + 0 * m.fixed)
        m.band = pyo.Constraint(expr=pyo.inequality(-1, m.x - m.y, 2))
        m.link = pyo.Constraint(expr=m.w - 4 * m.z == m.fixed * -1.25)
    m.free_row = pyo.Constraint(expr=m.x + m.y <= m.cap)
    m.value = pyo.Objective(expr=3 * m.x + 2 * m.y - m.z + 4 * m.w + 1, sense=pyo.maximize)
    return m


def brute_force() -> float:
    best = -np.inf
    for x, y, z in itertools.product(range(7), range(-2, 6), (0, 1)):
        w = 4 * z - 2.5
        if 0 <= w <= 1.5 and 3 * x + y + w + 1 <= 13 and -1 <= x - y <= 2 and x + y <= 9:
            best = max(best, 3 * x + 2 * y - z + 4 * w + 1)
    return best


@pytest.mark.parametrize("direct", [True, False], ids=["direct-rows", "walked-rows"])
def test_rows_read_either_way_reach_the_brute_force_optimum(direct):
    m = mixed_model(direct)
    r = solve(m, EXACT)
    assert r.status == "optimal" and r.objective == pytest.approx(brute_force())
    assert pyo.value(m.value) == pytest.approx(r.objective)
    assert m.fixed.value == 2.0


def test_both_readings_hand_over_the_same_matrix():
    a, b = compile_model(mixed_model(True)), compile_model(mixed_model(False))
    la, lb = a.highs.getLp(), b.highs.getLp()
    assert [v.local_name for v in a.columns] == [v.local_name for v in b.columns]
    for field in ("col_cost_", "col_lower_", "col_upper_", "row_lower_", "row_upper_"):
        assert np.allclose(getattr(la, field), getattr(lb, field)), field
    assert np.allclose(la.a_matrix_.value_, lb.a_matrix_.value_) and list(la.a_matrix_.index_) == list(lb.a_matrix_.index_)
    assert la.num_row_ == 4                    # the ranged band is one row
    assert a.offset == b.offset == 1.0


def knapsack_with_mutable_capacity() -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    m.ITEMS = pyo.RangeSet(0, 7)
    weight, worth = [3, 4, 5, 6, 7, 8, 9, 10], [4, 5, 7, 8, 9, 11, 12, 13]
    m.capacity = pyo.Param(initialize=10, mutable=True)
    m.take = pyo.Var(m.ITEMS, within=pyo.Binary)
    m.within_capacity = pyo.Constraint(expr=sum(weight[i] * m.take[i] for i in m.ITEMS) <= m.capacity)
    m.value = pyo.Objective(expr=sum(worth[i] * m.take[i] for i in m.ITEMS), sense=pyo.maximize)
    return m


def test_persistent_resolve_pushes_a_changed_row_bound_and_matches_fresh_solves():
    m, handle = knapsack_with_mutable_capacity(), Persistent()
    for capacity in (10, 17, 4, 25):
        m.capacity.set_value(capacity)
        kept = solve(m, EXACT, persistent=handle)
        fresh = solve(knapsack_with_mutable_capacity_at(capacity), EXACT)
        assert kept.objective == pytest.approx(fresh.objective)
    first = handle.compiled
    m.capacity.set_value(12)
    solve(m, EXACT, persistent=handle)
    assert handle.compiled is first and not first.recompile    # the same HiGHS model, its bound changed


def knapsack_with_mutable_capacity_at(capacity: float) -> pyo.ConcreteModel:
    m = knapsack_with_mutable_capacity()
    m.capacity.set_value(capacity)
    return m


def test_persistent_resolve_assembles_again_when_a_coefficient_is_a_parameter():
    m = pyo.ConcreteModel()
    m.price = pyo.Param(initialize=1.0, mutable=True)
    m.x = pyo.Var(bounds=(0, 10))
    m.y = pyo.Var(bounds=(0, 10))
    m.split = pyo.Constraint(expr=m.price * m.x + m.y <= 10)
    m.value = pyo.Objective(expr=m.x + m.y, sense=pyo.maximize)
    handle = Persistent()
    assert solve(m, EXACT, persistent=handle).objective == pytest.approx(10)
    assert handle.compiled.recompile
    m.price.set_value(0.5)
    assert solve(m, EXACT, persistent=handle).objective == pytest.approx(15)


def test_a_nonlinear_row_is_refused():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 2))
    m.curve = pyo.Constraint(expr=m.x * m.x <= 1)
    m.value = pyo.Objective(expr=m.x)
    with pytest.raises(ValueError, match="not linear"):
        solve(m, EXACT)


def test_start_values_and_objective_only_variables_reach_highs():
    m = knapsack_with_mutable_capacity()
    m.bonus = pyo.Var(bounds=(0, 2))                   # in no row, only in the objective
    m.value.set_value(m.value.expr + m.bonus)
    start = ComponentMap((m.take[i], 1.0 if i == 0 else 0.0) for i in m.ITEMS)
    r = solve(m, EXACT, start=start)
    assert r.status == "optimal" and m.bonus.value == pytest.approx(2.0)
    assert r.objective == pytest.approx(solve(knapsack_with_mutable_capacity(), EXACT).objective + 2)


def test_a_row_reads_only_its_own_terms_when_its_sum_is_reused():
    """Pyomo extends a sum's argument list in place when the sum is built on (`body - s`); the row
    keeps counting its own terms, and so must the hand-over."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var([1, 2], bounds=(0, 10))
    m.s = pyo.Var(bounds=(0, 5))
    body = lin.linear([3.0, 3.0], [m.x[1], m.x[2]])
    m.limit = pyo.Constraint(expr=lin.at_most(body, 5.0))
    m.extended = pyo.Constraint(expr=body - m.s <= 1.0)      # shares and extends body's list
    m.value = pyo.Objective(expr=m.x[1] + m.x[2], sense=pyo.maximize)
    assert len(m.limit.body._args_) > m.limit.body.nargs()   # the sharing this test is about
    result = solve(m, EXACT)
    assert result.status == "optimal"
    assert pyo.value(m.x[1] + m.x[2]) == pytest.approx(5.0 / 3.0)
    assert 3 * pyo.value(m.x[1] + m.x[2]) <= 5.0 + 1e-9


def test_relaxed_solve_gives_the_lp_bound_and_the_next_solve_the_integer_optimum_on_one_hand_over():
    """max 5a + 4b + 3c s.t. 2a + 3b + c ≤ 4.5 (binary): the LP takes a = c = 1 and b = 1/2 (10),
    the MIP a = c = 1 (8); the Pyomo domains stay binary throughout."""
    m = pyo.ConcreteModel()
    m.pick = pyo.Var(range(3), domain=pyo.Binary)
    m.weight = pyo.Constraint(expr=2 * m.pick[0] + 3 * m.pick[1] + m.pick[2] <= 4.5)
    m.value = pyo.Objective(expr=5 * m.pick[0] + 4 * m.pick[1] + 3 * m.pick[2], sense=pyo.maximize)
    handle = Persistent()
    lp = solve(m, EXACT, persistent=handle, relax=True)
    assert lp.objective == pytest.approx(10.0) and m.pick[1].value == pytest.approx(0.5)
    compiled = handle.compiled
    mip = solve(m, EXACT, persistent=handle)
    assert handle.compiled is compiled                       # no second hand-over
    assert mip.objective == pytest.approx(8.0) and [round(m.pick[j].value) for j in range(3)] == [1, 0, 1]
    assert all(v.domain is pyo.Binary for v in m.pick.values())
    assert solve(m, EXACT, persistent=handle, relax=True).objective == pytest.approx(10.0)
