"""Plan tables and figures of the facilities model (facilities.csv, coverage.csv, districts.csv).

Everything is recomputed from the open sites with numpy: coverage is "an open site of the
service within coverage minutes", nearest_minutes is the walk to the nearest open site of the
service (NaN when there is none), and the objective value is computed the way the
facilities checker (allocator/plans/checks/facilities.py) recomputes it from the written
files.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from allocator.data.instance import Instance

from .facilities_data import REACH_TOL, ServiceData, migrant_share, nearest_open_minutes, site_frame, walk_speed

def plan_tables(city: Instance, data: list[ServiceData], opened: list[np.ndarray],
                assigned: list[np.ndarray] | None, opts) -> dict[str, pd.DataFrame]:
    sites = site_frame(city)
    node_ids = city.grids["grid_id"].astype(str).to_numpy()
    facilities, coverage = [], []
    for k, d in enumerate(data):
        f = sites.iloc[d.site_rows].copy()
        f["open"] = opened[k].astype(int)
        facilities.append(f)
        minutes, nearest = nearest_open_minutes(city, d.site_rows, opened[k])
        covered = np.nan_to_num(minutes, nan=np.inf) <= d.coverage_minutes * (1 + REACH_TOL)
        if city.land is not None and city.travel is None:      # within reach on land (facilities_data)
            covered = np.bincount(d.reach.rows(), weights=opened[k][d.reach.site].astype(float),
                                  minlength=len(city.grids)) > 0
        if assigned is None:
            site = np.where(covered | (opts.objective not in ("mclp", "lscp", "lscpb")), nearest, -1)
        else:
            site = assigned[k]
        coverage.append(pd.DataFrame({
            "node_id": node_ids, "service": d.service, "demand": d.demand,
            "covered": covered.astype(int), "nearest_minutes": minutes,
            "assigned_site": np.where(site >= 0, d.site_ids[np.maximum(site, 0)] if len(d.site_ids) else "", None),
        }))
    facilities_t = pd.concat(facilities, ignore_index=True)
    coverage_t = pd.concat(coverage, ignore_index=True)
    return {"facilities": facilities_t, "coverage": coverage_t,
            "districts": district_table(city, data, facilities_t, coverage_t, coverage_rows(city, data))}


@dataclass(frozen=True)
class CoverageRows:
    """What each row of coverage.csv is: its grid's position and its service's position in `services`."""

    grid: np.ndarray
    service: np.ndarray
    services: list[str]


def coverage_rows(city: Instance, data: list[ServiceData]) -> CoverageRows:
    """The rows as plan_tables writes them: services in order, each over the grids in order."""
    n = len(city.grids)
    return CoverageRows(np.tile(np.arange(n), len(data)), np.repeat(np.arange(len(data)), n), [d.service for d in data])


def rows_of(city: Instance, coverage: pd.DataFrame) -> CoverageRows:
    """The same, read from a coverage table's node_id and service columns."""
    grid = pd.Index(city.grids["grid_id"].astype(str)).get_indexer(coverage["node_id"].astype(str))
    service, services = pd.factorize(coverage["service"])         # in order of appearance
    return CoverageRows(grid, service, [str(x) for x in services])


def spend_of(city: Instance, facilities: pd.DataFrame) -> pd.Series:
    """What each row of facilities.csv charges the budget (10k CNY): open_cost + annual_cost of an
    open new site, nothing for an existing one (`allocator.data.money`)."""
    s = city.sites.set_index(city.sites["site_id"].astype(str))
    ids = facilities["site_id"].astype(str)
    is_open = facilities["open"].to_numpy(float) > 0.5
    new = facilities["existing"].to_numpy(int) == 0
    cost = s["annual_cost"].reindex(ids).to_numpy(float) + s["open_cost"].reindex(ids).to_numpy(float)
    return pd.Series(np.where(is_open & new, cost, 0.0), index=facilities.index)


def committed_of(city: Instance, facilities: pd.DataFrame) -> float:
    """Running cost (10k CNY a year) of the existing sites the plan keeps open: committed, not charged."""
    s = city.sites.set_index(city.sites["site_id"].astype(str))
    kept = (facilities["open"].to_numpy(float) > 0.5) & (facilities["existing"].to_numpy(int) == 1)
    return float(s["annual_cost"].reindex(facilities["site_id"].astype(str)).to_numpy(float)[kept].sum())


def district_table(city: Instance, data: list[ServiceData], facilities: pd.DataFrame, coverage: pd.DataFrame,
                   rows: CoverageRows | None = None) -> pd.DataFrame:
    d = city.districts[["district_id", "name"]].astype(str).reset_index(drop=True)
    spend = spend_of(city, facilities).groupby(facilities["district_id"].astype(str)).sum()
    d["spend"] = d["district_id"].map(spend).fillna(0.0).to_numpy(float)
    rates = group_rates(city, coverage, "district", rows)
    for service in [x.service for x in data] + ["all"]:
        d[f"cov_{service}"] = d["district_id"].map(rates.get(service, {})).astype(float)
    return d


def group_rates(city: Instance, coverage: pd.DataFrame, by: str, rows: CoverageRows | None = None) -> dict[str, dict[str, float]]:
    """service (and 'all') → group → covered demand / demand, from coverage.csv (`rows`: its
    rows' grids and services, when the caller knows them)."""
    rows = rows_of(city, coverage) if rows is None else rows
    pos, service_code, services = rows.grid, rows.service, rows.services
    q = coverage["demand"].to_numpy(float)
    qc = q * coverage["covered"].to_numpy(float)
    labels, code, share = grid_labels(city, by)
    out: dict[str, dict[str, float]] = {}
    parts = [(code[pos], np.ones(len(q)))] if share is None else [(np.full(len(q), k), sh[pos]) for k, sh in enumerate(share)]
    num = np.zeros((len(services), len(labels)))
    den = np.zeros((len(services), len(labels)))
    for c, a in parts:
        key = service_code * len(labels) + c
        num += np.bincount(key, weights=qc * a, minlength=num.size).reshape(num.shape)
        den += np.bincount(key, weights=q * a, minlength=den.size).reshape(den.shape)
    index = {sv: k for k, sv in enumerate(services)}
    for service in services + ["all"]:
        n = num.sum(0) if service == "all" else num[index[service]]
        d = den.sum(0) if service == "all" else den[index[service]]
        out[service] = {lab: float(n[k] / d[k]) for k, lab in enumerate(labels) if d[k] > 0}
    return out


def grid_labels(city: Instance, by: str) -> tuple[list[str], np.ndarray, list[np.ndarray] | None]:
    """Group labels, each grid's label index, and for fractional groups (registration) the shares."""
    g = city.grids
    if by == "district":
        labels = city.districts["district_id"].astype(str).tolist()
        district = g["town_id"].map(city.towns.set_index("town_id")["district_id"]).astype(str)
        return labels, pd.Index(labels).get_indexer(district), None
    if by == "urban_rural":
        labels = ["urban", "rural"]
        return labels, pd.Index(labels).get_indexer(g["kind"].astype(str)), None
    if by == "registration":
        m = migrant_share(city)
        return ["registered", "migrant"], np.zeros(len(g), int), [1.0 - m, m]
    raise ValueError(f"unknown grouping {by!r}; use district, urban_rural or registration")


def pair_minutes(city: Instance, grid_ids: pd.Series, site_ids: pd.Series) -> np.ndarray:
    """Minutes between grids and sites given by id (travel.csv when present, else coordinates)."""
    if city.travel is not None:
        t = city.travel
        table = pd.Series(t["minutes"].to_numpy(float), index=pd.MultiIndex.from_arrays([t["from_id"].astype(str), t["site_id"].astype(str)]))
        return table.reindex(pd.MultiIndex.from_arrays([grid_ids.astype(str), site_ids.astype(str)])).to_numpy(float)
    g = city.grids.set_index(city.grids["grid_id"].astype(str))
    s = city.sites.set_index(city.sites["site_id"].astype(str))
    gx, gy = g["x"].reindex(grid_ids.astype(str)).to_numpy(float), g["y"].reindex(grid_ids.astype(str)).to_numpy(float)
    sx, sy = s["x"].reindex(site_ids.astype(str)).to_numpy(float), s["y"].reindex(site_ids.astype(str)).to_numpy(float)
    return np.hypot(gx - sx, gy - sy) / walk_speed(city)


def objective_value(city: Instance, objective: str, facilities: pd.DataFrame, coverage: pd.DataFrame,
                    reach_counts: pd.DataFrame | None, travel_cost: float) -> float:
    """The objective of a plan from its tables (`reach_counts`: open / all sites in reach per row, lscpb)."""
    q = coverage["demand"].to_numpy(float)
    if objective == "mclp":
        return float(q @ coverage["covered"].to_numpy(float))
    if objective == "lscp":
        return float(spend_of(city, facilities).sum())
    if objective == "lscpb":
        return float(q @ ((reach_counts["open"] >= 2) & (reach_counts["all"] >= 2)).to_numpy(float))
    assigned = coverage["assigned_site"]
    has = assigned.notna() & (q > 0)
    minutes = np.zeros(len(q))
    minutes[has.to_numpy()] = pair_minutes(city, coverage["node_id"][has], assigned[has])
    if objective in ("pmedian", "cpmedian"):
        return float(q @ minutes)
    if objective == "pcenter":
        frame = pd.DataFrame({"service": coverage["service"], "m": np.where(q > 0, minutes, 0.0)})
        return float(frame.groupby("service")["m"].max().sum())
    if objective == "cflp":
        return float(spend_of(city, facilities).sum()) + travel_cost * float(q @ minutes)
    raise ValueError(f"unknown objective {objective!r}")


def reach_counts(data: list[ServiceData], opened: list[np.ndarray]) -> pd.DataFrame:
    """Per coverage row (services in order, grids in order): open sites and all sites in reach."""
    parts = []
    for d, o in zip(data, opened):
        rows = d.reach.rows()
        parts.append(pd.DataFrame({"open": np.bincount(rows, weights=o[d.reach.site].astype(float), minlength=d.reach.n_nodes),
                                   "all": d.reach.degree}))
    return pd.concat(parts, ignore_index=True)


def plan_figures(city: Instance, data: list[ServiceData], tables: dict[str, pd.DataFrame], opts, opened=None) -> dict:
    f, c = tables["facilities"], tables["coverage"]
    counts = reach_counts(data, opened) if opened is not None else None
    value = objective_value(city, opts.objective, f, c, counts, opts.travel_cost_per_person_minute)
    new_open = f[(f["existing"] == 0) & (f["open"] == 1)].groupby("service").size()
    closed = f[(f["existing"] == 1) & (f["open"] == 0)].groupby("service").size()
    q, cov = c["demand"].to_numpy(float), c["covered"].to_numpy(float)
    rows = coverage_rows(city, data)
    return {
        "objective_value": value,
        "spend_10k_cny": float(spend_of(city, f).sum()),
        "committed_sites_10k_cny": committed_of(city, f),
        "new_sites_opened": {s: int(new_open.get(s, 0)) for s in opts.services},
        "existing_sites_closed": {s: int(closed.get(s, 0)) for s in opts.services},
        "covered_demand": float(q @ cov), "demand": float(q.sum()),
        "coverage_rate": float(q @ cov / q.sum()) if q.sum() > 0 else None,
        "group_coverage": {by: group_rates(city, c, by, rows) for by in ("district", "urban_rural", "registration")},
    }

