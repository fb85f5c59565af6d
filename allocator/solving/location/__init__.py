"""Solve procedures of the location families, and the generic solvers on arrays (`api`)."""
from .api import LocationResult, solve_cflp, solve_lscp, solve_mclp, solve_pcenter, solve_pmedian

__all__ = ["LocationResult", "solve_pmedian", "solve_cflp", "solve_mclp", "solve_lscp", "solve_pcenter"]
