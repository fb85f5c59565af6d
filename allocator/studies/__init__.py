"""The studies: scenario sweeps on Dask, equity frontiers (ε-constraint) and equity
benchmarks, each a set of plans written as they finish."""
