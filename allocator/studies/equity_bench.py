"""The equity benchmark: one instance under many equity objectives, in one table (DESIGN §5).

    frame = run_bench("cities/a", ProblemSpec("city"), ["utilitarian", "maxmin", "gini"], "out/bench")

Each objective is solved as in `allocator.solving.equity.solve_measure` (the objective, then the
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

Written: bench.csv (with '#' lines naming the instance and its sha256, the solver version,
seed and threads), bench.json (the same settings and the rows), bench.png and bench.svg.
The charts of `allocator frontier` are drawn here too.
"""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Callable

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from allocator.views import fonts

from allocator import metrics
from allocator.errors import InputError, Problem
from allocator.studies.frontier import (Job, ProblemSpec, Task, _now, check_limits, check_spec, comment_header, plan_levels, solve_job, versions)
from allocator.plans.plan import read_plan
from allocator.solving.solve import SolveOptions
from allocator.studies.sweep import PLANS_DIR, Scenario, _atomic_write, run_sweep

BENCH_CSV, BENCH_JSON = "bench.csv", "bench.json"
JSON_KEYS = ("objective", "status", "efficiency", "min_level", "gini", "theil", "hoover", "cv", "jain",
             "price_of_fairness", "solve_s")
DEFAULT_OBJECTIVES = ("utilitarian", "maxmin", "leximin", "range", "mad", "gini", "owa", "alpha", "hoover")


def parse_objectives(text: str | None) -> list[str]:
    """'utilitarian,maxmin' → checked list (utilitarian first: it is the reference U*)."""
    from allocator.models.equity import MEASURES

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
    from allocator.models.equity_problem import check_measure

    from allocator.data.loader import load_instance

    check_spec(spec)
    city = load_instance(instance_path).with_basis(spec.options().basis)
    check_limits(city, spec)
    groups = len(city.towns) if spec.by == "town" else len(city.districts)
    for name in objectives:
        check_measure(name, "objective", groups)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InputError(Problem(str(out), "exists and is not empty; choose another --out"))
    solve_options = solve_options or SolveOptions(threads=1)
    jobs = tuple((f"objective={name}", Job("objective", name, role="objective")) for name in objectives)
    run_sweep(instance_path, spec.options(), [Scenario(n, ()) for n, _ in jobs], out, workers=workers,
              progress=progress, solve_options=solve_options, task=functools.partial(solve_job, Task(spec, jobs)))
    frame = bench_frame(out, city, spec, jobs)
    settings = {"instance": city.name, "instance_sha256": city.content_hash(), "spec": spec.as_meta(),
                "objectives": objectives, "solve_options": solve_options.as_dict(), "seed": solve_options.seed,
                "threads": solve_options.threads, "versions": versions(), "finished": _now()}
    _atomic_write(out / BENCH_CSV, comment_header(settings) + frame.to_csv(index=False, lineterminator="\n", float_format="%.10g"))
    _atomic_write(out / BENCH_JSON, json.dumps({**settings, "rows": json_rows(frame)}, indent=2, ensure_ascii=False,
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
        if plan is not None and plan.tables:
            row.update(_measures(plan_levels(plan, city, spec)))
            row["solve_s"] = float((plan.meta.get("timings") or {}).get("solve_s") or 0.0)
            row["total_s"] = float((plan.meta.get("timings") or {}).get("total_s") or 0.0)
            row["check_passed"] = (plan.meta.get("check") or {}).get("passed")
            row["plan_dir"] = str(Path(PLANS_DIR) / name)
        rows.append(row)
    frame = pd.DataFrame(rows)
    top = float(frame.loc[frame["objective"] == "utilitarian", "efficiency"].iloc[0])
    frame["price_of_fairness"] = (top - frame["efficiency"]) / top if math.isfinite(top) and top != 0 else math.nan
    extra = [c for c in ("total_s", "check_passed", "plan_dir") if c in frame]
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
    return pd.read_csv(Path(out) / BENCH_CSV, comment="#", dtype={"objective": str, "status": str})


# --- charts ----------------------------------------------------------------------------------

def save_both(fig: Figure, stem: Path) -> list[Path]:
    """stem.png and stem.svg."""
    from allocator.views.charts import save

    return [save(fig, Path(f"{stem}.{suffix}")) for suffix in ("png", "svg")]


def _level_words(spec: ProblemSpec) -> str:
    if spec.model == "city":
        return "districts' service index"
    if spec.model == "grid":
        return "districts' share of grid workload met"
    if spec.model == "facilities":
        return "districts' share of target groups within reach"
    return f"{spec.by}s' enforcement coverage ratio"


def frontier_figure(frame: pd.DataFrame, measure: str, city_name: str, spec: ProblemSpec) -> Figure:
    """Efficiency against the equity measure, both ends named, the price of fairness marked.

    The dashed staircase is what the solved points prove attainable: with integer decisions the
    frontier between two solved points is a step, not the straight line between them."""
    from allocator.models.equity import NATURAL_SENSE

    with matplotlib.rc_context(fonts.chart_style()):
        fig = Figure(figsize=(8.0, 5.2), layout="constrained")
        ax = fig.add_subplot()
        ok = frame[np.isfinite(frame["efficiency"].to_numpy(float))].sort_values("equity", kind="stable")
        style = "steps-pre" if NATURAL_SENSE.get(measure) == "maximize" else "steps-post"
        ax.plot(ok["equity"], ok["efficiency"], ls="--", lw=1, color="#8c8c8c", drawstyle=style, zorder=1)
        ax.plot(ok["equity"], ok["efficiency"], "o", color="#4c72b0", zorder=2, label="ε-constraint points")
        ax.margins(x=0.4, y=0.2)
        middle = float(ok["equity"].mean()) if len(ok) else 0.0
        for role, colour, words in (("utilitarian", "#55a868", "utilitarian end (most efficient)"),
                                    ("fairest", "#c44e52", f"fairest end ({measure})")):
            end = ok[ok["role"] == role]
            if len(end):
                x, y = float(end["equity"].iloc[0]), float(end["efficiency"].iloc[0])
                right = x <= middle
                ax.scatter([x], [y], s=110, color=colour, zorder=3, label=words)
                ax.annotate(f"{words}\nU = {y:.4f}, {measure} = {x:.4f}", (x, y), textcoords="offset points",
                            xytext=(10 if right else -10, 10 if role == "utilitarian" else -10), fontsize=9, color=colour,
                            ha="left" if right else "right", va="bottom" if role == "utilitarian" else "top")
        _mark_price(ax, ok, measure)
        ax.set_xlabel(f"{measure} of the {_level_words(spec)}")
        ax.set_ylabel("efficiency U (weighted mean level)")
        ax.set_title(f"{city_name}: efficiency against {measure} ({spec.model}, by {spec.by})")
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
        return fig


def _mark_price(ax, ok: pd.DataFrame, measure: str) -> None:
    top, fair = ok[ok["role"] == "utilitarian"], ok[ok["role"] == "fairest"]
    if not len(top) or not len(fair):
        return
    u_star, x = float(top["efficiency"].iloc[0]), float(fair["equity"].iloc[0])
    u_fair, price = float(fair["efficiency"].iloc[0]), float(fair["price_of_fairness"].iloc[0])
    ax.axhline(u_star, color="#55a868", lw=0.8, ls="--")
    ax.annotate("", xy=(x, u_fair), xytext=(x, u_star), arrowprops={"arrowstyle": "<->", "color": "#c44e52"})
    outside = x >= float(ok["equity"].mean())          # write on the side away from the other points
    ax.annotate(f"price of fairness\n(U* − U)/U* = {100 * price:.2f}%", (x, (u_star + u_fair) / 2),
                textcoords="offset points", xytext=(8 if outside else -8, 0), ha="left" if outside else "right",
                va="center", fontsize=9, color="#c44e52")


def bench_figure(frame: pd.DataFrame, city_name: str, spec: ProblemSpec) -> Figure:
    """Left: efficiency and lowest level per objective; right: inequality indices per objective."""
    with matplotlib.rc_context(fonts.chart_style()):
        fig = Figure(figsize=(11.0, 4.8), layout="constrained")
        left, right = fig.subplots(1, 2)
        names = frame["objective"].tolist()
        y = np.arange(len(names))
        for i, (column, label) in enumerate((("efficiency", "efficiency U"), ("min_level", "lowest level"))):
            left.barh(y - 0.2 + 0.4 * i, frame[column].to_numpy(float), height=0.4, label=label,
                      color=("#4c72b0", "#dd8452")[i])
        for yi, pof in zip(y, frame["price_of_fairness"].to_numpy(float)):
            if math.isfinite(pof):
                left.annotate(f"PoF {100 * pof:.1f}%", (0, yi), xytext=(3, 0), textcoords="offset points",
                              va="center", fontsize=8, color="white")
        left.set_yticks(y, names)
        left.invert_yaxis()
        left.set_xlabel(_level_words(spec))
        left.legend(loc="lower right", fontsize=8)
        left.set_title("efficiency and the worst-off group")
        indices = ("gini", "theil", "hoover", "cv")
        width = 0.8 / len(indices)
        for i, column in enumerate(indices):
            right.barh(y - 0.4 + width * (i + 0.5), frame[column].to_numpy(float), height=width, label=column)
        right.set_yticks(y, names)
        right.invert_yaxis()
        right.set_xlabel("inequality index (0 = equal)")
        right.legend(loc="lower right", fontsize=8)
        right.set_title("inequality")
        fig.suptitle(f"{city_name}: equity objectives compared ({spec.model}, by {spec.by})")
        return fig
