"""Solving the enforcement model (transitional: the solve sequences move here from allocator.models.enforcement)."""
from allocator.models.enforcement import DEFAULT_OBJECTIVE, OBJECTIVES, run

__all__ = ["DEFAULT_OBJECTIVE", "OBJECTIVES", "run"]
