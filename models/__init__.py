"""The formulation layer (installed as allocator.models): one module or subpackage per model
family, each stating its mathematics in its docstring with a table from every symbol to its
Pyomo name. Nothing here calls HiGHS; the solve sequences are in allocator.solving.

    grid.py                   grid workers (网格员): full-time, part-time, professional
      grid_plan.py              from the model's decisions to the plan tables
      grid_vacancies.py         the model over each town's staffing options when grids may stay vacant
    enforcement.py            enforcement officers (综合执法) per street/town, district pools
      enforcement_plan.py       from the solved model to the plan tables and the objective recomputed
    enforcement_levels.py     the enforcement coverage levels computed from the data alone
    facilities.py             service sites of the seven haves (七有) on the location families:
      facilities_data.py        demand and reachable pairs per service
      facilities_tables.py      plan tables of a facilities plan
      location/                 covering, median, center, assignment over shared pairs (common.py)
                                and greedy first plans (heuristics.py)
    city.py, city_blocks/     the city budget model holding the three as blocks (市级统筹), one module a block
    equity.py                 equity measures as constraints and objectives
    equity_problem.py         a model's group levels offered to the equity sequences
    block_equity.py           equity problems of the grid, enforcement and facilities models alone
    requirements.py           the planner's words for a family of constraints
    linear.py                 linear expressions built directly (fast for large sums)
"""
