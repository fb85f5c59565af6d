"""The search behind the grid model's `maxmin` objective: the highest common coverage level ρ
whose least-cost staffing fits the budget.

Each step fixes ρ (row (5) of `allocator.models.grid`), asks HiGHS for the least cost of
covering ρ of every town's work, and records the verdict: reached (a plan within budget raises
ρ_lo), out of reach (HiGHS's cost bound exceeds the budget, or no plan: ρ_hi falls), or
undecided (the budget lies within the step's MIP gap). The next level aims just below where
the least-cost curve, convex in ρ, is estimated to meet the budget; the search stops when
(ρ_hi − ρ_lo)/ρ_lo is within the tolerance. `LevelSearch` holds that state and those rules;
`allocator.solving.grid` runs the solves.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from allocator.models.grid_plan import GridStaffing
from allocator.solving.solve import SolveResult

LEVEL_RESOLUTION = 1e-6      # levels closer than this are not told apart (HiGHS's integrality tolerance)


@dataclass
class LevelSearch:
    """State of the level search: `best` reaches ρ_lo within budget; ρ_hi is proven out of reach."""

    best: GridStaffing
    budget: float
    tolerance: float
    hi: float = 1.0
    costs: list = field(default_factory=list)   # (level, estimate of its least cost) from each step
    verdicts: list = field(default_factory=list)

    @property
    def lo(self) -> float:
        return self.best.min_ratio

    @property
    def gap(self) -> float | None:
        if self.hi <= self.lo:
            return 0.0
        return (self.hi - self.lo) / self.lo if self.lo > 0 else None

    def converged(self) -> bool:
        """Within the tolerance, or closer than the solver's feasibility tolerance can tell apart."""
        return self.gap is not None and (self.gap <= self.tolerance or self.hi - self.lo <= LEVEL_RESOLUTION)

    def _known(self) -> list[tuple[float, float]]:
        """(level, least-cost estimate) of the best plan and of the steps above it, costs made monotone."""
        known = sorted([(self.lo, self.best.cost)] + [c for c in self.costs if c[0] > self.lo])
        costs = np.maximum.accumulate([c for _, c in known])
        return [(level, float(c)) for (level, _), c in zip(known, costs)]

    def least_cost(self, level: float) -> float:
        known = self._known()
        if len(known) < 2:
            return math.nan
        return float(np.interp(level, [k[0] for k in known], [k[1] for k in known], right=math.nan))

    def optimum_estimate(self) -> float:
        """Where the least cost meets the budget: a parabola through the last two points below the
        budget and the first above it (the cost curve is convex), else the straight line between."""
        known = self._known()
        within = self.budget * (1 + 1e-9)               # as a probe is judged: a budget a rounding below a cost holds it
        below = [k for k in known if k[1] <= within]
        above = [k for k in known if k[1] > within]
        if not above or not below:
            return (self.lo + self.hi) / 2
        (l1, c1), (l2, c2) = below[-1], above[0]
        estimate = l1 + (self.budget - c1) / (c2 - c1) * (l2 - l1)
        if len(below) >= 2:
            curve = np.polyfit([below[-2][0], l1, l2], [below[-2][1], c1, c2], 2)
            roots = [r.real for r in np.roots(curve - np.array([0.0, 0.0, self.budget])) if abs(r.imag) < 1e-12]
            inside = [r for r in roots if l1 < r < l2]
            if curve[0] > 0 and inside:
                estimate = min(inside)
        return estimate

    def next_level(self) -> float:
        """Aim just below the estimated optimum to raise ρ_lo, or just above ρ_lo to prove ρ_hi."""
        lo, hi, tol = self.lo, self.hi, self.tolerance
        if len(self.verdicts) >= 4 and len(set(self.verdicts[-4:])) == 1:
            return (lo + hi) / 2            # the estimates keep missing on one side: halve instead
        estimate = self.optimum_estimate()
        back = 0.5 if self.verdicts[-1] == "undecided" else 0.1     # undecided: the budget is within HiGHS's gap
        level = estimate * (1 - back * tol) if lo < estimate * (1 - 0.5 * tol) else lo * (1 + 0.8 * tol)
        return min(max(level, lo + 0.01 * (hi - lo)), hi - 0.01 * (hi - lo))

    def probe_gap(self, level: float) -> float:
        """A MIP gap that lets HiGHS stop once the step's least cost is told from the budget: half the
        estimated margin (2 % while nothing is known), at least min(0.2 %, tolerance / 4): a smaller
        gap gains little, as HiGHS's lower bound comes almost wholly from its root relaxation."""
        estimate = self.least_cost(level)
        margin = abs(estimate - self.budget) / self.budget if math.isfinite(estimate) else 1.0
        return float(np.clip(0.5 * margin, min(0.002, 0.25 * self.tolerance), 0.02))

    def record(self, level: float, r: SolveResult, read_plan) -> str:
        """Reached (a plan within budget), out of reach (cost bound above budget, or no plan), or undecided."""
        within = self.budget * (1 + 1e-9)
        if r.bound is not None and r.objective is not None:
            self.costs.append((level, (r.bound + r.objective) / 2))
        if r.has_solution and r.objective is not None and r.objective <= within:
            plan = read_plan()
            if plan.cost <= within and plan.min_ratio > self.lo:
                self.best = plan
            verdict = "reached"
        elif r.status == "infeasible" or (r.bound is not None and r.bound > within):
            self.hi = min(self.hi, level)
            verdict = "out of reach"
        else:
            verdict = "undecided"
        self.verdicts.append(verdict)
        return verdict
