"""Every validation rule, each shown failing on a small edit of the tiny city.

Each case edits a copy of tests/data/tiny and asserts the exact place the problem is
reported at: file (or workbook[sheet]), the row the user sees (header = row 1), the column
or setting, and a key phrase of the rule.
"""
from __future__ import annotations

import csv
import io
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import openpyxl
import pytest
import yaml
from click.testing import CliRunner

from allocator import cli
from allocator.errors import InputError, Problem
from allocator.data.loader import load_instance
from allocator.data.schema import TABLES
from allocator.data.writers import write_workbook

Edit = Callable[[Path], None]


# --- editing helpers ------------------------------------------------------------------

def read_rows(file: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(file.read_text(encoding="utf-8"), newline="")))


def write_rows(file: Path, rows: list[list[str]]) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    file.write_text(out.getvalue(), encoding="utf-8")


def cell(table: str, row: int, column: str, value: str) -> Edit:
    """Set one cell; `row` is the row the user sees (header = 1)."""
    def edit(folder: Path) -> None:
        rows = read_rows(folder / f"{table}.csv")
        rows[row - 1][rows[0].index(column)] = value
        write_rows(folder / f"{table}.csv", rows)
    return edit


def cells(*edits: Edit) -> Edit:
    def edit(folder: Path) -> None:
        for e in edits:
            e(folder)
    return edit


def text(file: str, content: str | bytes) -> Edit:
    def edit(folder: Path) -> None:
        target = folder / file
        target.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return edit


def append(file: str, line: str) -> Edit:
    def edit(folder: Path) -> None:
        with open(folder / file, "a", encoding="utf-8") as handle:
            handle.write(line)
    return edit


def rename_column(table: str, old: str, new: str) -> Edit:
    def edit(folder: Path) -> None:
        rows = read_rows(folder / f"{table}.csv")
        rows[0][rows[0].index(old)] = new
        write_rows(folder / f"{table}.csv", rows)
    return edit


def drop_column(table: str, column: str) -> Edit:
    def edit(folder: Path) -> None:
        rows = read_rows(folder / f"{table}.csv")
        i = rows[0].index(column)
        write_rows(folder / f"{table}.csv", [r[:i] + r[i + 1:] for r in rows])
    return edit


def drop_rows(table: str, keep: Callable[[dict[str, str]], bool]) -> Edit:
    def edit(folder: Path) -> None:
        rows = read_rows(folder / f"{table}.csv")
        write_rows(folder / f"{table}.csv", [rows[0]] + [r for r in rows[1:] if keep(dict(zip(rows[0], r)))])
    return edit


def setting(key: str, value: object) -> Edit:
    """Remove `key` from city.yaml and, unless DELETE, write it again on the file's last line."""
    def edit(folder: Path) -> None:
        lines = (folder / "city.yaml").read_text(encoding="utf-8").splitlines()
        kept, inside = [], False
        for line in lines:
            inside = line.startswith(f"{key}:") or (inside and line.startswith(" "))
            if not inside:
                kept.append(line)
        if value is not DELETE:
            kept.append(f"{key}: " + yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...").strip())
        (folder / "city.yaml").write_text("\n".join(kept) + "\n", encoding="utf-8")
    return edit


DELETE = object()
LAST = -1          # the row of a Case: the last line of the file


def last_line(folder: Path, file: str) -> int:
    return len((folder / file).read_text(encoding="utf-8").splitlines())


def remove(file: str) -> Edit:
    return lambda folder: (folder / file).unlink()


def problems_of(path: Path, **kwargs) -> list[Problem]:
    with pytest.raises(InputError) as info:
        load_instance(path, **kwargs)
    return info.value.problems


def find(problems: list[Problem], file: str, row: int | None, column: str | None, phrase: str) -> Problem:
    for p in problems:
        if p.file == file and p.row == row and p.column == column and phrase in p.rule:
            return p
    listing = "\n".join(str(p) for p in problems)
    raise AssertionError(f"no problem at {file} row {row} column {column} with {phrase!r}; got:\n{listing}")


# --- the rule table -------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    id: str
    edit: Edit
    file: str
    row: int | None
    column: str | None
    phrase: str
    value: object = None


CASES = [
    # files and their text
    Case("required file missing", remove("grids.csv"), "grids.csv", None, None, "required file is missing"),
    Case("city.yaml missing", remove("city.yaml"), "city.yaml", None, None, "required file is missing"),
    Case("empty csv", text("sites.csv", b""), "sites.csv", None, None, "file is empty"),
    Case("blank csv", text("sites.csv", "\n\n  \n"), "sites.csv", None, None, "file is empty"),
    Case("empty header row", text("sites.csv", "\nS1,T1,health,1,8000,0,50,0,0\n"), "sites.csv", 1, None, "header row is empty"),
    Case("utf-16", lambda f: (f / "towns.csv").write_bytes((f / "towns.csv").read_text().encode("utf-16")), "towns.csv", None, None, "UTF-16"),
    Case("utf-16 without bom", lambda f: (f / "towns.csv").write_bytes((f / "towns.csv").read_text().encode("utf-16-le")), "towns.csv", 1, None, "NUL bytes"),
    Case("gbk", lambda f: (f / "towns.csv").write_bytes((f / "towns.csv").read_text().replace("New Town", "新城").encode("gbk")), "towns.csv", 3, None, "not UTF-8"),
    Case("gbk city.yaml", text("city.yaml", "name: 杭州\nbudget: 500\n".encode("gbk")), "city.yaml", 1, None, "not UTF-8"),
    Case("stray bom", lambda f: (f / "grids.csv").write_text((f / "grids.csv").read_text().replace("G4,", "\ufeffG4,")), "grids.csv", 5, None, "byte-order mark"),
    Case("ragged row, too few", append("sites.csv", "S9,T1,health,0,100\n"), "sites.csv", 10, None, "row has 5 fields but the header has 9"),
    Case("ragged row, too many", append("sites.csv", "S9,T1,health,0,100,1,1,0,0,extra\n"), "sites.csv", 10, None, "row has 10 fields"),
    Case("unreadable csv", append("sites.csv", "S9,T1,health,0,100,1,1,0," + "9" * 200_000 + "\n"), "sites.csv", 10, None, "not readable as CSV"),
    Case("invalid yaml", append("city.yaml", "services: [health\n"), "city.yaml", 7, None, "not valid YAML"),
    Case("yaml not a mapping", text("city.yaml", "- tiny\n- 500\n"), "city.yaml", None, None, "must be a mapping"),
    # columns and headers
    Case("required column missing", drop_column("grids", "population"), "grids.csv", None, "population", "required column is missing"),
    Case("header renamed", rename_column("towns", "town_id", "town id"), "towns.csv", None, "town_id", "required column is missing"),
    Case("header cell empty", rename_column("districts", "name", ""), "districts.csv", 1, None, "header cell 2 is empty"),
    Case("column twice", rename_column("districts", "name", "kind"), "districts.csv", 1, "kind", "appears twice"),
    Case("no data rows", drop_rows("districts", lambda r: False), "districts.csv", None, None, "no data rows"),
    Case("coordinates missing", cells(drop_column("sites", "x"), drop_column("sites", "y")), "sites.csv", None, "x", "coordinates are missing"),
    Case("y missing", drop_column("grids", "y"), "grids.csv", None, "y", "coordinates are missing"),
    Case("mixed lon/lat and x/y", cells(rename_column("sites", "x", "lon"), rename_column("sites", "y", "lat")),
         "sites.csv", None, "lon", "use one kind of coordinates"),
    # cells
    Case("value missing", cell("towns", 3, "district_id", ""), "towns.csv", 3, "district_id", "value is missing"),
    Case("whitespace-only id", cell("grids", 4, "grid_id", "   "), "grids.csv", 4, "grid_id", "value is missing", "   "),
    Case("NaN", cell("grids", 2, "households", "NaN"), "grids.csv", 2, "households", "value is missing", "NaN"),
    Case("x missing", cell("sites", 5, "x", ""), "sites.csv", 5, "x", "value is missing"),
    Case("text in number", cell("towns", 2, "cases_per_year", "many"), "towns.csv", 2, "cases_per_year", "must be a number", "many"),
    Case("not whole", cell("grids", 3, "fulltime_now", "1.5"), "grids.csv", 3, "fulltime_now", "must be a whole number", "1.5"),
    Case("not finite", cell("grids", 6, "x", "inf"), "grids.csv", 6, "x", "must be a finite number", "inf"),
    Case("overflowing number", cell("towns", 4, "pop_migrant", "1e400"), "towns.csv", 4, "pop_migrant", "must be a finite number"),
    Case("huge count", cell("grids", 2, "population", "1e30"), "grids.csv", 2, "population", "too large"),
    Case("huge integer text", cell("grids", 2, "elderly", "123456789012345678901234"), "grids.csv", 2, "elderly", "too large"),
    Case("flag not 0/1", cell("sites", 3, "existing", "2"), "sites.csv", 3, "existing", "must be 0 or 1", "2"),
    Case("flag as word", cell("sites", 3, "existing", "TRUE"), "sites.csv", 3, "existing", "must be 0 or 1"),
    Case("negative count", cell("grids", 7, "children", "-5"), "grids.csv", 7, "children", "must not be negative", "-5"),
    Case("negative budget", cell("districts", 3, "own_budget", "-1"), "districts.csv", 3, "own_budget", "must not be negative"),
    Case("zero area", cell("towns", 2, "area_km2", "0"), "towns.csv", 2, "area_km2", "greater than 0"),
    Case("unknown kind", cell("districts", 2, "kind", "metropolis"), "districts.csv", 2, "kind", "unknown value"),
    Case("unknown service in sites", cell("sites", 4, "service", "karaoke"), "sites.csv", 4, "service", "unknown value", "karaoke"),
    Case("lat out of range", cells(lambda f: to_degrees(f), cell("grids", 5, "lat", "95")), "grids.csv", 5, "lat", "latitude must lie between -90 and 90"),
    Case("lon out of range", cells(rename_column("towns", "x", "lon"), rename_column("towns", "y", "lat")), "towns.csv", 3, "lon", "longitude must lie between"),
    # ids and keys
    Case("duplicate id", cell("sites", 6, "site_id", "S2"), "sites.csv", 6, "site_id", "already on row 3", "S2"),
    Case("duplicate id after trimming", cell("districts", 3, "district_id", " D1 "), "districts.csv", 3, "district_id", "duplicate id"),
    Case("duplicate travel pair", text("travel.csv", "from_id,site_id,minutes\nG1,S1,5\nG2,S1,7\nG1,S1,6\n"), "travel.csv", 4, "from_id+site_id", "already on row 2"),
    Case("dangling grid→town", cell("grids", 3, "town_id", "T9"), "grids.csv", 3, "town_id", "not found in towns.csv", "T9"),
    Case("dangling town→district", cell("towns", 4, "district_id", "D7"), "towns.csv", 4, "district_id", "not found in districts.csv", "D7"),
    Case("dangling site→town", cell("sites", 9, "town_id", "T0"), "sites.csv", 9, "town_id", "not found in towns.csv", "T0"),
    Case("dangling travel→grid", text("travel.csv", "from_id,site_id,minutes\nG1,S1,5\nG9,S1,7\n"), "travel.csv", 3, "from_id", "not found in grids.csv", "G9"),
    Case("dangling travel→site", text("travel.csv", "from_id,site_id,minutes\nG1,S1,5\nG2,S99,7\n"), "travel.csv", 3, "site_id", "not found in sites.csv", "S99"),
    Case("negative minutes", text("travel.csv", "from_id,site_id,minutes\nG1,S1,-5\n"), "travel.csv", 2, "minutes", "must not be negative"),
    Case("district without towns", append("districts.csv", "D3,Empty,suburban,10,10\n"), "districts.csv", 4, "district_id", "has no towns", "D3"),
    Case("town without grids", drop_rows("grids", lambda r: r["town_id"] != "T3"), "towns.csv", 4, "town_id", "has no grids", "T3"),
    # population identities
    Case("grid totals vs actual population", cell("grids", 2, "population", "9200"), "towns.csv", 2, "pop_migrant", "grids hold 14,000 persons"),
    Case("elderly + children > population", cell("grids", 6, "elderly", "1700"), "grids.csv", 6, "elderly", "elderly + children exceed"),
    Case("households > population", cell("grids", 7, "households", "1800"), "grids.csv", 7, "households", "more households than persons"),
    Case("resident > registered", cell("towns", 3, "pop_registered", "3999"), "towns.csv", 3, "pop_resident", "cannot exceed the registered population"),
    # city.yaml
    Case("unknown setting", setting("budjet", 5), "city.yaml", LAST, "budjet", "unknown setting"),
    Case("name missing", setting("name", DELETE), "city.yaml", None, "name", "needs a name"),
    Case("budget missing", setting("budget", DELETE), "city.yaml", None, "budget", "required setting is missing"),
    Case("budget zero", setting("budget", 0), "city.yaml", LAST, "budget", "must be a positive number"),
    Case("budget text", setting("budget", "lots"), "city.yaml", LAST, "budget", "must be a positive number"),
    Case("budget not finite", setting("budget", float("inf")), "city.yaml", LAST, "budget", "must be a positive number"),
    Case("unknown basis", setting("population_basis", "hukou"), "city.yaml", LAST, "population_basis", "unknown population basis"),
    Case("headcount fractional", setting("headcount", 10.5), "city.yaml", LAST, "headcount", "positive whole number"),
    Case("city pool negative", setting("city_pool", -3), "city.yaml", LAST, "city_pool", "from 0 to"),
    Case("negative salary", setting("salaries", {"fulltime": -7.0}), "city.yaml", LAST, "salaries.fulltime", "must be a positive number"),
    Case("negative salary, block style", text("city.yaml", "name: tiny\nbudget: 500\nsalaries:\n  fulltime: 7\n  parttime: -1.2\n"),
         "city.yaml", 5, "salaries.parttime", "must be a positive number", -1.2),
    Case("unknown staff type", setting("salaries", {"volunteer": 1.0}), "city.yaml", LAST, "salaries.volunteer", "unknown staff type"),
    Case("salaries not a mapping", setting("salaries", [7, 1]), "city.yaml", LAST, "salaries", "must map staff types"),
    Case("unknown service in city.yaml", setting("services", ["health", "karaoke"]), "city.yaml", LAST, "services", "unknown service"),
    Case("services empty", setting("services", []), "city.yaml", LAST, "services", "non-empty list"),
    Case("site service not planned", setting("services", ["health", "childcare", "education"]), "sites.csv", 7, "service", "not among the city's services"),
    Case("unknown norm", setting("norms", {"magic": 1}), "city.yaml", LAST, "norms.magic", "unknown norm"),
    Case("norms not a mapping", setting("norms", 3), "city.yaml", LAST, "norms", "must be a mapping"),
    Case("coverage minutes unknown service", setting("coverage_minutes", {"karaoke": 15}), "city.yaml", LAST, "coverage_minutes.karaoke", "unknown service"),
    Case("coverage minutes zero", setting("coverage_minutes", {"health": 0}), "city.yaml", LAST, "coverage_minutes.health", "must be a positive number"),
    Case("groups unknown", setting("groups", ["caste"]), "city.yaml", LAST, "groups", "must be a list drawn from"),
    Case("origin out of range", setting("origin", [200, 30]), "city.yaml", LAST, "origin", "[lon, lat] in degrees"),
    Case("tolerance out of range", setting("population_tolerance", 1.5), "city.yaml", LAST, "population_tolerance", "from 0 to below 1"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule_reports_its_place(case: Case, tiny_copy: Path) -> None:
    case.edit(tiny_copy)
    row = last_line(tiny_copy, case.file) if case.row == LAST else case.row
    problem = find(problems_of(tiny_copy), case.file, row, case.column, case.phrase)
    message = str(problem)
    assert message.startswith(case.file)
    if row is not None:
        assert re.search(rf"\brow {row}[,:]", message)
    if case.column is not None:
        assert f"'{case.column}'" in message
    if case.value is not None:
        assert repr(case.value) in message


def test_pop_check_uses_city_tolerance(tiny_copy: Path) -> None:
    cell("grids", 2, "population", "5300")(tiny_copy)          # T1: 10,100 in grids vs 10,000
    load_instance(tiny_copy)                                   # 1 % apart: within the default 2 %
    setting("population_tolerance", 0.005)(tiny_copy)
    find(problems_of(tiny_copy), "towns.csv", 2, "pop_migrant", "more than 0% apart")


def test_bad_cell_is_not_also_blamed_on_the_town_total(tiny_copy: Path) -> None:
    cell("grids", 2, "population", "lots")(tiny_copy)
    problems = problems_of(tiny_copy)
    assert [p.file for p in problems] == ["grids.csv"], problems


def to_degrees(folder: Path) -> None:
    """Every coordinate table in lon/lat (all points at 30°, 30°: valid, if crowded)."""
    for table, rows in (("towns", 4), ("grids", 7), ("sites", 9)):
        rename_column(table, "x", "lon")(folder)
        rename_column(table, "y", "lat")(folder)
        for row in range(2, rows + 1):
            cells(cell(table, row, "lon", "30"), cell(table, row, "lat", "30"))(folder)


def test_table_without_coordinates_is_not_called_mixed(tiny_copy: Path) -> None:
    to_degrees(tiny_copy)
    load_instance(tiny_copy)
    drop_column("sites", "lat")(tiny_copy)
    problems = problems_of(tiny_copy)
    assert [(p.file, p.column) for p in problems] == [("sites.csv", "lat")], problems


def test_row_limit(tiny_copy: Path) -> None:
    find(problems_of(tiny_copy, max_rows=5), "grids.csv", None, None, "rows exceed the limit")


def test_rows_are_numbered_as_a_spreadsheet_shows_them(tiny_copy: Path) -> None:
    """Blank lines count as rows; a quoted cell spanning two lines is one row."""
    rows = read_rows(tiny_copy / "sites.csv")
    rows[1][rows[0].index("site_id")] = "S1"
    body = "\n".join(",".join(r) for r in rows[:2]) + "\n\n" + '"S2",T2,"health",0,8000,300,40,3000,0\n'
    body += '"S3\nsecond line",T3,health,0,3000,200,20,20000,5000\n' + "S2,T1,health,1,1,0,1,x,0\n"
    (tiny_copy / "sites.csv").write_text(body, encoding="utf-8")
    problems = problems_of(tiny_copy)
    find(problems, "sites.csv", 6, "site_id", "already on row 4")
    find(problems, "sites.csv", 6, "x", "must be a number")


# --- several problems at once ---------------------------------------------------------

def test_all_problems_are_reported_together(tiny_copy: Path) -> None:
    cells(setting("budget", -1), cell("districts", 2, "kind", "megacity"), cell("towns", 3, "area_km2", "-2"),
          cell("grids", 4, "town_id", "TX"), cell("sites", 5, "service", "spa"), cell("grids", 6, "events_per_year", "often"))(tiny_copy)
    problems = problems_of(tiny_copy)
    find(problems, "city.yaml", last_line(tiny_copy, "city.yaml"), "budget", "positive")
    find(problems, "districts.csv", 2, "kind", "unknown value")
    find(problems, "towns.csv", 3, "area_km2", "greater than 0")
    find(problems, "grids.csv", 4, "town_id", "not found")
    find(problems, "grids.csv", 6, "events_per_year", "must be a number")
    find(problems, "sites.csv", 5, "service", "unknown value")
    result = CliRunner().invoke(cli.main, ["validate", str(tiny_copy)])
    assert result.exit_code == 2
    assert f"error: {len(problems)} problems in the input" in result.output
    for where in ("city.yaml, row 5, setting 'budget'", "districts.csv, row 2", "towns.csv, row 3", "grids.csv, row 4", "grids.csv, row 6", "sites.csv, row 5"):
        assert where in result.output
    assert "Traceback" not in result.output


def test_clean_instance_prints_a_summary(tiny_dir: Path) -> None:
    result = CliRunner().invoke(cli.main, ["validate", str(tiny_dir)])
    assert result.exit_code == 0, result.output
    for line in ("districts         2", "towns             3", "grids             6", "sites             8",
                 "health             3", "actual* 23,500", "resident 15,000", "registered 18,000", "valid: no problems found"):
        assert line in result.output
    assert len(result.output.splitlines()) <= 25


# --- encodings ------------------------------------------------------------------------

def test_utf8_bom_is_accepted(tiny_dir: Path, tiny_copy: Path) -> None:
    """Excel's "CSV UTF-8" starts every file with a byte-order mark."""
    for file in tiny_copy.iterdir():
        file.write_bytes(b"\xef\xbb\xbf" + file.read_bytes())
    assert load_instance(tiny_copy) == load_instance(tiny_dir)


def test_utf8_chinese_text_loads(tiny_copy: Path) -> None:
    cells(cell("towns", 3, "name", "新城街道"), cell("grids", 2, "community", "北社区"))(tiny_copy)
    city = load_instance(tiny_copy)
    assert city.towns.loc["T2", "name"] == "新城街道"


# --- workbooks and paths --------------------------------------------------------------

@pytest.fixture
def tiny_book(tiny_dir: Path, tmp_path: Path) -> Path:
    return write_workbook(load_instance(tiny_dir), tmp_path / "tiny.xlsx")


def edit_book(path: Path, change: Callable[[openpyxl.Workbook], None]) -> None:
    book = openpyxl.load_workbook(path)
    change(book)
    book.save(path)


def test_workbook_sheet_missing(tiny_book: Path) -> None:
    edit_book(tiny_book, lambda b: b.remove(b["grids"]))
    find(problems_of(tiny_book), "tiny.xlsx[grids]", None, None, "required sheet is missing")


def test_workbook_city_sheet_missing(tiny_book: Path) -> None:
    edit_book(tiny_book, lambda b: b.remove(b["city"]))
    find(problems_of(tiny_book), "tiny.xlsx[city]", None, None, "required sheet is missing")


def test_workbook_empty_sheet(tiny_book: Path) -> None:
    edit_book(tiny_book, lambda b: b["towns"].delete_rows(1, 100))
    find(problems_of(tiny_book), "tiny.xlsx[towns]", None, None, "sheet is empty")


def test_workbook_cell_problems_name_sheet_and_row(tiny_book: Path) -> None:
    def change(book: openpyxl.Workbook) -> None:
        book["grids"]["F4"] = -3                     # population of G3
        book["sites"]["C2"] = "spa"
        book["towns"].append(["T4", "D1", "Far", "street", 1, 1, 0, 1, 0, 0, 0, 0, "surplus"])
    edit_book(tiny_book, change)
    problems = problems_of(tiny_book)
    find(problems, "tiny.xlsx[grids]", 4, "population", "must not be negative")
    find(problems, "tiny.xlsx[sites]", 2, "service", "unknown value")
    find(problems, "tiny.xlsx[towns]", 5, None, "beyond the last named column")


def test_workbook_setting_problems(tiny_book: Path) -> None:
    def change(book: openpyxl.Workbook) -> None:
        book["city"].append(["budget", "600"])
        book["city"].append(["headcount", "[12"])
        book["city"].append(["sevrices", "[health]"])
        salaries = next(row for row in book["city"].iter_rows() if row[0].value == "salaries")
        salaries[1].value = "{fulltime: -7}"
    edit_book(tiny_book, change)
    problems = problems_of(tiny_book)
    sheet = openpyxl.load_workbook(tiny_book)["city"]
    rows = sheet.max_row
    salaries_row = next(row[0].row for row in sheet.iter_rows() if row[0].value == "salaries")
    find(problems, "tiny.xlsx[city]", rows - 2, "budget", "appears twice")
    find(problems, "tiny.xlsx[city]", rows - 1, "headcount", "not valid YAML")
    find(problems, "tiny.xlsx[city]", rows, "sevrices", "unknown setting")
    find(problems, "tiny.xlsx[city]", salaries_row, "salaries.fulltime", "must be a positive number")


def test_file_that_is_not_a_workbook(tmp_path: Path) -> None:
    fake = tmp_path / "city.xlsx"
    fake.write_text("district_id,name\nD1,x\n")
    find(problems_of(fake), "city.xlsx", None, None, "not a readable Excel workbook")


def test_path_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    find(problems_of(missing), str(missing), None, None, "no such file or folder")
    result = CliRunner().invoke(cli.main, ["validate", str(missing)])
    assert result.exit_code == 2 and "no such file or folder" in result.output


def test_path_of_another_kind(tiny_dir: Path) -> None:
    find(problems_of(tiny_dir / "towns.csv"), str(tiny_dir / "towns.csv"), None, None, "folder (city.yaml + CSV files) or an .xlsx workbook")


def test_table_that_is_a_folder(tiny_copy: Path) -> None:
    (tiny_copy / "sites.csv").unlink()
    (tiny_copy / "sites.csv").mkdir()
    find(problems_of(tiny_copy), "sites.csv", None, None, "not a regular file")


# --- a clean column typed at once gives what cell-by-cell typing gives -----------------------

CELL_TEXTS = ("0", "1", "2", " 3 ", "1.5", "-0", "-2", "1e3", "1_000", "7.0", "1e12", "181", "-91", "89.5", "inf", "nAn",
              "nan", "NA", "", " ", "abc", "core", "CORE", " outer ", "x", "0.0", "1.0")


@pytest.mark.parametrize("table", [t.name for t in TABLES])
def test_a_column_typed_at_once_equals_the_column_typed_cell_by_cell(table, monkeypatch):
    """`_clean_column` may only type columns that cell-by-cell typing passes without a problem, and
    must give the same values of the same Python types; random columns of edge-case texts try it."""
    from allocator.data import validate
    from allocator.data.readers import RawTable
    from allocator.data.schema import LONLAT, TABLE_BY_NAME

    rng = random.Random(table)
    spec_of = TABLE_BY_NAME[table]
    accepted = 0
    for spec in (*spec_of.columns, *LONLAT):
        for _ in range(60):
            pool = rng.sample(CELL_TEXTS, rng.randint(1, 3))
            cells = [rng.choice(pool) for _ in range(rng.randint(1, 6))]
            raw = RawTable(table, f"{table}.csv", [spec.name], [[c] for c in cells], list(range(2, 2 + len(cells))))
            fast = validate._clean_column(spec, cells)
            problems: list = []
            monkeypatch.setattr(validate, "_clean_column", lambda spec, cells: None)
            slow = validate._type_column(raw, spec, cells, problems)
            monkeypatch.undo()
            if fast is None:
                continue
            accepted += 1
            assert problems == [], (spec.name, cells)
            assert [(type(v), v) for v in fast] == [(type(v), v) for v in slow], (spec.name, cells)
    assert accepted > 0
