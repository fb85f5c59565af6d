"""What HiGHS receives stays on a sound scale: every model a solve hands over (city, grid,
enforcement, facilities), on a small generated city and on one holding the largest values the
data accept, has its nonzero matrix coefficients within SPAN of each other, and so its costs and
its finite row bounds; and the plan passes the independent check.

The ranges are read from the highspy model itself, just before HiGHS runs it (every solve of a
sequence: level searches, tie-breaks, LP rounds), as HiGHS's own log reports them."""
from __future__ import annotations

import contextlib
import math
import shutil
from pathlib import Path

import highspy
import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest
from click.testing import CliRunner
from pyomo.repn.standard_repn import generate_standard_repn

import allocator.solving.solve as solve_module
from allocator.cli import main
from allocator.data.loader import load_instance
from allocator.data.schema import TABLES
from allocator.models.linear import centred
from allocator.plans.make import make_plan
from allocator.solving.city import build_city, city_options
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions

SPAN = 1e6        # largest / smallest nonzero |coefficient| of the matrix, of the costs, of the row bounds

RUNS = [("city", "maxmin"), ("city", "utilitarian"), ("city", "hoover"), ("city", "gini"), ("city", "leximin"),
        ("grid", "cost"), ("grid", "unmet"), ("grid", "maxmin"), ("enforcement", "maxmin"), ("enforcement", "shortfall"),
        ("facilities", "mclp")]


def span(values) -> float:
    """max |v| / min |v| over the nonzero finite values (1 when there are none)."""
    v = np.abs(np.asarray(values, dtype=float))
    v = v[np.isfinite(v) & (v > 0) & (v < highspy.kHighsInf)]
    return float(v.max() / v.min()) if len(v) else 1.0


def ranges(highs: highspy.Highs) -> dict[str, float]:
    """The spans of one highspy model: matrix, costs, row bounds (rhs)."""
    lp = highs.getLp()
    return {"matrix": span(lp.a_matrix_.value_), "cost": span(lp.col_cost_),
            "rhs": span(np.concatenate([lp.row_lower_, lp.row_upper_]))}


@contextlib.contextmanager
def received():
    """The ranges of every model HiGHS runs inside the block (a list, filled as they run)."""
    seen: list[dict[str, float]] = []
    run = solve_module._run

    def recording(highs, watch):
        seen.append(ranges(highs))
        return run(highs, watch)

    solve_module._run = recording
    try:
        yield seen
    finally:
        solve_module._run = run


def solved(city: Path, model: str, objective: str) -> tuple[list[dict], dict]:
    with received() as seen:
        plan = make_plan(load_instance(city), RunOptions(model=model, objective=objective),
                         SolveOptions(time_limit=60, threads=1))
    return seen, plan.meta


def _high(table: str, column: str) -> float:
    return next(c for t in TABLES if t.name == table for c in t.columns if c.name == column).high


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("numerics") / "g8"
    assert CliRunner().invoke(main, ["generate", "--towns", "8", "--seed", "3", "--out", str(out)]).exit_code == 0
    return out


@pytest.fixture(scope="module")
def extreme(generated, tmp_path_factory) -> Path:
    """The generated city with one grid's events, one town's cases, one new site's costs and
    another's capacity at the largest values the data accept: the grid's work is then thousands of
    worker-years, the city block models it with exact unmet hours."""
    out = tmp_path_factory.mktemp("numerics") / "x8"
    shutil.copytree(generated, out)
    frames = {name: pd.read_csv(out / f"{name}.csv", dtype=str, keep_default_na=False) for name in ("grids", "towns", "sites")}
    frames["grids"].loc[0, "events_per_year"] = repr(_high("grids", "events_per_year"))
    frames["towns"].loc[0, "cases_per_year"] = repr(_high("towns", "cases_per_year"))
    new = frames["sites"].index[frames["sites"]["existing"] == "0"]
    frames["sites"].loc[new[0], ["open_cost", "annual_cost"]] = [repr(_high("sites", "open_cost"))] * 2
    frames["sites"].loc[new[1], "capacity"] = repr(_high("sites", "capacity"))
    for name, frame in frames.items():
        frame.to_csv(out / f"{name}.csv", index=False)
    return out


def _holds(seen: list[dict], meta: dict, where: str) -> None:
    assert meta["status"] in ("optimal", "time_limit") and meta["check"]["passed"], (where, meta["status"])
    for i, r in enumerate(seen):
        for part in ("matrix", "cost", "rhs"):
            assert r[part] <= SPAN, f"{where}: solve {i + 1} of {len(seen)}: {part} coefficients span {r[part]:.3g}"


@pytest.mark.parametrize("model, objective", RUNS)
def test_every_model_of_a_generated_city_is_on_a_sound_scale(generated, model, objective):
    seen, meta = solved(generated, model, objective)
    _holds(seen, meta, f"{model}/{objective}")


@pytest.mark.parametrize("model, objective", RUNS)
def test_every_model_of_a_city_at_the_largest_accepted_values_is_on_a_sound_scale(extreme, model, objective):
    seen, meta = solved(extreme, model, objective)
    _holds(seen, meta, f"{model}/{objective}")


def test_the_extreme_city_models_its_large_grid_in_the_city_block(extreme):
    """The extreme city's city model holds the grid block's exact-unmet rows (the scale they are
    read on is what the tests above hold)."""
    city = load_instance(extreme)
    run = RunOptions(model="city")
    cm = build_city(city, run, city_options(city, run))
    assert len(cm.grid.model.GRIDS) >= 1 and len(cm.grid.model.deficit_at_least_gap) >= 1


def test_a_centred_row_is_the_same_row_times_a_power_of_2():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(3))
    m.x[2].fix(4.0)                        # fixed now, freed later: it stays in the row
    m.row = pyo.Constraint(expr=centred(1e-4 * m.x[0] + 1e2 * m.x[1] + 3.0 * m.x[2] <= 7.0))
    m.x[2].unfix()
    repn = generate_standard_repn(m.row.body, compute_values=True)
    k = dict(zip([v.name for v in repn.linear_vars], repn.linear_coefs))["x[0]"] / 1e-4
    assert math.log2(k) == round(math.log2(k)) and k > 1
    assert dict(zip([v.name for v in repn.linear_vars], repn.linear_coefs)) == {"x[0]": 1e-4 * k, "x[1]": 1e2 * k, "x[2]": 3.0 * k}
    assert m.row.upper is not None and pyo.value(m.row.upper) - repn.constant == pytest.approx(7.0 * k)
    assert 0.5 <= (1e-4 * k) * (1e2 * k) <= 2.0


def test_a_ratio_held_at_its_floor_says_so(generated):
    """The least Hoover index of the generated city is below RATIO_HOLD_FLOOR: the plan says it is held
    there, with the least, so a large relative gap next to "optimal" is explained in words."""
    plan = make_plan(load_instance(generated), RunOptions(model="city", objective="hoover"), SolveOptions(threads=1))
    m = plan.meta
    assert m["check"]["passed"] and m["objective_value"] <= 1e-3 + 1e-9
    assert m["bound"] is None or m["bound"] < 1e-3
    text = m.get("status_text") or ""
    assert "hoover is held at 0.001, not at its least" in text, text
    if m["bound"] is not None and m["mip_gap"] > 1e-4:       # a large relative gap between two near-0 ratios
        assert "lies within 0.001 of that least" in text and "more than the" not in text, text
