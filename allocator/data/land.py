"""Land polygons beside an instance (`land.geojson`, optional): walking reach does not cross water.

A city whose folder holds land.geojson (lon/lat degrees, GCJ-02 or WGS84 as its tables) counts
a grid–site pair as within walking reach only when the straight way between them stays on
land: the segment lies in the union of the file's polygons (boundary included), tested exactly
with shapely's prepared `covers`, one vectorised call for all pairs a distance test has already
kept. travel.csv, when the city has one, says which pairs exist and overrides this rule.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely

from allocator.errors import InputError, Problem

LAND_FILE = "land.geojson"


@dataclass(frozen=True, eq=False)
class Land:
    """The union of an instance's land polygons, prepared for fast segment tests."""

    geometry: object = field(repr=False)
    digest: str                    # sha256 of the file's bytes (part of the instance's content hash)

    def walkable(self, lon0: np.ndarray, lat0: np.ndarray, lon1: np.ndarray, lat1: np.ndarray) -> np.ndarray:
        """Per pair: the straight segment from (lon0, lat0) to (lon1, lat1) lies on land."""
        lon0, lat0, lon1, lat1 = (np.asarray(v, float) for v in (lon0, lat0, lon1, lat1))
        if len(lon0) == 0:
            return np.zeros(0, bool)
        ends = np.stack([np.column_stack([lon0, lat0]), np.column_stack([lon1, lat1])], axis=1)
        same = (lon0 == lon1) & (lat0 == lat1)
        out = np.empty(len(lon0), bool)
        if same.any():
            out[same] = shapely.covers(self.geometry, shapely.points(ends[same, 0]))
        if (~same).any():
            out[~same] = shapely.covers(self.geometry, shapely.linestrings(ends[~same]))
        return out


def read_land(path: str | Path) -> Land:
    """Land from a GeoJSON FeatureCollection (or a list of features, or one geometry) of Polygons and MultiPolygons."""
    path = Path(path)
    where = str(path)
    try:
        data = path.read_bytes()
        value = json.loads(data.decode("utf-8"))
    except OSError as err:
        raise InputError(Problem(where, f"cannot be read: {err.strerror or err}")) from None
    except ValueError:
        raise InputError(Problem(where, "is not a GeoJSON file (not valid JSON)")) from None
    if isinstance(value, dict) and value.get("type") == "FeatureCollection":
        geometries = [f.get("geometry") if isinstance(f, dict) else None for f in value.get("features") or []]
    elif isinstance(value, list):
        geometries = [f.get("geometry") if isinstance(f, dict) else None for f in value]
    elif isinstance(value, dict) and value.get("type") == "Feature":
        geometries = [value.get("geometry")]
    else:
        geometries = [value]
    shapes = []
    for i, geometry in enumerate(geometries):
        if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
            raise InputError(Problem(where, f"feature {i + 1} is not a Polygon or MultiPolygon"))
        try:
            shapes.append(shapely.geometry.shape(geometry))
        except (ValueError, TypeError, IndexError, AttributeError, shapely.errors.ShapelyError):
            raise InputError(Problem(where, f"feature {i + 1}: coordinates are not rings of [lon, lat] numbers")) from None
    if not shapes:
        raise InputError(Problem(where, "holds no land polygons"))
    union = shapely.union_all(shapely.make_valid(np.asarray(shapes, dtype=object)))
    shapely.prepare(union)
    return Land(union, hashlib.sha256(data).hexdigest())
