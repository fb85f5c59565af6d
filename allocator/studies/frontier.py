"""Efficiency–equity Pareto frontiers by the ε-constraint method (DESIGN §5), on the sweep machinery.

    frame = run_frontier("cities/a", ProblemSpec("city"), "maxmin", points=6, out="out/frontier")

Efficiency is the utilitarian level U = Σ_g w_g L_g of the model's group levels
(`models.equity_problem.EquityProblem`, the problems of `allocator.studies.equity_runs`): the
population-weighted mean service index of the districts (model `city`), or the demand-weighted
mean coverage ratio of towns or districts (model `enforcement`, --by; its own efficiency
objective: the share of the staffing standard met). The frontier (each solve a `Job` of
allocator.studies.equity_runs, solved by allocator.solving.equity):

    end 0      max U (ties: the best equity measure)                 → U*, E_u
    end N+1    the equity measure's optimum (ties: max U)            → U_f, E_f
    points k   max U  s.t. E ≥ β_k (E ≤ β_k for inequality measures),
               β_k = E_u + k (E_f − E_u) / (N + 1),   k = 1..N

Tightening β shrinks the feasible set, so U falls (weakly) from end 0 to end N+1. The points are
solved from the tightest (k = N) to the loosest, and each starts from the most efficient plan solved
before it in the same process that keeps its bound (the fairest end, a tighter point;
`allocator.solving.fair.kept_start`): HiGHS's incumbent is never worse than its start, so within
one process U_k ≥ U_{k+1} holds for the plans given, whatever gap or time limit stopped a solve. The
price of fairness of a point is (U* − U) / U*. Each solve is one scenario of
`allocator.studies.sweep.run_sweep` (local Dask workers, a named scheduler, or in process), written
as a plan folder and checked by the model's independent checker; the two ends run first,
the points after them (the sweep is resumed with them), so `--resume` finishes an
interrupted frontier. Efficiency and the equity value in frontier.csv are recomputed from
each plan's tables with `allocator.metrics`. Each row's objective, objective_value, bound and
gap are its primary objective's (efficiency at end 0 and at the points, the measure at end
N+1), not those of the tie-break solved after it; status_text says how a sequence cut short
ended, and stages lists each solve with its own figures.

--time-limit bounds the whole frontier. Its time (less what the table and the chart need) is
split between the two stages in proportion to their rounds of solves (⌈2/s⌉ for the ends and
⌈N/s⌉ for the points, s solving at once); within a stage each solve takes an equal part of the
time left when it starts (`allocator.studies.sweep`). An end that stopped at its limit without a
plan is solved again with RETRY_SHARE of the time left (the points after it take the rest: without
both ends there are none); only an end that still finds no plan stops the frontier. The efficient
end's plan is the efficient reference of the other end (`allocator.solving.fair.keep_reference`),
which then starts from it instead of proving max U again.

Layout of OUT: frontier.csv, frontier.json (settings and versions), frontier.png/.svg, the
sweep's sweep.csv, sweep.json, plans/<end=…|point=…>/, and starts/ (the fairest end's and the
points' variable values, .npz: a point solved in another process than the tighter plans before it
starts from them too; `allocator.studies.equity_runs.share_start`).
"""
from __future__ import annotations

import functools
import json
import math
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from allocator.errors import InfeasibleError, InputError, NoPlanError, Problem
from allocator.data.instance import Instance
from allocator.data.loader import load_instance
from allocator.models.equity_problem import check_measure
from allocator.plans.plan import read_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions
from allocator.studies.equity_charts import frontier_figure, save_both
from allocator.studies.equity_runs import (Job, ProblemSpec, Task, check_limits, check_spec, comment_header, group_count,
                                           headline, solve_job, spec_plan_levels, study_deadline, versions)
from allocator.files import write_json, write_text
from allocator.studies.sweep import PLANS_DIR, Scenario, now, run_sweep

FRONTIER_CSV, FRONTIER_JSON = "frontier.csv", "frontier.json"
FRONTIER_COLUMNS = ("point", "role", "equity_bound", "efficiency", "equity", "price_of_fairness", "status", "objective",
                    "objective_value", "bound", "gap", "status_text", "stages", "check_passed", "plan_dir")
MAX_POINTS = 200
RETRY_SHARE = 0.5        # of the time left, for an end that stopped without a plan: without it there are no points


# --- the frontier ----------------------------------------------------------------------------

def run_frontier(instance_path: str | Path, spec: ProblemSpec, measure: str, points: int, out: str | Path,
                 workers: int | None = None, scheduler: str | None = None, resume: bool = False,
                 solve_options: SolveOptions | None = None,
                 progress: Callable[[int, int, dict], None] | None = None) -> pd.DataFrame:
    """Solve both ends and `points` ε-constraint points; write frontier.csv and the chart; return the frame."""
    check_spec(spec)
    check_measure(measure, "constraint")
    if not 1 <= points <= MAX_POINTS:
        raise InputError(Problem("--points", f"must be from 1 to {MAX_POINTS}", value=points))
    solve_options = solve_options or SolveOptions(threads=1)
    out = Path(out)
    city = load_instance(instance_path).with_basis(spec.options().basis)
    check_measure(measure, "constraint", group_count(city, spec))
    check_limits(city, spec)
    settings = _settings(city, spec, measure, points, solve_options)
    _check_settings(out, settings, resume)
    ends = (("end=utilitarian", Job("objective", "utilitarian", tie_break=measure, role="utilitarian", point=0)),
            (f"end={measure}", Job("objective", measure, role="fairest", point=points + 1)))
    base = spec.options()
    end = study_deadline(solve_options, city)
    slots = 1 if workers == 0 and scheduler is None else max(1, workers or os.cpu_count() or 1)
    first, rest = math.ceil(2 / min(slots, 2)), math.ceil(points / min(slots, points))
    _sweep(instance_path, base, Task(spec, ends), out, workers, scheduler, resume, solve_options, progress, end,
           points + 2, first / (first + rest))
    write_json(out / FRONTIER_JSON, settings)
    u_end, f_end = (_measured(out, name, city, spec, measure) for name, _ in ends)
    stopped = _stopped_ends(out, ends) if u_end is None or f_end is None else ()
    if stopped:                 # an end out of its share of the time tries again with half of what is left
        _sweep(instance_path, base, Task(spec, stopped), out, workers, scheduler, True, solve_options, progress, end,
               points + 2, RETRY_SHARE)
        u_end, f_end = (_measured(out, name, city, spec, measure) for name, _ in ends)
    if u_end is None or f_end is None:
        _no_end(out, ends)
    bounds = np.linspace(u_end[1], f_end[1], points + 2)[1:-1]
    jobs = ends + tuple((f"point={k:02d}", Job("bound", measure, float(b), role="point", point=k))
                        for k, b in reversed(list(enumerate(bounds, start=1))))     # the tightest first: see below
    _sweep(instance_path, base, Task(spec, jobs), out, workers, scheduler, True, solve_options, progress, end, points + 2, 1.0)
    frame = frontier_frame(out, city, spec, measure, jobs)
    _write_csv(out / FRONTIER_CSV, frame, settings)
    save_both(frontier_figure(frame, measure, city.name, spec), out / "frontier")
    settings.update(finished=now(), bounds=[float(b) for b in bounds])
    write_json(out / FRONTIER_JSON, settings)
    return frame


def _sweep(instance_path, base: RunOptions, task: Task, out: Path, workers, scheduler, resume: bool,
           solve_options: SolveOptions, progress, deadline: float | None, count: int, share: float) -> pd.DataFrame:
    scenarios = [Scenario(name, ()) for name, _ in task.jobs]
    return run_sweep(instance_path, base, scenarios, out, workers=workers, scheduler=scheduler, resume=resume,
                     progress=progress, solve_options=solve_options, task=functools.partial(solve_job, task),
                     deadline=deadline, share=share, unit="point", count=count)


def _measured(out: Path, name: str, city: Instance, spec: ProblemSpec, measure: str) -> tuple[float, float] | None:
    folder = out / PLANS_DIR / name
    if not (folder / "plan.json").exists():
        return None
    plan = read_plan(folder)
    if not plan.tables:
        return None
    levels = spec_plan_levels(plan, city, spec)
    return levels.efficiency(), levels.measure(measure)


def _stopped_ends(out: Path, ends) -> tuple:
    """The ends that stopped at their time limit (or failed) without a plan; their folders are removed so that the
    sweep solves them again. An infeasible end is the answer, not retried."""
    stopped = []
    for name, job in ends:
        folder = out / PLANS_DIR / name
        plan = read_plan(folder) if (folder / "plan.json").exists() else None
        if plan is not None and (plan.tables or plan.status == "infeasible"):
            continue
        if folder.exists():
            shutil.rmtree(folder)
        stopped.append((name, job))
    return tuple(stopped)


def _no_end(out: Path, ends) -> None:
    """An end of the frontier has no plan: raise what its run found (infeasible, stopped, failed)."""
    for name, _ in ends:
        folder = out / PLANS_DIR / name
        plan = read_plan(folder) if (folder / "plan.json").exists() else None
        if plan is not None and plan.tables:
            continue
        status = plan.status if plan else "error"
        why = (plan.meta.get("explanation") if plan else None) or "see sweep.csv"
        if status == "infeasible":
            raise InfeasibleError(f"the {name.split('=')[1]} end of the frontier has no plan: {why}")
        if status in ("optimal", "time_limit"):
            raise NoPlanError(f"the {name.split('=')[1]} end of the frontier stopped at its time limit before finding "
                              "a plan; nothing to bound between (allow more --time-limit)")
        raise RuntimeError(f"the {name.split('=')[1]} end of the frontier failed ({why}); nothing to bound between")


def frontier_frame(out: Path, city: Instance, spec: ProblemSpec, measure: str, jobs) -> pd.DataFrame:
    """One row per solve, efficiency and the equity value recomputed from each plan's tables."""
    rows = []
    for name, job in jobs:
        folder = out / PLANS_DIR / name
        plan = read_plan(folder) if (folder / "plan.json").exists() else None
        row = {"point": job.point, "role": job.role, "equity_bound": job.bound, "efficiency": math.nan, "equity": math.nan,
               "status": plan.status if plan else "error", "objective": plan.meta.get("objective") if plan else None,
               **headline(plan), "check_passed": (plan.meta.get("check") or {}).get("passed") if plan else None,
               "plan_dir": str(Path(PLANS_DIR) / name) if plan else ""}
        if plan is not None and plan.tables:
            levels = spec_plan_levels(plan, city, spec)
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
            "started": now()}


def _check_settings(out: Path, settings: dict, resume: bool) -> None:
    path = out / FRONTIER_JSON
    if resume and path.exists():
        before = json.loads(path.read_text(encoding="utf-8"))
        for key in ("instance_sha256", "measure", "points", "spec", "solve_options"):
            if before.get(key) != json.loads(json.dumps(settings[key], default=str)):
                raise InputError(Problem(str(out), f"holds a frontier with another {key}; resume needs the same"))
    elif not resume and out.exists() and any(out.iterdir()):
        raise InputError(Problem(str(out), "exists and is not empty; choose another --out (or --resume)"))


def _write_csv(path: Path, frame: pd.DataFrame, settings: dict) -> None:
    header = comment_header(settings)
    write_text(path, header + frame.to_csv(index=False, lineterminator="\n", float_format="%.10g"))


def read_frontier(out: str | Path) -> pd.DataFrame:
    return pd.read_csv(Path(out) / FRONTIER_CSV, comment="#", dtype={"role": str, "status": str, "objective": str,
                                                                      "status_text": str, "stages": str, "plan_dir": str})
