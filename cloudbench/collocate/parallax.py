"""Inverse parallax: where a geostationary imager sees a profile's cloud top.

The imager geolocates every pixel as if it looked at the ellipsoid surface. A cloud top at height h
above the true position is therefore seen where the line of sight from the satellite through that
cloud top meets the surface: displaced away from the sub-satellite point. The active-sensor profile
knows its own cloud top (``cloud_top_height``), so we move each profile to its *apparent* position
before the pixel lookup, instead of correcting the imager with a cloud-top product it does not have.
The computation is exact on the projection's ellipsoid (satpy's correction assumes a sphere).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GeosGeometry:
    """Satellite position and ellipsoid of a geostationary projection (metres, degrees)."""

    sub_lon: float
    height: float  # satellite altitude above the ellipsoid at the sub-satellite point
    a: float = 6378137.0
    b: float = 6356752.314245

    @classmethod
    def from_area(cls, area) -> GeosGeometry:
        """Read lon_0, h and the ellipsoid from a pyresample geos ``AreaDefinition``."""
        crs = area.crs
        with warnings.catch_warnings():  # to_dict warns that PROJ strings are lossy; geos is not
            warnings.simplefilter("ignore", UserWarning)
            params = crs.to_dict()
        if params.get("proj") != "geos":
            raise ValueError(f"expected a geos projection, got {params.get('proj')!r}")
        ellipsoid = crs.ellipsoid
        return cls(
            sub_lon=float(params.get("lon_0", 0.0)),
            height=float(params["h"]),
            a=float(ellipsoid.semi_major_metre),
            b=float(ellipsoid.semi_minor_metre),
        )

    @property
    def satellite_xyz(self) -> np.ndarray:
        lon = np.deg2rad(self.sub_lon)
        r = self.a + self.height
        return np.array([r * np.cos(lon), r * np.sin(lon), 0.0])


def geodetic_to_ecef(lon: np.ndarray, lat: np.ndarray, alt: np.ndarray, a: float, b: float) -> np.ndarray:
    """Earth-centred cartesian coordinates (..., 3) in metres of geodetic lon/lat/altitude."""
    lon_r = np.deg2rad(lon)
    lat_r = np.deg2rad(lat)
    e2 = 1.0 - (b * b) / (a * a)
    n = a / np.sqrt(1.0 - e2 * np.sin(lat_r) ** 2)
    x = (n + alt) * np.cos(lat_r) * np.cos(lon_r)
    y = (n + alt) * np.cos(lat_r) * np.sin(lon_r)
    z = (n * (1.0 - e2) + alt) * np.sin(lat_r)
    return np.stack([x, y, z], axis=-1)


def surface_ecef_to_geodetic(xyz: np.ndarray, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Geodetic lon/lat of points lying on the ellipsoid surface (exact there, no iteration)."""
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    p = np.hypot(x, y)
    lat = np.rad2deg(np.arctan2(z * a * a, p * b * b))
    lon = np.rad2deg(np.arctan2(y, x))
    return lon, lat


def apparent_lonlat(
    geometry: GeosGeometry, lon: np.ndarray, lat: np.ndarray, cloud_top_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the imager geolocates a cloud top at ``cloud_top_m`` above ``lon``/``lat``.

    Clear profiles (NaN or non-positive cloud top) keep their position: the imager sees the surface
    there. Returns apparent lon, lat and the shift along the surface chord in km (0 where clear).
    A cloud top the satellite cannot see (behind the limb) comes back as NaN and is dropped by the
    geometry step like any off-disk position.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    h = np.asarray(cloud_top_m, dtype=np.float64)
    cloudy = np.isfinite(h) & (h > 0)
    out_lon = lon.copy()
    out_lat = lat.copy()
    shift = np.zeros(lon.shape, dtype=np.float64)
    if not cloudy.any():
        return out_lon, out_lat, shift
    a, b = geometry.a, geometry.b
    top = geodetic_to_ecef(lon[cloudy], lat[cloudy], h[cloudy], a, b)
    sat = geometry.satellite_xyz
    direction = top - sat
    # Intersect sat + t * direction with the ellipsoid: scale to a unit sphere, solve the quadratic.
    scale = np.array([1.0 / a, 1.0 / a, 1.0 / b])
    s0 = sat * scale
    d = direction * scale
    qa = np.einsum("ij,ij->i", d, d)
    qb = 2.0 * d @ s0
    qc = s0 @ s0 - 1.0
    disc = qb * qb - 4.0 * qa * qc
    with np.errstate(invalid="ignore"):
        t = (-qb - np.sqrt(disc)) / (2.0 * qa)  # first crossing seen from the satellite
    seen = (disc >= 0) & (t >= 1.0 - 1e-9)  # the ray must pass the cloud top before the surface
    hit = sat + t[:, None] * direction
    app_lon, app_lat = surface_ecef_to_geodetic(hit, a, b)
    app_lon = np.where(seen, app_lon, np.nan)
    app_lat = np.where(seen, app_lat, np.nan)
    ground = geodetic_to_ecef(lon[cloudy], lat[cloudy], np.zeros(int(cloudy.sum())), a, b)
    dist_km = np.linalg.norm(hit - ground, axis=-1) / 1000.0
    out_lon[cloudy] = app_lon
    out_lat[cloudy] = app_lat
    shift[cloudy] = np.where(seen, dist_km, np.nan)
    return out_lon, out_lat, shift
