"""Independent check of an enforcement plan, from its tables and the instance alone.

Re-derived from the instance and the plan's recorded options (never from the solver):
demand D_t from the norms on the plan's population basis, the team minimum, salary,
headcount, budget and move limit. Then, town by town and district by district:

- one row per town and per district; today's officers as in the instance;
- whole numbers of posted, pool and moved officers; s_t ≥ s_min; s_t = s0_t + in_t − out_t;
- Σ in_t + Σ r_d ≤ move limit (pool officers are moves: no pool exists today);
- Σ s_t + Σ r_d ≤ headcount; salary·(Σ s_t + Σ r_d) ≤ the budget (what the city budget,
  --budget or city.yaml's, leaves after today's grid workers: allocator.data.money), and
  plan.json's money lines equal to the recomputed ones;
- Σ s0_t ≤ Σ s_t + Σ r_d: every officer employed today is posted or pooled, unless the plan
  was made with --allow-release; a `released` column (whole numbers, 0 ≤ released_t ≤ out_t)
  adds up to max(0, Σ s0_t − Σ s_t − Σ r_d), and is required when release is allowed;
- with --no-worse-than-today, Σ_{t∈d} (s_t + pool_share_t) ≥ Σ_{t∈d} s0_t in every district;
- Σ_{t∈d} pool_share_t ≤ r_d; coverage ratio = (s_t + pool_share_t)/D_t;
- `moves`: every ratio ≥ target; `expected`: one pool_deploy row per scenario and town,
  Σ_{t∈d} deployed_tω ≤ r_d, unmet_tω ≥ max(0, D_t·μ_tω − s_t − deployed_tω),
  pool_share_t = Σ_ω π_ω deployed_tω, scenario data equal to their source;
- districts.csv totals; the objective (min ratio, total shortfall, moves, or expected
  unmet + pool cost + λ·CVaR, with CVaR as the mean of the worst 1 − α of probability).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from allocator.errors import InputError
from allocator.data.instance import Instance
from allocator.data.scenarios import Scenarios, load_scenarios
from allocator.plans.plan import Plan
from allocator.data.money import committed_sites, model_budget
from allocator.plans.checks import TOL, CheckReport, at_most, check_money, ids_match, integral, nonnegative

NUMERIC = ["enforcement_now", "enforcement_staff", "enforcement_demand", "pool_share", "coverage_ratio", "moves_in", "moves_out"]


def check(plan: Plan, instance: Instance) -> CheckReport:
    report = CheckReport()
    towns = plan.table("town_staff").copy()
    pools = plan.table("district_pool").copy()
    expected_towns, expected_districts = pd.Index(instance.towns.index.astype(str)), pd.Index(instance.districts.index.astype(str))
    if not (ids_match(report, "town_staff", towns, "town_id", expected_towns)
            and ids_match(report, "district_pool", pools, "district_id", expected_districts)):
        return report
    towns = towns.set_index(towns["town_id"].astype(str)).loc[expected_towns]
    pools = pools.set_index(pools["district_id"].astype(str)).loc[expected_districts, "pool_staff"].astype(float)
    if not _numbers_present(report, towns, pools):
        return report
    limits = _limits(plan, instance, report)
    demand = _demand(instance)
    _check_staff(report, towns, pools, instance, limits)
    coverage = _check_coverage(report, towns, pools, instance, demand, limits)
    loss, probability = (None, None)
    if plan.meta.get("objective") == "expected":
        loss, probability = _check_deployment(report, plan, towns, pools, instance, demand)
    if "districts" in plan.tables:
        _check_districts(report, plan.tables["districts"], towns, pools, coverage, instance, limits)
    else:
        report.fail("the plan has no districts table")
    report.objective = _objective(plan.meta.get("objective"), towns, pools, demand, coverage, loss, probability, limits)
    if plan.meta.get("objective") is not None:
        officers = limits["salary"] * float(towns["enforcement_staff"].sum() + pools.sum())
        check_money(report, plan, limits["budget"], {"officers": officers}, committed_sites(instance))
    report.figures.update({"min_coverage": float(coverage.min()), "posted": float(towns["enforcement_staff"].sum()),
                           "pooled": float(pools.sum())})
    return report


def _numbers_present(report: CheckReport, towns: pd.DataFrame, pools: pd.Series) -> bool:
    ok = True
    for c in NUMERIC:
        values = pd.to_numeric(towns[c], errors="coerce")
        if values.isna().any():
            report.fail(f"town_staff.{c}: {int(values.isna().sum())} values are missing or not numbers")
            ok = False
        towns[c] = values
    if pools.isna().any():
        report.fail("district_pool.pool_staff: values are missing or not numbers")
        ok = False
    return ok


def _limits(plan: Plan, instance: Instance, report: CheckReport) -> dict:
    """The limits the planner's options and the instance imply, compared with what the plan records."""
    options, recorded = plan.meta.get("options") or {}, plan.meta.get("enforcement") or {}
    norms, today = instance.config.norms, int(instance.towns["enforcement_now"].sum())
    objective = plan.meta.get("objective")
    max_moves = options.get("max_moves")
    if max_moves is None and objective != "moves":
        max_moves = int(math.floor(float(norms["enforcement_max_moves_share"]) * today + 1e-9))
    limits = {
        "headcount": int(options.get("headcount") or instance.config.headcount or today),
        "budget": model_budget(instance, "enforcement", options.get("budget")).limit, "max_moves": max_moves,
        "min_team": int(math.ceil(float(norms["enforcement_min_team"]) - 1e-9)),
        "salary": instance.config.salary("enforcement"),
        "target_ratio": options.get("target_ratio") if options.get("target_ratio") is not None else recorded.get("target_ratio"),
        "cvar_alpha": options.get("cvar_alpha"), "cvar_weight": float(options.get("cvar_weight") or 0.0),
        "pool_cost_weight": float(recorded.get("pool_cost_weight") or 0.0),
        "allow_release": bool(options.get("allow_release")),
        "no_worse_than_today": bool(options.get("no_worse_than_today")),
        "equity_levels": (((plan.meta.get("equity") or {}).get("group") or "district")
                          if str(objective or "").startswith("equity-") else None),
    }
    for key in ("headcount", "budget", "max_moves", "min_team", "salary"):
        if key in recorded and recorded[key] != limits[key] and not _close(recorded[key], limits[key]):
            report.fail(f"the plan records {key} = {recorded[key]} but its options and the instance give {limits[key]}")
    if objective == "moves" and limits["target_ratio"] is None:
        report.fail("a `moves` plan must record its coverage target")
    return limits


def _close(a, b) -> bool:
    try:
        return abs(float(a) - float(b)) <= TOL * max(1.0, abs(float(b)))
    except (TypeError, ValueError):
        return False


def _demand(instance: Instance) -> pd.Series:
    n, t = instance.config.norms, instance.towns
    pop = instance.town_population()
    d = (float(n["enforcement_per_10k"]) * pop / 1e4 + float(n["enforcement_per_km2"]) * t["area_km2"]
         + float(n["enforcement_per_1000_cases"]) * t["cases_per_year"] / 1e3)
    return d.set_axis(t.index.astype(str)).astype(float)


def _check_staff(report: CheckReport, towns: pd.DataFrame, pools: pd.Series, instance: Instance, limits: dict) -> None:
    integral(report, "town_staff", towns, ["enforcement_now", "enforcement_staff", "moves_in", "moves_out"])
    integral(report, "district_pool", pools.to_frame(), ["pool_staff"])
    nonnegative(report, "town_staff", towns, ["enforcement_staff", "pool_share", "moves_in", "moves_out"])
    nonnegative(report, "district_pool", pools.to_frame(), ["pool_staff"])
    today = instance.towns["enforcement_now"].to_numpy(float)
    if not np.allclose(towns["enforcement_now"].to_numpy(float), today):
        report.fail("town_staff.enforcement_now differs from the instance's enforcement_now")
    home = instance.towns["district_id"].astype(str).to_numpy()
    if (towns["district_id"].astype(str).to_numpy() != home).any():
        report.fail("town_staff.district_id differs from the instance")
    s = towns["enforcement_staff"].to_numpy(float)
    small = s < limits["min_team"] - TOL
    if small.any():
        report.fail(f"{int(small.sum())} towns have fewer than the team minimum of {limits['min_team']} officers "
                    f"(e.g. {towns.index[small][0]} with {s[small][0]:g})")
    balance = np.abs(s - (today + towns["moves_in"].to_numpy(float) - towns["moves_out"].to_numpy(float))) > TOL
    if balance.any():
        report.fail(f"{int(balance.sum())} towns break posted = today + moves_in − moves_out (e.g. {towns.index[balance][0]})")
    total = float(s.sum() + pools.sum())
    at_most(report, "officers posted and pooled (headcount)", total, limits["headcount"])
    if limits["budget"] is not None:
        at_most(report, "salary cost of posted and pooled officers (budget, 10k CNY)", limits["salary"] * total, float(limits["budget"]))
    if limits["max_moves"] is not None:
        at_most(report, "moves (arrivals in towns + pool officers)", float(towns["moves_in"].sum() + pools.sum()), limits["max_moves"])
    _check_released(report, towns, float(today.sum()), total, limits["allow_release"])
    if limits["no_worse_than_today"]:
        _check_no_worse_than_today(report, towns, today, limits)


def _check_no_worse_than_today(report: CheckReport, towns: pd.DataFrame, today: np.ndarray, limits: dict) -> None:
    """--no-worse-than-today: every district covers at least the officers it has today, Σ(s_t + q_t) ≥ Σ s0_t
    (its coverage Σ(s_t + q_t)/Σ D_t at least today's Σ s0_t/Σ D_t). Equity plans (objective `equity-…`) count a
    town at most at its standard K_t = max(D_t, s_min), as their levels do: Σ min(s_t + q_t, K_t) ≥ Σ min(s0_t, K_t)
    per district, or per town with --by town."""
    key = towns["district_id"].astype(str).to_numpy()
    covered = towns["enforcement_staff"] + towns["pool_share"]
    before = pd.Series(today, index=towns.index)
    if limits["equity_levels"]:
        cap = np.maximum(towns["enforcement_demand"].to_numpy(float), limits["min_team"])
        covered, before = np.minimum(covered, cap), np.minimum(before, cap)
        if limits["equity_levels"] == "town":
            key = towns.index.astype(str).to_numpy()
    covered, before = covered.groupby(key).sum(), before.groupby(key).sum()
    lower = covered < before - 1e-6 * np.maximum(1.0, before)
    if lower.any():
        d = lower[lower].index[0]
        report.fail(f"{int(lower.sum())} districts (or towns) fall below their coverage today (e.g. {d}: {covered[d]:,.6g} officers "
                    f"counted, {before[d]:,.0f} today), which --no-worse-than-today forbids")


def _check_released(report: CheckReport, towns: pd.DataFrame, today: float, total: float, allowed: bool) -> None:
    """Nobody employed today disappears unless release was allowed; released officers add up."""
    leaving = max(0.0, today - total)
    if leaving > TOL and not allowed:
        report.fail(f"{leaving:,.0f} of the {today:,.0f} officers employed today are neither posted nor pooled "
                    f"({total:,.0f} are): officers are reassigned, not dismissed, unless the plan allows release (--allow-release)")
    if "released" not in towns:
        if allowed:
            report.fail("town_staff lacks the released column a plan allowing release must have")
        return
    released = pd.to_numeric(towns["released"], errors="coerce")
    if released.isna().any():
        report.fail("town_staff.released: values are missing or not numbers")
        return
    integral(report, "town_staff", towns.assign(released=released), ["released"])
    if (released < -TOL).any() or (released > towns["moves_out"].to_numpy(float) + TOL).any():
        report.fail("town_staff.released must lie between 0 and the town's moves_out")
    if abs(float(released.sum()) - leaving) > TOL:
        report.fail(f"town_staff.released adds up to {float(released.sum()):,.0f}, but today's officers less those "
                    f"posted and pooled are {leaving:,.0f}")


def _check_coverage(report: CheckReport, towns: pd.DataFrame, pools: pd.Series, instance: Instance,
                    demand: pd.Series, limits: dict) -> pd.Series:
    wrong = ~np.isclose(towns["enforcement_demand"].to_numpy(float), demand.to_numpy(), rtol=1e-6, atol=1e-9)
    if wrong.any():
        t = towns.index[wrong][0]
        report.fail(f"{int(wrong.sum())} towns' enforcement_demand differs from the norms on basis {instance.basis} "
                    f"(e.g. {t}: plan {towns.at[t, 'enforcement_demand']:.6g}, norms {demand[t]:.6g})")
    shared = towns.groupby("district_id")["pool_share"].sum()
    for d, used in shared.items():
        at_most(report, f"pool shares in district {d}", float(used), float(pools.get(str(d), 0.0)))
    coverage = (towns["enforcement_staff"] + towns["pool_share"]) / demand
    off = ~np.isclose(towns["coverage_ratio"].to_numpy(float), coverage.to_numpy(), rtol=1e-6, atol=1e-9)
    if off.any():
        report.fail(f"{int(off.sum())} towns' coverage_ratio is not (staff + pool_share)/demand (e.g. {towns.index[off][0]})")
    target = limits.get("target_ratio")
    if target is not None:
        low = coverage < float(target) - 1e-6
        if low.any():
            report.fail(f"{int(low.sum())} towns stay below the target ratio {float(target):g} (e.g. {coverage.index[low][0]}: {coverage[low].iloc[0]:.4f})")
    return coverage


def _check_deployment(report: CheckReport, plan: Plan, towns: pd.DataFrame, pools: pd.Series, instance: Instance,
                      demand: pd.Series) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Scenario data, deployments within pools, unmet demand at least the gap; returns losses and probabilities."""
    recorded = (plan.meta.get("enforcement") or {}).get("scenarios")
    if not recorded or "pool_deploy" not in plan.tables:
        report.fail("an `expected` plan needs its scenarios in plan.json and a pool_deploy table")
        return None, None
    town_ids = demand.index
    sc = Scenarios.from_meta(recorded, town_ids)
    p = np.asarray(sc.probabilities, float)
    if (p < 0).any() or abs(p.sum() - 1.0) > 1e-6:
        report.fail(f"scenario probabilities must be ≥ 0 and sum to 1 (they sum to {p.sum():.9g})")
    try:
        source = load_scenarios(sc.source, instance.towns)
        if not source.same_as(sc):
            report.fail(f"the scenarios recorded in the plan differ from their source {sc.source!r}")
        report.figures["scenario_source_rechecked"] = 1.0
    except InputError:
        report.figures["scenario_source_rechecked"] = 0.0   # the file has moved: the recorded data stand
    deploy = plan.tables["pool_deploy"].copy()
    deploy["scenario"], deploy["town_id"] = deploy["scenario"].astype(str), deploy["town_id"].astype(str)
    if deploy.duplicated(["scenario", "town_id"]).any() or len(deploy) != len(sc.names) * len(town_ids):
        report.fail(f"pool_deploy needs exactly one row per scenario and town ({len(sc.names)} × {len(town_ids)})")
        return None, None
    try:
        grid = deploy.set_index(["scenario", "town_id"]).loc[pd.MultiIndex.from_product([list(sc.names), list(town_ids)])]
    except KeyError:
        report.fail("pool_deploy names scenarios or towns the plan does not record")
        return None, None
    shape = (len(sc.names), len(town_ids))
    deployed = pd.to_numeric(grid["deployed"], errors="coerce").to_numpy(float).reshape(shape).T
    unmet = pd.to_numeric(grid["unmet"], errors="coerce").to_numpy(float).reshape(shape).T
    nonnegative(report, "pool_deploy", pd.DataFrame({"deployed": deployed.ravel(), "unmet": unmet.ravel()}), ["deployed", "unmet"])
    district = towns["district_id"].astype(str)
    for k, name in enumerate(sc.names):
        for d, used in pd.Series(deployed[:, k], index=district.values).groupby(level=0).sum().items():
            at_most(report, f"pool officers deployed in district {d}, scenario {name}", float(used), float(pools[d]))
    surge = sc.multipliers.loc[town_ids, list(sc.names)].to_numpy(float)
    gap = demand.to_numpy()[:, None] * surge - towns["enforcement_staff"].to_numpy(float)[:, None] - deployed
    under = unmet < gap - 1e-6 * np.maximum(1.0, np.abs(gap))
    if under.any():
        report.fail(f"{int(under.sum())} pool_deploy rows report less unmet demand than demand − staff − deployed")
    if not np.allclose(towns["pool_share"].to_numpy(float), deployed @ p, rtol=1e-6, atol=1e-9):
        report.fail("town_staff.pool_share is not the expected deployment Σ_ω π_ω deployed")
    return unmet.sum(axis=0), p


def _check_districts(report: CheckReport, table: pd.DataFrame, towns: pd.DataFrame, pools: pd.Series,
                     coverage: pd.Series, instance: Instance, limits: dict) -> None:
    table = table.set_index(table["district_id"].astype(str))
    ids = pd.Index(instance.districts.index.astype(str))
    if set(table.index) != set(ids) or table.index.duplicated().any():
        report.fail("districts needs exactly one row per district of the instance")
        return
    table = table.loc[ids]
    by = towns.assign(coverage=coverage.to_numpy()).groupby("district_id")
    posted = by["enforcement_staff"].sum().reindex(ids).fillna(0)
    expect = {"enforcement_staff": posted, "pool_staff": pools, "spend": limits["salary"] * (posted + pools),
              "mean_coverage": by["coverage"].mean().reindex(ids), "min_coverage": by["coverage"].min().reindex(ids)}
    for column, values in expect.items():
        if column not in table.columns:
            report.fail(f"districts lacks column {column}")
        elif not np.allclose(pd.to_numeric(table[column], errors="coerce").to_numpy(float), values.to_numpy(float), rtol=1e-6, atol=1e-9):
            report.fail(f"districts.{column} differs from the totals of town_staff and district_pool")


def _objective(objective, towns, pools, demand, coverage, loss, probability, limits) -> float | None:
    if objective == "maxmin":
        return float(coverage.min())
    if objective == "shortfall":
        return float((demand - towns["enforcement_staff"] - towns["pool_share"]).clip(lower=0).sum())
    if objective == "moves":
        return float(towns["moves_in"].sum() + pools.sum())
    if objective == "expected" and loss is not None:
        value = float(probability @ loss) + limits["pool_cost_weight"] * float(pools.sum())
        if limits["cvar_alpha"] is not None:
            value += limits["cvar_weight"] * tail_mean(loss, probability, float(limits["cvar_alpha"]))
        return value
    return None


def tail_mean(loss: np.ndarray, probability: np.ndarray, alpha: float) -> float:
    """CVaR_α of a discrete loss: the probability-weighted mean of the worst 1 − α of outcomes."""
    remaining, total = 1.0 - alpha, 0.0
    for i in np.argsort(-loss, kind="stable"):
        take = min(probability[i], remaining)
        total += take * loss[i]
        remaining -= take
        if remaining <= 0:
            break
    return total / (1.0 - alpha)
