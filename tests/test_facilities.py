"""Service facilities: generic location solvers against brute force, the city model, its checker, the CLI."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from allocator.plans.checks import check_plan
from allocator.data.loader import load_instance
from allocator.data.money import staff_today
from allocator.plans.plan import read_plan, write_plan
from allocator.plans.make import make_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions, solve
from allocator.models.facilities import FacilitiesOptions, build_model, coverage_expressions
from allocator.solving.location import solve_cflp, solve_lscp, solve_mclp, solve_pcenter, solve_pmedian
from allocator.models.facilities_tables import group_rates
from allocator.models.location.covering import coverage_start as _coverage_start

OPTS = SolveOptions(threads=1)


def small_instance(seed: int, n: int = 9, m: int = 6):
    rng = np.random.default_rng(seed)
    nodes, sites = rng.uniform(0, 100, (n, 2)), rng.uniform(0, 100, (m, 2))
    d = np.round(np.hypot(nodes[:, None, 0] - sites[None, :, 0], nodes[:, None, 1] - sites[None, :, 1]), 1)
    return rng, d, rng.integers(1, 10, n).astype(float)


def subsets(m: int, size: int | None = None):
    sizes = [size] if size is not None else range(0, m + 1)
    return [list(s) for k in sizes for s in itertools.combinations(range(m), k)]


def covered(reach: np.ndarray, s: list) -> np.ndarray:
    return reach[:, s].any(axis=1) if s else np.zeros(reach.shape[0], bool)


# --- generic solvers against enumeration ---------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pmedian_matches_enumeration(seed):
    rng, d, w = small_instance(seed)
    p = 2 + seed % 2
    best = min(w @ d[:, s].min(axis=1) for s in subsets(d.shape[1], p))
    r = solve_pmedian(w, d, p, solve_options=OPTS)
    assert r.status == "optimal" and r.open.sum() == p
    assert r.objective == pytest.approx(best, rel=1e-9)
    assert np.allclose(d[np.arange(len(w)), r.assignment], d[:, r.open].min(axis=1))


def test_pmedian_required_sites_and_sparse_input():
    _, d, w = small_instance(7)
    required = np.zeros(d.shape[1], bool)
    required[4] = True
    best = min(w @ d[:, s].min(axis=1) for s in subsets(d.shape[1], 3) if 4 in s)
    r = solve_pmedian(w, d, 3, required=required, solve_options=OPTS)
    assert r.open[4] and r.objective == pytest.approx(best)
    dist = d.copy()
    dist[0, :] = 0.0                                     # explicit zeros stay pairs in a sparse matrix
    far = dist > 80
    dense_inf = np.where(far, np.inf, dist)
    csr = sp.csr_matrix((dist[~far], np.nonzero(~far)), shape=d.shape)
    a = solve_pmedian(w, dense_inf, 3, solve_options=OPTS)
    b = solve_pmedian(w, csr, 3, solve_options=OPTS)
    assert a.objective == pytest.approx(b.objective)


@pytest.mark.parametrize("seed", [3, 4])
def test_capacitated_pmedian_matches_enumeration(seed):
    rng, d, w = small_instance(seed, n=6, m=4)
    q = rng.integers(1, 6, len(w)).astype(float)
    p = 2
    cap = np.full(d.shape[1], 0.6 * q.sum())
    best = np.inf
    for s in subsets(d.shape[1], p):
        for a in itertools.product(s, repeat=len(w)):
            if (np.bincount(a, weights=q, minlength=d.shape[1]) <= cap + 1e-9).all():
                best = min(best, float(sum(w[i] * d[i, a[i]] for i in range(len(w)))))
    r = solve_pmedian(w, d, p, capacity=cap, demand=q, solve_options=OPTS)
    assert r.objective == pytest.approx(best)
    assert (np.bincount(r.assignment, weights=q, minlength=d.shape[1]) <= cap + 1e-9).all()


@pytest.mark.parametrize("seed", [5, 6])
def test_pcenter_matches_enumeration(seed):
    _, d, w = small_instance(seed)
    best = min((w * d[:, s].min(axis=1)).max() for s in subsets(d.shape[1], 2))
    r = solve_pcenter(d, 2, weights=w, solve_options=OPTS)
    assert r.open.sum() == 2 and r.objective == pytest.approx(best)
    plain = min(d[:, s].min(axis=1).max() for s in subsets(d.shape[1], 3))
    assert solve_pcenter(d, 3, solve_options=OPTS).objective == pytest.approx(plain)


def test_cflp_matches_enumeration_split_and_single_source():
    rng, d, _ = small_instance(8, n=6, m=4)
    q = rng.integers(1, 6, 6).astype(float)
    cap = rng.integers(6, 14, 4).astype(float)
    f = rng.integers(20, 90, 4).astype(float)
    c = d * q[:, None]                                  # cost of serving all of i's demand from j
    split, single = np.inf, np.inf
    for s in subsets(4):
        if not s or cap[s].sum() < q.sum():
            continue
        k = len(s)
        a_ub = np.zeros((k, 6 * k))
        for j in range(k):
            a_ub[j, j::k] = q
        lp = linprog(c[:, s].ravel(), A_ub=a_ub, b_ub=cap[s], A_eq=np.kron(np.eye(6), np.ones(k)), b_eq=np.ones(6), bounds=(0, 1))
        if lp.status == 0:
            split = min(split, f[s].sum() + lp.fun)
        for a in itertools.product(s, repeat=6):
            if (np.bincount(a, weights=q, minlength=4) <= cap + 1e-9).all():
                single = min(single, f[s].sum() + sum(c[i, a[i]] for i in range(6)))
    assert solve_cflp(q, cap, f, c, solve_options=OPTS).objective == pytest.approx(split, rel=1e-7)
    assert solve_cflp(q, cap, f, c, single_source=True, solve_options=OPTS).objective == pytest.approx(single, rel=1e-7)


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_mclp_matches_enumeration_with_budget_fixed_and_partial(seed):
    rng, d, w = small_instance(seed)
    m = d.shape[1]
    reach = d <= 35
    reach[1] = reach[0]                                  # identical rows merge
    cost = rng.integers(1, 6, m).astype(float)
    fixed = np.zeros(m, bool)
    fixed[0] = True
    budget = cost[0] + 6.0
    feasible = [s for s in subsets(m) if 0 in s and cost[s].sum() <= budget]
    best = max(w @ covered(reach, s) for s in feasible)
    r = solve_mclp(w, reach, cost=cost, budget=budget, fixed_open=fixed, solve_options=OPTS)
    assert r.open[0] and cost[r.open].sum() <= budget + 1e-9
    assert r.objective == pytest.approx(best)
    levels = np.where(d <= 25, 1.0, np.where(d <= 45, 0.5, 0.0))
    best_partial = max(w @ levels[:, s].max(axis=1) for s in feasible)
    rp = solve_mclp(w, levels > 0, cost=cost, budget=budget, fixed_open=fixed, partial=levels, solve_options=OPTS)
    assert rp.objective == pytest.approx(best_partial)
    # closable: the fixed site may close and free its cost
    free = [s for s in subsets(m) if cost[s].sum() <= budget]
    rc = solve_mclp(w, reach, cost=cost, budget=budget, fixed_open=fixed, closable=fixed, solve_options=OPTS)
    assert rc.objective == pytest.approx(max(w @ covered(reach, s) for s in free))


def test_mclp_with_facility_count_opens_p_sites():
    _, d, w = small_instance(13)
    reach = d <= 30
    best = max(w @ covered(reach, s) for s in subsets(d.shape[1], 2))
    r = solve_mclp(w, reach, p=2, solve_options=OPTS)
    assert r.open.sum() == 2 and r.objective == pytest.approx(best)


@pytest.mark.parametrize("seed", [14, 15])
def test_lscp_and_backup_match_enumeration(seed):
    rng, d, _ = small_instance(seed)
    m = d.shape[1]
    reach = d <= 40
    cost = rng.integers(1, 6, m).astype(float)
    coverable = reach.any(axis=1)
    feasible = [s for s in subsets(m) if covered(reach, s)[coverable].all()]
    r = solve_lscp(reach, cost=cost, solve_options=OPTS)
    assert r.objective == pytest.approx(min(cost[s].sum() for s in feasible))
    fewest = min(len(s) for s in feasible)
    double = max(((reach[:, s].sum(axis=1) >= 2) & (reach.sum(axis=1) >= 2)).sum() for s in feasible if len(s) == fewest)
    rb = solve_lscp(reach, backup=True, solve_options=OPTS)
    assert rb.open.sum() == fewest and rb.details["least_spend"] == pytest.approx(fewest)
    assert rb.objective == pytest.approx(double)


@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), extra=st.floats(0.5, 6.0))
def test_more_budget_never_covers_less(seed, extra):
    rng, d, w = small_instance(seed, n=10, m=6)
    reach = d <= 35
    cost = rng.integers(1, 6, d.shape[1]).astype(float)
    small = solve_mclp(w, reach, cost=cost, budget=4.0, solve_options=OPTS)
    large = solve_mclp(w, reach, cost=cost, budget=4.0 + extra, solve_options=OPTS)
    assert large.objective >= small.objective - 1e-9
    scaled = solve_mclp(w, reach, cost=3 * cost, budget=3 * (4.0 + extra), solve_options=OPTS)
    assert scaled.objective == pytest.approx(large.objective)


# --- the city model --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny():
    return load_instance(Path(__file__).parent / "data" / "tiny")


@pytest.mark.parametrize("objective, extra", [("mclp", {}), ("lscp", {}), ("lscpb", {}), ("pmedian", {"p": 1}),
                                              ("pcenter", {"p": 1})])
def test_city_objectives_pass_the_checker(tiny, objective, extra):
    plan = make_plan(tiny, RunOptions(model="facilities", objective=objective, budget=2000, **extra), OPTS)
    assert plan.meta["status"] == "optimal", plan.meta.get("explanation")
    assert plan.meta["check"]["passed"], plan.meta["check"]["violations"]
    assert set(plan.tables) == {"facilities", "coverage", "districts"}
    f = plan.tables["facilities"]
    assert (f.loc[f["existing"] == 1, "open"] == 1).all()


def test_city_mclp_budget_limits_and_infeasible_explanation(tiny):
    plan = make_plan(tiny, RunOptions(model="facilities", budget=500), OPTS)
    assert plan.meta["status"] == "optimal" and plan.meta["facilities"]["spend_10k_cny"] <= 500 - 238 + 1e-9
    more = make_plan(tiny, RunOptions(model="facilities", budget=900), OPTS)
    assert more.meta["objective_value"] >= plan.meta["objective_value"] - 1e-9
    broke = make_plan(tiny, RunOptions(model="facilities", budget=100), OPTS)
    assert broke.meta["status"] == "infeasible" and "does not pay today's grid workers" in broke.meta["explanation"]


def test_checker_fails_on_tampered_plan(tiny, tmp_path):
    plan = make_plan(tiny, RunOptions(model="facilities", budget=900), OPTS)
    folder = write_plan(plan, tmp_path / "plan")
    assert check_plan(read_plan(folder), tiny).passed
    f = read_plan(folder)
    f.tables["facilities"].loc[f.tables["facilities"]["existing"] == 1, "open"] = 0
    assert any("existing sites are closed" in v for v in check_plan(f, tiny).violations)
    c = read_plan(folder)
    c.tables["coverage"]["covered"] = 1 - c.tables["coverage"]["covered"]
    assert not check_plan(c, tiny).passed
    o = read_plan(folder)
    o.meta["objective_value"] += 1.0
    assert any("objective recomputed" in v for v in check_plan(o, tiny).violations)


def test_group_coverage_expressions_match_reported_rates(tiny):
    options = FacilitiesOptions(services=("health", "childcare", "elderly_care"), budget_10k_cny=900.0)
    cm = build_model(tiny, options)
    result = solve(cm.model, OPTS, _coverage_start(cm.model, cm.prepared.flat, cm.prepared.chosen))
    assert result.status == "optimal"
    budget = 900 + sum(staff_today(tiny).values())          # --budget pays today's staff first
    plan = make_plan(tiny, RunOptions(model="facilities", services=options.services, budget=budget), OPTS)
    assert plan.meta["objective_value"] == pytest.approx(result.objective)
    for by in ("district", "urban_rural", "registration"):
        rates = group_rates(tiny, plan.tables["coverage"], by)
        for label, expr in coverage_expressions(cm, by).items():
            assert expr() == pytest.approx(rates["all"][label], abs=1e-9)
        for label, expr in coverage_expressions(cm, by, service="health").items():
            assert expr() == pytest.approx(rates["health"][label], abs=1e-9)
        # plan.json's rates come from the rows as written (services × grids), not read back from the table
        reported = plan.meta["facilities"]["group_coverage"][by]
        assert reported.keys() == rates.keys()
        for service, by_group in rates.items():
            assert reported[service] == pytest.approx(by_group, abs=1e-12)


def test_a_model_run_and_its_check_pause_the_cycle_collector(tiny, monkeypatch):
    """make_plan pauses Python's cycle collector while the model runs and while the plan is checked
    (both make many long-lived objects), and resumes it after, also when the run fails."""
    import gc

    import allocator.plans.make as make
    import allocator.solving.facilities as facilities

    seen: dict[str, bool] = {}
    run, check = facilities.run, make.check_plan

    def recording_run(*args, **kwargs):
        seen["run"] = gc.isenabled()
        return run(*args, **kwargs)

    def recording_check(*args, **kwargs):
        seen["check"] = gc.isenabled()
        return check(*args, **kwargs)

    monkeypatch.setattr(facilities, "run", recording_run)
    monkeypatch.setattr(make, "check_plan", recording_check)
    assert gc.isenabled()
    plan = make_plan(tiny, RunOptions(model="facilities", services=("health",)), OPTS)
    assert plan.meta["check"]["passed"]
    assert seen == {"run": False, "check": False} and gc.isenabled()

    def failing_run(*args, **kwargs):
        raise RuntimeError("the run failed")

    monkeypatch.setattr(facilities, "run", failing_run)
    with pytest.raises(RuntimeError):
        make_plan(tiny, RunOptions(model="facilities", services=("health",)), OPTS)
    assert gc.isenabled()


# --- command line -----------------------------------------------------------------------------

def test_cli_solve_and_check_tiny(tiny_dir, tmp_path):
    from allocator.cli import main

    out = tmp_path / "plan"
    res = CliRunner().invoke(main, ["solve", str(tiny_dir), "--model", "facilities", "--budget", "900", "--threads", "1",
                                    "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["status"] == "optimal" and summary["check_passed"]
    districts = read_plan(out).tables["districts"]
    assert {"cov_health", "cov_all", "spend"} <= set(districts.columns)
    res = CliRunner().invoke(main, ["check", str(out), str(tiny_dir)])
    assert res.exit_code == 0 and "check: passed" in res.output


def test_cli_small_generated_city(tmp_path):
    from allocator.data.generate import generate_city, write_city
    from allocator.cli import main

    city_dir = write_city(generate_city(6, 2), tmp_path / "city", "folder")
    out = tmp_path / "plan"
    res = CliRunner().invoke(main, ["solve", str(city_dir), "--model", "facilities", "--objective", "pmedian",
                                    "--services", "health,employment", "--p", "2", "--budget", "1e6", "--threads", "1",
                                    "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-1])["check_passed"]
    res = CliRunner().invoke(main, ["solve", str(city_dir), "--model", "facilities", "--objective", "cpmedian",
                                    "--services", "health", "--p", "1", "--budget", "1e6", "--threads", "1",
                                    "--out", str(tmp_path / "cap"), "--json"])
    assert res.exit_code in (0, 3), res.output
    res = CliRunner().invoke(main, ["solve", str(city_dir), "--model", "facilities", "--services", "nursery",
                                    "--out", str(tmp_path / "bad")])
    assert res.exit_code == 2 and "unknown service" in res.output
