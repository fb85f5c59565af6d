"""Infeasibility explained in the planner's words: an elastic re-solve over requirement families.

When a model is infeasible, `explain_infeasible` re-solves an ELASTIC copy of it: every
member of a requirement family (a Constraint component, or a registered variable bound
such as x_g ≥ 1) gets a non-negative slack,

    row  lo ≤ body ≤ up        becomes   lo ≤ body + s⁻,   body − s⁺ ≤ up
    bound  x ≥ L  (L > 0)      becomes   x ≥ 0,  x + s ≥ L
    bound  x ≤ U               becomes   x − s ≤ U
    min  Σ_f  w_tier(f) / scale_f · Σ_{members of f} s              (scale_f = max(1, |bounds of f|))

and HiGHS (through `allocator.solve.solve`) finds the smallest relaxation. First each
registered family alone (only its members get slack; the model is restored after each
solve): every family whose relaxation alone makes a plan possible is reported with its
least amount ("raise the budget to at least …"). When no limit set for the run suffices
alone, the families are relaxed together, tier by tier (1: limits set for the run,
2: targets and floors, 3: standing rules, 9: rows the registry does not know), and the
least weighted joint relaxation is reported. Families that stay at their limit in a fix
are named as what the relaxed limit pays for ("… short of paying for one full-time worker
per grid in 4,120 grids"). Elastic solves share ELASTIC_TOTAL_S seconds (at most the run's
--time-limit, 5 s at least); a relaxation not proven least in time is marked so.

The registry `FAMILIES` is keyed by model and by the constraint component's name (or
"<variable>.lower"/".upper" for a bound family) with the unit, the phrase of a shortfall and
the remedy; `DEFINITIONS` lists rows that define quantities and are never relaxed. A row the
registry does not know is relaxed as a last resort and named as it is in the model.

The model explained is, in order: one `EXPLAIN_MODELS[model]` builds from the instance and
the run's options (without the exact reductions of the solving model, so counts and ids are
the city's), else the Pyomo model a model's run left in `ModelRun.model`.
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any, Callable

import pyomo.environ as pyo

from .solve import SolveOptions, solve

ELASTIC_SOLVE_S = 20.0        # seconds HiGHS gets for one elastic solve
ELASTIC_TOTAL_S = 60.0        # seconds for every elastic solve of one explanation (at most --time-limit, but 5 s at least)
TIER_WEIGHT = {1: 1.0, 2: 2.0, 3: 4.0, 9: 16.0}
TOL = 1e-6
MONEY = "money"               # 10k CNY a year, the unit of budgets throughout (DESIGN §3)


@dataclass(frozen=True)
class Family:
    """A requirement family: how its shortfall is said and what to change.

    Templates may use {limit} (the row's bound), {amount} (the relaxation, with unit),
    {target} (the limit after relaxation, "at least …"), {members} ("3 towns"), {ids},
    {where} (" in 3 rows (a, b, c)", empty for a single row) and {of_held} (what the
    relaxed limit pays for, " of paying for …").
    """

    requirement: str
    unit: str
    tier: int
    short: str
    remedy: str
    member: str = ""              # noun of one member ("town", "grid"); "" for a single row
    held: str = ""                # phrase when members hold at their limit: "… in {members}"
    verb: str = ""                # a limit's verb for what it pays for: "paying for", "staffing"


_BUDGET = "raise the budget (--budget) to {target}"
FAMILIES: dict[str, dict[str, Family]] = {
    "grid": {
        "spend_within_budget": Family(
            "the budget", MONEY, 1, "the budget of {limit} falls {amount} short{of_held}",
            _BUDGET + ", or allow part-time cover instead of a full-time worker in rural grids", verb="paying for"),
        "headcount_within_limit": Family(
            "the headcount", "posts", 1, "the headcount of {limit} falls {amount} short{of_held}",
            "raise the headcount (--headcount) to {target}", verb="covering"),
        "town_coverage_reaches_level": Family(
            "covering all grid work", "hours", 2, "{amount} of grid work a year would stay uncovered in {members} ({ids})",
            "accept less than full coverage (--objective unmet or maxmin), or raise the budget", member="town",
            held="all grid work in {members}"),
        "fulltime_workers.lower": Family(
            "one full-time worker per grid (一格一员)", "full-time workers", 3,
            "one full-time worker per grid cannot be kept in {members} ({ids})",
            "cover those grids with part-time helpers or a professional", member="grid",
            held="one full-time worker per grid in {members}"),
        "professionals.lower": Family(
            "professional cover (一员多格)", "professionals", 3,
            "the required professionals are {amount} short in {members} ({ids})",
            "let one professional cover more grids (professional_max_grids in the norms)", member="town",
            held="the required professionals in {members}"),
        "parttime_helpers.upper": Family(
            "the part-time helpers allowed per grid", "part-time helpers", 3,
            "{amount} beyond the limit per grid would be needed in {members} ({ids})",
            "raise parttime_max_per_grid in the norms", member="grid", held="the most part-time helpers in {members}"),
    },
    "enforcement": {
        "headcount_not_exceeded": Family(
            "the headcount", "officers", 1, "the headcount of {limit} falls {amount} short{of_held}",
            "raise the headcount (--headcount or headcount in city.yaml) to {target}", verb="covering"),
        "budget_not_exceeded": Family(
            "the budget", MONEY, 1, "the budget of {limit} falls {amount} short{of_held}", _BUDGET, verb="paying for"),
        "moves_within_limit": Family(
            "the move limit", "moves", 1, "the move limit of {limit} falls {amount} short{of_held}",
            "allow {target} moves (--max-moves)", verb="reaching"),
        "coverage_meets_target": Family(
            "the coverage target", "officers", 2, "{members} ({ids}) stay {amount} short of the target ratio",
            "lower the target (--target) or raise the headcount", member="town", held="the target ratio in {members}"),
        "posted_staff.lower": Family(
            "a viable team in every town", "officers", 3,
            "a team of {bound} officers cannot be posted in {members} ({ids}): {amount} short",
            "lower enforcement_min_team in the norms, or let the district pool serve those towns", member="town",
            held="a team of {bound} in {members}"),
    },
    "facilities": {
        "spend_within_budget": Family(
            "the budget", MONEY, 1, "the budget of {limit} falls {amount} short{of_held}", _BUDGET, verb="paying for"),
        "sites_within_count": Family(
            "the number of new sites (--p)", "sites", 1, "the limit on new sites falls {amount} short in {members} ({ids})",
            "allow more new sites (--p)", member="service block"),
        "node_is_covered": Family(
            "covering every coverable grid", "grids", 2, "{members} ({ids}) would stay without a site in reach",
            "raise the budget or use --objective mclp", member="demand row", held="cover in {members}"),
        "capacity_not_exceeded": Family(
            "site capacities", "persons", 3, "capacity falls {amount} short at {members} ({ids})",
            "raise those sites' capacity or allow more sites", member="site", held="full capacity at {members}"),
        "open_capacity_meets_demand": Family(
            "capacity for all demand", "persons", 3, "open capacity falls {amount} short in {members} ({ids})",
            "raise capacities or the budget", member="service block"),
        "site_open.lower": Family(
            "keeping existing sites open", "sites", 3, "{members} ({ids}) would have to close",
            "allow closing existing sites, or raise the budget", member="existing site",
            held="the running cost of {members} kept open"),
    },
}
DEFINITIONS: dict[str, set[str]] = {
    "grid": {"town_spend_is_salaries", "town_unmet_is_sum", "professional_hours_within_town", "grid_work_is_covered"},
    "enforcement": {"posted_staff_is_today_plus_moves", "pool_shares_within_pool", "coverage_at_least_min_ratio",
                    "shortfall_covers_gap", "deployment_within_pool", "unmet_covers_surge_gap", "gap_covers_demand",
                    "normal_gap_adds_up", "district_unmet_covers_gaps", "cvar_excess_over_threshold", "primary_value_kept"},
    "facilities": {"group_spend_adds_up", "level_reached_through_open_site", "assigned_only_to_open_site",
                   "farther_unless_open_within_level", "farther_level_raises_radius", "radius_levels_nest", "node_is_assigned"},
}
_KEYWORDS = (("budget", "the budget", MONEY, 1), ("spend", "the budget", MONEY, 1), ("headcount", "the headcount", "posts", 1),
             ("transfer", "the transfer cap", MONEY, 1), ("move", "the move limit", "moves", 1),
             ("gini", "the equity bound", "units", 2), ("equity", "the equity bound", "units", 2),
             ("hoover", "the equity bound", "units", 2), ("coverage", "the coverage floor", "units", 2))
INTEGER_UNITS = {"posts", "officers", "moves", "full-time workers", "professionals", "part-time helpers", "sites", "grids"}


def unregistered(name: str) -> Family:
    """A row the registry does not know: named as in the model, guessed from its name where possible."""
    for word, requirement, unit, tier in _KEYWORDS:
        if word in name.lower():
            return Family(f"{requirement} ({name})", unit, tier, f"{name} needs {{amount}} of slack{{where}}",
                          f"review {requirement} behind {name}", member="row")
    return Family(name, "units", 9, f"{name} needs {{amount}} of slack{{where}}", f"review the requirement behind {name}",
                  member="row")


# --- the elastic model ------------------------------------------------------------------

@dataclass
class _Member:
    key: Any
    expr: Any                   # the row's body, or the variable of a bound
    lower: float | None
    upper: float | None
    row: Any = None             # the ConstraintData (None for a bound)
    raise_lo: Any = None        # slack of the current solve that lowers the lower bound (body + s ≥ lo)
    raise_up: Any = None        # slack that raises the upper bound (body − s ≤ up)

    @property
    def slack(self) -> list:
        return [s for s in (self.raise_lo, self.raise_up) if s is not None]

    def amount(self) -> float:
        return sum(float(s.value or 0.0) for s in self.slack)


@dataclass
class _Group:
    key: str                    # registry key: component name, or "<variable>.lower"
    name: str                   # the component's full name in the model
    family: Family
    members: list[_Member] = field(default_factory=list)
    scale: float = 1.0          # max(1, |bounds|): slack is penalised relative to it


def requirement_groups(model: pyo.Block, families: dict[str, Family], definitions: set[str] = frozenset()) -> list[_Group]:
    """The relaxable families of `model` and their members (bodies and bounds); the model is not changed.
    Rows: every active Constraint component not among `definitions` (an unregistered equality is a
    definition too). Bounds: the variable bounds registered as "<variable>.lower"/".upper"."""
    groups = []
    for con in model.component_objects(pyo.Constraint, active=True, descend_into=True):
        name = con.local_name
        if name in definitions:
            continue
        group = _Group(name, con.name, families.get(name) or unregistered(name))
        for key, c in con.items():
            if c.active and (name in families or not c.equality):
                group.members.append(_Member(key, c.body, _bound(c.lower), _bound(c.upper), row=c))
        groups.append(group)
    for var in model.component_objects(pyo.Var, descend_into=True):
        for side in ("lower", "upper"):
            key = f"{var.local_name}.{side}"
            if key not in families:
                continue
            group = _Group(key, var.name, families[key])
            for index, v in var.items():
                if v.fixed:
                    continue
                if side == "lower" and v.lb is not None and v.lb > 0:
                    group.members.append(_Member(index, v, float(v.lb), None))
                elif side == "upper" and v.ub is not None:
                    group.members.append(_Member(index, v, None, float(v.ub)))
            groups.append(group)
    groups = [g for g in groups if g.members]
    for g in groups:
        g.scale = max([1.0, *(abs(b) for m in g.members for b in (m.lower, m.upper) if b is not None)])
    return groups


@contextmanager
def slackened(model: pyo.Block, chosen: list[_Group]):
    """Within the block: every member of `chosen` has its slack and the objective is the weighted
    sum of slacks (the model's own objectives are off). On exit the model is as it was."""
    objectives = list(model.component_data_objects(pyo.Objective, active=True, descend_into=True))
    block = pyo.Block(concrete=True)
    model.add_component(_unique(model, "elastic_relaxation"), block)
    block.slack = pyo.VarList(domain=pyo.NonNegativeReals)
    block.rows = pyo.ConstraintList()
    undo: list[Callable[[], None]] = [obj.activate for obj in objectives]
    terms = []
    for obj in objectives:
        obj.deactivate()
    try:
        for g in chosen:
            weight = TIER_WEIGHT[g.family.tier] / g.scale
            for m in g.members:
                undo.append(_add_slack(block, m))
                terms += [weight * s for s in m.slack]
        block.penalty = pyo.Objective(expr=pyo.quicksum(terms))
        yield block
    finally:
        for step in reversed(undo):
            step()
        model.del_component(block)


def _add_slack(block, m: _Member) -> Callable[[], None]:
    if m.lower is not None:
        m.raise_lo = block.slack.add()
    if m.upper is not None:
        m.raise_up = block.slack.add()
    if m.row is None:                                  # a variable bound: x ≥ 0, x + s ≥ L (or x − s ≤ U)
        v, old = m.expr, (m.expr.lb, m.expr.ub)
        if m.lower is not None:
            v.setlb(0)
            block.rows.add(v + m.raise_lo >= m.lower)
        else:
            v.setub(None)
            block.rows.add(v - m.raise_up <= m.upper)
        return lambda: (v.setlb(old[0]), v.setub(old[1]), _forget(m))
    if m.row.equality:
        block.rows.add(m.expr + m.raise_lo - m.raise_up == m.lower)
    else:
        if m.lower is not None:
            block.rows.add(m.expr + m.raise_lo >= m.lower)
        if m.upper is not None:
            block.rows.add(m.expr - m.raise_up <= m.upper)
    m.row.deactivate()
    return lambda: (m.row.activate(), _forget(m))


def _forget(m: _Member) -> None:
    m.raise_lo = m.raise_up = None


def _unique(model: pyo.Block, name: str) -> str:
    k, out = 0, name
    while model.component(out) is not None:
        k, out = k + 1, f"{name}_{k}"
    return out


def _bound(value) -> float | None:
    if value is None:
        return None
    value = float(pyo.value(value))
    return value if math.isfinite(value) and abs(value) < 1e30 else None


# --- solving and reading the relaxation ---------------------------------------------------

@dataclass
class Relaxation:
    """The least relaxation of one family, as found by one elastic solve."""

    family: str
    requirement: str
    unit: str
    tier: int
    amount: float                     # total slack, in the family's unit
    ids: list[str]                    # members that need slack
    limit: float | None               # the bound of a single-row family
    target: float | None              # the bound after relaxation
    alone: bool                       # this relaxation alone makes a plan possible
    proven: bool                      # the elastic solve was optimal: this is the least
    text: str = ""

    def as_dict(self) -> dict:
        return {k.name: getattr(self, k.name) for k in fields(self)}


@dataclass
class ElasticReport:
    """`alone`: each family whose relaxation alone makes a plan possible; `together`: the least joint
    relaxation of the lowest tiers that does, when no limit set for the run (tier 1) suffices alone."""

    status: str                       # "found" | "none"
    alone: list[Relaxation] = field(default_factory=list)
    together: list[Relaxation] = field(default_factory=list)
    solves: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def text(self) -> str:
        parts = []
        if self.together:
            parts.append("changed together, these make a plan possible (one least joint change, weighted by kind of "
                         "requirement): " + "; and ".join(r.text for r in self.together))
        if self.alone:
            head = "alone, " if self.together else ""
            head += ("this change makes a plan possible: " if len(self.alone) == 1
                     else "each of these changes makes a plan possible: ")
            parts.append(head + "; or ".join(r.text for r in self.alone))
        if self.status == "none":
            parts.append("even relaxing every requirement the model holds leaves it infeasible: the conflict lies in how "
                         "quantities are defined or in the data")
        return ". ".join(p[:1].upper() + p[1:] for p in parts)

    def as_dict(self) -> dict:
        return {"status": self.status, "text": self.text, "alone": [r.as_dict() for r in self.alone],
                "together": [r.as_dict() for r in self.together], "solves": self.solves, "seconds": self.seconds}


def elastic(model: pyo.Block, families: dict[str, Family], solve_options: SolveOptions,
            definitions: set[str] = frozenset(), context: dict | None = None) -> ElasticReport:
    """The least relaxations of `model`: each registered family alone; then, when no tier-1 family
    suffices alone, the families of tier ≤ 1, ≤ 2, ≤ 3, all, together (the first that works)."""
    t0 = time.monotonic()
    context = context or {}
    groups = requirement_groups(model, families, definitions)
    report = ElasticReport("none")
    for g in sorted((g for g in groups if g.family.tier < 9), key=lambda g: g.family.tier):
        report.alone += _solve_relaxed(model, [g], groups, solve_options, t0, report, context) or []
    if not any(r.tier == 1 for r in report.alone):
        tried: set[int] = set()
        for tier in (1, 2, 3, 9):
            chosen = [g for g in groups if g.family.tier <= tier]
            if len(chosen) < 2 or len(chosen) in tried or (report.alone and tier > 1):
                continue
            tried.add(len(chosen))
            found = _solve_relaxed(model, chosen, groups, solve_options, t0, report, context)
            if found is not None:
                report.together = found
                break
    report.alone.sort(key=lambda r: r.tier)
    report.status = "found" if report.alone or report.together else "none"
    report.seconds = time.monotonic() - t0
    return report


def _solve_relaxed(model, chosen: list[_Group], groups: list[_Group], solve_options: SolveOptions, t0: float,
                   report: ElasticReport, context: dict) -> list[Relaxation] | None:
    """Solve with only `chosen` relaxed: their relaxations when that makes a plan possible, else None."""
    total = ELASTIC_TOTAL_S if solve_options.time_limit is None else min(ELASTIC_TOTAL_S, max(5.0, solve_options.time_limit))
    remaining = total - (time.monotonic() - t0)
    if remaining <= 0.5:
        report.solves.append({"families": [g.key for g in chosen], "status": "skipped: no time left"})
        return None
    limit = min(ELASTIC_SOLVE_S, remaining)
    if solve_options.time_limit is not None:
        limit = min(limit, max(1.0, solve_options.time_limit))
    with slackened(model, chosen):
        result = solve(model, SolveOptions(time_limit=limit, gap=1e-6, threads=solve_options.threads, seed=solve_options.seed))
        report.solves.append({"families": [g.key for g in chosen], "status": result.status, "penalty": result.objective})
        if not result.has_solution:
            return None
        alone = len(chosen) == 1
        return [r for g in chosen for r in _read(g, result.status, groups, alone, context)]


def _read(g: _Group, status: str, groups: list[_Group], alone: bool, context: dict) -> list[Relaxation]:
    needing = [(m, m.amount()) for m in g.members]
    needing = [(m, a) for m, a in needing if a > TOL * max(1.0, abs(m.lower or 0.0), abs(m.upper or 0.0))]
    if not needing:
        return []
    total = sum(a for _, a in needing)
    limit = target = None
    if len(g.members) == 1:
        m0 = g.members[0]
        up = m0.raise_up is not None and float(m0.raise_up.value or 0.0) > TOL
        limit = m0.upper if up else m0.lower
        target = None if limit is None else (limit + total if up else limit - total)
    held = _held(groups, {g.key}) if alone else []
    r = Relaxation(g.name, g.family.requirement, g.family.unit, g.family.tier, total, [_id(m.key) for m, _ in needing],
                   limit, target, alone, status == "optimal")
    r.text = _phrase(g.family, r, needing, held, context)
    return [r]


def _held(groups: list[_Group], relaxed: set[str]) -> list[dict]:
    """Registered families not relaxed whose members sit at their limit in the current solution."""
    out = []
    for g in groups:
        if g.key in relaxed or g.family.tier >= 9 or not g.family.held:
            continue
        at = [m for m in g.members if _at_limit(m)]
        if at:
            bounds = {b for m in at for b in (m.lower, m.upper) if b is not None}
            out.append({"family": g.family, "count": len(at), "bound": bounds.pop() if len(bounds) == 1 else None})
    return out


def _at_limit(m: _Member) -> bool:
    value = pyo.value(m.expr, exception=False)
    if value is None:
        return False
    return any(b is not None and abs(value - b) <= 1e-6 * max(1.0, abs(b)) for b in (m.lower, m.upper))


# --- words ---------------------------------------------------------------------------------

def _phrase(family: Family, r: Relaxation, needing, held: list[dict], context: dict) -> str:
    bounds = {b for m, _ in needing for b in (m.lower, m.upper) if b is not None}
    words = {
        "limit": _amount(family.unit, r.limit) if r.limit is not None else "",
        "amount": _amount(family.unit, r.amount),
        "target": _target(family.unit, r.target, r.proven and r.alone),
        "members": _count(len(r.ids), family.member or "row"),
        "ids": _ids(r.ids),
        "where": "" if r.ids == ["-"] else f" in {_count(len(r.ids), family.member or 'row')} ({_ids(r.ids)})",
        "bound": _plain(bounds.pop()) if len(bounds) == 1 else "the required",
        "of_held": _of_held(family, held),
        **context,
    }
    text = f"{family.short.format(**words)}; {family.remedy.format(**words)}"
    if not r.proven:
        text += " (the least needed was not proven in the time allowed)"
    return text


def _of_held(family: Family, held: list[dict]) -> str:
    if not family.verb or not held:
        return ""
    parts = []
    for h in sorted(held, key=lambda h: -h["count"])[:3]:
        f = h["family"]
        bound = _plain(h["bound"]) if h["bound"] is not None else "the required"
        parts.append(f.held.format(members=_count(h["count"], f.member or "row"), bound=bound))
    return f" of {family.verb} {_join(parts)}" if parts else ""


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _amount(unit: str, x: float | None) -> str:
    if x is None:
        return "-"
    if unit == MONEY:
        return money(x)
    if unit in INTEGER_UNITS:
        n = int(math.ceil(x - 1e-6))
        return _count(n, unit[:-1])
    if unit == "hours":
        return f"{x:,.0f} hours"
    return f"{x:,.6g} {unit}"


def _target(unit: str, x: float | None, proven: bool) -> str:
    if x is None:
        return "what the figures above need"
    if unit in INTEGER_UNITS:
        text = f"{int(math.ceil(x - 1e-6)):,}"
    elif unit == MONEY:
        text = f"{money(x)} ({_plain(x)} in the 10k CNY of --budget)"
    else:
        text = _amount(unit, x)
    return f"at least {text}" if proven else text


def money(x_10k_cny: float) -> str:
    """10k CNY a year in words: '3.2 million CNY', '48,000 CNY'."""
    cny = x_10k_cny * 10_000
    if abs(cny) >= 1e6:
        return f"{cny / 1e6:,.4g} million CNY"
    return f"{cny:,.0f} CNY"


def _plain(x: float) -> str:
    return f"{x:,.6g}"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _id(key: Any) -> str:
    if key is None:
        return "-"
    return "(" + ", ".join(map(str, key)) + ")" if isinstance(key, tuple) else str(key)


def _ids(ids: list[str], shown: int = 5) -> str:
    head = ", ".join(ids[:shown])
    return head + (f" and {len(ids) - shown:,} more" if len(ids) > shown else "")


# --- the models explained, and the hook used by allocator.run ------------------------------

def _grid_model(instance, options) -> tuple[pyo.ConcreteModel, dict]:
    """The grid model of the run without its reductions: every grid and town modelled, budget row present."""
    import numpy as np
    from models import grid

    class EveryGrid(grid.GridData):
        @property
        def modelled_towns(self):
            return np.ones(len(self.town_ids), dtype=bool)

        @property
        def modelled_grids(self):
            return np.ones(len(self.grid_ids), dtype=bool)

    objective = options.objective or grid.DEFAULT_OBJECTIVE
    budget = options.budget if options.budget is not None or objective == "cost" else instance.config.budget
    data = grid.grid_data(instance)
    every = EveryGrid(**{f.name: getattr(data, f.name) for f in fields(data)})
    kept = grid.GridOptions("cost" if objective == "cost" else "unmet", budget, options.headcount)
    return grid.build_model(instance, kept, every), {}


def _enforcement_model(instance, options) -> tuple[pyo.ConcreteModel, dict]:
    """The enforcement model of the run with plain bounds s_t ≥ s_min (the solving model narrows them)."""
    from models import enforcement

    opts = enforcement.EnforcementOptions.resolve(instance, options, level_search=False, tie_break=False)
    m = enforcement.build_model(instance, opts)
    for v in m.posted_staff.values():
        v.setlb(opts.min_team)
        v.setub(None)
    return m, {}


EXPLAIN_MODELS: dict[str, Callable[[Any, Any], tuple[pyo.ConcreteModel, dict]]] = {
    "grid": _grid_model, "enforcement": _enforcement_model}


def explanation_model(instance, options, outcome) -> tuple[pyo.ConcreteModel, dict] | None:
    builder = EXPLAIN_MODELS.get(options.model)
    if builder is not None:
        return builder(instance, options)
    model = getattr(outcome, "model", None)
    return (model, {}) if isinstance(model, pyo.Block) else None


def _safely(compute: Callable[[pyo.Block], dict], model: pyo.Block) -> dict:
    try:
        return compute(model)
    except KeyboardInterrupt:
        raise
    except Exception as err:  # HiGHS's IIS is extra: its failure is recorded, the elastic figures still come
        return {"status": "error", "rows": [], "bounds": [], "note": f"HiGHS could not compute an IIS ({type(err).__name__}: {err})"}


def explain_infeasible(instance, options, solve_options: SolveOptions, outcome, iis: bool = False) -> dict:
    """Add the elastic figures (and the IIS when asked) to an infeasible `outcome`, in place.

    Sets `outcome.explanation` (the model's own words first, then the figures) and
    `outcome.meta["infeasibility"]`; returns that dict. Never raises but for Ctrl-C: an
    explanation that fails is recorded as such and the infeasible status stands.
    """
    from .iis import compute_iis

    t0 = time.perf_counter()
    info: dict[str, Any] = {}
    text = ""
    try:
        built = explanation_model(instance, options, outcome)
        if built is None:
            info["elastic"] = {"status": "unavailable", "text": "", "reason": f"no Pyomo model of {options.model} to relax"}
            if iis:
                info["iis"] = {"status": "unavailable", "rows": [], "bounds": [], "note": "no Pyomo model to compute an IIS on"}
        else:
            model, context = built
            if iis:
                info["iis"] = _safely(compute_iis, model)
            families = FAMILIES.get(options.model, {})
            report = elastic(model, families, solve_options, DEFINITIONS.get(options.model, set()), context)
            info["elastic"] = report.as_dict()
            text = report.text
    except KeyboardInterrupt:
        raise
    except Exception as err:  # the explanation is extra: its failure must not hide the infeasible status
        info.setdefault("elastic", {"status": "error", "text": "", "message": f"{type(err).__name__}: {err}"})
    info["seconds"] = time.perf_counter() - t0
    own = (outcome.explanation or "").strip().rstrip(".")
    outcome.explanation = ". ".join(p for p in (own, text) if p) or "no plan satisfies every requirement"
    if text:
        outcome.explanation += "."
    outcome.meta["infeasibility"] = info
    return info
