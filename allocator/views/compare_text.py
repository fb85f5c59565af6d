"""A `Comparison` for people: terminal tables within 80 columns, numbers as planners write them.

Chinese characters take two terminal columns; every width here is a display width. Columns
that do not fit are paged into further blocks that repeat the name column, so no line is
longer than `width`.
"""
from __future__ import annotations

import json
import math
import unicodedata

import numpy as np
import pandas as pd

from allocator.files import quote_frame
from allocator.views.compare import Comparison
from allocator.views.roadmap import RoadmapComparison, roadmap_json
from allocator.views.labels import BY_ZH, EQUITY_KEYS, METRICS, field_label, metric_kind, metric_label

NAME_WIDTH = 20
HEAD_FIELDS = ("folder", "model", "objective", "objective_value", "status", "mip_gap", "released", "grid_released", "level",
               "weights")


def text_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def fit(text: str, width: int) -> str:
    """`text` cut to `width` display columns (with an ellipsis when cut)."""
    if text_width(text) <= width:
        return text
    out, used = "", 0
    for ch in text:
        w = text_width(ch)
        if used + w > width - 1:
            break
        out, used = out + ch, used + w
    return out + "…"


def pad(text: str, width: int, right: bool = False) -> str:
    space = " " * max(0, width - text_width(text))
    return space + text if right else text + space


def fmt_value(value: object, kind: str = "number") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if not isinstance(value, (int, float)):
        return str(value)
    v = float(value)
    if abs(v) < NOISE:                  # solver and float noise (a Theil of -6.6e-17) reads 0
        v = 0.0
    if kind == "ratio":
        return f"{v:.3f}"
    if kind == "rate":
        return f"{v:,.1f}"
    if kind in ("count", "money"):
        return f"{v:,.0f}" if v == round(v) or abs(v) >= 100 else f"{v:,.1f}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4g}"


NOISE = 1e-9                        # |x| below this is 0 to a reader
DIGITS = {"count": 0, "money": 1, "ratio": 4, "rate": 1, "number": 1}     # decimals a person reads, by metric kind


def for_people(frame: pd.DataFrame, unknown: int = 1) -> pd.DataFrame:
    """A table for people (compare's CSV and workbook): each metric column ('metric [A]', 'metric
    [B-A]') rounded to its unit — persons whole, money to 0.1 of 10k CNY, ratios to 4 decimals —
    so that no cell reads 978.9842000000001. Plan tables, which the checker reads, are never
    rounded. Columns that are no metric get `unknown` decimals."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column]):
            base = str(column).split(" [", 1)[0]
            kind = metric_kind(base) if base in METRICS else None
            out[column] = out[column].round(DIGITS[kind] if kind in DIGITS else unknown)
            if kind == "count" and np.isfinite(out[column].fillna(0)).all():
                out[column] = out[column].astype("Int64")          # persons read 12, not 12.0
    return out


def fmt_delta(delta: float, base: float | None, kind: str = "number") -> str:
    """'+34 (+12%)' for counts and money, '+0.220' for ratios, '0' when nothing changes."""
    if delta is None or not math.isfinite(delta):
        return "-"
    if abs(delta) < 1e-9:
        return "0"
    sign = "+" if delta > 0 else "-"
    if kind == "ratio":
        return f"{sign}{abs(delta):.3f}"
    text = sign + fmt_value(abs(delta), kind)
    if kind in ("count", "money") and base is not None and math.isfinite(base) and base > 0:
        text += f" ({sign}{abs(delta) / base:.0%})"
    return text


def fmt_gap(gap: float) -> str:
    """Relative MIP gap as a percentage; solver noise below 1e-6 % shows as 0 %."""
    return "0%" if abs(gap) < 1e-8 else f"{100 * gap:.3g}%"


def table_lines(header: str, keys: list[str], columns: list[tuple[str, list[str]]], width: int = 80) -> list[str]:
    """Rows `keys` by `columns` (title, cells), right-aligned, paged so no line exceeds `width`."""
    key_w = min(NAME_WIDTH, max([text_width(k) for k in keys + [header]] or [4]))
    widths = [max(text_width(t), *(text_width(c) for c in cells)) if cells else text_width(t) for t, cells in columns]
    widths = [min(w, width - key_w - 2) for w in widths]
    pages, page, used = [], [], key_w
    for i, w in enumerate(widths):
        if page and used + 2 + w > width:
            pages.append(page)
            page, used = [], key_w
        page.append(i)
        used += 2 + w
    pages.append(page)
    lines: list[str] = []
    for n, page in enumerate(pages):
        if n:
            lines.append("")
        lines.append(pad(fit(header, key_w), key_w) + "".join("  " + pad(fit(columns[i][0], widths[i]), widths[i], True) for i in page))
        for r, key in enumerate(keys):
            lines.append(pad(fit(key, key_w), key_w) + "".join("  " + pad(fit(columns[i][1][r], widths[i]), widths[i], True) for i in page))
    return lines


def head_lines(cmp: Comparison, lang: str = "en", width: int = 80) -> list[str]:
    keys = [field_label(k, lang) for k in HEAD_FIELDS + EQUITY_KEYS]
    columns = []
    for label, row in cmp.head.iterrows():
        cells = [_head_cell(k, row.get(k), lang) for k in HEAD_FIELDS + EQUITY_KEYS]
        columns.append((label, cells))
    return table_lines("plan" if lang == "en" else "方案", keys, columns, width)


def _head_cell(key: str, value: object, lang: str) -> str:
    if key == "mip_gap":
        return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else fmt_gap(float(value))
    if key == "level":
        return metric_label(str(value), lang) if value else "-"
    if key == "objective_value":
        return fmt_value(value, "number")
    if isinstance(value, float):
        return fmt_value(value, "ratio" if key in ("mean", "min", "max", "range", "mad") else "number")
    return "-" if value is None else str(value)


def metric_lines(cmp: Comparison, metric: str, lang: str = "en", width: int = 80) -> list[str]:
    kind = metric_kind(metric)
    first = cmp.labels[0]
    columns = [(label, [fmt_value(v, kind) for v in cmp.column(metric, label)]) for label in cmp.labels]
    for label in cmp.labels[1:]:
        deltas, bases = cmp.delta(metric, label), cmp.column(metric, first)
        columns.append((f"{label}-{first}", [fmt_delta(d, b, kind) for d, b in zip(deltas, bases)]))
    keys = [str(cmp.names.get(u, u)) for u in cmp.units]
    by = cmp.by if lang == "en" else BY_ZH[cmp.by]
    return [fit(f"{metric_label(metric, lang)}  [{metric}]", width), *table_lines(by, keys, columns, width)]


def render_text(cmp: Comparison, lang: str = "en", width: int = 80) -> str:
    """The whole comparison as terminal text: head block, then one table per metric."""
    legend = [fit(f"{label} = {name}" + (f" ({folder})" if name != folder else ""), width)
              for label, name, folder in zip(cmp.head.index, cmp.head["name"], cmp.head["folder"])]
    lines = legend + [""] + head_lines(cmp, lang, width)
    for metric in cmp.metrics:
        lines += ["", *metric_lines(cmp, metric, lang, width)]
    return "\n".join(lines)


def to_json(cmp: Comparison) -> str:
    """Head, units and values, deltas against the first plan; NaN as null."""
    units = []
    for u in cmp.units:
        values = {m: {label: _num(cmp.column(m, label)[u]) for label in cmp.labels} for m in cmp.metrics}
        deltas = {m: {label: _num(cmp.delta(m, label)[u]) for label in cmp.labels[1:]} for m in cmp.metrics}
        units.append({"id": u, "name": str(cmp.names.get(u, u)), "values": values, "deltas": deltas})
    head = [{"label": label, **{k: _num(v) for k, v in row.items()}} for label, row in cmp.head.iterrows()]
    return json.dumps({"by": cmp.by, "plans": head, "metrics": cmp.metrics, "units": units}, ensure_ascii=False, indent=1)


def _num(value: object) -> object:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA:
        return None
    return value


# ---------------------------------------------------------------- roadmaps year by year

ROADMAP_HEAD = ("folder", "objective", "objective_value", "status", "mip_gap", "years")


def render_roadmap_text(cmp: RoadmapComparison, lang: str = "en", width: int = 80) -> str:
    """Roadmaps as terminal text: who is who, a head block, then one row per year with each plan's
    figures and their differences from the first plan."""
    legend = [fit(f"{label} = {name}" + (f" ({folder})" if name != folder else ""), width)
              for label, name, folder in zip(cmp.labels, cmp.names, cmp.folders)]
    keys = [field_label(k, lang) if k != "years" else ("years" if lang == "en" else "年份") for k in ROADMAP_HEAD]
    head = [(label, [_head_cell(k, row.get(k), lang) for k in ROADMAP_HEAD]) for label, row in cmp.head.iterrows()]
    first = cmp.labels[0]
    columns = []
    for metric in cmp.metrics:
        kind = metric_kind(metric)
        columns += [(f"{metric} [{label}]", [fmt_value(v, kind) for v in cmp.column(metric, label)]) for label in cmp.labels]
        columns += [(f"{metric} [{label}-{first}]", [fmt_delta(d, b, kind) for d, b in
                                                   zip(cmp.delta(metric, label), cmp.column(metric, first))])
                    for label in cmp.labels[1:]]
    words = [fit(f"{metric}: {metric_label(metric, lang)}", width) for metric in cmp.metrics]
    title = "year by year" if lang == "en" else "逐年对比"
    lines = [*legend, "", *table_lines("plan" if lang == "en" else "方案", keys, head, width), "", title, *words, "",
             *table_lines("year" if lang == "en" else "年份", [str(y) for y in cmp.years], columns, width)]
    return "\n".join(lines)


def roadmap_csv(cmp: RoadmapComparison) -> str:
    """The year table for people (rounded to each metric's unit)."""
    return quote_frame(for_people(cmp.wide())).to_csv(index=False, lineterminator="\n")


def roadmap_to_json(cmp: RoadmapComparison) -> str:
    return json.dumps(roadmap_json(cmp), ensure_ascii=False, indent=1)
