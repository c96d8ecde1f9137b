"""A seeded, deterministic 3-D cloud field over the globe, moving with the wind.

Every synthetic product (lidar, radar, imager) is rendered from one :class:`Scene`, so tests can ask
the scene for the truth at any place and time and compare it with what the readers give back.

Design:
- Clouds are elliptical objects (tens to a few hundred km) with 1-3 layers (base/top km, optical
  depth). Heights vary gently (a low dome) so that neighbouring 2 km pixels mostly share a column.
- Objects are generated per 5 x 5 deg tile from a seed derived from (seed, tile), so the field at a
  place does not depend on which region or time span was asked for; the same seed is the same sky.
- The field is static in a frame moving with a uniform wind; the value at (lon, lat, t) is the static
  value at the back-advected position.
- Temperature follows a standard atmosphere whose surface temperature depends on latitude; a layer's
  phase follows its local top temperature: water above 0 C, ice below -38 C, and in between water,
  mixed or ice drawn per layer (colder -> more likely ice).
- Overlapping objects are merged into non-overlapping layers, top first (a higher layer clips the
  one under it), with bases kept above a smooth seeded terrain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from cloudbench.config import (
    CLEAR,
    FREEZING_K,
    HOMOGENEOUS_FREEZING_K,
    ICE,
    LAPSE_K_PER_KM,
    MIXED,
    UNLABELED,
    WATER,
    HeightGrid,
    Region,
)
from cloudbench.synthetic.layers import MAX_LAYERS, TrackLayers
from cloudbench.synthetic.orbit import _to_ns
from cloudbench.synthetic.parallax import true_lonlat

ColumnRule = Callable[[TrackLayers, HeightGrid], np.ndarray]
"""Layers -> (N, Z) class columns on a grid: :func:`rasterise_layers`, or a label product's ``ideal_columns``."""

KM_PER_DEG = 111.195
TILE_DEG = 5.0
MAX_SEMI_AXIS_KM = 250.0
MIN_LAYER_KM = 0.3  # thinner layers (after clipping) are dropped: no instrument resolves them reliably
MAX_CANDIDATES = 16
_NS = 1_000_000_000


# --- atmosphere -----------------------------------------------------------------------------------
def surface_air_temperature_k(lat: np.ndarray) -> np.ndarray:
    """Zonal-mean surface air temperature (K): ~301 K in the tropics, ~267 K at 60 deg."""
    s = np.sin(np.radians(np.asarray(lat, dtype=np.float64)))
    return 301.0 - 45.0 * s * s


def tropopause_temperature_k(lat: np.ndarray) -> np.ndarray:
    s = np.sin(np.radians(np.asarray(lat, dtype=np.float64)))
    return 200.0 + 20.0 * s * s


def temperature_k(z_km: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Standard-atmosphere temperature (K) at height z_km: LAPSE_K_PER_KM lapse rate, isothermal above the tropopause."""
    z = np.asarray(z_km, dtype=np.float64)
    return np.maximum(surface_air_temperature_k(lat) - LAPSE_K_PER_KM * z, tropopause_temperature_k(lat))


def phase_from_temperature(t_k: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Phase code from a layer's top temperature and a per-layer uniform draw ``u`` in [0, 1).

    Warmer than 0 C: water; colder than -38 C: ice; in between, the colder the likelier ice, with
    a band of mixed phase around the middle.
    """
    t_k = np.asarray(t_k, dtype=np.float64)
    f = np.clip((FREEZING_K - t_k) / (FREEZING_K - HOMOGENEOUS_FREEZING_K), 0.0, 1.0)
    phase = np.where(u < f - 0.15, ICE, np.where(u < f + 0.15, MIXED, WATER)).astype(np.uint8)
    phase = np.where(t_k >= FREEZING_K, WATER, phase)
    phase = np.where(t_k <= HOMOGENEOUS_FREEZING_K, ICE, phase)
    return phase.astype(np.uint8)


# --- cloud objects ----------------------------------------------------------------------------------
# (probability, [(base range km, thickness range km, optical depth log-range), ...] top layer first)
_CLOUD_TYPES: tuple[tuple[float, tuple[tuple[tuple[float, float], tuple[float, float], tuple[float, float]], ...]], ...] = (
    (0.30, (((0.4, 1.5), (0.5, 2.0), (2.0, 30.0)),)),  # stratocumulus / cumulus
    (0.15, (((2.5, 6.0), (0.7, 3.0), (1.0, 20.0)),)),  # altostratus / altocumulus
    (0.20, (((8.0, 12.5), (0.8, 3.0), (0.1, 3.0)),)),  # cirrus
    (0.10, (((0.6, 1.5), (8.0, 13.0), (30.0, 120.0)),)),  # deep convection (thickness from base)
    (0.15, (((8.5, 12.5), (0.8, 2.5), (0.1, 2.0)), ((0.4, 1.5), (0.5, 2.0), (2.0, 25.0)))),  # cirrus over low
    (0.10, (((9.0, 12.5), (0.8, 2.0), (0.1, 1.5)), ((3.5, 6.0), (0.7, 2.0), (1.0, 10.0)), ((0.4, 1.5), (0.5, 1.5), (2.0, 20.0)))),
)
_TYPE_P = np.array([p for p, _ in _CLOUD_TYPES])
_DEEP_TYPE = 3


@dataclass
class CloudObjects:
    """The objects of some tiles, in the static (t = scene start) frame."""

    lon: np.ndarray  # (M,) centre
    lat: np.ndarray
    a_km: np.ndarray  # semi-axes
    b_km: np.ndarray
    theta: np.ndarray  # orientation of the a axis, radians from east
    base: np.ndarray  # (M, 3) km, NaN unused
    top: np.ndarray  # (M, 3) central top km
    dome: np.ndarray  # (M, 3) km the top drops towards the rim
    tau: np.ndarray  # (M, 3) central optical depth
    phase_u: np.ndarray  # (M, 3) per-layer draw deciding phase between 0 and -38 C

    @property
    def m(self) -> int:
        return int(self.lon.shape[0])

    @property
    def top_max(self) -> np.ndarray:
        return np.max(np.where(np.isfinite(self.top), self.top, -np.inf), axis=1) if self.m else np.zeros(0)

    def extent_deg(self) -> tuple[np.ndarray, np.ndarray]:
        """Half-widths (dlon, dlat) in degrees of each object's bounding box."""
        half = self.a_km / KM_PER_DEG
        coslat = np.maximum(np.cos(np.radians(self.lat)), 0.05)
        return half / coslat, half

    def local_r2(self, k: int, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Squared normalised elliptical radius of points relative to object k (<= 1 inside)."""
        dlon = ((lon - self.lon[k] + 180.0) % 360.0) - 180.0
        x = dlon * KM_PER_DEG * np.cos(np.radians(self.lat[k]))
        y = (lat - self.lat[k]) * KM_PER_DEG
        c, s = np.cos(self.theta[k]), np.sin(self.theta[k])
        xr = c * x + s * y
        yr = -s * x + c * y
        return (xr / self.a_km[k]) ** 2 + (yr / self.b_km[k]) ** 2


def _generate_tile(seed: int, i_lat: int, i_lon: int, density: float) -> CloudObjects:
    rng = np.random.default_rng([seed, 7919, i_lat, i_lon])
    lat_c = -90.0 + (i_lat + 0.5) * TILE_DEG
    area = (TILE_DEG * KM_PER_DEG) ** 2 * max(np.cos(np.radians(lat_c)), 0.02)
    mean_area = np.pi * 0.7 * 7676.0  # E[pi a b] for a log-uniform in [15, 200] km, b ~ 0.7 a
    lam = -np.log(max(1e-6, 1.0 - min(density, 0.95))) * area / mean_area
    m = int(rng.poisson(lam))
    lon = -180.0 + (i_lon + rng.random(m)) * TILE_DEG
    lat = -90.0 + (i_lat + rng.random(m)) * TILE_DEG
    a = np.exp(rng.uniform(np.log(15.0), np.log(200.0), m))
    b = a * rng.uniform(0.4, 1.0, m)
    theta = rng.uniform(0, np.pi, m)
    kind = rng.choice(len(_CLOUD_TYPES), size=m, p=_TYPE_P / _TYPE_P.sum())
    base = np.full((m, 3), np.nan)
    top = np.full((m, 3), np.nan)
    tau = np.full((m, 3), np.nan)
    draws = rng.random((m, 3, 3))
    phase_u = rng.random((m, 3))
    for k in range(m):
        spec = _CLOUD_TYPES[kind[k]][1]
        for j, ((b0, b1), (t0, t1), (o0, o1)) in enumerate(spec):
            base[k, j] = b0 + (b1 - b0) * draws[k, j, 0]
            top[k, j] = base[k, j] + t0 + (t1 - t0) * draws[k, j, 1]
            tau[k, j] = np.exp(np.log(o0) + (np.log(o1) - np.log(o0)) * draws[k, j, 2])
        if kind[k] == _DEEP_TYPE:  # convective towers are compact
            a[k] = min(a[k], 80.0)
            b[k] = min(b[k], a[k])
    thick = top - base
    dome = np.minimum(0.25 * thick, 0.8)
    return CloudObjects(lon, lat, a, b, theta, base, top, dome, tau, phase_u)


def _concat(parts: list[CloudObjects]) -> CloudObjects:
    if not parts:
        z1, z3 = np.zeros(0), np.zeros((0, 3))
        return CloudObjects(z1, z1, z1, z1, z1, z3, z3, z3, z3, z3)
    return CloudObjects(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in CloudObjects.__dataclass_fields__)
    )


class _PointIndex:
    """Points binned on a 1-degree lon/lat grid, for finding the points inside a bounding box fast."""

    def __init__(self, lon: np.ndarray, lat: np.ndarray):
        ok = np.isfinite(lon) & np.isfinite(lat)
        lon = np.where(ok, lon, 0.0)
        lat = np.where(ok, lat, 0.0)
        ilat = np.clip(np.floor(lat + 90.0), 0, 179).astype(np.int64)
        ilon = np.floor((lon + 180.0) % 360.0).astype(np.int64) % 360
        key = np.where(ok, ilat * 360 + ilon, -1)
        self.order = np.argsort(key, kind="stable")
        self.keys = key[self.order]

    def query(self, lon0: float, lon1: float, lat0: float, lat1: float) -> np.ndarray:
        """Indices of points in the 1-degree cells overlapping the box (a superset of the box)."""
        out = []
        ilat0 = max(int(np.floor(lat0 + 90.0)), 0)
        ilat1 = min(int(np.floor(lat1 + 90.0)), 179)
        if lon1 - lon0 >= 359.0:
            ranges = [(0, 359)]
        else:
            a = int(np.floor((lon0 + 180.0) % 360.0))
            b = int(np.floor((lon1 + 180.0) % 360.0))
            ranges = [(a, b)] if a <= b else [(a, 359), (0, b)]
        for il in range(ilat0, ilat1 + 1):
            for a, b in ranges:
                lo = np.searchsorted(self.keys, il * 360 + a, side="left")
                hi = np.searchsorted(self.keys, il * 360 + b, side="right")
                if hi > lo:
                    out.append(self.order[lo:hi])
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


@dataclass
class ApparentView:
    """What a geostationary imager sees at each pixel: the highest parallax-displaced cloud top."""

    lon: np.ndarray  # pixel lon/lat (NaN off disk)
    lat: np.ndarray
    time: np.ndarray  # datetime64[ns] per pixel
    covered: np.ndarray  # bool: a cloud top is seen here
    true_lon: np.ndarray  # ground position under the seen top (pixel position where clear)
    true_lat: np.ndarray
    layers: TrackLayers  # the full column under the seen top (at the true position)

    @property
    def cloud_top_km(self) -> np.ndarray:
        return self.layers.cloud_top_km


class Scene:
    """A deterministic 3-D cloud field ``f(lon, lat, time)``.

    Args:
        seed: Same seed, same sky (independently of region and time span).
        start: Reference time: the field is static in a frame moving with the wind from here.
        end: End of the span of interest (metadata for archives; the field is defined at any time).
        region: The region of interest (metadata; clouds exist everywhere).
        wind_ms: Uniform wind (u eastward, v northward) in m/s moving every cloud.
        cloud_density: Expected cloud cover of a tile before overlap merging (0..0.95).
    """

    def __init__(
        self,
        seed: int,
        start: datetime | np.datetime64 | str,
        end: datetime | np.datetime64 | str | None = None,
        *,
        region: Region | None = None,
        wind_ms: tuple[float, float] = (8.0, 2.0),
        cloud_density: float = 0.5,
    ):
        self.seed = int(seed)
        self.start = _to_ns(start)
        self.end = None if end is None else _to_ns(end)
        self.region = region
        self.wind_ms = (float(wind_ms[0]), float(wind_ms[1]))
        self.cloud_density = float(cloud_density)
        self._tiles: dict[tuple[int, int], CloudObjects] = {}
        self._terrain = self._terrain_terms()

    def __repr__(self) -> str:
        return f"Scene(seed={self.seed}, start={self.start}, wind_ms={self.wind_ms}, cloud_density={self.cloud_density})"

    # --- motion ----------------------------------------------------------------------------------
    def _seconds(self, time) -> np.ndarray:
        t = np.asarray(time, dtype="datetime64[ns]")
        return (t - self.start).astype(np.int64) / _NS

    def static_position(self, lon, lat, time) -> tuple[np.ndarray, np.ndarray]:
        """Position at the scene start of the air that is at (lon, lat) at ``time``."""
        dt = self._seconds(time)
        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64)
        u, v = self.wind_ms
        lat0 = lat - v * dt / 1000.0 / KM_PER_DEG
        lon0 = lon - u * dt / 1000.0 / KM_PER_DEG / np.maximum(np.cos(np.radians(lat0)), 0.05)
        return ((lon0 + 180.0) % 360.0) - 180.0, lat0

    def moved_position(self, lon0, lat0, time) -> tuple[np.ndarray, np.ndarray]:
        """Position at ``time`` of the air that was at (lon0, lat0) at the scene start."""
        dt = self._seconds(time)
        lat0 = np.asarray(lat0, dtype=np.float64)
        u, v = self.wind_ms
        lat = lat0 + v * dt / 1000.0 / KM_PER_DEG
        lon = np.asarray(lon0, dtype=np.float64) + u * dt / 1000.0 / KM_PER_DEG / np.maximum(np.cos(np.radians(lat0)), 0.05)
        return ((lon + 180.0) % 360.0) - 180.0, lat

    # --- terrain ---------------------------------------------------------------------------------
    def _terrain_terms(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 104729])
        # (amplitude, k_lon, k_lat, phase_lon, phase_lat) of a few smooth waves
        k = rng.integers(1, 6, size=(6, 2)).astype(np.float64)
        return np.column_stack([rng.uniform(0.5, 1.0, 6), k, rng.uniform(0, 2 * np.pi, (6, 2))])

    def surface_km(self, lon, lat) -> np.ndarray:
        """Smooth seeded terrain (km above mean sea level; 0 over 'ocean'), fixed in time."""
        lon_r = np.radians(np.asarray(lon, dtype=np.float64))
        lat_r = np.radians(np.asarray(lat, dtype=np.float64))
        f = np.zeros(np.broadcast(lon_r, lat_r).shape)
        for amp, kx, ky, px, py in self._terrain:
            f = f + amp * np.sin(kx * lon_r + px) * np.cos(ky * lat_r + py)
        f = f / np.abs(self._terrain[:, 0]).sum()
        return np.clip(6.0 * (f - 0.2), 0.0, 2.0).astype(np.float32)

    # --- objects ---------------------------------------------------------------------------------
    def _tile(self, i_lat: int, i_lon: int) -> CloudObjects:
        key = (i_lat, i_lon % int(360 / TILE_DEG))
        if key not in self._tiles:
            self._tiles[key] = _generate_tile(self.seed, key[0], key[1], self.cloud_density)
        return self._tiles[key]

    def objects_near(self, lon0: np.ndarray, lat0: np.ndarray, margin_deg: float = 0.0) -> CloudObjects:
        """All objects (static frame) whose boxes may reach the given static positions."""
        ok = np.isfinite(lon0) & np.isfinite(lat0)
        if not ok.any():
            return _concat([])
        lat_ext = MAX_SEMI_AXIS_KM / KM_PER_DEG + margin_deg
        la0, la1 = float(np.min(lat0[ok])) - lat_ext, float(np.max(lat0[ok])) + lat_ext
        i0, i1 = max(int(np.floor((la0 + 90) / TILE_DEG)), 0), min(int(np.floor((la1 + 90) / TILE_DEG)), int(180 / TILE_DEG) - 1)
        # longitude cells present (with margin for the widest object at the most poleward latitude)
        coslat = max(np.cos(np.radians(min(max(abs(la0), abs(la1)), 85.0))), 0.05)
        lon_ext = lat_ext / coslat
        cells = np.unique(np.floor(((lon0[ok] + 180.0) % 360.0) / TILE_DEG).astype(int))
        n_lon = int(360 / TILE_DEG)
        reach = int(np.ceil(lon_ext / TILE_DEG))
        wanted = np.unique(np.concatenate([(cells + d) % n_lon for d in range(-reach, reach + 1)]))
        parts = [self._tile(i, int(j)) for i in range(i0, i1 + 1) for j in wanted]
        return _concat(parts)

    def _object_candidates(self, lon0, lat0, margin_deg: float = 0.0):
        """Yield (object set, k, indices of points whose static position may be inside object k)."""
        objs = self.objects_near(lon0, lat0, margin_deg)
        if objs.m == 0:
            return objs, []
        index = _PointIndex(lon0, lat0)
        dlon, dlat = objs.extent_deg()
        coslat = np.maximum(np.cos(np.radians(objs.lat)), 0.05)
        out = []
        for k in range(objs.m):
            mlon = margin_deg / coslat[k]
            idx = index.query(
                objs.lon[k] - dlon[k] - mlon, objs.lon[k] + dlon[k] + mlon,
                objs.lat[k] - dlat[k] - margin_deg, objs.lat[k] + dlat[k] + margin_deg,
            )
            if idx.size:
                out.append((k, idx))
        return objs, out

    # --- columns ---------------------------------------------------------------------------------
    def layers_at(self, lon, lat, time) -> TrackLayers:
        """The cloud layers over each (lon, lat, time) point, top first, as a :class:`TrackLayers`."""
        lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        time = np.broadcast_to(np.asarray(time, dtype="datetime64[ns]"), lon.shape).copy()
        n = lon.shape[0]
        lon0, lat0 = self.static_position(lon, lat, time)
        c_top = np.full((n, MAX_CANDIDATES), np.nan)
        c_base = np.full((n, MAX_CANDIDATES), np.nan)
        c_tau = np.full((n, MAX_CANDIDATES), np.nan)
        c_u = np.full((n, MAX_CANDIDATES), np.nan)
        count = np.zeros(n, dtype=np.int64)
        objs, cands = self._object_candidates(lon0, lat0)
        for k, idx in cands:
            r2 = objs.local_r2(k, lon0[idx], lat0[idx])
            inside = r2 <= 1.0
            if not inside.any():
                continue
            idx, r2 = idx[inside], r2[inside]
            for j in range(3):
                if not np.isfinite(objs.top[k, j]):
                    continue
                slot = count[idx]
                ok = slot < MAX_CANDIDATES
                ii, ss, rr = idx[ok], slot[ok], r2[ok]
                c_top[ii, ss] = objs.top[k, j] - objs.dome[k, j] * rr
                c_base[ii, ss] = objs.base[k, j]
                c_tau[ii, ss] = objs.tau[k, j] * (1.0 - 0.6 * rr)
                c_u[ii, ss] = objs.phase_u[k, j]
                count[ii] += 1
        surface = self.surface_km(lon, lat)
        return self._merge(time, lon, lat, surface, c_top, c_base, c_tau, c_u)

    def _merge(self, time, lon, lat, surface, c_top, c_base, c_tau, c_u) -> TrackLayers:
        """Non-overlapping layers, top first: a higher layer clips the top of the one below it."""
        n = lon.shape[0]
        order = np.argsort(np.where(np.isfinite(c_top), -c_top, np.inf), axis=1, kind="stable")
        c_top, c_base, c_tau, c_u = (np.take_along_axis(a, order, axis=1) for a in (c_top, c_base, c_tau, c_u))
        floor = surface.astype(np.float64) + 0.1
        lowest = np.full(n, np.inf)
        out_top = np.full((n, MAX_LAYERS), np.nan, dtype=np.float32)
        out_base = np.full((n, MAX_LAYERS), np.nan, dtype=np.float32)
        out_tau = np.full((n, MAX_LAYERS), np.nan, dtype=np.float32)
        out_phase = np.zeros((n, MAX_LAYERS), dtype=np.uint8)
        used = np.zeros(n, dtype=np.int64)
        rows = np.arange(n)
        for j in range(c_top.shape[1]):
            top = np.minimum(c_top[:, j], lowest)
            base = np.maximum(c_base[:, j], floor)
            keep = np.isfinite(top) & (top - base >= MIN_LAYER_KM) & (used < MAX_LAYERS)
            if not keep.any():
                continue
            r, s = rows[keep], used[keep]
            out_top[r, s] = top[keep]
            out_base[r, s] = base[keep]
            out_tau[r, s] = c_tau[keep, j]
            out_phase[r, s] = phase_from_temperature(temperature_k(top[keep], lat[keep]), c_u[keep, j])
            used[keep] += 1
            lowest = np.where(keep, np.minimum(lowest, base), lowest)
        from cloudbench.synthetic.render import solar_zenith  # local: render imports this module

        day_night = (solar_zenith(lon, lat, time) >= 90.0).astype(np.uint8)
        return TrackLayers(
            time=np.asarray(time, dtype="datetime64[ns]"),
            latitude=lat.astype(np.float64),
            longitude=lon.astype(np.float64),
            surface_km=surface.astype(np.float32),
            day_night=day_night,
            base_km=out_base,
            top_km=out_top,
            phase=out_phase,
            optical_depth=out_tau,
        )

    def cloud_top_km(self, lon, lat, time) -> np.ndarray:
        """Highest cloud top (km) at each point, NaN where clear."""
        return self.layers_at(lon, lat, time).cloud_top_km

    def truth_columns(self, lon, lat, time, grid: HeightGrid, columns: ColumnRule | None = None) -> np.ndarray:
        """Class code per common-grid bin (N, Z): clear above the surface, 255 below it.

        ``columns`` turns layers into columns (default :func:`rasterise_layers`, the exact layers);
        a label product's ``ideal_columns`` gives them as that product would report them.
        """
        return (columns or rasterise_layers)(self.layers_at(lon, lat, time), grid)

    # --- the imager's view -------------------------------------------------------------------------
    def apparent_view(self, geometry, rows, cols, line_times, *, active: np.ndarray | None = None) -> ApparentView:
        """What the imager sees at pixels (rows, cols): the cloud whose displaced top covers each pixel.

        Args:
            geometry: An object with ``.area()`` (pyresample AreaDefinition) or an AreaDefinition.
            rows, cols: Global pixel indices (same shape; flattened internally).
            line_times: datetime64 observation time of every line of the disk (indexed by row), or of
                every pixel (lines x cols, indexed by row and column) for imagers that see the pixels
                of one line at different times.
            active: Optional mask (flattened like rows): pixels outside it are treated as clear sky
                without searching for clouds (renders far from the region of interest stay cheap).
        """
        rows = np.asarray(rows).ravel()
        cols = np.asarray(cols).ravel()
        area = geometry.area() if hasattr(geometry, "area") and callable(geometry.area) else geometry
        plon, plat = pixel_lonlat(area, rows, cols)
        sub_lon = float(geometry.sub_lon) if hasattr(geometry, "sub_lon") else area_sub_lon(area)
        times = np.asarray(line_times, dtype="datetime64[ns]")
        time = times[rows] if times.ndim == 1 else times[rows, cols]
        n = rows.shape[0]
        best_h = np.full(n, -np.inf)
        best_lon = plon.copy()
        best_lat = plat.copy()
        dlon1, dlat1, dlon2, dlat2 = _parallax_polynomial(plon, plat, sub_lon)
        lon0, lat0 = self.static_position(plon, plat, time)
        if active is not None:
            active = np.asarray(active, dtype=bool).ravel()
            lon0 = np.where(active, lon0, np.nan)
            lat0 = np.where(active, lat0, np.nan)
        objs, cands = self._object_candidates(lon0, lat0, margin_deg=1.0)
        top_max = objs.top_max
        j_top = np.argmax(np.where(np.isfinite(objs.top), objs.top, -np.inf), axis=1) if objs.m else np.zeros(0, int)
        for k, idx in cands:
            h = np.full(idx.shape, top_max[k])
            jt = j_top[k]
            for _ in range(2):  # the top is a low dome: two fixed-point steps settle it
                tl = plon[idx] + h * dlon1[idx] + h * h * dlon2[idx]
                ta = plat[idx] + h * dlat1[idx] + h * h * dlat2[idx]
                sl, sa = self.static_position(tl, ta, time[idx])
                r2 = objs.local_r2(k, sl, sa)
                h = objs.top[k, jt] - objs.dome[k, jt] * np.clip(r2, 0, 1)
            inside = (r2 <= 1.0) & np.isfinite(tl)
            better = inside & (h > best_h[idx])
            if better.any():
                sel = idx[better]
                best_h[sel] = h[better]
                best_lon[sel] = ((tl[better] + 180.0) % 360.0) - 180.0
                best_lat[sel] = ta[better]
        covered = np.isfinite(best_h)
        off = ~(np.isfinite(plon) & np.isfinite(plat))
        search = ~off if active is None else (~off & active)
        layers = _empty_layers(plon, plat, time, self.surface_km(np.where(off, 0.0, plon), np.where(off, 0.0, plat)))
        if search.any():
            sub = self.layers_at(best_lon[search], best_lat[search], time[search])
            for name in ("latitude", "longitude", "surface_km", "day_night", "base_km", "top_km", "phase", "optical_depth"):
                getattr(layers, name)[search] = getattr(sub, name)
        return ApparentView(plon, plat, time, covered & ~off, best_lon, best_lat, layers)

    def apparent_truth(self, geometry, rows, cols, line_times, grid: HeightGrid,
                       columns: ColumnRule | None = None) -> np.ndarray:
        """Class column (N, Z) under the cloud top the imager sees at each pixel (clear where none).

        This is the label a perfect parallax-corrected collocation would attach to the pixel. Pixels
        off the disk are all 255. ``columns`` turns the layers there into columns (default: the exact
        layers by :func:`rasterise_layers`; a label product's ``ideal_columns`` samples them as the
        product does).
        """
        view = self.apparent_view(geometry, rows, cols, line_times)
        out = (columns or rasterise_layers)(view.layers, grid)
        out[~np.isfinite(view.lon)] = UNLABELED
        return out

    def footprint_truth(self, geometry, rows, cols, line_times, grid: HeightGrid,
                        sub: int = 4, columns: ColumnRule | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The truth at each pixel's centre (N, Z) and at ``sub`` x ``sub`` points over the pixel (N, sub*sub, Z).

        A pixel crossed by a cloud edge, a phase boundary or a cloud top passing a bin edge holds more
        than one truth column, and no single label can be the pixel's; judging labels against the
        truth needs to know which pixels those are. ``line_times`` is indexed by row (or by row and
        column), and ``columns`` is the rule from layers to columns, as for :meth:`apparent_truth`.
        """
        from pyresample.geometry import AreaDefinition

        rows = np.asarray(rows).ravel()
        cols = np.asarray(cols).ravel()
        area = geometry.area() if hasattr(geometry, "area") and callable(geometry.area) else geometry
        centre = self.apparent_truth(geometry, rows, cols, line_times, grid, columns)
        fine = AreaDefinition("sub", "sub-pixels", "sub", area.crs, area.width * sub, area.height * sub,
                              area.area_extent)
        i, j = np.meshgrid(np.arange(sub), np.arange(sub), indexing="ij")
        sub_rows = (rows[:, None] * sub + i.ravel()[None, :]).ravel()
        sub_cols = (cols[:, None] * sub + j.ravel()[None, :]).ravel()
        times = np.asarray(line_times)
        fine_times = np.repeat(times, sub) if times.ndim == 1 else np.repeat(np.repeat(times, sub, 0), sub, 1)
        over = self.apparent_truth(fine, sub_rows, sub_cols, fine_times, grid, columns)
        return centre, over.reshape(rows.size, sub * sub, -1)

    def apparent_cloud_top_km(self, geometry, rows, cols, line_times) -> np.ndarray:
        """Cloud-top height (km) the imager sees at each pixel, NaN where clear or off the disk."""
        return self.apparent_view(geometry, rows, cols, line_times).cloud_top_km


# --- helpers --------------------------------------------------------------------------------------
def rasterise_layers(layers: TrackLayers, grid: HeightGrid) -> np.ndarray:
    """Class code per grid bin from layers: the cloud covering most of a bin if it covers >= 1/3 of it.

    Bins less than half above the surface are 255 (unlabeled), the rest clear unless a cloud covers
    at least a third of the bin. This mirrors the dataset's regridding rule on perfect native data.
    """
    edges = grid.edges_km
    lo, hi = edges[:-1][None, :], edges[1:][None, :]
    width = hi - lo
    n = layers.n
    best_frac = np.zeros((n, grid.n))
    best_phase = np.zeros((n, grid.n), dtype=np.uint8)
    for j in range(layers.top_km.shape[1]):
        top = layers.top_km[:, j].astype(np.float64)[:, None]
        base = layers.base_km[:, j].astype(np.float64)[:, None]
        if not np.isfinite(top).any():
            continue
        frac = np.clip(np.minimum(hi, top) - np.maximum(lo, base), 0.0, None) / width
        frac = np.where(np.isfinite(frac), frac, 0.0)
        better = frac > best_frac
        best_frac = np.where(better, frac, best_frac)
        best_phase = np.where(better, layers.phase[:, j][:, None], best_phase)
    out = np.where(best_frac >= 1.0 / 3.0, best_phase, CLEAR).astype(np.uint8)
    surface = layers.surface_km.astype(np.float64)[:, None]
    above = np.clip(hi - np.maximum(lo, surface), 0.0, None) / width
    out[above < 0.5] = UNLABELED
    return out


def _empty_layers(lon, lat, time, surface_km) -> TrackLayers:
    """Cloud-free columns at the given points (the imager's view where no cloud is searched)."""
    n = lon.shape[0]
    from cloudbench.synthetic.render import solar_zenith

    day_night = (solar_zenith(np.nan_to_num(lon), np.nan_to_num(lat), time) >= 90.0).astype(np.uint8)
    return TrackLayers(
        time=np.asarray(time, dtype="datetime64[ns]"),
        latitude=np.asarray(lat, dtype=np.float64).copy(),
        longitude=np.asarray(lon, dtype=np.float64).copy(),
        surface_km=np.asarray(surface_km, dtype=np.float32).copy(),
        day_night=day_night,
        base_km=np.full((n, MAX_LAYERS), np.nan, dtype=np.float32),
        top_km=np.full((n, MAX_LAYERS), np.nan, dtype=np.float32),
        phase=np.zeros((n, MAX_LAYERS), dtype=np.uint8),
        optical_depth=np.full((n, MAX_LAYERS), np.nan, dtype=np.float32),
    )


def _parallax_polynomial(lon, lat, sub_lon: float, h1: float = 8.0, h2: float = 16.0):
    """Per pixel, coefficients c1, c2 with true(pixel, h) ~ pixel + c1 h + c2 h^2 (lon and lat).

    The exact inverse parallax costs two ellipsoid intersections; fitting a quadratic in height
    through 0, 8 and 16 km once per pixel reproduces it to a few metres below 20 km and lets every
    cloud object reuse it.
    """
    l1, a1 = true_lonlat(lon, lat, h1, sub_lon)
    l2, a2 = true_lonlat(lon, lat, h2, sub_lon)
    d1 = ((l1 - lon + 180.0) % 360.0) - 180.0
    d2 = ((l2 - lon + 180.0) % 360.0) - 180.0
    e1, e2 = a1 - lat, a2 - lat
    den = h1 * h2 * (h2 - h1)
    c2_lon = (d2 * h1 - d1 * h2) / den
    c1_lon = (d1 - c2_lon * h1 * h1) / h1
    c2_lat = (e2 * h1 - e1 * h2) / den
    c1_lat = (e1 - c2_lat * h1 * h1) / h1
    return c1_lon, c1_lat, c2_lon, c2_lat


def area_sub_lon(area) -> float:
    """Sub-satellite longitude of a geostationary AreaDefinition."""
    params = area.crs.to_dict() if hasattr(area, "crs") else dict(area.proj_dict)
    return float(params.get("lon_0", 0.0))


def pixel_lonlat(area, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat (deg) of pixel centres; NaN off the disk. Exact projection, no search."""
    from pyproj import Transformer

    x0, y0, x1, y1 = area.area_extent
    px = (x1 - x0) / area.width
    py = (y1 - y0) / area.height
    x = x0 + (np.asarray(cols, dtype=np.float64) + 0.5) * px
    y = y1 - (np.asarray(rows, dtype=np.float64) + 0.5) * py
    tr = Transformer.from_crs(area.crs, "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(x, y)
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    bad = ~(np.isfinite(lon) & np.isfinite(lat)) | (np.abs(lon) > 1e3) | (np.abs(lat) > 1e3)
    lon[bad] = np.nan
    lat[bad] = np.nan
    return lon, lat

