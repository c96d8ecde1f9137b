"""Write format-faithful Himawari AHI HSD segments (.DAT.bz2) from physical band values.

The files follow the HSD block layout of ``cloudbench.products.ahi_hsd`` and satpy's ``ahi_hsd`` reader
loads them without warnings. Values are quantised to counts through a calibration of realistic
magnitude (block 5): VIS/NIR counts are linear in radiance and radiance is linear in reflectance
(``rad2albedo = pi / ESUN``); IR counts are linear in radiance and radiance follows Planck's law at the
band's central wavelength with a mild quadratic band correction (c0, c1, c2). Block 9 holds the line
times (by default ``nominal_line_times`` of the slot) as (line, MJD) pairs every few lines, which is
how real files store them; the model is linear in line, so interpolation gives every line back exactly.
"""

from __future__ import annotations

import bz2
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from cloudbench.products import ahi_hsd as P
from cloudbench.products.geostationary import FullDiskGeometry

# Bandpass solar irradiance (W m-2 um-1) that sets rad2albedo = pi / ESUN for bands 1-6.
_ESUN: dict[str, float] = {"B01": 2030.0, "B02": 1880.0, "B03": 1640.0, "B04": 1010.0, "B05": 238.0, "B06": 82.0}
_MAX_REFLECTANCE = 1.2  # albedo at the top count
_VIS_ZERO_COUNT = 20  # counts below this give negative radiance (clipped to 0 % by readers)
_BT_MAX_K = {"B07": 400.0}  # hottest representable BT; 340 K elsewhere
_BT_MAX_DEFAULT_K = 340.0
_IR_ZERO_COUNT = 8.5  # radiance 0 sits between counts 8 and 9 (never exactly on a count)
_BAND_CORRECTION = (-0.12, 1.0004, -4.0e-7)  # BT = c0 + c1 Te + c2 Te^2
TIME_PAIR_STRIDE = 8  # block 9 holds one (line, time) pair every this many lines


@dataclass(frozen=True)
class BandCalibration:
    """What block 5 of a synthetic file says for one band."""

    gain: float
    offset: float
    rad2albedo: float | None = None  # VIS
    c0: float = 0.0  # IR band correction
    c1: float = 1.0
    c2: float = 0.0


def _planck_radiance(bt_eff_k: np.ndarray, wavelength_um: float) -> np.ndarray:
    """Planck radiance (W m-2 sr-1 um-1) at the effective temperature."""
    lam = wavelength_um * 1e-6
    h, c, k = P.PLANCK_CONSTANT, P.SPEED_OF_LIGHT, P.BOLTZMANN_CONSTANT
    with np.errstate(over="ignore"):
        return 2 * h * c**2 / (lam**5 * np.expm1(h * c / (lam * k * bt_eff_k))) * 1e-6


def band_calibration(band: str) -> BandCalibration:
    """The calibration a synthetic file of ``band`` carries: counts span the band's useful range."""
    b = P.BANDS[band]
    top = 2**b.bits - 1
    if b.kind == "vis":
        rad2albedo = math.pi / _ESUN[band]
        gain = (_MAX_REFLECTANCE / rad2albedo) / (top - _VIS_ZERO_COUNT)
        return BandCalibration(gain=gain, offset=-_VIS_ZERO_COUNT * gain, rad2albedo=rad2albedo)
    c0, c1, c2 = _BAND_CORRECTION
    t_max = _BT_MAX_K.get(band, _BT_MAX_DEFAULT_K)
    te_max = _effective_temperature(np.float64(t_max), c0, c1, c2)
    rad_max = float(_planck_radiance(te_max, b.wavelength_um))
    gain = rad_max / (top - _IR_ZERO_COUNT)
    return BandCalibration(gain=gain, offset=-_IR_ZERO_COUNT * gain, c0=c0, c1=c1, c2=c2)


def _effective_temperature(bt: np.ndarray, c0: float, c1: float, c2: float) -> np.ndarray:
    """Invert BT = c0 + c1 Te + c2 Te^2 for Te (the numerically stable root)."""
    d = bt - c0
    return 2 * d / (c1 + np.sqrt(c1 * c1 + 4 * c2 * d))


def physical_to_counts(values: np.ndarray, band: str, cal: BandCalibration) -> np.ndarray:
    """Reflectance (%) or BT (K) -> uint16 counts; NaN -> the outside-scan count."""
    b = P.BANDS[band]
    top = 2**b.bits - 1
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    if b.kind == "vis":
        rad = np.where(finite, v, 0.0) / 100.0 / cal.rad2albedo
        lowest = 0
    else:
        te = _effective_temperature(np.where(finite, v, 250.0), cal.c0, cal.c1, cal.c2)
        rad = _planck_radiance(te, b.wavelength_um)
        lowest = int(math.ceil(_IR_ZERO_COUNT))  # first count with a positive radiance
    counts = np.clip(np.rint((rad - cal.offset) / cal.gain), lowest, top)
    out = counts.astype(np.uint16)
    out[~finite] = P.COUNT_OUTSIDE_SCAN
    return out


# --- header -------------------------------------------------------------------------------------
def _zeros(dtype: np.dtype) -> np.ndarray:
    return np.zeros(1, dtype=dtype)


def _header_bytes(
    *,
    platform: str,
    slot_start: datetime,
    band: str,
    geometry: FullDiskGeometry,
    segment: int,
    first_line: int,
    n_lines: int,
    n_cols: int,
    line_times: np.ndarray,
    cal: BandCalibration,
    file_name: str,
    time_stride: int,
) -> bytes:
    b = P.BANDS[band]
    proj = P.hsd_projection(geometry.native_shape(b.resolution_km)[1], b.resolution_km, geometry.reduction)

    stride = max(1, min(time_stride, n_lines))
    idx = np.unique(np.r_[np.arange(0, n_lines, stride), n_lines - 1])
    pairs = np.zeros(len(idx), dtype=P.BLOCK9_RECORD)
    pairs["line"] = first_line + 1 + idx
    pairs["mjd"] = P.datetime64_to_mjd(line_times[idx])

    b8 = _zeros(P.BLOCK8)
    b8["block_number"], b8["block_length"] = 8, P.BLOCK8.itemsize + P.VARIABLE_SPARE
    b8["rotation_centre_column"] = proj["coff"]
    b8["rotation_centre_line"] = proj["loff"]
    b9 = _zeros(P.BLOCK9)
    b9["block_number"], b9["n_times"] = 9, len(pairs)
    b9["block_length"] = P.BLOCK9.itemsize + pairs.nbytes + P.VARIABLE_SPARE
    b10 = _zeros(P.BLOCK10)
    b10["block_number"], b10["block_length"] = 10, P.BLOCK10.itemsize + P.VARIABLE_SPARE
    spare = bytes(P.VARIABLE_SPARE)

    tail = [
        b8.tobytes() + spare,
        b9.tobytes() + pairs.tobytes() + spare,
        b10.tobytes() + spare,
    ]
    b11 = _zeros(P.BLOCK11)
    b11["block_number"], b11["block_length"] = 11, P.BLOCK11.itemsize

    fixed_total = sum(P.FIXED_BLOCK_LENGTHS[i] for i in (1, 2, 3, 4, 5, 6, 7, 11))
    header_length = fixed_total + sum(len(t) for t in tail)

    b1 = _zeros(P.BLOCK1)
    b1["block_number"], b1["block_length"] = 1, P.BLOCK1.itemsize
    b1["n_header_blocks"] = P.N_HEADER_BLOCKS
    b1["byte_order"] = 0
    b1["satellite_name"] = P.SATELLITE_NAMES[platform].encode()
    b1["processing_center"] = b"MSC"
    b1["observation_area"] = P.AREA_FULL_DISK.encode()
    b1["other_observation_info"] = b"NR"
    b1["observation_timeline"] = slot_start.hour * 100 + slot_start.minute
    b1["observation_start_mjd"] = P.datetime64_to_mjd(line_times[0])
    b1["observation_end_mjd"] = P.datetime64_to_mjd(line_times[-1])
    b1["file_creation_mjd"] = P.mjd(slot_start + timedelta(minutes=P.SLOT_MINUTES, seconds=30))
    b1["total_header_length"] = header_length
    b1["total_data_length"] = n_lines * n_cols * 2
    b1["format_version"] = P.FORMAT_VERSION
    b1["file_name"] = file_name.removesuffix(".bz2").encode()

    b2 = _zeros(P.BLOCK2)
    b2["block_number"], b2["block_length"] = 2, P.BLOCK2.itemsize
    b2["bits_per_pixel"], b2["n_columns"], b2["n_lines"], b2["compression"] = 16, n_cols, n_lines, 0

    req, rpol, dist = P.EARTH_EQUATORIAL_RADIUS_KM, P.EARTH_POLAR_RADIUS_KM, P.SATELLITE_DISTANCE_KM
    b3 = _zeros(P.BLOCK3)
    b3["block_number"], b3["block_length"] = 3, P.BLOCK3.itemsize
    b3["sub_lon"] = P.SUB_LON
    b3["cfac"], b3["lfac"], b3["coff"], b3["loff"] = proj["cfac"], proj["lfac"], proj["coff"], proj["loff"]
    b3["distance_from_earth_centre"] = dist
    b3["earth_equatorial_radius"], b3["earth_polar_radius"] = req, rpol
    b3["ratio_diff_req2_rpol2_req2"] = (req**2 - rpol**2) / req**2
    b3["ratio_rpol2_req2"] = rpol**2 / req**2
    b3["ratio_req2_rpol2"] = req**2 / rpol**2
    b3["coefficient_sd"] = dist**2 - req**2
    b3["resampling_types"], b3["resampling_size"] = 0, 4

    b4 = _zeros(P.BLOCK4)
    b4["block_number"], b4["block_length"] = 4, P.BLOCK4.itemsize
    b4["navigation_mjd"] = P.datetime64_to_mjd(line_times[n_lines // 2])
    b4["ssp_longitude"], b4["ssp_latitude"] = P.SUB_LON, 0.0
    b4["distance_earth_centre_to_satellite"] = dist
    b4["nadir_longitude"], b4["nadir_latitude"] = P.SUB_LON, 0.0
    b4["sun_position"] = (-1.2e8, 8.0e7, 3.5e7)
    b4["moon_position"] = (3.0e5, 2.0e5, 1.0e5)

    b5 = _zeros(P.BLOCK5_COMMON)
    b5["block_number"], b5["block_length"] = 5, P.FIXED_BLOCK_LENGTHS[5]
    b5["band_number"] = b.number
    b5["central_wavelength_um"] = b.wavelength_um
    b5["valid_bits_per_pixel"] = b.bits
    b5["count_error"], b5["count_outside_scan"] = P.COUNT_ERROR, P.COUNT_OUTSIDE_SCAN
    b5["gain"], b5["offset"] = cal.gain, cal.offset
    if b.kind == "vis":
        part = _zeros(P.BLOCK5_VIS)
        part["rad2albedo"] = cal.rad2albedo
        part["update_mjd"] = P.mjd(slot_start - timedelta(days=30))
        part["updated_gain"], part["updated_offset"] = cal.gain, cal.offset
    else:
        part = _zeros(P.BLOCK5_IR)
        part["c0_rad2tb"], part["c1_rad2tb"], part["c2_rad2tb"] = cal.c0, cal.c1, cal.c2
        part["c0_tb2rad"], part["c1_tb2rad"], part["c2_tb2rad"] = -cal.c0 / cal.c1, 1 / cal.c1, -cal.c2 / cal.c1**3
        part["speed_of_light"] = P.SPEED_OF_LIGHT
        part["planck_constant"] = P.PLANCK_CONSTANT
        part["boltzmann_constant"] = P.BOLTZMANN_CONSTANT

    b6 = _zeros(P.BLOCK6)
    b6["block_number"], b6["block_length"] = 6, P.BLOCK6.itemsize
    b6["gsics_slope"] = 1.0

    b7 = _zeros(P.BLOCK7)
    b7["block_number"], b7["block_length"] = 7, P.BLOCK7.itemsize
    b7["total_segments"], b7["segment_number"], b7["first_line"] = geometry.n_units, segment, first_line + 1

    head = b"".join(
        x.tobytes() for x in (b1, b2, b3, b4, b5, part, b6, b7)
    ) + b"".join(tail) + b11.tobytes()
    if len(head) != header_length:  # a layout mistake here would corrupt every file; fail loudly
        raise RuntimeError(f"HSD header assembled to {len(head)} bytes, expected {header_length}")
    return head


# --- slot writer --------------------------------------------------------------------------------
def _native_line_times(
    slot_start: datetime, geometry: FullDiskGeometry, factor: int, line_times: np.ndarray | None
) -> np.ndarray:
    n_native = geometry.shape[0] * factor
    if line_times is None:
        return P.nominal_line_times(slot_start, n_native)
    t = np.asarray(line_times, dtype="datetime64[ns]")
    if t.shape != (geometry.shape[0],):
        raise ValueError(f"line_times must have one time per 2 km line ({geometry.shape[0]}), got {t.shape}")
    if factor == 1:
        return t
    # spread each 2 km line's interval over its native lines so their mean is the 2 km time
    ns = t.astype(np.int64).astype(np.float64)
    step = np.gradient(ns) if len(ns) > 1 else np.zeros(1)
    sub = (np.arange(factor) + 0.5) / factor - 0.5
    native = ns[:, None] + step[:, None] * sub[None, :]
    return np.round(native.ravel()).astype(np.int64).astype("datetime64[ns]")


def write_ahi_slot(
    root: str | Path,
    *,
    platform: str,
    slot_start: datetime,
    bands: dict[str, np.ndarray],
    geometry: FullDiskGeometry,
    segments: list[int] | tuple[int, ...] | None = None,
    line_times: np.ndarray | None = None,
) -> list[Path]:
    """Write one full-disk slot as HSD segments under ``root`` in the archive layout.

    Args:
        root: ARCHIVE folder; files go to ``<platform>/AHI-L1b-FLDK/YYYY/MM/DD/HHMM/``.
        platform: ``himawari8`` or ``himawari9``.
        slot_start: the slot's nominal start (UTC; naive datetimes are taken as UTC).
        bands: band name -> physical values (reflectance % for B01-B06, BT K for B07-B16) on the
            2 km grid, shape ``geometry.shape``, NaN where nothing was seen (off disk). Finer bands are
            written at their native resolution by pixel replication.
        geometry: the full disk (``geometry_for(platform, reduction)``); its CFAC/LFAC/COFF/LOFF go to block 3.
        segments: 1-based segment numbers to write (default: all ``geometry.n_units``).
        line_times: optional datetime64 per 2 km line for block 9; default ``nominal_line_times``.

    Returns:
        The written paths, band by band, segment by segment.
    """
    if geometry.sensor != "ahi" or platform not in P.PLATFORM_CODES:
        raise ValueError(f"write_ahi_slot needs an AHI platform and geometry, got {platform!r} / {geometry.sensor!r}")
    if slot_start.tzinfo is None:
        slot_start = slot_start.replace(tzinfo=UTC)
    slot_start = slot_start.astimezone(UTC)
    segs = list(range(1, geometry.n_units + 1)) if segments is None else [int(s) for s in segments]
    for s in segs:
        if not 1 <= s <= geometry.n_units:
            raise ValueError(f"segment {s} is outside 1..{geometry.n_units}")
    written: list[Path] = []
    for band, values in bands.items():
        if band not in P.BANDS:
            raise ValueError(f"{band!r} is not an AHI band")
        values = np.asarray(values)
        if values.shape != geometry.shape:
            raise ValueError(f"{band}: values have shape {values.shape}, the 2 km grid is {geometry.shape}")
        b = P.BANDS[band]
        f = b.factor
        cal = band_calibration(band)
        native_times = _native_line_times(slot_start, geometry, f, line_times)
        seg_lines_2km = geometry.shape[0] // geometry.n_units
        n_cols = geometry.shape[1] * f
        for s in segs:
            r0 = (s - 1) * seg_lines_2km
            slab = values[r0 : r0 + seg_lines_2km]
            if f > 1:
                slab = np.repeat(np.repeat(slab, f, axis=0), f, axis=1)
            counts = physical_to_counts(slab, band, cal)
            first_line = r0 * f
            n_lines = seg_lines_2km * f
            counts[~geometry.disk_mask(b.resolution_km, slice(first_line, first_line + n_lines))] = P.COUNT_OUTSIDE_SCAN
            name = P.build_filename(platform, slot_start, band, s, geometry.n_units)
            head = _header_bytes(
                platform=platform, slot_start=slot_start, band=band, geometry=geometry, segment=s,
                first_line=first_line, n_lines=n_lines, n_cols=n_cols,
                line_times=native_times[first_line : first_line + n_lines], cal=cal, file_name=name,
                time_stride=TIME_PAIR_STRIDE if line_times is None else 1,
            )
            path = Path(root) / P.archive_path(platform, slot_start, name)
            _write_atomic(path, bz2.compress(head + counts.astype("<u2").tobytes(), 9))
            written.append(path)
    return written


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
