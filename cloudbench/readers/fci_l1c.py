"""MTG FCI L1c FDHSI body chunks: calibrated channels, their place on the full disk, per-pixel times.

We read the chunks with h5py and calibrate with exactly the arithmetic of satpy's ``fci_l1c_nc`` reader
(float32 throughout, reflectance in %), rather than through satpy, for four measured reasons
(``benchmarks/bench_fci_read.py``, docs/benchmarks.md):

- compressed chunks: disseminated chunks compress ``effective_radiance`` with the FCIDECOMP (JPEG-LS)
  filter. hdf5plugin registers it with h5py's HDF5; netCDF4's wheels carry their own HDF5, which
  finds it only when ``HDF5_PLUGIN_PATH`` is set before netCDF4 is first imported, so satpy (which
  reads through netCDF4) fails with "undefined filter" in any process that touched netCDF4 first;
- one chunk at a time: collocation decodes only the chunks a job's patches cross, one at a time to
  bound memory; a satpy Scene over one chunk collects ~270 variables per file before loading a band;
- speed: on a real-size chunk (140 rows of 5568 columns at 2 km), ir_105 decodes in 0.060 s against
  0.47 s through a satpy Scene over that chunk, vis_06 (1 km) in 0.10 s against 0.78 s, the per-pixel
  times in 0.031 s against 0.58 s; eight chunks of one cycle in 0.47 s against 2.2 s.
- robustness: satpy's FCI reader reads through netCDF4 from dask's threads, which is not thread-safe
  (satpy issue #3043; measured here, 3 of 6 threaded runs crashed); h5py serialises HDF5 calls.

satpy does expose per-pixel times (``<channel>_time``); we read the same thing: the top-level ``time``
table indexed per pixel by ``data/<channel>/measured/index_map`` (minus the smallest ``index``), with
the epoch taken from the ``time`` variable's units. Tests hold our values, times and geometry to what
satpy's reader gives for the same files.

Orientation: chunks store rows from south to north and columns from west to east (x positive toward
west, negative scale factor); :func:`cloudbench.products.fci_l1c.orient` turns them north-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (registers the FCIDECOMP filter with h5py's HDF5)
import numpy as np

from cloudbench.errors import DataError
from cloudbench.products import fci_l1c as P


@dataclass(frozen=True)
class ChunkLayout:
    """Where one channel of one chunk sits: north-up native rows, columns, grid reduction.

    Attributes:
        channel: the channel read.
        start_row, end_row: the file's ``start/end_position_row`` (1-based from the south).
        row0, n_rows: the same rows in north-up numbering of the channel's full-disk grid.
        n_cols: columns of the channel's grid (the full width).
        x_scale: the x scale factor (negative: column 1 is the western edge).
        reduction: 1 for the real grid, k for a k-times coarser synthetic one.
        platform: ``meteosat12``.
        proj_lon: ``longitude_of_projection_origin``.
    """

    channel: str
    start_row: int
    end_row: int
    row0: int
    n_rows: int
    n_cols: int
    x_scale: float
    reduction: int
    platform: str
    proj_lon: float


def _open(path: str | Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"not a readable FCI L1c chunk (netCDF-4/HDF5): {exc}", path=path,
                        fix="download the chunk again") from exc


def _get(group: h5py.Group, name: str, path: str | Path):
    try:
        return group[name]
    except KeyError:
        full = f"{group.name.rstrip('/')}/{name}".lstrip("/")
        raise DataError(f"not an FCI L1c FDHSI chunk: {full} is missing", path=path) from None


def _attr(obj, name: str, path: str | Path):
    if name not in obj.attrs:
        raise DataError(f"not an FCI L1c FDHSI chunk: attribute {name} of {obj.name} is missing", path=path)
    value = obj.attrs[name]
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.reshape(-1)[0]
    return value


def _group(f: h5py.File, channel: str, path: str | Path) -> h5py.Group:
    if channel not in P.CHANNELS:
        raise DataError(f"{channel!r} is not an FCI channel; choose from {', '.join(P.CHANNEL_NAMES)}", path=path)
    return _get(f, f"data/{channel}/measured", path)


def _layout(f: h5py.File, channel: str, path: str | Path) -> ChunkLayout:
    g = _group(f, channel, path)
    start_row = int(np.asarray(_get(g, "start_position_row", path)[()]))
    end_row = int(np.asarray(_get(g, "end_position_row", path)[()]))
    x = _get(g, "x", path)
    n_cols = int(x.shape[0])
    x_scale = float(_attr(x, "scale_factor", path))
    res = P.CHANNELS[channel].resolution_km
    reduction = max(1, int(round(abs(x_scale) / P.SCAN_ANGLE_STEP[res])))
    rows = int(_get(g, "effective_radiance", path).shape[0])
    if rows != end_row - start_row + 1 or not (1 <= start_row <= end_row <= n_cols):
        raise DataError(f"{channel}: rows {start_row}..{end_row} do not match its {rows} stored rows of a "
                        f"{n_cols}-row grid", path=path)
    code = str(_attr(f, "platform", path))
    if code not in P.CODE_PLATFORMS:
        raise DataError(f"unknown FCI spacecraft {code!r} (known: {', '.join(P.CODE_PLATFORMS)})", path=path)
    proj = _get(f, "data/mtg_geos_projection", path)
    r0, r1 = P.grid_rows_of_file_rows(start_row, end_row, n_cols)
    return ChunkLayout(channel=channel, start_row=start_row, end_row=end_row, row0=r0, n_rows=r1 - r0, n_cols=n_cols,
                       x_scale=x_scale, reduction=reduction, platform=P.CODE_PLATFORMS[code],
                       proj_lon=float(_attr(proj, "longitude_of_projection_origin", path)))


def read_layout(path: str | Path, channel: str) -> ChunkLayout:
    """Rows, columns and grid of one channel of a chunk (no pixel is read)."""
    with _open(path) as f:
        return _layout(f, channel, path)


def _f32(g: h5py.Group, name: str, path: str | Path) -> np.float32:
    return np.float32(np.asarray(_get(g, name, path)[()]).reshape(-1)[0])


def _is_fill(value: np.float32, var) -> bool:
    fill = var.attrs.get("_FillValue", np.float32(9.96921e36))
    return bool(value == np.float32(np.asarray(fill).reshape(-1)[0]))


def calibrate(counts: np.ndarray, f: h5py.File, channel: str, path: str | Path) -> np.ndarray:
    """``effective_radiance`` counts (file order) -> reflectance (%) or BT (K), float32, as satpy computes them.

    Counts outside ``valid_range`` (the fill value among them) are NaN; ir_38's counts 4096..8191 use
    the warm scale factor and offset.
    """
    g = _group(f, channel, path)
    er = g["effective_radiance"]
    lo, hi = (np.asarray(er.attrs.get("valid_range", [0, np.inf])).tolist() + [np.inf])[:2]
    data = counts.astype(np.float32)
    data[(counts < lo) | (counts > hi)] = np.nan
    scale = np.float32(er.attrs.get("scale_factor", 1))
    offset = np.float32(er.attrs.get("add_offset", 0))
    if channel == "ir_38":
        warm = (counts > P.COUNT_MAX) & (counts <= P.WARM_COUNT_MAX)
        w_scale = np.float32(er.attrs.get("warm_scale_factor", 1))
        w_offset = np.float32(er.attrs.get("warm_add_offset", 0))
        rad = np.where(warm, data * w_scale + w_offset, data * scale + offset).astype(np.float32)
    else:
        rad = data * scale + offset
    with np.errstate(invalid="ignore", divide="ignore"):
        if P.CHANNELS[channel].kind == "ir":
            names = ("radiance_to_bt_conversion_coefficient_wavenumber", "radiance_to_bt_conversion_coefficient_a",
                     "radiance_to_bt_conversion_coefficient_b", "radiance_to_bt_conversion_constant_c1",
                     "radiance_to_bt_conversion_constant_c2")
            vc, a, b, c1, c2 = (_f32(g, n, path) for n in names)
            if any(_is_fill(v, g[n]) for v, n in zip((vc, a, b, c1, c2), names, strict=True)):
                raise DataError(f"{channel}: brightness temperature coefficients are fill values", path=path)
            nom = c2 * vc
            denom = a * np.log(1 + (c1 * vc ** np.float32(3.0)) / rad)
            return (nom / denom - b / a).astype(np.float32)
        cesi = _f32(g, "channel_effective_solar_irradiance", path)
        if _is_fill(cesi, g["channel_effective_solar_irradiance"]):
            raise DataError(f"{channel}: channel_effective_solar_irradiance is a fill value", path=path)
        d = _earth_sun_distance_au(f, path)
        return (100 * rad * np.float32(np.pi) * np.float32(d) ** np.float32(2) / cesi).astype(np.float32)


def _earth_sun_distance_au(f: h5py.File, path: str | Path) -> float:
    var = _get(f, "state/celestial/earth_sun_distance", path)
    lut = np.asarray(var[...], dtype=np.float64)
    fill = var.attrs.get("_FillValue")
    if fill is not None:
        lut = np.where(lut == np.asarray(fill).reshape(-1)[0], np.nan, lut)
    if not np.isfinite(lut).any():
        raise DataError("state/celestial/earth_sun_distance has no value", path=path)
    return float(np.nanmean(lut)) / P.ASTRONOMICAL_UNIT_KM


@dataclass
class ChunkImage:
    """One channel of one chunk, north-up and west-left, at the channel's native resolution."""

    layout: ChunkLayout
    values: np.ndarray  # float32 (rows, cols): reflectance % or BT K; NaN = no data
    pixel_times: np.ndarray | None  # datetime64[ns] (rows, cols), NaT where the file gives none


def _pixel_times(f: h5py.File, g: h5py.Group, path: str | Path) -> np.ndarray:
    """Per-pixel times in file order: ``time[index_map - min(index)]`` (NaT at fill or out of range)."""
    im = _get(g, "index_map", path)
    raw = np.asarray(im[...])
    fill = np.asarray(im.attrs.get("_FillValue", P.COUNT_FILL)).reshape(-1)[0]
    index = np.asarray(_get(f, "index", path)[...])
    time_var = _get(f, "time", path)
    try:
        lut = P.times_from_values(np.asarray(time_var[...], dtype=np.float64), str(_attr(time_var, "units", path)))
    except ValueError as exc:
        raise DataError(str(exc), path=path) from exc
    t_fill = time_var.attrs.get("_FillValue")
    if t_fill is not None:
        lut[np.asarray(time_var[...]) == np.asarray(t_fill).reshape(-1)[0]] = np.datetime64("NaT")
    local = raw.astype(np.int64) - (int(index.min()) if index.size else 0)
    ok = (raw != fill) & (local >= 0) & (local < lut.size)
    out = np.full(raw.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
    out[ok] = lut[local[ok]]
    return out


def read_channel(path: str | Path, channel: str, *, with_times: bool = False) -> ChunkImage:
    """Calibrated values (and, if asked, per-pixel times) of one channel of one chunk, north-up."""
    with _open(path) as f:
        layout = _layout(f, channel, path)
        g = _group(f, channel, path)
        counts = np.asarray(g["effective_radiance"][...])
        values = P.orient(calibrate(counts, f, channel, path), layout.x_scale)
        times = P.orient(_pixel_times(f, g, path), layout.x_scale) if with_times else None
    return ChunkImage(layout, np.ascontiguousarray(values), None if times is None else np.ascontiguousarray(times))


def read_pixel_times(path: str | Path, channel: str) -> tuple[ChunkLayout, np.ndarray]:
    """Per-pixel observation times (datetime64[ns], north-up, NaT where unknown) of one channel of a chunk."""
    with _open(path) as f:
        layout = _layout(f, channel, path)
        times = _pixel_times(f, _group(f, channel, path), path)
    return layout, np.ascontiguousarray(P.orient(times, layout.x_scale))


__all__ = ["ChunkImage", "ChunkLayout", "calibrate", "read_channel", "read_layout", "read_pixel_times"]
