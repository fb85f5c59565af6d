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
multiple-choice model of `build_vacancy_model`; `maxmin` needs no solver (the solving layer
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


# --- from integer decisions to a plan ----------------------------------------------------

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


# --- vacancies: each town's choice is how many grids it staffs (GridOptions.vacancies) -------------

@dataclass(frozen=True)
class StaffingOptions:
    """Per town t and k = 0 … |G_t|: staffing its k largest grids (by W_g) with one full-time worker each
    and ⌈k / m_pro⌉ professionals (where cover is required) costs C_tk and leaves U_tk hours unmet:

        U_tk = Σ_{i>k} W_(i) + (Σ_{i≤k} (W_(i) − H_full)⁺ − H_pro·y_tk)⁺,   C_tk = c_full·k + c_pro·y_tk

    W_(1) ≥ W_(2) ≥ … the town's workloads (see the module docstring for why these are the only
    plans worth considering); C_tk rises and U_tk falls with k. Arrays run over every (t, k) pair, towns in order."""

    town: np.ndarray       # town number of each option
    staffed: np.ndarray    # k
    cost: np.ndarray       # C_tk, 10k CNY/yr
    unmet: np.ndarray      # U_tk, hours/yr
    posts: np.ndarray      # k + y_tk
    grid_rank: np.ndarray  # per grid: its position (1, 2, …) in its town by falling workload

    def decisions(self, data: GridData, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x, z, y of the plan that takes option `chosen[t]` (an index into the arrays) in each town."""
        k = self.staffed[chosen]
        x = (self.grid_rank <= k[data.grid_town]).astype(int)
        y = required_professionals(data, x)
        return x, np.zeros(len(x), int), y


def staffing_options(data: GridData) -> StaffingOptions:
    h, w, town = data.hours, data.workload, data.grid_town
    n_towns = len(data.town_ids)
    order = np.lexsort((-w, town))                        # by town, then by falling workload
    counts = np.bincount(town, minlength=n_towns)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(len(w), int)
    rank[order] = np.arange(len(w)) - np.repeat(first, counts) + 1
    covered = np.cumsum(np.minimum(w[order], h["fulltime"]))       # per town after subtracting the start
    excess = np.cumsum(np.maximum(w[order] - h["fulltime"], 0.0))
    start = np.repeat(first, counts)
    before_cov = np.concatenate(([0.0], covered))[start]
    before_exc = np.concatenate(([0.0], excess))[start]
    covered, excess = covered - before_cov, excess - before_exc
    k = rank[order]
    t = town[order]
    cover = data.professionals_min[t] > 0
    y = np.where(cover, -(-k // data.grids_per_professional), 0)
    work = data.town_workload[t]
    unmet = work - covered - np.minimum(excess, h["professional"] * y)
    # k = 0 in every town, then the pairs (t, k ≥ 1) in order
    towns_all = np.concatenate((np.arange(n_towns), t))
    staffed = np.concatenate((np.zeros(n_towns, int), k))
    cost = np.concatenate((np.zeros(n_towns), data.salary["fulltime"] * k + data.salary["professional"] * y))
    unmet_all = np.concatenate((data.town_workload, np.maximum(unmet, 0.0)))
    posts = np.concatenate((np.zeros(n_towns, int), k + y))
    by_town = np.lexsort((staffed, towns_all))
    return StaffingOptions(towns_all[by_town], staffed[by_town], cost[by_town], unmet_all[by_town], posts[by_town], rank)


def vacancy_spend(data: GridData, options_table: StaffingOptions, chosen: np.ndarray) -> tuple[float, int]:
    """Spend and posts of the town options `chosen`, with (8): today's full-time workers beyond the grids
    their district staffs, and every helper of today (such plans post none), paid in the pools."""
    o = options_table
    cost, posts = float(o.cost[chosen].sum()), int(o.posts[chosen].sum())
    if not data.keep_today:
        return cost, posts
    x0, z0 = data.today()
    town_district = np.searchsorted(data.district_ids, data.town_district)
    staffed = np.bincount(town_district[o.town[chosen]], weights=o.staffed[chosen], minlength=len(x0))
    pooled = np.maximum(x0 - np.rint(staffed).astype(int), 0)
    return (cost + float(pooled.sum() * data.salary["fulltime"] + z0.sum() * data.salary["parttime"]),
            posts + int(pooled.sum()))


def build_vacancy_model(options_table: StaffingOptions, options: GridOptions, data: GridData | None = None) -> pyo.ConcreteModel:
    """`unmet` when grids may stay vacant, over each town's options (a multiple-choice knapsack):

        min Σ_tk U_tk λ_tk  s.t.  Σ_k λ_tk = 1 ∀t (one_option_per_town),  Σ C_tk λ_tk ≤ B (spend_within_budget),
        Σ (k + y_tk) λ_tk ≤ H (headcount_within_limit),  λ_tk ∈ {0, 1}   (m.town_staffs[o], o = (t, k) pairs)

    and, under (8) (`data.keep_today`), Σ_{t∈d} Σ_k k λ_tk + p^full_d ≥ Σ_{g∈G_d} x0_g (fulltime_of_today_kept)
    with p^full_d and every helper of today paid within B, p^full_d counted in H; with --no-worse-than-today
    (9) Σ_{t∈d} Σ_k U_tk λ_tk ≤ U0_d (district_no_worse_than_today), and `maxmin` is then this model with
    max ρ s.t. Σ_k (1 − U_tk/W_t) λ_tk ≥ ρ ∀t (town_coverage_at_least_level; ρ m.coverage_level).

    Its relaxation is each town's convex hull of (C_tk, U_tk): far tighter than the same rules stated
    over single grids (x_g ∈ {0, 1}, a_g ≤ (W_g − H_full)⁺·x_g, …), whose proof of optimality HiGHS
    did not finish in 30 s on 306 grids."""
    o = options_table
    m = pyo.ConcreteModel("grid_vacancies")
    m.OPTIONS = pyo.RangeSet(0, len(o.town) - 1)
    m.TOWNS = pyo.RangeSet(0, int(o.town.max()) if len(o.town) else -1)
    m.town_staffs = pyo.Var(m.OPTIONS, domain=pyo.Binary)
    lam = [m.town_staffs[i] for i in range(len(o.town))]
    starts = np.flatnonzero(np.r_[True, o.town[1:] != o.town[:-1]]).tolist() + [len(o.town)]
    m.one_option_per_town = lin.rows(m.TOWNS, [
        lin.equal(lin.linear([1.0] * (b - a), lam[a:b]), 1.0) for a, b in zip(starts, starts[1:])])
    pool_cost, pool_posts, helpers = [], [], 0.0
    if data is not None and data.keep_today:
        x0, z0 = data.today()
        town_district = np.searchsorted(data.district_ids, data.town_district)[o.town]
        rows = [d for d in range(len(x0)) if x0[d] > 0]
        m.KEPT_FULLTIME_DISTRICTS = pyo.Set(initialize=[str(data.district_ids[d]) for d in rows], ordered=True)
        m.pooled_fulltime = pyo.Var(m.KEPT_FULLTIME_DISTRICTS, domain=pyo.NonNegativeReals)
        pools = list(m.pooled_fulltime.values())
        m.fulltime_of_today_kept = lin.rows(m.KEPT_FULLTIME_DISTRICTS, [
            lin.at_least(lin.linear([float(k) for k in o.staffed[town_district == d]] + [1.0],
                                    [lam[i] for i in np.flatnonzero(town_district == d)] + [pool]), float(x0[d]))
            for d, pool in zip(rows, pools)])
        for d, pool in zip(rows, pools):
            pool.set_value(float(x0[d]), skip_validation=True)
        pool_cost, pool_posts = [(data.salary["fulltime"], v) for v in pools], [(1.0, v) for v in pools]
        helpers = float(z0.sum() * data.salary["parttime"])
    if options.budget_10k_cny is not None:
        m.budget_10k_cny = pyo.Param(initialize=options.budget_10k_cny, mutable=True)
        spend = lin.linear(o.cost.tolist() + [c for c, _ in pool_cost], lam + [v for _, v in pool_cost], helpers)
        m.spend_within_budget = pyo.Constraint(expr=spend <= m.budget_10k_cny)
    if options.headcount_max is not None:
        m.headcount_max = pyo.Param(initialize=options.headcount_max, mutable=True)
        posts = lin.linear(o.posts.astype(float).tolist() + [c for c, _ in pool_posts], lam + [v for _, v in pool_posts])
        m.headcount_within_limit = pyo.Constraint(expr=posts <= m.headcount_max)
    if data is not None and options.no_worse_than_today:       # (9) Σ_{t∈d} Σ_k U_tk λ_tk ≤ U0_d
        today = data.today_unmet_by_district()
        town_district = np.searchsorted(data.district_ids, data.town_district)[o.town]
        m.GUARDED_DISTRICTS = pyo.Set(initialize=[str(d) for d in data.district_ids], ordered=True)
        m.district_no_worse_than_today = lin.rows(m.GUARDED_DISTRICTS, [
            lin.at_most(lin.linear(o.unmet[town_district == d].tolist(), [lam[i] for i in np.flatnonzero(town_district == d)]),
                        float(today[d])) for d in range(len(today))])
    for a in starts[:-1]:            # start from every grid vacant (within any limit)
        lam[a].set_value(1.0, skip_validation=True)
    if options.objective == "maxmin" and data is not None:
        # max ρ s.t. Σ_k (1 − U_tk/W_t) λ_tk ≥ ρ ∀t (town_coverage_at_least_level): the level search of the
        # solving layer, as one model, when (9) couples the towns of a district
        work = data.town_workload[o.town]
        ratio = 1.0 - np.divide(o.unmet, work, out=np.zeros_like(o.unmet), where=work > 0)
        m.coverage_level = pyo.Var(bounds=(0.0, 1.0), initialize=0.0)
        m.town_coverage_at_least_level = lin.rows(m.TOWNS, [
            lin.at_least(lin.linear(ratio[a:b].tolist() + [-1.0], lam[a:b] + [m.coverage_level]), 0.0)
            for a, b in zip(starts, starts[1:])])
        m.highest_level = pyo.Objective(expr=m.coverage_level, sense=pyo.maximize)
        return m
    m.least_unmet_hours = pyo.Objective(expr=lin.linear(o.unmet.tolist(), lam), sense=pyo.minimize)
    return m


def chosen_options(m: pyo.ConcreteModel, options_table: StaffingOptions) -> np.ndarray:
    """Index of the option each town takes in the solver's answer."""
    values = np.fromiter((v.value if v.value is not None else 0.0 for v in m.town_staffs.values()), float)
    n_towns = int(options_table.town.max()) + 1
    best = np.full(n_towns, -1)
    score = np.full(n_towns, -np.inf)
    for i in np.flatnonzero(values > 0.5):
        t = options_table.town[i]
        if values[i] > score[t]:
            best[t], score[t] = i, values[i]
    first = np.flatnonzero(np.r_[True, options_table.town[1:] != options_table.town[:-1]])
    return np.where(best >= 0, best, first)


def level_options(options_table: StaffingOptions, town_workload: np.ndarray, level: float) -> np.ndarray:
    """Per town, the cheapest option whose coverage 1 − U_tk/W_t reaches `level` (the last option if none)."""
    o = options_table
    ratio = 1.0 - np.divide(o.unmet, town_workload[o.town], out=np.zeros_like(o.unmet), where=town_workload[o.town] > 0)
    reach = ratio >= level - 1e-12
    n_towns = len(town_workload)
    last = np.r_[np.flatnonzero(o.town[1:] != o.town[:-1]), len(o.town) - 1]
    candidates = np.where(reach, np.arange(len(o.town)), len(o.town))
    first_reach = np.minimum.reduceat(candidates, np.r_[0, last[:-1] + 1])
    return np.where(first_reach < len(o.town), first_reach, last)[:n_towns]
