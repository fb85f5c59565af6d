"""Infeasible facilities runs explained: the family, the figure, plan.json, and the stated
relaxation applied to the city makes a plan possible (the honest check of the figure)."""
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


def _solve(folder: Path, **options):
    return make_plan(load_instance(folder), RunOptions(model="facilities", **options), FAST)


def _alone(meta: dict, family: str) -> dict:
    found = [r for r in meta["infeasibility"]["elastic"]["alone"] if r["family"] == family]
    assert found, meta["infeasibility"]["elastic"]
    return found[0]


def _copy(tmp_path: Path, name: str = "city") -> Path:
    folder = tmp_path / name
    shutil.copytree(TINY, folder)
    return folder


def _edit_sites(folder: Path, **columns) -> None:
    """columns: site_id → {column: value}."""
    sites = pd.read_csv(folder / "sites.csv")
    for site, values in columns.items():
        for column, value in values.items():
            sites.loc[sites["site_id"] == site, column] = value
    sites.to_csv(folder / "sites.csv", index=False)


def test_budget_below_the_sites_kept_open(tmp_path):
    """Existing S1, S4, S8 run at 50 + 20 + 80 = 150; a budget of 100 is 50 short (mclp)."""
    out = tmp_path / "plan"
    r = CliRunner().invoke(main, ["solve", str(TINY), "--model", "facilities", "--budget", "100", "--out", str(out)])
    assert r.exit_code == 3, r.output
    assert ("the budget of 1 million CNY falls 500,000 CNY short of paying for the running cost of 3 existing sites kept "
            "open; raise the budget (--budget) to at least 1.5 million CNY (150 in the 10k CNY of --budget)") in r.output
    meta = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert meta["status"] == "infeasible" and "1.5 million CNY" in meta["explanation"]
    budget = _alone(meta, "spend_within_budget")
    assert budget["amount"] == pytest.approx(50) and budget["target"] == pytest.approx(150) and budget["proven"]
    assert _solve(TINY, budget=budget["target"]).meta["status"] == "optimal"
    closing = _alone(meta, "site_open")                  # or close the dearest existing site
    assert closing["ids"] == ["S8"] and "set existing to 0 for them in sites.csv" in closing["text"]
    closed = _copy(tmp_path)
    _edit_sites(closed, S8={"existing": 0})
    assert _solve(closed, budget=100).meta["status"] == "optimal"


def test_lscp_budget_below_the_least_cover(tmp_path):
    plan = _solve(TINY, objective="lscp", budget=500)
    assert plan.meta["status"] == "infeasible"
    budget = _alone(plan.meta, "spend_within_budget")
    assert budget["target"] == pytest.approx(1120)                      # the least spend of full cover (lscp)
    assert "raise the budget (--budget) to at least 11.2 million CNY" in plan.meta["explanation"]
    assert "cover within reach of" in budget["text"]
    assert _solve(TINY, objective="lscp", budget=budget["target"]).meta["status"] == "optimal"
    assert _solve(TINY, objective="lscp", budget=budget["target"] - 1).meta["status"] == "infeasible"


@pytest.fixture
def health_city(tmp_path) -> Path:
    """Health only: S1 (existing) holds 8,000, candidates S2 and S3 10,000 each; 23,500 persons."""
    folder = _copy(tmp_path, "health")
    _edit_sites(folder, S2={"capacity": 10000}, S3={"capacity": 10000})
    return folder


def test_too_few_new_sites_for_the_capacity_needed(health_city, tmp_path):
    out = tmp_path / "plan"
    r = CliRunner().invoke(main, ["solve", str(health_city), "--model", "facilities", "--objective", "cpmedian",
                                  "--services", "health", "--p", "1", "--budget", "2000", "--out", str(out), "--json"])
    assert r.exit_code == 3, r.output
    meta = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    p = _alone(meta, "new_sites_within_p")
    assert p["ids"] == ["health"] and p["limit"] == 1 and p["target"] == pytest.approx(2)
    assert "new sites per service (--p) are limited to 1 site, too few in 1 service (health: 1 site more); " \
           "raise --p to at least 2" in json.loads(r.output)["explanation"]
    assert _solve(health_city, objective="cpmedian", services=("health",), p=2, budget=2000).meta["status"] == "optimal"
    capacity = _alone(meta, "capacity_not_exceeded")      # or more room at the sites p allows
    assert capacity["amount"] == pytest.approx(23500 - 18000)
    sites = pd.read_csv(health_city / "sites.csv").set_index("site_id")
    raised = {site: sites.loc[site, "capacity"] + more for site, more in zip(capacity["ids"], capacity["amounts"])}
    assert "raise their capacity in sites.csv (" + ", ".join(f"{s} to {v:,.6g}" for s, v in raised.items()) in capacity["text"]
    _edit_sites(health_city, **{site: {"capacity": value} for site, value in raised.items()})
    assert _solve(health_city, objective="cpmedian", services=("health",), p=1, budget=2000).meta["status"] == "optimal"


def test_grids_no_site_is_listed_for_are_settled_from_the_data(tmp_path):
    """travel.csv lists elderly-care sites for G1–G4 only: p-median cannot assign G5 and G6."""
    folder = _copy(tmp_path)
    pairs = [(g, s, 10.0) for g in ("G1", "G2", "G3", "G4") for s in ("S6", "S7")]
    pd.DataFrame(pairs, columns=["from_id", "site_id", "minutes"]).to_csv(folder / "travel.csv", index=False)
    out = tmp_path / "plan"
    r = CliRunner().invoke(main, ["solve", str(folder), "--model", "facilities", "--objective", "pmedian",
                                  "--services", "elderly_care", "--iis", "--out", str(out)])
    assert r.exit_code == 3, r.output
    words = ("2 grids (G5, G6) with 780 persons of elderly_care demand have no elderly_care site to be assigned to: "
             "travel.csv lists no elderly_care site for them")
    assert words in r.output
    meta = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    elastic = meta["infeasibility"]["elastic"]
    assert elastic["status"] == "settled" and elastic["findings"] == [
        {"service": "elderly_care", "grids": ["G5", "G6"], "demand": 780.0}]
    assert words in meta["explanation"] and meta["infeasibility"]["iis"]["status"] == "unavailable"
    pairs += [(g, "S6", 12.0) for g in ("G5", "G6")]
    pd.DataFrame(pairs, columns=["from_id", "site_id", "minutes"]).to_csv(folder / "travel.csv", index=False)
    assert _solve(folder, objective="pmedian", services=("elderly_care",)).meta["status"] == "optimal"


def test_solve_iis_names_the_budget_row_and_the_sites_kept_open(tmp_path):
    r = CliRunner().invoke(main, ["solve", str(TINY), "--model", "facilities", "--budget", "100", "--iis",
                                  "--out", str(tmp_path / "plan")])
    assert r.exit_code == 3, r.output
    assert "spend_within_budget: ≤ 100" in r.output
    for site in ("S1", "S4", "S8"):
        assert f"site_open[{site}]: lower bound 1" in r.output


def test_each_family_is_relaxed_on_the_model_as_it_was():
    """lscpb at 300: the budget alone (to the least cover, 1,120) or dropping the cover of 8 grids
    alone; the second figure is found only if the budget row is whole again after the first solve."""
    plan = _solve(TINY, objective="lscpb", budget=300)
    assert _alone(plan.meta, "spend_within_budget")["target"] == pytest.approx(1120)
    reach = _alone(plan.meta, "grid_within_reach")
    assert reach["amount"] == pytest.approx(8) and len(reach["ids"]) == 8
    assert "or 8 grids ((health, G3), (health, G4)" in plan.meta["explanation"]


def test_many_pairs_are_explained_by_total_open_capacity(health_city, monkeypatch):
    """Above MAX_ARCS pairs the capacity family is the total of open capacity (necessary, said so)."""
    import allocator.models.facilities_requirements as explain_facilities

    monkeypatch.setattr(explain_facilities, "MAX_ARCS", 0)
    plan = _solve(health_city, objective="cpmedian", services=("health",), p=1, budget=2000)
    total = _alone(plan.meta, "open_capacity_meets_demand")
    assert total["ids"] == ["health"] and total["amount"] == pytest.approx(23500 - 18000)
    assert "serving each grid from one site may need more" in total["text"]
    assert _alone(plan.meta, "new_sites_within_p")["target"] == pytest.approx(2)
