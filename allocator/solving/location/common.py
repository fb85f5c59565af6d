"""What every location procedure shares: the clock of a run, its outcome and the gap.

Every HiGHS call goes through `allocator.solving.solve.solve` (`Clock.run`). Blocks share only
the spend row and have their own count rows; a procedure returns an `Outcome` with the open
sites per block.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from allocator.solving.solve import Persistent, SolveOptions, SolveResult, solve

DEFAULT_GAP = 1e-4


@dataclass
class Clock:
    """Seconds spent building, handing over, in HiGHS and extracting."""

    limit: float | None = None
    start: float = field(default_factory=time.perf_counter)
    deadline: float | None = None         # the command's (time.time()), when it has one
    build_s: float = 0.0
    handover_s: float = 0.0
    solve_s: float = 0.0
    extract_s: float = 0.0
    version: str = ""
    info: dict = field(default_factory=dict)

    def run(self, model, options: SolveOptions, start: dict | None = None, highs_options: dict | None = None,
            persistent: Persistent | None = None, relax: bool = False, stage: str | None = None) -> SolveResult:
        remaining = self.remaining()
        result = solve(model, replace(options, time_limit=remaining, stage=stage or options.stage), start, persistent=persistent,
                       highs_options=highs_options, relax=relax)
        self.handover_s += result.handover_s
        self.solve_s += result.solve_s
        self.version = result.solver_version
        for k, v in result.highs_info.items():
            self.info[k] = self.info.get(k, 0) + v
        return result

    def remaining(self) -> float | None:
        left = self._left()
        return None if left is None else max(0.5, left)     # a solve past the deadline returns at once (solve.py)

    def time_to_build(self, units: float, seconds_per_unit: float) -> bool:
        """Whether the time left (if limited) covers building a model of `units` (arcs, levels) at
        `seconds_per_unit`: a model that could not be built in time would only overrun the limit."""
        left = self.remaining()
        return left is None or left >= seconds_per_unit * units

    def out_of_time(self) -> bool:
        left = self._left()
        return left is not None and left <= 0

    def _left(self) -> float | None:
        left = [] if self.limit is None else [self.limit - (time.perf_counter() - self.start)]
        left += [] if self.deadline is None else [self.deadline - time.time()]
        return min(left) if left else None

    def timings(self) -> dict:
        return {"build_s": self.build_s, "handover_s": self.handover_s, "solve_s": self.solve_s, "extract_s": self.extract_s}


@dataclass
class Outcome:
    """What a procedure found: open sites per block (original indices) and the solver's word."""

    status: str
    open: list[np.ndarray]
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    details: dict = field(default_factory=dict)

    @property
    def has_solution(self) -> bool:
        return bool(self.open) and self.objective is not None

    def solve_result(self, clock: Clock) -> SolveResult:
        return SolveResult(self.status, self.objective, self.bound, self.gap, self.status, solver_version=clock.version,
                           handover_s=clock.handover_s, solve_s=clock.solve_s, has_solution=self.has_solution,
                           highs_info=dict(clock.info))


