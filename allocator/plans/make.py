"""Run one model on one instance: build, solve, extract, explain, check, assemble the plan."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from allocator.data.instance import Instance
from allocator.errors import InputError, Problem
from allocator.plans.checks import check_plan
from allocator.plans.money import plan_money
from allocator.plans.plan import Plan
from allocator.solving.explain import explain_infeasible
from allocator.solving.run import ModelRun, RunOptions, check_equity_bounds, model_module
from allocator.solving.solve import SolveOptions


def make_plan(instance: Instance, options: RunOptions, solve_options: SolveOptions, iis: bool = False) -> Plan:
    """Solve `options.model` on `instance` and return the checked plan (not yet written).

    An infeasible outcome is explained by an elastic re-solve (`allocator.explain`), added to
    the model's own words; with `iis`, HiGHS's irreducible infeasible subset is recorded too."""
    module = model_module(options.model)
    objective = options.objective or module.DEFAULT_OBJECTIVE
    if objective not in module.OBJECTIVES:
        raise InputError(Problem("--objective", f"model {options.model} has objectives {', '.join(module.OBJECTIVES)}; not {objective!r}"))
    check_equity_bounds(options)
    instance = instance.with_basis(options.basis)
    t0 = time.perf_counter()
    outcome: ModelRun = module.run(instance, options, solve_options)
    outcome.meta["money"] = plan_money(instance, options.model, objective, options.budget, options.p, outcome.tables)
    if outcome.result.status == "infeasible":
        explain_infeasible(instance, options, solve_options, outcome, iis=iis)
    total_s = time.perf_counter() - t0
    plan = Plan(_meta(instance, options, solve_options, outcome, total_s), outcome.tables)
    if outcome.tables:
        report = check_plan(plan, instance)
        plan.meta["check"] = report.as_dict()
        if not report.passed and plan.meta["status"] in ("optimal", "time_limit"):
            plan.meta["status"] = "error"
            plan.meta["explanation"] = "the plan failed the independent check: " + "; ".join(report.violations[:5])
    return plan


def _meta(instance: Instance, options: RunOptions, solve_options: SolveOptions, outcome: ModelRun, total_s: float) -> dict[str, Any]:
    r = outcome.result
    return {
        "model": options.model,
        "objective": outcome.objective,
        "objective_value": outcome.objective_value,
        "status": r.status,
        "mip_gap": r.gap,
        "bound": r.bound,
        "solver": r.solver,
        "solver_version": r.solver_version,
        "options": {**options.as_dict(), **solve_options.as_dict()},
        "seed": solve_options.seed,
        "threads": solve_options.threads,
        "instance": instance.name,
        "instance_sha256": instance.content_hash(),
        "instance_source": instance.source,
        "basis": instance.basis,
        "timings": {"build_s": outcome.build_s, "handover_s": r.handover_s, "solve_s": r.solve_s,
                    "extract_s": outcome.extract_s, "total_s": total_s},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "explanation": outcome.explanation,
        **outcome.meta,
    }
