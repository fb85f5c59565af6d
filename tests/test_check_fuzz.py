"""Corrupted plan folders never crash `allocator check`: exit 0 or 5 for a plan it can read,
exit 2 naming the plan for one it cannot, never an internal error or a traceback, nothing
written; a plan whose objective value, city hash, model or a number cell was broken never passes.

Each example takes a plan of one of the four models solved on the tiny city, applies one to
three corruptions of plan.json (a value replaced at any depth, a key removed, the file cut
or replaced) or of its tables (a cell, a column, the file), and runs the command.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocator import cli
from allocator.plans.checks.plan_files import OBJECTIVES
from allocator.plans.plan import ID_COLUMNS
from allocator.solving.run import MODELS, model_module
from conftest import TINY

EXAMPLES = int(os.environ.get("ALLOCATOR_FUZZ_EXAMPLES", "120")) // 3     # each example runs a check
MODEL_NAMES = ("grid", "enforcement", "facilities", "city")
JUNK = [None, "abc", "", -1, 0, 1e308, True, [], {}, "../../x", [1, 2], {"a": 1}, "1e400", 12345678901234567890]
CELL_JUNK = ["abc", "", "1e400", "-5", "nan", "=1+1", "9999999999", "0.5", "五", "1,5", "#N/A"]
ESSENTIAL = ("objective_value", "instance_sha256", "model")     # a broken value here must never pass


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fuzz-plans")
    out = {}
    for model in MODEL_NAMES:
        folder = root / model
        result = CliRunner().invoke(cli.main, ["solve", str(TINY), "--model", model, "--threads", "1", "--out", str(folder)])
        assert result.exit_code == 0, result.output
        out[model] = folder
    return out


# --- corruptions ---------------------------------------------------------------------------------

def _paths(value, prefix=()):
    """Every place in a JSON value: (path, value)."""
    yield prefix, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        yield from _paths(inner, (*prefix, key))


def _meta(folder: Path) -> dict | None:
    """plan.json as a mapping, or None once an earlier corruption broke it."""
    try:
        meta = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    except (ValueError, RecursionError):
        return None
    return meta if isinstance(meta, dict) and meta else None


def _save(folder: Path, meta) -> None:
    (folder / "plan.json").write_text(json.dumps(meta, allow_nan=True), encoding="utf-8")


def replace_value(folder: Path, draw: Callable) -> None:
    meta = _meta(folder)
    if meta is None:
        return
    places = [p for p, _ in _paths(meta) if p]
    path = draw(st.sampled_from(places))
    value = draw(st.sampled_from(JUNK))
    holder = meta
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    _save(folder, meta)


def _same(a, b) -> bool:
    """The same JSON value: equal numbers (not booleans) count as the same, 0 as 0.0."""
    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    return (number(a) and number(b) and a == b) or (type(a) is type(b) and a == b)


def remove_key(folder: Path, draw: Callable) -> None:
    meta = _meta(folder)
    if meta is None:
        return
    places = [p for p, _ in _paths(meta) if p and isinstance(_holder(meta, p), dict)]
    path = draw(st.sampled_from(places))
    del _holder(meta, path)[path[-1]]
    _save(folder, meta)


def _holder(meta, path):
    for key in path[:-1]:
        meta = meta[key]
    return meta


def break_plan_json(folder: Path, draw: Callable) -> None:
    file = folder / "plan.json"
    text = file.read_text(encoding="utf-8")
    file.write_text(draw(st.sampled_from([text[: len(text) // 2], "", "[]", "null", "{\"model\": \"grid\"}", "[" * 5000,
                                          "\ufeff" + text, text.replace("\"", "'", 3)])), encoding="utf-8")


def _tables(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.csv"))


def _frame(file: Path) -> pd.DataFrame | None:
    """A table as text, or None once an earlier corruption broke it."""
    try:
        frame = pd.read_csv(file, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    return frame if len(frame.columns) else None


def set_cell(folder: Path, draw: Callable) -> None:
    tables = _tables(folder)
    if not tables:
        return
    file = draw(st.sampled_from(tables))
    frame = _frame(file)
    if frame is None or frame.empty:
        return
    column = draw(st.sampled_from(list(frame.columns)))
    row = draw(st.integers(0, len(frame) - 1))
    value = draw(st.sampled_from(CELL_JUNK))
    frame.loc[row, column] = value
    frame.to_csv(file, index=False)


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text == ""            # an empty cell reads as missing, a number's absence
    return True


def drop_column(folder: Path, draw: Callable) -> None:
    tables = _tables(folder)
    if not tables:
        return
    file = draw(st.sampled_from(tables))
    frame = _frame(file)
    if frame is None:
        return
    frame.pop(draw(st.sampled_from(list(frame.columns))))
    frame.to_csv(file, index=False)


def break_table(folder: Path, draw: Callable) -> None:
    tables = _tables(folder)
    if not tables:
        return
    file = draw(st.sampled_from(tables))
    data = file.read_bytes()
    kind = draw(st.sampled_from(["remove", "empty", "cut", "binary", "header only"]))
    if kind == "remove":
        file.unlink()
    else:
        file.write_bytes({"empty": b"", "cut": data[: len(data) // 2], "binary": b"\x00\xff\xfe" * 50,
                          "header only": data.split(b"\n", 1)[0] + b"\n"}[kind])


def _broken(original: Path, folder: Path) -> bool:
    """The corrupted plan must not pass: an essential key of plan.json changed or gone, or a
    number cell of a table holding text that is no number."""
    meta, before = _meta(folder), _meta(original)
    if meta is not None and any(key not in meta or not _same(meta[key], before[key]) for key in ESSENTIAL):
        return True
    for file in _tables(folder):
        frame = _frame(file)
        if frame is not None and any(not _number(v) for c in frame.columns if c not in ID_COLUMNS for v in frame[c]):
            return True
    return False


CORRUPTIONS = [replace_value, replace_value, remove_key, break_plan_json, set_cell, set_cell, drop_column, break_table]


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@settings(max_examples=max(EXAMPLES, 10), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data(), model=st.sampled_from(MODEL_NAMES))
def test_a_corrupted_plan_is_read_or_refused_never_a_crash(plans, data, model: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "plan"
        shutil.copytree(plans[model], folder)
        corruptions = data.draw(st.lists(st.sampled_from(CORRUPTIONS), min_size=1, max_size=3))
        for corruption in corruptions:
            corruption(folder, data.draw)
        must_not_pass = _broken(plans[model], folder)
        before = snapshot(root)
        with contextlib.chdir(root):
            result = CliRunner().invoke(cli.main, ["check", str(folder), str(TINY)])
        assert snapshot(root) == before, "check wrote or changed files"
    output = result.output
    assert "Traceback" not in output and "internal error" not in output, output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2, 3, 4, 5), output          # 3 and 4: a plan.json saying it holds no plan
    if result.exit_code == 2:
        assert str(folder) in output, output
    if must_not_pass:
        assert result.exit_code != 0, (corruptions, output)


def test_an_unbroken_plan_passes(plans):
    for folder in plans.values():
        result = CliRunner().invoke(cli.main, ["check", str(folder), str(TINY)])
        assert result.exit_code == 0, result.output


def test_the_objectives_check_knows_are_the_models_own():
    assert tuple(OBJECTIVES) == MODELS
    assert {m: tuple(model_module(m).OBJECTIVES) for m in MODELS} == OBJECTIVES
