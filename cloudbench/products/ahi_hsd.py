"""Himawari-8/9 AHI Himawari Standard Data (HSD): names, archive layout, header layout, constants.

Facts only, no I/O: the reader (``cloudbench.readers.ahi_hsd``), the writer
(``cloudbench.synthetic.ahi_hsd``) and the download catalog all import this module, so a file name,
a block layout or a projection constant is defined exactly once.

The header dtypes follow the block tables of JMA's "Himawari Standard Data User's Guide" (version
1.3): eleven blocks, each opening with its block number (uint8) and its length in bytes (uint16, a
uint32 for block 10), little-endian. Blocks 8, 9 and 10 have a variable part (a count, then that many
records) followed by a 40-byte spare. The image (uint16 counts, lines x columns) follows the header.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

# --- platforms and archive ------------------------------------------------------------------
PLATFORM_CODES: dict[str, str] = {"himawari8": "H08", "himawari9": "H09"}
CODE_PLATFORMS: dict[str, str] = {code: name for name, code in PLATFORM_CODES.items()}
SATELLITE_NAMES: dict[str, str] = {"himawari8": "Himawari-8", "himawari9": "Himawari-9"}
BUCKETS: dict[str, str] = {"himawari8": "noaa-himawari8", "himawari9": "noaa-himawari9"}
PRODUCT_DIR = "AHI-L1b-FLDK"
AREA_FULL_DISK = "FLDK"
SLOT_MINUTES = 10  # one full disk every 10 minutes


@dataclass(frozen=True)
class AhiBand:
    """One AHI band: number, central wavelength, native resolution and what it is calibrated to."""

    name: str
    number: int
    wavelength_um: float
    resolution_km: float
    kind: str  # "vis": reflectance (%), "ir": brightness temperature (K)
    bits: int  # valid bits per pixel of the counts

    @property
    def resolution_code(self) -> str:
        """The ``Rrr`` part of the file name: resolution in units of 100 m (R05, R10, R20)."""
        return f"R{int(round(self.resolution_km * 10)):02d}"

    @property
    def factor(self) -> int:
        """Native pixels per 2 km pixel along each axis (4, 2 or 1)."""
        return int(round(2.0 / self.resolution_km))


# Central wavelengths of Himawari-8 AHI (JMA); Himawari-9 differs in the third decimal.
BANDS: dict[str, AhiBand] = {
    b.name: b
    for b in (
        AhiBand("B01", 1, 0.47063, 1.0, "vis", 11),
        AhiBand("B02", 2, 0.51000, 1.0, "vis", 11),
        AhiBand("B03", 3, 0.63914, 0.5, "vis", 11),
        AhiBand("B04", 4, 0.85670, 1.0, "vis", 11),
        AhiBand("B05", 5, 1.6101, 2.0, "vis", 11),
        AhiBand("B06", 6, 2.2568, 2.0, "vis", 11),
        AhiBand("B07", 7, 3.8853, 2.0, "ir", 14),
        AhiBand("B08", 8, 6.2429, 2.0, "ir", 11),
        AhiBand("B09", 9, 6.9410, 2.0, "ir", 11),
        AhiBand("B10", 10, 7.3467, 2.0, "ir", 12),
        AhiBand("B11", 11, 8.5926, 2.0, "ir", 12),
        AhiBand("B12", 12, 9.6372, 2.0, "ir", 12),
        AhiBand("B13", 13, 10.4073, 2.0, "ir", 12),
        AhiBand("B14", 14, 11.2395, 2.0, "ir", 12),
        AhiBand("B15", 15, 12.3806, 2.0, "ir", 12),
        AhiBand("B16", 16, 13.2807, 2.0, "ir", 11),
    )
}
BAND_NAMES: tuple[str, ...] = tuple(BANDS)

# --- file names -----------------------------------------------------------------------------
FILENAME_RE = re.compile(
    r"^HS_(?P<code>H\d{2})_(?P<date>\d{8})_(?P<hhmm>\d{4})_(?P<band>B\d{2})_(?P<area>FLDK|JP\d{2}|R\d{3})"
    r"_R(?P<res>\d{2})_S(?P<segment>\d{2})(?P<total>\d{2})\.DAT(?P<bz2>\.bz2)?$"
)


@dataclass(frozen=True)
class HsdName:
    """What an HSD file name says."""

    platform: str  # "himawari8"
    slot_start: datetime  # timezone-aware UTC
    band: str
    area: str
    resolution_code: str
    segment: int  # 1-based
    total_segments: int
    compressed: bool


def parse_filename(name: str) -> HsdName | None:
    """Parse an HSD file name (no folders); None if it is not one."""
    m = FILENAME_RE.match(name)
    if m is None or m["code"] not in CODE_PLATFORMS or m["band"] not in BANDS:
        return None
    slot = datetime.strptime(m["date"] + m["hhmm"], "%Y%m%d%H%M").replace(tzinfo=UTC)
    return HsdName(
        platform=CODE_PLATFORMS[m["code"]],
        slot_start=slot,
        band=m["band"],
        area=m["area"],
        resolution_code="R" + m["res"],
        segment=int(m["segment"]),
        total_segments=int(m["total"]),
        compressed=m["bz2"] is not None,
    )


def build_filename(
    platform: str, slot_start: datetime, band: str, segment: int, total_segments: int = 10, *, compressed: bool = True
) -> str:
    """``HS_H08_20181001_0300_B13_FLDK_R20_S0110.DAT.bz2`` for the given slot, band and segment."""
    code = PLATFORM_CODES[platform]
    b = BANDS[band]
    name = (
        f"HS_{code}_{slot_start:%Y%m%d}_{slot_start:%H%M}_{band}_{AREA_FULL_DISK}_{b.resolution_code}"
        f"_S{segment:02d}{total_segments:02d}.DAT"
    )
    return name + (".bz2" if compressed else "")


def bucket_key(slot_start: datetime, name: str) -> str:
    """Object key inside the NOAA bucket: ``AHI-L1b-FLDK/YYYY/MM/DD/HHMM/<name>``."""
    return f"{PRODUCT_DIR}/{slot_start:%Y/%m/%d/%H%M}/{name}"


def archive_path(platform: str, slot_start: datetime, name: str) -> str:
    """Path relative to ARCHIVE/: ``himawari8/AHI-L1b-FLDK/YYYY/MM/DD/HHMM/<name>``."""
    return f"{platform}/{bucket_key(slot_start, name)}"


# --- full-disk projection (block 3) ---------------------------------------------------------
SUB_LON = 140.7  # projection longitude of both Himawari-8 and -9
EARTH_EQUATORIAL_RADIUS_KM = 6378.1370
EARTH_POLAR_RADIUS_KM = 6356.7523
SATELLITE_DISTANCE_KM = 42164.0  # from the Earth's centre
N_SEGMENTS = 10
# Full-size full disk per native resolution (km): columns = lines, CFAC = LFAC, COFF = LOFF.
FULL_DISK_SIZE: dict[float, int] = {0.5: 22000, 1.0: 11000, 2.0: 5500}
CFAC: dict[float, int] = {0.5: 81865099, 1.0: 40932549, 2.0: 20466275}
COFF: dict[float, float] = {0.5: 11000.5, 1.0: 5500.5, 2.0: 2750.5}

NOMINAL_SUBPOINT_LON: dict[str, float] = {"himawari8": 140.7, "himawari9": 140.7}
RESOLUTIONS_KM = (0.5, 1.0, 2.0)


def segments_for(n_lines: int) -> int:
    """Segments per band of a disk of ``n_lines`` 2 km lines: the largest divisor of it up to 10.

    Segments must hold whole lines, so a reduced disk of 1375 lines (reduction 4) has 5 segments.
    """
    for n in range(N_SEGMENTS, 0, -1):
        if n_lines % n == 0:
            return n
    return 1


def hsd_projection(n_columns: int, resolution_km: float, reduction: int) -> dict[str, float]:
    """CFAC, LFAC, COFF, LOFF that block 3 of a file of this resolution carries.

    Reduced disks (k-times coarser pixels) use CFAC = LFAC = floor(CFAC_full / k) and
    COFF = LOFF = (N + 1) / 2 for N columns (k = 10: 550 px at 2 km, CFAC 2046627, COFF 275.5).
    """
    cfac = CFAC[resolution_km] // reduction
    off = (n_columns + 1) / 2.0
    return {"cfac": int(cfac), "lfac": int(cfac), "coff": off, "loff": off}


def area_extent_m(n_lines: int, n_columns: int, resolution_km: float, reduction: int, h_m: float,
                  ) -> tuple[float, float, float, float]:
    """(west, south, east, north) outer pixel edges in metres of the geos projection.

    satpy's convention: column c (1-based) lies at (c - COFF) / (CFAC / 2**16) degrees of scan angle.
    """
    p = hsd_projection(n_columns, resolution_km, reduction)
    x0 = (0.5 - p["coff"]) / (p["cfac"] / 2**16)
    x1 = (n_columns + 0.5 - p["coff"]) / (p["cfac"] / 2**16)
    y_top = (p["loff"] - 0.5) / (p["lfac"] / 2**16)
    y_bottom = (p["loff"] - 0.5 - n_lines) / (p["lfac"] / 2**16)
    return tuple(math.radians(v) * h_m for v in (x0, y_bottom, x1, y_top))  # type: ignore[return-value]


def full_disk_geometry(platform: str, reduction: int = 1):
    """The Himawari full disk on the 2 km grid at reduction ``k`` (5500 / k lines).

    Raises:
        ValueError: an unknown platform, or a reduction that does not divide 5500 lines.
    """
    from cloudbench.products.geostationary import FullDiskGeometry

    if platform not in PLATFORM_CODES:
        raise ValueError(f"unknown Himawari platform {platform!r}; choose from {', '.join(PLATFORM_CODES)}")
    k = int(reduction)
    full = FULL_DISK_SIZE[2.0]
    if k < 1 or full % k:
        raise ValueError(f"AHI reduction {reduction!r} does not divide {full} lines; use e.g. 1, 2, 4, 5, 10, 20, 25, 50")
    n = full // k
    a = EARTH_EQUATORIAL_RADIUS_KM * 1000
    h = SATELLITE_DISTANCE_KM * 1000 - a
    extents = tuple((res, area_extent_m(n * round(2 / res), n * round(2 / res), res, k, h)) for res in RESOLUTIONS_KM)
    return FullDiskGeometry(
        platform=platform, sensor="ahi", sub_lon=NOMINAL_SUBPOINT_LON[platform], proj_lon=SUB_LON,
        shape=(n, n), reduction=k, a=a, b=EARTH_POLAR_RADIUS_KM * 1000, h=h, sweep="y", grid_km=2.0,
        extents=extents, n_units=segments_for(n),
    )


# --- calibration conventions (block 5) --------------------------------------------------------
COUNT_ERROR = 65535  # count of error pixels
COUNT_OUTSIDE_SCAN = 65534  # count of pixels outside the scan area (space)
SPEED_OF_LIGHT = 299792458.0  # m s-1
PLANCK_CONSTANT = 6.62606957e-34  # J s
BOLTZMANN_CONSTANT = 1.3806488e-23  # J K-1

# --- observation timing -----------------------------------------------------------------------
# Model of a full-disk scan (see nominal_line_times): imaging starts SCAN_OFFSET_S after the slot's
# nominal time and runs north to south for SCAN_DURATION_S.
SCAN_OFFSET_S = 20.0
SCAN_DURATION_S = 570.0
MJD_EPOCH = np.datetime64("1858-11-17T00:00:00", "ns")


def nominal_line_times(slot_start: datetime | np.datetime64, nlines: int) -> np.ndarray:
    """Observation time of each line of a full disk of ``nlines`` lines (north to south).

    AHI sweeps the full disk in 23 east-west swaths from north to south in about 9.5 minutes of the
    10-minute slot (the rest is calibration and the Japan/target sectors). We model the time of a line
    as linear in its position: line ``i`` (0-based) is seen at
    ``slot_start + SCAN_OFFSET_S + SCAN_DURATION_S * (i + 0.5) / nlines``. Linear-in-line keeps
    finer bands consistent: the mean time of the native lines inside a 2 km line is that line's time.
    Real files carry their own times in block 9; this model only feeds synthetic files.

    Returns:
        datetime64[ns] array of shape (nlines,).
    """
    start = _to_datetime64(slot_start) + np.timedelta64(int(SCAN_OFFSET_S * 1e9), "ns")
    frac = (np.arange(nlines, dtype=np.float64) + 0.5) / nlines
    return start + np.round(frac * SCAN_DURATION_S * 1e9).astype("timedelta64[ns]")


def _to_datetime64(t: datetime | np.datetime64) -> np.datetime64:
    if isinstance(t, datetime):
        if t.tzinfo is not None:
            t = t.astimezone(UTC).replace(tzinfo=None)
        return np.datetime64(t, "ns")
    return np.datetime64(t, "ns")


def mjd_to_datetime64(mjd: np.ndarray | float) -> np.ndarray:
    """Modified Julian Date (days, float64) -> datetime64[ns] UTC, rounded to the microsecond.

    A float64 MJD resolves about 1 microsecond today, so finer digits are noise.
    """
    us = np.round(np.asarray(mjd, dtype=np.float64) * 86400e6).astype(np.int64)
    return MJD_EPOCH + (us * 1000).astype("timedelta64[ns]")


def datetime64_to_mjd(t: np.ndarray | np.datetime64) -> np.ndarray:
    """datetime64 UTC -> Modified Julian Date (days, float64)."""
    ns = (np.asarray(t, dtype="datetime64[ns]") - MJD_EPOCH).astype(np.int64)
    return ns / 86400e9


def mjd(t: datetime) -> float:
    """A datetime (UTC) as a Modified Julian Date."""
    return float(datetime64_to_mjd(_to_datetime64(t)))


def slot_of(t: datetime) -> datetime:
    """The nominal 10-minute slot that contains ``t``."""
    t = t.astimezone(UTC)
    return t.replace(minute=t.minute - t.minute % SLOT_MINUTES, second=0, microsecond=0)


SLOT = timedelta(minutes=SLOT_MINUTES)

# --- header blocks ----------------------------------------------------------------------------
# Block 1: basic information (282 bytes)
BLOCK1 = np.dtype([
    ("block_number", "u1"),
    ("block_length", "<u2"),
    ("n_header_blocks", "<u2"),
    ("byte_order", "u1"),  # 0 little endian
    ("satellite_name", "S16"),
    ("processing_center", "S16"),
    ("observation_area", "S4"),
    ("other_observation_info", "S2"),
    ("observation_timeline", "<u2"),  # HHMM of the slot as a number
    ("observation_start_mjd", "<f8"),
    ("observation_end_mjd", "<f8"),
    ("file_creation_mjd", "<f8"),
    ("total_header_length", "<u4"),
    ("total_data_length", "<u4"),
    ("quality_flags", "u1", (4,)),
    ("format_version", "S32"),
    ("file_name", "S128"),
    ("spare", "V40"),
])
# Block 2: data information (50 bytes)
BLOCK2 = np.dtype([
    ("block_number", "u1"),
    ("block_length", "<u2"),
    ("bits_per_pixel", "<u2"),
    ("n_columns", "<u2"),
    ("n_lines", "<u2"),
    ("compression", "u1"),
    ("spare", "V40"),
])
# Block 3: projection information (127 bytes); distances in km
BLOCK3 = np.dtype([
    ("block_number", "u1"),
    ("block_length", "<u2"),
    ("sub_lon", "<f8"),
    ("cfac", "<u4"),
    ("lfac", "<u4"),
    ("coff", "<f4"),
    ("loff", "<f4"),
    ("distance_from_earth_centre", "<f8"),
    ("earth_equatorial_radius", "<f8"),
    ("earth_polar_radius", "<f8"),
    ("ratio_diff_req2_rpol2_req2", "<f8"),  # (req^2 - rpol^2) / req^2
    ("ratio_rpol2_req2", "<f8"),  # rpol^2 / req^2
    ("ratio_req2_rpol2", "<f8"),  # req^2 / rpol^2
    ("coefficient_sd", "<f8"),  # distance^2 - req^2
    ("resampling_types", "<i2"),
    ("resampling_size", "<i2"),
    ("spare", "V40"),
])
# Block 4: navigation information (139 bytes)
BLOCK4 = np.dtype([
    ("block_number", "u1"),
    ("block_length", "<u2"),
    ("navigation_mjd", "<f8"),
    ("ssp_longitude", "<f8"),
    ("ssp_latitude", "<f8"),
    ("distance_earth_centre_to_satellite", "<f8"),  # km
    ("nadir_longitude", "<f8"),
    ("nadir_latitude", "<f8"),
    ("sun_position", "<f8", (3,)),  # km, J2000 inertial
    ("moon_position", "<f8", (3,)),
    ("spare", "V40"),
])
# Block 5: calibration information (147 bytes) = a common part + a VIS or IR part
BLOCK5_COMMON = np.dtype([
    ("block_number", "u1"),
    ("block_length", "<u2"),
    ("band_number", "<u2"),
    ("central_wavelength_um", "<f8"),
    ("valid_bits_per_pixel", "<u2"),
    ("count_error", "<u2"),
    ("count_outside_scan", "<u2"),
    ("gain", "<f8"),  # radiance = gain * count + offset
    ("offset", "<f8"),
])
BLOCK5_IR = np.dtype([  # bands 7-16
    ("c0_rad2tb", "<f8"),  # BT = c0 + c1 Te + c2 Te^2 (Te: effective temperature from Planck)
    ("c1_rad2tb", "<f8"),
    ("c2_rad2tb", "<f8"),
    ("c0_tb2rad", "<f8"),
    ("c1_tb2rad", "<f8"),
    ("c2_tb2rad", "<f8"),
    ("speed_of_light", "<f8"),
    ("planck_constant", "<f8"),
    ("boltzmann_constant", "<f8"),
    ("spare", "V40"),
])
BLOCK5_VIS = np.dtype([  # bands 1-6
    ("rad2albedo", "<f8"),  # albedo (0-1) = radiance * rad2albedo
    ("update_mjd", "<f8"),
    ("updated_gain", "<f8"),
    ("updated_offset", "<f8"),
    ("spare", "V80"),
])
# Block 6: inter-calibration (GSICS) information (259 bytes)
BLOCK6 = np.dtype([
    ("block_number", "u1"),
    ("block_length", "<u2"),
    ("gsics_intercept", "<f8"),
    ("gsics_slope", "<f8"),
    ("gsics_quadratic", "<f8"),
    ("gsics_std_scene_radiance_bias", "<f8"),
    ("gsics_std_scene_radiance_bias_uncertainty", "<f8"),
    ("gsics_std_scene_radiance", "<f8"),
    ("gsics_correction_start_mjd", "<f8"),
    ("gsics_correction_end_mjd", "<f8"),
    ("gsics_radiance_upper_limit", "<f4"),
    ("gsics_radiance_lower_limit", "<f4"),
    ("gsics_file_name", "S128"),
    ("spare", "V56"),
])
# Block 7: segment information (47 bytes)
BLOCK7 = np.dtype([
    ("block_number", "u1"),
    ("block_length", "<u2"),
    ("total_segments", "u1"),
    ("segment_number", "u1"),  # 1-based
    ("first_line", "<u2"),  # 1-based line number of the segment's first line in the full disk
    ("spare", "V40"),
])
# Block 8: navigation correction; fixed part, then n records, then a 40-byte spare
BLOCK8 = np.dtype([
    ("block_number", "u1"),
    ("block_length", "<u2"),
    ("rotation_centre_column", "<f4"),
    ("rotation_centre_line", "<f4"),
    ("rotation_correction", "<f8"),
    ("n_corrections", "<u2"),
])
BLOCK8_RECORD = np.dtype([
    ("line", "<u2"),
    ("column_shift", "<f4"),
    ("line_shift", "<f4"),
])
# Block 9: observation times; fixed part, then n (line, MJD) pairs, then a 40-byte spare
BLOCK9 = np.dtype([
    ("block_number", "u1"),
    ("block_length", "<u2"),
    ("n_times", "<u2"),
])
BLOCK9_RECORD = np.dtype([
    ("line", "<u2"),  # 1-based line number in the full disk at the band's resolution
    ("mjd", "<f8"),
])
# Block 10: error information; the length is a uint32 here; n records then a 40-byte spare
BLOCK10 = np.dtype([
    ("block_number", "u1"),
    ("block_length", "<u4"),
    ("n_error_lines", "<u2"),
])
BLOCK10_RECORD = np.dtype([
    ("line", "<u2"),
    ("n_error_pixels", "<u2"),
])
# Block 11: spare (259 bytes)
BLOCK11 = np.dtype([
    ("block_number", "u1"),
    ("block_length", "<u2"),
    ("spare", "V256"),
])

VARIABLE_SPARE = 40  # bytes after the records of blocks 8, 9 and 10
N_HEADER_BLOCKS = 11
FIXED_BLOCK_LENGTHS: dict[int, int] = {
    1: BLOCK1.itemsize,
    2: BLOCK2.itemsize,
    3: BLOCK3.itemsize,
    4: BLOCK4.itemsize,
    5: BLOCK5_COMMON.itemsize + BLOCK5_IR.itemsize,
    6: BLOCK6.itemsize,
    7: BLOCK7.itemsize,
    11: BLOCK11.itemsize,
}
FORMAT_VERSION = b"1.3"
