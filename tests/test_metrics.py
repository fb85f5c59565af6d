"""Equity measures in numpy: values by hand, identities, invariances; the levels of a plan."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocator import metrics as mx
from allocator.plans.levels import plan_levels
from allocator.data.loader import load_instance
from allocator.plans.plan import Plan

TINY = Path(__file__).resolve().parent / "data" / "tiny"

levels = st.lists(st.floats(0.0, 100.0, allow_nan=False, allow_subnormal=False), min_size=1, max_size=12)
positive_levels = st.lists(st.floats(0.01, 100.0, allow_nan=False), min_size=1, max_size=12)


# --- values by hand ------------------------------------------------------------------------

def test_gini_by_hand():
    # |differences| of 1,2,3,4 over ordered pairs sum to 20; mean 2.5; 20 / (2·16·2.5) = 0.25
    assert mx.gini([1, 2, 3, 4]) == pytest.approx(0.25)
    assert mx.gini([3, 3, 3]) == 0.0
    for n in (2, 3, 7):
        assert mx.gini([5.0] + [0.0] * (n - 1)) == pytest.approx((n - 1) / n)


def test_theil_by_hand():
    # x = (1, 3), μ = 2: T = ½ [½ ln ½ + 1.5 ln 1.5]
    assert mx.theil([1, 3]) == pytest.approx(0.5 * (0.5 * math.log(0.5) + 1.5 * math.log(1.5)))
    assert mx.theil([2, 2]) == 0.0
    assert mx.theil([4, 0, 0, 0]) == pytest.approx(math.log(4))


def test_theil_decomposition_by_hand():
    between, within = mx.theil_decomposition([1, 1, 3, 3], ["a", "a", "b", "b"])
    assert within == pytest.approx(0.0, abs=1e-15)
    assert between == pytest.approx(mx.theil([1, 3]))
    between, within = mx.theil_decomposition([1, 3, 1, 3], ["a", "a", "b", "b"])
    assert between == pytest.approx(0.0, abs=1e-15)
    assert within == pytest.approx(mx.theil([1, 3]))


def test_atkinson_by_hand():
    # x = (1, 4), mean 2.5: geometric mean 2 (ε = 1), harmonic mean 1.6 (ε = 2)
    assert mx.atkinson([1, 4], 1.0) == pytest.approx(1 - 2 / 2.5)
    assert mx.atkinson([1, 4], 2.0) == pytest.approx(1 - 1.6 / 2.5)
    assert mx.atkinson([1, 4], 0.5) == pytest.approx(1 - ((1 + 2) / 2) ** 2 / 2.5)
    assert mx.atkinson([1, 4, 9], 0.0) == 0.0
    assert mx.atkinson([1, 0], 1.0) == 1.0


def test_cv_jain_min_max_range_mad_by_hand():
    assert mx.cv([1, 3]) == pytest.approx(0.5)
    assert mx.jain([1, 3]) == pytest.approx(16 / 20)
    assert mx.jain([2, 2, 2]) == 1.0
    assert mx.jain([0, 0, 0, 5]) == pytest.approx(1 / 4)
    assert mx.min_max_ratio([2, 4, 8]) == pytest.approx(0.25)
    assert mx.value_range([2, 4, 8]) == pytest.approx(6)
    assert mx.mad([1, 3]) == pytest.approx(1.0)
    # weights (3, 1): μ = 1.5, MAD = (3·0.5 + 1·1.5) / 4
    assert mx.mad([1, 3], [3, 1]) == pytest.approx(0.75)


def test_palma_by_hand():
    # 1..10: the top tenth holds 10, the bottom four tenths 1+2+3+4 = 10
    assert mx.palma(np.arange(1, 11)) == pytest.approx(1.0)
    assert mx.palma([5, 5, 5]) == pytest.approx(0.25)
    # 9 persons at 1 and 1 person at 10: bottom 40% hold 4, top 10% hold 10
    assert mx.palma([1, 10], [9, 1]) == pytest.approx(10 / 4)
    assert mx.palma([0, 0, 0, 0, 1]) == math.inf


def test_hoover_owa_utilitarian_by_hand():
    assert mx.hoover([30, 10], [50, 50]) == pytest.approx(0.5 * (0.25 + 0.25))
    assert mx.hoover([2, 4, 6], [1, 2, 3]) == pytest.approx(0.0, abs=1e-15)
    assert mx.owa([3, 1, 2], [0.5, 0.3, 0.2]) == pytest.approx(0.5 * 1 + 0.3 * 2 + 0.2 * 3)
    assert mx.utilitarian([1, 2], [3, 4]) == pytest.approx(11)
    assert mx.alpha_fair([1, math.e], 1.0, [2, 1]) == pytest.approx(1.0)
    assert mx.alpha_fair([4, 9], 0.5) == pytest.approx(2 * 2 + 2 * 3)
    assert mx.alpha_fair([0, 1], 2.0) == -math.inf


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        mx.gini([1, -1])
    with pytest.raises(ValueError):
        mx.gini([1, 2], [1])
    with pytest.raises(ValueError):
        mx.theil([1, np.nan])
    with pytest.raises(ValueError):
        mx.cv([1, 2], [0, 0])
    with pytest.raises(ValueError):
        mx.atkinson([1, 2], -1)


# --- identities and invariances --------------------------------------------------------------

def _replicated(x, w):
    return np.repeat(np.asarray(x, float), np.asarray(w, int))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 50.0, allow_nan=False, allow_subnormal=False), st.integers(1, 5)), min_size=1, max_size=8))
def test_weighted_equals_replicated(pairs):
    x = [p[0] for p in pairs]
    w = [p[1] for p in pairs]
    r = _replicated(x, w)
    for f in (mx.gini, mx.theil, mx.cv, mx.mad, mx.palma, mx.utilitarian):
        assert f(x, w) == pytest.approx(f(r), rel=1e-9, abs=1e-12), f.__name__
    for eps in (0.5, 1.0, 2.0):
        assert mx.atkinson(x, eps, w) == pytest.approx(mx.atkinson(r, eps), rel=1e-9, abs=1e-12)
    if sum(x) > 0:
        assert mx.hoover(np.multiply(x, w), w) == pytest.approx(mx.hoover(r, np.ones(len(r))), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(levels, st.floats(0.01, 1000.0))
def test_scale_invariance(x, k):
    y = np.asarray(x) * k
    for f in (mx.gini, mx.theil, mx.cv, mx.jain, mx.palma):
        assert f(y) == pytest.approx(f(x), rel=1e-9, abs=1e-12), f.__name__


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 50.0, allow_nan=False, allow_subnormal=False), st.sampled_from("abc"), st.floats(0.1, 5.0)),
                min_size=1, max_size=10))
def test_theil_decomposes_exactly(rows):
    x, g, w = zip(*rows)
    between, within = mx.theil_decomposition(x, g, w)
    assert between + within == pytest.approx(mx.theil(x, w), rel=1e-9, abs=1e-12)
    assert between >= -1e-12 and within >= -1e-12


@settings(max_examples=60, deadline=None)
@given(levels)
def test_bounds_and_equal_values(x):
    n = len(x)
    assert -1e-12 <= mx.gini(x) <= (n - 1) / n + 1e-12
    assert 1 / n - 1e-12 <= mx.jain(x) <= 1 + 1e-12
    assert 0 <= mx.atkinson(x, 0.5) <= 1
    assert mx.atkinson(x, 0.0) == 0.0
    same = [x[0]] * n
    assert mx.gini(same) == 0 and mx.theil(same) == 0 and mx.cv(same) == 0 and mx.jain(same) == 1


@settings(max_examples=60, deadline=None)
@given(positive_levels)
def test_gini_welfare_weights_give_mean_times_one_minus_gini(x):
    v = mx.gini_welfare_weights(len(x))
    assert v.sum() == pytest.approx(1.0)
    assert mx.owa(x, v) == pytest.approx(np.mean(x) * (1 - mx.gini(x)), rel=1e-9, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(positive_levels)
def test_atkinson_is_one_minus_equivalent_over_mean(x):
    # ε = 2: the equally distributed equivalent is the harmonic mean
    harmonic = len(x) / sum(1 / v for v in x)
    assert mx.atkinson(x, 2.0) == pytest.approx(1 - harmonic / np.mean(x), rel=1e-9, abs=1e-12)


# --- equity_table --------------------------------------------------------------------------------

def test_equity_table_keys_and_values():
    x = pd.Series([1.0, 2.0, 3.0, 4.0], index=list("abcd"))
    table = mx.equity_table(x)
    assert tuple(table) == mx.EQUITY_KEYS
    assert table["mean"] == pytest.approx(2.5)
    assert table["gini"] == pytest.approx(0.25)
    assert table["min_max"] == pytest.approx(0.25)
    assert table["range"] == pytest.approx(3.0)
    with_r = mx.equity_table(x, resources=pd.Series([1, 1, 1, 1], index=list("abcd")))
    assert tuple(with_r) == mx.EQUITY_KEYS + ("hoover",)
    assert with_r["hoover"] == pytest.approx(0.0, abs=1e-15)


def test_equity_table_aligns_weights_and_drops_missing_levels():
    x = pd.Series([1.0, np.nan, 3.0], index=["a", "b", "c"])
    w = pd.Series([1.0, 9.0, 3.0], index=["c", "b", "a"])      # another order
    table = mx.equity_table(x, w)
    # a: level 1 weight 3, c: level 3 weight 1 → mean 1.5
    assert table["mean"] == pytest.approx(1.5)
    assert table["gini"] == pytest.approx(mx.gini([1, 3], [3, 1]))
    assert table["min"] == 1.0 and table["max"] == 3.0


# --- plan_levels -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny():
    return load_instance(TINY)


def _enforcement_tables() -> dict[str, pd.DataFrame]:
    return {
        "town_staff": pd.DataFrame({
            "town_id": ["T1", "T2", "T3"], "district_id": ["D1", "D1", "D2"], "professionals": np.nan,
            "enforcement_now": [8, 4, 5], "enforcement_staff": [6, 5, 5], "enforcement_demand": [7.45, 6.92, 3.65],
            "pool_share": [1.0, 1.0, 0.0], "coverage_ratio": [7 / 7.45, 6 / 6.92, 5 / 3.65],
            "moves_in": [0, 1, 0], "moves_out": [2, 0, 0]}),
        "district_pool": pd.DataFrame({"district_id": ["D1", "D2"], "pool_staff": [2, 0]}),
    }


def _grid_tables() -> dict[str, pd.DataFrame]:
    return {
        "grid_staff": pd.DataFrame({
            "grid_id": [f"G{k}" for k in range(1, 7)], "town_id": ["T1", "T1", "T2", "T2", "T3", "T3"],
            "district_id": ["D1"] * 4 + ["D2"] * 2, "fulltime": [1] * 6, "parttime": [1, 0, 0, 0, 0, 0],
            "pro_hours": 0.0, "workload_hours": [1810, 1635, 1710, 1580, 870, 805],
            "unmet_hours": [181, 0, 0, 158, 0, 80.5]}),
        "town_staff": pd.DataFrame({
            "town_id": ["T1", "T2", "T3"], "district_id": ["D1", "D1", "D2"], "professionals": [1, 1, 0],
            "enforcement_now": np.nan, "enforcement_staff": np.nan, "enforcement_demand": np.nan,
            "pool_share": np.nan, "coverage_ratio": [0.9, 0.9, 0.9], "moves_in": np.nan, "moves_out": np.nan}),
    }


def _facility_tables() -> dict[str, pd.DataFrame]:
    return {
        "coverage": pd.DataFrame({
            "node_id": ["G1", "G2", "G3", "G5", "G6", "G1"],
            "service": ["health"] * 5 + ["childcare"], "demand": [100, 100, 50, 40, 0, 10],
            "covered": [1, 0, 1, 0, 1, 1], "nearest_minutes": 1.0, "assigned_site": None}),
        "facilities": pd.DataFrame({
            "site_id": ["S1", "S2", "S3"], "service": "health", "town_id": ["T1", "T2", "T3"],
            "district_id": ["D1", "D1", "D2"], "existing": [1, 0, 0], "open": [1, 1, 0]}),
    }


def _plan(model: str, tables: dict) -> Plan:
    return Plan({"model": model, "status": "optimal", "basis": "actual"}, tables)


def test_plan_levels_enforcement(tiny):
    plan = _plan("enforcement", _enforcement_tables())
    towns = plan_levels(plan, tiny, by="town")
    assert list(towns.columns) == ["enforcement", "weight", "resources"]
    assert towns["enforcement"].to_numpy() == pytest.approx([7 / 7.45, 6 / 6.92, 5 / 3.65])
    assert towns["weight"].to_numpy() == pytest.approx([10000, 10000, 3500])      # resident + migrant
    assert towns["resources"].to_numpy() == pytest.approx([12 * 7, 12 * 6, 12 * 5])  # salary 12 × (staff + share)
    districts = plan_levels(plan, tiny)
    assert districts["enforcement"].to_numpy() == pytest.approx([13 / 14.37, 5 / 3.65])
    assert districts["weight"].to_numpy() == pytest.approx([20000, 3500])
    assert districts["resources"].to_numpy() == pytest.approx([12 * 13, 12 * 5])   # posted + district pool


def test_plan_levels_weight_follows_the_plans_basis(tiny):
    plan = _plan("enforcement", _enforcement_tables())
    plan.meta["basis"] = "registered"
    assert plan_levels(plan, tiny, by="town")["weight"].to_numpy() == pytest.approx(
        tiny.towns["pop_registered"].to_numpy(float))


def test_plan_levels_grid(tiny):
    frame = plan_levels(_plan("grid", _grid_tables()), tiny, by="town")
    assert list(frame.columns) == ["grid", "weight", "resources"]
    assert frame["grid"].to_numpy() == pytest.approx([1 - 181 / 3445, 1 - 158 / 3290, 1 - 80.5 / 1675])
    # full-time 7, part-time 1.2, professional 10 (tiny's salaries)
    assert frame["resources"].to_numpy() == pytest.approx([2 * 7 + 1.2 + 10, 2 * 7 + 10, 2 * 7])
    districts = plan_levels(_plan("grid", _grid_tables()), tiny)
    assert districts["grid"].to_numpy() == pytest.approx([1 - 339 / 6735, 1 - 80.5 / 1675])


def test_plan_levels_facilities_and_several_kinds(tiny):
    frame = plan_levels(_plan("facilities", _facility_tables()), tiny, by="town")
    # T1: (100 + 10) / 210; T2: only G3, 50 / 50; T3: 0 / 40 (G6 has no demand)
    assert frame["facilities"].to_numpy() == pytest.approx([110 / 210, 1.0, 0.0])
    # S1 existing: its running cost is committed, not spend; S2 new: 300 + 40; S3 closed
    assert frame["resources"].to_numpy() == pytest.approx([0, 340, 0])
    both = plan_levels(_plan("city", {**_enforcement_tables(), **_facility_tables()}), tiny)
    assert list(both.columns) == ["enforcement", "facilities", "weight", "resources"]
    assert both["facilities"].to_numpy() == pytest.approx([160 / 260, 0.0])
    assert both["resources"].to_numpy() == pytest.approx([12 * 13 + 340, 12 * 5])


def test_plan_levels_group_without_demand_is_nan(tiny):
    tables = _facility_tables()
    tables["coverage"] = tables["coverage"][tables["coverage"]["node_id"].isin(["G1", "G2"])]
    frame = plan_levels(_plan("facilities", tables), tiny, by="town")
    assert frame["facilities"].isna().tolist() == [False, True, True]
    table = mx.equity_table(frame["facilities"], frame["weight"])
    assert table["min"] == table["max"] == pytest.approx(110 / 210)


@pytest.mark.parametrize("model", ["enforcement", "grid", "facilities"])
def test_plan_levels_of_solved_plans_agree_with_their_tables(tiny, model):
    from allocator.plans.make import make_plan
    from allocator.solving.run import RunOptions
    from allocator.solving.solve import SolveOptions

    plan = make_plan(tiny, RunOptions(model=model, budget=None if model == "enforcement" else 500.0),
               SolveOptions(time_limit=30, threads=1))
    assert plan.status == "optimal"
    districts = plan_levels(plan, tiny)
    spend = plan.tables["districts"].set_index("district_id")["spend"]
    assert districts["resources"].to_numpy() == pytest.approx(spend.reindex(districts.index).to_numpy())
    if model in ("enforcement", "grid"):
        towns = plan_levels(plan, tiny, by="town")
        ratio = plan.tables["town_staff"].set_index("town_id")["coverage_ratio"]
        assert towns[model].to_numpy() == pytest.approx(ratio.reindex(towns.index).to_numpy())
    else:
        cov_all = plan.tables["districts"].set_index("district_id")["cov_all"]
        assert districts["facilities"].to_numpy() == pytest.approx(cov_all.reindex(districts.index).to_numpy())
