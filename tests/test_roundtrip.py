"""One city, many forms: folder, workbook, written-back folder, lon/lat, template."""
from __future__ import annotations

import csv
import io
import math
from itertools import combinations
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from allocator import cli
from allocator.data import geo
from allocator.errors import InputError
from allocator.data.instance import Instance
from allocator.data.loader import load_instance
from allocator.data.schema import TABLES
from allocator.data.schema import describe_column, description_row
from allocator.data.writers import write_folder, write_workbook

ORIGIN = (120.155, 30.274)     # lon, lat near Hangzhou's West Lake


@pytest.fixture
def tiny(tiny_dir: Path) -> Instance:
    return load_instance(tiny_dir)


def test_workbook_loads_as_the_folder(tiny: Instance, tmp_path: Path) -> None:
    book = load_instance(write_workbook(tiny, tmp_path / "tiny.xlsx"))
    assert book == tiny
    assert book.content_hash() == tiny.content_hash()


def test_written_folder_loads_as_the_original(tiny: Instance, tmp_path: Path) -> None:
    again = load_instance(write_folder(tiny, tmp_path / "again"))
    assert again == tiny
    assert again.content_hash() == tiny.content_hash()


def test_workbook_to_folder_and_back(tiny: Instance, tmp_path: Path) -> None:
    book = load_instance(write_workbook(tiny, tmp_path / "a.xlsx"))
    folder = load_instance(write_folder(book, tmp_path / "b"))
    assert load_instance(write_workbook(folder, tmp_path / "c.xlsx")) == tiny


def test_equality_sees_a_changed_cell(tiny: Instance, tiny_copy: Path) -> None:
    """The round-trip tests above would pass vacuously if equality ignored content."""
    text = (tiny_copy / "sites.csv").read_text().replace("S8,T1,education,1,2000,0,80", "S8,T1,education,1,2001,0,80")
    (tiny_copy / "sites.csv").write_text(text)
    changed = load_instance(tiny_copy)
    assert changed != tiny
    assert changed.content_hash() != tiny.content_hash()


def test_text_settings_survive_the_workbook(tiny: Instance, tmp_path: Path) -> None:
    """A name with a colon, a description that YAML would read as true."""
    from dataclasses import replace

    city = replace(tiny, config=replace(tiny.config, name="西湖区: 2024", description="yes"))
    assert load_instance(write_workbook(city, tmp_path / "named.xlsx")) == city
    assert load_instance(write_folder(city, tmp_path / "named")) == city


def test_travel_table_round_trip(tiny_copy: Path, tmp_path: Path) -> None:
    (tiny_copy / "travel.csv").write_text("from_id,site_id,minutes\nG1,S1,5.5\nG3,S2,4\n")
    city = load_instance(tiny_copy)
    assert city.travel is not None and len(city.travel) == 2
    assert load_instance(write_workbook(city, tmp_path / "t.xlsx")) == city


# --- population basis -----------------------------------------------------------------

def test_basis_override_changes_town_population(tiny_dir: Path, tiny: Instance) -> None:
    towns = tiny.towns
    assert tiny.town_population().tolist() == (towns["pop_resident"] + towns["pop_migrant"]).tolist()
    registered = load_instance(tiny_dir, basis="registered")
    assert registered.basis == "registered"
    assert registered.town_population().tolist() == [9000, 5000, 4000]
    assert load_instance(tiny_dir, basis="resident").town_population().tolist() == [8000, 4000, 3000]
    assert registered.content_hash() == tiny.content_hash()


def test_basis_from_city_yaml_and_cli_override(tiny_copy: Path) -> None:
    text = (tiny_copy / "city.yaml").read_text().replace("population_basis: actual", "population_basis: resident")
    (tiny_copy / "city.yaml").write_text(text)
    assert load_instance(tiny_copy).town_population().sum() == 15_000
    runner = CliRunner()
    plain = runner.invoke(cli.main, ["validate", str(tiny_copy)])
    assert plain.exit_code == 0 and "resident* 15,000" in plain.output
    override = runner.invoke(cli.main, ["validate", str(tiny_copy), "--basis", "registered"])
    assert override.exit_code == 0 and "registered* 18,000" in override.output
    bad = runner.invoke(cli.main, ["validate", str(tiny_copy), "--basis", "hukou"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output


# --- lon/lat --------------------------------------------------------------------------

def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    k = math.pi / 180
    a = math.sin((lat2 - lat1) * k / 2) ** 2 + math.cos(lat1 * k) * math.cos(lat2 * k) * math.sin((lon2 - lon1) * k / 2) ** 2
    return 2 * geo.EARTH_RADIUS_M * math.asin(math.sqrt(a))


def to_lonlat(folder: Path, origin: tuple[float, float]) -> None:
    """Rewrite x/y metres of every table as lon/lat degrees (a spherical offset about `origin`)."""
    for name in ("towns", "grids", "sites"):
        rows = list(csv.reader(io.StringIO((folder / f"{name}.csv").read_text())))
        ix, iy = rows[0].index("x"), rows[0].index("y")
        rows[0][ix], rows[0][iy] = "lon", "lat"
        for r in rows[1:]:
            lat = origin[1] + float(r[iy]) / 111_195.0
            lon = origin[0] + float(r[ix]) / (111_195.0 * math.cos(math.radians(lat)))
            r[ix], r[iy] = f"{lon:.7f}", f"{lat:.7f}"
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        (folder / f"{name}.csv").write_text(out.getvalue())


@pytest.mark.parametrize("origin_in_yaml", [True, False])
def test_lonlat_instance_is_projected_once(tiny_copy: Path, tmp_path: Path, origin_in_yaml: bool) -> None:
    to_lonlat(tiny_copy, ORIGIN)
    if origin_in_yaml:
        with open(tiny_copy / "city.yaml", "a") as handle:
            handle.write(f"origin: [{ORIGIN[0]}, {ORIGIN[1]}]\n")
    city = load_instance(tiny_copy)
    assert city.config.origin is not None
    points = [row for frame in (city.towns, city.grids, city.sites) for row in frame[["x", "y", "lon", "lat"]].itertuples(index=False)]
    pairs = [(a, b) for a, b in combinations(points, 2) if 1_000 < haversine_m(a.lon, a.lat, b.lon, b.lat) < 25_000]
    assert len(pairs) > 50
    for a, b in pairs:
        true = haversine_m(a.lon, a.lat, b.lon, b.lat)
        assert math.hypot(a.x - b.x, a.y - b.y) == pytest.approx(true, rel=0.01)
    again = load_instance(write_folder(city, tmp_path / "projected"))
    assert again == city                      # x/y written beside lon/lat; not projected twice
    assert_nearly_equal(load_instance(write_workbook(city, tmp_path / "ll.xlsx")), city)


def assert_nearly_equal(a: Instance, b: Instance) -> None:
    """Equal up to the 16 significant digits a workbook cell keeps (openpyxl writes %.16g)."""
    assert a.config == b.config
    assert a.tables().keys() == b.tables().keys()
    for name, frame in a.tables().items():
        pd.testing.assert_frame_equal(frame, b.tables()[name], check_exact=False, rtol=1e-15, atol=0)


def test_lonlat_workbook_equals_lonlat_folder(tiny_copy: Path, tmp_path: Path) -> None:
    to_lonlat(tiny_copy, ORIGIN)
    folder = load_instance(tiny_copy)
    book = tmp_path / "ll.xlsx"
    write_book_from_folder(tiny_copy, book)
    assert load_instance(book) == folder


def write_book_from_folder(folder: Path, path: Path) -> None:
    """A workbook typed by hand: the CSV cells as text or numbers, city.yaml as settings."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    city = book.create_sheet("city")
    for key, value in yaml.safe_load((folder / "city.yaml").read_text()).items():
        city.append([key, value if isinstance(value, (str, int, float)) else yaml.safe_dump(value, default_flow_style=True).strip()])
    for file in sorted(folder.glob("*.csv")):
        sheet = book.create_sheet(file.stem)
        for row in csv.reader(io.StringIO(file.read_text())):
            sheet.append([_number_or_text(c) for c in row])
    book.save(path)


def _number_or_text(text: str) -> object:
    try:
        return float(text) if "." in text or "e" in text.lower() else int(text)
    except ValueError:
        return text


# --- template -------------------------------------------------------------------------

@pytest.fixture
def template(tmp_path: Path) -> Path:
    out = tmp_path / "template.xlsx"
    result = CliRunner().invoke(cli.main, ["template", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_template_has_headers_and_descriptions(template: Path) -> None:
    book = openpyxl.load_workbook(template)
    for table in TABLES:
        sheet = book[table.name]
        header = [c.value for c in sheet[1]]
        described = [c.value for c in sheet[2]]
        assert header == [c.name for c in table.columns]
        assert described == description_row(table)
        for text, column in zip(described, table.columns):
            assert column.en in text and column.zh in text
            assert any("\u4e00" <= ch <= "\u9fff" for ch in text)
        assert sheet.max_row == 2
    assert [c.value for c in book["city"][1]] == ["setting", "value"]


def test_template_rejects_other_suffix(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.main, ["template", str(tmp_path / "t.csv")])
    assert result.exit_code == 2 and ".xlsx" in result.output
    assert list(tmp_path.iterdir()) == []


def fill_template(template: Path, folder: Path) -> None:
    """Type the tiny city into the template as a planner would, numbers as numbers."""
    book = openpyxl.load_workbook(template)
    config = yaml.safe_load((folder / "city.yaml").read_text())
    city = book["city"]
    for row in city.iter_rows(min_row=2):
        if row[0].value in config:
            row[1].value = config.pop(row[0].value)
    for key, value in config.items():
        city.append([key, yaml.safe_dump(value, default_flow_style=True).strip()])
    for file in folder.glob("*.csv"):
        rows = list(csv.reader(io.StringIO(file.read_text())))
        sheet = book[file.stem]
        header = [c.value for c in sheet[1]]
        for i, name in enumerate(rows[0]):        # lon/lat may replace x/y in the header
            if name not in header:
                sheet.cell(row=1, column=i + 1, value=name)
        for row in rows[1:]:
            sheet.append([_number_or_text(c) for c in row])
    book.save(template)


def test_filled_template_loads_as_the_city(template: Path, tiny_dir: Path, tiny: Instance) -> None:
    fill_template(template, tiny_dir)
    filled = load_instance(template)
    assert filled == tiny
    assert filled.travel is None              # the empty travel sheet counts as absent


def test_filled_template_with_lonlat_header(template: Path, tiny_copy: Path) -> None:
    to_lonlat(tiny_copy, ORIGIN)
    fill_template(template, tiny_copy)
    book = openpyxl.load_workbook(template)
    assert book["towns"]["K1"].value == "lon" and "projected metres" in book["towns"]["K2"].value
    assert load_instance(template) == load_instance(tiny_copy)


def test_description_row_in_a_csv_is_skipped(tiny_dir: Path, tiny_copy: Path) -> None:
    """A template sheet saved as CSV keeps its description row; it is not data. (The tiny city leaves out the
    optional growth column: its description row describes the columns its header has.)"""
    table = next(t for t in TABLES if t.name == "districts")
    lines = (tiny_copy / "districts.csv").read_text().splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([describe_column(table.column(c)) for c in header])
    (tiny_copy / "districts.csv").write_text(lines[0] + out.getvalue() + "".join(lines[1:]))
    assert load_instance(tiny_copy) == load_instance(tiny_dir)


def test_description_row_only_skipped_right_under_header(tiny_copy: Path) -> None:
    table = next(t for t in TABLES if t.name == "districts")
    header = next(csv.reader([(tiny_copy / "districts.csv").read_text().splitlines()[0]]))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([describe_column(table.column(c)) for c in header])
    with open(tiny_copy / "districts.csv", "a") as handle:
        handle.write(out.getvalue())
    with pytest.raises(InputError) as info:
        load_instance(tiny_copy)
    assert "districts.csv, row 4" in str(info.value)


def test_cli_template_then_validate_empty_template(template: Path) -> None:
    before = template.stat().st_mtime_ns
    result = CliRunner().invoke(cli.main, ["validate", str(template)])
    assert result.exit_code == 2
    assert "template.xlsx[city], row 18, setting 'budget': required setting is missing" in result.output
    assert "template.xlsx[towns]: table has no data rows" in result.output
    assert template.stat().st_mtime_ns == before
