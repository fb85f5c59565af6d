"""Enforcement staffing across streets and towns (综合行政执法, "一支队伍管执法"), DESIGN §4.2.

Demand, in officers, on the run's population basis (actual = resident + migrant by
default: "resources follow the actual population"):

    D_t = a·pop_t / 10,000 + b·area_t + c·cases_t / 1,000
    a, b, c = norms enforcement_per_10k, enforcement_per_km2, enforcement_per_1000_cases

Every objective shares the first-stage staffing rules:

    s_t = s0_t + m⁺_t − m⁻_t                         ∀ t ∈ TOWNS                (1)
    Σ_t m⁺_t + Σ_d r_d ≤ M                            (when a move limit applies) (2)
    Σ_t s_t + Σ_d r_d ≤ H                             ("编制总量管理")             (3)
    c_off·(Σ_t s_t + Σ_d r_d) ≤ B                      (only with --budget)       (4)
    Σ_t s_t + Σ_d r_d ≥ Σ_t s0_t                      (unless --allow-release)   (4')
    Σ_{t∈d} s_t + r_d ≥ Σ_{t∈d} s0_t                  ∀ d (--no-worse-than-today) (4'')
    s_t ≥ s_min;  s_t, r_d, m⁺_t, m⁻_t whole numbers ≥ 0

A move is an officer taking up a post they do not hold today: arriving in a town
(transferred from another town or newly hired) counts in m⁺_t; leaving a town (for
another town, for a district pool, or leaving the service) counts in m⁻_t. No district
pool exists today, so every pool officer r_d is also a move: (2) counts them, otherwise
"no moves" could still empty towns into pools. The plan reports net moves per town.

Establishment staff (编制) are reassigned, not dismissed: (4') keeps every officer employed
today posted or pooled, so an officer leaving a town arrives in another town or a pool.
With `allow_release` (4') is dropped and the officers leaving the service,
R = max(0, Σ_t s0_t − Σ_t s_t − Σ_d r_d), are reported in their own column (`released`,
attributed to the towns they leave in proportion to the officers leaving each town).
The default move limit M is enforcement_max_moves_share × today's officers; where the
headcount grows by exactly that much (Chongqing: 1,629 = 10 % of 16,292), every move the
limit allows is taken by a new post and no officer of today can be reassigned.

Deterministic objectives use pool shares q_t ≥ 0, the part of the district pool ("街乡
吹哨、部门报到") counted towards town t, and the coverage ratio ρ_t = (s_t + q_t)/D_t:

    Σ_{t∈d} q_t ≤ r_d                                 ∀ d ∈ DISTRICTS            (5)
    maxmin     max ρ       s.t. ρ·D_t ≤ s_t + q_t      ∀ t                        (6)
    shortfall  min Σ_t e_t s.t. e_t ≥ D_t − s_t − q_t, e_t ≥ 0   ∀ t              (7)
    moves      min Σ_t m⁺_t + Σ_d r_d  s.t. s_t + q_t ≥ τ·D_t   ∀ t              (8)
               (the move limit (2) applies under `moves` only when --max-moves is given)

Stochastic objective `expected` (with --scenarios): surge scenarios ω with probability
π_ω and multipliers μ_tω; the pool is deployed after the surge is known:

    Σ_{t∈d} p_tω ≤ r_d,  u_tω ≥ D_t·μ_tω − s_t − p_tω,  u, p ≥ 0                 (9)
    ξ_ω ≥ Σ_t u_tω − η,  ξ_ω ≥ 0,  η ≥ 0               ∀ ω  (with --cvar α)      (10)
    min Σ_ω π_ω Σ_t u_tω + w·Σ_d r_d + λ·(η + Σ_ω π_ω ξ_ω / (1 − α))             (11)

(11) is in officers short (officer-years of unmet demand); a pool officer costs
w = `pool_cost_weight` officer-equivalents (default 0.1: standby and travel), so a pool is
kept where it is expected to close more than a tenth of an officer of gap. η ≥ 0 loses
nothing as losses are ≥ 0. As the pool of d can be split freely among its towns, (9) is
solved in its exactly equivalent district form (`deployment="district"`, the default):

    g_tω ≥ D_t·μ_tω − s_t, g ≥ 0;   U_dω ≥ Σ_{t∈d} g_tω − r_d, U ≥ 0;   Σ_t u_tω = Σ_d U_dω   (9')

One g_t serves every scenario in which t does not surge, and a row holds only the towns
that surge: U_dω ≥ G_d + Σ_{t∈d surging in ω} (g_tω − g_t) − r_d with G_d = Σ_{t∈d} g_t.
No g where D_t·μ_tω ≤ s_min (a team covers it). `deployment="town"` builds (9) literally.
The plan reports p_tω, u_tω per town (`deploy_pools`, models/enforcement_plan.py) and pool_share = Σ_ω π_ω p_tω.

Exact reductions (DESIGN §8). For a level z (z = τ under `moves`) let n_t = z·D_t,
a_t = max(s_min, ⌊n_t⌋), b_t = max(s_min, ⌈n_t⌉). Any plan reaching z can be changed into
one with a_t ≤ s_t ≤ b_t using no more officers and no more moves (posting above b_t is
waste; below a_t, one officer more posted and one fewer pooled costs no officer and no
move), and with s_t = a_t where s0_t ≤ a_t (rounding up a town that must receive
officers anyway costs a move and an officer for at most one pooled officer saved). So
the model of `moves` carries these bounds (z = τ). For `maxmin` the best level z* follows
from the data alone: at each z the towns of a district choose between a_t and b_t, its pool
is ⌈Σ fractions⌉, and a min-plus recursion over districts finds the fewest officers within
the move limit (`best_level` in `models.enforcement_levels`). Given z*
(`EnforcementOptions.level`) the `maxmin` model is (8) at z* with these bounds and the
objective of fewest moves reaching z*; without it (`level_search=False`) it is the plain
MIP (6). `shortfall` posts at most max(s_min, ⌈D_t⌉), `expected` at most
max(s_min, ⌈D_t·max_ω μ_tω⌉) (`posting_range`).

Ties: each model holds its primary objective (m.primary, active) and a tie-break in
lexicographic steps (`TIE_BREAK_STEPS`), each a whole number to minimise: the fewest moves
(total_moves), then the fewest officers leaving their posts (total_released; so officers
above b_t are kept where they are today rather than released: their upper bound is
max(b_t, s0_t)) for `shortfall`, `expected` and `maxmin`, the fewest officers (total_staff)
for `moves`; `maxmin` at z* has the fewest moves as its primary. `keep_primary` holds the
primary at its optimum within KEEP_TOLERANCE (relative) as primary_value_kept;
`minimise_step` makes a step the objective; `hold_step` holds a step at its optimum v as
<name>_held: <name> ≤ v + ½, exact for a whole number. The solving layer
(`solving.enforcement`) runs the stages, each step proven optimal before the next. A plan's
objective_value is the objective recomputed from its tables (`plan_objective`). Pool shares
are water-filled (`share_pools`). Both are in models/enforcement_plan.py, with the plan tables.

    symbol   attribute                     meaning
    D_t      m.demand_officers[t]          officers the standard asks for in town t
    s0_t     m.staff_today[t]              officers posted today (enforcement_now)
    s_t      m.posted_staff[t]             officers posted in town t
    r_d      m.pool_staff[d]               officers in district d's pool
    m⁺, m⁻   m.moved_in[t], m.moved_out[t] officers arriving in / leaving town t
    q_t      m.pool_share[t]               pool officers counted towards town t
    ρ        m.min_ratio                   lowest coverage ratio (maxmin without bisection)
    e_t      m.shortfall_officers[t]       officers missing in town t
    μ_tω     m.surge_multiplier[t, ω]      demand multiplier of scenario ω
    p_tω     m.deployed[t, ω]              pool officers sent to t in ω (deployment="town")
    u_tω     m.unmet_officers[t, ω]        officers still missing (deployment="town")
    g, G, U  m.gap_officers[t, ω or "*"], m.normal_gap[d], m.district_unmet[d, ω]  (district form)
    η, ξ_ω   m.cvar_threshold, m.cvar_excess[ω]
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo
from pyomo.common.gc_manager import PauseGC

from allocator.data.instance import Instance
from allocator.data.scenarios import Scenarios

from . import linear as lin
from .enforcement_levels import EPS, EnforcementData, demand_officers, postings_at
from .requirements import BUDGET_REMEDY, MONEY, Family

OBJECTIVES = ("maxmin", "shortfall", "moves", "expected")
DEFAULT_OBJECTIVE = "maxmin"
DEFAULT_TARGET = 0.8
POOL_COST_WEIGHT = 0.1            # officer-equivalents per pool officer (objective `expected`)
KEEP_TOLERANCE = 1e-7             # relative slack when the primary objective is kept for the tie-break
TIE_BREAK = {"maxmin": "moves, then officers released", "shortfall": "moves, then officers released",
             "moves": "officers", "expected": "moves, then officers released"}
# the tie-break's steps, in order: (expression to minimise, the planner's word); whole numbers
_MOVES_THEN_RELEASED = (("total_moves", "moves"), ("total_released", "officers released"))
TIE_BREAK_STEPS = {"maxmin": _MOVES_THEN_RELEASED, "shortfall": _MOVES_THEN_RELEASED, "moves": (("total_staff", "officers"),),
                   "expected": _MOVES_THEN_RELEASED}


@dataclass(frozen=True)
class EnforcementOptions:
    """Limits and objective of one model, from plain values (`of` fills the limits the city sets)."""

    objective: str = DEFAULT_OBJECTIVE
    headcount: int = 0
    budget_10k_cny: float | None = None
    max_moves: int | None = None
    target_ratio: float = DEFAULT_TARGET
    min_team: int = 5
    salary_10k_cny: float = 12.0
    scenarios: Scenarios | None = None
    cvar_alpha: float | None = None
    cvar_weight: float = 1.0
    pool_cost_weight: float = POOL_COST_WEIGHT
    tie_break: bool = True
    level_search: bool = True          # maxmin by bisection + one HiGHS solve; False: plain MIP (6)
    deployment: str = "district"       # "district": form (9'); "town": form (9)
    level: float | None = None         # maxmin: the level z* found by the search
    allow_release: bool = False        # drop (4'): officers may leave the service
    no_worse_than_today: bool = False  # (4''): no district below the coverage its officers give it today

    @classmethod
    def of(cls, city: Instance, objective: str = DEFAULT_OBJECTIVE, *, headcount: int | None = None,
           budget_10k_cny: float | None = None, max_moves: int | None = None, target_ratio: float | None = None,
           scenarios: Scenarios | None = None, cvar_alpha: float | None = None, cvar_weight: float = 1.0,
           **fixed) -> "EnforcementOptions":
        """The options with the city's limits filled in. Headcount: `headcount`, else city.yaml, else
        today's officers. Move limit: `max_moves`, else enforcement_max_moves_share × today's officers
        (rounded down), except under `moves`, which applies a limit only when one is given. Team
        minimum and salary: the norms. `fixed`: any other field (tie_break, level_search, ...)."""
        norms, today = city.config.norms, int(city.towns["enforcement_now"].sum())
        if max_moves is None and objective != "moves":
            max_moves = int(math.floor(float(norms["enforcement_max_moves_share"]) * today + 1e-9))
        return cls(objective=objective, headcount=int(headcount or city.config.headcount or today),
                   budget_10k_cny=budget_10k_cny, max_moves=max_moves,
                   target_ratio=float(target_ratio if target_ratio is not None else DEFAULT_TARGET),
                   min_team=int(math.ceil(float(norms["enforcement_min_team"]) - 1e-9)),
                   salary_10k_cny=city.config.salary("enforcement"), scenarios=scenarios,
                   cvar_alpha=cvar_alpha, cvar_weight=float(cvar_weight), **fixed)

    @property
    def max_officers(self) -> int:
        """The headcount, or fewer when the budget pays for fewer officers."""
        if self.budget_10k_cny is None:
            return self.headcount
        return min(self.headcount, int(math.floor(self.budget_10k_cny / self.salary_10k_cny + 1e-9)))

    def as_meta(self) -> dict:
        return {"headcount": self.headcount, "budget": self.budget_10k_cny, "max_moves": self.max_moves,
                "moves_count_pool_staff": True, "target_ratio": self.target_ratio if self.objective == "moves" else None,
                "min_team": self.min_team, "salary": self.salary_10k_cny, "pool_cost_weight": self.pool_cost_weight,
                "cvar_alpha": self.cvar_alpha, "cvar_weight": self.cvar_weight if self.cvar_alpha else None,
                "tie_break": TIE_BREAK[self.objective] if self.tie_break else None, "allow_release": self.allow_release,
                "no_worse_than_today": self.no_worse_than_today,
                "scenarios": self.scenarios.as_meta() if self.scenarios is not None else None}


# --- the model ---------------------------------------------------------------------------

def build_model(city: Instance, options: EnforcementOptions) -> pyo.ConcreteModel:
    """The model of the module docstring; the garbage collector is paused while Pyomo builds it."""
    with PauseGC():
        return _build(city, options)


def _build(city: Instance, options: EnforcementOptions) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel("enforcement")
    _add_sets(m, city, options)
    _add_parameters(m, city, options)
    _add_staff_variables(m, *posting_range(EnforcementData.of(city, options.min_team), options))
    _add_staff_balance(m)
    _add_move_limit(m, options)
    _add_headcount_limit(m, options)
    _add_budget_limit(m, options)
    _add_today_kept(m, options)
    _add_no_worse_than_today(m, options)
    if options.scenarios is None:
        _add_pool_shares(m)
    elif options.deployment == "town":
        _add_town_deployment(m)
    else:
        _add_district_deployment(m)
    _add_cvar(m, options)
    _add_objectives(m, options)
    return m


def posting_range(st: EnforcementData, options: EnforcementOptions) -> tuple[np.ndarray, np.ndarray | None]:
    """Bounds on s_t that keep an optimal plan (the exact reductions of the module docstring)."""
    if options.objective == "moves":
        low, high, _ = postings_at(options.target_ratio, st)
        return low, high if options.allow_release else np.maximum(high, st.today)   # kept officers stay where they are
    if options.level is not None:
        low, high, _ = postings_at(options.level, st)
        return low, np.maximum(high, st.today)      # keeping today's officers costs no move
    floor = np.full(len(st.demand), float(st.min_team))
    if options.objective == "shortfall":
        return floor, np.maximum(np.maximum(floor, np.ceil(st.demand - EPS)), st.today)
    if options.objective == "expected":
        top = options.scenarios.multipliers.to_numpy(float).max(axis=1) if options.scenarios.names else 1.0
        return floor, np.maximum(np.maximum(floor, np.ceil(st.demand * top - EPS)), st.today)
    return floor, None


def _add_sets(m, city: Instance, options: EnforcementOptions) -> None:
    m.TOWNS = pyo.Set(initialize=[str(t) for t in city.towns.index], ordered=True)
    m.DISTRICTS = pyo.Set(initialize=[str(d) for d in city.districts.index], ordered=True)
    members = {d: [] for d in m.DISTRICTS}
    for t, d in zip(m.TOWNS, city.towns["district_id"].astype(str)):
        members[d].append(t)
    m.TOWNS_IN = pyo.Set(m.DISTRICTS, initialize=members, ordered=True)
    if options.scenarios is not None:
        _add_scenario_sets(m, city, options)


def _add_scenario_sets(m, city: Instance, options: EnforcementOptions) -> None:
    """Town form (9): AT_RISK, the (t, ω) with D_t·μ_tω > s_min (a team covers the rest), and
    AT_RISK_IN[d, ω]. District form (9'): GAP_KEYS, (t, "*") for the normal gap of each town with
    D_t > s_min and (t, ω) for each surge at risk; in scenario ω district d replaces the normal gaps
    CALM_IN[d, ω] by the surge gaps SURGES_IN[d, ω] (towns whose multiplier is not 1)."""
    sc, town_ids, names = options.scenarios, list(m.TOWNS), list(options.scenarios.names)
    surge = sc.multipliers.loc[town_ids, names].to_numpy(float)
    demand = demand_officers(city).to_numpy(float)
    at_risk = demand[:, None] * surge > options.min_team
    district = city.towns["district_id"].astype(str).to_numpy()
    m.SCENARIOS = pyo.Set(initialize=names, ordered=True)
    cells = {(d, w): [] for d in m.DISTRICTS for w in names}
    if options.deployment == "town":
        for k, i in zip(*np.nonzero(at_risk.T)):
            cells[district[i], names[k]].append((town_ids[i], names[k]))
        m.AT_RISK = pyo.Set(initialize=[key for keys in cells.values() for key in keys], dimen=2, ordered=True)
        m.AT_RISK_IN = pyo.Set(m.DISTRICTS, m.SCENARIOS, initialize=cells, dimen=2, ordered=True)
        return
    normal = demand > options.min_team
    calm = {key: [] for key in cells}
    for k, i in zip(*np.nonzero((surge != 1.0).T)):
        if at_risk[i, k]:
            cells[district[i], names[k]].append((town_ids[i], names[k]))
        if normal[i]:
            calm[district[i], names[k]].append((town_ids[i], "*"))
    m.GAP_KEYS = pyo.Set(initialize=[(t, "*") for t in np.asarray(town_ids)[normal]]
                         + [key for keys in cells.values() for key in keys], dimen=2, ordered=True)
    m.NORMAL_IN = pyo.Set(m.DISTRICTS, initialize={d: [(t, "*") for t in m.TOWNS_IN[d] if normal[m.TOWNS.ord(t) - 1]] for d in m.DISTRICTS},
                          dimen=2, ordered=True)
    m.SURGES_IN = pyo.Set(m.DISTRICTS, m.SCENARIOS, initialize=cells, dimen=2, ordered=True)
    m.CALM_IN = pyo.Set(m.DISTRICTS, m.SCENARIOS, initialize=calm, dimen=2, ordered=True)


def _add_parameters(m, city: Instance, options: EnforcementOptions) -> None:
    demand = demand_officers(city)
    m.demand_officers = pyo.Param(m.TOWNS, initialize=dict(zip(m.TOWNS, demand.to_numpy(float))), within=pyo.NonNegativeReals)
    m.staff_today = pyo.Param(m.TOWNS, initialize=dict(zip(m.TOWNS, city.towns["enforcement_now"].astype(int))), within=pyo.NonNegativeIntegers)
    if options.scenarios is not None:
        sc = options.scenarios
        m.probability = pyo.Param(m.SCENARIOS, initialize=dict(zip(sc.names, sc.probabilities)))
        keys = m.AT_RISK if options.deployment == "town" else m.GAP_KEYS
        stacked = sc.multipliers.stack()
        surging = {k: float(v) for k, v in stacked[stacked != 1.0].items() if k in keys}
        m.surge_multiplier = pyo.Param(keys, initialize=surging, default=1.0)


def _add_staff_variables(m, low: np.ndarray, high: np.ndarray | None) -> None:
    bounds = {t: (float(low[i]), None if high is None else float(high[i])) for i, t in enumerate(m.TOWNS)}
    m.posted_staff = pyo.Var(m.TOWNS, within=pyo.NonNegativeIntegers, bounds=lambda m, t: bounds[t])
    m.pool_staff = pyo.Var(m.DISTRICTS, within=pyo.NonNegativeIntegers)
    m.moved_in = pyo.Var(m.TOWNS, within=pyo.NonNegativeIntegers)
    m.moved_out = pyo.Var(m.TOWNS, within=pyo.NonNegativeIntegers)
    m.total_staff = pyo.Expression(expr=pyo.quicksum(m.posted_staff[t] for t in m.TOWNS) + pyo.quicksum(m.pool_staff[d] for d in m.DISTRICTS))
    m.total_moves = pyo.Expression(expr=pyo.quicksum(m.moved_in[t] for t in m.TOWNS) + pyo.quicksum(m.pool_staff[d] for d in m.DISTRICTS))
    m.total_released = pyo.Expression(expr=pyo.quicksum(m.moved_out[t] for t in m.TOWNS))


# --- the planner's words for each requirement (an infeasibility explanation relaxes them) ----------
# The rows and bounds built below: their requirement families, keyed by constraint name or
# "<variable>.lower"/".upper", and the rows that only define quantities (never relaxed).

REQUIREMENTS: dict[str, Family] = {
    "headcount_not_exceeded": Family(                                  # (3), _add_headcount_limit
        "the headcount", "officers", 1, "the headcount of {limit} falls {amount} short{of_held}",
        "raise the headcount (--headcount or headcount in city.yaml) to {target}", verb="covering"),
    "budget_not_exceeded": Family(                                     # (4), _add_budget_limit
        "the budget", MONEY, 1, "the budget for officers of {limit} falls {amount} short{of_held}", BUDGET_REMEDY,
        verb="paying for"),
    "moves_within_limit": Family(                                      # (2), _add_move_limit
        "the move limit", "moves", 1, "the move limit of {limit} falls {amount} short{of_held}",
        "allow {target} moves (--max-moves)", verb="reaching"),
    "coverage_meets_target": Family(                                   # (8), _add_coverage_target
        "the coverage target", "officers", 2, "{members} ({ids}) stay {amount} short of the target ratio",
        "lower the target (--target) or raise the headcount (--headcount or headcount in city.yaml)", member="town", held="the target ratio in {members}"),
    "officers_of_today_kept": Family(                                  # (4'), _add_today_kept
        "every officer employed today kept", "officers", 1,
        "keeping the officers employed today falls {amount} short",
        "let officers leave the service (--allow-release), or raise the headcount (--headcount or headcount in city.yaml) to cover today's officers"),
    "district_no_worse_than_today": Family(                            # (4''), _add_no_worse_than_today
        "no district below its coverage today", "officers", 1,
        "{members} ({ids}) would fall {amount} short of the officers they have today",
        "drop --no-worse-than-today, or raise the headcount (--headcount) or the move limit (--max-moves)", member="district",
        held="today's coverage in {members}"),
    "posted_staff.lower": Family(                                      # s_t ≥ s_min, _add_staff_variables
        "a viable team in every town", "officers", 3,
        "a team of {bound} officers cannot be posted in {members} ({ids}): {amount} short",
        "lower enforcement_min_team (under norms: in city.yaml)", member="town",
        held="a team of {bound} in {members}"),
}
DEFINITIONS: frozenset[str] = frozenset({
    "posted_staff_is_today_plus_moves",                                # (1), _add_staff_balance
    "pool_shares_within_pool",                                         # (5), _add_pool_shares
    "deployment_within_pool", "unmet_covers_surge_gap",                # (9), _add_town_deployment
    "gap_covers_demand", "normal_gap_adds_up", "district_unmet_covers_gaps",   # (9'), _add_district_deployment
    "cvar_excess_over_threshold",                                      # (10), _add_cvar
    "coverage_at_least_min_ratio",                                     # (6), _add_min_ratio
    "shortfall_covers_gap",                                            # (7), _add_shortfall
    "primary_value_kept",                                              # keep_primary
    "total_moves_held",                                                # hold_step
})


def _add_staff_balance(m) -> None:
    """(1) s_t = s0_t + m⁺_t − m⁻_t, as s_t − m⁺_t + m⁻_t = s0_t     posted_staff_is_today_plus_moves"""
    columns = zip(m.posted_staff.values(), m.moved_in.values(), m.moved_out.values(), m.staff_today.values())
    m.posted_staff_is_today_plus_moves = lin.rows(m.TOWNS, [
        lin.equal(lin.linear([1.0, -1.0, 1.0], [s, arrive, leave]), float(today)) for s, arrive, leave, today in columns])


def _add_move_limit(m, options: EnforcementOptions) -> None:
    if options.max_moves is None:
        return

    @m.Constraint()
    def moves_within_limit(m):
        """(2) Σ_t m⁺_t + Σ_d r_d ≤ M: arrivals in towns and pool postings"""
        return m.total_moves <= options.max_moves


def _add_headcount_limit(m, options: EnforcementOptions) -> None:
    @m.Constraint()
    def headcount_not_exceeded(m):
        """(3) Σ_t s_t + Σ_d r_d ≤ H"""
        return m.total_staff <= options.headcount


def _add_budget_limit(m, options: EnforcementOptions) -> None:
    if options.budget_10k_cny is None:
        return

    @m.Constraint()
    def budget_not_exceeded(m):
        """(4) salary·(Σ_t s_t + Σ_d r_d) ≤ B, in 10k CNY a year"""
        return options.salary_10k_cny * m.total_staff <= options.budget_10k_cny


def _add_today_kept(m, options: EnforcementOptions) -> None:
    if options.allow_release:
        return
    today = float(sum(pyo.value(m.staff_today[t]) for t in m.TOWNS))

    @m.Constraint()
    def officers_of_today_kept(m):
        """(4') Σ_t s_t + Σ_d r_d ≥ Σ_t s0_t: nobody employed today is dismissed"""
        return m.total_staff >= today


def _add_no_worse_than_today(m, options: EnforcementOptions) -> None:
    """(4'') Σ_{t∈d} s_t + r_d ≥ Σ_{t∈d} s0_t: a district's coverage (Σ(s_t + q_t)/Σ D_t, pools fully
    shared) never below today's (Σ s0_t/Σ D_t)     district_no_worse_than_today"""
    if not options.no_worse_than_today:
        return
    m.district_no_worse_than_today = pyo.Constraint(m.DISTRICTS, rule=lambda m, d: pyo.quicksum(
        m.posted_staff[t] for t in m.TOWNS_IN[d]) + m.pool_staff[d] >= float(sum(pyo.value(m.staff_today[t]) for t in m.TOWNS_IN[d])))


def _add_pool_shares(m) -> None:
    """(5) Σ_{t∈d} q_t ≤ r_d, as Σ_{t∈d} q_t − r_d ≤ 0     pool_shares_within_pool"""
    m.pool_share = pyo.Var(m.TOWNS, within=pyo.NonNegativeReals)
    shares = [[m.pool_share[t] for t in m.TOWNS_IN[d]] for d in m.DISTRICTS]
    m.pool_shares_within_pool = lin.rows(m.DISTRICTS, [
        lin.at_most(lin.linear([1.0] * len(q) + [-1.0], [*q, r]), 0.0) for q, r in zip(shares, m.pool_staff.values())])


def _add_town_deployment(m) -> None:
    """(9) Σ_{t∈d} p_tω − r_d ≤ 0          deployment_within_pool (districts with towns at risk in ω)
       (9) u_tω + s_t + p_tω ≥ D_t·μ_tω     unmet_covers_surge_gap"""
    m.deployed = pyo.Var(m.AT_RISK, within=pyo.NonNegativeReals)
    m.unmet_officers = pyo.Var(m.AT_RISK, within=pyo.NonNegativeReals)
    m.deployment_within_pool = lin.rows(m.DISTRICTS * m.SCENARIOS, {
        (d, w): lin.at_most(lin.linear([1.0] * len(keys) + [-1.0], [*(m.deployed[k] for k in keys), m.pool_staff[d]]), 0.0)
        for (d, w), keys in ((key, m.AT_RISK_IN[key]) for key in m.DISTRICTS * m.SCENARIOS) if len(keys)})
    m.unmet_covers_surge_gap = lin.rows(m.AT_RISK, {
        (t, w): lin.at_least(lin.linear([1.0, 1.0, 1.0], [m.unmet_officers[t, w], m.posted_staff[t], m.deployed[t, w]]),
                             m.demand_officers[t] * m.surge_multiplier[t, w])
        for t, w in m.AT_RISK})
    m.scenario_unmet = pyo.Expression(m.SCENARIOS, rule=lambda m, w: pyo.quicksum(
        m.unmet_officers[k] for d in m.DISTRICTS for k in m.AT_RISK_IN[d, w]))


def _add_district_deployment(m) -> None:
    """(9') g_tω + s_t ≥ D_t·μ_tω  (ω = "*": normal demand, μ = 1)                    gap_covers_demand
       (9') G_d − Σ_{t∈d} g_t = 0 at normal demand                                   normal_gap_adds_up
       (9') U_dω − G_d + Σ_{t surging} g_t − Σ_{t surging} g_tω + r_d ≥ 0             district_unmet_covers_gaps
       (rows of district_unmet_covers_gaps only where d has normal gaps or surges in ω)"""
    m.gap_officers = pyo.Var(m.GAP_KEYS, within=pyo.NonNegativeReals)
    m.normal_gap = pyo.Var(m.DISTRICTS, within=pyo.NonNegativeReals)
    m.district_unmet = pyo.Var(m.DISTRICTS, m.SCENARIOS, within=pyo.NonNegativeReals)
    g = m.gap_officers
    m.gap_covers_demand = lin.rows(m.GAP_KEYS, [
        lin.at_least(lin.linear([1.0, 1.0], [g[t, w], m.posted_staff[t]]), m.demand_officers[t] * m.surge_multiplier[t, w])
        for t, w in m.GAP_KEYS])
    m.normal_gap_adds_up = lin.rows(m.DISTRICTS, [
        lin.equal(lin.linear([1.0] + [-1.0] * len(m.NORMAL_IN[d]), [m.normal_gap[d], *(g[k] for k in m.NORMAL_IN[d])]), 0.0)
        for d in m.DISTRICTS])
    m.district_unmet_covers_gaps = lin.rows(m.DISTRICTS * m.SCENARIOS, {
        (d, w): _district_unmet_row(m, d, w) for d in m.DISTRICTS for w in m.SCENARIOS if m.NORMAL_IN[d] or m.SURGES_IN[d, w]})
    m.scenario_unmet = pyo.Expression(m.SCENARIOS, rule=lambda m, w: pyo.quicksum(m.district_unmet[d, w] for d in m.DISTRICTS))


def _district_unmet_row(m, d, w):
    calm, surges = m.CALM_IN[d, w], m.SURGES_IN[d, w]
    coefs = [1.0, -1.0] + [1.0] * len(calm) + [-1.0] * len(surges) + [1.0]
    variables = [m.district_unmet[d, w], m.normal_gap[d], *(m.gap_officers[k] for k in calm),
                 *(m.gap_officers[k] for k in surges), m.pool_staff[d]]
    return lin.at_least(lin.linear(coefs, variables), 0.0)


def _add_cvar(m, options: EnforcementOptions) -> None:
    if options.scenarios is None:
        return
    m.expected_unmet = pyo.Expression(expr=pyo.quicksum(m.probability[w] * m.scenario_unmet[w] for w in m.SCENARIOS))
    if options.cvar_alpha is None:
        return
    m.cvar_threshold = pyo.Var(within=pyo.NonNegativeReals)
    m.cvar_excess = pyo.Var(m.SCENARIOS, within=pyo.NonNegativeReals)

    @m.Constraint(m.SCENARIOS)
    def cvar_excess_over_threshold(m, w):
        """(10) ξ_ω ≥ Σ_t u_tω − η"""
        return m.cvar_excess[w] >= m.scenario_unmet[w] - m.cvar_threshold

    m.cvar_unmet = pyo.Expression(expr=m.cvar_threshold + pyo.quicksum(m.probability[w] * m.cvar_excess[w] for w in m.SCENARIOS) / (1 - options.cvar_alpha))


def _add_min_ratio(m) -> None:
    """(6) ρ·D_t ≤ s_t + q_t, as D_t·ρ − s_t − q_t ≤ 0     coverage_at_least_min_ratio"""
    m.min_ratio = pyo.Var(within=pyo.NonNegativeReals)
    columns = zip(m.posted_staff.values(), m.pool_share.values(), m.demand_officers.values())
    m.coverage_at_least_min_ratio = lin.rows(m.TOWNS, [
        lin.at_most(lin.linear([float(d), -1.0, -1.0], [m.min_ratio, s, q]), 0.0) for s, q, d in columns])


def _add_shortfall(m) -> None:
    """(7) e_t ≥ D_t − s_t − q_t, as e_t + s_t + q_t ≥ D_t     shortfall_covers_gap"""
    m.shortfall_officers = pyo.Var(m.TOWNS, within=pyo.NonNegativeReals)
    columns = zip(m.shortfall_officers.values(), m.posted_staff.values(), m.pool_share.values(), m.demand_officers.values())
    m.shortfall_covers_gap = lin.rows(m.TOWNS, [
        lin.at_least(lin.linear([1.0, 1.0, 1.0], [e, s, q]), float(d)) for e, s, q, d in columns])

    m.total_shortfall = pyo.Expression(expr=pyo.quicksum(m.shortfall_officers[t] for t in m.TOWNS))


def _add_coverage_target(m, target: float) -> None:
    """(8) s_t + q_t ≥ τ·D_t     coverage_meets_target"""
    columns = zip(m.posted_staff.values(), m.pool_share.values(), m.demand_officers.values())
    m.coverage_meets_target = lin.rows(m.TOWNS, [
        lin.at_least(lin.linear([1.0, 1.0], [s, q]), target * d) for s, q, d in columns])


def _add_objectives(m, options: EnforcementOptions) -> None:
    """The primary objective, active (the tie-break's steps are made objectives by `minimise_step`)."""
    objective = options.objective
    if objective == "maxmin" and options.level is None:
        _add_min_ratio(m)
        m.primary = pyo.Objective(expr=m.min_ratio, sense=pyo.maximize)
    elif objective == "maxmin":            # the level found by bisection: fewest moves reaching it
        _add_coverage_target(m, options.level)
        m.primary = pyo.Objective(expr=m.total_moves, sense=pyo.minimize)
    elif objective == "shortfall":
        _add_shortfall(m)
        m.primary = pyo.Objective(expr=m.total_shortfall, sense=pyo.minimize)
    elif objective == "moves":
        _add_coverage_target(m, options.target_ratio)
        m.primary = pyo.Objective(expr=m.total_moves, sense=pyo.minimize)
    else:
        cost = options.pool_cost_weight * pyo.quicksum(m.pool_staff[d] for d in m.DISTRICTS)
        risk = options.cvar_weight * m.cvar_unmet if options.cvar_alpha is not None else 0
        m.primary = pyo.Objective(expr=m.expected_unmet + cost + risk, sense=pyo.minimize)


def keep_primary(m, value: float) -> None:
    """Hold the primary objective at its optimum (within KEEP_TOLERANCE) and switch it off."""
    slack = KEEP_TOLERANCE * max(1.0, abs(value))
    if m.primary.sense == pyo.maximize:
        m.primary_value_kept = pyo.Constraint(expr=m.primary.expr >= value - slack)
    else:
        m.primary_value_kept = pyo.Constraint(expr=m.primary.expr <= value + slack)
    m.primary.deactivate()


def minimise_step(m, name: str) -> None:
    """Make the tie-break step `name` (an expression of TIE_BREAK_STEPS) the only active objective."""
    for objective in m.component_data_objects(pyo.Objective, active=True):
        objective.deactivate()
    m.add_component(f"{name}_objective", pyo.Objective(expr=getattr(m, name), sense=pyo.minimize))


def hold_step(m, name: str, value: float) -> None:
    """Hold the whole-numbered step `name` at its optimum `value`: name ≤ value + ½ (exact)."""
    m.add_component(f"{name}_held", pyo.Constraint(expr=getattr(m, name) <= round(value) + 0.5))
