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

from allocator.errors import InputError, Problem
from allocator.data.schema import TABLES, TEXT_SETTINGS, Table, description_cells

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
    config_rows: dict[str, int] = field(default_factory=dict)   # setting -> row it is written on


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
    config, rows = _read_yaml(folder / "city.yaml", problems)
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
    return RawInstance(config, "city.yaml", tables, str(folder), rows), problems


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


def _read_yaml(file: Path, problems: list[Problem]) -> tuple[dict[str, Any] | None, dict[str, int]]:
    if not file.exists():
        problems.append(Problem("city.yaml", "required file is missing"))
        return None, {}
    text = _read_bytes(file, "city.yaml", problems)
    if text is None:
        return None, {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        row = mark.line + 1 if mark is not None else None
        problems.append(Problem("city.yaml", f"not valid YAML ({getattr(err, 'problem', None) or err})", row=row))
        return None, {}
    if not isinstance(data, dict):
        problems.append(Problem("city.yaml", "must be a mapping of settings (name: ..., budget: ...)"))
        return None, {}
    return data, _yaml_rows(text)


def _yaml_rows(text: str) -> dict[str, int]:
    """Line of each setting, and of each key one level down ("salaries.fulltime")."""
    rows: dict[str, int] = {}
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    for key, value in node.value if isinstance(node, yaml.MappingNode) else ():
        if not isinstance(key, yaml.ScalarNode):
            continue
        rows[key.value] = key.start_mark.line + 1
        for inner, _ in value.value if isinstance(value, yaml.MappingNode) else ():
            if isinstance(inner, yaml.ScalarNode):
                rows[f"{key.value}.{inner.value}"] = inner.start_mark.line + 1
    return rows


def _read_csv(file: Path, table: Table, problems: list[Problem]) -> RawTable | None:
    """Rows are numbered as a spreadsheet shows them: one row per CSV record, header = row 1."""
    text = _read_bytes(file, table.file, problems)
    if text is None:
        return None
    if not text.strip():
        problems.append(Problem(table.file, "file is empty; it needs a header row and data rows"))
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    number = 1
    try:
        header = [h.strip() for h in next(reader)]
        if not any(header):
            problems.append(Problem(table.file, "the header row is empty; row 1 must name the columns", row=1))
            return None
        raw = RawTable(table.name, table.file, header)
        for number, record in enumerate(reader, start=2):
            _add_csv_record(raw, table, number, record, problems)
    except csv.Error as err:
        problems.append(Problem(table.file, f"not readable as CSV ({err})", row=number + 1))
        return None
    return raw


def _add_csv_record(raw: RawTable, table: Table, number: int, record: list[str], problems: list[Problem]) -> None:
    if not record or all(not c.strip() for c in record):
        return
    if len(record) != len(raw.header):
        problems.append(Problem(raw.file, f"row has {len(record)} fields but the header has {len(raw.header)}", row=number))
        return
    if number == 2 and _is_description_row(record, description_cells(table)):
        return
    raw.rows.append(record)
    raw.row_numbers.append(number)


# --- workbook -------------------------------------------------------------------------

def read_workbook(path: Path) -> tuple[RawInstance, list[Problem]]:
    import openpyxl

    shown = path.name
    try:
        # data_only: a formula cell is read as the value Excel last computed, never evaluated
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises many types for corrupt files
        raise InputError(Problem(shown, f"not a readable Excel workbook ({type(err).__name__}: {err})")) from None
    problems: list[Problem] = []
    try:
        sheets = {name.strip(): book[name] for name in book.sheetnames}
        config, rows = _config_from_sheet(sheets.get("city"), shown, problems)
        tables: dict[str, RawTable] = {}
        for table in TABLES:
            sheet = sheets.get(table.name)
            if sheet is None:
                if table.required:
                    problems.append(Problem(f"{shown}[{table.name}]", "required sheet is missing from the workbook"))
                continue
            raw = _sheet_table(sheet, table, f"{shown}[{table.name}]", problems)
            if raw is not None:
                tables[table.name] = raw
    finally:
        book.close()
    return RawInstance(config, f"{shown}[city]", tables, str(path), rows), problems


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


def _sheet_table(sheet, table: Table, shown: str, problems: list[Problem]) -> RawTable | None:
    rows = _sheet_rows(sheet)
    if not rows:
        problems.append(Problem(shown, "sheet is empty; it needs a header row and data rows"))
        return None
    header_number, header = rows[0]
    while header and not header[-1].strip():
        header.pop()
    header = [h.strip() for h in header]
    raw = RawTable(table.name, shown, header)
    for number, cells in rows[1:]:
        if any(c.strip() for c in cells[len(header):]):
            problems.append(Problem(shown, f"row has values beyond the last named column ({len(header)} columns in the header)", row=number))
            continue
        cells = (cells + [""] * len(header))[: len(header)]
        if number == header_number + 1 and _is_description_row(cells, description_cells(table)):
            continue
        raw.rows.append(cells)
        raw.row_numbers.append(number)
    return raw


def _is_description_row(cells: list[str], descriptions: set[str]) -> bool:
    """The template's second row (meaning and unit of each column) is not data."""
    filled = [c.strip() for c in cells if c.strip()]
    return bool(filled) and all(c in descriptions for c in filled)




def _config_from_sheet(sheet, shown: str, problems: list[Problem]) -> tuple[dict[str, Any] | None, dict[str, int]]:
    """Sheet `city`: column A a setting's name, column B its value (YAML for lists and maps)."""
    where = f"{shown}[city]"
    if sheet is None:
        problems.append(Problem(where, "required sheet is missing from the workbook"))
        return None, {}
    config: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for number, cells in _sheet_rows(sheet):
        key = cells[0].strip()
        value = cells[1] if len(cells) > 1 else ""
        if (number == 1 and key == "setting") or not key or key.startswith("#"):
            continue
        if key in seen:
            problems.append(Problem(where, f"setting appears twice (first on row {seen[key]})", row=number, column=key, label="setting"))
            continue
        seen[key] = number
        config[key] = _setting_value(key, value, where, number, problems)
    return config, seen


def _setting_value(key: str, value: str, where: str, number: int, problems: list[Problem]) -> Any:
    if not value.strip():
        return None
    if key in TEXT_SETTINGS:
        return value.strip()
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        problems.append(Problem(where, "value is not valid YAML", row=number, column=key, value=value, label="setting"))
        return None
