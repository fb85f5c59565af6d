"""Writing an instance as a folder of CSV files or as one Excel workbook."""
from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from allocator.data.instance import CityConfig, Instance
from allocator.data.norms import default_norms
from allocator.data.schema import TEXT_SETTINGS
from allocator.files import guard_cell, quote_cell, write_file, write_folder as write_folder_atomically


def config_to_yaml_dict(config: CityConfig) -> dict[str, Any]:
    """The settings a city.yaml needs to reproduce `config` (norms only where they differ)."""
    defaults = {k: n.value for k, n in default_norms().items()}
    overrides = {k: v for k, v in config.norms.items() if defaults.get(k) != v}
    out: dict[str, Any] = {"name": config.name, "budget": config.budget, "population_basis": config.population_basis}
    if config.description:
        out["description"] = config.description
    for key in ("headcount", "city_pool"):
        if getattr(config, key) is not None:
            out[key] = getattr(config, key)
    if config.salaries:
        out["salaries"] = dict(config.salaries)
    out["services"] = list(config.services)
    if overrides:
        out["norms"] = overrides
    out["groups"] = list(config.groups)
    if config.origin is not None:
        out["origin"] = list(config.origin)
    out["population_tolerance"] = config.population_tolerance
    return out


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.reset_index(drop=True)


def write_folder(instance: Instance, folder: str | Path, header_comment: str | None = None, overwrite: bool = False) -> Path:
    """Write city.yaml and one CSV per table, atomically (a temporary folder renamed); an existing
    folder is replaced only if it is an instance allocator wrote, unchanged, and `overwrite`."""
    def fill(tmp: Path) -> None:
        text = yaml.safe_dump(config_to_yaml_dict(instance.config), allow_unicode=True, sort_keys=False)
        if header_comment:
            text = "".join(f"# {line}\n" for line in header_comment.splitlines()) + text
        (tmp / "city.yaml").write_text(text, encoding="utf-8")
        for name, frame in instance.tables().items():
            _plain(frame).to_csv(tmp / f"{name}.csv", index=False, lineterminator="\n")
    folder = write_folder_atomically(Path(folder), fill, kind="instance", overwrite=overwrite)
    return folder


def write_workbook(instance: Instance, path: str | Path) -> Path:
    """One workbook: sheet `city` (setting, value as YAML) and one sheet per table.

    A cell keeps 16 significant digits (as Excel shows 15), so numbers typed by people
    come back exactly, while computed ones (projected x/y) may differ in the last bit. Text a
    spreadsheet would take as a formula is a text cell (`allocator.files.guard_cell`), read back as is.
    """
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    def text(value: Any) -> Any:
        if quote_cell(value) is value:
            return value
        cell = WriteOnlyCell(sheet, value=value)
        guard_cell(cell)
        return cell

    path = Path(path)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("city")
    sheet.append(["setting", "value"])
    for key, value in config_to_yaml_dict(instance.config).items():
        setting = value if key in TEXT_SETTINGS else yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip()
        if setting.endswith("\n..."):
            setting = setting[:-4].strip()
        sheet.append([key, text(setting)])
    for name, frame in instance.tables().items():
        sheet = book.create_sheet(name)
        plain = _plain(frame)
        sheet.append([text(c) for c in plain.columns])
        for row in plain.itertuples(index=False, name=None):
            sheet.append([text(_cell(v)) for v in row])
    return save_workbook(book, path)


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def save_workbook(book, path: Path) -> Path:
    """Save an openpyxl workbook atomically, with the same bytes for the same content."""
    def write(tmp: Path) -> None:
        book.save(tmp)
        _make_reproducible(tmp)
    return write_file(path, write)


_STAMP = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def _make_reproducible(xlsx: Path) -> None:
    """Same content, same bytes: fixed zip entry times and document dates (openpyxl stamps 'now')."""
    with zipfile.ZipFile(xlsx) as source:
        entries = [(info, source.read(info.filename)) for info in source.infolist()]
    with zipfile.ZipFile(xlsx, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info, data in entries:
            if info.filename == "docProps/core.xml":
                data = _STAMP.sub(rb"\g<1>2000-01-01T00:00:00Z\g<2>", data)
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            target.writestr(fixed, data)

