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


def test_budget_below_todays_staff_leaves_nothing_for_new_sites(tmp_path):
    """Today's staff cost 34 (grid workers) + 204 (officers) = 238; a city budget of 100 leaves
    nothing for new sites. Existing sites' running cost (150) is committed, never the reason."""
    out = tmp_path / "plan"
    r = CliRunner().invoke(main, ["solve", str(TINY), "--model", "facilities", "--budget", "100", "--out", str(out)])
    assert r.exit_code == 3, r.output
    assert ("the city budget of 100.0 (10k CNY a year) does not pay today's grid workers and officers (238.0), so "
            "nothing is left for new sites; raise the budget (--budget, or budget in city.yaml) to at least 238.0") in r.output
    meta = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    budget = _alone(meta, "spend_within_budget")
    assert budget["target"] == pytest.approx(0) and budget["proven"]
    assert "(238 in the 10k CNY of --budget)" in budget["text"] and "running cost" not in budget["text"]
    assert not [a for a in meta["infeasibility"]["elastic"]["alone"] if a["family"] == "site_open"]
    plan = _solve(TINY, budget=238)                      # the remedy named: a plan, with no new site
    assert plan.meta["status"] == "optimal" and plan.meta["check"]["passed"]
    assert plan.meta["money"]["spend_10k_cny"]["new_sites"] == 0
    assert _solve(TINY, p=1).meta["status"] == "optimal"                # or --p without --budget: no budget row


def test_lscp_budget_below_the_least_cover(tmp_path):
    """New sites covering every coverable grid cost 970; --budget 500 leaves 500 − 238 (today's staff) = 262."""
    plan = _solve(TINY, objective="lscp", budget=500)
    assert plan.meta["status"] == "infeasible"
    budget = _alone(plan.meta, "spend_within_budget")
    assert budget["target"] == pytest.approx(970)                       # the least spend of full cover (lscp)
    assert "raise the budget (--budget) to at least 12.08 million CNY (1,208 in the 10k CNY" in plan.meta["explanation"]
    assert "raise the budget (--budget) to at least 1,208.0" in plan.meta["explanation"]
    assert "cover within reach of" in budget["text"]
    assert _solve(TINY, objective="lscp", budget=1208).meta["status"] == "optimal"
    assert _solve(TINY, objective="lscp", budget=1207).meta["status"] == "infeasible"
    assert _solve(TINY, objective="lscp").meta["status"] == "optimal"  # without --budget: no budget row


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


def test_solve_iis_names_the_budget_row(tmp_path):
    r = CliRunner().invoke(main, ["solve", str(TINY), "--model", "facilities", "--budget", "100", "--iis",
                                  "--out", str(tmp_path / "plan")])
    assert r.exit_code == 3, r.output
    assert "spend_within_budget: ≤ -138" in r.output          # 100 less today's staff (238)


def test_each_family_is_relaxed_on_the_model_as_it_was():
    """lscpb at 388 (150 for new sites after today's staff, 238): the budget alone (to the least cover,
    970) or dropping the cover of 8 grids alone; the second figure is found only if the budget row is
    whole again after the first solve."""
    plan = _solve(TINY, objective="lscpb", budget=388)
    assert _alone(plan.meta, "spend_within_budget")["target"] == pytest.approx(970)
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


def test_capacity_the_budget_cannot_buy_is_decided_from_the_data(health_city, tmp_path):
    """S1 (kept) holds 8,000 of 23,500 persons; the rest, 15,500, costs at least 220 (S3, 10,000 at
    0.022 a person) + 5,500 × 0.034 (part of S2) = 407 and, in whole sites, 220 + 340 = 560. Today's
    staff take 238 of the city budget, so below 238 + 407 = 645 no capacitated plan exists: said at
    once, with no model and no elastic search, and the budget it names gives a plan."""
    for objective in ("cpmedian", "cflp"):
        out = tmp_path / objective
        r = CliRunner().invoke(main, ["solve", str(health_city), "--model", "facilities", "--objective", objective,
                                      "--services", "health", "--budget", "640", "--out", str(out)])
        assert r.exit_code == 3, r.output
        assert ("the sites kept hold only part of the demand (health 8,000 of 23,500 persons); new sites that hold "
                "the rest cost at least 407 (10k CNY a year), more than the 402 the budget leaves for new sites; raise "
                "the budget (--budget) to 798 (it then buys that capacity), or leave health out (--services)") in r.output
        meta = json.loads((out / "plan.json").read_text(encoding="utf-8"))
        assert meta["infeasibility"]["elastic"]["status"] == "settled"
        assert meta["timings"]["solve_s"] == 0
        plan = _solve(health_city, objective=objective, services=("health",), budget=798)
        assert plan.meta["status"] == "optimal" and plan.meta["check"]["passed"]
        assert _solve(health_city, objective=objective, services=("health",), budget=797).meta["status"] == "infeasible"


@pytest.mark.parametrize("objective", ["mclp", "pmedian", "pcenter"])
def test_a_budget_that_buys_the_best_possible_value_says_so(objective):
    """At a city budget of 5,000 every useful site opens: the value is what every site open gives,
    and the run says from which budget on that holds; at that budget the value is the same; at the
    city's own budget (500, binding) nothing is said."""
    plan = _solve(TINY, objective=objective, budget=5000)
    said = plan.meta["degeneracy"]
    assert plan.meta["status"] == "optimal" and "so no budget can do better" in plan.meta["explanation"]
    assert said["best_possible"] == pytest.approx(plan.meta["objective_value"])
    again = _solve(TINY, objective=objective, budget=said["from_budget_10k_cny"])
    assert again.meta["objective_value"] == pytest.approx(plan.meta["objective_value"])
    assert "degeneracy" not in _solve(TINY, objective=objective).meta
