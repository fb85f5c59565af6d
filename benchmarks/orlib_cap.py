"""OR-Library capacitated location (cap41..cap134, capa1..capc4): the project's CFLP
against the published split-demand optima.

    python benchmarks/orlib_cap.py --data ../shared/data/orlib-cap [--instances cap41,cap71] [--time-limit S] [--gap G]

Reads the original cap files (capa/capb/capc with the capacity named in optima.csv),
solves each with `allocator.solving.location.solve_cflp` (split demand) and prints CSV to stdout:

    instance,optimum,found,gap,seconds

`seconds` is the wall time of the solve call. Progress goes to stderr. The published
optima carry three decimals, so an instance counts as reproduced when the relative gap
is at most 1e-6. Exit code 1 when any instance misses.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click

sys.path.append(str(Path(__file__).resolve().parents[1]))

from allocator.solving.solve import SolveOptions  # noqa: E402
from benchmarks import orlib  # noqa: E402

TOLERANCE = 1e-6


def solve_instance(inst: orlib.CapInstance, options: SolveOptions):
    """The project's split-demand CFLP on one instance; returns (result, wall seconds)."""
    from allocator.solving.location import solve_cflp

    start = time.perf_counter()
    result = solve_cflp(inst.demand, inst.capacity, inst.fixed_cost, inst.assign_cost,
                        single_source=False, solve_options=options)
    return result, time.perf_counter() - start


@click.command()
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="folder with optima.csv and the cap files (in instances/ or beside it)")
@click.option("--instances", default="", help="comma-separated names, e.g. cap41,capa1 (default: all)")
@click.option("--time-limit", type=float, default=None, help="seconds per instance")
@click.option("--threads", type=int, default=None, help="HiGHS threads (default: HiGHS decides)")
@click.option("--gap", type=float, default=TOLERANCE, show_default=True,
              help="relative MIP gap asked of the solver (the match tolerance, so a miss is a real miss)")
def main(data_dir: Path, instances: str, time_limit: float | None, threads: int | None, gap: float) -> None:
    options = SolveOptions(time_limit=time_limit, threads=threads, gap=gap)
    try:
        code = orlib.run_family(data_dir, instances, orlib.load_cap, lambda inst: solve_instance(inst, options), describe,
                                TOLERANCE)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(code)


def describe(inst: orlib.CapInstance, result) -> str:
    return (f"{len(inst.capacity)} sites × {len(inst.demand)} customers, "
            f"status={result.status} objective={result.objective} optimum={inst.optimum}")


if __name__ == "__main__":
    main()
