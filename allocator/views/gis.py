"""A plan as GIS layers for QGIS or ArcGIS: GeoPackage (`.gpkg`, one layer per table) or GeoJSON.

Layers (each feature carries the instance's columns and the plan's for that row):

    districts    a point per district at the population-weighted centre of its towns (the
                 instance holds no district boundaries), with the plan's districts.csv columns
    towns        a point per street/town, with town_staff.csv (officers, coverage ratio, moves)
    grids        a point per grid, with grid_staff.csv and, per service, whether the grid is
                 covered (cov_<service>), its minutes to its site and the site it is assigned to
    sites        a point per site with its service, capacity and `state`: opened (new, open),
                 kept (existing, open), closed (existing, closed) or candidate (new, not opened)
    assignments  a line from each grid to the site it is assigned to, where the model assigns
                 grids (p-median, p-center, capacitated p-median, CFLP)

Coordinates. Cities with lon/lat give points in those degrees: GCJ-02, the datum of Chinese
web maps (Amap, Tencent), which differs from WGS 84 by up to about 500 m; the layers declare
EPSG:4326 (what GIS software needs to draw them) and say GCJ-02 in their metadata — convert
before overlaying WGS 84 data at street scale. Cities with x/y only (metres, no datum) get
layers without a CRS.

A `.gpkg` holds every layer; a `.geojson` holds one FeatureCollection whose features carry a
`layer` property (GeoJSON has no layers, and its coordinates are degrees: a city in x/y metres
is written as .gpkg only). geopandas and pyogrio are an optional extra
(`pip install 'allocator[gis]'`); without them the command says so.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

try:                                    # an optional extra: allocator[gis]
    import geopandas
    import pyogrio
    import shapely
except ImportError:
    geopandas = pyogrio = shapely = None

from allocator.data.instance import Instance
from allocator.errors import InputError, Problem
from allocator.files import write_file
from allocator.plans.plan import Plan
from allocator.views.compare import load_plans
from allocator.views.export import check_out
from allocator.views.roadmap import refuse_roadmaps

GCJ02_NOTE = ("coordinates are GCJ-02 longitude/latitude (Chinese web-map datum, up to about 500 m from WGS 84), "
              "declared as EPSG:4326")
LOCAL_NOTE = "coordinates are x/y metres of the city's own plane: no datum, no CRS"
GIS_SUFFIXES = (".gpkg", ".geojson")
SITE_STATES = {(1, 1): "kept", (1, 0): "closed", (0, 1): "opened", (0, 0): "candidate"}


def require_gis() -> None:
    """A clear message naming the extra when geopandas, pyogrio or shapely is missing."""
    if geopandas is None or pyogrio is None or shapely is None:
        raise InputError(Problem("export", "GIS layers need geopandas and pyogrio: pip install 'allocator[gis]'"))


def plan_layers(plan: Plan, city: Instance) -> tuple[dict[str, pd.DataFrame], bool]:
    """Layer name → frame with `lon`/`lat` (or `x`/`y`) columns, and whether they are degrees."""
    degrees = all({"lon", "lat"} <= set(t.columns) for t in (city.towns, city.grids, city.sites))
    xy = ["lon", "lat"] if degrees else ["x", "y"]
    towns = _merge(city.towns.reset_index(drop=city.towns.index.name is None), plan.tables.get("town_staff"), "town_id")
    grids = _merge(city.grids.reset_index(drop=city.grids.index.name is None), plan.tables.get("grid_staff"), "grid_id")
    grids = _with_coverage(grids, plan.tables.get("coverage"))
    layers = {"districts": _districts(city, plan, xy), "towns": towns, "grids": grids, "sites": _sites(city, plan)}
    lines = _assignments(plan, grids, layers["sites"], xy)
    if lines is not None:
        layers["assignments"] = lines
    return {name: _plain(frame) for name, frame in layers.items()}, degrees


def _merge(base: pd.DataFrame, table: pd.DataFrame | None, key: str) -> pd.DataFrame:
    if table is None or key not in table:
        return base
    extra = [c for c in table.columns if c == key or c not in base.columns]
    return base.merge(table[extra], on=key, how="left")


def _with_coverage(grids: pd.DataFrame, coverage: pd.DataFrame | None) -> pd.DataFrame:
    if coverage is None or not len(coverage):
        return grids
    wide = coverage.pivot_table(index="node_id", columns="service", values=["covered", "nearest_minutes"], aggfunc="first")
    wide.columns = [f"{'cov' if k == 'covered' else 'minutes'}_{s}" for k, s in wide.columns]
    if "assigned_site" in coverage and coverage["assigned_site"].notna().any():
        sites = coverage.pivot_table(index="node_id", columns="service", values="assigned_site", aggfunc="first")
        sites.columns = [f"site_{s}" for s in sites.columns]
        wide = wide.join(sites)
    return grids.merge(wide, left_on="grid_id", right_index=True, how="left")


def _districts(city: Instance, plan: Plan, xy: list[str]) -> pd.DataFrame:
    towns = city.towns
    weight = city.town_population().astype(float).to_numpy()
    weight = np.where(weight > 0, weight, 1.0)
    centre = (towns[xy].mul(weight, axis=0).groupby(towns["district_id"]).sum()
              .div(pd.Series(weight, index=towns.index).groupby(towns["district_id"]).sum(), axis=0))
    base = city.districts.reset_index(drop=city.districts.index.name is None).merge(centre, left_on="district_id",
                                                                                    right_index=True, how="left")
    return _merge(base, plan.tables.get("districts"), "district_id")


def _sites(city: Instance, plan: Plan) -> pd.DataFrame:
    sites = city.sites.reset_index(drop=city.sites.index.name is None)
    chosen = plan.tables.get("facilities")
    if chosen is None:
        return sites
    opened = sites["site_id"].map(chosen.set_index("site_id")["open"])
    sites["open"] = opened.fillna(sites["existing"]).astype(int)      # a site the plan did not decide stays as it is
    sites["state"] = [SITE_STATES[(int(e), int(o))] for e, o in zip(sites["existing"], sites["open"])]
    return sites


def _assignments(plan: Plan, grids: pd.DataFrame, sites: pd.DataFrame, xy: list[str]) -> pd.DataFrame | None:
    coverage = plan.tables.get("coverage")
    if coverage is None or "assigned_site" not in coverage or not coverage["assigned_site"].notna().any():
        return None
    pairs = coverage[coverage["assigned_site"].notna()][["node_id", "service", "assigned_site", "demand", "nearest_minutes"]]
    pairs = pairs.rename(columns={"node_id": "grid_id", "assigned_site": "site_id", "nearest_minutes": "minutes"})
    ends = pairs.merge(grids[["grid_id", *xy]], on="grid_id").merge(sites[["site_id", *xy]], on="site_id",
                                                                   suffixes=("_grid", "_site"))
    return ends


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns GIS drivers take: text for objects, numbers as they are."""
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].astype("string")
    return out


def geo_frames(layers: dict[str, pd.DataFrame], degrees: bool) -> dict[str, object]:
    """Each layer as a GeoDataFrame (points, or lines for assignments)."""
    require_gis()
    xy = ["lon", "lat"] if degrees else ["x", "y"]
    crs = "EPSG:4326" if degrees else None
    out = {}
    for name, frame in layers.items():
        if name == "assignments":
            a = frame[[f"{xy[0]}_grid", f"{xy[1]}_grid"]].to_numpy(float)
            b = frame[[f"{xy[0]}_site", f"{xy[1]}_site"]].to_numpy(float)
            geometry = shapely.linestrings(np.stack([a, b], axis=1))
        else:
            geometry = shapely.points(frame[xy].to_numpy(float))
        out[name] = geopandas.GeoDataFrame(frame, geometry=geometry, crs=crs)
    return out


def write_layers(plan: Plan, city: Instance, out: Path) -> Path:
    """The plan's layers as OUT (.gpkg: a layer each; .geojson: one collection, `layer` per feature)."""
    layers, degrees = plan_layers(plan, city)
    if out.suffix.lower() == ".geojson" and not degrees:
        raise InputError(Problem(str(out), f"GeoJSON coordinates are degrees, and {city.name} gives x/y metres; write a "
                                           ".gpkg, or give lon/lat in the city's tables"))
    frames = geo_frames(layers, degrees)
    note = GCJ02_NOTE if degrees else LOCAL_NOTE
    description = f"allocator plan {plan.meta.get('model')}/{plan.meta.get('objective')} of {city.name}: {note}"

    def write(tmp: Path) -> None:
        tmp.unlink()                    # the drivers create the file themselves
        with warnings.catch_warnings():  # a city without a datum has no CRS to declare: its metadata says so
            warnings.filterwarnings("ignore", message="'crs' was not provided")
            _write(frames, tmp, out.suffix.lower(), description)
    return write_file(out, write)


def _write(frames: dict, tmp: Path, suffix: str, description: str) -> None:
    """A layer each in a GeoPackage; one collection with a `layer` property in GeoJSON."""
    if suffix == ".gpkg":
        for k, (name, frame) in enumerate(frames.items()):
            pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG", append=k > 0,
                                    layer_metadata={"DESCRIPTION": description})
        return
    joined = pd.concat([f.assign(layer=name) for name, f in frames.items()], ignore_index=True)
    collection = geopandas.GeoDataFrame(joined, geometry="geometry", crs=next(iter(frames.values())).crs)
    pyogrio.write_dataframe(collection, tmp, driver="GeoJSON", layer_options={"DESCRIPTION": description})


def export_layers(folder: Path, out: Path, instance: Path | None = None, progress=None, overwrite: bool = False) -> Path:
    """PLAN as GIS layers OUT (.gpkg or .geojson), on the instance it was solved on."""
    check_out(out, GIS_SUFFIXES, "a GIS export", overwrite)
    require_gis()
    planset = load_plans([folder], instance=instance, city="required", progress=progress)
    refuse_roadmaps(planset.plans, "a GIS export", "export it to .xlsx (every year's tables), or solve one year "
                                                   "(--years 2030:2030) for its layers")
    return write_layers(planset.plans[0], planset.instance, Path(out))
