"""allocator chart: every kind draws real plans; Chinese names render or fall back loudly to ids."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from matplotlib.figure import Figure
from PIL import Image

from allocator import cli
from _plans import session_plans
from allocator.views import fonts
from allocator.views.chart_data import ChartOptions, build_chart
from allocator.views.charts import lorenz_points, save
from allocator.views.compare import load_plans

needs_cjk = pytest.mark.skipif(fonts.cjk_font() is None and not os.environ.get("CI"),
                               reason="no CJK font installed (apt-get install fonts-noto-cjk; required with CI=true)")


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    return session_plans(tmp_path_factory)


@pytest.fixture(scope="module")
def planset(plans):
    return load_plans([plans["maxmin"], plans["shortfall"], plans["facilities"]])


def invoke(*args):
    return CliRunner().invoke(cli.main, [str(a) for a in args])


def colours(png) -> int:
    rgb = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3).astype(np.int32)
    return len(np.unique((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]))


def texts(fig: Figure) -> str:
    return " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))


@pytest.mark.parametrize("kind", ["bars", "lorenz", "map", "coverage", "tradeoff"])
def test_every_kind_draws_a_figure_that_is_not_blank(planset, kind, tmp_path):
    fig = build_chart(kind, planset, ChartOptions(lang="en"))
    assert isinstance(fig, Figure)
    out = save(fig, tmp_path / f"{kind}.png")
    assert colours(out) > 30


@needs_cjk
def test_chinese_names_render_without_missing_glyphs(planset, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = build_chart("bars", planset, ChartOptions(lang="zh"))
        save(fig, tmp_path / "bars.png")
        save(fig, tmp_path / "bars.svg")
    assert "渝北区" in texts(fig) and "现状" in texts(fig)
    assert not [w for w in caught if "missing" in str(w.message).lower()], [str(w.message) for w in caught]
    assert (tmp_path / "bars.svg").read_text().lstrip().startswith("<?xml")


def test_without_cjk_font_ids_and_english_with_a_warning(planset, monkeypatch):
    monkeypatch.setattr(fonts, "_known_family", lambda: None)
    monkeypatch.setattr(fonts, "_add_system_cjk_files", lambda: False)
    monkeypatch.delenv("ALLOCATOR_CJK_FONT", raising=False)
    fonts.reset()
    try:
        with pytest.warns(fonts.CJKFontMissing, match="fonts-noto-cjk"):
            fig = build_chart("bars", planset, ChartOptions(lang="zh"))
        words = texts(fig)
        assert "D1" in words and "渝北区" not in words and "today" in words
        assert not any(fonts.has_cjk(ch) for ch in words)
    finally:
        monkeypatch.undo()
        fonts.reset()


def test_cli_writes_png_and_svg_by_suffix(plans, tmp_path):
    for name in ("lorenz.png", "lorenz.svg"):
        out = tmp_path / name
        result = invoke("chart", plans["maxmin"], plans["shortfall"], "--kind", "lorenz", "--out", out)
        assert result.exit_code == 0, result.output
        assert f"wrote {out}" in result.output
    assert Image.open(tmp_path / "lorenz.png").format == "PNG"
    assert "<svg" in (tmp_path / "lorenz.svg").read_text()


def test_map_marks_new_facilities_and_change(plans, tmp_path):
    planset = load_plans([plans["facilities"]])
    fig = build_chart("map", planset, ChartOptions(lang="en"))
    labels = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert "towns" in labels and "open sites" in labels
    change = build_chart("map", load_plans([plans["maxmin"]]), ChartOptions(lang="en", colour="change"))
    assert "change" in texts(change)


@pytest.mark.parametrize("args, words", [
    (["--kind", "pie", "--out", "{tmp}/x.png"], "Invalid value for '--kind'"),
    (["--kind", "bars", "--out", "{tmp}/x.jpg"], ".png or .svg"),
    (["--kind", "bars", "--out", "{tmp}/no/such/x.png"], "does not exist"),
    (["--kind", "coverage", "--out", "{tmp}/x.png"], "facilities plan"),
    (["--kind", "map", "--out", "{tmp}/x.png", "--instance", "{tmp}/nowhere"], "needs the instance"),
    (["--kind", "bars", "--metric", "nonsense", "--out", "{tmp}/x.png"], "no plan has the metric"),
])
def test_bad_input_is_one_message_and_exit_2(plans, tmp_path, args, words):
    result = invoke("chart", plans["maxmin"], *[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
    assert not any(tmp_path.iterdir())


def test_map_without_any_instance_says_so(plans, tmp_path):
    moved = tmp_path / "plan"
    moved.mkdir()
    for f in plans["maxmin"].iterdir():
        text = f.read_text(encoding="utf-8")
        if f.name == "plan.json":
            text = text.replace(str(plans["city"]), "gone/away")
        (moved / f.name).write_text(text, encoding="utf-8")
    result = invoke("chart", moved, "--kind", "map", "--out", tmp_path / "map.png")
    assert result.exit_code == 2 and "--instance" in result.output
    assert not (tmp_path / "map.png").exists()


def test_lorenz_points():
    x, y = lorenz_points(pd.Series([1.0, 1.0, 1.0, 1.0]))
    assert np.allclose(x, y)
    x, y = lorenz_points(pd.Series([0.0, 1.0]), pd.Series([3.0, 1.0]))
    assert np.allclose(x, [0, 0.75, 1]) and np.allclose(y, [0, 0, 1])
