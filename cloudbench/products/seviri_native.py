"""MSG SEVIRI Level 1.5 native format (``.nat``): names, positions, binary layout, calibration, geometry.

Facts only, no I/O: the reader (:mod:`cloudbench.readers.seviri_native`), the writer
(:mod:`cloudbench.synthetic.seviri_native`), the imager product and the Data Store mapping import this
module, so a name pattern, a record layout or a constant is defined once.

A native file is ``[header][lines][trailer]``, every number big-endian:

- header: an optional ASCII archive header (``FormatName                  : NATIVE`` ... in 80-byte
  ``Name : Value`` records; present in files from EUMETSAT's archive and Data Store; it says which
  channels and which rectangle the file holds), then a 38-byte packet header and the Level 1.5 data
  header (satellite, orbit polynomials, image description, calibration, Earth model);
- lines: for each image line, south to north, one record per VIS/IR channel present (a 65-byte
  prefix with the line number, channel id and the line's acquisition time, then 10-bit counts packed
  4 pixels in 5 bytes, east to west), then three HRV records when HRV is present;
- trailer: a packet header and the Level 1.5 trailer (forward scan start and end, coverage).

Only the fields cloudbench reads or writes are named below; the other parts of the header and the
trailer are kept as opaque blocks of their exact sizes, so the layout (450,400-byte header with the
archive header, 445,286 without; 380,363-byte trailer) is the format's. The layout follows EUMETSAT's
"MSG Level 1.5 Image Data Format Description" and "MSG Level 1.5 Native Format File Definition" as
implemented by satpy's ``seviri_l1b_native`` reader, which reads the files written from it.

Orientation: the file's line 1 is the SOUTHERNMOST line and its first pixel the EASTERNMOST (grid
origin "south-east"). cloudbench's grids have row 0 north and column 0 west; :func:`to_grid`,
:func:`lines_to_rows`, :func:`native_lines` and :func:`rectangle_origin` are the one place that turns
one into the other.

HRV (1 km, 11136 lines, two moving windows) is left out: the sample grid is the 3 km VIS/IR grid and
HRV covers only part of the disk, so block-averaging it would give a channel that is missing over
most of the disk. Files that hold HRV are read (its records are skipped); synthetic files leave it
out the way a channel subset ordered from the archive does (``SelectedBandIDs``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

# --- platforms, positions and collections ------------------------------------------------------
PRODUCT = "seviri-native"
SATELLITE_IDS: dict[str, int] = {"meteosat8": 321, "meteosat9": 322, "meteosat10": 323, "meteosat11": 324}
ID_PLATFORMS: dict[int, str] = {v: k for k, v in SATELLITE_IDS.items()}
NAME_CODES: dict[str, str] = {"meteosat8": "MSG1", "meteosat9": "MSG2", "meteosat10": "MSG3", "meteosat11": "MSG4"}
CODE_PLATFORMS: dict[str, str] = {v: k for k, v in NAME_CODES.items()}
SATELLITE_NAMES: dict[str, str] = {p: f"Meteosat-{p.removeprefix('meteosat')}" for p in SATELLITE_IDS}

POSITION_0DEG = "seviri"
POSITION_IODC = "seviri-iodc"
POSITION_RSS = "seviri-rss"
COLLECTIONS: dict[str, str] = {
    POSITION_0DEG: "EO:EUM:DAT:MSG:HRSEVIRI",
    POSITION_IODC: "EO:EUM:DAT:MSG:HRSEVIRI-IODC",
    POSITION_RSS: "EO:EUM:DAT:MSG:MSG15-RSS",
}
SLOT_MINUTES: dict[str, int] = {POSITION_0DEG: 15, POSITION_IODC: 15, POSITION_RSS: 5}


def collection_folder(position: str) -> str:
    """The ARCHIVE/ folder of a position's collection: its Data Store name after ``MSG:`` (``HRSEVIRI``)."""
    return COLLECTIONS[position].rsplit(":", 1)[-1]


FOLDER_POSITIONS: dict[str, str] = {collection_folder(p): p for p in COLLECTIONS}


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@dataclass(frozen=True)
class Station:
    """One satellite at one position for a period (UTC; ``end`` None: still there)."""

    platform: str
    position: str
    lon: float  # nominal sub-satellite longitude, degrees east
    start: datetime
    end: datetime | None


# Operational periods of the MSG satellites by service (EUMETSAT operational notices; see
# docs/meteosat.md for sources and the dates that are approximate). One satellite is at one position
# at a time, so (platform, date) -> position is unambiguous; gaps are backup periods without a service.
STATIONS: tuple[Station, ...] = (
    Station("meteosat8", POSITION_0DEG, 0.0, _utc(2004, 1, 29), _utc(2007, 4, 11)),
    Station("meteosat9", POSITION_0DEG, 0.0, _utc(2007, 4, 11), _utc(2013, 1, 21)),
    Station("meteosat10", POSITION_0DEG, 0.0, _utc(2013, 1, 21), _utc(2018, 2, 20)),
    Station("meteosat11", POSITION_0DEG, 0.0, _utc(2018, 2, 20), None),
    Station("meteosat8", POSITION_RSS, 9.5, _utc(2008, 5, 13), _utc(2013, 4, 9)),
    Station("meteosat9", POSITION_RSS, 9.5, _utc(2013, 4, 9), _utc(2018, 3, 20)),
    Station("meteosat10", POSITION_RSS, 9.5, _utc(2018, 3, 20), None),
    Station("meteosat8", POSITION_IODC, 41.5, _utc(2017, 2, 1), _utc(2022, 6, 1)),
    Station("meteosat9", POSITION_IODC, 45.5, _utc(2022, 6, 1), None),
)

# Data before this date carry the half-pixel georeference offset (Earth model 1); the file's own
# TypeOfEarthModel decides when a file is read, this date only serves planning and synthetic files.
GEOREF_FIX_DATE = _utc(2017, 12, 6)


def station_at(platform: str, when: datetime) -> Station | None:
    """Where ``platform`` served at ``when`` (None between services)."""
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    for s in STATIONS:
        if s.platform == platform and s.start <= when and (s.end is None or when < s.end):
            return s
    return None


def stations_of(position: str) -> tuple[Station, ...]:
    return tuple(s for s in STATIONS if s.position == position)


def default_station(platform: str) -> Station:
    """The platform's first full-disk station (its geometry when no date or file says more)."""
    for s in STATIONS:
        if s.platform == platform and s.position != POSITION_RSS:
            return s
    raise ValueError(f"unknown Meteosat platform {platform!r}; choose from {', '.join(SATELLITE_IDS)}")


# --- channels ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeviriBand:
    """One SEVIRI channel: its number in the file (1-12), wavelength and what it is calibrated to."""

    name: str
    number: int
    wavelength_um: float
    resolution_km: float
    kind: str  # "vis": reflectance (%), "ir": brightness temperature (K)


CHANNEL_ORDER: tuple[str, ...] = ("VIS006", "VIS008", "IR_016", "IR_039", "WV_062", "WV_073", "IR_087", "IR_097",
                                  "IR_108", "IR_120", "IR_134", "HRV")
HRV = "HRV"
N_CHANNELS = len(CHANNEL_ORDER)
BANDS: dict[str, SeviriBand] = {
    b.name: b
    for b in (
        SeviriBand("VIS006", 1, 0.635, 3.0, "vis"),
        SeviriBand("VIS008", 2, 0.81, 3.0, "vis"),
        SeviriBand("IR_016", 3, 1.64, 3.0, "vis"),
        SeviriBand("IR_039", 4, 3.92, 3.0, "ir"),
        SeviriBand("WV_062", 5, 6.25, 3.0, "ir"),
        SeviriBand("WV_073", 6, 7.35, 3.0, "ir"),
        SeviriBand("IR_087", 7, 8.70, 3.0, "ir"),
        SeviriBand("IR_097", 8, 9.66, 3.0, "ir"),
        SeviriBand("IR_108", 9, 10.80, 3.0, "ir"),
        SeviriBand("IR_120", 10, 12.00, 3.0, "ir"),
        SeviriBand("IR_134", 11, 13.40, 3.0, "ir"),
    )
}  # the 11 VIS/IR channels on the 3 km grid; HRV is not a cloudbench band (see the module notes)
BAND_NAMES: tuple[str, ...] = tuple(BANDS)

# --- calibration ------------------------------------------------------------------------------------
# counts -> radiance (mW m-2 sr-1 (cm-1)-1): counts * CalSlope + CalOffset, per channel in the header.
# radiance -> reflectance (%): pi * L * 100 / F * d^2 (d: Sun-Earth distance in AU at the scan start);
# radiance -> BT (K) for effective radiances: (C2 * vc / ln(C1 * vc^3 / L + 1) - BETA) / ALPHA.
# F, vc, ALPHA, BETA per satellite as published by EUMETSAT (the values satpy's SEVIRI readers carry).
C1 = 1.19104273e-5  # mW m-2 sr-1 (cm-1)-4, 2 h c^2
C2 = 1.43877523  # K cm, h c / k
SOLAR_IRRADIANCE: dict[int, dict[str, float]] = {
    321: {"VIS006": 65.2296, "VIS008": 73.0127, "IR_016": 62.3715, "HRV": 78.7599},
    322: {"VIS006": 65.2065, "VIS008": 73.1869, "IR_016": 61.9923, "HRV": 79.0113},
    323: {"VIS006": 65.5148, "VIS008": 73.1807, "IR_016": 62.0208, "HRV": 78.9416},
    324: {"VIS006": 65.2656, "VIS008": 73.1692, "IR_016": 61.9416, "HRV": 79.0035},
}
# (central wavenumber vc cm-1, ALPHA, BETA K) per IR channel
BT_COEFFICIENTS: dict[int, dict[str, tuple[float, float, float]]] = {
    321: {"IR_039": (2567.33, 0.9956, 3.41), "WV_062": (1598.103, 0.9962, 2.218), "WV_073": (1362.081, 0.9991, 0.478),
          "IR_087": (1149.069, 0.9996, 0.179), "IR_097": (1034.343, 0.9999, 0.06), "IR_108": (930.647, 0.9983, 0.625),
          "IR_120": (839.66, 0.9988, 0.397), "IR_134": (752.387, 0.9981, 0.578)},
    322: {"IR_039": (2568.832, 0.9954, 3.438), "WV_062": (1600.548, 0.9963, 2.185), "WV_073": (1360.330, 0.9991, 0.47),
          "IR_087": (1148.620, 0.9996, 0.179), "IR_097": (1035.289, 0.9999, 0.056), "IR_108": (931.7, 0.9983, 0.64),
          "IR_120": (836.445, 0.9988, 0.408), "IR_134": (751.792, 0.9981, 0.561)},
    323: {"IR_039": (2547.771, 0.9915, 2.9002), "WV_062": (1595.621, 0.9960, 2.0337),
          "WV_073": (1360.337, 0.9991, 0.4340), "IR_087": (1148.130, 0.9996, 0.1714),
          "IR_097": (1034.715, 0.9999, 0.0527), "IR_108": (929.842, 0.9983, 0.6084),
          "IR_120": (838.659, 0.9988, 0.3882), "IR_134": (750.653, 0.9982, 0.5390)},
    324: {"IR_039": (2555.280, 0.9916, 2.9438), "WV_062": (1596.080, 0.9959, 2.0780),
          "WV_073": (1361.748, 0.9990, 0.4929), "IR_087": (1147.433, 0.9996, 0.1731),
          "IR_097": (1034.851, 0.9998, 0.0597), "IR_108": (931.122, 0.9983, 0.6256),
          "IR_120": (839.113, 0.9988, 0.4002), "IR_134": (748.585, 0.9981, 0.5635)},
}
RADIANCE_EFFECTIVE = 2  # PlannedChanProcessing: 1 spectral, 2 effective radiance (IR since 2008)
COUNT_FILL = 0  # a count of 0 is no data
COUNT_MAX = 1023  # 10-bit counts

# --- grid and projection ----------------------------------------------------------------------------
VISIR_LINES = 3712
VISIR_COLUMNS = 3712
HRV_LINES = 11136
HRV_COLUMNS = 11136
CENTRE = 1856  # the reference grid's centre line/column number (1-based counting of the format)
GRID_STEP_KM = float(np.float32(3.0004031658172607))  # ReferenceGridVIS_IR step as the header stores it (float32 km)
SATELLITE_HEIGHT_M = 35785831.0  # h of the geos projection (above the equator)
EQUATORIAL_RADIUS_KM = 6378.169
POLAR_RADIUS_KM = 6356.5838
GRID_ORIGIN_SOUTH_EAST = 2
EARTH_MODEL_OFFSET = 1  # TypeOfEarthModel 1: data shifted by half a pixel (before December 2017)
EARTH_MODEL_CORRECTED = 2
GEO_RADIUS_KM = 42164.0  # geostationary orbit radius (orbit polynomials of synthetic files)


def grid_size(reduction: int) -> int:
    """Lines (= columns) of the VIS/IR grid at reduction ``k``: 3712 for k = 1.

    Reduced grids keep k-times coarser pixels over the same disk; the size is rounded to a multiple
    of 4 (whole 5-byte groups of 10-bit counts per line), so a k that does not divide 928 covers a
    sliver more space around the disk.
    """
    k = int(reduction)
    if k < 1:
        raise ValueError(f"reduction must be a positive integer, got {reduction!r}")
    return max(4, 4 * int(round(VISIR_COLUMNS / (4 * k))))


def grid_step_m(reduction: int) -> float:
    """Pixel size (m at the sub-satellite point) as the header's float32 km step says."""
    return float(np.float32(GRID_STEP_KM * reduction)) * 1000.0


def area_extent_m(n: int, step_m: float, georef_offset: bool) -> tuple[float, float, float, float]:
    """(west, south, east, north) outer pixel edges (m) of an n x n grid in cloudbench's orientation.

    The sub-satellite point lies at the centre of pixel (n/2, n/2) (0-based, north-west origin) when
    the georeference is corrected; data with the offset (Earth model 1) are shifted half a pixel
    south and east, which makes the grid symmetric about the sub-satellite point.
    """
    h = n / 2
    if georef_offset:
        return (-h * step_m, -h * step_m, h * step_m, h * step_m)
    return (-(h + 0.5) * step_m, -(h - 0.5) * step_m, (h - 0.5) * step_m, (h + 0.5) * step_m)


def selected_rectangle(n: int) -> dict[str, int]:
    """The archive header's rectangle of an n x n disk, centred on the reference grid (1-based).

    For the full disk it is lines and columns 1..3712; a reduced synthetic disk claims the central
    n x n box, which with its k-times larger step gives satpy's reader the same area as ours.
    """
    south = CENTRE + 1 - n // 2
    east = CENTRE + 1 - n // 2
    return {"south": south, "north": south + n - 1, "east": east, "west": east + n - 1}


def full_disk_geometry(platform: str, reduction: int = 1, *, sub_lon: float | None = None,
                       georef_offset: bool = False):
    """The SEVIRI VIS/IR disk on the 3 km sample grid at ``sub_lon`` (default: the platform's 0 deg station).

    Raises:
        ValueError: an unknown platform or a reduction below 1.
    """
    from cloudbench.products.geostationary import FullDiskGeometry

    if platform not in SATELLITE_IDS:
        raise ValueError(f"unknown Meteosat SEVIRI platform {platform!r}; choose from {', '.join(SATELLITE_IDS)}")
    k = int(reduction)
    n = grid_size(k)
    lon = default_station(platform).lon if sub_lon is None else float(sub_lon)
    extent = area_extent_m(n, grid_step_m(k), bool(georef_offset))
    a = EQUATORIAL_RADIUS_KM * 1000.0
    b = POLAR_RADIUS_KM * 1000.0
    return FullDiskGeometry(platform=platform, sensor="seviri", sub_lon=lon, proj_lon=lon, shape=(n, n), reduction=k,
                            a=a, b=b, h=SATELLITE_HEIGHT_M, sweep="y", grid_km=3.0, extents=((3.0, extent),),
                            n_units=1)


def has_georef_offset(geometry) -> bool:
    """Whether a geometry is the pre-2017 (Earth model 1) grid: symmetric about the sub-satellite point."""
    west, _, east, _ = geometry.area_extent()
    return math.isclose(west, -east, rel_tol=0, abs_tol=1e-3)


def reduction_of(step_km: float) -> int:
    """The reduction a header's grid step (km) says."""
    return max(1, int(round(float(step_km) / GRID_STEP_KM)))


# The file's line 1 is the south and its pixel 1 the east; cloudbench's row 0 is the north and its
# column 0 the west. These functions and rectangle_origin are the only place that knows.
def to_grid(image: np.ndarray) -> np.ndarray:
    """Native (line 1 south, pixel 1 east) <-> cloudbench grid (row 0 north, column 0 west), last two axes."""
    return image[..., ::-1, ::-1]


def lines_to_rows(per_line: np.ndarray) -> np.ndarray:
    """A per-line array (native order, south first) <-> per grid row (north first)."""
    return np.asarray(per_line)[::-1]


def native_lines(rows: tuple[int, int], n_lines: int) -> tuple[int, int]:
    """Grid rows [r0, r1) (north first) -> the native line indices [l0, l1) (0-based, south first) holding them."""
    r0, r1 = rows
    return n_lines - r1, n_lines - r0


def rectangle_origin(rectangle: tuple[int, int, int, int], n: int, whole_disk: bool) -> tuple[int, int]:
    """Grid (row, column) of the north-west pixel of a file's rectangle (south, north, east, west; 1-based).

    A whole reduced disk claims the central box of the reference grid (:func:`selected_rectangle`), so
    its lines and columns are counted from that box's corner; a cut-out of the real grid from line 1.
    """
    _, north, _, west = rectangle
    full = selected_rectangle(n)
    line_offset, column_offset = (full["south"] - 1, full["east"] - 1) if whole_disk else (0, 0)
    return n - (north - line_offset), n - (west - column_offset)


# --- scan timing ------------------------------------------------------------------------------------
# A nominal full-disk repeat cycle: the forward scan runs south to north from about 12 s after the
# slot to about 12 min 44 s after it (e.g. the 12:30 slot's file is stamped 12:42:44.185, its scan
# end); the rest of the 15 minutes is retrace and calibration. Synthetic files use this model, planning
# uses it before files exist, collocation uses the per-line acq_time the files carry.
SCAN_START_S = 12.0
SCAN_END_S = 764.185
REPEAT_CYCLE = timedelta(minutes=15)


def native_line_offsets_s(n_lines: int) -> np.ndarray:
    """Seconds after the slot start at which each native line (south first) is observed (the model)."""
    frac = (np.arange(n_lines, dtype=np.float64) + 0.5) / n_lines
    return SCAN_START_S + (SCAN_END_S - SCAN_START_S) * frac


def grid_line_offsets_s(n_lines: int) -> np.ndarray:
    """The model's seconds after the slot per grid row (row 0 north: observed last, so decreasing)."""
    return lines_to_rows(native_line_offsets_s(n_lines)).copy()


def slot_of(end: datetime, minutes: int = 15) -> datetime:
    """The repeat cycle a scan ending at ``end`` belongs to (the scan ends inside its cycle)."""
    end = end.astimezone(UTC)
    day = end.replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(minutes=minutes * int((end - day).total_seconds() // (minutes * 60)))


# --- CDS time (days since 1958-01-01, milliseconds of day) --------------------------------------------
CDS_EPOCH = np.datetime64("1958-01-01T00:00:00", "ns")
CDS_SHORT = np.dtype([("days", ">u2"), ("ms", ">u4")])
CDS_EXPANDED = np.dtype([("days", ">u2"), ("ms", ">u4"), ("us", ">u2"), ("ns", ">u2")])


def cds_to_datetime64(days: np.ndarray, ms: np.ndarray) -> np.ndarray:
    """CDS short times -> datetime64[ns]; exactly the epoch (the fill of off-disk lines) -> NaT."""
    days = np.asarray(days, dtype=np.int64)
    ms = np.asarray(ms, dtype=np.int64)
    out = CDS_EPOCH + (days * 86_400_000 + ms).astype("timedelta64[ms]").astype("timedelta64[ns]")
    return np.where((days == 0) & (ms == 0), np.datetime64("NaT"), out)


def datetime64_to_cds(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """datetime64 -> (days, ms) rounded to the millisecond; NaT -> the fill (0, 0)."""
    t = np.asarray(t, dtype="datetime64[ns]")
    nat = np.isnat(t)
    ms_total = np.round((np.where(nat, CDS_EPOCH, t) - CDS_EPOCH).astype(np.int64) / 1e6).astype(np.int64)
    days, ms = np.divmod(ms_total, 86_400_000)
    days[nat] = 0
    ms[nat] = 0
    return days.astype(np.uint16), ms.astype(np.uint32)


# --- file names ------------------------------------------------------------------------------------------
# MSG4-SEVI-MSG15-0100-NA-20210302124244.185000000Z-NA.nat: satellite, instrument, level 1.5, algorithm
# version, then the nominal image time (the scan END) to the nanosecond, then an order id ("NA", or
# the processing time and an order number).
FILENAME_RE = re.compile(
    r"^(?P<code>MSG[1-4])-SEVI-MSG15-(?P<version>\d{4})-NA-(?P<end>\d{14})\.(?P<frac>\d{9})Z(?:-(?P<tail>[A-Za-z0-9-]+))?\.nat$"
)
ALGORITHM_VERSION = "0100"


@dataclass(frozen=True)
class NatName:
    """What a native file name says."""

    platform: str
    end: datetime  # scan end (nominal image time), aware UTC, microseconds
    version: str
    tail: str


def parse_filename(name: str) -> NatName | None:
    """Parse a SEVIRI native file name (no folders); None when it is not one."""
    m = FILENAME_RE.match(name)
    if m is None:
        return None
    end = datetime.strptime(m["end"], "%Y%m%d%H%M%S").replace(tzinfo=UTC) + timedelta(microseconds=int(m["frac"]) // 1000)
    return NatName(CODE_PLATFORMS[m["code"]], end, m["version"], m["tail"] or "")


def build_filename(platform: str, end: datetime) -> str:
    """``MSG2-SEVI-MSG15-0100-NA-20080601124244.185000000Z-NA.nat`` for a scan ending at ``end``."""
    end = end.astimezone(UTC)
    return f"{NAME_CODES[platform]}-SEVI-MSG15-{ALGORITHM_VERSION}-NA-{end:%Y%m%d%H%M%S}.{end.microsecond * 1000:09d}Z-NA.nat"


def product_id(name: str) -> str:
    """The Data Store product id of a native file: its name without ``.nat``."""
    return name.removesuffix(".nat")


def archive_dir(platform: str, position: str, slot: datetime) -> str:
    """ARCHIVE/ folder of one slot: ``meteosat9/HRSEVIRI/YYYY/MM/DD/HHMM``."""
    return f"{platform}/{collection_folder(position)}/{slot:%Y/%m/%d/%H%M}"


# --- header layout ---------------------------------------------------------------------------------------
ARCHIVE_MAIN_KEYS: tuple[str, ...] = (
    "FormatName", "FormatDocumentName", "FormatDocumentMajorVersion", "FormatDocumentMinorVersion",
    "CreationDateTime", "CreatingCentre", "*DataSetIdentification", "TotalFileSize", "GORT", "ASTI", "LLOS",
    "SNIT", "AIID", "SSBT", "SSST", "RRCC", "RRBT", "RRST", "PPRC", "PPDT", "GPLV", "APNM", "AARF", "UUDT",
    "QQOV", "UDSP",
)
ARCHIVE_SECONDARY_KEYS: tuple[str, ...] = (
    "ABID", "SMOD", "APXS", "AVPA", "LSCD", "LMAP", "QDLC", "QDLP", "QQAI", "SelectedBandIDs",
    "SouthLineSelectedRectangle", "NorthLineSelectedRectangle", "EastColumnSelectedRectangle",
    "WestColumnSelectedRectangle", "NumberLinesVISIR", "NumberColumnsVISIR", "NumberLinesHRV", "NumberColumnsHRV",
)
ASCII_RECORD = np.dtype([("name", "S30"), ("value", "S50")])  # "Key<pad to 28>: " then the value
DATASET_RECORD = np.dtype([("name", "S30"), ("size", "S16"), ("address", "S16")])
N_DATASETS = 27
ASCII_MAGIC = b"FormatName                  : NATIVE"


def _ascii_block(keys: tuple[str, ...]) -> np.dtype:
    fields = []
    for key in keys:
        if key.startswith("*"):
            fields.append((key[1:], DATASET_RECORD, (N_DATASETS,)))
        else:
            fields.append((key, ASCII_RECORD))
    return np.dtype(fields)


ARCHIVE_MAIN = _ascii_block(ARCHIVE_MAIN_KEYS)  # 3674 bytes
ARCHIVE_SECONDARY = _ascii_block(ARCHIVE_SECONDARY_KEYS)  # 1440 bytes
PACKET_HEADER = np.dtype([("header", "V22"), ("subheader", "V16")])  # GP_PK_HEADER + GP_PK_SH1, 38 bytes

ORBIT_POLYNOMIAL = np.dtype([
    ("StartTime", CDS_SHORT), ("EndTime", CDS_SHORT),
    ("X", ">f8", (8,)), ("Y", ">f8", (8,)), ("Z", ">f8", (8,)),
    ("VX", ">f8", (8,)), ("VY", ">f8", (8,)), ("VZ", ">f8", (8,)),
])  # Chebyshev coefficients of the position (km) over [StartTime, EndTime)
N_ORBIT_POLYNOMIALS = 100
REFERENCE_GRID = np.dtype([("NumberOfLines", ">i4"), ("NumberOfColumns", ">i4"), ("LineDirGridStep", ">f4"),
                           ("ColumnDirGridStep", ">f4"), ("GridOrigin", "u1")])
CAL_FEEDBACK = np.dtype([("ImageQualityFlag", "u1"), ("ReferenceDataFlag", "u1"), ("AbsCalMethod", "u1"),
                         ("Pad1", "V1"), ("AbsCalWeightVic", ">f4"), ("AbsCalWeightXsat", ">f4"),
                         ("AbsCalCoeff", ">f4"), ("AbsCalError", ">f4"), ("GSICSCalCoeff", ">f4"),
                         ("GSICSCalError", ">f4"), ("GSICSOffsetCount", ">f4")])
DATA_HEADER = np.dtype([
    ("HeaderVersion", "u1"),
    # SatelliteStatus
    ("SatelliteId", ">u2"), ("NominalLongitude", ">f4"), ("SatelliteStatusFlag", "u1"),
    ("SatelliteOperations", "V28"),
    ("OrbitPeriodStart", CDS_SHORT), ("OrbitPeriodEnd", CDS_SHORT),
    ("OrbitPolynomial", ORBIT_POLYNOMIAL, (N_ORBIT_POLYNOMIALS,)),
    ("Attitude", "V20420"), ("SpinRetreatRCStart", ">f8"), ("UTCCorrelation", "V59"),
    # ImageAcquisition
    ("TrueRepeatCycleStart", CDS_EXPANDED), ("PlanForwardScanEnd", CDS_EXPANDED),
    ("PlannedRepeatCycleEnd", CDS_EXPANDED), ("RadiometerStatusSettingsOperations", "V670"),
    # CelestialEvents
    ("CelestialEvents", "V326058"),
    # ImageDescription
    ("TypeOfProjection", "u1"), ("LongitudeOfSSP", ">f4"),
    ("ReferenceGridVIS_IR", REFERENCE_GRID), ("ReferenceGridHRV", REFERENCE_GRID),
    ("PlannedCoverageVIS_IR", ">i4", (4,)),  # southern line, northern line, eastern column, western column
    ("PlannedCoverageHRV", ">i4", (8,)),
    ("ImageProcDirection", "u1"), ("PixelGenDirection", "u1"), ("PlannedChanProcessing", "u1", (N_CHANNELS,)),
    # RadiometricProcessing
    ("RPSummary", "V72"),
    ("CalSlope_CalOffset", ">f8", (N_CHANNELS, 2)),  # Level15ImageCalibration
    ("BlackBodyDataUsed", "V967"),
    ("MPEFCalFeedback", CAL_FEEDBACK, (N_CHANNELS,)),
    ("RadTransform", "V10752"), ("RadProcMTFAdaptation", "V8448"),
    # GeometricProcessing
    ("OptAxisDistances", "V336"),
    ("TypeOfEarthModel", "u1"), ("EquatorialRadius", ">f8"), ("NorthPolarRadius", ">f8"), ("SouthPolarRadius", ">f8"),
    ("AtmosphericModel", "V17280"), ("ResamplingFunctions", "V12"),
    # IMPFConfiguration
    ("IMPFConfiguration", "V19786"),
])  # 445,248 bytes
HEADER_WITH_ARCHIVE = np.dtype([("main", ARCHIVE_MAIN), ("secondary", ARCHIVE_SECONDARY), ("packet", PACKET_HEADER),
                                ("data", DATA_HEADER)])  # 450,400 bytes
HEADER_WITHOUT_ARCHIVE = np.dtype([("packet", PACKET_HEADER), ("data", DATA_HEADER)])  # 445,286 bytes

TRAILER = np.dtype([
    ("packet", PACKET_HEADER),
    ("TrailerVersion", "u1"),
    ("SatelliteId", ">u2"),
    ("NominalImageScanning", "u1"), ("ReducedScan", "u1"),
    ("ForwardScanStart", CDS_SHORT), ("ForwardScanEnd", CDS_SHORT),
    ("RadiometricBehaviour", "V12"), ("ReceptionSummaryStats", "V192"), ("L15ImageValidity", "V72"),
    ("ActualL15CoverageVIS_IR", ">i4", (4,)),  # southern line, northern line, eastern column, western column
    ("ActualL15CoverageHRV", ">i4", (8,)),  # lower window S, N, E, W; upper window S, N, E, W
    ("QualityAndCompleteness", "V379984"),  # navigation extraction, radiometric and geometric quality, timeliness
])  # 380,363 bytes

LINE_PREFIX = np.dtype([
    ("packet", PACKET_HEADER),
    ("version", "u1"),
    ("satid", ">u2"),
    ("time", ">u2", (5,)),
    ("lineno", ">u4"),  # line number in the reference grid, 1 = south
    ("chan_id", "u1"),  # 1..12 (CHANNEL_ORDER)
    ("acq_time", CDS_SHORT),  # the line's mean acquisition time; the epoch = no data (off the disk)
    ("line_validity", "u1"),
    ("line_rquality", "u1"),
    ("line_gquality", "u1"),
])  # 65 bytes; the acquisition time sits at byte 56
LINE_VALID = 1
LINE_NOT_DERIVED = 0


def packed_bytes(n_columns: int) -> int:
    """Bytes of one line of 10-bit counts (4 pixels in 5 bytes)."""
    return n_columns * 5 // 4


def line_dtype(channels: tuple[str, ...], n_columns: int, hrv_columns: int = 0) -> np.dtype:
    """One image line of a file: a record per VIS/IR channel present, then 3 HRV records if present."""
    visir = [c for c in channels if c != HRV]
    record = np.dtype([("prefix", LINE_PREFIX), ("data", "u1", (packed_bytes(n_columns),))])
    fields = [("visir", record, (len(visir),))]
    if HRV in channels:
        hrv = np.dtype([("prefix", LINE_PREFIX), ("data", "u1", (packed_bytes(hrv_columns),))])
        fields.append(("hrv", hrv, (3,)))
    return np.dtype(fields)


def selected_band_ids(channels: tuple[str, ...]) -> str:
    """``SelectedBandIDs``: one character per channel in CHANNEL_ORDER, ``X`` when present."""
    return "".join("X" if c in channels else "-" for c in CHANNEL_ORDER)


def channels_from_ids(ids: str) -> tuple[str, ...]:
    return tuple(c for c, flag in zip(CHANNEL_ORDER, ids.ljust(N_CHANNELS, "-"), strict=False) if flag == "X")


# --- 10-bit counts ----------------------------------------------------------------------------------------
def unpack10(packed: np.ndarray) -> np.ndarray:
    """(..., 5k) bytes -> (..., 4k) uint16 counts (big-endian bit order, 4 pixels in 5 bytes)."""
    b = packed.reshape(*packed.shape[:-1], -1, 5).astype(np.uint16)
    out = np.empty((*b.shape[:-1], 4), dtype=np.uint16)
    out[..., 0] = (b[..., 0] << 2) | (b[..., 1] >> 6)
    out[..., 1] = ((b[..., 1] & 0x3F) << 4) | (b[..., 2] >> 4)
    out[..., 2] = ((b[..., 2] & 0x0F) << 6) | (b[..., 3] >> 2)
    out[..., 3] = ((b[..., 3] & 0x03) << 8) | b[..., 4]
    return out.reshape(*packed.shape[:-1], -1)


def pack10(counts: np.ndarray) -> np.ndarray:
    """(..., 4k) counts (0..1023) -> (..., 5k) bytes; the inverse of :func:`unpack10`."""
    c = np.asarray(counts, dtype=np.uint16).reshape(*counts.shape[:-1], -1, 4)
    out = np.empty((*c.shape[:-1], 5), dtype=np.uint8)
    out[..., 0] = c[..., 0] >> 2
    out[..., 1] = ((c[..., 0] & 0x03) << 6) | (c[..., 1] >> 4)
    out[..., 2] = ((c[..., 1] & 0x0F) << 4) | (c[..., 2] >> 6)
    out[..., 3] = ((c[..., 2] & 0x3F) << 2) | (c[..., 3] >> 8)
    out[..., 4] = c[..., 3] & 0xFF
    return out.reshape(*counts.shape[:-1], -1)


# --- physical conversions -----------------------------------------------------------------------------------
def sun_earth_distance_au(when: datetime) -> float:
    """Sun-Earth distance (AU) at ``when``, the correction satpy applies to SEVIRI reflectances."""
    from pyorbital.astronomy import sun_earth_distance_correction

    return float(sun_earth_distance_correction(when.astimezone(UTC).replace(tzinfo=None)))


def radiance_to_bt(radiance: np.ndarray, satellite_id: int, channel: str) -> np.ndarray:
    """Effective radiance -> brightness temperature (K), float32 arithmetic as satpy's."""
    vc, alpha, beta = BT_COEFFICIENTS[satellite_id][channel]
    with np.errstate(divide="ignore"):
        t = (C2 * vc) / np.log((1.0 / radiance) * C1 * vc**3 + 1.0)
    return (t - beta) / alpha


def bt_to_radiance(bt: np.ndarray, satellite_id: int, channel: str) -> np.ndarray:
    """Brightness temperature (K) -> effective radiance (float64), the inverse of :func:`radiance_to_bt`."""
    vc, alpha, beta = BT_COEFFICIENTS[satellite_id][channel]
    t = alpha * np.asarray(bt, dtype=np.float64) + beta
    return C1 * vc**3 / np.expm1(C2 * vc / t)


def radiance_to_reflectance(radiance: np.ndarray, satellite_id: int, channel: str, distance_au: float) -> np.ndarray:
    """Radiance -> reflectance (%) with the Sun-Earth distance correction, float32 arithmetic as satpy's."""
    f = SOLAR_IRRADIANCE[satellite_id][channel]
    return (np.pi * radiance * 100.0 / f) * np.float32(distance_au * distance_au)


def reflectance_to_radiance(reflectance: np.ndarray, satellite_id: int, channel: str, distance_au: float,
                            ) -> np.ndarray:
    f = SOLAR_IRRADIANCE[satellite_id][channel]
    return np.asarray(reflectance, dtype=np.float64) * f / (100.0 * np.pi * distance_au * distance_au)


def nominal_geometry_args(platform: str, when: datetime) -> Mapping[str, object]:
    """Geometry arguments for a platform at a date (no file yet): its station's longitude and the offset rule."""
    station = station_at(platform, when) or default_station(platform)
    return {"sub_lon": station.lon, "georef_offset": when < GEOREF_FIX_DATE}
