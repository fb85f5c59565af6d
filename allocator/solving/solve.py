"""The one seam between a Pyomo model and HiGHS, shared by every model.

    solve(model, options) -> SolveResult

The model is compiled by Pyomo's linear standard-form compiler into one in-memory highspy
model (`allocator.highs_model`: sparse matrices handed over in one call, no files, no
per-constraint Python objects) and the solution is written back column by column from one
array. It never raises for a non-optimal outcome: the result's `status` says what happened
(`optimal`, `time_limit`, `infeasible`, `unbounded`, `error`) and the best solution found,
if any, is loaded into the model's variables. Ctrl-C stops HiGHS and raises
KeyboardInterrupt.

HiGHS can overrun its own time limit several-fold, so a callback also interrupts it
once the wall clock passes the limit plus a grace period; such a run is reported as
`time_limit`, like one HiGHS stopped itself. The same callback prints a progress line
(elapsed time, incumbent, bound, gap) to stderr when asked.
"""
from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC

from allocator.solving.highs_model import CompiledModel, compile_model

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


_S = highspy.HighsModelStatus
_STATUS = {
    _S.kOptimal: "optimal",
    _S.kModelEmpty: "optimal",
    _S.kTimeLimit: "time_limit",
    _S.kIterationLimit: "time_limit",
    _S.kSolutionLimit: "time_limit",
    _S.kObjectiveBound: "time_limit",
    _S.kObjectiveTarget: "time_limit",
    _S.kInfeasible: "infeasible",
    _S.kUnboundedOrInfeasible: "infeasible",
    _S.kUnbounded: "unbounded",
    _S.kInterrupt: "interrupted",
    _S.kHighsInterrupt: "interrupted",
}


class _Watch:
    """HiGHS callback: progress line and the outer wall-clock guard.

    The progress line goes to a duplicate of the terminal's stderr (file descriptor 2), so
    that it reaches the terminal even when sys.stderr is redirected.
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


class Persistent:
    """A HiGHS model kept between solves of one Pyomo model (pass it as `solve(..., persistent=)`).

    The first solve compiles the model; later solves of the same model, with the same active
    objective, push only the changed bounds of rows that hold mutable parameters
    (`CompiledModel.refresh`), so a search over one parameter pays the hand-over once. A
    `compiled` model placed here by its caller (e.g. after giving HiGHS a basis) is solved as
    it is; the model's structure must not change between solves (a changed objective is
    noticed and compiled again)."""

    def __init__(self) -> None:
        self.compiled: CompiledModel | None = None

    def prepare(self, model: pyo.ConcreteModel) -> CompiledModel:
        c = self.compiled
        if c is not None and c.model is model and c.objective is _active_objective(model) and c.refresh():
            c.highs.resetOptions()     # options left None must not keep the previous call's values
            c.highs.setOptionValue("output_flag", False)
            return c
        self.compiled = compile_model(model, track_parameters=True)
        return self.compiled


def _active_objective(model: pyo.ConcreteModel):
    return next(model.component_data_objects(pyo.Objective, active=True), None)


def solve(model: pyo.ConcreteModel, options: SolveOptions, start: dict | None = None,
          persistent: Persistent | None = None, highs_options: dict | None = None, relax: bool = False) -> SolveResult:
    """Hand `model` to HiGHS, solve, load the best solution found; never raises on status.

    `start` optionally maps variables (VarData) to the values of a known feasible
    solution, given to HiGHS as its first incumbent (HiGHS checks it and completes
    or drops it; unlisted variables are left to HiGHS).

    `persistent` optionally passes a `Persistent()` kept between calls: the first call hands
    `model` over; later calls with the same model only push its changed mutable parameters.

    `highs_options` are raw HiGHS options a model needs for its structure (e.g.
    {"presolve": "off"} for an LP bound that HiGHS's presolve would make slow).

    `relax` solves the LP relaxation: integrality is dropped in HiGHS alone (the Pyomo model
    keeps its domains), and a later solve through the same `persistent` restores it.
    """
    _use_threads(options.threads)
    t0 = time.perf_counter()
    compiled = persistent.prepare(model) if persistent is not None else compile_model(model)
    highs = compiled.highs
    compiled.relax(relax)
    _set_options(highs, options, highs_options)
    if start:
        _set_start(compiled, start)
    handover_s = time.perf_counter() - t0
    watch = _Watch(options)
    events = (highs.cbMipInterrupt, highs.cbSimplexInterrupt, highs.cbIpmInterrupt)
    for event in events:
        event.subscribe(watch)
    t1 = time.perf_counter()
    try:
        highs.run()
    finally:
        watch.finish()
        for event in events:
            event.unsubscribe(watch)
    solve_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    result = _result(compiled, watch)
    result.handover_s = handover_s + time.perf_counter() - t2
    result.solve_s = solve_s
    return result


def _set_options(highs: highspy.Highs, options: SolveOptions, highs_options: dict | None) -> None:
    """The run's options: output, time limit, MIP gap, threads, seed, then the model's raw options."""
    values = {"output_flag": bool(options.tee), "log_to_console": bool(options.tee), "random_seed": int(options.seed)}
    if options.time_limit is not None:
        values["time_limit"] = float(options.time_limit)
    if options.gap is not None:
        values["mip_rel_gap"] = float(options.gap)
    if options.threads is not None:
        values["threads"] = int(options.threads)
    for key, option in {**values, **(highs_options or {})}.items():
        if highs.setOptionValue(key, option) == highspy.HighsStatus.kError:
            raise ValueError(f"HiGHS refused option {key}={option!r}")


_threads_in_use: list = []


def _use_threads(threads: int | None) -> None:
    """HiGHS keeps one thread scheduler per process, sized by the first solve; resize it on change."""
    if _threads_in_use and _threads_in_use[-1] != threads:
        highspy.Highs.resetGlobalScheduler(True)
    _threads_in_use[:] = [threads]


def _set_start(compiled: CompiledModel, start: dict) -> None:
    """Give HiGHS a starting solution for the variables it knows (the others are left free)."""
    with PauseGC():
        known = [(compiled.column_of(v), float(x)) for v, x in start.items() if x is not None]
        known = [(j, x) for j, x in known if j is not None]
    if known:
        index, value = zip(*known)
        compiled.highs.setSolution(len(index), np.asarray(index, dtype=np.int32), np.asarray(value, dtype=np.float64))


def _result(compiled: CompiledModel, watch: _Watch) -> SolveResult:
    """Status, objective, bound and gap of HiGHS's run; the best solution found loaded into the model."""
    highs = compiled.highs
    model_status = highs.getModelStatus()
    status = _STATUS.get(model_status, "error")
    if status == "interrupted":
        if not watch.guard_fired:
            raise KeyboardInterrupt
        status = "time_limit"          # the wall-clock guard stopped HiGHS: keep its incumbent
    info = highs.getInfo()
    empty = model_status == highspy.HighsModelStatus.kModelEmpty
    has_solution = status in ("optimal", "time_limit") and (
        empty or model_status == highspy.HighsModelStatus.kOptimal or int(info.primal_solution_status) == 2)
    if has_solution and compiled.columns:
        compiled.load(highs.getSolution().col_value)
    objective = bound = None
    if has_solution:
        objective = compiled.offset if empty else _finite(info.objective_function_value)
    if empty:
        bound = objective
    elif int(info.mip_node_count) == -1:       # an LP: the bound is the optimum
        bound = objective if status == "optimal" else None
    else:
        bound = _finite(info.mip_dual_bound)
    gap = None
    if objective is not None and bound is not None:
        gap = relative_gap(objective, bound)
        if status == "optimal" and gap < 1e-9:
            gap = 0.0
    termination = "wall_clock_guard" if watch.guard_fired and model_status in (_S.kInterrupt, _S.kHighsInterrupt) else model_status.name
    return SolveResult(status, objective, bound, gap, termination, solver_version=highs.version(),
                       has_solution=has_solution, highs_info=_highs_info(info))


def relative_gap(value: float | None, bound: float | None) -> float | None:
    """|value − bound| / max(|value|, 1e-10): how far a plan's objective may lie from the best
    possible (None without both). The one gap every model reports."""
    if value is None or bound is None:
        return None
    return abs(value - bound) / max(abs(value), 1e-10)


def primary_gap(value: float | None, bound: float | None, maximise: bool) -> float | None:
    """The gap of a plan's value of its objective against a bound proven on that objective (possibly
    by an earlier solve of a sequence): relative_gap, and 0 when the value lies beyond the bound (the
    rounding of a held value or of a value recomputed from the plan's tables)."""
    if value is None or bound is None:
        return None
    if (value >= bound) if maximise else (value <= bound):
        return 0.0
    return relative_gap(value, bound)


def _finite(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) and abs(value) < 1e30 else None


def _highs_info(info) -> dict:
    try:
        return {"mip_node_count": int(info.mip_node_count), "simplex_iterations": int(info.simplex_iteration_count)}
    except Exception:  # information only: older highspy builds lack some fields
        return {}
