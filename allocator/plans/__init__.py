"""The plans layer: the plan folder format (plan.py), make_plan (run, explain, check,
assemble; make.py), the independent checkers (checks/) and the levels a plan achieves per
district or town (levels.py)."""
