"""Efficiency–equity Pareto frontiers by the ε-constraint method (DESIGN §5), on the sweep machinery.

    frame = run_frontier("cities/a", ProblemSpec("city"), "maxmin", points=6, out="out/frontier")

Efficiency is the utilitarian level U = Σ_g w_g L_g of the model's group levels
(`models.equity_problem.EquityProblem`): the population-weighted mean service index of the
districts (model `city`), or the demand-weighted mean coverage ratio of towns or
districts (model `enforcement`, --by; its own efficiency objective: the share of the
staffing standard met). The frontier:

    end 0      max U (ties: the best equity measure)                 → U*, E_u
    end N+1    the equity measure's optimum (ties: max U)            → U_f, E_f
    points k   max U  s.t. E ≥ β_k (E ≤ β_k for inequality measures),
               β_k = E_u + k (E_f − E_u) / (N + 1),   k = 1..N

Tightening β shrinks the feasible set, so U falls (weakly) from end 0 to end N+1. The
price of fairness of a point is (U* − U) / U*. Each solve is one scenario of
`allocator.studies.sweep.run_sweep` (local Dask workers, a named scheduler, or in process), written
as a plan folder and checked by the model's independent checker; the two ends run first,
the points after them (the sweep is resumed with them), so `--resume` finishes an
interrupted frontier. Efficiency and the equity value in frontier.csv are recomputed from
each plan's tables with `allocator.metrics`.

Layout of OUT: frontier.csv, frontier.json (settings and versions), frontier.png/.svg, and
the sweep's sweep.csv, sweep.json, plans/<end=…|point=…>/.

Problems by model (`equity_problem`):
    city          levels: districts' service index I_d (models.city); weights: population;
                  Hoover: district spend against population
    enforcement   levels: coverage ratios (s_t + q_t)/D_t of towns, or of districts
                  Σ(s+q)/ΣD (--by district); weights: the standard D; Hoover: salary of
                  the officers counted in a group against its population (models.block_equity,
                  built by allocator.solving.equity_problems).
"""
from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from allocator.errors import InputError, Problem
from allocator.data.instance import Instance
from allocator.models.block_equity import enforcement_levels, facilities_levels, grid_levels
from allocator.models.city import city_plan_levels
from allocator.plans.plan import Plan, read_plan, write_plan
from allocator.solving import equity_problems
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions
from allocator.studies.sweep import PLANS_DIR, Scenario, _load_cached, _worker_name, run_sweep

MODELS = ("city", "enforcement", "grid", "facilities")
GROUPINGS = ("district", "town")
FRONTIER_CSV, FRONTIER_JSON = "frontier.csv", "frontier.json"
FRONTIER_COLUMNS = ("point", "role", "equity_bound", "efficiency", "equity", "price_of_fairness", "status", "gap",
                    "check_passed", "plan_dir")
MAX_POINTS = 200


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


# --- problems --------------------------------------------------------------------------------

def equity_problem(city: Instance, spec: ProblemSpec):
    """The `EquityProblem` of the spec's model on `city` (a fresh Pyomo model)."""
    return equity_problems.equity_problem(city, spec.options(), spec.model, spec.by, spec.index_weights)


def plan_levels(plan: Plan, city: Instance, spec: ProblemSpec):
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
    from allocator.plans.checks import check_plan
    from allocator.errors import InputError as BadInput

    t0 = time.perf_counter()
    row: dict[str, Any] = {"status": "error", "plan_written": False, "worker": _worker_name(), "message": ""}
    try:
        city, digest = _load_cached(instance_path)
        if digest != instance_sha256:
            row["message"] = f"the worker read a different instance at {instance_path}"
            return row
        city = city.with_basis(task.spec.options().basis)
        plan = solve_plan(city, task.spec, task.job(Path(plan_dir).name), solve_options)
        if plan.tables:
            report = check_plan(plan, city)
            plan.meta["check"] = report.as_dict()
        write_plan(plan, plan_dir)
        check = plan.meta.get("check") or {}
        row.update(status=plan.meta["status"], objective=plan.meta["objective_value"], gap=plan.meta["mip_gap"],
                   objective_name=plan.meta["objective"], check_passed=check.get("passed"),
                   n_violations=check.get("n_violations"), message=plan.meta.get("explanation") or "",
                   plan_written=True, **plan.meta["timings"])
    except BadInput as err:
        row["message"] = err.describe()
    except Exception as err:  # recorded in the scenario's row; the sweep goes on
        row["message"] = f"{type(err).__name__}: {err}"
    row["wall_s"] = time.perf_counter() - t0
    return row


def solve_plan(city: Instance, spec: ProblemSpec, job: Job, solve_options: SolveOptions) -> Plan:
    """Build the problem, solve the job, and return the plan (tables + meta), not yet written."""
    from allocator.solving.equity import solve_bounded, solve_measure

    t0 = time.perf_counter()
    problem = equity_problem(city, spec)
    build_s = time.perf_counter() - t0
    if job.kind == "bound":
        outcome = solve_bounded(problem, job.measure, job.bound, solve_options)
    else:
        outcome = solve_measure(problem, job.measure, solve_options, tie_break=job.tie_break)
    t1 = time.perf_counter()
    tables = problem.tables() if outcome.has_solution else {}
    extract_s = time.perf_counter() - t1
    r = outcome.result
    name = _objective_name(spec, job)
    value = None
    equity = {**outcome.as_meta(), "job": job.__dict__, "group": problem.group, "groups": [str(g) for g in problem.levels]}
    if tables:
        levels = problem.plan_levels(tables)
        equity.update(efficiency=levels.efficiency(), measured=levels.measure(job.measure), min_level=float(levels.levels.min()))
        value = equity["efficiency"] if job.kind == "bound" or job.measure == "utilitarian" else (
            float(levels.levels.min()) if job.measure == "leximin" else equity["measured"])
    meta = {
        "model": spec.model, "objective": name, "objective_value": value, "status": outcome.status,
        "mip_gap": r.gap if r else None, "bound": r.bound if r else None, "solver": "highs",
        "solver_version": r.solver_version if r else "", "options": {**spec.options().as_dict(), **solve_options.as_dict()},
        "seed": solve_options.seed, "threads": solve_options.threads, "instance": city.name,
        "instance_sha256": city.content_hash(), "instance_source": city.source, "basis": city.basis,
        "timings": {"build_s": build_s, "handover_s": r.handover_s if r else 0.0, "solve_s": r.solve_s if r else 0.0,
                    "extract_s": extract_s, "total_s": time.perf_counter() - t0},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "explanation": None if tables else f"no plan was found ({outcome.status})",
        **problem.meta, "equity": equity, "spec": spec.as_meta(),
    }
    return Plan(meta, tables)


def _objective_name(spec: ProblemSpec, job: Job) -> str:
    """City plans carry the measure (its checker recomputes it); a bounded point maximises U."""
    measure = "utilitarian" if job.kind == "bound" else job.measure
    return measure if spec.model == "city" else f"equity-{measure}"


# --- the frontier ----------------------------------------------------------------------------

def run_frontier(instance_path: str | Path, spec: ProblemSpec, measure: str, points: int, out: str | Path,
                 workers: int | None = None, scheduler: str | None = None, resume: bool = False,
                 solve_options: SolveOptions | None = None,
                 progress: Callable[[int, int, dict], None] | None = None) -> pd.DataFrame:
    """Solve both ends and `points` ε-constraint points; write frontier.csv and the chart; return the frame."""
    from allocator.models.equity_problem import check_measure

    from allocator.data.loader import load_instance

    check_spec(spec)
    check_measure(measure, "constraint")
    if not 1 <= points <= MAX_POINTS:
        raise InputError(Problem("--points", f"must be from 1 to {MAX_POINTS}", value=points))
    solve_options = solve_options or SolveOptions(threads=1)
    out = Path(out)
    city = load_instance(instance_path).with_basis(spec.options().basis)
    check_measure(measure, "constraint", _group_count(city, spec))
    check_limits(city, spec)
    settings = _settings(city, spec, measure, points, solve_options)
    _check_settings(out, settings, resume)
    ends = (("end=utilitarian", Job("objective", "utilitarian", tie_break=measure, role="utilitarian", point=0)),
            (f"end={measure}", Job("objective", measure, role="fairest", point=points + 1)))
    base = spec.options()
    _sweep(instance_path, base, Task(spec, ends), out, workers, scheduler, resume, solve_options, progress)
    _write_json(out / FRONTIER_JSON, settings)
    u_end, f_end = (_measured(out, name, city, spec, measure) for name, _ in ends)
    if u_end is None or f_end is None:
        raise InputError(Problem(str(out), "an end of the frontier has no plan (see sweep.csv); nothing to bound between"))
    bounds = np.linspace(u_end[1], f_end[1], points + 2)[1:-1]
    jobs = ends + tuple((f"point={k:02d}", Job("bound", measure, float(b), role="point", point=k))
                        for k, b in enumerate(bounds, start=1))
    _sweep(instance_path, base, Task(spec, jobs), out, workers, scheduler, True, solve_options, progress)
    frame = frontier_frame(out, city, spec, measure, jobs)
    _write_csv(out / FRONTIER_CSV, frame, settings)
    from allocator.studies.equity_bench import frontier_figure, save_both

    save_both(frontier_figure(frame, measure, city.name, spec), out / "frontier")
    settings.update(finished=_now(), bounds=[float(b) for b in bounds])
    _write_json(out / FRONTIER_JSON, settings)
    return frame


def _group_count(city: Instance, spec: ProblemSpec) -> int:
    return len(city.towns) if spec.by == "town" else len(city.districts)


def _sweep(instance_path, base: RunOptions, task: Task, out: Path, workers, scheduler, resume: bool,
           solve_options: SolveOptions, progress) -> pd.DataFrame:
    scenarios = [Scenario(name, ()) for name, _ in task.jobs]
    return run_sweep(instance_path, base, scenarios, out, workers=workers, scheduler=scheduler, resume=resume,
                     progress=progress, solve_options=solve_options, task=functools.partial(solve_job, task))


def _measured(out: Path, name: str, city: Instance, spec: ProblemSpec, measure: str) -> tuple[float, float] | None:
    folder = out / PLANS_DIR / name
    if not (folder / "plan.json").exists():
        return None
    plan = read_plan(folder)
    if not plan.tables:
        return None
    levels = plan_levels(plan, city, spec)
    return levels.efficiency(), levels.measure(measure)


def frontier_frame(out: Path, city: Instance, spec: ProblemSpec, measure: str, jobs) -> pd.DataFrame:
    """One row per solve, efficiency and the equity value recomputed from each plan's tables."""
    rows = []
    for name, job in jobs:
        folder = out / PLANS_DIR / name
        plan = read_plan(folder) if (folder / "plan.json").exists() else None
        row = {"point": job.point, "role": job.role, "equity_bound": job.bound, "efficiency": math.nan, "equity": math.nan,
               "status": plan.status if plan else "error", "gap": plan.meta.get("mip_gap") if plan else None,
               "check_passed": (plan.meta.get("check") or {}).get("passed") if plan else None,
               "plan_dir": str(Path(PLANS_DIR) / name) if plan else ""}
        if plan is not None and plan.tables:
            levels = plan_levels(plan, city, spec)
            row.update(efficiency=levels.efficiency(), equity=levels.measure(measure))
        rows.append(row)
    frame = pd.DataFrame(rows).sort_values("point", kind="stable").reset_index(drop=True)
    best = frame.loc[frame["role"] == "utilitarian", "efficiency"]
    top = float(best.iloc[0]) if len(best) and math.isfinite(best.iloc[0]) else math.nan
    frame["price_of_fairness"] = (top - frame["efficiency"]) / top if top and math.isfinite(top) else math.nan
    return frame[list(FRONTIER_COLUMNS)]


# --- files -----------------------------------------------------------------------------------

def _settings(city: Instance, spec: ProblemSpec, measure: str, points: int, solve_options: SolveOptions) -> dict:
    return {"instance": city.name, "instance_sha256": city.content_hash(), "measure": measure, "points": points,
            "spec": spec.as_meta(), "solve_options": solve_options.as_dict(), "versions": versions(),
            "started": _now()}


def _check_settings(out: Path, settings: dict, resume: bool) -> None:
    path = out / FRONTIER_JSON
    if resume and path.exists():
        before = json.loads(path.read_text(encoding="utf-8"))
        for key in ("instance_sha256", "measure", "points", "spec", "solve_options"):
            if before.get(key) != json.loads(json.dumps(settings[key], default=str)):
                raise InputError(Problem(str(out), f"holds a frontier with another {key}; resume needs the same"))
    elif not resume and out.exists() and any(out.iterdir()):
        raise InputError(Problem(str(out), "exists and is not empty; choose another --out (or --resume)"))


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("pyomo", "highspy", "numpy", "pandas"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    try:
        from pyomo.contrib.solver.solvers.highs import Highs

        out["highs"] = ".".join(str(v) for v in Highs().version())
    except Exception:  # information only
        out["highs"] = None
    return out


def _write_csv(path: Path, frame: pd.DataFrame, settings: dict) -> None:
    from allocator.studies.sweep import _atomic_write

    header = comment_header(settings)
    _atomic_write(path, header + frame.to_csv(index=False, lineterminator="\n", float_format="%.10g"))


def comment_header(settings: dict) -> str:
    """'# key: value' lines (read back with pandas.read_csv(..., comment='#'))."""
    v = settings.get("versions") or {}
    s = settings.get("solve_options") or {}
    lines = [f"instance: {settings.get('instance')} sha256 {settings.get('instance_sha256')}",
             f"solver: highs {v.get('highs')} (highspy {v.get('highspy')}, pyomo {v.get('pyomo')}); seed {s.get('seed')}, "
             f"threads {s.get('threads')}, gap {s.get('gap')}, time limit {s.get('time_limit')}"]
    return "".join(f"# {line}\n" for line in lines)


def _write_json(path: Path, value: dict) -> None:
    from allocator.studies.sweep import _atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_frontier(out: str | Path) -> pd.DataFrame:
    return pd.read_csv(Path(out) / FRONTIER_CSV, comment="#", dtype={"role": str, "status": str, "plan_dir": str})
