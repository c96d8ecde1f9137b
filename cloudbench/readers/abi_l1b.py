"""GOES-R ABI L1b radiance files: calibrated band, its place on the full disk, per-line times, satpy.

``read_abi`` reads with netCDF4 directly (only the requested lines) and calibrates with exactly
satpy's ``abi_l1b`` arithmetic (float32 throughout, reflectance in %), so the two agree; a test
holds them to that. It also says where the image sits on its full-disk fixed grid (mesoscale and
CONUS files are cut-outs of it), so every ABI file lands on global row/column numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import netCDF4
import numpy as np

from cloudbench.errors import DataError
from cloudbench.products import abi_l1b as P
from cloudbench.readers.unit_source import UnitSource, as_unit


@dataclass
class AbiImage:
    """One ABI band as read from one file (values at the band's native resolution).

    Attributes:
        path: the file.
        platform, band, scene: from the file name (``goes16``, ``C13``, ``F``/``C``/``M1``/``M2``).
        resolution_km: native resolution of the band.
        values: float32 (lines, columns): reflectance (%) for C01-C06, BT (K) for C07-C16; NaN at fill.
        first_row, first_col: the 0-based full-disk pixel (at this resolution) of ``values[0, 0]``.
        line_times: datetime64[ns] per line of ``values`` (see ``abi_l1b.line_times``).
        time_start, time_end: scan start and end (``time_bounds``; the attributes if absent).
        n_lines, n_columns: size of the whole image in the file.
        proj_lon, h, a, b: fixed-grid projection parameters; x_scale/x_offset/y_scale/y_offset: scan
            angles (rad) of pixel centres of the file, ``offset + i * scale``.
        attrs: global attributes of the file.
    """

    path: Path | str  # a URL for a file read in place
    platform: str
    band: str
    scene: str
    resolution_km: float
    values: np.ndarray
    first_row: int
    first_col: int
    line_times: np.ndarray
    time_start: np.datetime64
    time_end: np.datetime64
    n_lines: int
    n_columns: int
    proj_lon: float
    h: float
    a: float
    b: float
    x_scale: float
    x_offset: float
    y_scale: float
    y_offset: float
    sub_lon: float
    attrs: dict


def _var(ds: netCDF4.Dataset, name: str, path: Path) -> netCDF4.Variable:
    if name not in ds.variables:
        raise DataError(f"not an ABI L1b radiance file: variable {name!r} is missing", path=path)
    v = ds.variables[name]
    v.set_auto_maskandscale(False)
    return v


def _scalar_f32(ds: netCDF4.Dataset, name: str, path: Path) -> np.float32:
    """A float32 scalar with its _FillValue turned into NaN, as satpy reads it."""
    v = _var(ds, name, path)
    val = np.float32(np.asarray(v[...]).reshape(-1)[0])
    fill = v.getncattr("_FillValue") if "_FillValue" in v.ncattrs() else None
    if fill is not None and val == np.float32(fill):
        return np.float32(np.nan)
    return val


def _angles(ds: netCDF4.Dataset, axis: str, path: Path) -> tuple[float, float, int]:
    """(scale, offset, n) of the x or y scan angles, with satpy's rounding of scaled int16 values."""
    v = _var(ds, axis, path)
    n = v.shape[0]
    raw = np.asarray(v[:])
    if "scale_factor" in v.ncattrs():
        scale = round(float(v.getncattr("scale_factor")), 6)
        offset = round(float(v.getncattr("add_offset")), 6)
        first = raw[0] * scale + offset
        step = scale
    else:
        vals = raw.astype(np.float64)
        first = float(vals[0])
        step = float(vals[-1] - vals[0]) / (n - 1) if n > 1 else 0.0
    return step, float(first), n


def _times(ds: netCDF4.Dataset, path: Path) -> tuple[np.datetime64, np.datetime64]:
    if "time_bounds" in ds.variables:
        tb = np.asarray(_var(ds, "time_bounds", path)[:], dtype=np.float64)
        if tb.shape == (2,) and np.all(np.isfinite(tb)):
            ns = np.round(tb * 1e9).astype(np.int64).astype("timedelta64[ns]")
            return P.J2000_EPOCH + ns[0], P.J2000_EPOCH + ns[1]
    try:
        s = np.datetime64(ds.getncattr("time_coverage_start").rstrip("Z"), "ns")
        e = np.datetime64(ds.getncattr("time_coverage_end").rstrip("Z"), "ns")
    except (AttributeError, ValueError) as exc:
        raise DataError("ABI file has neither time_bounds nor time_coverage_start/end", path=path) from exc
    return s, e


def calibrate_rad(counts: np.ndarray, ds: netCDF4.Dataset, path: Path, kind: str) -> np.ndarray:
    """Rad counts -> reflectance (%) or BT (K) in satpy's arithmetic (float32)."""
    rad_var = _var(ds, "Rad", path)
    attrs = {k: rad_var.getncattr(k) for k in rad_var.ncattrs()}
    data = counts
    fill = attrs.get("_FillValue")
    if str(attrs.get("_Unsigned", "false")).lower() == "true":
        data = data.view(f"u{data.dtype.itemsize}")
        if fill is not None:
            fill = np.asarray(fill).astype(f"u{np.asarray(fill).dtype.itemsize}")
    out = data.astype(np.float32)
    if fill is not None:
        out[data == np.asarray(fill).item()] = np.nan
    scale = attrs.get("scale_factor", 1)
    offset = attrs.get("add_offset", 0)
    rad = out * np.float32(scale) + np.float32(offset) if scale != 1 else out
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "vis":
            esun = _scalar_f32(ds, "esun", path)
            esd = _scalar_f32(ds, "earth_sun_distance_anomaly_in_AU", path)
            if not (np.isfinite(esun) and np.isfinite(esd)):
                raise DataError("reflective band without esun / earth_sun_distance_anomaly_in_AU", path=path)
            factor = np.pi * esd * esd / esun
            return rad * np.float32(factor) * 100
        fk1, fk2, bc1, bc2 = (float(_scalar_f32(ds, n, path)) for n in ("planck_fk1", "planck_fk2", "planck_bc1", "planck_bc2"))
        if not all(np.isfinite([fk1, fk2, bc1, bc2])):
            raise DataError("emissive band without planck_fk1/fk2/bc1/bc2", path=path)
        return (fk2 / np.log(fk1 / rad + 1) - bc1) / bc2


def _open_dataset(unit: UnitSource) -> netCDF4.Dataset:
    """netCDF4 on the local file, or on the bytes of a file read in place (HDF5's in-memory driver)."""
    local = unit.local_path()
    if local is not None:
        return netCDF4.Dataset(local, "r")
    return netCDF4.Dataset(unit.name, "r", memory=unit.read_all())


def read_abi(path: str | Path | UnitSource, rows: slice | None = None) -> AbiImage:
    """Read and calibrate one ABI L1b file (optionally only lines ``rows`` of the file).

    Per-line times: ABI scans its scene north to south in east-west swaths but an L1b file only
    records the scan's start and end (``time_bounds``, exact; ``time_coverage_start/end`` rounded
    to 0.1 s). Line ``i`` of ``n`` is placed at ``start + (end - start) * (i + 0.5) / n``
    (``products.abi_l1b.line_times``); the error is bounded by half a swath's duration (~15 s in
    Mode 6 full disk), small against the matching tolerance.

    ``path`` may be a :class:`~cloudbench.readers.unit_source.UnitSource`: a file read in place is
    opened from its bytes in memory (no temporary file).

    Raises:
        DataError: not a readable netCDF file, or a required variable (``Rad``, ``x``, ``y``,
            calibration constants, times) is missing.
    """
    unit = as_unit(path)
    path = unit.local_path() or unit.location
    info = P.parse_filename(unit.name)
    try:
        ds = _open_dataset(unit)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise DataError(f"not a readable netCDF file ({exc})", path=path) from exc
    with ds:
        rad_var = _var(ds, "Rad", path)
        if rad_var.ndim != 2:
            raise DataError(f"Rad has {rad_var.ndim} dimensions, expected (y, x)", path=path)
        n_lines, n_cols = rad_var.shape
        sel = rows or slice(0, n_lines)
        r0, r1, _ = sel.indices(n_lines)
        band = info.band if info else f"C{int(np.asarray(_var(ds, 'band_id', path)[:]).reshape(-1)[0]):02d}"
        if band not in P.BANDS:
            raise DataError(f"unknown ABI band {band!r}", path=path)
        b = P.BANDS[band]
        platform = info.platform if info else P.CODE_PLATFORMS.get(str(ds.getncattr("platform_ID")), "unknown")
        scene = info.scene if info else "F"
        counts = np.asarray(rad_var[r0:r1, :])
        values = calibrate_rad(counts, ds, path, b.kind).astype(np.float32, copy=False)
        x_scale, x_first, _ = _angles(ds, "x", path)
        y_scale, y_first, _ = _angles(ds, "y", path)
        proj = _var(ds, "goes_imager_projection", path)
        pattrs = {k: proj.getncattr(k) for k in proj.ncattrs()}
        t0, t1 = _times(ds, path)
        sub_lon = float(_scalar_f32(ds, "nominal_satellite_subpoint_lon", path)) if (
            "nominal_satellite_subpoint_lon" in ds.variables) else float(pattrs["longitude_of_projection_origin"])
        attrs = {k: ds.getncattr(k) for k in ds.ncattrs()}
    step = abs(x_scale)
    if scene == "F" or step == 0:
        first_row = first_col = 0
    else:
        edge = P.FULL_DISK_HALF_ANGLE
        first_col = int(round((x_first - (-edge + step / 2)) / step))
        first_row = int(round(((edge - step / 2) - y_first) / step))
    times = P.line_times(t0, t1, n_lines)[r0:r1]
    return AbiImage(
        path=path, platform=platform, band=band, scene=scene, resolution_km=b.resolution_km, values=values,
        first_row=first_row + r0, first_col=first_col, line_times=times, time_start=t0, time_end=t1,
        n_lines=n_lines, n_columns=n_cols, proj_lon=float(pattrs["longitude_of_projection_origin"]),
        h=float(pattrs["perspective_point_height"]), a=float(pattrs["semi_major_axis"]),
        b=float(pattrs["semi_minor_axis"]), x_scale=x_scale, x_offset=x_first, y_scale=y_scale,
        y_offset=y_first, sub_lon=sub_lon, attrs=attrs,
    )


def load_satpy(paths: list[str | Path], bands: list[str] | tuple[str, ...]):
    """Load ABI L1b files with satpy's ``abi_l1b`` reader (reflectance % / BT K).

    Returns:
        The ``satpy.Scene`` with ``bands`` loaded (lazy dask arrays).
    """
    from satpy import Scene

    scn = Scene(filenames=[str(p) for p in paths], reader="abi_l1b")
    scn.load(list(bands))
    return scn
