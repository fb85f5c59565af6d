"""Hoover's index scores spend: the reductions that settle staff or drop useless sites must not freeze
the spend a plan could choose, or `hoover` is "optimal" only on a smaller problem."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from allocator.data.loader import load_instance
from allocator.models.grid import grid_data
from allocator.models.grid_plan import mandatory_staffing
from allocator.plans.checks import check_plan
from allocator.plans.make import make_plan
from allocator.solving.city import city_problem
from allocator.solving.equity import solve_measure
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions
from allocator.studies.equity_runs import Job, ProblemSpec, solve_plan

ONE_THREAD = SolveOptions(threads=1)


def _hoover(spend: pd.Series, people: pd.Series) -> float:
    s, p = spend.to_numpy(float), people.reindex(spend.index).to_numpy(float)
    return 0.5 * float(np.abs(s / s.sum() - p / p.sum()).sum())


def _people(city) -> pd.Series:
    return pd.Series(city.town_population().to_numpy(float),
                     index=city.towns["district_id"].astype(str).to_numpy()).groupby(level=0).sum()


def _grid_spend(tables: dict, city) -> pd.Series:
    """Salaries of the staff in the plan's tables, by district (city.yaml's salaries)."""
    salary = {k: city.config.salary(k) for k in ("fulltime", "parttime", "professional")}
    g, t = tables["grid_staff"], tables["town_staff"]
    spend = (salary["fulltime"] * g["fulltime"] + salary["parttime"] * g["parttime"]).groupby(g["district_id"].astype(str)).sum()
    return spend.add((salary["professional"] * t["professionals"]).groupby(t["district_id"].astype(str)).sum(), fill_value=0.0)


def test_grid_hoover_may_pay_staff_the_reductions_settle(tiny_dir):
    """In the tiny city no grid or town needs more than the required staff, so the reduced model
    settles every one of them; but D1 holds 85 % of the people and 67 % of that spend.
    Any plan may post more full-time workers (x_g ≥ 1 has no upper limit): adding k of them in D1 is a
    plan whose Hoover index the optimum may not exceed."""
    city = load_instance(tiny_dir)
    budget = 500.0
    plan = solve_plan(city, ProblemSpec(model="grid", run=RunOptions(model="grid", budget=budget)), Job("objective", "hoover"),
                      ONE_THREAD)
    assert plan.meta["status"] == "optimal" and plan.tables
    report = check_plan(plan, city)
    assert report.passed, report.violations
    people = _people(city)
    spend = _grid_spend(plan.tables, city)
    assert spend.sum() <= budget + 1e-6
    data = grid_data(city)
    least = mandatory_staffing(data)
    base = pd.Series(data.salary["fulltime"] * np.ones(len(data.grid_ids)), index=data.town_district[data.grid_town]).groupby(level=0).sum()
    base = base.add(pd.Series(data.salary["professional"] * least.professionals, index=data.town_district).groupby(level=0).sum(),
                    fill_value=0.0)
    hand = min(_hoover(base.add(pd.Series({d: k * data.salary["fulltime"]}), fill_value=0.0), people)
               for d in base.index for k in range(int((budget - base.sum()) // data.salary["fulltime"]) + 1))
    assert hand < 0.01
    assert _hoover(spend, people) <= hand + 1e-6


def test_city_hoover_beats_the_reduced_models_optimum(tiny_dir):
    """The city model under hoover, with one move allowed (the one T2's team needs: no enforcement pool),
    no new site of the service asked for, and room in D1's budget: the reduced model's "optimum" is not the city's; the plan found with idle staff and sites allowed is
    checked from its tables and has a lower Hoover index."""
    city = load_instance(tiny_dir)
    city.districts.loc["D1", "transfer_cap"] = 1000.0       # D1 (85 % of the people) may spend its share
    run = RunOptions(model="city", objective="hoover", budget=1000.0, max_moves=1, services=("education",))
    plan = make_plan(city, run, ONE_THREAD)
    assert plan.meta["status"] == "optimal" and plan.meta["check"]["passed"], plan.meta.get("explanation")
    spend = plan.tables["districts"].set_index("district_id")["spend"].astype(float)
    found = _hoover(spend, _people(city))
    assert found == pytest.approx(plan.meta["objective_value"], abs=1e-9)
    reduced = city_problem(city, run)
    reduced.release_spend = None                 # the reductions as they were: spend of settled staff frozen
    outcome = solve_measure(reduced, "hoover", ONE_THREAD)
    assert outcome.status == "optimal"
    frozen = reduced.plan_levels(reduced.tables()).measure("hoover")
    assert found < frozen - 0.01


def test_facilities_hoover_may_open_a_site_that_covers_no_one(tiny_dir):
    """Education in the tiny city: one existing school in D1 (85 % of the people) holds all the spend. A
    new school in D2 far from every grid covers no one, so the reductions leave it out; opening it is a
    plan of the whole problem with a far lower Hoover index."""
    city = load_instance(tiny_dir)
    far = city.sites.iloc[[-1]].copy()
    far[["site_id", "town_id", "existing", "open_cost", "annual_cost", "x", "y"]] = ["S9", "T3", 0, 10.0, 5.0, 500_000.0, 500_000.0]
    city = replace(city, sites=pd.concat([city.sites, far], ignore_index=True))
    run = RunOptions(model="facilities", budget=1000.0, services=("education",))
    plan = solve_plan(city, ProblemSpec(model="facilities", run=run), Job("objective", "hoover"), ONE_THREAD)
    assert plan.meta["status"] == "optimal" and plan.tables
    report = check_plan(plan, city)
    assert report.passed, report.violations
    f = plan.tables["facilities"]
    sites = city.sites.set_index("site_id")
    cost = np.where(f["open"].to_numpy(int) == 1, sites["annual_cost"].reindex(f["site_id"]).to_numpy(float)
                    + np.where(f["existing"].to_numpy(int) == 0, sites["open_cost"].reindex(f["site_id"]).to_numpy(float), 0.0), 0.0)
    spend = pd.Series(cost, index=f["district_id"].astype(str).to_numpy()).groupby(level=0).sum().reindex(["D1", "D2"]).fillna(0.0)
    people = _people(city)
    hand = _hoover(pd.Series({"D1": 80.0, "D2": 15.0}), people)      # the existing school and S9 open
    assert _hoover(spend, people) <= hand + 1e-6 < _hoover(pd.Series({"D1": 80.0, "D2": 0.0}), people) - 0.1
