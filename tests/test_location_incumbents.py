"""Every plan the location procedures find reaches the answer, and the assignment models' nearest-site
rows never turn into a false "infeasible" or "optimal"."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import allocator.models.facilities_data as facilities_data
import allocator.solving.location.assignment as assignment_procedure
import allocator.solving.location.center as center_procedure
from allocator.data.generate import generate_city
from allocator.data.money import model_budget
from allocator.models.facilities import TRAVEL_COST_PER_PERSON_MINUTE
from allocator.plans.checks import check_plan
from allocator.plans.make import make_plan
from allocator.plans.plan import read_plan, write_plan
from allocator.solving.location import solve_cflp, solve_pcenter
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions, SolveResult

ONE_THREAD = SolveOptions(threads=1)
NO_TIME = SolveOptions(threads=1)     # with `first_plan_only`: every procedure stops after its first HiGHS call


def first_plan_only(monkeypatch) -> None:
    """Each solve of a location procedure ends as a time limit reached after HiGHS found its plan: the
    solve runs, then reports `time_limit` (a real limit of a few milliseconds would now end before the
    first model is built, and a longer one races the clock)."""
    import dataclasses

    import allocator.solving.location.common as common

    real = common.solve

    def stopped(model, options, *args, **kw):
        r = real(model, options, *args, **kw)
        return dataclasses.replace(r, status="time_limit") if r.has_solution else r

    monkeypatch.setattr(common, "solve", stopped)


# --- item: a time-limited capacitated run keeps the plan HiGHS found ----------------------------

def _near_small_far_large(seed: int = 0):
    """40 nodes; 12 sites near them that hold one person each and 4 far ones that hold half of all
    demand each: each node's 10 nearest arcs (the first truncated model) cannot hold it."""
    rng = np.random.default_rng(seed)
    nodes = rng.uniform(0, 100, (40, 2))
    near = rng.uniform(40, 60, (12, 2))
    far = np.array([[-300.0, -300.0], [400.0, -300.0], [-300.0, 400.0], [400.0, 400.0]])
    sites = np.vstack([near, far])
    d = np.hypot(nodes[:, None, 0] - sites[None, :, 0], nodes[:, None, 1] - sites[None, :, 1])
    q = rng.integers(2, 6, 40).astype(float)
    cap = np.r_[np.ones(12), np.full(4, 0.5 * q.sum() + 1)]
    f = np.r_[np.ones(12), np.full(4, 10.0)]
    return d, q, cap, f


def test_time_limited_cflp_keeps_the_plan_of_a_truncated_model(monkeypatch):
    monkeypatch.setattr(assignment_procedure, "INITIAL_ARCS", 100)
    d, q, cap, f = _near_small_far_large()
    c = d * q[:, None]
    exact = solve_cflp(q, cap, f, c, single_source=True, solve_options=ONE_THREAD)
    assert exact.status == "optimal"
    with pytest.MonkeyPatch.context() as limited:
        first_plan_only(limited)
        r = solve_cflp(q, cap, f, c, single_source=True, solve_options=NO_TIME)
    assert r.status == "time_limit"
    assert r.open.any() and r.objective is not None, "the plan found before the time limit was dropped"
    a = r.assignment
    assert (a >= 0).all() and r.open[a].all()                               # every node served by an open site
    assert (np.bincount(a, weights=q, minlength=len(cap)) <= cap + 1e-9).all()
    recomputed = float(f[r.open].sum() + c[np.arange(len(q)), a].sum())
    assert r.objective == pytest.approx(recomputed, rel=1e-9)
    assert r.objective >= exact.objective - 1e-6
    bound = r.objective * (1 - r.gap)                                        # the gap is measured from a valid bound
    assert bound <= exact.objective * (1 + 1e-9)


def _city_needing_far_sites():
    """A generated city whose health sites hold one person each, except the two new sites farthest
    from the grids, which hold everyone."""
    city = generate_city(6, 2)
    s, g = city.sites, city.grids
    health = np.flatnonzero(s["service"].to_numpy() == "health")
    centre = g[["x", "y"]].to_numpy(float).mean(axis=0)
    new = health[s["existing"].to_numpy()[health] == 0]
    far = new[np.argsort(-np.hypot(*(s[["x", "y"]].to_numpy(float)[new] - centre).T))[:2]]
    s.loc[s.index[health], "capacity"] = 1.0
    s.loc[s.index[far], "capacity"] = 1e7
    return city


@pytest.mark.parametrize("objective", ["cpmedian", "cflp"])
def test_time_limited_facilities_run_writes_its_checked_plan(monkeypatch, tmp_path, objective):
    monkeypatch.setattr(assignment_procedure, "INITIAL_ARCS", 100)
    city = _city_needing_far_sites()
    options = RunOptions(model="facilities", objective=objective, services=("health",), p=2, budget=1e6)
    with pytest.MonkeyPatch.context() as limited:
        first_plan_only(limited)
        plan = make_plan(city, options, NO_TIME)
    m = plan.meta
    assert m["status"] == "time_limit"
    assert plan.tables and m["objective_value"] is not None, m.get("explanation")
    assert m["check"]["passed"], m["check"]
    assert m["bound"] is not None and m["bound"] <= m["objective_value"] * (1 + 1e-9)
    assert m["mip_gap"] == pytest.approx((m["objective_value"] - m["bound"]) / m["objective_value"], rel=1e-6, abs=1e-9)
    folder = write_plan(plan, tmp_path / "plan")
    report = check_plan(read_plan(folder), city)
    assert report.passed, report.violations
    assert report.objective == pytest.approx(m["objective_value"], rel=1e-9)
    best = make_plan(city, options, ONE_THREAD).meta
    assert best["status"] == "optimal" and best["objective_value"] <= m["objective_value"] * (1 + 1e-9)
    assert m["bound"] <= best["objective_value"] * (1 + 1e-9)


def test_pcenter_keeps_its_farthest_first_start_when_highs_keeps_nothing(monkeypatch):
    real = center_procedure.Clock.run

    def nothing_kept(self, model, options, start=None, **kw):
        real(self, model, options, start, **kw)
        return SolveResult("time_limit", None, None, None, "kTimeLimit", has_solution=False)

    monkeypatch.setattr(center_procedure.Clock, "run", nothing_kept)
    rng = np.random.default_rng(3)
    d = rng.uniform(1, 100, (30, 8))
    r = solve_pcenter(d, 3, solve_options=ONE_THREAD)
    assert r.status == "time_limit" and r.open.sum() == 3
    assert r.objective == pytest.approx(d[:, r.open].min(axis=1).max())


# --- item: nearest-site rows are not proof of infeasibility or optimality ------------------------

def _two_clusters(existing_far_site: bool = False):
    """A generated city moved into two clusters 100 km apart: 10 grids and one health site far east,
    the other grids and health sites west. Health sites are new (or the eastern one existing) and
    hold everyone."""
    city = generate_city(6, 2)
    g, s = city.grids, city.sites
    rng = np.random.default_rng(0)
    east = np.arange(len(g)) < 10
    g["x"] = np.where(east, 100_000.0, 0.0) + rng.uniform(0, 800, len(g))
    g["y"] = rng.uniform(0, 800, len(g))
    health = np.flatnonzero(s["service"].to_numpy() == "health")
    rows = s.index[health]
    s.loc[rows, "existing"] = 0
    s.loc[rows, "capacity"] = 1e9
    s.loc[rows, "x"] = rng.uniform(0, 800, len(health))
    s.loc[rows, "y"] = rng.uniform(0, 800, len(health))
    s.loc[rows[0], "x"] = 100_400.0
    if existing_far_site:
        s.loc[rows[0], "existing"] = 1
    return city, health


def _brute_force(city, health, objective: str, budget: float, p: int = 1) -> float:
    """The best plan with at most `p` new health sites, from coordinates and the sites' costs."""
    g, s = city.grids, city.sites
    norms = city.config.norms
    q = g["population"].to_numpy(float)
    speed = float(norms["walk_speed_m_per_min"])
    xy = s[["x", "y"]].to_numpy(float)[health]
    minutes = np.hypot(g["x"].to_numpy(float)[:, None] - xy[None, :, 0], g["y"].to_numpy(float)[:, None] - xy[None, :, 1]) / speed
    existing = s["existing"].to_numpy(int)[health] == 1
    # the budget pays new sites' first year; existing sites' running cost is committed, not charged
    spend = np.where(existing, 0.0, s["annual_cost"].to_numpy(float)[health] + s["open_cost"].to_numpy(float)[health])
    travel = float(norms.get("travel_cost_per_person_minute", TRAVEL_COST_PER_PERSON_MINUTE))
    best = np.inf
    for js in itertools.chain.from_iterable(itertools.combinations(range(len(health)), k) for k in range(1, p + 1)):
        opened = existing.copy()
        opened[list(js)] = True
        if spend[opened].sum() > budget or (~existing[list(js)]).sum() > p:
            continue
        walk = minutes[:, opened].min(axis=1)
        value = {"pmedian": q @ walk, "cpmedian": q @ walk, "pcenter": walk[q > 0].max(),
                 "cflp": spend[opened].sum() + travel * (q @ walk)}[objective]
        best = min(best, float(value))
    return best


@pytest.mark.parametrize("objective", ["cpmedian", "cflp", "pmedian", "pcenter"])
def test_nearest_site_rows_do_not_make_a_feasible_city_infeasible(monkeypatch, objective):
    """The counterexample at a small scale: above DENSE_PAIRS_MAX grids keep their NEAREST_SITES
    nearest sites, and no single site is among the nearest of every grid."""
    monkeypatch.setattr(facilities_data, "DENSE_PAIRS_MAX", 1000)
    monkeypatch.setattr(facilities_data, "NEAREST_SITES", 3)
    city, health = _two_clusters()
    assert len(city.grids) * len(health) > 1000
    plan = make_plan(city, RunOptions(model="facilities", objective=objective, services=("health",), p=1, budget=1e6),
                     ONE_THREAD)
    m = plan.meta
    assert m["status"] == "optimal", m.get("explanation")
    assert m["check"]["passed"]
    assert m["objective_value"] == pytest.approx(_brute_force(city, health, objective, 1e6), rel=1e-6)


@pytest.mark.parametrize("objective", ["pmedian", "pcenter"])
def test_rows_reach_the_nearest_site_that_stays_open(monkeypatch, objective):
    monkeypatch.setattr(facilities_data, "DENSE_PAIRS_MAX", 1000)
    monkeypatch.setattr(facilities_data, "NEAREST_SITES", 3)
    city, health = _two_clusters(existing_far_site=True)
    plan = make_plan(city, RunOptions(model="facilities", objective=objective, services=("health",), p=1, budget=1e6),
                     ONE_THREAD)
    m = plan.meta
    assert m["status"] == "optimal" and m["check"]["passed"], m.get("explanation")
    assert not m["facilities"].get("restriction")
    assert m["objective_value"] == pytest.approx(_brute_force(city, health, objective, 1e6), rel=1e-6)


def test_a_restricted_p_median_says_so(monkeypatch):
    monkeypatch.setattr(facilities_data, "DENSE_PAIRS_MAX", 1000)
    monkeypatch.setattr(facilities_data, "FULL_PAIRS_MAX", 1000)
    monkeypatch.setattr(facilities_data, "NEAREST_SITES", 3)
    city, _ = _two_clusters()
    plan = make_plan(city, RunOptions(model="facilities", objective="pmedian", services=("health",), p=1, budget=1e6),
                     ONE_THREAD)
    m = plan.meta
    assert "nearest sites" in m["facilities"]["restriction"]
    assert m["explanation"].startswith(m["facilities"]["restriction"])


def test_pcenter_does_not_cut_rows_at_the_radius_of_a_plan_over_the_budget():
    """Farthest-first opens the sites nearest the worst-served grids whatever they cost; when that plan
    breaks the budget its radius bounds nothing, and pairs beyond it must stay in the model."""
    city = generate_city(6, 2)
    health = np.flatnonzero(city.sites["service"].to_numpy() == "health")
    given = float(city.config.budget)
    budget = model_budget(city, "facilities", given).limit      # what the city budget leaves after today's staff
    plan = make_plan(city, RunOptions(model="facilities", objective="pcenter", services=("health",), p=2, budget=given),
                     ONE_THREAD)
    m = plan.meta
    assert m["status"] == "optimal" and m["check"]["passed"], m.get("explanation")
    assert m["objective_value"] == pytest.approx(_brute_force(city, health, "pcenter", budget, p=2), rel=1e-6)


@pytest.mark.parametrize("objective", ["cpmedian", "cflp"])
def test_time_limited_run_on_nearest_site_rows_writes_a_plan(monkeypatch, objective):
    """Stopped after its first model, whose plan sends grids beyond their nearest sites: the rows are
    widened to the plan's open sites, and the plan completed, checked and bounded."""
    monkeypatch.setattr(facilities_data, "DENSE_PAIRS_MAX", 1000)
    monkeypatch.setattr(facilities_data, "NEAREST_SITES", 3)
    city, health = _two_clusters()
    with pytest.MonkeyPatch.context() as limited:
        first_plan_only(limited)
        plan = make_plan(city, RunOptions(model="facilities", objective=objective, services=("health",), p=1, budget=1e6),
                         NO_TIME)
    m = plan.meta
    assert m["status"] == "time_limit" and plan.tables, m.get("explanation")
    assert m["check"]["passed"], m["check"]
    best = _brute_force(city, health, objective, 1e6)
    assert m["objective_value"] >= best * (1 - 1e-9)
    assert m["bound"] is not None and m["bound"] <= best * (1 + 1e-9)


def _plan_when_highs_keeps_none(monkeypatch, city, objective: str, run_highs: bool):
    """The health plan of `objective` when every HiGHS run of the assignment procedure ends at its time limit
    with no plan (after running, or at once), asserted written as time-limited and checked."""
    real = assignment_procedure.Clock.run

    def nothing_kept(self, model, options, start=None, **kw):
        if run_highs:
            real(self, model, options, start, **kw)
        return SolveResult("time_limit", None, None, None, "kTimeLimit", has_solution=False)

    monkeypatch.setattr(assignment_procedure.Clock, "run", nothing_kept)
    plan = make_plan(city, RunOptions(model="facilities", objective=objective, services=("health",)), ONE_THREAD)
    m = plan.meta
    assert m["status"] == "time_limit" and plan.tables, m.get("explanation")
    assert m["check"]["passed"], m["check"]
    return plan


@pytest.mark.parametrize("objective", ["cpmedian", "cflp"])
def test_the_kept_sites_plan_stands_when_highs_finds_none_in_time(monkeypatch, objective):
    """Today's health sites hold everyone: before any model the grids are sent to them, so a run in
    which HiGHS keeps no plan of its own still answers, with that plan checked (it used to stop
    without one: exit 4)."""
    city = generate_city(6, 2)
    s = city.sites
    kept = (s["service"] == "health") & (s["existing"] == 1)
    s.loc[kept, "capacity"] = 1e7
    plan = _plan_when_highs_keeps_none(monkeypatch, city, objective, run_highs=True)
    f = plan.tables["facilities"]
    assert f[(f["existing"] == 0) & (f["open"] == 1)].empty                 # nothing new: the kept sites' plan
    assigned = plan.tables["coverage"]["assigned_site"]
    assert assigned.notna().all() and assigned.isin(s.loc[kept, "site_id"]).all()


@pytest.mark.parametrize("objective", ["cpmedian", "cflp"])
def test_the_kept_sites_plan_reaches_past_full_nearest_sites(monkeypatch, objective):
    """Today's health sites hold everyone, but the nearest ones of most grids (their rows) are full: the
    grids without room get longer rows, and the kept sites' plan stands when HiGHS keeps none (it used
    to be dropped, and the run stopped without a plan: on Chongqing, exit 4)."""
    monkeypatch.setattr(facilities_data, "DENSE_PAIRS_MAX", 1000)
    monkeypatch.setattr(facilities_data, "NEAREST_SITES", 3)
    city, health = _two_clusters(existing_far_site=True)
    s = city.sites
    rows = s.index[health]
    s.loc[rows, "existing"] = 1
    s.loc[rows[1:], "capacity"] = float(city.grids["population"].max())     # each western site holds one grid
    assert len(city.grids) * len(health) > 1000 and len(rows) - 1 < (city.grids["x"] < 50_000).sum()
    plan = _plan_when_highs_keeps_none(monkeypatch, city, objective, run_highs=False)
    assigned = plan.tables["coverage"]["assigned_site"]
    assert assigned.notna().all() and assigned.isin(s.loc[rows, "site_id"]).all()
    assert (assigned == s.loc[rows[0], "site_id"]).sum() > 10                 # western grids sent to the far site
