"""Errors a user can act on: every problem names the place and the rule."""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Exit(IntEnum):
    """The exit code of every command: one meaning each, the same in every command.

    The README's table "Exit codes" states them for the planner; batch commands (sweep,
    frontier, equity-bench) exit with `batch_exit` of their items' outcomes."""

    OK = 0              # done: a plan (optimal, or the best found at a limit, with its gap), a check passed, files written
    INTERNAL = 1        # internal error: a fault of the program, not of the input (--debug shows the traceback)
    BAD_INPUT = 2       # bad input: the file, row and column (or option) and the rule are named; nothing written
    INFEASIBLE = 3      # no plan exists: the requirements contradict each other; the smallest relaxation is named
    NO_PLAN = 4         # stopped without a plan: a time (or other) limit came before any feasible plan was found
    CHECK_FAILED = 5    # a plan breaks a constraint or misstates its objective (found by the independent checker)
    INTERRUPTED = 130   # Ctrl-C (or the reader of the output went away): stopped, nothing half-written


def outcome_exit(status: str, has_plan: bool, check_passed: bool | None = None) -> Exit:
    """The exit code of one run's outcome: its plan status, whether it holds a plan, its check."""
    if check_passed is False:
        return Exit.CHECK_FAILED
    if status == "infeasible":
        return Exit.INFEASIBLE
    if status in ("optimal", "time_limit"):
        return Exit.OK if has_plan else Exit.NO_PLAN
    return Exit.INTERNAL           # "error", "unbounded" or unknown: never a valid outcome of valid input


def batch_exit(codes: "list[Exit]") -> Exit:
    """The exit code of a batch (sweep, frontier, equity-bench) from its items' codes.

    The worst wins — internal error, failed check, stopped without a plan — while infeasible
    items are answers in the table: exit 3 only when no item has a plan at all."""
    codes = list(codes)
    for worst in (Exit.INTERNAL, Exit.CHECK_FAILED, Exit.NO_PLAN):
        if worst in codes:
            return worst
    if codes and all(c == Exit.INFEASIBLE for c in codes):
        return Exit.INFEASIBLE
    return Exit.OK


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


class NoPlanError(Exception):
    """A run stopped (at its time limit) before any feasible plan was found (exit code 4)."""


class InfeasibleError(Exception):
    """The model has no solution; `explanation` says why in the planner's words (exit 3)."""

    def __init__(self, explanation: str):
        self.explanation = explanation
        super().__init__(explanation)
