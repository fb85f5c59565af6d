"""Words of the infeasibility explanation: requirement families and how figures are said.

A `Family` (`allocator.models.requirements`, declared by each model next to its constraints)
holds the templates of a shortfall and its remedy; the functions below turn amounts into the planner's units: money
in CNY from the 10k CNY of budgets, whole counts rounded up, limits rounded in the direction
that keeps the stated change sufficient.
"""
from __future__ import annotations

import math
from typing import Any

from allocator.models.requirements import MONEY, Family

_KEYWORDS = (("budget", "the budget", MONEY, 1), ("spend", "the budget", MONEY, 1), ("headcount", "the headcount", "posts", 1),
             ("transfer", "the transfer cap", MONEY, 1), ("move", "the move limit", "moves", 1),
             ("gini", "the equity bound", "units", 2), ("equity", "the equity bound", "units", 2),
             ("hoover", "the equity bound", "units", 2), ("coverage", "the coverage floor", "units", 2))
INTEGER_UNITS = {"posts", "officers", "moves", "full-time workers", "professionals", "part-time helpers", "sites", "grids"}


def unregistered(name: str) -> Family:
    """A row the registry does not know: named as in the model, guessed from its name where possible."""
    for word, requirement, unit, tier in _KEYWORDS:
        if word in name.lower():
            return Family(f"{requirement} ({name})", unit, tier, f"{name} needs {{amount}} of slack{{where}}",
                          f"review {requirement} behind {name}", member="row")
    return Family(name, "units", 9, f"{name} needs {{amount}} of slack{{where}}", f"review the requirement behind {name}",
                  member="row")


def of_held(family: Family, held: list[dict]) -> str:
    if not family.verb or not held:
        return ""
    parts = []
    for h in sorted(held, key=lambda h: -h["count"])[:3]:
        f = h["family"]
        bound = plain(h["bound"]) if h["bound"] is not None else "the required"
        parts.append(f.held.format(members=count(h["count"], f.member or "row"), bound=bound))
    return f" of {family.verb} {join_words(parts)}" if parts else ""


def join_words(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def amount_text(unit: str, x: float | None) -> str:
    if x is None:
        return "-"
    if unit == MONEY:
        return money(x)
    if unit in INTEGER_UNITS:
        n = int(math.ceil(x - 1e-6))
        return count(n, unit[:-1])
    if unit == "hours":
        return f"{x:,.0f} hours"
    return f"{x:,.6g} {unit}"


def target_text(unit: str, x: float | None, proven: bool, up: bool = True) -> str:
    """The limit after relaxation; a raised limit is rounded up (a lowered one down) at the digits shown,
    so that the figure as written still suffices."""
    if x is None:
        return "what the figures above need"
    if unit in INTEGER_UNITS:
        text = f"{int(math.ceil(x - 1e-6)):,}"
    elif unit == MONEY:
        text = f"{money(x)} ({plain(x, up)} in the 10k CNY of --budget)"
    else:
        text = amount_text(unit, x)
    return f"at least {text}" if proven else text


def money(x_10k_cny: float) -> str:
    """10k CNY a year in words: '3.2 million CNY', '48,000 CNY', '23.39 billion CNY'."""
    cny = x_10k_cny * 10_000
    for scale, word in ((1e9, "billion"), (1e6, "million")):
        if abs(cny) >= scale:
            value = cny / scale
            return f"{value:,.4g} {word} CNY" if abs(value) < 1e4 else f"{value:,.0f} {word} CNY"
    return f"{cny:,.0f} CNY"


def plain(x: float, up: bool | None = None) -> str:
    """x to six significant digits (whole numbers from a million on); `up` True/False rounds
    up/down at the last digit shown (a relative 1e-9 of x is taken as noise), None to nearest."""
    if x == 0 or not math.isfinite(x):
        return f"{x:,.6g}"
    decimals = max(0, 5 - int(math.floor(math.log10(abs(x)))))
    if up is not None:
        step = 10.0 ** -decimals
        noise = 1e-9 * abs(x)
        x = (math.ceil((x - noise) / step) if up else math.floor((x + noise) / step)) * step
    return f"{x:,.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{x:,.0f}"


def count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def key_text(key: Any) -> str:
    if key is None:
        return "-"
    return "(" + ", ".join(map(str, key)) + ")" if isinstance(key, tuple) else str(key)


def ids_text(ids: list[str], shown: int = 5) -> str:
    head = ", ".join(ids[:shown])
    return head + (f" and {len(ids) - shown:,} more" if len(ids) > shown else "")
