"""The city model's grid block (`GridBlock`): its rows are stated in models.city_blocks' docstring."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from allocator.data.instance import Instance

from .. import grid as grd
from .. import grid_plan
from ..linear import centred
from ..requirements import Family
from .shared import district_ids


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
