"""Render a geostationary imager slot from a :class:`~cloudbench.synthetic.scene.Scene`.

The bands are built so that cloud phase is physically learnable from them, with the signs real
retrievals rely on:
- IR brightness temperature = cloud-top temperature blended with the clear-sky surface by the
  cloud's emissivity ``1 - exp(-k * tau_ir)``; ice absorbs more at 12 um than at 11 um (positive
  split-window difference for thin ice) and less at 8.6 um (``BT(8.6) - BT(11) > 0`` for ice, < 0 for
  water);
- VIS/NIR reflectance rises with optical depth and with the Sun's height (0 at night); at 1.6 um and
  2.2 um ice reflects much less than water; the 1.38 um band sees only high clouds;
- absorbing bands (water vapour, CO2) see the clear sky at a band-specific height and only clouds
  above it.
Each pixel is rendered at its own line time (its own time, for imagers that record one per pixel), so
clouds move during the scan, and at the position of
the parallax-displaced cloud top (highest top wins), as the real imager sees it.

Values are physical (reflectance % or brightness temperature K) on the 2 km grid; NaN off the disk.
The product writers quantise them into counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from cloudbench.config import ICE, MIXED, WATER, Region
from cloudbench.synthetic.orbit import _to_ns
from cloudbench.synthetic.parallax import (
    GEO_RADIUS_KM,
    WGS84_A_KM,
    WGS84_B_KM,
    _ecef_from_geodetic,
    satellite_ecef,
)
from cloudbench.synthetic.scene import ApparentView, Scene, surface_air_temperature_k, temperature_k

_NS = 1_000_000_000
BLOCK_PIXELS = 1_500_000  # pixels rendered at once (bounds memory on full-size disks)


# --- viewing geometry -----------------------------------------------------------------------------
def solar_zenith(lon, lat, time) -> np.ndarray:
    """Solar zenith angle (deg) from the day of year and UTC time (mean Sun, declination formula).

    Accurate to ~1 deg, enough to decide day/night and to shade reflectances.
    """
    t = np.asarray(time, dtype="datetime64[ns]")
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    day = t.astype("datetime64[D]")
    doy = (day - day.astype("datetime64[Y]")).astype(np.int64) + 1
    hours = (t - day).astype(np.int64) / (3600.0 * _NS)
    gamma = 2 * np.pi / 365.0 * (doy - 1 + (hours - 12) / 24)
    decl = (
        0.006918 - 0.399912 * np.cos(gamma) + 0.070257 * np.sin(gamma) - 0.006758 * np.cos(2 * gamma)
        + 0.000907 * np.sin(2 * gamma) - 0.002697 * np.cos(3 * gamma) + 0.00148 * np.sin(3 * gamma)
    )
    eqtime_min = 229.18 * (
        0.000075 + 0.001868 * np.cos(gamma) - 0.032077 * np.sin(gamma) - 0.014615 * np.cos(2 * gamma) - 0.040849 * np.sin(2 * gamma)
    )
    solar_time_h = hours + (eqtime_min + 4.0 * lon) / 60.0
    ha = np.radians(15.0 * (solar_time_h - 12.0))
    la = np.radians(lat)
    cosz = np.sin(la) * np.sin(decl) + np.cos(la) * np.cos(decl) * np.cos(ha)
    return np.degrees(np.arccos(np.clip(cosz, -1.0, 1.0)))


def satellite_zenith(lon, lat, sub_lon: float) -> np.ndarray:
    """Zenith angle (deg) of a geostationary satellite above ``sub_lon`` seen from the ground point."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    gx, gy, gz = _ecef_from_geodetic(lon, lat, WGS84_A_KM, WGS84_B_KM)
    sx, sy, sz = satellite_ecef(sub_lon, GEO_RADIUS_KM)
    la, lo = np.radians(lat), np.radians(lon)
    nx, ny, nz = np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)  # ellipsoid normal
    vx, vy, vz = sx - gx, sy - gy, sz - gz
    cosz = (nx * vx + ny * vy + nz * vz) / np.sqrt(vx * vx + vy * vy + vz * vz)
    return np.degrees(np.arccos(np.clip(cosz, -1.0, 1.0)))


def _product(geometry):
    from cloudbench.sensors.registry import imager_for_platform

    return imager_for_platform(geometry.platform)


def slot_line_times(geometry, slot_start: datetime | np.datetime64) -> np.ndarray:
    """Per-line observation times (sample grid) the product writer will record for this slot."""
    return _product(geometry).synthetic_line_times(geometry, _as_datetime(slot_start))


def _roi_mask(roi: Region, margin_deg: float, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Pixels within ``margin_deg`` of the region (a box grown by the margin; wraps the antimeridian)."""
    span = (roi.east - roi.west) % 360.0 if roi.west > roi.east else roi.east - roi.west
    south, north = max(roi.south - margin_deg, -90.0), min(roi.north + margin_deg, 90.0)
    if span + 2 * margin_deg >= 360.0:
        return np.isfinite(lon) & (lat >= south) & (lat <= north)
    west = ((roi.west - margin_deg + 180.0) % 360.0) - 180.0
    east = ((roi.east + margin_deg + 180.0) % 360.0) - 180.0
    return Region(west, south, east, north).contains(lon, lat) & np.isfinite(lon)


def _as_datetime(t) -> datetime:
    """Aware UTC datetime from a datetime or datetime64."""
    if isinstance(t, datetime):
        return t if t.tzinfo is not None else t.replace(tzinfo=UTC)
    us = int((np.datetime64(t, "us") - np.datetime64("1970-01-01", "us")).astype(np.int64))
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


# --- band physics ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Window:
    clear_offset_k: float  # clear-sky BT = skin temperature - this (water vapour absorption)
    k: dict[int, float]  # emissivity scale per phase
    delta_k: dict[int, float]  # phase-specific emission offset of an opaque cloud


@dataclass(frozen=True)
class _Absorbing:
    weighting_km: float  # height whose temperature the clear sky shows


@dataclass(frozen=True)
class _Solar:
    land_albedo: float
    ocean_albedo: float
    phase_factor: dict[int, float]  # cloud reflectance scale per phase
    rayleigh: float = 0.0
    high_only: bool = False  # 1.38 um: water vapour hides everything below ~5 km


_UNIT = {ICE: 1.0, MIXED: 1.0, WATER: 1.0}


def _physics(wavelength_um: float):
    w = wavelength_um
    if w < 0.5:
        return _Solar(0.08, 0.05, _UNIT, rayleigh=6.0)
    if w < 0.55:
        return _Solar(0.09, 0.05, _UNIT, rayleigh=4.5)
    if w < 0.7:
        return _Solar(0.12, 0.04, _UNIT, rayleigh=2.0)
    if w < 1.0:
        return _Solar(0.30, 0.03, _UNIT, rayleigh=0.5)
    if w < 1.45:
        return _Solar(0.0, 0.0, _UNIT, high_only=True)
    if w < 1.8:
        return _Solar(0.25, 0.02, {WATER: 0.85, MIXED: 0.65, ICE: 0.45})
    if w < 2.5:
        return _Solar(0.15, 0.01, {WATER: 0.60, MIXED: 0.40, ICE: 0.25})
    if w < 4.5:
        return _Window(0.5, {ICE: 0.7, MIXED: 0.75, WATER: 0.8}, {ICE: 0.0, MIXED: 0.0, WATER: 0.0})
    if w < 6.6:
        return _Absorbing(9.0)
    if w < 7.1:
        return _Absorbing(7.0)
    if w < 8.0:
        return _Absorbing(5.0)
    if w < 9.0:
        return _Window(2.5, {ICE: 0.8, MIXED: 0.95, WATER: 1.1}, {ICE: 1.5, MIXED: 0.0, WATER: -1.5})
    if w < 10.0:
        return _Window(8.0, {ICE: 0.9, MIXED: 0.95, WATER: 1.0}, {ICE: 0.0, MIXED: 0.0, WATER: 0.0})
    if w < 10.8:
        return _Window(0.5, {ICE: 0.95, MIXED: 0.97, WATER: 1.0}, {ICE: 0.0, MIXED: 0.0, WATER: 0.0})
    if w < 11.8:
        return _Window(1.0, {ICE: 1.0, MIXED: 1.0, WATER: 1.0}, {ICE: 0.0, MIXED: 0.0, WATER: 0.0})
    if w < 12.9:
        return _Window(2.5, {ICE: 1.2, MIXED: 1.12, WATER: 1.05}, {ICE: -0.5, MIXED: -0.25, WATER: 0.0})
    return _Absorbing(3.5)


def _by_phase(table: dict[int, float], phase: np.ndarray) -> np.ndarray:
    out = np.full(phase.shape, table.get(WATER, 1.0), dtype=np.float64)
    for code, value in table.items():
        out[phase == code] = value
    return out


@dataclass
class RenderedSlot:
    """Physical band values of one slot on the 2 km grid, with the times and the view they came from."""

    bands: dict[str, np.ndarray]  # (lines, cols) float32, % or K, NaN off disk
    line_times: np.ndarray  # (lines,) datetime64[ns]
    view: ApparentView | None  # flattened per-pixel view (row-major over the disk); None unless kept
    solar_zenith: np.ndarray  # (lines, cols) deg
    satellite_zenith: np.ndarray  # (lines, cols) deg
    pixel_times: np.ndarray | None = None  # (lines, cols) datetime64[ns] where a line's pixels differ (FCI)


def render_slot(
    scene: Scene,
    geometry,
    slot_start: datetime | np.datetime64,
    bands: list[str] | tuple[str, ...] | None = None,
    *,
    seed: int = 0,
    noise: bool = True,
    line_times: np.ndarray | None = None,
    roi: Region | None = None,
    roi_margin_deg: float = 10.0,
    keep_view: bool = True,
) -> RenderedSlot:
    """Render the bands of one full-disk slot.

    Args:
        scene: The cloud field.
        geometry: A ``products.geostationary.FullDiskGeometry`` (its 2 km grid is rendered).
        slot_start: Nominal slot time; line times follow the product's scan model unless given.
        bands: Band names (``B01``..``B16`` or ``C01``..``C16``); all by default.
        seed: Seeds the instrument noise (combined with the slot time, so slots differ).
        noise: Add small Gaussian noise (0.15 K, 0.3 %); off for exact tests.
        line_times: Per-line times to use instead of the nominal scan model. Without them, a product
            with per-pixel times (``synthetic_pixel_times``) renders each pixel at its own time.
        roi: Region of interest: pixels farther than ``roi_margin_deg`` from it are rendered as
            clear sky without searching for clouds (keeps reduced test archives fast). None renders
            clouds everywhere.
        roi_margin_deg: Margin around ``roi`` (deg).
        keep_view: Keep the per-pixel :class:`ApparentView` (the truth behind each pixel) on the
            result; full-size disks may want to drop it (tens of millions of columns).

    The disk is rendered in blocks of lines (``BLOCK_PIXELS`` pixels each) so memory stays bounded at
    full size.
    """
    product = _product(geometry)
    names = tuple(bands) if bands is not None else tuple(product.band_names)
    bad = [b for b in names if b not in product.bands]
    if bad:
        raise ValueError(f"{bad} are not {product.description} bands; choose from {', '.join(product.band_names)}")
    lines, cols = (int(v) for v in geometry.shape)
    pixel_times = None
    if line_times is None:
        pixel_times = product.synthetic_pixel_times(geometry, _as_datetime(slot_start))
        line_times = slot_line_times(geometry, slot_start)
    view_times = line_times if pixel_times is None else pixel_times
    slot_s = int((_to_ns(slot_start) - np.datetime64("1970-01-01", "ns")).astype(np.int64) // _NS)
    out = {name: np.full((lines, cols), np.nan, dtype=np.float32) for name in names}
    sza_out = np.full((lines, cols), np.nan, dtype=np.float32)
    vza_out = np.full((lines, cols), np.nan, dtype=np.float32)
    views: list[ApparentView] = []
    block = max(1, min(lines, BLOCK_PIXELS // max(cols, 1)))
    for r0 in range(0, lines, block):
        r1 = min(lines, r0 + block)
        rows, cc = np.divmod(np.arange(r0 * cols, r1 * cols), cols)
        active = None
        if roi is not None:
            from cloudbench.synthetic.scene import pixel_lonlat

            plon, plat = pixel_lonlat(geometry.area(), rows, cc)
            active = _roi_mask(roi, roi_margin_deg, plon, plat)
        view = scene.apparent_view(geometry, rows, cc, view_times, active=active)
        values, sza, vza = _render_pixels(scene, geometry, view, names, noise=noise, seed=(int(seed), slot_s % (2**32), r0))
        for name in names:
            out[name][r0:r1] = values[name].reshape(r1 - r0, cols)
        sza_out[r0:r1] = sza.reshape(r1 - r0, cols)
        vza_out[r0:r1] = vza.reshape(r1 - r0, cols)
        if keep_view:
            views.append(view)
    return RenderedSlot(
        bands=out,
        line_times=np.asarray(line_times, dtype="datetime64[ns]"),
        view=_concat_views(views) if keep_view else None,
        solar_zenith=sza_out,
        satellite_zenith=vza_out,
        pixel_times=None if pixel_times is None else np.asarray(pixel_times, dtype="datetime64[ns]"),
    )


def _concat_views(views: list[ApparentView]) -> ApparentView:
    if len(views) == 1:
        return views[0]
    from cloudbench.synthetic.layers import TrackLayers

    layers = TrackLayers(
        **{f: np.concatenate([getattr(v.layers, f) for v in views]) for f in TrackLayers.__dataclass_fields__}
    )
    cat = {f: np.concatenate([getattr(v, f) for v in views]) for f in ("lon", "lat", "time", "covered", "true_lon", "true_lat")}
    return ApparentView(layers=layers, **cat)


def _render_pixels(scene: Scene, geometry, view: ApparentView, names, *, noise: bool, seed: tuple[int, int, int]):
    """Band values (flat, physical units, NaN off disk), solar and satellite zenith for one block of pixels."""
    on = np.isfinite(view.lon)
    lon = np.where(on, view.lon, 0.0)
    lat = np.where(on, view.lat, 0.0)
    sza = solar_zenith(lon, lat, view.time)
    vza = satellite_zenith(lon, lat, float(geometry.sub_lon))
    mu0 = np.clip(np.cos(np.radians(sza)), 0.0, 1.0)

    layers = view.layers
    covered = np.isfinite(layers.top_km[:, 0]) & on
    top = np.where(covered, layers.top_km[:, 0], 0.0).astype(np.float64)
    phase = np.where(covered, layers.phase[:, 0], 0)
    tau = np.where(covered, np.nansum(np.where(np.isfinite(layers.optical_depth), layers.optical_depth, 0.0), axis=1), 0.0)
    t_top = temperature_k(top, lat)
    land = scene.surface_km(lon, lat) > 0
    # skin temperature: zonal mean + a diurnal cycle (strong over land) peaking after local noon
    local_h = (view.time - view.time.astype("datetime64[D]")).astype(np.int64) / (3600.0 * _NS) + lon / 15.0
    diurnal = np.cos(np.radians(15.0 * (local_h - 13.0)))
    t_skin = surface_air_temperature_k(lat) + np.where(land, 8.0, 1.0) * diurnal
    r_cloud = tau / (tau + 13.0)  # two-stream-like: rises with optical depth, saturates at ~1

    out: dict[str, np.ndarray] = {}
    for name in names:
        band = _product(geometry).bands[name]
        phys = _physics(band.wavelength_um)
        if isinstance(phys, _Solar):
            alb = np.where(land, phys.land_albedo, phys.ocean_albedo)
            rc = r_cloud * _by_phase(phys.phase_factor, phase)
            if phys.high_only:
                rc = rc * np.clip((top - 5.0) / 3.0, 0.0, 1.0)
            refl = rc + (1 - rc) ** 2 * alb / (1 - rc * alb)
            value = 100.0 * mu0 * refl + phys.rayleigh * mu0
            sigma = 0.3
        elif isinstance(phys, _Absorbing):
            t_clear = temperature_k(phys.weighting_km, lat)
            eps = 1.0 - np.exp(-tau / 2.0)
            w = np.clip((top - (phys.weighting_km - 2.0)) / 2.0, 0.0, 1.0) * covered
            value = t_clear + w * eps * np.minimum(t_top - t_clear, 0.0)
            sigma = 0.15
        else:
            eps = np.where(covered, 1.0 - np.exp(-_by_phase(phys.k, phase) * tau / 2.0), 0.0)
            t_clear = t_skin - phys.clear_offset_k
            value = eps * (t_top + _by_phase(phys.delta_k, phase)) + (1 - eps) * t_clear
            if band.wavelength_um < 4.5:  # 3.9 um: reflected sunlight by day, strongest for small droplets
                r39 = np.where(covered, np.where(phase == WATER, 0.25, np.where(phase == MIXED, 0.15, 0.08)) * (1 - np.exp(-tau / 4.0)), 0.0)
                r39 = r39 + np.where(land, 0.05, 0.02) * (1 - r_cloud)
                value = value + 60.0 * mu0 * r39
            sigma = 0.15
        if noise:
            rng = np.random.default_rng([*seed, band.number])
            value = value + rng.normal(0.0, sigma, value.shape)
        if isinstance(phys, _Solar):
            value = np.where(mu0 > 0, np.clip(value, 0.0, 120.0), 0.0)
        out[name] = np.where(on, value, np.nan).astype(np.float32)
    return out, np.where(on, sza, np.nan).astype(np.float32), np.where(on, vza, np.nan).astype(np.float32)
