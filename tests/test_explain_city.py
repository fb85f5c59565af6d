"""Infeasible city budget runs explained: the family, the figure, plan.json, and the stated
relaxation applied to the city makes a plan possible (the honest check of the figure).

The tiny city's staffing floor: one full-time worker per grid, the required professionals and
a team of 5 per town cost 168 (10k CNY) in D1 and 84 in D2, 252 in all."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from allocator.data.loader import load_instance
from allocator.plans.make import make_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions
from allocator.cli import main
from conftest import TINY

FAST = SolveOptions(threads=1)


def _variant(tmp_path: Path, own=(300, 100), cap=(50, 150), pool: float | None = None, name: str = "city") -> Path:
    folder = tmp_path / name
    shutil.copytree(TINY, folder)
    d = pd.read_csv(folder / "districts.csv")
    d["own_budget"], d["transfer_cap"] = list(own), list(cap)
    d.to_csv(folder / "districts.csv", index=False)
    g = pd.read_csv(folder / "grids.csv")          # D2 (town T3) employs no helper today: it must spend exactly its
    g.loc[g["town_id"] == "T3", "parttime_now"] = 0   # required staff, 84 (a helper of today would be kept, +1.2)
    g.to_csv(folder / "grids.csv", index=False)
    if pool is not None:
        (folder / "city.yaml").write_text((folder / "city.yaml").read_text() + f"city_pool: {pool}\n")
    return folder


def _solve(folder: Path, **options):
    return make_plan(load_instance(folder), RunOptions(model="city", objective="utilitarian", **options), FAST)


def _alone(meta: dict, family: str) -> dict:
    found = [r for r in meta["infeasibility"]["elastic"]["alone"] if r["family"] == family]
    assert found, meta["infeasibility"]["elastic"]
    return found[0]


def test_budget_below_the_staffing_floor(tmp_path):
    out = tmp_path / "plan"
    r = CliRunner().invoke(main, ["solve", str(TINY), "--model", "city", "--budget", "50", "--iis", "--out", str(out)])
    assert r.exit_code == 3, r.output
    # the floor pays the 17 officers employed today (nobody is dismissed), 2 more than the teams of 5, and the
    # 5 part-time helpers employed today (6), kept in their districts' pools
    assert ("the city budget of 500,000 CNY falls 2.32 million CNY short of paying for one full-time worker per grid in "
            "6 grids, the required professionals in 3 towns and today's part-time grid workers in 2 districts; raise the "
            "budget (--budget, or budget in city.yaml) to at least 2.82 million CNY (282 in the 10k CNY of --budget)") in r.output
    assert "and the 2 other officers employed today cost 282.0" in r.output                # settled from the data alike
    assert "budget_granted_10k_cny: upper bound 50" in r.output                 # the IIS, named
    meta = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    budget = _alone(meta, "budget_granted_10k_cny")
    assert budget["target"] == pytest.approx(282) and budget["proven"]
    assert "2.82 million CNY" in meta["explanation"] and meta["infeasibility"]["iis"]["status"] == "found"
    assert _solve(TINY, budget=budget["target"]).meta["status"] == "optimal"


def test_transfer_cap_or_own_budget_of_one_district(tmp_path):
    """D2 must spend 84 but may spend only 70 + 13."""
    plan = _solve(_variant(tmp_path, own=(300, 70), cap=(50, 13)))
    assert plan.meta["status"] == "infeasible"
    cap = _alone(plan.meta, "transfer_10k_cny")
    own = _alone(plan.meta, "district_spend_within_own_budget_and_transfer")
    assert cap["ids"] == own["ids"] == ["D2"] and cap["amounts"] == own["amounts"] == [pytest.approx(1)]
    assert "raise transfer_cap in districts.csv (D2 to 14, in 10k CNY)" in plan.meta["explanation"]
    assert "raise own_budget in districts.csv (D2 to 71, in 10k CNY)" in plan.meta["explanation"]
    assert _solve(_variant(tmp_path, own=(300, 70), cap=(50, 14), name="cap")).meta["status"] == "optimal"
    assert _solve(_variant(tmp_path, own=(300, 71), cap=(50, 13), name="own")).meta["status"] == "optimal"


def test_city_pool_set_in_city_yaml(tmp_path):
    plan = _solve(_variant(tmp_path, own=(300, 70), cap=(50, 14), pool=10))
    pool = _alone(plan.meta, "transfers_within_city_pool")
    assert pool["limit"] == 10 and pool["target"] == pytest.approx(14)
    assert "the city pool of 100,000 CNY falls 40,000 CNY short of the transfers districts need; raise city_pool in " \
           "city.yaml to 14 (10k CNY)" in plan.meta["explanation"]
    assert _solve(_variant(tmp_path, own=(300, 70), cap=(50, 14), pool=14, name="more")).meta["status"] == "optimal"


def test_default_pool_grows_with_the_budget(tmp_path):
    """Without city_pool the pool is max(0, B − 370): at B = 360 D2 gets no transfer; it needs 14,
    so the budget must reach 384 — not merely the 252 the staff cost."""
    folder = _variant(tmp_path, own=(300, 70), cap=(50, 14))
    plan = _solve(folder, budget=360)
    budget = _alone(plan.meta, "budget_granted_10k_cny")
    assert budget["target"] == pytest.approx(384)
    assert _solve(folder, budget=384).meta["status"] == "optimal"
    assert _solve(folder, budget=383).meta["status"] == "infeasible"


def test_headcount_below_the_minimum_teams(tmp_path):
    plan = _solve(TINY, headcount=3, allow_release=True)
    head = _alone(plan.meta, "enforcement.headcount_not_exceeded")
    assert head["target"] == pytest.approx(15)
    assert "the headcount of 3 officers falls 12 officers short of covering a team of 5 in 3 towns; raise the " \
           "headcount (--headcount or headcount in city.yaml) to at least 15" in head["text"]
    assert _solve(TINY, headcount=15, allow_release=True).meta["status"] == "optimal"
    kept = _alone(_solve(TINY, headcount=3).meta, "enforcement.headcount_not_exceeded")     # the 17 officers of today
    assert kept["target"] == pytest.approx(17)
    assert _solve(TINY, headcount=17).meta["status"] == "optimal"


@pytest.mark.parametrize("own, cap, pool, budget", [
    ((300, 100), (50, 150), None, 50),          # the budget
    ((300, 70), (50, 13), None, None),          # one district's own budget plus cap
    ((300, 70), (50, 14), 10, None),            # an explicit pool
    ((300, 70), (50, 14), None, 360),           # the default pool, opened by the budget
])
def test_a_large_city_is_settled_from_the_data_with_the_elastic_figures(tmp_path, monkeypatch, own, cap, pool, budget):
    """Above SETTLED_ABOVE_GRIDS grids the budget floor is settled without a solve; on the tiny city
    both ways run, and the data's figures are the elastic model's."""
    import allocator.solving.explain_city as explain_city

    folder = _variant(tmp_path, own, cap, pool)
    elastic = _solve(folder, budget=budget).meta["infeasibility"]["elastic"]
    monkeypatch.setattr(explain_city, "SETTLED_ABOVE_GRIDS", 0)
    plan = _solve(folder, budget=budget)
    settled = plan.meta["infeasibility"]["elastic"]
    assert settled["status"] == "settled" and plan.meta["explanation"].count("From the data") == 1
    by = {r["family"]: r for r in elastic["alone"]}
    for found in settled["findings"]:
        if found["family"] == "district":
            assert found["own_budget_target"] == pytest.approx(own[1] + by["transfer_10k_cny"]["amounts"][0])
            assert found["transfer_cap_target"] == pytest.approx(cap[1] + by["transfer_10k_cny"]["amounts"][0])
        else:
            key = {"budget": "budget_granted_10k_cny", "pool": "transfers_within_city_pool"}[found["family"]]
            assert found["target"] == pytest.approx(by[key]["target"])
    assert len(settled["findings"]) == 1
