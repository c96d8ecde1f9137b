"""GOES-R ABI L1b radiances (netCDF4): names, archive layout, band table, fixed grid, timing.

Facts only, no I/O: shared by the reader (``cloudbench.readers.abi_l1b``), the writer
(``cloudbench.synthetic.abi_l1b``) and the download catalog. Values are from the GOES-R Product User's
Guide (PUG) L1b volume and real files (``tests/data/real``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

# --- platforms and archive ------------------------------------------------------------------
PLATFORM_CODES: dict[str, str] = {"goes16": "G16", "goes17": "G17", "goes18": "G18", "goes19": "G19"}
CODE_PLATFORMS: dict[str, str] = {code: name for name, code in PLATFORM_CODES.items()}
BUCKETS: dict[str, str] = {name: f"noaa-{name}" for name in PLATFORM_CODES}
PRODUCT_DIR = "ABI-L1b-RadF"
ORBITAL_SLOTS: dict[str, str] = {
    "goes16": "GOES-East",
    "goes19": "GOES-East",
    "goes17": "GOES-West",
    "goes18": "GOES-West",
}
INSTRUMENT_IDS: dict[str, str] = {"goes16": "FM1", "goes17": "FM2", "goes18": "FM3", "goes19": "FM4"}
# The fixed grid's projection origin (goes_imager_projection:longitude_of_projection_origin). It is
# the nominal station, 0.2 deg off the satellite's nominal sub-point (config.SUB_LON, which real files
# carry as nominal_satellite_subpoint_lon).
PROJECTION_LON: dict[str, float] = {"goes16": -75.0, "goes19": -75.0, "goes17": -137.0, "goes18": -137.0}
NOMINAL_SUBPOINT_LON: dict[str, float] = {"goes16": -75.2, "goes19": -75.2, "goes17": -137.2, "goes18": -137.2}
SCENES = ("F", "C", "M1", "M2")  # full disk, CONUS/PACUS, mesoscale 1 and 2
MODE_6_START = datetime(2019, 4, 2, 16, tzinfo=UTC)  # ABI Mode 6 (10-min full disk)


def scan_mode_for(when: datetime) -> int:
    """ABI scan mode in force at ``when``: 3 (15-min full disk) before April 2019, 6 after."""
    return 6 if when >= MODE_6_START else 3


def slot_minutes(mode: int) -> int:
    """Minutes between full disks in a scan mode."""
    return {3: 15, 4: 5, 6: 10}[mode]


# --- bands ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class AbiBand:
    """One ABI channel and the constants its L1b files carry."""

    name: str  # "C13"
    number: int
    wavelength_um: float
    resolution_km: float
    kind: str  # "vis": reflectance (%), "ir": brightness temperature (K)
    bits: int  # sensor_band_bit_depth; Rad's fill value is 2**bits - 1
    esun: float | None = None  # W m-2 um-1 (vis)
    planck: tuple[float, float, float, float] | None = None  # fk1, fk2, bc1, bc2 (ir)

    @property
    def factor(self) -> int:
        """Native pixels per 2 km pixel along each axis (4, 2 or 1)."""
        return int(round(2.0 / self.resolution_km))

    @property
    def fill(self) -> int:
        return 2**self.bits - 1


# Planck coefficients and solar irradiances of GOES-16 (PUG values, rounded); the other platforms
# differ in the third digit, which matters to nobody reading a synthetic file.
BANDS: dict[str, AbiBand] = {
    b.name: b
    for b in (
        AbiBand("C01", 1, 0.47, 1.0, "vis", 10, esun=2017.1648),
        AbiBand("C02", 2, 0.64, 0.5, "vis", 12, esun=1631.3351),
        AbiBand("C03", 3, 0.865, 1.0, "vis", 10, esun=957.0699),
        AbiBand("C04", 4, 1.378, 2.0, "vis", 11, esun=360.8781),
        AbiBand("C05", 5, 1.61, 1.0, "vis", 10, esun=242.5324),
        AbiBand("C06", 6, 2.25, 2.0, "vis", 10, esun=77.7533),
        AbiBand("C07", 7, 3.90, 2.0, "ir", 14, planck=(202263.0, 3698.19, 0.43361, 0.99939)),
        AbiBand("C08", 8, 6.19, 2.0, "ir", 12, planck=(50687.1, 2331.58, 1.55228, 0.99667)),
        AbiBand("C09", 9, 6.93, 2.0, "ir", 11, planck=(35828.3, 2076.95, 0.34427, 0.99918)),
        AbiBand("C10", 10, 7.34, 2.0, "ir", 12, planck=(30174.0, 1961.38, 0.05651, 0.99986)),
        AbiBand("C11", 11, 8.44, 2.0, "ir", 12, planck=(19779.9, 1703.83, 0.18733, 0.99948)),
        AbiBand("C12", 12, 9.61, 2.0, "ir", 11, planck=(13432.1, 1497.61, 0.09102, 0.99971)),
        AbiBand("C13", 13, 10.33, 2.0, "ir", 12, planck=(10803.3, 1392.74, 0.07550, 0.99975)),
        AbiBand("C14", 14, 11.21, 2.0, "ir", 12, planck=(8510.22, 1286.67, 0.22516, 0.99920)),
        AbiBand("C15", 15, 12.29, 2.0, "ir", 12, planck=(6454.62, 1173.03, 0.21702, 0.99916)),
        AbiBand("C16", 16, 13.28, 2.0, "ir", 10, planck=(5101.27, 1084.53, 0.06266, 0.99974)),
    )
}
BAND_NAMES: tuple[str, ...] = tuple(BANDS)

# --- file names -----------------------------------------------------------------------------
FILENAME_RE = re.compile(
    r"^OR_ABI-L1b-Rad(?P<scene>F|C|M1|M2)-M(?P<mode>\d)C(?P<channel>\d{2})_(?P<code>G\d{2})"
    r"_s(?P<start>\d{14})_e(?P<end>\d{14})_c(?P<created>\d{14})\.nc$"
)


@dataclass(frozen=True)
class AbiName:
    """What an ABI L1b file name says."""

    platform: str  # "goes16"
    scene: str  # "F", "C", "M1", "M2"
    mode: int
    band: str  # "C13"
    start: datetime  # timezone-aware UTC, 0.1 s resolution
    end: datetime
    created: datetime


def _parse_stamp(stamp: str) -> datetime:
    """``YYYYJJJHHMMSSt`` (t: tenths of a second) -> aware UTC datetime."""
    base = datetime.strptime(stamp[:13], "%Y%j%H%M%S").replace(tzinfo=UTC)
    return base + timedelta(milliseconds=100 * int(stamp[13]))


def format_stamp(t: datetime) -> str:
    """Aware or UTC datetime -> ``YYYYJJJHHMMSSt`` (tenths truncated, as the archive does)."""
    t = t.astimezone(UTC) if t.tzinfo else t
    return f"{t:%Y%j%H%M%S}{t.microsecond // 100000}"


def parse_filename(name: str) -> AbiName | None:
    """Parse an ABI L1b radiance file name (no folders); None if it is not one."""
    m = FILENAME_RE.match(name)
    if m is None or m["code"] not in CODE_PLATFORMS:
        return None
    band = f"C{m['channel']}"
    if band not in BANDS:
        return None
    return AbiName(
        platform=CODE_PLATFORMS[m["code"]],
        scene=m["scene"],
        mode=int(m["mode"]),
        band=band,
        start=_parse_stamp(m["start"]),
        end=_parse_stamp(m["end"]),
        created=_parse_stamp(m["created"]),
    )


def build_filename(
    platform: str, band: str, start: datetime, end: datetime, created: datetime, *, mode: int = 6, scene: str = "F"
) -> str:
    """``OR_ABI-L1b-RadF-M6C13_G16_s20182740300216_e20182740309524_c20182740309589.nc``."""
    return (
        f"OR_ABI-L1b-Rad{scene}-M{mode}{band}_{PLATFORM_CODES[platform]}"
        f"_s{format_stamp(start)}_e{format_stamp(end)}_c{format_stamp(created)}.nc"
    )


def bucket_key(start: datetime, name: str) -> str:
    """Object key inside the NOAA bucket: ``ABI-L1b-RadF/YYYY/DDD/HH/<name>``."""
    return f"{PRODUCT_DIR}/{start:%Y/%j/%H}/{name}"


def archive_path(platform: str, start: datetime, name: str) -> str:
    """Path relative to ARCHIVE/: ``goes16/ABI-L1b-RadF/YYYY/DDD/HH/<name>``."""
    return f"{platform}/{bucket_key(start, name)}"


# --- fixed grid -----------------------------------------------------------------------------
PERSPECTIVE_POINT_HEIGHT = 35786023.0  # m above the ellipsoid
SEMI_MAJOR_AXIS = 6378137.0  # GRS80, m
SEMI_MINOR_AXIS = 6356752.31414
INVERSE_FLATTENING = 298.2572221
SWEEP_ANGLE_AXIS = "x"
# Full disk: the outer pixel edges lie at +-FULL_DISK_HALF_ANGLE rad; pixel centres are
# add_offset + i * scale_factor (x: west to east; y: north to south, negative scale).
FULL_DISK_HALF_ANGLE = 0.151872
FULL_DISK_SIZE: dict[float, int] = {0.5: 21696, 1.0: 10848, 2.0: 5424}
SCAN_ANGLE_STEP: dict[float, float] = {0.5: 1.4e-05, 1.0: 2.8e-05, 2.0: 5.6e-05}  # rad per pixel
X_ADD_OFFSET: dict[float, float] = {0.5: -0.151865, 1.0: -0.151858, 2.0: -0.151844}
J2000_EPOCH = np.datetime64("2000-01-01T12:00:00", "ns")  # "seconds since 2000-01-01 12:00:00"

# --- timing ---------------------------------------------------------------------------------
# A Mode 6 full disk starts ~21.6 s after the slot and ends ~9 min 52 s after it (real RadF names:
# s...0300216_e...0309524). The scan runs north to south in 22 east-west swaths.
SCAN_OFFSET_S = 21.6
SCAN_DURATION_S = 570.8


def line_times(start: np.datetime64 | datetime, end: np.datetime64 | datetime, nlines: int) -> np.ndarray:
    """Approximate observation time of each line of a north-to-south ABI image.

    ABI scans its scene in east-west swaths from north to south; an L1b file only says when the
    scan started and ended (``time_coverage_start/end``, ``time_bounds``). We place line ``i``
    (0-based) at ``start + (end - start) * (i + 0.5) / nlines``. Inside one swath (about 250 lines
    of the 2 km full disk) all lines are seen within ~20 s, so this linear model is off by at most
    about half a swath's duration (~15 s in Mode 6): well inside the 300 s matching tolerance.

    Returns:
        datetime64[ns] array of shape (nlines,).
    """
    s = _to_datetime64(start)
    e = _to_datetime64(end)
    span_ns = (e - s).astype(np.int64)
    frac = (np.arange(nlines, dtype=np.float64) + 0.5) / nlines
    return s + np.round(frac * span_ns).astype("timedelta64[ns]")


def _to_datetime64(t: np.datetime64 | datetime) -> np.datetime64:
    if isinstance(t, datetime):
        if t.tzinfo is not None:
            t = t.astimezone(UTC).replace(tzinfo=None)
        return np.datetime64(t, "ns")
    return np.datetime64(t, "ns")


def nominal_scan_bounds(slot_start: datetime) -> tuple[datetime, datetime]:
    """Start and end of a full-disk scan that belongs to the slot ``slot_start`` (synthetic files)."""
    return (slot_start + timedelta(seconds=SCAN_OFFSET_S), slot_start + timedelta(seconds=SCAN_OFFSET_S + SCAN_DURATION_S))


RESOLUTIONS_KM = (0.5, 1.0, 2.0)


def scan_angles(n_columns: int, resolution_km: float, reduction: int) -> dict[str, float]:
    """x/y ``scale_factor`` and ``add_offset`` (rad) of a full-disk file with ``n_columns`` columns.

    Pixel centres are ``add_offset + i * scale_factor``; all values are multiples of 1e-6 rad (reduced
    disks use k-times the real step, so the rounding satpy applies to the factors stays exact).
    """
    step_urad = round(SCAN_ANGLE_STEP[resolution_km] * 1e6) * reduction
    # half the grid width and half a pixel, in micro-radians; integers up to the final division
    first_centre_urad = -(n_columns * step_urad) / 2 + step_urad / 2
    return {
        "x_scale": step_urad / 1e6,
        "x_offset": round(first_centre_urad, 3) / 1e6,
        "y_scale": -step_urad / 1e6,
        "y_offset": -round(first_centre_urad, 3) / 1e6,
    }


def area_extent_m(n_lines: int, n_columns: int, resolution_km: float, reduction: int,
                  ) -> tuple[float, float, float, float]:
    """(west, south, east, north) outer pixel edges in metres: scan angles times the satellite height."""
    s = scan_angles(n_columns, resolution_km, reduction)
    x_first = s["x_offset"]
    x_last = s["x_offset"] + (n_columns - 1) * s["x_scale"]
    y_first = s["y_offset"]
    y_last = s["y_offset"] + (n_lines - 1) * s["y_scale"]
    half_x = s["x_scale"] / 2
    half_y = -s["y_scale"] / 2
    edges = (x_first - half_x, y_last - half_y, x_last + half_x, y_first + half_y)
    return tuple(v * PERSPECTIVE_POINT_HEIGHT for v in edges)  # type: ignore[return-value]


def full_disk_geometry(platform: str, reduction: int = 1):
    """The GOES-R fixed grid full disk at 2 km, real size (5424 lines) or ``reduction`` times coarser."""
    from cloudbench.products.geostationary import FullDiskGeometry

    if platform not in PLATFORM_CODES:
        raise ValueError(f"unknown GOES platform {platform!r}; choose from {', '.join(PLATFORM_CODES)}")
    k = int(reduction)
    if k < 1:
        raise ValueError(f"reduction must be a positive integer, got {reduction!r}")
    n = int(round(FULL_DISK_SIZE[2.0] / k))
    extents = tuple((res, area_extent_m(n * round(2 / res), n * round(2 / res), res, k)) for res in RESOLUTIONS_KM)
    return FullDiskGeometry(
        platform=platform, sensor="abi", sub_lon=NOMINAL_SUBPOINT_LON[platform], proj_lon=PROJECTION_LON[platform],
        shape=(n, n), reduction=k, a=SEMI_MAJOR_AXIS, b=SEMI_MINOR_AXIS, h=PERSPECTIVE_POINT_HEIGHT, sweep="x",
        grid_km=2.0, extents=extents, n_units=1,
    )
