"""Independent check of a grid-staffing plan (models/grid.py), from the plan files and the
instance alone: the norms' workload formula, the staffing rules, the hours balance, the
budget and headcount the run was held to, the tables' totals and the objective.

    W_g = h_household·households + h_event·events_per_year + h_person·population
    x_g ≥ 1 and whole;  0 ≤ z_g ≤ z_max and whole;  y_t ≥ ⌈|G_t|/m_pro⌉ and whole
        (unmet and maxmin under a budget or headcount short of one full-time worker per grid and
        ⌈|G_t|/m_pro⌉ professionals per town: a grid may be vacant, x_g = 0, with no helper and no
        professional hours; y_t ≥ ⌈staffed grids of t / m_pro⌉)
    Σ_{g∈G_t} a_g ≤ H_pro·y_t;   H_full·x_g + a_g + H_part·z_g + u_g ≥ W_g
    C = c_full (Σx + Σp^full) + c_part (Σz + Σp^part) + c_pro Σy ≤ B;   Σx + Σy + Σp^full ≤ H
        (B: what the city budget, --budget or city.yaml's, leaves after today's officers, held with
        --budget and under unmet and maxmin — allocator.data.money; H: --headcount)
    today's grid workers kept, per district d and type k (fulltime, parttime), x0/z0 from the instance:
        Σ_{g∈d} k_g + p^k_d ≥ Σ_{g∈d} k0_g (p^k_d: districts.csv k_pool, at most today's), unless the run
        allowed release; released^k_d = (Σ k0 − Σ k − p^k_d)⁺ (districts.csv k_released), 0 without it
    --no-worse-than-today: Σ_{g∈d} u_g ≤ Σ_{g∈d} (W_g − H_full x0_g − H_part z0_g)⁺ per district
    ρ_t = 1 − Σ_{g∈G_t} u_g / W_t
    objective: cost → C (and no unmet hours); unmet → Σ u_g; maxmin → min_t ρ_t
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from allocator.data.instance import Instance
from allocator.plans.plan import Plan
from allocator.data.money import committed_sites, model_budget
from allocator.plans.checks import TOL, CheckReport, at_most, check_money, ids_match, integral, nonnegative

HOURS_TOL = 1e-6     # relative tolerance on hours balances


def check(plan: Plan, city: Instance) -> CheckReport:
    report = CheckReport()
    grids, towns = plan.table("grid_staff").copy(), plan.table("town_staff").copy()
    if not (ids_match(report, "grid_staff", grids, "grid_id", city.grids.index.astype(str))
            and ids_match(report, "town_staff", towns, "town_id", city.towns.index.astype(str))):
        return report
    grids = grids.set_index(grids["grid_id"].astype(str)).reindex(city.grids.index.astype(str))
    towns = towns.set_index(towns["town_id"].astype(str)).reindex(city.towns.index.astype(str))
    _check_membership(report, grids, towns, city)
    grids["town_id"] = city.grids["town_id"].astype(str).to_numpy()      # the instance decides membership
    grids["district_id"] = city.towns["district_id"].astype(str).reindex(grids["town_id"]).to_numpy()
    towns["district_id"] = city.towns["district_id"].astype(str).to_numpy()
    integral(report, "grid_staff", grids, ["fulltime", "parttime"])
    integral(report, "town_staff", towns, ["professionals"])
    nonnegative(report, "grid_staff", grids, ["fulltime", "parttime", "pro_hours", "workload_hours", "unmet_hours"])
    nonnegative(report, "town_staff", towns, ["professionals"])
    norms = city.config.norms
    workload = (float(norms["grid_hours_per_household"]) * city.grids["households"].to_numpy(float)
                + float(norms["grid_hours_per_event"]) * city.grids["events_per_year"].to_numpy(float)
                + float(norms["grid_hours_per_person"]) * city.grids["population"].to_numpy(float))
    _check_staffing_rules(report, plan, grids, towns, norms, _vacancies_allowed(plan, towns, city))
    _check_hours(report, grids, towns, norms, workload)
    pools = _check_today_kept(report, plan, grids, city)
    if (plan.meta.get("options") or {}).get("no_worse_than_today"):
        _check_no_worse_than_today(report, grids, city, workload)
    _check_limits_and_objective(report, plan, grids, towns, city, workload, pools)
    if "districts" in plan.tables:
        _check_districts(report, plan.table("districts"), grids, towns, city, pools)
    return report


KINDS = ("fulltime", "parttime")
KEPT_COLUMNS = ("fulltime_now", "parttime_now", "fulltime_pool", "parttime_pool", "fulltime_released", "parttime_released")


def pool_spend(plan: Plan, city: Instance) -> pd.Series:
    """Per district: the salaries of today's grid workers held in its pool (10k CNY/yr)."""
    pools = _pools(plan, city)
    return (city.config.salary("fulltime") * pools["fulltime_pool"].fillna(0.0)
            + city.config.salary("parttime") * pools["parttime_pool"].fillna(0.0))


def _pools(plan: Plan, city: Instance) -> pd.DataFrame:
    """districts.csv's pool and released columns per district (0 where the plan has none)."""
    ids = city.districts.index.astype(str)
    out = pd.DataFrame(0.0, index=ids, columns=[f"{k}_{c}" for k in KINDS for c in ("pool", "released")])
    d = plan.tables.get("districts")
    if d is None:
        return out
    d = d.set_index(d["district_id"].astype(str))
    for column in out.columns:
        if column in d:
            out[column] = pd.to_numeric(d[column], errors="coerce").reindex(ids).to_numpy(float)
    return out


def today_unmet_hours(city: Instance, workload: np.ndarray) -> np.ndarray:
    """Per grid of city.grids, (W_g − H_full x0_g − H_part z0_g)⁺: the work today's posted workers leave undone."""
    norms = city.config.norms
    done = (float(norms["hours_fulltime"]) * city.grids["fulltime_now"].to_numpy(float)
            + float(norms["hours_parttime"]) * city.grids["parttime_now"].to_numpy(float))
    return np.maximum(np.asarray(workload, float) - done, 0.0)


def _check_no_worse_than_today(report: CheckReport, grids: pd.DataFrame, city: Instance, workload: np.ndarray) -> None:
    """--no-worse-than-today: every district leaves at most the work today's posted workers leave undone,
    Σ_{g∈d} u_g ≤ Σ_{g∈d} (W_g − H_full x0_g − H_part z0_g)⁺ (its coverage at least today's)."""
    district = grids["district_id"].to_numpy()
    today = pd.Series(today_unmet_hours(city, workload)).groupby(district).sum()
    unmet = pd.Series(grids["unmet_hours"].to_numpy(float)).groupby(district).sum()
    over = unmet > today + HOURS_TOL * np.maximum(1.0, pd.Series(workload).groupby(district).sum())
    if over.any():
        d = over.index[over.to_numpy()][0]
        report.fail(f"{int(over.sum())} districts fall below their grid coverage today (e.g. {d}: {unmet[d]:,.6g} h unmet, "
                    f"{today[d]:,.6g} h today) though the run asked --no-worse-than-today")


def _check_today_kept(report: CheckReport, plan: Plan, grids: pd.DataFrame, city: Instance) -> pd.DataFrame:
    """Today's grid workers (grids.csv fulltime_now, parttime_now) posted in their district or in its pool,
    unless the run allowed release; the released columns recomputed. Returns the pools per district."""
    pools = _pools(plan, city)
    allow = bool((plan.meta.get("options") or {}).get("allow_release"))
    district = city.towns["district_id"].astype(str).reindex(city.grids["town_id"].astype(str)).to_numpy()
    ids = pools.index
    for kind in KINDS:
        today = city.grids[f"{kind}_now"].astype(float).groupby(district).sum().reindex(ids, fill_value=0.0)
        if f"{kind}_now" in grids:
            off = ~np.isclose(grids[f"{kind}_now"].to_numpy(float), city.grids[f"{kind}_now"].to_numpy(float))
            if off.any():
                report.fail(f"grid_staff.{kind}_now: {int(off.sum())} grids differ from the instance (e.g. {grids.index[off][0]})")
        posted = grids[kind].astype(float).groupby(grids["district_id"].to_numpy()).sum().reindex(ids, fill_value=0.0)
        pool, released = pools[f"{kind}_pool"], pools[f"{kind}_released"]
        words = "full-time" if kind == "fulltime" else "part-time"
        bad = (pool < -TOL) | pool.isna() | (np.abs(pool - np.rint(pool)) > TOL)
        if bad.any():
            report.fail(f"districts.{kind}_pool: {int(bad.sum())} districts hold a negative, missing or fractional pool "
                        f"(e.g. {ids[bad.to_numpy()][0]})")
        over = pool > today + TOL
        if over.any():
            report.fail(f"districts.{kind}_pool: {int(over.sum())} districts pool more {words} grid workers than they "
                        f"employ today (e.g. {ids[over.to_numpy()][0]})")
        gone = np.maximum(today - posted - pool, 0.0)
        if not allow and (gone > TOL).any():
            d = ids[(gone > TOL).to_numpy()][0]
            report.fail(f"{int(gone.sum()):,} {words} grid workers employed today are neither posted nor pooled in "
                        f"{int((gone > TOL).sum())} districts (e.g. {d}: {int(today[d]):,} today, {int(posted[d]):,} "
                        f"posted, {int(pool[d]):,} pooled), and the run did not allow release (--allow-release)")
        want = gone if allow else np.zeros(len(ids))
        wrong = ~(np.abs(released.to_numpy(float) - np.asarray(want, float)) <= TOL)
        if wrong.any():
            report.fail(f"districts.{kind}_released: {int(wrong.sum())} districts differ from today's {words} workers "
                        f"neither posted nor pooled (e.g. {ids[wrong][0]})")
    return pools


def _check_membership(report: CheckReport, grids: pd.DataFrame, towns: pd.DataFrame, city: Instance) -> None:
    wrong_town = grids["town_id"].astype(str).to_numpy() != city.grids["town_id"].astype(str).to_numpy()
    if wrong_town.any():
        report.fail(f"grid_staff: {int(wrong_town.sum())} grids are placed in the wrong town (e.g. {grids.index[wrong_town][0]})")
    wrong_district = towns["district_id"].astype(str).to_numpy() != city.towns["district_id"].astype(str).to_numpy()
    if wrong_district.any():
        report.fail(f"town_staff: {int(wrong_district.sum())} towns are placed in the wrong district")


def _required_staff(towns, city: Instance, keep_today: bool = True) -> tuple[float, int]:
    """Cost and posts of one full-time worker per grid and ⌈|G_t|/m_pro⌉ professionals per town, and (unless
    release is allowed) today's grid workers that staffing leaves in the district pools."""
    per_pro = int(city.config.norms["professional_max_grids"])
    n_grids = city.grids.groupby(city.grids["town_id"].astype(str)).size().reindex(towns.index, fill_value=0).to_numpy()
    pros = int((-(-n_grids // per_pro)).sum())
    cost, posts = len(city.grids) * city.config.salary("fulltime") + pros * city.config.salary("professional"), len(city.grids) + pros
    if keep_today:
        district = city.towns["district_id"].astype(str).reindex(city.grids["town_id"].astype(str)).to_numpy()
        by = city.grids.assign(d=district).groupby("d")
        extra = float(np.maximum(by["fulltime_now"].sum() - by.size(), 0).sum())
        cost += extra * city.config.salary("fulltime") + float(city.grids["parttime_now"].sum()) * city.config.salary("parttime")
        posts += int(extra)
    return cost, posts


def _vacancies_allowed(plan: Plan, towns, city: Instance) -> bool:
    """unmet and maxmin whose budget or headcount cannot pay the required staff may leave grids vacant."""
    if plan.meta.get("objective") not in ("unmet", "maxmin"):
        return False
    options = plan.meta.get("options") or {}
    budget = model_budget(city, "grid", options.get("budget")).limit     # what the city budget leaves for grid workers
    cost, posts = _required_staff(towns, city, not options.get("allow_release"))
    headcount = options.get("headcount")
    return cost > float(budget) * (1 + 1e-9) or (headcount is not None and posts > int(headcount))


def _check_staffing_rules(report: CheckReport, plan: Plan, grids, towns, norms, vacancies: bool = False) -> None:
    x, z, y = grids["fulltime"].to_numpy(float), grids["parttime"].to_numpy(float), towns["professionals"].to_numpy(float)
    few = x < 1 - TOL
    if vacancies:                  # a vacant grid holds no helper and gets no professional hours
        busy = few & ((z > TOL) | (grids["pro_hours"].to_numpy(float) > TOL))
        if busy.any():
            report.fail(f"grid_staff: {int(busy.sum())} grids without a full-time worker have helpers or professional "
                        f"hours, e.g. {grids.index[busy][0]}")
    elif few.any():
        report.fail(f"grid_staff: {int(few.sum())} grids have no full-time worker (一格一员), e.g. {grids.index[few][0]}")
    cap = float(norms["parttime_max_per_grid"])
    many = z > cap + TOL
    if many.any():
        report.fail(f"grid_staff: {int(many.sum())} grids have more than {cap:g} part-time helpers, e.g. {grids.index[many][0]}")
    if _figure(plan, "professional_cover_required", True):
        per_pro = int(norms["professional_max_grids"])
        staffed = grids["fulltime"].to_numpy(float) >= 1 - TOL if vacancies else np.ones(len(grids), bool)
        n_grids = grids[staffed].groupby("town_id").size().reindex(towns.index, fill_value=0).to_numpy()
        need = -(-n_grids // per_pro)
        short = y < need - TOL
        if short.any():
            report.fail(f"town_staff: {int(short.sum())} towns have fewer professionals than ⌈{'staffed ' * vacancies}grids / {per_pro}⌉ "
                        f"(一员多格), e.g. {towns.index[short][0]}")


def _check_hours(report: CheckReport, grids, towns, norms, expected: np.ndarray) -> None:
    w = grids["workload_hours"].to_numpy(float)
    off = ~(np.abs(w - expected) <= HOURS_TOL * np.maximum(1.0, expected))
    if off.any():
        i = np.flatnonzero(off)[0]
        report.fail(f"grid_staff: {int(off.sum())} workloads differ from the norms' formula "
                    f"(e.g. {grids.index[i]}: {w[i]:.6g} h, expected {expected[i]:.6g} h)")
    cover = (float(norms["hours_fulltime"]) * grids["fulltime"].to_numpy(float) + grids["pro_hours"].to_numpy(float)
             + float(norms["hours_parttime"]) * grids["parttime"].to_numpy(float) + grids["unmet_hours"].to_numpy(float))
    short = ~(cover >= expected - HOURS_TOL * np.maximum(1.0, expected))
    if short.any():
        i = np.flatnonzero(short)[0]
        report.fail(f"grid_staff: in {int(short.sum())} grids staff hours plus unmet hours fall short of the workload "
                    f"(e.g. {grids.index[i]}: {cover[i]:.6g} h < {expected[i]:.6g} h)")
    given = grids.groupby("town_id")["pro_hours"].sum().reindex(towns.index, fill_value=0.0).to_numpy()
    capacity = float(norms["hours_professional"]) * towns["professionals"].to_numpy(float)
    over = ~(given <= capacity + HOURS_TOL * np.maximum(1.0, capacity))
    if over.any():
        i = np.flatnonzero(over)[0]
        report.fail(f"town_staff: in {int(over.sum())} towns grids receive more professional hours than the "
                    f"professionals have (e.g. {towns.index[i]}: {given[i]:.6g} h > {capacity[i]:.6g} h)")
    ratio = _town_ratios(grids, towns, expected)
    claimed = towns["coverage_ratio"].to_numpy(float)
    wrong = ~(np.abs(claimed - ratio) <= 1e-6)
    if wrong.any():
        i = np.flatnonzero(wrong)[0]
        report.fail(f"town_staff: {int(wrong.sum())} coverage ratios differ from 1 − unmet/workload "
                    f"(e.g. {towns.index[i]}: {claimed[i]:.6g}, recomputed {ratio[i]:.6g})")


def _town_ratios(grids, towns, workload: np.ndarray) -> np.ndarray:
    frame = pd.DataFrame({"town_id": grids["town_id"].to_numpy(), "w": workload, "u": grids["unmet_hours"].to_numpy(float)})
    sums = frame.groupby("town_id")[["w", "u"]].sum().reindex(towns.index, fill_value=0.0)
    w, u = sums["w"].to_numpy(), sums["u"].to_numpy()
    return 1.0 - np.divide(u, w, out=np.zeros_like(u), where=w > 0)


def _figure(plan: Plan, key: str, default):
    value = (plan.meta.get("figures") or {}).get(key, default)
    return default if value is None else value


def _check_limits_and_objective(report: CheckReport, plan: Plan, grids, towns, city: Instance, workload: np.ndarray,
                                pools: pd.DataFrame) -> None:
    """Budget B: what the city budget (--budget, else city.yaml's) leaves after today's officers, held
    when --budget is given and always under unmet, maxmin and equity objectives; headcount: --headcount."""
    options, objective = plan.meta.get("options") or {}, plan.meta.get("objective")
    salary = {k: city.config.salary(k) for k in ("fulltime", "parttime", "professional")}
    x, z, y = (grids["fulltime"].to_numpy(float), grids["parttime"].to_numpy(float), towns["professionals"].to_numpy(float))
    pool_x, pool_z = float(pools["fulltime_pool"].sum()), float(pools["parttime_pool"].sum())
    cost = float(salary["fulltime"] * (x.sum() + pool_x) + salary["parttime"] * (z.sum() + pool_z)
                 + salary["professional"] * y.sum())
    unmet = float(grids["unmet_hours"].to_numpy(float).sum())
    ratio = _town_ratios(grids, towns, workload)
    budget = None
    if options.get("budget") is not None or objective in ("unmet", "maxmin") or str(objective).startswith("equity-"):
        budget = model_budget(city, "grid", options.get("budget")).limit
    if budget is not None:
        at_most(report, "spend (10k CNY/yr)", cost, float(budget))
    if objective is not None:
        check_money(report, plan, budget, {"grid_workers": cost}, committed_sites(city))
    if options.get("headcount") is not None:
        at_most(report, "posts (full-time workers posted or pooled + professionals)", float(x.sum() + y.sum() + pool_x),
                float(options["headcount"]))
    if objective == "cost":
        at_most(report, "unmet hours under the cost objective (all work must be covered)", unmet, 0.0,
                tol=HOURS_TOL * max(1.0, float(workload.sum())))
    report.objective = {"cost": cost, "unmet": unmet, "maxmin": float(ratio.min()) if len(ratio) else 1.0}.get(objective)
    report.figures = {"cost_10k_cny": cost, "unmet_hours": unmet,
                      "min_coverage": float(ratio.min()) if len(ratio) else 1.0, "budget_limit_10k_cny": budget}


def _check_districts(report: CheckReport, districts: pd.DataFrame, grids, towns, city: Instance, pools: pd.DataFrame) -> None:
    if not ids_match(report, "districts", districts, "district_id", city.districts.index.astype(str)):
        return
    d = districts.set_index(districts["district_id"].astype(str))
    salary = {k: city.config.salary(k) for k in ("fulltime", "parttime", "professional")}
    by_grid = pd.DataFrame({"district": grids["district_id"].astype(str).to_numpy(),
                            "spend": salary["fulltime"] * grids["fulltime"].to_numpy(float)
                            + salary["parttime"] * grids["parttime"].to_numpy(float),
                            "fulltime": grids["fulltime"].to_numpy(float), "parttime": grids["parttime"].to_numpy(float)})
    by_town = pd.DataFrame({"district": towns["district_id"].astype(str).to_numpy(),
                            "spend": salary["professional"] * towns["professionals"].to_numpy(float),
                            "professionals": towns["professionals"].to_numpy(float)})
    totals = by_grid.groupby("district").sum().add(by_town.groupby("district").sum(), fill_value=0.0)
    totals = totals.reindex(d.index, fill_value=0.0)
    totals["spend"] += (salary["fulltime"] * pools["fulltime_pool"].reindex(d.index).fillna(0.0)
                        + salary["parttime"] * pools["parttime_pool"].reindex(d.index).fillna(0.0))
    for column in ("spend", "fulltime", "parttime", "professionals"):
        if column not in d.columns:
            continue
        off = ~(np.abs(d[column].to_numpy(float) - totals[column].to_numpy(float)) <= TOL * np.maximum(1.0, totals[column].to_numpy(float)))
        if off.any():
            report.fail(f"districts.{column}: {int(off.sum())} districts' totals differ from their grids and towns "
                        f"(e.g. {d.index[off][0]})")
