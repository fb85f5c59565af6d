"""Coordinates: everything is projected once, at load time, to metres.

Tables give either `x`, `y` in projected metres (any local metric projection, the same
for all tables) or `lon`, `lat` in degrees. Degrees are converted once with a local
equirectangular projection about an origin (city.yaml `origin: [lon, lat]`, or the mean
of the towns' coordinates):

    x = R · (lon − lon0) · cos(lat0),   y = R · (lat − lat0),   R = 6,371,008.8 m

Over a city of a few hundred kilometres the scale error stays within about 2 %, and within
a 15-minute walk it is negligible. lon/lat columns are kept beside the new x/y columns.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

EARTH_RADIUS_M = 6_371_008.8


def project(lon: np.ndarray, lat: np.ndarray, origin: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    lon0, lat0 = origin
    k = np.pi / 180.0
    x = EARTH_RADIUS_M * (np.asarray(lon, float) - lon0) * k * np.cos(lat0 * k)
    y = EARTH_RADIUS_M * (np.asarray(lat, float) - lat0) * k
    return x, y


def unproject(x: np.ndarray, y: np.ndarray, origin: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    lon0, lat0 = origin
    k = np.pi / 180.0
    lon = lon0 + np.asarray(x, float) / (EARTH_RADIUS_M * k * np.cos(lat0 * k))
    lat = lat0 + np.asarray(y, float) / (EARTH_RADIUS_M * k)
    return lon, lat


def uses_lonlat(frame: pd.DataFrame) -> bool:
    return not {"x", "y"} <= set(frame.columns) and {"lon", "lat"} <= set(frame.columns)


def add_xy(frame: pd.DataFrame, origin: tuple[float, float]) -> pd.DataFrame:
    x, y = project(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float), origin)
    out = frame.copy()
    out["x"], out["y"] = x, y
    return out
