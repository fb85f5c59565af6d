"""Time to a proven optimum: the project's facility solvers against PySAL spopt.

    python benchmarks/spopt_compare.py [--pmed-data DIR] [--pmed pmed1,...] [--sizes 1000,5000,10000]
                                       [--models mclp,lscp,pmedian] [--pmedian-sizes 1000] [--peer-time-limit 600]
                                       [--peers cbc,highs] [--dense 300,500,800] [--dense-share 0.3]

Needs spopt and PuLP (benchmark-only): pip install -e '.[bench]'  (or: pip install spopt)

Cases
    OR-Library p-median (every node a unit-weight demand point and a site; spopt's dense
    formulation has n² assignment variables, so by default only the n = 100 instances
    pmed1..pmed5 are run: CBC needed about 9 minutes for pmed6, n = 200);
    random instances with n demand nodes and m = min(n/10, 500) candidate sites, uniform in
    a 100 km square, weights 1..99 (seed 0):
      mclp     reach = within a radius giving each node about 5 sites, p = m/10;
      lscp     the same reach, nodes with no site in reach dropped (spopt needs full cover);
      pmedian  n = 1000 (--pmedian-sizes) with m = 100, p = 10: spopt's dense model has n·m
               assignment variables, and CBC needed about 4 minutes for n = 1000;
    dense city-like instances (--dense n,...; `dense_city`): n points in metres drawn from a
    seeded mixture of 7 Gaussian districts (σ 0.6-2 km) in a 12 km square plus 15 % spread
    uniformly, every point a demand node (weight ≈ lognormal population) and a candidate
    site, as in the public MCLP/LSCP instances; the radius is the --dense-share quantile of
    all distances, so a site reaches that share of the demand points on average (0.3: 30 %):
      mclp     p = DENSE_P sites;  lscp  the same reach;  pmedian  p = DENSE_P.

Each case is solved by
    project      allocator.solving.location (HiGHS through Pyomo, one thread, gap 1e-9);
    spopt-cbc    spopt's `from_cost_matrix` + PuLP's default CBC (one thread);
    spopt-highs  the same spopt model solved by HiGHS through PuLP (`pulp.HiGHS`, highspy;
                 `HiGHS_CMD` needs a `highs` executable, which highspy does not ship),
                 one thread, gap 1e-9.
Times are wall seconds from the arrays to the solved model: for spopt, building its
PuLP model (once, shared by both peer solvers and counted in both) plus the solve; for
the project, the whole call including the reductions, the model, the hand-over and the
extraction of the plan. `outside` is the project's time not spent inside HiGHS (building,
hand-over, extraction): as a share of the total when HiGHS worked at least 1 s, otherwise
in seconds; `spopt_build_s` is the part of both spopt times spent building its PuLP model.
Ratios are peer time / project time (> 1: the project is faster), two of each:
    cbc_ratio, highs_ratio            end to end: spopt's build + solve against our whole call;
    cbc_solve_ratio, highs_solve_ratio  solving alone: spopt's solve call (PuLP's hand-over,
                                        the solver, reading back) against our whole call,
                                        which counts our own model building against us.
A peer stopped by --peer-time-limit shows its time with `>`.
"""
from __future__ import annotations

import importlib.util
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
DENSE_P = 5                # sites of the dense MCLP and p-median cases
DENSE_SEED = 7


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
    outside: float | None = None     # seconds outside HiGHS (the project)
    highs_s: float | None = None     # seconds inside HiGHS (the project)
    solve_s: float | None = None     # seconds of the solve call alone (spopt: without building its model)


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


def dense_city(n: int, seed: int = DENSE_SEED) -> tuple[np.ndarray, np.ndarray]:
    """n points (metres) of a city-like layout: a mixture of 7 Gaussian districts in a 12 km square
    and 15 % of the points spread uniformly; returns the n × n distance matrix and weights."""
    rng = np.random.default_rng(seed)
    k = 7
    centres = rng.uniform(0, 12_000, size=(k, 2))
    spread = rng.uniform(600, 2_000, size=k)
    share = rng.dirichlet(np.full(k, 2.0))
    n_uniform = int(round(0.15 * n))
    district = rng.choice(k, size=n - n_uniform, p=share)
    points = centres[district] + rng.normal(size=(n - n_uniform, 2)) * spread[district, None]
    points = np.vstack([points, rng.uniform(0, 12_000, size=(n_uniform, 2))])
    dist = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=2))
    return dist, np.round(rng.lognormal(6.0, 0.8, size=n))


def dense_cases(sizes: list[int], models: list[str], share: float = 0.3) -> list[Case]:
    """MCLP, LSCP and p-median on `dense_city` layouts, each site reaching `share` of the points on average."""
    cases = []
    for n in sizes:
        dist, weights = dense_city(n)
        radius = float(np.quantile(dist, share))
        label = f"dense-{n}"
        if "mclp" in models:
            cases.append(Case(label, "mclp", dist, weights, p=DENSE_P, radius=radius))
        if "lscp" in models:
            cases.append(Case(label, "lscp", dist, weights, radius=radius))
        if "pmedian" in models:
            cases.append(Case(label, "pmedian", dist, weights, p=DENSE_P))
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
    highs_s = result.timings.get("solve_s", 0.0)
    return Timing(seconds, result.objective, result.status == "optimal", max(0.0, seconds - highs_s), highs_s, seconds)


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
    solve_s = time.perf_counter() - start
    proven = model.problem.status == pulp.LpStatusOptimal and model.problem.sol_status == pulp.LpSolutionOptimal
    has_value = model.problem.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    return Timing(build_s + solve_s, float(pulp.value(model.problem.objective)) if has_value else None, proven,
                  solve_s=solve_s)


def peer_solvers(time_limit: float) -> dict:
    import pulp

    solvers = {"spopt-cbc": pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, threads=1)}
    highs = pulp.HiGHS(msg=False, timeLimit=time_limit, threads=1, gapRel=1e-9)
    if highs.available():
        solvers["spopt-highs"] = highs
    else:
        orlib.progress("pulp.HiGHS is not available (needs highspy): spopt-highs skipped")
    return solvers


def peer_modules_present() -> bool:
    """Whether spopt and PuLP can be imported (they are a benchmark-only extra)."""
    return all(importlib.util.find_spec(name) is not None for name in ("spopt", "pulp"))


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


def _ratio(peer: Timing | None, ours: Timing, alone: bool = False) -> str:
    """Peer time / ours: end to end, or (`alone`) the peer's solve call against our whole call."""
    if peer is None:
        return "-"
    mark = "" if peer.proven else ">"
    value = (peer.solve_s if alone else peer.seconds) / ours.seconds
    return f"{mark}{value:.2f}" if value < 10 else f"{mark}{value:.1f}"


HIGHS_BUSY_S = 1.0        # below this much HiGHS time, time outside HiGHS is given in seconds, not as a share


def outside_text(total_s: float, highs_s: float | None) -> str:
    """Time outside HiGHS: its share of the total when HiGHS worked at least HIGHS_BUSY_S, otherwise the
    seconds themselves (a share of a run HiGHS barely worked in says nothing about overhead)."""
    outside = max(0.0, total_s - (highs_s or 0.0))
    if highs_s is not None and highs_s >= HIGHS_BUSY_S:
        return f"{100 * outside / max(total_s, 1e-12):.0f}%"
    return f"{outside:.2f}s"


def _agrees(ours: Timing, peers: list[Timing | None]) -> str:
    proven = [t for t in peers if t is not None and t.proven and t.objective is not None]
    if ours.objective is None:
        return "no"
    if not proven:
        return "unproven"
    ok = all(abs(ours.objective - t.objective) <= AGREE_REL * max(1.0, abs(t.objective)) for t in proven)
    return "yes" if ok else "NO"


HEADER = ("case,model,n,m,p,objective,agree,project_s,outside_highs,spopt_build_s,spopt_cbc_s,spopt_highs_s,"
          "cbc_ratio,highs_ratio,cbc_solve_s,highs_solve_s,cbc_solve_ratio,highs_solve_ratio")


def record(case: Case, ours: Timing, build_s: float, cbc: Timing | None, highs: Timing | None) -> list[str]:
    """One row of HEADER."""
    n, m = case.dist.shape
    return [case.name, case.model, str(n), str(m), "" if case.p is None else str(case.p),
            "" if ours.objective is None else f"{ours.objective:.6g}", _agrees(ours, [cbc, highs]),
            _seconds(ours), outside_text(ours.seconds, ours.highs_s), f"{build_s:.2f}", _seconds(cbc), _seconds(highs),
            _ratio(cbc, ours), _ratio(highs, ours),
            "-" if cbc is None else f"{cbc.solve_s:.2f}", "-" if highs is None else f"{highs.solve_s:.2f}",
            _ratio(cbc, ours, alone=True), _ratio(highs, ours, alone=True)]


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
@click.option("--dense", "dense_sizes", default="", show_default=True,
              help="n of the dense city-like cases (every point a site), e.g. 300,500,800 ('' for none)")
@click.option("--dense-share", type=float, default=0.3, show_default=True,
              help="share of the demand points a site reaches on average in the dense cases")
def main(pmed_data: Path, pmed_names: str, sizes: str, model_names: str, pmedian_sizes: str,
         peer_time_limit: float, peers: str, dense_sizes: str, dense_share: float) -> None:
    if not peer_modules_present():
        raise click.ClickException("this comparison needs PySAL spopt and PuLP: pip install -e '.[bench]' "
                                   "(or pip install spopt)")
    models = [m.strip() for m in model_names.split(",") if m.strip()]
    cases = []
    if pmed_names and pmed_data.is_dir():
        cases += orlib_cases(pmed_data, [s.strip() for s in pmed_names.split(",") if s.strip()])
    elif pmed_names:
        orlib.progress(f"{pmed_data} not found: OR-Library cases skipped")
    cases += random_cases(_ints(sizes), models, _ints(pmedian_sizes))
    cases += dense_cases(_ints(dense_sizes), models, dense_share)
    wanted = {f"spopt-{name.strip()}" for name in peers.split(",") if name.strip()}
    if not wanted <= {"spopt-cbc", "spopt-highs"}:
        raise click.BadParameter(f"use cbc, highs or both, not {peers!r}", param_hint="--peers")
    solvers = {label: solver for label, solver in peer_solvers(peer_time_limit).items() if label in wanted}
    _warm_up(solvers)
    print(HEADER, flush=True)
    for case in cases:
        orlib.progress(f"{case.name} {case.model}: project ...")
        ours = run_project(case)
        orlib.progress(f"  project {ours.seconds:.2f} s, objective {ours.objective}; building spopt's model ...")
        model, build_s = build_peer(case)
        peers = {}
        for label, solver in solvers.items():
            peers[label] = run_peer(model, build_s, solver)
            orlib.progress(f"  {label} {peers[label].seconds:.2f} s (build {build_s:.2f} s), "
                           f"objective {peers[label].objective}")
        print(",".join(record(case, ours, build_s, peers.get("spopt-cbc"), peers.get("spopt-highs"))), flush=True)


if __name__ == "__main__":
    main()
