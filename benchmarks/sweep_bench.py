"""Sweep throughput: scenarios per minute with 1 and 2 local Dask workers.

    python benchmarks/sweep_bench.py [--towns 60] [--seed 1] [--scenarios 40] [--out DIR]

Generates a synthetic city, then runs the same sweep of the enforcement model (maxmin;
max_moves = 2, 4, ..., 2·SCENARIOS) twice, on a LocalCluster of 1 and of 2 worker
processes, each with HiGHS on one thread. Every scenario is solved, checked and written
as its own plan. Two rates are printed per run:

    end to end   scenarios / wall time of run_sweep (cluster start and stop included)
    steady       scenarios after the first / time from the first to the last result

and the ratio 2 workers : 1 worker of each (the aim is at least 1.7). On a machine with
two cores that is busy with other work, two workers cannot show their full speed: the
load average before and after each run is printed so the figures can be judged.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from allocator.generate import generate_city, write_city  # noqa: E402
from allocator.run import RunOptions  # noqa: E402
from allocator.sweep import expand_grid, run_sweep  # noqa: E402


def measure(city: Path, scenarios, out: Path, workers: int) -> dict:
    finished: list[float] = []
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    frame = run_sweep(city, RunOptions(model="enforcement", objective="maxmin"), scenarios, out, workers=workers,
                      progress=lambda done, total, row: finished.append(time.perf_counter()))
    wall = time.perf_counter() - t0
    n = len(frame)
    steady = (n - 1) / (finished[-1] - finished[0]) * 60 if n > 1 and finished[-1] > finished[0] else float("nan")
    return {"workers": workers, "n": n, "wall_s": wall, "end_to_end": n / wall * 60, "steady": steady,
            "statuses": frame["status"].value_counts().to_dict(), "solve_s": float(frame["total_s"].sum()),
            "load": (load_before, os.getloadavg()[0]),
            "first_error": next(iter(frame.loc[frame["status"] == "error", "message"]), None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--towns", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scenarios", type=int, default=40)
    parser.add_argument("--out", type=Path, help="folder for the city and both sweeps (default: a temporary folder)")
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    city = root / "city"
    if not city.exists():
        write_city(generate_city(args.towns, args.seed), city, "folder")
    scenarios = expand_grid({"max_moves": [2 * (i + 1) for i in range(args.scenarios)]})
    print(f"city: {args.towns} towns (seed {args.seed}); {len(scenarios)} scenarios of enforcement/maxmin; "
          f"{os.cpu_count()} CPUs; folder {root}")
    runs = [measure(city, scenarios, root / f"sweep-{w}-workers-{int(time.time())}", w) for w in (1, 2)]
    for r in runs:
        print(f"{r['workers']} worker(s): {r['n']} scenarios in {r['wall_s']:.1f} s -> end to end "
              f"{r['end_to_end']:.1f}/min, steady {r['steady']:.1f}/min; time inside run(): {r['solve_s']:.1f} s; "
              f"statuses {r['statuses']}; load average {r['load'][0]:.2f} -> {r['load'][1]:.2f}")
        if r["first_error"]:
            print(f"  warning: scenarios failed, the rate is not a solve rate: {r['first_error']}")
    one, two = runs
    print(f"ratio 2:1 workers: end to end {two['end_to_end'] / one['end_to_end']:.2f}x, "
          f"steady {two['steady'] / one['steady']:.2f}x (aim >= 1.7x)")


if __name__ == "__main__":
    main()
