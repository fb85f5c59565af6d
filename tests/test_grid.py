"""Grid staffing (models/grid.py) and its independent checker (allocator/checks/grid.py).

Small cities whose optimum is found by enumerating every staffing in plain Python; the
checker on every plan and on tampered plans; invariances; the command line end to end.
"""
from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.plans.checks import check_plan
from allocator.data.instance import Instance
from allocator.data.money import staff_today
from allocator.data.loader import load_instance
from allocator.plans.plan import read_plan, write_plan
from allocator.plans.make import make_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions
from allocator.cli import main
from allocator.models import grid

TINY = Path(__file__).resolve().parent / "data" / "tiny"
EXACT = SolveOptions(threads=1, gap=1e-7)

# Small-city norms: the workload of a grid is its number of households, in hours.
NORMS = {"grid_hours_per_household": 1.0, "grid_hours_per_event": 0.0, "grid_hours_per_person": 0.0,
         "hours_fulltime": 1760, "hours_parttime": 400, "hours_professional": 1600,
         "professional_max_grids": 2, "parttime_max_per_grid": 2}
SALARIES = {"fulltime": 7.0, "parttime": 1.2, "professional": 10.0, "enforcement": 12.0}


@pytest.fixture(scope="module")
def tiny() -> Instance:
    return load_instance(TINY)


def small_city(base: Instance, workloads: dict[str, list[float]], salaries: dict | None = None, today: tuple = (0, 0),
               **norms) -> Instance:
    """A city of the tiny city's first towns, with grids of the given workloads (hours) per town, each grid
    with `today` = (full-time, part-time) workers employed today (none by default: the enumeration below
    knows no workers of today; tests/test_workers_kept.py enumerates with them)."""
    towns = base.towns.iloc[: len(workloads)].copy()
    rows = []
    for town, loads in zip(towns.index, workloads.values()):
        for i, w in enumerate(loads):
            row = base.grids.iloc[0].copy()
            row["grid_id"], row["town_id"], row["households"] = f"{town}-G{i + 1}", town, w
            row["fulltime_now"], row["parttime_now"] = today
            rows.append(row)
    grids = pd.DataFrame(rows).set_index("grid_id", drop=False)
    grids.index.name = None
    grids["households"] = grids["households"].astype("int64")
    config = replace(base.config, norms={**base.config.norms, **NORMS, **norms}, salaries=dict(salaries or SALARIES))
    return replace(base, config=config, towns=towns, grids=grids)


def enumerate_plans(city: Instance, headcount: int | None = None):
    """Every staffing of a small city by brute force: (cost, unmet hours, min town ratio, posts).

    Ranges are wider than the model's own caps, so the enumeration also tests those caps. For
    fixed whole numbers the professional hours are pooled in each town, which leaves a town
    max(0, Σ deficits − H_pro·y) hours unmet.
    """
    n = city.config.norms
    hf, hp, hpro = n["hours_fulltime"], n["hours_parttime"], n["hours_professional"]
    s = {k: city.config.salary(k) for k in ("fulltime", "parttime", "professional")}
    w = city.grids["households"].astype(float).tolist()
    towns = city.grids["town_id"].tolist()
    town_ids = list(city.towns.index)
    size = {t: towns.count(t) for t in town_ids}
    y_min = {t: math.ceil(size[t] / n["professional_max_grids"]) for t in town_ids}
    x_range = [range(1, math.ceil(wg / hf) + 2) for wg in w]
    z_range = [range(0, n["parttime_max_per_grid"] + 1)] * len(w)
    y_range = [range(y_min[t], y_min[t] + 3) for t in town_ids]
    load = {t: sum(wg for wg, tg in zip(w, towns) if tg == t) for t in town_ids}
    out = []
    for xs in itertools.product(*x_range):
        for zs in itertools.product(*z_range):
            deficit = {t: 0.0 for t in town_ids}
            for wg, tg, x, z in zip(w, towns, xs, zs):
                deficit[tg] += max(0.0, wg - hf * x - hp * z)
            for ys in itertools.product(*y_range):
                posts = sum(xs) + sum(ys)
                if headcount is not None and posts > headcount:
                    continue
                unmet = {t: max(0.0, deficit[t] - hpro * y) for t, y in zip(town_ids, ys)}
                cost = s["fulltime"] * sum(xs) + s["parttime"] * sum(zs) + s["professional"] * sum(ys)
                ratio = min(1 - unmet[t] / load[t] for t in town_ids if load[t] > 0)
                out.append((cost, sum(unmet.values()), ratio, posts))
    return out


def best(plans, objective: str, budget: float | None):
    ok = [p for p in plans if budget is None or p[0] <= budget + 1e-9]
    if objective == "cost":
        return min(p[0] for p in ok if p[1] <= 1e-9)
    if objective == "unmet":
        return min(p[1] for p in ok)
    return max(p[2] for p in ok)


def city_budget(city: Instance, budget: float | None) -> float | None:
    """The city budget (--budget) that leaves `budget` for grid workers after today's officers."""
    return None if budget is None else budget + staff_today(city)["officers"]


def solved(city: Instance, objective: str, budget=None, headcount=None, solve_options=EXACT):
    """`budget`: the budget for grid workers (what --budget leaves after today's officers)."""
    plan = make_plan(city, RunOptions(model="grid", objective=objective, budget=city_budget(city, budget),
                                      headcount=headcount), solve_options)
    assert plan.tables, plan.meta.get("explanation")
    assert plan.meta["check"]["passed"], plan.meta["check"]["violations"]
    return plan


CASES = [  # workloads per town (hours); budget for unmet / maxmin as a share of the way from
    ({"A": [2300.0]}, 0.5),            # the cheapest plan to the cheapest full coverage
    ({"A": [2300.0, 2900.0]}, 0.4),
    ({"A": [3100.0, 900.0, 2500.0]}, 0.7),
    ({"A": [2600.0, 2150.0], "B": [3400.0]}, 0.5),
    ({"A": [5300.0], "B": [2900.0, 2000.0]}, 0.3),
]


def budget_share(plans, share: float) -> float:
    cheapest, full = min(p[0] for p in plans), best(plans, "cost", None)
    return round(cheapest + share * (full - cheapest), 1)


@pytest.mark.parametrize("workloads,share", CASES)
@pytest.mark.parametrize("objective", grid.OBJECTIVES)
def test_optimum_matches_enumeration(tiny, workloads, share, objective):
    city = small_city(tiny, workloads)
    plans = enumerate_plans(city)
    budget = budget_share(plans, share)
    plan = solved(city, objective, None if objective == "cost" else budget)
    expected = best(plans, objective, None if objective == "cost" else budget)
    assert plan.meta["status"] == "optimal"
    assert plan.meta["objective_value"] == pytest.approx(expected, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("objective", grid.OBJECTIVES)
def test_headcount_limit_matches_enumeration(tiny, objective):
    city = small_city(tiny, {"A": [3300.0, 2500.0], "B": [3000.0]})
    plans = enumerate_plans(city, headcount=5)
    plan = solved(city, objective, budget=None if objective == "cost" else 60.0, headcount=5)
    assert plan.meta["objective_value"] == pytest.approx(best(plans, objective, None if objective == "cost" else 60.0), rel=1e-6, abs=1e-6)
    assert plan.meta["figures"]["posts"] <= 5


@settings(max_examples=12, deadline=None)
@given(loads=st.lists(st.integers(400, 4200), min_size=1, max_size=3),
       split=st.booleans(), share=st.floats(0.0, 1.2), objective=st.sampled_from(grid.OBJECTIVES))
def test_random_small_cities_match_enumeration(tiny, loads, split, share, objective):
    workloads = {"A": loads[:1], "B": loads[1:]} if split and len(loads) > 1 else {"A": loads}
    city = small_city(tiny, {k: [float(v) for v in vs] for k, vs in workloads.items()})
    plans = enumerate_plans(city)
    budget = budget_share(plans, share)
    plan = solved(city, objective, None if objective == "cost" else budget)
    expected = best(plans, objective, None if objective == "cost" else budget)
    assert plan.meta["objective_value"] == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_tiny_city_by_hand(tiny):
    """Tiny: W_G1 = 4·420 + 1.5·300 + 0.1·5200 = 2650 h. Town T1's deficits beyond one
    full-time worker per grid (890 + 655 h) and T2's (850 + 640 h) fit in the 1,600 h of
    the one professional each town must have (≤ 5 grids each), so one worker per grid and
    one professional per town cover every grid: 6·7 + 3·10 = 72. The 5 part-time helpers employed
    today have nothing left to do and are kept in their districts' pools: 72 + 5·1.2 = 78."""
    plan = solved(tiny, "cost")
    g = plan.tables["grid_staff"].set_index("grid_id")
    assert g.loc["G1", "workload_hours"] == pytest.approx(2650.0)
    assert plan.meta["objective_value"] == pytest.approx(78.0)
    assert int(plan.tables["districts"]["parttime_pool"].sum()) == 5
    assert plan.meta["figures"]["unmet_hours"] == pytest.approx(0.0)
    for objective in ("unmet", "maxmin"):
        assert solved(tiny, objective).meta["objective_value"] == pytest.approx(0.0 if objective == "unmet" else 1.0)


def test_model_has_the_families_and_drops_what_one_worker_covers(tiny):
    city = small_city(tiny, {"A": [1000.0, 4000.0, 3000.0], "B": [500.0]})
    m = grid.build_model(city, grid.GridOptions("unmet", budget_10k_cny=50.0, headcount_max=9))
    assert list(m.GRIDS) == ["T1-G2", "T1-G3"]          # G1 needs only its full-time worker; town T2 is covered
    assert list(m.TOWNS) == ["T1"]
    for name in ("grid_work_is_covered", "professional_hours_within_town", "town_spend_is_salaries",
                 "town_unmet_is_sum", "spend_within_budget", "headcount_within_limit"):
        assert hasattr(m, name), name
    assert m.fixed_spend_10k_cny.value == pytest.approx(2 * 7.0 + 1 * 10.0)


def test_checker_rejects_tampered_plans(tiny, tmp_path):
    city = small_city(tiny, {"A": [3300.0, 2500.0], "B": [3000.0]})
    plan = solved(city, "unmet", budget=42.0)
    assert plan.meta["objective_value"] > 100          # some work is left undone
    folder = write_plan(plan, tmp_path / "plan")
    assert check_plan(read_plan(folder), city).passed

    fewer = read_plan(folder)
    g = fewer.tables["grid_staff"]
    g.loc[g["fulltime"].idxmax(), "fulltime"] -= 1                 # one full-time worker fewer
    report = check_plan(fewer, city)
    assert not report.passed and any("fall short of the workload" in v or "no full-time" in v for v in report.violations)

    none = read_plan(folder)
    none.tables["grid_staff"].loc[0, "fulltime"] = 0
    assert any("no full-time worker" in v for v in check_plan(none, city).violations)

    richer = read_plan(folder)
    richer.tables["grid_staff"]["parttime"] = 2                      # within the cap, but over budget
    violations = check_plan(richer, city).violations
    assert any(v.startswith("spend") for v in violations)

    shifted = read_plan(folder)
    shifted.tables["grid_staff"]["pro_hours"] *= 3                   # more hours than the professionals have
    assert any("professional hours" in v for v in check_plan(shifted, city).violations)

    crowded = read_plan(folder)
    crowded.tables["grid_staff"].loc[0, "parttime"] = NORMS["parttime_max_per_grid"] + 1
    assert any("part-time helpers" in v for v in check_plan(crowded, city).violations)

    uncovered = read_plan(folder)
    uncovered.tables["town_staff"]["professionals"] = 0                 # 一员多格 needs ⌈grids / 2⌉ each
    assert any("fewer professionals" in v for v in check_plan(uncovered, city).violations)

    lighter = read_plan(folder)
    lighter.tables["grid_staff"]["workload_hours"] *= 0.9
    assert any("norms' formula" in v for v in check_plan(lighter, city).violations)

    rosier = read_plan(folder)
    rosier.tables["town_staff"]["coverage_ratio"] = 0.5
    assert any("coverage ratios" in v for v in check_plan(rosier, city).violations)

    hidden = read_plan(folder)
    hidden.tables["grid_staff"]["unmet_hours"] = 0.0                  # unmet work left out of the books
    assert any("fall short of the workload" in v for v in check_plan(hidden, city).violations)

    claimed = read_plan(folder)
    claimed.meta["objective_value"] = plan.meta["objective_value"] - 100.0
    assert any("objective recomputed" in v for v in check_plan(claimed, city).violations)


def test_salaries_scaled_by_k_scale_cost_by_k(tiny):
    workloads = {"A": [3300.0, 2500.0], "B": [3000.0, 2200.0]}
    base = solved(small_city(tiny, workloads), "cost").meta["objective_value"]
    scaled = {k: 3.0 * v for k, v in SALARIES.items()}
    assert solved(small_city(tiny, workloads, salaries=scaled), "cost").meta["objective_value"] == pytest.approx(3.0 * base, rel=1e-9)


def test_more_budget_never_raises_unmet_nor_lowers_coverage(tiny):
    city = small_city(tiny, {"A": [3300.0, 2500.0], "B": [3000.0, 2200.0]})
    plans = enumerate_plans(city)
    unmet, ratio = [], []
    for budget in sorted({budget_share(plans, share) for share in (0.0, 0.2, 0.45, 0.7, 1.0)}):
        unmet.append(solved(city, "unmet", budget).meta["objective_value"])
        ratio.append(solved(city, "maxmin", budget).meta["objective_value"])
    assert all(a >= b - 1e-6 for a, b in zip(unmet, unmet[1:]))
    assert all(a <= b + 1e-9 for a, b in zip(ratio, ratio[1:]))
    assert unmet[0] > unmet[-1]


def test_maxmin_reports_an_honest_interval(tiny):
    city = small_city(tiny, {"A": [3300.0, 2500.0], "B": [3000.0, 2200.0]})
    plan = solved(city, "maxmin", budget=50.0, solve_options=SolveOptions(threads=1, gap=0.05))
    f = plan.meta["figures"]
    assert f["level_reached"] == pytest.approx(plan.meta["objective_value"])
    assert f["level_reached"] <= f["level_out_of_reach"] + 1e-12
    assert plan.meta["mip_gap"] <= 0.05
    exact = best(enumerate_plans(city), "maxmin", 50.0)
    assert f["level_reached"] <= exact + 1e-9 <= f["level_out_of_reach"] + 2e-9


def test_cost_below_one_worker_per_grid_is_explained_with_the_figures(tiny):
    plan = make_plan(tiny, RunOptions(model="grid", objective="cost", budget=city_budget(tiny, 60.0)), EXACT)
    assert plan.meta["status"] == "infeasible" and not plan.tables
    # 72 for one worker per grid and the required professionals, 6 for the 5 helpers of today kept in pools
    assert "budget for grid workers of 60.0" in plan.meta["explanation"] and "78.0" in plan.meta["explanation"]
    assert "6 grids" in plan.meta["explanation"]


def enumerate_vacancies(city: Instance, budget: float):
    """Every plan that staffs a subset of grids with one full-time worker each and exactly
    ⌈staffed grids / m_pro⌉ professionals per town (no helpers), within the budget:
    (unmet hours, min town ratio) of each, by brute force."""
    n = city.config.norms
    hf, hpro, per_pro = n["hours_fulltime"], n["hours_professional"], n["professional_max_grids"]
    s = {k: city.config.salary(k) for k in ("fulltime", "professional")}
    w = city.grids["households"].astype(float).tolist()
    towns = city.grids["town_id"].tolist()
    out = []
    for staffed in itertools.product((0, 1), repeat=len(w)):
        unmet, load, pros = {}, {}, 0
        for t in dict.fromkeys(towns):
            members = [i for i, tg in enumerate(towns) if tg == t]
            y = math.ceil(sum(staffed[i] for i in members) / per_pro)
            pros += y
            deficit = sum(max(0.0, w[i] - hf) for i in members if staffed[i])
            unmet[t] = sum(w[i] for i in members if not staffed[i]) + max(0.0, deficit - hpro * y)
            load[t] = sum(w[i] for i in members)
        if s["fulltime"] * sum(staffed) + s["professional"] * pros <= budget + 1e-9:
            out.append((sum(unmet.values()), min(1 - unmet[t] / load[t] for t in load)))
    return out


def recomputed_unmet(plan, city: Instance) -> float:
    """Unmet hours of a plan from its tables and the norms alone: per town, the work of its
    vacant grids plus what its staff's hours leave of the rest."""
    n = city.config.norms
    g = plan.tables["grid_staff"].set_index("grid_id").reindex(city.grids.index)
    pros = plan.tables["town_staff"].set_index("town_id")["professionals"]
    w = (n["grid_hours_per_household"] * city.grids["households"].astype(float)
         + n["grid_hours_per_event"] * city.grids["events_per_year"].astype(float)
         + n["grid_hours_per_person"] * city.grids["population"].astype(float))
    left = (w - n["hours_fulltime"] * g["fulltime"] - n["hours_parttime"] * g["parttime"]).clip(lower=0)
    total = 0.0
    for t, members in city.grids.groupby("town_id").groups.items():
        staffed = g.loc[members, "fulltime"] >= 1
        total += w[members][~staffed].sum()
        total += max(0.0, left[members][staffed].sum() - n["hours_professional"] * pros[t])
    return total


@pytest.mark.parametrize("objective", ["unmet", "maxmin"])
@pytest.mark.parametrize("workloads,budget", [
    ({"A": [2300.0, 900.0, 2500.0], "B": [3400.0, 1200.0]}, 40.0),     # required staff: 5·7 + 3·10 = 65
    ({"A": [2300.0, 900.0, 2500.0], "B": [3400.0, 1200.0]}, 20.0),
    ({"A": [1000.0, 1700.0, 1500.0, 600.0]}, 31.0),                   # 4·7 + 2·10 = 48; the cost optimum
])
def test_budget_below_the_cost_optimum_leaves_grids_vacant_with_a_plan(tiny, workloads, budget, objective):
    """Below the cost of one full-time worker per grid, unmet and maxmin used to be infeasible: the
    budget-limited objectives now give the best plan that leaves grids vacant (their work unmet),
    matched against brute force, with the unmet hours recomputed from the tables."""
    city = small_city(tiny, workloads)
    plans = enumerate_vacancies(city, budget)
    plan = solved(city, objective, budget)
    expected = min(p[0] for p in plans) if objective == "unmet" else max(p[1] for p in plans)
    tolerance = 1e-6 if objective == "unmet" else 0.01            # maxmin: the level search's tolerance
    assert plan.meta["objective_value"] == pytest.approx(expected, rel=tolerance, abs=1e-6)
    unmet = recomputed_unmet(plan, city)
    assert unmet > 0 and unmet == pytest.approx(plan.meta["figures"]["unmet_hours"], rel=1e-9)
    assert (plan.tables["grid_staff"]["fulltime"] == 0).sum() == plan.meta["figures"]["vacant_grids"] > 0
    assert "left vacant" in plan.meta["explanation"]


def test_unmet_falls_as_the_budget_rises_across_the_required_staff_cost(tiny):
    city = small_city(tiny, {"A": [2300.0, 900.0, 2500.0], "B": [3400.0, 1200.0]})
    full = solved(city, "cost").meta["objective_value"]
    values = [solved(city, "unmet", b).meta["objective_value"] for b in (10.0, 30.0, 50.0, 64.9, 65.0, full - 1, full)]
    assert all(a >= b - 1e-6 for a, b in zip(values, values[1:])) and values[0] > values[-1] == 0.0


def test_no_budget_that_pays_todays_workers_is_too_small_for_unmet_or_maxmin(tiny):
    """Tiny's 4 full-time and 5 part-time workers of today cost 4·7 + 5·1.2 = 34: from that budget on a plan
    exists (every grid vacant, everyone pooled); below it none keeps them, and --allow-release lifts that."""
    for objective in ("unmet", "maxmin"):
        plan = solved(tiny, objective, budget=34.0)
        assert plan.meta["figures"]["vacant_grids"] == len(tiny.grids)
        assert plan.meta["figures"]["unmet_hours"] == pytest.approx(recomputed_unmet(plan, tiny), rel=1e-9)
        assert check_plan(plan, tiny).passed
        short = make_plan(tiny, RunOptions(model="grid", objective=objective, budget=city_budget(tiny, 33.0)), EXACT)
        assert short.meta["status"] == "infeasible" and "--allow-release" in short.meta["explanation"]
        released = make_plan(tiny, RunOptions(model="grid", objective=objective, budget=city_budget(tiny, 1.0),
                                              allow_release=True), EXACT)
        assert released.meta["figures"]["vacant_grids"] == len(tiny.grids) and check_plan(released, tiny).passed
    assert "lowest town coverage is 0 at any budget below" in plan.meta["explanation"]


@pytest.mark.parametrize("objective,said", [("unmet", "unmet is 0"), ("maxmin", "lowest town coverage is 1.0")])
def test_a_budget_covering_all_work_is_said_not_reported_as_a_finding(tiny, objective, said):
    """Tiny's budget (500) pays today's officers (204) and full coverage (72, and 6 for today's helpers, kept
    in pools): the answer holds at any budget (--budget, the city's) from 282."""
    plan = solved(tiny, objective)
    assert plan.meta["degeneracy"]["from_budget_10k_cny"] == pytest.approx(78.0 + staff_today(tiny)["officers"])
    assert said in plan.meta["explanation"] and "from 282 " in plan.meta["explanation"]
    city = small_city(tiny, {"A": [3300.0, 2500.0], "B": [3000.0]})  # full coverage needs staff beyond the required
    full = solved(city, "cost").meta["objective_value"]
    assert solved(city, objective, full + 5).meta["degeneracy"]["from_budget_10k_cny"] == pytest.approx(city_budget(city, full))
    assert "degeneracy" not in solved(city, objective, full - 1.5).meta     # between the required staff (41) and full


def test_checker_holds_vacant_grids_to_their_rules(tiny, tmp_path):
    city = small_city(tiny, {"A": [2300.0, 900.0, 2500.0], "B": [3400.0, 1200.0]})
    folder = write_plan(solved(city, "unmet", 40.0), tmp_path / "plan")
    helped = read_plan(folder)
    g = helped.tables["grid_staff"]
    g.loc[g["fulltime"] == 0, "parttime"] = 1
    assert any("without a full-time worker" in v for v in check_plan(helped, city).violations)
    hidden = read_plan(folder)
    hidden.tables["grid_staff"].loc[hidden.tables["grid_staff"]["fulltime"] == 0, "unmet_hours"] = 0.0
    assert any("fall short of the workload" in v for v in check_plan(hidden, city).violations)
    rich = read_plan(folder)                        # at the city's budget every grid must have its worker
    rich.meta["options"]["budget"] = 500.0
    assert any("no full-time worker" in v for v in check_plan(rich, city).violations)


def test_cost_with_a_budget_short_of_full_coverage_is_infeasible(tiny):
    city = small_city(tiny, {"A": [3300.0, 2500.0]})
    full = best(enumerate_plans(city), "cost", None)
    ok = solved(city, "cost", budget=full)
    assert ok.meta["objective_value"] == pytest.approx(full)
    short = make_plan(city, RunOptions(model="grid", objective="cost", budget=city_budget(city, full - 0.5)), EXACT)
    assert short.meta["status"] == "infeasible"
    assert f"{full:,.1f}" in short.meta["explanation"] and "more than the budget" in short.meta["explanation"]


def test_cli_solve_and_check_end_to_end(tmp_path):
    runner = CliRunner()
    out = tmp_path / "plan"
    result = runner.invoke(main, ["solve", str(TINY), "--model", "grid", "--objective", "unmet", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["status"] == "optimal" and summary["check_passed"] is True
    assert {"grid_staff.csv", "town_staff.csv", "districts.csv", "plan.json"} <= {p.name for p in out.iterdir()}
    checked = runner.invoke(main, ["check", str(out), str(TINY)])
    assert checked.exit_code == 0, checked.output
    assert "check: passed" in checked.output


def test_cli_impossible_budget_exits_3_with_the_reason(tmp_path):
    result = CliRunner().invoke(main, ["solve", str(TINY), "--model", "grid", "--objective", "cost", "--budget", "254",
                                       "--out", str(tmp_path / "p")])      # 50 for grid workers after today's officers
    assert result.exit_code == 3
    assert "falls short of the 78.0 needed" in result.output


def test_cli_maxmin_below_the_required_staff_gives_a_plan_and_says_why(tmp_path):
    result = CliRunner().invoke(main, ["solve", str(TINY), "--model", "grid", "--objective", "maxmin", "--budget", "254",
                                       "--out", str(tmp_path / "p")])      # 50 for grid workers after today's officers
    assert result.exit_code == 0, result.output
    assert "check: passed" in result.output and "282 needed" in result.output and "left vacant" in result.output


def test_cli_budget_below_todays_officers_says_nothing_is_left_for_grid_workers(tmp_path):
    result = CliRunner().invoke(main, ["solve", str(TINY), "--model", "grid", "--objective", "maxmin", "--budget", "50",
                                       "--out", str(tmp_path / "p")])
    assert result.exit_code == 3, result.output
    assert "does not cover today's officers (204)" in result.output and "Traceback" not in result.output


def test_headcount_too_small_for_full_coverage_is_explained(tiny):
    city = small_city(tiny, {"A": [5300.0]})     # 1 worker + 2 helpers + 1 professional: 4,160 h at most
    plan = make_plan(city, RunOptions(model="grid", objective="cost", headcount=2), EXACT)
    assert plan.meta["status"] == "infeasible"
    assert "headcount of 2 posts" in plan.meta["explanation"] and "5,300 hours" in plan.meta["explanation"]
    assert solved(city, "cost", headcount=3).meta["objective_value"] == pytest.approx(best(enumerate_plans(city, 3), "cost", None))


@pytest.mark.parametrize("salaries", [SALARIES, {**SALARIES, "fulltime": 7.003}])   # by budget units; by HiGHS
def test_unmet_with_vacant_grids_is_exact_by_either_method(tiny, salaries):
    city = small_city(tiny, {"A": [2300.0, 900.0, 2500.0, 1900.0], "B": [3400.0, 1200.0, 600.0]}, salaries=salaries)
    for budget in (18.0, 33.5, 51.0):
        plan = solved(city, "unmet", budget)
        assert plan.meta["objective_value"] == pytest.approx(min(p[0] for p in enumerate_vacancies(city, budget)), rel=1e-6)
        assert plan.meta["figures"]["unmet_hours"] == pytest.approx(recomputed_unmet(plan, city), rel=1e-9)


def test_maxmin_at_a_budget_a_rounding_below_a_probe_cost(tiny):
    """--budget less today's officers can land a rounding below the least cost of a level the search
    knows; the search judged such a budget as probes are judged, and no longer fails (was IndexError)."""
    city = small_city(tiny, {"A": [400.0], "B": [3761.0]})
    plans = enumerate_plans(city)
    budget = budget_share(plans, 0.5)
    plan = solved(city, "maxmin", budget)
    assert plan.meta["objective_value"] == pytest.approx(best(plans, "maxmin", budget), rel=1e-6, abs=1e-6)
