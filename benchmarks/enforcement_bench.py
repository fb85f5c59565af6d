"""Enforcement staffing on a synthetic city: time per phase for every objective (not a test).

    python benchmarks/enforcement_bench.py [--towns 1000] [--seed 1] [--scenarios surge:20] [--time-limit 60]

Generates the city with `allocator.generate` (written to a temporary folder and loaded
back, as a planner's city would be), then solves each objective through `allocator.solving.run.run`
(two solves each: the objective, then its tie-break) and prints build, hand-over, HiGHS,
extract and check seconds, the objective, the MIP gap and the share of time spent outside
HiGHS. Targets: optimal within 60 s, time outside HiGHS under 30 %. For maxmin the
bisection on the level counts as build time and the gap is the width of its bracket.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from allocator.plans.checks import check_plan
from allocator.data.generate import generate_city, write_city
from allocator.data.loader import load_instance
from allocator.plans.make import make_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions


def cases(scenarios: str) -> list[tuple[str, dict]]:
    return [
        ("maxmin", {"objective": "maxmin"}),
        ("shortfall", {"objective": "shortfall"}),
        ("moves (target 0.8)", {"objective": "moves", "target_ratio": 0.8}),
        (f"expected ({scenarios})", {"scenarios": scenarios}),
        (f"expected + CVaR 0.9 ({scenarios})", {"scenarios": scenarios, "cvar_alpha": 0.9, "cvar_weight": 1.0}),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--towns", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scenarios", default="surge:20")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        folder = Path(tmp) / "city"
        write_city(generate_city(args.towns, args.seed), folder, "folder")
        city = load_instance(folder)
        print(f"city: {len(city.towns):,} towns, {len(city.districts)} districts, "
              f"{int(city.towns['enforcement_now'].sum()):,} officers today, headcount {city.config.headcount} "
              f"(generated and loaded in {time.perf_counter() - t0:.2f} s)")
        solve_options = SolveOptions(time_limit=args.time_limit, threads=args.threads, seed=0)
        header = f"{'objective':<34}{'build':>7}{'hand':>7}{'HiGHS':>8}{'extract':>8}{'check':>7}{'total':>8}{'outside':>9}  {'status':<11}{'objective':>12}  {'gap':<10}"
        print(header)
        print("-" * len(header))
        for label, options in cases(args.scenarios):
            plan = make_plan(city, RunOptions(model="enforcement", **options), solve_options)
            t1 = time.perf_counter()
            report = check_plan(plan, city) if plan.tables else None
            check_s = time.perf_counter() - t1
            t, m = plan.meta["timings"], plan.meta
            outside = (t["build_s"] + t["handover_s"] + t["extract_s"]) / max(t["total_s"], 1e-9)
            value = "-" if m["objective_value"] is None else f"{m['objective_value']:.6g}"
            gap = "-" if m["mip_gap"] is None else f"{100 * m['mip_gap']:.2g}%"
            checked = "" if report is None else ("" if report.passed else "  CHECK FAILED")
            print(f"{label:<34}{t['build_s']:>7.2f}{t['handover_s']:>7.2f}{t['solve_s']:>8.2f}{t['extract_s']:>8.2f}{check_s:>7.2f}"
                  f"{t['total_s']:>8.2f}{100 * outside:>8.1f}%  {m['status']:<11}{value:>12}  {gap:<10}{checked}")
            if m.get("explanation"):
                print(f"    note: {m['explanation']}")


if __name__ == "__main__":
    main()
