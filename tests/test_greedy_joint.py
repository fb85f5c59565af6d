"""The p-median starting plan under a shared budget: sites chosen across services by saving per
unit of spend, not service by service (which let the first service take the whole budget)."""
from __future__ import annotations

import itertools

import numpy as np

from allocator.models.location.common import distance_pairs
from allocator.models.location.heuristics import greedy_median, greedy_median_joint, nearest_open
from allocator.models.location.center import _radius_caps, center_problem, weighted_pairs
from allocator.models.location.median import MedianInput
from allocator.solving.location.common import Clock
from allocator.solving.location.median import p_median
from allocator.solving.solve import SolveOptions


def _value(blocks, plans) -> float:
    total = 0.0
    for (pairs, w, *_), o in zip(blocks, plans):
        _, d = nearest_open(pairs, o)
        total += float(w @ d)
    return total


def _block(rng, n=12, m=6, far=50.0):
    nodes, sites = rng.uniform(0, 10, (n, 2)), rng.uniform(0, 10, (m, 2))
    d = np.hypot(nodes[:, None, 0] - sites[None, :, 0], nodes[:, None, 1] - sites[None, :, 1])
    d[:, 0] = far                                   # site 0 is the kept one, far from everyone
    required = np.zeros(m, bool)
    required[0] = True
    return distance_pairs(d), rng.integers(1, 5, n).astype(float), required, rng.uniform(1, 10, m) * ~required, float(m)


def test_the_first_service_no_longer_takes_the_whole_budget():
    """Service A's one site saves 1 person-minute for 10; service B's saves 100 for 10: budget 10."""
    a = (distance_pairs(np.array([[2.0, 1.0]])), np.array([1.0]), np.array([True, False]), np.array([0.0, 10.0]), 1.0)
    b = (distance_pairs(np.array([[101.0, 1.0]])), np.array([1.0]), np.array([True, False]), np.array([0.0, 10.0]), 1.0)
    sequential = [greedy_median(p, w, r, k, c, 10.0) for p, w, r, c, k in (a,)]
    assert sequential[0][1]                          # block by block, A spends the budget first
    joint = greedy_median_joint([a, b], 10.0)
    assert not joint[0][1] and joint[1][1]
    assert _value([a, b], joint) == 2.0 + 1.0


def test_joint_greedy_keeps_the_limits_and_is_near_the_best_plan():
    """Random two-service cities: the plan keeps the spend and count limits, opens every required
    site, and is never worse than the best plan by more than the classical greedy bound allows
    here (checked against brute force over every subset within the budget)."""
    rng = np.random.default_rng(3)
    worst = 1.0
    for _ in range(25):
        blocks = [_block(rng), _block(rng)]
        budget = float(rng.uniform(5, 20))
        plans = greedy_median_joint(blocks, budget)
        spend = sum(float(c[o & ~r].sum()) for (_, _, r, c, _), o in zip(blocks, plans))
        assert spend <= budget + 1e-9
        assert all(o[r].all() for (_, _, r, _, _), o in zip(blocks, plans))
        best = np.inf
        free = [np.flatnonzero(~r) for _, _, r, _, _ in blocks]
        for pick_a in itertools.chain.from_iterable(itertools.combinations(free[0], k) for k in range(len(free[0]) + 1)):
            for pick_b in itertools.chain.from_iterable(itertools.combinations(free[1], k) for k in range(len(free[1]) + 1)):
                cost = blocks[0][3][list(pick_a)].sum() + blocks[1][3][list(pick_b)].sum()
                if cost > budget:
                    continue
                opened = [r.copy() for _, _, r, _, _ in blocks]
                opened[0][list(pick_a)] = True
                opened[1][list(pick_b)] = True
                best = min(best, _value(blocks, opened))
        assert _value(blocks, plans) >= best - 1e-9
        worst = max(worst, _value(blocks, plans) / best)
    assert worst < 1.25, worst          # 1.19 on these cities


def test_a_run_out_of_time_keeps_the_joint_plan():
    """With no time for any model, p-median answers with its starting plan: B's site, not A's."""
    inputs = [MedianInput(np.array([1.0]), distance_pairs(np.array([[d, 1.0]])), np.array([True, False]),
                          np.array([0.0, 10.0]), np.array([0.0, 1.0]), np.inf) for d in (2.0, 101.0)]
    out = p_median(inputs, 10.0, False, SolveOptions(threads=1), Clock(limit=0.0))
    assert out.status == "time_limit"
    assert not out.open[0][1] and out.open[1][1] and out.objective == 3.0


def test_farthest_first_keeps_the_spend_row_across_services():
    """p-center's starting plan under a budget: A's worst node is 9 from its kept site, B's 5; one
    site each would bring them to 1, the budget pays for one. Farthest-first serves A (the larger
    radius), keeps the budget and so bounds the model's pairs; it used to open every site."""
    inputs = [MedianInput(np.array([1.0]), distance_pairs(np.array([[d, 1.0]])), np.array([True, False]),
                          np.array([0.0, 10.0]), np.array([0.0, 1.0]), np.inf) for d in (9.0, 5.0)]
    weighted = [weighted_pairs(b) for b in inputs]
    problem = center_problem(inputs, weighted, 10.0)
    assert problem.greedy[0][1] and not problem.greedy[1][1]
    assert all(np.isfinite(_radius_caps(inputs, weighted, problem.greedy, 10.0, False)))


def test_no_model_is_built_that_the_time_left_cannot_cover(monkeypatch):
    """A model whose build would outlast the limit is not started: the starting plan stands, at once."""
    import allocator.solving.location.median as median

    monkeypatch.setattr(median, "BUILD_S_PER_LEVEL", 1e6)           # every model would take longer than 100 s
    rng = np.random.default_rng(1)
    d = rng.uniform(1, 50, (30, 8))
    inputs = [MedianInput(np.ones(30), distance_pairs(d), np.eye(8, dtype=bool)[0], np.ones(8), np.ones(8), 3.0)]
    out = p_median(inputs, np.inf, False, SolveOptions(threads=1), Clock(limit=100.0))
    assert out.status == "time_limit" and out.details["lp_rounds"] == 0 and out.details["rounds"] == 0
    assert out.open[0].sum() == 3 and out.open[0][0] and out.objective is not None     # p = 3, the kept site among them
