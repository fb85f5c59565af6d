"""Defaults that work: every model and objective with nothing but --model and --objective.

    python -m benchmarks.defaults                                  # the bundled Chongqing city
    python -m benchmarks.defaults --towns 20 --seed 1              # a generated city
    python -m benchmarks.defaults --instance instances/xiamen       # any instance, e.g. one `build-city` wrote
    python -m benchmarks.defaults --time-limit 300 --only facilities:pmedian,city:maxmin
    python -m benchmarks.defaults --work DIR                       # keep the plans

What a planner does first: `allocator solve CITY --model M --objective O` (one HiGHS thread,
and `--time-limit` only when given here), then `allocator check PLAN CITY`, each in a process
of its own. The table gives the exit code, the status, the objective and gap as `solve` printed
them, the check's verdict (recomputed by `allocator check` from the plan's tables) and the wall
seconds. Exit 1 when a run neither exits 0 with a checked plan nor exits 3 with an explanation.
On Chongqing the whole table takes about an hour on 2 cores; a generated city of 20 towns a few
minutes.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from allocator.solving import city, enforcement, facilities, grid, roadmap

ROOT = Path(__file__).resolve().parents[1]
CHONGQING = ROOT / "instances" / "chongqing"
RUNS = [(m.__name__.rsplit(".", 1)[1], o) for m in (grid, enforcement, facilities, city, roadmap) for o in m.OBJECTIVES
        if o != "target"]         # a roadmap's target needs its level (--target-level): no default to run


def run_one(where: Path, model: str, objective: str, limit: float | None, work: Path) -> dict:
    out = work / f"{model}-{objective}"
    command = [sys.executable, "-m", "allocator", "solve", str(where), "--model", model, "--objective", objective,
               "--threads", "1", "--json", "--out", str(out)] + (["--time-limit", f"{limit:g}"] if limit else [])
    t0 = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - t0
    (work / f"{model}-{objective}.err").write_text(done.stderr[-4000:], encoding="utf-8")
    lines = done.stdout.strip().splitlines()
    summary = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    checked = "-"
    if (out / "plan.json").exists() and summary.get("objective") is not None:
        check = subprocess.run([sys.executable, "-m", "allocator", "check", str(out), str(where)], cwd=ROOT,
                               capture_output=True, text=True)
        checked = "passed" if check.returncode == 0 else f"FAILED ({check.returncode})"
    return {"model": model, "objective": objective, "exit": done.returncode, "status": summary.get("status", "-"),
            "objective_value": summary.get("objective"), "gap": summary.get("gap"), "check": checked,
            "wall": wall, "explanation": (summary.get("explanation") or "")[:160]}


def ok(row: dict) -> bool:
    return (row["exit"] == 0 and row["check"] == "passed") or (row["exit"] == 3 and bool(row["explanation"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--towns", type=int, help="a generated city of this many towns instead of Chongqing")
    parser.add_argument("--instance", type=Path, help="this instance instead of Chongqing (e.g. one build-city wrote)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, help="--time-limit of every solve (default: none)")
    parser.add_argument("--only", help="comma-separated model:objective pairs")
    parser.add_argument("--work", type=Path, help="folder for the city and the plans (default: a temporary one)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="defaults-"))
    work.mkdir(parents=True, exist_ok=True)
    where = args.instance.resolve() if args.instance else CHONGQING
    if args.towns:
        where = work / f"gen{args.towns}-{args.seed}"
        if not where.exists():
            subprocess.run([sys.executable, "-m", "allocator", "generate", "--towns", str(args.towns), "--seed",
                            str(args.seed), "--out", str(where)], check=True, capture_output=True, cwd=ROOT)
    chosen = [tuple(x.split(":")) for x in args.only.split(",")] if args.only else RUNS
    print(f"{'model':<12}{'objective':<12}{'exit':>4}  {'status':<11}{'objective':>18}{'gap':>10}  {'check':<11}{'wall':>7}",
          flush=True)
    rows = []
    for model, objective in chosen:
        row = run_one(where, model, objective, args.time_limit, work)
        rows.append(row)
        value = "-" if row["objective_value"] is None else f"{row['objective_value']:,.6g}"
        gap = "-" if row["gap"] is None else f"{100 * row['gap']:.3g}%"
        print(f"{model:<12}{objective:<12}{row['exit']:>4}  {row['status']:<11}{value:>18}{gap:>10}  {row['check']:<11}"
              f"{row['wall']:>7.1f}" + ("" if ok(row) else "  <- not a checked plan nor an explanation"), flush=True)
        if row["exit"] == 3:
            print(f"{'':<24}{row['explanation']}", flush=True)
    bad = [r for r in rows if not ok(r)]
    print(f"{sum(r['exit'] == 0 for r in rows)} of {len(rows)} runs gave a checked plan, "
          f"{sum(r['exit'] == 3 for r in rows)} explained infeasibility, {len(bad)} neither; outputs in {work}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
