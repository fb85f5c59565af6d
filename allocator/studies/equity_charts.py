"""The charts of `allocator frontier` and `allocator equity-bench` (PNG and SVG, `save_both`).

    frontier_figure   efficiency U against the equity measure: the ε-constraint points, the
                      staircase they prove attainable, both ends named and the price of
                      fairness (U* − U)/U* marked
    bench_figure      per objective: efficiency and the lowest level; the inequality indices
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from allocator.models.equity import NATURAL_SENSE
from allocator.studies.equity_runs import ProblemSpec
from allocator.views import fonts
from allocator.views.charts import save


def save_both(fig: Figure, stem: Path) -> list[Path]:
    """stem.png and stem.svg."""
    return [save(fig, Path(f"{stem}.{suffix}")) for suffix in ("png", "svg")]


def level_words(spec: ProblemSpec) -> str:
    if spec.model == "city":
        return "districts' service index"
    if spec.model == "grid":
        return "districts' share of grid workload met"
    if spec.model == "facilities":
        return "districts' share of target groups within reach"
    return f"{spec.by}s' enforcement coverage ratio"


def frontier_figure(frame: pd.DataFrame, measure: str, city_name: str, spec: ProblemSpec) -> Figure:
    """Efficiency against the equity measure, both ends named, the price of fairness marked.

    The dashed staircase is what the solved points prove attainable: with integer decisions the
    frontier between two solved points is a step, not the straight line between them."""
    with matplotlib.rc_context(fonts.chart_style()):
        fig = Figure(figsize=(8.0, 5.2), layout="constrained")
        ax = fig.add_subplot()
        ok = frame[np.isfinite(frame["efficiency"].to_numpy(float))].sort_values("equity", kind="stable")
        style = "steps-pre" if NATURAL_SENSE.get(measure) == "maximize" else "steps-post"
        ax.plot(ok["equity"], ok["efficiency"], ls="--", lw=1, color="#8c8c8c", drawstyle=style, zorder=1)
        ax.plot(ok["equity"], ok["efficiency"], "o", color="#4c72b0", zorder=2, label="ε-constraint points")
        ax.margins(x=0.4, y=0.2)
        middle = float(ok["equity"].mean()) if len(ok) else 0.0
        for role, colour, words in (("utilitarian", "#55a868", "utilitarian end (most efficient)"),
                                    ("fairest", "#c44e52", f"fairest end ({measure})")):
            end = ok[ok["role"] == role]
            if len(end):
                x, y = float(end["equity"].iloc[0]), float(end["efficiency"].iloc[0])
                right = x <= middle
                ax.scatter([x], [y], s=110, color=colour, zorder=3, label=words)
                ax.annotate(f"{words}\nU = {y:.4f}, {measure} = {x:.4f}", (x, y), textcoords="offset points",
                            xytext=(10 if right else -10, 10 if role == "utilitarian" else -10), fontsize=9, color=colour,
                            ha="left" if right else "right", va="bottom" if role == "utilitarian" else "top")
        _mark_price(ax, ok, measure)
        ax.set_xlabel(f"{measure} of the {level_words(spec)}")
        ax.set_ylabel("efficiency U (weighted mean level)")
        ax.set_title(f"{city_name}: efficiency against {measure} ({spec.model}, by {spec.by})")
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
        return fig


def _mark_price(ax, ok: pd.DataFrame, measure: str) -> None:
    top, fair = ok[ok["role"] == "utilitarian"], ok[ok["role"] == "fairest"]
    if not len(top) or not len(fair):
        return
    u_star, x = float(top["efficiency"].iloc[0]), float(fair["equity"].iloc[0])
    u_fair, price = float(fair["efficiency"].iloc[0]), float(fair["price_of_fairness"].iloc[0])
    ax.axhline(u_star, color="#55a868", lw=0.8, ls="--")
    ax.annotate("", xy=(x, u_fair), xytext=(x, u_star), arrowprops={"arrowstyle": "<->", "color": "#c44e52"})
    outside = x >= float(ok["equity"].mean())          # write on the side away from the other points
    ax.annotate(f"price of fairness\n(U* − U)/U* = {100 * price:.2f}%", (x, (u_star + u_fair) / 2),
                textcoords="offset points", xytext=(8 if outside else -8, 0), ha="left" if outside else "right",
                va="center", fontsize=9, color="#c44e52")


def bench_figure(frame: pd.DataFrame, city_name: str, spec: ProblemSpec) -> Figure:
    """Left: efficiency and lowest level per objective; right: inequality indices per objective."""
    with matplotlib.rc_context(fonts.chart_style()):
        fig = Figure(figsize=(11.0, 4.8), layout="constrained")
        left, right = fig.subplots(1, 2)
        names = frame["objective"].tolist()
        y = np.arange(len(names))
        for i, (column, label) in enumerate((("efficiency", "efficiency U"), ("min_level", "lowest level"))):
            left.barh(y - 0.2 + 0.4 * i, frame[column].to_numpy(float), height=0.4, label=label,
                      color=("#4c72b0", "#dd8452")[i])
        for yi, pof in zip(y, frame["price_of_fairness"].to_numpy(float)):
            if math.isfinite(pof):
                left.annotate(f"PoF {100 * pof:.1f}%", (0, yi), xytext=(3, 0), textcoords="offset points",
                              va="center", fontsize=8, color="white")
        left.set_yticks(y, names)
        left.invert_yaxis()
        left.set_xlabel(level_words(spec))
        left.legend(loc="lower right", fontsize=8)
        left.set_title("efficiency and the worst-off group")
        indices = ("gini", "theil", "hoover", "cv")
        width = 0.8 / len(indices)
        for i, column in enumerate(indices):
            right.barh(y - 0.4 + width * (i + 0.5), frame[column].to_numpy(float), height=width, label=column)
        right.set_yticks(y, names)
        right.invert_yaxis()
        right.set_xlabel("inequality index (0 = equal)")
        right.legend(loc="lower right", fontsize=8)
        right.set_title("inequality")
        fig.suptitle(f"{city_name}: equity objectives compared ({spec.model}, by {spec.by})")
        return fig
