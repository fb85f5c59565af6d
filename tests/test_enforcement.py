"""Enforcement staffing: optima known by hand or by enumeration, the checker, the CLI."""
from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocator import cli
from allocator.plans.checks import check_plan
from allocator.errors import InputError
from allocator.data.instance import Instance
from allocator.data.money import staff_today
from allocator.data.loader import load_instance
from allocator.plans.make import make_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions
from allocator.solving import enforcement
from allocator.data.scenarios import load_scenarios

EXACT = SolveOptions(gap=0.0, threads=1, seed=0)
TINY = Path(__file__).resolve().parent / "data" / "tiny"


# --- small cities built in memory: demand D_t = population / 1,000 ------------------------

def city(towns: list[tuple], min_team: int = 2, headcount: int | None = None, **norms) -> Instance:
    """towns: (town_id, district_id, registered, resident, migrant, enforcement_now)."""
    base = load_instance(TINY)
    frame = pd.DataFrame([{
        "town_id": t, "district_id": d, "name": t, "kind": "street", "pop_registered": reg, "pop_resident": res,
        "pop_migrant": mig, "area_km2": 1.0, "cases_per_year": 0.0, "enforcement_now": now, "x": 0.0, "y": 0.0}
        for t, d, reg, res, mig, now in towns])
    frame = frame.astype({c: base.towns[c].dtype for c in frame.columns})
    frame.index = pd.Index(frame["town_id"].tolist())
    rules = {"enforcement_per_10k": 10.0, "enforcement_per_km2": 0.0, "enforcement_per_1000_cases": 0.0,
             "enforcement_min_team": min_team, **norms}
    config = replace(base.config, headcount=headcount, norms={**base.config.norms, **rules})
    districts = base.districts.loc[sorted(set(frame["district_id"]))]     # every district has towns
    return replace(base, config=config, towns=frame, districts=districts, source="memory")


def solved(instance: Instance, **options):
    """The plan `allocator solve` would write (checked by the independent checker inside `run`)."""
    return make_plan(instance, RunOptions(model="enforcement", **options), EXACT)


def solved_directly(instance: Instance, **fixed) -> tuple[float, dict]:
    """Build, solve and extract without the run wrapper, with model options the CLI does not expose
    (level_search=False: the plain max-min MIP (6); deployment="town": the per-town form (9))."""
    run_options = {k: fixed.pop(k) for k in list(fixed) if k in RunOptions.__dataclass_fields__}
    opts = enforcement.enforcement_options(instance, RunOptions(model="enforcement", **run_options), **fixed)
    model = enforcement.build_model(instance, opts)
    result, _, _ = enforcement._solve_with_tie_break(model, opts, EXACT)
    assert result.status == "optimal", result.status
    tables = enforcement.extract(model, instance, opts)
    return enforcement.plan_objective(tables, opts), tables


def staff_of(plan) -> dict[str, int]:
    return dict(zip(plan.tables["town_staff"]["town_id"], plan.tables["town_staff"]["enforcement_staff"]))


# Case A: two districts; D = (10, 6 | 4.5), today (9, 3 | 6), 18 officers in all.
CASE_A = [("A1", "D1", 10000, 10000, 0, 9), ("A2", "D1", 6000, 6000, 0, 3), ("A3", "D2", 4500, 4500, 0, 6)]


# --- brute force over every integer posting and pool --------------------------------------

def enumerate_plans(demand, today, district, headcount, max_moves, min_team):
    """Every (s, r) within team minimum, headcount and move limit (pool officers count as moves)."""
    districts = sorted(set(district))
    for s in itertools.product(range(min_team, headcount + 1), repeat=len(demand)):
        left = headcount - sum(s)
        if left < 0:
            continue
        arrivals = sum(max(0, a - b) for a, b in zip(s, today))
        for r in itertools.product(range(left + 1), repeat=len(districts)):
            if sum(r) <= left and (max_moves is None or arrivals + sum(r) <= max_moves):
                yield s, dict(zip(districts, r)), arrivals + sum(r)


def level(s, demand, pool):
    """Highest common ratio z with Σ max(0, z·D − s) ≤ pool: fill from the lowest ratio up."""
    order = sorted(range(len(s)), key=lambda i: s[i] / demand[i])
    staff = need = 0.0
    for k, i in enumerate(order):
        staff, need = staff + s[i], need + demand[i]
        z = (pool + staff) / need
        if k + 1 == len(order) or z <= s[order[k + 1]] / demand[order[k + 1]]:
            return z


def members(district, d):
    return [i for i, x in enumerate(district) if x == d]


def best_maxmin(demand, today, district, headcount, max_moves, min_team):
    best = -1.0
    for s, r, _ in enumerate_plans(demand, today, district, headcount, max_moves, min_team):
        z = min(level([s[i] for i in members(district, d)], [demand[i] for i in members(district, d)], r[d]) for d in r)
        best = max(best, z)
    return best


def best_shortfall(demand, today, district, headcount, max_moves, min_team):
    def short(s, r):
        return sum(max(0.0, sum(max(0.0, demand[i] - s[i]) for i in members(district, d)) - r[d]) for d in r)
    return min((short(s, r) for s, r, _ in enumerate_plans(demand, today, district, headcount, max_moves, min_team)), default=math.inf)


def fewest_moves(demand, today, district, headcount, min_team, target):
    feasible = (moves for s, r, moves in enumerate_plans(demand, today, district, headcount, None, min_team)
                if all(sum(max(0.0, target * demand[i] - s[i]) for i in members(district, d)) <= r[d] + 1e-9 for d in r))
    return min(feasible, default=None)


def case_a_data():
    return [10.0, 6.0, 4.5], [9, 3, 6], ["D1", "D1", "D2"]


# --- deterministic objectives ---------------------------------------------------------------

@pytest.mark.parametrize("max_moves", [0, 1, 3, 6])
def test_maxmin_reaches_the_enumerated_optimum(max_moves):
    demand, today, district = case_a_data()
    instance = city(CASE_A, min_team=2)
    plan = solved(instance, max_moves=max_moves)
    assert plan.meta["status"] == "optimal" and plan.meta["check"]["passed"], plan.meta["check"]
    assert plan.meta["objective_value"] == pytest.approx(best_maxmin(demand, today, district, 18, max_moves, 2), abs=1e-6)


def test_maxmin_by_hand():
    """Three moves. A3 (6 today, D 4.5) can spare 2 officers keeping ratio 4/4.5; D1 holds 12 officers for
    demand 16, so with k officers from A3 its best level is (12 + k)/16 if A1 (9/10) and A2 (3/6) are evened
    out. k = 2 arrivals in A2 (A2 5) use two moves; the third makes a D1 pool of one officer from A1 (A1 8):
    A1 takes 0.75 of it, A2 0.25, level 14/16 = 0.875 < 4/4.5. k = 3 would leave A3 at 3/4.5."""
    plan = solved(city(CASE_A, min_team=2), max_moves=3)
    assert plan.meta["objective_value"] == pytest.approx(0.875, abs=1e-9)
    assert staff_of(plan) == {"A1": 8, "A2": 5, "A3": 4} and list(plan.tables["district_pool"]["pool_staff"]) == [1, 0]


def test_shortfall_reaches_the_enumerated_optimum():
    demand, today, district = case_a_data()
    for max_moves in (0, 2, 5):
        plan = solved(city(CASE_A, min_team=2), objective="shortfall", max_moves=max_moves)
        assert plan.meta["check"]["passed"], plan.meta["check"]
        assert plan.meta["objective_value"] == pytest.approx(best_shortfall(demand, today, district, 18, max_moves, 2), abs=1e-6)


@pytest.mark.parametrize("target", [0.5, 0.8, 0.85, 0.9])
def test_moves_reaches_the_enumerated_optimum(target):
    demand, today, district = case_a_data()
    plan = solved(city(CASE_A, min_team=2), objective="moves", target_ratio=target)
    fewest = fewest_moves(demand, today, district, 18, 2, target)
    if fewest is None:       # 0.9 needs ⌈14.4⌉ + ⌈4.05⌉ = 20 officers; there are 18
        assert plan.meta["status"] == "infeasible" and "needs at least 20 officers but the headcount is 18" in plan.meta["explanation"]
        return
    assert plan.meta["check"]["passed"], plan.meta["check"]
    assert plan.meta["objective_value"] == pytest.approx(fewest, abs=1e-9)
    assert plan.tables["town_staff"]["coverage_ratio"].min() >= target - 1e-6


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pops=st.lists(st.integers(1500, 6000), min_size=3, max_size=3), today=st.lists(st.integers(1, 4), min_size=3, max_size=3),
       extra=st.integers(0, 2), max_moves=st.integers(0, 4), same_district=st.booleans(), min_team=st.integers(1, 2),
       target=st.sampled_from([0.6, 0.9, 1.2]))
def test_random_small_cities_match_enumeration(pops, today, extra, max_moves, same_district, min_team, target):
    districts = ["D1", "D1", "D1"] if same_district else ["D1", "D1", "D2"]
    towns = [(f"T{i}", d, p, p, 0, n) for i, (d, p, n) in enumerate(zip(districts, pops, today))]
    headcount = max(sum(today), 3 * min_team) + extra
    instance = city(towns, min_team=min_team, headcount=headcount)
    demand = [p / 1000 for p in pops]
    for objective, brute in (("maxmin", best_maxmin), ("shortfall", best_shortfall)):
        plan = solved(instance, objective=objective, max_moves=max_moves)
        expected = brute(demand, today, districts, headcount, max_moves, min_team)
        if expected in (-1.0, math.inf):         # the team minimum needs more arrivals than moves allowed
            assert plan.meta["status"] == "infeasible" and "to arrive" in plan.meta["explanation"]
            continue
        assert plan.meta["check"]["passed"], plan.meta["check"]
        assert plan.meta["objective_value"] == pytest.approx(expected, abs=1e-6)
    if best_maxmin(demand, today, districts, headcount, max_moves, min_team) >= 0:
        plain, _ = solved_directly(instance, max_moves=max_moves, level_search=False)    # MIP (6) agrees with the bisection
        assert plain == pytest.approx(best_maxmin(demand, today, districts, headcount, max_moves, min_team), abs=1e-6)
    fewest = fewest_moves(demand, today, districts, headcount, min_team, target)
    plan = solved(instance, objective="moves", target_ratio=target)
    if fewest is None:
        assert plan.meta["status"] == "infeasible" and "headcount" in plan.meta["explanation"]
    else:
        assert plan.meta["check"]["passed"] and plan.meta["objective_value"] == pytest.approx(fewest)


def test_tie_break_uses_the_fewest_moves_among_maxmin_optima():
    demand, today, district = case_a_data()
    for max_moves in (4, 8):
        plans = list(enumerate_plans(demand, today, district, 18, max_moves, 2))
        ratio = {id(p): min(level([p[0][i] for i in members(district, d)], [demand[i] for i in members(district, d)], p[1][d])
                            for d in p[1]) for p in plans}
        best = max(ratio.values())
        fewest = min(p[2] for p in plans if ratio[id(p)] >= best - 1e-9)
        plan = solved(city(CASE_A, min_team=2), max_moves=max_moves)
        assert plan.meta["objective_value"] == pytest.approx(best, abs=1e-6)
        moves = plan.tables["town_staff"]["moves_in"].sum() + plan.tables["district_pool"]["pool_staff"].sum()
        assert moves == fewest


def test_balanced_city_keeps_everyone_in_place():
    instance = city([("A", "D1", 5000, 5000, 0, 5), ("B", "D2", 7000, 7000, 0, 7)], min_team=2, headcount=12)
    plan = solved(instance, max_moves=6)
    assert plan.meta["objective_value"] == pytest.approx(1.0)
    assert plan.tables["town_staff"]["moves_in"].sum() == 0 and plan.tables["district_pool"]["pool_staff"].sum() == 0
    hires = solved(replace(instance, config=replace(instance.config, headcount=20)), max_moves=6)
    assert hires.meta["objective_value"] == pytest.approx(10 / 7)     # six new officers: A 8 (1.6), B 10 (1.43)


def test_no_moves_means_nobody_moves_not_even_into_a_pool():
    plan = solved(city(CASE_A, min_team=2), objective="shortfall", max_moves=0)
    staff = plan.tables["town_staff"]
    assert staff["moves_in"].sum() == 0 and plan.tables["district_pool"]["pool_staff"].sum() == 0
    assert (staff["enforcement_staff"] <= staff["enforcement_now"]).all()


def test_budget_caps_posted_and_pooled_officers():
    c = city(CASE_A, min_team=2, headcount=30)       # the city budget pays today's grid workers first
    plan = solved(c, objective="shortfall", max_moves=30, budget=12.0 * 19 + staff_today(c)["grid_workers"])
    total = plan.tables["town_staff"]["enforcement_staff"].sum() + plan.tables["district_pool"]["pool_staff"].sum()
    assert total == 19      # demand is 20.5: the budget, not the headcount of 30, binds
    assert plan.meta["objective_value"] == pytest.approx(1.5, abs=1e-6)
    assert plan.meta["check"]["passed"]


# --- the population basis --------------------------------------------------------------------

def test_actual_population_moves_staff_toward_migrant_towns():
    """Equal registered populations; M has 12,000 migrants. Registered: D = (10, 10), nobody moves.
    Actual: D = (20, 10); with 20 officers the best is M 13, R 7 (ratio 0.65, three moves)."""
    towns = [("M", "D1", 10000, 8000, 12000, 10), ("R", "D2", 10000, 10000, 0, 10)]
    registered = solved(city(towns, min_team=2).with_basis("registered"), max_moves=10)
    actual = solved(city(towns, min_team=2), max_moves=10)
    assert registered.meta["basis"] == "registered" and actual.meta["basis"] == "actual"
    assert list(registered.tables["town_staff"]["enforcement_demand"]) == pytest.approx([10.0, 10.0])
    assert list(actual.tables["town_staff"]["enforcement_demand"]) == pytest.approx([20.0, 10.0])
    assert registered.meta["objective_value"] == pytest.approx(1.0) and staff_of(registered) == {"M": 10, "R": 10}
    assert actual.meta["objective_value"] == pytest.approx(0.65) and staff_of(actual) == {"M": 13, "R": 7}
    assert actual.meta["check"]["passed"] and registered.meta["check"]["passed"]


def test_basis_on_the_tiny_city_serves_new_town_better():
    """New Town (T2) has 6,000 migrants: on the actual basis its demand rises from 4.42 to 6.92 officers and
    the plan gives it more officers (posted plus pool share) than on the registered basis."""
    tiny = load_instance(TINY)
    serving = {}
    for basis in ("registered", "actual"):
        staff = solved(tiny.with_basis(basis), max_moves=6).tables["town_staff"].set_index("town_id")
        serving[basis] = staff.at["T2", "enforcement_staff"] + staff.at["T2", "pool_share"]
        assert staff.at["T2", "enforcement_demand"] == pytest.approx({"registered": 4.42, "actual": 6.92}[basis])
    assert serving["actual"] > serving["registered"] + 0.5


# --- the stochastic variant (two scenarios, by hand) ------------------------------------------

def expected_value(s, r, district, surged, p, weight, lam, alpha):
    """Expected unmet + pool cost + λ·CVaR for posting s and pools r: each district pool fills its gaps."""
    gaps = np.maximum(surged - np.array(s, float)[None, :], 0)          # scenarios × towns
    loss = sum(np.maximum(gaps[:, [i for i, x in enumerate(district) if x == d]].sum(axis=1) - r[d], 0) for d in r)
    value = p @ loss + weight * sum(r.values())
    if lam:
        tail, mass = 0.0, 1 - alpha
        for l_, q in sorted(zip(loss, p), reverse=True):
            tail, mass = tail + min(q, mass) * l_, mass - min(q, mass)
        value += lam * tail / (1 - alpha)
    return value


def two_scenario_city(tmp_path: Path) -> tuple[Instance, str]:
    """One district, B1 and B2 with D = 3 each and 4 officers today; s_min 1; headcount 8.
    Scenario busy (p 0.8): B1 doubles (D 6); storm (p 0.2): B2 triples (D 9)."""
    instance = city([("B1", "D1", 3000, 3000, 0, 4), ("B2", "D1", 3000, 3000, 0, 4)], min_team=1, headcount=8)
    file = tmp_path / "scenarios.csv"
    file.write_text("scenario,probability,town_id,multiplier\nbusy,0.8,B1,2\nstorm,0.2,B2,3\n")
    return instance, str(file)


def test_two_scenarios_by_hand(tmp_path):
    """One move allowed. (s1, s2, r) = (4, 3, 1): busy gap 2 − pool 1 → 1; storm gap 6 − 1 → 5;
    0.8·1 + 0.2·5 + 0.1·1 = 1.9. Alternatives: (4, 4, 0) → 0.8·2 + 0.2·5 = 2.6; (5, 3, 0) → 2.0;
    (3, 4, 1) → 0.8·2 + 0.2·4 + 0.1 = 2.5; (3, 5, 0) → 0.8·3 + 0.2·4 = 3.2."""
    instance, file = two_scenario_city(tmp_path)
    plan = solved(instance, scenarios=file, max_moves=1)
    assert plan.meta["objective"] == "expected" and plan.meta["check"]["passed"], plan.meta["check"]
    assert plan.meta["objective_value"] == pytest.approx(1.9, abs=1e-6)
    assert staff_of(plan) == {"B1": 4, "B2": 3} and list(plan.tables["district_pool"]["pool_staff"]) == [1]
    deploy = plan.tables["pool_deploy"].set_index(["scenario", "town_id"])
    assert deploy.loc[("busy", "B1"), "deployed"] == pytest.approx(1.0) and deploy.loc[("storm", "B2"), "unmet"] == pytest.approx(5.0)
    assert plan.meta["enforcement"]["scenarios"]["probabilities"] == [0.8, 0.2]


def test_two_scenarios_with_cvar_by_hand(tmp_path):
    """CVaR at α = 0.8 is the storm's loss (the worst 20 %). (4, 3, 1): 1.9 + 5 = 6.9;
    (3, 4, 1): losses (2, 4): 0.8·2 + 0.2·4 + 0.1 + 4 = 6.5, the optimum: the storm weighs more."""
    instance, file = two_scenario_city(tmp_path)
    plan = solved(instance, scenarios=file, max_moves=1, cvar_alpha=0.8, cvar_weight=1.0)
    assert plan.meta["check"]["passed"], plan.meta["check"]
    assert plan.meta["objective_value"] == pytest.approx(6.5, abs=1e-6)
    assert staff_of(plan) == {"B1": 3, "B2": 4}


def test_stochastic_matches_enumeration_with_cvar(tmp_path):
    instance, file = two_scenario_city(tmp_path)
    surged, p = np.array([[6.0, 3.0], [3.0, 9.0]]), np.array([0.8, 0.2])    # rows: scenarios
    for max_moves, lam, alpha in ((2, 0.0, 0.5), (2, 2.0, 0.5), (3, 1.0, 0.9)):
        best = min(expected_value(s, r, ["D1", "D1"], surged, p, 0.1, lam, alpha)
                   for s, r, _ in enumerate_plans([3, 3], [4, 4], ["D1", "D1"], 8, max_moves, 1))
        options = {"cvar_alpha": alpha, "cvar_weight": lam} if lam else {}
        plan = solved(instance, scenarios=file, max_moves=max_moves, **options)
        assert plan.meta["check"]["passed"], plan.meta["check"]
        assert plan.meta["objective_value"] == pytest.approx(best, abs=1e-6)


@pytest.mark.parametrize("cvar_alpha", [None, 0.7])
def test_district_and_town_forms_agree_with_enumeration(tmp_path, cvar_alpha):
    """Four towns in two districts, three scenarios (one calm): T1 and T2 surge in different scenarios, so a
    D1 pool officer serves both; spare headcount and a move limit of 4."""
    towns = [("T1", "D1", 3000, 3000, 0, 4), ("T2", "D1", 3000, 3000, 0, 4), ("T3", "D2", 4000, 4000, 0, 5), ("T4", "D2", 2000, 2000, 0, 3)]
    instance = city(towns, min_team=1, headcount=20)
    file = tmp_path / "s.csv"
    file.write_text("scenario,probability,town_id,multiplier\nfair,0.5,T1,2\nstorm,0.3,T2,2\nstorm,0.3,T3,1.5\ncalm,0.2,,\n")
    surged = np.array([[6, 3, 4, 2], [3, 6, 6, 2], [3, 3, 4, 2]], float)
    p, lam = np.array([0.5, 0.3, 0.2]), (1.0 if cvar_alpha else 0.0)
    best = min(expected_value(s, r, ["D1", "D1", "D2", "D2"], surged, p, 0.1, lam, cvar_alpha)
               for s, r, _ in enumerate_plans([3, 3, 4, 2], [4, 4, 5, 3], ["D1", "D1", "D2", "D2"], 20, 4, 1))
    options = {"scenarios": str(file), "max_moves": 4, **({"cvar_alpha": cvar_alpha} if cvar_alpha else {})}
    plan = solved(instance, **options)
    assert plan.meta["check"]["passed"], plan.meta["check"]
    assert plan.meta["objective_value"] == pytest.approx(best, abs=1e-6)
    by_town, tables = solved_directly(instance, deployment="town", **options)
    assert by_town == pytest.approx(best, abs=1e-6)
    assert tables["district_pool"]["pool_staff"].sum() > 0          # the pools matter here


def test_patterns_are_reproducible_and_documented_shape():
    tiny = load_instance(TINY)
    a, b = load_scenarios("surge:6:3", tiny.towns), load_scenarios("surge:6:3", tiny.towns)
    assert a.same_as(b) and len(a.names) == 6 and sum(a.probabilities) == pytest.approx(1.0)
    values = a.multipliers.to_numpy()
    assert ((values == 1.0) | ((values >= 1.5) & (values <= 3.0))).all() and ((values > 1).sum(axis=0) >= 1).all()
    district = load_scenarios("district-surge:2.5", tiny.towns)
    assert district.names == ("surge-D1", "surge-D2")
    assert district.multipliers.loc[["T1", "T2"], "surge-D1"].tolist() == [2.5, 2.5] and district.multipliers.at["T3", "surge-D1"] == 1.0


@pytest.mark.parametrize("text, expected", [
    ("scenario,probability,town_id,multiplier\na,0.5,T1,2\nb,0.4,T2,2\n", "sum to 0.9"),
    ("scenario,probability,town_id,multiplier\na,0.5,T1,2\na,0.6,T2,2\nb,0.5,T3,2\n", "row 3, column 'probability'"),
    ("scenario,probability,town_id,multiplier\na,0.5,T9,2\nb,0.5,T2,2\n", "row 2, column 'town_id': value 'T9': is not a town"),
    ("scenario,probability,town_id,multiplier\na,0.5,T1,-1\nb,0.5,T2,2\n", "row 2, column 'multiplier'"),
    ("scenario,probability,town_id,multiplier\na,0.5,T1,2\na,0.5,T1,3\nb,0.5,,\n", "appears twice"),
    ("scenario,probability,town\na,1,T1\n", "column 'multiplier': required column is missing"),
])
def test_bad_scenario_files_are_named_by_row_and_column(tmp_path, text, expected):
    file = tmp_path / "bad.csv"
    file.write_text(text)
    with pytest.raises(InputError) as err:
        load_scenarios(str(file), load_instance(TINY).towns)
    assert expected in str(err.value) and "bad.csv" in str(err.value)


def test_a_calm_scenario_row_may_name_no_town(tmp_path):
    file = tmp_path / "s.csv"
    file.write_text("scenario,probability,town_id,multiplier\ncalm,0.7,,\nstorm,0.3,T2,2.5\n")
    sc = load_scenarios(str(file), load_instance(TINY).towns)
    assert sc.names == ("calm", "storm") and (sc.multipliers["calm"] == 1).all() and sc.multipliers.at["T2", "storm"] == 2.5


@pytest.mark.parametrize("options, fragment", [
    ({"objective": "maxmin", "scenarios": "surge:3"}, "need --objective expected"),
    ({"cvar_alpha": 0.9}, "give --scenarios"),
    ({"target_ratio": 0.9}, "applies to --objective moves"),
    ({"scenarios": "surge:x"}, "surge:N"),
    ({"scenarios": "no-such-file.csv"}, "no such file"),
])
def test_inconsistent_options_are_bad_input(options, fragment):
    with pytest.raises(InputError, match=fragment):
        solved(load_instance(TINY), **options)


# --- the independent checker -----------------------------------------------------------------

def tampered(plan, table, change):
    """The plan with one table changed: in place, or replaced when `change` returns a new frame."""
    tables = {k: v.copy() for k, v in plan.tables.items()}
    changed = change(tables[table])
    if isinstance(changed, pd.DataFrame):
        tables[table] = changed
    return type(plan)(dict(plan.meta), tables)


def set_cell(row, column, value):
    def change(frame):
        frame[column] = frame[column].astype(float)
        frame.loc[frame.index[row], column] = value(frame.loc[frame.index[row], column]) if callable(value) else value
    return change


def with_more_share(row, extra):
    """Give a town more pool share and keep every derived column consistent, so only the pool limit breaks."""
    def change(tables):
        towns = tables["town_staff"]
        towns.loc[towns.index[row], "pool_share"] += extra
        towns["coverage_ratio"] = (towns["enforcement_staff"] + towns["pool_share"]) / towns["enforcement_demand"]
        by = towns.groupby("district_id")["coverage_ratio"]
        tables["districts"]["mean_coverage"] = tables["districts"]["district_id"].map(by.mean())
        tables["districts"]["min_coverage"] = tables["districts"]["district_id"].map(by.min())
    return change


def test_checker_fails_tampered_plans():
    tiny = load_instance(TINY)
    plan = solved(tiny, max_moves=4)
    assert check_plan(plan, tiny).passed
    cases = {
        "posted = today + moves_in − moves_out": ("town_staff", set_cell(0, "enforcement_staff", lambda v: v + 1)),
        "(headcount)": ("town_staff", lambda t: (set_cell(1, "enforcement_staff", lambda v: v + 1)(t), set_cell(1, "moves_in", lambda v: v + 1)(t))),
        "fewer than the team minimum": ("town_staff", lambda t: (set_cell(2, "enforcement_staff", 4)(t), set_cell(2, "moves_out", 1)(t))),
        "not whole numbers": ("town_staff", set_cell(0, "enforcement_staff", lambda v: v + 0.5)),
        "enforcement_demand differs": ("town_staff", set_cell(1, "enforcement_demand", 5.0)),
        "coverage_ratio is not": ("town_staff", set_cell(1, "coverage_ratio", lambda v: v + 0.1)),
        "missing town_id": ("town_staff", lambda t: t.drop(index=t.index[2])),
        "moves (arrivals in towns + pool officers)": ("district_pool", set_cell(1, "pool_staff", 3)),
        "districts.spend": ("districts", set_cell(0, "spend", lambda v: v - 12)),
    }
    for fragment, (table, change) in cases.items():
        violations = check_plan(tampered(plan, table, change), tiny).violations
        assert any(fragment in v for v in violations), (fragment, violations)
    tables = {k: v.copy() for k, v in plan.tables.items()}
    with_more_share(0, 0.5)(tables)
    violations = check_plan(type(plan)(dict(plan.meta), tables), tiny).violations
    assert len(violations) == 1 and violations[0].startswith("pool shares in district D1"), violations
    claim = type(plan)({**plan.meta, "objective_value": plan.meta["objective_value"] + 0.01}, plan.tables)
    assert any("objective" in v for v in check_plan(claim, tiny).violations)


def test_checker_fails_understated_unmet_demand(tmp_path):
    instance, file = two_scenario_city(tmp_path)
    plan = solved(instance, scenarios=file, max_moves=1, cvar_alpha=0.8)
    assert check_plan(plan, instance).passed
    unmet = plan.tables["pool_deploy"]["unmet"]
    worst = int(np.argmax(unmet.to_numpy()))
    assert not check_plan(tampered(plan, "pool_deploy", set_cell(worst, "unmet", 0.0)), instance).passed
    assert not check_plan(tampered(plan, "pool_deploy", set_cell(0, "deployed", 2.0)), instance).passed
    moved = {**plan.meta, "enforcement": {**plan.meta["enforcement"], "scenarios": {
        **plan.meta["enforcement"]["scenarios"], "probabilities": [0.5, 0.5]}}}
    assert not check_plan(type(plan)(moved, plan.tables), instance).passed


# --- infeasible: said in words ----------------------------------------------------------------

@pytest.mark.parametrize("options, words", [
    ({"headcount": 10}, "a team of at least 5 in each of 3 towns needs 15 officers but the headcount is 10"),
    ({"budget": 150.0}, "a team of at least 5 in each of 3 towns costs 180"),
    ({"max_moves": 0}, "bringing 1 town with fewer than 5 officers up to a team of 5 needs 1 officer to arrive, but no moves are allowed"),
    ({"objective": "moves", "target_ratio": 1.5}, "reaching ratio 1.5 everywhere needs at least 28 officers but the headcount is 17"),
    ({"objective": "moves", "target_ratio": 0.8, "max_moves": 1}, "reaching ratio 0.8 everywhere needs at least 2 moves but only 1 is allowed"),
])
def test_infeasible_runs_explain_themselves(options, words):
    plan = solved(load_instance(TINY), **options)
    assert plan.meta["status"] == "infeasible" and not plan.tables
    assert words in plan.meta["explanation"]


def test_target_headcount_figure_is_the_enumerated_minimum():
    """Officers for ratio 1.5 in the tiny city: D1 needs ⌈1.5·(7.45 + 6.92)⌉ = 22, D2 ⌈max(5, 1.5·3.65)⌉ = 6: 28."""
    tiny = load_instance(TINY)
    opts = enforcement.enforcement_options(tiny, RunOptions(model="enforcement", objective="moves", target_ratio=1.5))
    assert enforcement.officers_for_target(tiny, opts) == math.ceil(1.5 * (7.45 + 6.92)) + math.ceil(1.5 * 3.65)


# --- command line ----------------------------------------------------------------------------

def test_cli_solve_then_check_then_tamper(tmp_path):
    runner = CliRunner()
    out = tmp_path / "plan"
    result = runner.invoke(cli.main, ["solve", str(TINY), "--model", "enforcement", "--objective", "shortfall",
                                      "--max-moves", "3", "--threads", "1", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["status"] == "optimal" and answer["check_passed"] and answer["objective_name"] == "shortfall"
    result = runner.invoke(cli.main, ["check", str(out), str(TINY)])
    assert result.exit_code == 0 and "check: passed" in result.output
    staff = pd.read_csv(out / "town_staff.csv")
    staff.loc[0, "enforcement_staff"] += 1
    staff.to_csv(out / "town_staff.csv", index=False)
    result = runner.invoke(cli.main, ["check", str(out), str(TINY)])
    assert result.exit_code == 5 and "FAILED" in result.output


def test_cli_scenarios_pick_the_expected_objective(tmp_path):
    out = tmp_path / "plan"
    result = CliRunner().invoke(cli.main, ["solve", str(TINY), "--model", "enforcement", "--scenarios", "district-surge",
                                           "--cvar", "0.5", "--max-moves", "3", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["objective_name"] == "expected"
    assert CliRunner().invoke(cli.main, ["check", str(out), str(TINY)]).exit_code == 0
    assert len(pd.read_csv(out / "pool_deploy.csv")) == 2 * 3


def test_cli_impossible_headcount_exits_3_with_the_reason(tmp_path):
    result = CliRunner().invoke(cli.main, ["solve", str(TINY), "--model", "enforcement", "--headcount", "12",
                                           "--out", str(tmp_path / "plan")])
    assert result.exit_code == 3
    assert "needs 15 officers but the headcount is 12" in result.output


@pytest.mark.parametrize("objective", ["maxmin", "shortfall"])
def test_no_officer_is_released_when_keeping_them_costs_nothing(tiny_dir, objective):
    """Tiny city: 17 officers today, headcount 17. Max-min moves one officer from T1 to T2;
    nobody need leave the service, so the plan keeps all 17 (moves out = moves in)."""
    city = load_instance(tiny_dir)
    plan = make_plan(city, RunOptions(model="enforcement", objective=objective), SolveOptions(threads=1, gap=0.0))
    towns = plan.tables["town_staff"]
    pools = plan.tables["district_pool"]["pool_staff"].sum()
    assert towns["enforcement_staff"].sum() + pools == towns["enforcement_now"].sum() == 17
    assert towns["moves_out"].sum() == towns["moves_in"].sum() + pools
    assert check_plan(plan, city).passed
