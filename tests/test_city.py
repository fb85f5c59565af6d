"""The city budget model (models/city.py) and its checker (allocator/checks/city.py).

Hand-checked figures on the tiny city (2 districts, 3 towns, 6 grids, 8 sites):
- district D2 (Outskirts) holds town T3 and grids G5, G6. Its least spend is one full-time
  worker per grid (2 × 7), one professional (⌈2/5⌉ × 10) and a team of 5 officers (5 × 12):
  84 (10k CNY/yr). No site of D2 exists and none of D1 reaches its grids.
- T3's staffing standard is D = 5·3,500/10,000 + 0.02·80 + 2·150/1,000 = 3.65 officers, so
  its 5 officers count as 5/3.65 (the minimum team exceeds the standard).
- with own budget 70 and transfer cap 14, D2 can spend exactly 84: nothing else; its
  transfer is 14, at the cap; its index is 0.25·1 + 0.25·5/3.65 + 0.5·0 = 0.5924657…,
  and max-min cannot raise it.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from allocator.plans.checks import check_plan
from allocator.data.loader import load_instance
from allocator.plans.plan import read_plan, write_plan
from allocator.plans.make import make_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions
from allocator.cli import main

EXACT = SolveOptions(threads=1, seed=0, gap=0.0)
D2_INDEX = 0.25 * 1.0 + 0.25 * 5 / 3.65
DISTRICT_COLUMNS = ["district_id", "name", "spend", "own_budget", "transfer", "service_index"]


def variant(tmp_path: Path, tiny_dir: Path, own=(300, 70), cap=(50, 14), pool: float | None = None,
            norms: str = "") -> Path:
    """A copy of the tiny city with other district budgets, city pool or norms."""
    folder = tmp_path / "city"
    shutil.copytree(tiny_dir, folder)
    d = pd.read_csv(folder / "districts.csv")
    d["own_budget"], d["transfer_cap"] = list(own), list(cap)
    d.to_csv(folder / "districts.csv", index=False)
    extra = (f"city_pool: {pool}\n" if pool is not None else "") + (f"norms: {norms}\n" if norms else "")
    (folder / "city.yaml").write_text((folder / "city.yaml").read_text() + extra)
    return folder


def solve(folder: Path, objective: str = "maxmin", **options):
    city = load_instance(folder)
    return make_plan(city, RunOptions(model="city", objective=objective, **options), EXACT), city


def districts(plan) -> pd.DataFrame:
    return plan.tables["districts"].set_index("district_id")


# --- plans on the tiny city ----------------------------------------------------------------------

def test_tiny_plan_checks_and_respects_every_budget_row(tiny_dir):
    plan, city = solve(tiny_dir)
    assert plan.meta["status"] == "optimal" and plan.meta["check"]["passed"], plan.meta["check"]
    d = districts(plan)
    assert list(plan.tables["districts"].columns[:6]) == DISTRICT_COLUMNS
    pool = 500 - 400                               # no city_pool in city.yaml: budget − Σ own budgets
    assert (d["spend"] <= d["own_budget"] + d["transfer"] + 1e-9).all()
    assert (d["transfer"] <= d["transfer_cap"] + 1e-9).all() and d["transfer"].sum() <= pool + 1e-9
    assert d["spend"].sum() <= 500 + 1e-9
    np.testing.assert_allclose(d["transfer"], np.maximum(d["spend"] - d["own_budget"], 0.0))
    index = 0.25 * d["grid_coverage"] + 0.25 * d["enforcement_coverage"] + 0.5 * d["facilities_coverage"]
    np.testing.assert_allclose(d["service_index"], index)
    assert plan.meta["objective_value"] == pytest.approx(d["service_index"].min())


# D2 needs 85.2 (10k CNY/yr): its required staff (84) and the part-time helper it employs today (1.2),
# kept in its pool (one full-time worker covers each of its grids).

def test_transfer_cap_binds_and_fixes_the_worst_district(tmp_path, tiny_dir):
    plan, _ = solve(variant(tmp_path, tiny_dir, own=(300, 70), cap=(50, 15.2)))
    assert plan.meta["check"]["passed"], plan.meta["check"]
    d = districts(plan)
    assert d.loc["D2", "spend"] == pytest.approx(85.2)
    assert d.loc["D2", "transfer"] == pytest.approx(15.2) == d.loc["D2", "transfer_cap"]
    assert d.loc["D2", "service_index"] == pytest.approx(D2_INDEX)
    assert plan.meta["objective_value"] == pytest.approx(D2_INDEX)


def test_pool_binds_no_transfer_is_left_for_the_centre(tmp_path, tiny_dir):
    plan, _ = solve(variant(tmp_path, tiny_dir, own=(300, 70), cap=(50, 15.2), pool=15.2), objective="utilitarian")
    assert plan.meta["check"]["passed"], plan.meta["check"]
    d = districts(plan)
    assert d["transfer"].sum() == pytest.approx(15.2)          # the whole pool goes to D2 ...
    assert d.loc["D1", "transfer"] == pytest.approx(0.0)       # ... so D1 lives on its own budget
    assert d.loc["D1", "spend"] <= 300 + 1e-9


@pytest.mark.parametrize("change, words", [
    ({"cap": (50, 14.2)}, "transfer cap 14.2 allow 84.2"),
    ({"pool": 10}, "more than the city pool 10.0"),
])
def test_budget_conflicts_are_explained_before_solving(tmp_path, tiny_dir, change, words):
    plan, _ = solve(variant(tmp_path, tiny_dir, **{"own": (300, 70), "cap": (50, 15.2), **change}))
    assert plan.meta["status"] == "infeasible"
    assert words in plan.meta["explanation"]


def test_grid_block_holds_unmet_work_exact_and_range_does_not_level_down(tmp_path, tiny_dir):
    """Heavier grid work (6 h per household): towns T1 and T2 need more than their required
    staff. Min-range could narrow the spread only by leaving work undone in D1 for nobody's gain
    (fewer workers in D1, nobody better off): the plan refuses it, says so, and keeps the efficient
    plan's levels; the plan's index equals the modelled one (no work is pretended undone)."""
    folder = variant(tmp_path, tiny_dir, own=(200, 90), cap=(20, 20), pool=25,
                     norms="{grid_hours_per_household: 6.0}")
    plans, metas = {}, {}
    for objective in ("utilitarian", "range"):
        plan, _ = solve(folder, objective)
        assert plan.meta["check"]["passed"], (objective, plan.meta["check"])
        assert plan.meta["objective_value"] == pytest.approx(plan.meta["equity"]["modelled_value"], abs=1e-6)
        plans[objective], metas[objective] = districts(plan), plan.meta
    assert plans["utilitarian"].loc["D1", "grid_coverage"] == pytest.approx(1.0)
    assert plans["range"].loc["D1", "grid_coverage"] == pytest.approx(1.0)       # D1 not levelled down
    refused = metas["range"]["equity"]["fairness"]["levelled_down_refused"]
    assert refused["groups_lowered"] == ["D1"] and refused["measure_value"] < metas["range"]["objective_value"]
    assert any("nobody's gain" in line for line in metas["range"]["equity"]["fairness"]["lines"])
    best, fair = plans["utilitarian"]["service_index"], plans["range"]["service_index"]
    assert not ((best >= fair - 1e-9).all() and (best > fair + 1e-6).any())      # not Pareto-dominated


def test_maxmin_and_utilitarian_trade_efficiency_for_the_worst_off(tiny_dir):
    fair, _ = solve(tiny_dir, "maxmin")
    best, _ = solve(tiny_dir, "utilitarian")
    assert best.meta["city"]["efficiency"] >= fair.meta["city"]["efficiency"] - 1e-9
    assert fair.meta["city"]["min_service_index"] >= best.meta["city"]["min_service_index"] - 1e-9


@pytest.mark.parametrize("objective", ["maxmin", "gini", "leximin"])
def test_the_run_s_highs_time_counts_every_stage(tiny_dir, objective):
    """plan.json's hand-over and HiGHS seconds include every solve listed in its stages, the efficient
    reference too: the time outside HiGHS (total less those) is then the run's own work."""
    plan, _ = solve(tiny_dir, objective)
    stages = plan.meta["stages"]
    assert stages[0]["stage"] == "efficient plan (the reference)"
    timings = plan.meta["timings"]
    solved = timings["handover_s"] + timings["solve_s"]
    assert solved >= sum(s["seconds"] for s in stages) - 1e-9
    assert solved <= timings["total_s"]


@pytest.mark.parametrize("objective", ["leximin", "range", "mad", "gini", "owa", "alpha", "hoover"])
def test_every_measure_gives_a_checked_plan(tiny_dir, objective):
    plan, _ = solve(tiny_dir, objective)
    assert plan.meta["status"] == "optimal" and plan.meta["check"]["passed"], plan.meta["check"]
    assert plan.meta["check"]["objective_recomputed"] == pytest.approx(plan.meta["objective_value"])
    if objective not in ("leximin", "alpha"):          # leximin models its floor; alpha its tangent cuts
        assert plan.meta["equity"]["modelled_value"] == pytest.approx(plan.meta["objective_value"], abs=1e-6)


# --- the checker catches tampering ---------------------------------------------------------------

@pytest.fixture
def written(tmp_path, tiny_dir):
    plan, city = solve(tiny_dir)
    return write_plan(plan, tmp_path / "plan"), city


def _tamper(folder: Path, table: str, edit) -> None:
    frame = pd.read_csv(folder / f"{table}.csv", dtype={"district_id": str, "site_id": str, "town_id": str})
    edit(frame)
    frame.to_csv(folder / f"{table}.csv", index=False)


def _set(key: str, row: str, column: str, value):
    def edit(frame):
        frame.loc[frame[key] == row, column] = value
    return edit


@pytest.mark.parametrize("table, edit, words", [
    ("districts", _set("district_id", "D2", "transfer", 0.0), "own budget + transfer"),
    ("districts", _set("district_id", "D2", "transfer", 151.0), "transfer (cap)"),
    ("districts", _set("district_id", "D1", "service_index", 0.99), "service_index"),
    ("districts", _set("district_id", "D1", "spend", 1.0), "districts.spend"),
    ("facilities", _set("site_id", "S3", "open", 1), "facilities"),
    ("town_staff", _set("town_id", "T3", "pool_share", 3.0), "enforcement"),
])
def test_checker_fails_on_tampered_tables(written, table, edit, words):
    folder, city = written
    assert check_plan(read_plan(folder), city).passed
    _tamper(folder, table, edit)
    report = check_plan(read_plan(folder), city)
    assert not report.passed
    assert any(words in v for v in report.violations), report.violations


def test_checker_fails_on_a_claimed_objective(written):
    folder, city = written
    meta = json.loads((folder / "plan.json").read_text())
    meta["objective_value"] += 0.01
    (folder / "plan.json").write_text(json.dumps(meta))
    assert any("objective" in v for v in check_plan(read_plan(folder), city).violations)


# --- command line ---------------------------------------------------------------------------------

def test_cli_solve_and_check(tmp_path, tiny_dir):
    out = tmp_path / "p"
    r = CliRunner().invoke(main, ["solve", str(tiny_dir), "--model", "city", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.splitlines()[-1])["check_passed"] is True
    assert set(DISTRICT_COLUMNS) <= set(pd.read_csv(out / "districts.csv").columns)
    for table in ("grid_staff", "town_staff", "district_pool", "facilities", "coverage"):
        assert (out / f"{table}.csv").exists()
    assert CliRunner().invoke(main, ["check", str(out), str(tiny_dir)]).exit_code == 0
    _tamper(out, "districts", _set("district_id", "D2", "transfer", 0.0))
    assert CliRunner().invoke(main, ["check", str(out), str(tiny_dir)]).exit_code == 5


def test_cli_bad_objective_and_infeasible_exit_codes(tmp_path, tiny_dir):
    r = CliRunner().invoke(main, ["solve", str(tiny_dir), "--model", "city", "--objective", "fairest", "--out", str(tmp_path / "a")])
    assert r.exit_code == 2, r.output
    tight = variant(tmp_path, tiny_dir, own=(300, 70), cap=(50, 13))
    r = CliRunner().invoke(main, ["solve", str(tight), "--model", "city", "--out", str(tmp_path / "b")])
    assert r.exit_code == 3, r.output
