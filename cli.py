"""The `allocator` command line: thin commands that parse, call the engine and report."""
from __future__ import annotations

import functools
import sys
import traceback
from pathlib import Path

import click

from allocator.errors import InfeasibleError, InputError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INFEASIBLE = 0, 1, 2, 3


def friendly(command):
    """One clear message instead of a traceback: exit 2 bad input, 3 infeasible, 1 internal."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context()
        debug = (ctx.find_root().params or {}).get("debug", False)
        try:
            return command(*args, **kwargs)
        except InputError as err:
            n = len(err.problems)
            click.echo(f"error: {n} problem{'s' if n != 1 else ''} in the input:", err=True)
            click.echo(err.describe(), err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except InfeasibleError as err:
            click.echo(f"infeasible: {err.explanation}", err=True)
            ctx.exit(EXIT_INFEASIBLE)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted: nothing was written", err=True)
            ctx.exit(130)
        except Exception as err:  # an internal error: say so plainly, trace only with --debug
            if debug:
                traceback.print_exc()
            click.echo(f"internal error: {type(err).__name__}: {err} (run with --debug for details)", err=True)
            ctx.exit(EXIT_FAILED)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show Python tracebacks on errors.")
@click.version_option(package_name="allocator")
def main(debug: bool) -> None:
    """Allocate grid workers, enforcement staff and service facilities across a city."""


instance_argument = click.argument("instance", type=click.Path(path_type=Path))


@main.command()
@instance_argument
@click.option("--basis", type=click.Choice(["actual", "resident", "registered"]), help="Population basis for this run.")
@friendly
def validate(instance: Path, basis: str | None) -> None:
    """Check INSTANCE (folder or .xlsx); list every problem (exit 2) or summarise it (exit 0)."""
    from allocator.loader import load_instance
    from allocator.summary import summarize

    city = load_instance(instance, basis=basis)
    click.echo(summarize(city))
    click.echo("valid: no problems found")


@main.command()
@click.argument("out", type=click.Path(path_type=Path))
@friendly
def template(out: Path) -> None:
    """Write an empty instance workbook OUT.xlsx with headers and column meanings (EN/中文)."""
    from allocator.template import write_template

    if out.suffix.lower() != ".xlsx":
        raise InputError(f"the template is an Excel workbook: give a name ending in .xlsx, not {out.name!r}", file=str(out))
    click.echo(f"wrote {write_template(out)}")


def _positive(ctx, param, value):
    if value is not None and value <= 0:
        raise click.BadParameter(f"must be positive, not {value}")
    return value


@main.command()
@instance_argument
@click.option("--model", "model_name", required=True, type=click.Choice(["grid", "enforcement", "facilities", "city"]), help="Which model to solve.")
@click.option("--objective", help="Objective of the model (see README; each model has a default).")
@click.option("--budget", type=float, callback=_positive, help="Yearly budget, 10k CNY: a hard limit under every objective.")
@click.option("--headcount", type=int, callback=_positive, help="Total headcount limit.")
@click.option("--basis", type=click.Choice(["actual", "resident", "registered"]), help="Population basis for this run.")
@click.option("--scenarios", help="Enforcement surge scenarios: a CSV file or a named pattern.")
@click.option("--cvar", "cvar_alpha", type=click.FloatRange(0, 1, max_open=True), help="Add CVaR of unmet demand at this level (e.g. 0.9).")
@click.option("--cvar-weight", type=click.FloatRange(min=0), default=1.0, show_default=True, help="Weight of CVaR beside expected unmet demand.")
@click.option("--target", "target_ratio", type=click.FloatRange(min=0, min_open=True), help="Coverage ratio the `moves` objective must reach.")
@click.option("--max-moves", type=click.IntRange(min=0), help="Most officers reassigned between towns.")
@click.option("--services", help="Comma-separated services (facilities model).")
@click.option("--p", "p", type=click.IntRange(min=1), help="Number of facilities to open (facilities model).")
@click.option("--time-limit", type=float, callback=_positive, help="Seconds for HiGHS; the best plan found is kept.")
@click.option("--gap", type=click.FloatRange(0, 1), help="Relative MIP gap at which HiGHS stops (default 1e-4).")
@click.option("--threads", type=click.IntRange(min=1), help="Threads for HiGHS (1 for reproducible runs).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="HiGHS random seed.")
@click.option("--out", type=click.Path(path_type=Path), help="Plan folder (default results/<instance>-<model>-<time>).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (status, objective, gap, plan_dir).")
@friendly
def solve(instance: Path, model_name: str, objective, budget, headcount, basis, scenarios, cvar_alpha, cvar_weight,
          target_ratio, max_moves, services, p, time_limit, gap, threads, seed, out, as_json) -> None:
    """Solve a model on INSTANCE and write the plan (exit 0 done, 2 bad input, 3 infeasible)."""
    import json as json_lib

    from allocator.loader import load_instance
    from allocator.plan import write_plan
    from allocator.run import RunOptions, run
    from allocator.solve import SolveOptions

    city = load_instance(instance)
    options = RunOptions(model=model_name, objective=objective, budget=budget, headcount=headcount, basis=basis,
                         scenarios=scenarios, cvar_alpha=cvar_alpha, cvar_weight=cvar_weight, target_ratio=target_ratio,
                         max_moves=max_moves, p=p,
                         services=tuple(s.strip() for s in services.split(",") if s.strip()) if services else None)
    solve_options = SolveOptions(time_limit=time_limit, gap=gap, threads=threads, seed=seed, progress=not as_json)
    plan = run(city, options, solve_options)
    out = out or _default_out(city.name, model_name)
    folder = write_plan(plan, out)
    m = plan.meta
    if as_json:
        click.echo(json_lib.dumps({"status": m["status"], "objective": m["objective_value"], "objective_name": m["objective"],
                                   "gap": m["mip_gap"], "plan_dir": str(folder), "model": model_name,
                                   "check_passed": m.get("check", {}).get("passed"), "timings": m["timings"],
                                   "explanation": m.get("explanation")}))
    else:
        _echo_plan_summary(plan, folder)
    if m["status"] == "infeasible":
        if not as_json:
            click.echo(f"infeasible: {m.get('explanation') or 'no plan satisfies every requirement'}", err=True)
        click.get_current_context().exit(EXIT_INFEASIBLE)
    if m["status"] in ("error", "unbounded"):
        click.get_current_context().exit(EXIT_FAILED)


def _default_out(name: str, model: str) -> Path:
    from datetime import datetime

    return Path("results") / f"{name}-{model}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _echo_plan_summary(plan, folder: Path) -> None:
    m = plan.meta
    gap = "-" if m["mip_gap"] is None else f"{100 * m['mip_gap']:.3g}%"
    value = "-" if m["objective_value"] is None else f"{m['objective_value']:,.6g}"
    t = m["timings"]
    click.echo(f"{m['model']} / {m['objective']}: status {m['status']}, objective {value}, gap {gap}")
    click.echo(f"time: build {t['build_s']:.2f} s, hand-over {t['handover_s']:.2f} s, HiGHS {t['solve_s']:.2f} s, "
               f"extract {t['extract_s']:.2f} s, total {t['total_s']:.2f} s")
    check = m.get("check")
    if check is not None:
        click.echo("check: passed" if check["passed"] else f"check: FAILED ({check['n_violations']} violations)")
    if m.get("explanation"):
        click.echo(f"note: {m['explanation']}")
    click.echo(f"wrote {folder}")


@main.command()
@click.argument("plan_dir", type=click.Path(path_type=Path))
@instance_argument
@friendly
def check(plan_dir: Path, instance: Path) -> None:
    """Recompute every constraint and the objective of PLAN_DIR from the files (exit 0 holds, 1 not)."""
    from allocator.checks import check_plan
    from allocator.loader import load_instance
    from allocator.plan import read_plan

    plan = read_plan(plan_dir)
    city = load_instance(instance)
    if plan.meta.get("instance_sha256") not in (None, city.content_hash()):
        raise InputError(f"the plan was made for instance {plan.meta.get('instance')!r}, not for {instance} (content differs)", file=str(plan_dir))
    if not plan.tables:
        click.echo(f"plan status {plan.status}: it holds no tables to check")
        click.get_current_context().exit(EXIT_OK if plan.status == "infeasible" else EXIT_FAILED)
    report = check_plan(plan, city)
    for v in report.violations:
        click.echo(f"violation: {v}")
    if report.objective is not None:
        click.echo(f"objective recomputed: {report.objective:,.10g} (plan says {plan.meta.get('objective_value')})")
    click.echo("check: passed" if report.passed else f"check: FAILED ({len(report.violations)} violations)")
    click.get_current_context().exit(EXIT_OK if report.passed else EXIT_FAILED)


@main.command()
@click.option("--towns", type=int, required=True, help="Number of streets/towns (5 to 5,000; about 25 grids each).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed: the same seed gives the same files.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder (or .xlsx workbook) to write.")
@click.option("--format", "fmt", type=click.Choice(["folder", "xlsx"]), help="Default: xlsx when OUT ends in .xlsx, else folder.")
@click.option("--overwrite", is_flag=True, help="Replace an instance already at OUT.")
@friendly
def generate(towns: int, seed: int, out: Path, fmt: str | None, overwrite: bool) -> None:
    """Write a synthetic city of TOWNS streets/towns (core, suburban and outer districts)."""
    from allocator.generate import check_arguments, check_output, generate_city, output_format, write_city

    check_arguments(towns, seed)
    fmt = output_format(out, fmt)
    check_output(out, fmt, overwrite)
    city = generate_city(towns, seed)
    click.echo(f"wrote {write_city(city, out, fmt)}  ({len(city.districts):,} districts, {len(city.towns):,} towns, "
               f"{len(city.grids):,} grids, {len(city.sites):,} sites)")


class _SweepProgress:
    """Finished scenarios on stderr: a bar on a terminal, one line per scenario otherwise."""

    def __init__(self, total: int):
        self.tty = sys.stderr.isatty()
        self.bar = click.progressbar(length=total, label="scenarios", file=sys.stderr) if self.tty else None

    def __enter__(self):
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __call__(self, done: int, total: int, row: dict) -> None:
        if self.bar is not None:
            self.bar.length = total
            self.bar.update(1)
        else:
            click.echo(f"[{done}/{total}] {row['scenario']}: {row['status']}", err=True)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


@main.command()
@instance_argument
@click.option("--model", "model_name", required=True, type=click.Choice(["grid", "enforcement", "facilities", "city"]), help="Which model to solve.")
@click.option("--param", "params", multiple=True, required=True, metavar="NAME=VALUES",
              help="A swept option (budget, headcount, basis, objective, max_moves, target_ratio, p, ...): "
                   "values separated by commas, numbers also as LO:HI:STEP. Repeat for a grid.")
@click.option("--objective", help="Objective of every scenario (default: the model's).")
@click.option("--workers", type=click.IntRange(min=0), help="Local worker processes (default: one per core; 0: in this process).")
@click.option("--scheduler", metavar="ADDRESS", help="A running Dask scheduler, e.g. tcp://10.0.0.5:8786 (workers must see INSTANCE and OUT).")
@click.option("--out", type=click.Path(path_type=Path), help="Sweep folder (default results/<instance>-sweep-<model>-<time>).")
@click.option("--resume", is_flag=True, help="Continue the sweep in --out: skip scenarios it already finished.")
@click.option("--time-limit", type=float, callback=_positive, help="Seconds for HiGHS per scenario.")
@click.option("--gap", type=click.FloatRange(0, 1), help="Relative MIP gap at which HiGHS stops (default 1e-4).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="HiGHS random seed (HiGHS runs on one thread).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (counts by status, paths).")
@friendly
def sweep(instance: Path, model_name: str, params, objective, workers, scheduler, out, resume, time_limit, gap, seed, as_json) -> None:
    """Solve one plan per combination of --param values, on Dask; table in OUT/sweep.csv (exit 1 if any errored)."""
    import json as json_lib

    from allocator.run import RunOptions
    from allocator.solve import SolveOptions
    from allocator.sweep import SWEEP_CSV, expand_grid, parse_params, run_sweep

    scenarios = expand_grid(parse_params(params))
    if resume and out is None:
        raise InputError("--resume continues the sweep in --out: name that folder", file="--resume")
    out = out or _default_out(f"{instance.name}-sweep", model_name)
    with _SweepProgress(len(scenarios)) as advance:
        try:
            frame = run_sweep(instance, RunOptions(model=model_name, objective=objective), scenarios, out,
                              workers=workers, scheduler=scheduler, resume=resume, progress=advance,
                              solve_options=SolveOptions(time_limit=time_limit, gap=gap, threads=1, seed=seed))
        except KeyboardInterrupt:
            click.echo(f"\ninterrupted: finished scenarios are kept in {out / SWEEP_CSV}; continue with --resume", err=True)
            click.get_current_context().exit(130)
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
    if failed:
        click.get_current_context().exit(EXIT_FAILED)


if __name__ == "__main__":
    sys.exit(main())
