"""One self-contained HTML report of plans for district leaders (jinja2; charts as data-URI PNG).

What it says, in order: the question asked (model, objective, limits), the plans, what
changes for each district in words and numbers, the charts (tradeoff, bars, Lorenz curves,
map, service coverage), the equity table and the solver's status and gap. Nothing is
fetched from outside: the file opens the same on a laptop without network.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

import jinja2
import matplotlib
import pandas as pd

from allocator.views import charts
from allocator.views.chart_data import ChartOptions, build_chart
from allocator.views.compare import MAIN_LEVEL, MAIN_STAFF, Comparison, PlanSet, compare, today_metrics
from allocator.views.compare_text import fmt_delta, fmt_gap, fmt_value
from allocator.errors import InputError, Problem
from allocator.views.labels import EQUITY_KEYS, MODEL_ZH, SERVICES_ZH, STATUS_ZH, field_label, metric_kind, metric_label
from allocator.plans.plan import Plan
from allocator.views.roadmap import HIRE_KINDS, ROADMAP_COLUMNS, is_roadmap, refuse_mixed, roadmap_table, year_table

OBJECTIVES = {
    "maxmin": ("raise the lowest coverage as far as possible (max-min)", "使覆盖率最低的单位尽可能高（最大化最小覆盖率）"),
    "shortfall": ("smallest total shortfall of staff against need", "执法人员总缺口最小"),
    "moves": ("fewest officers moved to reach the target coverage", "达到目标覆盖率所需调动人数最少"),
    "expected": ("smallest expected unmet demand over surge scenarios", "各突发情景下期望未满足需求最小（吹哨报到）"),
    "cost": ("lowest cost with no unmet grid work", "网格工作全部满足前提下成本最低"),
    "unmet": ("least unmet grid work within the budget", "预算内未满足网格工作量最小"),
    "mclp": ("most people within reach for the budget (maximal covering)", "预算内服务圈覆盖人口最多（最大覆盖）"),
    "lscp": ("cheapest set of sites reaching everyone (set covering)", "覆盖全部可覆盖需求的最低成本（集合覆盖）"),
    "lscpb": ("set covering with a backup site", "带备用设施的集合覆盖"),
    "pmedian": ("shortest total travel with p sites (p-median)", "p 个设施下总出行时间最短（p-中位）"),
    "cpmedian": ("p-median with site capacities", "带容量约束的 p-中位"),
    "pcenter": ("shortest longest trip with p sites (p-center)", "p 个设施下最远出行时间最短（p-中心）"),
    "utilitarian": ("highest population-weighted mean service index (a roadmap: mean over its years)",
                    "人口加权的服务指数均值最高（多年规划：各年平均）"),
    "target": ("reach the target index by the target year at least cost", "以最低支出在目标年份前达到服务指数目标"),
    "cflp": ("cheapest capacitated facility plan", "带容量设施选址成本最低"),
}
LIMITS = (("budget", "budget (10k CNY/yr)", "预算（万元/年）"), ("headcount", "headcount", "编制总数"),
          ("max_moves", "most officers moved", "最多调动人数"), ("target_ratio", "target coverage", "目标覆盖率"),
          ("p", "number of sites p", "设施数 p"), ("services", "services", "服务类型"),
          ("basis", "population basis", "人口口径"), ("time_limit", "solver time limit (s)", "求解时限（秒）"),
          ("gap", "MIP gap asked", "要求的最优性间隙"))
META_LIMITS = {"budget": ("budget", "budget_10k_cny", "budget_limit_10k_cny"), "headcount": ("headcount", "headcount_limit"),
               "max_moves": ("max_moves",)}
CHARTS = (("tradeoff", "Tradeoff", "效率与公平"), ("bars", "Per district", "各区县对比"), ("lorenz", "Equity", "公平性"),
          ("map", "Map", "地图"), ("coverage", "15-minute circle", "一刻钟服务圈"))
VALUE_ZH = {"registered": "户籍人口", "resident": "常住人口", "actual": "实有人口", **SERVICES_ZH}
Progress = Callable[[str], None]


@dataclass
class Chart:
    """One chart of the report: its caption and its SVG markup, text kept as text so that the
    reader's browser draws names in the reader's own fonts (or why it could not be drawn)."""

    title: str
    svg: str | None
    note: str | None = None


def render_report(planset: PlanSet, lang: str = "zh", progress: Progress | None = None) -> str:
    """The report as one HTML string."""
    say = progress or (lambda message: None)
    if refuse_mixed(planset.plans, "report a roadmap alone, or plans of one year together"):
        return render_roadmap_report(planset, lang, say)
    cmp = compare(planset, "district")
    solved = solved_plans(planset)
    figures, kinds = [], chart_kinds(planset, solved)
    for i, (kind, en, zh) in enumerate(kinds, start=1):
        say(f"drawing {kind} ({i}/{len(kinds)})")
        figures.append(chart(kind, solved, lang, zh if lang == "zh" else en))
    say("writing the report")
    template = _environment().get_template("report.html.j2")
    return template.render(lang=lang, t=_words(lang), city=_city_name(planset, lang), created=datetime.now().strftime("%Y-%m-%d %H:%M"),
                           questions=[question(p, label, lang) for p, label in zip(planset.plans, planset.labels)],
                           plans=plan_rows(planset, cmp, lang), changes=district_changes(planset, cmp, lang),
                           figures=figures, equity=equity_rows(cmp, lang), solver=solver_rows(planset, lang))


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent),
                              autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)


def solved_plans(planset: PlanSet) -> PlanSet:
    """The plans that hold tables (an infeasible plan has none), keeping their letters."""
    keep = [i for i, p in enumerate(planset.plans) if p.tables]
    return PlanSet([planset.plans[i] for i in keep], planset.instance, [planset.labels[i] for i in keep],
                   [planset.names[i] for i in keep])


def chart_kinds(planset: PlanSet, solved: PlanSet) -> list[tuple[str, str, str]]:
    if not solved.plans:
        return []
    has_coverage = any("cov_all" in (p.tables.get("districts", pd.DataFrame()).columns) for p in solved.plans)
    skip = {"map"} if planset.instance is None else set()
    if not has_coverage:
        skip.add("coverage")
    return [c for c in CHARTS if c[0] not in skip]


def chart(kind: str, planset: PlanSet, lang: str, title: str) -> Chart:
    try:
        fig = build_chart(kind, planset, ChartOptions(by="district", lang=lang))
    except InputError as err:
        return Chart(title, None, err.describe())
    buffer = io.StringIO()
    with charts.style(), matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "allocator"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight")
    markup = buffer.getvalue()
    return Chart(title, markup[markup.index("<svg"):])


def _city_name(planset: PlanSet, lang: str = "en") -> str:
    """city.yaml's name (name_zh in the zh report, when the city gives one)."""
    if planset.instance is None:
        return str(planset.plans[0].meta.get("instance", ""))
    config = planset.instance.config
    return config.name_zh if lang == "zh" and config.name_zh else planset.instance.name


# ---------------------------------------------------------------- the question and the plans

def question(plan: Plan, label: str, lang: str) -> dict:
    m = plan.meta
    en, zh = OBJECTIVES.get(str(m.get("objective")), (str(m.get("objective")), str(m.get("objective"))))
    model = str(m.get("model"))
    return {"label": label, "model": MODEL_ZH.get(model, model) if lang == "zh" else model,
            "objective": f"{zh if lang == 'zh' else en} ({m.get('objective')})",
            "limits": limits(plan, lang) + (roadmap_limits(plan, lang) if is_roadmap(plan) else [])}


def limits(plan: Plan, lang: str) -> list[tuple[str, str]]:
    """The limits the planner set (options) or the model applied (its own meta), in words."""
    options = plan.meta.get("options") or {}
    own = plan.meta.get(plan.model) or plan.meta.get("figures") or {}
    out = []
    for key, en, zh in LIMITS:
        value = options.get(key)
        if value is None:
            value = next((own[k] for k in META_LIMITS.get(key, ()) if own.get(k) is not None), None)
        if value is None and key == "basis":
            value = plan.meta.get("basis")
        if value is not None and value != []:
            values = value if isinstance(value, list) else [value]
            shown = [VALUE_ZH.get(str(v), str(v)) if lang == "zh" and isinstance(v, str) else
                     (fmt_value(v) if not isinstance(v, str) else v) for v in values]
            out.append((zh if lang == "zh" else en, ", ".join(shown)))
    return out


def plan_rows(planset: PlanSet, cmp: Comparison, lang: str) -> list[dict]:
    rows = []
    for plan, label, folder, name in zip(planset.plans, planset.labels, planset.folders, planset.names):
        m = plan.meta
        spend = cmp.values[label]["spend"].sum() if "spend" in cmp.values[label] else None
        check = (m.get("check") or {}).get("passed")
        shown = folder if name == folder else f"{name} ({folder})"
        rows.append({"label": label, "folder": shown, "model": m.get("model"), "objective": m.get("objective"),
                     "status": _status(m.get("status"), lang), "gap": _gap(m.get("mip_gap")),
                     "value": fmt_value(m.get("objective_value")), "spend": fmt_value(spend, "money"),
                     "check": "-" if check is None else (("通过" if check else "未通过") if lang == "zh" else ("passed" if check else "FAILED"))})
    return rows


def _status(status: object, lang: str) -> str:
    return STATUS_ZH.get(str(status), str(status)) if lang == "zh" else str(status)


def _gap(gap: object) -> str:
    return "-" if gap is None or (isinstance(gap, float) and math.isnan(gap)) else fmt_gap(float(gap))


# ---------------------------------------------------------------- what changes per district

def district_changes(planset: PlanSet, cmp: Comparison, lang: str) -> list[dict]:
    """Per district, per plan: 'staff +34 (+12%), coverage 0.71 → 0.93' against today (or plan A)."""
    todays = {label: today_metrics(p, "district", planset.instance) for p, label in zip(planset.plans, planset.labels)}
    out = []
    for unit in cmp.units:
        lines = []
        for plan, label in zip(planset.plans, planset.labels):
            words = _change_words(plan, cmp, label, todays[label], unit, lang)
            if words:
                lines.append({"label": label, "text": words})
        if lines:
            out.append({"name": str(cmp.names.get(unit, unit)), "id": unit, "lines": lines})
    return out


def _change_words(plan: Plan, cmp: Comparison, label: str, today: pd.DataFrame, unit: str, lang: str) -> str:
    values = cmp.values[label]
    if unit not in values.index:
        return ""
    parts = []
    first = cmp.labels[0]
    for metric in (MAIN_STAFF.get(plan.model), "new_sites" if plan.model == "facilities" else None, MAIN_LEVEL.get(plan.model)):
        if not metric or metric not in values or pd.isna(values.at[unit, metric]):
            continue
        base, versus = (today.at[unit, metric] if metric in today and unit in today.index else None), ""
        if (base is None or pd.isna(base)) and label != first and metric in cmp.values[first] and unit in cmp.values[first].index:
            base, versus = cmp.values[first].at[unit, metric], f" ({'对比' if lang == 'zh' else 'vs'} {first})"
        parts.append(_phrase(metric, base, values.at[unit, metric], lang) + versus)
    return ("，" if lang == "zh" else ", ").join(parts)


def _phrase(metric: str, before: float | None, after: float, lang: str) -> str:
    name, kind = metric_label(metric, lang), metric_kind(metric)
    if metric == "new_sites":
        return f"{name} {fmt_value(after, kind)}"
    if before is None or pd.isna(before):
        return f"{name} {fmt_value(after, kind)}"
    if kind == "ratio":
        return f"{name} {before:.2f} → {after:.2f}"
    return f"{name} {fmt_delta(after - before, before, kind)}（{fmt_value(before, kind)} → {fmt_value(after, kind)}）" if lang == "zh" \
        else f"{name} {fmt_delta(after - before, before, kind)} ({fmt_value(before, kind)} → {fmt_value(after, kind)})"


# ---------------------------------------------------------------- equity and solver

def equity_rows(cmp: Comparison, lang: str) -> dict:
    header = [str(label) for label in cmp.labels]
    levels = [metric_label(str(v), lang) if v else "-" for v in cmp.head["level"]]
    rows = [(field_label(k, lang), [_measure(cmp.head.at[label, k]) for label in cmp.labels]) for k in EQUITY_KEYS]
    return {"header": header, "levels": levels, "rows": rows}


def _measure(value: object) -> str:
    return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{float(value):.4g}"


def solver_rows(planset: PlanSet, lang: str) -> list[dict]:
    rows = []
    for plan, label in zip(planset.plans, planset.labels):
        m = plan.meta
        t = m.get("timings") or {}
        rows.append({"label": label, "status": _status(m.get("status"), lang), "raw_status": m.get("status"),
                     "gap": _gap(m.get("mip_gap")), "bound": fmt_value(m.get("bound")),
                     "solver": f"{m.get('solver') or 'highs'} {m.get('solver_version') or ''}".strip(),
                     "seconds": f"{t.get('total_s', 0.0):.1f}", "explanation": m.get("explanation") or ""})
    return rows


def _words(lang: str) -> dict[str, str]:
    zh = lang == "zh"
    return {
        "title": "资源配置方案报告" if zh else "Allocation plans report",
        "question": "要回答的问题" if zh else "The question asked",
        "plans": "方案一览" if zh else "The plans compared",
        "changes": "各区县有何变化" if zh else "What changes for each district",
        "changes_note": ("数字为各方案相对现状的变化（现状不可知时相对方案 A）。" if zh
                         else "Numbers are each plan against today (against plan A where today is not known)."),
        "charts": "图表" if zh else "Charts",
        "equity": "公平性指标（各区县）" if zh else "Equity across districts",
        "equity_note": ("基尼系数、泰尔指数、阿特金森指数、变异系数越低越公平；Jain 指数与最小/最大比越接近 1 越公平。" if zh
                        else "Lower Gini, Theil, Atkinson and CV are fairer; Jain index and min/max closer to 1 are fairer."),
        "solver": "求解状态" if zh else "Solver status",
        "plan": "方案" if zh else "plan", "model": "模型" if zh else "model", "objective": "目标" if zh else "objective",
        "limits": "限制条件" if zh else "limits", "status": "状态" if zh else "status", "gap": "间隙" if zh else "gap",
        "value": "目标值" if zh else "objective value", "spend": "总支出（万元/年）" if zh else "total spend (10k CNY/yr)",
        "check": "独立校验" if zh else "independent check", "folder": "方案名（文件夹）" if zh else "name (folder)",
        "bound": "界" if zh else "bound", "solver_name": "求解器" if zh else "solver", "seconds": "耗时（秒）" if zh else "seconds",
        "level": "指标" if zh else "level", "created": "生成于" if zh else "made",
        "time_limit_note": ("达到求解时限：给出的是当前最好的可行方案，离最优的差距不超过所示间隙。" if zh
                            else "Stopped at the time limit: the best plan found, within the gap shown of the optimum."),
        "no_changes": "没有可比较的方案数据。" if zh else "No plan holds data to compare.",
        "summary": "逐年概览" if zh else "The roadmap year by year",
        "summary_note": ("每列为一年；新招与在岗人数为各类人员，指数为区县服务指数（均值按人口加权）。" if zh
                         else "One column per year: hires and staff employed by kind; the index is the district service "
                              "index (its mean weighted by population)."),
        "figure": "项目" if zh else "figure", "year": "年度" if zh else "Year", "year_figures": "本年主要数字" if zh else "The year's figures",
        "year_districts": "各区县" if zh else "Districts", "district": "区县" if zh else "district",
        "no_roadmap": "没有规划：求解未得到可行方案。" if zh else "No roadmap: the solve found no plan.",
    }


# ---------------------------------------------------------------- a roadmap year by year

ROADMAP_LIMITS = (("years", "years", "规划年份"), ("budget_growth", "budget growth per year", "预算年增长率"),
                  ("hire_quotas", "most hires per year", "每年最多新招"), ("build_limit", "most sites opened per year", "每年最多新开设施"),
                  ("build_lag", "years a site takes to open", "设施建设周期（年）"), ("target_level", "lowest index to reach", "最低服务指数目标"),
                  ("target_year", "by the year", "目标年份"))
YEAR_DISTRICT_COLUMNS = ("spend", "service_index", "grid_coverage", "enforcement_coverage", "facilities_coverage", "fulltime",
                         "parttime", "professionals", "enforcement_staff", "pool_staff", "new_sites",
                         "community_workers_per_10k_urban")
YEAR_FIGURES = ("budget", "spend", "transfers", *(f"hires_{k}" for k in HIRE_KINDS), *(f"employed_{k}" for k in HIRE_KINDS),
                "sites_opened", "mean_index", "lowest_index", "urban_districts_at_worker_norm")


def roadmap_limits(plan: Plan, lang: str) -> list[tuple[str, str]]:
    """A roadmap's own limits (plan.json's roadmap section), in words; those not set are left out."""
    own = plan.meta.get("roadmap") or {}
    out = []
    for key, en, zh in ROADMAP_LIMITS:
        value = own.get(key, (plan.meta.get("options") or {}).get(key))
        if key == "years" and value:
            value = f"{min(value)}–{max(value)}"
        elif key == "budget_growth":
            value = (plan.meta.get("options") or {}).get(key)
            value = None if not value else f"{100 * float(value):g}%"
        elif key == "hire_quotas":
            value = ", ".join(f"{metric_label(f'hires_{k}', lang)} {n}" for k, n in (value or {}).items()) or None
        elif key == "build_lag" and not value:
            value = None
        if value is not None and value != "":
            out.append((zh if lang == "zh" else en, value if isinstance(value, str) else fmt_value(value)))
    return out


def render_roadmap_report(planset: PlanSet, lang: str, say: Progress) -> str:
    """One roadmap: the question, its years in one table and one chart, then a section per year with
    the year's figures and its district table."""
    if len(planset.plans) != 1:
        raise InputError(Problem("PLAN", f"a report shows one roadmap, not {len(planset.plans)}: give one plan "
                                         "(allocator compare A B sets roadmaps side by side, year by year)"))
    plan, label = planset.plans[0], planset.labels[0]
    summary, years, figures = None, [], []
    if plan.tables:
        table = roadmap_table(plan)
        summary = {"years": [str(y) for y in table["year"]],
                   "rows": [(metric_label(c, lang), [fmt_value(float(v), metric_kind(c)) for v in table[c]])
                            for c in ROADMAP_COLUMNS if c != "year"]}
        say("drawing the roadmap")
        figures.append(chart("roadmap", planset, lang, "各年新增人员、新开设施与服务指数" if lang == "zh"
                             else "Hires, sites opened and the service index per year"))
        years = [year_section(plan, row, lang) for _, row in table.iterrows()]
    rows = plan_rows_roadmap(planset, lang)
    say("writing the report")
    template = _environment().get_template("report.html.j2")
    return template.render(lang=lang, t=_words(lang), city=_city_name(planset, lang), created=datetime.now().strftime("%Y-%m-%d %H:%M"),
                           questions=[question(plan, label, lang)], plans=rows, roadmap=True, summary=summary,
                           figures=figures, years=years, solver=solver_rows(planset, lang))


def plan_rows_roadmap(planset: PlanSet, lang: str) -> list[dict]:
    """The plans table of a roadmap: its spend is per year (the summary), so the cell says so."""
    rows = []
    for plan, label, folder, name in zip(planset.plans, planset.labels, planset.folders, planset.names):
        m = plan.meta
        check = (m.get("check") or {}).get("passed")
        rows.append({"label": label, "folder": folder if name == folder else f"{name} ({folder})", "model": m.get("model"),
                     "objective": m.get("objective"), "status": _status(m.get("status"), lang), "gap": _gap(m.get("mip_gap")),
                     "value": fmt_value(m.get("objective_value")), "spend": "见逐年概览" if lang == "zh" else "by year, below",
                     "check": "-" if check is None else (("通过" if check else "未通过") if lang == "zh" else ("passed" if check else "FAILED"))})
    return rows


def year_section(plan: Plan, row: pd.Series, lang: str) -> dict:
    """One year: its figures (roadmap.csv's row) and its districts (districts.csv's rows of that year)."""
    year = int(row["year"])
    figures = [(metric_label(c, lang), fmt_value(float(row[c]), metric_kind(c))) for c in YEAR_FIGURES]
    districts = year_table(plan, "districts", year)
    columns = [c for c in YEAR_DISTRICT_COLUMNS if c in districts]
    names = [str(n) if isinstance(n, str) and n else str(d) for n, d in zip(districts.get("name", districts["district_id"]),
                                                                            districts["district_id"])]
    numbers = districts[columns].apply(pd.to_numeric, errors="coerce").astype(float)
    table = [(name, [fmt_value(float(numbers.at[i, c]), metric_kind(c)) for c in columns]) for i, name in enumerate(names)]
    return {"year": year, "figures": figures, "header": [metric_label(c, lang) for c in columns], "districts": table}
