"""The solving layer: the one seam to HiGHS (solve.py, highs_model.py), what a run asks and
returns (run.py), one module per model with its solve sequence (grid, enforcement,
facilities with location/, city; equity and leximin sequences), and the explanation of an
infeasible run in the planner's words (explain*.py, iis.py)."""
