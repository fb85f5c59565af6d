"""The one seam between a Pyomo model and HiGHS, shared by every model.

    solve(model, options) -> SolveResult

Uses Pyomo's in-memory persistent HiGHS interface (`pyomo.contrib.solver`, no files).
It never raises for a non-optimal outcome: the result's `status` says what happened
(`optimal`, `time_limit`, `infeasible`, `unbounded`, `error`, `interrupted`) and the
best solution found, if any, is loaded into the model's variables.

HiGHS can overrun its own time limit several-fold, so a callback also interrupts it
once the wall clock passes the limit plus a grace period; such a run is reported as
`time_limit`, like one HiGHS stopped itself. The same callback prints a progress line
(elapsed time, incumbent, bound, gap) to stderr when asked.
"""
from __future__ import annotations

import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs

GRACE_S = 5.0          # extra seconds HiGHS gets past --time-limit before it is interrupted
PROGRESS_EVERY_S = 2.0


@dataclass(frozen=True)
class SolveOptions:
    """Options every model's solve accepts; they all reach HiGHS."""

    time_limit: float | None = None     # seconds
    gap: float | None = None            # relative MIP gap, e.g. 0.01
    threads: int | None = None          # None: HiGHS decides
    seed: int = 0                       # HiGHS random_seed
    progress: bool = False              # print a progress line to stderr
    tee: bool = False                   # show HiGHS's own log

    def as_dict(self) -> dict:
        return {"time_limit": self.time_limit, "gap": self.gap, "threads": self.threads, "seed": self.seed}


@dataclass
class SolveResult:
    status: str
    objective: float | None
    bound: float | None
    gap: float | None
    termination: str
    solver: str = "highs"
    solver_version: str = ""
    handover_s: float = 0.0
    solve_s: float = 0.0
    has_solution: bool = False
    highs_info: dict = field(default_factory=dict)


_STATUS = {
    TerminationCondition.convergenceCriteriaSatisfied: "optimal",
    TerminationCondition.maxTimeLimit: "time_limit",
    TerminationCondition.iterationLimit: "time_limit",
    TerminationCondition.objectiveLimit: "time_limit",
    TerminationCondition.provenInfeasible: "infeasible",
    TerminationCondition.locallyInfeasible: "infeasible",
    TerminationCondition.infeasibleOrUnbounded: "infeasible",
    TerminationCondition.unbounded: "unbounded",
    TerminationCondition.interrupted: "interrupted",
}


class _Watch:
    """HiGHS callback: progress line and the outer wall-clock guard.

    Pyomo captures file descriptor 2 while HiGHS runs, so the progress line goes to a
    duplicate of the terminal's stderr taken before the solve.
    """

    def __init__(self, options: SolveOptions):
        self.options = options
        self.stream = _terminal_stderr() if options.progress else None
        self.start = time.monotonic()
        self.deadline = None if options.time_limit is None else self.start + options.time_limit + GRACE_S
        self.guard_fired = False
        self.last_print = self.start

    def __call__(self, event) -> None:
        now = time.monotonic()
        if self.deadline is not None and now > self.deadline:
            self.guard_fired = True
            event.interrupt()
        if self.options.progress and now - self.last_print >= PROGRESS_EVERY_S:
            self.last_print = now
            out = event.data_out
            inc, bnd = getattr(out, "mip_primal_bound", math.inf), getattr(out, "mip_dual_bound", math.nan)
            gap = getattr(out, "mip_gap", math.nan)
            shown = "none yet" if not math.isfinite(inc) or abs(inc) >= 1e30 else f"{inc:.6g}"
            gap_text = f"{100 * gap:.2f}%" if math.isfinite(gap) and gap < 1e10 else "-"
            self.stream.write(f"\r  solving: {now - self.start:6.1f} s   incumbent {shown}   bound {bnd:.6g}   gap {gap_text}   ")
            self.stream.flush()

    def finish(self) -> None:
        if self.stream is None:
            return
        if self.last_print > self.start:
            self.stream.write("\n")
            self.stream.flush()
        if self.stream is not sys.stderr:
            self.stream.close()


def _terminal_stderr():
    """A writable duplicate of file descriptor 2 (or sys.stderr itself when it has none)."""
    try:
        return os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1, encoding="utf-8", errors="replace")
    except (OSError, ValueError, AttributeError):   # a stream without a file descriptor (tests, notebooks)
        return sys.stderr


def solve(model: pyo.ConcreteModel, options: SolveOptions, start: dict | None = None,
          persistent: Highs | None = None, highs_options: dict | None = None) -> SolveResult:
    """Hand `model` to HiGHS, solve, load the best solution found; never raises on status.

    `start` optionally maps variables (VarData) to the values of a known feasible
    solution, given to HiGHS as its first incumbent (HiGHS checks it and completes
    or drops it; unlisted variables are left to HiGHS).

    `persistent` optionally passes a `Highs()` kept between calls: the first call hands
    `model` over; later calls with the same model only push its changed mutable
    parameters (a search over one parameter then pays the hand-over once).

    `highs_options` are raw HiGHS options a model needs for its structure (e.g.
    {"presolve": "off"} for an LP bound that HiGHS's presolve would make slow).
    """
    _use_threads(options.threads)
    opt = persistent if persistent is not None else Highs()
    t0 = time.perf_counter()
    if persistent is not None and persistent._model is model:
        opt.update_parameters()
        opt._solver_model.resetOptions()   # options left None must not keep the previous call's values
    else:
        opt.set_instance(model)
    if start:
        _set_start(opt, start)
    handover_s = time.perf_counter() - t0
    highs = opt._solver_model  # the highspy.Highs object the interface filled
    watch = _Watch(options)
    for event in (highs.cbMipInterrupt, highs.cbSimplexInterrupt, highs.cbIpmInterrupt):
        event.subscribe(watch)
    solver_options = {"random_seed": int(options.seed), **(highs_options or {})}
    t1 = time.perf_counter()
    quiet = logging.getLogger("pyomo.contrib.solver")   # its "unhandled status" warning: we report statuses ourselves
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        results = opt.solve(
            model, tee=options.tee, time_limit=options.time_limit, rel_gap=options.gap,
            threads=options.threads, solver_options=solver_options,
            load_solutions=False, raise_exception_on_nonoptimal_result=False,
            auto_updates=_NO_UPDATES,
        )
    finally:
        quiet.setLevel(level)
        watch.finish()
        for event in (highs.cbMipInterrupt, highs.cbSimplexInterrupt, highs.cbIpmInterrupt):
            event.unsubscribe(watch)
    solve_s = time.perf_counter() - t1
    return _result(opt, results, watch, handover_s, solve_s)


_threads_in_use: list = []


def _use_threads(threads: int | None) -> None:
    """HiGHS keeps one thread scheduler per process, sized by the first solve; resize it on change."""
    import highspy

    if _threads_in_use and _threads_in_use[-1] != threads:
        highspy.Highs.resetGlobalScheduler(True)
    _threads_in_use[:] = [threads]


def _set_start(opt: Highs, start: dict) -> None:
    """Give HiGHS a starting solution for the variables it knows (the others are left free)."""
    columns = opt._pyomo_var_to_solver_var_map
    known = [(columns[id(v)], float(x)) for v, x in start.items() if id(v) in columns and x is not None]
    if known:
        index, value = zip(*known)
        opt._solver_model.setSolution(len(index), np.asarray(index, dtype=np.int32), np.asarray(value, dtype=np.float64))


_NO_UPDATES = {
    "check_for_new_or_removed_constraints": False, "check_for_new_or_removed_vars": False,
    "check_for_new_or_removed_params": False, "check_for_new_objective": False,
    "update_constraints": False, "update_vars": False, "update_parameters": False,
    "update_named_expressions": False, "update_objective": False,
}


def _result(opt: Highs, results, watch: _Watch, handover_s: float, solve_s: float) -> SolveResult:
    status = _STATUS.get(results.termination_condition, "error")
    if watch.guard_fired and status in ("interrupted", "error"):
        # Pyomo does not know HiGHS's "interrupt" status: read the incumbent from HiGHS itself.
        return _guarded_result(opt, handover_s, solve_s)
    has_solution = (status in ("optimal", "time_limit")
                    and results.solution_status in (SolutionStatus.feasible, SolutionStatus.optimal))
    if has_solution:
        results.solution_loader.load_vars()
    objective = _finite(results.incumbent_objective) if has_solution else None
    bound = _finite(results.objective_bound)
    gap = None
    if objective is not None and bound is not None:
        gap = abs(objective - bound) / max(abs(objective), 1e-10)
        if status == "optimal" and gap < 1e-9:
            gap = 0.0
    if status == "interrupted":
        raise KeyboardInterrupt
    version = ".".join(str(v) for v in opt.version())
    info = _highs_info(opt)
    return SolveResult(status, objective, bound, gap, str(results.termination_condition.name),
                       solver_version=version, handover_s=handover_s, solve_s=solve_s,
                       has_solution=has_solution, highs_info=info)


def _guarded_result(opt: Highs, handover_s: float, solve_s: float) -> SolveResult:
    """A run the wall-clock guard stopped: status time_limit, with HiGHS's incumbent if it has one."""
    highs = opt._solver_model
    info = highs.getInfo()
    has_solution = int(info.primal_solution_status) == 2          # kSolutionStatusFeasible
    objective = bound = gap = None
    if has_solution:
        values = highs.getSolution().col_value
        for var_id, column in opt._pyomo_var_to_solver_var_map.items():
            opt._vars[var_id][0].set_value(values[column], skip_validation=True)
        objective = _finite(info.objective_function_value)
        bound = _finite(info.mip_dual_bound)
        if objective is not None and bound is not None:
            gap = abs(objective - bound) / max(abs(objective), 1e-10)
    version = ".".join(str(v) for v in opt.version())
    return SolveResult("time_limit", objective, bound, gap, "wall_clock_guard", solver_version=version,
                       handover_s=handover_s, solve_s=solve_s, has_solution=has_solution, highs_info=_highs_info(opt))


def _finite(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) and abs(value) < 1e30 else None


def _highs_info(opt: Highs) -> dict:
    try:
        info = opt._solver_model.getInfo()
        return {"mip_node_count": int(info.mip_node_count), "simplex_iterations": int(info.simplex_iteration_count)}
    except Exception:  # information only: older highspy builds lack some fields
        return {}
