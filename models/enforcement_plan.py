"""From a solved enforcement model to its plan (models/enforcement.py states the model): the tidy
plan tables with pool shares water-filled and surge deployments recomputed exactly (`extract`,
`share_pools`, `deploy_pools`), the objective recomputed from those tables (`plan_objective`), and
the summary's staff and move-limit words.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from allocator.data.instance import Instance
from allocator.data.scenarios import Scenarios

from .enforcement import EnforcementOptions
from .enforcement_levels import demand_officers


def extract(m, city: Instance, options: EnforcementOptions) -> dict[str, pd.DataFrame]:
    """Tidy plan tables from the solved model: whole numbers rounded; pool shares and deployments
    recomputed exactly from them (`share_pools`, `deploy_pools`)."""
    towns = city.towns
    town_ids, district = list(m.TOWNS), towns["district_id"].astype(str).to_numpy()
    demand = demand_officers(city).to_numpy(float)
    today = towns["enforcement_now"].to_numpy(int)
    staff = np.rint([m.posted_staff[t].value for t in town_ids]).astype(int)
    pools = pd.Series(np.rint([m.pool_staff[d].value for d in m.DISTRICTS]).astype(int), index=list(m.DISTRICTS))
    tables = {}
    if options.scenarios is None:
        share = share_pools(staff, demand, district, pools)
    else:
        deployed = deploy_pools(town_ids, staff, demand, district, pools, options.scenarios)
        share = deployed @ np.asarray(options.scenarios.probabilities)
        tables["pool_deploy"] = _deploy_table(town_ids, demand, staff, deployed, options.scenarios)
    coverage = (staff + share) / demand
    tables["town_staff"] = pd.DataFrame({
        "town_id": town_ids, "district_id": district, "professionals": np.nan, "enforcement_now": today,
        "enforcement_staff": staff, "enforcement_demand": demand, "pool_share": share, "coverage_ratio": coverage,
        "moves_in": np.maximum(staff - today, 0), "moves_out": np.maximum(today - staff, 0)})
    tables["town_staff"]["released"] = released_by_town(today, staff, int(pools.sum()))
    tables["district_pool"] = pd.DataFrame({"district_id": pools.index, "pool_staff": pools.to_numpy()})
    tables["districts"] = _district_table(city, tables["town_staff"], pools, options)
    return tables


def released_by_town(today: np.ndarray, staff: np.ndarray, pooled: int) -> np.ndarray:
    """Officers leaving the service, R = max(0, Σ s0 − Σ s − Σ r), attributed to the towns they leave in
    proportion to the officers leaving each town (largest remainders, then town order): whole numbers
    with Σ_t released_t = R and released_t ≤ moves_out_t."""
    out = np.maximum(np.asarray(today, int) - np.asarray(staff, int), 0)
    total = max(0, int(np.sum(today)) - int(np.sum(staff)) - int(pooled))
    if total == 0 or out.sum() == 0:
        return np.zeros(len(out), dtype=int)
    exact = out * (total / out.sum())
    released = np.floor(exact + 1e-9).astype(int)
    rest = total - int(released.sum())
    order = np.argsort(-(exact - released), kind="stable")
    released[order[:rest]] += 1
    return released


def share_pools(staff: np.ndarray, demand: np.ndarray, district: np.ndarray, pools: pd.Series) -> np.ndarray:
    """Pool shares q by water-filling each district: lowest ratio first, up to a common level z with
    Σ_t max(0, z·D_t − s_t) = r_d. For the given s and r this maximises the district's lowest ratio and
    minimises its shortfall, so it is optimal for maxmin, shortfall and moves, and exact (no solver noise)."""
    share = np.zeros(len(staff))
    for d, r in pools.items():
        idx = np.flatnonzero(district == d)
        if r <= 0 or len(idx) == 0:
            continue
        idx = idx[np.argsort(staff[idx] / demand[idx], kind="stable")]
        ratio = staff[idx] / demand[idx]
        level = (r + np.cumsum(staff[idx])) / np.cumsum(demand[idx])
        k = int(np.argmax(np.append(level[:-1] <= ratio[1:], True)))     # first prefix whose level stays below the next town
        share[idx[:k + 1]] = np.maximum(level[k] * demand[idx[:k + 1]] - staff[idx[:k + 1]], 0.0)
    return share


def deploy_pools(town_ids: list[str], staff: np.ndarray, demand: np.ndarray, district: np.ndarray, pools: pd.Series,
                 sc: Scenarios) -> np.ndarray:
    """p_tω: in each scenario the pool is water-filled over the surged demand and capped at each town's
    gap, so every district leaves max(0, Σ_t gap_tω − r_d) unmet, the least possible for the given s and
    r (and so also the least CVaR); exact, whatever the solver's continuous values."""
    surged = demand[:, None] * sc.multipliers.loc[town_ids, list(sc.names)].to_numpy(float)
    gap = np.maximum(surged - staff[:, None], 0.0)
    filled = [share_pools(staff, surged[:, k], district, pools) for k in range(surged.shape[1])]
    return np.minimum(np.column_stack(filled), gap) if filled else gap


def _deploy_table(town_ids: list[str], demand: np.ndarray, staff: np.ndarray, deployed: np.ndarray, sc: Scenarios) -> pd.DataFrame:
    surge = sc.multipliers.loc[town_ids, list(sc.names)].to_numpy(float)
    unmet = np.maximum(demand[:, None] * surge - staff[:, None] - deployed, 0.0)
    return pd.DataFrame({"scenario": np.repeat(list(sc.names), len(town_ids)), "town_id": np.tile(town_ids, len(sc.names)),
                         "deployed": deployed.T.ravel(), "unmet": unmet.T.ravel()})


def _district_table(city: Instance, staff: pd.DataFrame, pools: pd.Series, options: EnforcementOptions) -> pd.DataFrame:
    by = staff.groupby("district_id", sort=False)
    ids = [str(d) for d in city.districts.index]
    posted = by["enforcement_staff"].sum().reindex(ids).fillna(0).astype(int)
    pool = pools.reindex(ids).astype(int)
    return pd.DataFrame({"district_id": ids, "name": city.districts["name"].astype(str).to_numpy(),
                         "spend": options.salary_10k_cny * (posted + pool).to_numpy(),
                         "enforcement_staff": posted.to_numpy(), "pool_staff": pool.to_numpy(),
                         "released": by["released"].sum().reindex(ids).fillna(0).astype(int).to_numpy(),
                         "mean_coverage": by["coverage_ratio"].mean().reindex(ids).to_numpy(),
                         "min_coverage": by["coverage_ratio"].min().reindex(ids).to_numpy()})


def staff_kept(tables: dict[str, pd.DataFrame]) -> dict:
    """Officers employed today, posted, pooled and released (leaving the service), from the plan tables."""
    towns = tables["town_staff"]
    today, posted = int(towns["enforcement_now"].sum()), int(towns["enforcement_staff"].sum())
    pooled = int(tables["district_pool"]["pool_staff"].sum())
    released = int(towns["released"].sum()) if "released" in towns else max(0, today - posted - pooled)
    return {"today": today, "posted": posted, "pooled": pooled, "released": released,
            "new_posts": max(0, posted + pooled - today)}


def move_limit_source(city: Instance, given: int | None, options: EnforcementOptions) -> str:
    """Where the move limit comes from, in the planner's words."""
    if options.max_moves is None:
        return "objective moves has a limit only with --max-moves"
    if given is not None:
        return "--max-moves"
    share = float(city.config.norms["enforcement_max_moves_share"])
    return (f"default: {100 * share:g} % of today's {int(city.towns['enforcement_now'].sum()):,} officers "
            f"(enforcement_max_moves_share); new posts and pool places count against it")


def plan_objective(tables: dict[str, pd.DataFrame], options: EnforcementOptions) -> float:
    """The primary objective, recomputed from the plan tables (what the checker recomputes)."""
    towns, pools = tables["town_staff"], tables["district_pool"]["pool_staff"]
    if options.objective == "maxmin":
        return float(towns["coverage_ratio"].min())
    if options.objective == "shortfall":
        gap = towns["enforcement_demand"] - towns["enforcement_staff"] - towns["pool_share"]
        return float(gap.clip(lower=0).sum())
    if options.objective == "moves":
        return float(towns["moves_in"].sum() + pools.sum())
    sc = options.scenarios
    loss = tables["pool_deploy"].groupby("scenario", sort=False)["unmet"].sum().reindex(list(sc.names)).to_numpy()
    p = np.asarray(sc.probabilities)
    value = float(p @ loss) + options.pool_cost_weight * float(pools.sum())
    if options.cvar_alpha is not None:
        value += options.cvar_weight * cvar(loss, p, options.cvar_alpha)
    return value


def cvar(loss: np.ndarray, probability: np.ndarray, alpha: float) -> float:
    """CVaR_α = min_η η + E[(L − η)⁺]/(1 − α); the minimum lies at one of the losses."""
    return float(min(eta + probability @ np.maximum(loss - eta, 0.0) / (1 - alpha) for eta in loss))


def officers_for_target(city: Instance, options: EnforcementOptions) -> int:
    """Fewest officers giving every town ratio τ: per district ⌈Σ_t max(s_min, τ·D_t)⌉ (pools fill fractions)."""
    need = np.maximum(options.min_team, options.target_ratio * demand_officers(city))
    per_district = need.groupby(city.towns["district_id"]).sum()
    return int(np.ceil(per_district.to_numpy() - 1e-9).sum())
