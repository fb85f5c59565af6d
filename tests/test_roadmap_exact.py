"""Exactness of the roadmap model (models/roadmap.py), checked without its code.

1. Facilities-only roadmaps (index weights 0, 0, 1) on tiny hand-written cities: every monotone
   opening sequence of the candidate sites over the years is enumerated in plain numpy (a site once
   open stays open; none serves in the first λ years; at most L open in one year), each site charged
   open_cost + annual_cost in the year it opens, each year's district budgets, transfer caps, city pool
   and city budget held with the staff every plan must pay, and coverage computed from walking reach.
   The best mean over the years of the population-weighted index (utilitarian) and of the lowest
   district index (maxmin) must be the roadmap's optimum, and the roadmap's own plan must be one of the
   enumerated plans, feasible and worth what the model says.
2. A one-year roadmap is the city model: the same optimum on generated cities.
3. Nobody is dismissed from one year to the next, and the roadmap checker names the year of a plan
   tampered with.

The brute force reads only the instance tables (allocator.data: the loader and the year data of
allocator.data.years) and the norms; it imports no model and no solve sequence.
"""
from __future__ import annotations

import itertools
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from allocator.data.generate import generate_city
from allocator.data.instance import Instance
from allocator.data.loader import load_instance
from allocator.data.years import Years, year_city
from allocator.solving import city as city_solving
from allocator.solving import roadmap as roadmap_solving
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions

from conftest import invoke

FACILITIES_ONLY = (0.0, 0.0, 1.0)
EXACT = SolveOptions(threads=1, gap=0.0)
REL = 1e-6

# --- a tiny city, written as the instance files a planner gives ------------------------------------
# Two districts, three towns, six grids, two services; one health site open today and six candidates
# whose reach and costs make the yearly budgets bind differently (one serves another district than the
# one that pays for it, its town's). Each town has today exactly the minimum enforcement team, so the
# staff every plan must pay is fixed by the staffing rules.

SERVICES = ("health", "elderly_care")
SALARIES = {"fulltime": 7.0, "parttime": 1.2, "professional": 10.0, "enforcement": 12.0}

TOWNS = pd.DataFrame([
    # town_id, district_id, name, kind, pop_registered, pop_resident, pop_migrant, area_km2, cases, enforcement_now, x, y
    ("T1", "D1", "Old Town", "street", 4200, 4000, 1000, 3.0, 400, 5, 500, 500),
    ("T2", "D2", "River Town", "town", 2100, 2000, 400, 20.0, 150, 5, 10700, 0),
    ("T3", "D2", "Hill Village", "town", 650, 600, 100, 60.0, 40, 5, 20000, 0),
], columns=["town_id", "district_id", "name", "kind", "pop_registered", "pop_resident", "pop_migrant", "area_km2",
            "cases_per_year", "enforcement_now", "x", "y"])

GRIDS = pd.DataFrame([
    # grid_id, town_id, community, kind, households, population, elderly, children, events, fulltime_now, parttime_now, x, y
    ("G1", "T1", "North", "urban", 420, 2000, 300, 260, 60, 2, 1, 0, 0),
    ("G2", "T1", "East", "urban", 380, 1800, 510, 200, 40, 1, 0, 1500, 0),
    ("G3", "T1", "South", "urban", 260, 1200, 140, 170, 30, 1, 0, 0, 1500),
    ("G4", "T2", "Quay", "rural", 290, 1500, 410, 180, 20, 1, 2, 10000, 0),
    ("G5", "T2", "Ferry", "rural", 200, 900, 190, 110, 10, 0, 0, 11500, 0),
    ("G6", "T3", "Ridge", "rural", 160, 700, 260, 60, 8, 1, 0, 20000, 0),
], columns=["grid_id", "town_id", "community", "kind", "households", "population", "elderly", "children",
            "events_per_year", "fulltime_now", "parttime_now", "x", "y"])

SITES = pd.DataFrame([
    # site_id, town_id, service, existing, capacity, open_cost, annual_cost, x, y
    ("S0", "T1", "health", 1, 9000, 0, 50, 0, 0),                 # today: G1
    ("S1", "T1", "health", 0, 9000, 110, 10, 750, 0),             # G1, G2
    ("S2", "T1", "health", 0, 9000, 60, 10, 0, 1500),             # G3
    ("S3", "T2", "health", 0, 9000, 200, 20, 10750, 0),           # G4, G5
    ("S4", "T3", "health", 0, 9000, 80, 10, 20000, 0),            # G6
    ("S5", "T1", "elderly_care", 0, 900, 45, 5, 10000, 0),        # G4 (in district D2, paid by D1: its town's district)
    ("S6", "T1", "elderly_care", 0, 900, 75, 5, 750, 0),          # G1, G2
], columns=["site_id", "town_id", "service", "existing", "capacity", "open_cost", "annual_cost", "x", "y"])


def write_city(path: Path, *, budget: float = 500.0, budgets: dict | None = None, own=(174.2, 223.4),
               caps=(60.0, 200.0), city_pool: float | None = 150.0, growth=None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    config = {"name": "exact", "budget": budget, "population_basis": "actual", "salaries": dict(SALARIES),
              "services": list(SERVICES)}
    if city_pool is not None:
        config["city_pool"] = city_pool
    if budgets:
        config["budgets"] = dict(budgets)
    (path / "city.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    districts = pd.DataFrame({"district_id": ["D1", "D2"], "name": ["Centre", "Outskirts"], "kind": ["core", "outer"],
                              "own_budget": list(own), "transfer_cap": list(caps)})
    if growth is not None:
        districts["growth"] = list(growth)
    districts.to_csv(path / "districts.csv", index=False)
    TOWNS.to_csv(path / "towns.csv", index=False)
    GRIDS.to_csv(path / "grids.csv", index=False)
    SITES.to_csv(path / "sites.csv", index=False)
    return path


# --- the brute force ---------------------------------------------------------------------------------

def fixed_staff_cost(city: Instance) -> pd.Series:
    """What every plan pays each district for staff (10k CNY/yr) when staff count for nothing in the index:
    full-time grid workers max(grids of d, today's full-time workers of d) (one per grid, today's kept),
    today's part-time helpers, ⌈grids of t / professional_max_grids⌉ professionals per town, and the
    minimum enforcement team per town (here every town has exactly that team today, so no officer is
    kept beyond it and none moves)."""
    norms, towns, grids = city.config.norms, city.towns, city.grids
    team = math.ceil(float(norms["enforcement_min_team"]) - 1e-9)
    assert (towns["enforcement_now"].to_numpy(int) == team).all(), "the brute force assumes minimum teams today"
    town_district = towns.set_index(towns["town_id"].astype(str))["district_id"].astype(str)
    grid_district = grids["town_id"].astype(str).map(town_district)
    per_pro = int(norms["professional_max_grids"])
    out = {}
    for d in city.districts.index.astype(str):
        g = grids[grid_district.to_numpy() == d]
        ts = towns[towns["district_id"].astype(str) == d]
        pros = sum(-(-int((g["town_id"].astype(str) == t).sum()) // per_pro) for t in ts["town_id"].astype(str))
        out[d] = (city.config.salary("fulltime") * max(len(g), int(g["fulltime_now"].sum()))
                  + city.config.salary("parttime") * int(g["parttime_now"].sum())
                  + city.config.salary("professional") * pros
                  + city.config.salary("enforcement") * team * len(ts))
    return pd.Series(out)


def target_group(grids: pd.DataFrame, service: str) -> np.ndarray:
    """DESIGN §4.3 / README: children for childcare and education, the elderly for elderly care, working age
    for employment, everyone for health, housing and assistance (population basis `actual`)."""
    if service in ("childcare", "education"):
        return grids["children"].to_numpy(float)
    if service == "elderly_care":
        return grids["elderly"].to_numpy(float)
    if service == "employment":
        return (grids["population"] - grids["elderly"] - grids["children"]).clip(lower=0).to_numpy(float)
    return grids["population"].to_numpy(float)


class BruteForce:
    """Every monotone opening sequence of the candidate sites of a city over a roadmap's years. A set of
    new sites is a bit mask over the candidates (bit i: the i-th site with existing = 0)."""

    def __init__(self, city: Instance, years: Years):
        self.years = years.years
        self.cities = [year_city(city, years, y) for y in self.years]
        sites = city.sites.reset_index(drop=True)
        self.site_ids = sites["site_id"].astype(str).to_numpy()
        self.existing = sites["existing"].to_numpy(int) == 1
        self.new = np.flatnonzero(~self.existing)
        town_district = city.towns.set_index(city.towns["town_id"].astype(str))["district_id"].astype(str)
        self.site_district = sites["town_id"].astype(str).map(town_district).to_numpy(str)
        self.cost = (sites["open_cost"] + sites["annual_cost"]).to_numpy(float)
        self.districts = city.districts.index.astype(str).tolist()
        self.grid_district = city.grids["town_id"].astype(str).map(town_district).to_numpy(str)
        norms = city.config.norms
        speed = float(norms["walk_speed_m_per_min"])
        gxy, sxy = city.grids[["x", "y"]].to_numpy(float), sites[["x", "y"]].to_numpy(float)
        minutes = np.hypot(gxy[:, None, 0] - sxy[None, :, 0], gxy[:, None, 1] - sxy[None, :, 1]) / speed
        self.reach = {s: (minutes <= float(norms["coverage_minutes"][s])) & (sites["service"].to_numpy() == s)[None, :]
                      for s in city.config.services}
        self.staff = [fixed_staff_cost(c) for c in self.cities]
        self._levels: dict = {}
        self._affordable: dict = {}

    def sites_of(self, mask: int) -> np.ndarray:
        """Bool per site of city.sites: the new sites of `mask`."""
        out = np.zeros(len(self.site_ids), bool)
        out[[j for i, j in enumerate(self.new) if mask >> i & 1]] = True
        return out

    def mask_of(self, is_open: np.ndarray) -> int:
        return sum(1 << i for i, j in enumerate(self.new) if is_open[j])

    # each year: the district index F_d of the new sites open, the objectives' terms, the budget test
    def levels(self, k: int, mask: int) -> pd.Series:
        """F_d: the share of d's demand (target groups of every service) within coverage minutes of an open site."""
        grids, is_open = self.cities[k].grids, self.sites_of(mask) | self.existing
        covered = pd.Series(0.0, index=self.districts)
        demand = pd.Series(0.0, index=self.districts)
        for s, reach in self.reach.items():
            q = target_group(grids, s)
            near = reach[:, is_open].any(axis=1)
            covered = covered.add(pd.Series(q * near).groupby(self.grid_district).sum(), fill_value=0.0)
            demand = demand.add(pd.Series(q).groupby(self.grid_district).sum(), fill_value=0.0)
        assert (demand > 0).all()
        return covered / demand

    def terms(self, k: int, mask: int) -> tuple[float, float]:
        """Year k's population-weighted index (weights: the towns' actual population by district) and lowest index."""
        key = (k, mask)
        if key not in self._levels:
            f = self.levels(k, mask)
            t = self.cities[k].towns
            pop = (t["pop_resident"] + t["pop_migrant"]).astype(float).groupby(t["district_id"].astype(str).to_numpy()).sum()
            w = (pop / pop.sum()).reindex(self.districts)
            self._levels[key] = (float(w @ f), float(f.min()))
        return self._levels[key]

    def affordable(self, k: int, opened: int) -> bool:
        key = (k, opened)
        if key not in self._affordable:
            self._affordable[key] = self._within_budgets(k, self.sites_of(opened))
        return self._affordable[key]

    def _within_budgets(self, k: int, opened: np.ndarray) -> bool:
        """Year k's spend S_d = staff_d + Σ_{j∈d opened in year k} c_j within own budget + transfer, transfers
        within caps and the city pool (P: city.yaml's, scaled with the year's budget, else B − Σ own), total
        within the year's budget."""
        c = self.cities[k]
        spend = self.staff[k] + pd.Series(self.cost * opened).groupby(self.site_district).sum().reindex(self.districts).fillna(0.0)
        own = c.districts["own_budget"].astype(float).set_axis(self.districts)
        cap = c.districts["transfer_cap"].astype(float).set_axis(self.districts)
        budget = float(c.config.budget)
        pool = float(c.config.city_pool) if c.config.city_pool is not None else max(0.0, budget - float(own.sum()))
        need = (spend - own).clip(lower=0.0)
        return bool((need <= cap + 1e-9).all() and need.sum() <= pool + 1e-9 and spend.sum() <= budget + 1e-9)

    def value(self, masks: list[int], lag: int = 0, limit: int | None = None) -> dict[str, float] | None:
        """Both objectives of a roadmap given as the mask of new sites open in each year (None: no roadmap:
        a site closes, serves within the lag, more than `limit` open in a year, or a year's budgets break)."""
        util, low, before = [], [], 0
        for k, mask in enumerate(masks):
            opened = mask & ~before
            if before & ~mask or (k < lag and mask) or (limit is not None and bin(opened).count("1") > limit) \
                    or not self.affordable(k, opened):
                return None
            u, m = self.terms(k, mask)
            util.append(u)
            low.append(m)
            before = mask
        return {"utilitarian": float(np.mean(util)), "maxmin": float(np.mean(low))}

    def best(self, lag: int = 0, limit: int | None = None) -> dict[str, list[float]]:
        """Per objective, every distinct value a roadmap reaches, best first: each candidate opens in one
        year of the roadmap (from year FIRST + lag) or never, and stays open."""
        n, values = len(self.years), {"utilitarian": set(), "maxmin": set()}
        for first_year in itertools.product(range(n + 1), repeat=len(self.new)):     # n: never opens
            masks = [sum(1 << i for i, f in enumerate(first_year) if f <= k) for k in range(n)]
            value = self.value(masks, lag, limit)
            if value is not None:
                for objective, v in value.items():
                    values[objective].add(round(v, 12))
        return {o: sorted(v, reverse=True) for o, v in values.items()}


def plan_masks(tables: dict[str, pd.DataFrame], brute: BruteForce) -> list[int]:
    """The new sites a roadmap plan has open in each year (facilities.csv), as the brute force holds them."""
    f = tables["facilities"]
    out = []
    for y in brute.years:
        opened = f.loc[(f["year"] == y) & (f["open"].astype(int) == 1), "site_id"].astype(str)
        out.append(brute.mask_of(np.isin(brute.site_ids, opened.to_numpy()) & ~brute.existing))
    return out


# --- 1. facilities-only roadmaps against the brute force ----------------------------------------------

YEARLY = {2026: 500.0, 2027: 450.0, 2028: 600.0}
VARIANTS = {
    # name: (city files, run options, years)
    "yearly budgets": ({"budgets": YEARLY}, {}, (2026, 2028)),
    "budget growth": ({"budget": 470.0, "city_pool": None}, {"budget_growth": 0.12}, (2026, 2028)),
    "build lag": ({"budgets": YEARLY}, {"build_lag": 1}, (2026, 2028)),
    "build limit": ({"budgets": YEARLY}, {"build_limit": 1}, (2026, 2028)),
    "population growth": ({"budgets": YEARLY, "growth": (-0.04, 0.25)}, {}, (2026, 2028)),
    "tight pool and caps": ({"budgets": YEARLY, "city_pool": 60.0, "caps": (30.0, 100.0)}, {}, (2026, 2028)),
    "two years, lag and limit": ({"budget": 520.0, "growth": (0.1, 0.0)}, {"build_lag": 1, "build_limit": 2}, (2026, 2027)),
}


def close(a: float, b: float, rel: float = REL) -> bool:
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_facilities_roadmap_is_the_brute_force_optimum(tmp_path, variant):
    files, asked, (first, last) = VARIANTS[variant]
    city = load_instance(write_city(tmp_path / "city", **files))
    years = Years.of(city, first, last, None, asked.get("budget_growth", 0.0))
    brute = BruteForce(city, years)
    lag, limit = asked.get("build_lag", 0), asked.get("build_limit")
    best = brute.best(lag, limit)
    if lag or limit is not None:            # the row binds here: without it a better roadmap exists
        free = brute.best()
        assert all(free[o][0] > best[o][0] + 1e-4 for o in best), (variant, free, best)
    for objective in ("utilitarian", "maxmin"):
        values = best[objective]
        # the maxmin tie-break holds the objective within 1e-5 (HOLD_TOLERANCE): no other roadmap lies that close
        assert len(values) == 1 or values[0] - values[1] > 1e-4, (objective, values[:3])
        done = roadmap_solving.run(city, RunOptions(model="roadmap", objective=objective, years=(first, last), **asked),
                                   EXACT, index_weights=FACILITIES_ONLY)
        assert done.result.status == "optimal", (variant, objective, done.result, done.explanation)
        assert close(done.objective_value, values[0]), (variant, objective, done.objective_value, values[0])
        # the model's own roadmap is one the brute force enumerates, and worth what the model says
        masks = plan_masks(done.tables, brute)
        mine = brute.value(masks, lag, limit)
        assert mine is not None, (variant, objective, [sorted(brute.site_ids[brute.sites_of(m)]) for m in masks])
        assert close(mine[objective], done.objective_value, 1e-9), (variant, objective, mine, done.objective_value)


# --- 2. a one-year roadmap is the city model ------------------------------------------------------------

@pytest.fixture(scope="module", params=[12, 20], ids=lambda n: f"{n} towns")
def generated(request) -> Instance:
    return generate_city(request.param, seed=1)


@pytest.mark.parametrize("objective", ["utilitarian", "maxmin"])
def test_one_year_roadmap_is_the_city_model(generated, objective):
    solve = SolveOptions(threads=1)
    city = city_solving.run(generated, RunOptions(model="city", objective=objective), solve)
    year = roadmap_solving.run(generated, RunOptions(model="roadmap", objective=objective, years=(2026, 2026)), solve)
    assert city.result.status == year.result.status == "optimal", (city.result, year.result)
    a, b = city.objective_value, year.objective_value
    # each value lies within the other's proven bound, and the two differ by no more than the gaps allow
    assert a <= year.result.bound + 1e-9 and b <= city.result.bound + 1e-9, (a, year.result.bound, b, city.result.bound)
    assert abs(a - b) <= (city.result.gap + year.result.gap) * max(abs(a), abs(b)) + 1e-9, (a, b, city.result.gap, year.result.gap)
    assert year.tables["roadmap"]["year"].tolist() == [2026]


# --- 3. nobody dismissed; the checker names the year of a tampered plan ------------------------------------

OFFICER_QUOTA = 6
SHRINKING = "D002"


def growing_city(root: Path, growth: dict, events: float = 1.0) -> Path:
    """The generated 12-town city whose districts grow at `growth` a year; the grids of the shrinking district
    have no part-time helpers today and `events` times the events (so a plan hires there in its first year)."""
    city_dir = root / "city"
    assert invoke("generate", "--towns", 12, "--seed", 1, "--out", city_dir).exit_code == 0
    districts = pd.read_csv(city_dir / "districts.csv", dtype={"district_id": str})
    districts["growth"] = districts["district_id"].map(growth).fillna(0.0)
    districts.to_csv(city_dir / "districts.csv", index=False)
    towns = pd.read_csv(city_dir / "towns.csv", dtype={"town_id": str, "district_id": str})
    grids = pd.read_csv(city_dir / "grids.csv", dtype={"grid_id": str, "town_id": str})
    shrinking = grids["town_id"].isin(towns.loc[towns["district_id"] == SHRINKING, "town_id"])
    grids.loc[shrinking, "parttime_now"] = 0
    grids.loc[shrinking, "events_per_year"] *= events
    grids.to_csv(city_dir / "grids.csv", index=False)
    return city_dir


@pytest.fixture(scope="module")
def growing_plan(tmp_path_factory) -> tuple[Path, Path]:
    """Three years of a city where two districts grow and one loses 30 % of its people a year, having hired
    there in the first year; officers within a yearly quota."""
    root = tmp_path_factory.mktemp("growing")
    city_dir, plan_dir = growing_city(root, {"D001": 0.04, SHRINKING: -0.3, "D003": 0.02}, events=20.0), root / "plan"
    done = invoke("solve", city_dir, "--model", "roadmap", "--years", "2026:2028", "--threads", 1, "--gap", 0.001,
                  "--hire-quota", f"officers={OFFICER_QUOTA}", "--out", plan_dir)
    assert done.exit_code == 0, done.output
    return city_dir, plan_dir


def read_tables(plan_dir: Path) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_csv(p, dtype={"district_id": str, "town_id": str, "grid_id": str, "site_id": str})
            for p in plan_dir.glob("*.csv")}


def staff_by_year(districts: pd.DataFrame) -> dict[int, pd.DataFrame]:
    """Per year, per district: grid staff employed by kind (posted + pooled), and officers (posted + pooled)."""
    out = {}
    for y, d in districts.groupby("year"):
        d = d.set_index("district_id")
        out[int(y)] = pd.DataFrame({"fulltime": d["fulltime"] + d["fulltime_pool"], "parttime": d["parttime"] + d["parttime_pool"],
                                    "professional": d["professionals"], "officers": d["enforcement_staff"] + d["pool_staff"]})
    return out


def test_nobody_dismissed_from_one_year_to_the_next(growing_plan):
    city_dir, plan_dir = growing_plan
    tables = read_tables(plan_dir)
    staff = staff_by_year(tables["districts"])
    years = sorted(staff)
    assert years == [2026, 2027, 2028]
    grids, towns = tables["grid_staff"], tables["town_staff"]
    first = tables["districts"][tables["districts"]["year"] == 2026].set_index("district_id")
    today = pd.read_csv(city_dir / "grids.csv", dtype={"town_id": str}).merge(
        pd.read_csv(city_dir / "towns.csv", dtype={"town_id": str, "district_id": str})[["town_id", "district_id"]], on="town_id")
    kept = today.groupby("district_id")[["fulltime_now", "parttime_now"]].sum()
    # year FIRST keeps today's grid workers, district by district, and today's officers
    assert (staff[2026]["fulltime"] >= kept["fulltime_now"].reindex(first.index)).all()
    assert (staff[2026]["parttime"] >= kept["parttime_now"].reindex(first.index)).all()
    officers_today = pd.read_csv(city_dir / "towns.csv")["enforcement_now"].sum()
    assert staff[2026]["officers"].sum() >= officers_today
    for p, y in zip(years, years[1:]):
        for kind in ("fulltime", "parttime", "professional"):
            fell = staff[y][kind] < staff[p][kind].reindex(staff[y].index)
            assert not fell.any(), (p, y, kind, staff[p][kind][fell], staff[y][kind][fell])
        assert staff[y]["officers"].sum() >= staff[p]["officers"].sum(), (p, y)
        assert staff[y]["officers"].sum() - staff[p]["officers"].sum() <= OFFICER_QUOTA
    assert staff[2026]["officers"].sum() - officers_today <= OFFICER_QUOTA
    # the staff counted are those the grid and town tables post (districts.csv sums them)
    for y in years:
        g, t = grids[grids["year"] == y], towns[towns["year"] == y]
        d = tables["districts"][tables["districts"]["year"] == y].set_index("district_id")
        for column, table, posted in (("fulltime", g, "fulltime"), ("parttime", g, "parttime"),
                                      ("professionals", t, "professionals"), ("enforcement_staff", t, "enforcement_staff")):
            by = table.groupby("district_id")[posted].sum().reindex(d.index).fillna(0)
            assert (by == d[column]).all(), (y, column)
    # the shrinking district hired in the first year (what it keeps while its work falls) and officers were hired
    assert staff[2026]["fulltime"][SHRINKING] > kept["fulltime_now"][SHRINKING]
    assert staff[2026]["parttime"][SHRINKING] > 0
    assert staff[2028]["officers"].sum() > staff[2026]["officers"].sum()
    assert invoke("check", plan_dir, city_dir).exit_code == 0


def tampered(growing_plan, tmp_path, change) -> str:
    """Copy the plan, let `change` edit its tables (by name), write them back and check: the checker's output."""
    city_dir, plan_dir = growing_plan
    copy = tmp_path / "plan"
    shutil.copytree(plan_dir, copy)
    tables = read_tables(copy)
    for name in change(tables, load_instance(city_dir)):
        tables[name].to_csv(copy / f"{name}.csv", index=False)
    done = invoke("check", copy, city_dir)
    assert done.exit_code == 5, done.output
    return done.output


def pay(tables: dict[str, pd.DataFrame], year: int, district: str, line: str, amount: float) -> None:
    """Move a district's spend of `year` by `amount` on `line` (grid_spend, enforcement_spend), with its
    transfer (what its own budget leaves) and roadmap.csv's spend and transfers, so the money stays consistent."""
    d, r = tables["districts"], tables["roadmap"]
    row = (d["year"] == year) & (d["district_id"] == district)
    d.loc[row, line] += amount
    d.loc[row, "spend"] += amount
    d.loc[row, "transfer"] = (d.loc[row, "spend"] - d.loc[row, "own_budget"]).clip(lower=0.0)
    this = d["year"] == year
    r.loc[r["year"] == year, ["spend", "transfers"]] = [d.loc[this, "spend"].sum(), d.loc[this, "transfer"].sum()]


def test_checker_names_the_year_a_grid_worker_leaves(growing_plan, tmp_path):
    def dismiss_one(tables, city):
        """In 2027, one full-time worker of the shrinking district leaves a grid whose work the town's
        professionals then take on (their hours cover every deficit of the town: no work is left undone)."""
        g, t = tables["grid_staff"], tables["town_staff"]
        norms = city.config.norms
        hours = {k: float(norms[f"hours_{k}"]) for k in ("fulltime", "parttime", "professional")}
        year = g[(g["year"] == 2027) & (g["district_id"] == SHRINKING)]
        for i in year.index[year["fulltime"] >= 2]:
            town = year[year["town_id"] == year.at[i, "town_id"]]
            x = town["fulltime"] - (town.index == i)
            deficit = (town["workload_hours"] - hours["fulltime"] * x - hours["parttime"] * town["parttime"]).clip(lower=0.0)
            pros = t.loc[(t["year"] == 2027) & (t["town_id"] == year.at[i, "town_id"]), "professionals"].iloc[0]
            if deficit.sum() <= hours["professional"] * pros:
                g.loc[i, "fulltime"] -= 1
                g.loc[town.index, "pro_hours"] = deficit          # each grid's deficit, in full
                break
        else:
            raise AssertionError("no full-time worker of the shrinking district can leave without leaving work undone")
        d = tables["districts"]
        d.loc[(d["year"] == 2027) & (d["district_id"] == SHRINKING), "fulltime"] -= 1
        pay(tables, 2027, SHRINKING, "grid_spend", -city.config.salary("fulltime"))
        r = tables["roadmap"]
        r.loc[r["year"] == 2027, ["hires_fulltime", "employed_fulltime"]] -= 1
        r.loc[r["year"] == 2028, "hires_fulltime"] += 1
        return ["grid_staff", "districts", "roadmap"]

    out = tampered(growing_plan, tmp_path, dismiss_one)
    assert f"2027: 1 districts employ fewer fulltime grid staff than in 2026 (e.g. {SHRINKING}:" in out, out
    assert "2028:" not in out, out


def test_checker_names_the_year_a_site_closes(growing_plan, tmp_path):
    def close_one(tables, city):
        f = tables["facilities"]
        opened = f[(f["year"] == 2026) & (f["existing"] == 0) & (f["open"] == 1)]["site_id"]
        assert len(opened)
        f.loc[(f["year"] == 2027) & (f["site_id"] == opened.iloc[0]), "open"] = 0
        return ["facilities"]

    out = tampered(growing_plan, tmp_path, close_one)
    assert "2027: 1 sites open the year before are closed" in out, out


def test_checker_names_the_year_a_hire_quota_is_exceeded(growing_plan, tmp_path):
    def hire_one_more(tables, city):
        """One officer more posted from 2027 on in a town of the first district (2027 hires him)."""
        t, d, r = tables["town_staff"], tables["districts"], tables["roadmap"]
        assert int(r.loc[r["year"] == 2027, "hires_officers"].iloc[0]) == OFFICER_QUOTA     # the quota binds
        town = t.loc[t["year"] == 2027, "town_id"].iloc[0]
        district = t.loc[(t["year"] == 2027) & (t["town_id"] == town), "district_id"].iloc[0]
        for y in (2027, 2028):
            t.loc[(t["year"] == y) & (t["town_id"] == town), "enforcement_staff"] += 1
            d.loc[(d["year"] == y) & (d["district_id"] == district), "enforcement_staff"] += 1
            pay(tables, y, district, "enforcement_spend", city.config.salary("enforcement"))
            r.loc[r["year"] == y, "employed_officers"] += 1
        t.loc[(t["year"] == 2027) & (t["town_id"] == town), "moves_in"] += 1
        t.loc[(t["year"] == 2028) & (t["town_id"] == town), "enforcement_now"] += 1
        r.loc[r["year"] == 2027, "hires_officers"] += 1
        return ["town_staff", "districts", "roadmap"]

    out = tampered(growing_plan, tmp_path, hire_one_more)
    assert "2027: officers hired (quota)" in out and "exceeds the limit" in out, out
    assert "2028: officers hired (quota)" not in out, out


def test_a_town_above_its_standard_keeps_only_last_years_officers(tmp_path):
    """Each year's "today" is the year before: a town may hold more officers than its standard
    max(D_t, minimum team) only by keeping last year's in place (none moved in, no pool share), D_t the
    staffing standard on the year's grown population (per 10,000 persons, per km², per 1,000 cases). A
    district losing 40 % of its people a year frees officers that must serve elsewhere."""
    city_dir, plan_dir = growing_city(tmp_path, {"D001": 0.04, SHRINKING: -0.4, "D003": 0.02}), tmp_path / "plan"
    done = invoke("solve", city_dir, "--model", "roadmap", "--years", "2026:2028", "--threads", 1, "--out", plan_dir)
    assert (plan_dir / "town_staff.csv").is_file(), done.output
    city = load_instance(city_dir)
    years = Years.of(city, 2026, 2028)
    norms = city.config.norms
    team = math.ceil(float(norms["enforcement_min_team"]) - 1e-9)
    towns = read_tables(plan_dir)["town_staff"]
    for p, y in zip(years.years, years.years[1:]):
        t = year_city(city, years, y).towns.set_index("town_id")
        standard = (float(norms["enforcement_per_10k"]) * (t["pop_resident"] + t["pop_migrant"]) / 10_000
                    + float(norms["enforcement_per_km2"]) * t["area_km2"]
                    + float(norms["enforcement_per_1000_cases"]) * t["cases_per_year"] / 1_000)
        cap = standard.clip(lower=team)
        now, before = (towns[towns["year"] == k].set_index("town_id") for k in (y, p))
        above = now["enforcement_staff"] + now["pool_share"] > cap.reindex(now.index) + 1e-6
        in_place = (now["pool_share"] <= 1e-9) & (now["enforcement_staff"] <= before["enforcement_staff"].reindex(now.index))
        wrong = above & ~in_place
        assert not wrong.any(), (y, now.loc[wrong, ["enforcement_staff", "pool_share", "moves_in"]],
                                 before.loc[wrong[wrong].index, "enforcement_staff"], cap[wrong[wrong].index])
    assert done.exit_code == 0 and "check: passed" in done.output, done.output
