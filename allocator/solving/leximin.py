"""Lexicographic max-min of group levels in any Pyomo model, by a sequence of solves.

`solve_leximin` works on the rows of `models.equity.leximin_block` (L_g ≥ t for the free
groups, L_g ≥ f_g for the fixed ones; objectives max t and max L_g of one picked group),
every solve through allocator.solving.solve.solve:
    round: max t s.t. L_g ≥ t (g free), L_g ≥ f_g − δ (g fixed)           → t*
           a free g is blocked when max L_g s.t. L_h ≥ t* − δ (h free), fixed floors,
           stays ≤ t* + 10δ; any solve showing L_h > t* + 10δ proves h not blocked
           blocked groups get f_g = t* and leave the free set
    In a convex model some group is always blocked. With integer variables none may be
    (each group can rise alone, not all together); then the remaining free groups F are
    finished by the ordered-outcome method, exact for any feasible set:
           for k = 2..|F|: max Θ_k(L_F) s.t. Θ_j(L_F) ≥ Θ_j* − kδ (j < k)
    δ = tolerance·max(1, |t*|). With integer variables each solve is exact only to
    solve_options.gap (give gap=0). The model keeps the floors and its objectives stay
    deactivated: re-activate one and solve again to choose among leximin plans.

    A sequence stopped (time limit, or a solve not optimal) keeps the floors of its finished
    rounds, and the free groups keep the floor t of the last max t solve that found a plan —
    in the round it stopped in, too: stopped in round 1, the model holds the max-min plan
    found so far (not a leximin one). `LeximinResult.stages` lists each round (the last one
    stopped, if so) with its level t, the bound HiGHS proved on it (its max t solve) and
    seconds; `first_bound` is round 1's bound: no plan has a lowest level above it.

    symbol        attribute (in the block `equity_leximin`)   meaning
    t             b.floor_level                             lowest level of the free groups
    f_g           b.fixed_level[g]                          floors of fixed groups
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Hashable, Mapping

import numpy as np
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from allocator.solving.run import stage_record
from allocator.solving.solve import SolveOptions, SolveResult, deadline_of, relative_gap, solve

from allocator.models.equity import attach, deactivate_objectives, leximin_block

BLOCKED_FACTOR = 10.0             # a group is blocked when its best level stays within this many δ of t*


@dataclass
class LeximinResult:
    """The outcome of `solve_leximin`: levels of the final plan and how they were reached."""

    status: str                       # "optimal", or the status of the solve that stopped the sequence
    levels: dict                      # group → level in the loaded solution
    floors: dict                      # group → the level it was fixed at (saturation rounds)
    rounds: list[dict]                # per round: level, groups fixed, method, solves
    solves: int
    result: SolveResult | None        # the last solve that loaded a plan (else the last solve)
    replaced_objectives: list[str] = field(default_factory=list)
    handover_s: float = 0.0           # over every solve of the sequence
    solve_s: float = 0.0
    stages: list[dict] = field(default_factory=list)   # per round (and the round stopped in)
    first_bound: float | None = None  # round 1's bound on max t: no plan's lowest level exceeds it
    first_proven: bool = False        # round 1's max t solve finished: the lowest level is the highest possible

    @property
    def sorted_levels(self) -> np.ndarray:
        return np.sort(np.array(list(self.levels.values()), dtype=float))


class _Stop(Exception):
    def __init__(self, result: SolveResult):
        self.result = result


@dataclass
class _Solves:
    """The solves of one leximin sequence, within one time limit for them all, each started from the
    plan loaded last (it meets every row the sequence has added); `step` stops the sequence on
    anything but optimal (`_Stop(None)`: no time left)."""

    model: pyo.Block
    options: SolveOptions
    count: int = 0
    last: SolveResult | None = None
    best: SolveResult | None = None           # the last solve that loaded a plan
    deadline: float | None = None
    handover_s: float = 0.0                   # over every solve of the sequence
    solve_s: float = 0.0
    log: list = field(default_factory=list)   # every solve, in order
    start: ComponentMap | None = None         # a feasible plan to start the first solve from

    def __post_init__(self) -> None:
        self.deadline = deadline_of(self.options)

    def step(self, stage: str = "") -> None:
        options = replace(self.options, deadline=self.deadline, stage=f"leximin solve {self.count + 1}: {stage}")
        if self.deadline is not None:
            left = self.deadline - time.time()
            if left <= 0:
                raise _Stop(None)
            options = replace(options, time_limit=left)
        self.last = solve(self.model, options, start=self._plan())
        self.log.append(self.last)
        self.count += 1
        self.handover_s += self.last.handover_s
        self.solve_s += self.last.solve_s
        if self.last.has_solution:
            self.best = self.last
        if self.last.status != "optimal":
            raise _Stop(self.last)

    def _plan(self) -> ComponentMap | None:
        if self.best is None:
            return self.start
        return ComponentMap((v, v.value) for v in self.model.component_data_objects(pyo.Var, active=True)
                            if v.value is not None and not v.fixed)


def solve_leximin(model: pyo.Block, levels: Mapping[Hashable, Any], solve_options: SolveOptions,
                  tolerance: float = 1e-6, start: ComponentMap | None = None) -> LeximinResult:
    """Lexicographic max-min of `levels` by a sequence of solves (see the module docstring); `start`,
    a feasible plan of the model as given, starts the first solve."""
    groups = list(levels)
    if not groups:
        raise ValueError("no group levels given")
    L = [levels[g] for g in groups]
    b = leximin_block(model, L)
    solves = _Solves(model, solve_options, start=start)
    replaced = deactivate_objectives(model)
    rounds: list[dict] = []
    floors: dict[int, float] = {}
    free = list(range(len(L)))
    held = [None]                     # the floor the free groups have reached (kept when the sequence stops)
    stages: list[dict] = []
    first = 0                         # index in solves.log of the round's first solve
    try:
        while free:
            first = len(solves.log)
            t, blocked, used = _leximin_round(b, L, free, tolerance, solves, held)
            if not blocked:
                used += _ordered_steps(b, L, free, t, tolerance, solves)
                rounds.append({"level": t, "fixed": [groups[g] for g in free], "method": "ordered", "solves": used})
                stages.append(_round_stage(len(rounds), solves.log[first:], t, "optimal"))
                free = []
                break
            for g in blocked:
                floors[g] = t
                b.level_at_least_floor[g].deactivate()
                b.fixed_level[g] = t - _slack(t, tolerance)
                b.level_at_least_fixed[g].activate()
            free = [g for g in free if g not in blocked]
            rounds.append({"level": t, "fixed": [groups[g] for g in blocked], "method": "saturation", "solves": used})
            stages.append(_round_stage(len(rounds), solves.log[first:], t, "optimal"))
        status = "optimal"
    except _Stop as stop:
        status = "time_limit" if stop.result is None else stop.result.status
        if stop.result is not None and stop.result.has_solution and b.raise_floor.active:
            # stopped in a max t solve that found a plan: the free groups keep the floor it reached
            t = float(b.floor_level.value)
            held[0] = t if held[0] is None else max(held[0], t)
        stages.append(_round_stage(len(rounds) + 1, solves.log[first:], held[0] if solves.best else None, status))
    finally:
        b.raise_floor.deactivate()
        b.raise_one.deactivate()
        _hold_floor(b, held[0], tolerance)
    # A solve that stopped without a plan loaded nothing: the model still holds the best one's plan.
    values = {groups[g]: float(pyo.value(L[g])) for g in range(len(L))} if solves.best else {}
    last = solves.last if solves.last is not None and solves.last.has_solution else (solves.best or solves.last)
    first_bound = solves.log[0].bound if solves.log else None
    first_proven = bool(solves.log) and solves.log[0].status == "optimal"
    return LeximinResult(status, values, {groups[g]: v for g, v in floors.items()}, rounds, solves.count, last, replaced,
                         solves.handover_s, solves.solve_s, stages, first_bound, first_proven)


def _round_stage(k: int, log: list[SolveResult], level: float | None, status: str) -> dict:
    """Round k as a stage: the level t its free groups reached, the bound of its max t solve, its seconds."""
    bound = log[0].bound if log else None
    record = stage_record(f"leximin round {k}", log[0] if log else None, solves=len(log))
    gap = None if level is None or bound is None else (0.0 if level >= bound else relative_gap(level, bound))
    record.update(status=status if log else "skipped", value=level, bound=bound, gap=gap,
                  seconds=sum(r.handover_s + r.solve_s for r in log))
    return record


def _hold_floor(b, t: float | None, tolerance: float) -> None:
    """Leave the model holding what the sequence reached, for any solve after it (a tie-break): the
    groups fixed in rounds keep their floors (`level_at_least_fixed`), the others the last floor t."""
    if t is None:
        b.floor_level.unfix()
        b.level_at_least_floor.deactivate()
    else:
        _fix_floor(b, t - _slack(t, tolerance))


def _slack(t: float, tolerance: float) -> float:
    return tolerance * max(1.0, abs(t))


def _fix_floor(b, value: float) -> None:
    """Fix t at `value`; a lower bound of an earlier round above it (by less than the tolerance) moves down
    to it, so that fixing never sets t outside its bounds."""
    if b.floor_level.lb is not None and value < b.floor_level.lb:
        b.floor_level.setlb(value)
    b.floor_level.fix(value)


def _leximin_round(b, L: list, free: list[int], tolerance: float, solves: _Solves,
                   held: list) -> tuple[float, list[int], int]:
    """Max t over the free groups, then the saturation test of the groups at t (held[0] = t)."""
    b.raise_one.deactivate()
    b.raise_floor.activate()
    if b.floor_level.fixed:
        b.floor_level.unfix()
    if held[0] is not None:               # free groups stay at the last round's floor, whatever the solve finds
        b.floor_level.setlb(held[0] - _slack(held[0], tolerance))
    solves.step(f"raise the lowest of {len(free)} free levels")
    t = held[0] = float(b.floor_level.value)
    if len(free) == 1:
        return t, list(free), 1
    above = t + BLOCKED_FACTOR * _slack(t, tolerance)
    unblocked = {g for g in free if pyo.value(L[g]) > above}
    blocked, used = [], 1
    _fix_floor(b, t - _slack(t, tolerance))
    b.raise_floor.deactivate()
    b.raise_one.activate()
    for g in free:
        if g in unblocked:
            continue
        for h in b.GROUPS:
            b.pick[h] = 1.0 if h == g else 0.0
        solves.step("is a lowest level blocked?")
        used += 1
        if pyo.value(L[g]) <= above:
            blocked.append(g)
        unblocked |= {h for h in free if pyo.value(L[h]) > above}
    b.floor_level.unfix()
    b.raise_one.deactivate()
    return t, blocked, used


def _ordered_steps(b, L: list, free: list[int], t: float, tolerance: float, solves: _Solves) -> int:
    """Lexicographic max of Θ_2 … Θ_|F| of the free levels (Θ_1 ≥ t is held by the floor);
    Θ_k is the OWA with weights (1, …, 1, 0, …, 0), k ones."""
    _fix_floor(b, t - _slack(t, tolerance))
    levels = {g: L[g] for g in free}
    for k in range(2, len(free) + 1):
        term = attach(b, levels, "owa", owa_weights=[1.0] * k + [0.0] * (len(free) - k))
        solves.step(f"raise the sum of the {k} lowest levels")
        best = term.modelled()
        term.block.objective.deactivate()
        term.block.ordered_sum_held = pyo.Constraint(expr=term.value >= best - k * _slack(best / k, tolerance))
    return len(free) - 1
