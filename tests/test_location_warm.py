"""The p-median's LP rounds: level matching, the carried basis, and the rounded-LP proof."""
from __future__ import annotations

import numpy as np
import pytest

from allocator.solving.solve import SolveOptions, solve
from allocator.solving.location import solve_pmedian
from allocator.models.location.common import Limits, distance_pairs, levels_of, rows_state as _rows_state, snap as _snap
from allocator.models.location.median import MedianInput, build_radius_model, radius_arrays as _radius_arrays
from allocator.solving.location.median import level_map, warm_lp

LP = SolveOptions(threads=1)


def _plane(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    nodes, sites = rng.uniform(0, 100, (n, 2)), rng.uniform(0, 100, (m, 2))
    return np.sqrt(((nodes[:, None] - sites[None]) ** 2).sum(axis=2)), rng.integers(1, 10, n).astype(float)


def _truncated_levels(pairs, keep):
    local = np.arange(len(pairs.site)) - np.repeat(pairs.indptr[:-1], pairs.degree)
    return levels_of(pairs.take(local < np.repeat(keep, pairs.degree)))


def test_level_map_follows_rows_that_grow():
    d = np.array([[1.0, 2.0, 2.0, 5.0], [3.0, 1.0, 4.0, 6.0]])
    pairs = distance_pairs(d)                        # row 0 levels 1, 2, 5; row 1 levels 1, 3, 4, 6
    old = _truncated_levels(pairs, np.array([1, 2]))
    new = _truncated_levels(pairs, np.array([3, 4]))
    assert level_map(old, new).tolist() == [0, 2, 3]     # new levels: r0 1, 2; r1 1, 3, 4, 6
    moved = levels_of(distance_pairs(d + np.array([[0.0, 0.0, 0.0, 0.0], [0.0, 0.5, 0.0, 0.0]])))
    assert level_map(old, moved) is None             # a kept level changed its distance: no basis


def test_carried_basis_solves_the_wider_lp_in_fewer_iterations():
    d, w = _plane(300, 40, seed=3)
    pairs = distance_pairs(d)
    block = MedianInput(w, pairs, np.zeros(40, bool), np.ones(40), np.ones(40), 5.0)
    state = _rows_state(pairs, block.required)
    state.keep = _snap(state, pairs, np.full(300, 4))
    limits = Limits(np.inf, np.array([5.0]), True)
    sites, arrays, _ = _radius_arrays([block], [state])
    first = build_radius_model(sites, arrays, limits, relaxed=True)
    warm, _ = warm_lp(first, arrays.levels, None)
    assert solve(first, LP, persistent=warm.persistent).status == "optimal"
    state.keep = _snap(state, pairs, 3 * state.keep)
    sites, arrays, _ = _radius_arrays([block], [state])
    second = build_radius_model(sites, arrays, limits, relaxed=True)
    warmed, _ = warm_lp(second, arrays.levels, warm)
    carried = solve(second, LP, persistent=warmed.persistent)
    cold = solve(build_radius_model(sites, arrays, limits, relaxed=True), LP)
    assert carried.objective == pytest.approx(cold.objective, rel=1e-9)
    assert carried.highs_info["simplex_iterations"] < cold.highs_info["simplex_iterations"]


def test_integral_lp_is_its_own_proof():
    """Two far-apart clusters and p = 2: the LP optimum is integral, so no MIP is solved."""
    rng = np.random.default_rng(0)
    points = np.vstack([rng.normal(0, 1, (20, 2)), rng.normal(100, 1, (20, 2))])
    d = np.sqrt(((points[:, None] - points[None]) ** 2).sum(axis=2))
    r = solve_pmedian(np.ones(40), d, 2, solve_options=SolveOptions(gap=1e-9, threads=1))
    best = min(d[:, [a, b]].min(axis=1).sum() for a in range(20) for b in range(20, 40))
    assert r.status == "optimal" and r.objective == pytest.approx(best, rel=1e-12)
    assert r.details["rounds"] == 0 and r.details["lp_rounds"] >= 1
