"""Write format-faithful MTG FCI L1c FDHSI body chunks (netCDF-4) from physical band values.

Every chunk holds all 16 channel groups with every variable satpy's ``fci_l1c_nc`` reader requires
(``required_netcdf_variables`` of its reader description): ``data/<ch>/measured/{effective_radiance,
x, y, pixel_quality, index_map, start/end_position_row, radiance_to_bt_conversion_*,
radiance_unit_conversion_coefficient, channel_effective_solar_irradiance}``, ``data/mtg_geos_projection``,
``data/swath_direction``, ``data/swath_number``, ``index``, ``state/celestial/*``, ``state/platform/*``,
``time`` and the global ``platform``. Channels without values keep their variables unwritten, which
netCDF reads as the fill value (no data), as in a chunk where a channel is missing.

Layout as real chunks have it: rows from south to north (``start_position_row`` counted from the
south), x scan angles positive toward west, uint16 counts with ``scale_factor``/``add_offset`` (and
ir_38's warm pair), per-pixel times as a ``time`` table indexed through each channel's
``index_map``. ``effective_radiance`` is compressed with the FCIDECOMP (JPEG-LS) filter as the
disseminated "NC4E" chunks are; reading it needs hdf5plugin. Files are written with h5netcdf (h5py),
where hdf5plugin registers that filter.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import h5netcdf
import h5py
import hdf5plugin
import numpy as np

from cloudbench.products import fci_l1c as P
from cloudbench.products.geostationary import FullDiskGeometry

_F32_FILL = np.float32(9.96921e36)  # netCDF's default float fill: "no coefficient" for the other channel kind
_MIN_JPEG_LS_PIXELS = 256  # smaller blocks are deflated instead (the JPEG-LS filter refuses tiny images)
QUALITY_GOOD, QUALITY_SPACE = 0, 3  # pixel_quality values written on the disk and in space (model)


def physical_to_counts(values: np.ndarray, channel: str, earth_sun_au: float) -> np.ndarray:
    """Reflectance (%) or BT (K) -> uint16 counts of ``effective_radiance``; NaN -> the fill value."""
    c = P.CHANNELS[channel]
    s = P.count_scaling(channel)
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    if c.kind == "vis":
        rad = P.reflectance_to_radiance(np.where(finite, v, 0.0), channel, earth_sun_au)
    else:
        rad = P.bt_to_radiance(np.where(finite, v, 250.0), channel)
    counts = np.clip(np.rint((rad - s.offset) / s.scale), 0, P.COUNT_MAX)
    if c.warm_range:
        warm = np.clip(np.rint((rad - s.warm_offset) / s.warm_scale), P.WARM_COUNT_MIN, P.WARM_COUNT_MAX)
        counts = np.where(rad > s.offset + P.COUNT_MAX * s.scale, warm, counts)
    out = counts.astype(np.uint16)
    out[~finite] = P.COUNT_FILL
    return out


def _compression(shape: tuple[int, int]) -> dict:
    if shape[0] * shape[1] >= _MIN_JPEG_LS_PIXELS and min(shape) >= 2:
        return dict(hdf5plugin.FciDecomp())
    return {"compression": "gzip", "compression_opts": 4, "shuffle": True}


def _group(f, path: str):
    """The group at ``path`` (``a/b/c``), created where missing."""
    g = f
    for part in path.split("/"):
        g = g.groups[part] if part in g.groups else g.create_group(part)
    return g


def _scalar(group, name: str, dtype: str, value, **attrs) -> None:
    v = group.create_variable(name, (), dtype=dtype, data=np.asarray(value, dtype=dtype),
                              fillvalue=_F32_FILL if dtype == "f4" else None)
    v.attrs.update(attrs)


def _channel_layout(f, channel: str, *, rows2: int, geometry: FullDiskGeometry) -> None:
    """``data/<channel>/measured`` for a chunk of ``rows2`` 2 km rows: every variable, chunk values left out."""
    c = P.CHANNELS[channel]
    res = c.resolution_km
    n = P.grid_size(res, geometry.reduction)
    rows = rows2 * c.factor
    g = _group(f, f"data/{channel}/measured")
    g.dimensions = {"y": rows, "x": n}
    angles = P.scan_angles(res, geometry.reduction)
    for axis, values in (("y", np.arange(1, rows + 1)), ("x", np.arange(1, n + 1))):
        v = g.create_variable(axis, (axis,), dtype="u2", data=values.astype(np.uint16))
        v.attrs["scale_factor"] = np.float64(angles[f"{axis}_scale"])
        v.attrs["add_offset"] = np.float64(angles[f"{axis}_offset"])
        v.attrs["units"] = "radian"
        v.attrs["long_name"] = ("azimuth angle encoded as column, positive toward west" if axis == "x"
                                else "elevation angle encoded as row, positive toward north")
    for name, value in (("start_position_row", 1), ("end_position_row", rows),
                        ("start_position_column", 1), ("end_position_column", n)):
        _scalar(g, name, "i4", value)

    s = P.count_scaling(channel)
    block = (rows, min(n, 2784))
    er = g.create_variable("effective_radiance", ("y", "x"), dtype="u2", fillvalue=np.uint16(P.COUNT_FILL),
                           chunks=block, **_compression(block))
    er.attrs.update({
        "long_name": "Effective Radiance",
        "units": P.RADIANCE_UNITS,
        "scale_factor": np.float32(s.scale),
        "add_offset": np.float32(s.offset),
        "warm_scale_factor": np.float32(s.warm_scale),
        "warm_add_offset": np.float32(s.warm_offset),
        "valid_range": np.array([0, s.valid_max], dtype=np.uint16),
        "ancillary_variables": "pixel_quality",
    })
    deflate = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    pq = g.create_variable("pixel_quality", ("y", "x"), dtype="u1", fillvalue=np.uint8(255), chunks=block, **deflate)
    pq.attrs["long_name"] = "Pixel quality"
    im = g.create_variable("index_map", ("y", "x"), dtype="u2", fillvalue=np.uint16(P.COUNT_FILL), chunks=block,
                           **deflate)
    im.attrs["long_name"] = "Index of each pixel's acquisition instant in the index dimension"

    vis = c.kind == "vis"
    a, b = c.bt_coefficients if not vis else (None, None)
    _scalar(g, "radiance_to_bt_conversion_coefficient_wavenumber", "f4", _F32_FILL if vis else c.wavenumber_cm,
            units="cm-1")
    _scalar(g, "radiance_to_bt_conversion_coefficient_a", "f4", _F32_FILL if vis else a)
    _scalar(g, "radiance_to_bt_conversion_coefficient_b", "f4", _F32_FILL if vis else b, units="K")
    _scalar(g, "radiance_to_bt_conversion_constant_c1", "f4", _F32_FILL if vis else P.RADIANCE_C1,
            units="mW.m-2.sr-1.(cm-1)-4")
    _scalar(g, "radiance_to_bt_conversion_constant_c2", "f4", _F32_FILL if vis else P.RADIANCE_C2, units="K.cm")
    _scalar(g, "channel_effective_solar_irradiance", "f4", P.channel_solar_irradiance(channel) if vis else _F32_FILL,
            units="mW.m-2.(cm-1)-1")
    _scalar(g, "radiance_unit_conversion_coefficient", "f4", P.radiance_unit_conversion(channel),
            units="W.m-2.sr-1.um-1 per mW.m-2.sr-1.(cm-1)-1")
    g.attrs["central_wavelength_actual"] = np.float32(c.wavelength_um)


def _index_layout(f, *, platform: str) -> None:
    """``index``, ``index_offset``, ``time``, the projection and the per-instant state and swath tables."""
    k = P.TIME_SAMPLES
    f.dimensions = {"index": k}
    idx = f.create_variable("index", ("index",), dtype="u2", data=np.arange(k, dtype=np.uint16))
    idx.attrs["long_name"] = "index of the acquisition instants of this chunk"
    _scalar(f, "index_offset", "i4", 0)
    t = f.create_variable("time", ("index",), dtype="f8", data=np.zeros(k))
    t.attrs.update({"units": P.TIME_UNITS, "long_name": "acquisition time", "standard_name": "time"})
    d = _group(f, "data")
    d.create_variable("swath_direction", ("index",), dtype="u1", data=np.zeros(k, np.uint8))
    d.create_variable("swath_number", ("index",), dtype="u2", data=np.zeros(k, np.uint16))
    proj = d.create_variable("mtg_geos_projection", (), dtype="i4", data=np.int32(0))
    proj.attrs.update({
        "grid_mapping_name": "geostationary",
        "semi_major_axis": P.SEMI_MAJOR_AXIS,
        "semi_minor_axis": P.SEMI_MINOR_AXIS,
        "inverse_flattening": P.INVERSE_FLATTENING,
        "perspective_point_height": P.PERSPECTIVE_POINT_HEIGHT,
        "longitude_of_projection_origin": P.NOMINAL_SUBPOINT_LON[platform],
        "latitude_of_projection_origin": 0.0,
        "sweep_angle_axis": P.SWEEP_ANGLE_AXIS,
    })
    celestial = _group(f, "state/celestial")
    for name, units in (("earth_sun_distance", "km"), ("sun_satellite_distance", "km"),
                        ("subsolar_latitude", "degrees_north"), ("subsolar_longitude", "degrees_east")):
        celestial.create_variable(name, ("index",), dtype="f8", data=np.zeros(k)).attrs["units"] = units
    plat = _group(f, "state/platform")
    for name, value, units in (("platform_altitude", P.PERSPECTIVE_POINT_HEIGHT, "m"),
                               ("subsatellite_latitude", 0.0, "degrees_north"),
                               ("subsatellite_longitude", P.NOMINAL_SUBPOINT_LON[platform], "degrees_east")):
        plat.create_variable(name, ("index",), dtype="f8", data=np.full(k, value)).attrs["units"] = units


@lru_cache(maxsize=8)
def _template(geometry: FullDiskGeometry, rows2: int) -> bytes:
    """The bytes of an empty chunk of ``rows2`` 2 km rows: every group, variable and constant attribute.

    Creating the ~270 netCDF variables of a chunk costs far more than filling them; the chunks of a
    cycle differ only in a few values (rows, instants, counts), so each is a copy of this template
    filled in place (:func:`write_fci_chunk`).
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "template.nc"
        with h5netcdf.File(path, "w") as f:
            f.attrs.update({
                "platform": P.PLATFORM_CODES[geometry.platform],
                "data_source": "FCI",
                "title": "FCI L1c Radiances, Full Disk High Spectral resolution Imagery",
                "Conventions": "CF-1.7",
                "time_coverage_start": "",
                "time_coverage_end": "",
                "repeat_cycle_in_day": np.int32(0),
                "count_in_repeat_cycle": np.int32(0),
            })
            _index_layout(f, platform=geometry.platform)
            for channel in P.CHANNELS:
                _channel_layout(f, channel, rows2=rows2, geometry=geometry)
        return path.read_bytes()


@lru_cache(maxsize=128)
def _chunk_template(geometry: FullDiskGeometry, chunk: int) -> bytes:
    """The template of one chunk with its rows filled in (``y``, ``start/end_position_row`` of every channel)."""
    start_row, end_row = P.chunk_file_rows(geometry.shape[0], geometry.n_units)[chunk - 1]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chunk.nc"
        path.write_bytes(_template(geometry, end_row - start_row + 1))
        with h5py.File(path, "r+") as f:
            for channel, c in P.CHANNELS.items():
                g = f[f"data/{channel}/measured"]
                first, last = (start_row - 1) * c.factor + 1, end_row * c.factor
                g["y"][...] = np.arange(first, last + 1, dtype=np.uint16)
                g["start_position_row"][...] = np.int32(first)
                g["end_position_row"][...] = np.int32(last)
        return path.read_bytes()


def write_fci_chunk(path: Path, *, platform: str, slot_start: datetime, chunk: int, geometry: FullDiskGeometry,
                    bands: Mapping[str, np.ndarray], start: datetime, end: datetime) -> None:
    """Write BODY chunk ``chunk`` of one repeat cycle (``bands``: 2 km grid values, north-up) to ``path``.

    Every value that differs between chunks is written here over a copy of the geometry's template:
    the rows (``y``, ``start/end_position_row``, once per chunk of a geometry: :func:`_chunk_template`),
    the instants (``index``, ``index_offset``, ``time``, ``swath_number``, the Sun's distance), the
    counts, index map and quality of the given channels, and the global time attributes.
    """
    if platform != geometry.platform:
        raise ValueError(f"platform {platform!r} differs from the geometry's {geometry.platform!r}")
    scan = P.scan_schedule(geometry)[chunk - 1]
    r0, r1 = scan.grid_rows
    columns = P.sample_of_columns(scan, geometry.shape[1])
    offset = (chunk - 1) * P.TIME_SAMPLES
    index2 = np.broadcast_to((offset + columns).astype(np.uint16), (r1 - r0, geometry.shape[1]))
    disk2 = geometry.disk_mask(2.0, rows=slice(r0, r1))
    d_au = P.earth_sun_distance_au(slot_start)
    x_scale = P.scan_angles(2.0, geometry.reduction)["x_scale"]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(_chunk_template(geometry, chunk))
    with h5py.File(tmp, "r+") as f:
        f.attrs["time_coverage_start"] = f"{start:%Y%m%d%H%M%S}"
        f.attrs["time_coverage_end"] = f"{end:%Y%m%d%H%M%S}"
        f.attrs["repeat_cycle_in_day"] = np.int32(P.repeat_cycle_of(slot_start))
        f.attrs["count_in_repeat_cycle"] = np.int32(chunk)
        f["index"][...] = (offset + np.arange(P.TIME_SAMPLES)).astype(np.uint16)
        f["index_offset"][...] = np.int32(offset)
        f["time"][...] = P.values_from_times(P.offsets_to_times(slot_start, P.sample_times_s(scan)))
        f["data/swath_number"][...] = np.full(P.TIME_SAMPLES, chunk, np.uint16)
        for name in ("earth_sun_distance", "sun_satellite_distance"):
            f[f"state/celestial/{name}"][...] = np.full(P.TIME_SAMPLES, d_au * P.ASTRONOMICAL_UNIT_KM)
        for channel, values in bands.items():  # the others stay unwritten: read as the fill value, no data
            c = P.CHANNELS[channel]
            g = f[f"data/{channel}/measured"]
            f2 = c.factor
            values = np.asarray(values)[r0:r1]
            counts2 = physical_to_counts(np.where(disk2, values, np.nan), channel, d_au)
            counts = np.repeat(np.repeat(counts2, f2, 0), f2, 1)
            disk = geometry.disk_mask(c.resolution_km, rows=slice(r0 * f2, r1 * f2))
            counts[~disk] = P.COUNT_FILL
            index_map = np.repeat(np.repeat(index2, f2, 0), f2, 1).astype(np.uint16)
            quality = np.where(disk, QUALITY_GOOD, QUALITY_SPACE).astype(np.uint8)
            g["effective_radiance"][...] = P.orient(counts, x_scale)
            g["index_map"][...] = P.orient(index_map, x_scale)
            g["pixel_quality"][...] = P.orient(quality, x_scale)
    os.replace(tmp, path)


def write_fci_slot(
    root: str | Path,
    *,
    platform: str,
    slot_start: datetime,
    bands: Mapping[str, np.ndarray],
    geometry: FullDiskGeometry,
    chunks: Iterable[int] | None = None,
) -> list[Path]:
    """Write one repeat cycle's BODY chunks under ``root`` in the archive layout.

    Args:
        root: ARCHIVE folder; files go to ``<platform>/FCI-L1C-FDHSI-FD/YYYY/MM/DD/HHMM/``.
        platform: ``meteosat12``.
        slot_start: the repeat cycle's nominal start (UTC; naive means UTC).
        bands: channel -> reflectance (%) or BT (K) on the 2 km grid (``geometry.shape``), north-up,
            NaN off disk; 1 km channels are written by pixel replication.
        geometry: ``fci_l1c.full_disk_geometry(platform, reduction)``.
        chunks: the BODY chunks to write (default all); the TRAIL chunk carries no channel data and
            no reader here needs it, so it is not written.

    Per-pixel times follow the scan model (``fci_l1c.pixel_time_offsets_s``), the same the renderer
    uses, so every pixel's recorded time is the time it was rendered at.
    """
    if geometry.sensor != "fci" or platform not in P.PLATFORM_CODES:
        raise ValueError(f"write_fci_slot needs an FCI platform and geometry, got {platform!r} / {geometry.sensor!r}")
    slot_start = slot_start.replace(tzinfo=UTC) if slot_start.tzinfo is None else slot_start.astimezone(UTC)
    for band, values in bands.items():
        if band not in P.CHANNELS:
            raise ValueError(f"{band!r} is not an FCI channel; choose from {', '.join(P.CHANNEL_NAMES)}")
        if np.shape(values) != geometry.shape:
            raise ValueError(f"{band}: values have shape {np.shape(values)}, the 2 km grid is {geometry.shape}")
    wanted = sorted(set(range(1, geometry.n_units + 1)) if chunks is None else set(chunks))
    written = []
    for chunk in wanted:
        scan = P.scan_schedule(geometry)[chunk - 1]
        start = slot_start + timedelta(seconds=int(scan.start_s))
        end = slot_start + timedelta(seconds=int(np.ceil(scan.start_s + scan.duration_s)))
        name = P.build_filename(platform, slot_start, chunk, start, end, end + timedelta(seconds=40))
        path = Path(root) / P.archive_path(platform, slot_start, name)
        write_fci_chunk(path, platform=platform, slot_start=slot_start, chunk=chunk, geometry=geometry,
                        bands=bands, start=start, end=end)
        written.append(path)
    return written


def synthetic_pixel_times(geometry: FullDiskGeometry, slot_start: datetime | np.datetime64) -> np.ndarray:
    """datetime64[ns] of every 2 km pixel as a synthetic cycle of ``slot_start`` records it (lines x cols)."""
    return P.offsets_to_times(slot_start, P.pixel_time_offsets_s(geometry))


__all__ = ["physical_to_counts", "synthetic_pixel_times", "write_fci_chunk", "write_fci_slot"]
