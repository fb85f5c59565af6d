"""From plans to the frames `allocator.charts` draws: one builder per chart kind.

`build_chart(kind, planset, ...)` is what the `chart` command and the report call. Names
pass through `fonts.display_name` (ids when no CJK font exists) and words come in the
language the machine can draw (`fonts.chart_language`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from allocator.views import charts

from allocator.views import fonts
from allocator.views.compare import MAIN_STAFF, Levels, PlanSet, compare, equity, plan_levels, today_metrics, unit_metrics, unit_names
from allocator.errors import InputError, Problem
from allocator.data.instance import Instance
from allocator.views.labels import BY_ZH, SERVICES_ZH, metric_label
from allocator.views.roadmap import HIRE_KINDS, refuse_roadmaps, require_roadmaps, roadmap_table

KINDS = ("bars", "lorenz", "map", "coverage", "tradeoff", "roadmap")
GROUP_OF_SERVICE = {"childcare": ("children", "儿童"), "education": ("children", "儿童"), "employment": ("working age", "劳动年龄人口"),
                    "health": ("everyone", "全体居民"), "elderly_care": ("elderly", "老年人"), "housing": ("everyone", "全体居民"),
                    "assistance": ("everyone", "全体居民"), "all": ("all groups", "全部人群")}
WORDS = {
    "en": {"today": "today", "bars": "{metric} per {by}: today and each plan", "lorenz": "Lorenz curves of {level} across {by}s",
           "lorenz_x": "share of {by}s (lowest level first)", "lorenz_xw": "share of population ({by}s, lowest level first)", "lorenz_y": "cumulative share of {level}",
           "map": "{what} by town", "coverage_map": "coverage", "change_map": "change in {metric} against today",
           "coverage": "15-minute circle: share of each target group within reach, per {by}", "share": "share within reach",
           "tradeoff": "Tradeoff: level against equity across {by}s", "tradeoff_x": "mean {level} across {by}s",
           "tradeoff_y": "Gini index (lower is fairer)", "towns": "towns", "open": "open sites", "new": "new sites",
           "roadmap": "Roadmap {first}–{last}: {name}", "hires": "Hires per year", "persons": "persons hired",
           "fulltime": "full-time grid workers", "parttime": "part-time grid workers", "professional": "professionals",
           "officers": "officers", "sites": "Sites opened per year", "sites_y": "sites opened",
           "index": "District service index per year", "index_y": "service index", "mean_index": "mean (population-weighted)",
           "lowest_index": "lowest district", "year": "year"},
    "zh": {"today": "现状", "bars": "各{by}{metric}：现状与各方案", "lorenz": "{by}{level}洛伦兹曲线",
           "lorenz_x": "{by}累计占比（由低到高）", "lorenz_xw": "人口累计占比（按{by}，由低到高）", "lorenz_y": "{level}累计占比",
           "map": "各街镇{what}", "coverage_map": "覆盖率", "change_map": "{metric}较现状变化",
           "coverage": "一刻钟服务圈：各{by}目标人群覆盖率", "share": "服务圈内人口占比",
           "tradeoff": "效率与公平的权衡", "tradeoff_x": "各{by}{level}均值", "tradeoff_y": "基尼系数（越低越公平）",
           "towns": "街镇", "open": "开放设施", "new": "新建设施",
           "roadmap": "多年规划 {first}–{last}：{name}", "hires": "各年新增人员", "persons": "新增人数",
           "fulltime": "专职网格员", "parttime": "兼职网格员", "professional": "专业力量", "officers": "执法人员",
           "sites": "各年新开设施", "sites_y": "新开设施数", "index": "各年区县服务指数", "index_y": "服务指数",
           "mean_index": "均值（人口加权）", "lowest_index": "最低区县", "year": "年份"},
}


@dataclass(frozen=True)
class ChartOptions:
    by: str = "district"
    lang: str = "zh"
    metric: str | None = None
    colour: str = "coverage"          # map: coverage | change


def build_chart(kind: str, planset: PlanSet, options: ChartOptions = ChartOptions()) -> Figure:
    if kind not in KINDS:
        raise InputError(Problem("--kind", f"unknown chart kind {kind!r}; use one of {', '.join(KINDS)}"))
    if kind != "roadmap":
        refuse_roadmaps(planset.plans, f"chart --kind {kind}", "draw it year by year with --kind roadmap")
    options = ChartOptions(options.by, fonts.chart_language(options.lang), options.metric, options.colour)
    return {"roadmap": roadmap, "bars": bars, "lorenz": lorenz, "map": town_map, "coverage": coverage, "tradeoff": tradeoff}[kind](planset, options)


def needs_instance(kind: str) -> bool:
    return kind == "map"


def series_name(planset: PlanSet, i: int) -> str:
    """The plan's name (`PlanSet.names`: --label, its folder, or what differs from the others)."""
    return planset.names[i]


def _by(options: ChartOptions) -> str:
    return BY_ZH[options.by] if options.lang == "zh" else options.by


def _names(planset: PlanSet, by: str, ids) -> list[str]:
    names = unit_names(planset.plans, by, planset.instance)
    return [fonts.display_name(names.get(u), u) for u in ids]


def bars(planset: PlanSet, options: ChartOptions) -> Figure:
    """Per unit: today's value (when the city or plan knows it) and each plan's value of one metric."""
    metric = options.metric or MAIN_STAFF.get(planset.plans[0].model) or "spend"
    frames = {series_name(planset, i): unit_metrics(p, options.by, planset.instance) for i, p in enumerate(planset.plans)}
    columns = {name: f[metric] for name, f in frames.items() if metric in f}
    if not columns:
        known = sorted(set().union(*(f.columns for f in frames.values())))
        raise InputError(Problem("--metric", f"no plan has the metric {metric!r}; these have {', '.join(known)}"))
    today = today_metrics(planset.plans[0], options.by, planset.instance)
    if metric in today:
        columns = {WORDS[options.lang]["today"]: today[metric], **columns}
    values = pd.DataFrame(columns)
    values.index = _names(planset, options.by, values.index)
    title = WORDS[options.lang]["bars"].format(metric=metric_label(metric, options.lang), by=_by(options))
    return charts.bars_figure(values, title, metric_label(metric, options.lang))


def _levels(planset: PlanSet, by: str) -> tuple[str, dict[str, Levels]]:
    levels, level = {}, ""
    for i, plan in enumerate(planset.plans):
        found = plan_levels(plan, by, planset.instance)
        if len(found.values):
            levels[series_name(planset, i)] = found
            level = level or found.key
    if not levels:
        raise InputError(Problem("PLAN", f"no plan has a coverage level per {by}" + (" (town coverage of facilities needs --instance)" if by == "town" else "")))
    return level, levels


def lorenz(planset: PlanSet, options: ChartOptions) -> Figure:
    level, levels = _levels(planset, options.by)
    ginis = {name: equity(found)["gini"] for name, found in levels.items()}
    curves = {name: (found.values, found.weights) for name, found in levels.items()}
    w = WORDS[options.lang]
    by, label = _by(options), metric_label(level, options.lang)
    weighted = any(found.weights is not None for found in levels.values())
    xlabel = w["lorenz_xw" if weighted else "lorenz_x"].format(by=by)
    return charts.lorenz_figure(curves, ginis, w["lorenz"].format(level=label, by=by), xlabel, w["lorenz_y"].format(level=label))


def tradeoff(planset: PlanSet, options: ChartOptions) -> Figure:
    cmp = compare(planset, options.by)
    points = pd.DataFrame({"x": cmp.head["mean"].astype(float), "y": cmp.head["gini"].astype(float)})
    points.index = [series_name(planset, i) for i in range(len(planset.plans))]
    points = points.dropna()
    if not len(points):
        raise InputError(Problem("PLAN", "no plan has a coverage level to weigh"))
    w, by = WORDS[options.lang], _by(options)
    keys = {str(k) for k in cmp.head["level"] if k}
    level = metric_label(keys.pop(), options.lang) if len(keys) == 1 else ("覆盖水平" if options.lang == "zh" else "coverage level")
    return charts.tradeoff_figure(points, w["tradeoff_x"].format(level=level, by=by), w["tradeoff_y"], w["tradeoff"].format(by=by))


def coverage(planset: PlanSet, options: ChartOptions) -> Figure:
    """Share of each service's target group within its coverage minutes, per unit and plan."""
    shares = {}
    for i, plan in enumerate(planset.plans):
        frame = unit_metrics(plan, options.by, planset.instance)
        columns = [c for c in frame.columns if c.startswith("cov_")]
        if columns:
            table = frame[columns]
            table.columns = [_service_label(c[4:], options.lang) for c in columns]
            table.index = _names(planset, options.by, table.index)
            shares[series_name(planset, i)] = table
    if not shares:
        hint = " with --instance" if options.by == "town" else ""
        raise InputError(Problem("PLAN", f"chart --kind coverage needs a facilities plan (coverage per {options.by}{hint})"))
    w = WORDS[options.lang]
    return charts.coverage_figure(shares, w["coverage"].format(by=_by(options)), w["share"])


# ---------------------------------------------------------------- roadmap

def roadmap_data(planset: PlanSet) -> pd.DataFrame:
    """What `--kind roadmap` draws, by year: hires of each kind, sites opened, mean and lowest
    district index (roadmap.csv's values, unrounded). One roadmap only."""
    require_roadmaps(planset.plans, "chart --kind roadmap")
    if len(planset.plans) != 1:
        raise InputError(Problem("PLAN", f"chart --kind roadmap draws one roadmap, not {len(planset.plans)}: give one plan "
                                         "(allocator compare A B sets roadmaps side by side, year by year)"))
    table = roadmap_table(planset.plans[0]).set_index("year")
    return table[[f"hires_{k}" for k in HIRE_KINDS] + ["sites_opened", "mean_index", "lowest_index"]].astype(float)


def roadmap(planset: PlanSet, options: ChartOptions) -> Figure:
    data = roadmap_data(planset)
    w = WORDS[options.lang]
    years = [int(y) for y in data.index]
    title = w["roadmap"].format(first=years[0], last=years[-1], name=fonts.display_name(series_name(planset, 0), "A"))
    hires = data[[f"hires_{k}" for k in HIRE_KINDS]]
    hires.columns = [w[k] for k in HIRE_KINDS]
    index = data[["mean_index", "lowest_index"]].rename(columns={"mean_index": w["mean_index"], "lowest_index": w["lowest_index"]})
    return charts.roadmap_figure(hires, data["sites_opened"], index, title, w)


def _service_label(service: str, lang: str) -> str:
    en, zh = GROUP_OF_SERVICE.get(service, (service, service))
    if lang == "zh":
        return f"{SERVICES_ZH.get(service, service)}·{zh}"
    return f"{'all services' if service == 'all' else service.replace('_', ' ')} · {en}"


# ---------------------------------------------------------------- map

def town_map(planset: PlanSet, options: ChartOptions) -> Figure:
    city = planset.instance
    if city is None:
        raise InputError(Problem("--instance", "chart --kind map draws the city's own coordinates: pass --instance DIR"))
    w = WORDS[options.lang]
    panels, levels, metrics = [], set(), set()
    for i, plan in enumerate(planset.plans):
        if options.colour == "change":
            metric = options.metric or MAIN_STAFF.get(plan.model) or "enforcement_total"
            values = _town_change(planset, i, metric)
            metrics.add(metric)
        else:
            found = plan_levels(plan, "town", city)
            values = found.values
            levels.add(found.key)
        panels.append(charts.MapPanel(series_name(planset, i), _town_points(city, values), _open_sites(plan, city)))
    if options.colour == "change":
        what = metric_label(metrics.pop(), options.lang) if len(metrics) == 1 else ("人员" if options.lang == "zh" else "staff")
        label = w["change_map"].format(metric=what)
    else:
        levels.discard("")
        label = metric_label(levels.pop(), options.lang) if len(levels) == 1 else w["coverage_map"]
    title = w["map"].format(what=label)
    return charts.map_figure(panels, district_areas(city), title, label, options.colour == "change", w)


def _town_change(planset: PlanSet, i: int, metric: str) -> pd.Series:
    plan = planset.plans[i]
    now = today_metrics(plan, "town", planset.instance)
    values = unit_metrics(plan, "town", planset.instance)
    if metric not in values or metric not in now:
        raise InputError(Problem("--metric", f"plan {planset.labels[i]} has no town-level {metric!r} to compare with today"))
    return (values[metric] - now[metric].reindex(values.index)).dropna()


def _town_points(city: Instance, values: pd.Series) -> pd.DataFrame:
    t = city.towns.set_index(city.towns["town_id"].astype(str))
    population = city.town_population()
    population.index = t.index
    size = 12 + 140 * np.sqrt(population / max(float(population.max()), 1.0))
    return pd.DataFrame({"x": t["x"], "y": t["y"], "value": values.reindex(t.index).astype(float), "size": size})


def _open_sites(plan, city: Instance) -> pd.DataFrame:
    f = plan.tables.get("facilities")
    if f is None or not len(f):
        return pd.DataFrame({"x": [], "y": [], "new": pd.Series([], dtype=bool)})
    f = f[f["open"].astype(float) > 0.5]
    s = city.sites.set_index(city.sites["site_id"].astype(str))
    ids = f["site_id"].astype(str)
    return pd.DataFrame({"x": s["x"].reindex(ids).to_numpy(float), "y": s["y"].reindex(ids).to_numpy(float),
                         "new": (f["existing"].astype(int) == 0).to_numpy()}).dropna(subset=["x", "y"])


def district_areas(city: Instance) -> list[charts.Area]:
    """Each district's convex hull of its grids (and towns); points only when a hull cannot be drawn."""
    from scipy.spatial import ConvexHull, QhullError

    g = city.grids.assign(district_id=city.grids["town_id"].map(city.towns["district_id"]))
    points = pd.concat([g[["district_id", "x", "y"]], city.towns[["district_id", "x", "y"]]])
    names = city.districts.set_index(city.districts["district_id"].astype(str))["name"]
    areas = []
    for district, pts in points.groupby(points["district_id"].astype(str)):
        xy = pts[["x", "y"]].to_numpy(float)
        try:
            outline = xy[ConvexHull(xy).vertices] if len(xy) >= 3 else None
        except QhullError:
            outline = None
        centre = (float(np.median(xy[:, 0])), float(np.median(xy[:, 1])))
        areas.append(charts.Area(fonts.display_name(names.get(district), district), outline, centre))
    return areas
