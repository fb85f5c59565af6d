"""The city model where planners wait: every equity objective, the frontier, and a large generated city.

    python -m benchmarks.city_equity_bench                              # every section on Chongqing
    python -m benchmarks.city_equity_bench --only bench --time-limit 600
    python -m benchmarks.city_equity_bench --only generated --towns 2000
    python -m benchmarks.city_equity_bench --only workers --objectives utilitarian,maxmin,gini

Sections (`--only`, comma-separated; default all):
    bench      `allocator equity-bench INSTANCE --model city` (allocator.studies.equity_bench.run_bench):
               per objective its status, the gap of its objective (recomputed from the plan against the
               bound the sequence proved), build, hand-over and HiGHS seconds, the objective's whole time,
               whether the plan passed `allocator check`; then the bench's wall time
    frontier   `allocator frontier INSTANCE --model city --measure M --points N` for maxmin and gini:
               the wall time, every point's status and gap, and whether efficiency falls monotonically
               from the utilitarian end to the fairest (and the measure improves with it)
    generated  the city model (default objective maxmin) on a generated city of --towns towns at gap
               1e-4, as `allocator solve --model city` runs it: status, gap, build and HiGHS seconds
    workers    the bench with 1 and with 2 local Dask workers in one run: the speed-up of 2 over 1

Every run is checked as `allocator check` would (the plan's constraints and objective recomputed from
its tables). Tables go to stdout; --out keeps the result folders (a temporary folder otherwise).
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from allocator.data.generate import generate_city, write_city
from allocator.data.loader import load_instance
from allocator.plans.checks import check_plan
from allocator.plans.make import make_plan
from allocator.plans.plan import read_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions
from allocator.studies.equity_bench import DEFAULT_OBJECTIVES, run_bench
from allocator.studies.equity_runs import ProblemSpec
from allocator.studies.frontier import run_frontier
from allocator.studies.sweep import PLANS_DIR

SECTIONS = ("bench", "frontier", "generated", "workers")
CHONGQING = Path(__file__).resolve().parents[1] / "instances" / "chongqing"
PROVEN_GAP = 1e-4


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.city_equity_bench", description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"sections, comma-separated: {', '.join(SECTIONS)}")
    ap.add_argument("--instance", type=Path, default=CHONGQING, help="a city folder (default Chongqing)")
    ap.add_argument("--generate", type=int, help="use a generated city of this many towns (seed --seed) instead")
    ap.add_argument("--objectives", default=",".join(DEFAULT_OBJECTIVES))
    ap.add_argument("--time-limit", type=float, default=None, help="seconds for each bench or frontier (none: no limit)")
    ap.add_argument("--points", type=int, default=10, help="frontier points between its ends")
    ap.add_argument("--measures", default="maxmin,gini", help="frontier measures")
    ap.add_argument("--towns", type=int, default=2000, help="towns of the generated city")
    ap.add_argument("--seed", type=int, default=1, help="seed of the generated city")
    ap.add_argument("--workers", type=int, default=0, help="local workers of the bench and frontier sections")
    ap.add_argument("--out", type=Path, help="keep the result folders here")
    args = ap.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    if any(s not in SECTIONS for s in args.only):
        ap.error(f"choose sections from {', '.join(SECTIONS)}")
    return args


def _f(x, spec: str) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def plan_rows(out: Path) -> list[dict]:
    """One row per plan folder of a study: status, gap, timings, check."""
    rows = []
    for folder in sorted((out / PLANS_DIR).iterdir()):
        if not (folder / "plan.json").exists():
            rows.append({"name": folder.name, "status": "error"})
            continue
        m = read_plan(folder).meta
        t = m.get("timings") or {}
        rows.append({"name": folder.name, "status": m.get("status"), "gap": m.get("mip_gap"),
                     "value": m.get("objective_value"), "build_s": t.get("build_s"), "handover_s": t.get("handover_s"),
                     "solve_s": t.get("solve_s"), "total_s": t.get("total_s"),
                     "check": (m.get("check") or {}).get("passed"), "proven": proven(m)})
    return rows


def proven(meta: dict) -> bool:
    """Every solve of the sequence ended `optimal` (HiGHS's gap, 1e-4 unless asked otherwise). The gap column
    is the objective's recomputed from the plan against the proven bound: above 1e-4 only where the model
    draws the measure approximately (alpha's tangents) or the value is near 0 (a Hoover of 0.001)."""
    return meta.get("status") == "optimal"


def format_plan_rows(rows: list[dict]) -> str:
    head = f"{'run':24} {'status':11} {'gap':>9} {'value':>10} {'build s':>8} {'handover s':>10} {'HiGHS s':>8} {'total s':>8} check proven"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['name']:24} {r['status'] or '-':11} {_f(r.get('gap'), '9.2e')} {_f(r.get('value'), '10.6f')} "
                     f"{_f(r.get('build_s'), '8.1f')} {_f(r.get('handover_s'), '10.1f')} {_f(r.get('solve_s'), '8.1f')} "
                     f"{_f(r.get('total_s'), '8.1f')} {str(r.get('check')):5} {r.get('proven')}")
    return "\n".join(lines)


def bench(instance: Path, objectives: list[str], out: Path, workers: int, time_limit: float | None) -> tuple[float, list[dict]]:
    t0, c0 = time.perf_counter(), time.process_time()
    run_bench(instance, ProblemSpec("city"), objectives, out, workers=workers,
              solve_options=SolveOptions(threads=1, time_limit=time_limit))
    print(f"(CPU seconds of this process: {time.process_time() - c0:.1f}; on a shared machine wall time also waits "
          "for others)", file=sys.stderr)
    return time.perf_counter() - t0, plan_rows(out)


def frontier(instance: Path, measure: str, points: int, out: Path, workers: int, time_limit: float | None):
    t0, c0 = time.perf_counter(), time.process_time()
    frame = run_frontier(instance, ProblemSpec("city"), measure, points, out, workers=workers,
                         solve_options=SolveOptions(threads=1, time_limit=time_limit))
    print(f"(CPU seconds of this process: {time.process_time() - c0:.1f})", file=sys.stderr)
    return time.perf_counter() - t0, frame


def monotone(frame, measure: str, tolerance: float = 1e-6) -> bool:
    """Efficiency never rises from the utilitarian end to the fairest, and the measure never worsens."""
    eff = frame["efficiency"].to_numpy(float)
    eq = frame["equity"].to_numpy(float)
    if not np.all(np.isfinite(eff)) or not np.all(np.isfinite(eq)):
        return False
    better = eq if measure in ("maxmin", "owa", "alpha") else -eq
    return bool(np.all(np.diff(eff) <= tolerance) and np.all(np.diff(better) >= -tolerance))


def city_folder(towns: int, seed: int, workdir: Path) -> Path:
    folder = workdir / f"city-{towns}-s{seed}"
    if not (folder / "city.yaml").exists():
        write_city(generate_city(towns, seed), folder, "folder")
    return folder


def generated(towns: int, seed: int, workdir: Path) -> dict:
    city = load_instance(city_folder(towns, seed, workdir))
    t0 = time.perf_counter()
    plan = make_plan(city, RunOptions(model="city"), SolveOptions(threads=1, gap=PROVEN_GAP))
    wall = time.perf_counter() - t0
    m, t = plan.meta, plan.meta["timings"]
    passed = check_plan(plan, city).passed if plan.tables else None
    return {"name": f"generated {towns} towns", "status": m["status"], "gap": m.get("mip_gap"),
            "value": m.get("objective_value"), "build_s": t.get("build_s"), "handover_s": t.get("handover_s"),
            "solve_s": t.get("solve_s"), "total_s": wall, "check": passed, "proven": proven(m)}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    objectives = [s.strip() for s in args.objectives.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="city-equity-bench-") as tmp:
        root = args.out or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        if args.generate:
            args.instance = city_folder(args.generate, args.seed, root)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        if "bench" in args.only:
            wall, rows = bench(args.instance, objectives, root / f"bench-{stamp}", args.workers, args.time_limit)
            print(f"\n== equity-bench {args.instance.name} --model city, workers {args.workers}: {wall:.1f} s wall, "
                  f"{sum(r.get('proven', False) for r in rows)} of {len(rows)} proven optimal, "
                  f"{sum(bool(r.get('check')) for r in rows)} checked")
            print(format_plan_rows(rows), flush=True)
        if "frontier" in args.only:
            for measure in [s.strip() for s in args.measures.split(",") if s.strip()]:
                out = root / f"frontier-{measure}-{stamp}"
                try:
                    wall, frame = frontier(args.instance, measure, args.points, out, args.workers, args.time_limit)
                except Exception as err:           # a frontier that stops is a result too
                    print(f"\n== frontier {measure}: stopped: {type(err).__name__}: {err}")
                    continue
                rows = plan_rows(out)
                print(f"\n== frontier {measure}, {args.points} points: {wall:.1f} s wall, "
                      f"{sum(r.get('proven', False) for r in rows)} of {len(rows)} proven, monotone {monotone(frame, measure)}")
                print(frame[["point", "role", "equity_bound", "efficiency", "equity", "status", "gap"]].to_string(index=False))
                print(format_plan_rows(rows), flush=True)
        if "generated" in args.only:
            row = generated(args.towns, args.seed, root)
            print(f"\n== city model on a generated city of {args.towns} towns (seed {args.seed}), gap {PROVEN_GAP:g}")
            print(format_plan_rows([row]), flush=True)
        if "workers" in args.only:
            walls = {}
            for workers in (1, 2):
                walls[workers], rows = bench(args.instance, objectives, root / f"workers{workers}-{stamp}", workers,
                                             args.time_limit)
                print(f"\n== equity-bench with {workers} worker(s): {walls[workers]:.1f} s wall, "
                      f"{sum(r.get('proven', False) for r in rows)} of {len(rows)} proven", flush=True)
            print(f"speed-up of 2 workers over 1: {walls[1] / walls[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
