"""Readers for Beasley's OR-Library benchmark files, shared by the benchmarks and tests.

Two families are read, each from a folder laid out as in ``shared/data``::

    DIR/optima.csv            the published optimum of every instance
    DIR/instances/NAME.txt    the original OR-Library file (``DIR/NAME.txt`` also works)

p-median (pmed1..pmed40, Beasley 1990)
    line 1 ``n edges p``; then ``i j cost`` per undirected edge, nodes numbered from 1.
    Some edges appear twice with different costs: the LAST occurrence wins (that is
    what the published optima assume; keeping the minimum gives pmed1 = 5718, not 5819).
    Distances are all-pairs shortest paths over that graph; every node is a demand
    point of weight 1 and a candidate site.

capacitated warehouse location (cap41..cap134, capa/capb/capc, Beasley 1988)
    ``m n``; m lines ``capacity fixed_cost``; then per customer its demand followed by
    m costs, each the cost of serving ALL of that customer's demand from that site.
    capa/capb/capc carry the literal word ``capacity`` instead of a number: optima.csv
    names the value to substitute (capa1..capc4). Optima are for split demand.
"""
from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path


@dataclass(frozen=True)
class PMedianInstance:
    """One OR-Library p-median instance: n nodes, each a unit-weight demand point and a site."""

    name: str
    p: int
    dist: np.ndarray          # n × n shortest-path distances
    optimum: float

    @property
    def n(self) -> int:
        return self.dist.shape[0]


@dataclass(frozen=True)
class CapInstance:
    """One OR-Library capacitated facility location instance (m sites, n customers)."""

    name: str
    demand: np.ndarray        # n customers
    capacity: np.ndarray      # m sites
    fixed_cost: np.ndarray    # m sites
    assign_cost: np.ndarray   # n × m: cost of serving all of customer i's demand from site j
    optimum: float


# ---------------------------------------------------------------- locating files

def instance_path(data_dir: Path, filename: str) -> Path:
    """``DIR/instances/FILE`` as laid out in shared/data, else ``DIR/FILE``."""
    data_dir = Path(data_dir)
    for candidate in (data_dir / "instances" / filename, data_dir / filename):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{filename} not found in {data_dir}/instances or {data_dir}")


def read_optima(data_dir: Path) -> dict[str, dict[str, str]]:
    """Rows of ``DIR/optima.csv`` keyed by instance name, in file order."""
    with open(Path(data_dir) / "optima.csv", newline="") as fh:
        return {row["instance"]: row for row in csv.DictReader(fh)}


def select(optima: dict[str, dict], wanted: str | None) -> list[str]:
    """Instance names from a comma-separated ``--instances`` value (all when empty)."""
    if not wanted:
        return list(optima)
    names = [w.strip() for w in wanted.split(",") if w.strip()]
    unknown = [w for w in names if w not in optima]
    if unknown:
        raise ValueError(f"unknown instance(s) {', '.join(unknown)}; optima.csv lists {', '.join(optima)}")
    return names


# ---------------------------------------------------------------- p-median

def read_pmed_graph(path: Path) -> tuple[int, int, sp.csr_matrix]:
    """(n, p, symmetric sparse edge-cost matrix) of a pmedN.txt file; last duplicate edge wins."""
    tokens = np.array(Path(path).read_text().split(), dtype=np.int64)
    n, n_edges, p = (int(t) for t in tokens[:3])
    edges = tokens[3:].reshape(-1, 3)
    if len(edges) != n_edges:
        raise ValueError(f"{path}: header says {n_edges} edges, file has {len(edges)}")
    lo = np.minimum(edges[:, 0], edges[:, 1]) - 1
    hi = np.maximum(edges[:, 0], edges[:, 1]) - 1
    cost = edges[:, 2].astype(float)
    # keep the last occurrence of every undirected pair: unique over the reversed list
    key = lo * n + hi
    _, first_in_reversed = np.unique(key[::-1], return_index=True)
    keep = len(key) - 1 - first_in_reversed
    lo, hi, cost = lo[keep], hi[keep], cost[keep]
    rows = np.concatenate([lo, hi])
    cols = np.concatenate([hi, lo])
    graph = sp.csr_matrix((np.concatenate([cost, cost]), (rows, cols)), shape=(n, n))
    return n, p, graph


def pmed_distances(graph: sp.csr_matrix) -> np.ndarray:
    """All-pairs shortest-path distances (Dijkstra), checked to be finite."""
    dist = shortest_path(graph, method="D", directed=False)
    if not np.isfinite(dist).all():
        raise ValueError("the graph is not connected")
    return dist


def load_pmed(data_dir: Path, name: str, optima: dict | None = None) -> PMedianInstance:
    optima = read_optima(data_dir) if optima is None else optima
    row = optima[name]
    n, p, graph = read_pmed_graph(instance_path(data_dir, f"{name}.txt"))
    if n != int(row["n"]) or p != int(row["p"]):
        raise ValueError(f"{name}: file says n={n}, p={p}; optima.csv says n={row['n']}, p={row['p']}")
    return PMedianInstance(name, p, pmed_distances(graph), float(row["optimal_value"]))


# ---------------------------------------------------------------- capacitated location

def read_cap(path: Path, capacity: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(demand[n], capacity[m], fixed_cost[m], assign_cost[n×m]) of a cap file.

    ``capacity`` replaces the literal word "capacity" of capa/capb/capc.
    """
    tokens = Path(path).read_text().split()
    if "capacity" in tokens:
        if capacity is None:
            raise ValueError(f"{path} has symbolic capacities: pass the value to substitute")
        tokens = [str(capacity) if t == "capacity" else t for t in tokens]
    values = np.array(tokens, dtype=float)
    m, n = int(values[0]), int(values[1])
    expected = 2 + 2 * m + n * (1 + m)
    if len(values) != expected:
        raise ValueError(f"{path}: {len(values)} numbers, expected 2 + 2m + n(1+m) = {expected}")
    sites = values[2:2 + 2 * m].reshape(m, 2)
    customers = values[2 + 2 * m:].reshape(n, 1 + m)
    return customers[:, 0].copy(), sites[:, 0].copy(), sites[:, 1].copy(), customers[:, 1:].copy()


def load_cap(data_dir: Path, name: str, optima: dict | None = None) -> CapInstance:
    optima = read_optima(data_dir) if optima is None else optima
    row = optima[name]
    substitution = row.get("capacity_substitution") or None
    demand, capacity, fixed, assign = read_cap(
        instance_path(data_dir, row["file"]), None if substitution is None else float(substitution))
    if (len(capacity), len(demand)) != (int(row["facilities"]), int(row["customers"])):
        raise ValueError(f"{name}: file has {len(capacity)} sites × {len(demand)} customers; "
                         f"optima.csv says {row['facilities']} × {row['customers']}")
    return CapInstance(name, demand, capacity, fixed, assign, float(row["optimal_value"]))


# ---------------------------------------------------------------- reporting

HEADER = "instance,optimum,found,gap,seconds"


def gap_to_optimum(found: float | None, optimum: float) -> float:
    """|found − optimum| / |optimum|; inf when nothing was found."""
    if found is None:
        return float("inf")
    return abs(found - optimum) / max(abs(optimum), 1e-10)


def csv_line(name: str, optimum: float, found: float | None, seconds: float) -> str:
    shown = "" if found is None else _number(found)
    gap = gap_to_optimum(found, optimum)
    return f"{name},{_number(optimum)},{shown},{gap:.2e},{seconds:.3f}"


def _number(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def progress(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def run_family(data_dir: Path, instances: str, load, solve, describe, tolerance: float) -> int:
    """The command-line run of one family: the CSV on stdout, a line per instance on stderr;
    `load(data_dir, name, optima)` reads an instance, `solve(instance)` returns (result, seconds),
    `describe(instance, result)` words the progress line. Returns the exit code (1 if any missed)."""
    optima = read_optima(data_dir)
    names = select(optima, instances)
    print(HEADER, flush=True)
    missed, total = [], 0.0
    for name in names:
        inst = load(data_dir, name, optima)
        result, seconds = solve(inst)
        total += seconds
        print(csv_line(name, inst.optimum, result.objective, seconds), flush=True)
        if gap_to_optimum(result.objective, inst.optimum) > tolerance:
            missed.append(name)
        progress(f"{name}: {describe(inst, result)}")
    progress(f"{len(names) - len(missed)}/{len(names)} optima reproduced in {total:.1f} s"
             + (f"; missed: {', '.join(missed)}" if missed else ""))
    return 1 if missed else 0
