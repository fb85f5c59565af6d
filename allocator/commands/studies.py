"""The studies of many solves: `sweep`, `frontier` and `equity-bench` (engines: allocator.studies)."""
from __future__ import annotations

import math
from pathlib import Path

import click

from allocator.commands.common import (check_study_out, deadline, default_out, friendly, instance_argument,
                                       within)
from allocator.errors import Exit, InputError, batch_exit, outcome_exit


class _SweepProgress:
    """One line on stderr per finished scenario (the running solve's own line, with its incumbent and
    gap, comes from the solve seam: redrawn on a terminal, one line per update elsewhere)."""

    def __init__(self, total: int):
        self.total = total

    def __enter__(self):
        return self

    def __call__(self, done: int, total: int, row: dict) -> None:
        why = f" ({row['message']})" if row.get("message") and row["status"] == "error" else ""
        figures = [f"objective {row['objective']:,.6g}" if isinstance(row.get("objective"), (int, float)) else "",
                   f"gap {100 * row['gap']:.2f}%" if isinstance(row.get("gap"), (int, float)) and math.isfinite(row["gap"]) else "",
                   f"{row['wall_s']:.0f} s" if isinstance(row.get("wall_s"), (int, float)) else ""]
        shown = ", ".join(f for f in figures if f)
        click.echo(f"[{done}/{total}] {row['scenario']}: {row['status']}{', ' + shown if shown else ''}{why}", err=True)

    def __exit__(self, *exc) -> None:
        pass


@click.command()
@instance_argument
@click.option("--model", "model_name", required=True, type=click.Choice(["grid", "enforcement", "facilities", "city", "roadmap"]), help="Which model to solve.")
@click.option("--param", "params", multiple=True, required=True, metavar="NAME=VALUES",
              help="A swept option (budget, headcount, basis, objective, max_moves, target_ratio, p, ...): "
                   "values separated by commas, numbers also as LO:HI:STEP. Repeat for a grid.")
@click.option("--objective", help="Objective of every scenario (default: the model's).")
@click.option("--workers", type=int, callback=within("workers"), help="Local worker processes (default: one per core; 0: in this process).")
@click.option("--scheduler", metavar="ADDRESS", help="A running Dask scheduler, e.g. tcp://10.0.0.5:8786 (workers must see INSTANCE and OUT).")
@click.option("--out", type=click.Path(path_type=Path), help="Sweep folder (default results/<instance>-sweep-<model>-<time>).")
@click.option("--resume", is_flag=True, help="Continue the sweep in --out: skip scenarios it already finished.")
@click.option("--time-limit", type=float, callback=within("time_limit"), help="Seconds for each scenario (its whole solve sequence).")
@click.option("--gap", type=float, callback=within("gap"), help="Relative MIP gap at which HiGHS stops (default 1e-4).")
@click.option("--seed", type=int, default=0, show_default=True, callback=within("seed"), help="HiGHS random seed (HiGHS runs on one thread).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (counts by status, paths).")
@friendly
def sweep(instance: Path, model_name: str, params, objective, workers, scheduler, out, resume, time_limit, gap, seed, as_json) -> None:
    """Solve one plan per combination of --param values, on Dask; table in OUT/sweep.csv (exit codes: see the README)."""
    import json as json_lib

    from allocator.solving.run import RunOptions
    from allocator.solving.solve import SolveOptions
    from allocator.studies.sweep import SWEEP_CSV, expand_scenarios, parse_params, run_sweep

    scenarios = expand_scenarios(parse_params(params))
    if resume and out is None:
        raise InputError("--resume continues the sweep in --out: name that folder", file="--resume")
    if out is not None:
        check_study_out(out)
    out = out or default_out(f"{instance.name}-sweep", model_name)
    with _SweepProgress(len(scenarios)) as advance:
        try:
            frame = run_sweep(instance, RunOptions(model=model_name, objective=objective), scenarios, out,
                              workers=workers, scheduler=scheduler, resume=resume, progress=advance,
                              solve_options=SolveOptions(time_limit=time_limit, gap=gap, threads=1, seed=seed,
                                                         progress=not as_json))
        except KeyboardInterrupt:
            click.echo(f"\ninterrupted: finished scenarios are kept in {out / SWEEP_CSV}; continue with --resume", err=True)
            click.get_current_context().exit(Exit.INTERRUPTED)
    counts = frame["status"].value_counts().to_dict()
    failed = frame.loc[frame["status"] == "error", "scenario"].tolist()
    if as_json:
        click.echo(json_lib.dumps({"out": str(out), "sweep_csv": str(out / SWEEP_CSV), "scenarios": len(frame),
                                   "skipped": frame.attrs.get("skipped", 0), "statuses": counts, "failed": failed}))
    else:
        if len(frame) <= 50:
            click.echo(frame[["scenario", "status", "objective", "gap"]].to_string(index=False))
        skipped = frame.attrs.get("skipped", 0)
        click.echo(f"{len(frame)} scenarios ({', '.join(f'{n} {s}' for s, n in counts.items())})"
                   + (f", {skipped} finished earlier" if skipped else ""))
        click.echo(f"wrote {out / SWEEP_CSV}")
    _exit_batch(frame, "objective")


def _exit_batch(frame, plan_column: str) -> None:
    """Exit with the worst outcome of a batch's rows (`batch_exit`); `plan_column` is empty where a row has no plan."""
    import pandas as pd

    def passed(value):
        return False if str(value) == "False" else None

    codes = [outcome_exit(str(row["status"]), not pd.isna(row.get(plan_column)), passed(row.get("check_passed")))
             for row in frame.to_dict("records")]
    code = batch_exit(codes)
    if code != Exit.OK:
        click.echo(f"exit {int(code)}: {_BATCH_WORDS[code]}", err=True)
        click.get_current_context().exit(code)


_BATCH_WORDS = {Exit.INTERNAL: "a run failed with an internal error (see its message)",
                Exit.CHECK_FAILED: "a plan failed the independent check",
                Exit.NO_PLAN: "a run stopped at its time limit before finding a plan",
                Exit.INFEASIBLE: "no run has a plan: every one is infeasible"}


def _equity_spec(model_name, by, index_weights, budget, headcount, max_moves, basis, allow_release=False,
                 no_worse_than_today=False):
    """The problem of `frontier` and `equity-bench`: model, grouping, index weights, run limits."""
    from allocator.studies.equity_runs import ProblemSpec, check_spec
    from allocator.solving.run import RunOptions

    weights = None
    if index_weights:
        try:
            weights = tuple(float(x) for x in index_weights.split(","))
        except ValueError:
            raise InputError("give three numbers separated by commas, e.g. 0.25,0.25,0.5", file="--index-weights") from None
        from allocator.models.city import check_index_weights

        weights = check_index_weights(weights)
    spec = ProblemSpec(model_name, by, weights, RunOptions(model=model_name, budget=budget, headcount=headcount,
                                                           max_moves=max_moves, basis=basis, allow_release=allow_release,
                                                           no_worse_than_today=no_worse_than_today))
    check_spec(spec)
    return spec


def equity_options(command):
    """Options `frontier` and `equity-bench` share."""
    for decorator in reversed([
        click.option("--model", "model_name", default="city", show_default=True,
                     type=click.Choice(["grid", "enforcement", "facilities", "city"]), help="Whose group levels: the city model, or one model alone."),
        click.option("--by", type=click.Choice(["district", "town"]), default="district", show_default=True,
                     help="Groups compared (enforcement: towns or districts; the others: districts)."),
        click.option("--index-weights", help="City service index weights: grid workers, enforcement, facilities (default 0.25,0.25,0.5)."),
        click.option("--budget", type=float, callback=within("budget"), help="Budget, 10k CNY/yr (city, grid and facilities models; default: city.yaml)."),
        click.option("--headcount", type=int, callback=within("headcount"), help="Enforcement headcount."),
        click.option("--max-moves", type=int, callback=within("max_moves"), help="Most officers reassigned."),
        click.option("--basis", type=click.Choice(["actual", "resident", "registered"]), help="Population basis."),
        click.option("--allow-release", is_flag=True, help="Let officers and grid workers employed today leave the service."),
        click.option("--no-worse-than-today", is_flag=True, help="No group below the level its resources give it today "
                                                                 "(city: the service index; facilities: always held)."),
        click.option("--time-limit", type=float, callback=within("time_limit"), help="Seconds for the whole command, shared by its solves."),
        click.option("--gap", type=float, callback=within("gap"), help="Relative MIP gap of each solve (default 1e-4)."),
        click.option("--seed", type=int, default=0, show_default=True, callback=within("seed"), help="HiGHS random seed (one thread)."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table."),
    ]):
        command = decorator(command)
    return command


@click.command("frontier")
@instance_argument
@click.option("--equity", "measure", required=True, help="Equity measure bounded: maxmin, range, mad, gini, owa, alpha or hoover.")
@click.option("--points", type=int, default=6, show_default=True, help="ε-constraint points between the two ends.")
@click.option("--workers", type=int, callback=within("workers"), help="Local worker processes (default: one per core; 0: in this process).")
@click.option("--scheduler", metavar="ADDRESS", help="A running Dask scheduler instead of local workers.")
@click.option("--out", type=click.Path(path_type=Path), help="Folder (default results/<instance>-frontier-<model>-<time>).")
@click.option("--resume", is_flag=True, help="Finish the frontier in --out.")
@equity_options
@friendly
def frontier_command(instance: Path, measure, points, workers, scheduler, out, resume, model_name, by, index_weights, budget,
                     headcount, max_moves, basis, allow_release, no_worse_than_today, time_limit, gap, seed, as_json) -> None:
    """Efficiency against an equity measure: both ends, then --points ε-constraint points; frontier.csv + chart."""
    import json as json_lib

    from allocator.studies.frontier import FRONTIER_CSV, run_frontier
    from allocator.solving.solve import SolveOptions

    spec = _equity_spec(model_name, by, index_weights, budget, headcount, max_moves, basis, allow_release, no_worse_than_today)
    if resume and out is None:
        raise InputError("--resume finishes the frontier in --out: name that folder", file="--resume")
    if out is not None:
        check_study_out(out)
    out = out or default_out(f"{instance.name}-frontier", model_name)
    with _SweepProgress(points + 2) as advance:
        frame = run_frontier(instance, spec, measure, points, out, workers=workers, scheduler=scheduler, resume=resume,
                             solve_options=SolveOptions(time_limit=time_limit, gap=gap, threads=1, seed=seed, progress=not as_json,
                                                        deadline=deadline(time_limit)), progress=advance)
    if as_json:
        click.echo(json_lib.dumps({"out": str(out), "frontier_csv": str(out / FRONTIER_CSV),
                                   "points": json_lib.loads(frame.to_json(orient="records"))}))
    else:
        shown = frame[["point", "role", "equity_bound", "efficiency", "equity", "price_of_fairness", "status", "gap"]]
        click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
        click.echo(f"wrote {out / FRONTIER_CSV}, {out / 'frontier.png'}, {out / 'frontier.svg'}")
    _exit_batch(frame, "efficiency")


@click.command("equity-bench")
@instance_argument
@click.option("--objectives", help="Comma-separated measures (default: all of models/equity.MEASURES; utilitarian is always solved).")
@click.option("--workers", type=int, default=0, show_default=True, callback=within("workers"), help="Local worker processes (0: in this process).")
@click.option("--out", type=click.Path(path_type=Path), help="Folder (default results/<instance>-bench-<model>-<time>).")
@equity_options
@friendly
def equity_bench_command(instance: Path, objectives, workers, out, model_name, by, index_weights, budget, headcount,
                         max_moves, basis, allow_release, no_worse_than_today, time_limit, gap, seed, as_json) -> None:
    """Solve INSTANCE under each equity objective; one table of efficiency, inequality and price of fairness."""
    import json as json_lib

    from allocator.studies.equity_bench import BENCH_CSV, json_rows, parse_objectives, run_bench
    from allocator.solving.solve import SolveOptions

    spec = _equity_spec(model_name, by, index_weights, budget, headcount, max_moves, basis, allow_release, no_worse_than_today)
    names = parse_objectives(objectives)
    if out is not None:
        check_study_out(out)
    out = out or default_out(f"{instance.name}-bench", model_name)
    with _SweepProgress(len(names)) as advance:
        frame = run_bench(instance, spec, names, out, workers=workers, progress=advance,
                          solve_options=SolveOptions(time_limit=time_limit, gap=gap, threads=1, seed=seed, progress=not as_json,
                                                     deadline=deadline(time_limit)))
    if as_json:
        click.echo(json_lib.dumps(json_rows(frame)))
    else:
        shown = frame[["objective", "status", "efficiency", "min_level", "gini", "theil", "hoover", "cv", "jain",
                       "price_of_fairness", "solve_s"]]
        click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        click.echo(f"wrote {out / BENCH_CSV}, {out / 'bench.json'}, {out / 'bench.png'}, {out / 'bench.svg'}")
    _exit_batch(frame, "efficiency")
