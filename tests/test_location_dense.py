"""Covering on dense reach (every site reaching about 30 % of the demand points, as in the public
MCLP/LSCP instances): the exact reductions keep the optimum, the site-dominance test (R4) keeps
its definition and a bounded cost, and the LP relaxation proves the plans it rounds to."""
from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from allocator.models.location import common
from allocator.models.location.common import dominance_work, dominated_sites, level_pairs, reduce_cover
from allocator.solving.location import solve_lscp, solve_mclp
from allocator.solving.solve import SolveOptions

EXACT = SolveOptions(threads=1, gap=1e-9)


def dense(seed: int, n: int, share: float = 0.3):
    """n clustered points (metres), each a demand node and a site; reach within the `share` quantile."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 6000, (4, 2))
    pts = centres[rng.integers(0, 4, n)] + rng.normal(size=(n, 2)) * 900
    d = np.hypot(pts[:, None, 0] - pts[None, :, 0], pts[:, None, 1] - pts[None, :, 1])
    return d <= np.quantile(d, share), rng.integers(50, 500, n).astype(float), d


def milp_mclp(w: np.ndarray, reach: np.ndarray, p: int) -> float:
    """The textbook MCLP on the whole reach matrix, solved by scipy's own HiGHS (no reductions)."""
    n, m = reach.shape
    c = np.concatenate([np.zeros(m), -w])                     # variables: y (m), z (n)
    link = LinearConstraint(np.hstack([-reach.astype(float), np.eye(n)]), -np.inf, 0.0)    # z_i ≤ Σ a_ij y_j
    count = LinearConstraint(np.concatenate([np.ones(m), np.zeros(n)])[None, :], p, p)
    res = milp(c, constraints=[link, count], integrality=np.concatenate([np.ones(m), np.zeros(n)]), bounds=Bounds(0, 1),
               options={"mip_rel_gap": 1e-9})
    assert res.status == 0
    return -res.fun


def milp_lscp(reach: np.ndarray) -> float:
    n, m = reach.shape
    res = milp(np.ones(m), constraints=[LinearConstraint(reach.astype(float), 1.0, np.inf)], integrality=np.ones(m),
               bounds=Bounds(0, 1), options={"mip_rel_gap": 1e-9})
    assert res.status == 0
    return res.fun


@pytest.mark.parametrize("seed", [0, 11, 24])
def test_dense_mclp_keeps_the_optimum_of_the_unreduced_model(seed, monkeypatch):
    """Seeds 11 and 24 need branch and bound, 0 is proven by the rounded LP optimum."""
    reach, w, _ = dense(seed, 120)
    reduced = solve_mclp(w, reach, p=3, solve_options=EXACT)
    assert reduced.status == "optimal" and reduced.open.sum() == 3
    assert reduced.details["reductions"][0]["dominated_sites"] > 0
    assert reduced.objective == pytest.approx(w @ reach[:, reduced.open].any(axis=1))
    assert reduced.objective == pytest.approx(milp_mclp(w, reach, 3), rel=1e-9)
    monkeypatch.setattr(common, "MAX_DOMINANCE_WORK", -1)       # R4 off
    plain = solve_mclp(w, reach, p=3, solve_options=EXACT)
    assert plain.details["reductions"][0]["dominated_sites"] == 0
    assert plain.objective == pytest.approx(reduced.objective, rel=1e-9)


def test_dense_mclp_matches_enumeration():
    reach, w, _ = dense(3, 40)
    best = max(w @ reach[:, list(s)].any(axis=1) for s in itertools.combinations(range(40), 3))
    assert solve_mclp(w, reach, p=3, solve_options=EXACT).objective == pytest.approx(best)


@pytest.mark.parametrize("seed", [0, 4, 12])
def test_dense_lscp_keeps_the_optimum_of_the_unreduced_model(seed, monkeypatch):
    reach, _, _ = dense(seed, 120)
    reduced = solve_lscp(reach, solve_options=EXACT)
    assert reduced.status == "optimal" and reach[:, reduced.open].any(axis=1).all()
    assert reduced.objective == pytest.approx(milp_lscp(reach))
    monkeypatch.setattr(common, "MAX_DOMINANCE_WORK", -1)
    assert solve_lscp(reach, solve_options=EXACT).objective == pytest.approx(reduced.objective)


def test_dense_covering_is_proven_by_the_lp_without_branch_and_bound():
    """On this dense instance the LP optimum is integral where the greedy plan falls short: the
    rounded LP plan closes the gap, so neither MCLP nor LSCP needs a MIP."""
    reach, w, _ = dense(0, 120)
    mclp = solve_mclp(w, reach, p=3, solve_options=EXACT)
    assert mclp.details["greedy_objective"] < mclp.objective - 1
    assert mclp.details["proof"] == "LP optimum rounded within the gap of the LP bound"
    assert mclp.objective == pytest.approx(milp_mclp(w, reach, 3), rel=1e-9)
    lscp = solve_lscp(reach, solve_options=EXACT)
    assert "within the gap of the LP bound" in lscp.details["proof"]
    assert lscp.objective == pytest.approx(milp_lscp(reach))


def _dominated_by_definition(pairs, cost, count):
    """R4 pair by pair: k dominates j when a_ik ≥ a_ij on every row of j, k costs no more in spend
    and count, and the tie-break (more rows, more level, cheaper, or lower index) prefers k."""
    m, n = pairs.n_sites, pairs.n_nodes
    a = np.zeros((n, m))
    a[pairs.rows(), pairs.site] = pairs.value
    drop = np.zeros(m, bool)
    size, level = (a > 0).sum(axis=0), a.sum(axis=0)
    for j, k in itertools.permutations(range(m), 2):
        rows = a[:, j] > 0
        if not rows.any() or np.any(a[rows, k] < a[rows, j] - 1e-12):
            continue
        if cost[k] <= cost[j] and count[k] <= count[j] and (size[k] > size[j] or level[k] > level[j] + 1e-9
                                                            or cost[k] < cost[j] or count[k] < count[j] or k < j):
            drop[j] = True
    return drop


@pytest.mark.parametrize("chunk", [common.DOMINANCE_CHUNK, 50])
def test_dominance_product_matches_its_definition_with_levels(chunk, monkeypatch):
    """The sparse-product R4 test drops exactly the sites the pairwise definition drops, on graded
    coverage levels and unequal costs, whole or in chunks of a few sites."""
    monkeypatch.setattr(common, "DOMINANCE_CHUNK", chunk)
    rng = np.random.default_rng(5)
    _, _, d = dense(5, 45)
    levels = np.where(d <= 1200, 1.0, np.where(d <= 2500, 0.5, np.where(d <= 3500, 0.25, 0.0)))
    pairs = level_pairs(levels > 0, levels)
    cost, count = rng.integers(1, 3, 45).astype(float), np.ones(45)
    expected = _dominated_by_definition(pairs, cost, count)
    assert expected.sum() > 5
    assert np.array_equal(dominated_sites(pairs, cost, count, np.ones(45)), expected)
    plain = level_pairs(levels >= 0.5)
    assert np.array_equal(dominated_sites(plain, cost, count, np.ones(45)), _dominated_by_definition(plain, cost, count))


def test_dominance_is_skipped_when_its_work_exceeds_the_limit(monkeypatch):
    """The rule, known before the test runs: on plain coverage the work is Σ_i deg_i²; above
    MAX_DOMINANCE_WORK no site is dropped as dominated (and the optimum stays the same)."""
    reach, w, _ = dense(0, 120)
    pairs = level_pairs(reach)
    assert dominance_work(pairs) == int((pairs.degree.astype(np.int64) ** 2).sum())
    ones = np.ones(120)
    block = reduce_cover(w, pairs, ones, ones, np.zeros(120, bool))
    assert block.stats["dominated_sites"] > 0 and 0 < block.stats["dominance_work"] <= common.MAX_DOMINANCE_WORK
    monkeypatch.setattr(common, "MAX_DOMINANCE_WORK", block.stats["dominance_work"] - 1)
    skipped = reduce_cover(w, pairs, ones, ones, np.zeros(120, bool))
    assert skipped.stats["dominated_sites"] == 0 and len(skipped.sites) > len(block.sites)


def test_dominance_memory_stays_bounded_on_dense_reach():
    """600 points, each site reaching 30 % of them: Σ deg² ≈ 19 million meetings, which one array
    per meeting would hold in about a gigabyte; the chunked product peaks far below."""
    reach, _, _ = dense(1, 600)
    pairs = level_pairs(reach)
    assert dominance_work(pairs) > 15_000_000
    ones = np.ones(600)
    tracemalloc.start()
    try:
        drop = dominated_sites(pairs, ones, ones, ones)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert drop.any()
    assert peak < 150e6
