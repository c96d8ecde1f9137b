"""MTG FCI Level 1c FDHSI body chunks (netCDF-4): names, channels, grid, chunk rows, calibration, scan model.

Facts only, no I/O: the reader (``cloudbench.readers.fci_l1c``), the writer (``cloudbench.synthetic.fci_l1c``),
the product (``cloudbench.sensors.fci_l1c``) and the download planning import this module, so a file
name, a grid constant or the file orientation is defined exactly once. Sources: the file patterns,
required variables and calibration formulas of satpy's ``fci_l1c_nc`` reader and the grid constants its
tests carry; eumdac's table of coverage areas to chunk numbers; what is modelled rather than read from
a source is marked "(model)" and documented in docs/meteosat.md.

Orientation. An FCI file stores rows from SOUTH to NORTH (``y`` scan angle grows northward; row 1 is the
southernmost) and columns with the ``x`` scan angle positive toward WEST. cloudbench's grids are
north-up and west-left; :func:`orient` is the one place that turns one into the other (it is its own
inverse, so the writer uses it too), and :func:`grid_rows_of_file_rows` the one place that turns a
chunk's ``start_position_row``/``end_position_row`` into north-up row numbers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import numpy as np

# --- platforms and archive --------------------------------------------------------------------------
PLATFORM_CODES: dict[str, str] = {"meteosat12": "MTI1"}  # the file name's and attr/platform's spacecraft id
CODE_PLATFORMS: dict[str, str] = {code: name for name, code in PLATFORM_CODES.items()}
SATELLITE_NAMES: dict[str, str] = {"meteosat12": "Meteosat-12"}
NOMINAL_SUBPOINT_LON: dict[str, float] = {"meteosat12": 0.0}
PRODUCT_DIR = "FCI-L1C-FDHSI-FD"  # ARCHIVE/ folder of the full-disk FDHSI chunks
DATA_STORE_COLLECTION = "EO:EUM:DAT:0662"  # FCI L1c FDHSI, 0 deg full disk
SLOT_MINUTES = 10  # one repeat cycle (full disk) every 10 minutes
N_CHUNKS = 40  # BODY chunks per repeat cycle
TRAIL_CHUNK = 41  # the TRAIL chunk: repeat-cycle metadata only; no channel data


# --- channels ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FciChannel:
    """One FCI channel as its FDHSI files carry it, and the constants a synthetic file gives it.

    ``solar_irradiance_w_m2_um`` (solar channels) and ``bt_coefficients`` (a, b of the effective
    radiance to brightness temperature conversion, infrared channels) are representative values of
    the right magnitude (model): a real file carries its own in
    ``channel_effective_solar_irradiance`` and ``radiance_to_bt_conversion_coefficient_a/b``.
    """

    name: str  # "ir_105"
    number: int  # 1..16 in the order of the files' channel list
    wavelength_um: float  # central wavelength (satpy's fci_l1c_nc.yaml)
    resolution_km: float  # FDHSI grid: 1 km (solar) or 2 km (infrared)
    kind: str  # "vis": reflectance (%), "ir": brightness temperature (K)
    solar_irradiance_w_m2_um: float | None = None
    bt_coefficients: tuple[float, float] | None = None
    bt_max_k: float = 340.0  # warmest brightness temperature of the normal count range (model)

    @property
    def factor(self) -> int:
        """Native pixels per 2 km pixel along each axis (2 or 1)."""
        return int(round(2.0 / self.resolution_km))

    @property
    def wavenumber_cm(self) -> float:
        """Central wavenumber (cm-1) the BT conversion uses (model: 1e4 / central wavelength)."""
        return 1e4 / self.wavelength_um

    @property
    def warm_range(self) -> bool:
        """True for ir_38, whose counts 4096..8191 use the warm scale factor and offset (fire pixels)."""
        return self.name == "ir_38"


CHANNELS: dict[str, FciChannel] = {
    c.name: c
    for c in (
        FciChannel("vis_04", 1, 0.444, 1.0, "vis", solar_irradiance_w_m2_um=1950.0),
        FciChannel("vis_05", 2, 0.510, 1.0, "vis", solar_irradiance_w_m2_um=1880.0),
        FciChannel("vis_06", 3, 0.640, 1.0, "vis", solar_irradiance_w_m2_um=1630.0),
        FciChannel("vis_08", 4, 0.865, 1.0, "vis", solar_irradiance_w_m2_um=960.0),
        FciChannel("vis_09", 5, 0.914, 1.0, "vis", solar_irradiance_w_m2_um=880.0),
        FciChannel("nir_13", 6, 1.380, 1.0, "vis", solar_irradiance_w_m2_um=370.0),
        FciChannel("nir_16", 7, 1.610, 1.0, "vis", solar_irradiance_w_m2_um=245.0),
        FciChannel("nir_22", 8, 2.250, 1.0, "vis", solar_irradiance_w_m2_um=80.0),
        FciChannel("ir_38", 9, 3.800, 2.0, "ir", bt_coefficients=(0.9954, 3.44), bt_max_k=320.0),
        FciChannel("wv_63", 10, 6.300, 2.0, "ir", bt_coefficients=(0.9962, 2.19)),
        FciChannel("wv_73", 11, 7.350, 2.0, "ir", bt_coefficients=(0.9991, 0.47)),
        FciChannel("ir_87", 12, 8.700, 2.0, "ir", bt_coefficients=(0.9996, 0.21)),
        FciChannel("ir_97", 13, 9.660, 2.0, "ir", bt_coefficients=(0.9999, 0.06)),
        FciChannel("ir_105", 14, 10.500, 2.0, "ir", bt_coefficients=(0.9983, 0.64)),
        FciChannel("ir_123", 15, 12.300, 2.0, "ir", bt_coefficients=(0.9988, 0.40)),
        FciChannel("ir_133", 16, 13.300, 2.0, "ir", bt_coefficients=(0.9981, 0.56)),
    )
}
CHANNEL_NAMES: tuple[str, ...] = tuple(CHANNELS)
RESOLUTIONS_KM = (1.0, 2.0)

# --- calibration conventions (satpy fci_l1c_nc: calibrate_counts_to_rad, calibrate_rad_to_bt/refl) --
COUNT_FILL = 65535  # effective_radiance and index_map _FillValue (uint16)
COUNT_MAX = 4095  # 12-bit counts: valid_range [0, 4095]
WARM_COUNT_MIN, WARM_COUNT_MAX = 4096, 8191  # ir_38's warm counts
ASTRONOMICAL_UNIT_KM = 149597870.7  # satpy divides state/celestial/earth_sun_distance (km) by it
_PLANCK_H = 6.62607015e-34  # J s
_LIGHT_C = 299792458.0  # m s-1
_BOLTZMANN_K = 1.380649e-23  # J K-1
# Radiance per wavenumber in mW m-2 sr-1 (cm-1)-1: c1 = 2 h c^2 (1e11 for those units), c2 = h c / k (cm K)
RADIANCE_C1 = 1e11 * 2 * _PLANCK_H * _LIGHT_C**2
RADIANCE_C2 = 1e2 * _PLANCK_H * _LIGHT_C / _BOLTZMANN_K
RADIANCE_UNITS = "mW.m-2.sr-1.(cm-1)-1"
_VIS_MAX_REFLECTANCE = 1.2  # reflectance at the top count (model)
_ZERO_COUNT = 8.0  # radiance 0 sits this many counts above count 0, as in real L1 files (model)
_WARM_BT_MAX_K = 450.0  # ir_38 warm range top (model)


def channel_solar_irradiance(channel: str) -> float:
    """``channel_effective_solar_irradiance`` (mW m-2 (cm-1)-1) from the per-wavelength irradiance.

    E_nu = E_lambda * lambda^2 / 10 for E_lambda in W m-2 um-1 and lambda in um (model values).
    """
    c = CHANNELS[channel]
    return float(np.float32(c.solar_irradiance_w_m2_um * c.wavelength_um**2 / 10.0))


def radiance_unit_conversion(channel: str) -> float:
    """Factor from radiance per wavenumber (mW m-2 sr-1 (cm-1)-1) to per wavelength (W m-2 sr-1 um-1)."""
    return float(np.float32(10.0 / CHANNELS[channel].wavelength_um**2))


def bt_to_radiance(bt_k: np.ndarray, channel: str) -> np.ndarray:
    """Effective radiance (per wavenumber) of a brightness temperature: the inverse of satpy's conversion.

    satpy: BT = c2 vc / (a ln(1 + c1 vc^3 / L)) - b / a, so L = c1 vc^3 / (exp(c2 vc / (a BT + b)) - 1).
    """
    c = CHANNELS[channel]
    a, b = c.bt_coefficients  # type: ignore[misc]
    vc = c.wavenumber_cm
    t = np.asarray(bt_k, dtype=np.float64)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return RADIANCE_C1 * vc**3 / np.expm1(RADIANCE_C2 * vc / (a * t + b))


def reflectance_to_radiance(refl_pct: np.ndarray, channel: str, earth_sun_au: float) -> np.ndarray:
    """Effective radiance of a reflectance (%): satpy's refl = 100 pi d^2 L / E_nu, inverted."""
    e = channel_solar_irradiance(channel)
    return np.asarray(refl_pct, dtype=np.float64) / 100.0 * e / (math.pi * earth_sun_au**2)


@dataclass(frozen=True)
class CountScaling:
    """``scale_factor``/``add_offset`` (and ir_38's warm pair) of a synthetic file's effective_radiance."""

    scale: float
    offset: float
    warm_scale: float = 1.0
    warm_offset: float = 0.0
    valid_max: int = COUNT_MAX


def count_scaling(channel: str) -> CountScaling:
    """The count to radiance scaling a synthetic file carries (float32-exact values; model).

    Counts 0..4095 span a reflectance of 120 % at 1 AU (solar channels) or brightness temperatures up
    to ``bt_max_k`` (infrared), with radiance zero a few counts above count 0. ir_38's warm counts
    4096..8191 continue from the normal range's top up to 450 K.
    """
    c = CHANNELS[channel]
    if c.kind == "vis":
        top = reflectance_to_radiance(np.array(100.0 * _VIS_MAX_REFLECTANCE), channel, 1.0)
    else:
        top = bt_to_radiance(np.array(c.bt_max_k), channel)
    scale = float(np.float32(float(top) / (COUNT_MAX - _ZERO_COUNT)))
    offset = float(np.float32(-_ZERO_COUNT * scale))
    if not c.warm_range:
        return CountScaling(scale, offset)
    normal_top = offset + COUNT_MAX * scale
    warm_top = float(bt_to_radiance(np.array(_WARM_BT_MAX_K), channel))
    warm_scale = float(np.float32((warm_top - normal_top) / (WARM_COUNT_MAX - WARM_COUNT_MIN)))
    warm_offset = float(np.float32(normal_top - WARM_COUNT_MIN * warm_scale))
    return CountScaling(scale, offset, warm_scale, warm_offset, WARM_COUNT_MAX)


# --- file names -------------------------------------------------------------------------------------
FILENAME_RE = re.compile(
    r"^W_XX-EUMETSAT-Darmstadt,IMG\+SAT,(?P<code>MTI\d)\+FCI-1C-RRAD-(?P<kind>FDHSI|HRFI)-(?P<coverage>[A-Za-z0-9]+)"
    r"-(?P<subsetting>[^-_]*)-(?P<component1>[^-_]*)-(?P<part>BODY|TRAIL)-(?P<component3>[^-_]*)-(?P<purpose>[^-_]*)"
    r"-(?P<format>NC4E?)_C_EUMT_(?P<processed>\d{14})_(?P<facility>[A-Z0-9]+)_(?P<environment>[A-Z]+)"
    r"_(?P<start>\d{14})_(?P<end>\d{14})_(?P<mode>[A-Z])_(?P<compression>[A-Z]*)_(?P<disposition>[A-Z])"
    r"_(?P<cycle>\d{4})_(?P<chunk>\d{4})\.nc$"
)


@dataclass(frozen=True)
class FciName:
    """What an FCI L1c chunk name says."""

    platform: str  # "meteosat12"
    kind: str  # "FDHSI" (HRFI names parse too, for clear messages)
    coverage: str  # "FD" full disk, "Q4" the rapid-scan northern quarter, ...
    part: str  # "BODY" or "TRAIL"
    repeat_cycle: int  # 1-based repeat cycle of the day
    chunk: int  # 1..40 BODY, 41 TRAIL
    start: datetime  # sensing start of the chunk (aware UTC)
    end: datetime
    processed: datetime

    @property
    def slot_start(self) -> datetime:
        """The repeat cycle's nominal start: midnight of the sensing day plus (cycle - 1) x 10 min."""
        day = self.start.replace(hour=0, minute=0, second=0, microsecond=0)
        return day + timedelta(minutes=SLOT_MINUTES * (self.repeat_cycle - 1))


def _stamp(s: str) -> datetime:
    return datetime.strptime(s, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def parse_filename(name: str) -> FciName | None:
    """Parse an FCI L1c chunk name (no folders); None if it is not one of a known spacecraft."""
    m = FILENAME_RE.match(name)
    if m is None or m["code"] not in CODE_PLATFORMS:
        return None
    return FciName(
        platform=CODE_PLATFORMS[m["code"]], kind=m["kind"], coverage=m["coverage"], part=m["part"],
        repeat_cycle=int(m["cycle"]), chunk=int(m["chunk"]), start=_stamp(m["start"]), end=_stamp(m["end"]),
        processed=_stamp(m["processed"]),
    )


def repeat_cycle_of(slot_start: datetime) -> int:
    """1-based repeat cycle in the day of a slot (00:00 is cycle 1, 23:50 is cycle 144)."""
    t = slot_start.astimezone(UTC)
    return (t.hour * 60 + t.minute) // SLOT_MINUTES + 1


def build_filename(platform: str, slot_start: datetime, chunk: int, start: datetime, end: datetime,
                   processed: datetime, *, part: str = "BODY") -> str:
    """``W_XX-EUMETSAT-Darmstadt,IMG+SAT,MTI1+FCI-1C-RRAD-FDHSI-FD--CHK-BODY---NC4E_C_EUMT_..._0072_0001.nc``."""
    stamp = "%Y%m%d%H%M%S"
    return (
        f"W_XX-EUMETSAT-Darmstadt,IMG+SAT,{PLATFORM_CODES[platform]}+FCI-1C-RRAD-FDHSI-FD--CHK-{part}---NC4E"
        f"_C_EUMT_{processed.astimezone(UTC):{stamp}}_IDPFI_OPE_{start.astimezone(UTC):{stamp}}"
        f"_{end.astimezone(UTC):{stamp}}_N__O_{repeat_cycle_of(slot_start):04d}_{chunk:04d}.nc"
    )


def product_id(platform: str, slot_start: datetime) -> str:
    """A Data Store product id for one repeat cycle (model: the name pattern with the chunk fields as "x",
    the cycle's nominal sensing span and chunk 0000). Real ids come from the Data Store's search; this
    one names the cycles the loopback Data Store publishes."""
    stamp = "%Y%m%d%H%M%S"
    start = slot_start.astimezone(UTC) + timedelta(seconds=SCAN_OFFSET_S)
    end = start + timedelta(seconds=SCAN_DURATION_S)
    processed = slot_start.astimezone(UTC) + timedelta(minutes=SLOT_MINUTES)
    return (f"W_XX-EUMETSAT-Darmstadt,IMG+SAT,{PLATFORM_CODES[platform]}+FCI-1C-RRAD-FDHSI-FD--x-x---x_C_EUMT_"
            f"{processed:{stamp}}_IDPFI_OPE_{start:{stamp}}_{end:{stamp}}_N__O_{repeat_cycle_of(slot_start):04d}_0000")


def archive_dir(platform: str, slot_start: datetime) -> str:
    """ARCHIVE/ folder of one repeat cycle: ``meteosat12/FCI-L1C-FDHSI-FD/YYYY/MM/DD/HHMM``."""
    return f"{platform}/{PRODUCT_DIR}/{slot_start.astimezone(UTC):%Y/%m/%d/%H%M}"


def archive_path(platform: str, slot_start: datetime, name: str) -> str:
    """Path relative to ARCHIVE/: ``meteosat12/FCI-L1C-FDHSI-FD/YYYY/MM/DD/HHMM/<name>`` (one folder a cycle)."""
    return f"{archive_dir(platform, slot_start)}/{name}"


# --- grid ---------------------------------------------------------------------------------------------
# Projection (data/mtg_geos_projection) and the scan-angle steps of the 1 and 2 km FDHSI grids: the
# values satpy's fci_l1c_nc tests give the files' mtg_geos_projection attributes and x/y scale factors.
SEMI_MAJOR_AXIS = 6378137.0
INVERSE_FLATTENING = 298.257223563
SEMI_MINOR_AXIS = SEMI_MAJOR_AXIS * (1.0 - 1.0 / INVERSE_FLATTENING)
PERSPECTIVE_POINT_HEIGHT = 35786400.0
SWEEP_ANGLE_AXIS = "y"
FULL_DISK_SIZE: dict[float, int] = {1.0: 11136, 2.0: 5568}
SCAN_ANGLE_STEP: dict[float, float] = {1.0: 2.79435763233999e-05, 2.0: 5.58871526031607e-05}  # rad per pixel


def grid_size(resolution_km: float, reduction: int) -> int:
    """Rows (= columns) of the grid of a resolution at reduction k: the 2 km grid has round(5568 / k)."""
    n2 = int(round(FULL_DISK_SIZE[2.0] / reduction))
    return n2 * int(round(2.0 / resolution_km))


def scan_angle_step(resolution_km: float, reduction: int) -> float:
    """Scan-angle step (rad) of a grid: k times the real step."""
    return SCAN_ANGLE_STEP[resolution_km] * reduction


def scan_angles(resolution_km: float, reduction: int) -> dict[str, float]:
    """x/y ``scale_factor`` and ``add_offset`` of a file's uint16 scan angles.

    The stored values are 1-based pixel numbers i = 1..N (rows counted from the south); the angle is
    ``add_offset + i * scale_factor``. x is positive toward west, so its scale factor is negative and
    column 1 is the westernmost; y grows northward. The grid centre lies between the two middle pixels.
    """
    n = grid_size(resolution_km, reduction)
    s = scan_angle_step(resolution_km, reduction)
    centre = (n + 1) / 2.0
    return {"x_scale": -s, "x_offset": centre * s, "y_scale": s, "y_offset": -centre * s}


def area_extent_m(resolution_km: float, reduction: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) outer pixel edges in metres of the north-up, west-left grid."""
    half = grid_size(resolution_km, reduction) / 2.0 * scan_angle_step(resolution_km, reduction)
    half_m = half * PERSPECTIVE_POINT_HEIGHT
    return (-half_m, -half_m, half_m, half_m)


def n_chunks_for(n_lines: int) -> int:
    """BODY chunks of a disk of ``n_lines`` 2 km rows: 40, fewer only for a disk under 40 rows."""
    return min(N_CHUNKS, n_lines)


def full_disk_geometry(platform: str, reduction: int = 1):
    """The FCI full disk on the 2 km grid at reduction ``k`` (round(5568 / k) rows, 40 chunks).

    Raises:
        ValueError: an unknown platform or a reduction that leaves too small a disk.
    """
    from cloudbench.products.geostationary import FullDiskGeometry

    if platform not in PLATFORM_CODES:
        raise ValueError(f"unknown FCI platform {platform!r}; choose from {', '.join(PLATFORM_CODES)}")
    k = int(reduction)
    if k < 1 or k != reduction or grid_size(2.0, k) < 8:
        raise ValueError(f"FCI reduction {reduction!r} must be a whole number from 1 to {FULL_DISK_SIZE[2.0] // 8}")
    n = grid_size(2.0, k)
    extents = tuple((res, area_extent_m(res, k)) for res in RESOLUTIONS_KM)
    return FullDiskGeometry(
        platform=platform, sensor="fci", sub_lon=NOMINAL_SUBPOINT_LON[platform], proj_lon=NOMINAL_SUBPOINT_LON[platform],
        shape=(n, n), reduction=k, a=SEMI_MAJOR_AXIS, b=SEMI_MINOR_AXIS, h=PERSPECTIVE_POINT_HEIGHT,
        sweep=SWEEP_ANGLE_AXIS, grid_km=2.0, extents=extents, n_units=n_chunks_for(n),
    )


# --- chunks and orientation ------------------------------------------------------------------------------
def chunk_file_rows(n_lines: int, n_chunks: int | None = None) -> list[tuple[int, int]]:
    """Nominal (start_position_row, end_position_row) of each chunk on a grid of ``n_lines`` 2 km rows.

    Rows are 1-based and counted from the SOUTH (chunk 1 is the southern edge). Chunk k ends at row
    floor(k N / 40) (model: an even split of the rows in scan order; it gives the 139- and 140-row
    chunks of the real 2 km grid, e.g. 140 rows for the chunk that ends at the equator). Real files
    state their own rows, which the reader uses; this table serves planning and the writer.
    """
    n = n_chunks or n_chunks_for(n_lines)
    ends = [(k * n_lines) // n for k in range(1, n + 1)]
    starts = [1] + [e + 1 for e in ends[:-1]]
    return list(zip(starts, ends, strict=True))


def grid_rows_of_file_rows(start_row: int, end_row: int, n_lines: int) -> tuple[int, int]:
    """North-up rows [r0, r1) of file rows ``start_row..end_row`` (1-based from the south) of an N-row grid."""
    return n_lines - end_row, n_lines - start_row + 1


def orient(values: np.ndarray, x_scale: float) -> np.ndarray:
    """A chunk's array in file order <-> north-up, west-left order (the same flip both ways).

    File rows run south to north, so rows are reversed; columns are reversed only when the file's x
    scan angle grows along them (column 1 would then be the eastern edge).
    """
    out = values[::-1]
    if x_scale > 0:
        out = out[:, ::-1]
    return out


def chunk_grid_rows(geometry, chunk: int) -> tuple[int, int]:
    """North-up 2 km rows [r0, r1) of a nominal chunk of ``geometry``."""
    n = geometry.shape[0]
    s, e = chunk_file_rows(n, geometry.n_units)[chunk - 1]
    return grid_rows_of_file_rows(s, e, n)


def chunks_for_rows(geometry, row0: int, row1: int) -> set[int]:
    """Nominal chunks holding north-up 2 km rows [row0, row1) of ``geometry``."""
    n = geometry.shape[0]
    r0, r1 = max(0, row0), min(n, row1)
    if r1 <= r0:
        return set()
    out = set()
    for k, (s, e) in enumerate(chunk_file_rows(n, geometry.n_units), start=1):
        g0, g1 = grid_rows_of_file_rows(s, e, n)
        if g0 < r1 and r0 < g1:
            out.add(k)
    return out


# --- time ------------------------------------------------------------------------------------------------
TIME_UNITS = "seconds since 2000-01-01 00:00:00.0"  # what the writer puts on ``time`` (the reader parses any)
_UNIT_NS = {"days": 86400 * 10**9, "hours": 3600 * 10**9, "minutes": 60 * 10**9, "seconds": 10**9,
            "milliseconds": 10**6, "microseconds": 10**3}
_UNITS_RE = re.compile(r"^\s*(?P<unit>days|hours|minutes|seconds|milliseconds|microseconds)\s+since\s+"
                       r"(?P<date>\d{4}-\d{1,2}-\d{1,2})(?:[T ](?P<time>\d{1,2}:\d{1,2}(?::\d{1,2}(?:\.\d*)?)?))?"
                       r"\s*(?:Z|UTC|\+00:?00)?\s*$")


def parse_time_units(units: str) -> tuple[np.datetime64, int]:
    """(epoch as datetime64[ns], nanoseconds per unit) of a CF ``"<unit> since <date>"`` string.

    Raises:
        ValueError: units that are not of that form (the reader names the file).
    """
    m = _UNITS_RE.match(units or "")
    if m is None:
        raise ValueError(f"time units {units!r} are not '<unit> since <date>'")
    y, mo, d = (int(v) for v in m["date"].split("-"))
    hh = mm = 0
    ss = 0.0
    if m["time"]:
        parts = m["time"].split(":")
        hh, mm = int(parts[0]), int(parts[1])
        ss = float(parts[2]) if len(parts) > 2 else 0.0
    epoch = np.datetime64(f"{y:04d}-{mo:02d}-{d:02d}T{hh:02d}:{mm:02d}", "ns") + np.timedelta64(int(round(ss * 1e9)), "ns")
    return epoch, _UNIT_NS[m["unit"]]


def times_from_values(values: np.ndarray, units: str) -> np.ndarray:
    """datetime64[ns] of time values in ``units``, rounded to the microsecond (NaN -> NaT).

    A float64 count of seconds since 2000 resolves about 0.1 microsecond today, so finer digits are noise.
    """
    epoch, ns_per = parse_time_units(units)
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    us = np.round(np.where(ok, v, 0.0) * (ns_per / 1e3)).astype(np.int64)
    out = epoch + (us * 1000).astype("timedelta64[ns]")
    out[~ok] = np.datetime64("NaT")
    return out


def values_from_times(times: np.ndarray, units: str = TIME_UNITS) -> np.ndarray:
    """Time values (float64) in ``units`` of datetime64 times."""
    epoch, ns_per = parse_time_units(units)
    ns = (np.asarray(times, dtype="datetime64[ns]") - epoch).astype(np.int64)
    return ns / ns_per


# --- scan model (model: planning before files exist, and synthetic files) ---------------------------------
# The repeat cycle images the disk from south to north, chunk after chunk. Imaging starts SCAN_OFFSET_S
# after the cycle's nominal start and lasts SCAN_DURATION_S; a chunk's share of it grows with the width
# of the Earth disk across its rows (the mirror sweeps only the Earth and a margin), so polar chunks take
# a few seconds and equatorial ones about 16 s. Within a chunk the sweep runs from east to west: every
# row of the chunk sees a column at the same instant. TIME_SAMPLES instants are recorded per chunk (the
# file's ``time`` table); each pixel's ``index_map`` entry names the instant that saw it.
SCAN_OFFSET_S = 8.0
SCAN_DURATION_S = 540.0
_SWEEP_MARGIN = 0.25  # time of the turn-around and the space margin, in units of a full-disk chord
TIME_SAMPLES = 696  # instants per chunk (uint16 index_map: 40 x 696 indices stay below the fill value)


@dataclass(frozen=True)
class ChunkScan:
    """When and where one chunk is swept (seconds after the cycle start; 2 km grid columns)."""

    chunk: int
    grid_rows: tuple[int, int]  # north-up [r0, r1)
    start_s: float
    duration_s: float
    east_col: float  # sweep from this column edge (fractional, 0 = west edge of the grid) ...
    west_col: float  # ... to this one


@lru_cache(maxsize=32)
def scan_schedule(geometry) -> tuple[ChunkScan, ...]:
    """The chunks of a repeat cycle in scan order (chunk 1 first) with their sweep times (model)."""
    cols = geometry.shape[1]
    mask = geometry.disk_mask(2.0)
    chunks = []
    for k in range(1, geometry.n_units + 1):
        r0, r1 = chunk_grid_rows(geometry, k)
        on = np.flatnonzero(mask[r0:r1].any(axis=0))
        west, east = (float(on[0]), float(on[-1] + 1)) if on.size else (cols / 2.0, cols / 2.0)
        chunks.append((k, (r0, r1), west, east))
    weights = np.array([_SWEEP_MARGIN + (e - w) / cols for _, _, w, e in chunks])
    durations = SCAN_DURATION_S * weights / weights.sum()
    starts = SCAN_OFFSET_S + np.concatenate([[0.0], np.cumsum(durations)[:-1]])
    return tuple(ChunkScan(k, rows, float(s), float(d), east, west)
                 for (k, rows, west, east), s, d in zip(chunks, starts, durations, strict=True))


def sample_times_s(scan: ChunkScan) -> np.ndarray:
    """Seconds after the cycle start of a chunk's TIME_SAMPLES instants, rounded to the microsecond."""
    frac = (np.arange(TIME_SAMPLES, dtype=np.float64) + 0.5) / TIME_SAMPLES
    return np.round((scan.start_s + frac * scan.duration_s) * 1e6) / 1e6


def sample_of_columns(scan: ChunkScan, n_cols: int) -> np.ndarray:
    """The instant (0..TIME_SAMPLES-1) at which each 2 km column of a chunk is swept (east to west)."""
    centre = np.arange(n_cols, dtype=np.float64) + 0.5
    width = max(scan.east_col - scan.west_col, 1e-9)
    u = (scan.east_col - centre) / width
    return np.clip(np.floor(u * TIME_SAMPLES), 0, TIME_SAMPLES - 1).astype(np.int64)


def pixel_time_offsets_s(geometry) -> np.ndarray:
    """Seconds after the cycle start at which every 2 km pixel is seen (float64, lines x cols; model).

    Pixels off the disk get the instant of their column too, so a renderer has a time everywhere;
    the files give them no time (index_map fill).
    """
    lines, cols = geometry.shape
    out = np.empty((lines, cols), dtype=np.float64)
    for scan in scan_schedule(geometry):
        r0, r1 = scan.grid_rows
        out[r0:r1] = sample_times_s(scan)[sample_of_columns(scan, cols)][None, :]
    return out


def line_offsets_s(geometry) -> np.ndarray:
    """Nominal seconds after the cycle start of each 2 km row: the middle of its chunk's sweep (model)."""
    out = np.empty(geometry.shape[0], dtype=np.float64)
    for scan in scan_schedule(geometry):
        out[scan.grid_rows[0]:scan.grid_rows[1]] = scan.start_s + scan.duration_s / 2.0
    return out


def to_datetime64(t: datetime | np.datetime64) -> np.datetime64:
    if isinstance(t, datetime):
        if t.tzinfo is not None:
            t = t.astimezone(UTC).replace(tzinfo=None)
        return np.datetime64(t, "ns")
    return np.datetime64(t, "ns")


def offsets_to_times(slot_start: datetime | np.datetime64, offsets_s: np.ndarray) -> np.ndarray:
    """datetime64[ns] of seconds after a slot start (offsets are whole microseconds)."""
    us = np.round(np.asarray(offsets_s, dtype=np.float64) * 1e6).astype(np.int64)
    return to_datetime64(slot_start) + (us * 1000).astype("timedelta64[ns]")


def earth_sun_distance_au(when: datetime) -> float:
    """Earth-Sun distance (AU) on a date: 1 - 0.01672 cos(2 pi (doy - 4) / 365.256) (model)."""
    doy = when.timetuple().tm_yday
    return 1.0 - 0.01672 * math.cos(2 * math.pi * (doy - 4) / 365.256)
