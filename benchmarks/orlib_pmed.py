"""OR-Library p-median (pmed1..pmed40): the project's p-median against the published optima.

    python benchmarks/orlib_pmed.py --data ../shared/data/orlib-pmed [--instances pmed1,pmed7] [--time-limit S] [--gap G]

Reads the original pmedN.txt files (last duplicate edge wins), computes all-pairs
shortest paths, solves each instance with `allocator.solving.location.solve_pmedian` (every node
a unit-weight demand point and a candidate site) and prints CSV to stdout:

    instance,optimum,found,gap,seconds

`seconds` is the wall time of the solve call (build, hand-over, HiGHS, extraction), not
the file reading. Progress and the timing breakdown go to stderr. Exit code 1 when any
instance misses its optimum by more than the tolerance.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))

from allocator.solving.solve import SolveOptions  # noqa: E402
from benchmarks import orlib  # noqa: E402

TOLERANCE = 1e-6


def solve_instance(inst: orlib.PMedianInstance, options: SolveOptions):
    """The project's p-median on one OR-Library instance; returns (result, wall seconds)."""
    from allocator.solving.location import solve_pmedian

    start = time.perf_counter()
    result = solve_pmedian(np.ones(inst.n), inst.dist, inst.p, solve_options=options)
    return result, time.perf_counter() - start


@click.command()
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="folder with optima.csv and the pmedN.txt files (in instances/ or beside it)")
@click.option("--instances", default="", help="comma-separated names, e.g. pmed1,pmed7 (default: all)")
@click.option("--time-limit", type=float, default=None, help="seconds per instance")
@click.option("--threads", type=int, default=None, help="HiGHS threads (default: HiGHS decides)")
@click.option("--gap", type=float, default=TOLERANCE, show_default=True,
              help="relative MIP gap asked of the solver (the match tolerance, so a miss is a real miss)")
def main(data_dir: Path, instances: str, time_limit: float | None, threads: int | None, gap: float) -> None:
    options = SolveOptions(time_limit=time_limit, threads=threads, gap=gap)
    try:
        code = orlib.run_family(data_dir, instances, orlib.load_pmed, lambda inst: solve_instance(inst, options), describe,
                                TOLERANCE)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(code)


def describe(inst: orlib.PMedianInstance, result) -> str:
    t = result.timings
    return (f"n={inst.n} p={inst.p} status={result.status} objective={result.objective} "
            f"optimum={inst.optimum:g}  build {t.get('build_s', 0):.2f} s, hand-over "
            f"{t.get('handover_s', 0):.2f} s, HiGHS {t.get('solve_s', 0):.2f} s, "
            f"extract {t.get('extract_s', 0):.2f} s")


if __name__ == "__main__":
    main()
