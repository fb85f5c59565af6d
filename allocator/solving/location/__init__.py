"""Solve procedures of the location families over one or more blocks (e.g. services), on the
formulations of `models.location`, and the generic solvers on arrays.

Every HiGHS call goes through `allocator.solving.solve.solve`. Blocks share only the spend row
and have their own count rows; a procedure returns an `Outcome` with the open sites per block.

    common       Clock (seconds per stage, HiGHS calls), Outcome
    covering     maximal_cover (LP bound, greedy proof, MIP), set_cover and the LSCP-B backup stage
    median       p_median: LP rounds widening truncated rows, warm-started bases, MIP rounds
    assignment   capacitated assignment (capacitated p-median, CFLP) by widening arcs
    center       p_center: one MIP within a farthest-first radius
    api          solve_pmedian, solve_cflp, solve_mclp, solve_lscp, solve_pcenter → LocationResult
                 (also importable from this package)
"""
from .api import LocationResult, solve_cflp, solve_lscp, solve_mclp, solve_pcenter, solve_pmedian

__all__ = ["LocationResult", "solve_pmedian", "solve_cflp", "solve_mclp", "solve_lscp", "solve_pcenter"]
