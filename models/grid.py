"""Grid staffing: full-time, part-time and professional grid workers (DESIGN §4.1).

Policy: "专职力量一格一员、专业力量一员多格、兼职力量一格多员". The workload of grid g in
hours a year comes from the norms pack:

    W_g = h_household · households_g + h_event · events_per_year_g + h_person · population_g

Model (mixed-integer linear; s_t and U_t are accounting variables of town t):

    (1) H_full·x_g + a_g + H_part·z_g + u_g ≥ W_g       ∀ g ∈ GRIDS   grid_work_is_covered
    (2) Σ_{g∈G_t} a_g ≤ H_pro · y_t                     ∀ t ∈ TOWNS   professional_hours_within_town
    (3) x_g ≥ 1 ("一格一员"), 0 ≤ z_g ≤ z_max ("一格多员")          bounds of x and z
    (4) y_t ≥ ⌈|G_t| / m_pro⌉ ("一员多格"; when cover is required) bound of y
    (5) U_t = Σ_{g∈G_t} u_g  and  U_t ≤ (1 − ρ)·W_t      ∀ t ∈ TOWNS   town_unmet_is_sum, town_coverage_reaches_level
    (6) s_t = c_full Σ_{g∈G_t} x_g + c_part Σ_{g∈G_t} z_g + c_pro y_t   ∀ t   town_spend_is_salaries
        C = F + Σ_t s_t + Σ_d (c_full p^full_d + c_part p^part_d) ≤ B      spend_within_budget
    (7) Σ x_g + Σ y_t + Σ_d p^full_d ≤ H                                headcount_within_limit
    (8) Σ_{g∈G_d} x_g + p^full_d ≥ Σ_{g∈G_d} x0_g,  Σ_{g∈G_d} z_g + p^part_d ≥ Σ_{g∈G_d} z0_g   ∀ d
                                        fulltime_of_today_kept, parttime_of_today_kept (unless allow_release)
    (9) Σ_{t∈T_d} U_t ≤ U0_d = Σ_{g∈G_d} (W_g − H_full x0_g − H_part z0_g)⁺   ∀ d   district_no_worse_than_today
                                        (--no-worse-than-today: no district's coverage 1 − U_d/W_d below
                                        the coverage today's posted workers give it)

Grid workers employed today (x0_g = fulltime_now, z0_g = parttime_now) are reassigned, not
dismissed: (8) keeps each of them posted in a grid of their district or in the district's pool
(p^full_d, p^part_d ≥ 0), per worker type. A pooled worker is paid at their salary (the spend C
and the headcount count them) and does no grid work; since a pooled worker costs what a posted
one does, a plan pools only those its grids cannot use (x_g and z_g at their caps, or grids the
reductions settle). With `allow_release` (8) is dropped: nobody is pooled and the workers of
today neither posted nor pooled, R^k_d = (Σ_{g∈G_d} k0_g − Σ_{g∈G_d} k_g)⁺, leave the service
(columns `fulltime_released`, `parttime_released` of districts.csv). The data hold no
professionals today. So every plan spends at least c_full Σ x0 + c_part Σ z0 on grid workers,
and a budget (or headcount) below today's workers has no plan unless release is allowed.

When the budget (or headcount) of `unmet` or `maxmin` cannot pay one full-time worker per grid
and the required professionals, some grids stay vacant (GridOptions.vacancies): a staffed grid
has one full-time worker, a vacant one none and all its work unmet; no part-time helpers are
hired, a vacant grid gets no professional hours, and a town has exactly the professionals its
staffed grids require, ⌈staffed grids / m_pro⌉. Every staffed grid costs the same, and for a
given number of staffed grids a town leaves the least work unmet by staffing its largest ones
(both the hours a full-time worker covers, min(W_g, H_full), and the deficit professionals may
take, (W_g − H_full)⁺, grow with W_g): so each town's choice is only how many grids k it
staffs, with cost C_tk and unmet hours U_tk (`staffing_options`), and `unmet` is the
multiple-choice model of `build_vacancy_model` (both in models/grid_vacancies.py); `maxmin` needs no solver (the solving layer
picks the highest level whose cheapest town options fit). Every such plan is the required
staffing with grids left out, so it never leaves less work unmet than the required staffing
itself, which a budget at or above its cost affords: the unmet hours never fall as the budget
falls. The empty plan is within any limit: a budget-limited objective always has a plan.

Headcount counts posts (full-time workers and professionals); part-time helpers hold no
post and are limited per grid by (3) instead.

Objectives (the town coverage ratio is ρ_t = 1 − U_t / W_t):

    cost    min C  subject to (1)-(5) with ρ = 1 (no unmet hours), (6) when --budget is given, (7), (8)
            ((9) holds in every such plan)
    unmet   min Σ_t U_t  subject to (1)-(4), (6) with the budget, (7), (8), (9) when asked
    maxmin  max min_t ρ_t subject to (1)-(4), (6), (7), (8), (9) when asked. The model states it at a fixed common
            level ρ (m.coverage_level, a mutable parameter, so that one built model serves every
            level): min C s.t. (1)-(5), (7), block-separable by town; the level is reached when
            that least cost is at most B. The solving layer (`solving.grid`) searches on ρ.

How the model is kept small and friendly to HiGHS (none of it changes the optimum):
- a grid one full-time worker covers (W_g ≤ H_full) gets exactly that worker and leaves
  GRIDS; a town whose required professionals cover every grid's excess over one full-time
  worker gets the required staff and leaves TOWNS; their fixed spend is the constant F;
- caps no optimal plan needs to pass: x_g ≤ ⌈W_g/H_full⌉, y_t ≤ max(y_min_t, ⌈W_t/H_pro⌉),
  a_g, u_g ≤ W_g;
- no row holds every grid. The town rows are declared first, so that the variables reach
  HiGHS in one batch per town. Without a budget row HiGHS's presolve folds s_t back into
  the objective. With one (6) it would fold them into a dense row over every worker,
  which stalled HiGHS 1.15's presolve for over a minute on 25,000 grids; there s_t gets the
  cap "at most the cost of covering town t with full-time workers alone" (no optimal plan
  spends more in a town, when no headcount limit applies), which keeps the row over the
  towns' s_t. The cap is left out elsewhere: it costs HiGHS its primal heuristics;
- `cost` (ρ = 1) is built without u, U and (5) when `GridOptions.full_cover_only` is set (as
  the solving module does): there (5) reads U_t ≤ 0, so every u_g is 0 and (1) loses its u_g
  (`allocator.explain` keeps them, to relax the coverage).

    symbol      attribute                                   meaning
    W_g, W_t    m.workload_hours[g], m.town_workload_hours  hours of grid work a year
    x_g         m.fulltime_workers[g]                       full-time grid workers (专职)
    z_g         m.parttime_helpers[g]                       part-time helpers (兼职)
    y_t         m.professionals[t]                          professionals of town t (专业)
    a_g         m.professional_hours[g]                     professional hours given to grid g
    u_g, U_t    m.unmet_hours[g], m.town_unmet_hours[t]     hours of work left undone
    s_t, F      m.town_spend_10k_cny[t], m.fixed_spend_10k_cny  spend, 10k CNY/yr
    ρ           m.coverage_level                            common town coverage level (mutable)
    H_full ...  m.hours_fulltime_per_year, ...              effective hours per person-year
    c_full ...  m.salary_fulltime_10k_cny, ...              cost per person-year, 10k CNY
    B, H        m.budget_10k_cny, m.headcount_max           limits of the run
    x0_g, z0_g  GridData.fulltime_today, .parttime_today    grid workers employed today
    p^full_d    m.pooled_fulltime[d], m.pooled_parttime[d]  today's workers held in district d's pool
    λ_tk        m.town_staffs[o] (build_vacancy_model)      town t staffs its k largest grids

A plan is read off the integer decisions x, z, y only: each town's professional hours go to
its grids in proportion to their remaining deficits, which leaves the least unmet work those
decisions allow, and staff with nothing left to do are dropped (workers of today among them go
to their district's pool, p_d = (Σ_{g∈G_d} k0_g − Σ_{g∈G_d} k_g)⁺). Neither step can raise the
cost, the unmet hours or the headcount of the solver's answer.

With grids left vacant (`build_vacancy_model`) (8) reads Σ_{t∈d} Σ_k k λ_tk + p^full_d ≥ Σ_{g∈G_d} x0_g
(the staffed grids hold one full-time worker each) and p^part_d = Σ_{g∈G_d} z0_g (such plans post no
helpers); the pools are paid within the budget and the full-time pool counts in the headcount. The
argument above for posting no helper assumed each helper costs money; today's helpers are paid in
any case, so where they could take deficit hours of staffed grids a plan posting them might leave
less work unmet. Such a plan is the best of the plans that post no helper, and says so.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC

from allocator.data.instance import Instance

from . import linear as lin
from .requirements import BUDGET_REMEDY, MONEY, Family

OBJECTIVES = ("cost", "unmet", "maxmin")
DEFAULT_OBJECTIVE = "cost"


@dataclass(frozen=True)
class GridOptions:
    """What one grid-staffing model holds."""

    objective: str = DEFAULT_OBJECTIVE
    budget_10k_cny: float | None = None      # row (6) for cost/unmet; maxmin compares against it
    headcount_max: int | None = None
    coverage_level: float = 1.0              # ρ of (5), cost and maxmin
    professional_cover_required: bool = True
    full_cover_only: bool = False            # cost at ρ = 1 without u, U and (5) (see the module docstring)
    vacancies: bool = False                  # unmet/maxmin over town options (`build_vacancy_model`): grids may stay vacant
    no_worse_than_today: bool = False        # (9): no district's grid coverage below today's

    @property
    def unmet_accounts(self) -> bool:
        """Whether the model holds u_g, U_t and (5): all but `full_cover_only` at ρ = 1."""
        return not (self.full_cover_only and self.objective == "cost" and self.coverage_level >= 1.0)


@dataclass(frozen=True)
class GridData:
    """The city's grid-staffing figures as parallel arrays (grids ordered as in the instance)."""

    grid_ids: np.ndarray
    grid_town: np.ndarray          # town number of each grid
    workload: np.ndarray           # W_g, hours/yr
    town_ids: np.ndarray
    town_district: np.ndarray
    town_workload: np.ndarray      # W_t
    grids_in_town: np.ndarray      # |G_t|
    professionals_min: np.ndarray  # ⌈|G_t| / m_pro⌉ or 0
    hours: dict[str, float]        # fulltime, parttime, professional
    salary: dict[str, float]
    parttime_max: int
    grids_per_professional: int
    reduced: bool = True           # False: every town and grid modelled, none settled as a constant
    fulltime_today: np.ndarray | None = None   # x0_g (grids.csv fulltime_now)
    parttime_today: np.ndarray | None = None   # z0_g (grids.csv parttime_now)
    keep_today: bool = True        # (8): today's grid workers stay posted or pooled (False: --allow-release)

    @property
    def district_ids(self) -> np.ndarray:
        return np.unique(self.town_district)

    @property
    def grid_district(self) -> np.ndarray:
        """District number (into `district_ids`) of each grid."""
        return np.searchsorted(self.district_ids, self.town_district)[self.grid_town]

    def by_district(self, values) -> np.ndarray:
        """Per-grid values summed by district (in the order of `district_ids`)."""
        return np.bincount(self.grid_district, weights=np.asarray(values, float), minlength=len(self.district_ids))

    def today(self) -> tuple[np.ndarray, np.ndarray]:
        """Σ_{g∈G_d} x0_g and Σ_{g∈G_d} z0_g per district: the full-time and part-time workers employed today."""
        n = len(self.grid_ids)
        x0 = self.fulltime_today if self.fulltime_today is not None else np.zeros(n)
        z0 = self.parttime_today if self.parttime_today is not None else np.zeros(n)
        return np.rint(self.by_district(x0)).astype(int), np.rint(self.by_district(z0)).astype(int)

    def left_over(self, fulltime, parttime) -> tuple[np.ndarray, np.ndarray]:
        """Per district, today's full-time and part-time workers the posted x, z leave without a post:
        (Σ_{g∈G_d} k0_g − Σ_{g∈G_d} k_g)⁺ — pooled under (8), released with allow_release."""
        x0, z0 = self.today()
        posted_x, posted_z = np.rint(self.by_district(fulltime)).astype(int), np.rint(self.by_district(parttime)).astype(int)
        return np.maximum(x0 - posted_x, 0), np.maximum(z0 - posted_z, 0)

    def kept_cost_by_district(self) -> np.ndarray:
        """What (8) adds to the cheapest plan (one full-time worker per grid) in each district (in the order of
        `district_ids`): today's workers that plan leaves without a post, paid in the pools (0 with allow_release)."""
        if not self.keep_today:
            return np.zeros(len(self.district_ids))
        full, part = self.left_over(np.ones(len(self.grid_ids)), np.zeros(len(self.grid_ids)))
        return full * self.salary["fulltime"] + part * self.salary["parttime"]

    @property
    def kept_cost(self) -> float:
        return float(self.kept_cost_by_district().sum())

    def today_unmet_by_district(self) -> np.ndarray:
        """U0_d = Σ_{g∈G_d} (W_g − H_full x0_g − H_part z0_g)⁺: the work today's posted workers leave undone in
        each district (the data hold no professionals today), so today's coverage is G0_d = 1 − U0_d / W_d."""
        n = len(self.grid_ids)
        x0 = self.fulltime_today if self.fulltime_today is not None else np.zeros(n)
        z0 = self.parttime_today if self.parttime_today is not None else np.zeros(n)
        done = self.hours["fulltime"] * np.asarray(x0, float) + self.hours["parttime"] * np.asarray(z0, float)
        return self.by_district(np.maximum(self.workload - done, 0.0))

    @property
    def kept_posts(self) -> int:
        if not self.keep_today:
            return 0
        return int(self.left_over(np.ones(len(self.grid_ids)), np.zeros(len(self.grid_ids)))[0].sum())

    @property
    def today_cost(self) -> float:
        """c_full Σ x0 + c_part Σ z0: the least any plan under (8) spends on grid workers (all of them pooled)."""
        x0, z0 = self.today()
        return float(x0.sum() * self.salary["fulltime"] + z0.sum() * self.salary["parttime"])

    @property
    def mandatory_cost(self) -> float:
        """One full-time worker per grid plus the professionals the cover rule needs, and the workers of
        today this plan leaves in the pools (`kept_cost`)."""
        return (len(self.grid_ids) * self.salary["fulltime"] + float(self.professionals_min.sum()) * self.salary["professional"]
                + self.kept_cost)

    @property
    def mandatory_posts(self) -> int:
        return len(self.grid_ids) + int(self.professionals_min.sum()) + self.kept_posts

    @property
    def fulltime_max(self) -> np.ndarray:
        return np.maximum(1, np.ceil(self.workload / self.hours["fulltime"] - 1e-9)).astype(int)

    @property
    def modelled_towns(self) -> np.ndarray:
        """Towns whose required professionals cannot absorb every grid's excess over one full-time worker."""
        if not self.reduced:
            return np.ones(len(self.town_ids), dtype=bool)
        excess = np.bincount(self.grid_town, weights=np.maximum(self.workload - self.hours["fulltime"], 0.0),
                             minlength=len(self.town_ids))
        return excess > self.hours["professional"] * self.professionals_min + 1e-9

    @property
    def modelled_grids(self) -> np.ndarray:
        if not self.reduced:
            return np.ones(len(self.grid_ids), dtype=bool)
        return self.modelled_towns[self.grid_town] & (self.workload > self.hours["fulltime"] + 1e-9)


def workload_hours(grids: pd.DataFrame, norms: dict) -> np.ndarray:
    """W_g = h_household·households + h_event·events_per_year + h_person·population."""
    return (float(norms["grid_hours_per_household"]) * grids["households"].to_numpy(float)
            + float(norms["grid_hours_per_event"]) * grids["events_per_year"].to_numpy(float)
            + float(norms["grid_hours_per_person"]) * grids["population"].to_numpy(float))


def grid_data(city: Instance, professional_cover_required: bool = True, keep_today: bool = True) -> GridData:
    """The city's grid figures; `keep_today` holds (8) (today's grid workers stay posted or pooled)."""
    norms, towns = city.config.norms, city.towns
    town_ids = towns.index.to_numpy(str)
    grid_town = pd.Index(town_ids).get_indexer(city.grids["town_id"].astype(str))
    workload = workload_hours(city.grids, norms)
    n_towns = len(town_ids)
    grids_in_town = np.bincount(grid_town, minlength=n_towns)
    per_pro = int(norms["professional_max_grids"])
    y_min = -(-grids_in_town // per_pro) if professional_cover_required else np.zeros(n_towns, int)
    kinds = ("fulltime", "parttime", "professional")
    return GridData(
        grid_ids=city.grids.index.to_numpy(str), grid_town=grid_town, workload=workload,
        town_ids=town_ids, town_district=towns["district_id"].to_numpy(str),
        town_workload=np.bincount(grid_town, weights=workload, minlength=n_towns),
        grids_in_town=grids_in_town, professionals_min=y_min.astype(int),
        hours={k: float(norms[f"hours_{k}"]) for k in kinds},
        salary={k: city.config.salary(k) for k in kinds},
        parttime_max=int(norms["parttime_max_per_grid"]), grids_per_professional=per_pro,
        fulltime_today=city.grids["fulltime_now"].to_numpy(int), parttime_today=city.grids["parttime_now"].to_numpy(int),
        keep_today=keep_today)


# --- the model ---------------------------------------------------------------------------

def build_model(city: Instance, options: GridOptions, data: GridData | None = None) -> pyo.ConcreteModel:
    """The model of the module docstring; the garbage collector is paused while Pyomo builds it."""
    data = data or grid_data(city, options.professional_cover_required)
    with PauseGC():
        return _build(data, options)


def _build(data: GridData, options: GridOptions) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel("grid")
    _add_sets(m, data)
    _add_parameters(m, data, options)
    _add_staff_variables(m, data, options)
    _add_town_accounts(m, options.unmet_accounts)
    _add_professional_sharing(m)
    if options.objective in ("cost", "maxmin") and options.unmet_accounts:
        _add_town_coverage_level(m)
    _add_grid_cover(m)
    add_today_kept(m, data)
    if options.no_worse_than_today and options.unmet_accounts:
        _add_no_worse_than_today(m, data)
    _add_budget_limit(m, options)
    _add_headcount_limit(m, data, options)
    _add_objective(m, options)
    return m


def _add_sets(m, data: GridData) -> None:
    grids, towns = data.modelled_grids, data.modelled_towns
    grid_ids = data.grid_ids[grids]
    m.GRIDS = pyo.Set(initialize=grid_ids.tolist(), ordered=True)
    m.TOWNS = pyo.Set(initialize=data.town_ids[towns].tolist(), ordered=True)
    members = pd.Series(grid_ids).groupby(data.grid_town[grids]).agg(list)
    m.GRIDS_OF_TOWN = pyo.Set(m.TOWNS, initialize={data.town_ids[i]: members.get(i, []) for i in np.flatnonzero(towns)})


def _add_parameters(m, data: GridData, options: GridOptions) -> None:
    grids, towns = data.modelled_grids, data.modelled_towns
    m.workload_hours = pyo.Param(m.GRIDS, initialize=dict(zip(data.grid_ids[grids].tolist(), data.workload[grids].tolist())))
    m.town_workload_hours = pyo.Param(m.TOWNS, initialize=dict(zip(data.town_ids[towns].tolist(), data.town_workload[towns].tolist())))
    for kind in ("fulltime", "parttime", "professional"):
        setattr(m, f"hours_{kind}_per_year", pyo.Param(initialize=data.hours[kind]))
        setattr(m, f"salary_{kind}_10k_cny", pyo.Param(initialize=data.salary[kind]))
    fixed = (~grids).sum() * data.salary["fulltime"] + data.professionals_min[~towns].sum() * data.salary["professional"]
    m.fixed_spend_10k_cny = pyo.Param(initialize=float(fixed))
    m.fixed_posts = pyo.Param(initialize=int((~grids).sum() + data.professionals_min[~towns].sum()))
    m.coverage_level = pyo.Param(initialize=options.coverage_level, mutable=True, domain=pyo.Reals)


def _add_staff_variables(m, data: GridData, options: GridOptions) -> None:
    """Bounds carry (3), (4) and the caps of the module docstring."""
    grids, towns = data.modelled_grids, data.modelled_towns
    grid_ids, town_ids = data.grid_ids[grids].tolist(), data.town_ids[towns].tolist()
    x_max, w = data.fulltime_max[grids], data.workload[grids]
    y_min = data.professionals_min[towns]
    y_max = np.maximum(y_min, np.ceil(data.town_workload[towns] / data.hours["professional"] - 1e-9)).astype(int)
    m.fulltime_workers = pyo.Var(m.GRIDS, domain=pyo.Integers, bounds=_bounds(grid_ids, 1, x_max))
    m.parttime_helpers = pyo.Var(m.GRIDS, domain=pyo.Integers, bounds=(0, data.parttime_max))
    for start, var in ((1, m.fulltime_workers), (0, m.parttime_helpers)):   # the mandatory plan: one worker per grid
        for v in var.values():
            v.set_value(start, skip_validation=True)
    m.professionals = pyo.Var(m.TOWNS, domain=pyo.Integers, bounds=_bounds(town_ids, y_min, y_max))
    m.professional_hours = pyo.Var(m.GRIDS, bounds=_bounds(grid_ids, 0.0, w))
    if options.unmet_accounts:
        m.unmet_hours = pyo.Var(m.GRIDS, bounds=_bounds(grid_ids, 0.0, w))
        m.town_unmet_hours = pyo.Var(m.TOWNS, bounds=(0, None))
    full_cover = (np.bincount(data.grid_town[grids], weights=x_max * data.salary["fulltime"], minlength=len(data.town_ids))[towns]
                  + y_min * data.salary["professional"])
    if data.keep_today and data.today()[1].any():     # a town may post today's helpers its pool would pay anyway
        full_cover = full_cover + data.salary["parttime"] * data.parttime_max * data.grids_in_town[towns]
    capped = _has_budget_row(options) and options.headcount_max is None
    m.town_spend_10k_cny = pyo.Var(m.TOWNS, bounds=_bounds(town_ids, 0.0, full_cover) if capped else (0.0, None))


def _bounds(ids: list, lower, upper):
    """A bounds rule from arrays (or scalars) in the order of `ids`."""
    n = len(ids)
    lo = np.broadcast_to(np.asarray(lower), (n,)).tolist()
    hi = np.broadcast_to(np.asarray(upper), (n,)).tolist()
    table = dict(zip(ids, zip(lo, hi)))
    return lambda m, key: table[key]


def _grid_vars(var) -> list:
    """The variables var[g] in the order of GRIDS."""
    return list(var.values())


def _town_members(m, var) -> list[list]:
    """The variables var[g] of each town's grids, in the order of TOWNS."""
    return [[var[g] for g in m.GRIDS_OF_TOWN[t]] for t in m.TOWNS]


# --- the planner's words for each requirement (an infeasibility explanation relaxes them) ----------
# The rows and bounds built below: their requirement families, keyed by constraint name or
# "<variable>.lower"/".upper", and the rows that only define quantities (never relaxed).

REQUIREMENTS: dict[str, Family] = {
    "spend_within_budget": Family(                                     # (6), _add_budget_limit
        "the budget", MONEY, 1, "the budget for grid workers of {limit} falls {amount} short{of_held}",
        BUDGET_REMEDY, verb="paying for"),
    "headcount_within_limit": Family(                                  # (7), _add_headcount_limit
        "the headcount", "posts", 1, "the headcount of {limit} falls {amount} short{of_held}",
        "raise the headcount (--headcount) to {target}", verb="covering"),
    "town_coverage_reaches_level": Family(                             # (5), _add_town_coverage_level
        "covering all grid work", "hours", 2, "{amount} of grid work a year would stay uncovered in {members} ({ids})",
        "accept less than full coverage (--objective unmet or maxmin), or raise the budget (--budget)", member="town",
        held="all grid work in {members}"),
    "fulltime_workers.lower": Family(                                  # (3), _add_staff_variables
        "one full-time worker per grid (一格一员)", "full-time workers", 3,
        "one full-time worker per grid cannot be kept in {members} ({ids})",
        "no option changes this rule; raise the budget (--budget) or the headcount (--headcount) instead",
        member="grid", held="one full-time worker per grid in {members}", fixed=True),
    "professionals.lower": Family(                                     # (4), _add_staff_variables
        "professional cover (一员多格)", "professionals", 3,
        "the required professionals are {amount} short in {members} ({ids})",
        "let one professional cover more grids (raise professional_max_grids under norms: in city.yaml)", member="town",
        held="the required professionals in {members}"),
    "fulltime_of_today_kept": Family(                                  # (8), _add_today_kept
        "every grid worker employed today kept", "full-time workers", 1,
        "keeping the full-time grid workers employed today falls {amount} short in {members} ({ids})",
        "let grid workers leave the service (--allow-release), or raise the budget (--budget) or the headcount "
        "(--headcount) to pay today's workers", member="district", held="today's full-time grid workers in {members}"),
    "parttime_of_today_kept": Family(                                  # (8), _add_today_kept
        "every grid worker employed today kept", "part-time workers", 1,
        "keeping the part-time grid workers employed today falls {amount} short in {members} ({ids})",
        "let grid workers leave the service (--allow-release), or raise the budget (--budget) to pay today's workers",
        member="district", held="today's part-time grid workers in {members}"),
    "district_no_worse_than_today": Family(                            # (9), _add_no_worse_than_today
        "no district below its grid coverage today", "hours", 1,
        "{members} ({ids}) would leave {amount} more grid work undone than today",
        "drop --no-worse-than-today, or raise the budget (--budget)", member="district",
        held="today's grid coverage in {members}"),
    "parttime_helpers.upper": Family(                                  # (3), _add_staff_variables
        "the part-time helpers allowed per grid", "part-time helpers", 3,
        "{amount} beyond the limit per grid would be needed in {members} ({ids})",
        "raise parttime_max_per_grid (under norms: in city.yaml)", member="grid", held="the most part-time helpers in {members}"),
}
DEFINITIONS: frozenset[str] = frozenset({
    "one_option_per_town", "town_coverage_at_least_level",             # build_vacancy_model
    "town_spend_is_salaries", "town_unmet_is_sum",                     # (6), (5), _add_town_accounts
    "professional_hours_within_town",                                  # (2), _add_professional_sharing
    "grid_work_is_covered",                                            # (1), _add_grid_cover
})


def _add_town_accounts(m, unmet_accounts: bool) -> None:
    """(6) s_t = c_full Σ_{g∈G_t} x_g + c_part Σ_{g∈G_t} z_g + c_pro y_t     town_spend_is_salaries
       (5) U_t = Σ_{g∈G_t} u_g                                            town_unmet_is_sum"""
    c_full, c_part, c_pro = (pyo.value(m.salary_fulltime_10k_cny), pyo.value(m.salary_parttime_10k_cny),
                             pyo.value(m.salary_professional_10k_cny))
    x, z = _town_members(m, m.fulltime_workers), _town_members(m, m.parttime_helpers)
    s, y = list(m.town_spend_10k_cny.values()), list(m.professionals.values())
    m.town_spend_is_salaries = lin.rows(m.TOWNS, [
        lin.equal(lin.linear([1.0] + [-c_full] * len(xt) + [-c_part] * len(zt) + [-c_pro], [st, *xt, *zt, yt]), 0)
        for st, xt, zt, yt in zip(s, x, z, y)])
    if not unmet_accounts:
        return
    u, unmet = _town_members(m, m.unmet_hours), list(m.town_unmet_hours.values())
    m.town_unmet_is_sum = lin.rows(m.TOWNS, [
        lin.equal(lin.linear([1.0] + [-1.0] * len(ut), [ut_sum, *ut]), 0) for ut_sum, ut in zip(unmet, u)])


def _add_professional_sharing(m) -> None:
    """(2) Σ_{g∈G_t} a_g ≤ H_pro · y_t     professional_hours_within_town"""
    h_pro = pyo.value(m.hours_professional_per_year)
    a, y = _town_members(m, m.professional_hours), list(m.professionals.values())
    m.professional_hours_within_town = lin.rows(m.TOWNS, [
        lin.at_most(lin.linear([1.0] * len(at) + [-h_pro], [*at, yt]), 0) for at, yt in zip(a, y)])


def _add_town_coverage_level(m) -> None:
    @m.Constraint(m.TOWNS)
    def town_coverage_reaches_level(m, t):
        """(5) U_t ≤ (1 − ρ) · W_t"""
        return m.town_unmet_hours[t] <= (1 - m.coverage_level) * m.town_workload_hours[t]


def _add_grid_cover(m) -> None:
    """(1) H_full·x_g + a_g + H_part·z_g + u_g ≥ W_g     grid_work_is_covered (without u_g when the
    model has no unmet-hour accounts)"""
    h_full, h_part = pyo.value(m.hours_fulltime_per_year), pyo.value(m.hours_parttime_per_year)
    x, a, z = _grid_vars(m.fulltime_workers), _grid_vars(m.professional_hours), _grid_vars(m.parttime_helpers)
    if hasattr(m, "unmet_hours"):
        m.grid_work_is_covered = lin.rows(m.GRIDS, [
            lin.at_least(lin.linear([h_full, 1.0, h_part, 1.0], terms), w)
            for *terms, w in zip(x, a, z, _grid_vars(m.unmet_hours), m.workload_hours.values())])
    else:                         # full cover: u_g = 0
        m.grid_work_is_covered = lin.rows(m.GRIDS, [
            lin.at_least(lin.linear([h_full, 1.0, h_part], terms), w) for *terms, w in zip(x, a, z, m.workload_hours.values())])


def _total_spend(m):
    spend = m.fixed_spend_10k_cny + pyo.quicksum(m.town_spend_10k_cny.values())
    if hasattr(m, "pooled_fulltime"):
        spend += (pyo.value(m.salary_fulltime_10k_cny) * pyo.quicksum(m.pooled_fulltime.values())
                  + pyo.value(m.salary_parttime_10k_cny) * pyo.quicksum(m.pooled_parttime.values()))
    return spend


def _add_no_worse_than_today(m, data: GridData) -> None:
    """(9) Σ_{t∈T_d} U_t ≤ U0_d for every district where it can bind (towns the reductions settle leave
    nothing undone)."""
    towns = data.modelled_towns
    district = np.searchsorted(data.district_ids, data.town_district)
    today = data.today_unmet_by_district()
    work = np.bincount(district[towns], weights=data.town_workload[towns], minlength=len(today))
    rows = [d for d in range(len(today)) if today[d] < work[d] - 1e-9]
    members = pd.Series(data.town_ids[towns]).groupby(district[towns]).agg(list)
    m.GUARDED_DISTRICTS = pyo.Set(initialize=[str(data.district_ids[d]) for d in rows], ordered=True)
    m.district_no_worse_than_today = lin.rows(m.GUARDED_DISTRICTS, [
        lin.at_most(lin.linear([1.0] * len(members[d]), [m.town_unmet_hours[t] for t in members[d]]), float(today[d]))
        for d in rows])


def add_today_kept(m, data: GridData, whole: bool = False) -> None:
    """(8) per district and worker type, where it can bind: Σ_{g∈G_d} x_g + p^full_d ≥ Σ_{g∈G_d} x0_g
    (fulltime_of_today_kept; grids the reductions settle hold one full-time worker, a constant) and
    Σ_{g∈G_d} z_g + p^part_d ≥ Σ_{g∈G_d} z0_g (parttime_of_today_kept; settled grids hold no helper), on a
    model with x_g, z_g over the modelled grids (m.fulltime_workers, m.parttime_helpers); the pools are
    whole numbers with `whole` (else continuous: the rows keep them whole wherever they cost)."""
    if not data.keep_today:
        return
    x0, z0 = data.today()
    grids = data.modelled_grids
    district = data.grid_district
    settled = np.bincount(district[~grids], minlength=len(data.district_ids))
    modelled = np.bincount(district[grids], minlength=len(data.district_ids))
    need_x = x0 - settled                     # full-time workers of today the modelled grids or the pool must hold
    rows_x = [d for d in range(len(x0)) if need_x[d] > modelled[d]]      # x_g ≥ 1 holds the others already
    rows_z = [d for d in range(len(z0)) if z0[d] > 0]
    ids = data.district_ids
    m.KEPT_FULLTIME_DISTRICTS = pyo.Set(initialize=[str(ids[d]) for d in rows_x], ordered=True)
    m.KEPT_PARTTIME_DISTRICTS = pyo.Set(initialize=[str(ids[d]) for d in rows_z], ordered=True)
    domain = pyo.NonNegativeIntegers if whole else pyo.NonNegativeReals
    m.pooled_fulltime = pyo.Var(m.KEPT_FULLTIME_DISTRICTS, domain=domain,       # x_g ≥ 1 posts the modelled grids' share
                                bounds=_bounds([str(ids[d]) for d in rows_x], 0.0, (need_x - modelled)[rows_x].astype(float)))
    m.pooled_parttime = pyo.Var(m.KEPT_PARTTIME_DISTRICTS, domain=domain,
                                bounds=_bounds([str(ids[d]) for d in rows_z], 0.0, z0[rows_z].astype(float)))
    members = pd.Series(data.grid_ids[grids]).groupby(district[grids]).agg(list)
    x, z = m.fulltime_workers, m.parttime_helpers
    m.fulltime_of_today_kept = lin.rows(m.KEPT_FULLTIME_DISTRICTS, [
        lin.at_least(lin.linear([1.0] * (len(members.get(d, [])) + 1), [*(x[g] for g in members.get(d, [])), m.pooled_fulltime[str(ids[d])]]),
                     float(need_x[d])) for d in rows_x])
    m.parttime_of_today_kept = lin.rows(m.KEPT_PARTTIME_DISTRICTS, [
        lin.at_least(lin.linear([1.0] * (len(members.get(d, [])) + 1), [*(z[g] for g in members.get(d, [])), m.pooled_parttime[str(ids[d])]]),
                     float(z0[d])) for d in rows_z])


def _has_budget_row(options: GridOptions) -> bool:
    return options.budget_10k_cny is not None and options.objective != "maxmin"


def _add_budget_limit(m, options: GridOptions) -> None:
    if not _has_budget_row(options):
        return
    m.budget_10k_cny = pyo.Param(initialize=options.budget_10k_cny, mutable=True)

    @m.Constraint()
    def spend_within_budget(m):
        """(6) F + Σ_t s_t ≤ B"""
        return _total_spend(m) <= m.budget_10k_cny


def _add_headcount_limit(m, data: GridData, options: GridOptions) -> None:
    if options.headcount_max is None:
        return
    m.headcount_max = pyo.Param(initialize=options.headcount_max, mutable=True)

    @m.Constraint()
    def headcount_within_limit(m):
        """(7) Σ x_g + Σ y_t ≤ H (part-time helpers hold no post)"""
        posts = pyo.quicksum(m.fulltime_workers.values()) + pyo.quicksum(m.professionals.values())
        if hasattr(m, "pooled_fulltime"):
            posts += pyo.quicksum(m.pooled_fulltime.values())
        return m.fixed_posts + posts <= m.headcount_max


def _add_objective(m, options: GridOptions) -> None:
    if options.objective == "unmet":
        m.least_unmet_hours = pyo.Objective(expr=pyo.quicksum(m.town_unmet_hours.values()), sense=pyo.minimize)
    else:  # cost, and each step of the maxmin search
        m.least_spend = pyo.Objective(expr=_total_spend(m), sense=pyo.minimize)
