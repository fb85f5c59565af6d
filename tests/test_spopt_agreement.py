"""Agreement with an independent peer, PySAL spopt (PuLP + CBC, its default solver).

(a) Seeded random instances solved by spopt and by `models.facilities`: the same optimal
    objective for the maximal covering, set covering, p-median and p-center models.
(b) spopt's published San Francisco results, from the data its wheel ships
    (205 census tracts, 16 candidate stores, network distances, 5,000 m, p = 4):
    the MCLP leaves 21 tracts uncovered (89.756 % of tracts covered), the p-median's
    mean distance is 2982.127 m (spopt's tests test_mclp.py / test_p_median.py).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from allocator.solving.solve import SolveOptions

try:
    import pulp
    import spopt
    from spopt.locate import LSCP, MCLP, PCenter, PMedian
except ImportError as exc:  # only then: CI installs spopt with the test extra
    pytest.skip(f"PySAL spopt is not importable ({exc}); pip install -e '.[test]'", allow_module_level=True)

from allocator.solving.location import solve_lscp, solve_mclp, solve_pcenter, solve_pmedian  # noqa: E402

pytestmark = [pytest.mark.spopt, pytest.mark.filterwarnings("ignore::DeprecationWarning:pulp.*")]

PROVE_OPTIMAL = SolveOptions(gap=1e-9, threads=1)
SIZES = [(0, 30, 10, 3), (1, 55, 15, 4), (2, 80, 20, 5)]  # seed, demand points, candidates, p


def _cbc():
    """spopt's default solver: the CBC bundled with PuLP (COIN_CMD once PuLP 4 drops the bundle)."""
    solver = getattr(pulp, "PULP_CBC_CMD", None) or pulp.COIN_CMD
    return solver(msg=False)


def _random_instance(seed: int, n: int, m: int):
    rng = np.random.default_rng(seed)
    demand_xy = rng.uniform(0, 10, size=(n, 2))
    site_xy = rng.uniform(0, 10, size=(m, 2))
    dist = np.linalg.norm(demand_xy[:, None, :] - site_xy[None, :, :], axis=2)
    weights = rng.integers(1, 100, size=n).astype(float)
    return dist, weights


def _spopt_objective(model) -> float:
    assert model.problem.status == pulp.LpStatusOptimal
    return float(pulp.value(model.problem.objective))


# ---------------------------------------------------------------- (a) random instances

@pytest.mark.parametrize("seed,n,m,p", SIZES)
def test_mclp_agrees(seed, n, m, p):
    dist, weights = _random_instance(seed, n, m)
    radius = 2.0
    peer = MCLP.from_cost_matrix(dist, weights, radius, p).solve(_cbc(), results=False)
    ours = solve_mclp(weights, dist <= radius, p=p, solve_options=PROVE_OPTIMAL)
    assert ours.status == "optimal"
    assert ours.objective == pytest.approx(_spopt_objective(peer), rel=1e-6)
    covered = (dist[:, ours.open] <= radius).any(axis=1)
    assert ours.open.sum() <= p and weights[covered].sum() == pytest.approx(ours.objective, rel=1e-6)


@pytest.mark.parametrize("seed,n,m,p", SIZES)
def test_lscp_agrees(seed, n, m, p):
    dist, _ = _random_instance(seed, n, m)
    radius = max(2.5, dist.min(axis=1).max())          # every point coverable
    peer = LSCP.from_cost_matrix(dist, radius).solve(_cbc(), results=False)
    ours = solve_lscp(dist <= radius, solve_options=PROVE_OPTIMAL)
    assert ours.status == "optimal"
    assert ours.objective == pytest.approx(_spopt_objective(peer), abs=1e-6)
    assert ours.open.sum() == round(ours.objective)
    assert (dist[:, ours.open] <= radius).any(axis=1).all()


@pytest.mark.parametrize("seed,n,m,p", SIZES)
def test_pmedian_agrees(seed, n, m, p):
    dist, weights = _random_instance(seed, n, m)
    peer = PMedian.from_cost_matrix(dist, weights, p).solve(_cbc(), results=False)
    ours = solve_pmedian(weights, dist, p, solve_options=PROVE_OPTIMAL)
    assert ours.status == "optimal"
    assert ours.objective == pytest.approx(_spopt_objective(peer), rel=1e-6)
    assert weights @ dist[:, ours.open].min(axis=1) == pytest.approx(ours.objective, rel=1e-6)


@pytest.mark.parametrize("seed,n,m,p", SIZES)
def test_pcenter_agrees(seed, n, m, p):
    dist, _ = _random_instance(seed, n, m)
    peer = PCenter.from_cost_matrix(dist, p).solve(_cbc(), results=False)
    ours = solve_pcenter(dist, p, solve_options=PROVE_OPTIMAL)
    assert ours.status == "optimal"
    assert ours.objective == pytest.approx(_spopt_objective(peer), rel=1e-6)
    assert dist[:, ours.open].min(axis=1).max() == pytest.approx(ours.objective, rel=1e-6)


# ---------------------------------------------------------------- (b) San Francisco

@pytest.fixture(scope="module")
def san_francisco():
    """spopt's own construction: network distances pivoted tract × store, POP2000 weights."""
    import pandas as pd

    data = Path(spopt.__file__).parent / "tests" / "test_locate" / "data"
    if not data.is_dir():
        pytest.skip(f"this spopt build ships no test data ({data})")
    network = pd.read_csv(data / "SF_network_distance_candidateStore_16_censusTract_205_new.csv")
    dist = network.pivot_table(values="distance", index="DestinationName", columns="name")
    tracts = pd.read_csv(data / "SF_demand_205_centroid_uniform_weight.csv").sort_values("NAME")
    assert np.array_equal(dist.index.to_numpy(), tracts["NAME"].to_numpy())
    return dist.to_numpy(), tracts["POP2000"].to_numpy().astype(float)


def test_san_francisco_mclp(san_francisco):
    dist, population = san_francisco
    assert dist.shape == (205, 16)
    ours = solve_mclp(population, dist <= 5000.0, p=4, solve_options=PROVE_OPTIMAL)
    assert ours.status == "optimal" and ours.open.sum() == 4
    uncovered = ~(dist[:, ours.open] <= 5000.0).any(axis=1)
    assert uncovered.sum() == 21
    assert 100.0 * (1 - uncovered.mean()) == pytest.approx(89.75609756097561)


def test_san_francisco_pmedian(san_francisco):
    dist, population = san_francisco
    ours = solve_pmedian(population, dist, 4, solve_options=PROVE_OPTIMAL)
    assert ours.status == "optimal" and ours.open.sum() == 4
    assert ours.objective / population.sum() == pytest.approx(2982.1268579890657, rel=1e-9)
    assert population @ dist[:, ours.open].min(axis=1) / population.sum() == pytest.approx(2982.1268579890657, rel=1e-9)


def test_the_comparison_script_runs_only_the_peers_asked_for():
    """`benchmarks/spopt_compare.py --peers highs` times spopt with HiGHS alone: no CBC column."""
    from click.testing import CliRunner

    sys.path.append(str(Path(__file__).resolve().parents[1]))
    from benchmarks import spopt_compare

    result = CliRunner().invoke(spopt_compare.main, ["--pmed", "", "--sizes", "200", "--models", "lscp",
                                                     "--pmedian-sizes", "", "--peers", "highs"])
    assert result.exit_code == 0, result.output
    header = spopt_compare.HEADER.split(",")
    rows = [line.split(",") for line in result.output.splitlines() if len(line.split(",")) == len(header)]
    assert len(rows) == 2 and rows[0] == header            # the header and one case (progress lines aside)
    row = dict(zip(header, rows[1]))
    assert row["agree"] == "yes" and row["spopt_cbc_s"] == "-" and row["spopt_highs_s"] != "-"
    refused = CliRunner().invoke(spopt_compare.main, ["--pmed", "", "--sizes", "", "--pmedian-sizes", "", "--peers", "gurobi"])
    assert refused.exit_code == 2 and "--peers" in refused.output
