"""Run one model on one instance: build, solve, extract, explain, check, assemble the plan."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from pyomo.common.gc_manager import PauseGC

from allocator.data.instance import Instance
from allocator.errors import InputError, Problem
from allocator.plans.checks import check_plan
from allocator.plans.money import plan_money
from allocator.plans.plan import Plan
from allocator.solving.explain import explain_infeasible
from allocator.solving.run import ModelRun, RunOptions, check_equity_bounds, model_module, stage_record
from allocator.solving.solve import SolveOptions, note, time_left


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
    # Every solve (with the explanation of an infeasible run) ends in time to extract, check and write the
    # plan: that work takes about 1.5 times as long as starting and loading took, on a busy machine too
    # (at least reserve_s).
    solve_options = solve_options.with_deadline(instance_rows(instance), reserve=1.5 * _spent(solve_options))
    note(solve_options, f"building and solving {options.model} / {objective}")
    # A model run makes hundreds of thousands of objects that live as long as the run (Pyomo components,
    # expressions, plan rows), and Python's cycle collector, set off by their number, walks them all again
    # and again while they are made. It is paused for the run, an infeasible run's explanation (another
    # model) and the check; what they leave is freed when the collector resumes. On a generated 2,000-town
    # city this took the facilities model's time outside HiGHS from 2.0-2.2 s to 1.5-1.7 s; peak memory
    # stayed the same for Chongqing's city model and grew 12 % for a two-year roadmap of it.
    with PauseGC():
        return _run_and_check(module, instance, options, objective, solve_options, iis, t0)


def _run_and_check(module, instance: Instance, options: RunOptions, objective: str, solve_options: SolveOptions,
                   iis: bool, t0: float) -> Plan:
    """The model's run, its money, the explanation of an infeasible run, and the plan checked (`t0`: its start)."""
    outcome: ModelRun = module.run(instance, options, solve_options)
    if options.model != "roadmap":         # a roadmap's money is its roadmap.csv, year by year
        outcome.meta["money"] = plan_money(instance, options.model, objective, options.budget, options.p, outcome.tables)
    if outcome.result.status == "infeasible" and _time_to_explain(instance, solve_options):
        explain_infeasible(instance, options, solve_options, outcome, iis=iis)
    elif outcome.result.status == "infeasible":
        outcome.meta["infeasibility"] = {"skipped": "--time-limit left too little time to look for the least change"}
        outcome.explanation = outcome.explanation or ("no plan satisfies every requirement; allow more time "
                                                      "(--time-limit) to be told the least change that makes a plan possible")
    total_s = time.perf_counter() - t0
    plan = Plan(_meta(instance, options, solve_options, outcome, total_s), outcome.tables)
    if outcome.tables:
        report = check_plan(plan, instance)
        plan.meta["check"] = report.as_dict()
        if not report.passed and plan.meta["status"] in ("optimal", "time_limit"):
            plan.meta["status"] = "error"
            plan.meta["explanation"] = "the plan failed the independent check: " + "; ".join(report.violations[:5])
    return plan


EXPLAIN_S_PER_ROW = 5e-4    # building an explanation's elastic model: about 30 s for Chongqing's 62,000 rows


def _spent(solve_options: SolveOptions) -> float:
    """Seconds the command has run so far (its start is its deadline less its limit, when it has both)."""
    if solve_options.deadline is None or solve_options.time_limit is None:
        return 0.0
    return max(0.0, time.time() - (solve_options.deadline - solve_options.time_limit))


def _time_to_explain(instance: Instance, solve_options: SolveOptions) -> bool:
    left = time_left(solve_options)
    return left is None or left > EXPLAIN_S_PER_ROW * instance_rows(instance)


def instance_rows(instance: Instance) -> int:
    """Rows of the instance's tables: the size the work after a solve grows with."""
    return sum(len(t) for t in (instance.grids, instance.sites, instance.towns, instance.districts))


def _meta(instance: Instance, options: RunOptions, solve_options: SolveOptions, outcome: ModelRun, total_s: float) -> dict[str, Any]:
    """plan.json: the headline (status, objective_value, bound, mip_gap) is the primary objective's, the
    one asked; `stages` lists each solve of the run's sequence with its own figures."""
    r = outcome.result
    return {
        "model": options.model,
        "objective": outcome.objective,
        **({"objective_asked": outcome.asked} if outcome.asked and outcome.asked != outcome.objective else {}),
        "objective_value": outcome.objective_value,
        "status": r.status,
        "status_text": outcome.status_text,
        "mip_gap": r.gap,
        "bound": r.bound,
        "stages": outcome.stages or [stage_record(outcome.objective, r)],
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
