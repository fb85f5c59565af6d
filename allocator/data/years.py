"""A city year by year: the data of a roadmap's years (`allocator solve --model roadmap`).

Year k of a roadmap over FIRST..LAST (k = 0 for FIRST) is the instance with

    population   every population column of district d's towns and grids (registered, resident,
                 migrant persons; households, elderly, children) times (1 + g_d)^k, rounded to whole
                 persons, g_d = districts.csv `growth` (a yearly rate; missing: 0)
    budget       B_k = city.yaml budgets[year] where listed, else B·(1 + r)^k (B the run's --budget,
                 else city.yaml budget; r = --budget-growth). With --budget the budgets list is not read.
    own budgets, transfer caps and a city_pool given in city.yaml scale with B_k / B_0, so that year
    FIRST is the city of the single-year city model.

Both the roadmap model and its checker read the years through this module, so that they agree.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from allocator.data.instance import Instance

TOWN_POPULATION = ("pop_registered", "pop_resident", "pop_migrant")
GRID_POPULATION = ("households", "population", "elderly", "children")


@dataclass(frozen=True)
class Years:
    """The years of a roadmap and each year's city budget (10k CNY)."""

    years: tuple[int, ...]
    budgets: tuple[float, ...]

    @classmethod
    def of(cls, city: Instance, first: int, last: int, budget: float | None = None, growth: float = 0.0) -> "Years":
        years = tuple(range(first, last + 1))
        base = float(budget if budget is not None else city.config.budget)
        listed = {} if budget is not None else dict(city.config.budgets)
        return cls(years, tuple(float(listed.get(y, base * (1.0 + growth) ** k)) for k, y in enumerate(years)))

    def budget(self, year: int) -> float:
        return self.budgets[self.years.index(year)]

    def as_meta(self) -> dict:
        return {"years": list(self.years), "budgets": dict(zip(map(str, self.years), self.budgets))}


def district_growth(city: Instance) -> pd.Series:
    """g_d by district id (0 where districts.csv has no growth)."""
    d = city.districts
    rate = d["growth"] if "growth" in d else pd.Series(0.0, index=d.index)
    return pd.Series(pd.to_numeric(rate, errors="coerce").fillna(0.0).to_numpy(float), index=d.index.astype(str))


def grown(city: Instance, k: int) -> Instance:
    """The city k years on: populations times (1 + g_d)^k (the instance itself when nothing grows)."""
    rate = district_growth(city)
    if k == 0 or not rate.any():
        return city
    factor = (1.0 + rate) ** k
    towns = city.towns.copy()
    town_factor = towns["district_id"].astype(str).map(factor).fillna(1.0).to_numpy()
    for c in TOWN_POPULATION:
        towns[c] = np.rint(towns[c].to_numpy(float) * town_factor).astype(towns[c].dtype)
    grids = city.grids.copy()
    grid_district = grids["town_id"].astype(str).map(city.towns.set_index(city.towns["town_id"].astype(str))["district_id"].astype(str))
    grid_factor = grid_district.map(factor).fillna(1.0).to_numpy()
    for c in GRID_POPULATION:
        if c in grids:
            grids[c] = np.rint(grids[c].to_numpy(float) * grid_factor).astype(grids[c].dtype)
    return replace(city, towns=towns, grids=grids)


def year_city(city: Instance, years: Years, year: int) -> Instance:
    """Year `year` of the roadmap: grown populations, the year's budget, own budgets, transfer caps and
    an explicit city pool scaled with the budget (see the module docstring)."""
    k = years.years.index(year)
    out = grown(city, k)
    b, b0 = years.budgets[k], years.budgets[0]
    ratio = b / b0 if b0 > 0 else 1.0
    config = replace(out.config, budget=b,
                     city_pool=None if out.config.city_pool is None else float(out.config.city_pool) * ratio)
    districts = out.districts
    if ratio != 1.0:
        districts = districts.copy()
        for c in ("own_budget", "transfer_cap"):
            districts[c] = districts[c].astype(float) * ratio
    return replace(out, config=config, districts=districts)


def with_today(city: Instance, enforcement_now: pd.Series | None = None, existing: pd.Series | None = None) -> Instance:
    """The city with another "today": officers posted per town (town id → officers) and sites open
    (site id → 0/1). A roadmap's year is checked against the year before it in this form."""
    towns, sites = city.towns, city.sites
    if enforcement_now is not None:
        towns = towns.copy()
        now = enforcement_now.reindex(towns["town_id"].astype(str)).to_numpy()
        towns["enforcement_now"] = np.rint(now.astype(float)).astype(towns["enforcement_now"].dtype)
    if existing is not None:
        sites = sites.copy()
        flag = existing.reindex(sites["site_id"].astype(str)).fillna(0).to_numpy()
        sites["existing"] = np.maximum(sites["existing"].to_numpy(), np.rint(flag.astype(float))).astype(sites["existing"].dtype)
    return replace(city, towns=towns, sites=sites)
