"""Solving the grid model (transitional: the solve sequences move here from allocator.models.grid)."""
from allocator.models.grid import DEFAULT_OBJECTIVE, OBJECTIVES, run

__all__ = ["DEFAULT_OBJECTIVE", "OBJECTIVES", "run"]
