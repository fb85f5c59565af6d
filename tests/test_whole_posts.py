"""The enforcement block's whole-posts rows (models.city_blocks): c_t ≤ ⌊K_t⌋ + φ_t (s_t − ⌊K_t⌋) + q_t for
towns staffed above their standard today. They must hold at every plan with whole officers (so no plan is
lost) and cut the LP relaxation's fractions of an officer moved out (so the LP bound is the tighter). Built
switched off, they are held while the split solves its LP round of max efficiency."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pyomo.environ as pyo
import pytest

import allocator.solving.split as split_module
from allocator.data.generate import generate_city
from allocator.models.city_blocks.enforcement_block import WHOLE_PART
from allocator.models.equity_problem import maximise_efficiency
from allocator.solving.city import build_city, city_options, city_problem
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions, solve

EXACT = SolveOptions(threads=1, seed=0, gap=0.0)
RUN = RunOptions(model="city", objective="utilitarian")


def _overstaffed_city(towns: int, seed: int):
    """A generated city whose every other town employs today 2 to 4 officers above its standard."""
    city = generate_city(towns, seed)
    cm = build_city(city, RUN, city_options(city, RUN))
    cap = cm.enforcement.cap
    rows = city.towns.copy()
    extra = np.where(np.arange(len(rows)) % 2 == 0, 2 + np.arange(len(rows)) % 3, 0)
    today = np.ceil(cap.reindex(rows["town_id"].astype(str)).to_numpy()).astype(int) + extra
    rows["enforcement_now"] = np.where(extra > 0, today, rows["enforcement_now"].to_numpy())
    return replace(city, towns=rows), replace(RUN, headcount=int(rows["enforcement_now"].sum()) + 20)


def test_the_rows_hold_at_every_whole_posting():
    """At every whole s_t in its bounds and pool share q_t, with c_t = min(s_t + q_t, K_t), each row holds."""
    city, run = _overstaffed_city(12, 1)
    cm = build_city(city, run, city_options(city, run))
    e = cm.enforcement.model
    assert len(e.counted_within_whole_posts) >= 5
    for t, row in e.counted_within_whole_posts.items():
        k = float(cm.enforcement.cap[t])
        s, q, c = e.posted_staff[t], e.pool_share[t], e.counted_staff[t]
        for posted in range(int(s.lb), int(s.ub) + 1):
            for share in (0.0, 0.25, 0.5, k - math.floor(k), 1.0, 3.0):
                s.set_value(posted, skip_validation=True)
                q.set_value(share, skip_validation=True)
                c.set_value(min(posted + share, k), skip_validation=True)
                assert pyo.value(row.body) <= pyo.value(row.upper) + 1e-9, (t, posted, share)


def test_the_rows_skip_whole_standards():
    city, run = _overstaffed_city(12, 1)
    cm = build_city(city, run, city_options(city, run))
    e = cm.enforcement.model
    for t in e.OVERSTAFFED:
        part = float(cm.enforcement.cap[t]) % 1.0
        assert (t in e.counted_within_whole_posts) == (WHOLE_PART < part < 1.0 - WHOLE_PART)


def _max_u(city, run: RunOptions, with_rows: bool):
    problem = city_problem(city, run)
    problem.split = None
    if with_rows:
        problem.model.enforcement.counted_within_whole_posts.activate()
    maximise_efficiency(problem)
    return problem.model


def test_max_efficiency_is_the_same_with_and_without_the_rows():
    """Solved exactly, the rows lose no plan: the optimum is the same; the LP bound with them is no higher."""
    city, run = _overstaffed_city(12, 1)
    with_rows, without = _max_u(city, run, True), _max_u(city, run, False)
    best = solve(with_rows, EXACT).objective
    assert best is not None and best == pytest.approx(solve(without, EXACT).objective, rel=1e-7)
    lp_with = solve(with_rows, EXACT, relax=True).objective
    lp_without = solve(without, EXACT, relax=True).objective
    assert best - 1e-9 <= lp_with <= lp_without + 1e-9
    assert lp_with < lp_without - 1e-7, "the rows cut no fraction of an officer from this city's LP"


def test_the_split_holds_the_rows_in_its_lp_round_only(monkeypatch):
    """Switched off in the model, on while the split's LP round is solved, off in the next round and after."""
    city, run = _overstaffed_city(12, 1)
    problem = city_problem(city, run)
    rows = problem.model.enforcement.counted_within_whole_posts
    assert not rows.active and [r.name for r in problem.split.rows()] == [rows.name]
    seen = []

    def watching(model, options, **kw):
        seen.append(rows.active)
        return solve(model, options, **kw)

    monkeypatch.setattr(split_module, "solve", watching)
    maximise_efficiency(problem)
    out = split_module.solve_split(problem.model, problem.split, SolveOptions(threads=1, seed=0, gap=1e-9), True, "max U",
                                   lp_first=True)
    names = [name for name, _ in out.parts]
    assert names[0] == split_module.LP_PART and split_module.BOUND_PART in names and not rows.active
    assert seen == [name != split_module.BOUND_PART and split_module.BOUND_PART not in names[:i]
                    for i, name in enumerate(names)]
