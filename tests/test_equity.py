"""Equity measures in Pyomo: theory (Bertsimas, Farias & Trichakis 2011) on random instances,
values by hand, and agreement of every linearisation with allocator.metrics.

The instances meet BFT's assumptions: n groups, a convex compact utility set, and the same
maximum utility for every group when it is served alone:
    resource   L_g = a_g x_g, Σ_g x_g ≤ B, 0 ≤ x_g ≤ M/a_g with a_g B ≥ M (each can reach M)
    packing    the utility set {u ≥ 0 : A u ≤ b} itself, columns scaled so that max u_g = 1
    image      L = M x over {x ≥ 0 : Σ_j c_j x_j ≤ 1} (a polytope's linear image), rows scaled
               so that max L_g = max_j M_gj / c_j = 1
"""
from __future__ import annotations

import math

import numpy as np
import pyomo.environ as pyo
import pytest

from allocator import metrics as mx
from allocator.solving.solve import SolveOptions, solve
from allocator.models import equity as eq
from allocator.solving import leximin as lx

EXACT = SolveOptions(threads=1, seed=0)
SIZES = (2, 3, 5, 8)


# --- instances -------------------------------------------------------------------------------

def resource_model(rng: np.random.Generator, n: int):
    a = rng.uniform(0.5, 3.0, n)
    budget = 1.0
    top = float(budget * a.min() * rng.uniform(0.3, 1.0))
    m = pyo.ConcreteModel()
    m.G = pyo.RangeSet(0, n - 1)
    m.spend = pyo.Var(m.G, bounds=lambda m, g: (0.0, top / a[g]))
    m.budget_not_exceeded = pyo.Constraint(expr=pyo.quicksum(m.spend.values()) <= budget)
    return m, {g: float(a[g]) * m.spend[g] for g in range(n)}, {"a": a, "budget": budget, "top": top}


def packing_model(rng: np.random.Generator, n: int):
    rows = n + 2
    A = rng.uniform(0.0, 1.0, (rows, n)) * (rng.uniform(size=(rows, n)) < 0.7)
    A[rng.integers(rows, size=n), np.arange(n)] += 0.2         # every column has some weight
    b = rng.uniform(0.5, 1.5, rows)
    reach = np.min(np.where(A > 0, b[:, None] / np.where(A > 0, A, 1.0), np.inf), axis=0)
    A = A * reach[None, :]                                      # now max u_g = 1 for every g
    m = pyo.ConcreteModel()
    m.G = pyo.RangeSet(0, n - 1)
    m.utility = pyo.Var(m.G, bounds=(0.0, 1.0))

    @m.Constraint(range(rows))
    def resource_row_within_capacity(m, i):
        return pyo.quicksum(float(A[i, g]) * m.utility[g] for g in m.G) <= float(b[i])

    return m, {g: m.utility[g] for g in range(n)}, {"top": 1.0}


def image_model(rng: np.random.Generator, n: int):
    k = n + 3
    M = rng.uniform(0.0, 1.0, (n, k)) * (rng.uniform(size=(n, k)) < 0.6)
    M[np.arange(n), rng.integers(k, size=n)] += 0.3
    c = rng.uniform(0.5, 2.0, k)
    M = M / (M / c[None, :]).max(axis=1, keepdims=True)         # max_x L_g = max_j M_gj / c_j = 1
    m = pyo.ConcreteModel()
    m.J = pyo.RangeSet(0, k - 1)
    m.activity = pyo.Var(m.J, bounds=lambda m, j: (0.0, 1.0 / c[j]))
    m.cost_within_one = pyo.Constraint(expr=pyo.quicksum(float(c[j]) * m.activity[j] for j in m.J) <= 1.0)
    return m, {g: pyo.quicksum(float(M[g, j]) * m.activity[j] for j in range(k) if M[g, j] > 0) for g in range(n)}, {"top": 1.0}


FAMILIES = {"resource": resource_model, "packing": packing_model, "image": image_model}


def solved(build, seed: int, n: int, measure: str, **kw):
    """Build a fresh instance, attach `measure` as the objective, solve; the term and level values."""
    m, levels, info = build(np.random.default_rng(seed), n)
    if measure == "leximin":
        result = lx.solve_leximin(m, levels, EXACT)
        assert result.status == "optimal"
        return None, np.array(list(result.levels.values())), info
    term = eq.attach(m, levels, measure, **kw)
    result = solve(m, EXACT)
    assert result.status == "optimal", (measure, result.status)
    return term, np.array(list(term.level_values().values())), info


def lex_at_least(a: np.ndarray, b: np.ndarray, tol: float = 1e-5) -> bool:
    """sorted(a) ≥ sorted(b) lexicographically, levels within tol counted equal."""
    for x, y in zip(np.sort(a), np.sort(b)):
        if x > y + tol:
            return True
        if x < y - tol:
            return False
    return True


# --- price of fairness (BFT 2011) ------------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("n", SIZES)
def test_price_of_fairness_within_bft_bounds(family, n):
    maxmin_bound = 1 - 4 * n / (n + 1) ** 2
    proportional_bound = 1 - 2 / math.sqrt(n) + 1 / n
    for seed in range(3):
        build = FAMILIES[family]
        _, best, info = solved(build, seed, n, "utilitarian")
        _, leximin, _ = solved(build, seed, n, "leximin")
        lo = info["top"] / (2 * n)          # proportional fairness gives every group ≥ top/n (BFT)
        _, proportional, _ = solved(build, seed, n, "alpha", alpha=1.0, lo=lo)
        efficiency = best.sum()
        assert (efficiency - leximin.sum()) / efficiency <= maxmin_bound + 1e-6
        assert (efficiency - proportional.sum()) / efficiency <= proportional_bound + 1e-6


def test_price_of_maxmin_reaches_the_bound_on_the_tight_example():
    # u ∈ [0,1]², u_1 + 2 u_2 ≤ 2: utilitarian (1, ½) sums 3/2, max-min (⅔, ⅔) sums 4/3: price 1/9 = 1 − 8/9
    def build(rng, n):
        m = pyo.ConcreteModel()
        m.u = pyo.Var([0, 1], bounds=(0, 1))
        m.shared_capacity = pyo.Constraint(expr=m.u[0] + 2 * m.u[1] <= 2)
        return m, {0: m.u[0], 1: m.u[1]}, {"top": 1.0}

    _, best, _ = solved(build, 0, 2, "utilitarian")
    _, fair, _ = solved(build, 0, 2, "maxmin")
    assert best == pytest.approx([1.0, 0.5])
    assert fair == pytest.approx([2 / 3, 2 / 3])
    assert (best.sum() - fair.sum()) / best.sum() == pytest.approx(1 - 4 * 2 / 9)


# --- orderings between the objectives ----------------------------------------------------------------

OTHERS = [("utilitarian", {}), ("range", {}), ("mad", {}), ("owa", {}), ("alpha", {"alpha": 0.5}),
          ("alpha", {"alpha": 2.0, "lo": 0.02}), ("leximin", {})]


@pytest.mark.parametrize("family", FAMILIES)
def test_maxmin_has_the_best_minimum_and_utilitarian_the_best_total(family):
    build = FAMILIES[family]
    for seed in range(2):
        term, fair, info = solved(build, seed, 5, "maxmin")
        floor = term.modelled()
        assert fair.min() == pytest.approx(floor, abs=1e-7)
        _, best, _ = solved(build, seed, 5, "utilitarian")
        _, gini_min, _ = solved(build, seed, 5, "gini", mean=0.9 * floor)
        outcomes = [solved(build, seed, 5, name, **kw)[1] for name, kw in OTHERS] + [gini_min]
        for levels in outcomes:
            assert levels.min() <= floor + 1e-7
            assert levels.sum() <= best.sum() + 1e-7


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("n", (3, 6))
def test_leximin_dominates_maxmin(family, n):
    for seed in range(3):
        _, fair, _ = solved(FAMILIES[family], seed, n, "maxmin")
        _, lexi, _ = solved(FAMILIES[family], seed, n, "leximin")
        assert lexi.min() == pytest.approx(fair.min(), abs=1e-5)
        assert lex_at_least(lexi, fair)


def test_leximin_by_hand_water_filling():
    # caps 1, 2, 10 and a budget of 6: leximin is (1, 2, 3); max-min only knows the floor 1
    m = pyo.ConcreteModel()
    cap = [1.0, 2.0, 10.0]
    m.x = pyo.Var(range(3), bounds=lambda m, g: (0, cap[g]))
    m.budget_not_exceeded = pyo.Constraint(expr=sum(m.x.values()) <= 6)
    result = lx.solve_leximin(m, {g: m.x[g] for g in range(3)}, EXACT)
    assert result.status == "optimal"
    assert [result.levels[g] for g in range(3)] == pytest.approx([1, 2, 3], abs=1e-5)
    assert [r["method"] for r in result.rounds] == ["saturation"] * 3
    assert result.floors == pytest.approx({0: 1.0, 1: 2.0, 2: 3.0}, abs=1e-5)


def test_leximin_out_of_time_keeps_the_last_plan_found(monkeypatch):
    """A later solve that stops without a plan (out of time) loads nothing: the sequence reports
    time_limit with the plan of the last solve that found one, and every solve after the first
    starts from that plan."""
    from dataclasses import replace as with_

    from allocator.solving import solve as seam

    m = pyo.ConcreteModel()
    cap = [1.0, 2.0, 10.0]
    m.x = pyo.Var(range(3), bounds=lambda m, g: (0, cap[g]))
    m.budget_not_exceeded = pyo.Constraint(expr=sum(m.x.values()) <= 6)
    calls = []

    def second_runs_out(model, options, start=None, **kw):
        calls.append(start)
        r = seam.solve(model, options, start=start, **kw)
        if len(calls) == 2:             # as if HiGHS had stopped with no incumbent: nothing is loaded
            for v, x in zip(m.x.values(), kept):
                v.set_value(x)
            return with_(r, status="time_limit", objective=None, has_solution=False)
        kept[:] = [v.value for v in m.x.values()]
        return r

    kept: list = []
    monkeypatch.setattr(lx, "solve", second_runs_out)
    result = lx.solve_leximin(m, {g: m.x[g] for g in range(3)}, EXACT)
    assert result.status == "time_limit" and result.result is not None and result.result.has_solution
    assert min(result.levels.values()) == pytest.approx(1.0, abs=1e-6)        # the first round's max-min plan
    assert calls[0] is None and calls[1] is not None and len(calls[1]) > 0


def test_a_leximin_stopped_in_a_round_holds_its_floors_for_the_next_solve(monkeypatch):
    """Caps 1, 2, 10, budget 6: round 1 fixes group 0 at 1. Round 2 stops; a tie-break that favours
    group 2 may not take group 1 below the floor 1 the free groups had reached."""
    from dataclasses import replace as with_

    from allocator.solving import solve as seam

    m = pyo.ConcreteModel()
    cap = [1.0, 2.0, 10.0]
    m.x = pyo.Var(range(3), bounds=lambda m, g: (0, cap[g]))
    m.budget_not_exceeded = pyo.Constraint(expr=sum(m.x.values()) <= 6)

    def round_two_stops(model, options, start=None, **kw):
        b = model.equity_leximin
        if b.level_at_least_fixed[0].active and b.raise_floor.active:
            return with_(seam.solve(model, options, start=start, **kw), status="time_limit", has_solution=False)
        return seam.solve(model, options, start=start, **kw)

    monkeypatch.setattr(lx, "solve", round_two_stops)
    result = lx.solve_leximin(m, {g: m.x[g] for g in range(3)}, EXACT)
    assert result.status == "time_limit" and result.floors == pytest.approx({0: 1.0}, abs=1e-5)
    m.favour_group_2 = pyo.Objective(expr=m.x[2], sense=pyo.maximize)
    assert seam.solve(m, EXACT).status == "optimal"
    assert min(pyo.value(v) for v in m.x.values()) >= 1.0 - 1e-5
    assert pyo.value(m.x[2]) == pytest.approx(4.0, abs=1e-5)


def test_leximin_shares_one_time_limit():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(3), bounds=(0, 1))
    result = lx.solve_leximin(m, {g: m.x[g] for g in range(3)}, SolveOptions(time_limit=1e-9, threads=1))
    assert result.status == "time_limit" and result.solves <= 1


def test_leximin_picks_the_efficient_maxmin_plan():
    # u ∈ [0,1]³, u_1 + u_2 ≤ 1: every (½, ½, u_3) with u_3 ∈ [½, 1] is max-min; leximin is (½, ½, 1)
    m = pyo.ConcreteModel()
    m.u = pyo.Var(range(3), bounds=(0, 1))
    m.first_two_share_one = pyo.Constraint(expr=m.u[0] + m.u[1] <= 1)
    result = lx.solve_leximin(m, {g: m.u[g] for g in range(3)}, EXACT)
    assert [result.levels[g] for g in range(3)] == pytest.approx([0.5, 0.5, 1.0], abs=1e-5)


def test_leximin_with_integers_where_no_group_is_blocked_alone():
    # A = 2y, B = 2(1 − y), y binary: each can rise alone, not both; C ≤ 5. Leximin sorted: (0, 2, 5)
    m = pyo.ConcreteModel()
    m.y = pyo.Var(within=pyo.Binary)
    m.z = pyo.Var(bounds=(0, 5))
    result = lx.solve_leximin(m, {"A": 2 * m.y, "B": 2 * (1 - m.y), "C": m.z}, EXACT)
    assert result.status == "optimal"
    assert result.sorted_levels == pytest.approx([0, 2, 5], abs=1e-5)
    assert result.rounds[-1]["method"] == "ordered"


# --- each linearisation against allocator.metrics ------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_linearised_gini_equals_metrics_gini(family):
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        m, levels, _ = FAMILIES[family](np.random.default_rng(seed), 5)
        weights = {g: float(w) for g, w in zip(levels, rng.uniform(0.5, 3.0, len(levels)))}
        floor_term = eq.attach(m, levels, "maxmin")
        assert solve(m, EXACT).status == "optimal"
        floor = floor_term.modelled()
        floor_term.block.deactivate()
        term = eq.attach(m, levels, "gini", weights=weights, mean=0.95 * floor)
        assert solve(m, EXACT).status == "optimal"
        x = np.array(list(term.level_values().values()))
        assert term.modelled() == pytest.approx(mx.gini(x, list(weights.values())), abs=1e-7)
        assert term.modelled() == pytest.approx(term.measured(), abs=1e-7)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("gamma", (0.02, 0.1, 0.3))
def test_gini_bound_is_respected_and_binds(family, gamma):
    for seed in range(2):
        m, levels, _ = FAMILIES[family](np.random.default_rng(seed), 5)
        eq.attach(m, levels, "utilitarian")
        free = solve(m, EXACT)
        unbounded_gini = mx.gini(np.maximum([pyo.value(e) for e in levels.values()], 0))
        bound = eq.attach(m, levels, "gini", as_="constraint", bound=gamma)
        assert solve(m, EXACT).status == "optimal"
        assert bound.measured() <= gamma + 1e-7
        total = sum(bound.level_values().values())
        assert total <= free.objective + 1e-7
        if 1e-6 < total < free.objective - 1e-6:   # the bound cost something, so it binds (convex; Gini undefined at 0)
            assert unbounded_gini > gamma
            assert bound.measured() == pytest.approx(gamma, abs=1e-6)


def test_gini_bound_frontier_is_monotone():
    m, levels, _ = resource_model(np.random.default_rng(7), 6)
    eq.attach(m, levels, "utilitarian")
    bound = eq.attach(m, levels, "gini", as_="constraint", bound=0.5)
    totals = []
    for gamma in (0.5, 0.3, 0.2, 0.1, 0.05, 0.0):
        bound.set_bound(gamma)
        assert solve(m, EXACT).status == "optimal"
        assert bound.measured() <= gamma + 1e-7
        totals.append(sum(bound.level_values().values()))
    assert all(b <= a + 1e-9 for a, b in zip(totals, totals[1:]))


@pytest.mark.parametrize("family", FAMILIES)
def test_owa_with_equal_weights_is_utilitarian(family):
    for seed in range(3):
        term, best, _ = solved(FAMILIES[family], seed, 5, "utilitarian")
        owa_term, _, _ = solved(FAMILIES[family], seed, 5, "owa", owa_weights=[1.0] * 5)
        assert owa_term.modelled() == pytest.approx(term.modelled(), abs=1e-7)
        worst, _, _ = solved(FAMILIES[family], seed, 5, "owa", owa_weights=[1.0, 0, 0, 0, 0])
        floor, _, _ = solved(FAMILIES[family], seed, 5, "maxmin")
        assert worst.modelled() == pytest.approx(floor.modelled(), abs=1e-7)


@pytest.mark.parametrize("family", FAMILIES)
def test_owa_default_is_sen_welfare_and_matches_metrics(family):
    for seed in range(3):
        term, x, _ = solved(FAMILIES[family], seed, 6, "owa")
        assert term.modelled() == pytest.approx(term.measured(), abs=1e-7)
        assert term.modelled() == pytest.approx(x.mean() * (1 - mx.gini(x)), abs=1e-7)


def test_owa_as_a_constraint_holds():
    m, levels, _ = image_model(np.random.default_rng(3), 5)
    eq.attach(m, levels, "utilitarian")
    owa = eq.attach(m, levels, "owa", as_="constraint", bound=0.15, owa_weights=[0.4, 0.3, 0.2, 0.1, 0.0])
    assert solve(m, EXACT).status == "optimal"
    assert owa.measured() >= 0.15 - 1e-7


# --- α-fairness: the stated error bound ------------------------------------------------------------------

def alpha_fair_exact(a, w, budget, top, alpha):
    """max Σ_g w_g φ(a_g x_g), Σ x_g ≤ B, 0 ≤ x_g ≤ top/a_g: x_g = min(cap_g, (w_g a_g^{1−α}/λ)^{1/α}),
    λ by bisection (KKT of a separable concave problem)."""
    cap = top / a
    if cap.sum() <= budget:
        x = cap
    else:
        def spend(lam):
            return np.minimum(cap, (w * a ** (1 - alpha) / lam) ** (1 / alpha))
        lo, hi = 1e-12, 1e12
        for _ in range(300):
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if spend(mid).sum() > budget else (lo, mid)
        x = spend(hi)
    return mx.alpha_fair(a * x, alpha, w), a * x


@pytest.mark.parametrize("alpha", (0.5, 1.0, 2.0, 4.0))
@pytest.mark.parametrize("n", (3, 6))
def test_alpha_fair_error_within_the_stated_bound(alpha, n):
    for seed in range(3):
        rng = np.random.default_rng(seed)
        m, levels, info = resource_model(rng, n)
        w = rng.uniform(0.5, 2.0, n)
        best, fair = alpha_fair_exact(info["a"], w, info["budget"], info["top"], alpha)
        lo = 0.5 * fair.min() if alpha >= 1 else None          # below the optimum: the floor costs nothing
        term = eq.attach(m, levels, "alpha", weights=dict(enumerate(w)), alpha=alpha, lo=lo, pieces=32)
        assert solve(m, EXACT).status == "optimal"
        bound = term.report["max_error_total"]
        assert 0 < bound <= 0.02 * max(1.0, abs(best))              # 32 tangents: within 2%
        assert -1e-9 <= term.approximation_error() <= bound + 1e-9
        assert term.modelled() >= best - 1e-7                      # outer approximation: never below the optimum
        assert term.measured() >= best - bound - 1e-7               # the plan's true welfare: within the bound


def test_alpha_error_bound_is_the_true_maximum_gap():
    for alpha, lo, hi in ((0.5, 0.0, 10.0), (1.0, 0.01, 10.0), (2.0, 0.1, 10.0), (3.0, 0.5, 2.0)):
        grid = mx.tangent_points(lo, hi, alpha, 12)
        stated = mx.tangent_error(grid, lo, hi, alpha)
        x = np.linspace(max(lo, 1e-12), hi, 100001)
        gap = (mx.alpha_utility(grid, alpha)[None, :] + grid[None, :] ** -alpha * (x[:, None] - grid[None, :])).min(axis=1)
        sampled = float(np.max(gap - mx.alpha_utility(x, alpha)))
        assert sampled <= stated + 1e-12
        assert sampled >= 0.99 * stated


def test_alpha_zero_is_utilitarian():
    term, _, _ = solved(resource_model, 4, 5, "alpha", alpha=0.0)
    best, _, _ = solved(resource_model, 4, 5, "utilitarian")
    assert term.modelled() == pytest.approx(best.modelled(), abs=1e-9)
    assert term.report["max_error_total"] == 0.0


# --- range, mad, hoover ---------------------------------------------------------------------------------

@pytest.mark.parametrize("measure", ("range", "mad"))
def test_dispersion_bounds_hold_and_bind(measure):
    for seed in range(3):
        m, levels, _ = packing_model(np.random.default_rng(seed), 5)
        eq.attach(m, levels, "utilitarian")
        term = eq.attach(m, levels, measure, as_="constraint", bound=0.05)
        assert solve(m, EXACT).status == "optimal"
        assert term.measured() <= 0.05 + 1e-7


def test_mad_objective_equals_metrics_with_weights():
    m, levels, _ = resource_model(np.random.default_rng(5), 4)
    w = {0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0}
    m.first_gets_something = pyo.Constraint(expr=levels[0] >= 0.2)
    m.last_gets_little = pyo.Constraint(expr=levels[3] <= 0.1)
    term = eq.attach(m, levels, "mad", weights=w)
    assert solve(m, EXACT).status == "optimal"
    assert term.modelled() == pytest.approx(term.measured(), abs=1e-7)
    assert term.measured() > 0.01


def test_hoover_by_hand_and_both_forms():
    # resources r_g, populations (1, 1, 2): spending 4 in full, the least Hoover index is 0 at r = (1, 1, 2)
    def build():
        m = pyo.ConcreteModel()
        m.r = pyo.Var(range(3), bounds=(0, 3))
        m.spend_within_four = pyo.Constraint(expr=sum(m.r.values()) <= 4)
        return m, {g: m.r[g] for g in range(3)}

    population = {0: 1.0, 1: 1.0, 2: 2.0}
    m, r = build()
    m.first_group_gets_two = pyo.Constraint(expr=r[0] >= 2)
    term = eq.attach(m, r, "hoover", weights=population, total_resources=4.0)
    assert solve(m, EXACT).status == "optimal"
    # r_0 ≥ 2 of 4: r/R − p/P = ½ − ¼ for group 0; the rest (2) shared as ¼·4 = 1 and 1: H = ¼
    assert term.modelled() == pytest.approx(0.25, abs=1e-7)
    assert term.measured() == pytest.approx(0.25, abs=1e-7)
    for total in (4.0, None):
        m, r = build()
        m.first_group_gets_one_and_a_half = pyo.Constraint(expr=r[0] >= 1.5)
        eq.attach(m, {0: -r[0], 1: -r[1], 2: -r[2]}, "utilitarian")      # spend as little as possible
        kw = {} if total is None else {"total_resources": total}
        term = eq.attach(m, r, "hoover", weights=population, as_="constraint", bound=0.2, **kw)
        assert solve(m, EXACT).status == "optimal"
        assert term.measured() <= 0.2 + 1e-7
        if total is None:       # spending less means less equal shares: the bound binds
            assert term.measured() == pytest.approx(0.2, abs=1e-6)
            assert sum(term.level_values().values()) < 4 - 1e-6


# --- the interface ------------------------------------------------------------------------------------------

def test_objective_replaces_the_models_objective_and_constraint_keeps_it():
    m, levels, _ = resource_model(np.random.default_rng(1), 3)
    m.own = pyo.Objective(expr=pyo.quicksum(m.spend.values()), sense=pyo.minimize)
    term = eq.attach(m, levels, "maxmin", as_="constraint", bound=0.1)
    assert m.own.active and term.report.get("replaced_objectives") is None
    assert solve(m, EXACT).status == "optimal"
    assert term.measured() == pytest.approx(0.1, abs=1e-7)
    objective = eq.attach(m, levels, "utilitarian")
    assert not m.own.active and objective.report["replaced_objectives"] == ["own"]
    assert objective.block.name != term.block.name


def test_bad_requests_are_refused():
    m, levels, _ = resource_model(np.random.default_rng(1), 3)
    with pytest.raises(ValueError, match="unknown equity measure"):
        eq.attach(m, levels, "entropy")
    with pytest.raises(ValueError, match="solve_leximin"):
        eq.attach(m, levels, "leximin")
    with pytest.raises(ValueError, match="takes no parameter"):
        eq.attach(m, levels, "gini", alpha=2)
    with pytest.raises(ValueError, match="needs a finite bound"):
        eq.attach(m, levels, "gini", as_="constraint")
    with pytest.raises(ValueError, match="mean="):
        eq.attach(m, levels, "gini")
    with pytest.raises(ValueError, match="sense"):
        eq.attach(m, levels, "gini", sense="maximize")
    with pytest.raises(ValueError, match="non-increasing"):
        eq.attach(m, levels, "owa", owa_weights=[0, 0.5, 1])
    with pytest.raises(ValueError, match="lo > 0"):
        eq.attach(m, levels, "alpha", alpha=1.0)
    with pytest.raises(ValueError, match="populations"):
        eq.attach(m, levels, "hoover", as_="constraint", bound=0.1)
    with pytest.raises(ValueError, match="total_resources"):
        eq.attach(m, levels, "hoover", weights={0: 1, 1: 1, 2: 1})


# --- on a real model ------------------------------------------------------------------------------------------

def test_on_the_enforcement_model_of_the_tiny_city():
    """Leximin's lowest town ratio equals the enforcement model's own max-min (found there by
    bisection, independently); a Gini bound next to the shortfall objective holds."""
    from pathlib import Path

    from allocator.data.loader import load_instance
    from allocator.plans.make import make_plan
    from allocator.solving.run import RunOptions
    from allocator.solving import enforcement as en

    city = load_instance(Path(__file__).resolve().parent / "data" / "tiny")
    exact = SolveOptions(gap=0.0, threads=1, seed=0)
    floor = make_plan(city, RunOptions(model="enforcement", objective="maxmin"), exact).meta["objective_value"]
    options = en.enforcement_options(city, RunOptions(model="enforcement", objective="shortfall"))

    def ratios(m):
        return {t: (m.posted_staff[t] + m.pool_share[t]) / pyo.value(m.demand_officers[t]) for t in m.TOWNS}

    m = en.build_model(city, options)
    result = lx.solve_leximin(m, ratios(m), exact)
    assert result.status == "optimal"
    assert result.sorted_levels[0] == pytest.approx(floor, abs=1e-6)
    m = en.build_model(city, options)
    term = eq.attach(m, ratios(m), "gini", as_="constraint", bound=0.15)
    assert solve(m, exact).status == "optimal"
    assert term.measured() <= 0.15 + 1e-7
