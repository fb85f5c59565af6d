"""How each model's cost grows with the city: synthetic cities of 50, 500 and 2,000 towns.

    rows = run_scaling([50, 500], seed=1, workdir=Path("bench-cities"))
    print(format_rows(rows)); print(format_fits(fit_exponents(rows)))

Each city is written by `allocator generate` (`generate_city` + `write_city`, about 25
grids and 25 sites per town) and loaded back as a planner's city would be. Every model
runs through `allocator.solving.run.run`, as `allocator solve` does:

    grid         objective `cost`, the three workload norms × WORKLOAD_SCALE (as in
                 benchmarks/grid_bench.py: at the pack's norms the mandatory staff cover
                 every grid and HiGHS has nothing to decide)
    enforcement  objective `maxmin` (the default)
    facilities   objective `mclp` under the budget of benchmarks/facilities_bench.py
                 (running cost of existing sites + FACILITY_SHARE of all candidates)
    city         the default equity measure

Per run: build, hand-over, HiGHS, extraction and total seconds (the plan's timings),
objective, gap, the time outside HiGHS (`overhead_text`: its share of the total when HiGHS
worked at least HIGHS_BUSY_S = 1 s, otherwise the seconds themselves, which should stay
under OVERHEAD_LIMIT_S = 2 s at 2,000 towns), the largest HiGHS model handed over
(rows, columns, nonzeros; counted by wrapping `highspy.Highs.run`) and the memory the run
needed: peak resident set size during the run minus the resident size before it (Linux
resets the peak through /proc/self/clear_refs; elsewhere the process peak is used).
`fit_exponents` fits log(total) and log(memory) against log(towns), log(nonzeros) and,
for facilities, log(reachable grid-site pairs) by least squares: cost ∝ size^k.
"""
from __future__ import annotations

import gc
import math
import re
import resource
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from allocator.data.generate import generate_city, write_city
from allocator.data.instance import Instance
from allocator.data.loader import load_instance
from allocator.plans.make import make_plan
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions
from benchmarks.facilities_bench import city_budget
from benchmarks.grid_bench import WORKLOAD_NORMS

MODELS = ("grid", "enforcement", "facilities", "city")
HIGHS_BUSY_S = 1.0         # below this much HiGHS time the overhead is given in seconds, not as a share
OVERHEAD_LIMIT_S = 2.0     # target for the seconds outside HiGHS of a run HiGHS barely works in
SIZES = (50, 500, 2000)
WORKLOAD_SCALE = 1.5
FACILITY_SHARE = 0.15


@dataclass
class ScalingRow:
    towns: int
    model: str
    objective: str
    status: str
    build_s: float
    handover_s: float
    solve_s: float
    extract_s: float
    total_s: float
    value: float | None
    gap: float | None
    outside: float             # share of total_s outside HiGHS
    peak_mb: float
    rows: int
    cols: int
    nonzeros: int
    pairs: int
    grids: int
    sites: int

    @property
    def overhead_s(self) -> float:
        """Seconds outside HiGHS: building, hand-over, extraction (and the plan's tables)."""
        return max(0.0, self.total_s - self.solve_s)


def overhead_text(row: ScalingRow) -> str:
    """The overhead as it means something: a share of the total only when HiGHS worked at least
    HIGHS_BUSY_S (a share of a run HiGHS barely touched only says the run was quick), otherwise
    the seconds, marked `!` when above OVERHEAD_LIMIT_S."""
    if row.solve_s >= HIGHS_BUSY_S:
        return f"{100 * row.outside:.1f}%"
    return f"{row.overhead_s:.2f}s" + ("!" if row.overhead_s > OVERHEAD_LIMIT_S else "")


# ----------------------------------------------------------------------------- cities

def city_folder(towns: int, seed: int, workdir: Path) -> Path:
    """The generated city of `towns` towns in WORKDIR (written once, reused after)."""
    folder = workdir / f"city-{towns}-s{seed}"
    if not (folder / "city.yaml").exists():
        write_city(generate_city(towns, seed), folder, "folder")
    return folder


def reachable_pairs_count(city: Instance) -> int:
    """Grid-site pairs within each service's coverage minutes, summed over services."""
    from allocator.models.facilities_data import reachable_pairs, service_sites

    total = 0
    for service in city.config.services:
        minutes = float(city.config.norms["coverage_minutes"][service])
        g, _, _ = reachable_pairs(city, service_sites(city, service), minutes)
        total += len(g)
    return total


def model_case(city: Instance, model: str) -> tuple[Instance, RunOptions]:
    """The city (grid: workload scaled) and the options each model runs with."""
    if model == "grid":
        norms = dict(city.config.norms)
        for key in WORKLOAD_NORMS:
            norms[key] = float(norms[key]) * WORKLOAD_SCALE
        return replace(city, config=replace(city.config, norms=norms)), RunOptions(model="grid", objective="cost")
    if model == "facilities":
        return city, RunOptions(model="facilities", objective="mclp", budget=round(city_budget(city, FACILITY_SHARE), 1))
    return city, RunOptions(model=model)


# ----------------------------------------------------------------------------- measuring

@contextmanager
def highs_sizes() -> Iterator[dict[str, int]]:
    """Rows, columns and nonzeros of the largest model HiGHS runs inside the block."""
    import highspy

    seen = {"rows": 0, "cols": 0, "nonzeros": 0}
    original = highspy.Highs.run

    def counting_run(self, *args, **kwargs):
        if self.getNumNz() >= seen["nonzeros"]:
            seen.update(rows=self.getNumRow(), cols=self.getNumCol(), nonzeros=self.getNumNz())
        return original(self, *args, **kwargs)

    highspy.Highs.run = counting_run
    try:
        yield seen
    finally:
        highspy.Highs.run = original


def _status_kb(field: str) -> int | None:
    try:
        match = re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text())
    except OSError:
        return None
    return int(match.group(1)) if match else None


def reset_peak() -> int:
    """Reset the peak resident size where the OS allows it; return the resident size now (kB)."""
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _status_kb("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_since(before_kb: int) -> float:
    """MB the peak resident size rose above `before_kb` (see `reset_peak`)."""
    peak = _status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(0.0, (peak - before_kb) / 1024)


def measure(city: Instance, towns: int, model: str, solve_options: SolveOptions, pairs: int) -> ScalingRow:
    """One model on one city through `allocator.solving.run.run`."""
    case_city, options = model_case(city, model)
    before = reset_peak()
    with highs_sizes() as sizes:
        plan = make_plan(case_city, options, solve_options)
    peak = peak_since(before)
    m, t = plan.meta, plan.meta["timings"]
    total = max(t["total_s"], 1e-9)
    return ScalingRow(towns, model, m["objective"], m["status"], t["build_s"], t["handover_s"], t["solve_s"],
                      t["extract_s"], t["total_s"], m["objective_value"], m["mip_gap"], (total - t["solve_s"]) / total,
                      peak, sizes["rows"], sizes["cols"], sizes["nonzeros"], pairs, len(city.grids), len(city.sites))


def run_scaling(sizes: Sequence[int], seed: int, workdir: Path, models: Sequence[str] = MODELS,
                solve_options: SolveOptions | None = None,
                report: Callable[[ScalingRow], None] | None = None) -> list[ScalingRow]:
    """Every model on the generated city of each size; `report(row)` as each run ends."""
    solve_options = solve_options or SolveOptions(gap=0.01, time_limit=300.0, threads=1)
    rows = []
    for towns in sizes:
        city = load_instance(city_folder(towns, seed, workdir))
        pairs = reachable_pairs_count(city) if "facilities" in models else 0
        for model in models:
            rows.append(measure(city, towns, model, solve_options, pairs))
            if report is not None:
                report(rows[-1])
    return rows


# ----------------------------------------------------------------------------- fitting

def fit_exponent(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """k of y ≈ c·x^k by least squares on log-log; None with fewer than two usable points."""
    points = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y > 0]
    if len({p[0] for p in points}) < 2:
        return None
    lx, ly = np.array(points).T
    return float(np.polyfit(lx, ly, 1)[0])


FITS = (("total_s", "towns"), ("total_s", "nonzeros"), ("peak_mb", "nonzeros"), ("peak_mb", "pairs"))


def fit_exponents(rows: Sequence[ScalingRow]) -> list[dict]:
    """Per model, the exponent of time and memory against towns, nonzeros and (facilities) pairs."""
    fits = []
    for model in dict.fromkeys(r.model for r in rows):
        mine = [r for r in rows if r.model == model]
        for y, x in FITS:
            if x == "pairs" and model != "facilities":
                continue
            k = fit_exponent([getattr(r, x) for r in mine], [getattr(r, y) for r in mine])
            fits.append({"model": model, "quantity": y, "against": x, "exponent": k, "points": len(mine)})
    return fits


# ----------------------------------------------------------------------------- printing

def _num(value: float | None, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, spec)


def format_rows(rows: Sequence[ScalingRow]) -> str:
    head = (f"{'towns':>6} {'model':<12}{'objective':<10}{'build':>7}{'hand':>7}{'HiGHS':>8}{'extract':>8}{'total':>8}"
            f"{'outside':>8}  {'status':<11}{'objective':>14}{'gap':>9}{'nonzeros':>10}{'peak MB':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        gap = "-" if r.gap is None else f"{100 * r.gap:.2f}%"
        lines.append(f"{r.towns:>6} {r.model:<12}{r.objective:<10}{r.build_s:>7.2f}{r.handover_s:>7.2f}{r.solve_s:>8.2f}"
                     f"{r.extract_s:>8.2f}{r.total_s:>8.2f}{overhead_text(r):>8}  {r.status:<11}"
                     f"{_num(r.value, ',.6g'):>14}{gap:>9}{r.nonzeros:>10,}{r.peak_mb:>9.1f}")
    return "\n".join(lines)


def format_overheads(rows: Sequence[ScalingRow]) -> str:
    """Per run, the overhead as `overhead_text` gives it, and which runs exceed OVERHEAD_LIMIT_S
    while HiGHS worked less than HIGHS_BUSY_S."""
    over = [r for r in rows if r.solve_s < HIGHS_BUSY_S and r.overhead_s > OVERHEAD_LIMIT_S]
    lines = [f"outside HiGHS: a share of the total where HiGHS worked >= {HIGHS_BUSY_S:.0f} s, seconds elsewhere "
             f"(target under {OVERHEAD_LIMIT_S:.0f} s)"]
    lines += [f"  over the target: {r.towns} towns {r.model}, {r.overhead_s:.2f} s outside HiGHS" for r in over]
    if not over:
        lines.append("  every run within the target")
    return "\n".join(lines)


def format_fits(fits: Sequence[dict]) -> str:
    """One line per model: the exponent of each fit in FITS (`-` with fewer than two sizes)."""
    labels = [f"{'time' if y == 'total_s' else 'memory'}~{x}" for y, x in FITS]
    lines = ["growth exponents k of y ≈ c·x^k (least squares on log-log):",
             f"  {'model':<12}" + "".join(f"{label:>17}" for label in labels)]
    for model in dict.fromkeys(f["model"] for f in fits):
        found = {(f["quantity"], f["against"]): f["exponent"] for f in fits if f["model"] == model}
        cells = [_num(found.get(key), ".2f") if key in found else "" for key in FITS]
        lines.append(f"  {model:<12}" + "".join(f"{c:>17}" for c in cells))
    return "\n".join(lines)


def as_records(rows: Sequence[ScalingRow]) -> list[dict]:
    return [{**asdict(r), "overhead_s": r.overhead_s} for r in rows]
