"""Solving the city model (transitional: the solve sequences move here from allocator.models.city)."""
from allocator.models.city import DEFAULT_OBJECTIVE, OBJECTIVES, run

__all__ = ["DEFAULT_OBJECTIVE", "OBJECTIVES", "run"]
