"""The tiny city as a model of cells, written as a folder or a workbook: what tests/test_validate_fuzz.py
corrupts. Cells are text as a spreadsheet shows them; `spec` gives a column's rule from the schema."""
from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import yaml

from allocator.data.schema import LONLAT, TABLE_BY_NAME, Column
from allocator.data.schema import describe_column

TINY = Path(__file__).parent / "data" / "tiny"
BOOK = "tiny.xlsx"
TABLE_NAMES = ("districts", "towns", "grids", "sites")
COORD_TABLES = ("towns", "grids", "sites")
ORIGIN = (116.397, 39.909)


# --- the city as a model of cells -----------------------------------------------------

@dataclass
class City:
    config: dict
    tables: dict[str, list[list[str]]]          # header row first
    blank_rows: dict[str, int] = field(default_factory=dict)   # table -> position of a blank row
    described: set[str] = field(default_factory=set)           # tables given a description row
    bom: bool = False
    crlf: bool = False

    @classmethod
    def tiny(cls, base: str) -> "City":
        config = yaml.safe_load((TINY / "city.yaml").read_text())
        tables = {n: list(csv.reader(io.StringIO((TINY / f"{n}.csv").read_text()))) for n in TABLE_NAMES}
        city = cls(config, tables)
        if base == "lonlat":
            for name in COORD_TABLES:
                _to_lonlat(city.tables[name])
        return city

    def header(self, table: str) -> list[str]:
        return self.tables[table][0]

    def data(self, table: str) -> list[list[str]]:
        return self.tables[table][1:]


def _to_lonlat(rows: list[list[str]]) -> None:
    ix, iy = rows[0].index("x"), rows[0].index("y")
    rows[0][ix], rows[0][iy] = "lon", "lat"
    for r in rows[1:]:
        lat = ORIGIN[1] + float(r[iy]) / 111_195.0
        r[ix], r[iy] = f"{ORIGIN[0] + float(r[ix]) / (111_195.0 * math.cos(math.radians(lat))):.6f}", f"{lat:.6f}"


def spec(table: str, column: str) -> Column | None:
    for c in (*TABLE_BY_NAME[table].columns, *LONLAT):
        if c.name == column:
            return c
    return None


def num(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# --- writing the model as files -------------------------------------------------------

def csv_text(rows: list[list[str]], crlf: bool) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n" if crlf else "\n").writerows(rows)
    return out.getvalue()


def shown_rows(city: City, table: str) -> list[list[str]]:
    """Rows as written, with the neutral blank row and description row in place."""
    rows = [list(r) for r in city.tables[table]]
    if table in city.blank_rows:
        rows.insert(min(city.blank_rows[table], len(rows)), [""] * len(rows[0]))
    if table in city.described:
        texts = {c.name: describe_column(c) for c in (*TABLE_BY_NAME[table].columns, *LONLAT)}
        rows.insert(1, [texts.get(h, "") for h in rows[0]])
    return rows


def write_folder(city: City, folder: Path) -> Path:
    folder.mkdir()
    prefix = "\ufeff" if city.bom else ""
    (folder / "city.yaml").write_text(prefix + yaml.safe_dump(city.config, allow_unicode=True), encoding="utf-8")
    for name in city.tables:
        (folder / f"{name}.csv").write_text(prefix + csv_text(shown_rows(city, name), city.crlf), encoding="utf-8", newline="")
    return folder


PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def excel_value(text: str) -> object:
    if text == "":
        return None
    if PLAIN_NUMBER.fullmatch(text):
        return float(text) if "." in text else int(text)
    return text


def setting_text(key: str, value: object) -> str | None:
    """A setting as a planner types it: text as is, nothing as an empty cell, lists as YAML."""
    if value is None or (key in ("name", "description") and isinstance(value, str)):
        return value
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).removesuffix("\n").removesuffix("\n...")


def write_book(city: City, path: Path) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    sheet = book.create_sheet("city")
    sheet.append(["setting", "value"])
    for key, value in city.config.items():
        sheet.append([key, setting_text(key, value)])
    for name in city.tables:
        sheet = book.create_sheet(name)
        for row in shown_rows(city, name):
            sheet.append([excel_value(c) for c in row])
    book.save(path)
    return path
