"""CALIPSO VFM reader: native per-shot decode, the common profile schema, the track and a summary.

A VFM record packs 15 laser shots into 5515 values across three altitude regions of different
vertical and horizontal resolution (see ``cloudbench.products.calipso_vfm``). Everything here starts
by expanding a record into 15 per-shot profiles on the 545 native altitude cells, so a 180 m cell
applies to the 5 shots it spans and a 60 m cell to its 3 shots; the profile of the common schema is
the laser shot (333 m), which is what the collocation needs to follow the track at imager scale.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from cloudbench import config
from cloudbench.checksums import sha256_file
from cloudbench.config import CLEAR, ICE, UNLABELED, WATER, HeightGrid
from cloudbench.errors import DataError
from cloudbench.products import calipso_vfm as vfm
from cloudbench.readers import regrid
from cloudbench.readers._hdf4 import Hdf4File, open_hdf4


def _class_lookup() -> np.ndarray:
    """Class code for every possible uint16 flag value (one table lookup per cell when reading)."""
    values = np.arange(1 << 16, dtype=np.uint32)
    ftype = vfm.feature_type(values)
    phase = vfm.ice_water_phase(values)
    lut = np.full(values.size, UNLABELED, dtype=np.uint8)
    lut[np.isin(ftype, (vfm.CLEAR_AIR, vfm.TROPOSPHERIC_AEROSOL, vfm.STRATOSPHERIC_AEROSOL))] = CLEAR
    is_cloud = ftype == vfm.CLOUD
    lut[is_cloud & np.isin(phase, (vfm.PHASE_RANDOM_ICE, vfm.PHASE_ORIENTED_ICE))] = ICE
    lut[is_cloud & (phase == vfm.PHASE_WATER)] = WATER
    return lut


FLAG_TO_CLASS = _class_lookup()  # VFM has no mixed phase: the lidar alone cannot see it
_SHOT_CELL_INDEX = vfm.shot_cell_index()


def flags_to_classes(flags: np.ndarray) -> np.ndarray:
    """Raw Feature_Classification_Flags -> class codes of ``cloudbench.config`` (same shape)."""
    return FLAG_TO_CLASS[np.asarray(flags, dtype=np.uint16)]


def expand_records(values: np.ndarray) -> np.ndarray:
    """(N, 5515) per-record values -> (N * 15, 545) per-shot profiles, top to bottom."""
    values = np.asarray(values)
    return values[:, _SHOT_CELL_INDEX].reshape(values.shape[0] * vfm.SHOTS_PER_RECORD, vfm.N_ALTITUDES)


RECORD_BLOCK = 512  # records regridded at a time (~20 MB of fractions)


def regrid_records(classes: np.ndarray, grid: HeightGrid = config.DEFAULT_GRID) -> np.ndarray:
    """(N, 5515) class codes in the record layout -> (N * 15, Z) per-shot classes on ``grid``.

    Same result as regridding the per-shot expansion (``expand_records``), computed without it:
    bin fractions add up over disjoint cells, so each region's sub-profiles are regridded once and
    their fractions added to the shots they span (3 shots per 60 m sub-profile, 5 per 180 m one).
    """
    classes = np.asarray(classes)
    n = classes.shape[0]
    shots = vfm.SHOTS_PER_RECORD
    n_classes = len(regrid.LABELED_CLASSES)
    out = np.empty((n * shots, grid.n), dtype=np.uint8)
    for r0 in range(0, n, RECORD_BLOCK):
        block = classes[r0 : r0 + RECORD_BLOCK]
        nb = block.shape[0]
        fractions = np.zeros((nb, shots, n_classes, grid.n), dtype=np.float64)
        for region in vfm.REGIONS:
            sub = block[:, region.offset : region.offset + region.size].reshape(nb * region.n_subprofiles, region.bins)
            part = regrid.cell_fractions(sub, region.cell_edges_km(), grid)
            spread = fractions.reshape(nb, region.n_subprofiles, region.shots_per_subprofile, n_classes, grid.n)
            spread += part.reshape(nb, region.n_subprofiles, 1, n_classes, grid.n)
        out[r0 * shots : (r0 + nb) * shots] = regrid.classify_fractions(fractions.reshape(nb * shots, n_classes, grid.n))
    return out


# --- raw access ----------------------------------------------------------------------------------
def _column(h: Hdf4File, name: str) -> np.ndarray:
    data = h.read_sds(name)
    return data[:, 0] if data.ndim == 2 else data.ravel()


def _read_flags(h: Hdf4File) -> np.ndarray:
    flags = h.read_sds(vfm.SDS_FLAGS)
    if flags.ndim != 2 or flags.shape[1] != vfm.N_CELLS or flags.shape[0] == 0:
        raise DataError(
            f"{vfm.SDS_FLAGS} has shape {flags.shape}, expected (records, {vfm.N_CELLS})",
            path=h.path,
        )
    return flags.astype(np.uint16, copy=False)


def _check_records(h: Hdf4File, n: int, **columns: np.ndarray) -> None:
    for name, values in columns.items():
        if values.shape[0] != n:
            raise DataError(f"{name} has {values.shape[0]} records but {vfm.SDS_FLAGS} has {n}", path=h.path)


def _interp_extrap(x_known: np.ndarray, y_known: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Linear interpolation that extrapolates linearly past both ends (np.interp clamps)."""
    if x_known.size == 1:
        return np.full(x.shape, y_known[0], dtype=np.float64)
    y = np.interp(x, x_known, y_known)
    lo, hi = x < x_known[0], x > x_known[-1]
    slope_lo = (y_known[1] - y_known[0]) / (x_known[1] - x_known[0])
    slope_hi = (y_known[-1] - y_known[-2]) / (x_known[-1] - x_known[-2])
    y[lo] = y_known[0] + slope_lo * (x[lo] - x_known[0])
    y[hi] = y_known[-1] + slope_hi * (x[hi] - x_known[-1])
    return y


def _wrap_lon(lon: np.ndarray) -> np.ndarray:
    return (lon + 180.0) % 360.0 - 180.0


def _read_records(h: Hdf4File):
    """Flags and the per-record columns both full readers need, checked to agree in length.

    Returns (flags, latitude, longitude, record time as datetime64[ns], day/night flag).
    """
    flags = _read_flags(h)
    lat, lon = _column(h, vfm.SDS_LATITUDE), _column(h, vfm.SDS_LONGITUDE)
    utc = _column(h, vfm.SDS_PROFILE_UTC_TIME)
    day_night = _column(h, vfm.SDS_DAY_NIGHT)
    _check_records(h, flags.shape[0], Latitude=lat, Longitude=lon, Profile_UTC_Time=utc, Day_Night_Flag=day_night)
    return flags, lat, lon, vfm.profile_utc_time_to_datetime64(utc), day_night


def _shot_geolocation(h: Hdf4File, n_records: int, record_time: np.ndarray, lat: np.ndarray, lon: np.ndarray):
    """Per-shot (time, lat, lon): the ss* SDS when the file has them (V4), else interpolated (V3).

    V3 files give one position per record, that of shot 7 (the record centre); shot s of record r
    sits at record position r + (s - 7) / 15 along the track.
    """
    n_shots = n_records * vfm.SHOTS_PER_RECORD
    names = (vfm.SS_PROFILE_UTC_TIME, vfm.SS_LATITUDE, vfm.SS_LONGITUDE)
    if all(h.has_sds(name) for name in names):
        ss_time, ss_lat, ss_lon = (_column(h, name) for name in names)
        if ss_time.size == n_shots and ss_lat.size == n_shots and ss_lon.size == n_shots:
            times = vfm.profile_utc_time_to_datetime64(ss_time)
            return times, ss_lat.astype(np.float64), ss_lon.astype(np.float64)
    record_pos = np.arange(n_records, dtype=np.float64)
    shot = np.arange(vfm.SHOTS_PER_RECORD)
    shot_pos = (record_pos[:, None] + (shot[None, :] - vfm.RECORD_CENTRE_SHOT) / vfm.SHOTS_PER_RECORD).ravel()
    t0 = record_time[0]
    offsets_ns = (record_time - t0).astype(np.int64).astype(np.float64)
    times = t0 + np.rint(_interp_extrap(record_pos, offsets_ns, shot_pos)).astype("timedelta64[ns]")
    shot_lat = np.clip(_interp_extrap(record_pos, lat.astype(np.float64), shot_pos), -90.0, 90.0)
    unwrapped = np.rad2deg(np.unwrap(np.deg2rad(lon.astype(np.float64))))
    shot_lon = _wrap_lon(_interp_extrap(record_pos, unwrapped, shot_pos))
    return times, shot_lat, shot_lon


def _file_attrs(path: Path) -> dict:
    info = vfm.parse_filename(path.name)
    return {
        "product": vfm.PRODUCT,
        "version": info.version if info else "unknown",
        "granule_id": path.name[:-4] if path.name.endswith(".hdf") else path.name,
        "source_file": str(path),
    }


def _metadata_attrs(h: Hdf4File) -> dict:
    if not h.has_vdata(vfm.METADATA_VDATA):
        return {}
    meta = h.read_vdata(vfm.METADATA_VDATA)
    out = {}
    for field, values in meta.items():
        value = values[0] if len(values) else None
        if isinstance(value, np.ndarray):
            out[field] = value.astype(np.float64)
        elif isinstance(value, np.generic):
            out[field] = value.item()
        else:
            out[field] = value
    return out


# --- public API -------------------------------------------------------------------------------------
def read_vfm_native(path: str | Path) -> xr.Dataset:
    """Decode every bit field per laser shot on the 545 native altitude cells.

    Returns a Dataset with dims ``profile`` (records x 15 shots), ``altitude`` (545, top to bottom),
    ``record`` and ``xyz``. ``record_index`` and ``shot`` tell where each profile came from; the
    per-shot ``time``, ``latitude``, ``longitude`` come from the ss* SDS (V4) or are interpolated
    between record centres (V3). The ``metadata`` Vdata fields are in ``attrs``.
    """
    path = Path(path)
    with open_hdf4(path, product=vfm.PRODUCT) as h:
        flags, lat, lon, record_time, day_night = _read_records(h)
        n = flags.shape[0]
        times, shot_lat, shot_lon = _shot_geolocation(h, n, record_time, lat, lon)
        record_vars = {
            "record_time": ("record", record_time),
            "record_latitude": ("record", lat.astype(np.float64)),
            "record_longitude": ("record", lon.astype(np.float64)),
            "day_night_flag": ("record", day_night.astype(np.uint8)),
        }
        if h.has_sds(vfm.SDS_LAND_WATER):
            record_vars["land_water_mask"] = ("record", _column(h, vfm.SDS_LAND_WATER).astype(np.int8))
        if h.has_sds(vfm.SDS_PROFILE_TIME):
            record_vars["profile_time_tai"] = ("record", _column(h, vfm.SDS_PROFILE_TIME).astype(np.float64))
        if h.has_sds(vfm.SDS_SPACECRAFT_POSITION):
            record_vars["spacecraft_position"] = (("record", "xyz"), h.read_sds(vfm.SDS_SPACECRAFT_POSITION))
        attrs = {**_file_attrs(path), **_metadata_attrs(h)}
    native = expand_records(flags)
    edges = vfm.cell_edges_km()
    data_vars = {"feature_classification_flags": (("profile", "altitude"), native)}
    for name, decode in vfm.BIT_FIELDS.items():
        data_vars[name] = (("profile", "altitude"), decode(native))
    data_vars.update(record_vars)
    coords = {
        "time": ("profile", times),
        "latitude": ("profile", shot_lat),
        "longitude": ("profile", shot_lon),
        "record_index": ("profile", np.repeat(np.arange(n), vfm.SHOTS_PER_RECORD)),
        "shot": ("profile", np.tile(np.arange(vfm.SHOTS_PER_RECORD), n)),
        "altitude": ("altitude", 0.5 * (edges[:-1] + edges[1:])),
        "altitude_top": ("altitude", edges[:-1]),
        "altitude_bottom": ("altitude", edges[1:]),
    }
    ds = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    ds["altitude"].attrs["units"] = "km"
    return ds


def read_vfm(path: str | Path, grid: HeightGrid = config.DEFAULT_GRID) -> xr.Dataset:
    """Read a VFM granule into the common profile schema (profile = laser shot).

    Classes per native cell come from one lookup table over the flag value (spec table: clear air
    and aerosol -> clear; cloud of phase 1/3 -> ice, 2 -> water; everything else -> 255, so the
    totally attenuated cells below an opaque cloud stay unlabeled), then ``regrid`` applies the
    three rules on the common grid.
    """
    path = Path(path)
    with open_hdf4(path, product=vfm.PRODUCT) as h:
        flags, lat, lon, record_time, day_night = _read_records(h)
        n = flags.shape[0]
        times, shot_lat, shot_lon = _shot_geolocation(h, n, record_time, lat, lon)
    phase = regrid_records(flags_to_classes(flags), grid)
    n_shots = n * vfm.SHOTS_PER_RECORD
    ds = xr.Dataset(
        {
            "time": ("profile", times),
            "latitude": ("profile", shot_lat),
            "longitude": ("profile", shot_lon),
            "day_night": ("profile", np.repeat(day_night.astype(np.uint8), vfm.SHOTS_PER_RECORD)),
            "surface_elevation": ("profile", np.full(n_shots, np.nan, dtype=np.float32)),
            "phase": (("profile", "height"), phase),
            "cloud_top_height": ("profile", regrid.cloud_top_height(phase, grid)),
        },
        coords={"height": ("height", grid.centres_km)},
        attrs={**_file_attrs(path), "sha256": sha256_file(path), "height_edges_km": [float(e) for e in grid.edges_km]},
    )
    ds["height"].attrs["units"] = "km"
    ds["cloud_top_height"].attrs["units"] = "m"
    ds["surface_elevation"].attrs["comment"] = "not in the VFM product"
    return ds


def read_vfm_track(path: str | Path) -> xr.Dataset:
    """Time, latitude and longitude per RECORD (5 km, the record centre): cheap, for planning.

    Only three small SDS are read (no flags), which is why the track is per record, not per shot.
    """
    path = Path(path)
    with open_hdf4(path, product=vfm.PRODUCT) as h:
        lat, lon = _column(h, vfm.SDS_LATITUDE), _column(h, vfm.SDS_LONGITUDE)
        utc = _column(h, vfm.SDS_PROFILE_UTC_TIME)
        _check_records(h, lat.shape[0], Longitude=lon, Profile_UTC_Time=utc)
    return xr.Dataset(
        {
            "time": ("profile", vfm.profile_utc_time_to_datetime64(utc)),
            "latitude": ("profile", lat.astype(np.float64)),
            "longitude": ("profile", lon.astype(np.float64)),
        },
        attrs={**_file_attrs(path), "sampling": "record"},
    )


def _iso(t: np.datetime64) -> str:
    return str(np.datetime_as_string(t, unit="ms")) + "Z"


def vfm_summary(path: str | Path) -> dict:
    """The ``inspect --json`` summary of a VFM file (JSON-serialisable).

    Counts are over the RAW (records, 5515) flags, as stored: ``vfm_feature_type_counts`` per
    feature type 0..7, ``vfm_cloud_phase_counts`` per phase 0..3 of the cloud cells. Times and
    ranges are those of the record centres (Profile_UTC_Time, Latitude, Longitude).
    """
    path = Path(path)
    with open_hdf4(path, product=vfm.PRODUCT) as h:
        flags = _read_flags(h)
        lat, lon = _column(h, vfm.SDS_LATITUDE), _column(h, vfm.SDS_LONGITUDE)
        utc = _column(h, vfm.SDS_PROFILE_UTC_TIME)
        _check_records(h, flags.shape[0], Latitude=lat, Longitude=lon, Profile_UTC_Time=utc)
    ftype = vfm.feature_type(flags)
    phase = vfm.ice_water_phase(flags[ftype == vfm.CLOUD])
    times = vfm.profile_utc_time_to_datetime64(utc)
    attrs = _file_attrs(path)
    return {
        "product": attrs["product"],
        "version": attrs["version"],
        "n_records": int(flags.shape[0]),
        "n_profiles": int(flags.shape[0] * vfm.SHOTS_PER_RECORD),
        "time_start": _iso(times.min()),
        "time_end": _iso(times.max()),
        "lat_range": [float(np.nanmin(lat)), float(np.nanmax(lat))],
        "lon_range": [float(np.nanmin(lon)), float(np.nanmax(lon))],
        "vfm_feature_type_counts": [int(c) for c in np.bincount(ftype.ravel(), minlength=8)],
        "vfm_cloud_phase_counts": [int(c) for c in np.bincount(phase.ravel(), minlength=4)],
    }
