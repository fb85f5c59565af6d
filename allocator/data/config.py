"""city.yaml: the settings of a city, checked rule by rule."""
from __future__ import annotations

import math
import re
from typing import Any

from allocator.errors import Problem
from allocator.data.instance import CityConfig
from allocator.data.norms import default_norms, merged_norms
from allocator.data.schema import LIMITS, POPULATION_BASES, POSITIVE_NORMS, SERVICES, Limit

STAFF_TYPES = ("fulltime", "parttime", "professional", "enforcement")
KNOWN_KEYS = {
    "name": "city name", "name_zh": "city name in Chinese (the zh report), e.g. 重庆市", "budget": "yearly budget, 10k CNY", "population_basis": "actual | resident | registered",
    "headcount": "total enforcement headcount", "city_pool": "yearly transfer pool, 10k CNY",
    "salaries": "yearly cost per person by staff type, 10k CNY", "services": "services to plan",
    "coverage_minutes": "minutes within reach, per service", "norms": "overrides of the norms pack",
    "groups": "equity groups", "origin": "[lon, lat] origin for projecting lon/lat",
    "population_tolerance": "allowed relative gap between town and grid populations",
    "description": "free text",
    "budgets": "a roadmap's budget by year, 10k CNY (e.g. {2026: 5600, 2027: 5800}); other years: budget",
}
GROUPS = ("district", "urban_rural", "registration")


def check_config(raw: dict[str, Any], file: str, problems: list[Problem], rows: dict[str, int] | None = None) -> CityConfig | None:
    """Turn the raw mapping into a `CityConfig`, appending a problem per broken rule.

    `rows` gives the row each setting is written on ("salaries.fulltime" or "salaries").
    """
    start = len(problems)
    rows = rows or {}

    def bad(column: str, value: Any, rule: str) -> None:
        row = rows.get(column, rows.get(column.split(".")[0])) if value is not None or column in raw else None
        problems.append(Problem(file, rule, row=row, column=column, value=value, label="setting"))

    for key in raw:
        if key not in KNOWN_KEYS:
            bad(str(key), None, f"unknown setting; known settings are {', '.join(KNOWN_KEYS)}")
    name = raw.get("name")
    if not isinstance(name, (str, int)) or not str(name).strip():
        bad("name", name, "the city needs a name (text)")
    budget = _ranged(raw.get("budget"), "budget", bad, LIMITS["budget"], required=True)
    basis = raw.get("population_basis", "actual")
    if basis not in POPULATION_BASES:
        bad("population_basis", basis, f"unknown population basis; use one of {', '.join(POPULATION_BASES)}")
    budgets = _budgets(raw.get("budgets"), bad)
    headcount = _ranged(raw.get("headcount"), "headcount", bad, LIMITS["headcount"])
    city_pool = _ranged(raw.get("city_pool"), "city_pool", bad, LIMITS["city_pool"])
    salaries = _salaries(raw.get("salaries"), bad)
    services = _services(raw.get("services"), bad)
    overrides = _norm_overrides(raw.get("norms"), raw.get("coverage_minutes"), bad)
    groups = _groups(raw.get("groups"), bad)
    origin = _origin(raw.get("origin"), bad)
    tolerance = _ranged(raw.get("population_tolerance", 0.02), "population_tolerance", bad, LIMITS["population_tolerance"])
    if tolerance is None:
        tolerance = 0.02
    name_zh = raw.get("name_zh")
    if name_zh is not None and (not isinstance(name_zh, str) or not name_zh.strip() or len(name_zh) > 100):
        bad("name_zh", name_zh, "the city's Chinese name is text of 1 to 100 characters")
    if len(problems) > start:
        return None
    return CityConfig(
        name=str(name).strip(), budget=float(budget), population_basis=basis, headcount=headcount,
        city_pool=city_pool, salaries=salaries, services=services, norms=merged_norms(overrides),
        groups=groups, origin=origin, population_tolerance=float(tolerance),
        description=str(raw.get("description") or ""), name_zh=str(name_zh).strip() if name_zh else "",
        budgets=budgets,
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_NUMBER_TEXT = re.compile(r"[-+]?(\d[\d_]*\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _number(value: Any) -> Any:
    """A number YAML left as text (YAML 1.1 reads 2e3 and 1_000.5e2 as strings) as a number."""
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value.strip()):
        number = float(value.strip().replace("_", ""))
        return int(number) if number.is_integer() and abs(number) < 2 ** 53 else number
    return value


def _ranged(value: Any, key: str, bad, limit: Limit, required: bool = False):
    """A number within its range (schema.LIMITS), or None after reporting the rule."""
    if value is None:
        if required:
            bad(key, None, "required setting is missing")
        return None
    value = _number(value)
    if not _is_number(value) or not limit.holds(value):
        bad(key, value, limit.rule())
        return None
    return int(value) if limit.integer else float(value)


def _budgets(value: Any, bad) -> dict[int, float]:
    """budgets: {year: 10k CNY} for a roadmap (`allocator solve --model roadmap`)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not value:
        bad("budgets", value, "must map years to yearly budgets in 10k CNY, e.g. {2026: 5600, 2027: 5800}")
        return {}
    out = {}
    for year, amount in value.items():
        y = _number(year)
        if not (isinstance(y, int) and not isinstance(y, bool) and LIMITS["year"].holds(y)):
            bad(f"budgets.{year}", year, f"a year of the roadmap: {LIMITS['year'].rule()}")
        elif (amount := _ranged(amount, f"budgets.{year}", bad, LIMITS["budget"])) is not None:
            out[int(y)] = float(amount)
    return out


def _salaries(value: Any, bad) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        bad("salaries", value, f"must map staff types ({', '.join(STAFF_TYPES)}) to yearly cost in 10k CNY")
        return {}
    out = {}
    for kind, amount in value.items():
        if kind not in STAFF_TYPES:
            bad(f"salaries.{kind}", amount, f"unknown staff type; use {', '.join(STAFF_TYPES)}")
        elif (amount := _ranged(amount, f"salaries.{kind}", bad, LIMITS["salary"])) is not None:
            out[kind] = amount
    return out


def _services(value: Any, bad) -> tuple[str, ...]:
    if value is None:
        return SERVICES
    if not isinstance(value, list) or not value:
        bad("services", value, "must be a non-empty list of services")
        return SERVICES
    unknown = [s for s in value if s not in SERVICES]
    for s in unknown:
        bad("services", s, f"unknown service; use {', '.join(SERVICES)}")
    return tuple(s for s in SERVICES if s in value)


def _norm_overrides(norms: Any, minutes: Any, bad) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if norms is not None and not isinstance(norms, dict):
        bad("norms", norms, "must be a mapping of norm name to value")
        norms = None
    known = default_norms()
    for key, value in (norms or {}).items():
        if key not in known:
            bad(f"norms.{key}", value, "unknown norm; see allocator/norms.yaml for the names")
        elif key == "coverage_minutes":
            minutes = {**(value or {}), **(minutes or {})} if isinstance(value, dict) else value
        elif _ranged(value, f"norms.{key}", bad, LIMITS["norm_positive" if key in POSITIVE_NORMS else "norm"]) is not None:
            overrides[key] = _number(value)
    if minutes is not None:
        if not isinstance(minutes, dict):
            bad("coverage_minutes", minutes, "must map services to minutes")
        else:
            checked = {}
            for service, m in minutes.items():
                if service not in SERVICES:
                    bad(f"coverage_minutes.{service}", m, f"unknown service; use {', '.join(SERVICES)}")
                elif (m := _ranged(m, f"coverage_minutes.{service}", bad, LIMITS["coverage_minutes"])) is not None:
                    checked[service] = m
            overrides["coverage_minutes"] = checked
    return overrides


def _groups(value: Any, bad) -> tuple[str, ...]:
    if value is None:
        return GROUPS
    if not isinstance(value, list) or any(g not in GROUPS for g in value):
        bad("groups", value, f"must be a list drawn from {', '.join(GROUPS)}")
        return GROUPS
    return tuple(value)


def _origin(value: Any, bad) -> tuple[float, float] | None:
    if value is None:
        return None
    if (not isinstance(value, list) or len(value) != 2 or not all(_is_number(v) for v in value)
            or not -180 <= value[0] <= 180 or not -90 <= value[1] <= 90):
        bad("origin", value, "must be [lon, lat] in degrees")
        return None
    return (float(value[0]), float(value[1]))
