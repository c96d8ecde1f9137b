"""CloudSat 2B-CLDCLASS-LIDAR reader: layer table, common profile schema, track and summary.

The product is an HDF-EOS2 swath, read here with plain pyhdf (no HDF-EOS library): rank-1 fields
are one-field Vdata, rank-2 fields SDS, field attributes Vdata named ``<Field>.<attr>`` that
``vdatainfo()`` hides, so they are attached by name. Phase comes as a layer table (base/top in km,
CloudPhase per layer), which is rasterised straight onto the common grid by ``regrid.layer_fractions``
(no detour through the 240 m radar bins, whose edges drift from ray to ray).

Per ray, on the common grid: above the surface and outside every layer -> clear; inside a layer ->
its phase (CloudPhase 1 ice, 2 mixed, 3 water); a layer whose CloudPhase is 0 (not determined) or
-9 (missing) -> 255 over its span; below ``DEM_elevation`` (0 m over ocean, where it is -9999) ->
255. A ray whose ``Cloudlayer`` is fill, or whose used layer slots hold fill heights (-99), is
unlabeled as a whole: where its clouds are is unknown, so no bin can be called clear.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import xarray as xr

from cloudbench import config
from cloudbench.checksums import sha256_file
from cloudbench.config import ICE, MIXED, UNLABELED, WATER, HeightGrid
from cloudbench.errors import DataError
from cloudbench.products import cloudsat_cldclass_lidar as cs
from cloudbench.readers import regrid
from cloudbench.readers._hdf4 import Hdf4File, open_hdf4

_PHASE_TO_CLASS = {cs.PHASE_ICE: ICE, cs.PHASE_MIXED: MIXED, cs.PHASE_WATER: WATER}


def _attr(h: Hdf4File, field: str, name: str):
    """A field attribute from its ``<Field>.<attr>`` Vdata, or None when absent."""
    key = f"{field}.{name}"
    if not h.has_vdata(key):
        return None
    values = h.read_vdata(key)
    value = next(iter(values.values()))
    if isinstance(value, list):
        return value[0] if value else None
    arr = np.asarray(value).ravel()
    return arr[0].item() if arr.size else None


def _scaled(h: Hdf4File, field: str, stored: np.ndarray) -> np.ndarray:
    """Science value = (stored - offset) / factor, with the field's own attributes when present."""
    factor = _attr(h, field, "factor")
    offset = _attr(h, field, "offset")
    factor = 1.0 if factor in (None, 0) else float(factor)
    offset = 0.0 if offset is None else float(offset)
    if factor == 1.0 and offset == 0.0:
        return stored
    return (stored.astype(np.float64) - offset) / factor


def _vdata(h: Hdf4File, name: str, nray: int | None = None) -> np.ndarray:
    values = h.read_vdata_field(name)
    if nray is not None and values.shape[0] != nray:
        raise DataError(f"field {name!r} has {values.shape[0]} values, expected {nray} (one per ray)", path=h.path)
    return values


def _sds(h: Hdf4File, name: str, nray: int) -> np.ndarray:
    values = h.read_sds(name)
    if values.ndim != 2 or values.shape[0] != nray:
        raise DataError(f"SDS {name!r} has shape {values.shape}, expected ({nray}, n)", path=h.path)
    return values


def _granule_date(h: Hdf4File, path: Path) -> tuple[np.datetime64, dict]:
    """The date (00:00 UTC) of the first profile: from the file name, else from ``start_time``."""
    info = cs.parse_filename(path.name)
    if info is not None:
        day = info.start.replace(hour=0, minute=0, second=0, tzinfo=None)
        meta = {"version": info.version, "granule": info.granule}
        return np.datetime64(day, "ns"), meta
    if h.has_vdata("start_time"):
        start = str(next(iter(h.read_vdata("start_time").values()))[0])
        day = datetime.strptime(start[:8], "%Y%m%d")
        granule = h.read_vdata_field("granule_number")[0] if h.has_vdata("granule_number") else -1
        version = next(iter(h.read_vdata("product_version").values()))[0] if h.has_vdata("product_version") else "unknown"
        return np.datetime64(day, "ns"), {"version": str(version), "granule": int(granule)}
    raise DataError(
        "cannot tell the date of the first profile: neither a 2B-CLDCLASS-LIDAR file name nor a start_time attribute",
        path=path,
        fix="keep the archive's file name (YYYYDDDHHMMSS_<granule>_CS_2B-CLDCLASS-LIDAR_GRANULE_...)",
    )


def _read_geolocation(h: Hdf4File, path: Path) -> dict:
    for name in cs.REQUIRED_VDATA:
        if not h.has_vdata(name):
            raise DataError(
                f"missing field {name!r}: not a {cs.PRODUCT} file",
                path=path,
                fix=f"pass a CloudSat {cs.PRODUCT} granule",
            )
    for name in cs.REQUIRED_SDS:
        if not h.has_sds(name):
            raise DataError(f"missing SDS {name!r}: not a complete {cs.PRODUCT} file", path=path, fix="download it again")
    day, meta = _granule_date(h, path)
    profile_time = _vdata(h, cs.PROFILE_TIME).astype(np.float64)
    nray = profile_time.shape[0]
    utc_start = float(_vdata(h, cs.UTC_START)[0])
    seconds = utc_start + profile_time  # passes 86,400 when the granule crosses midnight
    times = day + np.rint(seconds * 1e9).astype("timedelta64[ns]")
    lat = _vdata(h, cs.LATITUDE, nray).astype(np.float64)
    lon = _vdata(h, cs.LONGITUDE, nray).astype(np.float64)
    return {"nray": nray, "time": times, "latitude": lat, "longitude": lon, **meta}


def _file_attrs(path: Path, meta: dict) -> dict:
    return {
        "product": cs.PRODUCT,
        "version": meta["version"],
        "granule_id": path.name[:-4] if path.name.endswith(".hdf") else path.name,
        "granule": int(meta["granule"]),
        "source_file": str(path),
    }


def read_cldclass_native(path: str | Path) -> xr.Dataset:
    """The layer table and geolocation as stored (science units), one row per radar ray.

    Dims ``profile`` (ray), ``layer`` (10 slots), ``bin`` (125 radar bins, top first, when the file
    has ``Height``). Layer heights in km with fills kept as stored (-99), so tests and ``inspect``
    see what the file says.
    """
    path = Path(path)
    with open_hdf4(path, product=cs.PRODUCT) as h:
        geo = _read_geolocation(h, path)
        nray = geo["nray"]
        data = {
            "time": ("profile", geo["time"]),
            "latitude": ("profile", geo["latitude"]),
            "longitude": ("profile", geo["longitude"]),
            "cloudlayer": ("profile", _vdata(h, cs.CLOUDLAYER, nray).astype(np.int8)),
            "layer_base_km": (("profile", "layer"), _scaled(h, cs.CLOUD_LAYER_BASE, _sds(h, cs.CLOUD_LAYER_BASE, nray))),
            "layer_top_km": (("profile", "layer"), _scaled(h, cs.CLOUD_LAYER_TOP, _sds(h, cs.CLOUD_LAYER_TOP, nray))),
            "cloud_phase": (("profile", "layer"), _sds(h, cs.CLOUD_PHASE, nray).astype(np.int8)),
        }
        if h.has_vdata(cs.DEM_ELEVATION):
            data["dem_elevation"] = ("profile", _vdata(h, cs.DEM_ELEVATION, nray).astype(np.int16))
        if h.has_vdata(cs.NAVIGATION_LAND_SEA_FLAG):
            data["land_sea_flag"] = ("profile", _vdata(h, cs.NAVIGATION_LAND_SEA_FLAG, nray).astype(np.int8))
        for name, var in ((cs.CLOUD_LAYER_TYPE, "cloud_layer_type"), (cs.CLOUD_PHASE_CONFIDENCE, "cloud_phase_confidence")):
            if h.has_sds(name):
                data[var] = (("profile", "layer"), _sds(h, name, nray).astype(np.int8))
        if h.has_sds(cs.HEIGHT):
            data["height_m"] = (("profile", "bin"), _sds(h, cs.HEIGHT, nray).astype(np.int16))
        attrs = _file_attrs(path, geo)
    return xr.Dataset(data, attrs=attrs)


def _solar_night(times: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """1 where the sun is below the horizon (approximate solar position, ~0.5 deg): day_night flag.

    The product carries no day/night flag; CloudSat has flown in daylight only since 2011, so this
    is nearly always 0 for real granules.
    """
    t = (times - np.datetime64("2000-01-01T12:00", "ns")).astype(np.float64) / 86_400e9
    mean_lon = np.deg2rad((280.460 + 0.9856474 * t) % 360.0)
    anomaly = np.deg2rad((357.528 + 0.9856003 * t) % 360.0)
    ecl_lon = mean_lon + np.deg2rad(1.915) * np.sin(anomaly) + np.deg2rad(0.020) * np.sin(2 * anomaly)
    obliquity = np.deg2rad(23.439 - 4e-7 * t)
    declination = np.arcsin(np.sin(obliquity) * np.sin(ecl_lon))
    right_asc = np.arctan2(np.cos(obliquity) * np.sin(ecl_lon), np.cos(ecl_lon))
    gmst = np.deg2rad((280.46061837 + 360.98564736629 * t) % 360.0)
    hour_angle = gmst + np.deg2rad(lon) - right_asc
    la = np.deg2rad(lat)
    cos_zenith = np.sin(la) * np.sin(declination) + np.cos(la) * np.cos(declination) * np.cos(hour_angle)
    return (cos_zenith < 0.0).astype(np.uint8)


def _surface_km(dem: np.ndarray | None, nray: int) -> np.ndarray:
    if dem is None:
        return np.zeros(nray, dtype=np.float64)
    dem = dem.astype(np.float64)
    return np.where(dem == cs.DEM_OCEAN, 0.0, dem / 1000.0)


def layer_classes(native: xr.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(base_km, top_km, class, ray_ok) from the native layer table, by the module's rules."""
    base = native["layer_base_km"].values.astype(np.float64)
    top = native["layer_top_km"].values.astype(np.float64)
    phase = native["cloud_phase"].values
    count = native["cloudlayer"].values.astype(np.int64)
    slots = np.arange(base.shape[1])[None, :]
    used = slots < count[:, None]
    fill = (base <= cs.LAYER_HEIGHT_FILL + 0.5) | (top <= cs.LAYER_HEIGHT_FILL + 0.5) | ~np.isfinite(base) | ~np.isfinite(top)
    ray_ok = (count >= 0) & ~(used & fill).any(axis=1)
    layer_class = np.full(phase.shape, UNLABELED, dtype=np.uint8)
    for code, cls in _PHASE_TO_CLASS.items():
        layer_class[phase == code] = cls
    base = np.where(used & ~fill, base, np.nan)
    top = np.where(used & ~fill, top, np.nan)
    return base, top, layer_class, ray_ok


def read_cldclass_lidar(path: str | Path, grid: HeightGrid = config.DEFAULT_GRID) -> xr.Dataset:
    """Read a 2B-CLDCLASS-LIDAR granule into the common profile schema (profile = radar ray)."""
    path = Path(path)
    native = read_cldclass_native(path)
    nray = native.sizes["profile"]
    base, top, layer_class, ray_ok = layer_classes(native)
    dem = native["dem_elevation"].values if "dem_elevation" in native else None
    surface_km = _surface_km(dem, nray)
    surface_for_grid = np.where(ray_ok, surface_km, np.nan)
    top_of_data = np.inf
    if "height_m" in native:
        top_bin = native["height_m"].values[:, 0].astype(np.float64)
        top_of_data = np.where(top_bin == cs.HEIGHT_FILL, np.inf, (top_bin + cs.VERTICAL_BINSIZE_M / 2) / 1000.0)
    fractions = regrid.layer_fractions(base, top, layer_class, surface_for_grid, grid, top_of_data_km=top_of_data)
    phase = regrid.classify_fractions(fractions)
    times = native["time"].values
    lat = native["latitude"].values
    lon = native["longitude"].values
    ds = xr.Dataset(
        {
            "time": ("profile", times),
            "latitude": ("profile", lat),
            "longitude": ("profile", lon),
            "day_night": ("profile", _solar_night(times, lat, lon)),
            "surface_elevation": ("profile", (surface_km * 1000.0).astype(np.float32)),
            "phase": (("profile", "height"), phase),
            "cloud_top_height": ("profile", regrid.cloud_top_height(phase, grid)),
        },
        coords={"height": ("height", grid.centres_km)},
        attrs={**native.attrs, "sha256": sha256_file(path), "height_edges_km": [float(e) for e in grid.edges_km]},
    )
    ds["height"].attrs["units"] = "km"
    ds["cloud_top_height"].attrs["units"] = "m"
    ds["surface_elevation"].attrs["units"] = "m"
    return ds


def read_cldclass_track(path: str | Path) -> xr.Dataset:
    """Time, latitude, longitude per ray, reading only the geolocation Vdata (for planning)."""
    path = Path(path)
    with open_hdf4(path, product=cs.PRODUCT) as h:
        geo = _read_geolocation(h, path)
    return xr.Dataset(
        {"time": ("profile", geo["time"]), "latitude": ("profile", geo["latitude"]), "longitude": ("profile", geo["longitude"])},
        attrs={**_file_attrs(path, geo), "sampling": "ray"},
    )


def _iso(t: np.datetime64) -> str:
    return str(np.datetime_as_string(t, unit="ms")) + "Z"


def cldclass_summary(path: str | Path) -> dict:
    """The ``inspect --json`` summary of a 2B-CLDCLASS-LIDAR granule (JSON-serialisable).

    ``layer_counts_by_phase`` counts the used layer slots (the first ``Cloudlayer`` of each ray) by
    CloudPhase code, as stored.
    """
    path = Path(path)
    native = read_cldclass_native(path)
    count = np.clip(native["cloudlayer"].values.astype(np.int64), 0, None)
    used = np.arange(native.sizes["layer"])[None, :] < count[:, None]
    phases = native["cloud_phase"].values[used]
    counts = {str(code): int((phases == code).sum()) for code in cs.PHASES}
    times = native["time"].values
    lat = native["latitude"].values
    lon = native["longitude"].values
    return {
        "product": cs.PRODUCT,
        "version": native.attrs["version"],
        "granule": native.attrs["granule"],
        "n_profiles": int(native.sizes["profile"]),
        "time_start": _iso(times.min()),
        "time_end": _iso(times.max()),
        "lat_range": [float(np.nanmin(lat)), float(np.nanmax(lat))],
        "lon_range": [float(np.nanmin(lon)), float(np.nanmax(lon))],
        "n_layers": int(used.sum()),
        "layer_counts_by_phase": counts,
    }
