"""Reading raw tables from a folder of CSV files or one Excel workbook.

Readers return every cell as text with the row number the user sees, and never
interpret values: typing is the validator's job. Problems with the files themselves
(missing, empty, wrong encoding, ragged rows, unreadable workbook) become `Problem`s.
"""
from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from allocator.errors import InputError, Problem
from allocator.data.schema import TABLES, TEXT_SETTINGS, Table, description_cells

MAX_FILE_BYTES = 2 * 1024**3
MAX_CELL_CHARS = 32_767          # Excel's own limit of a cell; a longer cell is no planner's data
MAX_YAML_NODES = 10_000          # values in city.yaml once its aliases (*name) are expanded
MAX_YAML_DEPTH = 20              # lists and mappings nested in city.yaml


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


def read_source(path: Path, max_rows: int | None = None) -> tuple[RawInstance, list[Problem]]:
    """Every table is read row by row and refused as soon as it passes `max_rows` data rows."""
    if not path.exists():
        raise InputError(Problem(str(path), "no such file or folder"))
    if path.is_dir():
        return read_folder(path, max_rows)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return read_workbook(path, max_rows)
    raise InputError(Problem(str(path), "an instance is a folder (city.yaml + CSV files) or an .xlsx workbook"))


# --- folder ---------------------------------------------------------------------------

def read_folder(folder: Path, max_rows: int | None = None) -> tuple[RawInstance, list[Problem]]:
    problems: list[Problem] = []
    config, rows = _read_yaml(folder / "city.yaml", problems)
    tables: dict[str, RawTable] = {}
    for table in TABLES:
        file = folder / table.file
        if not file.exists():
            if table.required:
                problems.append(Problem(table.file, f"required file is missing from {folder}"))
            continue
        raw = _read_csv(file, table, problems, max_rows)
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


class _TooLarge(yaml.MarkedYAMLError):
    """city.yaml nests or expands beyond what a city's settings need (not a syntax error)."""


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, bounded while it composes, before any alias is expanded: values nested
    deeper than MAX_YAML_DEPTH, or more than MAX_YAML_NODES values once every alias (*name) is
    counted where it is used, are refused (a few hundred bytes of aliases can stand for billions
    of values). A key written twice in one mapping is recorded in `duplicates`."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.depth = 0
        self.sizes: dict[int, int] = {}                        # id(node) -> values it stands for
        self.labels: list[str] = []                            # keys leading to the node composed
        self.duplicates: list[tuple[str, int, int]] = []       # (dotted key, row, row of the first)

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)         # the anchored node, already counted
        if self.depth >= MAX_YAML_DEPTH:
            raise _TooLarge(None, None, f"values are nested more than {MAX_YAML_DEPTH} levels deep",
                            self.peek_event().start_mark)
        self.depth += 1
        self.labels.append(index.value if isinstance(index, yaml.ScalarNode) else "")
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
            self.labels.pop()
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else \
            node.value if isinstance(node, yaml.SequenceNode) else []
        size = 1 + sum(self.sizes.get(id(child), 1) for child in children)
        self.sizes[id(node)] = size
        if size > MAX_YAML_NODES:
            raise _TooLarge(None, None, f"aliases (*name) expand to more than {MAX_YAML_NODES:,} values; write the "
                                        "values out instead", node.start_mark)
        return node

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        first: dict[str, int] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue
            row = key.start_mark.line + 1
            if key.value in first:
                dotted = ".".join([*(label for label in self.labels if label), key.value])
                self.duplicates.append((dotted, row, first[key.value]))
            else:
                first[key.value] = row
        return node


def load_yaml(text: str) -> tuple[Any, yaml.Node | None, list[tuple[str, int, int]]]:
    """YAML text as values, its node tree and its duplicate keys, read with `_BoundedLoader`.
    Raises yaml.YAMLError (a `_TooLarge` one for text nested or expanding beyond the bounds)."""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
        return data, node, loader.duplicates
    finally:
        loader.dispose()


def _yaml_problem(err: yaml.YAMLError) -> tuple[str, int | None]:
    """The words and row of a YAML error."""
    mark = getattr(err, "problem_mark", None)
    row = mark.line + 1 if mark is not None else None
    if isinstance(err, _TooLarge):
        return f"refused: {err.problem}", row
    return f"not valid YAML ({getattr(err, 'problem', None) or err})", row


def _duplicate_problems(where: str, duplicates) -> list[Problem]:
    return [Problem(where, f"setting appears twice (first on row {first}); keep one: only one value can hold",
                    row=row, column=key, label="setting")
            for key, row, first in duplicates]


def _read_yaml(file: Path, problems: list[Problem]) -> tuple[dict[str, Any] | None, dict[str, int]]:
    if not file.exists():
        problems.append(Problem("city.yaml", "required file is missing"))
        return None, {}
    text = _read_bytes(file, "city.yaml", problems)
    if text is None:
        return None, {}
    try:
        data, node, duplicates = load_yaml(text)
    except yaml.YAMLError as err:
        rule, row = _yaml_problem(err)
        problems.append(Problem("city.yaml", rule, row=row))
        return None, {}
    if not isinstance(data, dict):
        problems.append(Problem("city.yaml", "must be a mapping of settings (name: ..., budget: ...)"))
        return None, {}
    if duplicates:
        problems.extend(_duplicate_problems("city.yaml", duplicates))
        return None, {}
    return data, _yaml_rows(node)


def _yaml_rows(node: yaml.Node | None) -> dict[str, int]:
    """Line of each setting, and of each key one level down ("salaries.fulltime")."""
    rows: dict[str, int] = {}
    for key, value in node.value if isinstance(node, yaml.MappingNode) else ():
        if not isinstance(key, yaml.ScalarNode):
            continue
        rows[key.value] = key.start_mark.line + 1
        for inner, _ in value.value if isinstance(value, yaml.MappingNode) else ():
            if isinstance(inner, yaml.ScalarNode):
                rows[f"{key.value}.{inner.value}"] = inner.start_mark.line + 1
    return rows


def _read_csv(file: Path, table: Table, problems: list[Problem], max_rows: int | None = None) -> RawTable | None:
    """Rows are numbered as a spreadsheet shows them: one row per CSV record, header = row 1.
    More than `max_rows` records after the header are refused as soon as they are passed."""
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
        if _long_cells(table.file, [], 1, header, problems):
            return None
        if not any(header):
            problems.append(Problem(table.file, "the header row is empty; row 1 must name the columns", row=1))
            return None
        raw = RawTable(table.name, table.file, header)
        for number, record in enumerate(reader, start=2):
            if max_rows is not None and number > max_rows + 1:
                raise InputError(too_many_rows(table.file, max_rows))
            _add_csv_record(raw, table, number, record, problems)
    except csv.Error as err:
        problems.append(Problem(table.file, f"not readable as CSV ({err})", row=number + 1))
        return None
    return raw


def too_many_rows(shown: str, max_rows: int) -> Problem:
    return Problem(shown, f"has more than {max_rows:,} rows, the limit per table; raise the limit (allocator --max-rows N, "
                          "or ALLOCATOR_MAX_ROWS) if the city is really so large")


def _long_cells(shown: str, header: list[str], number: int, cells: list[str], problems: list[Problem]) -> bool:
    """Report each cell longer than MAX_CELL_CHARS; True if there was one."""
    long = [i for i, c in enumerate(cells) if len(c) > MAX_CELL_CHARS]
    for i in long:
        column = header[i] if i < len(header) and header[i] else f"column {i + 1}"
        problems.append(Problem(shown, f"cell holds {len(cells[i]):,} characters; a cell holds at most {MAX_CELL_CHARS:,}",
                                row=number, column=column))
    return bool(long)


def _add_csv_record(raw: RawTable, table: Table, number: int, record: list[str], problems: list[Problem]) -> None:
    if not record or all(not c.strip() for c in record):
        return
    if _long_cells(raw.file, raw.header, number, record, problems):
        return
    if len(record) != len(raw.header):
        problems.append(Problem(raw.file, f"row has {len(record)} fields but the header has {len(raw.header)}", row=number))
        return
    if number == 2 and _is_description_row(record, description_cells(table)):
        return
    raw.rows.append(record)
    raw.row_numbers.append(number)


# --- workbook -------------------------------------------------------------------------

def read_workbook(path: Path, max_rows: int | None = None) -> tuple[RawInstance, list[Problem]]:
    """Every sheet read to its last real row (never trusting the size the file declares in
    `<dimension>`), refused as soon as it passes `max_rows` rows."""
    import openpyxl

    shown = path.name
    check_workbook_parts(path)
    try:
        # data_only: a formula cell is read as the value Excel last computed, never evaluated
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises many types for corrupt files
        raise InputError(Problem(shown, f"not a readable Excel workbook ({type(err).__name__}: {err})")) from None
    problems: list[Problem] = []
    try:
        sheets = {name.strip(): book[name] for name in book.sheetnames}
        config, rows = _config_from_sheet(sheets.get("city"), shown, problems, max_rows)
        tables: dict[str, RawTable] = {}
        for table in TABLES:
            sheet = sheets.get(table.name)
            if sheet is None:
                if table.required:
                    problems.append(Problem(f"{shown}[{table.name}]", "required sheet is missing from the workbook"))
                continue
            raw = _sheet_table(sheet, table, f"{shown}[{table.name}]", problems, max_rows)
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


def check_workbook_parts(path: Path) -> None:
    """Before the workbook is opened: what it unpacks to stays within MAX_FILE_BYTES, and no text in
    its sheets or shared strings is longer than a cell can be (a small file can unpack to one cell
    of hundreds of MB). Text is measured in bytes, 6 per character at most (UTF-8 or an entity);
    a cell within that bound but above MAX_CELL_CHARS is reported with its row and column later."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):   # read_workbook reports an unreadable workbook with the details
        return
    with archive:
        parts = archive.infolist()
        unpacked = sum(p.file_size for p in parts)
        if unpacked > MAX_FILE_BYTES:
            raise InputError(Problem(path.name, f"unpacks to {unpacked / 1024**2:,.0f} MiB, more than the "
                                                f"{MAX_FILE_BYTES // 1024**2:,} MiB a workbook may hold"))
        for part in parts:
            name = part.filename.lower()
            if name.endswith(".xml") and ("worksheets/" in name or "sharedstrings" in name):
                if _longest_text(archive, part, 6 * MAX_CELL_CHARS) > 6 * MAX_CELL_CHARS:
                    raise InputError(Problem(path.name, f"a cell holds more than {MAX_CELL_CHARS:,} characters, the most "
                                                        f"a cell holds (in {part.filename}); the workbook is not read"))


def _longest_text(archive: zipfile.ZipFile, part: zipfile.ZipInfo, bound: int, chunk: int = 1 << 20) -> int:
    """Length in bytes of the longest run without '<' in an XML part (text between tags), read in
    chunks; stops as soon as a run passes `bound`."""
    longest = run = 0
    try:
        with archive.open(part) as f:
            while block := f.read(chunk):
                pieces = block.split(b"<")
                if len(pieces) == 1:
                    run += len(block)
                else:
                    longest = max(longest, run + len(pieces[0]), max(map(len, pieces[1:-1]), default=0))
                    run = len(pieces[-1])
                longest = max(longest, run)
                if longest > bound:
                    break
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, ValueError):
        return 0                           # a damaged part: openpyxl reports it with the details
    return longest


def _sheet_rows(sheet, shown: str, max_rows: int | None) -> list[tuple[int, list[str]]]:
    """The rows holding a value, read to the sheet's last real row: `<dimension>` may be absent or
    understate the sheet (reading it would lose rows silently). A value below row `max_rows` + 1
    (the header, then `max_rows` rows, blank ones counted as in a CSV file) is refused as soon as
    it is reached."""
    sheet.reset_dimensions()
    out = []
    for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
        cells = [_cell_text(v) for v in row]
        if any(c.strip() for c in cells):
            if max_rows is not None and number > max_rows + 1:
                raise InputError(too_many_rows(shown, max_rows))
            out.append((number, cells))
    return out


def _sheet_table(sheet, table: Table, shown: str, problems: list[Problem], max_rows: int | None = None) -> RawTable | None:
    rows = _sheet_rows(sheet, shown, max_rows)
    if not rows:
        problems.append(Problem(shown, "sheet is empty; it needs a header row and data rows"))
        return None
    header_number, header = rows[0]
    if _long_cells(shown, [], header_number, header, problems):
        return None
    while header and not header[-1].strip():
        header.pop()
    header = [h.strip() for h in header]
    raw = RawTable(table.name, shown, header)
    for number, cells in rows[1:]:
        if _long_cells(shown, header, number, cells, problems):
            continue
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




def _config_from_sheet(sheet, shown: str, problems: list[Problem], max_rows: int | None = None) -> tuple[dict[str, Any] | None, dict[str, int]]:
    """Sheet `city`: column A a setting's name, column B its value (YAML for lists and maps)."""
    where = f"{shown}[city]"
    if sheet is None:
        problems.append(Problem(where, "required sheet is missing from the workbook"))
        return None, {}
    config: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for number, cells in _sheet_rows(sheet, where, max_rows):
        if _long_cells(where, ["setting", "value"], number, cells, problems):
            continue
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
        data, _, duplicates = load_yaml(value)
    except yaml.YAMLError as err:
        words = f"value {_yaml_problem(err)[0]}" if isinstance(err, _TooLarge) else "value is not valid YAML"
        problems.append(Problem(where, words, row=number, column=key, value=value, label="setting"))
        return None
    for inner, _, _ in duplicates:
        problems.append(Problem(where, f"value gives '{inner}' twice; keep one: only one value can hold", row=number,
                                column=key, label="setting"))
    return None if duplicates else data
