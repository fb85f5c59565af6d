"""Solving the enforcement model (`allocator.models.enforcement`, which states the formulation).

`enforcement_options` turns the planner's RunOptions into the model's options: the
objective (maxmin by default, expected when surge scenarios are given; a combination of
options another objective cannot use is an InputError), the surge scenarios loaded from
their file or pattern (`expected` without --scenarios: DEFAULT_SCENARIOS, said with the plan,
as is the default target of `moves`), and the limits (`allocator.models.enforcement.EnforcementOptions.of`
fills in those the city sets). Then `run`:

- `maxmin`, by default: the best common level z* and its bracket [z_lo, z_hi] come from the
  data alone (`best_level`: a bisection on z over the exact reductions, no solver). HiGHS
  then solves the model at z*, whose objective is the fewest moves reaching z*, then the
  fewest officers leaving their posts: the tie-break's steps. The run reports the plan's
  lowest ratio as its objective and z_hi as its bound;
- every other objective (and `maxmin` with `level_search=False`) in stages: HiGHS solves
  the primary objective from a first plan (`posting_start`: today's posting raised to the
  minimum team, no pool); if that is optimal, the primary is held within 1e-7 (relative,
  `keep_primary`) and HiGHS solves the tie-break's steps — the fewest moves, then the
  fewest officers leaving their posts; under `moves` the fewest officers — starting from
  the first plan, within the time left (a step is skipped with less than a second left).
  A step without a solution leaves the plan before it, which the variables still hold;
- the tie-break is exact: its steps are lexicographic (`TIE_BREAK_STEPS`), each a whole
  number solved to proven optimality (no relative gap, an absolute gap below one:
  `exact_step`; its bound rounded up) and then held at its optimum (`hold_step`) for the
  next. One weighted sum (Σ today + 1)·moves + released, solved at the default relative gap
  (1e-4), would leave thousands of units — released officers, at Chongqing's scale —
  unproven;
- the headline is the primary objective (the one asked): its value recomputed from the plan's
  tables, the bound its own solve proved (z_hi for `maxmin` from the data) and their gap.
  `stages` lists the primary's solve (or the level search) and the tie-break with their own
  figures. The run is `optimal` only when the tie-break was proven too; a tie-break stopped
  or skipped leaves `time_limit`, and `status_text` says which;
- the plan tables are extracted and the objective recomputed from them; an infeasible run
  is explained in the planner's words, the simple conflicts (teams, headcount, budget, move
  limit, target) first.
"""
from __future__ import annotations

import math
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
from allocator.models.enforcement import (DEFAULT_OBJECTIVE, OBJECTIVES, TIE_BREAK_STEPS, build_model, hold_step, keep_primary,
                                          minimise_step)
from allocator.models.enforcement_plan import extract, move_limit_source, officers_for_target, plan_objective, staff_kept
from allocator.models.enforcement_levels import EnforcementData, best_level, fewest_moves_at
from allocator.solving.run import ModelRun, RunOptions, stage_record
from allocator.solving.solve import SolveOptions, SolveResult, deadline_of, primary_gap, relative_gap, solve

__all__ = ["DEFAULT_OBJECTIVE", "DEFAULT_SCENARIOS", "OBJECTIVES", "enforcement_money", "enforcement_options", "exact_step", "run"]

STEP_ABS_GAP = 0.99     # a tie-break step minimises a whole number: an absolute gap below 1 proves it
MIN_STEP_S = 1.0        # a step is skipped with less time left than this (once a plan is loaded)
DEFAULT_SCENARIOS = "surge:20"    # `expected` without --scenarios: 20 equally likely surges (seed 0)


def enforcement_options(city: Instance, run: RunOptions, **fixed) -> enf.EnforcementOptions:
    """The model's options for a run; `fixed` sets other fields (tie_break, level_search, deployment)."""
    objective = _objective(run)
    scenarios = load_scenarios(run.scenarios or DEFAULT_SCENARIOS, city.towns) if objective == "expected" else None
    return enf.EnforcementOptions.of(city, objective, headcount=run.headcount, budget_10k_cny=enforcement_money(city, run).limit,
                                     max_moves=run.max_moves, target_ratio=run.target_ratio, scenarios=scenarios,
                                     cvar_alpha=run.cvar_alpha, cvar_weight=run.cvar_weight,
                                     allow_release=run.allow_release, no_worse_than_today=run.no_worse_than_today,
                                     **({"level_search": False, **fixed} if run.no_worse_than_today else fixed))


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
    if run.cvar_alpha is not None and objective != "expected":
        raise InputError(Problem("--cvar", "CVaR weighs surge scenarios: give --scenarios as well"))
    if run.target_ratio is not None and objective != "moves":
        raise InputError(Problem("--target", f"a coverage target applies to --objective moves, not {objective}"))
    return objective


def run(city: Instance, options: RunOptions, solve_options: SolveOptions) -> ModelRun:
    opts = enforcement_options(city, options)
    t0 = time.perf_counter()
    meta = {**opts.as_meta(), "move_limit_source": move_limit_source(city, options.max_moves, opts)}
    bracket = None
    if opts.objective == "maxmin" and opts.level_search:
        bracket = best_level(EnforcementData.of(city, opts.min_team), opts.max_officers, opts.max_moves)
        opts = replace(opts, level=bracket[0] if bracket else 0.0)
        meta["level_search"] = {"level": bracket and bracket[0], "unreachable_level": bracket and bracket[1],
                                "seconds": time.perf_counter() - t0}
    model = build_model(city, opts)
    build_s = time.perf_counter() - t0
    if opts.level is not None:
        result, stages, text = _solve_at_level(model, opts, solve_options, bracket, meta.get("level_search"))
    else:
        result, stages, text = _solve_with_tie_break(model, opts, solve_options)
    outcome = ModelRun(result, opts.objective, build_s=build_s, meta={"enforcement": meta}, stages=stages, status_text=text)
    if result.has_solution:
        t1 = time.perf_counter()
        outcome.tables = extract(model, city, opts)
        outcome.objective_value = plan_objective(outcome.tables, opts)
        outcome.result = replace(result, objective=outcome.objective_value,
                                 gap=primary_gap(outcome.objective_value, result.bound, opts.objective == "maxmin"))
        meta["staff"] = staff_kept(outcome.tables)
        outcome.extract_s = time.perf_counter() - t1
        outcome.explanation = _defaults_and_degeneracy(options, opts, outcome)
    elif result.status == "infeasible":
        outcome.explanation = explain_infeasible(city, opts)
    elif result.status == "time_limit":
        outcome.explanation = "HiGHS found no plan within the time limit; allow more time (--time-limit)"
    return outcome


def exact_step(options: SolveOptions) -> tuple[SolveOptions, dict]:
    """The run's options for a tie-break step, and the HiGHS options that make it exact: no relative
    gap, an absolute gap below one unit of its whole-number objective."""
    return replace(options, gap=0.0), {"mip_abs_gap": STEP_ABS_GAP}


def _solve_at_level(m, options: enf.EnforcementOptions, solve_options: SolveOptions, bracket, search: dict | None):
    """maxmin at the level z* the data gave: the fewest moves reaching it, then the fewest released, each
    step proven. The headline's value is z_lo, its bound z_hi, the lowest level proven out of reach."""
    deadline = deadline_of(solve_options)
    solve_options = replace(solve_options, deadline=deadline)       # one limit for every step
    steps, solves, unproven = _tie_break(m, options, solve_options, deadline, planned=False)
    first = solves[0]
    if not bracket:          # not even the teams fit: the solve only confirms it (no bound on the level)
        return replace(first, bound=None, gap=None), steps, None
    low, high = bracket
    level = {"stage": "maxmin: highest common level (from the data, no solver)", "status": "optimal", "value": low,
             "bound": high, "gap": primary_gap(low, high, True), "seconds": (search or {}).get("seconds", 0.0)}
    if not first.has_solution:
        return first, [level] + steps, None
    text = None if unproven is None else _unproven_text("the highest lowest coverage ratio is proven from the data", unproven)
    loaded = [r for r in solves if r.has_solution][-1]
    result = replace(loaded, status="optimal" if unproven is None else "time_limit", objective=low, bound=high,
                     gap=primary_gap(low, high, True), handover_s=sum(r.handover_s for r in solves),
                     solve_s=sum(r.solve_s for r in solves))
    return result, [level] + steps, text


def _tie_break(m, options: enf.EnforcementOptions, solve_options: SolveOptions, deadline: float | None,
               planned: bool = True) -> tuple[list[dict], list[SolveResult], tuple[str, str] | None]:
    """The tie-break's steps (`TIE_BREAK_STEPS`), in order, each solved to proven optimality from the plan
    loaded (`exact_step`) and then held at its optimum (`hold_step`) for the next. `planned`: a plan is
    loaded (else the first step runs whatever the time left, to find one). Returns the stages, the solves
    and, for a step not proven (stopped, or skipped with less than a second left), its word and status."""
    stages: list[dict] = []
    solves: list[SolveResult] = []
    unproven = None
    for name, word in TIE_BREAK_STEPS[options.objective]:
        label = f"tie-break: fewest {word}"
        left = None if deadline is None else deadline - time.time()
        if unproven is not None or (planned and left is not None and left < MIN_STEP_S):
            stages.append(stage_record(label, None))
            unproven = unproven or (word, "skipped")
            continue
        start = ComponentMap((v, v.value) for v in m.component_data_objects(pyo.Var, active=True)) if planned else None
        minimise_step(m, name)
        step_options, highs_options = exact_step(replace(solve_options, time_limit=None if left is None else max(left, MIN_STEP_S)))
        r = _whole(solve(m, step_options.stage_named(label), start=start, highs_options=highs_options))
        stages.append(stage_record(label, r))
        solves.append(r)
        planned = planned or r.has_solution     # a step without a solution loaded nothing: the plan stays
        if r.status != "optimal":
            unproven = (word, r.status)
            continue
        hold_step(m, name, r.objective)
    return stages, solves, unproven


def _whole(r: SolveResult) -> SolveResult:
    """A step minimises a whole number: its bound rounds up (HiGHS's, within 1e-6), and so does its gap."""
    if r.bound is None or r.objective is None:
        return r
    bound = float(math.ceil(r.bound - 1e-6))
    return replace(r, bound=bound, gap=0.0 if r.objective <= bound else relative_gap(r.objective, bound))


def _unproven_text(proven: str, unproven: tuple[str, str]) -> str:
    word, status = unproven
    how = "did not run: no time was left" if status == "skipped" else _ended(status)
    return (f"{proven}; the tie-break for the fewest {word} {how}, so a plan as good may have fewer {word} "
            f"(the plan is the best found)")


def _ended(status: str) -> str:
    return "stopped at the time limit" if status == "time_limit" else f"ended {status}"


def _defaults_and_degeneracy(run: RunOptions, opts: enf.EnforcementOptions, outcome: ModelRun) -> str | None:
    """The defaults a run took in the objective's own options, and an answer that is no finding:
    every town covered (maxmin ≥ 1, shortfall 0) or today's posting already at the target (moves 0)."""
    said, value = [], outcome.objective_value
    if opts.objective == "expected" and not run.scenarios:
        said.append(f"no --scenarios given: {len(opts.scenarios.names)} equally likely surge scenarios "
                    f"({DEFAULT_SCENARIOS}) were used")
    if opts.objective == "moves" and run.target_ratio is None:
        said.append(f"no --target given: every town's coverage ratio must reach {opts.target_ratio:g} (the default)")
    degenerate = None
    if value is not None and opts.objective == "maxmin" and value >= 1 - 1e-9:
        degenerate = "the headcount covers every town's demand: the lowest coverage ratio is at least 1"
    elif value is not None and opts.objective == "shortfall" and value <= 1e-9:
        degenerate = "the headcount covers every town's demand: no officer is missing anywhere"
    elif value is not None and opts.objective == "moves" and value <= 1e-9:
        degenerate = f"today's posting already reaches the target {opts.target_ratio:g}: no move is needed"
    if degenerate:
        said.append(degenerate)
        outcome.meta["degeneracy"] = {"statement": degenerate}
    return "; ".join(said) or None


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


def _solve_with_tie_break(m, options: enf.EnforcementOptions, solve_options: SolveOptions) -> tuple[SolveResult, list[dict], str | None]:
    """Solve the primary objective; if optimal, keep it and run the tie-break's steps (`_tie_break`), from
    the first plan, within the time left. Returns the headline (the primary's value and bound; `optimal`
    only when every step was proven too), the stages and the words for a tie-break that did not finish."""
    deadline = deadline_of(solve_options)
    solve_options = replace(solve_options, deadline=deadline)       # one limit for every stage
    first = solve(m, solve_options.stage_named(f"optimise {options.objective}"), start=posting_start(m))
    stages = [stage_record(options.objective, first)]
    if not options.tie_break or not first.has_solution:
        return first, stages, None
    if first.status != "optimal":
        stages += [stage_record(f"tie-break: fewest {word}", None) for _, word in TIE_BREAK_STEPS[options.objective]]
        return first, stages, f"{options.objective} was not proven optimal ({_ended(first.status)}); the tie-break did not run"
    keep_primary(m, first.objective)
    steps, solves, unproven = _tie_break(m, options, solve_options, deadline)
    # A step without a solution loaded nothing, so the variables still hold the plan before it.
    text = None if unproven is None else _unproven_text(f"{options.objective} is proven", unproven)
    combined = replace(first, status="optimal" if unproven is None else "time_limit",
                       handover_s=first.handover_s + sum(r.handover_s for r in solves),
                       solve_s=first.solve_s + sum(r.solve_s for r in solves))
    return combined, stages + steps, text


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
    kept = _explain_kept(int(today.sum()), options)
    if kept:
        return kept
    arrivals, short = int(np.maximum(s_min - today, 0).sum()), int((today < s_min).sum())
    if options.max_moves is not None and arrivals > options.max_moves:
        return (f"bringing {_count(short, 'town')} with fewer than {s_min} officers up to a team of {s_min} needs "
                f"{_count(arrivals, 'officer')} to arrive, but {_allowed(options.max_moves)}")
    if options.objective == "moves":
        return _explain_target(city, options)
    return "no plan meets the team minimum, the headcount, the budget and the move limit together"


def _explain_kept(today: int, options: enf.EnforcementOptions) -> str | None:
    """Keeping every officer employed today needs the headcount and the budget to cover them."""
    if options.allow_release:
        return None
    remedy = "; officers are reassigned, not dismissed, unless you give --allow-release"
    if options.headcount < today:
        return (f"the headcount of {options.headcount:,} is below the {_count(today, 'officer')} employed today: raise it to "
                f"at least {today:,} (--headcount or headcount in city.yaml){remedy}")
    if options.max_officers < today:
        cost = today * options.salary_10k_cny
        return (f"keeping the {_count(today, 'officer')} employed today costs {cost:,.6g} (10k CNY a year) but the budget "
                f"is {options.budget_10k_cny:,.6g}: raise it to at least {cost:,.6g} (--budget){remedy}")
    return None


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
