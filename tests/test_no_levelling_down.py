"""No levelling down: an equity plan deploys every officer employed today, is never
Pareto-dominated by the efficient plan, and says when its measure could only improve by
lowering someone; --no-worse-than-today keeps every district at its level of today. District
levels are recomputed from the plan tables, never read from the solver."""
from __future__ import annotations

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest

from allocator.data.generate import generate_city, write_city
from allocator.data.loader import load_instance
from allocator.models.city import city_plan_levels
from allocator.models.equity import MEASURES
from allocator.plans.checks import check_plan
from allocator.plans.checks.city import today_index
from allocator.plans.make import make_plan
from allocator.plans.plan import read_plan
from allocator.solving.city import city_problem
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions
from allocator.studies.equity_bench import run_bench
from allocator.studies.equity_runs import ProblemSpec

EXACT = SolveOptions(threads=1, gap=0.0, time_limit=60)
EQUITY = [m for m in MEASURES if m != "utilitarian"]
TOL = 1e-6


@pytest.fixture(scope="module")
def city20(tmp_path_factory):
    """`allocator generate --towns 20 --seed 1`: 3 districts, 251 officers today, headcount 291."""
    return write_city(generate_city(20, 1), tmp_path_factory.mktemp("c20") / "city", "folder")


def district_levels(folder, city) -> pd.Series:
    """Enforcement coverage per district from the tables: Σ min(s_t + q_t, max(D_t, s_min)) / Σ D_t."""
    towns = pd.read_csv(folder / "town_staff.csv")
    team = math.ceil(float(city.config.norms["enforcement_min_team"]) - 1e-9)
    counted = np.minimum(towns["enforcement_staff"] + towns["pool_share"], np.maximum(towns["enforcement_demand"], team))
    by = towns["district_id"].astype(str)
    return counted.groupby(by).sum() / towns["enforcement_demand"].groupby(by).sum()


def employed(folder) -> tuple[int, int]:
    towns, pools = pd.read_csv(folder / "town_staff.csv"), pd.read_csv(folder / "district_pool.csv")
    return int(towns["enforcement_now"].sum()), int(towns["enforcement_staff"].sum() + pools["pool_staff"].sum())


def dominates(a: pd.Series, b: pd.Series) -> bool:
    """a at least as good everywhere and better somewhere."""
    return bool((a >= b - TOL).all() and (a > b + TOL).any())


@pytest.fixture(scope="module")
def bench(city20, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "b"
    frame = run_bench(city20, ProblemSpec("enforcement", by="district"), ["utilitarian", *EQUITY], out, solve_options=EXACT)
    return frame, out


def plan_dir(out, objective):
    return out / "plans" / f"objective={objective}"


@pytest.mark.parametrize("objective", EQUITY)
def test_no_enforcement_equity_plan_is_dominated_or_idle(bench, city20, objective):
    """Regression: the gini plan of this city posted 221 of the 251 officers employed today and set every
    district to 0.699 while the utilitarian plan gave them 0.961, 0.713 and 0.847."""
    frame, out = bench
    city = load_instance(city20)
    assert frame.set_index("objective").loc[objective, "status"] == "optimal"
    efficient = district_levels(plan_dir(out, "utilitarian"), city)
    fair = district_levels(plan_dir(out, objective), city)
    assert not dominates(efficient, fair), (objective, efficient.tolist(), fair.tolist())
    today, kept = employed(plan_dir(out, objective))
    assert today <= kept
    plan = read_plan(plan_dir(out, objective))
    assert plan.meta["check"]["passed"], plan.meta["check"]


@pytest.mark.parametrize("objective", EQUITY)
def test_price_of_fairness_is_recorded_against_the_efficient_plan(bench, city20, objective):
    _, out = bench
    city = load_instance(city20)
    weights = pd.read_csv(plan_dir(out, objective) / "town_staff.csv").groupby("district_id")["enforcement_demand"].sum()
    weights = weights / weights.sum()
    u_star = float((district_levels(plan_dir(out, "utilitarian"), city) * weights).sum())
    u = float((district_levels(plan_dir(out, objective), city) * weights).sum())
    fairness = json.loads((plan_dir(out, objective) / "plan.json").read_text())["equity"]["fairness"]
    assert fairness["efficient_value"] == pytest.approx(u_star, abs=1e-6)
    assert fairness["price_of_fairness"] == pytest.approx((u_star - u) / u_star, abs=1e-6)
    assert fairness["lines"][0].startswith("price of fairness:")


def test_gini_says_it_refused_to_level_down(bench):
    _, out = bench
    meta = json.loads((plan_dir(out, "gini") / "plan.json").read_text())
    fairness = meta["equity"]["fairness"]
    refused = fairness["levelled_down_refused"]
    assert refused["groups_lowered"] and refused["measure_value"] < fairness["measure_value"]
    assert any("nobody's gain" in line for line in fairness["lines"])
    t = meta["timings"]             # the sequence run again: its stages, its seconds
    assert sum(s["seconds"] for s in meta["stages"]) - 1e-9 <= t["handover_s"] + t["solve_s"] <= t["total_s"]


@pytest.mark.parametrize("objective", ["gini", "range"])
def test_city_equity_plans_are_not_dominated(tmp_path, objective):
    folder = write_city(generate_city(12, 5), tmp_path / "city", "folder")
    city = load_instance(folder)
    plans = {o: make_plan(city, RunOptions(model="city", objective=o), EXACT) for o in ("utilitarian", objective)}
    for o, plan in plans.items():
        assert plan.meta["check"]["passed"], (o, plan.meta["check"])
        t = plan.meta["timings"]           # every solve counted once: the reference, a sequence run again
        assert sum(s["seconds"] for s in plan.meta["stages"]) - 1e-9 <= t["handover_s"] + t["solve_s"] <= t["total_s"]
    index = {o: plan.tables["districts"].set_index("district_id")["service_index"] for o, plan in plans.items()}
    assert not dominates(index["utilitarian"], index[objective])
    towns, pools = plans[objective].tables["town_staff"], plans[objective].tables["district_pool"]
    assert towns["enforcement_now"].sum() <= towns["enforcement_staff"].sum() + pools["pool_staff"].sum()


def test_city_equity_bound_does_not_level_down(tmp_path):
    """A Gini bound the efficient plan misses: the plan keeps it without being dominated, or says no plan can."""
    folder = write_city(generate_city(12, 5), tmp_path / "city", "folder")
    city = load_instance(folder)
    best = make_plan(city, RunOptions(model="city", objective="utilitarian"), EXACT)
    gini = city_plan_levels(best.tables, city).measure("gini")
    bounded = make_plan(city, RunOptions(model="city", objective="utilitarian", equity_bounds=(("gini", 0.9 * gini),)), EXACT)
    if bounded.meta["status"] == "infeasible":
        assert "nobody's gain" in " ".join(bounded.meta["equity"]["fairness"]["lines"])
        return
    assert bounded.meta["check"]["passed"]
    assert city_plan_levels(bounded.tables, city).measure("gini") <= 0.9 * gini + 1e-6
    a = best.tables["districts"].set_index("district_id")["service_index"]
    b = bounded.tables["districts"].set_index("district_id")["service_index"]
    assert not dominates(a, b)


@pytest.mark.parametrize("objective", ["maxmin", "shortfall", "moves"])
def test_no_worse_than_today_holds_in_enforcement_solves(city20, tmp_path, objective):
    city = load_instance(city20)
    options = dict(target_ratio=0.7) if objective == "moves" else {}
    plan = make_plan(city, RunOptions(model="enforcement", objective=objective, no_worse_than_today=True, **options), EXACT)
    assert plan.meta["status"] == "optimal", plan.meta.get("explanation")
    towns = plan.tables["town_staff"]
    by = towns["district_id"].astype(str)
    assert ((towns["enforcement_staff"] + towns["pool_share"]).groupby(by).sum()
            >= towns["enforcement_now"].groupby(by).sum() - 1e-6).all()
    assert check_plan(plan, city).passed


def test_checker_holds_the_guard(city20):
    """A plan made with --no-worse-than-today whose tables take officers from a district fails the check."""
    city = load_instance(city20)
    plan = make_plan(city, RunOptions(model="enforcement", objective="shortfall", no_worse_than_today=True), EXACT)
    towns = plan.tables["town_staff"]
    by = towns["district_id"].astype(str)
    room = (towns["enforcement_staff"] + towns["pool_share"]).groupby(by).sum() - towns["enforcement_now"].groupby(by).sum()
    d = room.idxmin()
    i = towns.index[(by == d).to_numpy()][0]
    towns.loc[i, "pool_share"] -= room[d] + 1.0              # the district counts one officer fewer than today
    report = check_plan(plan, city)
    assert any("below their coverage today" in v for v in report.violations)


def test_no_worse_than_today_in_equity_bench(city20, tmp_path):
    city = load_instance(city20)
    out = tmp_path / "g"
    spec = ProblemSpec("enforcement", by="district", run=RunOptions(model="enforcement", no_worse_than_today=True))
    run_bench(city20, spec, ["utilitarian", "gini", "range"], out, solve_options=EXACT)
    towns = pd.read_csv(city20 / "towns.csv")
    team = math.ceil(float(city.config.norms["enforcement_min_team"]) - 1e-9)
    for objective in ("gini", "range"):
        levels = district_levels(plan_dir(out, objective), city)
        t = pd.read_csv(plan_dir(out, objective) / "town_staff.csv")
        today = np.minimum(t["enforcement_now"], np.maximum(t["enforcement_demand"], team)).groupby(
            t["district_id"].astype(str)).sum() / t["enforcement_demand"].groupby(t["district_id"].astype(str)).sum()
        assert (levels >= today - 1e-6).all(), (objective, levels.tolist(), today.tolist())
        assert read_plan(plan_dir(out, objective)).meta["check"]["passed"]           # the checker holds the guard too
    assert len(towns)


@pytest.fixture(scope="module")
def city_gini(city20):
    """The city model's gini plan on city20 without the guard."""
    return make_plan(load_instance(city20), RunOptions(model="city", objective="gini"), EXACT)


def _index(plan) -> pd.Series:
    d = plan.tables["districts"]
    return d.set_index(d["district_id"].astype(str))["service_index"].astype(float)


def test_city_guard_keeps_every_district_at_its_index_today(city20, city_gini):
    """Unguarded, the gini plan buys equality by lowering D001 below the index its resources give it today
    (0.955 against 0.984); with --no-worse-than-today no district is below today's index as the checker
    recomputes it from the instance, and the model's today levels are the checker's."""
    city = load_instance(city20)
    today = today_index(city_gini, city)
    assert (_index(city_gini) < today - 1e-3).any()
    guarded = make_plan(city, RunOptions(model="city", objective="gini", no_worse_than_today=True), EXACT)
    assert guarded.meta["status"] == "optimal", guarded.meta.get("explanation")
    assert check_plan(guarded, city).passed
    assert (_index(guarded) >= today_index(guarded, city) - TOL).all()
    modelled = pd.Series(city_problem(city, RunOptions(model="city")).today_levels)
    assert np.allclose(modelled.reindex(today.index).to_numpy(float), today.to_numpy(float), atol=1e-9)


def test_checker_holds_the_city_guard(city20, city_gini):
    """The unguarded plan, claimed as made with --no-worse-than-today, fails the check."""
    claimed = copy.deepcopy(city_gini)
    claimed.meta["options"] = {**(claimed.meta.get("options") or {}), "no_worse_than_today": True}
    report = check_plan(claimed, load_instance(city20))
    assert any("below the service index their resources give them today" in v for v in report.violations), report.violations
