"""Equity measures of group levels, in numpy (DESIGN §5).

Groups g = 1..n have levels x_g ≥ 0 (coverage ratios, coverage rates) and optional
population weights w_g ≥ 0 (W = Σ_g w_g, μ = Σ_g w_g x_g / W the weighted mean). Without
weights every w_g = 1. A weighted measure equals the unweighted one on data where group g
is repeated w_g times (integer weights).

    gini(x, w)         G  = Σ_g Σ_h w_g w_h |x_g − x_h| / (2 W² μ)
    theil(x, w)        T  = (1/W) Σ_g w_g (x_g/μ) ln(x_g/μ)            (0·ln 0 = 0)
    theil_decomposition T = Σ_k (W_k/W)(μ_k/μ) ln(μ_k/μ)                 between
                          + Σ_k (W_k μ_k / (W μ)) T_k                    within
    atkinson(x, ε, w)  A  = 1 − M_{1−ε}(x) / μ, M_p the weighted power mean
                              (p = 0: the geometric mean)
    cv(x, w)           σ/μ, σ² = (1/W) Σ_g w_g (x_g − μ)²
    jain(x)            (Σ_g x_g)² / (n Σ_g x_g²)                       (unweighted)
    min_max_ratio(x)   min_g x_g / max_g x_g                           (unweighted)
    palma(x, w)        (1 − L(0.9)) / L(0.4), L the Lorenz curve of the amounts w_g x_g
                       over population shares (linear within a group: all its members
                       share one level)
    mad(x, w)          (1/W) Σ_g w_g |x_g − μ|                          (in units of x)
    value_range(x)     max_g x_g − min_g x_g
    hoover(r, p)       H  = ½ Σ_g |r_g/R − p_g/P|, R = Σ r_g, P = Σ p_g
    owa(x, v)          Σ_k v_k x_(k), x_(1) ≤ … ≤ x_(n): v_1 weighs the worst-off group
    utilitarian(x, w)  Σ_g w_g x_g
    alpha_fair(x, α, w) Σ_g w_g φ(x_g), φ(x) = x^{1−α}/(1−α) (`alpha_utility`); α = 1: ln x
    tangent_points, tangent_error: the tangents of φ that models.equity's `alpha` cuts with,
                       and their exact worst gap max_{x∈[lo,hi]} min_k T_k(x) − φ(x)

Levels that are all equal (all zero included) are perfectly equal: gini, theil,
atkinson, cv, mad and range are 0, jain and min_max are 1, palma is 0.1/0.4 = 0.25.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.special import logsumexp

EQUITY_KEYS = ("mean", "min", "max", "gini", "theil", "atkinson_0.5", "cv", "jain", "min_max", "palma", "mad", "range")


# --- inputs ----------------------------------------------------------------------------

def _levels(x, nonnegative: bool = True) -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    if a.size == 0:
        raise ValueError("no levels given")
    if not np.all(np.isfinite(a)):
        raise ValueError("levels must be finite numbers")
    if nonnegative and np.any(a < 0):
        raise ValueError("levels must be ≥ 0 for this measure")
    return a


def _weights(w, n: int) -> np.ndarray:
    if w is None:
        return np.ones(n)
    a = np.asarray(w, dtype=float).ravel()
    if a.size != n:
        raise ValueError(f"{a.size} weights for {n} levels")
    if not np.all(np.isfinite(a)) or np.any(a < 0) or a.sum() <= 0:
        raise ValueError("weights must be finite, ≥ 0 and not all zero")
    return a


def _inputs(x, w, nonnegative: bool = True) -> tuple[np.ndarray, np.ndarray]:
    a = _levels(x, nonnegative)
    return a, _weights(w, a.size)


def _mean(a: np.ndarray, w: np.ndarray) -> float:
    return float(w @ a / w.sum())


def _all_equal(a: np.ndarray, w: np.ndarray | None = None) -> bool:
    held = a if w is None else a[w > 0]
    return bool(held.size == 0 or np.ptp(held) == 0)


# --- measures ------------------------------------------------------------------------------

def gini(x, w=None) -> float:
    """Population-weighted Gini index (0 = equal; (n−1)/n when one of n groups holds all)."""
    a, w = _inputs(x, w)
    if _all_equal(a, w):
        return 0.0
    order = np.argsort(a, kind="stable")
    a, w = a[order], w[order]
    before = np.cumsum(w) - w                 # weight of groups with a lower (or tied, earlier) level
    after = w.sum() - before - w
    pair_sum = 2.0 * float(np.sum(w * a * (before - after)))     # Σ_g Σ_h w_g w_h |x_g − x_h|
    return pair_sum / (2.0 * w.sum() ** 2 * _mean(a, w))


def theil(x, w=None) -> float:
    """Theil T index (0 = equal; ln n when one of n groups holds all)."""
    a, w = _inputs(x, w)
    if _all_equal(a, w):
        return 0.0
    a = a / a.max() if a.max() > 0 else a   # scale-free: keeps tiny levels from overflowing a / mean
    s = a / _mean(a, w)
    terms = np.where(s > 0, s * np.log(np.where(s > 0, s, 1.0)), 0.0)
    return float(w @ terms / w.sum())


def theil_decomposition(x, groups, w=None) -> tuple[float, float]:
    """(between, within) with between + within = theil(x, w): the inequality between the
    means of `groups` (one label per level) and the weighted inequality inside them."""
    a, w = _inputs(x, w)
    labels = np.asarray(groups).ravel()
    if labels.size != a.size:
        raise ValueError(f"{labels.size} group labels for {a.size} levels")
    if _all_equal(a, w):
        return 0.0, 0.0
    a = a / a.max() if a.max() > 0 else a   # scale-free, as in theil()
    mu, total = _mean(a, w), w.sum()
    between = within = 0.0
    for label in pd.unique(labels):
        sel = labels == label
        wk = w[sel].sum()
        if wk <= 0:
            continue
        mk = _mean(a[sel], w[sel])
        if mk > 0:
            between += wk / total * (mk / mu) * math.log(mk / mu)
            within += wk * mk / (total * mu) * theil(a[sel], w[sel])
    return between, within


def atkinson(x, epsilon: float, w=None) -> float:
    """Atkinson index with inequality aversion ε ≥ 0 (ε = 0: 0; a zero level and ε ≥ 1: 1)."""
    if epsilon < 0:
        raise ValueError("the Atkinson aversion ε must be ≥ 0")
    a, w = _inputs(x, w)
    if _all_equal(a, w) or epsilon == 0:
        return 0.0
    held = w > 0
    a, w = a[held], w[held]
    mu = _mean(a, w)
    if epsilon >= 1 and np.any(a == 0):
        return 1.0
    if epsilon == 1:
        equivalent = math.exp(float(w @ np.log(a) / w.sum()))
    else:
        p = 1.0 - epsilon          # the power mean through log-sum-exp: a**p overflows for tiny a when ε > 1
        with np.errstate(divide="ignore"):
            log_mean = float(logsumexp(p * np.log(a), b=w)) - math.log(float(w.sum()))
        equivalent = math.exp(log_mean / p)
    return 1.0 - equivalent / mu


def cv(x, w=None) -> float:
    """Coefficient of variation σ/μ (population σ, weighted)."""
    a, w = _inputs(x, w)
    if _all_equal(a, w):
        return 0.0
    mu = _mean(a, w)
    return math.sqrt(float(w @ (a - mu) ** 2 / w.sum())) / mu


def jain(x) -> float:
    """Jain's fairness index (Σx)²/(n Σx²): 1 when equal, 1/n when one group holds all."""
    a = _levels(x)
    if _all_equal(a):
        return 1.0
    a = a / a.max()                    # scale-free: squares of tiny levels would underflow to 0
    return float(a.sum() ** 2 / (a.size * (a ** 2).sum()))


def min_max_ratio(x) -> float:
    """Lowest level over highest level (1 when equal)."""
    a = _levels(x)
    if _all_equal(a):
        return 1.0
    return float(a.min() / a.max())


def palma(x, w=None) -> float:
    """Share of the total held by the best-off 10% of the population over that of the worst-off 40%
    (inf when the worst-off 40% hold nothing)."""
    a, w = _inputs(x, w)
    if _all_equal(a, w):
        return 0.1 / 0.4
    bottom, top = lorenz(a, w, 0.4), 1.0 - lorenz(a, w, 0.9)
    return math.inf if bottom <= 0 else top / bottom


def lorenz(x, w=None, p: float = 0.5) -> float:
    """L(p): the share of the total amount Σ w_g x_g held by the worst-off share p of the population."""
    a, w = _inputs(x, w)
    order = np.argsort(a, kind="stable")
    a, w = a[order], w[order]
    population = np.concatenate([[0.0], np.cumsum(w) / w.sum()])
    amount = np.concatenate([[0.0], np.cumsum(w * a)])
    if amount[-1] <= 0:
        return p
    return float(np.interp(p, population, amount / amount[-1]))


def mad(x, w=None) -> float:
    """Weighted mean absolute deviation from the weighted mean, in the units of x."""
    a, w = _inputs(x, w, nonnegative=False)
    return float(w @ np.abs(a - _mean(a, w)) / w.sum())


def value_range(x) -> float:
    """Highest minus lowest level."""
    a = _levels(x, nonnegative=False)
    return float(a.max() - a.min())


def hoover(resources, population) -> float:
    """Hoover index ½ Σ |r_g/R − p_g/P|: the share of resources to move for them to follow population."""
    r = _levels(resources)
    p = _weights(population, r.size)
    if r.sum() <= 0:
        raise ValueError("the Hoover index needs some resources (Σ r_g > 0)")
    return 0.5 * float(np.abs(r / r.sum() - p / p.sum()).sum())


def owa(x, weights: Sequence[float]) -> float:
    """Ordered weighted average Σ_k v_k x_(k) with x sorted ascending (v_1 for the worst-off)."""
    a = _levels(x, nonnegative=False)
    v = np.asarray(weights, dtype=float).ravel()
    if v.size != a.size:
        raise ValueError(f"{v.size} OWA weights for {a.size} levels")
    return float(v @ np.sort(a))


def gini_welfare_weights(n: int) -> np.ndarray:
    """OWA weights v_k = (2(n − k) + 1)/n², k = 1..n: owa(x, v) = mean(x)·(1 − gini(x)) (Sen's welfare)."""
    k = np.arange(1, n + 1)
    return (2.0 * (n - k) + 1.0) / n ** 2


def utilitarian(x, w=None) -> float:
    """Weighted total Σ_g w_g x_g."""
    a, w = _inputs(x, w, nonnegative=False)
    return float(w @ a)


def alpha_fair(x, alpha: float, w=None) -> float:
    """α-fair welfare Σ_g w_g x_g^{1−α}/(1−α) (α = 1: Σ_g w_g ln x_g); −inf at a zero level when α ≥ 1."""
    if alpha < 0:
        raise ValueError("α must be ≥ 0")
    a, w = _inputs(x, w)
    if alpha >= 1 and np.any(a[w > 0] == 0):
        return -math.inf
    with np.errstate(divide="ignore"):
        u = alpha_utility(a, alpha)
    return float(np.sum(np.where(w > 0, w * u, 0.0)))


def alpha_utility(x, alpha: float) -> np.ndarray:
    """φ(x) = x^{1−α}/(1−α); ln x at α = 1."""
    x = np.asarray(x, dtype=float)
    return np.log(x) if alpha == 1 else x ** (1.0 - alpha) / (1.0 - alpha)


def tangent_points(lo: float, hi: float, alpha: float, pieces: int) -> np.ndarray:
    """pieces + 1 points from lo to hi (from hi·pieces^−p when lo = 0, where φ' is infinite): of
    even, geometric and even-in-∫√|φ''| spacings, the one with the least `tangent_error`."""
    if pieces < 1:
        raise ValueError("pieces must be ≥ 1")
    starts = [lo] if lo > 0 else [hi * pieces ** -p for p in (1.0, 1.5, 2.0, 3.0, 4.0, 6.0)]
    grids = []
    for a in starts:
        grids += [np.linspace(a, hi, pieces + 1), np.geomspace(a, hi, pieces + 1)]
        if alpha != 1:          # √|φ''| ∝ x^{−β}: points even in x^{1−β}
            e = (1.0 - alpha) / 2.0
            grids.append(np.linspace(a ** e, hi ** e, pieces + 1) ** (1.0 / e))
    return min(grids, key=lambda z: tangent_error(z, lo, hi, alpha))


def tangent_error(grid: np.ndarray, lo: float, hi: float, alpha: float) -> float:
    """max over [lo, hi] of min_k T_k(x) − φ(x): at lo, hi and where neighbouring tangents cross."""
    phi, slope = alpha_utility(grid, alpha), grid ** -alpha
    cross = (phi[1:] - slope[1:] * grid[1:] - phi[:-1] + slope[:-1] * grid[:-1]) / (slope[:-1] - slope[1:])
    points = np.concatenate([[lo, hi], cross[(cross > lo) & (cross < hi)]])
    tangents = phi[None, :] + slope[None, :] * (points[:, None] - grid[None, :])
    with np.errstate(divide="ignore"):
        exact = alpha_utility(points, alpha) if lo > 0 else np.where(points > 0, alpha_utility(np.maximum(points, 1e-300), alpha), 0.0)
    return float(np.max(tangents.min(axis=1) - exact))


# --- tables --------------------------------------------------------------------------------

def equity_table(levels: pd.Series, weights: pd.Series | None = None,
                 resources: pd.Series | None = None) -> dict[str, float]:
    """The measures of `levels` (groups without a level, NaN, are left out), weighted by
    `weights` (aligned on the index) where the measure takes weights; `hoover` of
    `resources` against `weights` (or equal populations) when resources are given."""
    x = pd.Series(levels, dtype=float)
    keep = x.notna()
    w = None if weights is None else pd.Series(weights, dtype=float).reindex(x.index)
    if w is not None:
        if w[keep].isna().any():
            raise ValueError("weights lack some groups that have a level: " + ", ".join(map(str, w[keep & w.isna()].index[:5])))
    a = x[keep].to_numpy()
    wa = None if w is None else w[keep].to_numpy()
    table = {
        "mean": _mean(_levels(a, False), _weights(wa, a.size)), "min": float(a.min()), "max": float(a.max()),
        "gini": gini(a, wa), "theil": theil(a, wa), "atkinson_0.5": atkinson(a, 0.5, wa), "cv": cv(a, wa),
        "jain": jain(a), "min_max": min_max_ratio(a), "palma": palma(a, wa), "mad": mad(a, wa), "range": value_range(a),
    }
    if resources is not None:
        r = pd.Series(resources, dtype=float).reindex(x.index).fillna(0.0)
        table["hoover"] = hoover(r.to_numpy(), None if w is None else w.fillna(0.0).to_numpy())
    return table
