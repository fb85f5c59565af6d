"""Every benchmark from one command: scaling of the four models, OR-Library, spopt, sweep throughput.

    python -m benchmarks                                   # every section, default sizes
    python -m benchmarks --only scaling,sweep --sizes 50,500 --out bench-out
    python -m benchmarks --only orlib --orlib-all          # all 40 p-median and every cap instance

Sections (`--only`, comma-separated; default all):
    scaling   grid, enforcement, facilities and city on generated cities of --sizes towns:
              build, hand-over, HiGHS, extraction and total seconds, objective, gap, the
              time outside HiGHS (a share where HiGHS worked >= 1 s, seconds elsewhere),
              HiGHS nonzeros and peak memory; then the
              exponent k of time and memory against size (benchmarks/scaling.py)
    orlib     p-median and capacitated location against the published optima; a short
              subset unless --orlib-all (benchmarks/orlib_pmed.py, orlib_cap.py)
    spopt     time to a proven optimum against PySAL spopt (benchmarks/spopt_compare.py)
    sweep     scenarios per minute with 1 and 2 Dask workers (benchmarks/sweep_bench.py)

Tables go to stdout, progress to stderr; `--out DIR` also writes one CSV per section
(scaling.csv, fits.csv, orlib.csv, spopt.csv, sweep.csv) and keeps the generated cities
and sweeps in DIR/work.
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Sequence

from allocator.solving.solve import SolveOptions
from benchmarks import orlib, scaling, sweep_bench

SECTIONS = ("scaling", "orlib", "spopt", "sweep")
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PMED_SHORT = "pmed1,pmed2,pmed6,pmed11"
CAP_SHORT = "cap41,cap71,cap101,cap131"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"sections, comma-separated: {', '.join(SECTIONS)}")
    ap.add_argument("--sizes", default=",".join(map(str, scaling.SIZES)), help="towns of the generated cities")
    ap.add_argument("--models", default=",".join(scaling.MODELS), help="models of the scaling section")
    ap.add_argument("--seed", type=int, default=1, help="seed of the generated cities")
    ap.add_argument("--gap", type=float, default=0.01, help="relative MIP gap of the scaling runs")
    ap.add_argument("--time-limit", type=float, default=300.0, help="seconds per scaling run")
    ap.add_argument("--threads", type=int, default=1, help="HiGHS threads of the scaling runs")
    ap.add_argument("--orlib-all", action="store_true", help="every OR-Library instance, not the short subset")
    ap.add_argument("--pmed-data", type=Path, default=DATA / "orlib-pmed")
    ap.add_argument("--cap-data", type=Path, default=DATA / "orlib-cap")
    ap.add_argument("--spopt-pmed", default="pmed1,pmed2", help="OR-Library p-median cases of the spopt section")
    ap.add_argument("--spopt-sizes", default="1000", help="random mclp/lscp sizes n of the spopt section")
    ap.add_argument("--spopt-pmedian-sizes", default="", help="random p-median sizes n (spopt's dense model: slow)")
    ap.add_argument("--spopt-dense", default="300,500", help="n of the dense city-like mclp/lscp cases ('' for none)")
    ap.add_argument("--peer-time-limit", type=float, default=300.0, help="seconds per spopt solve")
    ap.add_argument("--sweep-towns", type=int, default=200)
    ap.add_argument("--sweep-scenarios", type=int, default=40)
    ap.add_argument("--sweep-workers", default="1,2")
    ap.add_argument("--out", type=Path, help="write one CSV per section into this folder")
    args = ap.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in args.only if s not in SECTIONS]
    if unknown:
        ap.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    args.sizes = _ints(args.sizes, ap)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    if any(m not in scaling.MODELS for m in args.models):
        ap.error(f"--models: choose from {', '.join(scaling.MODELS)}")
    return args


def _ints(text: str, ap: argparse.ArgumentParser) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        ap.error(f"expected whole numbers separated by commas, not {text!r}")


def write_csv(out: Path | None, name: str, records: list[dict]) -> None:
    if out is None or not records:
        return
    out.mkdir(parents=True, exist_ok=True)
    with open(out / name, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)


def title(text: str) -> None:
    print(f"\n== {text}", flush=True)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


# ----------------------------------------------------------------------------- sections

def section_scaling(args: argparse.Namespace, work: Path) -> None:
    title(f"scaling: models on generated cities of {', '.join(map(str, args.sizes))} towns "
          f"(seed {args.seed}, gap {args.gap}, {args.threads} HiGHS thread(s))")
    options = SolveOptions(gap=args.gap, time_limit=args.time_limit, threads=args.threads)
    report = lambda r: orlib.progress(f"  {r.towns} towns, {r.model}: {r.status} in {r.total_s:.2f} s")  # noqa: E731
    rows = scaling.run_scaling(args.sizes, args.seed, work, args.models, options, report)
    print(scaling.format_rows(rows))
    print(scaling.format_overheads(rows))
    fits = scaling.fit_exponents(rows)
    print(scaling.format_fits(fits))
    write_csv(args.out, "scaling.csv", scaling.as_records(rows))
    write_csv(args.out, "fits.csv", fits)


def section_orlib(args: argparse.Namespace) -> None:
    title(f"OR-Library: {'every instance' if args.orlib_all else 'a short subset (--orlib-all for every instance)'}")
    records: list[dict] = []
    for family, data, short in (("pmed", args.pmed_data, PMED_SHORT), ("cap", args.cap_data, CAP_SHORT)):
        if not (data / "optima.csv").is_file():
            print(f"{family}: no OR-Library data in {data} (optima.csv missing): skipped")
            continue
        records += orlib_family(family, data, "" if args.orlib_all else short)
    if records:
        print(f"{'instance':<10}{'optimum':>16}{'found':>16}{'gap':>10}{'seconds':>9}")
        for r in records:
            print(f"{r['instance']:<10}{r['optimum']:>16,.3f}{scaling._num(r['found'], ',.3f'):>16}"
                  f"{scaling._num(r['gap'], '.1e'):>10}{r['seconds']:>9.2f}")
        missed = [r["instance"] for r in records if r["gap"] is None or r["gap"] > 1e-6]
        print(f"{len(records) - len(missed)}/{len(records)} optima reproduced" + (f"; missed: {', '.join(missed)}" if missed else ""))
    write_csv(args.out, "orlib.csv", records)


def orlib_family(family: str, data: Path, wanted: str) -> list[dict]:
    """Solve the instances of one OR-Library family with the project's solver (gap 1e-6)."""
    from benchmarks import orlib_cap, orlib_pmed

    optima = orlib.read_optima(data)
    names = [n for n in orlib.select(optima, None) if not wanted or n in wanted.split(",")]
    module, load = (orlib_pmed, orlib.load_pmed) if family == "pmed" else (orlib_cap, orlib.load_cap)
    options = SolveOptions(gap=module.TOLERANCE)
    records = []
    for name in names:
        inst = load(data, name, optima)
        result, seconds = module.solve_instance(inst, options)
        gap = None if result.objective is None else orlib.gap_to_optimum(result.objective, inst.optimum)
        records.append({"family": family, "instance": name, "optimum": inst.optimum, "found": result.objective,
                        "gap": gap, "seconds": seconds, "status": result.status})
        orlib.progress(f"  {name}: {result.status}, {seconds:.2f} s")
    return records


def section_spopt(args: argparse.Namespace) -> None:
    title("spopt: time to a proven optimum, the project against PySAL spopt (CBC and HiGHS through PuLP)")
    try:
        import pulp  # noqa: F401
        import spopt  # noqa: F401
    except ImportError as err:
        print(f"spopt or PuLP is not installed ({err}): skipped; pip install -e '.[bench]' to run it")
        return
    from benchmarks import spopt_compare as sc

    cases = []
    if args.spopt_pmed and (args.pmed_data / "optima.csv").is_file():
        cases += sc.orlib_cases(args.pmed_data, [s for s in args.spopt_pmed.split(",") if s])
    elif args.spopt_pmed:
        print(f"no OR-Library p-median data in {args.pmed_data}: its cases skipped")
    sizes = [int(s) for s in args.spopt_sizes.split(",") if s.strip()]
    pmedian_sizes = [int(s) for s in args.spopt_pmedian_sizes.split(",") if s.strip()]
    models = ["mclp", "lscp"] + (["pmedian"] if pmedian_sizes else [])
    cases += sc.random_cases(sizes, models, pmedian_sizes)
    cases += sc.dense_cases([int(s) for s in args.spopt_dense.split(",") if s.strip()], ["mclp", "lscp"])
    solvers = sc.peer_solvers(args.peer_time_limit)
    sc._warm_up(solvers)
    records = [spopt_case(sc, case, solvers) for case in cases]
    print(f"{'case':<18}{'model':<9}{'objective':>14}{'agree':>9}{'project s':>11}{'outside':>9}"
          f"{'spopt build s':>15}{'cbc s':>9}{'highs s':>9}{'cbc x':>7}{'highs x':>8}{'cbc solve x':>13}{'highs solve x':>15}")
    for r in records:
        print(f"{r['case']:<18}{r['model']:<9}{r['objective']:>14}{r['agree']:>9}{r['project_s']:>11}{r['outside_highs']:>9}"
              f"{r['spopt_build_s']:>15}{r['spopt_cbc_s']:>9}{r['spopt_highs_s']:>9}{r['cbc_ratio']:>7}{r['highs_ratio']:>8}"
              f"{r['cbc_solve_ratio']:>13}{r['highs_solve_ratio']:>15}")
    print("(x: spopt time / project time, end to end; solve x: spopt's solve call alone / project time;\n"
          " > 1 means the project is faster; '>' marks a peer stopped by its time limit;\n"
          " outside: time outside HiGHS, a share when HiGHS worked >= 1 s, seconds otherwise)")
    write_csv(args.out, "spopt.csv", records)


def spopt_case(sc, case, solvers: dict) -> dict:
    """One spopt comparison case as a record of spopt_compare's columns."""
    orlib.progress(f"  {case.name} {case.model} ...")
    ours = sc.run_project(case)
    model, build_s = sc.build_peer(case)
    peers = {label: sc.run_peer(model, build_s, solver) for label, solver in solvers.items()}
    return dict(zip(sc.HEADER.split(","), sc.record(case, ours, build_s, peers.get("spopt-cbc"), peers.get("spopt-highs"))))


def section_sweep(args: argparse.Namespace, work: Path) -> None:
    workers = [int(w) for w in args.sweep_workers.split(",") if w.strip()]
    title(f"sweep throughput: facilities/mclp, {args.sweep_scenarios} budgets on a city of {args.sweep_towns} towns, "
          f"{' and '.join(map(str, workers))} worker(s)")
    runs = sweep_bench.run_throughput(args.sweep_towns, args.seed, args.sweep_scenarios, workers, work)
    print(sweep_bench.format_throughput(runs))
    write_csv(args.out, "sweep.csv", [{**asdict(r), "end_to_end_per_min": r.end_to_end_per_min,
                                       "sweep_per_min": r.sweep_per_min} for r in runs])


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    work = (args.out / "work") if args.out else Path(tempfile.mkdtemp(prefix="allocator-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"allocator benchmarks, {time.strftime('%Y-%m-%d %H:%M %Z')}; {machine()}; work folder {work}")
    runners: dict[str, Callable[[], None]] = {
        "scaling": lambda: section_scaling(args, work), "orlib": lambda: section_orlib(args),
        "spopt": lambda: section_spopt(args), "sweep": lambda: section_sweep(args, work)}
    for section in SECTIONS:
        if section in args.only:
            runners[section]()
    print(f"\ndone in {time.perf_counter() - started:.0f} s" + (f"; CSVs in {args.out}" if args.out else ""))


if __name__ == "__main__":
    sys.exit(main())
