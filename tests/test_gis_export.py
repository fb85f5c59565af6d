"""A plan as GIS layers: every layer read back, counts and values checked against the plan and city."""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner

import allocator.views.gis as gis
from allocator.cli import main
from allocator.data.generate import generate_city, write_city
from allocator.data.geo import unproject
from allocator.data.loader import load_instance
from allocator.plans.plan import read_plan
from conftest import TINY


@pytest.fixture(scope="module")
def lonlat_city(tmp_path_factory):
    """A generated city whose tables give lon/lat degrees (around Chongqing) instead of x/y metres."""
    folder = tmp_path_factory.mktemp("gis") / "city"
    write_city(generate_city(6, 2), folder, "folder")
    for name in ("towns", "grids", "sites"):
        frame = pd.read_csv(folder / f"{name}.csv")
        frame["lon"], frame["lat"] = unproject(frame.pop("x").to_numpy(float), frame.pop("y").to_numpy(float), (106.55, 29.56))
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def _solve(city, tmp_path, objective="pmedian"):
    out = tmp_path / f"plan-{objective}"
    r = CliRunner().invoke(main, ["solve", str(city), "--model", "facilities", "--objective", objective, "--threads", "1",
                                  "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def test_geopackage_layers_read_back(lonlat_city, tmp_path):
    plan_dir = _solve(lonlat_city, tmp_path)
    out = tmp_path / "plan.gpkg"
    r = CliRunner().invoke(main, ["export", str(plan_dir), str(out)])
    assert r.exit_code == 0, r.output
    city, plan = load_instance(lonlat_city), read_plan(plan_dir)
    names = [name for name, _ in pyogrio.list_layers(out)]
    assert names == ["districts", "towns", "grids", "sites", "assignments"]
    layers = {n: gpd.read_file(out, layer=n) for n in names}
    assert [len(layers[n]) for n in ("districts", "towns", "grids", "sites")] == \
        [len(city.districts), len(city.towns), len(city.grids), len(city.sites)]
    assert all(str(layers[n].crs) == "EPSG:4326" for n in names)
    assert "GCJ-02" in pyogrio.read_info(out, layer="sites")["layer_metadata"]["DESCRIPTION"]
    towns = layers["towns"].set_index("town_id")
    first = city.towns.iloc[0]
    assert towns.loc[first["town_id"]].geometry.x == pytest.approx(first["lon"])
    assert towns.loc[first["town_id"]].geometry.y == pytest.approx(first["lat"])
    sites = layers["sites"].set_index("site_id")
    chosen = plan.tables["facilities"].set_index("site_id")
    opened = chosen[(chosen["existing"] == 0) & (chosen["open"] == 1)].index
    assert (sites.loc[opened, "state"] == "opened").all() and len(opened) == (sites["state"] == "opened").sum()
    assert (sites.loc[chosen[chosen["existing"] == 1].index, "state"] == "kept").all()
    assigned = plan.tables["coverage"].dropna(subset=["assigned_site"])
    lines = layers["assignments"]
    assert len(lines) == len(assigned)
    row = lines.iloc[0]
    site = sites.loc[row["site_id"]]
    assert row.geometry.coords[-1] == pytest.approx((site.geometry.x, site.geometry.y))
    districts = layers["districts"].set_index("district_id")
    spend = plan.tables["districts"].set_index("district_id")["spend"]
    assert districts.loc[spend.index, "spend"].to_numpy() == pytest.approx(spend.to_numpy())


def test_geojson_holds_every_layer(lonlat_city, tmp_path):
    plan_dir = _solve(lonlat_city, tmp_path, "mclp")
    out = tmp_path / "plan.geojson"
    r = CliRunner().invoke(main, ["export", str(plan_dir), str(out)])
    assert r.exit_code == 0, r.output
    frame = gpd.read_file(out)
    city = load_instance(lonlat_city)
    assigned = read_plan(plan_dir).tables["coverage"]["assigned_site"].notna().sum()
    assert frame["layer"].value_counts().to_dict() == {"districts": len(city.districts), "towns": len(city.towns),
                                                       "grids": len(city.grids), "sites": len(city.sites),
                                                       "assignments": assigned}


def test_a_city_in_metres_is_a_geopackage_without_crs_and_no_geojson(tmp_path):
    """GeoJSON coordinates are degrees by definition: x/y metres there would be misread."""
    plan_dir = _solve(TINY, tmp_path, "mclp")
    out = tmp_path / "plan.gpkg"
    assert CliRunner().invoke(main, ["export", str(plan_dir), str(out), "--instance", str(TINY)]).exit_code == 0
    grids = gpd.read_file(out, layer="grids")
    assert grids.crs is None and len(grids) == 6
    assert "no datum" in pyogrio.read_info(out, layer="grids")["layer_metadata"]["DESCRIPTION"]
    r = CliRunner().invoke(main, ["export", str(plan_dir), str(tmp_path / "plan.geojson"), "--instance", str(TINY)])
    assert r.exit_code == 2 and "give lon/lat" in r.output and not (tmp_path / "plan.geojson").exists()


def test_without_the_extra_the_command_names_it(tmp_path, monkeypatch):
    plan_dir = _solve(TINY, tmp_path, "mclp")
    monkeypatch.setattr(gis, "geopandas", None)
    out = tmp_path / "plan.gpkg"
    r = CliRunner().invoke(main, ["export", str(plan_dir), str(out), "--instance", str(TINY)])
    assert r.exit_code == 2 and "pip install 'allocator[gis]'" in r.output and not out.exists()
