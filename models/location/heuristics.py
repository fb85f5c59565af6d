"""Quick heuristics that give the location families their first plans (HiGHS starts, and the
plans a relaxation's bound may prove within the gap), on the pairs of `models.location.common`:

    greedy_cover          coverage gained per unit cost (maximal covering), lazy: a site's gain is
                          recomputed only when it reaches the top of the heap
    nearest_open          each node's first open site in its sorted pairs
    greedy_median         p-median greedy add: the site saving most, p times
    greedy_median_joint   the same over several blocks (services) sharing one spend room, by
                          saving per cost
    greedy_center         p-center farthest-first over several blocks sharing one spend room
"""
from __future__ import annotations

import heapq

import numpy as np

from .common import Pairs


def greedy_cover(p: Pairs, weight: np.ndarray, floor: np.ndarray, bonus: np.ndarray, cost: np.ndarray,
                 count: np.ndarray, block: np.ndarray, spend_room: float, count_room: np.ndarray) -> np.ndarray:
    """Greedy by coverage gained per unit cost (by gain alone when spend is unlimited).

    Rows × sites `p` with row weights and floors, per-site bonus, cost, count weight and
    block; `count_room` per block. Returns the sites chosen (bool).
    """
    ns = p.n_sites
    chosen = np.zeros(ns, dtype=bool)
    if ns == 0:
        return chosen
    col_order = np.argsort(p.site, kind="stable")
    col_ptr = np.concatenate(([0], np.cumsum(np.bincount(p.site, minlength=ns)))).tolist()
    rows = p.rows()
    col_row, col_val = rows[col_order], p.value[col_order]
    current = floor.copy()
    price = np.maximum(cost, 1e-9) if np.isfinite(spend_room) else np.ones(ns)
    gains = bonus + np.bincount(p.site, weights=weight[rows] * (p.value - current[rows]), minlength=ns)
    gaining = np.flatnonzero(gains > 0)
    heap = list(zip((-gains[gaining] / price[gaining]).tolist(), gaining.tolist()))
    heapq.heapify(heap)
    # the loop reads scalars: Python lists read them several times faster than numpy arrays
    cost_, count_, block_, price_, bonus_ = cost.tolist(), count.tolist(), block.tolist(), price.tolist(), bonus.tolist()
    room = [float(r) for r in count_room]
    spend, used = 0.0, [0.0] * len(room)
    while heap:
        _, j = heapq.heappop(heap)
        b = block_[j]
        if cost_[j] > spend_room - spend + 1e-9 or count_[j] > room[b] - used[b] + 1e-9:
            continue
        s, e = col_ptr[j], col_ptr[j + 1]
        r = col_row[s:e]
        g = bonus_[j] + (float(weight[r] @ np.maximum(0.0, col_val[s:e] - current[r])) if e > s else 0.0)
        if g <= 1e-12:
            continue
        if heap and g / price_[j] < -heap[0][0] - 1e-12:
            heapq.heappush(heap, (-g / price_[j], j))
            continue
        chosen[j] = True
        spend += cost_[j]
        used[b] += count_[j]
        if e > s:
            current[r] = np.maximum(current[r], col_val[s:e])
    return chosen


def nearest_open(pairs: Pairs, is_open: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per node: the first open site in its sorted pairs and that pair's value (-1, inf if none)."""
    n = pairs.n_nodes
    hit = is_open[pairs.site]
    rows = pairs.rows()
    first = np.full(n, len(rows))
    idx = np.flatnonzero(hit)
    np.minimum.at(first, rows[idx], idx)
    found = first < len(rows)
    site = np.full(n, -1)
    value = np.full(n, np.inf)
    site[found] = pairs.site[first[found]]
    value[found] = pairs.value[first[found]]
    return site, value


def greedy_median(pairs: Pairs, weights: np.ndarray, required: np.ndarray, n_new: float,
                  cost: np.ndarray | None = None, spend_room: float = np.inf) -> np.ndarray:
    """Greedy add for p-median: from the required sites, add the site saving most, `n_new` times
    (or while savings remain), skipping sites the spend room cannot pay for."""
    m = pairs.n_sites
    is_open = required.copy()
    cost = np.zeros(m) if cost is None else cost
    rows, current, col_order, col_ptr = _greedy_state(pairs, is_open)
    wr = weights[rows]
    added = 0
    while added < min(n_new, m):
        saving = np.bincount(pairs.site, weights=wr * np.maximum(0.0, current[rows] - pairs.value), minlength=m)
        saving[is_open | (cost > spend_room + 1e-9)] = -1.0
        j = int(np.argmax(saving))
        if saving[j] <= 0:
            break
        is_open[j] = True
        spend_room -= cost[j]
        added += 1
        sel = col_order[col_ptr[j]:col_ptr[j + 1]]
        current[rows[sel]] = np.minimum(current[rows[sel]], pairs.value[sel])
    return is_open


def _greedy_state(pairs: Pairs, is_open: np.ndarray):
    """What the greedy adds start from: each pair's node, each node's distance to its nearest open
    site (a distance beyond every pair where none is open), and the pairs by site (`order`, with
    `ptr` the start of each site's run)."""
    big = 2.0 * (float(pairs.value.max()) if len(pairs.value) else 1.0) + 1.0
    _, current = nearest_open(pairs, is_open)
    order, ptr = _site_columns(pairs)
    return pairs.rows(), np.where(np.isfinite(current), current, big), order, ptr


def _site_columns(pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
    """The pair positions grouped by site: site j's pairs are order[ptr[j]:ptr[j + 1]]."""
    order = np.argsort(pairs.site, kind="stable")
    return order, np.concatenate(([0], np.cumsum(np.bincount(pairs.site, minlength=pairs.n_sites))))


def greedy_median_joint(blocks: list[tuple[Pairs, np.ndarray, np.ndarray, np.ndarray, float]],
                        spend_room: float) -> list[np.ndarray]:
    """Greedy add for p-median blocks that share one spend row: blocks (pairs, weights, required,
    cost, n_new); each step opens, across all blocks, the affordable site of the highest saving per
    unit of spend (a free site first), until no site saves or fits. Savings only fall as sites
    open (a node's distance only shrinks), so a site whose recomputed ratio still tops the queue
    is the best one (lazy evaluation, each site's saving recomputed from its own pairs)."""
    state = []
    heap: list[tuple[float, int, int]] = []
    for b, (pairs, weights, required, cost, n_new) in enumerate(blocks):
        rows, current, order, ptr = _greedy_state(pairs, required)
        saving = np.bincount(pairs.site, weights=weights[rows] * np.maximum(0.0, current[rows] - pairs.value),
                             minlength=pairs.n_sites)
        state.append([required.copy(), current, order, ptr, rows, 0])
        for j in np.flatnonzero((saving > 0) & ~required & (cost <= spend_room + 1e-9)):
            heap.append((-_ratio(saving[j], cost[j]), b, int(j)))
    heapq.heapify(heap)
    while heap:
        _, b, j = heapq.heappop(heap)
        pairs, weights, _, cost, n_new = blocks[b]
        is_open, current, order, ptr, rows, added = state[b]
        if is_open[j] or added >= n_new or cost[j] > spend_room + 1e-9:
            continue
        sel = order[ptr[j]:ptr[j + 1]]
        saving = float(weights[rows[sel]] @ np.maximum(0.0, current[rows[sel]] - pairs.value[sel]))
        if saving <= 0:
            continue
        ratio = _ratio(saving, cost[j])
        if heap and ratio < -heap[0][0] - 1e-12 * max(1.0, abs(ratio)):
            heapq.heappush(heap, (-ratio, b, j))
            continue
        is_open[j] = True
        spend_room -= float(cost[j])
        state[b][5] = added + 1
        current[rows[sel]] = np.minimum(current[rows[sel]], pairs.value[sel])
    return [st[0] for st in state]


def _ratio(saving: float, cost: float) -> float:
    """Saving per unit of spend; a free site ranks by its saving above every paid one."""
    return float(saving) / float(cost) if cost > 1e-12 else 1e30 + float(saving)


def greedy_center(blocks: list[tuple[Pairs, np.ndarray, np.ndarray, np.ndarray, float]],
                  spend_room: float = np.inf) -> list[np.ndarray]:
    """Farthest-first for p-center blocks that share one spend row: blocks (pairs, weights,
    required, cost, n_new). Each step takes the block whose worst-served node (weight > 0) is
    farthest and opens the free site nearest to that node that the spend left and the block's
    `n_new` allow; a block whose worst node can get no such site stops. Without a spend limit each
    block is the classical farthest-first plan."""
    state = []
    for pairs, weights, required, _, _ in blocks:
        _, current = nearest_open(pairs, required)
        order, ptr = _site_columns(pairs)
        state.append([required.copy(), np.where(weights > 0, current, 0.0), order, ptr, 0, True])
    while True:
        live = [(float(st[1].max()) if len(st[1]) else 0.0, b) for b, st in enumerate(state) if st[5]]
        live = [(r, b) for r, b in live if r > 0]
        if not live:
            break
        _, b = max(live)
        pairs, _, _, cost, n_new = blocks[b]
        is_open, current, order, ptr, added, _ = state[b]
        worst = int(np.argmax(current))
        row = pairs.site[pairs.indptr[worst]:pairs.indptr[worst + 1]]
        free = row[~is_open[row] & (cost[row] <= spend_room + 1e-9)] if added < n_new else row[:0]
        if not len(free):
            state[b][5] = False
            continue
        j = int(free[0])
        is_open[j] = True
        spend_room -= float(cost[j])
        state[b][4] = added + 1
        sel = order[ptr[j]:ptr[j + 1]]
        rows = _rows_of(pairs, sel)
        current[rows] = np.minimum(current[rows], pairs.value[sel])
    return [st[0] for st in state]


def _rows_of(pairs: Pairs, positions: np.ndarray) -> np.ndarray:
    """The node of each pair position."""
    return np.searchsorted(pairs.indptr, positions, side="right") - 1
