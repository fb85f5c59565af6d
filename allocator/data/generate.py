"""Synthetic cities of any size, from 5 to 5,000 streets/towns, for tests and benchmarks.

A generated city has the shape the policy literature describes:

- **core** districts (核心区): streets only, dense, elderly, few migrants, and many existing
  service facilities per resident (中心城区人口少、服务资源多);
- **suburban** districts (近郊): streets and towns with many migrants (pop_migrant close
  to or above pop_resident) and few existing facilities (郊区人口多而服务少);
- **outer** districts/counties (远郊): mostly towns with rural grids of about 300
  households, large areas, low density, elderly-heavy, registered population above the
  resident one (people left for the city).

Today's staffing carries today's faults: enforcement officers follow the *registered*
population, and some grids have no full-time worker.

Sites. A site's capacity counts persons of its service's whole target group, as the facilities
model's demand does (children for childcare and education, the elderly for elderly care, working
age for employment, everyone for health, housing and assistance: `TARGET_GROUP`, the same as
`models.facilities_data`); SERVICE_PROFILES gives each service's site size in those persons and
its costs. Every town has at least one existing site of each service. A town's existing sites of
a service together hold its target group times the town's `served_today` share: 1.25-1.45 in the
core, 0.80-0.95 in the suburbs, 1.05-1.25 in the outer districts (built for people who have since
left). Where a service's existing sites would hold less than EXISTING_FLOOR (1.1) times its
target group city-wide, those of the towns holding their whole group are enlarged in proportion
until they do; short towns stay short. So today's sites can hold all the demand of the
capacitated models (cpmedian, cflp) with 10 % to spare for packing whole grids, and suburban
grids are served far away until new sites open near them.
Each town's candidate sites are enlarged, cost per person kept, until all its sites of a service
hold CAPACITY_HEADROOM (1.25) times its target group.

Budget. The budget in city.yaml pays, with 10 % slack, one full-time worker per grid,
enforcement officers at the norm, the part-time helpers employed today (who are kept), and the
cost of closing every town's shortfalls
(`closing_cost`: for each service whose existing sites in a town hold less than its target group,
the persons missing times the least first-year cost per person of the town's candidate sites); a
district's own budget and transfer cap are shares of the same need over its grids, officers and
towns. What the budget leaves for new sites after today's staff is therefore more than nothing
and far less than opening every candidate (1-5 % of that on cities of 5 to 400 towns): every
facilities objective has a plan at the city's budget, and none can open every candidate.

Everything is drawn with one `numpy.random.default_rng(seed)` in a fixed order, in whole
arrays (no per-town Python loops), so the same (towns, seed) gives byte-identical files
and 2,000 towns take well under a second to draw. Coordinates are projected metres about
the city centre (0, 0).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from allocator.errors import InputError, Problem
from allocator.files import check_file_target, check_folder_target
from allocator.data.instance import CityConfig, Instance
from allocator.data.loader import finish_frame   # the loader's own column order, dtypes and index
from allocator.data.norms import merged_norms
from allocator.data.writers import write_folder, write_workbook
from allocator.data.schema import DISTRICT_KINDS, DISTRICTS, GRIDS, SERVICES, SITES, TOWNS

MIN_TOWNS, MAX_TOWNS = 5, 5000
TARGET_GROUP = {      # persons a site of each service serves (models.facilities_data.TARGET_GROUP)
    "childcare": "children", "education": "children", "elderly_care": "elderly", "employment": "working_age",
    "health": "population", "housing": "population", "assistance": "population",
}
CAPACITY_HEADROOM = 1.25  # all sites of a service in a town hold this many times its target group
EXISTING_FLOOR = 1.10     # today's sites of a service hold at least this many times its target group, city-wide
FORMATS = ("folder", "xlsx")
CORE, SUBURBAN, OUTER = range(3)          # indices into DISTRICT_KINDS


@dataclass(frozen=True)
class TownProfile:
    """What a street or town of one district kind looks like (ranges are uniform draws)."""

    label: str
    district_kind: int
    is_street: bool
    actual_median: float                    # persons (resident + migrant), lognormal median
    actual_sigma: float                     # lognormal spread
    migrant_share: tuple[float, float]      # pop_migrant / actual
    registered_ratio: tuple[float, float]   # pop_registered / pop_resident (>= 1)
    elderly_share: tuple[float, float]
    children_share: tuple[float, float]
    area_km2: tuple[float, float]
    persons_per_household: float
    urban_grid_share: float                 # expected share of urban grids
    fulltime_cover: float                   # probability a grid has a full-time worker today
    parttime_mean: float                    # part-time helpers per grid today
    existing_sites_per_10k: float           # existing facilities per 10,000 actual persons (at least one per service)
    land_cost: float                        # open-cost multiplier
    served_today: tuple[float, float]       # share of each service's target group today's sites hold


PROFILES: tuple[TownProfile, ...] = (
    TownProfile("core street", CORE, True, 30_000, 0.30, (0.06, 0.16), (1.00, 1.08), (0.20, 0.28),
                (0.08, 0.12), (1.5, 5.0), 2.4, 1.00, 0.97, 1.4, 10.0, 1.6, (1.25, 1.45)),
    TownProfile("suburban street", SUBURBAN, True, 33_000, 0.35, (0.40, 0.60), (1.00, 1.05), (0.07, 0.12),
                (0.14, 0.19), (6.0, 18.0), 2.7, 1.00, 0.80, 0.8, 2.0, 1.0, (0.80, 0.95)),
    TownProfile("suburban town", SUBURBAN, False, 27_000, 0.40, (0.35, 0.65), (1.00, 1.05), (0.08, 0.13),
                (0.14, 0.20), (20.0, 60.0), 2.8, 0.60, 0.70, 0.7, 1.8, 0.8, (0.80, 0.95)),
    TownProfile("outer street", OUTER, True, 18_000, 0.35, (0.05, 0.15), (1.05, 1.20), (0.18, 0.25),
                (0.11, 0.15), (10.0, 30.0), 2.6, 0.90, 0.85, 1.0, 3.5, 0.7, (1.05, 1.25)),
    TownProfile("outer town", OUTER, False, 13_000, 0.45, (0.02, 0.08), (1.10, 1.40), (0.22, 0.32),
                (0.09, 0.13), (50.0, 200.0), 2.9, 0.12, 0.75, 1.2, 3.0, 0.6, (1.05, 1.25)),
)


@dataclass(frozen=True)
class ServiceProfile:
    """Facility sizes and costs of one service (capacity in persons of its target group, costs in 10k CNY)."""

    capacity: tuple[float, float]
    open_cost: tuple[float, float]
    annual_cost: tuple[float, float]
    existing_weight: float                  # share of a town's existing facilities


SERVICE_PROFILES: dict[str, ServiceProfile] = {
    "childcare": ServiceProfile((600, 1_500), (200, 600), (40, 90), 0.25),
    "education": ServiceProfile((2_000, 5_000), (2_000, 6_000), (300, 600), 0.13),
    "employment": ServiceProfile((10_000, 40_000), (100, 300), (20, 50), 0.08),
    "health": ServiceProfile((5_000, 15_000), (300, 1_500), (100, 250), 0.18),
    "elderly_care": ServiceProfile((500, 2_000), (300, 1_000), (60, 150), 0.16),
    "housing": ServiceProfile((10_000, 30_000), (100, 300), (30, 80), 0.08),
    "assistance": ServiceProfile((5_000, 20_000), (50, 200), (10, 30), 0.12),
}


@dataclass(frozen=True)
class CityShape:
    """Knobs of the generated city's shape."""

    towns_per_district: float = 16.0                          # about 1 district per 10-25 towns
    district_kind_shares: tuple[float, float, float] = (0.20, 0.35, 0.45)   # core, suburban, outer
    street_share: tuple[float, float, float] = (1.00, 0.55, 0.12)           # by district kind
    urban_households: tuple[float, float] = (300, 500)        # per urban grid
    rural_households: tuple[float, float] = (240, 330)        # per rural grid
    events_per_person: float = 0.02                           # grid events / person-year
    cases_per_person: float = 0.012                           # enforcement cases / person-year
    migrant_event_uplift: float = 2.0                         # per-capita load × (1 + uplift · migrant share)
    candidates_per_service: float = 1.0                       # extra candidate sites per town and service (Poisson mean)
    enforcement_today_per_10k_registered: tuple[float, float] = (5.0, 6.5)
    enforcement_today_floor: int = 3
    budget_slack: float = 0.10
    headcount_share_of_norm: float = 0.90
    own_budget_share: tuple[float, float, float] = (1.10, 0.75, 0.80)       # of a district's need
    transfer_cap_share: tuple[float, float, float] = (0.20, 0.50, 0.50)     # of a district's need


@dataclass(frozen=True)
class Towns:
    """Drawn towns as parallel arrays (index = town number)."""

    district: np.ndarray
    profile: np.ndarray
    resident: np.ndarray
    migrant: np.ndarray
    registered: np.ndarray
    area_km2: np.ndarray
    x: np.ndarray
    y: np.ndarray

    @property
    def actual(self) -> np.ndarray:
        return self.resident + self.migrant

    @property
    def migrant_share(self) -> np.ndarray:
        return self.migrant / self.actual


@dataclass(frozen=True)
class Grids:
    """Drawn grids as parallel arrays, ordered by town (index = grid number)."""

    town: np.ndarray
    rural: np.ndarray
    households: np.ndarray
    population: np.ndarray
    elderly: np.ndarray
    children: np.ndarray
    x: np.ndarray
    y: np.ndarray


def generate_city(towns: int, seed: int, shape: CityShape = CityShape()) -> Instance:
    """A synthetic city of `towns` streets/towns drawn from `seed` (same seed → same city)."""
    check_arguments(towns, seed)
    rng = np.random.default_rng(seed)
    norms = merged_norms(None)
    district_kind, town_district = _draw_districts(towns, rng, shape)
    profile = _draw_town_profiles(district_kind, town_district, rng, shape)
    drawn = _draw_towns(town_district, profile, district_kind, rng)
    grids = _draw_grids(drawn, rng, shape)
    towns_frame = _towns_frame(drawn, rng, shape)
    grids_frame = _grids_frame(drawn, grids, rng, shape)
    sites_frame = _sites_frame(drawn, grids, rng, shape)
    demand = norm_enforcement_demand(towns_frame, norms)
    sites_cost = closing_cost(sites_frame, town_demand(grids, len(profile)), len(profile))
    helpers = np.bincount(town_district[grids.town], weights=grids_frame["parttime_now"].to_numpy(float),
                          minlength=len(district_kind))
    districts_frame, budget, city_pool = _districts_frame(district_kind, town_district, grids, demand, sites_cost,
                                                          norms, shape, helpers)
    headcount = int(max(np.ceil(shape.headcount_share_of_norm * demand.sum()),
                        towns_frame["enforcement_now"].sum(), towns * norms["enforcement_min_team"]))
    config = CityConfig(
        name=f"synthetic-{towns}-s{seed}", budget=budget, headcount=headcount, city_pool=city_pool,
        norms=norms, description=f"synthetic city: {towns} towns, seed {seed} (allocator generate)")
    return Instance(config=config, districts=finish_frame(districts_frame, DISTRICTS),
                    towns=finish_frame(towns_frame, TOWNS), grids=finish_frame(grids_frame, GRIDS),
                    sites=finish_frame(sites_frame, SITES), source=f"generate --towns {towns} --seed {seed}")


def check_arguments(towns: int, seed: int) -> None:
    """Raise `InputError` unless MIN_TOWNS ≤ towns ≤ MAX_TOWNS and seed ≥ 0 (whole numbers)."""
    problems = []
    if isinstance(towns, bool) or not isinstance(towns, (int, np.integer)) or not MIN_TOWNS <= towns <= MAX_TOWNS:
        problems.append(Problem("--towns", f"must be a whole number from {MIN_TOWNS} to {MAX_TOWNS:,}", value=towns))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        problems.append(Problem("--seed", "must be a whole number, 0 or more", value=seed))
    if problems:
        raise InputError(problems)


# --- districts and towns ------------------------------------------------------------------

def _draw_districts(n_towns: int, rng: np.random.Generator, shape: CityShape) -> tuple[np.ndarray, np.ndarray]:
    """Kind of each district, and the district of each town (towns grouped by district)."""
    n_districts = max(3, int(round(n_towns / shape.towns_per_district)))
    shares = np.asarray(shape.district_kind_shares)
    counts = np.maximum(1, np.round(shares * n_districts).astype(int))
    counts[OUTER] = n_districts - counts[CORE] - counts[SUBURBAN]
    district_kind = np.repeat(np.arange(3), counts)
    weights = rng.uniform(0.6, 1.4, n_districts)
    sizes = 1 + rng.multinomial(n_towns - n_districts, weights / weights.sum())
    return district_kind, np.repeat(np.arange(n_districts), sizes)


def _draw_town_profiles(district_kind: np.ndarray, town_district: np.ndarray,
                        rng: np.random.Generator, shape: CityShape) -> np.ndarray:
    """Index into PROFILES per town: the district's kind, street or town by the kind's street share."""
    kind = district_kind[town_district]
    street = rng.random(len(kind)) < np.asarray(shape.street_share)[kind]
    lookup = {(p.district_kind, p.is_street): i for i, p in enumerate(PROFILES)}
    lookup[(CORE, False)] = lookup[(CORE, True)]
    table = np.array([[lookup[(k, False)], lookup[(k, True)]] for k in range(3)])
    return table[kind, street.astype(int)]


def _profile_array(name: str, profile: np.ndarray) -> np.ndarray:
    """One profile field per town (scalar fields) or its (low, high) bounds as two columns."""
    return np.asarray([getattr(p, name) for p in PROFILES], dtype=float)[profile]


def _uniform_field(name: str, profile: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    bounds = _profile_array(name, profile)
    return rng.uniform(bounds[:, 0], bounds[:, 1])


def _draw_towns(town_district: np.ndarray, profile: np.ndarray, district_kind: np.ndarray,
                rng: np.random.Generator) -> Towns:
    """Populations (actual = resident + migrant ≤ …, registered ≥ resident), areas, centres."""
    n = len(profile)
    actual = np.rint(_profile_array("actual_median", profile)
                     * np.exp(_profile_array("actual_sigma", profile) * rng.standard_normal(n)))
    actual = np.clip(actual, 3_000, 150_000).astype(np.int64)
    migrant = np.rint(actual * _uniform_field("migrant_share", profile, rng)).astype(np.int64)
    resident = actual - migrant
    registered = np.rint(resident * _uniform_field("registered_ratio", profile, rng)).astype(np.int64)
    area = np.round(_uniform_field("area_km2", profile, rng), 2)
    x, y = _place_towns(town_district, district_kind, area, rng)
    return Towns(town_district, profile, resident, migrant, np.maximum(registered, resident), area, x, y)


def _place_towns(town_district: np.ndarray, district_kind: np.ndarray, area: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Core disc, suburban ring, outer ring; each district a sector of its ring sized by its area."""
    n_districts = len(district_kind)
    district_area = np.bincount(town_district, weights=area, minlength=n_districts) * 1.3   # room between towns
    kind_area = np.bincount(district_kind, weights=district_area, minlength=3)
    outer_r = np.sqrt(np.cumsum(kind_area) / np.pi) * 1000.0                              # metres
    inner_r = np.concatenate(([0.0], outer_r[:-1]))
    kind_total = kind_area[district_kind]
    before = np.zeros(n_districts)
    for kind in range(3):      # three kinds, not one loop per town
        members = np.flatnonzero(district_kind == kind)
        before[members] = np.concatenate(([0.0], np.cumsum(district_area[members])[:-1]))
    rotation = rng.uniform(0, 2 * np.pi, 3)[district_kind]
    start = rotation + 2 * np.pi * before / kind_total
    span = 2 * np.pi * district_area / kind_total
    d, k = town_district, district_kind[town_district]
    r = np.sqrt(rng.uniform(inner_r[k] ** 2, outer_r[k] ** 2))
    theta = start[d] + span[d] * rng.uniform(0.1, 0.9, len(d))
    return np.round(r * np.cos(theta), 1), np.round(r * np.sin(theta), 1)


# --- grids ----------------------------------------------------------------------------------

def _draw_grids(towns: Towns, rng: np.random.Generator, shape: CityShape) -> Grids:
    """Split each town's actual population exactly over grids of ~300-500 (urban) / ~300 (rural) households."""
    urban_share = _profile_array("urban_grid_share", towns.profile)
    pph = _profile_array("persons_per_household", towns.profile)
    mean_households = urban_share * np.mean(shape.urban_households) + (1 - urban_share) * np.mean(shape.rural_households)
    n_grids = np.maximum(2, np.rint(towns.actual / pph / mean_households)).astype(np.int64)
    n_urban = rng.binomial(n_grids, urban_share)
    town = np.repeat(np.arange(len(n_grids)), n_grids)
    first = np.concatenate(([0], np.cumsum(n_grids)[:-1]))
    position = np.arange(len(town)) - first[town]
    rural = position >= n_urban[town]            # urban grids first, then the villages
    target = np.where(rural, rng.uniform(*shape.rural_households, len(town)),
                      rng.uniform(*shape.urban_households, len(town)))
    grid_pph = pph[town] * rng.uniform(0.9, 1.1, len(town))
    population = _split_exactly(target * grid_pph, town, first, towns.actual)
    households = np.clip(np.rint(population / grid_pph), 1, population).astype(np.int64)
    elderly_p = np.clip(_uniform_field("elderly_share", towns.profile, rng)[town] * rng.uniform(0.85, 1.15, len(town)), 0, 0.6)
    children_p = np.clip(_uniform_field("children_share", towns.profile, rng)[town] * rng.uniform(0.85, 1.15, len(town)), 0, 0.35)
    elderly = rng.binomial(population, elderly_p)
    children = rng.binomial(population - elderly, children_p / (1 - elderly_p))
    x, y = _scatter_around(towns.x[town], towns.y[town], np.sqrt(towns.area_km2[town] / np.pi) * 800.0, rng)
    return Grids(town, rural, households, population, elderly.astype(np.int64), children.astype(np.int64), x, y)


def _split_exactly(weights: np.ndarray, group: np.ndarray, first: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Integers ≥ 0 proportional to `weights` within each group, summing exactly to the group's total."""
    cumulative = np.cumsum(weights)
    base = np.concatenate(([0.0], cumulative))[first]                # cumulative weight before each group
    last = np.concatenate((first[1:], [len(weights)])) - 1
    group_weight = cumulative[last] - base
    share = np.minimum((cumulative - base[group]) / group_weight[group], 1.0)
    share[last] = 1.0
    upto = np.rint(share * totals[group]).astype(np.int64)
    before = np.concatenate(([0], upto[:-1]))
    before[first] = 0
    return upto - before


def _scatter_around(cx: np.ndarray, cy: np.ndarray, radius: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points uniform in discs of `radius` metres about (cx, cy), rounded to 0.1 m."""
    r = radius * np.sqrt(rng.random(len(cx)))
    theta = rng.uniform(0, 2 * np.pi, len(cx))
    return np.round(cx + r * np.cos(theta), 1), np.round(cy + r * np.sin(theta), 1)


# --- tables -------------------------------------------------------------------------------

def _ids(prefix: str, n: int) -> np.ndarray:
    width = max(3, len(str(n)))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)], dtype=object)


def _load_factor(migrant_share: np.ndarray, shape: CityShape) -> np.ndarray:
    """Per-capita events and cases rise with the migrant share."""
    return 1.0 + shape.migrant_event_uplift * migrant_share


def _towns_frame(towns: Towns, rng: np.random.Generator, shape: CityShape) -> pd.DataFrame:
    n = len(towns.profile)
    ids = _ids("T", n)
    is_street = np.asarray([p.is_street for p in PROFILES])[towns.profile]
    cases = rng.poisson(towns.actual * shape.cases_per_person * _load_factor(towns.migrant_share, shape)
                        * rng.lognormal(0.0, 0.2, n))
    per_10k = rng.uniform(*shape.enforcement_today_per_10k_registered, n)
    enforcement = np.maximum(shape.enforcement_today_floor, np.rint(towns.registered / 1e4 * per_10k))
    return pd.DataFrame({
        "town_id": ids, "district_id": _ids("D", int(towns.district.max()) + 1)[towns.district],
        "name": np.where(is_street, "Street ", "Town ").astype(object) + np.arange(1, n + 1).astype(str).astype(object),
        "kind": np.where(is_street, "street", "town").astype(object),
        "pop_registered": towns.registered, "pop_resident": towns.resident, "pop_migrant": towns.migrant,
        "area_km2": towns.area_km2, "cases_per_year": cases.astype(float),
        "enforcement_now": enforcement.astype(np.int64), "x": towns.x, "y": towns.y,
    })


def _grids_frame(towns: Towns, grids: Grids, rng: np.random.Generator, shape: CityShape) -> pd.DataFrame:
    n = len(grids.town)
    town_ids = _ids("T", len(towns.profile))
    profile = towns.profile[grids.town]
    first = np.concatenate(([0], np.flatnonzero(np.diff(grids.town)) + 1))
    community = (np.arange(n) - first[grids.town]) // 6 + 1
    events = rng.poisson(grids.population * shape.events_per_person
                         * _load_factor(towns.migrant_share, shape)[grids.town] * rng.lognormal(0.0, 0.25, n))
    fulltime = (rng.random(n) < _profile_array("fulltime_cover", profile)).astype(np.int64)
    fulltime += (profile == 0) & (grids.households > 450) & (rng.random(n) < 0.2)
    parttime = np.minimum(3, rng.poisson(_profile_array("parttime_mean", profile)))
    return pd.DataFrame({
        "grid_id": _ids("G", n), "town_id": town_ids[grids.town],
        "community": town_ids[grids.town] + np.array([f"-C{c:02d}" for c in community], dtype=object),
        "kind": np.where(grids.rural, "rural", "urban").astype(object),
        "households": grids.households, "population": grids.population, "elderly": grids.elderly,
        "children": grids.children, "events_per_year": events.astype(float), "fulltime_now": fulltime,
        "parttime_now": parttime.astype(np.int64), "x": grids.x, "y": grids.y,
    })


def _sites_frame(towns: Towns, grids: Grids, rng: np.random.Generator, shape: CityShape) -> pd.DataFrame:
    """Candidate sites (1 + Poisson per town and service) and existing facilities (per 10k actual persons,
    at least one per town and service)."""
    n_towns, n_services = len(towns.profile), len(SERVICES)
    weights = np.array([SERVICE_PROFILES[s].existing_weight for s in SERVICES])
    rate = _profile_array("existing_sites_per_10k", towns.profile)[:, None] * towns.actual[:, None] / 1e4
    existing = np.maximum(1, rng.poisson(rate * weights[None, :] / weights.sum()))
    candidate = 1 + rng.poisson(shape.candidates_per_service, (n_towns, n_services))
    town = np.concatenate((np.repeat(np.arange(n_towns), candidate.sum(1)), np.repeat(np.arange(n_towns), existing.sum(1))))
    service = np.concatenate((_service_runs(candidate), _service_runs(existing)))
    is_existing = np.concatenate((np.zeros(candidate.sum(), int), np.ones(existing.sum(), int)))
    order = np.lexsort((-is_existing, service, town))
    town, service, is_existing = town[order], service[order], is_existing[order]
    return _site_table(town, service, is_existing, towns, grids, rng)


def _service_runs(counts: np.ndarray) -> np.ndarray:
    """Service index per site, for a (town × service) matrix of counts read row by row."""
    services = np.tile(np.arange(counts.shape[1]), counts.shape[0])
    return np.repeat(services, counts.ravel())


def _site_table(town: np.ndarray, service: np.ndarray, is_existing: np.ndarray, towns: Towns,
                grids: Grids, rng: np.random.Generator) -> pd.DataFrame:
    """Sites placed near a random grid of their town, with service-specific capacities and costs."""
    n = len(town)
    grids_in_town = np.bincount(grids.town, minlength=len(towns.profile))
    first = np.concatenate(([0], np.cumsum(grids_in_town)[:-1]))
    near = first[town] + (rng.random(n) * grids_in_town[town]).astype(np.int64)
    x, y = _scatter_around(grids.x[near], grids.y[near], np.full(n, 150.0), rng)
    bounds = {f: np.array([getattr(SERVICE_PROFILES[s], f) for s in SERVICES], float)[service]
              for f in ("capacity", "open_cost", "annual_cost")}
    land = _profile_array("land_cost", towns.profile)[town]
    capacity = np.round(rng.uniform(bounds["capacity"][:, 0], bounds["capacity"][:, 1]), -1)
    open_cost = rng.uniform(bounds["open_cost"][:, 0], bounds["open_cost"][:, 1]) * land
    annual = rng.uniform(bounds["annual_cost"][:, 0], bounds["annual_cost"][:, 1])
    served = _uniform_field("served_today", towns.profile, rng)[town]
    scale = _site_scale(town, service, is_existing, capacity, served, grids, len(towns.profile))
    capacity = np.maximum(10.0, np.round(capacity * scale, -1))
    open_cost, annual = np.round(open_cost * scale, 1), np.round(annual * scale, 1)
    return pd.DataFrame({
        "site_id": _ids("S", n), "town_id": _ids("T", len(towns.profile))[town],
        "service": np.asarray(SERVICES, dtype=object)[service], "existing": is_existing.astype(np.int64),
        "capacity": capacity, "open_cost": np.where(is_existing == 1, 0.0, open_cost),
        "annual_cost": annual, "x": x, "y": y,
    })


def target_groups(grids: Grids) -> dict[str, np.ndarray]:
    """Persons of each service's target group per grid (TARGET_GROUP)."""
    groups = {"children": grids.children, "elderly": grids.elderly, "population": grids.population,
              "working_age": np.maximum(grids.population - grids.elderly - grids.children, 0)}
    return {service: groups[group].astype(float) for service, group in TARGET_GROUP.items()}


def town_demand(grids: Grids, n_towns: int) -> np.ndarray:
    """Persons of each service's target group per town, as a (town × SERVICES) matrix."""
    demand = np.zeros((n_towns, len(SERVICES)))
    for k, persons in enumerate(target_groups(grids)[s] for s in SERVICES):
        demand[:, k] = np.bincount(grids.town, weights=persons, minlength=n_towns)
    return demand


def _site_scale(town: np.ndarray, service: np.ndarray, is_existing: np.ndarray, capacity: np.ndarray,
                served: np.ndarray, grids: Grids, n_towns: int) -> np.ndarray:
    """Per site, the factor on its drawn capacity (and, for a candidate, its costs): a town's existing
    sites of a service together hold `served` (the town's served_today share, per site) times its target
    group; where a service's existing sites would hold less than EXISTING_FLOOR times its target group
    city-wide, those of the towns that hold their whole group are raised in proportion until they do
    (short towns stay short); its candidate sites lift all its sites of that service to CAPACITY_HEADROOM
    times the target group (never below 1)."""
    n_services = len(SERVICES)
    demand = town_demand(grids, n_towns).ravel()
    cell = town * n_services + service
    old = is_existing == 1
    share = np.zeros(n_towns * n_services)
    share[cell[old]] = served[old]
    held, total = (share * demand).reshape(n_towns, n_services), demand.reshape(n_towns, n_services)
    well = np.where(share.reshape(n_towns, n_services) >= 1.0, held, 0.0).sum(0)       # towns holding their group
    lift = 1.0 + np.maximum(EXISTING_FLOOR * total.sum(0) - held.sum(0), 0.0) / np.maximum(well, 1e-9)
    share = np.where(share >= 1.0, share * np.tile(lift, n_towns), share)
    drawn_existing = np.bincount(cell, weights=capacity * old, minlength=n_towns * n_services)
    existing_factor = np.divide(share * demand, drawn_existing, out=np.ones_like(demand), where=drawn_existing > 0)
    held = share * demand
    offered = np.bincount(cell, weights=capacity * ~old, minlength=n_towns * n_services)
    missing = np.maximum(CAPACITY_HEADROOM * demand - held, 0.0)
    factor = 1.0 + np.divide(missing, offered, out=np.zeros_like(missing), where=offered > 0)
    return np.where(old, existing_factor[cell], factor[cell])


def closing_cost(sites: pd.DataFrame, demand: np.ndarray, n_towns: int) -> np.ndarray:
    """Per town (10k CNY, first year): what closing its shortfalls costs at its cheapest new site's price
    per person — for each service whose existing sites in the town hold less than its target group
    (`demand`, town × SERVICES), the persons missing times the least (open_cost + annual_cost) / capacity
    among the town's candidate sites of that service."""
    n_services = len(SERVICES)
    town = pd.Index(_ids("T", n_towns)).get_indexer(sites["town_id"].astype(str))
    cell = town * n_services + pd.Index(SERVICES).get_indexer(sites["service"].astype(str))
    capacity = sites["capacity"].to_numpy(float)
    old = sites["existing"].to_numpy(int) == 1
    held = np.bincount(cell, weights=capacity * old, minlength=n_towns * n_services)
    missing = np.maximum(demand.ravel() - held, 0.0)
    per_person = np.full(n_towns * n_services, np.inf)
    price = (sites["open_cost"].to_numpy(float) + sites["annual_cost"].to_numpy(float)) / capacity
    np.minimum.at(per_person, cell[~old], price[~old])
    cost = np.where(missing > 0, missing * per_person, 0.0)
    return cost.reshape(n_towns, n_services).sum(1)


def norm_enforcement_demand(towns: pd.DataFrame, norms: dict) -> np.ndarray:
    """Officers each town needs at the norm on the actual population (whole officers, ≥ a team)."""
    actual = (towns["pop_resident"] + towns["pop_migrant"]).to_numpy(float)
    need = (norms["enforcement_per_10k"] * actual / 1e4 + norms["enforcement_per_km2"] * towns["area_km2"].to_numpy(float)
            + norms["enforcement_per_1000_cases"] * towns["cases_per_year"].to_numpy(float) / 1e3)
    return np.maximum(norms["enforcement_min_team"], np.ceil(need - 1e-9))


def _districts_frame(district_kind: np.ndarray, town_district: np.ndarray, grids: Grids, demand: np.ndarray,
                     sites_cost: np.ndarray, norms: dict, shape: CityShape,
                     helpers: np.ndarray) -> tuple[pd.DataFrame, float, float]:
    """Districts with own budgets and transfer caps; the city budget and transfer pool. A district's need
    is one full-time worker per grid, officers at the norm, the part-time helpers it employs today
    (`helpers`, who are kept) and the new sites that close its towns' shortfalls (`closing_cost`), with
    the budget slack."""
    n = len(district_kind)
    grids_per_district = np.bincount(town_district[grids.town], minlength=n)
    officers = np.bincount(town_district, weights=demand, minlength=n)
    sites = np.bincount(town_district, weights=sites_cost, minlength=n)
    need = (1 + shape.budget_slack) * (grids_per_district * norms["salary_fulltime"] + officers * norms["enforcement_salary"]
                                       + helpers * norms["salary_parttime"] + sites)
    budget = float(np.round(need.sum(), 1))
    own = np.round(need * np.asarray(shape.own_budget_share)[district_kind], 1)
    cap = np.round(need * np.asarray(shape.transfer_cap_share)[district_kind], 1)
    city_pool = float(np.round(max(0.1 * budget, budget - own.sum()), 1))
    number = np.zeros(n, dtype=np.int64)
    for kind in range(3):
        number[district_kind == kind] = np.arange(1, int((district_kind == kind).sum()) + 1)
    label = np.array(["Central District ", "Suburban District ", "Outer County "], dtype=object)[district_kind]
    frame = pd.DataFrame({
        "district_id": _ids("D", n), "name": label + number.astype(str).astype(object),
        "kind": np.asarray(DISTRICT_KINDS, dtype=object)[district_kind], "own_budget": own, "transfer_cap": cap,
    })
    return frame, budget, city_pool


# --- writing --------------------------------------------------------------------------------

def output_format(out: Path, fmt: str | None) -> str:
    """The format to write: as asked, else from the name (.xlsx → workbook, else folder)."""
    if fmt is None:
        return "xlsx" if out.suffix.lower() == ".xlsx" else "folder"
    if fmt not in FORMATS:
        raise InputError(Problem("--format", f"unknown format; use one of {', '.join(FORMATS)}", value=fmt))
    return fmt


def check_output(out: Path, fmt: str, overwrite: bool) -> None:
    """Refuse targets that would lose data or cannot hold the format, before anything is drawn: a
    folder is replaced only when it is an instance allocator wrote, unchanged (`check_folder_target`)."""
    def bad(rule: str) -> None:
        raise InputError(Problem(str(out), rule))

    if fmt == "xlsx":
        if out.suffix.lower() != ".xlsx":
            bad("a workbook needs a name ending in .xlsx")
        if out.is_dir():
            bad("is a folder; give a workbook name ending in .xlsx")
        check_file_target(out, overwrite, "--out")
        return
    check_folder_target(out, "instance", overwrite)


def write_city(instance: Instance, out: Path, fmt: str, overwrite: bool = False) -> Path:
    """Write atomically as a folder (city.yaml + CSV) or one workbook; return the path."""
    if fmt == "xlsx":
        return write_workbook(instance, out)
    return write_folder(instance, out, header_comment=f"{instance.config.description}\nsame towns and seed give the same files",
                        overwrite=overwrite)
