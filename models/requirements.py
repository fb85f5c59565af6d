"""The planner's words for a requirement family: what a family of constraints holds, in
which unit, how its shortfall is said and what the planner can change to meet it.

Each model declares, next to the constraints it builds, `REQUIREMENTS` (constraint component
name, or "<variable>.lower"/".upper" for a family of variable bounds → `Family`) and
`DEFINITIONS` (names of rows that only define quantities and are never relaxed).
`allocator.solving.explain` relaxes the families of an infeasible model and says the
smallest relaxation in these words; a test holds every constraint of every model to be
either explained or declared a definition.
"""
from __future__ import annotations

from dataclasses import dataclass

MONEY = "money"               # 10k CNY a year, the unit of budgets throughout (DESIGN §3)
# The remedy of every model's --budget row. The row holds what the city budget leaves after today's
# staff the run takes as they are (allocator.data.money): {budget_target} is the --budget that
# gives the row its target (the explanation's builder says how much is held, `budget_held`).
BUDGET_REMEDY = "raise the budget (--budget) to {budget_target}"


@dataclass(frozen=True)
class Family:
    """A requirement family: how its shortfall is said and what to change.

    Templates may use {limit} (the row's bound), {amount} (the relaxation, with unit),
    {target} (the limit after relaxation, "at least …"; {target_plain} the bare number), {members} ("3 towns"), {ids},
    {each} ("S2: 1,200 persons, S3: 300 persons", each member's relaxation), {raised}
    ("D2 to 14", each member's bound after relaxation, in the data's unit), {where}
    (" in 3 rows (a, b, c)", empty for a single row) and {of_held} (what the relaxed limit
    pays for, " of paying for …"). A `shared` family's members hold one limit set by one
    option (--p per service): its {limit} is that bound and its {target} the bound moved by
    the largest member relaxation. Every remedy names the option (--budget), norm (in city.yaml
    `norms:`) or data column (sites.csv capacity) that makes it; a rule none of them changes is
    `fixed` and its remedy says so.
    """

    requirement: str
    unit: str
    tier: int
    short: str
    remedy: str
    member: str = ""              # noun of one member ("town", "grid"); "" for a single row
    held: str = ""                # phrase when members hold at their limit: "… in {members}"
    verb: str = ""                # a limit's verb for what it pays for: "paying for", "staffing"
    shared: bool = False          # members share one limit set by one option (see above)
    held_from: tuple[str, ...] = ()   # the only families named as what this limit pays for (all when empty)
    fixed: bool = False           # a standing rule no option, norm or data column changes: never offered
    #                               as a remedy alone; relaxed with the others only as a last resort
