"""From the grid model's integer decisions to a plan (models/grid.py states the model): the staffing in
arrays (`GridStaffing`, with idle staff dropped and professional hours shared by deficit), the
required staffing alone (`mandatory_staffing`), and the plan's tables and figures (grid_staff.csv,
town_staff.csv, districts.csv; `staff_kept` for the summary).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from allocator.data.instance import Instance

from .grid import GridData


@dataclass
class GridStaffing:
    """A complete grid-staffing plan in arrays: integer decisions and the hours that follow from them."""

    fulltime: np.ndarray
    parttime: np.ndarray
    professionals: np.ndarray
    pro_hours: np.ndarray
    unmet: np.ndarray
    town_ratio: np.ndarray
    cost: float
    posts: int
    pooled: tuple[np.ndarray, np.ndarray] | None = None     # today's full-time, part-time workers in district pools
    released: tuple[np.ndarray, np.ndarray] | None = None   # today's workers leaving the service (allow_release)

    @property
    def min_ratio(self) -> float:
        return float(self.town_ratio.min()) if len(self.town_ratio) else 1.0


def staffing_from_decisions(data: GridData, fulltime, parttime, professionals) -> GridStaffing:
    """Drop idle staff, share professional hours by deficit, and price the plan."""
    x = np.rint(np.asarray(fulltime, float)).astype(int)
    z = np.rint(np.asarray(parttime, float)).astype(int)
    y = np.rint(np.asarray(professionals, float)).astype(int)
    h, w, town = data.hours, data.workload, data.grid_town
    surplus = h["fulltime"] * x + h["parttime"] * z - w
    drop_x = np.minimum(np.maximum(x - 1, 0), np.floor(np.maximum(surplus, 0) / h["fulltime"] + 1e-9).astype(int))
    x = x - drop_x
    surplus = surplus - h["fulltime"] * drop_x
    z = z - np.minimum(z, np.floor(np.maximum(surplus, 0) / h["parttime"] + 1e-9).astype(int))
    deficit = np.maximum(w - h["fulltime"] * x - h["parttime"] * z, 0.0) * (x >= 1)   # vacant grids get no hours
    town_deficit = np.bincount(town, weights=deficit, minlength=len(data.town_ids))
    needed = np.ceil(town_deficit / h["professional"] - 1e-9).astype(int)
    y = np.maximum(required_professionals(data, x), np.minimum(y, needed))
    return staffing_as_decided(data, x, z, y)


def required_professionals(data: GridData, fulltime: np.ndarray) -> np.ndarray:
    """⌈staffed grids of t / m_pro⌉ where cover is required (every grid staffed: professionals_min)."""
    staffed = np.bincount(data.grid_town, weights=(np.asarray(fulltime) >= 1), minlength=len(data.town_ids))
    return np.minimum(data.professionals_min, np.ceil(staffed / data.grids_per_professional - 1e-9).astype(int))


def staffing_as_decided(data: GridData, x: np.ndarray, z: np.ndarray, y: np.ndarray,
                        pooled: tuple[np.ndarray, np.ndarray] | None = None) -> GridStaffing:
    """Hours of the whole-number decisions x, z, y as they stand (no staff dropped): d_g = (W_g − H_full x_g −
    H_part z_g)⁺, professional hours shared among the staffed grids (x_g ≥ 1) in proportion to the d_g,
    u_g = d_g − a_g; so Σ_{g∈t} u_g = (Σ_{g∈t, staffed} d_g − H_pro y_t)⁺ + Σ_{g∈t, vacant} W_g. The pools hold
    today's workers without a post (`pooled`, by district, when a model chose more, at most today's)."""
    h, w, town = data.hours, data.workload, data.grid_town
    staffed = x >= 1                          # a vacant grid (x_g = 0) gets no professional hours: all its work is unmet
    deficit = np.maximum(w - h["fulltime"] * x - h["parttime"] * z, 0.0)
    shared = deficit * staffed
    town_deficit = np.bincount(town, weights=shared, minlength=len(data.town_ids))
    capacity = h["professional"] * y
    share = np.divide(capacity, town_deficit, out=np.ones_like(town_deficit), where=town_deficit > 0)
    pro_hours = shared * np.minimum(share, 1.0)[town]
    unmet = deficit - pro_hours
    unmet[unmet < 1e-6] = 0.0
    town_unmet = np.bincount(town, weights=unmet, minlength=len(data.town_ids))
    ratio = 1.0 - np.divide(town_unmet, data.town_workload, out=np.zeros_like(town_unmet), where=data.town_workload > 0)
    s = data.salary
    left = data.left_over(x, z)            # today's workers without a post: pooled under (8), else released
    none = (np.zeros(len(left[0]), int), np.zeros(len(left[1]), int))
    if data.keep_today and pooled is not None:
        pooled = tuple(np.minimum(np.maximum(np.asarray(p, int), need), today)
                       for p, need, today in zip(pooled, left, data.today()))
    pooled, released = (pooled or left, none) if data.keep_today else (none, left)
    cost = float(s["fulltime"] * (x.sum() + pooled[0].sum()) + s["parttime"] * (z.sum() + pooled[1].sum())
                 + s["professional"] * y.sum())
    return GridStaffing(x, z, y, pro_hours, unmet, ratio, cost, int(x.sum() + y.sum() + pooled[0].sum()), pooled, released)


def mandatory_staffing(data: GridData) -> GridStaffing:
    """One full-time worker per grid and the required professionals: the cheapest plan."""
    n = len(data.grid_ids)
    return staffing_from_decisions(data, np.ones(n), np.zeros(n), data.professionals_min)


def staffing_from_model(m: pyo.ConcreteModel, data: GridData) -> GridStaffing:
    """The solver's x, z, y where modelled; the fixed staff of the reductions elsewhere."""
    def values(var) -> np.ndarray:
        return np.fromiter((v.value if v.value is not None else 0.0 for v in var.values()), float, len(var))

    x, z = np.ones(len(data.grid_ids)), np.zeros(len(data.grid_ids))
    y = data.professionals_min.astype(float)
    grids, towns = data.modelled_grids, data.modelled_towns
    x[grids], z[grids], y[towns] = values(m.fulltime_workers), values(m.parttime_helpers), values(m.professionals)
    return staffing_from_decisions(data, x, z, y)


def plan_tables(city: Instance, data: GridData, plan: GridStaffing) -> dict[str, pd.DataFrame]:
    grid_staff = pd.DataFrame({
        "grid_id": data.grid_ids, "town_id": data.town_ids[data.grid_town],
        "district_id": data.town_district[data.grid_town], "fulltime": plan.fulltime, "parttime": plan.parttime,
        "pro_hours": plan.pro_hours, "workload_hours": data.workload, "unmet_hours": plan.unmet,
        "fulltime_now": _today_or_zero(data.fulltime_today, len(data.grid_ids)),
        "parttime_now": _today_or_zero(data.parttime_today, len(data.grid_ids))})
    town_staff = pd.DataFrame({"town_id": data.town_ids, "district_id": data.town_district,
                               "professionals": plan.professionals})
    for column in ("enforcement_now", "enforcement_staff", "enforcement_demand", "pool_share"):
        town_staff[column] = np.nan
    town_staff["coverage_ratio"] = plan.town_ratio
    town_staff["moves_in"] = np.nan
    town_staff["moves_out"] = np.nan
    return {"grid_staff": grid_staff, "town_staff": town_staff, "districts": _district_table(city, data, plan)}


def _today_or_zero(values, n: int) -> np.ndarray:
    return np.zeros(n, int) if values is None else np.asarray(values, int)


KEPT_GRID_COLUMNS = ("fulltime_now", "parttime_now", "fulltime_pool", "parttime_pool", "fulltime_released",
                     "parttime_released")


def kept_columns(data: GridData, plan: GridStaffing, district_ids) -> dict[str, np.ndarray]:
    """districts.csv's columns on today's grid workers, in the order of `district_ids`: employed today
    (fulltime_now, parttime_now), held in the district pool (fulltime_pool, parttime_pool: paid, doing no
    grid work) and leaving the service (fulltime_released, parttime_released; only with allow_release)."""
    x0, z0 = data.today()
    index = pd.Index(data.district_ids.astype(str))
    order = index.get_indexer(pd.Index([str(d) for d in district_ids]))
    found = order >= 0

    def pick(values) -> np.ndarray:
        out = np.zeros(len(order), int)
        out[found] = np.asarray(values, int)[order[found]]
        return out

    pooled = plan.pooled or (np.zeros(len(index), int),) * 2
    released = plan.released or (np.zeros(len(index), int),) * 2
    return {"fulltime_now": pick(x0), "parttime_now": pick(z0), "fulltime_pool": pick(pooled[0]),
            "parttime_pool": pick(pooled[1]), "fulltime_released": pick(released[0]),
            "parttime_released": pick(released[1])}


def _district_table(city: Instance, data: GridData, plan: GridStaffing) -> pd.DataFrame:
    s = data.salary
    grid_spend = s["fulltime"] * plan.fulltime + s["parttime"] * plan.parttime
    by_grid = pd.DataFrame({"district_id": data.town_district[data.grid_town], "spend": grid_spend,
                            "fulltime": plan.fulltime, "parttime": plan.parttime}).groupby("district_id").sum()
    by_town = pd.DataFrame({"district_id": data.town_district, "spend": s["professional"] * plan.professionals,
                            "professionals": plan.professionals, "coverage": plan.town_ratio}).groupby("district_id")
    out = pd.DataFrame({"district_id": city.districts.index.astype(str), "name": city.districts["name"].to_numpy()})
    out = out.set_index("district_id", drop=False)
    out["spend"] = by_grid["spend"].add(by_town["spend"].sum(), fill_value=0.0).reindex(out.index).fillna(0.0)
    out["fulltime"] = by_grid["fulltime"].reindex(out.index).fillna(0).astype(int)
    out["parttime"] = by_grid["parttime"].reindex(out.index).fillna(0).astype(int)
    out["professionals"] = by_town["professionals"].sum().reindex(out.index).fillna(0).astype(int)
    out["mean_coverage"] = by_town["coverage"].mean().reindex(out.index)
    out["min_coverage"] = by_town["coverage"].min().reindex(out.index)
    for column, values in kept_columns(data, plan, out.index).items():
        out[column] = values
    out["spend"] += s["fulltime"] * out["fulltime_pool"] + s["parttime"] * out["parttime_pool"]
    return out.reset_index(drop=True)


def plan_figures(data: GridData, plan: GridStaffing, budget: float | None, headcount: int | None,
                 professional_cover_required: bool) -> dict:
    return {
        "cost_10k_cny": plan.cost, "budget_limit_10k_cny": budget, "budget_used_10k_cny": plan.cost,
        "budget_used_share": None if not budget else plan.cost / budget,
        "workload_hours": float(data.workload.sum()), "unmet_hours": float(plan.unmet.sum()),
        "min_coverage": plan.min_ratio, "fulltime": int(plan.fulltime.sum()), "parttime": int(plan.parttime.sum()),
        "professionals": int(plan.professionals.sum()), "posts": plan.posts, "headcount_limit": headcount,
        "headcount_counts": "fulltime + professionals", "professional_cover_required": professional_cover_required,
        "mandatory_cost_10k_cny": data.mandatory_cost, "vacant_grids": int((plan.fulltime < 1).sum()),
        "fulltime_pooled": int(plan.pooled[0].sum()) if plan.pooled else 0,
        "parttime_pooled": int(plan.pooled[1].sum()) if plan.pooled else 0,
    }


def staff_kept(tables: dict[str, pd.DataFrame], allow_release: bool) -> dict:
    """Today's grid workers by type, from the plan's districts.csv: employed today, posted, pooled and
    released (plan.json `grid.staff`)."""
    d = tables["districts"]
    out: dict = {"allow_release": bool(allow_release)}
    for kind in ("fulltime", "parttime"):
        if f"{kind}_now" not in d:
            return {}
        out[kind] = {"today": int(d[f"{kind}_now"].sum()), "posted": int(d[kind].sum()),
                     "pooled": int(d[f"{kind}_pool"].sum()), "released": int(d[f"{kind}_released"].sum())}
    return out
