"""The norms pack: defaults with units and sources, overridable per city."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Norm:
    key: str
    value: Any
    unit: str
    source: str
    verified: bool


@lru_cache(maxsize=1)
def default_norms() -> dict[str, Norm]:
    text = (Path(__file__).parent / "norms.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    return {k: Norm(k, v["value"], v["unit"], v["source"], bool(v["verified"])) for k, v in raw.items()}


def merged_norms(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Default values with a city's overrides applied (dict values are merged by key)."""
    values: dict[str, Any] = {}
    for key, norm in default_norms().items():
        value = norm.value
        values[key] = dict(value) if isinstance(value, dict) else value
    for key, value in (overrides or {}).items():
        if isinstance(values.get(key), dict) and isinstance(value, dict):
            values[key].update(value)
        else:
            values[key] = value
    return values
