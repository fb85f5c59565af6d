"""allocator: governance resources (grid workers, enforcement officers, service sites)
spread across a city's districts, towns and grids, under budget and equity constraints.

Layers, each importing only those below it (docs/architecture.md):

    allocator.data       instances: schema, readers, validation, generation
    allocator.models     Pyomo formulations (the repository's models/ folder)
    allocator.solving    the seam to HiGHS, solve sequences, infeasibility explanations
    allocator.plans      the plan format, its checkers and the levels a plan achieves
    allocator.views      compare, charts, report, export
    allocator.studies    sweeps, frontiers, equity benchmarks
    allocator.cli        the command line (the repository's cli.py)
"""
from pathlib import Path as _Path

# In a source checkout models/ and cli.py sit beside this folder; an installed wheel holds
# them inside it (pyproject.toml maps them). Let the checkout import them the same way.
_beside = _Path(__file__).resolve().parent.parent
if not (_Path(__file__).parent / "cli.py").exists() and (_beside / "models" / "__init__.py").exists() \
        and (_beside / "cli.py").exists():
    __path__.append(str(_beside))
