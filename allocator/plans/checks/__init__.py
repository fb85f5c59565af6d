"""Independent plan checkers: recompute every constraint and the objective from the plan
files and the instance alone — no Pyomo, no solver.

Each model has a module `allocator.plans.checks.<model>` with
`check(plan: Plan, instance: Instance) -> CheckReport`.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from allocator.data.instance import Instance
from allocator.plans.plan import Plan

TOL = 1e-6


@dataclass
class CheckReport:
    violations: list[str] = field(default_factory=list)
    objective: float | None = None          # recomputed from the plan
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.violations

    def fail(self, message: str) -> None:
        self.violations.append(message)

    def as_dict(self) -> dict:
        return {"passed": self.passed, "violations": self.violations[:100],
                "n_violations": len(self.violations), "objective_recomputed": self.objective, **self.figures}


def check_plan(plan: Plan, instance: Instance) -> CheckReport:
    report = CheckReport()
    if plan.meta.get("instance_sha256") not in (None, instance.content_hash()):
        report.fail("the plan was made for another instance (instance_sha256 differs)")
        return report
    module = importlib.import_module(f"allocator.plans.checks.{plan.model}")
    report = module.check(plan, instance.with_basis(plan.meta.get("basis")))
    _check_objective(plan, report)
    return report


def _check_objective(plan: Plan, report: CheckReport) -> None:
    claimed = plan.meta.get("objective_value")
    if claimed is None or report.objective is None:
        return
    if abs(claimed - report.objective) > 1e-6 * max(1.0, abs(claimed)):
        report.fail(f"objective recomputed from the plan is {report.objective:.10g}, the plan claims {claimed:.10g}")


# --- helpers shared by the model checkers ---------------------------------------------

def ids_match(report: CheckReport, table: str, frame: pd.DataFrame, column: str, expected: pd.Index) -> bool:
    """The plan has exactly one row per expected id."""
    got = frame[column].astype(str)
    dup = got[got.duplicated()]
    missing = expected.difference(pd.Index(got))
    extra = pd.Index(got).difference(expected)
    for what, ids in (("duplicate", dup), ("missing", missing), ("unknown", extra)):
        if len(ids):
            report.fail(f"{table}: {len(ids)} {what} {column} (e.g. {', '.join(map(str, list(ids)[:3]))})")
    return not (len(dup) or len(missing) or len(extra))


def integral(report: CheckReport, table: str, frame: pd.DataFrame, columns: list[str], tol: float = TOL) -> None:
    for c in columns:
        values = frame[c].to_numpy(float)
        bad = np.abs(values - np.round(values)) > tol
        if bad.any():
            report.fail(f"{table}.{c}: {int(bad.sum())} values are not whole numbers (e.g. {values[bad][0]:.6g})")


def nonnegative(report: CheckReport, table: str, frame: pd.DataFrame, columns: list[str], tol: float = TOL) -> None:
    for c in columns:
        values = frame[c].to_numpy(float)
        bad = ~(values >= -tol)
        if bad.any():
            report.fail(f"{table}.{c}: {int(bad.sum())} values are negative or missing")


def at_most(report: CheckReport, what: str, value: float, limit: float, tol: float = TOL) -> None:
    if value > limit + tol * max(1.0, abs(limit)):
        report.fail(f"{what}: {value:,.6g} exceeds the limit {limit:,.6g}")


def check_money(report: CheckReport, plan: Plan, budget: float | None, spend: dict[str, float], committed: float) -> None:
    """Hold what the plan charges the budget (recomputed: `spend` by line) to `budget` (None: no
    row), and the plan's own money lines (plan.json "money") to the recomputed figures
    (`allocator.data.money`, README "What the budget pays")."""
    total = float(sum(spend.values()))
    if budget is not None:
        at_most(report, "spend charged to the budget (10k CNY)", total, float(budget))
    report.figures.update({"spend_charged_recomputed": total, "committed_sites_recomputed": float(committed)})
    money = plan.meta.get("money")
    if money is None:
        return
    claimed = dict(money.get("spend_10k_cny") or {})
    pairs = [(f"money.spend_10k_cny.{k}", claimed.get(k, 0.0), v) for k, v in spend.items()]
    pairs += [("money.spend_10k_cny.total", claimed.get("total", 0.0), total),
              ("money.committed_sites_10k_cny", money.get("committed_sites_10k_cny"), committed),
              ("money.budget_10k_cny", money.get("budget_10k_cny"), budget)]
    for what, got, want in pairs:
        if (got is None) != (want is None) or (want is not None and abs(float(got) - float(want)) > 1e-6 * max(1.0, abs(float(want)))):
            report.fail(f"{what}: the plan reports {got}, recomputed {want}")
