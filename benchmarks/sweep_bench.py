"""Sweep throughput: scenarios per minute with 1 and 2 local Dask workers.

    python -m benchmarks.sweep_bench [--towns 200] [--seed 1] [--scenarios 40] [--workers 1,2] [--out DIR]

The sweep: a generated city (`allocator generate`, 200 towns: about 4,600 grids and 4,600
sites), the facilities model (maximal covering, `mclp`), the budget swept over SCENARIOS
values from the running cost of the existing sites plus 5 % to plus 30 % of what opening
every candidate would cost. Each scenario takes seconds and most of it is HiGHS, so the
rate measures solving, not Dask. Every scenario is solved on one HiGHS thread, checked,
and written as its own plan, exactly as `allocator sweep` does.

For each worker count the LocalCluster is started first (the sweep's own settings,
`allocator.studies.sweep.local_cluster`), timed apart, then the sweep runs through it
(`run_sweep(scheduler=...)`: workers prepared once, then the scenarios). Rates:

    end to end   scenarios / (cluster start + sweep + cluster stop): what a planner waits
    sweep        scenarios / sweep wall time (cluster already running)
    steady       scenarios after the first / time from the first to the last result

Both runs carry the same overheads, so each ratio 2 workers : 1 worker is fair (the aim is
at least 1.7). `in worker` is the mean seconds a scenario spent inside its task: when it
grows from 1 to 2 workers the two processes competed for the CPU (other load on the
machine, or fewer free cores than workers), which no sweep code can remove. The load
average before and after each run is printed so the figures can be judged.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

sys.path.append(str(Path(__file__).resolve().parents[1]))

from allocator.data.loader import load_instance  # noqa: E402
from allocator.solving.run import RunOptions  # noqa: E402
from allocator.studies.sweep import Scenario, expand_scenarios, local_cluster, run_sweep  # noqa: E402
from benchmarks.facilities_bench import city_budget  # noqa: E402
from benchmarks.scaling import city_folder  # noqa: E402

BASE = RunOptions(model="facilities", objective="mclp")
SHARES = (0.05, 0.30)


@dataclass
class Throughput:
    workers: int
    scenarios: int
    start_s: float          # cluster start
    sweep_s: float          # run_sweep, cluster running
    stop_s: float           # cluster stop
    first_s: float          # from the sweep's start to its first result
    steady_per_min: float
    in_worker_s: float      # mean seconds inside a scenario's task
    failed: int
    load_before: float
    load_after: float
    first_error: str

    @property
    def end_to_end_per_min(self) -> float:
        return 60 * self.scenarios / (self.start_s + self.sweep_s + self.stop_s)

    @property
    def sweep_per_min(self) -> float:
        return 60 * self.scenarios / self.sweep_s


def budget_scenarios(city_path: Path, count: int) -> list[Scenario]:
    """COUNT budgets evenly spread between the two SHARES of the city's facility costs."""
    city = load_instance(city_path)
    lo, hi = (city_budget(city, share) for share in SHARES)
    step = (hi - lo) / max(count - 1, 1)
    return expand_scenarios({"budget": [round(lo + i * step, 1) for i in range(count)]})


def measure(city_path: Path, scenarios: Sequence[Scenario], out: Path, workers: int) -> Throughput:
    """One sweep on a fresh LocalCluster of `workers` processes."""
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    cluster = local_cluster(workers)
    start_s = time.perf_counter() - t0
    finished: list[float] = []
    try:
        t1 = time.perf_counter()
        frame = run_sweep(city_path, BASE, scenarios, out, scheduler=cluster.scheduler_address,
                          progress=lambda done, total, row: finished.append(time.perf_counter()))
        sweep_s = time.perf_counter() - t1
    finally:
        t2 = time.perf_counter()
        cluster.close()
        stop_s = time.perf_counter() - t2
    n = len(frame)
    span = finished[-1] - finished[0] if len(finished) > 1 else 0.0
    failed = frame["status"] != "optimal"
    return Throughput(workers, n, start_s, sweep_s, stop_s, finished[0] - t1 if finished else float("nan"),
                      60 * (n - 1) / span if span > 0 else float("nan"), float(frame["wall_s"].mean()),
                      int(failed.sum()), load_before, os.getloadavg()[0],
                      str(next(iter(frame.loc[failed, "message"]), "")))


def run_throughput(towns: int, seed: int, count: int, workers: Sequence[int], workdir: Path) -> list[Throughput]:
    city_path = city_folder(towns, seed, workdir)
    scenarios = budget_scenarios(city_path, count)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return [measure(city_path, scenarios, workdir / f"sweep-{n}-workers-{stamp}", n) for n in workers]


def contention_free(run: Throughput, base: Throughput) -> float:
    """The steady ratio had each scenario taken as long in `run` as in `base` (1 worker):
    what is left of the shortfall below `run.workers` is the sweep's own overhead."""
    return run.steady_per_min / base.steady_per_min * run.in_worker_s / base.in_worker_s


def format_throughput(runs: Sequence[Throughput]) -> str:
    head = (f"{'workers':>7}{'scenarios':>10}{'start s':>9}{'sweep s':>9}{'stop s':>8}{'first s':>9}"
            f"{'end-to-end/min':>16}{'sweep/min':>11}{'steady/min':>12}{'in worker s':>13}{'failed':>8}{'load':>12}")
    lines = [head, "-" * len(head)]
    for r in runs:
        lines.append(f"{r.workers:>7}{r.scenarios:>10}{r.start_s:>9.1f}{r.sweep_s:>9.1f}{r.stop_s:>8.1f}{r.first_s:>9.1f}"
                     f"{r.end_to_end_per_min:>16.1f}{r.sweep_per_min:>11.1f}{r.steady_per_min:>12.1f}"
                     f"{r.in_worker_s:>13.2f}{r.failed:>8}{f'{r.load_before:.1f}->{r.load_after:.1f}':>12}")
        if r.first_error:
            lines.append(f"  warning: {r.failed} scenario(s) did not end optimal: {r.first_error}")
    base = next((r for r in runs if r.workers == 1), None)
    for r in runs:
        if base is not None and r is not base:
            lines.append(f"ratio {r.workers}:1 workers: end to end {r.end_to_end_per_min / base.end_to_end_per_min:.2f}x, "
                         f"sweep {r.sweep_per_min / base.sweep_per_min:.2f}x, steady {r.steady_per_min / base.steady_per_min:.2f}x "
                         f"(aim >= 1.7x); time in worker {r.in_worker_s / base.in_worker_s:.2f}x that of 1 worker, "
                         f"so without CPU contention steady would be {contention_free(r, base):.2f}x")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--towns", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scenarios", type=int, default=40)
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--out", type=Path, help="folder for the city and the sweeps (default: a temporary folder)")
    args = parser.parse_args()
    workdir = args.out or Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    print(f"sweep: facilities/mclp, {args.scenarios} budgets, city of {args.towns} towns (seed {args.seed}); "
          f"{os.cpu_count()} CPUs; folder {workdir}", flush=True)
    runs = run_throughput(args.towns, args.seed, args.scenarios, [int(w) for w in args.workers.split(",")], workdir)
    print(format_throughput(runs))


if __name__ == "__main__":
    main()
