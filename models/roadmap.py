"""The roadmap model (五年规划): the city budget model over consecutive years, in one MIP.

Each year y ∈ Y = FIRST..LAST is a copy of the city model (models.city) on that year's data
(`allocator.data.years`: populations grown by the districts' yearly rates g_d, the year's budget B_y,
own budgets, transfer caps and an explicit city pool scaled with it): its blocks, its budget rows
(1)–(5) and its service index (6), I_{y,d} the index of district d in year y. The years are linked;
p is the year before y, and the year before FIRST is today.

Grid workers, per district d and kind k ∈ {full-time, part-time, professional}, N_{y,d,k} the staff d
employs in year y, posted or pooled (`GridBlock.employed`):

    N_{y,d,k} ≥ N_{p,d,k}                         ∀ y > FIRST, d, k     grid_staff_carried          (R1)
    Σ_d N_{y,d,k} − Σ_d N_{p,d,k} ≤ Q_k           ∀ y, k with a quota   grid_hires_within_quota     (R2)

Year FIRST keeps today's workers by models.grid (8), as the city model does; today's N is grids.csv
fulltime_now and parttime_now, and for professionals (not in the data) the required minimum y_min.

Enforcement officers, O_y = Σ_t s_{y,t} + Σ_d r_{y,d} (posted and pooled):

    s_{y,t} = s_{p,t} + m⁺_{y,t} − m⁻_{y,t}        ∀ y > FIRST, t       officers_carried            (R3)
    O_y ≥ O_p                                     ∀ y > FIRST          officers_kept               (R4)
    O_y − O_p ≤ Q_off                             ∀ y (O before FIRST: Σ_t s0_t)   officer_hires_within_quota (R5)

so year y's moves m⁺ are counted against year p's postings and the move limit M and the headcount H of
models.enforcement hold in every year (pool officers count as moves in every year they are pooled, as in
the single year). Rows (1) and (4') of models.enforcement are year FIRST's only. A town counted full above
its standard K_{y,t} (f_{y,t} = 1, models.city_blocks' OVERSTAFFED towns) keeps last year's officers in
place and takes none in, year y's "today" being year p:

    s_{y,t} − s_{p,t} ≤ ŝ_{y,t} (1 − f_{y,t})      ∀ y > FIRST, t ∈ OVERSTAFFED   officers_above_standard_only_kept

Sites: w_{y,j} = 1 when new site j (or, for Hoover, an idle site) serves in year y; existing sites serve
in every year, as in the city model:

    w_{y,j} ≥ w_{p,j}                              ∀ y > FIRST, j       sites_stay_open              (R6)
    w_{y,j} = 0                                   ∀ y < FIRST + λ      (a site decided in year t serves from
                                                                        t + λ, the build lag; no decision
                                                                        before FIRST is the roadmap's)
    Σ_j (w_{y,j} − w_{p,j}) ≤ L                    ∀ y                  openings_within_limit        (R7)
    S^F_{y,d} = Σ_{j∈d} c_j (w_{y,j} − w_{p,j})                         district_spend_in_year       (R8)

c_j = open_cost + annual_cost, a new site's first year, paid in the year it opens: the city model's rule
extended year by year, so that from its second year on a site's running cost, like today's sites', lies
outside the budget. (R8) replaces row (1) of models.city in the years after FIRST.

Objectives over the n = |Y| years (the solving layer follows an equity objective with the most efficient
plan that keeps it):

    utilitarian   max (1/n) Σ_y Σ_d w_{y,d} I_{y,d}  (default: the population-weighted index, mean over years)
    maxmin, owa, alpha   the city model's measure of each year's indices, mean over years
    leximin       lexicographic max-min of all I_{y,d}, every year and district one group (the solving
                  layer's leximin sequence): first the lowest index of any year, then the next, …
    target        min Σ_y Σ_d S_{y,d}  s.t. I_{y,d} ≥ τ  ∀ d, ∀ y ≥ Y_τ   (τ by year Y_τ at least cost)
                                                                        target_reached
    --equity-bound holds in every year (models.equity_problem.hold_bound on each year's indices).

Each equity objective rises with every district's index (maxmin and leximin with their tie-break), so
no optimal roadmap levels a district down for nobody's gain (target holds every district at τ and
saves what it can above it). Range and mean absolute deviation fall as well when the
best-served are held back, and Gini and Hoover are ratios (a mean of yearly ratios is no ratio
Dinkelbach's method minimises): these four are yearly bounds (--equity-bound) next to an objective.

With one year the roadmap is the city model: (R1)–(R8) vanish or are the city model's own rows.

A stated restriction: year y's enforcement block is built on the instance's today, so a town may keep
officers above its year-y standard only where today's exceed it (OVERSTAFFED) and posts at most
max(today's, its posting range). Where populations shrink (g_d < 0) a town's standard can fall below
officers posted in an earlier year; the roadmap then moves them (within the move limit) where a plan
could have kept them in place, so it may be worse than the best roadmap. With g_d ≥ 0 standards only
rise and this never binds.

    symbol      attribute                                meaning
    year y      m.year_<y>                               the city model of year y (models.city)
    N_{y,d,k}   `GridBlock.employed`                     grid staff d employs
    O_y         m.year_<y>.enforcement.total_staff       officers employed
    w_{y,j}     m.year_<y>.facilities.site_open[j]       new site j serves in year y
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from allocator.data.instance import Instance
from allocator.errors import InputError, Problem
from allocator.data.years import Years, year_city

from . import equity as eq
from .city import DEFAULT_INDEX_WEIGHTS, CityModel, CityOptions, build_model, new_sites, problem_of
from .city_blocks import district_ids
from .enforcement import EnforcementOptions
from .equity_problem import EquityProblem, attach_measure
from .facilities import FacilitiesOptions
from .city import DEFINITIONS as CITY_DEFINITIONS
from .city import REQUIREMENTS as CITY_REQUIREMENTS
from .linear import centred, rows
from .requirements import Family

OBJECTIVES = ("utilitarian", "maxmin", "leximin", "owa", "alpha", "target")
DEFAULT_YEARS = (2026, 2030)          # the 15th five-year plan (十五五)
DEFAULT_OBJECTIVE = "utilitarian"
MEASURES = ("utilitarian", "maxmin", "owa", "alpha")
HIRE_KINDS = ("fulltime", "parttime", "professional", "officers")
GRID_KINDS = ("fulltime", "parttime", "professional")


@dataclass(frozen=True)
class RoadmapOptions:
    """The years, their budgets and the limits that link them."""

    years: Years
    objective: str = DEFAULT_OBJECTIVE
    index_weights: tuple[float, float, float] = DEFAULT_INDEX_WEIGHTS
    hire_quotas: tuple[tuple[str, int], ...] = ()      # kind → most hired in one year
    build_limit: int | None = None                    # most sites opening in one year
    build_lag: int = 0                                # years from deciding a site to its first year of service
    target_level: float | None = None                 # target: τ
    target_year: int | None = None                    # target: Y_τ
    allow_release: bool = False                       # staff may leave (R1, R4 dropped)

    def quota(self, kind: str) -> int | None:
        return dict(self.hire_quotas).get(kind)

    def as_meta(self) -> dict:
        return {**self.years.as_meta(), "objective": self.objective, "hire_quotas": dict(self.hire_quotas),
                "build_limit": self.build_limit, "build_lag": self.build_lag, "target_level": self.target_level,
                "target_year": self.target_year}


@dataclass(eq=False)
class Roadmap:
    """The roadmap model, its years' city models and their equity problems."""

    model: pyo.ConcreteModel
    city: Instance
    options: RoadmapOptions
    years: dict[int, CityModel] = field(default_factory=dict)
    cities: dict[int, Instance] = field(default_factory=dict)
    problems: dict[int, EquityProblem] = field(default_factory=dict)
    terms: dict[int, eq.EquityTerm] = field(default_factory=dict)

    @property
    def first(self) -> int:
        return self.options.years.years[0]

    def before(self, y: int) -> int | None:
        ys = self.options.years.years
        i = ys.index(y)
        return ys[i - 1] if i else None


def build_roadmap(city: Instance, options: RoadmapOptions, enforcement: EnforcementOptions,
                  facilities: FacilitiesOptions) -> Roadmap:
    """The model of the module docstring (objective attached by `set_objective`)."""
    m = pyo.ConcreteModel("roadmap")
    m.YEARS = pyo.Set(initialize=list(options.years.years), ordered=True)
    rm = Roadmap(m, city, options)
    for y in options.years.years:
        cy = year_city(city, options.years, y)
        cm = build_model(cy, CityOptions.of(cy, "utilitarian", options.index_weights, options.years.budget(y)),
                         enforcement, facilities)
        m.add_component(f"year_{y}", cm.model)
        rm.years[y], rm.cities[y] = cm, cy
        rm.problems[y] = problem_of(cm, cy)
    _check_same_sites(rm)
    _link_grid_staff(rm)
    _link_officers(rm)
    _link_sites(rm)
    return rm


def _check_same_sites(rm: Roadmap) -> None:
    first = rm.years[rm.first].facilities
    for y, cm in rm.years.items():
        if not np.array_equal(cm.facilities.site_rows(), first.site_rows()):
            raise InputError(Problem("districts.csv", f"the growth rates leave grids without a target group by {y} (their "
                                                      f"population rounds to 0), so other sites can serve anyone than in "
                                                      f"{rm.first}; a roadmap needs the same candidate sites every year",
                                     column="growth"))


# --- the planner's words for the rows that link the years (an infeasibility explanation relaxes them) ---

REQUIREMENTS: dict[str, Family] = {
    **CITY_REQUIREMENTS,                                               # every year's own rows (models.city)
    "grid_hires_within_quota": Family(                                 # (R2), _link_grid_staff
        "the yearly hire quotas of grid staff", "persons", 1, "the hire quota falls {amount} short{where}",
        "raise --hire-quota (fulltime, parttime or professional) by {amount}", member="year and kind"),
    "officer_hires_within_quota": Family(                              # (R5), _link_officers
        "the yearly hire quota of officers", "officers", 1, "the officer hire quota falls {amount} short{where}",
        "raise --hire-quota officers=N by {amount}", member="year"),
    "openings_within_limit": Family(                                   # (R7), _link_sites
        "the yearly build limit", "sites", 1, "the build limit falls {amount} short{where}",
        "raise --build-limit by {amount}", member="year"),
    "target_reached": Family(                                          # target objective, _add_target
        "the target service index", "index points", 2, "{members} ({ids}) stay {amount} below the target",
        "lower --target-level, choose a later --target-year, or raise the budgets", member="district-year",
        held="the target in {members}"),
    "level_not_below_today": Family(                                   # --no-worse-than-today, every year
        "no district below its service index today", "index points", 2,
        "{members} stay {amount} below their index today{where}",
        "drop --no-worse-than-today, or raise the budgets", member="district in a year",
        held="today's index in {members}"),
    "grid_staff_carried": Family(                                      # (R1), _link_grid_staff
        "every grid worker employed last year kept", "persons", 3,
        "keeping last year's grid staff falls {amount} short{where}",
        "let staff leave the service (--allow-release)", member="district-year"),
    "officers_kept": Family(                                           # (R4), _link_officers
        "every officer employed last year kept", "officers", 3, "keeping last year's officers falls {amount} short{where}",
        "let officers leave the service (--allow-release)", member="year"),
}
DEFINITIONS: frozenset[str] = CITY_DEFINITIONS - {"value_held"} | frozenset({   # (the objective is held by objective_held)
    "officers_carried",                                                # (R3): postings start from last year's
    "officers_above_standard_only_kept",                               # above its standard a town keeps last year's
    "sites_stay_open",                                                 # (R6): a site opened serves on
    "district_spend_in_year",                                          # (R8): spend defined year by year
    "objective_held",                                                  # the tie-break holds the objective
    "utility_below_tangent", "level_at_least_lo",                      # alpha: y_g below the tangents, L_g ≥ lo
    "lowest_index_below_every_level",                                  # leximin's first bound: t ≤ I_{y,d}
    "level_at_least_fixed", "ordered_sum_held",                        # the leximin sequence holds its rounds
})


# --- grid workers (R1, R2) ----------------------------------------------------------------------

def grid_today(rm: Roadmap) -> dict[str, dict[str, float]]:
    """N before FIRST by district and kind: today's full-time and part-time workers, the required professionals."""
    data = rm.years[rm.first].grid.data
    x0, z0 = data.today()
    ids = [str(d) for d in data.district_ids]
    pros = {str(d): float(data.professionals_min[data.town_district == d].sum()) for d in data.district_ids}
    return {str(d): {"fulltime": float(x0[i]), "parttime": float(z0[i]), "professional": pros[str(d)]}
            for i, d in enumerate(ids)}


def _link_grid_staff(rm: Roadmap) -> None:
    m, ids = rm.model, district_ids(rm.city)
    employed = {y: {d: cm.grid.employed(d) for d in ids} for y, cm in rm.years.items()}
    carried = {}
    if not rm.options.allow_release:
        for y in rm.options.years.years[1:]:
            p = rm.before(y)
            for d in ids:
                for k in GRID_KINDS:
                    carried[y, d, k] = employed[y][d][k] - employed[p][d][k] >= 0
    m.grid_staff_carried = rows(list(carried), carried)
    today = grid_today(rm)
    hires = {}
    for k in GRID_KINDS:
        quota = rm.options.quota(k)
        if quota is None:
            continue
        for y in rm.options.years.years:
            p = rm.before(y)
            before = (pyo.quicksum(employed[p][d][k] for d in ids) if p is not None
                      else sum(today[d][k] for d in ids))
            hires[y, k] = pyo.quicksum(employed[y][d][k] for d in ids) - before <= quota
    m.grid_hires_within_quota = rows(list(hires), hires)


# --- officers (R3, R4, R5) ----------------------------------------------------------------------

def _link_officers(rm: Roadmap) -> None:
    m = rm.model
    carried, kept, hires, above = {}, {}, {}, {}
    quota = rm.options.quota("officers")
    for y in rm.options.years.years:
        e = rm.years[y].enforcement.model
        p = rm.before(y)
        if p is None:
            if quota is not None:
                today = float(sum(pyo.value(e.staff_today[t]) for t in e.TOWNS))
                hires[y] = e.total_staff - today <= quota
            continue
        before = rm.years[p].enforcement.model
        e.posted_staff_is_today_plus_moves.deactivate()
        if hasattr(e, "officers_of_today_kept"):
            e.officers_of_today_kept.deactivate()
        for t in e.TOWNS:
            carried[y, t] = e.posted_staff[t] - e.moved_in[t] + e.moved_out[t] - before.posted_staff[t] == 0
        for t in e.OVERSTAFFED:
            top = float(e.posted_staff[t].ub)
            above[y, t] = e.posted_staff[t] - before.posted_staff[t] + top * e.keeps_above_standard[t] <= top
        if not rm.options.allow_release:
            kept[y] = e.total_staff - before.total_staff >= 0
        if quota is not None:
            hires[y] = e.total_staff - before.total_staff <= quota
    m.officers_carried = rows(list(carried), carried)
    m.officers_above_standard_only_kept = rows(list(above), above)
    m.officers_kept = rows(list(kept), kept)
    m.officer_hires_within_quota = rows(list(hires), hires)


# --- sites (R6, R7, R8) -------------------------------------------------------------------------

def _site_costs(cm: CityModel) -> tuple[np.ndarray, np.ndarray]:
    """c_j and the district of every w_j (as `new_sites` orders them)."""
    fb = cm.facilities
    cost = np.concatenate([fb.cover.prepared.flat["sites"].cost, fb.idle["cost"].to_numpy(float)])
    district = np.concatenate([fb.site_district, fb.idle["district"].to_numpy(str)])
    return cost, district


def _link_sites(rm: Roadmap) -> None:
    m, ys, lag = rm.model, rm.options.years.years, rm.options.build_lag
    for y in ys[:lag]:
        for w in new_sites(rm.years[y]):
            w.fix(0)
    stays, opened, spend = {}, {}, {}
    n_model = len(rm.years[ys[0]].facilities.model.site_open)
    for y in ys:
        w, p = new_sites(rm.years[y]), rm.before(y)
        before = new_sites(rm.years[p]) if p is not None else [0] * len(w)
        new = [a - b for a, b in zip(w, before)]
        if p is not None and y not in ys[:lag]:         # idle sites: fixed now, free once Hoover releases them
            stays.update({(y, j): new[j] >= 0 for j in range(len(w)) if not w[j].fixed or j >= n_model})
            _spend_in_year(rm, y, new, spend)
        if rm.options.build_limit is not None and new:
            opened[y] = pyo.quicksum(new) <= rm.options.build_limit
    m.sites_stay_open = rows(list(stays), stays)
    m.openings_within_limit = rows(list(opened), opened)
    m.district_spend_in_year = rows(list(spend), spend)


def _spend_in_year(rm: Roadmap, y: int, new: list, spend: dict) -> None:
    """(R8) in place of models.city (1): S_{y,d} = S^G + S^E + Σ_{j∈d} c_j (w_{y,j} − w_{p,j})."""
    cm = rm.years[y]
    cm.model.district_spend_is_sum_of_blocks.deactivate()
    cost, district = _site_costs(cm)
    for d in cm.model.DISTRICTS:
        sites = pyo.quicksum(float(cost[j]) * new[j] for j in np.flatnonzero((district == d) & (cost != 0)))
        spend[y, d] = centred(cm.model.district_spend_10k_cny[d] == cm.grid.spend(d) + cm.enforcement.spend(d) + sites)


# --- a first plan ------------------------------------------------------------------------------

def rounded_plan(rm: Roadmap) -> ComponentMap:
    """The decisions of the loaded LP relaxation rounded down where rounding down keeps every row a plan
    needs: a new site opens in a year only where the LP opens it whole in every year it is open (a site
    the LP opens in part stays closed in every year, so no year's spend (R8) rises and (R6) holds), and
    grid staff x_g, z_g, y_t at the whole part of the LP's (x_g ≥ 1, y_t ≥ y_min). Pools and officers
    are left to the solver. HiGHS completes it (`allocator.solving.roadmap`)."""
    start = ComponentMap()
    years = list(rm.years.values())
    for sites in zip(*(new_sites(cm) for cm in years)):
        if all(w.fixed for w in sites):
            continue
        x = [float(w.value or 0.0) for w in sites]
        whole = all(v < 1e-6 or v > 1 - 1e-6 for v in x)
        for w, v in zip(sites, x):
            start[w] = 1.0 if whole and v > 0.5 else 0.0
    for cm in years:
        g = cm.grid.model
        for var in (g.fulltime_workers, g.parttime_helpers, g.professionals):
            for v in var.values():
                start[v] = max(float(v.lb or 0.0), float(math.floor(float(v.value or 0.0) + 1e-6)))
    return start


def steady_plan(rm: Roadmap) -> ComponentMap:
    """Grid and site decisions of the plan that changes nothing it need not, in every year: one full-time
    worker per modelled grid and today's others pooled (models.grid (8)), no helper posted, the required
    professionals, no new site. Officers are left to the solver: where they serve decides whether each
    district's budget pays them. HiGHS completes the rest (`allocator.solving.roadmap`)."""
    start = ComponentMap()

    def put(variables, value) -> None:
        for v in variables:
            start[v] = float(value(v))

    for cm in rm.years.values():
        g, f = cm.grid.model, cm.facilities.model
        put(g.fulltime_workers.values(), lambda v: 1.0)
        put(g.parttime_helpers.values(), lambda v: 0.0)
        put(g.professionals.values(), lambda v: v.lb)
        for name in ("pooled_fulltime", "pooled_parttime"):
            if hasattr(g, name):
                put(getattr(g, name).values(), lambda v: v.ub)
        put(f.site_open.values(), lambda v: 0.0)
    return start


# --- objectives ---------------------------------------------------------------------------------

def set_objective(rm: Roadmap) -> None:
    """The roadmap's objective (module docstring) as m.roadmap_objective; a measure's yearly terms in rm.terms."""
    m, o = rm.model, rm.options
    if o.objective == "target":
        _add_target(rm)
        m.roadmap_objective = pyo.Objective(expr=pyo.quicksum(
            cm.model.district_spend_10k_cny[d] for cm in rm.years.values() for d in cm.model.DISTRICTS), sense=pyo.minimize)
        return
    if o.objective == "leximin":                    # its first round: the lowest index of any year and district
        levels = all_levels(rm)
        keys = list(levels)
        m.lowest_index = pyo.Var()
        m.lowest_index_below_every_level = pyo.Constraint(range(len(keys)), rule=lambda m, i: levels[keys[i]] >= m.lowest_index)
        m.roadmap_objective = pyo.Objective(expr=m.lowest_index, sense=pyo.maximize)
        return
    for y, problem in rm.problems.items():
        rm.terms[y] = attach_measure(problem, o.objective, "objective")
        rm.terms[y].block.objective.deactivate()
    sense = pyo.maximize if eq.NATURAL_SENSE[o.objective] == "maximize" else pyo.minimize
    m.roadmap_objective = pyo.Objective(expr=mean_of(rm, {y: t.value for y, t in rm.terms.items()}), sense=sense)


def all_levels(rm: Roadmap) -> dict:
    """I_{y,d} of every year and district, keyed "year:district" (leximin's groups)."""
    return {f"{y}:{d}": level for y, p in rm.problems.items() for d, level in p.levels.items()}


def mean_of(rm: Roadmap, values: dict):
    return pyo.quicksum(values.values()) / len(rm.options.years.years)


def efficiency(rm: Roadmap):
    """(1/n) Σ_y Σ_d w_{y,d} I_{y,d}."""
    return mean_of(rm, {y: pyo.quicksum(p.weights[d] * p.levels[d] for d in p.levels) for y, p in rm.problems.items()})


def _add_target(rm: Roadmap) -> None:
    o = rm.options
    reached = {(y, d): level >= o.target_level for y, p in rm.problems.items() if y >= o.target_year
               for d, level in p.levels.items()}
    rm.model.target_reached = rows(list(reached), reached)


def hold_objective_then_efficiency(rm: Roadmap, value: float, tolerance: float) -> None:
    """Keep the objective within `tolerance` (relative) of `value` and make efficiency the objective."""
    m = rm.model
    slack = tolerance * max(1.0, abs(value))
    m.roadmap_objective.deactivate()
    expr = m.roadmap_objective.expr
    m.objective_held = pyo.Constraint(expr=expr >= value - slack if m.roadmap_objective.sense == pyo.maximize
                                      else expr <= value + slack)
    m.efficiency_objective = pyo.Objective(expr=efficiency(rm), sense=pyo.maximize)


# --- the roadmap table ----------------------------------------------------------------------------

URBAN_DISTRICT_KINDS = ("core", "suburban")


def roadmap_table(rm: Roadmap, per_year: dict[int, dict[str, pd.DataFrame]]) -> pd.DataFrame:
    """roadmap.csv, a row per year from the plan's tables: budget, spend, transfers, hires by kind (staff
    employed over the year before; before FIRST: today), sites opened (and decided: opening λ years on),
    the population-weighted mean and the lowest district index, and the urban districts meeting the
    community-worker norm (`community_workers`)."""
    ys, lag = rm.options.years.years, rm.options.build_lag
    rows_, before = [], _staff_today(rm)
    opened = {y: _opened(t) for y, t in per_year.items()}
    norm = float(rm.city.config.norms["community_workers_per_10k_urban"])
    for y in ys:
        t, cy = per_year[y], rm.cities[y]
        d = t["districts"]
        staff = _staff(d)
        pop = d["population"].to_numpy(float)
        workers = community_workers(cy, t)
        urban = workers[workers["urban_district"]]
        rows_.append({
            "year": y, "budget": rm.options.years.budget(y), "spend": float(d["spend"].sum()),
            "transfers": float(d["transfer"].sum()),
            **{f"hires_{k}": staff[k] - before[k] for k in HIRE_KINDS},
            **{f"employed_{k}": staff[k] for k in HIRE_KINDS},
            "sites_opened": opened[y], "sites_decided": opened.get(ys[ys.index(y) + lag]) if ys.index(y) + lag < len(ys) else None,
            "mean_index": float(pop @ d["service_index"].to_numpy(float) / pop.sum()),
            "lowest_index": float(d["service_index"].min()),
            "urban_districts": int(len(urban)),
            "urban_districts_at_worker_norm": int((urban["per_10k_urban"] >= norm - 1e-9).sum()),
        })
        before = staff
    return pd.DataFrame(rows_)


def _staff(districts: pd.DataFrame) -> dict[str, float]:
    col = lambda c: float(districts[c].sum()) if c in districts else 0.0          # noqa: E731
    return {"fulltime": col("fulltime") + col("fulltime_pool"), "parttime": col("parttime") + col("parttime_pool"),
            "professional": col("professionals"), "officers": col("enforcement_staff") + col("pool_staff")}


def _staff_today(rm: Roadmap) -> dict[str, float]:
    today = grid_today(rm)
    out = {k: sum(v[k] for v in today.values()) for k in GRID_KINDS}
    out["officers"] = float(rm.city.towns["enforcement_now"].sum())
    return out


def _opened(tables: dict[str, pd.DataFrame]) -> int:
    f = tables["facilities"]
    return int(((f["open"].astype(int) == 1) & (f["existing"].astype(int) == 0)).sum())


def community_workers(city: Instance, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per district: community workers in its urban part (full-time grid workers of urban grids and the
    professionals of its streets) per 10,000 persons of its urban grids (the norms pack's
    community_workers_per_10k_urban), and whether it is an urban district (kind core or suburban)."""
    ids = district_ids(city)
    grids = city.grids.set_index(city.grids["grid_id"].astype(str))
    town_district = city.towns.set_index(city.towns["town_id"].astype(str))["district_id"].astype(str)
    g = tables["grid_staff"]
    urban_grid = grids["kind"].reindex(g["grid_id"].astype(str)).to_numpy() == "urban"
    workers = g["fulltime"].astype(float).where(urban_grid, 0.0).groupby(g["district_id"].astype(str)).sum()
    t = tables["town_staff"]
    street = city.towns.set_index(city.towns["town_id"].astype(str))["kind"].reindex(t["town_id"].astype(str)).to_numpy() == "street"
    workers = workers.add(t["professionals"].astype(float).where(street, 0.0).groupby(t["district_id"].astype(str)).sum(),
                          fill_value=0.0).reindex(ids).fillna(0.0)
    people = grids["population"].astype(float).where(grids["kind"] == "urban", 0.0)
    people = people.groupby(grids["town_id"].astype(str).map(town_district).to_numpy()).sum().reindex(ids).fillna(0.0)
    kind = city.districts["kind"].astype(str).reindex(ids).to_numpy() if "kind" in city.districts else np.full(len(ids), "")
    return pd.DataFrame({"district_id": ids, "urban_population": people.to_numpy(), "community_workers": workers.to_numpy(),
                         "per_10k_urban": (10_000 * workers / people.where(people > 0)).to_numpy(),
                         "urban_district": np.isin(kind, URBAN_DISTRICT_KINDS) & (people.to_numpy() > 0)})
