"""The validated, typed city every model reads.

An `Instance` is built only by `allocator.data.loader.load_instance` (or by a generator that
then writes and reloads it), so every model can trust its tables: ids are strings and
unique, foreign keys resolve, counts are non-negative numbers, coordinates are projected
metres in columns `x` and `y`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from allocator.data.land import Land
from allocator.data.schema import POPULATION_BASES, SERVICES


@dataclass(frozen=True)
class CityConfig:
    """The settings of city.yaml, checked and with defaults filled in."""

    name: str
    budget: float                                  # 10k CNY per year
    population_basis: str = "actual"
    headcount: int | None = None                   # total enforcement headcount (编制)
    city_pool: float | None = None                 # 10k CNY/yr the city may transfer
    salaries: dict[str, float] = field(default_factory=dict)
    services: tuple[str, ...] = SERVICES
    norms: dict[str, Any] = field(default_factory=dict)       # merged norms pack
    groups: tuple[str, ...] = ("district", "urban_rural", "registration")
    origin: tuple[float, float] | None = None      # lon, lat of the projection origin
    population_tolerance: float = 0.02
    description: str = ""
    name_zh: str = ""                              # the city's name in Chinese, for the zh report
    budgets: dict[int, float] = field(default_factory=dict)   # yearly budgets of a roadmap, 10k CNY (year → budget)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "budget": self.budget, "population_basis": self.population_basis,
            "headcount": self.headcount, "city_pool": self.city_pool,
            "salaries": dict(sorted(self.salaries.items())), "services": list(self.services),
            "norms": _sorted(self.norms), "groups": list(self.groups),
            "origin": list(self.origin) if self.origin else None,
            "population_tolerance": self.population_tolerance, "description": self.description,
            **({"name_zh": self.name_zh} if self.name_zh else {}),
            **({"budgets": {int(y): b for y, b in sorted(self.budgets.items())}} if self.budgets else {}),
        }

    def salary(self, staff_type: str) -> float:
        """Yearly cost of one person of `staff_type` (10k CNY), city value or norm."""
        if staff_type in self.salaries:
            return float(self.salaries[staff_type])
        return float(self.norms[f"salary_{staff_type}" if staff_type != "enforcement" else "enforcement_salary"])


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    return value


@dataclass(frozen=True, eq=False)
class Instance:
    """A city: config plus the tables of the data contract, indexed by their ids."""

    config: CityConfig
    districts: pd.DataFrame
    towns: pd.DataFrame
    grids: pd.DataFrame
    sites: pd.DataFrame
    travel: pd.DataFrame | None = None
    source: str = ""
    land: Land | None = None       # land.geojson: walking reach stays on land (allocator/data/land.py)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def basis(self) -> str:
        return self.config.population_basis

    def tables(self) -> dict[str, pd.DataFrame]:
        out = {"districts": self.districts, "towns": self.towns, "grids": self.grids, "sites": self.sites}
        if self.travel is not None:
            out["travel"] = self.travel
        return out

    def with_basis(self, basis: str | None) -> "Instance":
        """The same city with another population basis (a per-run override)."""
        if basis is None or basis == self.basis:
            return self
        if basis not in POPULATION_BASES:
            raise ValueError(f"unknown population basis {basis!r}; use one of {', '.join(POPULATION_BASES)}")
        other = replace(self, config=replace(self.config, population_basis=basis))
        if "_content_hash" in self.__dict__:
            object.__setattr__(other, "_content_hash", self.__dict__["_content_hash"])
        return other

    def town_population(self, basis: str | None = None) -> pd.Series:
        """Persons per town on a basis: actual = resident + migrant; resident; registered."""
        basis = basis or self.basis
        t = self.towns
        if basis == "actual":
            return (t["pop_resident"] + t["pop_migrant"]).rename("population")
        if basis == "resident":
            return t["pop_resident"].rename("population")
        if basis == "registered":
            return t["pop_registered"].rename("population")
        raise ValueError(f"unknown population basis {basis!r}")

    def content_hash(self) -> str:
        """sha256 of the instance's content: config and every table, independent of its file form.

        Computed once per instance (and shared with `with_basis` copies: the basis is a
        run option, not content).
        """
        cached = self.__dict__.get("_content_hash")
        if cached is None:
            cached = _content_hash(self)
            object.__setattr__(self, "_content_hash", cached)
        return cached

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Instance):
            return NotImplemented
        if self.config != other.config:
            return False
        if (self.land and self.land.digest) != (other.land and other.land.digest):
            return False
        mine, theirs = self.tables(), other.tables()
        if mine.keys() != theirs.keys():
            return False
        return all(_frames_equal(mine[k], theirs[k]) for k in mine)

    __hash__ = None  # type: ignore[assignment]


def _content_hash(instance: Instance) -> str:
    h = hashlib.sha256()
    config = instance.config.as_dict()
    config.pop("population_basis")
    h.update(json.dumps(config, sort_keys=True, ensure_ascii=False, default=str).encode())
    if instance.land is not None:
        h.update(f"\x1eland\x1e{instance.land.digest}".encode())
    for name, frame in instance.tables().items():
        h.update(f"\x1e{name}\x1e{len(frame)}".encode())
        for column in frame.columns:
            values = frame[column]
            h.update(f"\x1d{column}:{values.dtype}".encode())
            if values.dtype.kind in "biuf":
                h.update(values.to_numpy().tobytes())
            else:
                h.update("\x1f".join(map(str, values.tolist())).encode())
    return h.hexdigest()


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    try:
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    except AssertionError:
        return False
    return True
