"""Errors a user can act on: every problem names the place and the rule."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One broken rule at one place of the input.

    `row` is the row number the user sees in the file or sheet (the header is row 1,
    the first data row is row 2); None when the problem concerns the whole file or column.
    """

    file: str
    rule: str
    row: int | None = None
    column: str | None = None
    value: object = None
    label: str = "column"          # "setting" for city.yaml keys

    def __str__(self) -> str:
        place = self.file
        if self.row is not None:
            place += f", row {self.row}"
        if self.column is not None:
            place += f", {self.label} '{self.column}'"
        shown = "" if self.value is None else f": value {_show(self.value)}"
        return f"{place}{shown}: {self.rule}"


def _show(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


class InputError(Exception):
    """Bad input: one or more problems, all reported together (exit code 2)."""

    def __init__(self, problems: list[Problem] | Problem | str, file: str = "input"):
        if isinstance(problems, str):
            problems = [Problem(file, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__(self.describe())

    def describe(self, limit: int = 50) -> str:
        lines = [str(p) for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"... and {len(self.problems) - limit} more problems")
        return "\n".join(lines)


class InfeasibleError(Exception):
    """The model has no solution; `explanation` says why in the planner's words (exit 3)."""

    def __init__(self, explanation: str):
        self.explanation = explanation
        super().__init__(explanation)
