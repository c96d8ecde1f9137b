"""Himawari AHI HSD segments: header (with per-line times), a fast calibrated decode, and satpy.

Why a reader of our own next to satpy's: satpy keeps block 9 (the per-line observation times that
collocation matches against) private, decompresses every .bz2 to a temporary file, and builds a
dask graph per segment. Collocation reads thousands of segments, so ``read_hsd_segment`` decodes a
segment in memory in one pass and calibrates with a 65536-entry lookup table computed with exactly
satpy's arithmetic (its default ``calib_mode='update'`` and space masking), so both give the same
numbers; a test holds them to that.
"""

from __future__ import annotations

import bz2
import math
from contextlib import nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from cloudbench.errors import DataError
from cloudbench.products import ahi_hsd as P
from cloudbench.readers.unit_source import UnitSource, as_unit


# --- raw bytes ----------------------------------------------------------------------------------
def _read_bytes(unit: UnitSource, n: int | None = None) -> bytes:
    """The first ``n`` decompressed bytes (all if None); corrupt bz2 streams become DataError.

    A unit read in place from an object store gives its compressed bytes from memory: a header read
    fetches only a prefix, a whole read the rest, and bz2 decompresses them without a temporary file.
    """
    compressed = unit.name.endswith(".bz2")
    try:
        if n is None:
            data = unit.read_all()
            return bz2.decompress(data) if compressed else data  # one call: faster than BZ2File's chunked reads
        with unit.open() as raw, (bz2.open(raw, "rb") if compressed else nullcontext(raw)) as fh:
            return fh.read(n)
    except FileNotFoundError:
        raise
    except (OSError, EOFError, ValueError) as exc:
        raise DataError(f"not a readable HSD file ({exc})", path=unit.location) from exc


# --- header -------------------------------------------------------------------------------------
def _record(buf: bytes, offset: int, dtype: np.dtype) -> dict[str, Any]:
    rec = np.frombuffer(buf, dtype=dtype, count=1, offset=offset)[0]
    out: dict[str, Any] = {}
    for name in dtype.names:
        if name == "spare":
            continue
        v = rec[name]
        if isinstance(v, bytes):
            v = v.rstrip(b"\x00").decode("ascii", "replace").strip()
        elif isinstance(v, np.ndarray):
            v = v.copy()
        else:
            v = v.item()
        out[name] = v
    return out


def parse_header(buf: bytes, path: str | Path) -> dict[str, Any]:
    """Parse the 11 header blocks of an HSD file from its (decompressed) leading bytes.

    Every block is checked for its number and length, so a damaged header fails here, naming the
    block, instead of producing a misplaced image.

    Raises:
        DataError: truncated header, wrong block number or wrong block length.
    """
    blocks: dict[int, dict[str, Any]] = {}
    extra: dict[str, Any] = {}
    pos = 0
    for number in range(1, P.N_HEADER_BLOCKS + 1):
        head = P.BLOCK10 if number == 10 else P.BLOCK9  # (number u1, length u2|u4) prefix
        prefix = 5 if number == 10 else 3
        if pos + prefix > len(buf):
            raise DataError(
                f"truncated HSD header: block {number} would start at byte {pos} but only {len(buf)} bytes are there",
                path=path,
            )
        got_number = buf[pos]
        if got_number != number:
            raise DataError(f"HSD header block {number} expected at byte {pos}, found block number {got_number}", path=path)
        length = int(np.frombuffer(buf, dtype=head[1], count=1, offset=pos + 1)[0])
        if pos + length > len(buf):
            raise DataError(
                f"truncated HSD header: block {number} ({length} bytes at byte {pos}) runs past the "
                f"{len(buf)} bytes available",
                path=path,
            )
        fixed_length = P.FIXED_BLOCK_LENGTHS.get(number)
        if fixed_length is not None and length != fixed_length:
            raise DataError(f"HSD header block {number} has length {length}, expected {fixed_length}", path=path)
        blocks[number], extra_of_block, expected = _parse_block(buf, pos, number, length, path)
        extra.update(extra_of_block)
        if length not in expected:
            raise DataError(
                f"HSD header block {number} has length {length}, expected {' or '.join(map(str, expected))}",
                path=path,
            )
        pos += length
    header_length = blocks[1]["total_header_length"]
    if pos != header_length:
        raise DataError(f"HSD header blocks add up to {pos} bytes but block 1 says {header_length}", path=path)
    return _derive(blocks, extra, path)


def _parse_block(
    buf: bytes, pos: int, number: int, length: int, path: Path
) -> tuple[dict[str, Any], dict[str, Any], tuple[int, ...]]:
    """One block's fields, its variable records, and the lengths it may legally have."""
    extra: dict[str, Any] = {}

    def need(nbytes: int) -> None:
        if pos + nbytes > len(buf) or nbytes > length:
            raise DataError(
                f"HSD header block {number} needs {nbytes} bytes but has {min(length, len(buf) - pos)}", path=path
            )

    if number in (1, 2, 3, 4, 6, 7, 11):
        dtype = {1: P.BLOCK1, 2: P.BLOCK2, 3: P.BLOCK3, 4: P.BLOCK4, 6: P.BLOCK6, 7: P.BLOCK7, 11: P.BLOCK11}[number]
        need(dtype.itemsize)
        return _record(buf, pos, dtype), extra, (P.FIXED_BLOCK_LENGTHS[number],)
    if number == 5:
        need(P.FIXED_BLOCK_LENGTHS[5])
        fields = _record(buf, pos, P.BLOCK5_COMMON)
        part = P.BLOCK5_VIS if fields["band_number"] < 7 else P.BLOCK5_IR
        fields.update(_record(buf, pos + P.BLOCK5_COMMON.itemsize, part))
        return fields, extra, (P.FIXED_BLOCK_LENGTHS[5],)
    fixed, record, count_field, key = {
        8: (P.BLOCK8, P.BLOCK8_RECORD, "n_corrections", "navigation_corrections"),
        9: (P.BLOCK9, P.BLOCK9_RECORD, "n_times", "observation_times"),
        10: (P.BLOCK10, P.BLOCK10_RECORD, "n_error_lines", "error_lines"),
    }[number]
    need(fixed.itemsize)
    fields = _record(buf, pos, fixed)
    n = int(fields[count_field])
    need(fixed.itemsize + n * record.itemsize)
    extra[key] = np.frombuffer(buf, dtype=record, count=n, offset=pos + fixed.itemsize).copy()
    base = fixed.itemsize + n * record.itemsize
    return fields, extra, (base + P.VARIABLE_SPARE, base)


def _derive(blocks: dict[int, dict[str, Any]], extra: dict[str, Any], path: Path) -> dict[str, Any]:
    b1, b2, b5, b7 = blocks[1], blocks[2], blocks[5], blocks[7]
    n_lines, n_cols = int(b2["n_lines"]), int(b2["n_columns"])
    if b2["bits_per_pixel"] != 16:
        raise DataError(f"HSD image has {b2['bits_per_pixel']} bits per pixel; only 16 is defined", path=path)
    if not 1 <= b5["band_number"] <= 16:
        raise DataError(f"HSD calibration block names band {b5['band_number']}; AHI has bands 1-16", path=path)
    first_line = int(b7["first_line"]) - 1
    header = {
        "path": str(path),
        "blocks": blocks,
        "band": f"B{b5['band_number']:02d}",
        "band_number": int(b5["band_number"]),
        "satellite_name": b1["satellite_name"],
        "observation_area": b1["observation_area"],
        "observation_timeline": int(b1["observation_timeline"]),
        "observation_start": P.mjd_to_datetime64(b1["observation_start_mjd"]),
        "observation_end": P.mjd_to_datetime64(b1["observation_end_mjd"]),
        "header_length": int(b1["total_header_length"]),
        "data_length": int(b1["total_data_length"]),
        "n_lines": n_lines,
        "n_columns": n_cols,
        "segment": int(b7["segment_number"]),
        "total_segments": int(b7["total_segments"]),
        "first_line": first_line,
        "projection": blocks[3],
        "navigation": blocks[4],
        "calibration": b5,
        "inter_calibration": blocks[6],
        "navigation_corrections": extra["navigation_corrections"],
        "observation_times": extra["observation_times"],
        "error_lines": extra["error_lines"],
    }
    header["line_times"] = _line_times(header)
    return header


def _line_times(header: dict[str, Any]) -> np.ndarray:
    """Per-line observation times of the segment from block 9, interpolated between the pairs.

    Block 9 pairs are (line number, MJD) with full-disk line numbers counted from 1 at the band's
    resolution. Lines between pairs are interpolated linearly, lines beyond the first/last pair
    extrapolated with the nearest pair interval's rate. Pairs numbered within the segment (all
    line numbers <= the segment's line count while the segment starts further down) are taken as
    segment-relative. Without pairs, the block 1 start/end times are spread over the lines.
    """
    n = header["n_lines"]
    lines = header["first_line"] + 1 + np.arange(n, dtype=np.float64)
    pairs = header["observation_times"]
    b1 = header["blocks"][1]
    if len(pairs) == 0:
        t0, t1 = b1["observation_start_mjd"], b1["observation_end_mjd"]
        ref = t0
        offs_s = (t1 - t0) * 86400.0 * (np.arange(n) / max(n - 1, 1))
    else:
        order = np.argsort(pairs["line"], kind="stable")
        pl = pairs["line"][order].astype(np.float64)
        pt = pairs["mjd"][order]
        if header["first_line"] > 0 and pl.max() <= n:
            pl = pl + header["first_line"]
        ref = float(pt[0])
        ps = (pt - ref) * 86400.0  # seconds after the first pair
        offs_s = np.interp(lines, pl, ps)
        if len(pl) > 1:
            lo, hi = lines < pl[0], lines > pl[-1]
            if lo.any() and pl[1] != pl[0]:
                offs_s[lo] = ps[0] + (lines[lo] - pl[0]) * (ps[1] - ps[0]) / (pl[1] - pl[0])
            if hi.any() and pl[-1] != pl[-2]:
                offs_s[hi] = ps[-1] + (lines[hi] - pl[-1]) * (ps[-1] - ps[-2]) / (pl[-1] - pl[-2])
    base = P.mjd_to_datetime64(ref)
    return base + np.round(offs_s * 1e9).astype("timedelta64[ns]")


def read_hsd_header(path: str | Path | UnitSource) -> dict[str, Any]:
    """Header of an HSD segment (.DAT or .DAT.bz2), decompressing only the header's bytes.

    ``path`` may be a :class:`~cloudbench.readers.unit_source.UnitSource` (a file read in place).

    Returns:
        dict with ``blocks`` (1-11, field -> value), the variable records (``navigation_corrections``,
        ``observation_times`` (line, mjd), ``error_lines``), and derived keys: ``band``,
        ``n_lines``, ``n_columns``, ``segment``, ``total_segments``, ``first_line`` (0-based
        full-disk line of the segment's first line), ``observation_start``/``observation_end``
        and ``line_times`` (datetime64[ns] per line of the segment), ``projection`` (block 3),
        ``calibration`` (block 5), ``navigation`` (block 4).

    Raises:
        DataError: the header is truncated or inconsistent (message names the file and the block).
    """
    unit = as_unit(path)
    head = _read_bytes(unit, P.BLOCK1.itemsize)
    if len(head) < P.BLOCK1.itemsize or head[0] != 1:
        _ = parse_header(head, unit.location)  # raises the precise error
    total = int(np.frombuffer(head, dtype="<u4", count=1, offset=P.BLOCK1.fields["total_header_length"][1])[0])
    buf = _read_bytes(unit, max(total, P.BLOCK1.itemsize))
    return parse_header(buf, unit.location)


# --- calibration --------------------------------------------------------------------------------
def calibration_kind(header: dict[str, Any]) -> str:
    """'reflectance' for bands 1-6, 'brightness_temperature' for 7-16 (satpy's defaults)."""
    return "reflectance" if header["band_number"] < 7 else "brightness_temperature"


def radiance_coefficients(header: dict[str, Any]) -> tuple[float, float]:
    """Count -> radiance gain and offset, preferring block 5's updated VIS coefficients (satpy's default)."""
    cal = header["calibration"]
    if header["band_number"] < 7:
        gain, offset = cal["updated_gain"], cal["updated_offset"]
        if gain == 0 and offset == 0:
            gain, offset = cal["gain"], cal["offset"]
        return float(gain), float(offset)
    return float(cal["gain"]), float(cal["offset"])


def calibrate_counts(counts: np.ndarray, header: dict[str, Any], calibration: str | None = None) -> np.ndarray:
    """Counts -> radiance, reflectance (%) or brightness temperature (K), in satpy's arithmetic.

    Error and outside-scan counts become NaN. The operations and their dtypes follow satpy's
    ``AHIHSDFileHandler.calibrate`` step by step so the two agree to the last bit or close.
    """
    calibration = calibration or calibration_kind(header)
    cal = header["calibration"]
    data = counts.astype(np.float32)
    invalid = (counts == cal["count_outside_scan"]) | (counts == cal["count_error"])
    data[invalid] = np.float32(np.nan)
    gain, offset = radiance_coefficients(header)
    with np.errstate(invalid="ignore", divide="ignore"):
        rad = data * np.float32(gain) + np.float32(offset)
        if calibration == "radiance":
            return rad
        if calibration == "reflectance":
            return (rad * np.float32(cal["rad2albedo"]) * 100).clip(0)
        if calibration != "brightness_temperature":
            raise ValueError(f"unknown calibration {calibration!r}")
        rad = np.where(rad == 0, np.float32(np.nan), rad)
        cwl = np.float64(cal["central_wavelength_um"]) * 1e-6
        c = np.float64(cal["speed_of_light"])
        h = np.float64(cal["planck_constant"])
        k = np.float64(cal["boltzmann_constant"])
        a = (h * c) / (k * cwl)
        b = ((2 * h * c**2) / (rad * 1.0e6 * cwl**5)) + 1
        te = a / np.log(b)
        c0 = np.float64(cal["c0_rad2tb"])
        c1 = np.float64(cal["c1_rad2tb"])
        c2 = np.float64(cal["c2_rad2tb"])
        return (c0 + c1 * te + c2 * te**2).clip(0).astype(np.float32)


def _calibration_key(header: dict[str, Any]) -> tuple:
    cal = header["calibration"]
    return tuple(sorted((k, float(v)) for k, v in cal.items() if k not in ("block_number", "block_length")))


@lru_cache(maxsize=64)
def _lut(key: tuple) -> np.ndarray:
    header = {"calibration": dict(key), "band_number": int(dict(key)["band_number"])}
    lut = calibrate_counts(np.arange(65536, dtype=np.uint16), header)
    lut.setflags(write=False)
    return lut


def _limb_angles(cfac: int, lfac: int, coff: float, loff: float, a_km: float, b_km: float, dist_km: float,
                 first_line: int, n_lines: int, n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Per column ``x / xmax`` and per line ``y / ymax``: a pixel sees space where the sum of their squares is > 1.

    Same test as satpy's ``get_geostationary_mask``: scan angles of pixel centres, column c (1-based)
    at (c - COFF) / (CFAC / 2**16) degrees, line l at (LOFF - l) / (LFAC / 2**16) degrees north, inside
    the limb ellipse of half-axes arccos(sqrt(1 - r**2 / d**2)) for r = equatorial and polar radius,
    d the satellite's distance.
    """
    x = np.deg2rad((np.arange(1, n_cols + 1) - np.float64(np.float32(coff))) / (cfac / 2**16))
    y = np.deg2rad((np.float64(np.float32(loff)) - (first_line + np.arange(1, n_lines + 1))) / (lfac / 2**16))
    xmax = math.acos(math.sqrt(1 - a_km**2 / dist_km**2))
    ymax = math.acos(math.sqrt(1 - b_km**2 / dist_km**2))
    return x / xmax, y / ymax


def _limb_terms(*projection) -> tuple[np.ndarray, np.ndarray]:
    """Per column ``(x / xmax)**2`` and per line ``(y / ymax)**2`` (:func:`_limb_angles`); space where the sum is > 1."""
    xn, yn = _limb_angles(*projection)
    return xn**2, yn**2


_EDGE = 3  # columns either side of the analytic limb column where the exact test decides


@lru_cache(maxsize=256)
def _earth_columns(cfac: int, lfac: int, coff: float, loff: float, a_km: float, b_km: float, dist_km: float,
                   first_line: int, n_lines: int, n_cols: int) -> np.ndarray:
    """Per line, the first and one-past-last column that see the Earth, (n_lines, 2) int64 (0, 0: none).

    The Earth's disk is convex and the limb test grows with |x| on either side of the sub-satellite
    column, so each line's Earth pixels are one run of columns. Its ends are found analytically and
    then settled by the exact test (:func:`_limb_terms`) on a few columns around each, so the result
    equals the test on every pixel, which costs a second per 0.5 km segment; lines where the few
    columns do not settle it (never seen) take the whole-line test.
    """
    xn, yn = _limb_angles(cfac, lfac, coff, loff, a_km, b_km, dist_km, first_line, n_lines, n_cols)
    xx, yy = xn**2, yn**2
    half_width = np.sqrt(np.clip(1.0 - yy, 0.0, None))
    lines = np.arange(n_lines)
    window = np.arange(-_EDGE, _EDGE + 1)
    cols_left = np.clip(np.searchsorted(xn, -half_width, side="left")[:, None] + window, 0, n_cols - 1)
    cols_right = np.clip(np.searchsorted(xn, half_width, side="right")[:, None] + window - 1, 0, n_cols - 1)
    in_left = ~(xx[cols_left] + yy[:, None] > 1)
    in_right = ~(xx[cols_right] + yy[:, None] > 1)
    out = np.zeros((n_lines, 2), dtype=np.int64)
    out[:, 0] = cols_left[lines, in_left.argmax(axis=1)]  # the first Earth column in the window
    out[:, 1] = cols_right[lines, 2 * _EDGE - in_right[:, ::-1].argmax(axis=1)] + 1  # one past the last
    found = in_left.any(axis=1) & in_right.any(axis=1)
    settled = (found & (~in_left[:, 0] | (cols_left[:, 0] == 0)) & (~in_right[:, -1] | (cols_right[:, -1] == n_cols - 1))
               | ~found & (1.0 - yy < 0))
    out[~found] = 0
    for line in np.flatnonzero(~settled):
        run = np.flatnonzero(~(xx + yy[line] > 1))
        out[line] = (run[0], run[-1] + 1) if run.size else (0, 0)
    out.setflags(write=False)
    return out


def _space(header: dict[str, Any]) -> np.ndarray:
    """Boolean (lines, columns) mask of the segment's pixels that see space, not the Earth."""
    ends = _earth(header)
    cols = np.arange(int(header["n_columns"]))
    return (cols[None, :] < ends[:, :1]) | (cols[None, :] >= ends[:, 1:])


def _earth(header: dict[str, Any]) -> np.ndarray:
    p = header["projection"]
    return _earth_columns(
        int(p["cfac"]), int(p["lfac"]), float(p["coff"]), float(p["loff"]),
        float(p["earth_equatorial_radius"]), float(p["earth_polar_radius"]), float(p["distance_from_earth_centre"]),
        int(header["first_line"]), int(header["n_lines"]), int(header["n_columns"]),
    )


def _mask_space(values: np.ndarray, header: dict[str, Any]) -> None:
    """NaN where the segment sees space, line by line (writes only the space pixels)."""
    nan = np.float32(np.nan)
    for line, (lo, hi) in enumerate(_earth(header).tolist()):
        if hi <= lo:
            values[line] = nan
            continue
        values[line, :lo] = nan
        values[line, hi:] = nan


# --- fast segment decode ------------------------------------------------------------------------
def read_hsd_segment(
    path: str | Path | UnitSource, calibrate: bool = True, *, mask_space: bool = True
) -> tuple[int, np.ndarray, np.ndarray]:
    """Decode one HSD segment in memory: (first full-disk row, values, line times).

    Args:
        path: a ``.DAT`` or ``.DAT.bz2`` segment, or a
            :class:`~cloudbench.readers.unit_source.UnitSource` of one (read in place, in memory).
        calibrate: True -> float32 reflectance (%) for B01-B06 or brightness temperature (K) for
            B07-B16, NaN for error/outside-scan counts and (with ``mask_space``) space, exactly as
            satpy's ``ahi_hsd`` reader; False -> the raw uint16 counts.
        mask_space: NaN outside the Earth's limb, as satpy does by default.

    Returns:
        ``(first_row, array, line_times)``: the 0-based full-disk line of the segment's first line at
        the band's native resolution, the (lines, columns) array at native resolution, and
        datetime64[ns] observation times per line (block 9).

    Raises:
        DataError: damaged header, image shorter than the header says, or a bad bz2 stream.
    """
    unit = as_unit(path)
    path = unit.location
    buf = _read_bytes(unit)
    header = parse_header(buf, path)
    n_lines, n_cols = header["n_lines"], header["n_columns"]
    start = header["header_length"]
    need = n_lines * n_cols * 2
    if len(buf) - start < need:
        raise DataError(
            f"truncated HSD image: {n_lines} x {n_cols} uint16 need {need} bytes after the header, "
            f"found {len(buf) - start}",
            path=path,
        )
    counts = np.frombuffer(buf, dtype="<u2", count=n_lines * n_cols, offset=start).reshape(n_lines, n_cols)
    if not calibrate:
        return header["first_line"], counts.copy(), header["line_times"]
    values = _lut(_calibration_key(header))[counts]
    if mask_space:
        _mask_space(values, header)
    return header["first_line"], values, header["line_times"]


# --- satpy --------------------------------------------------------------------------------------
def load_satpy(paths: list[str | Path], bands: list[str] | tuple[str, ...]):
    """Load HSD segments with satpy's ``ahi_hsd`` reader (reflectance % / BT K, space masked).

    Returns:
        The ``satpy.Scene`` with ``bands`` loaded (lazy dask arrays; missing segments padded).
    """
    from satpy import Scene

    scn = Scene(filenames=[str(p) for p in paths], reader="ahi_hsd")
    scn.load(list(bands))
    return scn
