"""What the three blocks share: the districts in the city's order, and the tolerance of their comparisons."""
from __future__ import annotations

from allocator.data.instance import Instance

EPS = 1e-9


def district_ids(city: Instance) -> list[str]:
    return [str(d) for d in city.districts.index]
