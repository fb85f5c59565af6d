"""The city model's facilities block (`FacilitiesBlock`): its rows are stated in models.city_blocks'
docstring.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from allocator.data.instance import Instance

from ..facilities import CoverageModel, FacilitiesOptions, cover_inputs, coverage_expressions
from ..facilities_data import ServiceData, services_data
from ..facilities_tables import plan_tables as facilities_tables
from ..linear import linear
from ..location.common import Limits, reduce_cover
from ..location.covering import PreparedCover, build_coverage_model, flatten_cover


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
