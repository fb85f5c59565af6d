"""The money lines of a plan (plan.json "money"), read off its tables with the one money model
of `allocator.data.money` (README, "What the budget pays"): what the plan charges the budget,
line by line (grid workers, officers, new sites), the budget it was held to, what the city
budget paid for today's staff the run took as they are, and the committed running cost of
the existing sites, reported apart."""
from __future__ import annotations

import math

import pandas as pd

from allocator.data.instance import Instance
from allocator.data.money import PLANS, Budget, committed_sites, model_budget, money_block, site_charge

__all__ = ["plan_budget", "plan_money"]

SPEND_ONLY = {"grid": ("cost",), "facilities": ("lscp", "lscpb")}   # objectives holding a budget only with --budget


def plan_budget(city: Instance, model: str, objective: str | None, budget: float | None, p: float | None) -> Budget:
    """The budget a run of `model`/`objective` holds, from the run's --budget and --p."""
    explicit_only = objective in SPEND_ONLY.get(model, ())
    return model_budget(city, model, budget, explicit_only=explicit_only, p=p if model == "facilities" else None)


def plan_money(city: Instance, model: str, objective: str | None, budget: float | None, p: float | None,
               tables: dict[str, pd.DataFrame]) -> dict:
    """plan.json's "money" for a plan of `model` with `tables` (no spend lines without tables)."""
    b = plan_budget(city, model, objective, budget, p)
    lines = {}
    if tables:
        for what in PLANS[model]:
            lines[what] = _line(city, what, tables)
    committed = committed_sites(city)
    if tables and "facilities" in tables:             # less the existing sites a plan closes (if it may)
        f = tables["facilities"]
        closed = f[(f["existing"].astype(int) == 1) & (f["open"].astype(int) == 0)]["site_id"].astype(str)
        committed -= float(city.sites.set_index(city.sites["site_id"].astype(str))["annual_cost"].reindex(closed).sum())
    return money_block(b, lines, committed)


def _line(city: Instance, what: str, tables: dict[str, pd.DataFrame]) -> float:
    salary = city.config.salary
    if what == "grid_workers":
        g, t, d = tables["grid_staff"], tables["town_staff"], tables.get("districts")
        pooled = {k: float(d[f"{k}_pool"].sum()) if d is not None and f"{k}_pool" in d else 0.0 for k in ("fulltime", "parttime")}
        return ((float(g["fulltime"].sum()) + pooled["fulltime"]) * salary("fulltime")
                + (float(g["parttime"].sum()) + pooled["parttime"]) * salary("parttime")
                + float(t["professionals"].fillna(0).sum()) * salary("professional"))
    if what == "officers":
        posted = float(tables["town_staff"]["enforcement_staff"].sum())
        pool = float(tables["district_pool"]["pool_staff"].sum()) if "district_pool" in tables else 0.0
        return (posted + pool) * salary("enforcement")
    f = tables["facilities"]
    s = city.sites.set_index(city.sites["site_id"].astype(str)).reindex(f["site_id"].astype(str))
    charge = site_charge(s.assign(existing=f["existing"].to_numpy(int)))
    return float(charge[f["open"].to_numpy(int) == 1].sum()) if not math.isnan(charge.sum()) else math.nan
