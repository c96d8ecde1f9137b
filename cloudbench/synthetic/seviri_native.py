"""Write format-faithful MSG SEVIRI Level 1.5 native files (``.nat``) from physical values on the 3 km grid.

A file has the archive header (the channels present and the rectangle), the Level 1.5 data header
(satellite, a valid orbit polynomial, the image description with the sub-satellite longitude and the
grid step, per-channel calibration slope and offset, the Earth model: 1 before December 2017, with the
half-pixel georeference offset, 2 after), the image lines south to north with one record per channel
(line number, channel id, acquisition time, 10-bit counts east to west) and the trailer (forward scan
start and end, coverage). satpy's ``seviri_l1b_native`` reader loads these files as they are.

Values are quantised to 10-bit counts through calibrations of realistic magnitude: reflectance is
linear in radiance (the channel's solar irradiance, the Sun-Earth distance at the scan start), BT
follows the effective-radiance relation of the satellite's coefficients. Count 0 is "no data" (NaN
values, off the disk). Lines that see no Earth get the fill acquisition time (the CDS epoch), as in
real files; every other line gets the time it is given, to the millisecond (the format's resolution).
Only the channels given are written (the archive's channel selection), never HRV.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from cloudbench.products import seviri_native as P
from cloudbench.products.geostationary import FullDiskGeometry

VIS_ZERO_COUNT = 10  # count of zero radiance for VIS/NIR (counts below read as 0 %)
VIS_MAX_REFLECTANCE = 120.0  # % at count 1023 (at 1 AU)
IR_ZERO_COUNT = 51.5  # zero radiance between counts 51 and 52 (never exactly on a count)
IR_MAX_BT = {"IR_039": 345.0}  # K at count 1023; 335 K elsewhere
IR_MAX_BT_DEFAULT = 335.0
ORBIT_VALIDITY = timedelta(hours=6)
LINES_PER_BLOCK = 256  # lines assembled at once (bounds memory at full size)


@dataclass(frozen=True)
class ChannelCalibration:
    """Slope and offset (mW m-2 sr-1 (cm-1)-1 per count) a synthetic file carries for one channel."""

    slope: float
    offset: float

    @property
    def lowest_count(self) -> int:
        """The first count whose radiance is not negative (IR: positive)."""
        return int(math.floor(-self.offset / self.slope)) + 1


def channel_calibration(channel: str, satellite_id: int) -> ChannelCalibration:
    """The calibration of a synthetic file: 10-bit counts span the channel's useful range."""
    band = P.BANDS[channel]
    if band.kind == "vis":
        top = float(P.reflectance_to_radiance(VIS_MAX_REFLECTANCE, satellite_id, channel, 1.0))
        slope = top / (P.COUNT_MAX - VIS_ZERO_COUNT)
        return ChannelCalibration(slope, -VIS_ZERO_COUNT * slope)
    top = float(P.bt_to_radiance(IR_MAX_BT.get(channel, IR_MAX_BT_DEFAULT), satellite_id, channel))
    slope = top / (P.COUNT_MAX - IR_ZERO_COUNT)
    return ChannelCalibration(slope, -IR_ZERO_COUNT * slope)


def exact_counts(values: np.ndarray, channel: str, satellite_id: int, cal: ChannelCalibration,
                 distance_au: float) -> np.ndarray:
    """Reflectance (%) or BT (K) -> fractional counts (float64, before rounding); NaN stays NaN."""
    v = np.asarray(values, dtype=np.float64)
    if P.BANDS[channel].kind == "vis":
        rad = P.reflectance_to_radiance(v, satellite_id, channel, distance_au)
    else:
        with np.errstate(invalid="ignore"):
            rad = P.bt_to_radiance(v, satellite_id, channel)
    return (rad - cal.offset) / cal.slope


def physical_to_counts(values: np.ndarray, channel: str, satellite_id: int, cal: ChannelCalibration,
                       distance_au: float) -> np.ndarray:
    """Quantised 10-bit counts (uint16); NaN -> 0 (no data), the rest clipped to the valid counts."""
    exact = exact_counts(values, channel, satellite_id, cal, distance_au)
    finite = np.isfinite(exact)
    lowest = max(1, cal.lowest_count)
    counts = np.clip(np.rint(np.where(finite, exact, lowest)), lowest, P.COUNT_MAX).astype(np.uint16)
    counts[~finite] = P.COUNT_FILL
    return counts


# --- header pieces -------------------------------------------------------------------------------------
def _cds(t: datetime) -> tuple[int, int]:
    days, ms = P.datetime64_to_cds(np.array([np.datetime64(t.astimezone(UTC).replace(tzinfo=None), "ns")]))
    return int(days[0]), int(ms[0])


def _set_cds(field: np.ndarray, t: datetime) -> None:
    days, ms = _cds(t)
    field["days"] = days
    field["ms"] = ms


def _ascii(record: np.ndarray, key: str, value: object) -> None:
    record["name"] = f"{key:<28}: ".encode()
    record["value"] = f"{value}".ljust(49)[:49].encode() + b"\n"


def _stamp(t: datetime) -> str:
    t = t.astimezone(UTC)
    return f"{t:%Y%m%d%H%M%S}.{t.microsecond // 1000:03d}"


def _archive_header(header: np.ndarray, *, name: str, channels: tuple[str, ...], n: int, slot: datetime,
                    scan_start: datetime, scan_end: datetime, total_size: int, data_offsets: dict[str, tuple[int, int]],
                    ) -> None:
    main = header["main"]
    values = {
        "FormatName": "NATIVE",
        "FormatDocumentName": "MSG Level 1.5 Native Format File Definition",
        "FormatDocumentMajorVersion": "1",
        "FormatDocumentMinorVersion": "2",
        "CreationDateTime": _stamp(scan_end + timedelta(minutes=3)),
        "CreatingCentre": "cloudbench synthetic",
        "TotalFileSize": str(total_size),
        "GORT": "", "ASTI": "", "LLOS": "",
        "SNIT": _stamp(scan_end),
        "AIID": name.removesuffix(".nat"),
        "SSBT": _stamp(scan_start),
        "SSST": _stamp(scan_end),
        "RRCC": "", "RRBT": _stamp(slot), "RRST": _stamp(slot + P.REPEAT_CYCLE),
        "PPRC": "", "PPDT": "", "GPLV": "", "APNM": "", "AARF": "", "UUDT": "",
        "QQOV": "OK", "UDSP": "",
    }
    for key in P.ARCHIVE_MAIN_KEYS:
        if key.startswith("*"):
            for i, (what, (size, address)) in enumerate(data_offsets.items()):
                rec = main[key[1:]][0][i]
                rec["name"] = what.encode()
                rec["size"] = str(size).encode()
                rec["address"] = str(address).encode()
            continue
        _ascii(main[key], key, values[key])
    rect = P.selected_rectangle(n)
    hrv = P.HRV_COLUMNS if n == P.VISIR_COLUMNS else 3 * n
    secondary = {
        "ABID": "", "SMOD": "", "APXS": "", "AVPA": "", "LSCD": "", "LMAP": "", "QDLC": "", "QDLP": "", "QQAI": "",
        "SelectedBandIDs": P.selected_band_ids(channels),
        "SouthLineSelectedRectangle": rect["south"], "NorthLineSelectedRectangle": rect["north"],
        "EastColumnSelectedRectangle": rect["east"], "WestColumnSelectedRectangle": rect["west"],
        "NumberLinesVISIR": n, "NumberColumnsVISIR": n, "NumberLinesHRV": hrv, "NumberColumnsHRV": hrv,
    }
    for key in P.ARCHIVE_SECONDARY_KEYS:
        _ascii(header["secondary"][key], key, secondary[key])


def _data_header(data: np.ndarray, *, platform: str, geometry: FullDiskGeometry, slot: datetime,
                 calibrations: Mapping[str, ChannelCalibration], n: int) -> None:
    sat = P.SATELLITE_IDS[platform]
    lon = float(geometry.sub_lon)
    data["HeaderVersion"] = 1
    data["SatelliteId"] = sat
    data["NominalLongitude"] = lon
    data["SatelliteStatusFlag"] = 1
    # one orbit polynomial over +-6 h: a constant geostationary position (Chebyshev c0 = 2 x position)
    _set_cds(data["OrbitPeriodStart"], slot - ORBIT_VALIDITY)
    _set_cds(data["OrbitPeriodEnd"], slot + ORBIT_VALIDITY)
    poly = data["OrbitPolynomial"][0][0]
    _set_cds(poly["StartTime"], slot - ORBIT_VALIDITY)
    _set_cds(poly["EndTime"], slot + ORBIT_VALIDITY)
    poly["X"][0] = 2 * P.GEO_RADIUS_KM * math.cos(math.radians(lon))
    poly["Y"][0] = 2 * P.GEO_RADIUS_KM * math.sin(math.radians(lon))
    for field, t in (("TrueRepeatCycleStart", slot), ("PlanForwardScanEnd", slot + timedelta(seconds=P.SCAN_END_S)),
                     ("PlannedRepeatCycleEnd", slot + P.REPEAT_CYCLE)):
        _set_cds(data[field], t)
    data["TypeOfProjection"] = 1
    data["LongitudeOfSSP"] = lon
    step = np.float32(P.GRID_STEP_KM * geometry.reduction)
    grid = data["ReferenceGridVIS_IR"]
    grid["NumberOfLines"] = n
    grid["NumberOfColumns"] = n
    grid["LineDirGridStep"] = step
    grid["ColumnDirGridStep"] = step
    grid["GridOrigin"] = P.GRID_ORIGIN_SOUTH_EAST
    hrv = data["ReferenceGridHRV"]
    hrv["NumberOfLines"] = 3 * n
    hrv["NumberOfColumns"] = 3 * n
    hrv["LineDirGridStep"] = np.float32(step / 3)
    hrv["ColumnDirGridStep"] = np.float32(step / 3)
    hrv["GridOrigin"] = P.GRID_ORIGIN_SOUTH_EAST
    rect = P.selected_rectangle(n)
    data["PlannedCoverageVIS_IR"] = [rect["south"], rect["north"], rect["east"], rect["west"]]
    data["PlannedChanProcessing"] = [P.RADIANCE_EFFECTIVE if P.BANDS.get(c) and P.BANDS[c].kind == "ir" else 1
                                     for c in P.CHANNEL_ORDER]
    cal = data["CalSlope_CalOffset"][0]
    for channel, c in calibrations.items():
        cal[P.CHANNEL_ORDER.index(channel)] = (c.slope, c.offset)
    data["TypeOfEarthModel"] = P.EARTH_MODEL_OFFSET if P.has_georef_offset(geometry) else P.EARTH_MODEL_CORRECTED
    data["EquatorialRadius"] = P.EQUATORIAL_RADIUS_KM
    data["NorthPolarRadius"] = P.POLAR_RADIUS_KM
    data["SouthPolarRadius"] = P.POLAR_RADIUS_KM


def _trailer(platform: str, n: int, scan_start: datetime, scan_end: datetime) -> np.ndarray:
    trailer = np.zeros(1, dtype=P.TRAILER)
    trailer["TrailerVersion"] = 1
    trailer["SatelliteId"] = P.SATELLITE_IDS[platform]
    trailer["NominalImageScanning"] = 1
    trailer["ReducedScan"] = 0
    _set_cds(trailer["ForwardScanStart"], scan_start)
    _set_cds(trailer["ForwardScanEnd"], scan_end)
    rect = P.selected_rectangle(n)
    trailer["ActualL15CoverageVIS_IR"] = [rect["south"], rect["north"], rect["east"], rect["west"]]
    return trailer


def _to_datetime(t: np.datetime64) -> datetime:
    us = int((np.datetime64(t, "us") - np.datetime64("1970-01-01", "us")).astype(np.int64))
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


# --- the file ------------------------------------------------------------------------------------------
def write_nat(path: str | Path, *, platform: str, slot_start: datetime, bands: Mapping[str, np.ndarray],
              geometry: FullDiskGeometry, line_times: np.ndarray) -> Path:
    """Write one native file from physical values on the grid (row 0 north) and per-row times.

    Args:
        path: file to write (its folder is created).
        platform: ``meteosat8``..``meteosat11``.
        slot_start: the repeat cycle's nominal start.
        bands: channel name -> (lines, cols) reflectance % / BT K on ``geometry``'s grid, NaN off the disk.
        geometry: the disk (its sub-satellite longitude and georeference rule go into the header).
        line_times: datetime64 per grid row (rows that see no Earth are written as fill).
    """
    path = Path(path)
    channels = tuple(c for c in P.CHANNEL_ORDER if c in bands)
    unknown = sorted(set(bands) - set(P.BANDS))
    if unknown or not channels:
        raise ValueError(f"SEVIRI channels {unknown or '(none)'} cannot be written; choose from {', '.join(P.BAND_NAMES)}")
    n = geometry.shape[0]
    for c in channels:
        if bands[c].shape != (n, n):
            raise ValueError(f"{c}: values of shape {bands[c].shape} on a {n} x {n} grid")
    sat = P.SATELLITE_IDS[platform]
    slot = slot_start.astimezone(UTC)
    # native order: line 1 south, pixel 1 east
    times = P.lines_to_rows(np.asarray(line_times, dtype="datetime64[ns]")).copy()
    sees_earth = P.lines_to_rows(geometry.disk_mask().any(axis=1))
    times[~sees_earth] = np.datetime64("NaT")
    valid = times[~np.isnat(times)]
    scan_start = _to_datetime(valid.min()) if valid.size else slot + timedelta(seconds=P.SCAN_START_S)
    scan_end = slot + timedelta(seconds=P.SCAN_END_S)
    scan_start = scan_start.replace(microsecond=scan_start.microsecond // 1000 * 1000)
    distance = P.sun_earth_distance_au(scan_start)
    calibrations = {c: channel_calibration(c, sat) for c in channels}
    days, ms = P.datetime64_to_cds(times)

    ltype = P.line_dtype(channels, n)
    header = np.zeros(1, dtype=P.HEADER_WITH_ARCHIVE)
    trailer = _trailer(platform, n, scan_start, scan_end)
    header_size, lines_size = header.itemsize, ltype.itemsize * n
    total = header_size + lines_size + trailer.itemsize
    _archive_header(header, name=path.name, channels=channels, n=n, slot=slot, scan_start=scan_start,
                    scan_end=scan_end, total_size=total,
                    data_offsets={"15Header": (header_size, 0), "15Data": (lines_size, header_size),
                                  "15Trailer": (trailer.itemsize, header_size + lines_size)})
    _data_header(header["data"], platform=platform, geometry=geometry, slot=slot, calibrations=calibrations, n=n)

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(header.tobytes())
        for a in range(0, n, LINES_PER_BLOCK):
            b = min(n, a + LINES_PER_BLOCK)
            block = np.zeros(b - a, dtype=ltype)
            for i, channel in enumerate(channels):
                native = P.to_grid(np.asarray(bands[channel]))[a:b]
                counts = physical_to_counts(native, channel, sat, calibrations[channel], distance)
                rec = block["visir"][:, i]
                prefix = rec["prefix"]
                prefix["version"] = 1
                prefix["satid"] = sat
                prefix["lineno"] = np.arange(a + 1, b + 1)
                prefix["chan_id"] = P.CHANNEL_ORDER.index(channel) + 1
                prefix["acq_time"]["days"] = days[a:b]
                prefix["acq_time"]["ms"] = ms[a:b]
                prefix["line_validity"] = np.where(sees_earth[a:b], P.LINE_VALID, P.LINE_NOT_DERIVED)
                prefix["line_rquality"] = prefix["line_validity"]
                prefix["line_gquality"] = prefix["line_validity"]
                rec["data"] = P.pack10(counts)
            f.write(block.tobytes())
        f.write(trailer.tobytes())
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    return path


def write_seviri_slot(root: str | Path, *, platform: str, slot_start: datetime, bands: Mapping[str, np.ndarray],
                      geometry: FullDiskGeometry, line_times: np.ndarray | None = None) -> list[Path]:
    """Write one slot's file under ARCHIVE/ ``root`` in the archive layout; returns its path.

    ``line_times`` default to the scan model of :mod:`cloudbench.products.seviri_native` (to the ms).
    """
    slot = slot_start.astimezone(UTC)
    station = P.station_at(platform, slot)
    if station is None or station.position == P.POSITION_RSS:
        raise ValueError(f"{platform} served no full-disk SEVIRI service at {slot:%Y-%m-%d %H:%M}")
    if line_times is None:
        line_times = nominal_line_times(geometry.shape[0], slot)
    name = P.build_filename(platform, slot + timedelta(seconds=P.SCAN_END_S))
    path = Path(root) / P.archive_dir(platform, station.position, slot) / name
    return [write_nat(path, platform=platform, slot_start=slot, bands=bands, geometry=geometry, line_times=line_times)]


def nominal_line_times(n_lines: int, slot_start: datetime) -> np.ndarray:
    """Per grid row times of the scan model, to the millisecond (what synthetic files record)."""
    slot = np.datetime64(slot_start.astimezone(UTC).replace(tzinfo=None), "ns")
    ms = np.round(P.grid_line_offsets_s(n_lines) * 1000).astype(np.int64)
    return slot + ms.astype("timedelta64[ms]").astype("timedelta64[ns]")


__all__ = ["ChannelCalibration", "channel_calibration", "exact_counts", "nominal_line_times", "physical_to_counts",
           "write_nat", "write_seviri_slot"]
