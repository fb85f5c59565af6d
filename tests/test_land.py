"""land.geojson beside an instance: walking reach does not cross water (model, plan tables and checker agree)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import TINY, invoke, refused

from allocator.data.land import read_land
from allocator.data.loader import load_instance
from allocator.models.facilities_data import service_data

LON0, LAT0, M_PER_DEG = 120.0, 30.0, 111_195.0
WATER = (100.0, 150.0)          # a 50 m strait between x = 100 m and x = 150 m (tiny's S1 at 0, G2 at 200)


def _lon(x):
    return LON0 + np.asarray(x, float) / (M_PER_DEG * math.cos(math.radians(LAT0)))


def _lat(y):
    return LAT0 + np.asarray(y, float) / M_PER_DEG


def _box(x0, x1, y0, y1) -> list:
    lon0, lon1, lat0, lat1 = float(_lon(x0)), float(_lon(x1)), float(_lat(y0)), float(_lat(y1))
    return [[[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]]


def _tiny_on_two_banks(folder: Path, land: bool) -> Path:
    """The tiny city in lon/lat degrees; with `land`, a land.geojson of two banks either side of WATER."""
    folder.mkdir(parents=True)
    for name in ("city.yaml", "districts.csv"):
        (folder / name).write_bytes((TINY / name).read_bytes())
    for name in ("towns", "grids", "sites"):
        frame = pd.read_csv(TINY / f"{name}.csv")
        frame["lon"], frame["lat"] = np.round(_lon(frame.pop("x")), 7), np.round(_lat(frame.pop("y")), 7)
        frame.to_csv(folder / f"{name}.csv", index=False)
    if land:
        features = [{"type": "Feature", "properties": {"adcode": code}, "geometry": {"type": "Polygon", "coordinates": box}}
                    for code, box in (("1", _box(-5000, WATER[0], -5000, 10000)), ("2", _box(WATER[1], 25000, -5000, 10000)))]
        (folder / "land.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    return folder


def _pairs(folder: Path, service: str) -> set[tuple[str, str]]:
    city = load_instance(folder)
    d = service_data(city, service)
    grids = city.grids["grid_id"].astype(str).to_numpy()
    return {(grids[g], d.site_ids[j]) for g, j in zip(d.reach.rows(), d.reach.site)}


def test_a_segment_across_the_water_is_not_walkable(tmp_path: Path) -> None:
    land = read_land(_tiny_on_two_banks(tmp_path / "city", land=True) / "land.geojson")
    x0 = np.array([-200.0, -200.0, 200.0, 0.0, 300.0])
    x1 = np.array([0.0, 200.0, 300.0, 0.0, 120.0])          # same bank, across, same bank, a point, into the water
    got = land.walkable(_lon(x0), _lat(np.zeros(5)), _lon(x1), _lat(np.full(5, 50.0)))
    assert got.tolist() == [True, False, True, True, False]


def test_reach_across_the_water_counts_only_without_land_polygons(tmp_path: Path) -> None:
    plain = _pairs(_tiny_on_two_banks(tmp_path / "plain", land=False), "health")
    banks = _pairs(_tiny_on_two_banks(tmp_path / "banks", land=True), "health")
    assert ("G2", "S1") in plain and ("G1", "S1") in plain         # 360 m apart: within 15 minutes' walk
    assert ("G2", "S1") not in banks and ("G1", "S1") in banks     # but across the strait
    assert banks == plain - {("G2", "S1")}


@pytest.mark.parametrize("land", [False, True])
def test_plans_and_the_checker_follow_the_land(tmp_path: Path, land: bool) -> None:
    city = _tiny_on_two_banks(tmp_path / "city", land=land)
    plan = tmp_path / "plan"
    result = invoke("solve", city, "--model", "facilities", "--objective", "mclp", "--services", "health",
                    "--budget", "240", "--threads", "1", "--out", plan)
    assert result.exit_code == 0, result.output
    assert invoke("check", plan, city).exit_code == 0
    coverage = pd.read_csv(plan / "coverage.csv")
    g2 = coverage.index[(coverage["node_id"] == "G2") & (coverage["service"] == "health")][0]
    assert coverage.loc[g2, "covered"] == (0 if land else 1)          # only S1 (existing) is open: 2 left buys no site
    coverage.loc[g2, "covered"] = 1 - coverage.loc[g2, "covered"]
    coverage.to_csv(plan / "coverage.csv", index=False)
    assert invoke("check", plan, city).exit_code == 5


def test_a_broken_land_file_is_refused(tmp_path: Path) -> None:
    city = _tiny_on_two_banks(tmp_path / "city", land=True)
    (city / "land.geojson").write_text('{"type": "FeatureCollection", "features": [{"geometry": {"type": "Point"}}]}', "utf-8")
    refused(invoke("validate", city), "land.geojson", "Polygon")
