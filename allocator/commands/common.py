"""What every command shares: one clear message per outcome (friendly), the command's start and
deadline under --time-limit, option checks against allocator.data.schema.LIMITS, default folders."""
from __future__ import annotations

import functools
import os
import sys
import time
import traceback
from pathlib import Path

import click

from allocator.data.schema import LIMITS
from allocator.errors import Exit, InfeasibleError, InputError, NoPlanError


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
            quiet_stdout()
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


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so that Python's last flush finds no closed pipe (no traceback)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):   # a stdout without a file (a test runner's)
        pass


instance_argument = click.argument("instance", type=click.Path(path_type=Path))


def started() -> float:
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


def deadline(time_limit: float | None) -> float | None:
    """The wall-clock end of this command under --time-limit: the limit counts from the command's start."""
    if time_limit is None:
        return None
    return click.get_current_context().meta.get("allocator.started", time.time()) + time_limit


overwrite_option = click.option("--overwrite", is_flag=True, help="Replace what allocator wrote at OUT before (a plan or "
                                "instance folder only if it holds nothing else); without it an existing OUT is refused.")


def within(name: str):
    """Option callback: the value within its range (allocator.data.schema.LIMITS), else exit 2 with the rule."""
    limit = LIMITS[name]

    def check(ctx, param, value):
        if value is not None and not limit.holds(value):   # nan and inf are outside every range
            raise click.BadParameter(f"{limit.rule()}, not {value if isinstance(value, int) else f'{value:g}'}")
        return value

    return check


def default_out(name: str, model: str) -> Path:
    """results/NAME-MODEL-TIME, one folder name however the city is named (its name is data), not taken yet."""
    from datetime import datetime

    from allocator.files import safe_name

    stem = f"{safe_name(name)}-{safe_name(model, 'model')}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    out, k = Path("results") / stem, 1
    while out.exists() or out.is_symlink():
        k += 1
        out = Path("results") / f"{stem}-{k}"
    return out


def check_study_out(out: Path) -> None:
    """A study's --out: refused before any work when it lies under a file or in a folder we may not write."""
    from allocator.files import check_place

    check_place(out)


def equity_bounds_of(given: tuple[str, ...], model_name: str) -> tuple[tuple[str, float], ...]:
    """--equity-bound MEASURE=VALUE, each measure once; the city model only (the others: `allocator frontier`)."""
    from allocator.solving.run import RunOptions, check_equity_bounds, parse_equity_bounds

    bounds = parse_equity_bounds(given)
    check_equity_bounds(RunOptions(model=model_name, equity_bounds=bounds))
    return bounds
