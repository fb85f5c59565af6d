"""Grid workers employed today (grids.csv fulltime_now, parttime_now) stay employed by default: each is
posted in a grid of their district or held in the district's pool (paid), in every grid objective and in
the city model; --allow-release lifts it and the workers leaving get their own columns, summary line and
compare line. --no-worse-than-today keeps every district's grid coverage at least at today's. Every
plan is read back from its tables and the instance, never from the solver's word."""
from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from allocator import cli
from allocator.data.generate import generate_city, write_city
from allocator.data.loader import load_instance
from allocator.data.money import staff_today
from allocator.models.grid import grid_data
from allocator.plans.checks import check_plan
from allocator.plans.make import make_plan
from allocator.plans.plan import read_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions
from tests.test_grid import TINY, small_city

FAST = SolveOptions(threads=1, gap=1e-6, time_limit=60)
EXACT = SolveOptions(threads=1, gap=1e-7)


def district_of_grids(city) -> np.ndarray:
    return city.towns["district_id"].astype(str).reindex(city.grids["town_id"].astype(str)).to_numpy()


def kept_by_district(plan, city) -> pd.DataFrame:
    """Per district and worker type: employed today (instance), posted (grid_staff) and pooled (districts.csv)."""
    ids = city.districts.index.astype(str)
    g = plan.tables["grid_staff"]
    d = plan.tables["districts"].set_index(plan.tables["districts"]["district_id"].astype(str)).reindex(ids)
    today = city.grids[["fulltime_now", "parttime_now"]].groupby(district_of_grids(city)).sum().reindex(ids, fill_value=0)
    posted = g.groupby(g["district_id"].astype(str))[["fulltime", "parttime"]].sum().reindex(ids, fill_value=0)
    return pd.DataFrame({"fulltime_today": today["fulltime_now"], "parttime_today": today["parttime_now"],
                         "fulltime_kept": posted["fulltime"] + d["fulltime_pool"].fillna(0),
                         "parttime_kept": posted["parttime"] + d["parttime_pool"].fillna(0)})


def assert_nobody_dismissed(plan, city) -> None:
    k = kept_by_district(plan, city)
    assert (k["fulltime_kept"] >= k["fulltime_today"]).all(), k
    assert (k["parttime_kept"] >= k["parttime_today"]).all(), k
    d = plan.tables["districts"]
    assert d["fulltime_released"].sum() == 0 and d["parttime_released"].sum() == 0


@pytest.fixture(scope="module")
def city20(tmp_path_factory):
    """20 towns, 3 districts; 459 part-time helpers employed today."""
    return load_instance(write_city(generate_city(20, 1), tmp_path_factory.mktemp("kept") / "c20", "folder"))


# --- no dismissal by default --------------------------------------------------------------------------

@settings(max_examples=4, deadline=None)
@given(towns=st.integers(5, 9), seed=st.integers(0, 50), objective=st.sampled_from(["cost", "unmet", "maxmin"]),
       short=st.booleans())
def test_no_grid_worker_employed_today_disappears_in_any_grid_objective(tmp_path_factory, towns, seed, objective, short):
    """On small generated cities, at the city's budget or one that leaves grids vacant (`short`): every plan
    keeps today's workers posted or pooled per district, and its spend pays them."""
    city = load_instance(write_city(generate_city(towns, seed), tmp_path_factory.mktemp("p") / "c", "folder"))
    data = grid_data(city)
    budget = None
    if short and objective != "cost":           # between today's workers and one worker per grid: vacancies
        budget = staff_today(city)["officers"] + data.today_cost + 0.5 * (data.mandatory_cost - data.today_cost)
    plan = make_plan(city, RunOptions(model="grid", objective=objective, budget=budget), FAST)
    assert plan.tables, plan.meta.get("explanation")
    assert_nobody_dismissed(plan, city)
    assert check_plan(plan, city).passed
    money = plan.meta["money"]["spend_10k_cny"]["grid_workers"]
    d = plan.tables["districts"]
    pools = 7.0 * d["fulltime_pool"].sum() + 1.2 * d["parttime_pool"].sum()      # generated cities' salaries
    g, t = plan.tables["grid_staff"], plan.tables["town_staff"]
    assert money == pytest.approx(7.0 * g["fulltime"].sum() + 1.2 * g["parttime"].sum() + 10.0 * t["professionals"].sum()
                                  + pools)


@pytest.mark.parametrize("objective", ["maxmin", "utilitarian"])
def test_city_model_keeps_todays_grid_workers(city20, objective):
    plan = make_plan(city20, RunOptions(model="city", objective=objective), FAST)
    assert plan.meta["status"] in ("optimal", "time_limit"), plan.meta.get("explanation")
    assert int(city20.grids["parttime_now"].sum()) > 0
    assert_nobody_dismissed(plan, city20)
    assert plan.meta["check"]["passed"], plan.meta["check"]
    staff = plan.meta["grid"]["staff"]
    assert staff["parttime"]["today"] == int(city20.grids["parttime_now"].sum()) and staff["parttime"]["released"] == 0


def enumerate_kept(city, budget: float | None):
    """Every staffing of a small one-district city by brute force, today's workers kept: a plan pays
    c_full·max(Σx, Σx0) + c_part·max(Σz, Σz0) + c_pro·Σy. (cost, unmet hours, min town ratio) of each."""
    n = city.config.norms
    hf, hp, hpro = n["hours_fulltime"], n["hours_parttime"], n["hours_professional"]
    s = {k: city.config.salary(k) for k in ("fulltime", "parttime", "professional")}
    w = city.grids["households"].astype(float).tolist()
    towns = city.grids["town_id"].tolist()
    town_ids = list(dict.fromkeys(towns))
    x0, z0 = int(city.grids["fulltime_now"].sum()), int(city.grids["parttime_now"].sum())
    y_min = {t: math.ceil(towns.count(t) / n["professional_max_grids"]) for t in town_ids}
    load = {t: sum(wg for wg, tg in zip(w, towns) if tg == t) for t in town_ids}
    out = []
    for xs in itertools.product(*[range(1, math.ceil(wg / hf) + 2) for wg in w]):
        for zs in itertools.product(*[range(0, n["parttime_max_per_grid"] + 1)] * len(w)):
            deficit = {t: 0.0 for t in town_ids}
            for wg, tg, x, z in zip(w, towns, xs, zs):
                deficit[tg] += max(0.0, wg - hf * x - hp * z)
            for ys in itertools.product(*[range(y_min[t], y_min[t] + 3) for t in town_ids]):
                unmet = {t: max(0.0, deficit[t] - hpro * y) for t, y in zip(town_ids, ys)}
                cost = (s["fulltime"] * max(sum(xs), x0) + s["parttime"] * max(sum(zs), z0) + s["professional"] * sum(ys))
                if budget is None or cost <= budget + 1e-9:
                    out.append((cost, sum(unmet.values()), min(1 - unmet[t] / load[t] for t in town_ids)))
    return out


@pytest.mark.parametrize("objective", ["cost", "unmet", "maxmin"])
@pytest.mark.parametrize("loads,today", [([3300.0, 2500.0], (2, 1)), ([3600.0, 1900.0], (1, 2)), ([4000.0], (3, 2))])
def test_kept_workers_optimum_matches_enumeration(objective, loads, today):
    """One town of one district whose workers of today (per grid) exceed what the cheapest plan posts."""
    city = small_city(load_instance(TINY), {"A": loads}, today=today)
    plans = enumerate_kept(city, None)
    least = min(p[0] for p in plans)
    full = min(p[0] for p in plans if p[1] <= 1e-9)
    budget = None if objective == "cost" else least + 0.5 * (full - least)
    within = enumerate_kept(city, budget)
    expected = {"cost": lambda: min(p[0] for p in within if p[1] <= 1e-9), "unmet": lambda: min(p[1] for p in within),
                "maxmin": lambda: max(p[2] for p in within)}[objective]()
    run_budget = None if budget is None else budget + staff_today(city)["officers"]
    plan = make_plan(city, RunOptions(model="grid", objective=objective, budget=run_budget), SolveOptions(threads=1, gap=1e-9))
    assert plan.meta["status"] == "optimal" and check_plan(plan, city).passed
    assert plan.meta["objective_value"] == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert_nobody_dismissed(plan, city)


# --- the checker holds the rule ------------------------------------------------------------------------

def test_checker_refuses_grid_workers_neither_posted_nor_pooled(city20):
    plan = make_plan(city20, RunOptions(model="grid", objective="cost"), FAST)
    assert check_plan(plan, city20).passed
    d = plan.tables["districts"]
    i = int(np.argmax(d["parttime_pool"].to_numpy()))
    gone = float(d.loc[i, "parttime_pool"])
    assert gone > 0
    d.loc[i, "spend"] -= 1.2 * gone
    d.loc[i, "parttime_pool"] = 0                                 # the pooled helpers vanish from the tables
    money = plan.meta["money"]["spend_10k_cny"]                   # and from the money lines, consistently
    money["grid_workers"] -= 1.2 * gone
    money["total"] -= 1.2 * gone
    report = check_plan(plan, city20)
    assert any("neither posted nor pooled" in v for v in report.violations), report.violations
    overfull = make_plan(city20, RunOptions(model="grid", objective="cost"), FAST)
    overfull.tables["districts"].loc[0, "fulltime_pool"] += 10_000      # a pool of workers nobody employs today
    assert any("more full-time grid workers than they employ today" in v for v in check_plan(overfull, city20).violations)


# --- --allow-release ----------------------------------------------------------------------------------

def test_allow_release_gives_released_columns_and_lines(city20, tmp_path):
    runner = CliRunner()
    released = tmp_path / "released"
    result = runner.invoke(cli.main, ["solve", str(city20.source), "--model", "grid", "--allow-release", "--threads", "1",
                                      "--out", str(released)])
    assert result.exit_code == 0, result.output
    plan = read_plan(released)
    d = plan.tables["districts"]
    k = kept_by_district(plan, city20)
    assert d["fulltime_pool"].sum() == 0 and d["parttime_pool"].sum() == 0
    gone = int((k["parttime_today"] - k["parttime_kept"]).clip(lower=0).sum())
    assert gone > 0 and int(d["parttime_released"].sum()) == gone
    full = int(d["fulltime_released"].sum())
    assert f"{full:,} full-time and {gone:,} part-time released (leaving the service)" in result.output
    assert check_plan(plan, city20).passed
    kept = tmp_path / "kept"
    ok = runner.invoke(cli.main, ["solve", str(city20.source), "--model", "grid", "--threads", "1", "--out", str(kept)])
    assert ok.exit_code == 0 and "none released (--allow-release not given)" in ok.output
    shown = runner.invoke(cli.main, ["compare", str(kept), str(released)])
    assert shown.exit_code == 0, shown.output
    line = next(row for row in shown.output.splitlines() if row.startswith("grid staff released"))
    assert "none (not allowed)" in line and line.rstrip().endswith(f"{full + gone:,}")


def test_a_budget_below_todays_grid_workers_is_explained(city20, tmp_path):
    data = grid_data(city20)
    below = staff_today(city20)["officers"] + data.today_cost - 10.0
    for objective in ("unmet", "maxmin", "cost"):
        result = CliRunner().invoke(cli.main, ["solve", str(city20.source), "--model", "grid", "--objective", objective,
                                               "--budget", f"{below:.1f}", "--out", str(tmp_path / objective)])
        assert result.exit_code == 3, result.output
        assert "Traceback" not in result.output and "--allow-release" in result.output
        assert "grid workers employed today" in result.output


# --- --no-worse-than-today ------------------------------------------------------------------------------

def today_unmet(city) -> pd.Series:
    n = city.config.norms
    g = city.grids
    w = (float(n["grid_hours_per_household"]) * g["households"] + float(n["grid_hours_per_event"]) * g["events_per_year"]
         + float(n["grid_hours_per_person"]) * g["population"]).to_numpy(float)
    done = float(n["hours_fulltime"]) * g["fulltime_now"].to_numpy(float) + float(n["hours_parttime"]) * g["parttime_now"].to_numpy(float)
    return pd.Series(np.maximum(w - done, 0.0)).groupby(district_of_grids(city)).sum()


def districts_below_today(plan, city) -> int:
    g = plan.tables["grid_staff"]
    unmet = g.groupby(g["district_id"].astype(str))["unmet_hours"].sum()
    return int((unmet > today_unmet(city).reindex(unmet.index) + 1e-6).sum())


@pytest.fixture(scope="module")
def city8(tmp_path_factory):
    return load_instance(write_city(generate_city(8, 1), tmp_path_factory.mktemp("guard") / "c8", "folder"))


@pytest.mark.parametrize("objective", ["unmet", "maxmin"])
def test_no_worse_than_today_holds_the_grid_coverage(city8, objective):
    """A budget short of one worker per grid: the best plan leaves a district below its coverage today;
    with the guard none is, recomputed from the tables, and the checker agrees."""
    data = grid_data(city8)
    budget = staff_today(city8)["officers"] + data.today_cost + 0.9 * (data.mandatory_cost - data.today_cost)
    free = make_plan(city8, RunOptions(model="grid", objective=objective, budget=budget), FAST)
    held = make_plan(city8, RunOptions(model="grid", objective=objective, budget=budget, no_worse_than_today=True), FAST)
    assert districts_below_today(free, city8) > 0
    assert held.meta["status"] == "optimal" and districts_below_today(held, city8) == 0
    assert check_plan(held, city8).passed
    assert_nobody_dismissed(held, city8)
    g = held.tables["grid_staff"]                     # the checker recomputes the guard: undo it in the tables
    d = held.tables["districts"].loc[0, "district_id"]
    i = g.index[(g["district_id"] == d) & (g["unmet_hours"] < g["workload_hours"])][0]
    g.loc[i, "unmet_hours"] += today_unmet(city8)[d] + 1.0
    assert any("below their grid coverage today" in v for v in check_plan(held, city8).violations)


def test_guard_the_budget_cannot_keep_is_infeasible_and_said(city8):
    data = grid_data(city8)
    budget = staff_today(city8)["officers"] + data.today_cost + 0.5 * (data.mandatory_cost - data.today_cost)
    plan = make_plan(city8, RunOptions(model="grid", objective="unmet", budget=budget, no_worse_than_today=True), FAST)
    assert plan.meta["status"] == "infeasible" and "--no-worse-than-today" in plan.meta["explanation"]


@pytest.mark.parametrize("command", ["solve", "equity-bench", "frontier"])
def test_grid_guard_is_refused_nowhere_it_is_documented(city8, tmp_path, command):
    budget = staff_today(city8)["officers"] + grid_data(city8).mandatory_cost + 50.0
    args = {"solve": ["--objective", "maxmin", "--threads", "1"], "equity-bench": ["--objectives", "utilitarian,maxmin"],
            "frontier": ["--equity", "maxmin", "--points", "1", "--workers", "0"]}[command]
    out = tmp_path / command
    result = CliRunner().invoke(cli.main, [command, str(city8.source), "--model", "grid", "--budget", f"{budget:.1f}",
                                           "--no-worse-than-today", *args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    folders = [out] if command == "solve" else sorted(p.parent for p in Path(out).rglob("plan.json"))
    assert folders
    for folder in folders:
        plan = read_plan(folder)
        assert plan.meta["options"]["no_worse_than_today"] is True
        assert districts_below_today(plan, city8) == 0
        assert check_plan(plan, city8).passed
