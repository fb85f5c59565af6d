"""The roadmap where planners wait: a five-year plan of Chongqing (or a generated city) in one MIP.

    python -m benchmarks.roadmap                                   # Chongqing 2026:2030, 600 s
    python -m benchmarks.roadmap --years 2026:2030 --gap 1e-3 --time-limit 120
    python -m benchmarks.roadmap --generate 40 --objectives utilitarian,maxmin

For each objective, `allocator solve INSTANCE --model roadmap --years FIRST:LAST` as the command
runs it (make_plan: build, solve, extract, the independent check): its status, the gap of the
objective recomputed from the plan against the bound HiGHS proved, the seconds of build, hand-over,
HiGHS and the whole run, whether the plan passed `allocator check`, and the first year in which every
urban district meets the community-worker norm (18 per 10,000 urban residents; "-" when none within
the years). The table goes to stdout; --out keeps the plan folders.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

from allocator.data.generate import generate_city, write_city
from allocator.data.loader import load_instance
from allocator.plans.make import make_plan
from allocator.plans.plan import write_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions

CHONGQING = Path(__file__).resolve().parents[1] / "instances" / "chongqing"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.roadmap", description=__doc__.splitlines()[0])
    ap.add_argument("--instance", type=Path, default=CHONGQING, help="a city folder (default Chongqing)")
    ap.add_argument("--generate", type=int, help="use a generated city of this many towns (seed --seed) instead")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--years", default="2026:2030")
    ap.add_argument("--objectives", default="utilitarian")
    ap.add_argument("--time-limit", type=float, default=600.0, help="seconds for each run (0: none)")
    ap.add_argument("--gap", type=float, default=None, help="relative gap at which HiGHS stops (default 1e-4)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, help="keep the plans here")
    return ap.parse_args(argv)


def norm_year(roadmap) -> str:
    met = roadmap[(roadmap["urban_districts"] > 0) & (roadmap["urban_districts_at_worker_norm"] == roadmap["urban_districts"])]
    return str(int(met["year"].iloc[0])) if len(met) else "-"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    first, last = (int(y) for y in args.years.split(":"))
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        if args.generate:
            folder = out / f"generated-{args.generate}"
            write_city(generate_city(args.generate, args.seed), folder, overwrite=True)
            city = load_instance(folder)
        else:
            city = load_instance(args.instance)
        print(f"{city.name}: {len(city.districts)} districts, {len(city.towns)} towns, {len(city.grids)} grids, "
              f"years {first}:{last}, time limit {args.time_limit:g} s, gap {args.gap or 1e-4:g}")
        print(f"{'objective':<12} {'status':<10} {'value':>10} {'gap':>9} {'build':>7} {'hand-over':>9} {'HiGHS':>8} "
              f"{'total':>8} {'wall':>8}  check  norm met")
        for objective in args.objectives.split(","):
            t0 = time.perf_counter()
            limit = args.time_limit or None
            solve_options = SolveOptions(time_limit=limit, gap=args.gap, threads=args.threads,
                                         deadline=None if limit is None else time.time() + limit)
            plan = make_plan(city, RunOptions(model="roadmap", objective=objective, years=(first, last)), solve_options)
            wall = time.perf_counter() - t0
            m, t = plan.meta, plan.meta["timings"]
            write_plan(plan, out / f"roadmap-{objective}", overwrite=True)
            gap = "-" if m.get("mip_gap") is None else f"{100 * m['mip_gap']:.3g}%"
            value = "-" if m.get("objective_value") is None else f"{m['objective_value']:.6g}"
            passed = (m.get("check") or {}).get("passed")
            met = norm_year(plan.tables["roadmap"]) if "roadmap" in plan.tables else "-"
            print(f"{objective:<12} {m['status']:<10} {value:>10} {gap:>9} {t['build_s']:>7.1f} {t['handover_s']:>9.1f} "
                  f"{t['solve_s']:>8.1f} {t['total_s']:>8.1f} {wall:>8.1f}  {'yes' if passed else 'no':<5}  {met}")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
