"""What it takes to give every town the coverage ratio z: the exact reductions behind the
enforcement model's bounds and its `maxmin` bisection (pure numpy, no solver).

For a level z let n_t = z·D_t, a_t = max(s_min, ⌊n_t⌋) and b_t = max(s_min, ⌈n_t⌉) (b_t only
where today's posting already exceeds a_t; elsewhere rounding up costs a move for nothing).
The towns of a district choose between a_t and b_t and its pool is ⌈Σ fractions left⌉;
`_district_choices` lists each district's undominated (moves, officers), `_officer_curve`
combines them by a min-plus recursion into the fewest officers for each number of moves,
and `best_level` bisects on z for the highest level within the officers allowed (the
headcount, or fewer when the budget pays for fewer) and the move limit. `models.enforcement`
states the model, why these reductions are exact and the bounds on s_t they give
(`posting_range`). The functions here take those limits as plain numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from allocator.errors import InputError, Problem
from allocator.data.instance import Instance

LEVEL_TOLERANCE = 1e-12           # relative width of the final bisection bracket on z
EPS = 1e-9


def demand_officers(city: Instance) -> pd.Series:
    """D_t: officers the staffing standard asks for, on the city's current population basis."""
    norms, towns = city.config.norms, city.towns
    demand = (float(norms["enforcement_per_10k"]) * city.town_population() / 10_000
              + float(norms["enforcement_per_km2"]) * towns["area_km2"]
              + float(norms["enforcement_per_1000_cases"]) * towns["cases_per_year"] / 1_000)
    zero = demand.index[~(demand > 0)]
    if len(zero):
        raise InputError(Problem("towns.csv", f"the enforcement standard asks for no officers in {len(zero)} towns "
                                 f"(e.g. {', '.join(map(str, zero[:3]))}), so a coverage ratio is undefined; check the norms and the population",
                                 column="town_id"))
    return demand.astype(float).rename("demand_officers")


@dataclass(frozen=True)
class EnforcementData:
    """The city's enforcement figures the level analysis reads, as arrays in town order."""

    demand: np.ndarray
    today: np.ndarray
    district: np.ndarray          # district number 0..n_districts-1 of each town
    n_districts: int
    min_team: int

    @classmethod
    def of(cls, city: Instance, min_team: int) -> "EnforcementData":
        codes = pd.Categorical(city.towns["district_id"].astype(str), categories=[str(d) for d in city.districts.index]).codes
        return cls(demand_officers(city).to_numpy(float), city.towns["enforcement_now"].to_numpy(float),
                   np.asarray(codes, dtype=np.int64), len(city.districts), min_team)


def postings_at(level: float, st: EnforcementData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a_t, b_t, fraction left to the pool when posting a_t) for ratio `level` everywhere."""
    need = level * st.demand
    low = np.maximum(st.min_team, np.floor(need + EPS))
    frac = np.where(need > low + EPS, need - low, 0.0)
    high = np.where((frac > 0) & (st.today >= low + 1), low + 1, low)
    return low, high, frac


def _district_choices(level: float, st: EnforcementData) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per district, its undominated (moves, officers) at `level`: posting one more officer in the
    j surplus towns with the largest fractions leaves a pool of ⌈Σ fractions − their sum⌉.
    All districts at once: row d of `kept` holds 0 and the running sums of d's surplus fractions."""
    low, high, frac = postings_at(level, st)
    n = st.n_districts
    officers = np.bincount(st.district, low, n)
    moves = np.bincount(st.district, np.maximum(low - st.today, 0), n)
    fractions = np.bincount(st.district, frac, n)
    spare = high > low
    order = np.lexsort((-frac[spare], st.district[spare]))
    spare_district, spare_frac = st.district[spare][order], frac[spare][order]
    counts = np.bincount(spare_district, minlength=n)
    slot = np.arange(len(spare_district)) - (np.cumsum(counts) - counts)[spare_district]
    table = np.zeros((n, int(counts.max(initial=0)) + 1))
    table[spare_district, slot + 1] = spare_frac
    kept = np.cumsum(table, axis=1)
    pool = np.maximum(np.ceil(fractions[:, None] - kept - EPS), 0.0)
    first = np.ones(pool.shape, dtype=bool)
    first[:, 1:] = pool[:, 1:] < pool[:, :-1]
    first &= np.arange(pool.shape[1])[None, :] <= counts[:, None]
    choices = []
    for d in range(n):
        j = np.flatnonzero(first[d])
        chosen = pool[d, j]
        choices.append((moves[d] + chosen, officers[d] + j + chosen))
    return choices


def _officer_curve(choices, moves_allowed: int | None) -> tuple[int, np.ndarray]:
    """(fewest moves F, c) with c[e] = fewest officers using at most F + e moves (min-plus over districts)."""
    fewest = int(sum(m[-1] for m, _ in choices))
    span = int(sum(m[0] - m[-1] for m, _ in choices))
    cap = span if moves_allowed is None else max(-1, min(span, moves_allowed - fewest))
    curve = np.zeros(cap + 1)
    for moves, officers in choices:
        extra = (moves - moves[-1]).astype(int)
        step = np.full(cap + 1, np.inf)
        for k, h in zip(extra, officers):
            if k <= cap:
                step[k:] = np.minimum(step[k:], curve[:cap + 1 - k] + h)
        curve = step
    return fewest, curve


def level_fits(level: float, st: EnforcementData, max_officers: int, max_moves: int | None) -> bool:
    """Whether every town can have ratio `level` with at most `max_officers` officers and `max_moves` moves."""
    _, curve = _officer_curve(_district_choices(level, st), max_moves)
    return curve.size > 0 and curve[-1] <= max_officers + EPS


def fewest_moves_at(level: float, st: EnforcementData, max_officers: int) -> int | None:
    """Fewest moves giving every town ratio `level` with at most `max_officers` officers (None: impossible)."""
    fewest, curve = _officer_curve(_district_choices(level, st), None)
    ok = np.flatnonzero(curve <= max_officers + EPS)
    return fewest + int(ok[0]) if ok.size else None


def best_level(st: EnforcementData, max_officers: int, max_moves: int | None) -> tuple[float, float] | None:
    """Bracket [z_lo, z_hi] of the best common ratio: z_lo reachable, z_hi not (None: not even teams)."""
    if not level_fits(0.0, st, max_officers, max_moves):
        return None
    low, high = 0.0, 1.0
    while level_fits(high, st, max_officers, max_moves):
        low, high = high, 2 * high
    while high - low > LEVEL_TOLERANCE * high:
        mid = 0.5 * (low + high)
        low, high = (mid, high) if level_fits(mid, st, max_officers, max_moves) else (low, mid)
    return low, high

