"""Grid-staffing benchmark (not a test): a synthetic city of about 25,000 grids, three objectives.

    python benchmarks/grid_bench.py [--towns 1000] [--seed 1] [--workload-scale 1.5]
                                    [--budget-share 0.6] [--time-limit 60] [--gap 0.01] [--threads N]

With the norms pack's workload (a monthly visit to every household) the generated grids
need 0.5-1.4 full-time equivalents, and the one full-time worker per grid plus the
professionals every town must have already cover them: the model is trivial. The benchmark
therefore multiplies the three workload norms (hours per household, event and person) by
--workload-scale (default 1.5: grids need 0.7-2.1 full-time equivalents).

`cost` runs without a budget; `unmet` and `maxmin` get the budget
    B = mandatory cost + budget_share · (least full-coverage cost − mandatory cost),
where the least full-coverage cost is the `cost` run's HiGHS lower bound, so B falls short of
covering every hour. Each row goes through `allocator.solving.run.run` (build, solve, extract and the
independent check), exactly as `allocator solve` does.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1]))

from allocator.data.generate import generate_city  # noqa: E402
from allocator.plans.make import make_plan  # noqa: E402
from allocator.solving.run import RunOptions  # noqa: E402
from allocator.solving.solve import SolveOptions  # noqa: E402
from allocator.models.grid import grid_data  # noqa: E402

WORKLOAD_NORMS = ("grid_hours_per_household", "grid_hours_per_event", "grid_hours_per_person")


def scaled_city(towns: int, seed: int, scale: float):
    city = generate_city(towns, seed)
    norms = dict(city.config.norms)
    for key in WORKLOAD_NORMS:
        norms[key] = float(norms[key]) * scale
    return replace(city, config=replace(city.config, norms=norms))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--towns", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workload-scale", type=float, default=1.5)
    parser.add_argument("--budget-share", type=float, default=0.6)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--gap", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--objectives", default="cost,unmet,maxmin")
    args = parser.parse_args()

    t0 = time.perf_counter()
    city = scaled_city(args.towns, args.seed, args.workload_scale)
    data = grid_data(city)
    print(f"city: {len(city.towns):,} towns, {len(city.grids):,} grids (generated in {time.perf_counter() - t0:.2f} s); "
          f"workload {data.workload.min():,.0f}-{data.workload.max():,.0f} h/grid, mean {data.workload.mean():,.0f}; "
          f"modelled after exact reductions: {int(data.modelled_towns.sum()):,} towns, {int(data.modelled_grids.sum()):,} grids")
    solve_options = SolveOptions(time_limit=args.time_limit, gap=args.gap, threads=args.threads, seed=0)
    rows, budget = [], None
    for objective in args.objectives.split(","):
        if objective != "cost" and budget is None:
            full = make_plan(city, RunOptions(model="grid", objective="cost"), solve_options).meta
            budget = round(data.mandatory_cost + args.budget_share * ((full["bound"] or full["objective_value"]) - data.mandatory_cost), 1)
        options = RunOptions(model="grid", objective=objective, budget=None if objective == "cost" else budget)
        plan = make_plan(city, options, solve_options)
        rows.append((objective, plan.meta))
        if objective == "cost" and budget is None:
            budget = round(data.mandatory_cost + args.budget_share * ((plan.meta["bound"] or plan.meta["objective_value"]) - data.mandatory_cost), 1)
    print(f"budget for unmet/maxmin: {budget:,.1f} (10k CNY/yr; mandatory staff cost {data.mandatory_cost:,.1f}); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'objective':<9} {'build s':>8} {'hand-over s':>12} {'HiGHS s':>8} {'extract s':>10} {'total s':>8} "
          f"{'outside':>8} {'objective':>14} {'gap':>8} {'status':>11} {'check':>6}")
    for objective, m in rows:
        t = m["timings"]
        outside = (t["total_s"] - t["solve_s"]) / t["total_s"] if t["total_s"] else 0.0
        gap = "-" if m["mip_gap"] is None else f"{100 * m['mip_gap']:.3f}%"
        value = "-" if m["objective_value"] is None else f"{m['objective_value']:,.6g}"
        check = "pass" if (m.get("check") or {}).get("passed") else "FAIL"
        print(f"{objective:<9} {t['build_s']:8.2f} {t['handover_s']:12.2f} {t['solve_s']:8.2f} {t['extract_s']:10.2f} "
              f"{t['total_s']:8.2f} {100 * outside:7.1f}% {value:>14} {gap:>8} {m['status']:>11} {check:>6}")
        for step in m.get("level_search", []):
            print(f"    level {step['level']:.5f}: {step['verdict']:<12} least cost {step['least_cost']}, "
                  f"bound {step['cost_bound']}, gap asked {step['mip_gap_asked']:.2g}, HiGHS {step['solve_s']:.1f} s")


if __name__ == "__main__":
    main()
