"""The three blocks of the city budget model (models.city).

The enforcement and facilities blocks are their families' own Pyomo models, attached to the
city model as sub-blocks with their objectives switched off; the grid block is built here
from `models.grid`'s data, rules and reductions. Each exposes per district d (and, for
enforcement, per town t) the linear expressions the city model needs: spend (10k CNY/yr)
and coverage level. Every level is exact — a function of the plan's decisions, which the
plan tables repeat — so an objective that rewards equal levels cannot pretend service away.

Grid workers (the staffing rules, workloads and reductions of `models.grid`: grids one
full-time worker covers, and towns whose required professionals cover every grid's excess,
are constants F_d). For the other grids and towns, with whole x_g ≥ 1, 0 ≤ z_g ≤ z_max,
y_t ≥ ⌈|G_t|/m_pro⌉ and binaries δ_g, γ_t, unmet hours are held EXACT — no plan can claim
work undone that its staff would do (which an objective that rewards equal levels would
otherwise exploit):

    d_g = (W_g − H_full x_g − H_part z_g)⁺      deficit_at_least_gap, deficit_at_most_gap_when_short,
                                                 deficit_zero_unless_short (big-M with δ_g)
    U_t = (Σ_{g∈t} d_g − H_pro y_t)⁺            unmet_at_least_gap, unmet_at_most_gap_when_short,
                                                 unmet_zero_unless_short (big-M with γ_t)
    spend^G_d = F_d + Σ_{t∈d} (c_full Σ x_g + c_part Σ z_g + c_pro y_t) + c_full p^full_d + c_part p^part_d
    G_d       = 1 − Σ_{t∈d} U_t / W_d

The plan shares a town's professional hours in proportion to its grids' deficits, which
leaves exactly U_t undone; idle staff a plan pays for are kept in it.

Grid workers employed today are kept (models.grid (8), unless release is allowed): per district
Σ_{g∈d} x_g + p^full_d ≥ Σ_{g∈d} x0_g and Σ_{g∈d} z_g + p^part_d ≥ Σ_{g∈d} z0_g, the pools p_d whole
and paid in spend^G_d (c_full p^full_d + c_part p^part_d); a plan's pools are the workers its posts
leave without one (or, where idle staff are choices — Hoover — what the plan chose, at most today's).

Enforcement (`models.enforcement`, objective `shortfall`: its posting range, headcount and
move limit, pool shares Σ_{t∈d} q_t ≤ r_d), plus one row that keeps the level exact:

    s_t + q_t ≤ max(D_t, s_min) = K_t        ∀ t   town_counted_at_most_standard
    ρ_t       = (s_t + q_t) / D_t                     (town level)
    E_d       = Σ_{t∈d} (s_t + q_t) / Σ_{t∈d} D_t     (district level)
    spend^E_d = c_enf · (Σ_{t∈d} s_t + r_d)

Without the row, officers above a town's standard would count as service; with it a town's
ratio exceeds 1 only where the minimum team alone exceeds the standard.

Nobody is dismissed (models.enforcement (4')), so a town staffed above K_t today
(s0_t > K_t, OVERSTAFFED) may keep its officers in place; they are employed but not counted.
There the row above becomes exact counting c_t = min(s_t + q_t, K_t) with a binary f_t
(the town is full and keeps officers above its standard):

    c_t ≤ s_t + q_t,  c_t ≤ K_t,  c_t ≥ K_t·f_t,  c_t ≥ s_t + q_t − max(ŝ_t − K_t, 1)·f_t,
    q_t ≤ K_t·(1 − f_t)                       ∀ t ∈ OVERSTAFFED    town_counted_exactly
    (ŝ_t the upper bound of s_t, ≥ s0_t: any big-M from ŝ_t − K_t on gives the same plans, and one
    of at least 1 officer keeps HiGHS from a coefficient near 0), and ρ_t = c_t / D_t,
    E_d = Σ_{t∈d} c_t / Σ_{t∈d} D_t.

Every pool officer is counted somewhere: Σ_{t∈d} q_t ≥ r_d (pool_fully_shared), so a plan
cannot hold idle officers in a pool (an equity objective would otherwise buy equality with
them); a plan's levels are a function of its decisions: c_t = min(s_t + q_t, K_t).

Facilities (`models.facilities`' maximal covering block, every service side by side):
existing sites stay open and their running cost is NOT part of the city budget; a new site
costs c_j = open_cost + annual_cost (its first year). The reductions R1–R3 and R5 of
`models.location.common` are applied; R4 (drop a site another site dominates) is not: it
would move spend between districts, whose budgets are separate rows here. Coverage is held
exact, so that no plan can claim less coverage than its open sites give:

    v_ℓ ≥ y_j   ∀ j ∈ S_ℓ,   v_ℓ ≥ v_prev(ℓ)           level_reached_when_site_open
    spend^F_d = Σ_{j∈d new} c_j y_j
    F_d       = Σ_{i∈d,s} q_is z_is / Σ_{i∈d,s} q_is    (`coverage_expressions`)

Scale (what HiGHS reads; the plans are those of the rows above). The grid block counts hours in
worker-years, units of H_full hours (the effective year of one full-time worker): W_g, d_g, U_t
are hours / H_full, so x_g has coefficient 1, z_g H_part/H_full and y_t H_pro/H_full, and the
level is G_d = 1 − Σ_{t∈d} U_t / W_d in the same unit. Its big-Ms are the least that hold the
rows, M_g = H_full x_max + H_part z_max − W_g, W_g − H_full and H_pro y_max, each at least one
worker-year (a larger big-M gives the same plans), and the rows that carry them are multiplied
by the power of 2 that centres their coefficients on 1 (`models.linear.centred`, exact in
floating point). In worker-years a row's coefficients span at most a town's excess workload over
one worker-year (W_g/H_full − 1 summed over its grids), not its hours.

    symbol         attribute                                   meaning
    x_g, z_g, y_t  grid.fulltime_workers[g], .parttime_helpers[g], .professionals[t]
    d_g, U_t       grid.deficit_worker_years[g], .town_unmet_worker_years[t]
                                                               work short before / after professionals,
                                                               in worker-years (hours / H_full)
    δ_g, γ_t       grid.grid_short[g], .town_short[t]
    s_t, r_d, q_t  enforcement.posted_staff[t], .pool_staff[d], .pool_share[t]
    y_j, v_ℓ       facilities.site_open[j], .level_reached[ℓ]
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from allocator.data.instance import Instance

from . import enforcement as enf
from . import grid as grd
from . import grid_plan
from .facilities import CoverageModel, FacilitiesOptions, cover_inputs, coverage_expressions
from .facilities_data import ServiceData, services_data
from .facilities_tables import plan_tables as facilities_tables
from .linear import centred, linear
from .location.common import Limits, reduce_cover
from .location.covering import PreparedCover, build_coverage_model, flatten_cover
from .requirements import Family

EPS = 1e-9


def district_ids(city: Instance) -> list[str]:
    return [str(d) for d in city.districts.index]


# --- grid workers ----------------------------------------------------------------------------

@dataclass(eq=False)
class GridBlock:
    """Grid staffing of the whole city with exact unmet hours (see the module docstring)."""

    data: grd.GridData
    model: pyo.ConcreteModel
    fixed_spend: pd.Series          # F_d, 10k CNY/yr
    workload: pd.Series             # W_d, hours/yr
    towns_in: dict                  # district → its modelled towns

    @classmethod
    def build(cls, city: Instance, every_grid: bool = False, keep_today: bool = True) -> "GridBlock":
        """With `every_grid`, no reduction: every grid and town is modelled (F_d = 0), so that each
        grid's x_g ≥ 1 is a bound of the model (infeasibility explained grid by grid). With `keep_today`,
        today's grid workers stay posted or in their district's pool (models.grid (8))."""
        data = grd.grid_data(city, keep_today=keep_today)
        if every_grid:
            data = replace(data, reduced=False)
        model = _grid_model(data)
        towns_in: dict[str, list[str]] = {}
        for t in np.flatnonzero(data.modelled_towns):
            towns_in.setdefault(str(data.town_district[t]), []).append(str(data.town_ids[t]))
        grid_district = data.town_district[data.grid_town]
        fixed = (pd.Series(data.salary["fulltime"] * ~data.modelled_grids, index=grid_district).groupby(level=0).sum()
                 .add(pd.Series(data.salary["professional"] * data.professionals_min * ~data.modelled_towns,
                                index=data.town_district).groupby(level=0).sum(), fill_value=0.0))
        ids = district_ids(city)
        workload = pd.Series(data.workload, index=grid_district).groupby(level=0).sum()
        _add_idle_staff(model, ids)
        grd.add_today_kept(model, data, whole=True)
        return cls(data, model, fixed.reindex(ids).fillna(0.0), workload.reindex(ids).fillna(0.0), towns_in)

    def _towns_of(self, d: str) -> list[str]:
        return self.towns_in.get(d, [])

    def spend(self, d: str):
        m = self.model
        idle = (m.salary_fulltime_10k_cny * m.idle_fulltime[d] + m.salary_parttime_10k_cny * m.idle_parttime[d]
                + m.salary_professional_10k_cny * m.idle_professionals[d])
        if d in getattr(m, "KEPT_FULLTIME_DISTRICTS", ()):     # today's grid workers in the pool (models.grid (8))
            idle += m.salary_fulltime_10k_cny * m.pooled_fulltime[d]
        if d in getattr(m, "KEPT_PARTTIME_DISTRICTS", ()):
            idle += m.salary_parttime_10k_cny * m.pooled_parttime[d]
        return float(self.fixed_spend[d]) + pyo.quicksum(m.town_spend_10k_cny[t] for t in self._towns_of(d)) + idle

    def employed(self, d: str) -> dict:
        """Grid staff district d employs, by kind (models.roadmap carries them from year to year):
        full-time workers Σ_{g∈d} x_g + p^full_d + i_d (settled grids: one each), part-time helpers
        Σ_{g∈d} z_g + p^part_d + h_d, professionals Σ_{t∈d} y_t + e_d (settled towns: y_min_t)."""
        m, data = self.model, self.data
        in_d = data.town_district[data.grid_town] == d
        towns_d = data.town_district == d
        grids = data.grid_ids[in_d & data.modelled_grids].tolist()
        towns = data.town_ids[towns_d & data.modelled_towns].tolist()
        full = float((in_d & ~data.modelled_grids).sum()) + pyo.quicksum(m.fulltime_workers[g] for g in grids) + m.idle_fulltime[d]
        part = pyo.quicksum(m.parttime_helpers[g] for g in grids) + m.idle_parttime[d]
        if d in getattr(m, "KEPT_FULLTIME_DISTRICTS", ()):
            full += m.pooled_fulltime[d]
        if d in getattr(m, "KEPT_PARTTIME_DISTRICTS", ()):
            part += m.pooled_parttime[d]
        pros = (float(data.professionals_min[towns_d & ~data.modelled_towns].sum())
                + pyo.quicksum(m.professionals[t] for t in towns) + m.idle_professionals[d])
        return {"fulltime": full, "parttime": part, "professional": pros}

    def release_spend(self, budget: float) -> None:
        """Let the plan pay for staff with nothing to do (idle staff, see `_add_idle_staff`): the spend
        the reductions settle is then any spend a plan of every grid could have. For objectives and
        bounds that score spend (Hoover); `budget` bounds how many a plan can pay."""
        m, data = self.model, self.data
        if not m.idle_fulltime[next(iter(m.IDLE_DISTRICTS))].fixed:
            return
        district = data.town_district[data.grid_town]
        settled_grids = pd.Series(~data.modelled_grids, index=district).groupby(level=0).sum()
        settled_towns = pd.Series(~data.modelled_towns, index=data.town_district).groupby(level=0).sum()
        s = data.salary
        most = {k: float(math.floor(budget / s[k]) + 1) if math.isfinite(budget) else 1e6 for k in s}
        covered_grids, covered_towns = {}, {}
        for d in m.IDLE_DISTRICTS:
            for v in (m.idle_fulltime[d], m.idle_parttime[d], m.idle_professionals[d]):
                v.unfix()
            room = int(settled_grids.get(d, 0))
            m.idle_parttime[d].setub(data.parttime_max * room)
            if room == 0:
                covered_grids[d] = [str(data.grid_ids[g]) for g in np.flatnonzero(data.modelled_grids & (district == d))]
            if int(settled_towns.get(d, 0)) == 0:
                covered_towns[d] = self._towns_of(d)
        _add_idle_links(m, covered_grids, covered_towns, most)

    def _idle(self, name: str) -> dict:
        """The solved number of idle staff of kind `name` per district (0 while fixed)."""
        return {d: int(round(v.value or 0.0)) for d, v in getattr(self.model, name).items()}

    def level(self, d: str):
        w = float(self.workload[d])
        if w <= 0:
            return 1.0
        unit = self.data.hours["fulltime"]
        return 1.0 - pyo.quicksum(self.model.town_unmet_worker_years[t] for t in self._towns_of(d)) / (w / unit)

    def staffing(self) -> grid_plan.GridStaffing:
        """The plan exactly as decided (idle staff are kept: they are paid for in the model's spend)."""
        m, data = self.model, self.data
        x, z = np.ones(len(data.grid_ids)), np.zeros(len(data.grid_ids))
        y = data.professionals_min.astype(float)
        grids, towns = data.modelled_grids, data.modelled_towns
        x[grids] = [v.value for v in m.fulltime_workers.values()]
        z[grids] = [v.value for v in m.parttime_helpers.values()]
        y[towns] = [v.value for v in m.professionals.values()]
        x, z, y = np.rint(x).astype(int), np.rint(z).astype(int), np.rint(y).astype(int)
        self._place_idle(x, z, y)
        pooled = None
        if hasattr(m, "pooled_fulltime") and not m.idle_fulltime[next(iter(m.IDLE_DISTRICTS))].fixed:
            pooled = tuple(np.array([int(round(var[str(d)].value or 0.0)) if str(d) in var else 0 for d in data.district_ids])
                           for var in (m.pooled_fulltime, m.pooled_parttime))   # spend a Hoover plan chose (idle staff)
        return grid_plan.staffing_as_decided(data, x, z, y, pooled)

    def _place_idle(self, x: np.ndarray, z: np.ndarray, y: np.ndarray) -> None:
        """Idle staff into grids and towns where they have nothing to do: a settled grid or town, else a
        grid its full-time workers cover alone (x_g at its cap) or a town its professionals cover (y_t at
        its cap), as `_add_idle_links` allows."""
        data, m = self.data, self.model
        district = data.town_district[data.grid_town]
        cap_x, cap_y = data.fulltime_max, np.full(len(data.town_ids), np.iinfo(np.int64).max)
        cap_y[np.flatnonzero(data.modelled_towns)] = [int(v.ub) for v in m.professionals.values()]
        fulltime, parttime, pros = self._idle("idle_fulltime"), self._idle("idle_parttime"), self._idle("idle_professionals")
        for d in fulltime:
            grids = np.flatnonzero(district == d)
            settled = grids[~data.modelled_grids[grids]]
            if fulltime[d]:
                home = settled if len(settled) else grids[x[grids] >= cap_x[grids]]
                if not len(home):
                    raise ValueError(f"idle full-time workers in district {d} have no covered grid to go to")
                x[home[0]] += fulltime[d]
            left = parttime[d]
            for g in settled:
                put = min(left, data.parttime_max - z[g])
                z[g] += put
                left -= put
            if left:
                raise ValueError(f"idle part-time helpers in district {d} exceed the settled grids' room")
            if pros[d]:
                towns = np.flatnonzero(data.town_district == d)
                home = towns[~data.modelled_towns[towns]]
                home = home if len(home) else towns[y[towns] >= cap_y[towns]]
                if not len(home):
                    raise ValueError(f"idle professionals in district {d} have no covered town to go to")
                y[home[0]] += pros[d]

    def tables(self, city: Instance) -> dict[str, pd.DataFrame]:
        return grid_plan.plan_tables(city, self.data, self.staffing())


# The grid block's words for the planner (infeasibility explanations): its bounds x_g ≥ 1 and
# y_t ≥ y_min are models.grid's requirements; the rows built below only define quantities.
GRID_REQUIREMENTS: dict[str, Family] = {
    key: grd.REQUIREMENTS[key] for key in ("fulltime_workers.lower", "professionals.lower")}
GRID_DEFINITIONS: frozenset[str] = frozenset({
    "deficit_at_least_gap", "deficit_at_most_gap_when_short", "deficit_zero_unless_short",   # _add_grid_deficits
    "unmet_at_least_gap", "unmet_at_most_gap_when_short", "unmet_zero_unless_short",         # _add_town_unmet
    "town_spend_is_salaries",                                                                # _add_town_spend
    "fulltime_at_cap_when_marked", "professionals_at_cap_when_marked",                       # _add_idle_links
    "idle_fulltime_in_covered_grids", "idle_professionals_in_covered_towns",
})
GRID_REQUIREMENTS.update({key: grd.REQUIREMENTS[key] for key in ("fulltime_of_today_kept", "parttime_of_today_kept")})


def _add_idle_staff(m, ids: list[str]) -> None:
    """Idle staff per district d: full-time workers i_d, part-time helpers h_d and professionals e_d a plan
    pays for though they have nothing to do, fixed at 0 until `GridBlock.release_spend`.

    The reductions settle the staff of grids one full-time worker covers and of towns whose required
    professionals cover every grid, and cap x_g ≤ ⌈W_g/H_full⌉ and y_t ≤ y_max: staff beyond them change
    no hours a plan leaves undone, only its spend. For a measure of levels that is exact; Hoover's index
    scores spend, and a plan of every grid could pay such staff. Released, idle staff restore that
    spend, each where it has nothing to do:
        full-time workers  in a settled grid of d, or in a modelled grid whose cap is reached
        part-time helpers  in the settled grids of d, h_d ≤ z_max · (settled grids of d)
        professionals      in a settled town of d, or in a modelled town whose cap is reached
    so every spend a plan of every grid can have (with the same hours undone) is a plan here, and back."""
    m.IDLE_DISTRICTS = pyo.Set(initialize=ids, ordered=True)
    m.idle_fulltime = pyo.Var(m.IDLE_DISTRICTS, within=pyo.NonNegativeIntegers)
    m.idle_parttime = pyo.Var(m.IDLE_DISTRICTS, within=pyo.NonNegativeIntegers)
    m.idle_professionals = pyo.Var(m.IDLE_DISTRICTS, within=pyo.NonNegativeIntegers)
    for var in (m.idle_fulltime, m.idle_parttime, m.idle_professionals):
        for v in var.values():
            v.fix(0)


def _add_idle_links(m, covered_grids: dict, covered_towns: dict, most: dict) -> None:
    """Where district d has no settled grid (town), idle full-time workers (professionals) need a modelled
    grid (town) at its cap: binaries c_g (k_t) with x_g ≥ 1 + (x_max − 1) c_g, i_d ≤ N_full Σ c_g
    (y_t ≥ y_min + (y_max − y_min) k_t, e_d ≤ N_pro Σ k_t); N the most staff the budget pays."""
    grids = [g for gs in covered_grids.values() for g in gs]
    towns = [t for ts in covered_towns.values() for t in ts]
    m.IDLE_GRID_DISTRICTS = pyo.Set(initialize=list(covered_grids), ordered=True)
    m.IDLE_TOWN_DISTRICTS = pyo.Set(initialize=list(covered_towns), ordered=True)
    m.grid_at_cap = pyo.Var(grids, within=pyo.Binary)
    m.town_at_cap = pyo.Var(towns, within=pyo.Binary)

    @m.Constraint(grids)
    def fulltime_at_cap_when_marked(m, g):
        """x_g ≥ 1 + (x_max − 1) c_g"""
        x = m.fulltime_workers[g]
        return x >= 1 + (x.ub - 1) * m.grid_at_cap[g]

    @m.Constraint(towns)
    def professionals_at_cap_when_marked(m, t):
        """y_t ≥ y_min + (y_max − y_min) k_t"""
        y = m.professionals[t]
        return y >= y.lb + (y.ub - y.lb) * m.town_at_cap[t]

    @m.Constraint(m.IDLE_GRID_DISTRICTS)
    def idle_fulltime_in_covered_grids(m, d):
        """i_d ≤ N_full Σ_{g∈d} c_g"""
        return m.idle_fulltime[d] <= most["fulltime"] * pyo.quicksum(m.grid_at_cap[g] for g in covered_grids[d])

    @m.Constraint(m.IDLE_TOWN_DISTRICTS)
    def idle_professionals_in_covered_towns(m, d):
        """e_d ≤ N_pro Σ_{t∈d} k_t"""
        return m.idle_professionals[d] <= most["professional"] * pyo.quicksum(m.town_at_cap[t] for t in covered_towns[d])


def _grid_model(data: grd.GridData) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel("grid")
    _add_grid_sets(m, data)
    _add_grid_staff(m, data)
    _add_grid_deficits(m)
    _add_town_unmet(m)
    _add_town_spend(m)
    return m


def _add_grid_sets(m, data: grd.GridData) -> None:
    """Sets, and the block's figures in worker-years (hours / H_full; see the module docstring)."""
    grids, towns = np.flatnonzero(data.modelled_grids), np.flatnonzero(data.modelled_towns)
    h = data.hours
    unit = h["fulltime"]
    m.GRIDS = pyo.Set(initialize=data.grid_ids[grids].tolist(), ordered=True)
    m.TOWNS = pyo.Set(initialize=data.town_ids[towns].tolist(), ordered=True)
    members = {data.town_ids[t]: [] for t in towns}
    for g in grids:
        members[data.town_ids[data.grid_town[g]]].append(data.grid_ids[g])
    m.GRIDS_OF_TOWN = pyo.Set(m.TOWNS, initialize=members, ordered=True)
    workload = data.workload[grids] / unit
    m.workload_worker_years = pyo.Param(m.GRIDS, initialize=dict(zip(data.grid_ids[grids], workload)))
    m.largest_deficit_worker_years = pyo.Param(m.GRIDS, initialize=dict(zip(data.grid_ids[grids], np.maximum(workload - 1.0, 1.0))))
    x_max, z_max = data.fulltime_max[grids], data.parttime_max
    m.largest_surplus_worker_years = pyo.Param(m.GRIDS, initialize=dict(zip(
        data.grid_ids[grids], np.maximum(x_max + h["parttime"] / unit * z_max - workload, 1.0))))
    for kind in ("parttime", "professional"):
        setattr(m, f"worker_years_per_{kind}", pyo.Param(initialize=h[kind] / unit))
    for kind in ("fulltime", "parttime", "professional"):
        setattr(m, f"salary_{kind}_10k_cny", pyo.Param(initialize=data.salary[kind]))


def _add_grid_staff(m, data: grd.GridData) -> None:
    """x_g ∈ [1, ⌈W_g/H_full⌉], z_g ∈ [0, z_max], y_t ∈ [y_min_t, ⌈Σ_g (W_g − H_full)/H_pro⌉] (whole numbers)."""
    grids, towns = data.modelled_grids, data.modelled_towns
    x_max = dict(zip(data.grid_ids[grids], data.fulltime_max[grids].tolist()))
    excess = np.bincount(data.grid_town[grids], weights=data.workload[grids] - data.hours["fulltime"], minlength=len(data.town_ids))
    y_min = data.professionals_min[towns]
    y_max = np.maximum(y_min, np.ceil(excess[towns] / data.hours["professional"] - 1e-9)).astype(int)
    y_bounds = dict(zip(data.town_ids[towns], zip(y_min.tolist(), y_max.tolist())))
    m.fulltime_workers = pyo.Var(m.GRIDS, domain=pyo.Integers, bounds=lambda m, g: (1, x_max[g]), initialize=1)
    m.parttime_helpers = pyo.Var(m.GRIDS, domain=pyo.Integers, bounds=(0, data.parttime_max), initialize=0)
    m.professionals = pyo.Var(m.TOWNS, domain=pyo.Integers, bounds=lambda m, t: y_bounds[t])
    pro = data.hours["professional"] / data.hours["fulltime"]
    m.largest_pro_surplus_worker_years = pyo.Param(m.TOWNS, initialize={t: max(pro * b[1], 1.0) for t, b in y_bounds.items()})


def _add_grid_deficits(m) -> None:
    """d_g = (W_g − H_full x_g − H_part z_g)⁺ exactly, with δ_g = 1 when the grid's own staff fall short."""
    m.deficit_worker_years = pyo.Var(m.GRIDS, within=pyo.NonNegativeReals)
    m.grid_short = pyo.Var(m.GRIDS, within=pyo.Binary)

    def gap(m, g):
        return m.workload_worker_years[g] - m.fulltime_workers[g] - m.worker_years_per_parttime * m.parttime_helpers[g]

    @m.Constraint(m.GRIDS)
    def deficit_at_least_gap(m, g):
        """d_g ≥ W_g − H_full x_g − H_part z_g"""
        return m.deficit_worker_years[g] >= gap(m, g)

    @m.Constraint(m.GRIDS)
    def deficit_at_most_gap_when_short(m, g):
        """d_g ≤ W_g − H_full x_g − H_part z_g + M_g (1 − δ_g)"""
        return centred(m.deficit_worker_years[g] <= gap(m, g) + m.largest_surplus_worker_years[g] * (1 - m.grid_short[g]))

    @m.Constraint(m.GRIDS)
    def deficit_zero_unless_short(m, g):
        """d_g ≤ (W_g − H_full) δ_g"""
        return centred(m.deficit_worker_years[g] <= m.largest_deficit_worker_years[g] * m.grid_short[g])


def _add_town_unmet(m) -> None:
    """U_t = (Σ_{g∈t} d_g − H_pro y_t)⁺ exactly, with γ_t = 1 when the professionals fall short."""
    m.town_unmet_worker_years = pyo.Var(m.TOWNS, within=pyo.NonNegativeReals)
    m.town_short = pyo.Var(m.TOWNS, within=pyo.Binary)

    def gap(m, t):
        return pyo.quicksum(m.deficit_worker_years[g] for g in m.GRIDS_OF_TOWN[t]) - m.worker_years_per_professional * m.professionals[t]

    @m.Constraint(m.TOWNS)
    def unmet_at_least_gap(m, t):
        """U_t ≥ Σ_{g∈t} d_g − H_pro y_t"""
        return m.town_unmet_worker_years[t] >= gap(m, t)

    @m.Constraint(m.TOWNS)
    def unmet_at_most_gap_when_short(m, t):
        """U_t ≤ Σ_{g∈t} d_g − H_pro y_t + H_pro y_max (1 − γ_t)"""
        return centred(m.town_unmet_worker_years[t] <= gap(m, t) + m.largest_pro_surplus_worker_years[t] * (1 - m.town_short[t]))

    @m.Constraint(m.TOWNS)
    def unmet_zero_unless_short(m, t):
        """U_t ≤ Σ_{g∈t} (W_g − H_full) γ_t"""
        return centred(m.town_unmet_worker_years[t] <= sum(m.largest_deficit_worker_years[g] for g in m.GRIDS_OF_TOWN[t]) * m.town_short[t])


def _add_town_spend(m) -> None:
    m.town_spend_10k_cny = pyo.Var(m.TOWNS, within=pyo.NonNegativeReals)

    @m.Constraint(m.TOWNS)
    def town_spend_is_salaries(m, t):
        """s_t = c_full Σ x_g + c_part Σ z_g + c_pro y_t"""
        grids = m.GRIDS_OF_TOWN[t]
        return m.town_spend_10k_cny[t] == (m.salary_fulltime_10k_cny * pyo.quicksum(m.fulltime_workers[g] for g in grids)
                                           + m.salary_parttime_10k_cny * pyo.quicksum(m.parttime_helpers[g] for g in grids)
                                           + m.salary_professional_10k_cny * m.professionals[t])


# --- enforcement -----------------------------------------------------------------------------

@dataclass(eq=False)
class EnforcementBlock:
    """Enforcement staffing (models.enforcement) with exact coverage levels."""

    options: enf.EnforcementOptions
    model: pyo.ConcreteModel
    demand: pd.Series               # D_t by town
    cap: pd.Series                  # max(D_t, s_min) by town
    town_district: pd.Series

    @classmethod
    def build(cls, city: Instance, options: enf.EnforcementOptions) -> "EnforcementBlock":
        """`options`: models.enforcement's, objective `shortfall` without its tie-break (the solving
        layer reads them from the planner's headcount and move limit)."""
        model = enf.build_model(city, options)
        for objective in model.component_objects(pyo.Objective):
            objective.deactivate()
        demand = enf.demand_officers(city)
        demand.index = demand.index.astype(str)
        cap = np.maximum(demand, float(options.min_team))
        _add_town_cap(model, cap)
        _add_pool_fully_shared(model)
        town_district = pd.Series(city.towns["district_id"].astype(str).to_numpy(), index=demand.index)
        return cls(options, model, demand, cap, town_district)

    def counted(self, t: str):
        """Officers counted in town t: c_t where the town may keep officers above its standard, else s_t + q_t."""
        m = self.model
        if t in m.OVERSTAFFED:
            return m.counted_staff[t]
        return m.posted_staff[t] + m.pool_share[t]

    def town_level(self, t: str):
        return self.counted(t) / float(self.demand[t])

    def district_level(self, d: str):
        m = self.model
        towns = list(m.TOWNS_IN[d])
        return pyo.quicksum(self.counted(t) for t in towns) / float(self.demand[towns].sum())

    def officers(self, d: str):
        m = self.model
        return pyo.quicksum(m.posted_staff[t] for t in m.TOWNS_IN[d]) + m.pool_staff[d]

    def spend(self, d: str):
        return self.options.salary_10k_cny * self.officers(d)

    def level_cap(self, by: str) -> float:
        """The highest level a town (or district) can reach: its cap over its standard."""
        if by == "town":
            return float((self.cap / self.demand).max())
        return float((self.cap.groupby(self.town_district).sum() / self.demand.groupby(self.town_district).sum()).max())

    def tables(self, city: Instance) -> dict[str, pd.DataFrame]:
        """Plan tables with the model's own pool shares (cleaned of solver noise) and ratios."""
        m = self.model
        tables = enf.extract(m, city, self.options)
        towns = tables["town_staff"]
        staff = towns["enforcement_staff"].to_numpy(float)
        share = np.array([max(0.0, m.pool_share[t].value or 0.0) for t in towns["town_id"]])
        share = np.minimum(share, np.maximum(self.cap.reindex(towns["town_id"]).to_numpy() - staff, 0.0))
        pools = tables["district_pool"].set_index("district_id")["pool_staff"].astype(float)
        district = towns["district_id"].astype(str).to_numpy()
        used = pd.Series(share).groupby(district).sum()
        room = pools.reindex(used.index).to_numpy()
        scale = pd.Series(np.where(used.to_numpy() > room, room / np.maximum(used.to_numpy(), EPS), 1.0), index=used.index)
        share = share * scale.reindex(district).to_numpy()
        towns["pool_share"] = share
        towns["coverage_ratio"] = (staff + share) / towns["enforcement_demand"].to_numpy(float)
        tables["districts"] = enforcement_districts(city, towns, pools, self.options.salary_10k_cny)
        return tables


def enforcement_districts(city: Instance, towns: pd.DataFrame, pools: pd.Series, salary: float) -> pd.DataFrame:
    """districts.csv of an enforcement plan (the columns the enforcement plan checker recomputes)."""
    ids = district_ids(city)
    by = towns.groupby(towns["district_id"].astype(str))
    posted = by["enforcement_staff"].sum().reindex(ids).fillna(0).astype(int)
    pool = pools.reindex(ids).fillna(0).astype(int)
    return pd.DataFrame({"district_id": ids, "name": city.districts["name"].astype(str).to_numpy(),
                         "spend": salary * (posted + pool).to_numpy(), "enforcement_staff": posted.to_numpy(),
                         "pool_staff": pool.to_numpy(), "mean_coverage": by["coverage_ratio"].mean().reindex(ids).to_numpy(),
                         "min_coverage": by["coverage_ratio"].min().reindex(ids).to_numpy()})


# The enforcement block's words for the planner (infeasibility explanations): models.enforcement's
# `shortfall` model without a budget row, its headcount and move limit named as what they pay
# for only when minimum teams sit at their bound; its rows and the town cap define quantities.
ENFORCEMENT_REQUIREMENTS: dict[str, Family] = {
    "headcount_not_exceeded": replace(enf.REQUIREMENTS["headcount_not_exceeded"], held_from=("posted_staff.lower",)),
    "moves_within_limit": replace(enf.REQUIREMENTS["moves_within_limit"], held_from=("posted_staff.lower",)),
    "officers_of_today_kept": enf.REQUIREMENTS["officers_of_today_kept"],
    "posted_staff.lower": enf.REQUIREMENTS["posted_staff.lower"],
}
ENFORCEMENT_DEFINITIONS: frozenset[str] = frozenset({
    "posted_staff_is_today_plus_moves", "pool_shares_within_pool", "shortfall_covers_gap",   # models.enforcement
    "town_counted_at_most_standard", "town_counted_exactly",                                 # _add_town_cap
    "pool_fully_shared",                                                                     # _add_pool_fully_shared
})


def _add_town_cap(m, cap: pd.Series) -> None:
    over = [t for t in m.TOWNS if pyo.value(m.staff_today[t]) > cap[t] + EPS]
    m.OVERSTAFFED = pyo.Set(initialize=over, ordered=True)

    @m.Constraint(m.TOWNS)
    def town_counted_at_most_standard(m, t):
        """s_t + q_t ≤ max(D_t, s_min)  (towns not OVERSTAFFED)"""
        if t in m.OVERSTAFFED:
            return pyo.Constraint.Skip
        return m.posted_staff[t] + m.pool_share[t] <= float(cap[t])

    m.counted_staff = pyo.Var(m.OVERSTAFFED, bounds=lambda m, t: (0.0, float(cap[t])))
    m.keeps_above_standard = pyo.Var(m.OVERSTAFFED, within=pyo.Binary)
    rows = {}
    for t in m.OVERSTAFFED:
        c, f, s, q, k = m.counted_staff[t], m.keeps_above_standard[t], m.posted_staff[t], m.pool_share[t], float(cap[t])
        top = float(s.ub if s.ub is not None else pyo.value(m.staff_today[t]))
        rows[t, "within_posted"] = c <= s + q
        rows[t, "full"] = c >= k * f
        rows[t, "all_unless_full"] = c >= s + q - max(top - k, 1.0) * f      # any M ≥ ŝ_t − K_t holds it; ≥ 1 keeps it far from 0
        rows[t, "no_pool_when_full"] = q <= k * (1 - f)
    m.town_counted_exactly = pyo.Constraint(list(rows), rule=lambda m, t, r: rows[t, r])


def _add_pool_fully_shared(m) -> None:
    @m.Constraint(m.DISTRICTS)
    def pool_fully_shared(m, d):
        """Σ_{t∈d} q_t ≥ r_d: every pool officer is counted in some town"""
        return pyo.quicksum(m.pool_share[t] for t in m.TOWNS_IN[d]) >= m.pool_staff[d]


def counted_officers(towns: pd.DataFrame, min_team: float) -> np.ndarray:
    """c_t = min(s_t + q_t, max(D_t, s_min)) from a town table: the officers a town's level counts."""
    cap = np.maximum(towns["enforcement_demand"].to_numpy(float), float(min_team))
    return np.minimum(towns["enforcement_staff"].to_numpy(float) + towns["pool_share"].fillna(0.0).to_numpy(float), cap)


# --- facilities ------------------------------------------------------------------------------

@dataclass(eq=False)
class FacilitiesBlock:
    """Maximal covering of every service, new sites paid by their district."""

    options: FacilitiesOptions
    cover: CoverageModel
    site_district: np.ndarray       # district of every model site
    levels: dict                    # district → F_d expression (districts with demand)
    idle: pd.DataFrame              # new sites the reductions left out: block, site (original index), cost, district

    @classmethod
    def build(cls, city: Instance, options: FacilitiesOptions) -> "FacilitiesBlock":
        """`options`: models.facilities', objective `mclp` with no budget or p of its own (the solving
        layer reads the services from the planner's options)."""
        data = services_data(city, options.services)
        prepared = prepare_cover(cover_inputs(data, options))
        model = build_coverage_model(prepared.flat["sites"], prepared.flat["coverage"], Limits(math.inf, None))
        for objective in model.component_objects(pyo.Objective):
            objective.deactivate()
        _add_exact_levels(model, prepared.flat)
        cover = CoverageModel(city, data, prepared, model)
        idle = _add_idle_sites(model, city, data, prepared)
        return cls(options, cover, _site_districts(city, data, prepared), coverage_expressions(cover, "district"), idle)

    @property
    def model(self) -> pyo.ConcreteModel:
        return self.cover.model

    def spend(self, d: str):
        cost = self.cover.prepared.flat["sites"].cost
        js = np.flatnonzero((self.site_district == d) & (cost != 0)).tolist()
        ks = np.flatnonzero(self.idle["district"].to_numpy(str) == d).tolist()
        if not js and not ks:
            return 0.0
        return linear(cost[js].tolist() + self.idle["cost"].to_numpy(float)[ks].tolist(),
                      [self.model.site_open[j] for j in js] + [self.model.idle_site_open[k] for k in ks])

    def release_spend(self, budget: float = math.inf) -> None:
        """Let the plan open sites that cover no one more (see `_add_idle_sites`), for Hoover; one whose
        first year costs more than `budget` stays closed (no plan within it opens one)."""
        for v, cost in zip(self.model.idle_site_open.values(), self.idle["cost"].to_numpy(float)):
            if cost <= budget:
                v.unfix()

    def level(self, d: str):
        return self.levels.get(d, 1.0)

    def today_levels(self, city: Instance) -> pd.Series:
        """F0_d by district: the share of its demand (all the block's services) within coverage minutes of
        a site open today; districts without demand are left out (their F_d is 1)."""
        covered, demand = np.zeros(len(city.grids)), np.zeros(len(city.grids))
        for d in self.cover.data:
            near = np.zeros(len(city.grids), dtype=bool)
            near[d.reach.rows()[d.existing[d.reach.site]]] = True
            covered += d.demand * near
            demand += d.demand
        district = city.grids["town_id"].map(city.towns.set_index("town_id")["district_id"]).astype(str).to_numpy()
        by = pd.DataFrame({"covered": covered, "demand": demand}).groupby(district).sum()
        by = by[by["demand"] > 0]
        return by["covered"] / by["demand"]

    def site_rows(self) -> np.ndarray:
        """The row of city.sites of every model site j (the order of site_open)."""
        parts = [d.site_rows[b.sites] for d, b in zip(self.cover.data, self.cover.prepared.blocks)]
        return np.concatenate(parts).astype(int) if parts else np.zeros(0, int)

    def opened(self) -> list[np.ndarray]:
        """Open sites per service (original order), from the solved model."""
        picked = np.array([(v.value or 0.0) > 0.5 for v in self.model.site_open.values()], dtype=bool)
        out, off = [], 0
        for inp, b in zip(self.cover.prepared.inputs, self.cover.prepared.blocks):
            is_open = inp.fixed.copy()
            is_open[b.sites[picked[off:off + len(b.sites)]]] = True
            out.append(is_open)
            off += len(b.sites)
        idle = np.array([(v.value or 0.0) > 0.5 for v in self.model.idle_site_open.values()], dtype=bool)
        for k, j in zip(self.idle["block"].to_numpy(int)[idle], self.idle["site"].to_numpy(int)[idle]):
            out[k][j] = True
        return out

    def tables(self, city: Instance) -> dict[str, pd.DataFrame]:
        tables = facilities_tables(city, self.cover.data, self.opened(), None, self.options)
        tables.pop("districts")
        return tables


def prepare_cover(inputs) -> PreparedCover:
    """The facilities model's preparation with R1–R3 and R5 only (see the module docstring)."""
    blocks = [reduce_cover(b.weights, b.pairs, b.cost, b.count, b.fixed, dominance=False) for b in inputs]
    flat = flatten_cover(blocks)
    return PreparedCover(inputs, blocks, flat, np.zeros(len(flat["sites"].cost), bool), math.inf,
                         np.full(len(inputs), math.inf))


def _add_idle_sites(m, city: Instance, data: list[ServiceData], prepared: PreparedCover) -> pd.DataFrame:
    """Binaries o_k for the new sites the reductions left out of the model (R2: they bring no grid
    above the level existing sites give), fixed closed until `FacilitiesBlock.release_spend`. Opening
    one changes no coverage, only spend: no measure of levels wants it, but Hoover's index scores
    spend, and a plan of every site could open it."""
    town_district = city.towns.set_index(city.towns["town_id"].astype(str))["district_id"].astype(str)
    site_town = city.sites["town_id"].astype(str).to_numpy()
    rows = []
    for k, (d, inp, b) in enumerate(zip(data, prepared.inputs, prepared.blocks)):
        left = ~inp.fixed & (np.asarray(inp.cost, float) > 0)
        left[b.sites] = False
        js = np.flatnonzero(left)
        rows.append(pd.DataFrame({"block": k, "site": js, "cost": np.asarray(inp.cost, float)[js],
                                  "district": town_district.reindex(site_town[d.site_rows[js]]).to_numpy(str)}))
    idle = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["block", "site", "cost", "district"])
    m.IDLE_SITES = pyo.RangeSet(0, len(idle) - 1) if len(idle) else pyo.Set(initialize=[])
    m.idle_site_open = pyo.Var(m.IDLE_SITES, within=pyo.Binary)
    for v in m.idle_site_open.values():
        v.fix(0)
    return idle


def _site_districts(city: Instance, data: list[ServiceData], prepared: PreparedCover) -> np.ndarray:
    town_district = city.towns.set_index(city.towns["town_id"].astype(str))["district_id"].astype(str)
    site_town = city.sites["town_id"].astype(str).to_numpy()
    parts = [town_district.reindex(site_town[d.site_rows[b.sites]]).to_numpy(str) for d, b in zip(data, prepared.blocks)]
    return np.concatenate(parts) if parts else np.zeros(0, str)


# The facilities block's rows define coverage (an explanation never relaxes them): the
# link of models.location.covering and the rows below that hold it exact.
FACILITIES_DEFINITIONS: frozenset[str] = frozenset({
    "level_reached_through_open_site",                                                       # build_coverage_model
    "level_reached_when_site_open", "level_reached_when_higher_reached",                     # _add_exact_levels
})


def _add_exact_levels(m, flat: dict) -> None:
    levels, site = flat["coverage"].levels, flat["coverage"].pair_site
    pairs = [(k, int(site[p])) for k in range(len(levels)) for p in range(levels.start[k], levels.end[k])]
    chained = [k for k in range(len(levels)) if levels.prev[k] >= 0]
    m.LEVEL_SITES = pyo.Set(initialize=pairs, dimen=2, ordered=True)

    @m.Constraint(m.LEVEL_SITES)
    def level_reached_when_site_open(m, k, j):
        """v_ℓ ≥ y_j for j ∈ S_ℓ"""
        return m.level_reached[k] - m.site_open[j] >= 0

    m.CHAINED_LEVELS = pyo.Set(initialize=chained, ordered=True)

    @m.Constraint(m.CHAINED_LEVELS)
    def level_reached_when_higher_reached(m, k):
        """v_ℓ ≥ v_prev(ℓ)"""
        return m.level_reached[k] - m.level_reached[int(levels.prev[k])] >= 0
