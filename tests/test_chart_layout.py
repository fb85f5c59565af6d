"""Charts a planner can read: district names on a map do not overlap, the coverage heat map fits A4."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg

import allocator.views.charts as charts
from allocator.views.charts import A4_WIDTH_IN, Area, MapPanel, coverage_figure, label_overlaps, map_figure

WORDS = {"towns": "towns", "open": "open", "new": "new"}


def _dense_core() -> tuple[list[MapPanel], list[Area]]:
    """Twelve districts whose centres sit within 3 km in a 200 km city (a dense core), eight spread out."""
    rng = np.random.default_rng(0)
    core = [(rng.uniform(0, 3000), rng.uniform(0, 3000)) for _ in range(12)]
    outer = [(rng.uniform(-100_000, 100_000), rng.uniform(-100_000, 100_000)) for _ in range(8)]
    areas = [Area(f"District {i} 区县", None, c) for i, c in enumerate(core + outer)]
    towns = pd.DataFrame({"x": [c[0] for c in core + outer], "y": [c[1] for c in core + outer],
                          "value": rng.uniform(0, 1, 20), "size": 20.0})
    return [MapPanel("plan", towns)], areas


def test_map_names_do_not_overlap(monkeypatch):
    panels, areas = _dense_core()
    with charts.style():
        moved = map_figure(panels, areas, "map", "coverage", False, WORDS)
    assert label_overlaps(moved.axes[0]) == 0
    monkeypatch.setattr(charts, "adjust_text", lambda *a, **k: None)     # as drawn before: names at their centres
    with charts.style():
        still = map_figure(panels, areas, "map", "coverage", False, WORDS)
    assert label_overlaps(still.axes[0]) > 0


def test_coverage_heat_map_fits_a4_with_readable_cells():
    """Three plans of a 38-district city, 8 service columns: at most A4 wide, cells at least 0.2 in tall."""
    frame = pd.DataFrame(np.linspace(0, 1, 38 * 8).reshape(38, 8), index=[f"区县{i}" for i in range(38)],
                         columns=[f"service {j}" for j in range(8)])
    with charts.style():
        fig = coverage_figure({"A": frame, "B": frame, "C": frame}, "coverage", "share")
    width, _ = fig.get_size_inches()
    assert width <= A4_WIDTH_IN
    FigureCanvasAgg(fig).draw()                   # constrained layout places the axes when drawn
    for ax in fig.axes[:3]:
        box = ax.get_position()
        assert box.height * fig.get_size_inches()[1] / 38 >= 0.2
