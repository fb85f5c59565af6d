"""Shared fixtures: the tiny hand-made city, the ../shared data folder when present, and the in-process CLI helpers."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import settings

from allocator.cli import main

# CI runs the property tests on a fixed sequence of examples (a red CI blocks everything);
# locally each run explores new ones.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def tiny_dir() -> Path:
    return TINY


@pytest.fixture
def tiny_copy(tmp_path: Path) -> Path:
    """A writable copy of the tiny city, for tests that corrupt it."""
    target = tmp_path / "tiny"
    shutil.copytree(TINY, target)
    return target


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the shared data folder {SHARED_DATA} (present in CI, absent in a user's clone)")
    return SHARED_DATA


def pytest_report_header(config) -> str:
    import allocator
    return f"allocator under test: {Path(allocator.__file__).parent}"


def invoke(*args):
    """`allocator ARGS…` in-process (arguments as text)."""
    return CliRunner().invoke(main, [str(a) for a in args])


def refused(result, *words) -> None:
    """A bad input: exit 2, no traceback or internal error, and each of `words` in the message."""
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    for word in words:
        assert word in result.output, (word, result.output)
