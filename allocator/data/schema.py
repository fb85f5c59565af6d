"""The instance data contract: tables, columns, types, units and meanings.

One place states what every table holds; the loader, the validator, the Excel template
and the synthetic generator all read it, so they cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass

SERVICES: tuple[str, ...] = (
    "childcare",      # 幼有所育
    "education",      # 学有所教
    "employment",     # 劳有所得
    "health",         # 病有所医
    "elderly_care",   # 老有所养
    "housing",        # 住有所居
    "assistance",     # 弱有所扶
)
SERVICE_NAMES_ZH: dict[str, str] = {
    "childcare": "幼有所育", "education": "学有所教", "employment": "劳有所得",
    "health": "病有所医", "elderly_care": "老有所养", "housing": "住有所居",
    "assistance": "弱有所扶",
}
POPULATION_BASES: tuple[str, ...] = ("actual", "resident", "registered")
DISTRICT_KINDS = ("core", "suburban", "outer")
TOWN_KINDS = ("street", "town")
GRID_KINDS = ("urban", "rural")


# --- the sane range of every number the planner gives -------------------------------------
# Data columns carry their range in `Column.high` (and `positive` / `nonnegative` below);
# city.yaml settings and command-line options share `LIMITS`. A value outside is refused with
# the rule (exit 2): beyond these, numbers are typing slips, and they would hand HiGHS
# coefficients too far apart to solve soundly (or sizes that exhaust memory).

BILLION = 1e9


@dataclass(frozen=True)
class Limit:
    """The range of one number: low ≤ value ≤ high (open ends exclude the end itself)."""

    low: float
    high: float
    unit: str = ""
    integer: bool = False
    low_open: bool = False
    high_open: bool = False

    def holds(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            return False
        if self.integer and float(value) != int(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def rule(self) -> str:
        kind = "whole number" if self.integer else "number"
        high = f"{'below' if self.high_open else 'at most'} {_plain(self.high)}"
        if (self.low_open and self.low == 0) or (self.integer and self.low == 1 and not self.low_open):
            text = f"must be a positive {kind}, {high}"
        elif self.low_open:
            text = f"must be a {kind} above {_plain(self.low)} and {high}"
        else:
            text = f"must be a {kind} from {_plain(self.low)} to {'below ' if self.high_open else ''}{_plain(self.high)}"
        return text + (f" ({self.unit})" if self.unit else "")


def _plain(number: float) -> str:
    return f"{number:,.0f}" if float(number).is_integer() else f"{number:g}"


LIMITS: dict[str, Limit] = {
    # city.yaml settings (also the options of the same name)
    "budget": Limit(0, BILLION, "10k CNY/yr", low_open=True),
    "headcount": Limit(1, 1e7, "persons", integer=True),
    "city_pool": Limit(0, BILLION, "10k CNY/yr"),
    "salary": Limit(0, 1e3, "10k CNY per person-year", low_open=True),
    "coverage_minutes": Limit(0, 1440, "minutes", low_open=True),
    "population_tolerance": Limit(0, 1, "share", high_open=True),
    "norm": Limit(0, 1e6, "in the norm's unit"),
    "norm_positive": Limit(0, 1e6, "in the norm's unit", low_open=True),     # POSITIVE_NORMS
    # command-line options (and sweep parameters)
    "target_ratio": Limit(0, 10, "coverage ratio: officers over officers needed", low_open=True),
    "max_moves": Limit(0, 1e7, "officers", integer=True),
    "p": Limit(1, 1e6, "sites", integer=True),
    "cvar_alpha": Limit(0, 1, "level", high_open=True),
    "cvar_weight": Limit(0, 1e3, "weight"),
    "equity_bound": Limit(0, 100, "level of the measure"),
    "time_limit": Limit(0, 1e6, "seconds", low_open=True),
    "gap": Limit(0, 1, "relative gap"),
    "threads": Limit(1, 1024, "threads", integer=True),
    "seed": Limit(0, 2_147_483_647, "HiGHS random seed", integer=True),
    "workers": Limit(0, 1024, "worker processes", integer=True),
    "surge_scenarios": Limit(1, 1000, "scenarios", integer=True),
    "surge_multiplier": Limit(0, 100, "times normal demand"),
    "scenario_cells": Limit(1, 2e5, "towns × scenarios", integer=True),
    # roadmaps (allocator solve --model roadmap)
    "year": Limit(1900, 2200, "year", integer=True),
    "roadmap_years": Limit(1, 30, "years", integer=True),
    "budget_growth": Limit(-0.5, 1, "yearly rate"),
    "hire_quota": Limit(0, 1e7, "persons a year", integer=True),
    "build_limit": Limit(0, 1e6, "sites a year", integer=True),
    "build_lag": Limit(0, 10, "years", integer=True),
    "target_level": Limit(0, 10, "service index", low_open=True),
}


@dataclass(frozen=True)
class Column:
    """One column of a table: its type, its rule and its meaning for the planner."""

    name: str
    kind: str                      # "id" | "str" | "int" | "float" | "flag" | "enum"
    unit: str
    en: str
    zh: str
    required: bool = True
    nonnegative: bool = True
    positive: bool = False
    choices: tuple[str, ...] = ()
    refers_to: str | None = None   # "table.column" a foreign key must resolve in
    high: float = BILLION          # the largest sane value (coordinates: the largest size)


@dataclass(frozen=True)
class Table:
    name: str          # table name = CSV stem = sheet name
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    required: bool = True
    has_coordinates: bool = False

    @property
    def file(self) -> str:
        return f"{self.name}.csv"

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

# Norms that divide or price (hours a worker gives, walking speed, salaries): never 0.
POSITIVE_NORMS = ("hours_fulltime", "hours_parttime", "hours_professional", "walk_speed_m_per_min", "walk_m_per_15min",
                  "salary_fulltime", "salary_parttime", "salary_professional", "enforcement_salary")


def column_limit(column: Column) -> Limit:
    """The range of a numeric column: [0 or above 0, high], or [−high, high] for signed ones."""
    if column.kind == "flag":
        return Limit(0, 1, integer=True)
    low = 0 if column.nonnegative or column.positive else -column.high
    return Limit(low, column.high, column.unit, integer=column.kind == "int", low_open=column.positive)


def _coords() -> tuple[Column, ...]:
    """x/y in metres (projected) or lon/lat in degrees; the loader accepts either pair."""
    return (
        Column("x", "float", "m", "easting, projected metres (or give lon)", "横坐标（米，投影坐标；或填经度 lon）", required=False, nonnegative=False, high=1e8),
        Column("y", "float", "m", "northing, projected metres (or give lat)", "纵坐标（米，投影坐标；或填纬度 lat）", required=False, nonnegative=False, high=1e8),
    )


DISTRICTS = Table("districts", ("district_id",), (
    Column("district_id", "id", "", "district or county id", "区县编号"),
    Column("name", "str", "", "district name", "区县名称"),
    Column("kind", "enum", "", "core / suburban / outer", "类型：核心区/近郊/远郊", choices=DISTRICT_KINDS),
    Column("own_budget", "float", "10k CNY/yr", "district's own yearly budget for governance staff and services", "区县自有预算（万元/年）"),
    Column("transfer_cap", "float", "10k CNY/yr", "largest fiscal transfer the city may give the district", "市级转移支付上限（万元/年）"),
    Column("growth", "float", "share/yr", "yearly population growth rate, for roadmaps (default 0; -0.01 = 1 % fewer a year)",
           "年人口增长率（路线图用，默认 0）", required=False, nonnegative=False, high=0.5),
))

TOWNS = Table("towns", ("town_id",), (
    Column("town_id", "id", "", "street or town id", "街道/乡镇编号"),
    Column("district_id", "id", "", "district the town belongs to", "所属区县编号", refers_to="districts.district_id"),
    Column("name", "str", "", "street or town name", "街道/乡镇名称"),
    Column("kind", "enum", "", "street (urban) / town (township)", "类型：街道/乡镇", choices=TOWN_KINDS),
    Column("pop_registered", "int", "persons", "registered population (户籍人口)", "户籍人口（人）", high=1e7),
    Column("pop_resident", "int", "persons", "registered residents living in the town", "本地户籍常住人口（人）", high=1e7),
    Column("pop_migrant", "int", "persons", "residents registered elsewhere (流动人口)", "外来流动人口（人）", high=1e7),
    Column("area_km2", "float", "km2", "land area", "面积（平方公里）", positive=True, high=1e6),
    Column("cases_per_year", "float", "cases/yr", "enforcement cases per year", "年执法案件数（件/年）", high=1e7),
    Column("enforcement_now", "int", "persons", "enforcement officers posted today", "现有执法人员（人）", high=1e6),
    *_coords(),
), has_coordinates=True)

GRIDS = Table("grids", ("grid_id",), (
    Column("grid_id", "id", "", "grid id", "网格编号"),
    Column("town_id", "id", "", "town the grid belongs to", "所属街道/乡镇编号", refers_to="towns.town_id"),
    Column("community", "str", "", "community or village name", "所属社区/村"),
    Column("kind", "enum", "", "urban / rural grid", "类型：城市网格/农村网格", choices=GRID_KINDS),
    Column("households", "int", "households", "households in the grid", "户数（户）", high=1e7),
    Column("population", "int", "persons", "actual population in the grid", "实有人口（人）", high=1e7),
    Column("elderly", "int", "persons", "residents aged 65 and over", "65岁及以上人口（人）", high=1e7),
    Column("children", "int", "persons", "residents aged 0-14", "0-14岁人口（人）", high=1e7),
    Column("events_per_year", "float", "events/yr", "grid events reported per year", "年网格事件数（件/年）", high=1e7),
    Column("fulltime_now", "int", "persons", "full-time grid workers today", "现有专职网格员（人）", high=1e6),
    Column("parttime_now", "int", "persons", "part-time grid helpers today", "现有兼职网格员（人）", high=1e6),
    *_coords(),
), has_coordinates=True)

SITES = Table("sites", ("site_id",), (
    Column("site_id", "id", "", "candidate or existing facility site id", "设施点位编号"),
    Column("town_id", "id", "", "town the site lies in", "所在街道/乡镇编号", refers_to="towns.town_id"),
    Column("service", "enum", "", "one of the seven services", "服务类型（七有之一）", choices=SERVICES),
    Column("existing", "flag", "0/1", "1 if the facility exists today", "是否现有设施（1=是，0=候选）"),
    Column("capacity", "float", "persons", "persons the facility can serve", "服务能力（人）", high=1e8),
    Column("open_cost", "float", "10k CNY", "one-off cost of opening (0 for existing)", "新建成本（万元）"),
    Column("annual_cost", "float", "10k CNY/yr", "yearly running cost", "年运营成本（万元/年）"),
    *_coords(),
), has_coordinates=True)

TRAVEL = Table("travel", ("from_id", "site_id"), (
    Column("from_id", "id", "", "grid id the trip starts from", "出发网格编号", refers_to="grids.grid_id"),
    Column("site_id", "id", "", "facility site id", "设施点位编号", refers_to="sites.site_id"),
    Column("minutes", "float", "min", "travel time", "出行时间（分钟）", high=1e4),
), required=False)

TABLES: tuple[Table, ...] = (DISTRICTS, TOWNS, GRIDS, SITES, TRAVEL)
TABLE_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}

LONLAT = (
    Column("lon", "float", "degree", "longitude (instead of x)", "经度（代替 x）", required=False, nonnegative=False, high=180),
    Column("lat", "float", "degree", "latitude (instead of y)", "纬度（代替 y）", required=False, nonnegative=False, high=90),
)


TEXT_SETTINGS = ("name", "description")   # city.yaml settings read as written, never as YAML ("杭州: 2024" is a name)


# --- the template's description row --------------------------------------------------

def description_row(table: Table) -> list[str]:
    """Second row of each template sheet: meaning and unit of each column, English / 中文."""
    return [describe_column(c) for c in table.columns]


def description_cells(table: Table) -> set[str]:
    """Every text the description row may hold, lon/lat included (they may replace x/y)."""
    extra = LONLAT if table.has_coordinates else ()
    return {describe_column(c) for c in (*table.columns, *extra)}


def describe_column(column: Column) -> str:
    unit = f" [{column.unit}]" if column.unit else ""
    return f"{column.en}{unit} / {column.zh}"
