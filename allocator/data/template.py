"""`allocator template`: an empty workbook planners fill in, in English and Chinese."""
from __future__ import annotations

from pathlib import Path

from allocator.data.config import KNOWN_KEYS
from allocator.data.schema import LONLAT, TABLES, description_row
from allocator.data.writers import save_workbook
from allocator.files import guard_sheet


def write_template(path: str | Path) -> Path:
    import openpyxl
    from openpyxl.styles import Font

    book = openpyxl.Workbook()
    book.remove(book.active)
    city = book.create_sheet("city")
    city.append(["setting", "value"])
    for key, meaning in KNOWN_KEYS.items():
        city.append([f"# {key}", meaning])
    city.append(["name", ""])
    city.append(["budget", ""])
    city.append(["population_basis", "actual"])
    for table in TABLES:
        sheet = book.create_sheet(table.name)
        sheet.append([c.name for c in table.columns])
        sheet.append(description_row(table))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for cell in sheet[2]:
            cell.font = Font(italic=True, color="666666")
    notes = book.create_sheet("README")
    notes.append(["Fill one row per item from row 3 on; row 2 explains each column and is skipped when read.",
                  "从第3行起每行填写一条记录；第2行为各列说明，读取时自动跳过。"])
    notes.append(["Coordinates: give x, y in metres, or replace them by lon, lat in degrees (in every sheet alike).",
                  "坐标：填投影坐标 x、y（米），或在各表中统一改为经纬度 lon、lat（度）。"])
    notes.append([f"Optional columns: {', '.join(c.name for c in LONLAT)}; extra columns are kept.",
                  "可另加列，读取时保留。"])
    for sheet in book.worksheets:
        guard_sheet(sheet)                   # no text a spreadsheet takes as a formula
    return save_workbook(book, Path(path))
