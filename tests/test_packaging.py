"""The installed distribution: one `allocator` package holding every module of the source tree."""
from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from conftest import ROOT

import allocator


def source_modules() -> set[str]:
    """Every module of the repository as its installed dotted name."""
    names = {"allocator.cli"}
    for path in (ROOT / "allocator").rglob("*.py"):
        names.add(".".join(("allocator",) + path.relative_to(ROOT / "allocator").with_suffix("").parts))
    for path in (ROOT / "models").rglob("*.py"):
        names.add(".".join(("allocator", "models") + path.relative_to(ROOT / "models").with_suffix("").parts))
    return {n.removesuffix(".__init__") for n in names}


def installed_from_wheel() -> bool:
    return (Path(allocator.__file__).parent / "cli.py").is_file()


needs_wheel = pytest.mark.skipif(not installed_from_wheel() and not os.environ.get("CI"),
                                 reason="an editable install: the wheel's contents are checked where it is installed "
                                        "(pip install . ; required with CI=true)")


@needs_wheel
def test_the_wheel_installs_only_the_allocator_package():
    files = metadata.distribution("allocator").files or []
    tops = {f.parts[0] for f in files if not f.parts[0].endswith(".dist-info") and f.parts[0] != ".."}
    assert tops == {"allocator"}


@needs_wheel
def test_the_wheel_holds_every_module_of_the_source_tree():
    files = metadata.distribution("allocator").files or []
    installed = {".".join(f.with_suffix("").parts).removesuffix(".__init__") for f in files if f.suffix == ".py"}
    assert source_modules() - installed == set()
    data = {f.as_posix() for f in files}
    assert {"allocator/data/norms.yaml", "allocator/views/report.html.j2", "allocator/data/china/counties_2020.csv",
            "allocator/data/china/CENSUS-LICENSE"} <= data


def test_every_module_imports():
    import importlib
    for name in sorted(source_modules() - {"allocator.__main__"}):
        importlib.import_module(name)


def test_python_dash_m_allocator_runs_the_command_group(tmp_path):
    done = subprocess.run([sys.executable, "-m", "allocator", "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "solve" in done.stdout and "validate" in done.stdout
