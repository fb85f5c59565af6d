"""What the facilities model reads from a city: demand per grid and service, reachable pairs,
walking minutes, site costs — as arrays for the location formulations (`models.location`).

Conventions (documented once here, used by the model and by the facilities checker,
allocator/plans/checks/facilities.py):

- demand q_is: the target group of service s in grid i — children (0-14) for childcare and
  education, the elderly (65+) for elderly care, working age (population − elderly −
  children) for employment, everyone for health, housing and assistance. On a population
  basis other than `actual` the grid's counts are scaled by its town's
  basis population / actual population.
- minutes: from travel.csv when the city has one (only listed pairs exist), otherwise the
  straight-line distance between projected x/y divided by walk_speed_m_per_min.
- reach: site j of service s reaches grid i when minutes_ij ≤ coverage_minutes[s] (norms),
  with a relative tolerance of REACH_TOL; found with a k-d tree, so memory grows with pairs.
  When the city carries land polygons (land.geojson, `allocator.data.land`) and no travel.csv,
  a pair within that distance counts only when the straight way between grid and site stays on
  land (no walk across water); only the pairs the distance test kept are tested.
- spend (10k CNY, the plan's first year, what a site charges the budget): a new site costs
  open_cost + annual_cost, an existing one nothing — its running cost is committed and
  reported apart (`allocator.data.money`, README "What the budget pays").
- assignment models (p-median, p-center, CFLP) use every site of the service when the grid ×
  site count is at most DENSE_PAIRS_MAX (and every pair listed in travel.csv when there is
  one). Above it a grid's row holds only its nearest sites (`grid_rows`), and the models stay
  exact: p-median and p-center keep every site up to the grid's nearest site that must stay
  open (no plan serves a grid farther than that), or every pair up to FULL_PAIRS_MAX when no
  site must stay open; the capacitated models keep NEAREST_SITES per grid with the minutes to
  the first site left out (`tail`, a lower bound on any site beyond the row), and their
  procedure asks for longer rows (`widen_rows`) where a plan needs one. Only a p-median or
  p-center above FULL_PAIRS_MAX without a site that must stay open is solved on each grid's
  NEAREST_SITES nearest sites, and says so.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from allocator.data.instance import Instance
from allocator.data.money import site_charge

from .location.common import Pairs, from_rows

TARGET_GROUP = {
    "childcare": "children", "education": "children", "elderly_care": "elderly", "employment": "working_age",
    "health": "population", "housing": "population", "assistance": "population",
}
REACH_TOL = 1e-9
DENSE_PAIRS_MAX = 2_000_000
FULL_PAIRS_MAX = 4_000_000      # p-median and p-center without a site that must stay open: all pairs up to here (memory)
NEAREST_SITES = 50
WIDEN_FACTOR = 4                # `widen_rows` makes a row this many times longer


@dataclass
class ServiceData:
    """One service of one city, as arrays over the city's grids (rows) and the service's sites."""

    service: str
    coverage_minutes: float
    site_rows: np.ndarray          # positions in city.sites
    site_ids: np.ndarray
    existing: np.ndarray           # bool per site
    spend: np.ndarray              # 10k CNY per site if open (see module docstring)
    capacity: np.ndarray           # persons per site
    demand: np.ndarray             # q_is per grid
    reach: Pairs                   # grids × sites within coverage_minutes (level 1)


def walk_speed(city: Instance) -> float:
    return float(city.config.norms["walk_speed_m_per_min"])


def coverage_minutes(city: Instance, service: str) -> float:
    return float(city.config.norms["coverage_minutes"][service])


def grid_demand(city: Instance, service: str) -> np.ndarray:
    """q_is per grid of `city.grids` (target group on the city's population basis)."""
    g = city.grids
    group = TARGET_GROUP[service]
    if group == "working_age":
        counts = (g["population"] - g["elderly"] - g["children"]).clip(lower=0)
    else:
        counts = g[group]
    return counts.to_numpy(float) * basis_factor(city)


def basis_factor(city: Instance) -> np.ndarray:
    """Per grid: basis population / actual population of its town (1 on the actual basis)."""
    if city.basis == "actual":
        return np.ones(len(city.grids))
    t = city.towns
    actual = (t["pop_resident"] + t["pop_migrant"]).astype(float)
    ratio = (city.town_population() / actual.where(actual > 0)).fillna(1.0)
    return city.grids["town_id"].map(ratio).to_numpy(float)


def migrant_share(city: Instance) -> np.ndarray:
    """Per grid: its town's pop_migrant / (pop_resident + pop_migrant)."""
    t = city.towns
    actual = (t["pop_resident"] + t["pop_migrant"]).astype(float)
    share = (t["pop_migrant"] / actual.where(actual > 0)).fillna(0.0)
    return city.grids["town_id"].map(share).to_numpy(float)


def service_sites(city: Instance, service: str) -> np.ndarray:
    return np.flatnonzero(city.sites["service"].to_numpy() == service)


def services_data(city: Instance, services: list[str]) -> list[ServiceData]:
    """`service_data` of each service, the grids' k-d tree built once for all."""
    grids = cKDTree(_grid_xy(city)) if city.travel is None else None
    return [service_data(city, s, grids) for s in services]


def service_data(city: Instance, service: str, grids: cKDTree | None = None) -> ServiceData:
    rows = service_sites(city, service)
    s = city.sites.iloc[rows]
    existing = s["existing"].to_numpy(int) == 1
    spend = site_charge(s)
    tau = coverage_minutes(city, service)
    grid_idx, site_idx, minutes = reachable_pairs(city, rows, tau, grids)
    reach = from_rows(grid_idx, site_idx, np.ones(len(grid_idx)), len(city.grids), len(rows), descending=True)
    return ServiceData(service, tau, rows, s["site_id"].to_numpy(str), existing, spend, s["capacity"].to_numpy(float),
                       grid_demand(city, service), reach)


def reachable_pairs(city: Instance, site_rows: np.ndarray, tau: float,
                    grids: cKDTree | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grid index, site index within `site_rows`, minutes) for pairs within `tau` minutes
    (`grids`: the grids' k-d tree, when the caller has it)."""
    limit = tau * (1 + REACH_TOL)
    if city.travel is not None:
        g, j, minutes = travel_pairs(city, site_rows)
        keep = minutes <= limit
        return g[keep], j[keep], minutes[keep]
    if len(site_rows) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    speed = walk_speed(city)
    sites = cKDTree(city.sites[["x", "y"]].to_numpy(float)[site_rows])
    grids = cKDTree(_grid_xy(city)) if grids is None else grids
    near = grids.sparse_distance_matrix(sites, limit * speed, output_type="ndarray")    # (i, j, v) records
    minutes = near["v"] / speed
    keep = minutes <= limit
    g, j, minutes = near["i"][keep].astype(np.int64), near["j"][keep].astype(np.int64), minutes[keep]
    if city.land is not None:
        on_land = walkable(city, g, site_rows[j])
        g, j, minutes = g[on_land], j[on_land], minutes[on_land]
    return g, j, minutes


def walkable(city: Instance, grid_idx: np.ndarray, site_idx: np.ndarray) -> np.ndarray:
    """Per pair (grid position, site position in city.sites): the straight way stays on the city's land."""
    gl, sl = city.grids[["lon", "lat"]].to_numpy(float), city.sites[["lon", "lat"]].to_numpy(float)
    return city.land.walkable(gl[grid_idx, 0], gl[grid_idx, 1], sl[site_idx, 0], sl[site_idx, 1])


def travel_pairs(city: Instance, site_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of travel.csv whose site is among `site_rows`."""
    t = city.travel
    grid_pos = pd.Series(np.arange(len(city.grids)), index=city.grids["grid_id"].astype(str))
    site_pos = pd.Series(np.arange(len(site_rows)), index=city.sites["site_id"].astype(str).to_numpy()[site_rows])
    j = t["site_id"].astype(str).map(site_pos)
    g = t["from_id"].astype(str).map(grid_pos)
    ok = j.notna() & g.notna()
    return (g[ok].to_numpy(np.int64), j[ok].to_numpy(np.int64), t["minutes"].to_numpy(float)[ok.to_numpy()])


def minutes_pairs(city: Instance, site_rows: np.ndarray) -> Pairs:
    """Walking minutes for the assignment models (see module docstring), sorted within each grid."""
    return grid_rows(city, site_rows).pairs


def nearest_site_minutes(city: Instance, site_rows: np.ndarray) -> np.ndarray:
    """Per grid: minutes to its nearest site of `site_rows` (travel.csv's pairs when the city has
    one; inf where no pair exists), the best any plan can do for it."""
    n = len(city.grids)
    if len(site_rows) == 0:
        return np.full(n, np.inf)
    if city.travel is not None:
        g, _, minutes = travel_pairs(city, site_rows)
        best = np.full(n, np.inf)
        np.minimum.at(best, g, minutes)
        return best
    dist, _ = cKDTree(_site_xy(city, site_rows)).query(_grid_xy(city), k=1)
    return np.asarray(dist, float) / walk_speed(city)


@dataclass
class GridRows:
    """Walking minutes from grids to a service's sites, as rows that may leave sites out."""

    pairs: Pairs
    tail: np.ndarray               # per grid: minutes to the first site left out of its row (inf: complete)
    restricted: bool = False       # rows left out sites the problem needs (see `grid_rows`)
    nearest: int = 0               # when restricted: the nearest sites each row holds


def grid_rows(city: Instance, site_rows: np.ndarray, through: np.ndarray | None = None) -> GridRows:
    """Each grid's sites of `site_rows` with walking minutes, sorted within each grid.

    Every pair when the city has travel.csv or grids × sites ≤ DENSE_PAIRS_MAX. Otherwise each
    grid's NEAREST_SITES nearest sites with `tail`, the minutes to the first site left out; with
    `through` (a bool per site: sites that stay open, for p-median and p-center) every site up
    to and including the grid's nearest such site, or, when there is none, every pair up to
    FULL_PAIRS_MAX grids × sites and beyond that the nearest sites (`restricted`)."""
    n, m = len(city.grids), len(site_rows)
    if city.travel is not None:
        g, j, minutes = travel_pairs(city, site_rows)
        return GridRows(from_rows(g, j, minutes, n, m), np.full(n, np.inf))
    if m == 0:
        return GridRows(from_rows(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), n, m), np.full(n, np.inf))
    gxy, sxy, speed = _grid_xy(city), _site_xy(city, site_rows), walk_speed(city)
    has_through = through is not None and bool(np.any(through))
    if n * m <= DENSE_PAIRS_MAX or (through is not None and not has_through and n * m <= FULL_PAIRS_MAX):
        d = np.hypot(gxy[:, None, 0] - sxy[None, :, 0], gxy[:, None, 1] - sxy[None, :, 1]) / speed
        g, j = np.divmod(np.arange(n * m), m)
        return GridRows(from_rows(g, j, d.ravel(), n, m), np.full(n, np.inf))
    g, j, minutes, tail = _nearest(gxy, sxy, NEAREST_SITES, speed)
    if has_through:
        g, j, minutes, tail = _through(gxy, sxy, np.asarray(through, bool), speed, g, j, minutes, tail)
    restricted = through is not None and not has_through
    return GridRows(from_rows(g, j, minutes, n, m), tail, restricted, min(m, NEAREST_SITES) if restricted else 0)


def widen_rows(city: Instance, site_rows: np.ndarray, rows: GridRows, grids: np.ndarray,
               is_open: np.ndarray | None = None) -> GridRows:
    """`rows` with the rows of `grids` (bool per grid) WIDEN_FACTOR times longer, and at least up to
    the grid's nearest site of `is_open` (a bool per site: a plan's open sites, so that the plan can
    serve those grids); the other rows stay as they are."""
    grids = np.asarray(grids, bool) & np.isfinite(rows.tail)
    if not grids.any():
        return rows
    pairs, m = rows.pairs, len(site_rows)
    which = np.flatnonzero(grids)
    gxy, sxy, speed = _grid_xy(city)[which], _site_xy(city, site_rows), walk_speed(city)
    k = int(min(m, max(NEAREST_SITES, WIDEN_FACTOR * int(pairs.degree[grids].max()))))
    if is_open is not None and np.any(is_open):
        reach, _ = cKDTree(sxy[np.asarray(is_open, bool)]).query(gxy, k=1)
        within = cKDTree(sxy).query_ball_point(gxy, r=np.asarray(reach, float) * (1 + 1e-12) + 1e-9, return_length=True)
        k = int(min(m, max(k, int(np.max(within)))))
    g, j, minutes, tail = _nearest(gxy, sxy, k, speed)
    keep = ~grids[pairs.rows()]
    merged = from_rows(np.concatenate([pairs.rows()[keep], which[g]]), np.concatenate([pairs.site[keep], j]),
                       np.concatenate([pairs.value[keep], minutes]), pairs.n_nodes, m)
    new_tail = rows.tail.copy()
    new_tail[which] = tail
    return GridRows(merged, new_tail, rows.restricted, rows.nearest)


def _grid_xy(city: Instance) -> np.ndarray:
    return city.grids[["x", "y"]].to_numpy(float)


def _site_xy(city: Instance, site_rows: np.ndarray) -> np.ndarray:
    return city.sites[["x", "y"]].to_numpy(float)[site_rows]


def _nearest(gxy: np.ndarray, sxy: np.ndarray, k: int, speed: float):
    """(grid, site, minutes) of each grid's k nearest sites, and per grid the minutes to the next one (inf: none)."""
    n, m = len(gxy), len(sxy)
    k = min(m, k)
    kk = min(m, k + 1)
    dist, j = cKDTree(sxy).query(gxy, k=kk)
    dist, j = np.asarray(dist, float).reshape(n, kk), np.asarray(j, np.int64).reshape(n, kk)
    tail = dist[:, k] / speed if kk > k else np.full(n, np.inf)
    return np.repeat(np.arange(n), k), j[:, :k].ravel(), dist[:, :k].ravel() / speed, tail


def _through(gxy: np.ndarray, sxy: np.ndarray, through: np.ndarray, speed: float, g, j, minutes, tail):
    """Rows extended to every site within the grid's nearest `through` site (ties included)."""
    radius, _ = cKDTree(sxy[through]).query(gxy, k=1)
    radius = np.asarray(radius, float) * (1 + 1e-12) + 1e-9
    reached = np.zeros(len(gxy), bool)
    reached[g[through[j]]] = True
    far = np.flatnonzero(~reached)
    if len(far) == 0:
        return g, j, minutes, tail
    balls = cKDTree(sxy).query_ball_point(gxy[far], r=radius[far], return_sorted=False)
    sizes = np.array([len(b) for b in balls], np.int64)
    bg = np.repeat(far, sizes)
    bj = np.concatenate([np.asarray(b, np.int64) for b in balls]) if len(bg) else np.zeros(0, np.int64)
    bd = np.hypot(gxy[bg, 0] - sxy[bj, 0], gxy[bg, 1] - sxy[bj, 1]) / speed
    keep = ~np.isin(g, far)
    tail = tail.copy()
    tail[far] = radius[far] / speed            # nothing left out lies nearer than the ball's radius
    return (np.concatenate([g[keep], bg]), np.concatenate([j[keep], bj]), np.concatenate([minutes[keep], bd]), tail)


def nearest_open_minutes(city: Instance, site_rows: np.ndarray, is_open: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per grid: minutes to the nearest open site of the service (NaN if none) and that site (-1)."""
    n = len(city.grids)
    open_idx = np.flatnonzero(is_open)
    if len(open_idx) == 0:
        return np.full(n, np.nan), np.full(n, -1)
    if city.travel is not None:
        g, j, minutes = travel_pairs(city, site_rows)
        keep = is_open[j]
        best = np.full(n, np.inf)
        order = np.lexsort((j[keep], minutes[keep]))
        gg, jj, mm = g[keep][order], j[keep][order], minutes[keep][order]
        first = np.unique(gg, return_index=True)[1]
        site = np.full(n, -1)
        best[gg[first]] = mm[first]
        site[gg[first]] = jj[first]
        return np.where(np.isfinite(best), best, np.nan), site
    sxy = city.sites[["x", "y"]].to_numpy(float)[site_rows][open_idx]
    dist, k = cKDTree(sxy).query(_grid_xy(city), k=1, workers=-1)
    return dist / walk_speed(city), open_idx[k]


def site_frame(city: Instance) -> pd.DataFrame:
    """sites with their district (for plan tables)."""
    district = city.towns.set_index("town_id")["district_id"]
    s = city.sites
    return pd.DataFrame({"site_id": s["site_id"].astype(str), "service": s["service"].astype(str),
                         "town_id": s["town_id"].astype(str),
                         "district_id": s["town_id"].map(district).astype(str), "existing": s["existing"].astype(int)})
