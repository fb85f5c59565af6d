"""No live formula in any file a spreadsheet opens: plan tables, `export`, `compare --format
xlsx|csv`. Text starting with =, +, -, @, tab or CR is text (a leading ' in CSV, a text cell with
Excel's quote prefix in a workbook); numbers, negative ones included, stay numbers; a plan's
tables read back exactly as they were."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from allocator import cli
from allocator.data.loader import load_instance
from allocator.data.writers import write_workbook
from allocator.plans.plan import read_plan

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny"
STARTS = ("=", "+", "-", "@", "\t", "\r")
EVIL = {"Centre": '=HYPERLINK("http://evil.example","click")', "Outskirts": "@SUM(1+1)*cmd|' /C calc'!A0",
        "Old Town": "+1+cmd", "New Town": "-2+3", "Hill Village": "\t=1+1"}
CITY_NAME = "=cmd|' /C calc'!A0"


def invoke(*args):
    return CliRunner().invoke(cli.main, [str(a) for a in args])


def csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


@pytest.fixture(scope="module")
def evil(tmp_path_factory) -> dict[str, Path]:
    """The tiny city with district and town names (and its own name) written as formulas, and two
    enforcement plans of it, the second with fewer officers (negative deltas)."""
    root = tmp_path_factory.mktemp("evil")
    city = root / "city"
    shutil.copytree(TINY, city)
    for name in ("districts.csv", "towns.csv"):
        path = city / name
        text = path.read_text(encoding="utf-8")
        for plain, formula in EVIL.items():
            text = text.replace(f",{plain},", f",{csv_field(formula)},")
        path.write_text(text, encoding="utf-8")
    config = city / "city.yaml"
    config.write_text(config.read_text().replace("name: tiny", f"name: \"{CITY_NAME}\""))
    result = invoke("validate", city)
    assert result.exit_code == 0, result.output
    paths = {"city": city}
    for key, headcount in (("rich", 22), ("maxmin", 17)):
        out = root / key
        result = invoke("solve", city, "--model", "enforcement", "--headcount", headcount, "--threads", "1", "--out", out)
        assert result.exit_code == 0, result.output
        paths[key] = out
    return paths


def live_csv_cells(path: Path) -> list[str]:
    """Cells a spreadsheet would run: text starting with a formula character that is not a number."""
    with open(path, newline="", encoding="utf-8") as f:
        cells = [cell for row in csv.reader(f) for cell in row]
    return [c for c in cells if c[:1] in STARTS and not _number(c)]


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def workbook_cells(path: Path) -> list:
    book = openpyxl.load_workbook(path)
    return [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]


def assert_no_live_formula(path: Path) -> list:
    cells = workbook_cells(path)
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    risky = [c for c in cells if isinstance(c.value, str) and c.value[:1] in STARTS]
    assert risky and all(c.data_type == "s" and c.quotePrefix for c in risky)
    texts = {c.value for c in cells if isinstance(c.value, str)}
    assert EVIL["Centre"] in texts                     # the name itself, shown as it is
    return cells


def test_plan_tables_quote_formula_text_and_read_back_exactly(evil):
    plan = evil["maxmin"]
    for table in plan.glob("*.csv"):
        assert live_csv_cells(table) == [], table.name
    with open(plan / "districts.csv", newline="", encoding="utf-8") as f:
        names = [row["name"] for row in csv.DictReader(f)]
    assert "'" + EVIL["Centre"] in names
    assert set(read_plan(plan).tables["districts"]["name"]) == {EVIL["Centre"], EVIL["Outskirts"]}
    result = invoke("check", plan, evil["city"])
    assert result.exit_code == 0, result.output


def test_export_writes_no_live_formula(evil, tmp_path):
    out = tmp_path / "plan.xlsx"
    result = invoke("export", evil["maxmin"], out, "--instance", evil["city"])
    assert result.exit_code == 0, result.output
    cells = assert_no_live_formula(out)
    assert any(c.data_type == "n" and isinstance(c.value, (int, float)) for c in cells)


def test_compare_xlsx_writes_no_live_formula_and_keeps_negative_numbers(evil, tmp_path):
    out = tmp_path / "cmp.xlsx"
    result = invoke("compare", evil["rich"], evil["maxmin"], "--out", out, "--instance", evil["city"])
    assert result.exit_code == 0, result.output
    cells = assert_no_live_formula(out)
    negative = [c for c in cells if isinstance(c.value, (int, float)) and c.value < 0]
    assert negative and all(c.data_type == "n" for c in negative)


def test_compare_csv_quotes_formula_text_but_not_negative_numbers(evil, tmp_path):
    out = tmp_path / "cmp.csv"
    result = invoke("compare", evil["rich"], evil["maxmin"], "--out", out, "--instance", evil["city"])
    assert result.exit_code == 0, result.output
    assert live_csv_cells(out) == []
    with open(out, newline="", encoding="utf-8") as f:
        cells = [cell for row in csv.reader(f) for cell in row]
    assert "'" + EVIL["Centre"] in cells
    assert any(c.startswith("-") and _number(c) for c in cells)          # a delta below zero, still a number


def test_an_instance_workbook_keeps_formula_text_as_text_and_reads_back_equal(evil, tmp_path):
    city = load_instance(evil["city"])
    out = write_workbook(city, tmp_path / "city.xlsx")
    assert_no_live_formula(out)
    assert load_instance(out) == city
