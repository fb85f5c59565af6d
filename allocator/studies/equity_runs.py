"""What `allocator frontier` and `allocator equity-bench` share: the problem asked (`ProblemSpec`),
one solve of it as a sweep task (`Job`, `Task`, `solve_job`), the group levels of a written
plan (`spec_plan_levels`) and the settings written next to the results.

Problems by model (`equity_problem`, built by allocator.solving.equity_problems):
    city          levels: districts' service index I_d (models.city); weights: population;
                  Hoover: district spend against population
    grid          levels: districts' share of grid workload met; weights: workload
    facilities    levels: districts' share of target groups within reach; weights: that demand
    enforcement   levels: coverage ratios (s_t + q_t)/D_t of towns, or of districts
                  Σ(s+q)/ΣD (--by district); weights: the standard D; Hoover: salary of
                  the officers counted in a group against its population
(models.block_equity states the grid, facilities and enforcement problems.)

A job is solved by allocator.solving.equity: `solve_measure` for a measure as the objective
(with its tie-break), `solve_bounded` for an ε-constraint point (max efficiency, the measure
bounded); an equity measure is held to the efficient plan (allocator.solving.fair: no levelling
down). A plan's headline (objective_value, bound, mip_gap) is its primary objective's: the
measure asked (efficiency for utilitarian and for a bounded point), its value recomputed from
the tables against the bound the sequence proved on it; `stages` in plan.json lists each solve. `solve_job` runs on a sweep worker: it builds the problem, solves the job, checks
the plan with its model's checker and writes it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC

from allocator.errors import InputError, Problem
from allocator.files import write_file
from allocator.data.instance import Instance
from allocator.models.block_equity import enforcement_levels, facilities_levels, grid_levels
from allocator.models.city import city_plan_levels
from allocator.models.equity_problem import EquityProblem, PlanLevels
from allocator.plans.checks import check_plan
from allocator.plans.plan import Plan, write_plan
from allocator.solving import equity_problems
from allocator.solving.equity import EquityOutcome, solve_bounded, solve_measure
from allocator.solving.fair import (add_kept_plan, keep_plan, keep_reference, kept_start, last_kept_plan, mark_built,
                                    solve_fair)
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions, deadline_of, note, reserve_s, time_left
from allocator.studies.sweep import highs_version, library_versions, load_cached, result_row, worker_name

MODELS = ("city", "enforcement", "grid", "facilities")
GROUPINGS = ("district", "town")


@dataclass(frozen=True)
class ProblemSpec:
    """Which model's group levels, grouped how, under which run options."""

    model: str = "city"
    by: str = "district"
    index_weights: tuple[float, ...] | None = None
    run: RunOptions | None = None

    def options(self) -> RunOptions:
        return self.run or RunOptions(model=self.model)

    def as_meta(self) -> dict:
        return {"model": self.model, "by": self.by, "index_weights": list(self.index_weights) if self.index_weights else None,
                "options": self.options().as_dict()}


def check_limits(city: Instance, spec: ProblemSpec) -> None:
    """Refuse (exit 2, nothing written) a grid or facilities budget no plan can keep, before any solve."""
    if spec.model in equity_problems.BLOCKS_ALONE:
        equity_problems.check_block_limits(city, spec.options(), spec.model)


def check_spec(spec: ProblemSpec) -> None:
    if spec.model not in MODELS:
        raise InputError(Problem("--model", f"equity frontiers and benchmarks work on the models {', '.join(MODELS)}",
                                 value=spec.model))
    if spec.by not in GROUPINGS or (spec.model != "enforcement" and spec.by != "district"):
        raise InputError(Problem("--by", f"the {spec.model} model balances districts (--by district); enforcement "
                                         "compares towns or districts", value=spec.by))


def group_count(city: Instance, spec: ProblemSpec) -> int:
    """How many groups the spec compares (towns or districts)."""
    return len(city.towns) if spec.by == "town" else len(city.districts)


# --- problems and the levels of a plan ---------------------------------------------------------

def equity_problem(city: Instance, spec: ProblemSpec) -> EquityProblem:
    """The `EquityProblem` of the spec's model on `city` (a fresh Pyomo model)."""
    return equity_problems.equity_problem(city, spec.options(), spec.model, spec.by, spec.index_weights)


def spec_plan_levels(plan: Plan, city: Instance, spec: ProblemSpec) -> PlanLevels:
    """The group levels of a written plan of the spec's model, recomputed from its tables."""
    if spec.model == "city":
        return city_plan_levels(plan.tables, city)
    if spec.model == "grid":
        return grid_levels(plan.tables, city, _level_groups(plan))
    if spec.model == "facilities":
        return facilities_levels(plan.tables, city, _level_groups(plan))
    return enforcement_levels(plan.tables, city, spec.by)


def _level_groups(plan: Plan) -> list[str]:
    """The districts a grid or facilities plan was balanced over (those with workload or demand)."""
    return list((plan.meta.get("equity") or {}).get("groups") or plan.tables["districts"]["district_id"].astype(str))


# --- one solve, as a sweep task --------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    """One solve: the measure as the objective (with a tie-break), or as a bound on max efficiency."""

    kind: str                      # "objective" | "bound"
    measure: str
    bound: float | None = None
    tie_break: str | None = None
    role: str = ""                 # "utilitarian" | "fairest" | "point" | "objective"
    point: int | None = None


@dataclass(frozen=True)
class Task:
    """What every worker needs: the problem and the job of each scenario, by scenario name."""

    spec: ProblemSpec
    jobs: tuple[tuple[str, Job], ...] = ()

    def job(self, name: str) -> Job:
        return dict(self.jobs)[name]


def solve_job(task: Task, instance_path: str, instance_sha256: str, options: RunOptions,
              solve_options: SolveOptions, plan_dir: str) -> dict[str, Any]:
    """Run on a worker (the signature of allocator.studies.sweep.solve_scenario, with the task bound first)."""
    t0 = time.perf_counter()
    row: dict[str, Any] = {"status": "error", "plan_written": False, "worker": worker_name(), "message": ""}
    try:
        city, digest = load_cached(instance_path)
        if digest != instance_sha256:
            row["message"] = f"the worker read a different instance at {instance_path}"
            return row
        city = city.with_basis(task.spec.options().basis)
        with PauseGC():          # as in make_plan: the collector would walk the model again and again
            plan = solve_plan(city, task.spec, task.job(Path(plan_dir).name), solve_options,
                              shared=Path(plan_dir).parent.parent / SHARED_STARTS)
            if plan.tables:
                plan.meta["check"] = check_plan(plan, city).as_dict()
        write_plan(plan, plan_dir, overwrite=True)     # the study's own plan folder, re-solved on resume
        row.update(result_row(plan.meta), plan_written=True)
    except InputError as err:
        row["message"] = err.describe()
    except Exception as err:  # recorded in the scenario's row; the sweep goes on
        row["message"] = f"{type(err).__name__}: {err}"
    row["wall_s"] = time.perf_counter() - t0
    return row


_BUILD_S: dict[tuple, float] = {}      # per process: seconds the last build of a problem took


# --- one built problem per process, reused by the jobs after it ----------------------------------
#
# Building the city model takes seconds to minutes (Chongqing: about 13 s), every job of a study asks
# the same problem, and a job changes its model only by adding top-level components (the measure's
# block, the rows holding an optimum, the leximin and not-dominated blocks) and switching objectives.
# So the last problem built in a process is kept with the names of its top-level components and the
# objectives active as built; the next job of the same problem gets it back with every component added
# since deleted and those objectives restored: the model as built. A problem whose blocks were changed
# (Hoover's `release_spend` frees staff and sites the reductions settled) is not reused. The efficient
# reference proven on it and the last plans solved on it stay with it (allocator.solving.fair).

_KEPT: dict[str, tuple] = {}


def _problem_key(city: Instance, spec: ProblemSpec) -> tuple:
    return (city.content_hash(), city.basis, repr(spec.as_meta()))


def build_problem(city: Instance, spec: ProblemSpec) -> EquityProblem:
    """A fresh problem (`equity_problem`), kept for the next jobs of this process (`kept_problem`)."""
    _KEPT.clear()                                  # one model in memory at a time
    problem = equity_problem(city, spec)
    model = problem.model
    names = {c.local_name for c in model.component_objects(descend_into=False)}
    active = [o for o in model.component_data_objects(pyo.Objective) if o.active]
    release = problem.release_spend
    if release is not None:
        def released() -> None:
            problem.kept["changed"] = True
            release()
        problem.release_spend = released
    mark_built(problem)
    _KEPT["problem"] = (_problem_key(city, spec), problem, names, active)
    return problem


SHARED_STARTS = "starts"      # a study's folder of plans shared as starts (one .npz per solve)
_TAKEN = "shared starts taken"


def share_start(problem: EquityProblem, shared: Path | None, job: Job) -> None:
    """Write the plan just kept to `shared` for the study's other processes: a frontier point solved on another
    Dask worker than the tighter plans before it still starts from them (`take_shared_starts`)."""
    arrays = last_kept_plan(problem)
    if shared is None or arrays is None:
        return
    name = f"{job.role}-{job.point:03d}.npz"              # fairest ends and points are numbered
    write_file(shared / name, lambda tmp: np.savez_compressed(tmp, **arrays))
    problem.kept.setdefault(_TAKEN, set()).add(name)


def take_shared_starts(problem: EquityProblem, shared: Path | None) -> None:
    """Keep the plans other processes of the study shared (`share_start`) that this process has not taken yet:
    the fairest end first, then points from the tightest, so the loosest plans solved so far (the most efficient
    starts that may keep a point's bound) are the last kept (a problem keeps a few)."""
    if shared is None or not shared.is_dir():
        return
    taken = problem.kept.setdefault(_TAKEN, set())
    for path in sorted(shared.glob("*.npz"), key=lambda f: (not f.name.startswith("fairest"), -_point_of(f.name))):
        if path.name.startswith(".") or path.name in taken:
            continue
        taken.add(path.name)
        with np.load(path) as arrays:
            add_kept_plan(problem, {k: arrays[k] for k in arrays.files})


def _point_of(name: str) -> int:
    digits = name.rsplit("-", 1)[-1].split(".")[0]
    return int(digits) if digits.isdigit() else 0


def kept_problem(city: Instance, spec: ProblemSpec) -> EquityProblem | None:
    """The problem built last in this process, back as built, if it is the spec's on this city and unchanged."""
    kept = _KEPT.get("problem")
    if kept is None or kept[0] != _problem_key(city, spec) or kept[1].kept.get("changed"):
        return None
    _, problem, names, active = kept
    model = problem.model
    for component in reversed(list(model.component_objects(descend_into=False))):
        if component.local_name not in names:
            model.del_component(component)
    for objective in model.component_data_objects(pyo.Objective):
        objective.activate() if any(objective is o for o in active) else objective.deactivate()
    return problem


def solve_plan(city: Instance, spec: ProblemSpec, job: Job, solve_options: SolveOptions,
               shared: Path | None = None) -> Plan:
    """Build the problem, solve the job, and return the plan (tables + meta), not yet written. `shared`: a
    study's folder of plans shared between its processes as starts of ε-constraint points (`share_start`)."""
    t0 = time.perf_counter()
    fairness: dict = {}
    solve_options = solve_options.with_deadline(sum(len(t) for t in (city.grids, city.sites, city.towns)))
    left, key = time_left(solve_options), (city.content_hash(), spec.model, spec.by)
    note(solve_options, f"building the {spec.model} problem")
    # a job is not started when the time left would not even build its model (as long as the last build here took)
    problem = kept_problem(city, spec)
    if problem is None and (left is None or left > _BUILD_S.get(key, 0.0)):
        problem = build_problem(city, spec)
        _BUILD_S[key] = time.perf_counter() - t0
    build_s = time.perf_counter() - t0
    if problem is None:           # the study's --time-limit left this job no time: nothing is built
        outcome = EquityOutcome("time_limit", None, job.measure, "constraint" if job.kind == "bound" else "objective",
                                job.bound)
    elif job.kind == "bound":     # from the most efficient plan solved here (or shared) that keeps the bound
        take_shared_starts(problem, shared)
        outcome = solve_bounded(problem, job.measure, job.bound, solve_options,
                                start=kept_start(problem, job.measure, job.bound))
    elif job.measure == "utilitarian":
        outcome = solve_measure(problem, job.measure, solve_options, tie_break=job.tie_break)
        if outcome.has_solution:      # a max-U plan, whatever its tie-break: the efficient reference of later jobs
            keep_reference(problem, outcome.result, solve_options)
    else:                       # held to the efficient plan: no levelling down
        outcome, fairness = solve_fair(problem, job.measure, solve_options, tie_break=job.tie_break)
    if outcome.has_solution:
        keep_plan(problem)
        if job.role in ("fairest", "point"):
            share_start(problem, shared, job)
    t1 = time.perf_counter()
    tables = problem.tables() if outcome.has_solution else {}
    extract_s = time.perf_counter() - t1
    name = _objective_name(spec, job, outcome.plan_is)
    value = None
    equity = {**outcome.as_meta(), "job": job.__dict__, "group": problem and problem.group,
              "groups": [str(g) for g in problem.levels] if problem else [], "fairness": fairness}
    if tables:
        levels = problem.plan_levels(tables)
        equity.update(efficiency=levels.efficiency(), measured=levels.measure(job.measure), min_level=float(levels.levels.min()))
        value = equity["efficiency"] if job.kind == "bound" or job.measure == "utilitarian" else (
            float(levels.levels.min()) if job.measure == "leximin" else equity["measured"])
    r = outcome.headline(value, solve_options.gap)    # the primary objective: value from the tables, bound, gap
    meta = {
        "model": spec.model, "objective": name, "objective_value": value, "status": outcome.status,
        "mip_gap": r.gap if r else None, "bound": r.bound if r else None, "solver": "highs",
        "solver_version": r.solver_version if r else "", "options": {**spec.options().as_dict(), **solve_options.as_dict()},
        "seed": solve_options.seed, "threads": solve_options.threads, "instance": city.name,
        "instance_sha256": city.content_hash(), "instance_source": city.source, "basis": city.basis,
        "timings": {"build_s": build_s, "handover_s": r.handover_s if r else 0.0, "solve_s": r.solve_s if r else 0.0,
                    "extract_s": extract_s, "total_s": time.perf_counter() - t0},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "explanation": None if tables else ("--time-limit left no time for this solve" if problem is None
                                            else f"no plan was found ({outcome.status})"),
        "status_text": outcome.status_text, "stages": outcome.stages,
        **({"objective_asked": _objective_name(spec, job)} if outcome.plan_is not in (None, job.measure) else {}),
        **(problem.meta if problem else {}), "equity": equity, "spec": spec.as_meta(),
    }
    return Plan(meta, tables)


def _objective_name(spec: ProblemSpec, job: Job, plan_is: str | None = None) -> str:
    """City plans carry the measure (its checker recomputes it); a bounded point maximises U; `plan_is`:
    the measure the plan answers when it is not the one asked (a leximin stopped before its first round)."""
    measure = "utilitarian" if job.kind == "bound" else (plan_is or job.measure)
    return measure if spec.model == "city" else f"equity-{measure}"


# --- a plan's headline in a table -------------------------------------------------------------

HEADLINE_COLUMNS = ("objective_value", "bound", "gap", "status_text", "stages")


def headline(plan: Plan | None) -> dict:
    """The primary objective's value, bound and gap as a plan.json gives them, the words for a sequence cut
    short, and its stages in one cell ("stage: status, value v, bound b, gap g %, s s; ...")."""
    if plan is None:
        return {"objective_value": None, "bound": None, "gap": None, "status_text": None, "stages": ""}
    m = plan.meta
    return {"objective_value": m.get("objective_value"), "bound": m.get("bound"), "gap": m.get("mip_gap"),
            "status_text": m.get("status_text"), "stages": "; ".join(_stage_text(s) for s in m.get("stages") or [])}


def _stage_text(stage: dict) -> str:
    def number(x):
        return "-" if x is None else f"{x:.6g}"
    gap = "-" if stage.get("gap") is None else f"{100 * stage['gap']:.3g} %"
    kept = " (kept from an earlier solve)" if stage.get("kept_from_earlier_solve") else ""
    return (f"{stage['stage']}: {stage['status']}, value {number(stage.get('value'))}, bound {number(stage.get('bound'))}, "
            f"gap {gap}, {stage.get('seconds') or 0.0:.1f} s{kept}")


# --- one time limit for a whole study -------------------------------------------------------------

FINISH_S = 3.0      # kept back from a study's --time-limit for reading the plans back, the table and the chart


def study_deadline(solve_options: SolveOptions, city: Instance) -> float | None:
    """When a study's solves must end (time.time()): the command's deadline (else now + --time-limit),
    less what the end of the study needs (FINISH_S and `reserve_s`), at most half the time left."""
    end = deadline_of(solve_options)
    if end is None:
        return None
    now = time.time()
    spent = now - (end - solve_options.time_limit) if solve_options.time_limit is not None else 0.0   # loading took
    kept = FINISH_S + max(spent, reserve_s(solve_options.time_limit, len(city.grids) + len(city.sites)))
    return end - min(0.5 * max(0.0, end - now), kept)


# --- settings written next to the results --------------------------------------------------------

def versions() -> dict:
    """Versions of the libraries and of HiGHS that solved (None when not found)."""
    return {**library_versions(("pyomo", "highspy", "numpy", "pandas")), "highs": highs_version()}


def comment_header(settings: dict) -> str:
    """'# key: value' lines (read back with pandas.read_csv(..., comment='#'))."""
    v = settings.get("versions") or {}
    s = settings.get("solve_options") or {}
    lines = [f"instance: {settings.get('instance')} sha256 {settings.get('instance_sha256')}",
             f"solver: highs {v.get('highs')} (highspy {v.get('highspy')}, pyomo {v.get('pyomo')}); seed {s.get('seed')}, "
             f"threads {s.get('threads')}, gap {s.get('gap')}, time limit {s.get('time_limit')}"]
    return "".join(f"# {line}\n" for line in lines)
