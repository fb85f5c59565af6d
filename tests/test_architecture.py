"""The layers of docs/architecture.md, read from the source: imports point down only."""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT

# Bottom to top; a module may import its own layer and the layers below.
LAYERS = {
    "foundation": 0, "data": 1, "models": 2, "solving": 3, "plans": 4, "views": 5, "studies": 6, "cli": 7,
    "commands": 7,      # allocator/commands/: the command line beside cli.py
}
FOUNDATION = {"allocator", "allocator.errors", "allocator.metrics", "allocator.files"}
COMMAND_LINE = {"allocator.cli", "allocator.__main__"}


@dataclass(frozen=True)
class Import:
    importer: str
    target: str          # the module imported (for `from M import name`: M.name when that is a module)
    names: tuple[str, ...]
    line: int
    local: bool          # inside a function


def module_name(path: Path) -> str:
    if path == ROOT / "cli.py":
        return "allocator.cli"
    if path.is_relative_to(ROOT / "models"):
        parts = ("allocator", "models", *path.relative_to(ROOT / "models").with_suffix("").parts)
    else:
        parts = ("allocator", *path.relative_to(ROOT / "allocator").with_suffix("").parts)
    return ".".join(p for p in parts if p != "__init__")


def source_files() -> list[Path]:
    return sorted([*(ROOT / "allocator").rglob("*.py"), *(ROOT / "models").rglob("*.py"), ROOT / "cli.py"])


MODULES = {module_name(p): p for p in source_files()}


def layer(module: str) -> int:
    if module in FOUNDATION:
        return LAYERS["foundation"]
    if module in COMMAND_LINE:
        return LAYERS["cli"]
    return LAYERS[module.split(".")[1]]


def imports_of(path: Path) -> list[Import]:
    importer = module_name(path)
    package = importer if path.name == "__init__.py" else importer.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    local_nodes = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for n in ast.walk(f)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            if not base.startswith("allocator"):
                continue
            for alias in node.names:
                target = f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                found.append(Import(importer, target, (alias.name,), node.lineno, id(node) in local_nodes))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("allocator"):
                    found.append(Import(importer, alias.name, (), node.lineno, id(node) in local_nodes))
    return found


ALL_IMPORTS = [i for p in source_files() for i in imports_of(p)]


def where(i: Import) -> str:
    return f"{MODULES[i.importer].relative_to(ROOT)}:{i.line} imports {i.target}"


def test_every_module_belongs_to_a_layer():
    assert [m for m in MODULES if m not in FOUNDATION | COMMAND_LINE and m.split(".")[1] not in LAYERS] == []


def test_imports_point_down_only():
    upward = [where(i) for i in ALL_IMPORTS if i.target in MODULES and layer(i.target) > layer(i.importer)]
    assert upward == []


def test_checkers_import_no_model():
    assert [where(i) for i in ALL_IMPORTS
            if i.importer.startswith("allocator.plans.checks") and i.target.startswith("allocator.models")] == []


def test_no_private_name_is_imported_from_another_module():
    private = [f"{where(i)} ({n})" for i in ALL_IMPORTS for n in i.names if n.startswith("_") and n != "__version__"]
    assert private == []


def test_modules_import_each_other_at_the_top_outside_the_command_line():
    """Function-local imports of allocator modules hid import circles; only the command line
    keeps them, so that `allocator --help` starts without loading Pyomo and pandas."""
    assert [where(i) for i in ALL_IMPORTS if i.local and layer(i.importer) != LAYERS["cli"]] == []


def test_no_import_circle():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for i in ALL_IMPORTS:
        if i.target in MODULES and i.target != i.importer and not i.local:
            graph[i.importer].add(i.target)
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(m: str, trail: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                circles.append(trail[trail.index(t):] + [t] if t in trail else [m, t])
            elif t not in state:
                visit(t, trail + [t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert circles == []


@pytest.mark.parametrize("module", ["allocator.models", "allocator.solving", "allocator.plans"])
def test_the_layer_rule_sees_real_imports(module):
    """The reader above must find the imports it judges (a reader that finds none passes everything)."""
    assert any(i.importer.startswith(module) for i in ALL_IMPORTS)
