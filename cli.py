"""The `allocator` command line: thin commands that parse, call the engine and report."""
from __future__ import annotations

import functools
import math
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
@click.option("--max-rows", type=click.IntRange(min=1), help="Refuse instances with more rows per table (default $ALLOCATOR_MAX_ROWS or 5,000,000).")
@click.version_option(package_name="allocator")
def main(debug: bool, max_rows: int | None) -> None:
    """Allocate grid workers, enforcement staff and service facilities across a city."""
    if max_rows is not None:   # read by every load, also in sweep worker processes started from here
        import os
        os.environ["ALLOCATOR_MAX_ROWS"] = str(max_rows)


instance_argument = click.argument("instance", type=click.Path(path_type=Path))


@main.command()
@instance_argument
@click.option("--basis", type=click.Choice(["actual", "resident", "registered"]), help="Population basis for this run.")
@friendly
def validate(instance: Path, basis: str | None) -> None:
    """Check INSTANCE (folder or .xlsx); list every problem (exit 2) or summarise it (exit 0)."""
    from allocator.data.loader import load_instance
    from allocator.data.summary import summarize

    city = load_instance(instance, basis=basis)
    click.echo(summarize(city))
    click.echo("valid: no problems found")


@main.command()
@click.argument("out", type=click.Path(path_type=Path))
@friendly
def template(out: Path) -> None:
    """Write an empty instance workbook OUT.xlsx with headers and column meanings (EN/中文)."""
    from allocator.data.template import write_template

    if out.suffix.lower() != ".xlsx":
        raise InputError(f"the template is an Excel workbook: give a name ending in .xlsx, not {out.name!r}", file=str(out))
    click.echo(f"wrote {write_template(out)}")


def _positive(ctx, param, value):
    if value is not None and not (math.isfinite(value) and value > 0):   # nan and inf are no budget either
        raise click.BadParameter(f"must be positive, not {value}" if math.isfinite(value) else f"must be a finite number, not {value}")
    return value


def _finite(ctx, param, value):
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"must be a finite number, not {value}")
    return value


@main.command()
@instance_argument
@click.option("--model", "model_name", required=True, type=click.Choice(["grid", "enforcement", "facilities", "city"]), help="Which model to solve.")
@click.option("--objective", help="Objective of the model (see README; each model has a default).")
@click.option("--budget", type=float, callback=_positive, help="Yearly budget, 10k CNY: a hard limit under every objective.")
@click.option("--headcount", type=int, callback=_positive, help="Total headcount limit.")
@click.option("--basis", type=click.Choice(["actual", "resident", "registered"]), help="Population basis for this run.")
@click.option("--scenarios", help="Enforcement surge scenarios: a CSV file or a named pattern.")
@click.option("--cvar", "cvar_alpha", type=click.FloatRange(0, 1, max_open=True), callback=_finite, help="Add CVaR of unmet demand at this level (e.g. 0.9).")
@click.option("--cvar-weight", type=click.FloatRange(min=0), default=1.0, show_default=True, callback=_finite, help="Weight of CVaR beside expected unmet demand.")
@click.option("--target", "target_ratio", type=click.FloatRange(min=0, min_open=True), callback=_finite, help="Coverage ratio the `moves` objective must reach.")
@click.option("--max-moves", type=click.IntRange(min=0), help="Most officers reassigned between towns.")
@click.option("--services", help="Comma-separated services (facilities model).")
@click.option("--p", "p", type=click.IntRange(min=1), help="Number of facilities to open (facilities model).")
@click.option("--time-limit", type=float, callback=_positive, help="Seconds for HiGHS; the best plan found is kept.")
@click.option("--gap", type=click.FloatRange(0, 1), callback=_finite, help="Relative MIP gap at which HiGHS stops (default 1e-4).")
@click.option("--threads", type=click.IntRange(min=1), help="Threads for HiGHS (1 for reproducible runs).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="HiGHS random seed.")
@click.option("--out", type=click.Path(path_type=Path), help="Plan folder (default results/<instance>-<model>-<time>).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (status, objective, gap, plan_dir).")
@click.option("--iis", is_flag=True, help="When infeasible, also name HiGHS's irreducible infeasible subset (LP relaxation).")
@click.option("--equity-bound", "equity_bounds", multiple=True, metavar="MEASURE=VALUE",
              help="City model: hold an equity measure of the districts next to the objective, e.g. gini=0.05 "
                   "(at most) or maxmin=0.6 (at least); repeatable.")
@friendly
def solve(instance: Path, model_name: str, objective, budget, headcount, basis, scenarios, cvar_alpha, cvar_weight,
          target_ratio, max_moves, services, p, time_limit, gap, threads, seed, out, as_json, iis, equity_bounds) -> None:
    """Solve a model on INSTANCE and write the plan (exit 0 done, 2 bad input, 3 infeasible)."""
    import json as json_lib

    from allocator.data.loader import load_instance
    from allocator.plans.plan import write_plan
    from allocator.plans.make import make_plan
    from allocator.solving.run import RunOptions
    from allocator.solving.solve import SolveOptions

    city = load_instance(instance)
    options = RunOptions(model=model_name, objective=objective, budget=budget, headcount=headcount, basis=basis,
                         scenarios=scenarios, cvar_alpha=cvar_alpha, cvar_weight=cvar_weight, target_ratio=target_ratio,
                         max_moves=max_moves, p=p, equity_bounds=_equity_bounds(equity_bounds, model_name),
                         services=tuple(s.strip() for s in services.split(",") if s.strip()) if services else None)
    solve_options = SolveOptions(time_limit=time_limit, gap=gap, threads=threads, seed=seed, progress=not as_json)
    plan = make_plan(city, options, solve_options, iis=iis)
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
        if iis:
            from allocator.solving.iis import iis_lines
            for line in iis_lines((m.get("infeasibility") or {}).get("iis") or {"note": "no IIS was computed"}):
                click.echo(line, err=True)
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
    for line in _money_lines(m.get("money")):
        click.echo(line)
    check = m.get("check")
    if check is not None:
        click.echo("check: passed" if check["passed"] else f"check: FAILED ({check['n_violations']} violations)")
    if m.get("explanation"):
        click.echo(f"note: {m['explanation']}")
    click.echo(f"wrote {folder}")


def _money_lines(money: dict | None) -> list[str]:
    """The plan's money on screen (README, "What the budget pays"), rounded to 10k CNY."""
    if not money:
        return []
    lines = [money["budget_line"]]
    spend = {k: v for k, v in (money.get("spend_10k_cny") or {}).items() if k != "total"}
    if spend:
        words = {"grid_workers": "grid workers", "officers": "officers", "new_sites": "new sites"}
        parts = ", ".join(f"{words.get(k, k)} {v:,.0f}" for k, v in spend.items())
        lines.append(f"spend charged to the budget: {money['spend_10k_cny']['total']:,.0f} ({parts})")
    lines.append(f"committed, not charged: existing sites' running cost {money['committed_sites_10k_cny']:,.0f}")
    return lines


@main.command()
@click.argument("plan_dir", type=click.Path(path_type=Path))
@instance_argument
@friendly
def check(plan_dir: Path, instance: Path) -> None:
    """Recompute every constraint and the objective of PLAN_DIR from the files (exit 0 holds, 1 not)."""
    from allocator.plans.checks import check_plan
    from allocator.data.loader import load_instance
    from allocator.plans.plan import read_plan

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
    from allocator.data.generate import check_arguments, check_output, generate_city, output_format, write_city

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
            why = f" ({row['message']})" if row.get("message") and row["status"] == "error" else ""
            click.echo(f"[{done}/{total}] {row['scenario']}: {row['status']}{why}", err=True)

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
@click.option("--gap", type=click.FloatRange(0, 1), callback=_finite, help="Relative MIP gap at which HiGHS stops (default 1e-4).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="HiGHS random seed (HiGHS runs on one thread).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (counts by status, paths).")
@friendly
def sweep(instance: Path, model_name: str, params, objective, workers, scheduler, out, resume, time_limit, gap, seed, as_json) -> None:
    """Solve one plan per combination of --param values, on Dask; table in OUT/sweep.csv (exit 1 if any errored)."""
    import json as json_lib

    from allocator.solving.run import RunOptions
    from allocator.solving.solve import SolveOptions
    from allocator.studies.sweep import SWEEP_CSV, expand_scenarios, parse_params, run_sweep

    scenarios = expand_scenarios(parse_params(params))
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


# ---------------------------------------------------------------- plans for people: compare, chart, report, export

plans_argument = click.argument("plans", nargs=-1, required=True, type=click.Path(path_type=Path))
force_option = click.option("--force", is_flag=True, help="Go on even when the plans (or --instance) belong to different instances.")
instance_option = click.option("--instance", "instance_path", type=click.Path(path_type=Path),
                               help="The instance the plans were solved on (default: plan.json's instance_source).")
lang_option = click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Language of labels and words.")
by_option = click.option("--by", type=click.Choice(["district", "town"]), default="district", show_default=True, help="Compare districts or streets/towns.")


def _progress(message: str) -> None:
    click.echo(f"... {message}", err=True)


def _note_city(planset) -> None:
    if planset.instance is None:
        source = planset.plans[0].meta.get("instance_source")
        click.echo(f"note: the plans' instance ({source}) was not found: equity uses equal weights and towns show ids; "
                   "pass --instance DIR", err=True)


class _Warnings:
    """Python warnings (a missing CJK font) as one plain 'warning:' line each on stderr."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings(record=True)
        self.caught = self._catch.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)
        for message in dict.fromkeys(str(w.message) for w in self.caught if "font" in str(w.message).lower()):
            click.echo(f"warning: {message}", err=True)


@main.command("compare")
@plans_argument
@by_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "xlsx", "json"]), help="Default: from --out's suffix, else table.")
@click.option("--out", type=click.Path(path_type=Path), help="Write to this file (.csv, .xlsx, .json or .txt) instead of the terminal.")
@force_option
@instance_option
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True, help="Language of the table's labels.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@friendly
def compare_command(plans, by, fmt, out, force, instance_path, lang, as_json) -> None:
    """Plans side by side per district (or town): staff, coverage, spend, deltas against the first plan, equity."""
    from allocator.views.compare import compare, load_plans
    from allocator.views.compare_text import render_text, to_json
    from allocator.files import write_text
    from allocator.views.export import check_out, export_comparison

    fmt = "json" if as_json else fmt or {".csv": "csv", ".xlsx": "xlsx", ".json": "json"}.get(out.suffix.lower() if out else "", "table")
    if fmt == "xlsx" and out is None:
        raise InputError("--format xlsx writes a workbook: name it with --out FILE.xlsx", file="--out")
    if out is not None:
        check_out(out, {"table": (".txt",), "csv": (".csv",), "xlsx": (".xlsx",), "json": (".json",)}[fmt], f"--format {fmt}")
    planset = load_plans(list(plans), force=force, instance=instance_path, progress=_progress)
    _note_city(planset)
    result = compare(planset, by)
    if fmt == "xlsx":
        click.echo(f"wrote {export_comparison(result, out)}")
        return
    text = {"table": lambda: render_text(result, lang), "json": lambda: to_json(result),
            "csv": lambda: result.wide().to_csv(index=False, lineterminator="\n")}[fmt]()
    if out is None:
        click.echo(text.rstrip("\n"))
    else:
        click.echo(f"wrote {write_text(out, text if text.endswith(chr(10)) else text + chr(10))}")


@main.command("chart")
@plans_argument
@click.option("--kind", required=True, type=click.Choice(["bars", "lorenz", "map", "coverage", "tradeoff"]), help="Which chart.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Image file: .png or .svg.")
@instance_option
@by_option
@click.option("--metric", help="Metric of bars (and of map --color change), e.g. enforcement_total, grid_workers, sites_open.")
@click.option("--color", "colour", type=click.Choice(["coverage", "change"]), default="coverage", show_default=True, help="What colours the towns of a map.")
@lang_option
@force_option
@friendly
def chart_command(plans, kind, out, instance_path, by, metric, colour, lang, force) -> None:
    """Draw one chart of PLAN(s): bars, Lorenz curves, a town map, service coverage or the tradeoff."""
    from allocator.views.chart_data import ChartOptions, build_chart, needs_instance
    from allocator.views.charts import save
    from allocator.views.compare import load_plans
    from allocator.files import write_file
    from allocator.views.export import check_out

    check_out(out, (".png", ".svg"), "a chart")
    planset = load_plans(list(plans), force=force, instance=instance_path,
                         city="required" if needs_instance(kind) else "optional", progress=_progress)
    with _Warnings():
        _progress(f"drawing {kind}")
        figure = build_chart(kind, planset, ChartOptions(by=by, lang=lang, metric=metric, colour=colour))
        path = write_file(out, lambda tmp: save(figure, tmp))
    click.echo(f"wrote {path}")


@main.command("report")
@plans_argument
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The HTML file to write (one self-contained file).")
@lang_option
@instance_option
@force_option
@friendly
def report_command(plans, out, lang, instance_path, force) -> None:
    """One self-contained HTML report of PLAN(s) for district leaders: changes, charts, equity, solver status."""
    from allocator.views.compare import load_plans
    from allocator.files import write_text
    from allocator.views.export import check_out
    from allocator.views.report import render_report

    check_out(out, (".html", ".htm"), "the report")
    planset = load_plans(list(plans), force=force, instance=instance_path, progress=_progress)
    _note_city(planset)
    with _Warnings():
        html = render_report(planset, lang=lang, progress=_progress)
    click.echo(f"wrote {write_text(out, html)}")


@main.command("export")
@click.argument("plan", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@instance_option
@friendly
def export_command(plan: Path, out: Path, instance_path: Path | None) -> None:
    """Write PLAN as one Excel workbook OUT.xlsx: a summary sheet and a sheet per table (headers EN / 中文)."""
    from allocator.views.export import export_plan

    click.echo(f"wrote {export_plan(plan, out, instance_path, progress=_progress)}")


# ---------------------------------------------------------------- equity: frontier (engine: allocator/frontier.py)

def _equity_bounds(given: tuple[str, ...], model_name: str) -> tuple[tuple[str, float], ...]:
    """--equity-bound MEASURE=VALUE, each measure once; the city model only (the others: `allocator frontier`)."""
    from allocator.solving.run import RunOptions, check_equity_bounds, parse_equity_bounds

    bounds = parse_equity_bounds(given)
    check_equity_bounds(RunOptions(model=model_name, equity_bounds=bounds))
    return bounds


def _equity_spec(model_name, by, index_weights, budget, headcount, max_moves, basis):
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
                                                           max_moves=max_moves, basis=basis))
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
        click.option("--budget", type=float, callback=_positive, help="Budget, 10k CNY/yr (city, grid and facilities models; default: city.yaml)."),
        click.option("--headcount", type=int, callback=_positive, help="Enforcement headcount."),
        click.option("--max-moves", type=click.IntRange(min=0), help="Most officers reassigned."),
        click.option("--basis", type=click.Choice(["actual", "resident", "registered"]), help="Population basis."),
        click.option("--time-limit", type=float, callback=_positive, help="Seconds for each solve sequence."),
        click.option("--gap", type=click.FloatRange(0, 1), help="Relative MIP gap of each solve (default 1e-4)."),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="HiGHS random seed (one thread)."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table."),
    ]):
        command = decorator(command)
    return command


@main.command("frontier")
@instance_argument
@click.option("--equity", "measure", required=True, help="Equity measure bounded: maxmin, range, mad, gini, owa, alpha or hoover.")
@click.option("--points", type=int, default=6, show_default=True, help="ε-constraint points between the two ends.")
@click.option("--workers", type=click.IntRange(min=0), help="Local worker processes (default: one per core; 0: in this process).")
@click.option("--scheduler", metavar="ADDRESS", help="A running Dask scheduler instead of local workers.")
@click.option("--out", type=click.Path(path_type=Path), help="Folder (default results/<instance>-frontier-<model>-<time>).")
@click.option("--resume", is_flag=True, help="Finish the frontier in --out.")
@equity_options
@friendly
def frontier_command(instance: Path, measure, points, workers, scheduler, out, resume, model_name, by, index_weights, budget,
                     headcount, max_moves, basis, time_limit, gap, seed, as_json) -> None:
    """Efficiency against an equity measure: both ends, then --points ε-constraint points; frontier.csv + chart."""
    import json as json_lib

    from allocator.studies.frontier import FRONTIER_CSV, run_frontier
    from allocator.solving.solve import SolveOptions

    spec = _equity_spec(model_name, by, index_weights, budget, headcount, max_moves, basis)
    if resume and out is None:
        raise InputError("--resume finishes the frontier in --out: name that folder", file="--resume")
    out = out or _default_out(f"{instance.name}-frontier", model_name)
    with _SweepProgress(points + 2) as advance:
        frame = run_frontier(instance, spec, measure, points, out, workers=workers, scheduler=scheduler, resume=resume,
                             solve_options=SolveOptions(time_limit=time_limit, gap=gap, threads=1, seed=seed), progress=advance)
    if as_json:
        click.echo(json_lib.dumps({"out": str(out), "frontier_csv": str(out / FRONTIER_CSV),
                                   "points": json_lib.loads(frame.to_json(orient="records"))}))
    else:
        shown = frame[["point", "role", "equity_bound", "efficiency", "equity", "price_of_fairness", "status"]]
        click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
        click.echo(f"wrote {out / FRONTIER_CSV}, {out / 'frontier.png'}, {out / 'frontier.svg'}")
    if (frame["status"] == "error").any():
        click.get_current_context().exit(EXIT_FAILED)


@main.command("equity-bench")
@instance_argument
@click.option("--objectives", help="Comma-separated measures (default: all of models/equity.MEASURES; utilitarian is always solved).")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True, help="Local worker processes (0: in this process).")
@click.option("--out", type=click.Path(path_type=Path), help="Folder (default results/<instance>-bench-<model>-<time>).")
@equity_options
@friendly
def equity_bench_command(instance: Path, objectives, workers, out, model_name, by, index_weights, budget, headcount,
                         max_moves, basis, time_limit, gap, seed, as_json) -> None:
    """Solve INSTANCE under each equity objective; one table of efficiency, inequality and price of fairness."""
    import json as json_lib

    from allocator.studies.equity_bench import BENCH_CSV, json_rows, parse_objectives, run_bench
    from allocator.solving.solve import SolveOptions

    spec = _equity_spec(model_name, by, index_weights, budget, headcount, max_moves, basis)
    names = parse_objectives(objectives)
    out = out or _default_out(f"{instance.name}-bench", model_name)
    with _SweepProgress(len(names)) as advance:
        frame = run_bench(instance, spec, names, out, workers=workers, progress=advance,
                          solve_options=SolveOptions(time_limit=time_limit, gap=gap, threads=1, seed=seed))
    if as_json:
        click.echo(json_lib.dumps(json_rows(frame)))
    else:
        shown = frame[["objective", "status", "efficiency", "min_level", "gini", "theil", "hoover", "cv", "jain",
                       "price_of_fairness", "solve_s"]]
        click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        click.echo(f"wrote {out / BENCH_CSV}, {out / 'bench.json'}, {out / 'bench.png'}, {out / 'bench.svg'}")
    if (frame["status"] == "error").any():
        click.get_current_context().exit(EXIT_FAILED)


if __name__ == "__main__":
    sys.exit(main())
