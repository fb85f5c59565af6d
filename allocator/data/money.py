"""What the yearly budget pays: one money model for every model, checker and explanation
(README, "What the budget pays").

- The yearly budget B (city.yaml `budget`, 10k CNY a year; `--budget` overrides it) pays
  every grid worker and enforcement officer posted or held in a district pool (salary per
  person-year, city.yaml `salaries`) and every NEW site's first year (open_cost +
  annual_cost).
- Existing sites' running cost (annual_cost of the sites open today, kept open) is a
  committed line: reported apart, never charged against B.
- A model that plans one resource alone takes the others as they are today and gets what
  they leave of B: `grid` gets B less today's officers, `enforcement` B less today's grid
  workers, `facilities` B less today's grid workers and officers. `city` plans all three
  and gets B. Today's staff are the columns fulltime_now, parttime_now (grids.csv) and
  enforcement_now (towns.csv); the data holds no professionals or pool places today.
- Facilities objectives that take a limit on new sites (`--p`) take it instead of the
  budget: with `--p` and no `--budget` there is no budget row; with both, both hold.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .instance import Instance

__all__ = ["PLANS", "Budget", "committed_sites", "model_budget", "money_block", "site_charge", "staff_today"]

# What each model plans; the rest of the city is taken as it is today.
PLANS = {"grid": ("grid_workers",), "enforcement": ("officers",), "facilities": ("new_sites",),
         "city": ("grid_workers", "officers", "new_sites")}
WORDS = {"grid_workers": "grid workers", "officers": "officers", "new_sites": "new sites"}


def staff_today(city: Instance) -> dict[str, float]:
    """Yearly cost (10k CNY) of today's staff: grid workers (full-time and part-time) and officers."""
    g, t = city.grids, city.towns
    grid = (float(g["fulltime_now"].sum()) * city.config.salary("fulltime")
            + float(g["parttime_now"].sum()) * city.config.salary("parttime"))
    return {"grid_workers": grid, "officers": float(t["enforcement_now"].sum()) * city.config.salary("enforcement")}


def site_charge(sites: pd.DataFrame) -> np.ndarray:
    """What each site charges the budget when open (10k CNY a year): open_cost + annual_cost
    for a new site, nothing for an existing one (its running cost is committed)."""
    new = sites["existing"].to_numpy(int) == 0
    return np.where(new, sites["open_cost"].to_numpy(float) + sites["annual_cost"].to_numpy(float), 0.0)


def committed_sites(city: Instance, services=None) -> float:
    """Running cost (10k CNY a year) of the existing sites of `services` (all when None)."""
    s = city.sites
    if services is not None:
        s = s[s["service"].astype(str).isin(list(services))]
    return float(s.loc[s["existing"].to_numpy(int) == 1, "annual_cost"].sum())


@dataclass(frozen=True)
class Budget:
    """The budget one run holds: `limit` (None: no budget row) out of the city's yearly budget
    `city`, less `held` for what the run takes as it is today."""

    limit: float | None
    city: float
    held: dict
    plans: tuple[str, ...]
    reason: str = ""              # why there is no budget row, when there is none

    @property
    def held_total(self) -> float:
        return float(sum(self.held.values()))

    def line(self) -> str:
        """One line for the screen, e.g. "budget for new sites: 15.2 (city budget 55.8 less today's staff 40.6)"."""
        names = [WORDS[k] for k in self.plans]
        what = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        if self.limit is None:
            return f"budget for {what}: none ({self.reason})"
        if not self.held:
            return f"budget for {what}: {_money(self.limit)} (the city budget), 10k CNY a year"
        today = "today's staff" if len(self.held) > 1 else f"today's {WORDS[next(iter(self.held))]}"
        return (f"budget for {what}: {_money(self.limit)} (city budget {_money(self.city)} less {today} "
                f"{_money(self.held_total)}), 10k CNY a year")


def model_budget(city: Instance, model: str, budget: float | None, explicit_only: bool = False,
                 p: float | None = None) -> Budget:
    """The budget of a run of `model`: the city budget (`budget`, else city.yaml's) less today's
    cost of what the model does not plan. `explicit_only`: the objective holds a budget only when
    --budget is given (grid `cost`, facilities `lscp`/`lscpb`); `p`: facilities' limit on new
    sites, which replaces the budget unless --budget is given too."""
    total = float(budget if budget is not None else city.config.budget)
    plans = PLANS[model]
    today = staff_today(city)
    held = {k: v for k, v in today.items() if k not in plans}
    if budget is None and explicit_only:
        return Budget(None, total, held, plans, "this objective holds a budget only when --budget is given")
    if budget is None and p is not None and math.isfinite(p):
        return Budget(None, total, held, plans, "--p limits the new sites instead")
    return Budget(total - sum(held.values()), total, held, plans)


def money_block(b: Budget, spend: dict, committed: float) -> dict:
    """plan.json's "money": the same words in every model (10k CNY a year).

    budget_10k_cny       the budget the plan was held to (None: no budget row)
    city_budget_10k_cny  the city's yearly budget (city.yaml, or --budget)
    held_today_10k_cny   today's cost of what the run did not plan, taken as it is
    spend_10k_cny        what the plan charges the budget, by line (grid_workers, officers,
                         new_sites) and in all (`total`)
    committed_sites_10k_cny  existing sites' running cost, reported apart
    """
    lines = {k: float(v) for k, v in spend.items()}
    return {"budget_10k_cny": b.limit, "city_budget_10k_cny": b.city,
            "held_today_10k_cny": {k: float(v) for k, v in b.held.items()},
            "spend_10k_cny": {**lines, "total": float(sum(lines.values()))},
            "committed_sites_10k_cny": float(committed), "budget_line": b.line()}


def _money(x: float) -> str:
    """10k CNY a year, rounded for a reader."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.1f}"
