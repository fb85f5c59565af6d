"""Surge scenarios for the stochastic enforcement model ("吹哨报到", 非常态).

A scenario ω has a probability π_ω and a demand multiplier μ_tω for every town: in
scenario ω town t asks for D_t · μ_tω officers. Scenarios come from a file or a pattern.

file (CSV, UTF-8)
    columns scenario, probability, town_id, multiplier; one row per town that differs
    from normal in a scenario (towns not listed keep multiplier 1). Every row of a
    scenario repeats the same probability; probabilities are ≥ 0 and sum to 1 within
    1e-6; multipliers are ≥ 0; town_id names a town of the instance, once per scenario.
    A scenario in which no town surges is one row with town_id and multiplier empty.

patterns
    surge:N[:SEED]       N equally likely scenarios (SEED defaults to 0). In each, every
                         town surges independently with probability 0.1 (at least one
                         town per scenario) by a multiplier drawn uniformly from 1.5 to 3.
    district-surge[:M]   one equally likely scenario per district: every town of that
                         district surges by M (default 2), the others stay at 1.

This module needs only numpy and pandas, so the plan checker can rebuild a pattern.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from allocator.data.schema import LIMITS
from allocator.errors import InputError, Problem

COLUMNS = ("scenario", "probability", "town_id", "multiplier")
PROBABILITY_TOLERANCE = 1e-6
SURGE_TOWN_SHARE = 0.1
SURGE_RANGE = (1.5, 3.0)
DISTRICT_SURGE_DEFAULT = 2.0
PATTERN_HELP = "a CSV file (scenario, probability, town_id, multiplier) or a pattern surge:N[:SEED] or district-surge[:M]"


@dataclass(frozen=True, eq=False)
class Scenarios:
    """Probabilities and demand multipliers, one column of `multipliers` per scenario."""

    source: str
    names: tuple[str, ...]
    probabilities: tuple[float, ...]
    multipliers: pd.DataFrame          # index: town_id (every town), columns: scenario names

    def surges(self) -> dict[str, dict[str, float]]:
        """The multipliers that differ from 1, scenario by scenario."""
        out = {}
        for name in self.names:
            column = self.multipliers[name]
            out[name] = {str(t): float(v) for t, v in column[column != 1.0].items()}
        return out

    def as_meta(self) -> dict[str, Any]:
        return {"source": self.source, "names": list(self.names),
                "probabilities": [float(p) for p in self.probabilities], "surges": self.surges()}

    @classmethod
    def from_meta(cls, meta: dict[str, Any], town_ids: pd.Index) -> "Scenarios":
        names = tuple(str(n) for n in meta["names"])
        table = pd.DataFrame(1.0, index=town_ids, columns=list(names))
        for name, surges in meta.get("surges", {}).items():
            for town, value in surges.items():
                table.loc[str(town), str(name)] = float(value)
        return cls(str(meta.get("source", "")), names, tuple(float(p) for p in meta["probabilities"]), table)

    def same_as(self, other: "Scenarios") -> bool:
        return (self.names == other.names
                and np.allclose(self.probabilities, other.probabilities, rtol=0, atol=1e-12)
                and self.multipliers.index.equals(other.multipliers.index)
                and np.allclose(self.multipliers.to_numpy(float), other.multipliers[list(self.names)].to_numpy(float), rtol=0, atol=1e-12))


def load_scenarios(spec: str, towns: pd.DataFrame) -> Scenarios:
    """Scenarios from a CSV file or a named pattern; `towns` is the instance's towns table."""
    spec = str(spec).strip()
    path = Path(spec)
    if path.is_file():
        return read_scenario_file(path, towns)
    name = spec.split(":", 1)[0]
    if name == "surge":
        return surge_pattern(spec, towns)
    if name == "district-surge":
        return district_surge_pattern(spec, towns)
    raise InputError(Problem("--scenarios", f"no such file, and not a known pattern; give {PATTERN_HELP}", value=spec))


def surge_pattern(spec: str, towns: pd.DataFrame) -> Scenarios:
    """surge:N[:SEED] — N equally likely scenarios, each a random tenth of towns surging 1.5-3x."""
    match = re.fullmatch(r"surge:(\d+)(?::(\d+))?", spec)
    if not match or int(match.group(1)) < 1:
        raise InputError(Problem("--scenarios", "write the surge pattern as surge:N or surge:N:SEED with whole numbers N ≥ 1 and SEED ≥ 0", value=spec))
    n, seed = int(match.group(1)), int(match.group(2) or 0)
    if not LIMITS["surge_scenarios"].holds(n):
        raise InputError(Problem("--scenarios", f"the number of scenarios N {LIMITS['surge_scenarios'].rule()}", value=spec))
    if not LIMITS["scenario_cells"].holds(n * len(towns)):
        raise InputError(Problem("--scenarios", f"{n:,} scenarios × {len(towns):,} towns = {n * len(towns):,}: the number of "
                                                f"towns × scenarios {LIMITS['scenario_cells'].rule()}", value=spec))
    rng = np.random.default_rng(seed)
    n_towns = len(towns)
    surging = rng.random((n_towns, n)) < SURGE_TOWN_SHARE
    factors = rng.uniform(*SURGE_RANGE, size=(n_towns, n))
    forced = rng.integers(0, n_towns, size=n)              # at least one town per scenario
    surging[forced, np.arange(n)] = True
    values = np.where(surging, np.round(factors, 3), 1.0)
    names = tuple(f"surge-{k + 1:0{len(str(n))}d}" for k in range(n))
    table = pd.DataFrame(values, index=towns.index.astype(str), columns=list(names))
    return Scenarios(spec, names, tuple([1.0 / n] * n), table)


def district_surge_pattern(spec: str, towns: pd.DataFrame) -> Scenarios:
    """district-surge[:M] — one equally likely scenario per district, its towns surging by M."""
    match = re.fullmatch(r"district-surge(?::(\d+(?:\.\d*)?|\.\d+))?", spec)
    factor = float(match.group(1)) if match and match.group(1) else DISTRICT_SURGE_DEFAULT
    if not match or not LIMITS["surge_multiplier"].holds(factor):
        raise InputError(Problem("--scenarios", "write the district pattern as district-surge or district-surge:M with a multiplier M: "
                                                f"M {LIMITS['surge_multiplier'].rule()}", value=spec))
    districts = list(dict.fromkeys(towns["district_id"].astype(str)))
    names = tuple(f"surge-{d}" for d in districts)
    table = pd.DataFrame(1.0, index=towns.index.astype(str), columns=list(names))
    for d, name in zip(districts, names):
        table.loc[(towns["district_id"].astype(str) == d).to_numpy(), name] = factor
    return Scenarios(spec, names, tuple([1.0 / len(names)] * len(names)), table)


def read_scenario_file(path: Path, towns: pd.DataFrame) -> Scenarios:
    """Read and check a scenario CSV; every problem is reported with its row and column."""
    file = str(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(Problem(file, f"is not a readable CSV file ({err})")) from None
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise InputError([Problem(file, "required column is missing", column=c) for c in missing])
    if raw.empty:
        raise InputError(Problem(file, "holds no scenarios"))
    count = raw["scenario"].str.strip().nunique()
    if not LIMITS["scenario_cells"].holds(count * len(towns)):       # before a table of that size is made
        raise InputError(Problem(file, f"{count:,} scenarios × {len(towns):,} towns = {count * len(towns):,}: the number "
                                       f"of towns × scenarios {LIMITS['scenario_cells'].rule()}", column="scenario"))
    problems: list[Problem] = []
    known = set(towns.index.astype(str))
    probability: dict[str, float] = {}
    table = pd.DataFrame(index=towns.index.astype(str))
    for i, row in enumerate(raw.itertuples(index=False)):
        _read_row(file, i + 2, row._asdict(), known, probability, table, problems)
    total = sum(probability.values())
    readable = not any(p.column == "probability" for p in problems)
    if probability and readable and abs(total - 1.0) > PROBABILITY_TOLERANCE:
        problems.append(Problem(file, f"the probabilities of the {len(probability)} scenarios sum to {total:.9g}, not 1", column="probability"))
    if problems:
        raise InputError(problems)
    names = tuple(probability)
    return Scenarios(file, names, tuple(probability[n] for n in names), table[list(names)].fillna(1.0).astype(float))


def _read_row(file: str, row: int, cells: dict[str, str], known: set[str], probability: dict[str, float],
              table: pd.DataFrame, problems: list[Problem]) -> None:
    def bad(column: str, rule: str) -> None:
        problems.append(Problem(file, rule, row=row, column=column, value=cells[column]))

    name, town, multiplier = (cells[c].strip() for c in ("scenario", "town_id", "multiplier"))
    if not name:
        bad("scenario", "every row needs a scenario name")
        return
    p = _number(cells["probability"])
    if p is None or p < 0:
        bad("probability", "must be a number, 0 or more")
    elif name in probability and abs(probability[name] - p) > 1e-12:
        bad("probability", f"scenario {name!r} has probability {probability[name]:g} on an earlier row; give it one probability")
    elif name not in probability:
        probability[name] = p
    if name not in table.columns:
        table[name] = np.nan
    if not town:
        if multiplier:
            bad("multiplier", "a row without town_id marks a scenario in which no town surges; leave multiplier empty or name the town")
        return
    if town not in known:
        bad("town_id", "is not a town of the instance")
        return
    mu = _number(multiplier)
    if mu is None or not LIMITS["surge_multiplier"].holds(mu):
        bad("multiplier", LIMITS["surge_multiplier"].rule())
    elif not math.isnan(table.at[town, name]):
        bad("town_id", f"town appears twice in scenario {name!r}")
    else:
        table.at[town, name] = mu


def _number(text: str) -> float | None:
    try:
        value = float(str(text).strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None
