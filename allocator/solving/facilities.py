"""Solving the facilities model (transitional: the solve sequences move here from allocator.models.facilities)."""
from allocator.models.facilities import DEFAULT_OBJECTIVE, OBJECTIVES, run

__all__ = ["DEFAULT_OBJECTIVE", "OBJECTIVES", "run"]
