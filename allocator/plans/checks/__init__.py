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
