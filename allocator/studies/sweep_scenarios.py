"""The scenarios of a sweep: `--param NAME=VALUES` texts -> checked values -> named scenarios.

    parse_params(["budget=6000:9000:500", "basis=actual,registered"])
        -> {"budget": [6000.0, 6500.0, ..., 9000.0], "basis": ["actual", "registered"]}
    expand_scenarios(params) -> [Scenario("budget=6000,basis=actual", ...), ...]

Any `RunOptions` field can be swept (PARAMETER_KINDS says how each is written). Values are
separated by commas; numbers may also be given as LO:HI:STEP ranges, computed in decimal
arithmetic and including HI when a step lands on it; services are joined by '+', and so are
equity bounds written MEASURE:VALUE (`equity_bounds=gini:0.05+maxmin:0.6,gini:0.03`). The
scenarios are the Cartesian product, the first parameter varying slowest. A scenario's name
is made of its values (`budget=6000,basis=actual`), safe as a folder name; values that
print alike get a short digest.
"""
from __future__ import annotations

import hashlib
import itertools
import math
import re
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping, Sequence

from allocator.errors import InputError, Problem
from allocator.solving.run import MODELS, RunOptions, model_module, parse_equity_bounds
from allocator.data.schema import LIMITS, POPULATION_BASES, SERVICES

MAX_SCENARIOS = 100_000
MAX_NAME_CHARS = 120

# How each RunOptions field is written on the command line (every field must be listed).
PARAMETER_KINDS: dict[str, str] = {
    "model": "text", "objective": "text", "budget": "float", "headcount": "int", "basis": "text",
    "scenarios": "text", "cvar_alpha": "float", "cvar_weight": "float", "target_ratio": "float",
    "max_moves": "int", "services": "services", "p": "int", "equity_bounds": "bounds",
    "allow_release": "flag", "no_worse_than_today": "flag",
    "years": "years", "budget_growth": "float", "hire_quotas": "quotas", "build_limit": "int", "build_lag": "int",
    "target_level": "float", "target_year": "int",
}
HIRE_KINDS = ("fulltime", "parttime", "professional", "officers")
FLAG_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


@dataclass(frozen=True)
class Scenario:
    """One combination: the swept parameters and their values, in the order given."""

    name: str
    values: tuple[tuple[str, Any], ...]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.values)

    def options(self, base: RunOptions) -> RunOptions:
        return replace(base, **self.as_dict())


def parse_params(texts: Sequence[str]) -> dict[str, list[Any]]:
    """`["budget=100:300:100", "basis=actual,registered"]` -> {"budget": [100.0, 200.0, 300.0], ...}."""
    params: dict[str, list[Any]] = {}
    for text in texts:
        name, values = parse_param(text)
        if name in params:
            raise InputError(Problem(f"--param {name}", "is given twice; list all its values in one --param"))
        params[name] = values
    return params


def parse_param(text: str) -> tuple[str, list[Any]]:
    """`NAME=VALUES`, VALUES a comma-separated list of values and, for numbers, LO:HI:STEP ranges."""
    name, sep, spec = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name:
        raise InputError(Problem("--param", "must look like NAME=VALUES, e.g. budget=6000:9000:500 or basis=actual,registered", value=text))
    _check_name(name)
    kind = PARAMETER_KINDS[name]
    values: list[Any] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            raise InputError(Problem(f"--param {name}", "has an empty value (check the commas)", value=spec))
        if kind in ("int", "float") and ":" in item:
            values.extend(_expand_range(name, kind, item))
        else:
            values.append(_parse_value(name, kind, item))
    values = list(dict.fromkeys(values))           # drop repeats, keep order
    for value in values:
        _check_value(name, value)
    return name, values


def expand_scenarios(params: Mapping[str, Sequence[Any]]) -> list[Scenario]:
    """The Cartesian product of the values of `params` (first parameter slowest), checked.

    With no parameter at all there is one scenario, `base`.
    """
    for name, values in params.items():
        _check_name(name)
        if len(values) == 0:
            raise InputError(Problem(f"--param {name}", "has no value"))
        for value in values:
            _check_value(name, value)
    count = math.prod(len(v) for v in params.values())
    if count > MAX_SCENARIOS:
        raise InputError(Problem("--param", f"the parameters make {count:,} scenarios; at most {MAX_SCENARIOS:,} are allowed"))
    names = list(params)
    combos = [tuple(zip(names, combo)) for combo in itertools.product(*(params[n] for n in names))]
    labels = [_label(combo) for combo in combos]
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    scenarios = []
    for combo, label in zip(combos, labels):
        if counts[label] > 1 or len(label) > MAX_NAME_CHARS:     # values that print alike: add a digest
            digest = hashlib.sha1(repr(combo).encode()).hexdigest()[:8]
            label = f"{label[:MAX_NAME_CHARS - 9]}~{digest}"
        scenarios.append(Scenario(label, combo))
    return scenarios


def check_scenarios(base: RunOptions, scenarios: Sequence[Scenario]) -> None:
    """Model and objective of every scenario exist (before anything is solved or written)."""
    if not scenarios:
        raise InputError(Problem("--param", "the sweep has no scenario"))
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise InputError(Problem("--param", "two scenarios share a name; give each scenario distinct values"))
    defaults = RunOptions(model=base.model)
    twice = [n for n in scenarios[0].as_dict() if n != "model" and getattr(base, n) != getattr(defaults, n)]
    if twice:
        raise InputError(Problem(f"--param {twice[0]}", f"is also given as a fixed option (--{twice[0].replace('_', '-')}); give it once"))
    problems: dict[tuple[str, str | None], Problem] = {}
    for scenario in scenarios:
        options = scenario.options(base)
        module = model_module(options.model)
        if options.objective is not None and options.objective not in module.OBJECTIVES:
            problems[(options.model, options.objective)] = Problem(
                "--objective" if "objective" not in scenario.as_dict() else "--param objective",
                f"model {options.model} has objectives {', '.join(module.OBJECTIVES)}", value=options.objective)
    if problems:
        raise InputError(list(problems.values()))


def _check_name(name: str) -> None:
    if name not in PARAMETER_KINDS:
        raise InputError(Problem(f"--param {name}", f"is not a parameter that can be swept; use one of {', '.join(PARAMETER_KINDS)}"))


def _expand_range(name: str, kind: str, item: str) -> list[Any]:
    parts = item.split(":")
    if len(parts) != 3:
        raise InputError(Problem(f"--param {name}", "a range is LO:HI:STEP, e.g. 6000:9000:500", value=item))
    lo, hi, step = (_decimal(name, p) for p in parts)
    if kind == "int" and any(d != d.to_integral_value() for d in (lo, hi, step)):
        raise InputError(Problem(f"--param {name}", "takes whole numbers: LO, HI and STEP must be integers", value=item))
    if step <= 0:
        raise InputError(Problem(f"--param {name}", "the STEP of a range must be positive", value=item))
    if hi < lo:
        raise InputError(Problem(f"--param {name}", "the range has no value (HI is below LO)", value=item))
    count = int((hi - lo) // step) + 1
    if count > MAX_SCENARIOS:
        raise InputError(Problem(f"--param {name}", f"the range has {count:,} values; at most {MAX_SCENARIOS:,} are allowed", value=item))
    values = [lo + i * step for i in range(count)]
    return [int(v) for v in values] if kind == "int" else [float(v) for v in values]


def _decimal(name: str, text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InputError(Problem(f"--param {name}", "is not a number", value=text)) from None
    if not value.is_finite():
        raise InputError(Problem(f"--param {name}", "must be a finite number", value=text))
    return value


def _parse_value(name: str, kind: str, item: str) -> Any:
    if kind == "int":
        value = _decimal(name, item)
        if value != value.to_integral_value():
            raise InputError(Problem(f"--param {name}", "takes whole numbers", value=item))
        return int(value)
    if kind == "float":
        return float(_decimal(name, item))
    if kind == "services":
        return tuple(s.strip() for s in item.split("+") if s.strip())
    if kind == "flag":
        if item.strip().lower() not in FLAG_WORDS:
            raise InputError(Problem(f"--param {name}", "takes true or false", value=item))
        return FLAG_WORDS[item.strip().lower()]
    if kind == "bounds":              # gini:0.05+maxmin:0.6 (':' as '=' is the --param separator)
        return parse_equity_bounds([b for b in item.split("+") if b.strip()], f"--param {name}", sep=":")
    if kind == "years":               # 2026:2030
        first, _, last = item.partition(":")
        try:
            return (int(first), int(last or first))
        except ValueError:
            raise InputError(Problem(f"--param {name}", "takes FIRST:LAST years, e.g. 2026:2030", value=item)) from None
    if kind == "quotas":              # fulltime:40+officers:100
        try:
            return tuple((k.strip(), int(n)) for k, _, n in (q.partition(":") for q in item.split("+") if q.strip()))
        except ValueError:
            raise InputError(Problem(f"--param {name}", "takes KIND:N quotas joined by '+', e.g. fulltime:40+officers:100",
                                     value=item)) from None
    return item




def _check_value(name: str, value: Any) -> None:
    kind = PARAMETER_KINDS[name]
    where = f"--param {name}"
    if kind in ("int", "float"):
        ok_type = isinstance(value, int) if kind == "int" else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type or not math.isfinite(value):
            raise InputError(Problem(where, f"takes {'whole numbers' if kind == 'int' else 'numbers'}", value=value))
    elif kind == "flag":
        if not isinstance(value, bool):
            raise InputError(Problem(where, "takes true or false", value=value))
    elif kind == "bounds":
        if not isinstance(value, tuple):
            raise InputError(Problem(where, "takes MEASURE:VALUE bounds joined by '+', e.g. gini:0.05+maxmin:0.6", value=value))
    elif kind == "years":
        if not (isinstance(value, tuple) and len(value) == 2 and all(LIMITS["year"].holds(y) for y in value)
                and value[0] <= value[1] and LIMITS["roadmap_years"].holds(value[1] - value[0] + 1)):
            raise InputError(Problem(where, f"takes FIRST:LAST, 1 to 30 years, each {LIMITS['year'].rule()}", value=value))
    elif kind == "quotas":
        if not (isinstance(value, tuple) and all(k in HIRE_KINDS and LIMITS["hire_quota"].holds(n) for k, n in value)
                and len({k for k, _ in value}) == len(value)):
            raise InputError(Problem(where, f"takes KIND:N quotas joined by '+', KIND one of {', '.join(HIRE_KINDS)} once, "
                                            f"N {LIMITS['hire_quota'].rule()}", value=value))
    elif kind == "services":
        unknown = [s for s in value if s not in SERVICES] if isinstance(value, tuple) and value else ["(none)"]
        if unknown:
            raise InputError(Problem(where, f"lists services joined by '+', each one of {', '.join(SERVICES)}", value=value))
    elif not isinstance(value, str) or not value:
        raise InputError(Problem(where, "takes a non-empty text", value=value))
    if name in LIMITS and kind in ("int", "float") and not LIMITS[name].holds(value):
        raise InputError(Problem(where, LIMITS[name].rule(), value=value))
    if name == "basis" and value not in POPULATION_BASES:
        raise InputError(Problem(where, f"is one of {', '.join(POPULATION_BASES)}", value=value))
    if name == "model" and value not in MODELS:
        raise InputError(Problem(where, f"is one of {', '.join(MODELS)}", value=value))


def format_value(value: Any) -> str:
    """How a parameter value is shown in scenario names and sweep.csv."""
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, tuple) and value and all(isinstance(v, int) for v in value):
        return ":".join(map(str, value))                        # years FIRST:LAST
    if isinstance(value, tuple):
        return "+".join(f"{v[0]}:{format_value(v[1])}" if isinstance(v, tuple) else v for v in value)
    return str(value)


def _label(combo: tuple[tuple[str, Any], ...]) -> str:
    if not combo:
        return "base"
    return ",".join(f"{name}={re.sub(r'[^A-Za-z0-9._+-]', '_', format_value(value))}" for name, value in combo)
