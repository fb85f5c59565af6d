"""Build a Chinese city's instance from its real districts: 2020 census figures and land boundaries.

Real, per district (county): name, adcode, 2020 census resident population, urban/rural split,
households, age shares, residents registered elsewhere (allocator/data/china/counties_2020.csv),
polygon area and boundary. Generated, by the rules stated in the constants below and in the
PROVENANCE.md written beside the instance (allocator/data/china/write.py, which also holds the
command): streets/towns, grids, staff today, case loads,
facility sites and the city's finances. Towns and grids are placed inside the real district
boundaries by rejection sampling (matplotlib.path.Path, even-odd rule).

    allocator build-city ADCODE --out DIR [--boundaries FILE]

The same census table, boundaries and seed give byte-identical files.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from allocator.data.china.boundaries import Boundary, origin_of
from allocator.data.china.census import CityChoice
from allocator.data.norms import merged_norms
from allocator.data.schema import SERVICES

SEED = 2020
KM_PER_DEG = 111.195                   # km per degree of latitude (R = 6,371 km)
COORD_DECIMALS = 5                     # about 1 m

# District kind: core if dense and fully urban, outer if sparse or mostly rural.
CORE_DENSITY, CORE_URBAN = 3000.0, 0.90            # persons/km2, urban share
SUBURBAN_DENSITY, SUBURBAN_URBAN = 300.0, 0.55
# Streets and towns: one street per this many urban residents, one town per rural ones.
URBAN_PER_STREET, RURAL_PER_TOWN = 70_000, 14_000
STREET_DENSITY = 6000.0                # persons/km2 used to size the streets' land
# Grids: households per grid aimed at, and the norm's ceiling.
GRID_TARGET = {"urban": 420, "rural": 280}
GRID_CAP = {"urban": 500, "rural": 300}
GRID_SIZE_SIGMA = 0.06                 # spread of households between a town's grids
GRIDS_PER_COMMUNITY = {"urban": 6, "rural": 3}
# Migrants live mostly in streets: weight of a town resident relative to a street resident.
MIGRANT_TOWN_WEIGHT = 0.4
# Registered here but living outside the district, per registered resident living here.
OUT_SHARE = {"core": 0.20, "suburban": 0.28, "outer": 0.50}
OUT_TOWN_WEIGHT = 1.5                  # rural towns lose more of their registered people
SAME_DISTRICT_TOWN_WEIGHT = 2.0        # intra-district moves leave towns more than streets
EVENTS_PER_PERSON = {"urban": 0.06, "rural": 0.04}  # grid events per person-year, before migrants
CASES_PER_1000 = {"street": 8.0, "town": 4.0}       # enforcement cases per 1,000 persons-year
ENFORCEMENT_NOW_SHARE = 0.85           # today's officers as a share of the norm, spread by registration
HEADCOUNT_GROWTH = 0.10
FULLTIME_P = {("core", "street"): 0.95, ("suburban", "street"): 0.85, ("suburban", "town"): 0.70,
              ("outer", "street"): 0.75, ("outer", "town"): 0.55, ("core", "town"): 0.90}
PARTTIME_MAX = {"urban": 1, "rural": 2}
BUDGET_SLACK = 1.20
OWN_BUDGET_SHARE, CITY_POOL_SHARE, TRANSFER_CAP_SHARE = 0.80, 0.25, 0.50
WEALTH = {"core": 1.5, "suburban": 1.0, "outer": 0.7}
NEED = {"core": 0.3, "suburban": 1.0, "outer": 1.6}


@dataclass(frozen=True)
class ServiceSpec:
    """Planning assumptions for one of the seven services (capacity in persons, costs 10k CNY)."""

    demand: str           # town column the service's demand follows
    factor: float         # share of that column that needs the service
    capacity: float
    open_cost: float
    annual_cost: float
    code: str


SERVICE_SPECS = {
    "childcare": ServiceSpec("children", 0.35, 300, 400, 120, "CC"),
    "education": ServiceSpec("children", 0.55, 1500, 4000, 900, "ED"),
    "employment": ServiceSpec("working_age", 1.0, 15000, 60, 25, "EM"),
    "health": ServiceSpec("actual", 1.0, 10000, 600, 250, "HE"),
    "elderly_care": ServiceSpec("elderly", 1.0, 1500, 250, 80, "EL"),
    "housing": ServiceSpec("pop_migrant", 1.0, 10000, 150, 40, "HO"),
    "assistance": ServiceSpec("actual", 1.0, 30000, 50, 30, "AS"),
}
PROVISION = {"core": 1.3, "suburban": 0.6, "outer": 0.45}   # existing capacity / demand
PROVISION_TOWN = {"street": 1.0, "town": 0.7}
EXISTING_FLOOR = 1.1        # today's sites of a service hold at least this times each district's target group
CANDIDATES = {"street": 3, "town": 2}
OPEN_COST_FACTOR = {"core": 1.6, "suburban": 1.0, "outer": 0.8}
ANNUAL_COST_FACTOR = {"core": 1.2, "suburban": 1.0, "outer": 0.85}


# --- geometry --------------------------------------------------------------------------

def _offset(lon0, lat0, dx_km: np.ndarray, dy_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points dx, dy km east and north of (lon0, lat0), rounded to COORD_DECIMALS."""
    lon = lon0 + dx_km / (KM_PER_DEG * np.cos(np.radians(lat0)))
    lat = lat0 + dy_km / KM_PER_DEG
    return np.round(lon, COORD_DECIMALS), np.round(lat, COORD_DECIMALS)


def distance_km(lon0, lat0, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Local equirectangular distance, accurate to well under 1 % over a town."""
    dx = (np.asarray(lon) - lon0) * KM_PER_DEG * np.cos(np.radians(lat0))
    dy = (np.asarray(lat) - lat0) * KM_PER_DEG
    return np.hypot(dx, dy)


def sample_near(boundary: Boundary, centre: tuple[float, float], n: int, radius_km: float,
                rng: np.random.Generator, clustered: bool) -> tuple[np.ndarray, np.ndarray]:
    """n points within radius_km of one centre and inside the boundary."""
    return sample_around(boundary, np.full(n, centre[0]), np.full(n, centre[1]), radius_km, rng, clustered)


def sample_around(boundary: Boundary, lon0: np.ndarray, lat0: np.ndarray, radius_km: float,
                  rng: np.random.Generator, clustered: bool) -> tuple[np.ndarray, np.ndarray]:
    """One point near each centre, within radius_km and inside the boundary (rejection sampling).

    clustered: Gaussian with sigma = radius/2 truncated at the radius; else uniform in the disc.
    A point not found after 60 rounds stays at its centre (which lies inside).
    """
    lon, lat = np.array(lon0, float), np.array(lat0, float)
    todo = np.arange(len(lon))
    for _ in range(60):
        if len(todo) == 0:
            break
        m = len(todo)
        if clustered:
            dx, dy = rng.normal(0, radius_km / 2, m), rng.normal(0, radius_km / 2, m)
        else:
            r, a = radius_km * np.sqrt(rng.random(m)), 2 * np.pi * rng.random(m)
            dx, dy = r * np.cos(a), r * np.sin(a)
        c_lon, c_lat = _offset(lon0[todo], lat0[todo], dx, dy)
        ok = boundary.contains(c_lon, c_lat) & (distance_km(lon0[todo], lat0[todo], c_lon, c_lat) <= radius_km)
        lon[todo[ok]], lat[todo[ok]] = c_lon[ok], c_lat[ok]
        todo = todo[~ok]
    return lon, lat


def spread_points(boundary: Boundary, n: int, taken: list[tuple[float, float]],
                  rng: np.random.Generator, candidates: int = 24) -> list[tuple[float, float]]:
    """n points spread over the polygon: each the best of uniform candidates (farthest from those taken)."""
    x0, y0, x1, y1 = boundary.bbox()
    points, placed = [], list(taken)
    while len(points) < n:
        lon = np.round(x0 + (x1 - x0) * rng.random(8 * candidates), COORD_DECIMALS)
        lat = np.round(y0 + (y1 - y0) * rng.random(8 * candidates), COORD_DECIMALS)
        inside = boundary.contains(lon, lat)
        lon, lat = lon[inside][:candidates], lat[inside][:candidates]
        if len(lon) == 0:
            continue
        if placed:
            gaps = np.min([distance_km(p[0], p[1], lon, lat) for p in placed], axis=0)
            k = int(np.argmax(gaps))
        else:
            k = 0
        points.append((float(lon[k]), float(lat[k])))
        placed.append(points[-1])
    return points


# --- arithmetic ------------------------------------------------------------------------

def apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Split a whole number in proportion to weights, largest remainder first (sums exactly)."""
    weights = np.asarray(weights, float)
    quota = total * weights / weights.sum()
    base = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - base), kind="stable")
    base[order[: total - int(base.sum())]] += 1
    return base


def noise(rng: np.random.Generator, sigma: float, n: int) -> np.ndarray:
    return rng.lognormal(0.0, sigma, n)


# --- districts -------------------------------------------------------------------------

def read_districts(choice: CityChoice, boundaries: dict[str, Boundary]) -> pd.DataFrame:
    """The city's districts: census figures of the shipped county table and polygon area (to 0.1 km2)."""
    rows = choice.rows
    out = pd.DataFrame({
        "district_id": rows["adcode"].astype(str), "name": rows["name"],
        "census_pop": rows["pop"], "census_urban": rows["urban"], "census_rural": rows["rural"],
        "census_households": rows["households"],
        "census_share_0_14": rows["share_0_14"].astype(float), "census_share_65": rows["share_65"].astype(float),
        "census_elsewhere_same_district": rows["elsewhere_same_district"],
        "census_elsewhere_other_district": rows["elsewhere_other_district"],
        "census_elsewhere_other_province": rows["elsewhere_other_province"],
        "area_km2": [round(boundaries[c].area_km2(), 1) for c in rows["adcode"]],
    }).sort_values("district_id").reset_index(drop=True)
    out["kind"] = [district_kind(r.census_urban / r.census_pop, r.census_pop / r.area_km2) for r in out.itertuples()]
    return out


def district_kind(urban_share: float, density: float) -> str:
    """core: ≥ 3,000 persons/km2 and ≥ 90 % urban; suburban: ≥ 300/km2 and ≥ 55 % urban; else outer."""
    if density >= CORE_DENSITY and urban_share >= CORE_URBAN:
        return "core"
    if density >= SUBURBAN_DENSITY and urban_share >= SUBURBAN_URBAN:
        return "suburban"
    return "outer"


def town_counts(urban: int, rural: int) -> tuple[int, int]:
    """Streets per ~70k urban and towns per ~14k rural residents, at least one of each kind present, two in all."""
    streets = max(1, round(urban / URBAN_PER_STREET)) if urban > 0 else 0
    towns = max(1, round(rural / RURAL_PER_TOWN)) if rural > 0 else 0
    if streets + towns < 2:
        streets, towns = (streets + 1, towns) if urban >= rural else (streets, towns + 1)
    return streets, towns


# --- towns -----------------------------------------------------------------------------

def build_towns(d: pd.Series, boundary: Boundary, rng: np.random.Generator) -> pd.DataFrame:
    """The district's streets and towns with real totals split by largest remainder."""
    n_s, n_t = town_counts(int(d.census_urban), int(d.census_rural))
    kind = np.array(["street"] * n_s + ["town"] * n_t)
    actual = np.concatenate([apportion(int(d.census_urban), noise(rng, 0.35, n_s)) if n_s else [],
                             apportion(int(d.census_rural), noise(rng, 0.45, n_t)) if n_t else []]).astype(np.int64)
    towns = pd.DataFrame({
        "town_id": [f"{d.district_id}{'S' if k == 'street' else 'T'}{i + 1:02d}" for k, i in zip(kind, _ranks(kind))],
        "district_id": d.district_id,
        "name": [f"{d['name']}第{i + 1}{'街道' if k == 'street' else '镇'}" for k, i in zip(kind, _ranks(kind))],
        "kind": kind, "actual": actual,
    })
    towns["households"] = apportion(int(d.census_households), actual)
    towns["area_km2"] = town_areas(d, kind, actual, rng)
    _split_registration(towns, d)
    towns["lon"], towns["lat"] = place_towns(boundary, kind, towns["area_km2"].to_numpy(), rng)
    towns["cases_per_year"] = np.round(actual / 1000 * towns["kind"].map(CASES_PER_1000)
                                       * (1 + towns["pop_migrant"] / actual) * noise(rng, 0.2, len(towns))).astype(np.int64)
    towns["_enforcement_noise"] = noise(rng, 0.15, len(towns))
    return towns


def _ranks(kind: np.ndarray) -> list[int]:
    """Running number of each town within its kind."""
    seen: dict[str, int] = {}
    out = []
    for k in kind:
        out.append(seen.get(k, 0))
        seen[k] = out[-1] + 1
    return out


def town_areas(d: pd.Series, kind: np.ndarray, actual: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Streets take land at ~6,000 persons/km2 (at most half the district); towns share the rest."""
    streets = kind == "street"
    area = np.zeros(len(kind))
    street_land = float(d.area_km2) if streets.all() else min(0.5 * d.area_km2, actual[streets].sum() / STREET_DENSITY)
    if streets.any():
        w = actual[streets] * noise(rng, 0.2, int(streets.sum()))
        area[streets] = street_land * w / w.sum()
    if (~streets).any():
        w = noise(rng, 0.4, int((~streets).sum()))
        area[~streets] = (d.area_km2 - street_land) * w / w.sum()
    return np.maximum(np.round(area, 2), 0.5)


def _split_registration(towns: pd.DataFrame, d: pd.Series) -> None:
    """pop_migrant from the census registered-elsewhere counts; pop_registered adds assumed out-registration."""
    street = (towns["kind"] == "street").to_numpy()
    actual = towns["actual"].to_numpy()
    migrants = int(d.census_elsewhere_same_district + d.census_elsewhere_other_district + d.census_elsewhere_other_province)
    towns["pop_migrant"] = apportion(migrants, actual * np.where(street, 1.0, MIGRANT_TOWN_WEIGHT))
    if (towns["pop_migrant"] > 0.95 * actual).any():       # streets would be almost all migrants: spread evenly
        towns["pop_migrant"] = apportion(migrants, actual.astype(float))
    resident = actual - towns["pop_migrant"].to_numpy()
    towns["pop_resident"] = resident
    same = apportion(int(d.census_elsewhere_same_district), resident * np.where(street, 1.0, SAME_DISTRICT_TOWN_WEIGHT))
    registered_here = int(d.census_pop - d.census_elsewhere_other_district - d.census_elsewhere_other_province)
    away = apportion(round(OUT_SHARE[d.kind] * registered_here), resident * np.where(street, 1.0, OUT_TOWN_WEIGHT))
    towns["pop_registered"] = resident + same + away


def place_towns(boundary: Boundary, kind: np.ndarray, area: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Streets clustered about the district seat (the first at the seat); towns spread over the polygon."""
    streets = kind == "street"
    lon, lat = np.zeros(len(kind)), np.zeros(len(kind))
    seat = (round(boundary.seat[0], COORD_DECIMALS), round(boundary.seat[1], COORD_DECIMALS))
    if streets.any():
        radius = max(1.0, math.sqrt(area[streets].sum() / math.pi))
        s_lon, s_lat = sample_near(boundary, seat, int(streets.sum()) - 1, radius, rng, clustered=True)
        lon[streets], lat[streets] = np.r_[seat[0], s_lon], np.r_[seat[1], s_lat]
    taken = list(zip(lon[streets], lat[streets])) or [seat]
    spread = spread_points(boundary, int((~streets).sum()), taken, rng)
    if spread:
        lon[~streets], lat[~streets] = np.array(spread).T
    return lon, lat


# --- grids -----------------------------------------------------------------------------

def grid_households(households: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Households per grid: about GRID_TARGET each, none above the norm's ceiling."""
    n = max(1, math.ceil(households / GRID_TARGET[kind]))
    while True:
        split = apportion(households, noise(rng, GRID_SIZE_SIGMA, n))
        if split.max() <= GRID_CAP[kind] and split.min() >= 1:
            return split
        n += 1


def build_grids(town, dkind: str, boundary: Boundary, rng: np.random.Generator) -> pd.DataFrame:
    """One town's grids: households, persons (summing to the town's), staff today and positions.

    town: a row (named tuple) of the town table.
    """
    gkind = "urban" if town.kind == "street" else "rural"
    hh = grid_households(int(town.households), gkind, rng)
    n = len(hh)
    population = apportion(int(town.actual), hh * noise(rng, 0.08, n))
    migrant_share = town.pop_migrant / town.actual
    events = np.round(population * EVENTS_PER_PERSON[gkind] * (1 + 1.5 * migrant_share) * noise(rng, 0.25, n))
    radius = math.sqrt(town.area_km2 / math.pi)
    lon, lat = sample_near(boundary, (town.lon, town.lat), n, radius, rng, clustered=gkind == "urban")
    return pd.DataFrame({
        "grid_id": [f"{town.town_id}G{i + 1:03d}" for i in range(n)],
        "town_id": town.town_id,
        "community": [f"{town.town_id}C{i // GRIDS_PER_COMMUNITY[gkind] + 1:02d}" for i in range(n)],
        "kind": gkind, "households": hh, "population": population,
        "events_per_year": events.astype(np.int64),
        "fulltime_now": (rng.random(n) < FULLTIME_P[(dkind, town.kind)]).astype(np.int64),
        "parttime_now": rng.integers(0, PARTTIME_MAX[gkind] + 1, n),
        "lon": lon, "lat": lat,
    })


def add_ages(grids: pd.DataFrame, d: pd.Series, rng: np.random.Generator) -> None:
    """Elderly (65+) and children (0-14): the district's real shares, spread with mild noise."""
    pop = grids["population"].to_numpy()
    for column, share in (("elderly", d.census_share_65), ("children", d.census_share_0_14)):
        grids[column] = apportion(round(d.census_pop * share / 100), pop * noise(rng, 0.15, len(pop)))
    if (grids["elderly"] + grids["children"] > grids["population"]).any():
        raise ValueError(f"{d['name']}: elderly + children exceed a grid's population")
    if (grids["households"] > grids["population"]).any():
        raise ValueError(f"{d['name']}: more households than persons in a grid")


# --- sites -----------------------------------------------------------------------------

def build_sites(town, dkind: str, grids: pd.DataFrame, boundary: Boundary,
                rng: np.random.Generator) -> dict[str, list]:
    """Existing facilities (more per person in the core) and candidate sites, for each service.

    town: a row of the town table with its demand columns (see `_town_demands`).
    """
    columns: dict[str, list] = {c: [] for c in SITE_COLUMNS}
    weights = grids["population"].to_numpy(float)
    g_lon, g_lat = grids["lon"].to_numpy(), grids["lat"].to_numpy()
    for service in SERVICES:
        spec = SERVICE_SPECS[service]
        need = spec.factor * float(getattr(town, spec.demand))
        existing = rng.poisson(PROVISION[dkind] * PROVISION_TOWN[town.kind] * need / spec.capacity)
        n = existing + CANDIDATES[town.kind]
        at = rng.choice(len(grids), size=n, p=weights / weights.sum())
        cap = np.where(np.arange(n) < existing, np.round(spec.capacity * noise(rng, 0.2, n), -1), spec.capacity)
        open_cost = np.where(np.arange(n) < existing, 0.0,
                             np.round(spec.open_cost * OPEN_COST_FACTOR[dkind] * noise(rng, 0.15, n), 1))
        annual = np.round(spec.annual_cost * ANNUAL_COST_FACTOR[dkind] * cap / spec.capacity * noise(rng, 0.15, n), 1)
        cap = np.round(cap * target_group_per_user(town, service), -1)
        lon, lat = sample_around(boundary, g_lon[at], g_lat[at], 0.3, rng, clustered=True)
        for name, values in (("site_id", [f"{town.town_id}{spec.code}{k + 1}" for k in range(n)]),
                             ("town_id", [town.town_id] * n), ("service", [service] * n),
                             ("existing", (np.arange(n) < existing).astype(np.int64)), ("capacity", cap),
                             ("open_cost", open_cost), ("annual_cost", annual), ("lon", lon), ("lat", lat)):
            columns[name].extend(values)
    return columns


SITE_COLUMNS = ["site_id", "town_id", "service", "existing", "capacity", "open_cost", "annual_cost", "lon", "lat"]


MODEL_GROUP = {"childcare": "children", "education": "children", "elderly_care": "elderly", "employment": "working_age",
               "health": "actual", "housing": "actual", "assistance": "actual"}   # models.facilities_data.TARGET_GROUP


def target_group_per_user(town, service: str) -> float:
    """Persons of the facilities model's target group of `service` per user the site is sized for: the
    model's demand is the whole group (children 0-14, the elderly, working age, everyone), so a site for
    N users (N = the town's demand column x share) serves N x group / users of it, and its capacity is
    stated in those persons. 1 where the town has no users to size on."""
    spec = SERVICE_SPECS[service]
    users = spec.factor * float(getattr(town, spec.demand))
    return float(getattr(town, MODEL_GROUP[service])) / users if users > 0 else 1.0


def hold_everyone(sites: pd.DataFrame, towns: pd.DataFrame, grids: pd.DataFrame) -> pd.DataFrame:
    """Today's sites of each service hold at least EXISTING_FLOOR times each district's target group (the
    facilities model's demand), so the capacitated models (cpmedian, cflp) have a plan without any new
    site: a district with no site of a service today gets its first candidate as an existing one (open
    cost 0), and a district's existing sites short of the floor are enlarged in proportion (capacity up
    to whole tens, running cost with it). Rural provision stays thin in the number and spread of sites."""
    sites = sites.copy()
    district = sites["town_id"].map(towns.set_index("town_id")["district_id"]).to_numpy()
    grid_district = grids["town_id"].map(towns.set_index("town_id")["district_id"]).to_numpy()
    groups = grids.assign(working_age=(grids["population"] - grids["elderly"] - grids["children"]).clip(lower=0),
                          actual=grids["population"])
    for service in SERVICES:
        demand = groups[MODEL_GROUP[service]].groupby(grid_district).sum()
        for d, need in demand.items():
            mine = (sites["service"].to_numpy() == service) & (district == d)
            if not mine.any():
                continue
            old = mine & (sites["existing"].to_numpy() == 1)
            if not old.any():
                first = np.flatnonzero(mine)[0]
                sites.loc[first, ["existing", "open_cost"]] = [1, 0.0]
                old[first] = True
            held = float(sites.loc[old, "capacity"].sum())
            if held < EXISTING_FLOOR * need:
                factor = EXISTING_FLOOR * need / held
                sites.loc[old, "capacity"] = np.ceil(sites.loc[old, "capacity"] * factor / 10.0) * 10.0
                sites.loc[old, "annual_cost"] = np.round(sites.loc[old, "annual_cost"] * factor, 1)
    return sites


def _town_demands(towns: pd.DataFrame, grids: pd.DataFrame) -> pd.DataFrame:
    """Per-town demand columns the services follow (children, elderly, working age, actual)."""
    ages = grids.groupby("town_id")[["children", "elderly"]].sum()
    out = towns.join(ages, on="town_id")
    out["working_age"] = out["actual"] - out["children"] - out["elderly"]
    return out


# --- city ------------------------------------------------------------------------------

def enforcement_demand(towns: pd.DataFrame, norms: dict) -> np.ndarray:
    """Officers the norm asks for on the actual basis: per 10k persons, per km2, per 1,000 cases; a minimum team."""
    need = (norms["enforcement_per_10k"] * towns["actual"] / 1e4 + norms["enforcement_per_km2"] * towns["area_km2"]
            + norms["enforcement_per_1000_cases"] * towns["cases_per_year"] / 1000)
    return np.maximum(norms["enforcement_min_team"], np.ceil(need.to_numpy())).astype(np.int64)


def add_enforcement_now(towns: pd.DataFrame, norms: dict) -> int:
    """Today's officers follow the registered population (the fault); returns the norm's total."""
    demand = enforcement_demand(towns, norms)
    rate = ENFORCEMENT_NOW_SHARE * demand.sum() / towns["pop_registered"].sum()
    now = np.round(rate * towns["pop_registered"] * towns.pop("_enforcement_noise"))
    towns["enforcement_now"] = np.maximum(2, now).astype(np.int64)
    return int(demand.sum())


def finances(districts: pd.DataFrame, towns: pd.DataFrame, n_grids: int, norm_officers: int,
             norms: dict) -> dict[str, float]:
    """Budget, city pool and each district's own budget and transfer cap (10k CNY/yr)."""
    staff_cost = n_grids * norms["salary_fulltime"] + norm_officers * norms["enforcement_salary"]
    budget = round(BUDGET_SLACK * staff_cost, -3)
    actual = towns.groupby("district_id")["actual"].sum().reindex(districts["district_id"]).to_numpy(float)
    wealth = actual * districts["kind"].map(WEALTH).to_numpy()
    districts["own_budget"] = np.round(OWN_BUDGET_SHARE * budget * wealth / wealth.sum(), -1)
    need = actual / actual.sum() * districts["kind"].map(NEED).to_numpy()
    districts["transfer_cap"] = np.round(TRANSFER_CAP_SHARE * budget * need, -1)
    return {"budget": float(budget), "city_pool": float(round(CITY_POOL_SHARE * budget, -2)), "staff_cost": staff_cost}


def build(choice: CityChoice, boundaries: dict[str, Boundary],
          progress: Callable[[str], None] = lambda line: None) -> tuple[dict[str, pd.DataFrame], dict]:
    """All tables and the figures city.yaml and PROVENANCE.md need."""
    districts = read_districts(choice, boundaries)
    norms = merged_norms(None)
    towns_all, grids_all, sites_all = [], [], []
    for k, (_, d) in enumerate(districts.iterrows()):
        rng = np.random.default_rng([SEED, int(d.district_id)])
        boundary = boundaries[d.district_id]
        towns = build_towns(d, boundary, rng)
        grids = pd.concat([build_grids(t, d.kind, boundary, rng) for t in towns.itertuples()], ignore_index=True)
        add_ages(grids, d, rng)
        rows = grids.groupby("town_id", sort=False).indices
        sites_all.extend(pd.DataFrame(build_sites(t, d.kind, grids.iloc[rows[t.town_id]], boundary, rng))
                         for t in _town_demands(towns, grids).itertuples())
        towns_all.append(towns)
        grids_all.append(grids)
        progress(f"district {k + 1}/{len(districts)} {d.district_id} {d['name']}: {d.census_pop:,} persons, "
                 f"{len(towns)} streets/towns, {len(grids):,} grids")
    towns, grids = pd.concat(towns_all, ignore_index=True), pd.concat(grids_all, ignore_index=True)
    sites = hold_everyone(pd.concat(sites_all, ignore_index=True), towns, grids)
    norm_officers = add_enforcement_now(towns, norms)
    money = finances(districts, towns, len(grids), norm_officers, norms)
    facts = {**money, "norm_officers": norm_officers, "headcount": round((1 + HEADCOUNT_GROWTH) * towns["enforcement_now"].sum()),
             "norms": norms, "origin": origin_of([boundaries[c] for c in districts["district_id"]])}
    return {"districts": districts, "towns": towns, "grids": grids, "sites": sites}, facts
