"""Excel out: a plan (or a comparison) as one workbook planners can open, filter and forward.

Every sheet has one header row, "english / 中文", frozen, with filters. Numbers are for people,
rounded to their unit (persons whole, money to 0.1 of 10k CNY, shares and ratios to 4 decimals;
the plan folder's tables, which `check` reads, stay exact); the workbook is written to a temporary file beside OUT and renamed,
so a failed export leaves nothing behind.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd

from allocator.views.compare import Comparison, equity, load_plans, plan_levels, unit_metrics
from allocator.errors import InputError, Problem
from allocator.files import check_file_target, guard_sheet, write_file
from allocator.data.instance import Instance
from allocator.views.compare_text import DIGITS, for_people
from allocator.views.labels import EQUITY_KEYS, METRICS, bilingual, column_header, field_label, metric_kind
from allocator.plans.plan import TABLE_COLUMNS, Plan
from allocator.views.roadmap import RoadmapComparison, is_roadmap

SHEET_MAX = 31
META_FIELDS = ("model", "objective", "objective_value", "status", "mip_gap", "bound", "solver", "solver_version",
               "instance", "instance_sha256", "instance_source", "basis", "seed", "threads", "created", "explanation")
META_ZH = {"bound": "界", "solver": "求解器", "solver_version": "求解器版本", "instance_sha256": "实例校验值",
           "instance_source": "实例路径", "seed": "随机种子", "threads": "线程数", "created": "生成时间",
           "explanation": "说明", "check": "独立校验", "options": "选项", "total_s": "总耗时（秒）"}


def check_out(out: Path, suffixes: tuple[str, ...], what: str, overwrite: bool = False) -> Path:
    """OUT must have a known suffix, not be a folder, sit in a writable folder and, unless
    `overwrite`, not exist yet: say so before any work."""
    out = Path(out)
    if out.suffix.lower() not in suffixes:
        raise InputError(Problem(str(out), f"{what} is written as {' or '.join(suffixes)}: give a name ending in one of them"))
    if out.is_dir():
        raise InputError(Problem(str(out), "is a folder; give a file name"))
    parent = out.parent if str(out.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise InputError(Problem(str(out), f"cannot be written: {parent} is a file, not a folder"))
    if not parent.is_dir():
        raise InputError(Problem(str(out), f"cannot be written: folder {parent} does not exist"))
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise InputError(Problem(str(out), "cannot be written: no permission"))
    check_file_target(out, overwrite, "--out")
    return out


def write_workbook(sheets: dict[str, pd.DataFrame], out: Path, raw: tuple[str, ...] = ()) -> Path:
    """One sheet per frame; headers made bilingual (sheets in `raw` keep their column names
    before the Chinese, as plan tables do); frozen header row, filters, readable widths."""
    def write(tmp: Path) -> None:
        with pd.ExcelWriter(tmp, engine="openpyxl") as book:
            for name, frame in sheets.items():
                frame = frame.rename(columns=lambda c: column_header(str(c)) if name in raw else _header(str(c)))
                frame.to_excel(book, sheet_name=_sheet_name(name), index=False)
                _format(book.sheets[_sheet_name(name)], frame)
                guard_sheet(book.sheets[_sheet_name(name)])     # text stays text: never a live formula
    return write_file(out, write)


def _header(column: str) -> str:
    """'enforcement_staff [B-A]' → 'enforcement staff posted / 派驻执法人员 [B-A]'."""
    base, _, rest = column.partition(" [")
    return bilingual(base) + (f" [{rest}" if rest else "")


def _sheet_name(name: str) -> str:
    clean = "".join("_" if ch in "[]:*?/\\" else ch for ch in name)
    return clean[:SHEET_MAX]


def _format(sheet, frame: pd.DataFrame) -> None:
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    sheet.freeze_panes = "B2" if frame.shape[1] > 2 else "A2"
    if len(frame):
        sheet.auto_filter.ref = sheet.dimensions
    for i, column in enumerate(frame.columns, start=1):
        cell = sheet.cell(row=1, column=i)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        longest = max([len(str(v)) for v in frame[column].head(200)] + [min(len(str(column)), 28)])
        sheet.column_dimensions[get_column_letter(i)].width = min(max(10, longest + 2), 48)


# ---------------------------------------------------------------- a plan

def plan_summary(plan: Plan, instance: Instance | None = None) -> pd.DataFrame:
    """field / value rows: what was asked, what the solver said, how the plan spreads (by district)."""
    m = plan.meta
    rows = [(f"{k} / {META_ZH.get(k) or field_label(k, 'zh')}", _cell(m.get(k))) for k in META_FIELDS]
    check = m.get("check") or {}
    rows.append(("check / 独立校验", "passed / 通过" if check.get("passed") else ("failed / 未通过" if check else "-")))
    rows.append(("total_s / 总耗时（秒）", _cell((m.get("timings") or {}).get("total_s"))))
    rows.append(("options / 选项", json.dumps(m.get("options") or {}, ensure_ascii=False)))
    if is_roadmap(plan):                # a roadmap's years are its sheets (roadmap, and a year column in each)
        return pd.DataFrame(rows, columns=["field", "value"])
    levels = plan_levels(plan, "district", instance)
    if levels.key:
        weights = "population / 人口" if levels.weights is not None else "equal / 等权"
        rows.append(("equity level / 公平性指标对象", bilingual(levels.key)))
        rows.append(("weights / 权重", weights))
        for key, value in equity(levels).items():
            rows.append((f"{field_label(key, 'en')} / {field_label(key, 'zh')}", value))
    return pd.DataFrame(rows, columns=["field", "value"])


def plan_sheets(plan: Plan, instance: Instance | None = None) -> dict[str, pd.DataFrame]:
    """summary, the district metrics, then every table of the plan in contract order."""
    sheets = {"summary": plan_summary(plan, instance)}
    metrics = unit_metrics(plan, "district", instance) if not is_roadmap(plan) else pd.DataFrame()
    if len(metrics):
        sheets["by_district"] = for_people(metrics.rename_axis("district_id").reset_index())
    first = ["roadmap"] if is_roadmap(plan) and "roadmap" in plan.tables else []
    order = first + [t for t in TABLE_COLUMNS if t in plan.tables] + sorted(t for t in plan.tables if t not in TABLE_COLUMNS and t not in first)
    for name in order:                  # for people: to each column's unit, shares to 4 decimals (plan.json's folder stays exact)
        sheets[name] = for_people(plan.tables[name], unknown=4)
    return sheets


def _cell(value: object) -> object:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value


# ---------------------------------------------------------------- a comparison

def comparison_sheets(cmp: Comparison) -> dict[str, pd.DataFrame]:
    """summary (one column per plan), the wide side-by-side table, and a long table (one value a row)."""
    head = cmp.head.reset_index()
    fields = ["label", "folder", "model", "objective", "objective_value", "status", "mip_gap", "instance", "basis", "level", *EQUITY_KEYS]
    summary = pd.DataFrame({"field": [f"{field_label(f, 'en')} / {field_label(f, 'zh')}" if f != "label" else "plan / 方案" for f in fields]})
    for _, row in head.iterrows():
        summary[str(row["label"])] = [bilingual(row[f]) if f == "level" and row[f] else row.get(f) for f in fields]
    long = []
    for label in cmp.labels:
        frame = cmp.values[label]
        for metric in cmp.metrics:
            if metric in frame:
                for unit, value in frame[metric].items():
                    long.append((unit, cmp.names.get(unit, unit), label, metric, METRICS.get(metric, (metric, metric))[1], value))
    long_frame = pd.DataFrame(long, columns=[f"{cmp.by}_id", "name", "plan", "metric", "metric_zh", "value"])
    long_frame["value"] = [round(v, DIGITS.get(metric_kind(m), 1)) if isinstance(v, float) and math.isfinite(v) else v
                           for v, m in zip(long_frame["value"], long_frame["metric"])]
    return {"summary": summary, f"by_{cmp.by}": for_people(cmp.wide()), "long": long_frame}


def export_plan(folder: Path, out: Path, instance: Path | None = None, progress=None, overwrite: bool = False) -> Path:
    """PLAN as a workbook; equity is population-weighted when the plan's city can be found."""
    check_out(out, (".xlsx",), "the export", overwrite)
    planset = load_plans([folder], instance=instance, progress=progress)
    plan = planset.plans[0]
    return write_workbook(plan_sheets(plan, planset.instance), out, raw=tuple(plan.tables))


def export_comparison(cmp: Comparison, out: Path) -> Path:
    return write_workbook(comparison_sheets(cmp), out)


def export_roadmap_comparison(cmp: RoadmapComparison, out: Path) -> Path:
    """Roadmaps compared: the plans (one column each) and the year table (one row per year)."""
    head = cmp.head.reset_index()
    fields = ["label", "name", "folder", "objective", "objective_value", "status", "mip_gap", "years"]
    words = {"label": "plan / 方案", "name": "name / 名称", "years": "years / 年份"}
    summary = pd.DataFrame({"field": [words.get(f) or f"{field_label(f, 'en')} / {field_label(f, 'zh')}" for f in fields]})
    for _, row in head.iterrows():
        summary[str(row["label"])] = [row.get(f) for f in fields]
    return write_workbook({"summary": summary, "by_year": for_people(cmp.wide())}, out)
