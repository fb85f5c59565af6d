"""The city budget model (市级统筹), DESIGN §4.4: grid workers, enforcement staff and new service
facilities as blocks under one municipal budget, districts balanced by transfers and by an
equity measure of their service index.

Budget (10k CNY a year; d ∈ DISTRICTS):

    S_d = S^G_d + S^E_d + S^F_d                      ∀ d   district_spend_is_sum_of_blocks   (1)
    S_d ≤ O_d + T_d                                  ∀ d   district_spend_within_own_budget_and_transfer (2)
    0 ≤ T_d ≤ K_d                                    ∀ d   (bounds of the transfer)           (3)
    Σ_d T_d ≤ P                                            transfers_within_city_pool         (4)
    Σ_d S_d ≤ B                                            city_spend_within_budget           (5)

Service index of district d, with weights a = (a_G, a_E, a_F) ≥ 0, Σ a = 1 (`index_weights`;
default (0.25, 0.25, 0.5): staff coverage and service coverage weigh half each, grid workers
and enforcement officers a quarter each):

    I_d = a_G·G_d + a_E·E_d + a_F·F_d                        (6)

    G_d  share of d's grid work covered, 1 − unmet hours / workload   (grid block)
    E_d  officers counted over officers the standard asks, Σ(s_t + q_t)/Σ D_t, a town
         counted at most at its standard (or its minimum team)        (enforcement block)
    F_d  share of d's service demand (target groups, all services) within coverage minutes
         of an open site                                               (facilities block)

Guard (`--no-worse-than-today`): I_d ≥ I0_d, the index today's resources give d (`today_levels`:
today's posted grid workers, today's officers counted as E_d counts them, today's sites).

Objective (`--objective`, any measure of models.equity over the levels I_d, population
weights w_d = p_d / Σ p): `maxmin` (default: raise the worst-served district), `utilitarian`
(max Σ_d w_d I_d, efficiency), `leximin`, `range`, `mad`, `gini`, `owa`, `alpha`
(proportional fairness, α = 1), `hoover` (spend S_d against population). `problem_of` offers
the levels I_d as an `EquityProblem` (models.equity_problem), with its `Split`: the facilities
block's integer variables may be relaxed for a bound, the new and idle sites w_j (`new_sites`) are
the decisions a restriction fixes (on Chongqing the officers, not the 13,000 sites, make max U
hard: with sites in part it is proven in 2 s); the solve sequences, tie-breaks
(the most efficient plan among the fairest; the fairest among the most efficient) and the
exact Gini/Hoover minimisation are the solving layer's (solving/equity.py, run by
solving/city.py).

The blocks (`models.city_blocks`, which states their rows): grid staffing per grid with the
reductions of `models.grid` and unmet hours held exact by indicator rows; enforcement per
town with the headcount, team minimum and move limit of `models.enforcement`; maximal
covering of every service with the exact reductions R1–R3 and R5 and coverage held exact.
Every level is a function of the plan's decisions, so the plan's index (recomputed from its
tables) is the modelled one, and no objective can gain by pretending service away.
Stated simplifications:
- facility spend in the budget is the first year of NEW sites (open_cost + annual_cost);
  existing sites stay open and their running cost lies outside this budget (in the bundled
  Chongqing data it exceeds the whole staff budget four-fold);
- enforcement officers above a town's standard do not count (E_d ≤ 1 except minimum teams);
- the move limit of models.enforcement holds; officers leaving a town are not limited.

Defaults: B = --budget, else city.yaml budget; P = city.yaml city_pool, else
max(0, B − Σ_d O_d); the enforcement headcount and move limit as in models.enforcement.
The plan's transfers are the least its spend needs, T_d = max(0, S_d − O_d).

Scale (what HiGHS reads; the rows are those above). G_d, E_d and F_d are variables, each defined
by one row of its block's expression (`grid_coverage_is_its_level`, …), so the row of (6) holds
only 1 and the weights a (at least one millionth of the largest, `check_index_weights`), not a
hundred-thousandth of a district's demand for one grid's coverage. Those rows and (1) are
multiplied by the power of 2 that centres their coefficients on 1 (`models.linear.centred`,
exact in floating point): a row whose coefficients span R keeps them within [1/√(2R), √(2R)],
while rows of whole staff and money limits keep their natural coefficients near 1. The span of
a row is then the data's own: F_d's a district's target-group demand over its smallest demand
node's, E_d's a district's officers needed, (1)'s the dearest new site's cost in 10k CNY against
the 1 of S_d (and the salaries), the grid block's a town's excess grid work in worker-years (`models.city_blocks`). On Chongqing
every coefficient HiGHS receives lies within [0.0023, 512] (2.8e9 apart before: 3.7e-6 to 1.0e4).
Hoover's resources are the shares S_d / B as variables (`spend_shares`, each defined by a centred
row, spanning B in 10k CNY), so its rows hold shares near 1 rather than money times 1/B; an idle site (Hoover's
`release_spend`) that costs more than B stays closed, as no plan within B opens it.
`tests/test_numerics.py` holds every model a solve hands over within 1e6 on a generated city and
on the largest values the data accept.

    symbol    attribute                          meaning
    S_d       m.district_spend_10k_cny[d]        spend of district d
    T_d       m.transfer_10k_cny[d]              transfer from the city to d (财政转移支付)
    O_d, K_d  m.own_budget_10k_cny[d], m.transfer_cap_10k_cny[d]
    P, B      m.city_pool_10k_cny, m.budget_10k_cny
    I_d       m.service_index[d]                 district service index (a variable defined by (6))
    G_d, E_d, F_d  m.grid_coverage[d], m.enforcement_coverage[d], m.facilities_coverage[d]
                                                 the block levels of (6) (variables where not constant)
    S_d / B   m.spend_share[d]                   Hoover's resource of district d (`spend_shares`)
    blocks    m.grid, m.enforcement, m.facilities   models.city_blocks
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.contrib.fbbt.fbbt import compute_bounds_on_expr
from pyomo.core.expr.numvalue import is_constant

from allocator.errors import InputError, Problem
from allocator.data.instance import Instance

from . import equity as eq
from .enforcement import EnforcementOptions
from .facilities import FacilitiesOptions
from .facilities_tables import group_rates
from .grid import GridData
from .grid_plan import KEPT_GRID_COLUMNS, mandatory_staffing
from .city_blocks import (ENFORCEMENT_DEFINITIONS, ENFORCEMENT_REQUIREMENTS, FACILITIES_DEFINITIONS, GRID_DEFINITIONS,
                          GRID_REQUIREMENTS, EnforcementBlock, FacilitiesBlock, GridBlock, counted_officers, district_ids)
from .equity_problem import DEFINITIONS as HELD_DEFINITIONS
from .equity_problem import EquityProblem, PlanLevels, Split
from .linear import centred, rows
from .requirements import MONEY, Family

OBJECTIVES = eq.MEASURES
DEFAULT_OBJECTIVE = "maxmin"
DEFAULT_INDEX_WEIGHTS = (0.25, 0.25, 0.5)       # grid workers, enforcement, facilities
INDEX_PARTS = ("grid", "enforcement", "facilities")
ALPHA_LOWEST_LEVEL = 1e-3


@dataclass(frozen=True)
class CityOptions:
    """The limits and weights of one city run."""

    objective: str = DEFAULT_OBJECTIVE
    index_weights: tuple[float, float, float] = DEFAULT_INDEX_WEIGHTS
    budget_10k_cny: float = math.inf
    city_pool_10k_cny: float = math.inf

    @classmethod
    def of(cls, city: Instance, objective: str | None = None, index_weights=None, budget: float | None = None) -> "CityOptions":
        """B = `budget`, else city.yaml's; P = city.yaml's city_pool, else max(0, B − Σ_d O_d)."""
        budget = float(budget if budget is not None else city.config.budget)
        pool = city.config.city_pool
        if pool is None:
            pool = max(0.0, budget - float(city.districts["own_budget"].sum()))
        return cls(objective or DEFAULT_OBJECTIVE, check_index_weights(index_weights), budget, float(pool))

    def as_meta(self) -> dict:
        return {"objective": self.objective, "index_weights": dict(zip(INDEX_PARTS, self.index_weights)),
                "budget": self.budget_10k_cny, "city_pool": self.city_pool_10k_cny}


INDEX_WEIGHT_SPAN = 1e-6     # smaller weights next to the largest are typing slips, and below HiGHS's precision


def check_index_weights(weights) -> tuple[float, float, float]:
    """Three weights ≥ 0 (grid, enforcement, facilities), scaled to sum 1; None: the default."""
    if weights is None:
        return DEFAULT_INDEX_WEIGHTS
    w = np.asarray(weights, dtype=float).ravel()
    if w.size != 3 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise InputError(Problem("--index-weights", "give three weights ≥ 0, not all 0: grid workers, enforcement, "
                                                    "facilities (e.g. 0.25,0.25,0.5)", value=weights))
    if np.any((w > 0) & (w < w.max() * INDEX_WEIGHT_SPAN)):
        raise InputError(Problem("--index-weights", "a weight above 0 must be at least one millionth of the largest "
                                                    "(give 0 to leave a block out)", value=weights))
    return tuple(float(x) for x in w / w.sum())


@dataclass(eq=False)
class CityModel:
    """The city model and its blocks."""

    model: pyo.ConcreteModel
    grid: GridBlock
    enforcement: EnforcementBlock
    facilities: FacilitiesBlock
    options: CityOptions


# --- the model ---------------------------------------------------------------------------

def build_model(city: Instance, options: CityOptions, enforcement: EnforcementOptions, facilities: FacilitiesOptions,
                every_grid: bool = False) -> CityModel:
    """The city model with the enforcement and facilities blocks' options (`EnforcementBlock.build`,
    `FacilitiesBlock.build`); with `every_grid` the grid block keeps every grid (see `GridBlock.build`)."""
    m = pyo.ConcreteModel("city")
    _add_sets_and_budgets(m, city, options)
    grid, enforcement, facilities = _add_blocks(m, city, enforcement, facilities, every_grid)
    _add_district_spend(m, grid, enforcement, facilities)
    _add_transfers(m)
    _add_city_limits(m)
    _add_service_index(m, grid, enforcement, facilities, options)
    return CityModel(m, grid, enforcement, facilities, options)


def _add_sets_and_budgets(m, city: Instance, options: CityOptions) -> None:
    d = city.districts
    m.DISTRICTS = pyo.Set(initialize=district_ids(city), ordered=True)
    m.own_budget_10k_cny = pyo.Param(m.DISTRICTS, initialize=dict(zip(m.DISTRICTS, d["own_budget"].astype(float))))
    m.transfer_cap_10k_cny = pyo.Param(m.DISTRICTS, initialize=dict(zip(m.DISTRICTS, d["transfer_cap"].astype(float))))
    m.city_pool_10k_cny = pyo.Param(initialize=options.city_pool_10k_cny, mutable=True)
    m.budget_10k_cny = pyo.Param(initialize=options.budget_10k_cny, mutable=True)


def _add_blocks(m, city: Instance, enforcement_options: EnforcementOptions, facilities_options: FacilitiesOptions,
                every_grid: bool = False):
    grid = GridBlock.build(city, every_grid, keep_today=not enforcement_options.allow_release)
    enforcement = EnforcementBlock.build(city, enforcement_options)
    facilities = FacilitiesBlock.build(city, facilities_options)
    m.grid, m.enforcement, m.facilities = grid.model, enforcement.model, facilities.model
    return grid, enforcement, facilities


# --- the planner's words for each requirement (an infeasibility explanation relaxes them) ----------
# The city's own rows and bounds built below, the blocks' (models.city_blocks), the --equity-bound
# rows (models.equity) and the optimum a solve sequence holds (models.equity_problem): requirement
# families keyed by constraint name or "<variable>.lower"/".upper", and the rows that only define
# quantities (never relaxed).

REQUIREMENTS: dict[str, Family] = {
    "city_spend_within_budget": Family(                                # (5), _add_city_limits
        "the city budget", MONEY, 1, "the city budget of {limit} falls {amount} short{of_held}",
        "raise the budget (--budget, or budget in city.yaml) to {target}", verb="paying for"),
    "transfers_within_city_pool": Family(                              # (4), _add_transfers
        "the city pool", MONEY, 1, "the city pool of {limit} falls {amount} short of the transfers districts need",
        "raise city_pool in city.yaml to {target_plain} (10k CNY)"),
    "district_spend_within_own_budget_and_transfer": Family(           # (2), _add_transfers
        "the districts' own budgets", MONEY, 1, "own budgets fall short in {members} ({each})",
        "raise own_budget in districts.csv ({raised}, in 10k CNY)", member="district"),
    "transfer_10k_cny.upper": Family(                                  # (3), _add_transfers
        "the transfer caps", MONEY, 1, "transfer caps fall short in {members} ({each})",
        "raise transfer_cap in districts.csv ({raised}, in 10k CNY)", member="district"),
    **GRID_REQUIREMENTS, **ENFORCEMENT_REQUIREMENTS, **eq.REQUIREMENTS,
}
DEFINITIONS: frozenset[str] = frozenset({
    "district_spend_is_sum_of_blocks",                                 # (1), _add_district_spend
    "service_index_is_weighted_coverage",                              # (6), _add_service_index
    "grid_coverage_is_its_level", "enforcement_coverage_is_its_level",  # G_d, E_d, F_d of (6)
    "facilities_coverage_is_its_level",
    "spend_share_is_spend_over_budget",                                # Hoover's resources, spend_shares
}) | GRID_DEFINITIONS | ENFORCEMENT_DEFINITIONS | FACILITIES_DEFINITIONS | eq.DEFINITIONS | HELD_DEFINITIONS


def _add_district_spend(m, grid: GridBlock, enforcement: EnforcementBlock, facilities: FacilitiesBlock) -> None:
    m.district_spend_10k_cny = pyo.Var(m.DISTRICTS, within=pyo.NonNegativeReals)

    @m.Constraint(m.DISTRICTS)
    def district_spend_is_sum_of_blocks(m, d):
        """(1) S_d = S^G_d + S^E_d + S^F_d  (centred: see "Scale")"""
        return centred(m.district_spend_10k_cny[d] == grid.spend(d) + enforcement.spend(d) + facilities.spend(d))


def _add_transfers(m) -> None:
    m.transfer_10k_cny = pyo.Var(m.DISTRICTS, bounds=lambda m, d: (0.0, m.transfer_cap_10k_cny[d]))

    @m.Constraint(m.DISTRICTS)
    def district_spend_within_own_budget_and_transfer(m, d):
        """(2) S_d ≤ O_d + T_d"""
        return m.district_spend_10k_cny[d] - m.transfer_10k_cny[d] <= m.own_budget_10k_cny[d]

    @m.Constraint()
    def transfers_within_city_pool(m):
        """(4) Σ_d T_d ≤ P"""
        return pyo.quicksum(m.transfer_10k_cny.values()) <= m.city_pool_10k_cny


def _add_city_limits(m) -> None:
    @m.Constraint()
    def city_spend_within_budget(m):
        """(5) Σ_d S_d ≤ B"""
        return pyo.quicksum(m.district_spend_10k_cny.values()) <= m.budget_10k_cny


def _add_service_index(m, grid: GridBlock, enforcement: EnforcementBlock, facilities: FacilitiesBlock, options: CityOptions) -> None:
    """I_d is a variable defined by one row, so that the equity measure's rows (pairs for Gini,
    ranks for OWA) hold one term per district instead of its every site and town. So are G_d, E_d
    and F_d (where they are not constants), each by its own centred row (see "Scale"): the row of
    I_d then holds only the weights a."""
    a_g, a_e, a_f = options.index_weights
    m.service_index = pyo.Var(m.DISTRICTS)
    parts = {}
    for name, level in (("grid_coverage", grid.level), ("enforcement_coverage", enforcement.district_level),
                        ("facilities_coverage", facilities.level)):
        levels = {d: level(d) for d in m.DISTRICTS}
        defined = [d for d in m.DISTRICTS if not is_constant(levels[d])]
        var = pyo.Var(pyo.Set(initialize=defined, ordered=True))
        m.add_component(name, var)
        m.add_component(f"{name}_is_its_level", rows(var.index_set(), {d: centred(var[d] == levels[d]) for d in defined}))
        parts[name] = {d: var[d] if d in defined else float(pyo.value(levels[d])) for d in m.DISTRICTS}

    @m.Constraint(m.DISTRICTS)
    def service_index_is_weighted_coverage(m, d):
        """(6) I_d = a_G·G_d + a_E·E_d + a_F·F_d"""
        return m.service_index[d] == (a_g * parts["grid_coverage"][d] + a_e * parts["enforcement_coverage"][d]
                                      + a_f * parts["facilities_coverage"][d])


# --- the equity problem of a city --------------------------------------------------------

def problem_of(cm: CityModel, city: Instance) -> EquityProblem:
    """The districts' service indices as levels, population weights, spend as Hoover's resources."""
    m, ids, options = cm.model, district_ids(city), cm.options
    population = district_population(city)
    a = options.index_weights
    top = a[0] + a[1] * cm.enforcement.level_cap("district") + a[2]
    return EquityProblem(
        model=m, levels={d: m.service_index[d] for d in ids}, weights=(population / population.sum()).to_dict(),
        population=(population / population.sum()).to_dict(),          # shares and spend/B: Hoover is scale-free,
        resources=spend_shares(cm, ids),                                  # HiGHS is not
        level_range=(lowest_level(cm, city), float(top)), tables=lambda: extract(cm, city),
        plan_levels=lambda tables: city_plan_levels(tables, city), group="district",
        meta={"city": options.as_meta(), "enforcement": cm.enforcement.options.as_meta(),
              "facilities": {"services": list(cm.facilities.options.services), "allow_closing": False}},
        release_spend=lambda: release_spend(cm), today_levels=today_levels(cm, city).to_dict(),
        split=Split(relaxed=lambda: _integer_variables(cm.facilities.model), fixed=lambda: new_sites(cm),
                    first=lambda: _integer_variables(m), rows=lambda: [cm.enforcement.model.counted_within_whole_posts]))


def new_sites(cm: CityModel) -> list:
    """w_j: the new sites of the model, then the idle sites (`FacilitiesBlock`), in order."""
    f = cm.facilities.model
    return list(f.site_open.values()) + list(f.idle_site_open.values())


def _integer_variables(block: pyo.Block) -> list:
    return [v for v in block.component_data_objects(pyo.Var, active=True) if v.is_integer() and not v.fixed]


def today_levels(cm: CityModel, city: Instance) -> pd.Series:
    """I0_d = a_G·G0_d + a_E·E0_d + a_F·F0_d, the index today's resources give district d (the guard
    --no-worse-than-today holds I_d ≥ I0_d): G0_d = 1 − U0_d / W_d, the work today's posted grid workers
    leave undone (`GridData.today_unmet_by_district`); E0_d = Σ_t min(s0_t, max(D_t, s_min)) / Σ_t D_t,
    today's officers counted as E_d counts them; F0_d, the share of d's demand within coverage minutes of
    a site open today."""
    ids, a = district_ids(city), cm.options.index_weights
    data = cm.grid.data
    unmet = pd.Series(data.today_unmet_by_district(), index=data.district_ids.astype(str)).reindex(ids).fillna(0.0)
    work = cm.grid.workload.reindex(ids)
    grid = (1.0 - unmet / work.where(work > 0)).fillna(1.0)
    block, m = cm.enforcement, cm.enforcement.model
    staff = pd.Series({t: float(pyo.value(m.staff_today[t])) for t in block.demand.index})
    counted = np.minimum(staff, block.cap.reindex(staff.index))
    enforcement = (counted.groupby(block.town_district).sum() / block.demand.groupby(block.town_district).sum()).reindex(ids)
    facilities = cm.facilities.today_levels(city).reindex(ids).fillna(1.0)
    return a[0] * grid + a[1] * enforcement + a[2] * facilities


def spend_shares(cm: CityModel, ids: list[str]) -> dict:
    """S_d / B as variables m.spend_share[d], each defined by a centred row (see "Scale"): Hoover's rows
    then hold shares near 1, not money times 1/B."""
    m, b = cm.model, cm.options.budget_10k_cny
    m.spend_share = pyo.Var(m.DISTRICTS)
    m.spend_share_is_spend_over_budget = rows(m.DISTRICTS, {d: centred(m.spend_share[d] == m.district_spend_10k_cny[d] / b)
                                                            for d in ids})
    return {d: m.spend_share[d] for d in ids}


def release_spend(cm: CityModel) -> None:
    """Idle grid staff and sites that cover no one more become choices (Hoover scores spend; see
    `GridBlock.release_spend`, `FacilitiesBlock.release_spend`); enforcement pools take any officers
    already."""
    budget = float(pyo.value(cm.model.budget_10k_cny))
    cm.grid.release_spend(budget)
    cm.facilities.release_spend(budget)


def lowest_level(cm: CityModel, city: Instance) -> float:
    """Half the lowest index any plan reaches in some district (alpha's tangents start there):
    required grid staff, minimum enforcement teams and existing sites alone."""
    ids, a = district_ids(city), cm.options.index_weights
    plan, data = mandatory_staffing(cm.grid.data), cm.grid.data
    grid_district = data.town_district[data.grid_town]
    unmet = pd.Series(plan.unmet, index=grid_district).groupby(level=0).sum().reindex(ids).fillna(0.0)
    grid = 1.0 - unmet / cm.grid.workload.where(cm.grid.workload > 0, 1.0)
    low = []
    for d in ids:
        e_low = compute_bounds_on_expr(cm.enforcement.district_level(d))[0] or 0.0
        f = cm.facilities.level(d)
        f_low = f if isinstance(f, float) else (compute_bounds_on_expr(f)[0] or 0.0)
        low.append(a[0] * float(grid[d]) + a[1] * e_low + a[2] * f_low)
    lowest = 0.5 * min(low)
    return lowest if lowest > 0 else ALPHA_LOWEST_LEVEL


def district_population(city: Instance) -> pd.Series:
    towns = city.towns
    pop = pd.Series(city.town_population().to_numpy(float), index=towns["district_id"].astype(str).to_numpy())
    return pop.groupby(level=0).sum().reindex(district_ids(city)).astype(float)


def city_plan_levels(tables: dict[str, pd.DataFrame], city: Instance) -> PlanLevels:
    """I_d (service_index), population shares, population and spend of a city plan, from districts.csv."""
    d = tables["districts"].set_index(tables["districts"]["district_id"].astype(str))
    population = district_population(city)
    return PlanLevels(d["service_index"].astype(float).reindex(population.index), population / population.sum(),
                      population, d["spend"].astype(float).reindex(population.index))


# --- from the solved model to plan tables ---------------------------------------------------

def extract(cm: CityModel, city: Instance) -> dict[str, pd.DataFrame]:
    """Every block's plan tables (read off its decisions), one town table, and districts.csv."""
    grid = cm.grid.tables(city)
    enforcement = cm.enforcement.tables(city)
    facilities = cm.facilities.tables(city)
    towns = enforcement["town_staff"].copy()
    grid_towns = grid["town_staff"].set_index(grid["town_staff"]["town_id"].astype(str))
    towns["professionals"] = grid_towns["professionals"].reindex(towns["town_id"].astype(str)).to_numpy()
    towns["grid_coverage_ratio"] = grid_towns["coverage_ratio"].reindex(towns["town_id"].astype(str)).to_numpy()
    tables = {"grid_staff": grid["grid_staff"], "town_staff": towns, "district_pool": enforcement["district_pool"],
              "facilities": facilities["facilities"], "coverage": facilities["coverage"]}
    tables["districts"] = district_table(city, cm.options, grid["districts"], enforcement["districts"], tables)
    return tables


def district_table(city: Instance, options: CityOptions, grid: pd.DataFrame, enforcement: pd.DataFrame,
                   tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    ids = district_ids(city)
    g = grid.set_index(grid["district_id"].astype(str)).reindex(ids)
    e = enforcement.set_index(enforcement["district_id"].astype(str)).reindex(ids)
    fac = tables["facilities"]
    new_open = (fac["existing"].astype(int) == 0) & (fac["open"].astype(int) == 1)
    sites = city.sites.set_index(city.sites["site_id"].astype(str))
    cost = (sites["open_cost"] + sites["annual_cost"]).reindex(fac["site_id"].astype(str)).to_numpy(float)
    by = fac["district_id"].astype(str)
    f_spend = pd.Series(np.where(new_open, cost, 0.0)).groupby(by.to_numpy()).sum().reindex(ids).fillna(0.0)
    new_sites = pd.Series(new_open.astype(int).to_numpy()).groupby(by.to_numpy()).sum().reindex(ids).fillna(0).astype(int)
    levels = component_levels(city, tables)
    spend = g["spend"].to_numpy(float) + e["spend"].to_numpy(float) + f_spend.to_numpy()
    own = city.districts["own_budget"].to_numpy(float)
    a = np.asarray(options.index_weights)
    return pd.DataFrame({
        "district_id": ids, "name": city.districts["name"].astype(str).to_numpy(), "spend": spend,
        "own_budget": own, "transfer": np.maximum(spend - own, 0.0),
        "service_index": levels.to_numpy() @ a, "transfer_cap": city.districts["transfer_cap"].to_numpy(float),
        "population": district_population(city).to_numpy(), "grid_spend": g["spend"].to_numpy(float),
        "enforcement_spend": e["spend"].to_numpy(float), "facilities_spend": f_spend.to_numpy(),
        "grid_coverage": levels["grid"].to_numpy(), "enforcement_coverage": levels["enforcement"].to_numpy(),
        "facilities_coverage": levels["facilities"].to_numpy(), "fulltime": g["fulltime"].to_numpy(),
        "parttime": g["parttime"].to_numpy(), "professionals": g["professionals"].to_numpy(),
        "enforcement_staff": e["enforcement_staff"].to_numpy(), "pool_staff": e["pool_staff"].to_numpy(),
        "new_sites": new_sites.to_numpy(),
        **{c: g[c].to_numpy() for c in KEPT_GRID_COLUMNS if c in g}})       # today's grid workers (models.grid (8))


def component_levels(city: Instance, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """G_d, E_d, F_d from the plan tables (a district without service demand counts as covered)."""
    ids = district_ids(city)
    g = tables["grid_staff"]
    sums = g.groupby(g["district_id"].astype(str))[["unmet_hours", "workload_hours"]].sum().reindex(ids)
    grid = 1.0 - (sums["unmet_hours"] / sums["workload_hours"].where(sums["workload_hours"] > 0)).fillna(0.0)
    t = tables["town_staff"]
    team = float(city.config.norms["enforcement_min_team"])
    covered = pd.Series(counted_officers(t, math.ceil(team - 1e-9)), index=t.index).groupby(t["district_id"].astype(str)).sum().reindex(ids)
    enforcement = covered / t["enforcement_demand"].groupby(t["district_id"].astype(str)).sum().reindex(ids)
    facilities = pd.Series(group_rates(city, tables["coverage"], "district").get("all", {}), dtype=float).reindex(ids).fillna(1.0)
    return pd.DataFrame({"grid": grid.to_numpy(float), "enforcement": enforcement.to_numpy(float),
                         "facilities": facilities.to_numpy(float)}, index=ids)


# --- from the plan back to its objective and the data's limits ------------------------------

def plan_objective(levels: PlanLevels, objective: str) -> float:
    """The objective recomputed from the plan's tables (as the city plan checker does)."""
    if objective == "leximin":
        return float(levels.levels.min())
    return levels.measure(objective)


def mandatory_spend(city: Instance, cm: CityModel) -> pd.Series:
    """Per district: one full-time worker per grid, the required professionals, a minimum team per town."""
    return mandatory_spend_of(city, cm.grid.data, cm.enforcement.options)


def mandatory_spend_of(city: Instance, data: GridData, e: EnforcementOptions) -> pd.Series:
    """mandatory_spend from the grid data (models.grid.GridData) and enforcement options, no model:
    c_full·|G_d| + c_pro·Σ_{t∈d} y_min_t + c_enf·s_min·|T_d| (10k CNY/yr), and the grid workers of today
    that staffing leaves in the district's pool (models.grid (8), `GridData.kept_cost_by_district`)."""
    ids = district_ids(city)
    grid = (pd.Series(data.salary["fulltime"], index=data.town_district[data.grid_town]).groupby(level=0).sum()
            .add(pd.Series(data.salary["professional"] * data.professionals_min, index=data.town_district)
                 .groupby(level=0).sum(), fill_value=0.0)
            .add(pd.Series(data.kept_cost_by_district(), index=data.district_ids), fill_value=0.0))
    teams = city.towns["district_id"].astype(str).value_counts() * e.min_team * e.salary_10k_cny
    return grid.reindex(ids).fillna(0.0) + teams.reindex(ids).fillna(0.0)


def kept_officers_spend(city: Instance, e: EnforcementOptions) -> tuple[float, int]:
    """The pay of the officers employed today beyond the minimum teams, c_enf·max(0, Σ s0_t − s_min·|T|)
    (10k CNY/yr), and their number: nobody is dismissed (models.enforcement (4')) unless release is allowed.
    Officers may serve in any district, so this adds to the city's floor, not to a district's."""
    if e.allow_release:
        return 0.0, 0
    extra = max(0, int(city.towns["enforcement_now"].sum()) - e.min_team * len(city.towns))
    return extra * e.salary_10k_cny, extra


def mandatory_shortfall(city: Instance, cm: CityModel) -> str | None:
    """The budget conflicts the data settle before any solve, in the planner's words."""
    need = mandatory_spend(city, cm)
    kept, extra = kept_officers_spend(city, cm.enforcement.options)
    own = pd.Series(city.districts["own_budget"].to_numpy(float), index=need.index)
    cap = pd.Series(city.districts["transfer_cap"].to_numpy(float), index=need.index)
    names = pd.Series(city.districts["name"].astype(str).to_numpy(), index=need.index)
    what = "one full-time worker per grid, the required professionals and a minimum enforcement team per town"
    if cm.grid.data.kept_cost > 0:
        what += " (with the grid workers employed today it leaves without a post, kept in the district pools)"
    short = need > own + cap + 1e-9
    if short.any():
        d = need.index[short][0]
        return (f"district {names[d]} ({d}) must spend at least {need[d]:,.1f} (10k CNY/yr) on {what}, but its own budget "
                f"{own[d]:,.1f} plus its transfer cap {cap[d]:,.1f} allow {own[d] + cap[d]:,.1f}"
                + (f" ({int(short.sum())} districts in all)" if short.sum() > 1 else ""))
    b, p = cm.options.budget_10k_cny, cm.options.city_pool_10k_cny
    if need.sum() + kept > b + 1e-9:
        what += f", and the {extra:,} other officers employed today" if extra else ""
        return f"{what} cost {need.sum() + kept:,.1f} (10k CNY/yr), more than the city budget {b:,.1f}"
    transfers = (need - own).clip(lower=0).sum()
    if transfers > p + 1e-9:
        return (f"districts need transfers of at least {transfers:,.1f} (10k CNY/yr) to pay for {what}, "
                f"more than the city pool {p:,.1f}")
    return None
