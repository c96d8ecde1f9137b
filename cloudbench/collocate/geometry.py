"""Exact pixel lookup on the imager's fixed grid, and the satellite viewing angle.

A geostationary grid is a projection, so the pixel of a lon/lat is a formula, not a search: pyresample's
``get_array_indices_from_lonlat`` inverts it exactly. Two traps are handled here: NaN positions come
back as a huge negative index that is not masked (so they are removed first), and off-disk positions
come back masked (so they are dropped, never wrapped).
"""

from __future__ import annotations

import numpy as np

from cloudbench.collocate.parallax import GeosGeometry, geodetic_to_ecef


def pixel_indices(area, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Global row and column of each position on ``area``; ``valid`` is False for NaN or off-disk.

    Returns ``rows``, ``cols`` (int64, -1 where invalid) and the boolean ``valid``.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    rows = np.full(lon.shape, -1, dtype=np.int64)
    cols = np.full(lon.shape, -1, dtype=np.int64)
    finite = np.isfinite(lon) & np.isfinite(lat)
    valid = np.zeros(lon.shape, dtype=bool)
    if finite.any():
        with np.errstate(invalid="ignore"):
            c, r = area.get_array_indices_from_lonlat(lon[finite], lat[finite])
        mask = np.ma.getmaskarray(c) | np.ma.getmaskarray(r)
        c = np.ma.getdata(c).astype(np.int64)
        r = np.ma.getdata(r).astype(np.int64)
        inside = ~mask & (r >= 0) & (r < area.height) & (c >= 0) & (c < area.width)
        idx = np.flatnonzero(finite)
        rows[idx[inside]] = r[inside]
        cols[idx[inside]] = c[inside]
        valid[idx[inside]] = True
    return rows, cols, valid


def satellite_zenith(geometry: GeosGeometry, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Satellite zenith angle (deg) at surface positions, from the ellipsoid normal; NaN where NaN."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    ground = geodetic_to_ecef(lon, lat, np.zeros(lon.shape), geometry.a, geometry.b)
    lon_r, lat_r = np.deg2rad(lon), np.deg2rad(lat)
    normal = np.stack([np.cos(lat_r) * np.cos(lon_r), np.cos(lat_r) * np.sin(lon_r), np.sin(lat_r)], axis=-1)
    view = geometry.satellite_xyz - ground
    cos_z = np.einsum("...i,...i->...", normal, view) / np.linalg.norm(view, axis=-1)
    return np.rad2deg(np.arccos(np.clip(cos_z, -1.0, 1.0)))
