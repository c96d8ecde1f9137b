"""Forward parallax: where a geostationary imager sees a point that floats above the ground.

The synthetic imager must show each cloud top where the real instrument would, displaced away from
the sub-satellite point, so that the collocation's parallax correction has something true to undo.
This module is deliberately independent of ``cloudbench.collocate`` (which corrects the other way):
two separate derivations agreeing is the test.

Model: a point at geodetic height ``h`` lies on the WGS84 ellipsoid inflated by ``h`` (semi-axes
``a + h``, ``b + h``); the imager reports the point where its line of sight to that point first meets
the ground ellipsoid. :func:`apparent_lonlat` and :func:`true_lonlat` are exact inverses of each
other under this model (the inflated-ellipsoid height differs from the true geodetic height by at
most ``h * e^2``, ~70 m for a 10 km top, far below a 2 km pixel).
"""

from __future__ import annotations

import numpy as np

WGS84_A_KM = 6378.137
WGS84_B_KM = 6356.7523142
GEO_RADIUS_KM = 42164.16  # geostationary orbit radius from the Earth's centre
EARTH_MEAN_RADIUS_KM = 6371.0


def _ecef_from_geodetic(lon_deg, lat_deg, a: float | np.ndarray, b: float | np.ndarray):
    """ECEF (km) of a point on the ellipsoid (a, b) at geodetic lon/lat."""
    lon = np.radians(lon_deg)
    lat = np.radians(lat_deg)
    e2 = 1.0 - (b * b) / (a * a)
    n = a / np.sqrt(1.0 - e2 * np.sin(lat) ** 2)
    x = n * np.cos(lat) * np.cos(lon)
    y = n * np.cos(lat) * np.sin(lon)
    z = n * (1.0 - e2) * np.sin(lat)
    return x, y, z


def _geodetic_from_surface_ecef(x, y, z, a, b):
    """Geodetic lon/lat of an ECEF point lying on the ellipsoid (a, b)."""
    e2 = 1.0 - (b * b) / (a * a)
    p = np.hypot(x, y)
    lat = np.degrees(np.arctan2(z, p * (1.0 - e2)))
    lon = np.degrees(np.arctan2(y, x))
    return lon, lat


def satellite_ecef(sub_lon: float, radius_km: float = GEO_RADIUS_KM) -> tuple[float, float, float]:
    """ECEF position (km) of a geostationary satellite above ``sub_lon``."""
    lam = np.radians(sub_lon)
    return radius_km * np.cos(lam), radius_km * np.sin(lam), 0.0


def _first_hit(sx, sy, sz, dx, dy, dz, a, b):
    """Smallest t >= 0 with S + t*d on the ellipsoid (a, b); NaN where the line misses it."""
    qa = (dx * dx + dy * dy) / (a * a) + dz * dz / (b * b)
    qb = 2.0 * ((sx * dx + sy * dy) / (a * a) + sz * dz / (b * b))
    qc = (sx * sx + sy * sy) / (a * a) + sz * sz / (b * b) - 1.0
    disc = qb * qb - 4.0 * qa * qc
    with np.errstate(invalid="ignore"):
        t = (-qb - np.sqrt(disc)) / (2.0 * qa)
    return np.where(disc >= 0, t, np.nan)


def apparent_lonlat(
    lon: np.ndarray, lat: np.ndarray, height_km: np.ndarray, sub_lon: float
) -> tuple[np.ndarray, np.ndarray]:
    """Where a geostationary imager at ``sub_lon`` sees a point at (lon, lat, height_km).

    Points hidden behind the Earth's limb (or whose line of sight misses the ground) come back NaN.
    A zero height returns the input position.

    Args:
        lon: Longitude of the point (deg).
        lat: Geodetic latitude of the point (deg).
        height_km: Height of the point above the ellipsoid (km), e.g. a cloud top.
        sub_lon: The satellite's sub-satellite longitude (deg).

    Returns:
        The apparent (lon, lat) in degrees, displaced away from the sub-satellite point.
    """
    lon, lat, h = np.broadcast_arrays(
        np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64), np.asarray(height_km, dtype=np.float64)
    )
    px, py, pz = _ecef_from_geodetic(lon, lat, WGS84_A_KM + h, WGS84_B_KM + h)
    sx, sy, sz = satellite_ecef(sub_lon)
    dx, dy, dz = px - sx, py - sy, pz - sz
    t = _first_hit(sx, sy, sz, dx, dy, dz, WGS84_A_KM, WGS84_B_KM)
    # the point must itself be visible: the line must not enter the inflated ellipsoid before it
    t_top = _first_hit(sx, sy, sz, dx, dy, dz, WGS84_A_KM + h, WGS84_B_KM + h)
    visible = np.isfinite(t) & (t_top > 1.0 - 1e-9)
    t = np.where(visible, t, np.nan)
    out_lon, out_lat = _geodetic_from_surface_ecef(sx + t * dx, sy + t * dy, sz + t * dz, WGS84_A_KM, WGS84_B_KM)
    out_lon = ((out_lon + 180.0) % 360.0) - 180.0
    return out_lon, out_lat


def true_lonlat(
    lon: np.ndarray, lat: np.ndarray, height_km: np.ndarray, sub_lon: float
) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`apparent_lonlat`: the position under a top at ``height_km`` seen at (lon, lat).

    The synthetic renderer uses it to ask, for a pixel, which ground point a cloud top at a given
    height would have to stand on to be seen there.
    """
    lon, lat, h = np.broadcast_arrays(
        np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64), np.asarray(height_km, dtype=np.float64)
    )
    gx, gy, gz = _ecef_from_geodetic(lon, lat, WGS84_A_KM, WGS84_B_KM)
    sx, sy, sz = satellite_ecef(sub_lon)
    dx, dy, dz = gx - sx, gy - sy, gz - sz
    a, b = WGS84_A_KM + h, WGS84_B_KM + h
    t = _first_hit(sx, sy, sz, dx, dy, dz, a, b)
    out_lon, out_lat = _geodetic_from_surface_ecef(sx + t * dx, sy + t * dy, sz + t * dz, a, b)
    out_lon = ((out_lon + 180.0) % 360.0) - 180.0
    return out_lon, out_lat


def great_circle_km(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Haversine distance on a mean-radius sphere (km); accurate to ~0.5% for parallax-sized shifts."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (lon1, lat1, lon2, lat2))
    s = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2.0 * EARTH_MEAN_RADIUS_KM * np.arcsin(np.sqrt(np.clip(s, 0.0, 1.0)))


def parallax_shift_km(lon, lat, height_km, sub_lon: float) -> np.ndarray:
    """Length of the apparent displacement of a point at ``height_km`` (km); NaN where not visible."""
    alon, alat = apparent_lonlat(lon, lat, height_km, sub_lon)
    return great_circle_km(lon, lat, alon, alat)
