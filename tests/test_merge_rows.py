"""R3 (models.location.common.merge_rows): rows with the same floor and the same (site, level) list
become one row whose weight is their sum, and no two different rows are ever merged, checked
against grouping the rows by their contents."""
from __future__ import annotations

import numpy as np
import pytest

from allocator.models.location import common
from allocator.models.location.common import from_rows, merge_rows


def random_rows(seed: int):
    """Pairs whose rows repeat a few patterns (so many merge), some empty, with floors and weights."""
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 60)), int(rng.integers(1, 12))
    patterns = [sorted(rng.choice(m, size=int(rng.integers(0, min(m, 4) + 1)), replace=False).tolist())
                for _ in range(int(rng.integers(1, 6)))]
    levels = rng.choice([1.0, 0.5, 0.25], size=m)
    rows, sites, values = [], [], []
    for i in range(n):
        for j in patterns[int(rng.integers(len(patterns)))]:
            rows.append(i), sites.append(j), values.append(levels[j] if rng.random() < 0.9 else 0.75)
    pairs = from_rows(np.array(rows, np.int64), np.array(sites, np.int64), np.array(values), n, m, descending=True)
    floor = rng.choice([0.0, 0.0, 0.1], size=n)
    return pairs, floor, rng.random(n)


def by_contents(pairs, floor, weights):
    """The expected grouping: groups in order of their first row, keyed by the row's contents."""
    groups: dict = {}
    for i in range(pairs.n_nodes):
        s, e = pairs.indptr[i], pairs.indptr[i + 1]
        if e == s:
            continue
        key = (floor[i], tuple(sorted(zip(pairs.site[s:e].tolist(), pairs.value[s:e].tolist()))))
        groups.setdefault(key, []).append(i)
    return list(groups.values())


@pytest.mark.parametrize("seed", range(60))
def test_rows_merge_exactly_when_equal(seed):
    pairs, floor, weights = random_rows(seed)
    row_of, merged, weight, floors = merge_rows(pairs, floor, weights)
    expected = by_contents(pairs, floor, weights)
    assert merged.n_nodes == len(expected) == len(weight) == len(floors)
    for g, members in enumerate(expected):
        assert (row_of[members] == g).all()
        assert weight[g] == pytest.approx(weights[members].sum())
        assert floors[g] == floor[members[0]]
        s, e = pairs.indptr[members[0]], pairs.indptr[members[0] + 1]
        assert sorted(merged.site[merged.indptr[g]:merged.indptr[g + 1]].tolist()) == sorted(pairs.site[s:e].tolist())
    assert (row_of[pairs.degree == 0] == -1).all()


def test_a_hash_collision_never_merges_different_rows(monkeypatch):
    """Every site hashed alike, so rows of one length, floor and levels collide: no merged row may hold
    rows of different contents (equal rows may then stay apart: R3 merges less, still exactly)."""
    cases = [random_rows(seed) for seed in range(20)]
    monkeypatch.setattr(common.np.random, "default_rng", lambda seed: _Constant())
    for pairs, floor, weights in cases:
        row_of, merged, weight, _ = merge_rows(pairs, floor, weights)
        for g in range(merged.n_nodes):
            members = np.flatnonzero(row_of == g)
            contents = {(floor[i], tuple(sorted(zip(pairs.site[pairs.indptr[i]:pairs.indptr[i + 1]].tolist(),
                                                    pairs.value[pairs.indptr[i]:pairs.indptr[i + 1]].tolist()))))
                        for i in members}
            assert len(contents) == 1
            assert weight[g] == pytest.approx(weights[members].sum())
        assert merged.n_nodes >= len(by_contents(pairs, floor, weights))


class _Constant:
    def integers(self, low, high, size=None, dtype=np.int64):
        return np.full(size, 12345, dtype=dtype)
