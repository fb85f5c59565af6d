"""Solving the enforcement model (`allocator.models.enforcement`, which states the formulation).

`enforcement_options` turns the planner's RunOptions into the model's options: the
objective (maxmin by default, expected when surge scenarios are given; a combination of
options another objective cannot use is an InputError), the surge scenarios loaded from
their file or pattern, and the limits (`allocator.models.enforcement.EnforcementOptions.of`
fills in those the city sets). Then `run`:

- `maxmin`, by default: the best common level z* and its bracket [z_lo, z_hi] come from the
  data alone (`best_level`: a bisection on z over the exact reductions, no solver). HiGHS
  then solves the model at z*, whose objective is the fewest moves (then the fewest officers
  leaving their posts) reaching z*: the tie-break, in one solve. The run reports z_lo as
  its objective and z_hi as its bound;
- every other objective (and `maxmin` with `level_search=False`) in two stages: HiGHS solves
  the primary objective from a first plan (`posting_start`: today's posting raised to the
  minimum team, no pool); if that is optimal, the primary is held within 1e-7 (relative,
  `keep_primary`) and HiGHS solves again for the tie-break — the fewest moves, then the
  fewest officers leaving their posts; under `moves` the fewest officers — starting from
  the first plan, within the time left (skipped with less than a second left). A second
  stage without a solution leaves the first plan, which the variables still hold;
- the plan tables are extracted and the objective recomputed from them; an infeasible run
  is explained in the planner's words, the simple conflicts (teams, headcount, budget, move
  limit, target) first.
"""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from allocator.data.instance import Instance
from allocator.data.scenarios import load_scenarios
from allocator.data.money import Budget, model_budget
from allocator.errors import InputError, Problem
from allocator.models import enforcement as enf
from allocator.models.enforcement import (DEFAULT_OBJECTIVE, OBJECTIVES, TIE_BREAK, build_model, extract, keep_primary,
                                          officers_for_target, plan_objective)
from allocator.models.enforcement_levels import EnforcementData, best_level, fewest_moves_at
from allocator.solving.run import ModelRun, RunOptions
from allocator.solving.solve import SolveOptions, SolveResult, relative_gap, solve

__all__ = ["DEFAULT_OBJECTIVE", "OBJECTIVES", "enforcement_money", "enforcement_options", "run"]


def enforcement_options(city: Instance, run: RunOptions, **fixed) -> enf.EnforcementOptions:
    """The model's options for a run; `fixed` sets other fields (tie_break, level_search, deployment)."""
    objective = _objective(run)
    scenarios = load_scenarios(run.scenarios, city.towns) if objective == "expected" else None
    return enf.EnforcementOptions.of(city, objective, headcount=run.headcount, budget_10k_cny=enforcement_money(city, run).limit,
                                     max_moves=run.max_moves, target_ratio=run.target_ratio, scenarios=scenarios,
                                     cvar_alpha=run.cvar_alpha, cvar_weight=run.cvar_weight, **fixed)


def enforcement_money(city: Instance, run: RunOptions) -> Budget:
    """The budget of an enforcement run: what the city budget (--budget, else city.yaml's) leaves after
    today's grid workers (README, "What the budget pays")."""
    return model_budget(city, "enforcement", run.budget)


def _objective(run: RunOptions) -> str:
    objective = run.objective or ("expected" if run.scenarios else DEFAULT_OBJECTIVE)
    if objective not in OBJECTIVES:
        raise InputError(Problem("--objective", f"the enforcement model has objectives {', '.join(OBJECTIVES)}", value=objective))
    if run.scenarios and objective != "expected":
        raise InputError(Problem("--scenarios", f"surge scenarios need --objective expected, not {objective}"))
    if objective == "expected" and not run.scenarios:
        raise InputError(Problem("--objective", "expected unmet demand needs --scenarios FILE or a pattern such as surge:20"))
    if run.cvar_alpha is not None and objective != "expected":
        raise InputError(Problem("--cvar", "CVaR weighs surge scenarios: give --scenarios as well"))
    if run.target_ratio is not None and objective != "moves":
        raise InputError(Problem("--target", f"a coverage target applies to --objective moves, not {objective}"))
    return objective


def run(city: Instance, options: RunOptions, solve_options: SolveOptions) -> ModelRun:
    opts = enforcement_options(city, options)
    t0 = time.perf_counter()
    meta = {**opts.as_meta()}
    bracket = None
    if opts.objective == "maxmin" and opts.level_search:
        bracket = best_level(EnforcementData.of(city, opts.min_team), opts.max_officers, opts.max_moves)
        opts = replace(opts, level=bracket[0] if bracket else 0.0)
        meta["level_search"] = {"level": bracket and bracket[0], "unreachable_level": bracket and bracket[1],
                                "seconds": time.perf_counter() - t0}
    model = build_model(city, opts)
    build_s = time.perf_counter() - t0
    if opts.level is not None:
        result = solve(model, solve_options)         # fewest moves at the level: the tie-break, in one solve
        meta["tie_break_run"] = {"objective": TIE_BREAK["maxmin"], "status": result.status, "value": result.objective, "gap": result.gap}
        if bracket and result.has_solution:         # the objective is the level; its bound, the bracket's top
            low, high = bracket
            result = replace(result, objective=low, bound=high, gap=relative_gap(low, high))
    else:
        result, meta["tie_break_run"] = _solve_with_tie_break(model, opts, solve_options)
    outcome = ModelRun(result, opts.objective, build_s=build_s, meta={"enforcement": meta})
    if result.has_solution:
        t1 = time.perf_counter()
        outcome.tables = extract(model, city, opts)
        outcome.objective_value = plan_objective(outcome.tables, opts)
        outcome.extract_s = time.perf_counter() - t1
    elif result.status == "infeasible":
        outcome.explanation = explain_infeasible(city, opts)
    elif result.status == "time_limit":
        outcome.explanation = "HiGHS found no plan within the time limit; allow more time (--time-limit)"
    return outcome


def posting_start(m) -> ComponentMap:
    """A first plan for HiGHS, so that a time-limited run always has one: today's posting raised to
    each town's lower bound (the minimum team) within its upper bound, no pool. HiGHS completes the
    other variables, or drops the start when the headcount or the move limit forbids it."""
    start = ComponentMap()
    for t, v in m.posted_staff.items():
        s = max(float(pyo.value(m.staff_today[t])), v.lb or 0.0)
        s = min(s, v.ub) if v.ub is not None else s
        start[v] = s
        start[m.moved_in[t]] = max(0.0, s - float(pyo.value(m.staff_today[t])))
        start[m.moved_out[t]] = max(0.0, float(pyo.value(m.staff_today[t])) - s)
    for v in m.pool_staff.values():
        start[v] = 0.0
    return start


def _solve_with_tie_break(m, options: enf.EnforcementOptions, solve_options: SolveOptions) -> tuple[SolveResult, dict]:
    """Solve the primary objective; if optimal, keep it and solve again for the tie-break, from the first plan."""
    start = time.monotonic()
    first = solve(m, solve_options, start=posting_start(m))
    if not options.tie_break or first.status != "optimal" or first.objective is None:
        return first, {"objective": None, "status": "skipped"}
    limit = solve_options.time_limit
    if limit is not None and limit - (time.monotonic() - start) < 1.0:
        return first, {"objective": TIE_BREAK[options.objective], "status": "skipped: no time left"}
    keep_primary(m, first.objective)
    remaining = None if limit is None else limit - (time.monotonic() - start)
    first_plan = ComponentMap((v, v.value) for v in m.component_data_objects(pyo.Var, active=True))   # feasible: a start
    second = solve(m, replace(solve_options, time_limit=remaining), start=first_plan)
    # Without a solution HiGHS loaded nothing, so the variables still hold the first plan.
    combined = replace(first, handover_s=first.handover_s + second.handover_s, solve_s=first.solve_s + second.solve_s)
    return combined, {"objective": TIE_BREAK[options.objective], "status": second.status,
                      "value": second.objective if second.has_solution else None, "gap": second.gap}


# --- infeasibility, in the planner's words ------------------------------------------------

def explain_infeasible(city: Instance, options: enf.EnforcementOptions) -> str:
    """Name the requirement that cannot be met, with the figures, checking the simple conflicts first."""
    n, s_min, limit = len(city.towns), options.min_team, options.headcount
    teams = n * s_min
    if teams > limit:
        return f"a team of at least {s_min} in each of {_count(n, 'town')} needs {_count(teams, 'officer')} but the headcount is {limit:,}"
    if options.budget_10k_cny is not None and teams * options.salary_10k_cny > options.budget_10k_cny + 1e-9:
        return (f"a team of at least {s_min} in each of {_count(n, 'town')} costs {teams * options.salary_10k_cny:,.6g} (10k CNY a year, "
                f"{options.salary_10k_cny:g} per officer) but the budget is {options.budget_10k_cny:,.6g}")
    today = city.towns["enforcement_now"].to_numpy(int)
    arrivals, short = int(np.maximum(s_min - today, 0).sum()), int((today < s_min).sum())
    if options.max_moves is not None and arrivals > options.max_moves:
        return (f"bringing {_count(short, 'town')} with fewer than {s_min} officers up to a team of {s_min} needs "
                f"{_count(arrivals, 'officer')} to arrive, but {_allowed(options.max_moves)}")
    if options.objective == "moves":
        return _explain_target(city, options)
    return "no plan meets the team minimum, the headcount, the budget and the move limit together"


def _explain_target(city: Instance, options: enf.EnforcementOptions) -> str:
    tau, need = options.target_ratio, officers_for_target(city, options)
    if need > options.headcount:
        return f"reaching ratio {tau:g} everywhere needs at least {_count(need, 'officer')} but the headcount is {options.headcount:,}"
    if need > options.max_officers:
        return (f"reaching ratio {tau:g} everywhere needs at least {_count(need, 'officer')}, costing {need * options.salary_10k_cny:,.6g} "
                f"(10k CNY a year), but the budget is {options.budget_10k_cny:,.6g}")
    fewest = fewest_moves_at(tau, EnforcementData.of(city, options.min_team), options.max_officers)
    if fewest is not None and options.max_moves is not None and fewest > options.max_moves:
        return f"reaching ratio {tau:g} everywhere needs at least {_count(fewest, 'move')} but {_allowed(options.max_moves)}"
    return f"no plan reaches ratio {tau:g} everywhere within the headcount, the budget and the move limit"


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _allowed(max_moves: int) -> str:
    return "no moves are allowed" if max_moves == 0 else f"only {max_moves:,} {'is' if max_moves == 1 else 'are'} allowed"
