"""OR-Library optima reproduced by the project's facility solvers.

The readers in benchmarks/orlib.py are checked on their own first (duplicate edges,
symbolic capacities, a plain HiGHS model of pmed1 built straight from the parsed
distances), then a few small instances go through `models.facilities` and must hit the
published optimum to a relative 1e-6. The full sets run in benchmarks/orlib_pmed.py and
benchmarks/orlib_cap.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

import highspy
import numpy as np
import pytest
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from allocator.solving.solve import SolveOptions  # noqa: E402
from benchmarks import orlib  # noqa: E402

pytestmark = pytest.mark.shared
PROVE_OPTIMAL = SolveOptions(gap=1e-9, threads=1)


@pytest.fixture
def pmed_dir(shared_data: Path) -> Path:
    return shared_data / "orlib-pmed"


@pytest.fixture
def cap_dir(shared_data: Path) -> Path:
    return shared_data / "orlib-cap"


# ---------------------------------------------------------------- readers

def test_pmed_reader_keeps_the_last_of_duplicate_edges(pmed_dir):
    path = orlib.instance_path(pmed_dir, "pmed1.txt")
    rows = np.array(path.read_text().split()[3:], dtype=int).reshape(-1, 3)
    last: dict[tuple[int, int], int] = {}
    seen_twice = set()
    for i, j, cost in rows:
        key = (min(i, j) - 1, max(i, j) - 1)
        if key in last:
            seen_twice.add(key)
        last[key] = cost
    n, p, graph = orlib.read_pmed_graph(path)
    assert (n, p) == (100, 5)
    assert seen_twice, "pmed1 is known to repeat edges"
    for (i, j), cost in last.items():
        assert graph[i, j] == graph[j, i] == cost
    assert graph.nnz == 2 * len(last)


def test_pmed_distances_are_a_metric(pmed_dir):
    dist = orlib.load_pmed(pmed_dir, "pmed1").dist
    assert dist.shape == (100, 100)
    assert np.array_equal(dist, dist.T)
    assert np.all(np.diag(dist) == 0) and np.all(dist[~np.eye(100, dtype=bool)] > 0)
    # triangle inequality through every intermediate node
    assert np.all(dist[:, None, :] <= dist[:, :, None] + dist[None, :, :] + 1e-9)


def test_pmed1_optimum_from_the_parsed_distances_with_plain_highs(pmed_dir):
    """Separates reader faults from solver faults: a direct highspy model, no project code."""
    inst = orlib.load_pmed(pmed_dir, "pmed1")
    assert _plain_highs_pmedian(inst.dist, inst.p) == pytest.approx(inst.optimum, rel=1e-9)


def test_cap_reader_substitutes_symbolic_capacity(cap_dir):
    optima = orlib.read_optima(cap_dir)
    inst = orlib.load_cap(cap_dir, "capb3", optima)
    assert inst.assign_cost.shape == (1000, 100)
    assert np.all(inst.capacity == 7000.0)
    with pytest.raises(ValueError, match="symbolic capacities"):
        orlib.read_cap(orlib.instance_path(cap_dir, "capb.txt"))


def test_cap_reader_shapes(cap_dir):
    inst = orlib.load_cap(cap_dir, "cap41")
    assert inst.demand.shape == (50,) and inst.capacity.shape == (16,)
    assert inst.fixed_cost.shape == (16,) and inst.assign_cost.shape == (50, 16)
    assert inst.demand.sum() <= inst.capacity.sum()


# ---------------------------------------------------------------- the project's solvers

@pytest.mark.parametrize("name", ["pmed1", "pmed2"])
def test_pmedian_reproduces_orlib_optimum(pmed_dir, name):
    from allocator.solving.location import solve_pmedian

    inst = orlib.load_pmed(pmed_dir, name)
    result = solve_pmedian(np.ones(inst.n), inst.dist, inst.p, solve_options=PROVE_OPTIMAL)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(inst.optimum, rel=1e-6)
    # the plan itself, not the solver's word: p sites, each node at its nearest open site
    assert result.open.sum() == inst.p
    assert inst.dist[:, result.open].min(axis=1).sum() == pytest.approx(inst.optimum, rel=1e-6)


@pytest.mark.parametrize("name", ["cap41", "cap71", "cap131"])
def test_cflp_reproduces_orlib_optimum(cap_dir, name):
    from allocator.solving.location import solve_cflp

    inst = orlib.load_cap(cap_dir, name)
    result = solve_cflp(inst.demand, inst.capacity, inst.fixed_cost, inst.assign_cost,
                        single_source=False, solve_options=PROVE_OPTIMAL)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(inst.optimum, rel=1e-6)
    assert inst.capacity[result.open].sum() >= inst.demand.sum()
    # the open sites alone, re-solved as a transportation LP, give the same cost
    assert _transport_cost(inst, result.open) == pytest.approx(inst.optimum, rel=1e-6)


# ---------------------------------------------------------------- independent references

def _plain_highs_pmedian(dist: np.ndarray, p: int) -> float:
    """min Σ d_ij x_ij, Σ_j x_ij = 1, x_ij ≤ y_j, Σ y_j = p, y binary — straight in highspy."""
    n = dist.shape[0]
    x = np.arange(n * n).reshape(n, n) + n          # column of x_ij; y_j is column j
    rows = [np.zeros(n, int), *([1 + i] * n for i in range(n))]
    cols = [np.arange(n), *(x[i] for i in range(n))]
    link = 1 + n + np.arange(n * n)
    a = sp.csr_matrix(
        (np.concatenate([np.ones(n + n * n), np.ones(n * n), -np.ones(n * n)]),
         (np.concatenate([*rows, link, link]), np.concatenate([*cols, x.ravel(), np.tile(np.arange(n), n)]))),
        shape=(1 + n + n * n, n + n * n))
    lower = np.concatenate([[p], np.ones(n), np.full(n * n, -highspy.kHighsInf)])
    upper = np.concatenate([[p], np.ones(n), np.zeros(n * n)])
    return _run_highs(np.concatenate([np.zeros(n), dist.ravel()]), a, lower, upper, n_integer=n)


def _transport_cost(inst: orlib.CapInstance, open_sites: np.ndarray) -> float:
    """Fixed costs of the open sites + the cheapest split assignment within their capacities."""
    cost = inst.assign_cost[:, open_sites]
    n, m = cost.shape
    x = np.arange(n * m).reshape(n, m)
    a = sp.vstack([
        sp.csr_matrix((np.ones(n * m), (np.repeat(np.arange(n), m), x.ravel())), shape=(n, n * m)),
        sp.csr_matrix((np.repeat(inst.demand, m), (np.tile(np.arange(m), n), x.ravel())), shape=(m, n * m)),
    ]).tocsr()
    lower = np.concatenate([np.ones(n), np.full(m, -highspy.kHighsInf)])
    upper = np.concatenate([np.ones(n), inst.capacity[open_sites]])
    return inst.fixed_cost[open_sites].sum() + _run_highs(cost.ravel(), a, lower, upper, n_integer=0)


def _run_highs(cost, a: sp.csr_matrix, lower, upper, n_integer: int) -> float:
    """Minimise cost·v over 0 ≤ v ≤ 1, lower ≤ a v ≤ upper; the first n_integer columns binary."""
    a = a.tocsc()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = a.shape[1], a.shape[0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, np.zeros(a.shape[1]), np.ones(a.shape[1])
    lp.row_lower_, lp.row_upper_ = lower, upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a.indptr, a.indices, a.data
    if n_integer:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * n_integer + \
            [highspy.HighsVarType.kContinuous] * (a.shape[1] - n_integer)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.passModel(lp)
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return h.getInfo().objective_function_value
