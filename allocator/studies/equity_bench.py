"""The equity benchmark: one instance under many equity objectives, in one table (DESIGN §5).

    frame = run_bench("cities/a", ProblemSpec("city"), ["utilitarian", "maxmin", "gini"], "out/bench")

Each objective is solved by `allocator.solving.equity.solve_measure` (the objective, then the
most efficient of its optimal plans; utilitarian: then the fairest of the most efficient),
one scenario of `allocator.studies.sweep.run_sweep` each, its plan written under OUT/plans/ and
checked. From every plan's tables, with `allocator.metrics` and the problem's weights w_g
(population for the city, the staffing standard for enforcement):

    efficiency          U = Σ_g w_g L_g (the weighted mean level)
    min_level           min_g L_g
    gini, theil, cv     weighted by w_g;  jain  unweighted
    hoover              resources (spend) against population
    price_of_fairness   (U* − U)/U*, U* the efficiency of the utilitarian plan (always solved)
    solve_s             seconds inside HiGHS, summed over the objective's solve sequence

and the headline of each plan: objective_value, bound and gap of the objective itself (not of
the tie-break solved after it), status_text (how a sequence cut short ended, e.g. "leximin
stopped after round 0 at the time limit: ... a max-min plan"), and in bench.csv stages, each
solve of the sequence with its own figures.

Written: bench.csv (with '#' lines naming the instance and its sha256, the solver version,
seed and threads), bench.json (the same settings and the rows), bench.png and bench.svg
(`allocator.studies.equity_charts.bench_figure`).

--time-limit bounds the whole benchmark: the objectives share the time left, each taking an
equal part of what remains when it starts (`allocator.studies.sweep`), so one that ends early
leaves its time to the others; the table and the chart are made within the limit.
"""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from allocator import metrics
from allocator.errors import InputError, Problem
from allocator.data.loader import load_instance
from allocator.models.equity import MEASURES
from allocator.models.equity_problem import check_measure
from allocator.plans.plan import read_plan
from allocator.solving.solve import SolveOptions
from allocator.studies.equity_charts import bench_figure, save_both
from allocator.studies.equity_runs import (Job, ProblemSpec, Task, check_limits, check_spec, comment_header, group_count,
                                           headline, solve_job, spec_plan_levels, study_deadline, versions)
from allocator.files import write_text
from allocator.studies.sweep import PLANS_DIR, Scenario, now, run_sweep

BENCH_CSV, BENCH_JSON = "bench.csv", "bench.json"
JSON_KEYS = ("objective", "status", "objective_value", "bound", "gap", "efficiency", "min_level", "gini", "theil", "hoover",
             "cv", "jain", "price_of_fairness", "solve_s", "status_text")
DEFAULT_OBJECTIVES = ("utilitarian", "maxmin", "leximin", "range", "mad", "gini", "owa", "alpha", "hoover")


def parse_objectives(text: str | None) -> list[str]:
    """'utilitarian,maxmin' → checked list (utilitarian first: it is the reference U*)."""
    names = list(DEFAULT_OBJECTIVES) if not text else [s.strip() for s in text.split(",") if s.strip()]
    unknown = [n for n in names if n not in MEASURES]
    if unknown or not names:
        raise InputError(Problem("--objectives", f"list measures from {', '.join(MEASURES)}, separated by commas",
                                 value=", ".join(unknown) or text))
    names = list(dict.fromkeys(names))
    return ["utilitarian"] + [n for n in names if n != "utilitarian"]


def run_bench(instance_path: str | Path, spec: ProblemSpec, objectives: list[str], out: str | Path,
              workers: int | None = 0, solve_options: SolveOptions | None = None,
              progress: Callable[[int, int, dict], None] | None = None) -> pd.DataFrame:
    """Solve every objective, write bench.csv/json and the chart; return the table."""
    check_spec(spec)
    city = load_instance(instance_path).with_basis(spec.options().basis)
    check_limits(city, spec)
    groups = group_count(city, spec)
    for name in objectives:
        check_measure(name, "objective", groups)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InputError(Problem(str(out), "exists and is not empty; choose another --out"))
    solve_options = solve_options or SolveOptions(threads=1)
    jobs = tuple((f"objective={name}", Job("objective", name, role="objective")) for name in objectives)
    run_sweep(instance_path, spec.options(), [Scenario(n, ()) for n, _ in jobs], out, workers=workers,
              progress=progress, solve_options=solve_options, task=functools.partial(solve_job, Task(spec, jobs)),
              deadline=study_deadline(solve_options, city), unit="objective")
    frame = bench_frame(out, city, spec, jobs)
    settings = {"instance": city.name, "instance_sha256": city.content_hash(), "spec": spec.as_meta(),
                "objectives": objectives, "solve_options": solve_options.as_dict(), "seed": solve_options.seed,
                "threads": solve_options.threads, "versions": versions(), "finished": now()}
    write_text(out / BENCH_CSV, comment_header(settings) + frame.to_csv(index=False, lineterminator="\n", float_format="%.10g"))
    write_text(out / BENCH_JSON, json.dumps({**settings, "rows": json_rows(frame)}, indent=2, ensure_ascii=False,
                                               default=str) + "\n")
    save_both(bench_figure(frame, city.name, spec), out / "bench")
    return frame


def bench_frame(out: Path, city, spec: ProblemSpec, jobs) -> pd.DataFrame:
    rows = []
    for name, job in jobs:
        folder = out / PLANS_DIR / name
        plan = read_plan(folder) if (folder / "plan.json").exists() else None
        row = {"objective": job.measure, "status": plan.status if plan else "error"}
        row.update(dict.fromkeys(JSON_KEYS[2:], math.nan))
        row.update(headline(plan))
        if plan is not None and plan.tables:
            row.update(_measures(spec_plan_levels(plan, city, spec)))
            row["solve_s"] = float((plan.meta.get("timings") or {}).get("solve_s") or 0.0)
            row["total_s"] = float((plan.meta.get("timings") or {}).get("total_s") or 0.0)
            row["check_passed"] = (plan.meta.get("check") or {}).get("passed")
            row["plan_dir"] = str(Path(PLANS_DIR) / name)
        rows.append(row)
    frame = pd.DataFrame(rows)
    top = float(frame.loc[frame["objective"] == "utilitarian", "efficiency"].iloc[0])
    frame["price_of_fairness"] = (top - frame["efficiency"]) / top if math.isfinite(top) and top != 0 else math.nan
    extra = [c for c in ("stages", "total_s", "check_passed", "plan_dir") if c in frame]
    return frame[list(JSON_KEYS) + extra]


def _measures(levels) -> dict:
    x = np.clip(levels.levels.to_numpy(float), 0.0, None)
    w = levels.weights.to_numpy(float)
    r, p = levels.resources.to_numpy(float), levels.population.to_numpy(float)
    return {"efficiency": levels.efficiency(), "min_level": float(x.min()), "gini": metrics.gini(x, w),
            "theil": metrics.theil(x, w), "hoover": metrics.hoover(r, p) if r.sum() > 0 else math.nan,
            "cv": metrics.cv(x, w), "jain": metrics.jain(x)}


def json_rows(frame: pd.DataFrame) -> list[dict]:
    """One object per objective with exactly JSON_KEYS (NaN → null)."""
    out = []
    for _, row in frame.iterrows():
        item = {}
        for key in JSON_KEYS:
            value = row[key]
            if isinstance(value, (float, np.floating)):
                value = float(value) if math.isfinite(value) else None
            item[key] = value
        out.append(item)
    return out


def read_bench(out: str | Path) -> pd.DataFrame:
    return pd.read_csv(Path(out) / BENCH_CSV, comment="#", dtype={"objective": str, "status": str, "status_text": str,
                                                                    "stages": str})
