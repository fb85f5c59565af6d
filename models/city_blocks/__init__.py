"""The three blocks of the city budget model (models.city).

The enforcement and facilities blocks are their families' own Pyomo models, attached to the
city model as sub-blocks with their objectives switched off; the grid block is built
(grid_block.py) from `models.grid`'s data, rules and reductions. Each exposes per district d (and, for
enforcement, per town t) the linear expressions the city model needs: spend (10k CNY/yr)
and coverage level. Every level is exact — a function of the plan's decisions, which the
plan tables repeat — so an objective that rewards equal levels cannot pretend service away.

Grid workers (the staffing rules, workloads and reductions of `models.grid`: grids one
full-time worker covers, and towns whose required professionals cover every grid's excess,
are constants F_d). For the other grids and towns, with whole x_g ≥ 1, 0 ≤ z_g ≤ z_max,
y_t ≥ ⌈|G_t|/m_pro⌉ and binaries δ_g, γ_t, unmet hours are held EXACT — no plan can claim
work undone that its staff would do (which an objective that rewards equal levels would
otherwise exploit):

    d_g = (W_g − H_full x_g − H_part z_g)⁺      deficit_at_least_gap, deficit_at_most_gap_when_short,
                                                 deficit_zero_unless_short (big-M with δ_g)
    U_t = (Σ_{g∈t} d_g − H_pro y_t)⁺            unmet_at_least_gap, unmet_at_most_gap_when_short,
                                                 unmet_zero_unless_short (big-M with γ_t)
    spend^G_d = F_d + Σ_{t∈d} (c_full Σ x_g + c_part Σ z_g + c_pro y_t) + c_full p^full_d + c_part p^part_d
    G_d       = 1 − Σ_{t∈d} U_t / W_d

The plan shares a town's professional hours in proportion to its grids' deficits, which
leaves exactly U_t undone; idle staff a plan pays for are kept in it.

Grid workers employed today are kept (models.grid (8), unless release is allowed): per district
Σ_{g∈d} x_g + p^full_d ≥ Σ_{g∈d} x0_g and Σ_{g∈d} z_g + p^part_d ≥ Σ_{g∈d} z0_g, the pools p_d whole
and paid in spend^G_d (c_full p^full_d + c_part p^part_d); a plan's pools are the workers its posts
leave without one (or, where idle staff are choices — Hoover — what the plan chose, at most today's).

Enforcement (`models.enforcement`, objective `shortfall`: its posting range, headcount and
move limit, pool shares Σ_{t∈d} q_t ≤ r_d), plus one row that keeps the level exact:

    s_t + q_t ≤ max(D_t, s_min) = K_t        ∀ t   town_counted_at_most_standard
    ρ_t       = (s_t + q_t) / D_t                     (town level)
    E_d       = Σ_{t∈d} (s_t + q_t) / Σ_{t∈d} D_t     (district level)
    spend^E_d = c_enf · (Σ_{t∈d} s_t + r_d)

Without the row, officers above a town's standard would count as service; with it a town's
ratio exceeds 1 only where the minimum team alone exceeds the standard.

Nobody is dismissed (models.enforcement (4')), so a town staffed above K_t today
(s0_t > K_t, OVERSTAFFED) may keep its officers in place; they are employed but not counted.
There the row above becomes exact counting c_t = min(s_t + q_t, K_t) with a binary f_t
(the town is full and keeps officers above its standard):

    c_t ≤ s_t + q_t,  c_t ≤ K_t,  c_t ≥ K_t·f_t,  c_t ≥ s_t + q_t − max(ŝ_t − K_t, 1)·f_t,
    q_t ≤ K_t·(1 − f_t)                       ∀ t ∈ OVERSTAFFED    town_counted_exactly
    (ŝ_t the upper bound of s_t, ≥ s0_t: any big-M from ŝ_t − K_t on gives the same plans, and one
    of at least 1 officer keeps HiGHS from a coefficient near 0), and ρ_t = c_t / D_t,
    E_d = Σ_{t∈d} c_t / Σ_{t∈d} D_t.

Whole officers (a valid row, no plan lost): for t ∈ OVERSTAFFED with K_t not whole, ⌊K_t⌋ and
φ_t = K_t − ⌊K_t⌋,

    c_t ≤ ⌊K_t⌋ + φ_t (s_t − ⌊K_t⌋) + q_t       counted_within_whole_posts

At whole s_t ≤ ⌊K_t⌋ it is weaker than c_t ≤ s_t + q_t, at s_t ≥ ⌈K_t⌉ weaker than c_t ≤ K_t, so every
plan keeps it. Without it the LP relaxation moves fractions of an officer out of such towns
(c_t = s_t = K_t) and lies 1e-3 above max U on Chongqing (0.763287 against 0.76254); with it, 3e-5
(0.762562), which lets the split's LP bound (allocator.solving.split) prove max U. The row is built
switched off and held only in the split's LP round: on the 2,000-town generated city HiGHS proved the
whole model more slowly with it (three HiGHS seeds at --time-limit 150: none proven, 1.04e-4 to
1.65e-4 after 82-88 s, against two proven in 59 and 78 s without it).

Every pool officer is counted somewhere: Σ_{t∈d} q_t ≥ r_d (pool_fully_shared), so a plan
cannot hold idle officers in a pool (an equity objective would otherwise buy equality with
them); a plan's levels are a function of its decisions: c_t = min(s_t + q_t, K_t).

Facilities (`models.facilities`' maximal covering block, every service side by side):
existing sites stay open and their running cost is NOT part of the city budget; a new site
costs c_j = open_cost + annual_cost (its first year). The reductions R1–R3 and R5 of
`models.location.common` are applied; R4 (drop a site another site dominates) is not: it
would move spend between districts, whose budgets are separate rows here. Coverage is held
exact, so that no plan can claim less coverage than its open sites give:

    v_ℓ ≥ y_j   ∀ j ∈ S_ℓ,   v_ℓ ≥ v_prev(ℓ)           level_reached_when_site_open
    spend^F_d = Σ_{j∈d new} c_j y_j
    F_d       = Σ_{i∈d,s} q_is z_is / Σ_{i∈d,s} q_is    (`coverage_expressions`)

Scale (what HiGHS reads; the plans are those of the rows above). The grid block counts hours in
worker-years, units of H_full hours (the effective year of one full-time worker): W_g, d_g, U_t
are hours / H_full, so x_g has coefficient 1, z_g H_part/H_full and y_t H_pro/H_full, and the
level is G_d = 1 − Σ_{t∈d} U_t / W_d in the same unit. Its big-Ms are the least that hold the
rows, M_g = H_full x_max + H_part z_max − W_g, W_g − H_full and H_pro y_max, each at least one
worker-year (a larger big-M gives the same plans), and the rows that carry them are multiplied
by the power of 2 that centres their coefficients on 1 (`models.linear.centred`, exact in
floating point). In worker-years a row's coefficients span at most a town's excess workload over
one worker-year (W_g/H_full − 1 summed over its grids), not its hours.

    symbol         attribute                                   meaning
    x_g, z_g, y_t  grid.fulltime_workers[g], .parttime_helpers[g], .professionals[t]
    d_g, U_t       grid.deficit_worker_years[g], .town_unmet_worker_years[t]
                                                               work short before / after professionals,
                                                               in worker-years (hours / H_full)
    δ_g, γ_t       grid.grid_short[g], .town_short[t]
    s_t, r_d, q_t  enforcement.posted_staff[t], .pool_staff[d], .pool_share[t]
    y_j, v_ℓ       facilities.site_open[j], .level_reached[ℓ]
"""
from __future__ import annotations

from .enforcement_block import ENFORCEMENT_DEFINITIONS, ENFORCEMENT_REQUIREMENTS, EnforcementBlock, counted_officers
from .facilities_block import FACILITIES_DEFINITIONS, FacilitiesBlock
from .grid_block import GRID_DEFINITIONS, GRID_REQUIREMENTS, GridBlock
from .shared import district_ids

__all__ = ["ENFORCEMENT_DEFINITIONS", "ENFORCEMENT_REQUIREMENTS", "FACILITIES_DEFINITIONS", "GRID_DEFINITIONS",
           "GRID_REQUIREMENTS", "EnforcementBlock", "FacilitiesBlock", "GridBlock", "counted_officers", "district_ids"]
