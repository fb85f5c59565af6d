"""Time limits kept: wall time of time-limited commands against their --time-limit.

    python -m benchmarks.limits                      # every run (about 20 minutes on 2 cores)
    python -m benchmarks.limits --only 1,5,12        # chosen runs (numbers of the table)
    python -m benchmarks.limits --work DIR           # keep the generated cities and the outputs

Each run is `python -m allocator ...` in a process of its own, timed from its start to its
end (Python's start, imports, loading, building, every solve, the check, writing and the
process's exit): what a planner waits for. A run is ok when wall ≤ 1.1 × limit + 2 s.
Cities: instances/chongqing and cities of 100, 400 and 1,000 towns made by
`allocator generate` (seed 1). One HiGHS thread everywhere. The table goes to stdout,
each run's last lines of stderr to DIR/<n>.err.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHONGQING = str(ROOT / "instances" / "chongqing")
SIZES = (100, 400, 1000)

# (command words with {cq} / {g100} / {g400} / {g1000} for the cities, --time-limit)
RUNS = [
    ("solve {cq} --model grid --objective maxmin --budget 330000", 45),
    ("solve {cq} --model grid --objective unmet --budget 320000", 45),
    ("solve {g1000} --model grid --objective maxmin", 30),
    ("solve {cq} --model enforcement --objective expected --scenarios surge:150", 45),
    ("solve {g400} --model enforcement --objective expected --scenarios surge:300 --cvar 0.9", 30),
    ("solve {g1000} --model enforcement --objective shortfall", 20),
    ("solve {cq} --model facilities --objective cpmedian --services health --p 20 --budget 200000", 60),
    ("solve {cq} --model facilities --objective cflp --services health", 60),
    ("solve {g400} --model facilities --objective pmedian --p 20", 20),
    ("solve {g1000} --model facilities --objective mclp", 30),
    ("solve {cq} --model facilities --objective pcenter --services health --p 10", 45),
    ("solve {cq} --model city", 60),
    ("solve {cq} --model city --objective hoover", 60),
    ("solve {g400} --model city --objective gini", 30),
    ("solve {g1000} --model city --objective leximin", 45),
    ("solve {g100} --model city --objective leximin", 15),
    ("frontier {g100} --model city --equity maxmin --points 2", 60),
    ("frontier {g400} --model enforcement --by district --equity gini --points 3", 60),
    ("frontier {cq} --model city --equity maxmin --points 2 --workers 0", 120),
    ("equity-bench {g100} --model city", 60),
    ("equity-bench {g400} --model enforcement --by district --objectives utilitarian,maxmin,gini,hoover", 45),
    ("equity-bench {cq} --model city", 120),
]


def cities(work: Path) -> dict[str, str]:
    found = {"cq": CHONGQING}
    for n in SIZES:
        out = work / f"g{n}"
        if not out.exists():
            subprocess.run([sys.executable, "-m", "allocator", "generate", "--towns", str(n), "--seed", "1", "--out", str(out)],
                           check=True, capture_output=True, cwd=ROOT)
        found[f"g{n}"] = str(out)
    return found


def run_one(k: int, words: str, limit: float, where: dict[str, str], work: Path) -> dict:
    args = words.format(**where).split()
    out = work / f"run{k:02d}"
    threads = ["--threads", "1"] if args[0] == "solve" else []
    command = [sys.executable, "-m", "allocator", *args, "--time-limit", str(limit), "--out", str(out), *threads]
    t0 = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - t0
    (work / f"{k:02d}.err").write_text(done.stderr[-4000:] + "\n---\n" + done.stdout[-4000:], encoding="utf-8")
    status = _status(done.stdout, args[0])
    return {"n": k, "command": words.format(cq="chongqing", g100="gen100", g400="gen400", g1000="gen1000"),
            "limit": limit, "wall": wall, "ratio": wall / limit, "ok": wall <= 1.1 * limit + 2.0,
            "exit": done.returncode, "status": status}


def _status(stdout: str, command: str) -> str:
    if command == "solve":
        for line in stdout.splitlines():
            if "status " in line:
                return line.split("status ", 1)[1].split(",")[0]
        return "-"
    words = stdout.split()
    counts = {s: words.count(s) for s in ("optimal", "time_limit", "error", "infeasible") if words.count(s)}
    return " ".join(f"{n} {s}" for s, n in counts.items()) or "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated run numbers (1-based)")
    parser.add_argument("--work", type=Path, help="folder for cities and outputs (default: a temporary one)")
    args = parser.parse_args(argv)
    chosen = [int(x) for x in args.only.split(",")] if args.only else list(range(1, len(RUNS) + 1))
    work = args.work or Path(tempfile.mkdtemp(prefix="limits-"))
    work.mkdir(parents=True, exist_ok=True)
    where = cities(work)
    rows = []
    print(f"{'n':>2}  {'command':<88} {'limit':>5} {'wall':>6} {'ratio':>5}  ok   exit  status", flush=True)
    for k in chosen:
        words, limit = RUNS[k - 1]
        row = run_one(k, words, limit, where, work)
        rows.append(row)
        print(f"{row['n']:>2}  {row['command']:<88} {row['limit']:>5.0f} {row['wall']:>6.1f} {row['ratio']:>5.2f}  "
              f"{'yes' if row['ok'] else 'NO ':<4} {row['exit']:>4}  {row['status']}", flush=True)
    bad = [r for r in rows if not r["ok"]]
    print(f"{len(rows) - len(bad)} of {len(rows)} runs within 1.1 × limit + 2 s; largest ratio "
          f"{max(r['ratio'] for r in rows):.2f}; outputs in {work}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
