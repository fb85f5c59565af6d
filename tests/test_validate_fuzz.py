"""Corrupted cities never crash `allocator validate`: exit 2, the place named, nothing written.

Each example starts from the tiny city (x/y metres or lon/lat degrees), optionally applies
neutral edits (padding, column order, extra column, blank rows, description row, BOM, CRLF),
then one or more corruptions, writes it as a folder or a workbook and runs the CLI.
A corruption states where its problem is reported, and which other tables must be left
alone for that report to be possible (a dangling town id cannot be seen if towns.csv is
unreadable); every report whose prerequisites hold must appear in the output.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import io
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import openpyxl
import pandas as pd
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _fuzz_city import BOOK, COORD_TABLES, TABLE_NAMES, City, num, spec, write_book, write_folder
from allocator import cli
from allocator.data.loader import load_instance
from allocator.data.schema import TABLE_BY_NAME, Column

EXAMPLES = int(os.environ.get("ALLOCATOR_FUZZ_EXAMPLES", "120"))   # raise for a deeper search


# --- hits: where a corruption is reported ---------------------------------------------

@dataclass(frozen=True)
class Hit:
    report: str                                 # table name, "city", or "book" (the whole workbook)
    touched: frozenset[str]                     # what the corruption changed
    needs: frozenset[str] = frozenset()         # what others must leave alone for the report to show


def hit(report: str, touched: tuple[str, ...] = (), needs: tuple[str, ...] = ()) -> Hit:
    return Hit(report, frozenset(touched or (report,)), frozenset(needs))


def shown_name(target: str, form: str) -> str:
    if target == "book":
        return f"{BOOK}:"
    if form == "xlsx":
        return f"{BOOK}[{target}]"
    return "city.yaml" if target == "city" else f"{target}.csv"


@dataclass
class Ctx:
    city: City
    draw: Callable
    form: str

    def pick(self, options):
        return self.draw(st.sampled_from(list(options)))

    written: set = field(default_factory=set)

    def row(self, table: str, *columns: str) -> list[str] | None:
        """A row whose `columns` no earlier corruption wrote (a later write would hide it), now marked written."""
        data = self.city.data(table)
        rows = [i for i in range(len(data)) if not any((table, i, c) in self.written for c in columns)]
        if not rows:
            return None
        i = self.pick(rows)
        self.written.update((table, i, c) for c in columns)
        return data[i]

    def write(self, table: str, column: str, value: str) -> bool:
        """Corrupt one cell no earlier corruption wrote; False if none is left."""
        row = self.row(table, column)
        if row is not None:
            row[self.city.header(table).index(column)] = value
        return row is not None

    def tables_with_rows(self, minimum: int = 1) -> list[str]:
        return [t for t in TABLE_NAMES if len(self.city.data(t)) >= minimum]

    def columns(self, table: str, test: Callable[[Column], bool]) -> list[str]:
        return [h for h in self.city.header(table) if spec(table, h) is not None and test(spec(table, h))]


# --- corruptions of cells, columns and settings ---------------------------------------

def set_cell(ctx: Ctx, test: Callable[[Column], bool], values: list[str]) -> Hit | None:
    choices = [(t, c) for t in ctx.tables_with_rows() for c in ctx.columns(t, test)]
    if not choices:
        return None
    table, column = ctx.pick(choices)
    return hit(table) if ctx.write(table, column, ctx.pick(values)) else None


def numeric(c: Column) -> bool:
    return c.kind in ("int", "float", "flag")


def wrong_type(ctx: Ctx) -> Hit | None:
    return set_cell(ctx, numeric, ["abc", "12abc", "五", "1,5", "--3", "#DIV/0!", "2024-01-01"])


def missing_value(ctx: Ctx) -> Hit | None:
    return set_cell(ctx, lambda c: True, ["", "nan", "NaN", "NULL", "#N/A", "   ", "None"])


def negative(ctx: Ctx) -> Hit | None:
    return set_cell(ctx, lambda c: numeric(c) and c.nonnegative, ["-1", "-7.5", "-1e3", "-2000"])


def huge(ctx: Ctx) -> Hit | None:
    return set_cell(ctx, numeric, ["1e400", "-1e400", "inf", "1e30", "99999999999999999999", "1.5e16"])


def bad_choice(ctx: Ctx) -> Hit | None:
    return set_cell(ctx, lambda c: c.kind == "enum", ["metropolis", "karaoke", "城市", "urban-ish"])


def whitespace_id(ctx: Ctx) -> Hit | None:
    return set_cell(ctx, lambda c: c.kind == "id", ["   ", "\t"])


def duplicate_id(ctx: Ctx) -> Hit | None:
    tables = ctx.tables_with_rows(2)
    if not tables:
        return None
    table = ctx.pick(tables)
    key = ctx.city.header(table).index(TABLE_BY_NAME[table].key[0]) if TABLE_BY_NAME[table].key[0] in ctx.city.header(table) else None
    if key is None:
        return None
    data = ctx.city.data(table)
    i = ctx.draw(st.integers(0, len(data) - 1))
    j = ctx.draw(st.integers(0, len(data) - 2))
    data[i][key] = data[j if j < i else j + 1][key]
    return hit(table)


def dangling(ctx: Ctx) -> Hit | None:
    choices = [(t, c) for t in ctx.tables_with_rows() for c in ctx.columns(t, lambda c: c.refers_to is not None)]
    if not choices:
        return None
    table, column = ctx.pick(choices)
    if not ctx.write(table, column, ctx.pick(["ZZ1", "T99", "D0", "nowhere"])):
        return None
    return hit(table, needs=(spec(table, column).refers_to.split(".")[0],))


def dangling_travel(ctx: Ctx) -> Hit | None:
    rows = ctx.city.tables.setdefault("travel", [["from_id", "site_id", "minutes"], ["G1", "S1", "5"]])
    bad_grid = ctx.draw(st.booleans())
    rows.append(["G404" if bad_grid else "G2", "S2" if bad_grid else "S404", "7"])
    return hit("travel", needs=("grids",) if bad_grid else ("sites",))


def drop_column(ctx: Ctx) -> Hit | None:
    choices = [(t, c) for t in TABLE_NAMES for c in ctx.columns(t, lambda c: c.required or c.name in ("x", "y", "lon", "lat"))]
    if not choices:
        return None
    table, column = ctx.pick(choices)
    i = ctx.city.header(table).index(column)
    for row in ctx.city.tables[table]:
        del row[i]
    return hit(table)


def rename_header(ctx: Ctx) -> Hit | None:
    choices = [(t, c) for t in TABLE_NAMES for c in ctx.columns(t, lambda c: c.required or c.name in ("x", "y", "lon", "lat"))]
    if not choices:
        return None
    table, column = ctx.pick(choices)
    header = ctx.city.header(table)
    others = [h for h in header if h and h != column]
    header[header.index(column)] = ctx.pick([column.upper(), column + "2", column.replace("_", " ") + "!", "", *others[:1]])
    return hit(table)


def ragged(ctx: Ctx) -> Hit | None:
    tables = ctx.tables_with_rows()
    if not tables:
        return None
    table = ctx.pick(tables)
    row = ctx.row(table)
    if ctx.form == "folder" and ctx.draw(st.booleans()):
        row.pop()
    else:
        row.append("stray")
    return hit(table)


def no_rows(ctx: Ctx) -> Hit | None:
    table = ctx.pick(["districts", "towns", "grids"])
    del ctx.city.tables[table][1:]
    return hit(table)


def town_without_grids(ctx: Ctx) -> Hit | None:
    grids = ctx.city.tables["grids"]
    if "town_id" not in grids[0] or len(grids) < 2:
        return None
    i = grids[0].index("town_id")
    town = ctx.pick(sorted({r[i] for r in grids[1:] if len(r) > i}))
    kept = [r for r in grids[1:] if len(r) <= i or r[i] != town]
    if not kept:                # an empty grids table is a problem of grids.csv itself
        return None
    grids[1:] = kept
    return hit("towns", touched=("grids",), needs=("towns", "grids"))


def grid_total_off(ctx: Ctx) -> Hit | None:
    grids = ctx.city.tables["grids"]
    if "population" not in grids[0] or len(grids) < 2:
        return None
    row = ctx.row("grids", "population")
    if row is None:
        return None
    i = grids[0].index("population")
    row[i] = str(int((num(row[i]) or 0) + 50_000))
    return hit("towns", touched=("grids",), needs=("towns", "grids"))


def too_many_old_and_young(ctx: Ctx) -> Hit | None:
    header = ctx.city.header("grids")
    if not {"elderly", "population"} <= set(header) or not ctx.city.data("grids"):
        return None
    row = ctx.row("grids", "population", "elderly")
    if row is None:
        return None
    row[header.index("population")] = "100"
    row[header.index("elderly")] = "101"
    return hit("grids")


def resident_above_registered(ctx: Ctx) -> Hit | None:
    header = ctx.city.header("towns")
    if not {"pop_resident", "pop_registered"} <= set(header) or not ctx.city.data("towns"):
        return None
    row = ctx.row("towns", "pop_resident", "pop_registered")
    if row is None:
        return None
    resident = num(row[header.index("pop_resident")].strip())
    row[header.index("pop_registered")] = str(int(resident) - 1) if resident and resident >= 1 else "0"
    if not resident or resident < 1:
        row[header.index("pop_resident")] = "10"
    return hit("towns")


def mixed_coordinates(ctx: Ctx) -> Hit | None:
    kinds = {t: ("lon", "lat") if {"lon", "lat"} <= set(ctx.city.header(t)) else ("x", "y") if {"x", "y"} <= set(ctx.city.header(t)) else None
             for t in COORD_TABLES}
    if None in kinds.values() or len(set(kinds.values())) > 1:
        return None             # flip only a city whose tables agree, so the report is clear
    table = ctx.pick(COORD_TABLES)
    header = ctx.city.header(table)
    old = kinds[table]
    new = ("x", "y") if old == ("lon", "lat") else ("lon", "lat")
    for a, b in zip(old, new):
        header[header.index(a)] = b
    others = [t for t in COORD_TABLES if t != table]
    report = table if new == ("lon", "lat") else others[0]
    return hit(report, touched=(table,), needs=COORD_TABLES)


def lonlat_out_of_range(ctx: Ctx) -> Hit | None:
    if ctx.draw(st.booleans()):
        return set_cell(ctx, lambda c: c.name == "lat", ["95", "-91", "90.0001"])
    return set_cell(ctx, lambda c: c.name == "lon", ["181", "-180.5", "360"])


def config_setting(ctx: Ctx) -> Hit | None:
    key, value = ctx.pick([
        ("budjet", 5), ("budget", 0), ("budget", -5), ("budget", "lots"), ("name", None), ("name", ""),
        ("population_basis", "hukou"), ("salaries", {"fulltime": -7.0}), ("salaries", {"volunteer": 1}),
        ("services", ["health", "karaoke"]), ("services", []), ("coverage_minutes", {"health": 0}),
        ("norms", {"magic": 1}), ("origin", [500, 10]), ("population_tolerance", 2), ("headcount", 2.5), ("groups", "all"),
    ])
    ctx.city.config[key] = value
    return hit("city")


def services_narrowed(ctx: Ctx) -> Hit | None:
    ctx.city.config["services"] = ["employment"]
    return hit("sites", touched=("city",), needs=("city", "sites"))


MODEL_CORRUPTIONS = [wrong_type, missing_value, negative, huge, bad_choice, whitespace_id, duplicate_id, dangling,
                     dangling_travel, drop_column, rename_header, ragged, no_rows, town_without_grids, grid_total_off,
                     too_many_old_and_young, resident_above_registered, mixed_coordinates, lonlat_out_of_range,
                     config_setting, services_narrowed]


# --- corruptions of files -------------------------------------------------------------

FileCorruption = Callable[[Path, str, Callable], Hit | None]


def file_of(root: Path, target: str) -> Path:
    return root / ("city.yaml" if target == "city" else f"{target}.csv")


def empty_file(root: Path, target: str, draw: Callable) -> Hit:
    file_of(root, target).write_bytes(draw(st.sampled_from([b"", b"\n", b"  \r\n\n"])))
    return hit(target)


def utf16(root: Path, target: str, draw: Callable) -> Hit:
    file = file_of(root, target)
    file.write_bytes(file.read_text(encoding="utf-8-sig").encode(draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be"]))))
    return hit(target)


def gbk(root: Path, target: str, draw: Callable) -> Hit:
    file = file_of(root, target)
    note = "# 备注：网格\n" if target == "city" else "备注,网格\n"
    file.write_bytes((file.read_text(encoding="utf-8-sig") + note).encode("gbk"))
    return hit(target)


def nul_byte(root: Path, target: str, draw: Callable) -> Hit:
    file = file_of(root, target)
    data = file.read_bytes()
    at = draw(st.integers(0, len(data)))
    file.write_bytes(data[:at] + b"\x00" + data[at:])
    return hit(target)


def stray_bom(root: Path, target: str, draw: Callable) -> Hit:
    file = file_of(root, target)
    lines = file.read_text(encoding="utf-8").splitlines(keepends=True)
    at = draw(st.integers(1, len(lines)))
    file.write_text("".join(lines[:at]) + "\ufeff" + "".join(lines[at:]), encoding="utf-8")
    return hit(target)


def truncated(root: Path, target: str, draw: Callable) -> Hit | None:
    """Cut the file inside a data row so that its last row is left short."""
    if target == "city":
        return None
    file = file_of(root, target)
    text = file.read_text(encoding="utf-8")
    lines = list(re.finditer(r"[^\r\n]+", text))[1:]
    if not lines:
        return None
    line = draw(st.sampled_from(lines))
    cut = draw(st.integers(line.start() + 1, line.end() - 1)) if line.end() - line.start() > 1 else line.end()
    records = list(csv.reader(io.StringIO(text[:cut], newline="")))
    last = records[-1] if records else []
    if not any(c.strip() for c in last) or len(last) == len(records[0]):
        return None             # this cut would leave a blank or complete row
    file.write_text(text[:cut], encoding="utf-8")
    return hit(target)


def bad_yaml(root: Path, target: str, draw: Callable) -> Hit | None:
    if target != "city":
        return None
    file = file_of(root, target)
    extra = draw(st.sampled_from(["services: [health\n", "budget: : 5\n", "\t- tab\n", "- a list\n"]))
    file.write_text(file.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return hit("city")


def remove_file(root: Path, target: str, draw: Callable) -> Hit | None:
    file = file_of(root, target)
    if target == "travel":
        return None
    file.unlink()
    if draw(st.booleans()):
        file.mkdir()                           # a folder where the file should be
    return hit(target)


FOLDER_CORRUPTIONS: list[FileCorruption] = [empty_file, utf16, gbk, nul_byte, stray_bom, truncated, bad_yaml, remove_file]


def remove_sheet(path: Path, target: str, draw: Callable) -> Hit | None:
    if target == "travel":
        return None
    book = openpyxl.load_workbook(path)
    book.remove(book[target])
    book.save(path)
    return hit(target)


def clear_sheet(path: Path, target: str, draw: Callable) -> Hit | None:
    if target in ("city", "travel"):
        return None
    book = openpyxl.load_workbook(path)
    book[target].delete_rows(1, book[target].max_row)
    book.save(path)
    return hit(target)


def not_a_workbook(path: Path, target: str, draw: Callable) -> Hit:
    data = path.read_bytes()
    path.write_bytes(draw(st.sampled_from([b"", b"district_id,name\nD1,x\n", data[: len(data) // 2], data[:100]])))
    return hit("book", touched=("book",))


BOOK_CORRUPTIONS: list[FileCorruption] = [remove_sheet, clear_sheet, not_a_workbook]


# --- neutral edits --------------------------------------------------------------------

def pad_cell(ctx: Ctx) -> None:
    table = ctx.pick(ctx.tables_with_rows())
    row = ctx.row(table)
    i = ctx.draw(st.integers(0, len(row) - 1))
    row[i] = f"  {row[i]} "


def shout_choice(ctx: Ctx) -> None:
    table = ctx.pick(["districts", "towns", "grids"])
    i = ctx.city.header(table).index("kind")
    for row in ctx.city.data(table):
        row[i] = row[i].capitalize()


def reorder_columns(ctx: Ctx) -> None:
    table = ctx.pick(TABLE_NAMES)
    order = ctx.draw(st.permutations(range(len(ctx.city.header(table)))))
    ctx.city.tables[table] = [[row[i] for i in order] for row in ctx.city.tables[table]]


def extra_column(ctx: Ctx) -> None:
    table = ctx.pick(TABLE_NAMES)
    name = f"note{len(ctx.city.header(table))}"
    for n, row in enumerate(ctx.city.tables[table]):
        row.append(name if n == 0 else ctx.pick(["", "ok", "见附件", "12"]))


def int_as_float(ctx: Ctx) -> None:
    choices = [(t, c) for t in TABLE_NAMES for c in ctx.columns(t, lambda c: c.kind == "int")]
    table, column = ctx.pick(choices)
    i = ctx.city.header(table).index(column)
    for row in ctx.city.data(table):
        row[i] = row[i] if "." in row[i] else f"{row[i].strip()}.0"


def blank_row(ctx: Ctx) -> None:
    table = ctx.pick(TABLE_NAMES)
    ctx.city.blank_rows[table] = ctx.draw(st.integers(1, len(ctx.city.tables[table])))


def description_row(ctx: Ctx) -> None:
    ctx.city.described.add(ctx.pick(TABLE_NAMES))


def bom_and_crlf(ctx: Ctx) -> None:
    ctx.city.bom, ctx.city.crlf = ctx.draw(st.booleans()), ctx.draw(st.booleans())


NOISES = [pad_cell, shout_choice, reorder_columns, extra_column, int_as_float, blank_row, description_row, bom_and_crlf]


# --- running the CLI and checking nothing was written ---------------------------------

def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def run_validate(root: Path, target: Path) -> tuple[int, str]:
    before = snapshot(root)
    with contextlib.chdir(root):
        result = CliRunner().invoke(cli.main, ["validate", str(target)])
    assert snapshot(root) == before, "validate wrote or changed files"
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.output


def materialize(city: City, root: Path, form: str) -> Path:
    return write_folder(city, root / "tiny") if form == "folder" else write_book(city, root / BOOK)


def apply_file_corruptions(path: Path, form: str, draw: Callable, count: int, tables: list[str]) -> list[Hit]:
    targets = draw(st.permutations(["city", *tables]))[:count]
    hits = []
    for target in targets:
        options = FOLDER_CORRUPTIONS if form == "folder" else BOOK_CORRUPTIONS
        corruption = draw(st.sampled_from(options))
        found = corruption(path, target, draw) or (empty_file(path, target, draw) if form == "folder" else remove_sheet(path, target, draw))
        if found is None:       # the travel sheet is optional: removing it is no error
            continue
        hits.append(found)
        if found.report == "book":
            break
    return hits


def expected_reports(hits: list[Hit]) -> set[str]:
    """Reports that must show: no hit reported elsewhere changed what they rely on."""
    if any(h.report == "book" for h in hits):
        return {"book"}
    return {h.report for h in hits
            if not any(g is not h and g.report != h.report and g.touched & (h.needs | h.touched) for g in hits)}


def starts_a_line(output: str, name: str) -> bool:
    return any(line.startswith(name) for line in output.splitlines())


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), form=st.sampled_from(["folder", "xlsx"]), base=st.sampled_from(["xy", "lonlat"]))
def test_corrupted_city_is_refused_with_its_place_named(data, form: str, base: str) -> None:
    city = City.tiny(base)
    ctx = Ctx(city, data.draw, form)
    for noise in data.draw(st.lists(st.sampled_from(NOISES), max_size=3)):
        noise(ctx)
    hits = [h for c in data.draw(st.lists(st.sampled_from(MODEL_CORRUPTIONS), max_size=3)) if (h := c(ctx)) is not None]
    n_files = data.draw(st.integers(0 if hits else 1, 2))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = materialize(city, root, form)
        hits += apply_file_corruptions(path, form, data.draw, n_files, list(city.tables))
        if not hits:            # only the optional travel sheet was removed: still a valid city
            return
        code, output = run_validate(root, path)
    assert code == 2, output
    names = [shown_name(r, form) for r in sorted({h.report for h in hits})]
    assert any(starts_a_line(output, n) for n in names), (names, output)
    for report in expected_reports(hits):
        assert starts_a_line(output, shown_name(report, form)), (report, hits, output)


def contract_only(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame.columns if c.startswith("note")])


@settings(max_examples=max(EXAMPLES // 5, 10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), form=st.sampled_from(["folder", "xlsx"]), base=st.sampled_from(["xy", "lonlat"]))
def test_neutral_edits_load_the_same_city(data, form: str, base: str) -> None:
    city = City.tiny(base)
    clean = copy.deepcopy(city)
    ctx = Ctx(city, data.draw, form)
    for noise in data.draw(st.lists(st.sampled_from(NOISES), max_size=4)):
        noise(ctx)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = materialize(city, root, form)
        code, output = run_validate(root, path)
        assert code == 0, output
        edited = load_instance(path)
        (root / "clean").mkdir()
        reference = load_instance(materialize(clean, root / "clean", form))
    assert edited.config == reference.config
    for name, frame in reference.tables().items():
        pd.testing.assert_frame_equal(contract_only(edited.tables()[name]), frame, check_exact=True)


# --- a couple of real processes -------------------------------------------------------

def no_draw(strategy: st.SearchStrategy) -> object:
    raise AssertionError("this corruption draws nothing")


def run_process(root: Path, target: Path) -> subprocess.CompletedProcess:
    before = snapshot(root)
    done = subprocess.run([sys.executable, "-m", "allocator", "validate", str(target)], cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert snapshot(root) == before
    assert "Traceback" not in done.stdout + done.stderr
    return done


def test_process_gbk_folder(tmp_path: Path) -> None:
    folder = write_folder(City.tiny("xy"), tmp_path / "tiny")
    gbk(folder, "towns", no_draw)
    done = run_process(tmp_path, folder)
    assert done.returncode == 2
    assert "towns.csv, row 5: file is not UTF-8 text (perhaps GBK)" in done.stderr


def test_process_workbook_without_sheet(tmp_path: Path) -> None:
    book = write_book(City.tiny("xy"), tmp_path / BOOK)
    remove_sheet(book, "sites", no_draw)
    done = run_process(tmp_path, book)
    assert done.returncode == 2
    assert "tiny.xlsx[sites]: required sheet is missing from the workbook" in done.stderr


def test_process_clean_city(tmp_path: Path) -> None:
    done = run_process(tmp_path, write_book(City.tiny("lonlat"), tmp_path / BOOK))
    assert done.returncode == 0, done.stderr
    assert "valid: no problems found" in done.stdout
