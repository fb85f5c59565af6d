"""Reading raw tables from a folder of CSV files or one Excel workbook.

Readers return every cell as text with the row number the user sees, and never
interpret values: typing is the validator's job. Problems with the files themselves
(missing, empty, wrong encoding, ragged rows, unreadable workbook) become `Problem`s.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError, Problem
from .schema import TABLES, Table

MAX_FILE_BYTES = 2 * 1024**3


@dataclass
class RawTable:
    """A table as the user wrote it: header, rows of text, and each row's visible number."""

    name: str
    file: str                     # name shown in messages: "towns.csv" or "book.xlsx[towns]"
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)


@dataclass
class RawInstance:
    config: dict[str, Any] | None
    config_file: str
    tables: dict[str, RawTable]
    source: str


def read_source(path: Path) -> tuple[RawInstance, list[Problem]]:
    if not path.exists():
        raise InputError(Problem(str(path), "no such file or folder"))
    if path.is_dir():
        return read_folder(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return read_workbook(path)
    raise InputError(Problem(str(path), "an instance is a folder (city.yaml + CSV files) or an .xlsx workbook"))


# --- folder ---------------------------------------------------------------------------

def read_folder(folder: Path) -> tuple[RawInstance, list[Problem]]:
    problems: list[Problem] = []
    config = _read_yaml(folder / "city.yaml", problems)
    tables: dict[str, RawTable] = {}
    for table in TABLES:
        file = folder / table.file
        if not file.exists():
            if table.required:
                problems.append(Problem(table.file, f"required file is missing from {folder}"))
            continue
        raw = _read_csv(file, table, problems)
        if raw is not None:
            tables[table.name] = raw
    return RawInstance(config, "city.yaml", tables, str(folder)), problems


def _read_bytes(file: Path, shown: str, problems: list[Problem]) -> str | None:
    if not file.is_file():
        problems.append(Problem(shown, "is not a regular file"))
        return None
    if file.stat().st_size > MAX_FILE_BYTES:
        problems.append(Problem(shown, f"file is larger than {MAX_FILE_BYTES // 1024**2} MiB"))
        return None
    data = file.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        problems.append(Problem(shown, "file is UTF-16 encoded; save it as UTF-8 (CSV UTF-8 in Excel)"))
        return None
    if data.startswith(b"\xef\xbb\xbf"):   # Excel's "CSV UTF-8" writes a BOM: accepted
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        problems.append(Problem(shown, "file is not UTF-8 text (perhaps GBK); save it as UTF-8", row=line))
        return None
    if "\x00" in text:
        problems.append(Problem(shown, "file contains NUL bytes; it is not a text file", row=text[: text.index("\x00")].count("\n") + 1))
        return None
    if "\ufeff" in text:
        line = text[: text.index("\ufeff")].count("\n") + 1
        problems.append(Problem(shown, "stray byte-order mark (U+FEFF) inside the file; remove it", row=line))
        return None
    return text


def _read_yaml(file: Path, problems: list[Problem]) -> dict[str, Any] | None:
    if not file.exists():
        problems.append(Problem("city.yaml", "required file is missing"))
        return None
    text = _read_bytes(file, "city.yaml", problems)
    if text is None:
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        row = mark.line + 1 if mark is not None else None
        problems.append(Problem("city.yaml", f"not valid YAML ({getattr(err, 'problem', None) or err})", row=row))
        return None
    if not isinstance(data, dict):
        problems.append(Problem("city.yaml", "must be a mapping of settings (name: ..., budget: ...)"))
        return None
    return data


def _read_csv(file: Path, table: Table, problems: list[Problem]) -> RawTable | None:
    text = _read_bytes(file, table.file, problems)
    if text is None:
        return None
    if not text.strip():
        problems.append(Problem(table.file, "file is empty; it needs a header row and data rows"))
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
        raw = RawTable(table.name, table.file, header)
        for record in reader:
            if not record or all(not c.strip() for c in record):
                continue
            if len(record) != len(header):
                problems.append(Problem(table.file, f"row has {len(record)} fields but the header has {len(header)}", row=reader.line_num))
                continue
            raw.rows.append(record)
            raw.row_numbers.append(reader.line_num)
    except csv.Error as err:
        problems.append(Problem(table.file, f"not readable as CSV ({err})", row=reader.line_num))
        return None
    return raw


# --- workbook -------------------------------------------------------------------------

def read_workbook(path: Path) -> tuple[RawInstance, list[Problem]]:
    import openpyxl
    from .template import description_row

    shown = path.name
    try:
        # data_only: a formula cell is read as the value Excel last computed, never evaluated
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises many types for corrupt files
        raise InputError(Problem(shown, f"not a readable Excel workbook ({type(err).__name__}: {err})")) from None
    problems: list[Problem] = []
    try:
        sheets = {name.strip(): book[name] for name in book.sheetnames}
        config = _config_from_sheet(sheets.get("city"), shown, problems)
        tables: dict[str, RawTable] = {}
        for table in TABLES:
            sheet = sheets.get(table.name)
            if sheet is None:
                if table.required:
                    problems.append(Problem(f"{shown}[{table.name}]", "required sheet is missing from the workbook"))
                continue
            raw = _sheet_table(sheet, table, f"{shown}[{table.name}]", description_row(table), problems)
            if raw is not None:
                tables[table.name] = raw
    finally:
        book.close()
    return RawInstance(config, f"{shown}[city]", tables, str(path)), problems


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _sheet_rows(sheet) -> list[tuple[int, list[str]]]:
    out = []
    for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
        cells = [_cell_text(v) for v in row]
        if any(c.strip() for c in cells):
            out.append((number, cells))
    return out


def _sheet_table(sheet, table: Table, shown: str, descriptions: list[str], problems: list[Problem]) -> RawTable | None:
    rows = _sheet_rows(sheet)
    if not rows:
        problems.append(Problem(shown, "sheet is empty; it needs a header row and data rows"))
        return None
    header_number, header = rows[0]
    while header and not header[-1].strip():
        header.pop()
    header = [h.strip() for h in header]
    raw = RawTable(table.name, shown, header)
    described = dict(zip(table_columns(table), descriptions))
    for number, cells in rows[1:]:
        cells = (cells + [""] * len(header))[: len(header)]
        if number == header_number + 1 and _is_description_row(header, cells, described):
            continue
        raw.rows.append(cells)
        raw.row_numbers.append(number)
    return raw


def table_columns(table: Table) -> list[str]:
    return [c.name for c in table.columns]


def _is_description_row(header: list[str], cells: list[str], described: dict[str, str]) -> bool:
    """The template's second row (meaning and unit of each column) is not data."""
    pairs = [(h, c) for h, c in zip(header, cells) if c.strip()]
    return bool(pairs) and all(described.get(h) == c for h, c in pairs)


def _config_from_sheet(sheet, shown: str, problems: list[Problem]) -> dict[str, Any] | None:
    """Sheet `city`: column A a setting's name, column B its value (YAML for lists and maps)."""
    where = f"{shown}[city]"
    if sheet is None:
        problems.append(Problem(where, "required sheet is missing from the workbook"))
        return None
    config: dict[str, Any] = {}
    for number, cells in _sheet_rows(sheet):
        key = cells[0].strip()
        value = cells[1] if len(cells) > 1 else ""
        if number == 1 and key == "setting":
            continue
        if not key or key.startswith("#"):
            continue
        try:
            config[key] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            problems.append(Problem(where, "value is not valid YAML", row=number, column="value", value=value))
    return config
