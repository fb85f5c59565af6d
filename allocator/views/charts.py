"""Charts for a meeting room: frames in, a matplotlib `Figure` out (no pyplot, no global state).

Each function draws what it is given — names, values, words — and nothing else; turning
plans into those frames is `allocator.chart_data`'s work. Fonts come from
`allocator.views.fonts.chart_style()` so Chinese names are drawn, never boxes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from adjustText import adjust_text
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from allocator.views import fonts

PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")
TODAY_COLOUR = "#b0b0b0"


def style():
    """The rc context every chart is drawn and saved in (fonts that draw Chinese)."""
    return matplotlib.rc_context(fonts.chart_style())


def save(fig: Figure, out: Path) -> Path:
    """PNG or SVG by suffix (SVG text as paths: it shows the same on every machine)."""
    with style():
        fig.savefig(out, format=Path(out).suffix.lower().lstrip("."), dpi=150, bbox_inches="tight")
    return Path(out)


def series_colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


# ---------------------------------------------------------------- bars

def bars_figure(values: pd.DataFrame, title: str, xlabel: str) -> Figure:
    """Horizontal grouped bars: one group per row of `values` (named by its index), one bar per column.

    A column named 'today' (or '现状') is drawn grey: it is the city before any plan.
    """
    with style():
        n, k = len(values), max(1, values.shape[1])
        fig = Figure(figsize=(8.5, max(2.5, 0.17 * n * (1 + 0.4 * (k - 1)) + 1.6)), layout="constrained")
        ax = fig.add_subplot()
        height = 0.8 / k
        y = np.arange(n)
        has_today = int(str(values.columns[0]) in ("today", "现状"))
        for i, column in enumerate(values.columns):
            colour = TODAY_COLOUR if i < has_today else series_colour(i - has_today)
            ax.barh(y - 0.4 + height * (i + 0.5), values[column].to_numpy(float), height=height, label=str(column), color=colour)
        ax.set_yticks(y, [str(v) for v in values.index], fontsize=8 if n > 20 else 10)
        ax.margins(y=0.01)
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(loc="lower right", fontsize="small")
        return fig


# ---------------------------------------------------------------- Lorenz curves

def lorenz_points(levels: pd.Series, weights: pd.Series | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative population share (x; units count equally without weights) against cumulative
    share of the amount weight × level (y), lowest level first."""
    x = np.asarray(levels, float)
    w = np.ones_like(x) if weights is None else np.asarray(pd.Series(weights).reindex(levels.index).fillna(0.0), float)
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    amount = w * x
    people = np.cumsum(w) / w.sum() if w.sum() > 0 else np.linspace(0, 1, len(x) + 1)[1:]
    share = np.cumsum(amount) / amount.sum() if amount.sum() > 0 else people
    return np.concatenate([[0.0], people]), np.concatenate([[0.0], share])


def lorenz_figure(levels: dict[str, tuple[pd.Series, pd.Series | None]], ginis: dict[str, float], title: str,
                  xlabel: str, ylabel: str) -> Figure:
    """One Lorenz curve per plan from (levels, weights); the Gini of each in the legend."""
    with style():
        fig = Figure(figsize=(6.2, 5.6), layout="constrained")
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], color="#999999", lw=1, ls="--", label="equality" if xlabel.isascii() else "完全平等")
        for i, (label, (series, weights)) in enumerate(levels.items()):
            x, y = lorenz_points(series, weights)
            ax.plot(x, y, color=series_colour(i), lw=2, marker="o" if len(series) <= 40 else None, ms=3,
                    label=f"{label} (Gini {ginis.get(label, float('nan')):.3f})")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
        return fig


# ---------------------------------------------------------------- map

@dataclass
class MapPanel:
    """One plan on the map: towns (x, y, value, size) and the open sites (x, y, new)."""

    title: str
    towns: pd.DataFrame
    sites: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["x", "y", "new"]))


@dataclass
class Area:
    """A district: its outline (convex hull, or None for points only) and where its name goes."""

    name: str
    outline: np.ndarray | None
    centre: tuple[float, float]


def map_figure(panels: list[MapPanel], areas: list[Area], title: str, colour_label: str, diverging: bool,
               legend_words: dict[str, str]) -> Figure:
    with style():
        cols = min(3, len(panels))
        rows = -(-len(panels) // cols)
        shape = _aspect(areas, panels[0].towns)
        fig = Figure(figsize=(5.6 * cols + 0.8, 5.6 * shape * rows + 1.0), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        values = np.concatenate([p.towns["value"].to_numpy(float) for p in panels])
        norm = _colour_norm(values, diverging)
        cmap = matplotlib.colormaps["RdBu" if diverging else "RdYlGn"]
        for ax, panel in zip(axes, panels):
            points = _draw_panel(ax, panel, areas, norm, cmap, legend_words)
        for ax in axes[len(panels):]:
            ax.set_axis_off()
        fig.colorbar(points, ax=axes[: len(panels)].tolist(), label=colour_label, shrink=0.8, extend="both")
        fig.suptitle(title)
        return fig


def _aspect(areas: list[Area], towns: pd.DataFrame) -> float:
    """Height over width of the drawn city, kept between 0.45 and 1.5 so a panel stays legible."""
    xy = np.concatenate([a.outline for a in areas if a.outline is not None] + [towns[["x", "y"]].to_numpy(float)])
    width, height = np.ptp(xy[:, 0]), np.ptp(xy[:, 1])
    return float(np.clip(height / width, 0.45, 1.5)) if width > 0 else 1.0


def _colour_norm(values: np.ndarray, diverging: bool):
    finite = values[np.isfinite(values)]
    if diverging:
        top = float(np.abs(finite).max()) if len(finite) else 1.0
        return matplotlib.colors.Normalize(-max(top, 1e-9), max(top, 1e-9))
    if not len(finite):
        return matplotlib.colors.Normalize(0.0, 1.0)
    low = min(0.0 if finite.min() < 0.5 else 0.5, float(np.quantile(finite, 0.02)))
    return matplotlib.colors.Normalize(low, max(1.0, float(np.quantile(finite, 0.98))))


def _draw_panel(ax, panel: MapPanel, areas: list[Area], norm, cmap, words: dict[str, str]):
    for i, area in enumerate(areas):
        if area.outline is not None:
            ax.fill(area.outline[:, 0], area.outline[:, 1], color=series_colour(i), alpha=0.08, lw=0)
            ax.plot(np.append(area.outline[:, 0], area.outline[0, 0]), np.append(area.outline[:, 1], area.outline[0, 1]),
                    color="#777777", lw=0.6)
    t = panel.towns
    points = ax.scatter(t["x"], t["y"], c=t["value"], s=t["size"], cmap=cmap, norm=norm, edgecolors="#333333",
                        linewidths=0.4, zorder=3, label=words["towns"])
    s = panel.sites
    if len(s):
        old, new = s[~s["new"]], s[s["new"]]
        if len(old):
            ax.scatter(old["x"], old["y"], marker="s", s=7, color="#555555", alpha=0.5, zorder=2, label=words["open"])
        if len(new):
            ax.scatter(new["x"], new["y"], marker="^", s=40 if len(new) < 100 else 14, color="#6a0dad", alpha=0.85,
                       edgecolors="white", linewidths=0.4, zorder=4, label=words["new"])
    ax.set_aspect("equal")
    ax.margins(0.06)
    _area_labels(ax, areas)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(panel.title, fontsize=10)
    _scale_bar(ax)
    ax.legend(loc="lower left", fontsize="x-small", framealpha=0.8)
    return points


def _area_labels(ax, areas: list[Area]) -> None:
    """Each district's name at its centre; names that would overlap are moved apart (adjustText),
    with a leader line back to their centre."""
    texts = [ax.text(a.centre[0], a.centre[1], a.name, ha="center", va="center", fontsize=7 if len(areas) > 12 else 9,
                     color="#111111", zorder=5, path_effects=[patheffects.withStroke(linewidth=2, foreground="white")])
             for a in areas]
    if len(texts) > 1:
        FigureCanvasAgg(ax.figure).draw()   # adjustText measures the drawn labels
        adjust_text(texts, ax=ax, arrowprops={"arrowstyle": "-", "color": "#555555", "lw": 0.5}, iter_lim=500,
                    expand=(1.4, 1.6), force_text=(0.5, 0.8), force_static=(0.2, 0.4), ensure_inside_axes=True)


def label_overlaps(ax) -> int:
    """Pairs of text labels in `ax` whose drawn boxes overlap (0 on a readable map)."""
    renderer = ax.figure._get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts if t.get_text().strip()]
    return sum(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def _span(areas: list[Area], towns: pd.DataFrame | None) -> float:
    xy = [a.outline for a in areas if a.outline is not None]
    if towns is not None:
        xy.append(towns[["x", "y"]].to_numpy(float))
    if not xy:
        return 0.0
    xy = np.concatenate(xy)
    return float(max(np.ptp(xy[:, 0]), np.ptp(xy[:, 1])))


def _scale_bar(ax) -> None:
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    span = x1 - x0
    if span <= 0:
        return
    length = 10 ** np.floor(np.log10(span / 4))
    length *= 5 if span / 4 >= 5 * length else (2 if span / 4 >= 2 * length else 1)
    x, y = x1 - 0.05 * span - length, y0 + 0.05 * (y1 - y0)
    ax.plot([x, x + length], [y, y], color="black", lw=2)
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.annotate(text, (x + length / 2, y), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=7)


# ---------------------------------------------------------------- coverage heat map

A4_WIDTH_IN = 8.27                 # a chart a planner prints on A4 keeps its cells readable at this width
CELL_HEIGHT_IN = 0.24


def coverage_figure(shares: dict[str, pd.DataFrame], title: str, colour_label: str) -> Figure:
    """One heat map per plan: rows (districts) × columns (service · target group), share within reach.
    Plans are stacked, not side by side, so the figure fits the width of an A4 page (A4_WIDTH_IN)
    with every cell tall enough for its percentage (CELL_HEIGHT_IN)."""
    with style():
        first = next(iter(shares.values()))
        n_rows, n_cols = first.shape
        width = min(A4_WIDTH_IN, max(5.0, 0.7 * n_cols + 3.0))
        height = len(shares) * (CELL_HEIGHT_IN * n_rows + 1.9) + 0.6
        fig = Figure(figsize=(width, height), layout="constrained")
        axes = fig.subplots(len(shares), 1, squeeze=False).ravel()
        cmap = matplotlib.colormaps["RdYlGn"]
        for ax, (label, frame) in zip(axes, shares.items()):
            image = ax.imshow(frame.to_numpy(float), cmap=cmap, vmin=0, vmax=1, aspect="auto")
            ax.set_xticks(range(frame.shape[1]), [str(c) for c in frame.columns], rotation=40, ha="right", fontsize=8)
            ax.set_yticks(range(frame.shape[0]), [str(r) for r in frame.index], fontsize=8)
            ax.set_title(label, fontsize=10)
            if frame.size <= 600:
                _annotate_cells(ax, frame)
        fig.colorbar(image, ax=axes.tolist(), label=colour_label, shrink=0.6, location="right")
        fig.suptitle(title)
        return fig


def _annotate_cells(ax, frame: pd.DataFrame) -> None:
    values = frame.to_numpy(float)
    for (r, c), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(c, r, f"{v:.0%}", ha="center", va="center", fontsize=6.5, color="black" if 0.25 < v < 0.8 else "white")


# ---------------------------------------------------------------- tradeoff

def tradeoff_figure(points: pd.DataFrame, xlabel: str, ylabel: str, title: str) -> Figure:
    """Plans as points: x (how much, e.g. mean coverage) against y (how unequal, e.g. Gini); lower right is better."""
    with style():
        fig = Figure(figsize=(6.2, 4.6), layout="constrained")
        ax = fig.add_subplot()
        for i, (label, row) in enumerate(points.iterrows()):
            ax.scatter([row["x"]], [row["y"]], s=90, color=series_colour(i), zorder=3, edgecolors="black", linewidths=0.6)
            right = len(points) > 1 and row["x"] > points["x"].mean()
            ax.annotate(str(label), (row["x"], row["y"]), xytext=(-8 if right else 8, 6), textcoords="offset points",
                        fontsize=9, ha="right" if right else "left")
        if len(points) > 1:
            ordered = points.sort_values("x")
            ax.plot(ordered["x"], ordered["y"], color="#999999", lw=1, ls=":", zorder=2)
        _pad_limits(ax, points)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        return fig


def _pad_limits(ax, points: pd.DataFrame) -> None:
    for axis, column in ((ax.set_xlim, "x"), (ax.set_ylim, "y")):
        lo, hi = float(points[column].min()), float(points[column].max())
        span = hi - lo if hi > lo else max(abs(hi), 0.05)
        axis(lo - 0.25 * span, hi + 0.25 * span)


# ---------------------------------------------------------------- roadmap

def roadmap_figure(hires: pd.DataFrame, sites: pd.Series, index: pd.DataFrame, title: str, words: dict[str, str]) -> Figure:
    """A roadmap year by year, three panels sharing the years: hires stacked by kind (columns of
    `hires`), sites opened, and the index lines (columns of `index`: mean, lowest). Totals are
    written on the bars in whole persons and sites, the index to three decimals."""
    with style():
        years = [int(y) for y in hires.index]
        x = np.arange(len(years))
        fig = Figure(figsize=(max(6.0, 1.1 * len(years) + 3.5), 9.0), layout="constrained")
        top, middle, bottom = fig.subplots(3, 1, sharex=True)
        up, down = np.zeros(len(years)), np.zeros(len(years))     # a kind with fewer staff than the year before goes below 0
        for i, column in enumerate(hires.columns):
            values = np.nan_to_num(hires[column].to_numpy(float))
            bottom_of = np.where(values >= 0, up, down)
            top.bar(x, values, bottom=bottom_of, width=0.6, color=series_colour(i), label=str(column))
            up, down = up + np.clip(values, 0, None), down + np.clip(values, None, 0)
        for xi, high, total in zip(x, up, up + down):
            top.annotate(f"{total:,.0f}", (xi, high), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=8)
        top.set_title(words["hires"], fontsize=11)
        top.set_ylabel(words["persons"])
        top.legend(fontsize="small", loc="best")
        top.set_ylim(min(0.0, float(down.min()) * 1.25), max(1.0, float(up.max())) * 1.25)
        if down.min() < 0:
            top.axhline(0, color="#333333", lw=0.8)
        opened = sites.to_numpy(float)
        middle.bar(x, opened, width=0.6, color=series_colour(4))
        for xi, n in zip(x, opened):
            middle.annotate(f"{n:,.0f}", (xi, n), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=8)
        middle.set_title(words["sites"], fontsize=11)
        middle.set_ylabel(words["sites_y"])
        middle.set_ylim(0, max(1.0, float(opened.max())) * 1.25)
        for axis in (top, middle):
            axis.yaxis.set_major_locator(MaxNLocator(integer=True))
            axis.grid(axis="y", alpha=0.3)
        for i, column in enumerate(index.columns):
            values = index[column].to_numpy(float)
            bottom.plot(x, values, color=series_colour(i), marker="o", lw=2, label=str(column))
            for xi, v in zip(x, values):
                bottom.annotate(f"{v:.3f}", (xi, v), xytext=(0, 6 if i == 0 else -12), textcoords="offset points",
                                ha="center", fontsize=8)
        low, high = float(np.nanmin(index.to_numpy(float))), float(np.nanmax(index.to_numpy(float)))
        bottom.set_ylim(max(0.0, low - 0.1), min(1.05, high + 0.08) if high <= 1 else high + 0.08)
        bottom.set_title(words["index"], fontsize=11)
        bottom.set_ylabel(words["index_y"])
        bottom.set_xlabel(words["year"])
        bottom.grid(alpha=0.3)
        bottom.legend(fontsize="small", loc="best")
        bottom.set_xticks(x, [str(y) for y in years])
        fig.suptitle(title)
        return fig
