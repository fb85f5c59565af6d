"""Careless or hostile input is read within bounds and never changes meaning silently:
YAML aliases and nesting, rows per table for every line ending and every workbook, cell
sizes, duplicate settings, contradicting ids, partial travel tables, malformed plan folders
given to `check`, and a reader that closes the pipe. Each gets exit 2 (or a documented
warning) naming the place and the rule: no traceback, no hang, nothing written."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from allocator.data import loader, readers
from allocator.data.loader import load_instance
from allocator.errors import InputError
from conftest import TINY, invoke, refused

BAD_INPUT = 2
ROOT = Path(__file__).resolve().parents[1]



def run(*args, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "allocator", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, **kwargs)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def tiny_book(path: Path) -> Path:
    """The tiny city as one workbook, written by the tool itself (its sheets have no <dimension>)."""
    assert invoke("generate", "--towns", 5, "--seed", 1, "--out", path).exit_code == 0
    return path


# --- YAML: aliases and nesting are bounded before anything is expanded ------------------------

LAUGHS = "\n".join(["name: laughs", "budget: 500", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
                    *(f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]" for i in range(8))]) + "\n"


def test_billion_laughs_city_yaml_is_refused_at_once(tiny_copy):
    (tiny_copy / "city.yaml").write_text(LAUGHS, encoding="utf-8")
    assert len(LAUGHS.encode()) < 500                     # a few hundred bytes standing for 9^9 values
    started = time.monotonic()
    done = run("validate", tiny_copy, timeout=30)
    assert time.monotonic() - started < 30
    assert done.returncode == BAD_INPUT, done.stderr
    assert "Traceback" not in done.stderr
    assert re.search(r"city\.yaml, row \d+: refused: aliases \(\*name\) expand to more than 10,000 values", done.stderr), done.stderr


def test_deeply_nested_city_yaml_is_refused_not_a_recursion_error(tiny_copy):
    (tiny_copy / "city.yaml").write_text("name: deep\nbudget: 500\nnorms: " + "[" * 100_000 + "]" * 100_000 + "\n",
                                         encoding="utf-8")
    refused(invoke("validate", tiny_copy), "city.yaml, row 3: refused: values are nested more than 20 levels deep")


def test_a_workbook_setting_of_aliases_is_refused(tmp_path):
    book = tiny_book(tmp_path / "city.xlsx")
    wb = openpyxl.load_workbook(book)
    wb["city"].append(["norms", LAUGHS.split("\n", 2)[2]])
    wb.save(book)
    refused(invoke("validate", book), "city.xlsx[city]", "setting 'norms'", "refused: aliases")


def test_yaml_anchors_within_the_bounds_still_read(tiny_copy):
    text = (TINY / "city.yaml").read_text(encoding="utf-8")
    (tiny_copy / "city.yaml").write_text(text + "coverage_minutes: &m {health: 15}\nnorms: {coverage_minutes: *m}\n",
                                         encoding="utf-8")
    city = load_instance(tiny_copy)
    assert city.config.norms["coverage_minutes"]["health"] == 15


# --- duplicate settings: an error naming file, line and key -----------------------------------

def test_a_setting_written_twice_in_city_yaml_is_an_error(tiny_copy):
    text = (TINY / "city.yaml").read_text(encoding="utf-8")
    (tiny_copy / "city.yaml").write_text(text + "budget: 900\n", encoding="utf-8")
    row = text.count("\n") + 1
    first = text.splitlines().index("budget: 500") + 1
    refused(invoke("validate", tiny_copy), f"city.yaml, row {row}, setting 'budget': setting appears twice (first on row {first})")


def test_a_nested_key_written_twice_is_an_error(tiny_copy):
    text = (TINY / "city.yaml").read_text(encoding="utf-8")
    (tiny_copy / "city.yaml").write_text(text + "coverage_minutes:\n  health: 15\n  health: 30\n", encoding="utf-8")
    row = text.count("\n") + 3
    refused(invoke("validate", tiny_copy), f"city.yaml, row {row}, setting 'coverage_minutes.health': setting appears twice")


def test_a_workbook_setting_giving_a_key_twice_is_an_error(tmp_path):
    book = tiny_book(tmp_path / "city.xlsx")
    wb = openpyxl.load_workbook(book)
    wb["city"].append(["coverage_minutes", "{health: 15, health: 30}"])
    wb.save(book)
    refused(invoke("validate", book), "city.xlsx[city]", "setting 'coverage_minutes': value gives 'health' twice")


# --- rows per table: counted for every line ending, while streaming ---------------------------

def _line_ends(folder: Path, name: str, end: str) -> int:
    file = folder / name
    lines = file.read_text(encoding="utf-8").splitlines()
    file.write_bytes(end.join(lines).encode() + end.encode())
    return len(lines) - 1


def _no_whole_read(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a file over the row limit was read whole")
    monkeypatch.setattr(readers, "_read_bytes", refuse)


@pytest.mark.parametrize("end", ["\r", "\r\n", "\n"])
def test_a_csv_over_the_row_limit_is_refused_before_it_is_read_for_every_line_ending(tiny_copy, monkeypatch, end):
    rows = _line_ends(tiny_copy, "grids.csv", end)
    _no_whole_read(monkeypatch)
    with pytest.raises(InputError, match="grids.csv: its rows exceed the limit of 5 rows"):
        load_instance(tiny_copy, max_rows=rows - 1)


@pytest.mark.parametrize("end", ["\r", "\r\n"])
def test_line_ends_split_across_blocks_are_counted_once(tiny_copy, end):
    rows = _line_ends(tiny_copy, "grids.csv", end)
    loader._check_lines(tiny_copy / "grids.csv", "grids.csv", rows, chunk=1)    # exactly the limit: accepted
    with pytest.raises(InputError):
        loader._check_lines(tiny_copy / "grids.csv", "grids.csv", rows - 1, chunk=1)


def test_a_cr_only_csv_within_the_limit_reads_every_row(tiny_copy):
    rows = _line_ends(tiny_copy, "grids.csv", "\r")
    assert len(load_instance(tiny_copy, max_rows=100).grids) == rows == len(load_instance(TINY).grids)


def test_a_workbook_without_dimension_stops_reading_at_the_row_limit(tmp_path, monkeypatch):
    book = tiny_book(tmp_path / "city.xlsx")
    with zipfile.ZipFile(book) as z:
        assert not any(b"<dimension" in z.read(n) for n in z.namelist() if "worksheets/" in n)
    cells = []
    real = readers._cell_text
    monkeypatch.setattr(readers, "_cell_text", lambda v: cells.append(v) or real(v))
    with pytest.raises(InputError, match=r"city.xlsx\[\w+\]: has more than 10 rows, the limit per table"):
        load_instance(book, max_rows=10)
    assert len(cells) < 20 * 15, "the sheet was read past its limit"


def _edit_part(book: Path, part: str, edit) -> None:
    with zipfile.ZipFile(book) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts[part] = edit(parts[part])
    with zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def _understate(book: Path, sheet_file: str, ref: str) -> None:
    """Give a sheet a <dimension> smaller than its rows, as some programs write."""
    _edit_part(book, sheet_file, lambda xml: xml.replace(b"<sheetData>", f'<dimension ref="{ref}"/><sheetData>'.encode(), 1))


def _sheet_file(book: Path, name: str) -> str:
    wb = openpyxl.load_workbook(book, read_only=True)
    index = wb.sheetnames.index(name) + 1
    wb.close()
    return f"xl/worksheets/sheet{index}.xml"


def test_a_workbook_whose_dimension_understates_its_rows_loses_none(tmp_path):
    book = tiny_book(tmp_path / "city.xlsx")
    full = load_instance(book)
    _understate(book, _sheet_file(book, "sites"), "A1:I5")
    assert len(load_instance(book).sites) == len(full.sites) > 4


def test_an_understating_dimension_does_not_hide_rows_over_the_limit(tmp_path, monkeypatch):
    book = tiny_book(tmp_path / "city.xlsx")
    full = load_instance(book)
    limit = len(full.grids) + 1                           # every sheet within it but sites
    assert len(full.sites) > limit
    _understate(book, _sheet_file(book, "sites"), "A1:I5")
    monkeypatch.setenv("ALLOCATOR_MAX_ROWS", str(limit))
    refused(invoke("validate", book), f"city.xlsx[sites]: has more than {limit} rows")


# --- cell sizes -------------------------------------------------------------------------------

def _long_cell(book: Path, sheet: str, cell: str, length: int) -> None:
    """Put a text of `length` characters in one cell, in the file itself (openpyxl cuts what it writes)."""
    wb = openpyxl.load_workbook(book)
    wb[sheet][cell] = "PLACEHOLDER"
    wb.save(book)
    _edit_part(book, _sheet_file(book, sheet), lambda xml: xml.replace(b"PLACEHOLDER", b"x" * length))


def test_a_workbook_unpacking_to_a_huge_cell_is_refused_before_it_is_opened(tmp_path, monkeypatch):
    book = tiny_book(tmp_path / "city.xlsx")
    _long_cell(book, "districts", "B2", 5_000_000)
    assert book.stat().st_size < 100_000                  # small on disk, large unpacked

    def never(*args, **kwargs):
        raise AssertionError("the workbook was opened")
    monkeypatch.setattr(openpyxl, "load_workbook", never)
    with pytest.raises(InputError, match="city.xlsx: a cell holds more than 32,767 characters"):
        load_instance(book)


def test_a_workbook_cell_over_the_cell_limit_is_named(tmp_path):
    book = tiny_book(tmp_path / "city.xlsx")
    _long_cell(book, "districts", "B2", 40_000)
    refused(invoke("validate", book), "city.xlsx[districts], row 2, column 'name': cell holds 40,000 characters; a cell holds at most 32,767")


def test_a_csv_cell_over_the_cell_limit_is_named(tiny_copy):
    text = (tiny_copy / "districts.csv").read_text(encoding="utf-8").replace("Centre", "C" * 40_000)
    (tiny_copy / "districts.csv").write_text(text, encoding="utf-8")
    refused(invoke("validate", tiny_copy), "districts.csv, row 2, column 'name': cell holds 40,000 characters")


# --- ids that contradict each other, partial travel tables ------------------------------------

def test_a_grid_whose_district_contradicts_its_town_is_reported(tiny_copy):
    grids = pd.read_csv(tiny_copy / "grids.csv", dtype=str)
    towns = pd.read_csv(tiny_copy / "towns.csv", dtype=str).set_index("town_id")
    grids.insert(2, "district_id", grids["town_id"].map(towns["district_id"]))
    grids.to_csv(tiny_copy / "grids.csv", index=False)
    assert invoke("validate", tiny_copy).exit_code == 0          # agreeing ids are fine
    town = grids.loc[3, "town_id"]
    other = next(d for d in towns["district_id"].unique() if d != towns.loc[town, "district_id"])
    grids.loc[3, "district_id"] = other
    grids.to_csv(tiny_copy / "grids.csv", index=False)
    refused(invoke("validate", tiny_copy),
            f"grids.csv, row 5, column 'district_id': value '{other}': town {town} lies in district {towns.loc[town, 'district_id']}")


def _travel(folder: Path, keep) -> int:
    grids = pd.read_csv(folder / "grids.csv")["grid_id"]
    sites = pd.read_csv(folder / "sites.csv")
    pairs = [(g, s, 10.0) for g in grids for s in sites["site_id"] if keep(g, s)]
    pd.DataFrame(pairs, columns=["from_id", "site_id", "minutes"]).to_csv(folder / "travel.csv", index=False)
    return len(grids) * len(sites)


def test_a_partial_travel_table_is_announced_with_counts(tiny_copy):
    every = _travel(tiny_copy, lambda g, s: g in ("G1", "G2"))
    listed = len(pd.read_csv(tiny_copy / "travel.csv"))
    result = invoke("validate", tiny_copy)
    assert result.exit_code == 0, result.output
    assert (f"warning: travel.csv gives minutes for {listed:,} of the {every:,} grid-site pairs; the other "
            f"{every - listed:,} count as out of reach") in result.output
    assert "4 grids have no site at all" in result.output


def test_a_full_travel_table_gives_no_warning(tiny_copy):
    _travel(tiny_copy, lambda g, s: True)
    result = invoke("validate", tiny_copy)
    assert result.exit_code == 0 and "warning" not in result.output, result.output


# --- check on plan folders it cannot read -----------------------------------------------------

@pytest.fixture(scope="module")
def grid_plan(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plans") / "grid"
    assert invoke("solve", TINY, "--model", "grid", "--threads", 1, "--out", out).exit_code == 0
    assert invoke("check", out, TINY).exit_code == 0
    return out


def _edited(plan: Path, tmp_path: Path, meta=None, table=None) -> Path:
    copy = tmp_path / "plan"
    shutil.copytree(plan, copy)
    if meta is not None:
        data = json.loads((copy / "plan.json").read_text(encoding="utf-8"))
        meta(data)
        (copy / "plan.json").write_text(json.dumps(data), encoding="utf-8")
    if table is not None:
        name, edit = table
        frame = pd.read_csv(copy / f"{name}.csv", dtype=str, keep_default_na=False)
        edit(frame)
        frame.to_csv(copy / f"{name}.csv", index=False)
    return copy


def _set(key, value):
    return lambda m: m.__setitem__(key, value)


MALFORMED = {
    "a string objective value": (dict(meta=_set("objective_value", "abc")), "key 'objective_value'"),
    "an objective value of null": (dict(meta=_set("objective_value", None)), "key 'objective_value'"),
    "the instance hash removed": (dict(meta=lambda m: m.pop("instance_sha256")), "key 'instance_sha256'"),
    "a model that is a path": (dict(meta=_set("model", "../../x")), "key 'model': value '../../x': unknown model"),
    "an unknown objective": (dict(meta=_set("objective", "cheapest")), "key 'objective': value 'cheapest'"),
    "options that are text": (dict(meta=_set("options", "budget=5")), "key 'options'"),
    "a budget option of text": (dict(meta=lambda m: m["options"].__setitem__("budget", "lots")), "key 'options.budget'"),
    "a cell abc": (dict(table=("grid_staff", lambda f: f.__setitem__("fulltime", ["abc"] + list(f["fulltime"][1:])))),
                   "grid_staff.csv, row 2, column 'fulltime': value 'abc': must be a number"),
    "a table column missing": (dict(table=("grid_staff", lambda f: f.pop("fulltime"))),
                               "grid_staff.csv, column 'fulltime'"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_check_cannot_read_a_malformed_plan(grid_plan, tmp_path, case):
    edits, words = MALFORMED[case]
    plan = _edited(grid_plan, tmp_path, **edits)
    before = snapshot(tmp_path)
    refused(invoke("check", plan, TINY), "cannot read this plan", words)
    assert snapshot(tmp_path) == before


def test_check_of_deeply_nested_plan_json_is_refused(grid_plan, tmp_path):
    plan = _edited(grid_plan, tmp_path)
    (plan / "plan.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    refused(invoke("check", plan, TINY), "cannot read this plan", "plan.json")


# --- a reader that closes the pipe early ------------------------------------------------------

def test_validate_into_a_closed_pipe_prints_no_traceback():
    process = subprocess.Popen([sys.executable, "-m", "allocator", "validate", str(TINY)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()                        # as `| head -1` does once it has its line
    _, err = process.communicate(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipeError" not in err, err.decode()
    assert b"internal error" not in err, err.decode()
