"""Time to a proven optimum: the project's facility solvers against PySAL spopt.

    python benchmarks/spopt_compare.py [--pmed-data DIR] [--pmed pmed1,...] [--sizes 1000,5000,10000]
                                       [--models mclp,lscp,pmedian] [--pmedian-sizes 1000] [--peer-time-limit 600]
                                       [--peers cbc,highs]

Cases
    OR-Library p-median (every node a unit-weight demand point and a site; spopt's dense
    formulation has n² assignment variables, so by default only the n = 100 instances
    pmed1..pmed5 are run: CBC needed about 9 minutes for pmed6, n = 200);
    random instances with n demand nodes and m = min(n/10, 500) candidate sites, uniform in
    a 100 km square, weights 1..99 (seed 0):
      mclp     reach = within a radius giving each node about 5 sites, p = m/10;
      lscp     the same reach, nodes with no site in reach dropped (spopt needs full cover);
      pmedian  n = 1000 (--pmedian-sizes) with m = 100, p = 10: spopt's dense model has n·m
               assignment variables, and CBC needed about 4 minutes for n = 1000.

Each case is solved by
    project      allocator.solving.location (HiGHS through Pyomo, one thread, gap 1e-9);
    spopt-cbc    spopt's `from_cost_matrix` + PuLP's default CBC (one thread);
    spopt-highs  the same spopt model solved by HiGHS through PuLP (`pulp.HiGHS`, highspy;
                 `HiGHS_CMD` needs a `highs` executable, which highspy does not ship),
                 one thread, gap 1e-9.
Times are wall seconds from the arrays to the solved model: for spopt, building its
PuLP model (once, shared by both peer solvers and counted in both) plus the solve; for
the project, the whole call including extraction of the plan. `outside` is the
project's share of time not spent inside HiGHS (building, hand-over, extraction);
`spopt_build_s` is the part of both spopt times spent building its PuLP model.
Ratios are peer time / project time (> 1: the project is faster); a peer stopped by
--peer-time-limit shows its time with `>`.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))

from allocator.solving.solve import SolveOptions  # noqa: E402
from benchmarks import orlib  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROJECT_OPTIONS = SolveOptions(gap=1e-9, threads=1)
AGREE_REL = 1e-6


@dataclass
class Case:
    name: str
    model: str                 # mclp | lscp | pmedian
    dist: np.ndarray           # n × m
    weights: np.ndarray
    p: int | None = None
    radius: float | None = None

    @property
    def reach(self) -> np.ndarray:
        return self.dist <= self.radius


@dataclass
class Timing:
    seconds: float
    objective: float | None
    proven: bool               # optimal, not stopped by a limit
    outside: float | None = None


# ---------------------------------------------------------------- cases

def orlib_cases(data_dir: Path, names: list[str]) -> list[Case]:
    optima = orlib.read_optima(data_dir)
    cases = []
    for name in names:
        inst = orlib.load_pmed(data_dir, name, optima)
        cases.append(Case(name, "pmedian", inst.dist, np.ones(inst.n), p=inst.p))
    return cases


def random_cases(sizes: list[int], models: list[str], pmedian_sizes: list[int], seed: int = 0) -> list[Case]:
    cases = []
    for n in sizes:
        m = min(n // 10, 500)
        dist, weights = _random_plane(n, m, seed)
        radius = float(np.sqrt(5 * 100.0 ** 2 / (np.pi * m)))
        if "mclp" in models:
            cases.append(Case(f"random-{n}x{m}", "mclp", dist, weights, p=max(1, m // 10), radius=radius))
        if "lscp" in models:
            coverable = (dist <= radius).any(axis=1)
            cases.append(Case(f"random-{coverable.sum()}x{m}", "lscp", dist[coverable], weights[coverable],
                              radius=radius))
    if "pmedian" in models:
        for n in pmedian_sizes:
            dist, weights = _random_plane(n, 100, seed)
            cases.append(Case(f"random-{n}x100", "pmedian", dist, weights, p=10))
    return cases


def _random_plane(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    nodes = rng.uniform(0, 100, size=(n, 2))
    sites = rng.uniform(0, 100, size=(m, 2))
    dist = np.sqrt(((nodes[:, None, :] - sites[None, :, :]) ** 2).sum(axis=2))
    return dist, rng.integers(1, 100, size=n).astype(float)


# ---------------------------------------------------------------- solving

def run_project(case: Case) -> Timing:
    from allocator.solving import location as fac

    start = time.perf_counter()
    if case.model == "mclp":
        result = fac.solve_mclp(case.weights, case.reach, p=case.p, solve_options=PROJECT_OPTIONS)
    elif case.model == "lscp":
        result = fac.solve_lscp(case.reach, solve_options=PROJECT_OPTIONS)
    else:
        result = fac.solve_pmedian(case.weights, case.dist, case.p, solve_options=PROJECT_OPTIONS)
    seconds = time.perf_counter() - start
    outside = max(0.0, seconds - result.timings.get("solve_s", 0.0)) / seconds
    return Timing(seconds, result.objective, result.status == "optimal", outside)


def build_peer(case: Case):
    """spopt's own model of the case (a PuLP problem), and the seconds it took to build."""
    from spopt.locate import LSCP, MCLP, PMedian

    start = time.perf_counter()
    if case.model == "mclp":
        model = MCLP.from_cost_matrix(case.dist, case.weights, case.radius, case.p)
    elif case.model == "lscp":
        model = LSCP.from_cost_matrix(case.dist, case.radius)
    else:
        model = PMedian.from_cost_matrix(case.dist, case.weights, case.p)
    return model, time.perf_counter() - start


def run_peer(model, build_s: float, solver) -> Timing:
    import pulp

    start = time.perf_counter()
    model.problem.solve(solver)
    seconds = build_s + time.perf_counter() - start
    proven = model.problem.status == pulp.LpStatusOptimal and model.problem.sol_status == pulp.LpSolutionOptimal
    has_value = model.problem.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    return Timing(seconds, float(pulp.value(model.problem.objective)) if has_value else None, proven)


def peer_solvers(time_limit: float) -> dict:
    import pulp

    solvers = {"spopt-cbc": pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, threads=1)}
    highs = pulp.HiGHS(msg=False, timeLimit=time_limit, threads=1, gapRel=1e-9)
    if highs.available():
        solvers["spopt-highs"] = highs
    else:
        orlib.progress("pulp.HiGHS is not available (needs highspy): spopt-highs skipped")
    return solvers


def _ints(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s.strip()]


def _warm_up(solvers: dict) -> None:
    """One tiny solve on every path first, so no timing carries import or first-call costs."""
    dist, weights = _random_plane(40, 8, seed=1)
    tiny = Case("warm-up", "mclp", dist, weights, p=2, radius=30.0)
    run_project(tiny)
    model, build_s = build_peer(tiny)
    for solver in solvers.values():
        run_peer(model, build_s, solver)


# ---------------------------------------------------------------- reporting

def _seconds(t: Timing | None) -> str:
    if t is None:
        return "-"
    return f"{'' if t.proven else '>'}{t.seconds:.2f}"


def _ratio(peer: Timing | None, ours: Timing) -> str:
    if peer is None:
        return "-"
    return f"{'' if peer.proven else '>'}{peer.seconds / ours.seconds:.1f}"


def _agrees(ours: Timing, peers: list[Timing | None]) -> str:
    proven = [t for t in peers if t is not None and t.proven and t.objective is not None]
    if ours.objective is None:
        return "no"
    if not proven:
        return "unproven"
    ok = all(abs(ours.objective - t.objective) <= AGREE_REL * max(1.0, abs(t.objective)) for t in proven)
    return "yes" if ok else "NO"


HEADER = ("case,model,n,m,p,objective,agree,project_s,outside_highs,spopt_build_s,spopt_cbc_s,spopt_highs_s,"
          "cbc_ratio,highs_ratio")


@click.command()
@click.option("--pmed-data", type=click.Path(file_okay=False, path_type=Path),
              default=ROOT.parent / "shared" / "data" / "orlib-pmed", show_default=True)
@click.option("--pmed", "pmed_names", default="pmed1,pmed2,pmed3,pmed4,pmed5", show_default=True,
              help="OR-Library p-median instances ('' for none)")
@click.option("--sizes", default="1000,5000,10000", show_default=True, help="random instance sizes n ('' for none)")
@click.option("--models", "model_names", default="mclp,lscp,pmedian", show_default=True)
@click.option("--pmedian-sizes", default="1000", show_default=True, help="n of the random p-median cases (m = 100)")
@click.option("--peer-time-limit", type=float, default=600.0, show_default=True, help="seconds per spopt solve")
@click.option("--peers", default="cbc,highs", show_default=True,
              help="spopt's solvers to run: cbc, highs or both (CBC needs minutes from n = 200)")
def main(pmed_data: Path, pmed_names: str, sizes: str, model_names: str, pmedian_sizes: str,
         peer_time_limit: float, peers: str) -> None:
    models = [m.strip() for m in model_names.split(",") if m.strip()]
    cases = []
    if pmed_names and pmed_data.is_dir():
        cases += orlib_cases(pmed_data, [s.strip() for s in pmed_names.split(",") if s.strip()])
    elif pmed_names:
        orlib.progress(f"{pmed_data} not found: OR-Library cases skipped")
    cases += random_cases(_ints(sizes), models, _ints(pmedian_sizes))
    wanted = {f"spopt-{name.strip()}" for name in peers.split(",") if name.strip()}
    if not wanted <= {"spopt-cbc", "spopt-highs"}:
        raise click.BadParameter(f"use cbc, highs or both, not {peers!r}", param_hint="--peers")
    solvers = {label: solver for label, solver in peer_solvers(peer_time_limit).items() if label in wanted}
    _warm_up(solvers)
    print(HEADER, flush=True)
    for case in cases:
        n, m = case.dist.shape
        orlib.progress(f"{case.name} {case.model}: project ...")
        ours = run_project(case)
        orlib.progress(f"  project {ours.seconds:.2f} s, objective {ours.objective}; building spopt's model ...")
        model, build_s = build_peer(case)
        peers = {}
        for label, solver in solvers.items():
            peers[label] = run_peer(model, build_s, solver)
            orlib.progress(f"  {label} {peers[label].seconds:.2f} s (build {build_s:.2f} s), "
                           f"objective {peers[label].objective}")
        cbc, highs = peers.get("spopt-cbc"), peers.get("spopt-highs")
        print(",".join([
            case.name, case.model, str(n), str(m), "" if case.p is None else str(case.p),
            "" if ours.objective is None else f"{ours.objective:.6g}", _agrees(ours, [cbc, highs]),
            _seconds(ours), f"{100 * ours.outside:.0f}%", f"{build_s:.2f}", _seconds(cbc), _seconds(highs),
            _ratio(cbc, ours), _ratio(highs, ours),
        ]), flush=True)


if __name__ == "__main__":
    main()
