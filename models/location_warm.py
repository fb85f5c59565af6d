"""Warm starts between the LP rounds of the p-median's widening (`models.location_median`).

Between two rounds the radius LP (formulation 3 of `models.location_blocks`) changes only by
levels appended to some rows: every kept level keeps its distance, its objective coefficient
w_i (D_next − D_ℓ) (the first level beyond a truncated row is the next level once the row
grows) and its place in its row. So the previous optimal basis carries over:

    old columns and rows       their previous status (matched by site, by (node, ordinal of
                               the level in its row), and by name and index otherwise)
    new level columns z_ℓ      nonbasic at their lower bound 0
    new level rows             basic (their slack)

This is a basis of the new LP (one more basic variable per added row). It stays dual
feasible: a new row's dual is 0 (its slack is basic), so a new column's reduced cost is its
cost, which is ≥ 0 at its lower bound. HiGHS's dual simplex starts from it instead of from
scratch. A basis only chooses where the simplex starts, never the optimum it proves; when
the levels do not match as described, no basis is given.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np
import pyomo.environ as pyo

from allocator.solving.highs_model import CompiledModel, compile_model
from allocator.solving.solve import Persistent

from .location.common import Levels

LEVEL_VAR, LEVEL_ROW = "farther_than_level", "farther_unless_open_within_level"


@dataclass
class WarmLp:
    """One round's LP: its Pyomo model, the HiGHS model it was compiled into, and its levels."""

    model: pyo.ConcreteModel
    persistent: Persistent
    levels: Levels


def warm_lp(model: pyo.ConcreteModel, levels: Levels, previous: WarmLp | None) -> tuple[WarmLp, float]:
    """Compile `model` and give it the basis carried over from `previous`; returns it and the seconds taken."""
    t0 = time.perf_counter()
    persistent = Persistent()
    persistent.compiled = compile_model(model)
    if previous is not None:
        _carry_basis(previous, model, levels, persistent.compiled)
    return WarmLp(model, persistent, levels), time.perf_counter() - t0


def level_map(old: Levels, new: Levels) -> np.ndarray | None:
    """Index in `new` of every level of `old` (same node, same ordinal in its row), or None when
    some old level has no counterpart of equal distance."""
    if len(old) == 0:
        return np.zeros(0, np.int64)
    old_first, old_ord = _ordinals(old)
    new_first, _ = _ordinals(new)
    n_rows = int(max(old.row.max(), new.row.max() if len(new) else 0)) + 1
    first_of = np.full(n_rows, -1, np.int64)
    first_of[new.row[new_first]] = np.flatnonzero(new_first)
    where = first_of[old.row] + old_ord
    ok = (first_of[old.row] >= 0) & (where < len(new))
    if not ok.all():
        return None
    same = (new.row[where] == old.row) & np.isclose(new.value[where], old.value, rtol=1e-12, atol=0.0)
    return where if same.all() else None


def _ordinals(levels: Levels) -> tuple[np.ndarray, np.ndarray]:
    """Whether each level is the first of its row, and its ordinal within the row."""
    n = len(levels)
    first = np.ones(n, bool)
    first[1:] = levels.row[1:] != levels.row[:-1]
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    return first, np.arange(n) - start


def _carry_basis(previous: WarmLp, model: pyo.ConcreteModel, levels: Levels, compiled: CompiledModel) -> None:
    old = previous.persistent.compiled
    mapping = level_map(previous.levels, levels)
    basis = old.highs.getBasis() if old is not None else None
    if mapping is None or basis is None or not basis.valid:
        return
    col = np.full(len(compiled.columns), int(_LOWER))
    old_col = np.array([int(s) for s in basis.col_status])
    for name in _names(previous.model, pyo.Var):
        old_j, new_j = _columns(old, previous.model, name), _columns(compiled, model, name)
        if name == LEVEL_VAR:
            new_j = new_j[mapping]
        if old_j is None or new_j is None or len(old_j) != len(new_j):
            return
        col[new_j] = old_col[old_j]
    old_blocks, new_blocks = _row_blocks(previous.model), _row_blocks(model)
    row = np.full(sum(n for _, n in new_blocks.values()), int(_BASIC))
    old_row = np.array([int(s) for s in basis.row_status])
    for name, (old_off, old_n) in old_blocks.items():
        new_off, new_n = new_blocks.get(name, (0, -1))
        target = new_off + (mapping if name == LEVEL_ROW else np.arange(old_n))
        if name != LEVEL_ROW and new_n != old_n:
            return
        row[target] = old_row[old_off:old_off + old_n]
    carried = highspy.HighsBasis()
    carried.col_status = [_STATUS[s] for s in col.tolist()]
    carried.row_status = [_STATUS[s] for s in row.tolist()]
    carried.valid = True
    compiled.highs.setBasis(carried)


_STATUS = {int(s): s for s in highspy.HighsBasisStatus.__members__.values()}
_LOWER, _BASIC = highspy.HighsBasisStatus.kLower, highspy.HighsBasisStatus.kBasic


def _names(model: pyo.ConcreteModel, kind) -> list[str]:
    return [c.local_name for c in model.component_objects(kind, active=True if kind is pyo.Constraint else None)]


def _columns(compiled: CompiledModel, model: pyo.ConcreteModel, name: str) -> np.ndarray | None:
    """HiGHS column of every variable of component `name`, in index order (None if one has none)."""
    cols = [compiled.index.get(id(v)) for v in getattr(model, name).values()]
    return None if any(c is None for c in cols) else np.asarray(cols, dtype=np.int64)


def _row_blocks(model: pyo.ConcreteModel) -> dict[str, tuple[int, int]]:
    """(first HiGHS row, number of rows) of every constraint component: the compiler takes active
    constraints as Pyomo lists them, component by component, each in index order."""
    blocks, off = {}, 0
    for con in model.component_objects(pyo.Constraint, active=True):
        n = sum(1 for _ in con.values())
        blocks[con.local_name] = (off, n)
        off += n
    return blocks
