"""Infeasibility explained in the planner's words: an elastic re-solve over requirement families.

When a model is infeasible, `explain_infeasible` re-solves an ELASTIC copy of it: every
member of a requirement family (a Constraint component, or a registered variable bound
such as x_g ≥ 1) gets a non-negative slack,

    row  lo ≤ body ≤ up        becomes   lo ≤ body + s⁻,   body − s⁺ ≤ up
    bound  x ≥ L  (L > 0)      becomes   x ≥ 0,  x + s ≥ L
    bound  x ≤ U               becomes   x − s ≤ U
    min  Σ_f  w_tier(f) / scale_f · Σ_{members of f} s              (scale_f = max(1, |bounds of f|))

and HiGHS (through `allocator.solving.solve.solve`) finds the smallest relaxation. First each
registered family alone (only its members get slack; the model is restored after each
solve): every family whose relaxation alone makes a plan possible is reported with its
least amount ("raise the budget to at least …"). When no limit set for the run suffices
alone, the families are relaxed together, tier by tier (1: limits set for the run,
2: targets and floors, 3: standing rules, 9: rows the registry does not know), and the
least weighted joint relaxation is reported. Families that stay at their limit in a fix
are named as what the relaxed limit pays for ("… short of paying for one full-time worker
per grid in 4,120 grids"). Elastic solves share ELASTIC_TOTAL_S seconds (at most the run's
--time-limit, 5 s at least); a relaxation not proven least in time is marked so.

Each model declares its requirement families next to the constraints it builds (`models.<model>`):
`REQUIREMENTS`, keyed by the constraint component's name (or "<variable>.lower"/".upper" for a
bound family), with the unit, the phrase of a shortfall and the remedy
(`allocator.models.requirements.Family`), and `DEFINITIONS`, rows that define quantities and are
never relaxed. Its module `allocator.solving.explain_<model>` (`MODULES`, found by `registry`)
holds `build(instance, options)`, the model to relax (without the exact reductions of the
solving model, so counts and ids are the city's), and points at the words of that model:
the formulation's, and those of any row `build` adds (tests/test_requirements.py holds every
row of every such model to be one or the other). A row the registry does not know is relaxed
as a last resort and named as it is in the model. A model without a
module is explained from the Pyomo model its run left in `ModelRun.model`. A builder may
instead settle the conflict from the data before any model ("no site is listed for grids
…"): its words are the explanation and no IIS is computed.
"""
from __future__ import annotations

import importlib
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any, Callable

import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import SumExpression

from allocator.solving.explain_words import MONEY, Family, amount_text, count, ids_text, key_text, money, of_held, plain, target_text, unregistered
from allocator.solving.iis import compute_iis
from allocator.solving.solve import SolveOptions, solve, time_left

__all__ = ["Family", "MONEY", "money", "elastic", "explain_infeasible", "requirement_groups", "registry", "ElasticReport",
           "Relaxation"]

ELASTIC_SOLVE_S = 20.0        # seconds HiGHS gets for one elastic solve
ELASTIC_TOTAL_S = 60.0        # seconds for every elastic solve of one explanation (at most --time-limit, but 5 s at least)
TIER_WEIGHT = {1: 1.0, 2: 2.0, 3: 4.0, 9: 16.0}
TOL = 1e-6


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
        block.rows.add(_fresh(m.expr) + m.raise_lo - m.raise_up == m.lower)
    else:
        if m.lower is not None:
            block.rows.add(_fresh(m.expr) + m.raise_lo >= m.lower)
        if m.upper is not None:
            block.rows.add(_fresh(m.expr) - m.raise_up <= m.upper)
    m.row.deactivate()
    return lambda: (m.row.activate(), _forget(m))


def _fresh(expr):
    """A new node over the same terms. Pyomo extends a sum in place (`body - s` appends to the
    argument list the row's body shares, counting its own terms by nargs); the elastic row gets a
    list of its own, so the row restored after the solve reads exactly as before."""
    if isinstance(expr, SumExpression):
        return expr.create_node_with_local_data(list(expr.args))
    return expr


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
    amounts: list[float]              # the slack of each of `ids`, same order and unit
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
        if self.status == "none" and self.out_of_time:
            parts.append(f"no relaxation was found in the {self.seconds:,.0f} s the explanation may take: the elastic "
                         "solves ran out of time on a model this size")
        elif self.status == "none":
            parts.append("even relaxing every requirement the model holds leaves it infeasible: the conflict lies in how "
                         "quantities are defined or in the data")
        return ". ".join(p[:1].upper() + p[1:] for p in parts)

    @property
    def out_of_time(self) -> bool:
        """Some elastic solve stopped at its time limit or was skipped for want of time."""
        return any(str(x["status"]).startswith(("time_limit", "skipped")) for x in self.solves)

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
    for g in sorted((g for g in groups if g.family.tier < 9 and not g.family.fixed), key=lambda g: g.family.tier):
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
        result = solve(model, SolveOptions(time_limit=limit, gap=1e-6, threads=solve_options.threads, seed=solve_options.seed,
                                           deadline=solve_options.deadline, progress=solve_options.progress,
                                           stage="explaining: relax " + ", ".join(g.name for g in chosen)))
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
    limit, target = _limit_and_target(g, needing)
    held = _held(groups, {g.key}, g.family.held_from) if alone else []
    r = Relaxation(g.name, g.family.requirement, g.family.unit, g.family.tier, total, [key_text(m.key) for m, _ in needing],
                   [a for _, a in needing], limit, target, alone, status == "optimal")
    r.text = _phrase(g.family, r, needing, held, context)
    return [r]


def _limit_and_target(g: _Group, needing: list) -> tuple[float | None, float | None]:
    """A single row's bound and that bound moved by its slack; for a `shared` family the common
    bound moved by the largest member slack; otherwise (None, None)."""
    if len(g.members) != 1 and not g.family.shared:
        return None, None
    m0, most = max(needing, key=lambda pair: pair[1])
    up = m0.raise_up is not None and float(m0.raise_up.value or 0.0) > TOL
    limit = m0.upper if up else m0.lower
    if g.family.shared and len({(m.lower, m.upper) for m in g.members}) > 1:
        return None, None
    amount = most if g.family.shared else sum(a for _, a in needing)
    return (None, None) if limit is None else (limit, limit + amount if up else limit - amount)


def _held(groups: list[_Group], relaxed: set[str], only: tuple[str, ...] = ()) -> list[dict]:
    """Registered families not relaxed (of `only`, when given) whose members sit at their limit
    in the current solution."""
    out = []
    for g in groups:
        if g.key in relaxed or g.family.tier >= 9 or not g.family.held or (only and g.key not in only):
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
    up = r.limit is None or r.target is None or r.target >= r.limit
    words = {
        "limit": amount_text(family.unit, r.limit) if r.limit is not None else "",
        "amount": amount_text(family.unit, r.amount),
        "target": target_text(family.unit, r.target, r.proven and r.alone, up),
        "target_plain": plain(r.target, up) if r.target is not None else "-",
        "members": count(len(r.ids), family.member or "row"),
        "ids": ids_text(r.ids),
        "where": "" if r.ids == ["-"] else f" in {count(len(r.ids), family.member or 'row')} ({ids_text(r.ids)})",
        "each": ids_text([f"{key_text(m.key)}: {amount_text(family.unit, a)}" for m, a in needing]),
        "raised": ids_text([f"{key_text(m.key)} to {plain(_moved(m, a), _moved(m, a) >= _moved(m, 0.0))}" for m, a in needing]),
        "bound": plain(bounds.pop()) if len(bounds) == 1 else "the required",
        "of_held": of_held(family, held),
        **context,
    }
    held_today = float(context.get("budget_held", 0.0))     # the row holds --budget less today's staff
    words["budget_target"] = target_text(family.unit, None if r.target is None else r.target + held_today,
                                         r.proven and r.alone, up)
    text = f"{family.short.format(**words)}; {family.remedy.format(**words)}"
    if not r.proven:
        text += " (the least needed was not proven in the time allowed)"
    return text


def _moved(m: _Member, amount: float) -> float:
    """A member's bound after its relaxation (an upper bound raised, a lower one lowered)."""
    if m.raise_up is not None and float(m.raise_up.value or 0.0) > TOL:
        return float(m.upper) + amount
    return float(m.lower if m.lower is not None else m.upper) - amount


# --- the models explained, and the hook used by allocator.solving.run ------------------------------

MODULES = {model: f"allocator.solving.explain_{model}" for model in ("grid", "enforcement", "facilities", "city", "roadmap")}


def registry(model: str) -> tuple[dict[str, Family], frozenset[str], Callable | None]:
    """The requirement families, definitions and explanation builder of `model`, from its module in
    MODULES (REQUIREMENTS, DEFINITIONS, build); none for a model without one."""
    if model not in MODULES:
        return {}, frozenset(), None
    module = importlib.import_module(MODULES[model])
    return module.REQUIREMENTS, module.DEFINITIONS, module.build


def explanation_model(instance, options, outcome) -> tuple[pyo.ConcreteModel | None, dict] | None:
    """(model, context) to relax; (None, {"settled": text}) when the data settle the conflict
    before any model; None when there is nothing to relax."""
    builder = registry(options.model)[2]
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
    t0 = time.perf_counter()
    info: dict[str, Any] = {}
    text = ""
    try:
        built = explanation_model(instance, options, outcome)
        if built is None:
            info["elastic"] = {"status": "unavailable", "text": "", "reason": f"no Pyomo model of {options.model} to relax"}
            if iis:
                info["iis"] = {"status": "unavailable", "rows": [], "bounds": [], "note": "no Pyomo model to compute an IIS on"}
        elif built[0] is None:
            text = built[1]["settled"][:1].upper() + built[1]["settled"][1:]
            info["elastic"] = {"status": "settled", "text": text, "alone": [], "together": [],
                               "findings": built[1].get("findings", [])}
            if iis:
                info["iis"] = {"status": "unavailable", "rows": [], "bounds": [],
                               "note": "the data settle the conflict before any model is built: no IIS to compute"}
        else:
            model, context = built
            if iis:
                left = time_left(solve_options)      # under a time limit the IIS gets half of what is left
                info["iis"] = _safely(lambda m: compute_iis(m, 30.0 if left is None else max(0.1, min(30.0, left / 2))), model)
            families, definitions, _ = registry(options.model)
            report = elastic(model, families, solve_options, definitions, context)
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
