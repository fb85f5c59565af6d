"""Infeasibility of the facilities model explained: which model `allocator.solving.explain` relaxes.

The solving procedures of `allocator.solving.location` reduce and truncate; the model relaxed is
the city's own, unreduced (`models.facilities_requirements`, whose docstring states its rows and
whose `REQUIREMENTS` and `DEFINITIONS` are the words used), for the run's objective, services,
budget and p. A grid with demand and no pair at all under an assigning objective cannot be
helped by any relaxation: that is settled from the data, before any model, with the grids named;
so is a capacitated run whose budget cannot buy the capacity the kept sites lack (the run's own
words, `allocator.solving.facilities.capacity_needs`, say how much).
"""
from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from allocator.models.facilities_data import minutes_pairs, services_data
from allocator.models.facilities_requirements import ASSIGNING, DEFINITIONS, REQUIREMENTS, build_model
from allocator.models.location.assignment import capacity_short
from allocator.solving.facilities import capacity_needs, facilities_options

CAPACITATED = ("cpmedian", "cflp")

__all__ = ["REQUIREMENTS", "DEFINITIONS", "build", "unserved"]


def build(instance, options) -> tuple[pyo.ConcreteModel | None, dict]:
    """The model of `models.facilities_requirements` for the run's objective, services, budget and p;
    (None, {"settled": …}) when grids with demand have no site at all to be assigned to."""
    opts = facilities_options(instance, options)
    data = services_data(instance, opts.services)
    grid_ids = instance.grids.index.astype(str).to_numpy()
    pairs = [minutes_pairs(instance, d.site_rows) for d in data] if opts.objective in ASSIGNING else []
    settled = unserved(data, pairs, grid_ids, instance.travel is not None)
    if settled:
        return None, settled
    if opts.objective in CAPACITATED and capacity_short(capacity_needs(data, [d.existing & (not opts.allow_closing) for d in data]),
                                                        opts.budget_10k_cny):
        return None, {"settled": ""}          # the run's own words say what capacity the budget cannot buy
    return build_model(data, pairs, grid_ids, opts), {"budget_held": opts.money.held_total if opts.money else 0.0}


def unserved(data: list, pairs: list, grid_ids: np.ndarray, travel: bool) -> dict | None:
    """Grids with demand and no pair at all (assigning objectives): settled from the data."""
    findings, parts = [], []
    for d, p in zip(data, pairs):
        bad = np.flatnonzero((d.demand > 0) & (p.degree == 0))
        if not bad.size:
            continue
        ids = grid_ids[bad].tolist()
        why = (f"the city has no {d.service} site" if not d.site_ids.size else
               f"travel.csv lists no {d.service} site for them" if travel else f"no {d.service} site is paired with them")
        findings.append({"service": d.service, "grids": ids, "demand": float(d.demand[bad].sum())})
        shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5:,} more" if len(ids) > 5 else "")
        parts.append(f"{len(ids):,} grid{'s' * (len(ids) != 1)} ({shown}) with {d.demand[bad].sum():,.0f} persons of "
                     f"{d.service} demand have no {d.service} site to be assigned to: {why}; add a {d.service} site "
                     f"(sites.csv){' with travel minutes to them (travel.csv)' if travel else ''}, "
                     f"or leave {d.service} out (--services)")
    return {"settled": "; ".join(parts), "findings": findings} if parts else None
