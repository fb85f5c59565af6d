"""The bundled Chongqing instance: valid, true to the census, and rebuilt byte for byte."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from matplotlib.path import Path as MplPath

from allocator.data.instance import Instance
from allocator.data.loader import load_instance

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "instances" / "chongqing"
FILES = ("city.yaml", "districts.csv", "towns.csv", "grids.csv", "sites.csv", "PROVENANCE.md", ".allocator.json")
KM_PER_DEG = 111.195


@pytest.fixture(scope="module")
def city() -> Instance:
    return load_instance(BUNDLED)


def _census(city: Instance, column: str) -> pd.Series:
    """A census figure stored in districts.csv (extra columns load as text)."""
    return pd.to_numeric(city.districts.set_index("district_id")[column])


def _by_district(city: Instance, values: pd.Series, mask: pd.Series | None = None) -> pd.Series:
    towns = city.towns if mask is None else city.towns[mask]
    return values.loc[towns.index].groupby(towns["district_id"]).sum()


def test_bundled_instance_has_the_38_districts_and_a_plausible_town_count(city: Instance) -> None:
    assert len(city.districts) == 38
    assert set(city.districts["district_id"].str[:4]) == {"5001", "5002"}
    assert 800 <= len(city.towns) <= 1100
    assert set(city.districts["kind"]) == {"core", "suburban", "outer"}
    assert city.districts.loc["500103", "kind"] == "core"           # 渝中
    assert city.districts.loc["500229", "kind"] == "outer"          # 城口


def test_actual_population_adds_up_to_the_census_per_district(city: Instance) -> None:
    actual = _by_district(city, city.town_population("actual"))
    assert (actual == _census(city, "census_pop").loc[actual.index]).all()
    streets = _by_district(city, city.town_population("actual"), city.towns["kind"] == "street")
    towns = _by_district(city, city.town_population("actual"), city.towns["kind"] == "town")
    assert (streets == _census(city, "census_urban").loc[streets.index]).all()
    assert (towns == _census(city, "census_rural").loc[towns.index]).all()
    assert int(actual.sum()) == 32_054_159                           # Chongqing, census 2020


def test_registered_elsewhere_adds_up_to_the_census_per_district(city: Instance) -> None:
    migrants = _by_district(city, city.towns["pop_migrant"])
    expected = sum(_census(city, f"census_elsewhere_{c}") for c in ("same_district", "other_district", "other_province"))
    assert (migrants == expected.loc[migrants.index]).all()
    assert (city.towns["pop_registered"] >= city.towns["pop_resident"]).all()


def test_grids_hold_their_towns_people_households_and_ages(city: Instance) -> None:
    grids = city.grids
    held = grids.groupby("town_id")["population"].sum()
    assert (held == city.town_population("actual").loc[held.index]).all()
    district = grids["town_id"].map(city.towns["district_id"])
    households = grids["households"].groupby(district).sum()
    assert (households == _census(city, "census_households").loc[households.index]).all()
    pop = _census(city, "census_pop")
    for column, share in (("elderly", "census_share_65"), ("children", "census_share_0_14")):
        got = grids[column].groupby(district).sum()
        assert (got == (pop * _census(city, share) / 100).round().astype(int).loc[got.index]).all()
    assert grids.loc[grids["kind"] == "urban", "households"].between(200, 500).all()
    assert grids.loc[grids["kind"] == "rural", "households"].between(100, 300).all()


def test_every_grid_lies_within_its_towns_radius(city: Instance) -> None:
    town = city.towns.loc[city.grids["town_id"]]
    lat0 = np.radians(town["lat"].to_numpy())
    dx = (city.grids["lon"].to_numpy() - town["lon"].to_numpy()) * KM_PER_DEG * np.cos(lat0)
    dy = (city.grids["lat"].to_numpy() - town["lat"].to_numpy()) * KM_PER_DEG
    radius = np.sqrt(town["area_km2"].to_numpy() / math.pi)
    assert (np.hypot(dx, dy) <= radius + 0.002).all()


def test_enforcement_today_follows_registered_not_actual_population(city: Instance) -> None:
    kind = city.towns["district_id"].map(city.districts["kind"])
    now = city.towns["enforcement_now"].groupby(kind).sum()
    actual = city.town_population("actual").groupby(kind).sum()
    registered = city.towns["pop_registered"].groupby(kind).sum()
    per_actual, per_registered = now / actual, now / registered
    assert per_actual["core"] < 0.7 * per_actual["outer"]
    assert per_registered["core"] == pytest.approx(per_registered["outer"], rel=0.15)


def test_bundled_files_stay_small() -> None:
    assert sum((BUNDLED / f).stat().st_size for f in FILES) < 8 * 1024**2


CHONGQING_BOUNDARIES_SOURCE = (
    "Aliyun DataV GeoAtlas as published in github.com/tnnevol/gmap, commit b248aaaefc0c13f6bd006a4dc2fa4530d2cfd9b5, "
    "`500000.json` (38 MultiPolygons with `center` = government seat and `centroid`, GCJ-02; no licence file, terms unclear)")


def build_chongqing(shared_data: Path, out: Path) -> subprocess.CompletedProcess:
    """The command that wrote the bundled instance (README, 'Your own city')."""
    return subprocess.run([sys.executable, "-m", "allocator", "build-city", "500000", "--out", str(out), "--boundaries",
                           str(shared_data / "china-geo-boundaries" / "chongqing_500000_districts_gmap.json"),
                           "--boundaries-source", CHONGQING_BOUNDARIES_SOURCE],
                          check=True, capture_output=True, cwd=ROOT, text=True)


@pytest.mark.shared
def test_build_city_reproduces_the_bundled_files_from_the_sources(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "chongqing"
    build_chongqing(shared_data, out)
    for name in FILES:
        assert (out / name).read_bytes() == (BUNDLED / name).read_bytes(), name
    towns = pd.read_csv(out / "towns.csv", dtype={"district_id": str})
    actual = (towns["pop_resident"] + towns["pop_migrant"]).groupby(towns["district_id"]).sum()
    census = _census_population(shared_data / "china-census2020-county" / "census_county_2020_v1.xlsx")
    assert len(actual) == 38
    assert (actual == pd.Series(census).loc[actual.index]).all()
    grids = pd.read_csv(out / "grids.csv").merge(towns[["town_id", "district_id"]], on="town_id")
    _assert_inside_their_districts(towns, shared_data)
    _assert_inside_their_districts(grids, shared_data)


def _census_population(path: Path) -> dict[str, int]:
    """人口数_合计 of Chongqing's rows (codes 5001xx/5002xx), read straight from the workbook."""
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        rows = book["七普（年鉴）"].iter_rows(values_only=True)
        header = next(rows)
        code_at, pop_at = header.index("区划代码"), header.index("人口数_合计")
        found: dict[str, int] = {}
        for row in rows:
            code = row[code_at]
            if isinstance(code, (int, float)) and int(code) // 100 in (5001, 5002):
                found[str(int(code))] = int(row[pop_at])
            elif found:
                break                      # the sheet is ordered by code
    finally:
        book.close()
    return found


def _assert_inside_their_districts(points: pd.DataFrame, shared_data: Path) -> None:
    """Every row's lon/lat lies inside its district's real polygon (even-odd over the rings)."""
    features = json.loads((shared_data / "china-geo-boundaries" / "chongqing_500000_districts_gmap.json").read_text("utf-8"))
    for feature in features:
        rings = [MplPath(np.asarray(r, float)) for poly in feature["geometry"]["coordinates"] for r in poly]
        mine = points[points["district_id"] == str(feature["properties"]["adcode"])]
        assert len(mine) > 0
        lonlat = mine[["lon", "lat"]].to_numpy()
        inside = sum(r.contains_points(lonlat).astype(int) for r in rings) % 2 == 1
        assert inside.all(), f"{feature['properties']['name']}: {list(mine.iloc[:, 0][~inside][:5])} outside"
