"""The one seam between a Pyomo model and HiGHS, shared by every model.

    solve(model, options) -> SolveResult

The model is compiled by Pyomo's linear standard-form compiler into one in-memory highspy
model (`allocator.highs_model`: sparse matrices handed over in one call, no files, no
per-constraint Python objects) and the solution is written back column by column from one
array. It never raises for a non-optimal outcome: the result's `status` says what happened
(`optimal`, `time_limit`, `infeasible`, `unbounded`, `error`) and the best solution found,
if any, is loaded into the model's variables. Ctrl-C stops HiGHS and raises
KeyboardInterrupt.

One deadline bounds a whole command. `SolveOptions.deadline` is the wall-clock time
(`time.time()`) by which every solve of the command must have ended: `allocator solve` sets
it to its start plus --time-limit, a study gives each of its jobs a share of it. Where a
command begins its solves (`make_plan`, a study's job) `with_deadline` fixes it, keeping back
`reserve_s` for what follows the last solve (extraction, the check, writing the plan). Every
call of `solve` then gives HiGHS the smaller of its own `time_limit` and the time left to the
deadline, so a sequence (bisection, tie-breaks, leximin rounds, LP rounds, explanations)
shares one limit whatever it asks; a call with no time left returns `time_limit` without a
solve. Sequences split the time left with `time_left(options)`.

HiGHS can overrun its own time limit several-fold, so a callback also interrupts it
once the wall clock passes HiGHS's limit plus GRACE_S; such a run is reported as
`time_limit`, like one HiGHS stopped itself. HiGHS calls no callback at all in some long
stretches (root cut separation on a city model: 10 s with neither its time limit nor an
interrupt looked at), so under a limit it runs in a thread of its own: ABANDON_S past the
guard the command stops waiting, keeps the last incumbent HiGHS reported (its improving-
solution callback) and goes on; the abandoned run is left to notice its interrupt in the
background and is never used again. The same callback prints a progress line
(the job's label, the stage, elapsed time, incumbent, bound, gap, time left) to stderr
when asked: redrawn in place on a terminal, one line per update otherwise (a file, a pipe,
a sweep worker).
"""
from __future__ import annotations

import atexit
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field, replace

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC

from allocator.solving.highs_model import CompiledModel, compile_model

GRACE_S = 1.0          # extra seconds HiGHS gets past its time limit before it is interrupted
ABANDON_S = 0.5        # further seconds after which the command stops waiting for an interrupted HiGHS
PROGRESS_EVERY_S = 2.0        # on a terminal (the line is redrawn)
HIGHS_REL_GAP = 1e-4          # HiGHS's default relative MIP gap: what "optimal" means unless --gap says otherwise
PROGRESS_LINE_EVERY_S = 5.0   # elsewhere (one line per update)
RESERVE_SHARE, RESERVE_MIN_S, RESERVE_MAX_S = 0.05, 0.5, 15.0
RESERVE_PER_ROW_S = 1.5e-4    # extraction, check and writing per row of the instance (measured 6e-5 to 3e-4 s)


@dataclass(frozen=True)
class SolveOptions:
    """Options every model's solve accepts; they all reach HiGHS."""

    time_limit: float | None = None     # seconds
    gap: float | None = None            # relative MIP gap, e.g. 0.01
    threads: int | None = None          # None: HiGHS decides
    seed: int = 0                       # HiGHS random_seed
    progress: bool = False              # print a progress line to stderr
    tee: bool = False                   # show HiGHS's own log
    deadline: float | None = None       # time.time() by which every solve of the command ends
    parts: int = 1                      # a study's job: it takes 1/parts of the time left to `deadline`
    label: str | None = None            # progress: the job of a study ("point 3/6")
    stage: str | None = None            # progress: the stage of a solve sequence ("tie-break: max efficiency")

    def as_dict(self) -> dict:
        return {"time_limit": self.time_limit, "gap": self.gap, "threads": self.threads, "seed": self.seed}

    def with_deadline(self, rows: int = 0, reserve: float = 0.0) -> "SolveOptions":
        """The options of a command (or a study's job) whose solves start now: its deadline is now
        plus `time_limit`, never later than a deadline already set (a job: its 1/parts share of the
        time left), less `reserve_s` (of an instance of `rows` rows; at least `reserve`) kept for the
        work after the last solve: at most half the time."""
        if self.time_limit is None and self.deadline is None:
            return self
        now = time.time()
        ends = [] if self.time_limit is None else [now + self.time_limit]
        if self.deadline is not None:
            ends.append(now + max(0.0, self.deadline - now) / max(1, self.parts))
        end = min(ends)
        kept = max(reserve, reserve_s(end - now, rows))
        return replace(self, deadline=end - min(kept, 0.5 * max(0.0, end - now)), parts=1)

    def stage_named(self, stage: str) -> "SolveOptions":
        return replace(self, stage=stage)


def reserve_s(time_limit: float | None, rows: int = 0) -> float:
    """Seconds kept back from a command's limit for the work after its last solve: a share of the
    limit, at least RESERVE_MIN_S, plus RESERVE_PER_ROW_S per row of the instance, at most RESERVE_MAX_S."""
    if time_limit is None:
        return 0.0
    return min(RESERVE_MAX_S, max(RESERVE_MIN_S, RESERVE_SHARE * time_limit) + RESERVE_PER_ROW_S * rows)


def deadline_of(options: SolveOptions) -> float | None:
    """The wall-clock end of a sequence starting now: the command's deadline, else now + time_limit."""
    if options.deadline is not None:
        return options.deadline if options.time_limit is None else min(options.deadline, time.time() + options.time_limit)
    return None if options.time_limit is None else time.time() + options.time_limit


def time_left(options: SolveOptions) -> float | None:
    """Seconds left to the deadline (None without a limit); a sequence splits them between its stages."""
    end = deadline_of(options)
    return None if end is None else end - time.time()


@dataclass(frozen=True)
class Target:
    """A value a MIP run is asked to reach, not to prove: HiGHS stops once its incumbent is at least as
    good as `value` (TARGET_REACHED), or, with `give_up`, once its bound shows that no plan is
    (TARGET_OUT_OF_REACH; without it HiGHS goes on to its best plan, for a use other than the target).
    Its best plan is kept either way, as at a time limit: the run proved nothing of its own optimum."""

    value: float
    maximise: bool
    give_up: bool = True

    def reached(self, incumbent: float) -> bool:
        return _known(incumbent) and (incumbent >= self.value if self.maximise else incumbent <= self.value)

    def out_of_reach(self, bound: float) -> bool:
        return self.give_up and _known(bound) and (bound < self.value if self.maximise else bound > self.value)


TARGET_REACHED, TARGET_OUT_OF_REACH = "target reached", "target out of reach"


def _known(value: float) -> bool:
    return value is not None and math.isfinite(value) and abs(value) < 1e30


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
    that it reaches the terminal even when sys.stderr is redirected. On a terminal it is
    redrawn in place every PROGRESS_EVERY_S; anywhere else (a file, a pipe, a sweep worker
    sharing the terminal with others) it is one full line every PROGRESS_LINE_EVERY_S.
    """

    def __init__(self, options: SolveOptions, time_limit: float | None = None, target: Target | None = None):
        self.options, self.target = options, target
        self.stopped: str | None = None       # why the target stopped HiGHS (TARGET_REACHED, TARGET_OUT_OF_REACH)
        self.stream = _terminal_stderr() if options.progress else None
        self.redraw = self.stream is not None and _is_terminal(self.stream) and not _in_sweep_worker()
        self.every = PROGRESS_EVERY_S if self.redraw else PROGRESS_LINE_EVERY_S
        self.start = time.monotonic()
        limit = options.time_limit if time_limit is None else time_limit
        self.deadline = None if limit is None else self.start + limit + GRACE_S
        self.guard_fired = False
        self.cancelled = False         # Ctrl-C while HiGHS runs in its own thread
        self.abandoned = False         # the command stopped waiting for HiGHS
        self.last_print = self.start
        self.incumbent: np.ndarray | None = None     # last improving solution HiGHS reported, its objective
        self.incumbent_value: float | None = None
        self.dual_bound = math.nan

    def improved(self, event) -> None:
        out = event.data_out
        self.incumbent = np.array(out.mip_solution, dtype=float)
        self.incumbent_value = float(out.objective_function_value)
        self.dual_bound = float(getattr(out, "mip_dual_bound", math.nan))

    def __call__(self, event) -> None:
        now = time.monotonic()
        if self.cancelled or self.abandoned or (self.deadline is not None and now > self.deadline):
            self.guard_fired = self.guard_fired or not self.cancelled
            event.interrupt()
        bound = getattr(event.data_out, "mip_dual_bound", math.nan)
        if math.isfinite(bound) and abs(bound) < 1e30:
            self.dual_bound = float(bound)
        if self.target is not None and self.stopped is None:
            self._aim(event, bound)
        if self.options.progress and now - self.last_print >= self.every:
            self.last_print = now
            out = event.data_out
            inc, bnd = getattr(out, "mip_primal_bound", math.inf), getattr(out, "mip_dual_bound", math.nan)
            self.show(now - self.start, inc, bnd, getattr(out, "mip_gap", math.nan))

    def _aim(self, event, bound: float) -> None:
        """Stop HiGHS once its incumbent reaches the target, or its bound puts the target out of reach."""
        incumbent = getattr(event.data_out, "mip_primal_bound", math.nan)
        if self.target.reached(incumbent):
            self.stopped = TARGET_REACHED
        elif self.target.out_of_reach(bound):
            self.stopped = TARGET_OUT_OF_REACH
        if self.stopped is not None:
            event.interrupt()

    def show(self, elapsed: float, inc: float, bnd: float, gap: float) -> None:
        line = progress_line(self.options, elapsed, inc, bnd, gap)
        self.stream.write(f"\r{line}   " if self.redraw else line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.stream is None:
            return
        if self.redraw and self.last_print > self.start:
            self.stream.write("\n")
            self.stream.flush()
        if self.stream is not sys.stderr:
            self.stream.close()


def progress_line(options: SolveOptions, elapsed: float, incumbent: float, bound: float, gap: float) -> str:
    """'  point 3/6 · tie-break: max efficiency: 12 s, incumbent 0.7745, bound 0.7751, gap 0.08%, 40 s left'."""
    found = math.isfinite(incumbent) and abs(incumbent) < 1e30
    shown = f"{incumbent:.6g}" if found else "none yet"
    bound_text = f"{bound:.6g}" if math.isfinite(bound) and abs(bound) < 1e30 else "-"
    known = found and math.isfinite(gap) and 0 <= gap < 1e10        # without an incumbent HiGHS's gap means nothing
    gap_text = f"{100 * gap:.2f}%" if known else "-"
    where = " · ".join(x for x in (options.label, options.stage) if x) or "solving"
    left = time_left(options)
    left_text = "" if left is None else f", {max(0.0, left):.0f} s left"
    return f"  {where}: {elapsed:.0f} s, incumbent {shown}, bound {bound_text}, gap {gap_text}{left_text}"


def note(options: SolveOptions, text: str) -> None:
    """One progress line (when progress is asked) for a step without HiGHS: loading, building, a hand-over."""
    if not options.progress:
        return
    stream = _terminal_stderr()
    where = " · ".join(x for x in (options.label, options.stage) if x)
    left = time_left(options)
    stream.write(f"  {where + ': ' if where else ''}{text}{'' if left is None else f', {max(0.0, left):.0f} s left'}\n")
    stream.flush()
    if stream is not sys.stderr:
        stream.close()


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _in_sweep_worker() -> bool:
    """True in a Dask worker process (it shares the terminal with other workers: no redrawn line)."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return False
    try:
        distributed.get_worker()
        return True
    except ValueError:
        return False


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
          persistent: Persistent | None = None, highs_options: dict | None = None, relax: bool = False,
          target: Target | None = None) -> SolveResult:
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

    `target` stops a MIP run early, at a plan good enough or a bound that shows none is (`Target`).
    """
    _use_threads(options.threads)
    t0 = time.perf_counter()
    if options.deadline is not None and options.deadline <= time.time():   # no time even to hand the model over
        return SolveResult("time_limit", None, None, None, "no time left")
    compiled = persistent.prepare(model) if persistent is not None else compile_model(model)
    highs = compiled.highs
    compiled.relax(relax)
    if start:
        _set_start(compiled, start)
    limit = time_left(options)
    if limit is not None and limit <= 0:        # the command's time is used up: no solve, no plan
        return SolveResult("time_limit", None, None, None, "no time left", solver_version=highs.version(),
                           handover_s=time.perf_counter() - t0)
    _set_options(highs, options, highs_options, limit)
    handover_s = time.perf_counter() - t0
    if handover_s > PROGRESS_EVERY_S:
        note(options, f"handed to HiGHS in {handover_s:.0f} s")
    watch = _Watch(options, limit, target)
    events = (highs.cbMipInterrupt, highs.cbSimplexInterrupt, highs.cbIpmInterrupt)
    for event in events:
        event.subscribe(watch)
    highs.cbMipImprovingSolution.subscribe(watch.improved)
    t1 = time.perf_counter()
    try:
        _run(highs, watch)
    finally:
        watch.finish()
        if not watch.abandoned:              # an abandoned run still calls them
            for event in events:
                event.unsubscribe(watch)
            highs.cbMipImprovingSolution.unsubscribe(watch.improved)
    solve_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    if watch.abandoned:
        if persistent is not None:
            persistent.compiled = None       # the abandoned HiGHS model is never solved again
        result = _abandoned_result(compiled, watch)
    else:
        result = _result(compiled, watch)
    result.handover_s = handover_s + time.perf_counter() - t2
    result.solve_s = solve_s
    return result


_abandoned: list = []      # HiGHS runs the command stopped waiting for: (Highs, finished event), kept alive


def _run(highs: highspy.Highs, watch: _Watch) -> None:
    """highs.run(); under a time limit in a thread of its own, abandoned ABANDON_S after the guard's time."""
    if watch.deadline is None:
        highs.run()
        return
    done, failure = threading.Event(), []

    def run() -> None:
        try:
            highs.run()
        except BaseException as err:  # handed to the waiting thread
            failure.append(err)
        finally:
            done.set()

    threading.Thread(target=run, name="highs", daemon=True).start()
    try:
        while not done.wait(0.05):
            if time.monotonic() > watch.deadline + ABANDON_S:
                watch.abandoned = True
                _abandoned.append((highs, done))
                return
    except KeyboardInterrupt:
        watch.cancelled = True               # HiGHS stops at its next callback; nothing is kept
        if not done.wait(5.0):               # still inside HiGHS: abandoned, so that the process ends at once
            _abandoned.append((highs, done)) # (the interpreter's shutdown would abort inside HiGHS)
        raise
    if failure:
        raise failure[0]


def abandoned_runs() -> int:
    """HiGHS runs abandoned at a deadline that are still going (a process ending now must not wait for
    them, nor let the interpreter's shutdown stop their threads inside HiGHS: it aborts)."""
    _abandoned[:] = [(h, done) for h, done in _abandoned if not done.is_set()]
    return len(_abandoned)


@atexit.register
def _wait_for_abandoned(limit_s: float = 60.0) -> None:
    """At the end of a process that did not end at once (`allocator.cli` does): let abandoned HiGHS runs,
    interrupted, reach their next callback, so that no thread is stopped inside HiGHS."""
    end = time.monotonic() + limit_s
    for _, done in list(_abandoned):
        done.wait(max(0.0, end - time.monotonic()))


def _abandoned_result(compiled: CompiledModel, watch: _Watch) -> SolveResult:
    """The last incumbent HiGHS reported before the command stopped waiting for it (`time_limit`)."""
    has_solution = watch.incumbent is not None and len(watch.incumbent) == len(compiled.columns)
    objective = bound = gap = None
    if has_solution:
        compiled.load(watch.incumbent)
        objective = _finite(watch.incumbent_value)
        bound = _finite(watch.dual_bound)
        gap = relative_gap(objective, bound)
    return SolveResult("time_limit", objective, bound, gap, "abandoned past the deadline",
                       solver_version=compiled.highs.version(), has_solution=has_solution and objective is not None)


def _set_options(highs: highspy.Highs, options: SolveOptions, highs_options: dict | None, limit: float | None) -> None:
    """The run's options: output, time limit (the time left), MIP gap, threads, seed, then the model's raw options."""
    values = {"output_flag": bool(options.tee), "log_to_console": bool(options.tee), "random_seed": int(options.seed)}
    if limit is not None:
        values["time_limit"] = float(limit)
    if options.gap is not None:
        values["mip_rel_gap"] = float(options.gap)
    if options.threads is not None:
        values["threads"] = int(options.threads)
    for key, option in {**values, **(highs_options or {})}.items():
        if highs.setOptionValue(key, option) == highspy.HighsStatus.kError:
            raise ValueError(f"HiGHS refused option {key}={option!r}")


_threads_in_use: list = []


def _use_threads(threads: int | None) -> None:
    """HiGHS keeps one thread scheduler per process, sized by the first solve; resize it on change
    (not while an abandoned run may still use it)."""
    _abandoned[:] = [(h, done) for h, done in _abandoned if not done.is_set()]
    if _threads_in_use and _threads_in_use[-1] != threads and not _abandoned:
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
        if not watch.guard_fired and watch.stopped is None:
            raise KeyboardInterrupt
        status = "time_limit"          # the wall-clock guard or the target stopped HiGHS: keep its incumbent
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
    termination = model_status.name
    if model_status in (_S.kInterrupt, _S.kHighsInterrupt):
        termination = "wall_clock_guard" if watch.guard_fired else (watch.stopped or termination)
    return SolveResult(status, objective, bound, gap, termination, solver_version=highs.version(),
                       has_solution=has_solution, highs_info=_highs_info(info))


def relative_gap(value: float | None, bound: float | None) -> float | None:
    """|value − bound| / max(|value|, 1e-10): how far a plan's objective may lie from the best
    possible (None without both). The one gap every model reports."""
    if value is None or bound is None:
        return None
    return abs(value - bound) / max(abs(value), 1e-10)


def tighter_bound(result: SolveResult, bound: float | None, maximise: bool) -> SolveResult:
    """`result` with the tighter of its bound and `bound` (another bound proven on the same objective: an LP
    relaxation's, a relaxed model's) and its gap against it; its status is left as it was."""
    if bound is None or not result.has_solution or result.objective is None:
        return result
    best = bound if result.bound is None else (min(bound, result.bound) if maximise else max(bound, result.bound))
    return replace(result, bound=best, gap=primary_gap(result.objective, best, maximise))


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
