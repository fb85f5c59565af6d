"""What every location family shares: sparse node–site pairs, exact reductions, and the site
variables with the spend and count rows (the quick heuristics that give their starts are in
`models.location.heuristics`).

The arrays (numpy/scipy) prepare what the family modules (`models.location.covering`,
`.median`, `.center`, `.assignment`) turn into constraints, so that only pairs that can
matter ever reach Pyomo. Each builder takes flat arrays — several blocks (one per service)
side by side, sharing only the spend and count rows — and returns a ConcreteModel; the model
grows with reachable pairs, never with n × m.

Shared by every family:

    y_j ∈ {0, 1}                     ∀ j ∈ SITES      (fixed at 1 for fixed-open sites)
    Σ_j c_j y_j ≤ B                                    (S) spend_within_budget
    Σ_{j∈J_b} k_j y_j ≤ p_b  (or = p_b)  ∀ b ∈ BLOCKS  (P) sites_within_count

    symbol      attribute                       meaning
    y_j         m.site_open[j]                  site j open
    c_j, k_j    SiteArrays.cost, .count         spend and count weight of site j

Pairs. A node × site relation is held in CSR form (`Pairs`): `indptr` (n + 1), `site` and
`value` per pair. Distance pairs are sorted within each node by value, then site; coverage
pairs by level, highest first. A dense matrix gives every finite entry as a pair; a scipy
sparse matrix gives its stored entries (explicit zeros included: a stored 0 is a distance 0),
non-finite values are dropped (unreachable).

Exact reductions of a covering block (`reduce_cover`), each keeping at least one optimal
plan of the original problem and its objective value:

    R1  sites fixed open (existing, not closable) leave the model; each node keeps the best
        level they give it as a constant floor f_i, and only pairs above the floor remain;
    R2  nodes with nothing left (no demand, no site above the floor) become constants;
    R3  nodes with identical (floor, site, level) rows merge into one row; weights add;
    R4  a site is dropped when another serves every node at least as well and costs no more
        (in budget and in count); ties keep the lowest index. Opening the other instead never
        loses coverage, so some optimal plan avoids the dropped site. Sites that no budget
        can pay for, or that reach no node, are dropped too. The test is one sparse product
        (`dominated_sites`) whose work, Σ_i deg_i² on plain coverage (`dominance_work`), is
        known before it runs: above MAX_DOMINANCE_WORK it is skipped, and it runs in chunks of
        sites so its memory stays bounded whatever the reach;
    R5  after R4, rows merge again, and a row left with a single site j becomes a bonus
        w_i (a_ij − f_i) on y_j (coverage then equals y_j exactly).

R4 and R5 hold for maximal covering and for the first stage of set covering; the backup
stage of LSCP-B uses R1–R3 only (a second site over the same nodes is not useless there).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp

from ..linear import linear

LEVEL_TOL = 1e-12
MAX_DOMINANCE_WORK = 100_000_000     # R4 is skipped above this work (`dominance_work`; about 0.5 s)
DOMINANCE_CHUNK = 2_000_000          # meetings per chunk of the R4 product (bounds its memory)


@dataclass(frozen=True)
class Pairs:
    """A sparse node × site relation, CSR with rows sorted by value (see module docstring)."""

    indptr: np.ndarray
    site: np.ndarray
    value: np.ndarray
    n_sites: int

    @property
    def n_nodes(self) -> int:
        return len(self.indptr) - 1

    @property
    def degree(self) -> np.ndarray:
        return np.diff(self.indptr)

    def rows(self) -> np.ndarray:
        """Node index of every pair."""
        return np.repeat(np.arange(self.n_nodes), self.degree)

    def take(self, keep: np.ndarray) -> "Pairs":
        """The pairs where `keep` (bool per pair) holds, row order kept."""
        counts = np.bincount(self.rows()[keep], minlength=self.n_nodes)
        indptr = np.concatenate(([0], np.cumsum(counts)))
        return Pairs(indptr, self.site[keep], self.value[keep], self.n_sites)


def from_rows(rows: np.ndarray, sites: np.ndarray, values: np.ndarray, n: int, m: int, descending: bool = False) -> Pairs:
    """Pairs from coordinate arrays, sorted by node, then value (ascending or not), then site."""
    if len(values) and np.all(values == values[0]):          # one value (reach): by node, then site
        order = np.argsort(rows.astype(np.int64) * max(m, 1) + sites, kind="stable")
    else:
        order = np.lexsort((sites, -values if descending else values, rows))
    counts = np.bincount(rows, minlength=n)
    return Pairs(np.concatenate(([0], np.cumsum(counts))), sites[order].astype(np.int64),
                 values[order].astype(np.float64), m)


def distance_pairs(dist) -> Pairs:
    """Pairs of a dense (n × m) or sparse distance/cost matrix; non-finite entries are unreachable."""
    if sp.issparse(dist):
        coo = sp.coo_matrix(dist)
        rows, sites, values = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data.astype(np.float64)
        n, m = coo.shape
    else:
        d = np.asarray(dist, dtype=np.float64)
        if d.ndim != 2:
            raise ValueError(f"a distance matrix must be 2-dimensional, not of shape {d.shape}")
        n, m = d.shape
        rows, sites = np.nonzero(np.isfinite(d))
        values = d[rows, sites]
    ok = np.isfinite(values)
    return from_rows(rows[ok], sites[ok], values[ok], n, m)


def level_pairs(reach, partial=None) -> Pairs:
    """Coverage pairs: level 1 for every reachable pair, or the `partial` level a_ij ∈ (0, 1]."""
    r = sp.csr_matrix(reach, dtype=bool) if sp.issparse(reach) else sp.csr_matrix(np.asarray(reach, dtype=bool))
    r.eliminate_zeros()
    coo = r.tocoo()
    rows, sites = coo.row.astype(np.int64), coo.col.astype(np.int64)
    if partial is None:
        values = np.ones(len(rows))
    else:
        a = sp.csr_matrix(partial, dtype=np.float64) if sp.issparse(partial) else np.asarray(partial, dtype=np.float64)
        values = np.asarray(a[rows, sites]).ravel()
        if np.any(values > 1 + LEVEL_TOL) or np.any(values < 0):
            raise ValueError("partial coverage levels must lie in [0, 1]")
        values = np.minimum(values, 1.0)
    keep = values > LEVEL_TOL
    return from_rows(rows[keep], sites[keep], values[keep], r.shape[0], r.shape[1], descending=True)


def as_mask(value, m: int, name: str) -> np.ndarray:
    """A bool per site from None, a bool array or a list of site indices."""
    if value is None:
        return np.zeros(m, dtype=bool)
    a = np.asarray(value)
    if a.dtype == bool:
        if a.shape != (m,):
            raise ValueError(f"{name} must hold one flag per site ({m}), not shape {a.shape}")
        return a.copy()
    mask = np.zeros(m, dtype=bool)
    mask[a.astype(np.int64)] = True
    return mask


# --- covering blocks and their exact reductions ----------------------------------------------

@dataclass
class CoverBlock:
    """One covering block after the reductions R1–R5 (see module docstring).

    Rows are merged demand nodes; `pairs` relate rows to the block's kept sites (local index
    into `sites`), value = coverage level. Every original node maps to a row, a folded site
    or nothing (`node_row`, `node_site`), with its floor `node_floor`.
    """

    n_nodes: int
    sites: np.ndarray              # original index of each kept (free) site
    cost: np.ndarray               # per kept site
    count: np.ndarray              # per kept site: weight in the count limit
    bonus: np.ndarray              # per kept site: folded single-site rows (objective)
    pairs: Pairs                   # rows × kept sites, value = level (descending)
    row_weight: np.ndarray
    row_floor: np.ndarray
    node_row: np.ndarray           # per original node: row, or -1
    node_site: np.ndarray          # per original node: local kept site it folded onto, or -1
    node_floor: np.ndarray         # per original node: level given by fixed sites
    node_level: np.ndarray         # per original node: level of its folded site (0 if none)
    fixed: np.ndarray              # per original site: fixed open
    constant: float                # Σ_i w_i f_i
    stats: dict = field(default_factory=dict)


def reduce_cover(weights: np.ndarray, pairs: Pairs, cost: np.ndarray, count: np.ndarray, fixed: np.ndarray,
                 spend_room: float = np.inf, count_room: float = np.inf, dominance: bool = True,
                 fold: bool = True) -> CoverBlock:
    """Apply R1–R5 to one block (R4/R5 only when `dominance`/`fold`)."""
    n, m = pairs.n_nodes, pairs.n_sites
    rows = pairs.rows()
    floor = np.zeros(n)
    on_fixed = fixed[pairs.site]
    np.maximum.at(floor, rows[on_fixed], pairs.value[on_fixed])                            # R1
    usable = (~fixed) & (cost <= spend_room + 1e-9) & (count <= count_room + 1e-9)
    keep = usable[pairs.site] & (pairs.value > floor[rows] + LEVEL_TOL) & (weights[rows] > 0)   # R2
    live = pairs.take(keep)
    stats = {"nodes": n, "sites": m, "pairs": len(pairs.site), "fixed_sites": int(fixed.sum()),
             "pairs_after_fixed": int(keep.sum())}
    row_of_node, merged, row_weight, row_floor = merge_rows(live, floor, weights)             # R3
    if dominance:                                                                          # R4
        stats["dominance_work"] = dominance_work(merged)
        drop = dominated_sites(merged, cost, count, row_weight)
        drop |= np.bincount(merged.site, minlength=m) == 0
        stats["dominated_sites"] = int((drop & usable).sum())
        merged = merged.take(~drop[merged.site])
        again, merged, row_weight, row_floor = merge_rows(merged, row_floor, row_weight)
        if len(again):
            row_of_node = np.where(row_of_node >= 0, again[np.maximum(row_of_node, 0)], -1)
    kept = np.flatnonzero(usable & (np.bincount(merged.site, minlength=m) > 0))
    local = np.full(m, -1)
    local[kept] = np.arange(len(kept))
    bonus = np.zeros(len(kept))
    node_site = np.full(n, -1)
    node_level = np.zeros(n)
    if fold and len(row_weight):                                                           # R5
        single = merged.degree == 1
        first = merged.indptr[:-1][single]
        gain = row_weight[single] * (merged.value[first] - row_floor[single])
        np.add.at(bonus, local[merged.site[first]], gain)
        folded_site = np.full(len(row_weight), -1)
        folded_site[single] = local[merged.site[first]]
        folded_level = np.zeros(len(row_weight))
        folded_level[single] = merged.value[first]
        has_row = row_of_node >= 0
        node_site[has_row] = folded_site[row_of_node[has_row]]
        node_level[has_row] = folded_level[row_of_node[has_row]]
        renumber = np.cumsum(~single) - 1
        row_of_node = np.where(has_row & ~single[np.maximum(row_of_node, 0)], renumber[np.maximum(row_of_node, 0)], -1)
        merged = merged.take(~single[merged.rows()])
        merged = Pairs(np.concatenate(([0], np.cumsum(merged.degree[~single]))), merged.site, merged.value, m)
        row_weight, row_floor = row_weight[~single], row_floor[~single]
    merged = Pairs(merged.indptr, local[merged.site], merged.value, len(kept))
    stats.update(rows=len(row_weight), kept_sites=len(kept), model_pairs=len(merged.site),
                 folded_rows=int((node_site >= 0).sum()))
    return CoverBlock(n, kept, cost[kept], count[kept], bonus, merged, row_weight, row_floor, row_of_node,
                      node_site, floor, node_level, fixed, float(weights @ floor), stats)


def merge_rows(pairs: Pairs, floor: np.ndarray, weights: np.ndarray):
    """R3: one row per distinct (floor, sites, levels) among non-empty rows.

    Returns (row of each input row or -1 when empty, merged pairs, weights, floors). Rows are
    grouped by a 64-bit hash and then compared exactly, so a collision never merges two
    different rows.
    """
    n = pairs.n_nodes
    deg = pairs.degree
    nonempty = np.flatnonzero(deg > 0)
    if len(nonempty) == 0:
        return np.full(n, -1), Pairs(np.zeros(1, np.int64), pairs.site[:0], pairs.value[:0], pairs.n_sites), np.zeros(0), np.zeros(0)
    order = np.lexsort((pairs.site, pairs.rows()))           # canonical order: by site within a row
    site, value = pairs.site[order], pairs.value[order]
    rng = np.random.default_rng(20240601)
    h1, h2 = (rng.integers(1, 2**63, pairs.n_sites, dtype=np.uint64) for _ in range(2))
    lv = np.round(value * 1e9).astype(np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        a = h1[site] * (lv + np.uint64(7))
        b = h2[site] ^ (lv * np.uint64(0x9E3779B97F4A7C15))
        key1 = np.add.reduceat(a, pairs.indptr[nonempty])
        key2 = np.add.reduceat(b, pairs.indptr[nonempty])
    fl = np.round(floor[nonempty] * 1e9).astype(np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):         # one 64-bit key a row (sorting 1-D keys is far quicker than rows of 4)
        key = (key1 ^ (key2 * np.uint64(0xBF58476D1CE4E5B9)) ^ (deg[nonempty].astype(np.uint64) * np.uint64(0x94D049BB133111EB))
               ^ (fl * np.uint64(0x2545F4914F6CDD1D)))
    _, first, group = np.unique(key, return_index=True, return_inverse=True)
    group = group.ravel()
    rep = nonempty[first[group]]
    same = _rows_equal(pairs.indptr, site, value, nonempty, rep)
    if not same.all():                                      # a hash collision: keep those rows apart
        group = group.copy()
        group[~same] = group.max() + 1 + np.arange(int((~same).sum()))
        _, group = np.unique(group, return_inverse=True)
    n_groups = int(group.max()) + 1
    row_of = np.full(n, -1)
    row_of[nonempty] = group
    reps = np.full(n_groups, n)
    np.minimum.at(reps, group, nonempty)                    # first member of each group
    weight = np.bincount(group, weights=weights[nonempty], minlength=n_groups)
    keep = np.zeros(n, dtype=bool)
    keep[reps] = True
    kept = pairs.take(keep[pairs.rows()])
    # rows of `kept` follow node order; renumber groups in that order
    order_of_reps = np.argsort(reps)
    renumber = np.empty(n_groups, dtype=np.int64)
    renumber[order_of_reps] = np.arange(n_groups)
    row_of[nonempty] = renumber[group]
    indptr = np.concatenate(([0], np.cumsum(kept.degree[np.sort(reps)])))
    return row_of, Pairs(indptr, kept.site, kept.value, pairs.n_sites), weight[order_of_reps], floor[np.sort(reps)]


def _rows_equal(indptr: np.ndarray, site: np.ndarray, value: np.ndarray, rows: np.ndarray, reps: np.ndarray) -> np.ndarray:
    """Whether each row has exactly the (site, level) list of its representative (same length given)."""
    lengths = indptr[rows + 1] - indptr[rows]
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    mine = np.repeat(indptr[rows], lengths) + offsets
    theirs = np.repeat(indptr[reps], lengths) + offsets
    differs = (site[mine] != site[theirs]) | (np.abs(value[mine] - value[theirs]) > LEVEL_TOL)
    which = np.repeat(np.arange(len(rows)), lengths)
    return np.bincount(which, weights=differs, minlength=len(rows)) == 0


def dominance_work(pairs: Pairs) -> int:
    """What the R4 test costs, known before it runs: the number of (pair of j, pair of k) meetings
    in one row with a_ik ≥ a_ij — Σ_i deg_i² when every level is 1. Its time grows with this
    count; its memory does not (`dominated_sites` works through the sites in chunks)."""
    return int(_dominance_work_per_site(pairs, levels_of(pairs)).sum())


def _dominance_work_per_site(pairs: Pairs, lv: "Levels") -> np.ndarray:
    """Per site j: Σ over j's pairs of the pairs at least as high in the same row."""
    ahead = lv.end - pairs.indptr[lv.row]                  # pairs of the row at or above level ℓ
    per_pair = np.repeat(ahead, lv.end - lv.start)
    return np.bincount(pairs.site, weights=per_pair, minlength=pairs.n_sites).astype(np.int64)


def dominated_sites(pairs: Pairs, cost: np.ndarray, count: np.ndarray, row_weight: np.ndarray) -> np.ndarray:
    """R4: sites j some k dominates (a_ij ≤ a_ik on every row of j, c_k ≤ c_j, k_k ≤ k_j, a strict tie-break).

    For each site j and every other k, the rows of j where k gives at least j's level are
    counted by one sparse product, C = Eᵀ G: E has a row per level ℓ (a distinct level of a
    row) with the sites giving exactly that level, G a row per level with every site of the
    row at or above it; C_jk = #{rows i of j : a_ik ≥ a_ij}, and k covers j when C_jk is
    j's number of rows. The product runs over chunks of sites of at most `DOMINANCE_CHUNK`
    meetings each, so memory stays bounded; it is skipped when its work (`dominance_work`)
    exceeds `MAX_DOMINANCE_WORK`.
    """
    m = pairs.n_sites
    drop = np.zeros(m, dtype=bool)
    if len(pairs.site) == 0:
        return drop
    lv = levels_of(pairs)
    work = _dominance_work_per_site(pairs, lv)
    if int(work.sum()) > MAX_DOMINANCE_WORK:
        return drop
    n_lv = len(lv)
    pair_level = np.repeat(np.arange(n_lv), lv.end - lv.start)
    exact = sp.csr_matrix((np.ones(len(pairs.site)), (pairs.site, pair_level)), shape=(m, n_lv))     # Eᵀ
    row_start = pairs.indptr[lv.row]
    g_len = lv.end - row_start
    g_indptr = np.concatenate(([0], np.cumsum(g_len)))
    g_pos = np.arange(int(g_indptr[-1])) - np.repeat(g_indptr[:-1] - row_start, g_len)
    at_least = sp.csr_matrix((np.ones(len(g_pos)), pairs.site[g_pos], g_indptr), shape=(n_lv, m))    # G
    size = np.bincount(pairs.site, minlength=m)
    level_sum = np.bincount(pairs.site, weights=pairs.value, minlength=m)
    for lo, hi in _chunks(work, DOMINANCE_CHUNK):
        coo = (exact[lo:hi] @ at_least).tocoo()
        j, k, c = coo.row.astype(np.int64) + lo, coo.col.astype(np.int64), coo.data
        covers = (j != k) & (c >= size[j] - 0.5)
        no_dearer = (cost[k] <= cost[j] + 1e-12) & (count[k] <= count[j] + 1e-12)
        strictly = ((size[k] > size[j]) | (level_sum[k] > level_sum[j] + 1e-9) | (cost[k] < cost[j] - 1e-12)
                    | (count[k] < count[j] - 1e-12) | (k < j))
        drop[j[covers & no_dearer & strictly]] = True
    return drop


def _chunks(work: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """Consecutive index ranges whose summed `work` stays within `limit` (a single heavier index alone)."""
    out, lo, total = [], 0, 0
    for j, w in enumerate(work.tolist()):
        if j > lo and total + w > limit:
            out.append((lo, j))
            lo, total = j, 0
        total += w
    if lo < len(work):
        out.append((lo, len(work)))
    return out


# --- level structures ----------------------------------------------------------------------

@dataclass(frozen=True)
class Levels:
    """Distinct values within each row of sorted pairs: one level per (row, value) group.

    `start`/`end` delimit the level's pairs; `prev` is the previous level of the same row
    (-1 for the first); `row` the row; `value` the group's value.
    """

    row: np.ndarray
    value: np.ndarray
    start: np.ndarray
    end: np.ndarray
    prev: np.ndarray

    def __len__(self) -> int:
        return len(self.row)


def levels_of(pairs: Pairs) -> Levels:
    rows = pairs.rows()
    new = np.ones(len(rows), dtype=bool)
    new[1:] = (rows[1:] != rows[:-1]) | (np.abs(pairs.value[1:] - pairs.value[:-1]) > LEVEL_TOL * np.maximum(1, np.abs(pairs.value[1:])))
    start = np.flatnonzero(new)
    end = np.concatenate((start[1:], [len(rows)]))
    row = rows[start]
    first = np.ones(len(start), dtype=bool)
    first[1:] = row[1:] != row[:-1]
    prev = np.where(first, -1, np.arange(len(start)) - 1)
    return Levels(row, pairs.value[start], start, end, prev)


def level_bounds(pairs: Pairs) -> np.ndarray:
    """Per pair: the index one past the last pair of its level (truncation points keep ties whole)."""
    lv = levels_of(pairs)
    return np.repeat(lv.end, lv.end - lv.start)


# --- truncated rows (p-median, p-center, assignment) ------------------------------------------

@dataclass
class Rows:
    """Truncation state of one block: pairs kept per node (`keep`) and where rows end (`full`)."""

    bounds: np.ndarray                 # per pair: end of its level (absolute index)
    full: np.ndarray                   # per node: pairs that can matter (up to the first required site)
    keep: np.ndarray                   # per node: pairs in the model (a level boundary)


def rows_state(pairs: Pairs, required: np.ndarray) -> Rows:
    bounds = level_bounds(pairs)
    start = pairs.indptr[:-1]
    full = pairs.degree.copy()
    hit = required[pairs.site]
    rows = pairs.rows()
    first = np.full(pairs.n_nodes, len(pairs.site))
    np.minimum.at(first, rows[hit], np.flatnonzero(hit))
    has = first < len(pairs.site)
    full[has] = bounds[first[has]] - start[has]
    return Rows(bounds, full, np.zeros(pairs.n_nodes, np.int64))


def snap(st: Rows, pairs: Pairs, want: np.ndarray) -> np.ndarray:
    """`want` pairs per node, raised to the end of the level it cuts and kept within `full`."""
    start, deg = pairs.indptr[:-1], pairs.degree
    want = np.minimum(np.maximum(want, np.minimum(1, st.full)), st.full)
    idx = np.clip(start + want - 1, 0, max(len(pairs.site) - 1, 0))
    snapped = np.where((deg > 0) & (want > 0), st.bounds[idx] - start, 0) if len(pairs.site) else np.zeros_like(want)
    return np.minimum(snapped, st.full)


def truncated(pairs: Pairs, keep: np.ndarray) -> Pairs:
    local = np.arange(len(pairs.site)) - np.repeat(pairs.indptr[:-1], pairs.degree)
    mask = local < np.repeat(keep, pairs.degree)
    return pairs.take(mask)


def stack_levels(parts):
    rows, values, starts, ends, prevs, sites = [], [], [], [], [], []
    pair_off = row_off = lv_off = 0
    for tp, lv, site_off in parts:
        rows.append(lv.row + row_off)
        values.append(lv.value)
        starts.append(lv.start + pair_off)
        ends.append(lv.end + pair_off)
        prevs.append(np.where(lv.prev >= 0, lv.prev + lv_off, -1))
        sites.append(tp.site + site_off)
        pair_off += len(tp.site)
        row_off += tp.n_nodes
        lv_off += len(lv)
    cat = lambda a, t: np.concatenate(a).astype(t) if a else np.zeros(0, t)   # noqa: E731
    return (Levels(cat(rows, np.int64), cat(values, float), cat(starts, np.int64), cat(ends, np.int64), cat(prevs, np.int64)),
            cat(sites, np.int64))


# --- sites shared by every family: variables, spend and count rows ----------------------------

@dataclass
class SiteArrays:
    """Model sites of all blocks side by side."""

    block: np.ndarray          # block of each model site
    cost: np.ndarray           # spend per site (S)
    count: np.ndarray          # weight in the count row (P)
    fixed: np.ndarray          # bool: y fixed at 1
    objective: np.ndarray      # objective coefficient of y (bonus or fixed charge)


@dataclass
class Limits:
    """The shared rows: spend room (S) and count room per block (P)."""

    spend: float = np.inf
    count: np.ndarray | None = None       # per block; inf = no row
    count_exact: bool = False


SPEND_GROUP = 64       # sites per partial sum of the spend row (S)


def add_site_variables(m, sites: SiteArrays, relaxed: bool = False) -> list:
    m.SITES = pyo.RangeSet(0, len(sites.cost) - 1) if len(sites.cost) else pyo.Set(initialize=[])
    m.site_open = pyo.Var(m.SITES, domain=pyo.UnitInterval if relaxed else pyo.Binary)
    for j in np.flatnonzero(sites.fixed).tolist():
        m.site_open[j].setlb(1)          # a bound, not fix(): HiGHS's presolve removes it
    return [m.site_open[j] for j in range(len(sites.cost))]


def add_shared_limits(m, y: list, sites: SiteArrays, limits: Limits) -> None:
    _add_spend_limit(m, y, sites, limits)
    _add_count_limits(m, y, sites, limits)


def _add_spend_limit(m, y: list, sites: SiteArrays, limits: Limits) -> None:
    """(S) as Σ_g s_g ≤ B with s_g = Σ_{j∈g} c_j y_j over groups g of SPEND_GROUP sites.

    One dense row over thousands of binaries makes every simplex iteration and HiGHS's
    presolve slow (measured: 20,000 sites, 90 s for 1,800 iterations); partial sums keep
    each row short and leave the model's solutions and bound unchanged.
    """
    if not np.isfinite(limits.spend):
        return
    idx = np.flatnonzero(sites.cost != 0)
    groups = [idx[k:k + SPEND_GROUP].tolist() for k in range(0, len(idx), SPEND_GROUP)]
    m.SPEND_GROUPS = pyo.RangeSet(0, len(groups) - 1) if groups else pyo.Set(initialize=[])
    m.group_spend = pyo.Var(m.SPEND_GROUPS, bounds=(0, None))
    cost = sites.cost

    @m.Constraint(m.SPEND_GROUPS)
    def group_spend_adds_up(m, g):
        """(S′) s_g − Σ_{j∈g} c_j y_j = 0"""
        js = groups[g]
        return (0.0, linear([1.0] + (-cost[js]).tolist(), [m.group_spend[g]] + [y[j] for j in js]), 0.0)

    @m.Constraint()
    def spend_within_budget(m):
        """(S) Σ_g s_g ≤ B"""
        return (None, linear([1.0] * len(groups), [m.group_spend[g] for g in range(len(groups))]), float(limits.spend))


def _add_count_limits(m, y: list, sites: SiteArrays, limits: Limits) -> None:
    if limits.count is None or not np.isfinite(limits.count).any():
        return
    blocks = np.flatnonzero(np.isfinite(limits.count)).tolist()
    m.LIMITED_BLOCKS = pyo.Set(initialize=blocks)

    @m.Constraint(m.LIMITED_BLOCKS)
    def sites_within_count(m, b):
        """(P) Σ_{j∈J_b} k_j y_j ≤ p_b (= p_b for p-median and p-center)"""
        idx = np.flatnonzero((sites.block == b) & (sites.count != 0)).tolist()
        expr = linear(sites.count[idx].tolist(), [y[j] for j in idx])
        room = float(limits.count[b])
        return (room if limits.count_exact else None, expr, room)


def level_sites(levels: Levels, pair_site: np.ndarray) -> tuple[list, list, list]:
    return pair_site.tolist(), levels.start.tolist(), levels.end.tolist()


def values(variables) -> np.ndarray:
    """The values of an indexed variable of a solved model, in index order (0 where unset)."""
    return np.array([0.0 if v.value is None else float(v.value) for v in variables.values()])
