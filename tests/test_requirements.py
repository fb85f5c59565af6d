"""Every constraint of every model is explained or declared a definition.

A model declares, next to the constraints it builds, the planner's words for each requirement
family (`REQUIREMENTS`, keyed by constraint name or "<variable>.lower"/".upper") and the rows
that only define quantities (`DEFINITIONS`); `allocator.solving.explain` relaxes an infeasible
model's families in those words and falls back to a generic wording for a row it does not know.
Here, on the tiny city, every model an explanation relaxes (the registry's `build`, for every
objective and option that changes which rows exist) and every model a run hands to HiGHS is
built: each of its active constraints must be declared, and each declared name must be a
constraint, or a bound family of a variable, of some model built, so that renaming a
constraint fails here instead of silently losing its words.

The facilities runs solve the formulations of `models.location`, which no explanation relaxes
(the explanation builds its own plain model, `models.facilities_requirements`): only that one
is held here.
"""
from __future__ import annotations

import importlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import AbstractSet, Callable, Mapping

import pandas as pd
import pyomo.environ as pyo
import pytest

from allocator.data.instance import Instance
from allocator.data.loader import load_instance
from allocator.data.scenarios import load_scenarios
from allocator.models import city, enforcement, equity, equity_problem, facilities_requirements, grid, roadmap
from allocator.models.enforcement import EnforcementOptions
from allocator.models.facilities import OBJECTIVES as FACILITIES_OBJECTIVES
from allocator.models.requirements import Family
from allocator.solving import city as city_run
from allocator.solving import enforcement as enforcement_run
from allocator.solving import grid as grid_run
from allocator.solving import roadmap as roadmap_run
from allocator.solving.explain import MODULES, registry
from allocator.solving.run import RunOptions
from allocator.solving.solve import SolveOptions

FAST = SolveOptions(threads=1, time_limit=30)
SURGE = "surge:3:7"


@dataclass(frozen=True)
class Built:
    """One model as built: its active rows and its variables, by local name (as
    `allocator.solving.explain.requirement_groups` reads them), and the words it is held to."""

    label: str
    rows: frozenset[str]
    variables: frozenset[str]
    requirements: Mapping[str, Family]
    definitions: AbstractSet[str]

    @classmethod
    def of(cls, label: str, model: pyo.Block, requirements, definitions) -> "Built":
        rows = frozenset(c.local_name for c in model.component_objects(pyo.Constraint, active=True, descend_into=True))
        variables = frozenset(v.local_name for v in model.component_objects(pyo.Var, descend_into=True))
        return cls(label, rows, variables, requirements, definitions)

    def undeclared(self) -> list[str]:
        return sorted(r for r in self.rows if r not in self.requirements and r not in self.definitions)


def names(key: str, built: list[Built]) -> bool:
    """`key` is a row of some model built, or "<variable>.lower"/".upper" of a variable of one."""
    variable, dot, side = key.rpartition(".")
    if dot and side in ("lower", "upper"):
        return any(variable in b.variables for b in built)
    return any(key in b.rows for b in built)


# --- the models of each family ---------------------------------------------------------------------

@dataclass(frozen=True)
class Cities:
    """The tiny city; a copy whose city.yaml sets a city pool (the city model's pool row is then the
    data's, not the budget's); a copy whose grids have three times the work (the tiny city's required
    staff cover every grid, so a grid run there is settled from the data without a model)."""

    tiny: Instance
    pooled: Instance
    busy: Instance

    @classmethod
    def of(cls, tiny: Path, tmp: Path) -> "Cities":
        pooled, busy = tmp / "pooled", tmp / "busy"
        for copy in (pooled, busy):
            shutil.copytree(tiny, copy)
        with open(pooled / "city.yaml", "a", encoding="utf-8") as f:
            f.write("city_pool: 100\n")
        grids = pd.read_csv(busy / "grids.csv")
        for column in ("households", "events_per_year"):
            grids[column] *= 3
        grids.to_csv(busy / "grids.csv", index=False)
        return cls(*(load_instance(p) for p in (tiny, pooled, busy)))


def explained(model: str, instance, runs: list[RunOptions]) -> list[Built]:
    """The models the explanation of `model` relaxes, held to the registry's words."""
    requirements, definitions, build = registry(model)
    out = []
    for run in runs:
        relaxed, context = build(instance, run)
        assert relaxed is not None, f"{run}: the data settled it ({context}); the tiny city should build a model"
        out.append(Built.of(f"explained {run}", relaxed, requirements, definitions))
    return out


def solved(module, target: str, instance, runs: list[RunOptions], requirements, definitions) -> list[Built]:
    """Every model `module.run` hands to HiGHS (`target`: the solve it calls), at the moment it does."""
    seen: list[Built] = []
    with pytest.MonkeyPatch.context() as mp:
        where, _, name = target.rpartition(".")
        real = getattr(importlib.import_module(where), name)

        def recording(m, *args, **kwargs):
            seen.append(Built.of(f"solved {run} (step {len(seen)})", m, requirements, definitions))
            return real(m, *args, **kwargs)

        mp.setattr(target, recording)
        for run in runs:
            before = len(seen)
            module.run(instance, run, FAST)
            assert len(seen) > before, f"{run}: no model reached HiGHS (settled from the data?)"
    return seen


def grid_models(cities: Cities) -> list[Built]:
    runs = [RunOptions("grid", o, **limits) for o in grid.OBJECTIVES for limits in ({}, {"budget": 400, "headcount": 20})]
    runs += [RunOptions("grid", "unmet", budget=244, headcount=50)]    # 40 after today's officers: grids left vacant (by HiGHS)
    runs += [RunOptions("grid", o, no_worse_than_today=True) for o in ("unmet", "maxmin")]
    runs += [RunOptions("grid", o, budget=244, no_worse_than_today=True) for o in ("unmet", "maxmin")]   # vacant grids
    return (explained("grid", cities.tiny, runs)
            + solved(grid_run, "allocator.solving.grid.solve", cities.busy, runs, grid.REQUIREMENTS, grid.DEFINITIONS))


def enforcement_models(cities: Cities) -> list[Built]:
    tiny = cities.tiny
    runs = [RunOptions("enforcement", o, **limits) for o in ("maxmin", "shortfall", "moves")
            for limits in ({}, {"budget": 400, "max_moves": 5})]
    runs += [RunOptions("enforcement", "maxmin", no_worse_than_today=True), RunOptions("enforcement", "moves", allow_release=True)]
    runs += [RunOptions("enforcement", "expected", scenarios=SURGE, **limits)
             for limits in ({}, {"budget": 400, "max_moves": 5, "cvar_alpha": 0.9})]
    town = EnforcementOptions.of(tiny, "expected", scenarios=load_scenarios(SURGE, tiny.towns), deployment="town")
    return (explained("enforcement", tiny, runs)
            + solved(enforcement_run, "allocator.solving.enforcement.solve", tiny, runs,
                     enforcement.REQUIREMENTS, enforcement.DEFINITIONS)
            + [Built.of("deployment='town'", enforcement.build_model(tiny, town),
                        enforcement.REQUIREMENTS, enforcement.DEFINITIONS)])


def facilities_models(cities: Cities) -> list[Built]:
    tiny = cities.tiny
    runs = [RunOptions("facilities", o, p=1) for o in FACILITIES_OBJECTIVES] + [RunOptions("facilities", "mclp")]
    out = explained("facilities", tiny, runs)
    with pytest.MonkeyPatch.context() as mp:           # capacities by total open capacity
        mp.setattr(facilities_requirements, "MAX_ARCS", 0)
        out += explained("facilities", tiny, [RunOptions("facilities", o, p=1) for o in facilities_requirements.CAPACITATED])
    return out


def city_models(cities: Cities) -> list[Built]:
    bounds = {"maxmin": 0.0, "range": 1.0, "mad": 1.0, "gini": 1.0, "owa": 0.0, "hoover": 1.0}
    runs = [RunOptions("city", "utilitarian", equity_bounds=((measure, bound),)) for measure, bound in bounds.items()]
    plain = [RunOptions("city", "utilitarian")]
    words = city.REQUIREMENTS, city.DEFINITIONS
    return (explained("city", cities.tiny, runs + plain) + explained("city", cities.pooled, plain)
            + solved(city_run, "allocator.solving.equity.solve", cities.tiny, runs, *words)
            + solved(city_run, "allocator.solving.equity.solve", cities.pooled, plain, *words)
            + solved(city_run, "allocator.solving.equity.solve", cities.busy, plain, *words))


def roadmap_models(cities: Cities) -> list[Built]:
    """Roadmaps of every objective, with quotas, a build limit and lag, an equity bound and the guard."""
    years = (2026, 2027)
    limits = dict(years=years, hire_quotas=(("fulltime", 50), ("parttime", 50), ("professional", 50), ("officers", 50)),
                  build_limit=5, build_lag=1)
    runs = [RunOptions("roadmap", o, years=years, **({"target_level": 0.1} if o == "target" else {}))
            for o in roadmap.OBJECTIVES]
    bounds = {"maxmin": 0.0, "range": 1.0, "mad": 1.0, "gini": 1.0, "owa": 0.0, "hoover": 1.0}
    runs += [RunOptions("roadmap", "maxmin", equity_bounds=((m, b),), no_worse_than_today=True, **limits) for m, b in bounds.items()]
    words = roadmap.REQUIREMENTS, roadmap.DEFINITIONS
    return (explained("roadmap", cities.tiny, runs) + explained("roadmap", cities.pooled, runs[:1])
            + solved(roadmap_run, "allocator.solving.roadmap.solve", cities.tiny, runs, *words))


BUILDERS: dict[str, Callable] = {"grid": grid_models, "enforcement": enforcement_models,
                                 "facilities": facilities_models, "city": city_models, "roadmap": roadmap_models}


@pytest.fixture(scope="module")
def built_cache() -> dict:
    return {}


@pytest.fixture
def models_of(built_cache, tiny_dir, tmp_path) -> Callable[[str], list[Built]]:
    """The models of a family, built once per module."""
    def get(model: str) -> list[Built]:
        if model not in built_cache:
            built_cache[model] = BUILDERS[model](Cities.of(tiny_dir, tmp_path))
        return built_cache[model]
    return get


# --- the tests ----------------------------------------------------------------------------------------

def test_every_explained_model_is_held_here():
    assert set(MODULES) == set(BUILDERS)


@pytest.mark.parametrize("model", list(BUILDERS))
def test_every_constraint_is_explained_or_a_definition(model, models_of):
    built = models_of(model)
    assert built
    missing = {b.label: b.undeclared() for b in built if b.undeclared()}
    assert not missing, f"constraints with neither words (REQUIREMENTS) nor a DEFINITIONS entry: {missing}"


@pytest.mark.parametrize("model", list(BUILDERS))
def test_every_declared_name_is_built(model, models_of):
    built = models_of(model)
    requirements, definitions, _ = registry(model)
    declared = set(requirements) | set(definitions)
    for b in built:
        declared |= set(b.requirements) | set(b.definitions)
    unbuilt = sorted(k for k in declared if not names(k, built))
    assert not unbuilt, f"declared names that no {model} model builds (renamed or removed?): {unbuilt}"


@pytest.mark.parametrize("model", list(BUILDERS))
def test_a_name_is_words_or_a_definition_not_both(model):
    requirements, definitions, _ = registry(model)
    assert not set(requirements) & set(definitions)


def test_the_explanations_use_the_formulations_words():
    """The explain modules point at the models' declarations; the city adds only the rows it adds."""
    for model, module in (("grid", grid), ("enforcement", enforcement), ("facilities", facilities_requirements)):
        requirements, definitions, _ = registry(model)
        assert requirements is module.REQUIREMENTS and definitions is module.DEFINITIONS
    requirements, definitions, _ = registry("city")
    assert {k: requirements[k] for k in city.REQUIREMENTS} == city.REQUIREMENTS
    assert city.DEFINITIONS <= definitions
    assert equity.REQUIREMENTS.items() <= city.REQUIREMENTS.items()
    assert equity.DEFINITIONS | equity_problem.DEFINITIONS <= city.DEFINITIONS
