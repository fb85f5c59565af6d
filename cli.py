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


if __name__ == "__main__":
    sys.exit(main())
