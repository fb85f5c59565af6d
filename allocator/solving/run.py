"""What a planner asks of a model (`RunOptions`) and what a model's solve returns (`ModelRun`).

Each model has a module `allocator.solving.<model>` that exposes `OBJECTIVES`,
`DEFAULT_OBJECTIVE` and `run(instance, options: RunOptions, solve_options: SolveOptions) ->
ModelRun`: it builds the model's formulation (`allocator.models`), drives its solves through
`allocator.solving.solve.solve` (one solve, or a sequence: a bisection, lexicographic
steps) and extracts the plan tables.

The headline of a run is its primary objective, the one the planner asked for: `ModelRun.result`
holds that objective's value, a bound proven on it and their gap (`primary_gap`), whichever
solve of a sequence proved the bound; `ModelRun.stages` lists every solve of the sequence with
its own figures (`stage_record`), and `status_text` says in words how a sequence that was cut
short ended. A run whose plan answers another objective than the one asked (leximin stopped
before its first round: a max-min plan) names that objective in `ModelRun.objective` and the
one asked in `ModelRun.asked`.
"""
from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from allocator.data.schema import LIMITS
from allocator.errors import InputError, Problem
from allocator.solving.solve import HIGHS_REL_GAP, SolveResult

MODELS = ("grid", "enforcement", "facilities", "city", "roadmap")


@dataclass(frozen=True)
class RunOptions:
    """What the planner asked for; each model reads the fields that concern it."""

    model: str
    objective: str | None = None
    budget: float | None = None          # 10k CNY/yr, a hard limit under every objective
    headcount: int | None = None
    basis: str | None = None
    scenarios: str | None = None         # file or named pattern (enforcement, stochastic)
    cvar_alpha: float | None = None      # CVaR level, e.g. 0.9
    cvar_weight: float = 1.0             # weight of CVaR next to expected unmet demand
    target_ratio: float | None = None    # enforcement `moves`: coverage ratio to reach
    max_moves: int | None = None         # enforcement reassignment limit
    services: tuple[str, ...] | None = None
    p: int | None = None
    equity_bounds: tuple[tuple[str, float], ...] = ()   # city: (measure, bound) rows held next to the objective
    allow_release: bool = False          # enforcement and city: officers employed today may leave the service
    no_worse_than_today: bool = False    # no group below the level its resources give it today
    years: tuple[int, int] | None = None     # roadmap: FIRST, LAST
    budget_growth: float = 0.0               # roadmap: yearly growth of the budget
    hire_quotas: tuple[tuple[str, int], ...] = ()   # roadmap: (kind, most hired in a year)
    build_limit: int | None = None           # roadmap: most sites opening in a year
    build_lag: int = 0                       # roadmap: years from deciding a site to its first year of service
    target_level: float | None = None        # roadmap target: the index every district reaches
    target_year: int | None = None           # roadmap target: by this year

    def as_dict(self) -> dict[str, Any]:
        return {k: ([list(x) if isinstance(x, tuple) else x for x in v] if isinstance(v, tuple) else v)
                for k, v in asdict(self).items()}


@dataclass
class ModelRun:
    """What a model's run returns: the solver's word, the plan tables and timings."""

    result: SolveResult
    objective: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    objective_value: float | None = None
    build_s: float = 0.0
    extract_s: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    explanation: str | None = None
    model: Any = None     # the Pyomo model solved, if the model's run keeps it (used to explain infeasibility)
    stages: list[dict] = field(default_factory=list)   # each solve of the sequence (`stage_record`)
    status_text: str | None = None                      # how a sequence cut short ended, in words
    asked: str | None = None                            # the objective asked, when the plan answers another


def stage_record(name: str, result: SolveResult | None, **extra) -> dict:
    """One solve of a sequence as plan.json lists it under the headline: the stage's name, status, the
    value of the objective that stage optimised, its bound and gap, and its seconds (hand-over and
    HiGHS). `result` None: the stage did not run."""
    if result is None:
        return {"stage": name, "status": "skipped", "value": None, "bound": None, "gap": None, "seconds": 0.0, **extra}
    return {"stage": name, "status": result.status, "value": result.objective if result.has_solution else None,
            "bound": result.bound, "gap": result.gap if result.has_solution else None,
            "seconds": result.handover_s + result.solve_s, **extra}


def missed_gap_note(objective: str, status: str, gap: float | None, asked: float | None) -> str | None:
    """Words for an optimum proven on the model whose objective, recomputed from the plan, lies further
    from the bound than the gap asked (`asked`, else HiGHS's 1e-4): alpha's logarithm is drawn with
    tangent lines (models.equity). None when there is nothing to say."""
    target = HIGHS_REL_GAP if asked is None else asked
    if status != "optimal" or gap is None or gap <= target + 1e-9:
        return None
    why = "the model draws alpha's logarithm with tangent lines (models.equity), so " if objective == "alpha" else ""
    return (f"optimal for the model; {why}recomputed from the plan, {objective} is {100 * gap:.2g} % from its bound, "
            f"more than the {100 * target:.2g} % asked")


def model_module(name: str):
    if name not in MODELS:
        raise InputError(Problem("--model", f"unknown model {name!r}; use one of {', '.join(MODELS)}"))
    try:
        return importlib.import_module(f"allocator.solving.{name}")
    except ModuleNotFoundError as err:
        if err.name == f"allocator.solving.{name}":
            raise InputError(Problem("--model", f"model {name!r} is not available in this version")) from None
        raise


# Measures `--equity-bound` can hold (city model), and the side of the bound.
EQUITY_BOUNDS = {"maxmin": "at least", "owa": "at least", "range": "at most", "mad": "at most", "gini": "at most",
                 "hoover": "at most"}


def parse_equity_bounds(texts, where: str = "--equity-bound", sep: str = "=") -> tuple[tuple[str, float], ...]:
    """["gini=0.05", "maxmin=0.6"] -> (("gini", 0.05), ("maxmin", 0.6)); InputError (exit 2) on a bad one."""
    bounds: dict[str, float] = {}
    for text in texts:
        name, _, value = text.partition(sep)
        name = name.strip()
        if name not in EQUITY_BOUNDS:
            raise InputError(Problem(where, f"the measure must be one of {', '.join(EQUITY_BOUNDS)} (alpha is "
                                            "approximated piecewise and cannot be held exactly)", value=text))
        try:
            number = float(value)
        except ValueError:
            raise InputError(Problem(where, f"give MEASURE{sep}VALUE with a number, e.g. gini{sep}0.05", value=text)) from None
        if not LIMITS["equity_bound"].holds(number) or name in bounds:
            raise InputError(Problem(where, "names a measure twice" if name in bounds else LIMITS["equity_bound"].rule(),
                                     value=text))
        bounds[name] = number
    return tuple(bounds.items())


def check_equity_bounds(options: RunOptions) -> None:
    if options.equity_bounds and options.model not in ("city", "roadmap"):
        raise InputError(Problem("--equity-bound", f"equity bounds are held by the city model; for --model "
                                                   f"{options.model} use `allocator frontier --model ... --equity MEASURE`"))
