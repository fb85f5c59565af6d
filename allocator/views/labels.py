"""Names people read: English and Chinese labels for metrics, plan columns and statuses.

One place for the words of compare, charts, report and export, so a table header, a
chart axis and a report sentence say the same thing.
"""
from __future__ import annotations

SERVICES_ZH = {
    "childcare": "幼有所育", "education": "学有所教", "employment": "劳有所得", "health": "病有所医",
    "elderly_care": "老有所养", "housing": "住有所居", "assistance": "弱有所扶", "all": "七有合计",
}

# metric key → (English, Chinese, kind); kind decides how a value is shown:
# count (whole persons or sites), ratio (coverage, 0..1+), money (10k CNY/yr), rate (per 10k people), number.
METRICS: dict[str, tuple[str, str, str]] = {
    "spend": ("spend (10k CNY/yr)", "支出（万元/年）", "money"),
    "transfer": ("transfer (10k CNY/yr)", "转移支付（万元/年）", "money"),
    "service_index": ("district service index", "区县服务指数", "ratio"),
    "own_budget": ("own budget (10k CNY/yr)", "本级预算（万元/年）", "money"),
    "transfer_cap": ("transfer cap (10k CNY/yr)", "转移支付上限（万元/年）", "money"),
    "grid_spend": ("grid staff spend (10k CNY/yr)", "网格员支出（万元/年）", "money"),
    "enforcement_spend": ("enforcement spend (10k CNY/yr)", "执法支出（万元/年）", "money"),
    "facilities_spend": ("facilities spend (10k CNY/yr)", "设施支出（万元/年）", "money"),
    "population": ("population", "人口", "count"),
    "facilities_coverage": ("facility coverage", "设施覆盖率", "ratio"),
    "enforcement_total": ("enforcement staff incl. pool", "执法人员（含机动）", "count"),
    "enforcement_staff": ("enforcement staff posted", "派驻执法人员", "count"),
    "pool_staff": ("district pool", "区级机动执法力量", "count"),
    "enforcement_now": ("enforcement staff today", "现有执法人员", "count"),
    "enforcement_demand": ("enforcement staff needed", "执法人员需求", "number"),
    "enforcement_coverage": ("enforcement coverage", "执法覆盖率", "ratio"),
    "enforcement_coverage_min": ("lowest town enforcement coverage", "街镇最低执法覆盖率", "ratio"),
    "moves_in": ("officers moved in", "调入执法人员", "count"),
    "moves_out": ("officers moved out", "调出执法人员", "count"),
    "released": ("officers released (leaving the service)", "离岗执法人员", "count"),
    "grid_workers": ("grid workers (full + part-time)", "网格员（专职+兼职）", "count"),
    "fulltime": ("full-time grid workers", "专职网格员", "count"),
    "parttime": ("part-time grid workers", "兼职网格员", "count"),
    "professionals": ("professionals", "专业力量", "count"),
    "grid_coverage": ("grid workload coverage", "网格工作覆盖率", "ratio"),
    "grid_coverage_min": ("lowest town grid coverage", "街镇最低网格覆盖率", "ratio"),
    "unmet_hours": ("unmet work (hours/yr)", "未满足工作量（小时/年）", "number"),
    "sites_open": ("open facilities", "开放设施", "count"),
    "new_sites": ("new facilities", "新建设施", "count"),
}
# a roadmap's figures per year (roadmap.csv, and its districts.csv)
METRICS.update({
    "budget": ("budget (10k CNY/yr)", "预算（万元/年）", "money"),
    "transfers": ("transfers (10k CNY/yr)", "转移支付（万元/年）", "money"),
    "hires": ("hires (all kinds)", "新增人员（合计）", "count"),
    "hires_fulltime": ("full-time grid workers hired", "新招专职网格员", "count"),
    "hires_parttime": ("part-time grid workers hired", "新招兼职网格员", "count"),
    "hires_professional": ("professionals hired", "新招专业力量", "count"),
    "hires_officers": ("officers hired", "新招执法人员", "count"),
    "employed_fulltime": ("full-time grid workers employed", "在岗专职网格员", "count"),
    "employed_parttime": ("part-time grid workers employed", "在岗兼职网格员", "count"),
    "employed_professional": ("professionals employed", "在岗专业力量", "count"),
    "employed_officers": ("officers employed", "在岗执法人员", "count"),
    "sites_opened": ("sites opened", "新开设施", "count"),
    "sites_decided": ("sites decided this year (open after the build lag)", "本年决定新建设施（建设周期后开放）", "count"),
    "mean_index": ("mean district service index (population-weighted)", "区县服务指数均值（人口加权）", "ratio"),
    "lowest_index": ("lowest district service index", "最低区县服务指数", "ratio"),
    "urban_districts": ("urban districts", "城区数", "count"),
    "urban_districts_at_worker_norm": ("urban districts at the community worker norm", "社区工作者达标城区数", "count"),
    "community_workers_urban": ("community workers (urban)", "城区社区工作者", "count"),
    "community_workers_per_10k_urban": ("community workers per 10k urban residents", "每万城镇常住人口社区工作者", "rate"),
})
for _service, _zh in SERVICES_ZH.items():
    _en = "all services" if _service == "all" else _service.replace("_", " ")
    METRICS[f"cov_{_service}"] = (f"coverage: {_en}", f"{_zh}覆盖率", "ratio")

# plan table columns (export headers)
COLUMNS_ZH = {
    "grid_id": "网格编号", "town_id": "街镇编号", "district_id": "区县编号", "site_id": "设施点编号",
    "node_id": "需求点编号", "name": "名称", "scenario": "情景", "service": "服务类型",
    "fulltime": "专职网格员", "parttime": "兼职网格员", "pro_hours": "专业力量工时", "workload_hours": "工作量（小时）",
    "unmet_hours": "未满足工时", "professionals": "专业力量", "enforcement_now": "现有执法人员",
    "enforcement_staff": "派驻执法人员", "enforcement_demand": "执法人员需求", "pool_share": "机动力量分摊",
    "coverage_ratio": "覆盖率", "moves_in": "调入", "moves_out": "调出", "released": "离岗", "pool_staff": "区级机动力量",
    "deployed": "调派人数", "unmet": "未满足", "spend": "支出（万元/年）", "mean_coverage": "平均覆盖率",
    "min_coverage": "最低覆盖率", "existing": "现有", "open": "开放", "demand": "需求", "covered": "覆盖",
    "nearest_minutes": "最近设施（分钟）", "assigned_site": "分配设施", "transfer": "转移支付（万元/年）",
    "field": "项目", "value": "值", "plan": "方案", "unit": "单位", "metric": "指标", "metric_zh": "指标（中文）",
    "fulltime_now": "现有专职网格员", "parttime_now": "现有兼职网格员", "fulltime_pool": "区级统筹专职网格员",
    "parttime_pool": "区级统筹兼职网格员", "fulltime_released": "离岗专职网格员", "parttime_released": "离岗兼职网格员",
}

# plan.json fields and equity measures (head block, summary sheets)
FIELDS: dict[str, tuple[str, str]] = {
    "folder": ("plan folder", "方案文件夹"), "model": ("model", "模型"), "objective": ("objective", "目标"),
    "objective_value": ("objective value", "目标值"), "status": ("status", "求解状态"),
    "mip_gap": ("MIP gap", "最优性间隙"), "released": ("officers released", "离岗执法人员"),
    "grid_released": ("grid staff released", "离岗网格员"), "instance": ("instance", "实例"), "basis": ("population basis", "人口口径"),
    "level": ("equity level", "公平性指标对象"), "weights": ("weights", "权重"),
    "mean": ("mean", "均值"), "min": ("minimum", "最小值"), "max": ("maximum", "最大值"),
    "gini": ("Gini", "基尼系数"), "theil": ("Theil", "泰尔指数"), "atkinson_0.5": ("Atkinson (0.5)", "阿特金森指数(0.5)"),
    "cv": ("coef. of variation", "变异系数"), "jain": ("Jain index", "Jain公平指数"), "min_max": ("min / max", "最小/最大"),
    "palma": ("Palma ratio", "帕尔马比值"), "mad": ("mean abs. deviation", "平均绝对偏差"), "range": ("range", "极差"),
}
EQUITY_KEYS = ("mean", "min", "max", "gini", "theil", "atkinson_0.5", "cv", "jain", "min_max", "palma", "mad", "range")

STATUS_ZH = {"optimal": "最优", "time_limit": "达到时限（可行解）", "infeasible": "不可行", "unbounded": "无界", "error": "错误"}
MODEL_ZH = {"enforcement": "综合执法人员配置", "grid": "网格员配置", "facilities": "公共服务设施布局", "city": "市级统筹",
            "roadmap": "多年规划"}
BY_ZH = {"district": "区县", "town": "街镇"}


def metric_label(key: str, lang: str = "en") -> str:
    en, zh, _ = METRICS.get(key, (key, key, "number"))
    return zh if lang == "zh" else en


def metric_kind(key: str) -> str:
    return METRICS.get(key, (key, key, "number"))[2]


def bilingual(column: str) -> str:
    """A header both readers understand: 'english / 中文' (the column name alone when no Chinese is known)."""
    if column in METRICS:
        return f"{METRICS[column][0]} / {METRICS[column][1]}"
    if column in FIELDS:
        return f"{FIELDS[column][0]} / {FIELDS[column][1]}"
    zh = COLUMNS_ZH.get(column)
    if zh is None and column.startswith("cov_") and column[4:] in SERVICES_ZH:
        zh = f"{SERVICES_ZH[column[4:]]}覆盖率"
    return f"{column} / {zh}" if zh else column


def column_header(column: str) -> str:
    """A plan table's header: the contract name (so the sheet reads back) and its Chinese, 'name / 中文'."""
    zh = COLUMNS_ZH.get(column) or (METRICS[column][1] if column in METRICS else None)
    if zh is None and column.startswith("cov_") and column[4:] in SERVICES_ZH:
        zh = f"{SERVICES_ZH[column[4:]]}覆盖率"
    return f"{column} / {zh}" if zh else column


def field_label(key: str, lang: str = "en") -> str:
    en, zh = FIELDS.get(key, (key, key))
    return zh if lang == "zh" else en
