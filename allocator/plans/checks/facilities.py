"""Independent checker of facilities plans (facilities.csv, coverage.csv, districts.csv).

Recomputed from the plan files and the instance only — walking minutes from coordinates (or
travel.csv), demand from the grids' target groups, spend from the sites' costs:

- one facilities row per site of the plan's services, matching the instance; existing sites
  open unless the plan allowed closing; what the new sites charge within the budget the city
  budget leaves after today's staff (`allocator.data.money`; none for lscp/lscpb without
  --budget, nor with --p alone), and plan.json's money lines equal to the recomputed ones;
  new sites per service within --p;
- one coverage row per grid and service; demand as the norms give it; nearest_minutes equal
  to the walk to the nearest open site of the service (NaN when none); `covered` true exactly
  when that walk is within the service's coverage minutes; assigned sites open and of the
  same service; for lscp/lscpb every coverable grid covered; for pmedian/pcenter each grid
  assigned to a nearest open site; for cpmedian/cflp every grid with demand assigned and
  capacities held;
- the objective: covered demand (mclp), new sites' spend (lscp), doubly covered demand (lscpb),
  Σ demand × minutes (pmedian, cpmedian), Σ over services of the longest walk (pcenter),
  spend + travel cost (cflp).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from allocator.data.instance import Instance
from allocator.plans.plan import Plan
from allocator.data.money import committed_sites, model_budget, site_charge
from allocator.plans.checks import TOL, CheckReport, at_most, check_money, ids_match

GROUP = {"childcare": "children", "education": "children", "elderly_care": "elderly", "employment": "working_age",
         "health": "population", "housing": "population", "assistance": "population"}
EDGE = 1e-6          # relative tolerance on the coverage radius when judging `covered`


def check(plan: Plan, city: Instance) -> CheckReport:
    report = CheckReport()
    fac = plan.meta.get("facilities") or {}
    objective = plan.meta.get("objective")
    services = list(fac.get("services") or city.config.services)
    options = plan.meta.get("options") or {}
    money = model_budget(city, "facilities", options.get("budget"), explicit_only=objective in ("lscp", "lscpb"),
                         p=options.get("p"))
    facilities = plan.table("facilities")
    coverage = plan.table("coverage")
    sites = city.sites[city.sites["service"].isin(services)]
    if not ids_match(report, "facilities", facilities, "site_id", pd.Index(sites["site_id"].astype(str))):
        return report
    facilities = facilities.set_index(facilities["site_id"].astype(str)).reindex(sites["site_id"].astype(str))
    is_open = _flags(report, facilities["open"])
    _check_sites(report, city, sites, facilities, is_open, bool(fac.get("allow_closing")))
    spend = _spend(sites, is_open)
    committed = committed_sites(city) - float(sites["annual_cost"].to_numpy(float)[~is_open & (sites["existing"].to_numpy() == 1)].sum())
    check_money(report, plan, money.limit, {"new_sites": spend}, committed)
    if options.get("p") is not None:
        new = sites[(sites["existing"].to_numpy() == 0) & is_open].groupby("service").size()
        for service, count in new.items():
            at_most(report, f"new {service} sites opened", float(count), float(options["p"]))
    coverage = _coverage_rows(report, city, coverage, services)
    if coverage is None:
        return report
    figures = _check_coverage(report, city, sites, is_open, coverage, services, objective)
    report.objective = _objective(objective, coverage, figures, spend, fac)
    report.figures.update({"spend_recomputed": spend})
    return report


def _flags(report: CheckReport, column: pd.Series) -> np.ndarray:
    values = column.to_numpy(float)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        report.fail(f"facilities.open: {int(bad.sum())} values are not 0 or 1")
    return values > 0.5


def _check_sites(report: CheckReport, city: Instance, sites: pd.DataFrame, facilities: pd.DataFrame,
                 is_open: np.ndarray, allow_closing: bool) -> None:
    district = city.towns.set_index("town_id")["district_id"].astype(str)
    expected = {"service": sites["service"].astype(str).to_numpy(), "town_id": sites["town_id"].astype(str).to_numpy(),
                "district_id": sites["town_id"].map(district).astype(str).to_numpy(),
                "existing": sites["existing"].astype(int).astype(str).to_numpy()}
    for column, want in expected.items():
        got = facilities[column].to_numpy()
        got = got.astype(float).astype(int).astype(str) if column == "existing" else got.astype(str)
        wrong = got != want
        if wrong.any():
            report.fail(f"facilities.{column}: {int(wrong.sum())} rows disagree with the instance "
                        f"(e.g. site {facilities.index[wrong][0]})")
    closed = (sites["existing"].to_numpy() == 1) & ~is_open
    if closed.any() and not allow_closing:
        report.fail(f"{int(closed.sum())} existing sites are closed but the plan does not allow closing "
                    f"(e.g. {sites['site_id'].to_numpy()[closed][0]})")


def _spend(sites: pd.DataFrame, is_open: np.ndarray) -> float:
    """What the open sites charge the budget: the first year of each new one (existing: committed)."""
    return float(site_charge(sites)[is_open].sum())


def _coverage_rows(report: CheckReport, city: Instance, coverage: pd.DataFrame, services: list[str]) -> pd.DataFrame | None:
    key = coverage["service"].astype(str) + "|" + coverage["node_id"].astype(str)
    grids = city.grids["grid_id"].astype(str).to_numpy(dtype=object)
    expected = pd.Index(np.concatenate([f"{s}|" + grids for s in services]) if services else [])
    frame = coverage.assign(key=key)
    if not ids_match(report, "coverage", frame, "key", expected):
        return None
    return frame.set_index("key").reindex(expected)


def _demand(city: Instance, service: str) -> np.ndarray:
    g = city.grids
    group = GROUP[service]
    counts = (g["population"] - g["elderly"] - g["children"]).clip(lower=0) if group == "working_age" else g[group]
    factor = np.ones(len(g))
    if city.basis != "actual":
        t = city.towns
        actual = (t["pop_resident"] + t["pop_migrant"]).astype(float)
        ratio = (city.town_population() / actual.where(actual > 0)).fillna(1.0)
        factor = g["town_id"].map(ratio).to_numpy(float)
    return counts.to_numpy(float) * factor


def coverage_today(city: Instance, services: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per grid of city.grids, summed over `services`: the target-group demand, and the part of it within
    coverage minutes of a site open today (sites.csv existing = 1)."""
    sites = city.sites
    demand, covered = np.zeros(len(city.grids)), np.zeros(len(city.grids))
    for service in services:
        mask = sites["service"].astype(str).to_numpy() == service
        minutes, _ = _minutes_to(city, sites[mask]).nearest(sites["existing"].to_numpy(int)[mask] == 1)
        tau = float(city.config.norms["coverage_minutes"][service])
        q = _demand(city, service)
        demand += q
        if city.land is not None and city.travel is None:
            covered += q * (_minutes_to(city, sites[mask]).within(sites["existing"].to_numpy(int)[mask] == 1, tau * (1 + EDGE)) > 0)
        else:
            covered += q * (np.nan_to_num(minutes, nan=np.inf) <= tau * (1 + EDGE))
    return demand, covered


def _minutes_to(city: Instance, service_sites: pd.DataFrame) -> "_Walks":
    return _Walks(city, service_sites)


class _Walks:
    """Walking minutes from every grid to the sites of one service (coordinates or travel.csv)."""

    def __init__(self, city: Instance, sites: pd.DataFrame):
        self.city, self.sites = city, sites
        self.speed = float(city.config.norms["walk_speed_m_per_min"])
        self.ids = sites["site_id"].astype(str).to_numpy()
        if city.travel is not None:
            t = city.travel[city.travel["site_id"].astype(str).isin(self.ids)]
            self.table = pd.Series(t["minutes"].to_numpy(float),
                                   index=pd.MultiIndex.from_arrays([t["from_id"].astype(str), t["site_id"].astype(str)]))

    def nearest(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Minutes to the nearest site in `mask` per grid (NaN if none) and its id ('' if none)."""
        grids = self.city.grids
        n = len(grids)
        if not mask.any():
            return np.full(n, np.nan), np.full(n, "", dtype=object)
        if self.city.travel is None:
            xy = self.sites[["x", "y"]].to_numpy(float)[mask]
            dist, k = cKDTree(xy).query(grids[["x", "y"]].to_numpy(float), k=1, workers=-1)
            return dist / self.speed, self.ids[mask][k]
        t = self.table[self.table.index.get_level_values(1).isin(self.ids[mask])]
        best = t.groupby(level=0).min()
        minutes = grids["grid_id"].astype(str).map(best).to_numpy(float)
        return minutes, np.full(n, "", dtype=object)

    def within(self, mask: np.ndarray, limit: float) -> np.ndarray:
        """Number of sites in `mask` within `limit` minutes of each grid."""
        grids = self.city.grids
        if not mask.any():
            return np.zeros(len(grids), int)
        if self.city.travel is None:
            tree = cKDTree(self.sites[["x", "y"]].to_numpy(float)[mask])
            if self.city.land is None:
                return np.asarray(tree.query_ball_point(grids[["x", "y"]].to_numpy(float), limit * self.speed, return_length=True))
            # with land polygons a site counts only when the straight way to it stays on land
            balls = tree.query_ball_point(grids[["x", "y"]].to_numpy(float), limit * self.speed)
            g = np.repeat(np.arange(len(grids)), [len(b) for b in balls])
            j = np.concatenate([np.asarray(b, np.int64) for b in balls]) if len(g) else np.zeros(0, np.int64)
            s = self.sites[["lon", "lat"]].to_numpy(float)[mask][j]
            gl = grids[["lon", "lat"]].to_numpy(float)[g]
            ok = self.city.land.walkable(gl[:, 0], gl[:, 1], s[:, 0], s[:, 1])
            return np.bincount(g[ok], minlength=len(grids))
        t = self.table[(self.table.index.get_level_values(1).isin(self.ids[mask])) & (self.table <= limit)]
        return grids["grid_id"].astype(str).map(t.groupby(level=0).size()).fillna(0).to_numpy(int)

    def pair(self, grid_ids: np.ndarray, site_ids: np.ndarray) -> np.ndarray:
        if self.city.travel is not None:
            return self.table.reindex(pd.MultiIndex.from_arrays([grid_ids, site_ids])).to_numpy(float)
        gxy, sxy = _by_id(self.city.grids, "grid_id", grid_ids), _by_id(self.sites, "site_id", site_ids)
        return np.hypot(gxy[:, 0] - sxy[:, 0], gxy[:, 1] - sxy[:, 1]) / self.speed


def _by_id(table: pd.DataFrame, id_column: str, ids: np.ndarray) -> np.ndarray:
    """x, y of the rows of `table` named by `ids` (NaN for an id it lacks)."""
    at = pd.Index(table[id_column].astype(str)).get_indexer(ids)
    xy = table[["x", "y"]].to_numpy(float)[np.maximum(at, 0)]
    xy[at < 0] = np.nan
    return xy


def _check_coverage(report: CheckReport, city: Instance, sites: pd.DataFrame, is_open: np.ndarray,
                    coverage: pd.DataFrame, services: list[str], objective: str) -> dict:
    figures = {"double": 0.0, "covered": 0.0, "minutes": {}, "longest": {}}
    grid_ids = city.grids["grid_id"].astype(str).to_numpy()
    n = len(grid_ids)
    for k, service in enumerate(services):
        rows = coverage.iloc[k * n:(k + 1) * n]            # _coverage_rows: services in order, each over every grid
        mask_s = sites["service"].astype(str).to_numpy() == service
        walks = _minutes_to(city, sites[mask_s])
        open_s = is_open[mask_s]
        tau = float(city.config.norms["coverage_minutes"][service])
        q = _demand(city, service)
        _compare(report, f"coverage.demand ({service})", rows["demand"].to_numpy(float), q)
        minutes, _ = walks.nearest(open_s)
        _compare(report, f"coverage.nearest_minutes ({service})", rows["nearest_minutes"].to_numpy(float), minutes)
        if city.land is not None and city.travel is None:
            _check_covered_on_land(report, service, rows["covered"].to_numpy(float), walks, open_s, tau)
        else:
            _check_covered(report, service, rows["covered"].to_numpy(float), minutes, tau)
        figures["covered"] += float(q @ (rows["covered"].to_numpy(float) > 0.5))
        if objective in ("lscp", "lscpb"):
            coverable = walks.within(np.ones(len(open_s), bool), tau * (1 - EDGE)) > 0
            missed = coverable & (rows["covered"].to_numpy(float) < 0.5)
            if missed.any():
                report.fail(f"{service}: {int(missed.sum())} coverable grids are not covered (e.g. {grid_ids[missed][0]})")
        if objective == "lscpb":
            n_open = walks.within(open_s, tau * (1 + EDGE))
            n_all = walks.within(np.ones(len(open_s), bool), tau * (1 + EDGE))
            figures["double"] += float(q @ ((n_open >= 2) & (n_all >= 2)))
        assigned = _check_assigned(report, service, rows, sites[mask_s], open_s, walks, minutes, tau, objective, q)
        figures["minutes"][service] = (q, assigned)
        used = q > 0
        longest = np.where(used & np.isfinite(assigned), assigned, -np.inf)
        figures["longest"][service] = float(longest.max()) if used.any() and np.isfinite(longest.max()) else 0.0
    return figures


def _compare(report: CheckReport, what: str, got: np.ndarray, want: np.ndarray) -> None:
    both_nan = np.isnan(got) & np.isnan(want)
    close = np.isclose(got, want, rtol=1e-6, atol=1e-6) | both_nan
    if not close.all():
        i = int(np.flatnonzero(~close)[0])
        report.fail(f"{what}: {int((~close).sum())} rows differ from the recomputed value (e.g. {got[i]:.6g} vs {want[i]:.6g})")


def _check_covered(report: CheckReport, service: str, covered: np.ndarray, minutes: np.ndarray, tau: float) -> None:
    m = np.nan_to_num(minutes, nan=np.inf)
    wrong_yes = (covered > 0.5) & (m > tau * (1 + EDGE))
    wrong_no = (covered < 0.5) & (m < tau * (1 - EDGE))
    if wrong_yes.any():
        report.fail(f"{service}: {int(wrong_yes.sum())} grids are marked covered with no open site within {tau:g} minutes")
    if wrong_no.any():
        report.fail(f"{service}: {int(wrong_no.sum())} grids are marked uncovered with an open site within {tau:g} minutes")


def _check_covered_on_land(report: CheckReport, service: str, covered: np.ndarray, walks: _Walks, open_s: np.ndarray,
                           tau: float) -> None:
    """With land polygons: covered means an open site within tau minutes that can be walked to on land."""
    wrong_yes = (covered > 0.5) & (walks.within(open_s, tau * (1 + EDGE)) == 0)
    wrong_no = (covered < 0.5) & (walks.within(open_s, tau * (1 - EDGE)) > 0)
    if wrong_yes.any():
        report.fail(f"{service}: {int(wrong_yes.sum())} grids are marked covered with no open site within {tau:g} minutes "
                    "on land")
    if wrong_no.any():
        report.fail(f"{service}: {int(wrong_no.sum())} grids are marked uncovered with an open site within {tau:g} minutes "
                    "on land")


def _check_assigned(report: CheckReport, service: str, rows: pd.DataFrame, sites: pd.DataFrame, open_s: np.ndarray,
                    walks: _Walks, nearest: np.ndarray, tau: float, objective: str, q: np.ndarray) -> np.ndarray:
    site = rows["assigned_site"]
    has = site.notna().to_numpy() & (site.astype(str).to_numpy() != "")
    ids = sites["site_id"].astype(str).to_numpy()
    names = site.astype(str).to_numpy()
    bad = has & ~pd.Series(names).isin(set(ids[open_s].tolist())).to_numpy()
    if bad.any():
        report.fail(f"{service}: {int(bad.sum())} grids are assigned to a site that is not an open {service} site "
                    f"(e.g. {names[bad][0]})")
    has &= ~bad
    minutes = np.full(len(rows), np.nan)
    grid_ids = rows["node_id"].astype(str).to_numpy()
    minutes[has] = walks.pair(grid_ids[has], names[has])
    if objective in ("mclp", "lscp", "lscpb"):
        far = has & (minutes > tau * (1 + EDGE))
        if far.any():
            report.fail(f"{service}: {int(far.sum())} grids are assigned beyond the coverage minutes")
    if objective in ("pmedian", "pcenter", "cpmedian", "cflp"):
        missing = (q > 0) & ~has
        if missing.any():
            report.fail(f"{service}: {int(missing.sum())} grids with demand have no assigned site")
    if objective in ("pmedian", "pcenter"):
        farther = has & (minutes > nearest * (1 + 1e-9) + 1e-9)
        if farther.any():
            report.fail(f"{service}: {int(farther.sum())} grids are assigned to a site farther than the nearest open one")
    if objective in ("cpmedian", "cflp"):
        load = pd.Series(q[has]).groupby(names[has]).sum()
        cap = sites.set_index(sites["site_id"].astype(str))["capacity"].astype(float)
        over = load[load > cap.reindex(load.index) * (1 + TOL) + TOL]
        if len(over):
            report.fail(f"{service}: {len(over)} sites serve more than their capacity (e.g. {over.index[0]}: "
                        f"{over.iloc[0]:,.6g} > {cap[over.index[0]]:,.6g})")
    return np.where(has, minutes, np.nan)


def _objective(objective: str, coverage: pd.DataFrame, figures: dict, spend: float, fac: dict) -> float | None:
    if objective == "mclp":
        return figures["covered"]
    if objective == "lscp":
        return spend
    if objective == "lscpb":
        return figures["double"]
    weighted = sum(float(np.nansum(q * m)) for q, m in figures["minutes"].values())
    if objective in ("pmedian", "cpmedian"):
        return weighted
    if objective == "pcenter":
        return float(sum(v for v in figures["longest"].values() if math.isfinite(v)))
    if objective == "cflp":
        return spend + float(fac.get("travel_cost_per_person_minute", 0.0)) * weighted
    return None
