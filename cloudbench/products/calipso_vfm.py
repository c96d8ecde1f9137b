"""CALIPSO CALIOP Level 2 Vertical Feature Mask (VFM): names, layout, bit fields and codes (no I/O).

Every fact the VFM reader, the synthetic writer and the download catalog share lives here, so that
the writer cannot drift from the reader: the 5515-value record layout, the bit fields of
``Feature_Classification_Flags``, the SDS names and the archive paths. The altitude grid constants
are taken from the ``Lidar_Data_Altitudes`` of a real V3-30 file (tests check them against it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath

import numpy as np

PRODUCT = "CAL_LID_L2_VFM"
DEFAULT_VERSION = "V4-51"
DEFAULT_STAGE = "Standard"

# --- file names ------------------------------------------------------------------------------
FILENAME_RE = re.compile(
    r"^CAL_LID_L2_VFM-(?P<stage>[A-Za-z]+\d*)-(?P<version>V\d+-\d+)\."
    r"(?P<time>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2})Z(?P<day_night>[DN])"
    r"(?P<subset>_Subset)?\.hdf$"
)
_TIME_FORMAT = "%Y-%m-%dT%H-%M-%S"


@dataclass(frozen=True)
class VfmFileInfo:
    """What a VFM file name says: processing stage, version, half-orbit start and day/night."""

    stage: str  # "Standard", "ValStage1", "Prov", ...
    version: str  # "V4-51"
    start: datetime  # UTC, tz-aware
    day_night: str  # "D" or "N"
    subset: bool  # cut by ASDC's subsetter ("_Subset")

    @property
    def collection(self) -> str:
        """ASDC collection folder name, e.g. ``LID_L2_VFM-Standard-V4-51``."""
        return f"LID_L2_VFM-{self.stage}-{self.version}"


def parse_filename(name: str) -> VfmFileInfo | None:
    """Parse a VFM file name (any folder prefix is ignored); ``None`` if it is not one."""
    match = FILENAME_RE.match(PurePosixPath(str(name)).name)
    if match is None:
        return None
    start = datetime.strptime(match["time"], _TIME_FORMAT).replace(tzinfo=UTC)
    return VfmFileInfo(match["stage"], match["version"], start, match["day_night"], bool(match["subset"]))


def build_filename(
    start: datetime, day_night: str = "D", *, version: str = DEFAULT_VERSION, stage: str = DEFAULT_STAGE
) -> str:
    """The archive's file name for a half-orbit starting at ``start`` (UTC)."""
    if day_night not in ("D", "N"):
        raise ValueError(f"day_night must be 'D' or 'N', got {day_night!r}")
    if start.tzinfo is not None:
        start = start.astimezone(UTC)
    return f"CAL_LID_L2_VFM-{stage}-{version}.{start.strftime(_TIME_FORMAT)}Z{day_night}.hdf"


def archive_relpath(name: str) -> str:
    """Path inside ARCHIVE/: ``calipso/LID_L2_VFM-Standard-V4-51/YYYY/MM/<name>``."""
    info = parse_filename(name)
    if info is None:
        raise ValueError(f"not a CALIPSO VFM file name: {name!r}")
    base = PurePosixPath(str(name)).name
    return f"calipso/{info.collection}/{info.start:%Y}/{info.start:%m}/{base}"


ASDC_URL_ROOT = "https://asdc.larc.nasa.gov/data/CALIPSO"


def cmr_collection(version: str = DEFAULT_VERSION, stage: str = DEFAULT_STAGE) -> tuple[str, str]:
    """(short name, version) of the VFM collection in NASA's CMR, e.g. ``("CAL_LID_L2_VFM-Standard-V4-51", "V4-51")``.

    ASDC names each CALIPSO collection after its file-name prefix and gives the version separately.
    The catalog looks the collection up by these two at run time rather than keeping concept ids:
    a concept id changes when ASDC re-ingests a collection, the short name and version do not.
    """
    return f"{PRODUCT}-{stage}-{version}", version

# --- record layout -----------------------------------------------------------------------------
SHOTS_PER_RECORD = 15  # one record = 15 laser shots, 333 m apart (5 km)
RECORD_CENTRE_SHOT = 7  # a record's Latitude/Profile_UTC_Time are those of its 8th shot
SHOT_SPACING_KM = 1.0 / 3.0
N_CELLS = 5515
RANGE_BIN_KM = 0.029938161  # the lidar's 30 m range bin (mean spacing of Lidar_Data_Altitudes)
VFM_BOTTOM_KM = -0.471157  # bottom edge of the lowest VFM cell (real Lidar_Data_Altitudes[577] - bin/2)


@dataclass(frozen=True)
class AltitudeRegion:
    """One of the three altitude regions of a VFM record.

    Inside a record the region stores ``n_subprofiles`` sub-profiles one after the other, each
    ``bins`` cells from top to bottom. Sub-profile ``k`` covers shots
    ``k * shots_per_subprofile .. (k+1) * shots_per_subprofile - 1``.
    """

    name: str
    offset: int  # first index in the 5515 values
    bins: int  # cells per sub-profile
    n_subprofiles: int
    range_bins: int  # cell height in lidar range bins
    nominal_resolution_m: int  # 30, 60 or 180
    bottom_km: float
    top_km: float

    @property
    def shots_per_subprofile(self) -> int:
        return SHOTS_PER_RECORD // self.n_subprofiles

    @property
    def size(self) -> int:
        return self.bins * self.n_subprofiles

    @property
    def resolution_km(self) -> float:
        return self.range_bins * RANGE_BIN_KM

    def cell_edges_km(self) -> np.ndarray:
        """Edges of the region's cells, top to bottom (``bins + 1`` values)."""
        return self.top_km - self.resolution_km * np.arange(self.bins + 1, dtype=np.float64)


def _regions() -> tuple[AltitudeRegion, AltitudeRegion, AltitudeRegion]:
    low_top = VFM_BOTTOM_KM + 290 * RANGE_BIN_KM
    mid_top = low_top + 200 * 2 * RANGE_BIN_KM
    high_top = mid_top + 55 * 6 * RANGE_BIN_KM
    return (
        AltitudeRegion("high", 0, 55, 3, 6, 180, mid_top, high_top),  # 20.2-30.1 km
        AltitudeRegion("mid", 165, 200, 5, 2, 60, low_top, mid_top),  # 8.2-20.2 km
        AltitudeRegion("low", 1165, 290, 15, 1, 30, VFM_BOTTOM_KM, low_top),  # -0.5-8.2 km
    )


REGIONS = _regions()
N_ALTITUDES = sum(r.bins for r in REGIONS)  # 545 native altitude cells, top to bottom


def cell_edges_km() -> np.ndarray:
    """Edges of the 545 native altitude cells, top to bottom (546 values)."""
    parts = [REGIONS[0].cell_edges_km()] + [r.cell_edges_km()[1:] for r in REGIONS[1:]]
    return np.concatenate(parts)


def cell_centres_km() -> np.ndarray:
    """Centres of the 545 native altitude cells, top to bottom."""
    edges = cell_edges_km()
    return 0.5 * (edges[:-1] + edges[1:])


def shot_cell_index() -> np.ndarray:
    """Index into the 5515 values of each (shot, native altitude cell): shape (15, 545).

    Expanding a record with ``flags[:, shot_cell_index()]`` gives every shot its own profile on
    the 545 cells; a 180 m cell is repeated on the 5 shots it spans, a 60 m cell on its 3 shots.
    """
    index = np.empty((SHOTS_PER_RECORD, N_ALTITUDES), dtype=np.intp)
    column = 0
    for region in REGIONS:
        for shot in range(SHOTS_PER_RECORD):
            sub = shot // region.shots_per_subprofile
            start = region.offset + sub * region.bins
            index[shot, column : column + region.bins] = np.arange(start, start + region.bins)
        column += region.bins
    return index


# Lidar_Data_Altitudes (metadata Vdata): 583 L1 bin centres; [33:578] are the 545 VFM cells.
N_LIDAR_DATA_ALTITUDES = 583
LIDAR_ALTITUDES_VFM_SLICE = slice(33, 578)
_L1_ABOVE_BINS, _L1_BELOW_BINS, _L1_OUTER_RANGE_BINS = 33, 5, 10  # 300 m bins above and below


def lidar_data_altitudes_km() -> np.ndarray:
    """The 583 ``Lidar_Data_Altitudes`` centres (km, top to bottom) implied by the layout."""
    outer = _L1_OUTER_RANGE_BINS * RANGE_BIN_KM
    top = REGIONS[0].top_km
    above = top + outer * (np.arange(_L1_ABOVE_BINS, 0, -1) - 0.5)
    below = VFM_BOTTOM_KM - outer * (np.arange(_L1_BELOW_BINS) + 0.5)
    return np.concatenate([above, cell_centres_km(), below])


# --- bit fields of Feature_Classification_Flags (bit 1 = least significant) ----------------------
def feature_type(flags: np.ndarray) -> np.ndarray:
    """Feature type, bits 1-3 (see ``FEATURE_TYPES``)."""
    return (np.asarray(flags) & 7).astype(np.uint8)


def feature_type_qa(flags: np.ndarray) -> np.ndarray:
    """Feature type QA, bits 4-5 (0 none, 1 low, 2 medium, 3 high)."""
    return ((np.asarray(flags) >> 3) & 3).astype(np.uint8)


def ice_water_phase(flags: np.ndarray) -> np.ndarray:
    """Ice/water phase, bits 6-7 (see ``PHASES``)."""
    return ((np.asarray(flags) >> 5) & 3).astype(np.uint8)


def ice_water_phase_qa(flags: np.ndarray) -> np.ndarray:
    """Phase QA, bits 8-9 (0 none, 1 low, 2 medium, 3 high)."""
    return ((np.asarray(flags) >> 7) & 3).astype(np.uint8)


def feature_subtype(flags: np.ndarray) -> np.ndarray:
    """Feature sub-type, bits 10-12 (cloud or aerosol type; meaning depends on the feature type)."""
    return ((np.asarray(flags) >> 9) & 7).astype(np.uint8)


def feature_subtype_qa(flags: np.ndarray) -> np.ndarray:
    """Sub-type QA, bit 13 (0 not confident, 1 confident)."""
    return ((np.asarray(flags) >> 12) & 1).astype(np.uint8)


def horizontal_averaging(flags: np.ndarray) -> np.ndarray:
    """Horizontal averaging needed to detect the feature, bits 14-16 (see ``AVERAGING_KM``)."""
    return ((np.asarray(flags) >> 13) & 7).astype(np.uint8)


BIT_FIELDS = {
    "feature_type": feature_type,
    "feature_type_qa": feature_type_qa,
    "ice_water_phase": ice_water_phase,
    "ice_water_phase_qa": ice_water_phase_qa,
    "feature_subtype": feature_subtype,
    "feature_subtype_qa": feature_subtype_qa,
    "horizontal_averaging": horizontal_averaging,
}


def encode_flags(
    feature_type: np.ndarray | int,
    *,
    type_qa: np.ndarray | int = 0,
    phase: np.ndarray | int = 0,
    phase_qa: np.ndarray | int = 0,
    subtype: np.ndarray | int = 0,
    subtype_qa: np.ndarray | int = 0,
    averaging: np.ndarray | int = 0,
) -> np.ndarray:
    """Pack the bit fields into uint16 flags (the inverse of the decoders above)."""
    parts = (
        (feature_type, 0, 7),
        (type_qa, 3, 3),
        (phase, 5, 3),
        (phase_qa, 7, 3),
        (subtype, 9, 7),
        (subtype_qa, 12, 1),
        (averaging, 13, 7),
    )
    out = np.zeros(np.broadcast_shapes(*(np.shape(p[0]) for p in parts)), dtype=np.uint16)
    for value, shift, mask in parts:
        out |= (np.asarray(value).astype(np.uint16) & mask) << shift
    return out


# --- codes -------------------------------------------------------------------------------------------
INVALID, CLEAR_AIR, CLOUD, TROPOSPHERIC_AEROSOL, STRATOSPHERIC_AEROSOL = 0, 1, 2, 3, 4
SURFACE, SUBSURFACE, TOTALLY_ATTENUATED = 5, 6, 7
FEATURE_TYPES: dict[int, str] = {
    INVALID: "invalid",
    CLEAR_AIR: "clear air",
    CLOUD: "cloud",
    TROPOSPHERIC_AEROSOL: "tropospheric aerosol",
    STRATOSPHERIC_AEROSOL: "stratospheric aerosol",
    SURFACE: "surface",
    SUBSURFACE: "subsurface",
    TOTALLY_ATTENUATED: "totally attenuated",
}
PHASE_UNKNOWN, PHASE_RANDOM_ICE, PHASE_WATER, PHASE_ORIENTED_ICE = 0, 1, 2, 3
PHASES: dict[int, str] = {
    PHASE_UNKNOWN: "unknown/not determined",
    PHASE_RANDOM_ICE: "ice (randomly oriented)",
    PHASE_WATER: "water",
    PHASE_ORIENTED_ICE: "ice (horizontally oriented)",
}
AVERAGING_KM: dict[int, float] = {1: 1 / 3, 2: 1.0, 3: 5.0, 4: 20.0, 5: 80.0}
LAND_WATER_MASK_FILL = -9
LAND, DEEP_OCEAN = 1, 7  # Land_Water_Mask codes used by the synthetic writer

# --- SDS and Vdata names -----------------------------------------------------------------------------
SDS_LATITUDE = "Latitude"
SDS_LONGITUDE = "Longitude"
SDS_PROFILE_TIME = "Profile_Time"  # TAI seconds since 1993-01-01
SDS_PROFILE_UTC_TIME = "Profile_UTC_Time"  # yymmdd.fraction_of_day
SDS_DAY_NIGHT = "Day_Night_Flag"
SDS_LAND_WATER = "Land_Water_Mask"
SDS_FLAGS = "Feature_Classification_Flags"
SDS_SPACECRAFT_POSITION = "Spacecraft_Position"
SDS_PROFILE_ID = "Profile_ID"
SDS_MIN_LASER_ENERGY = "Minimum_Laser_Energy_532"
REQUIRED_SDS = (SDS_LATITUDE, SDS_LONGITUDE, SDS_PROFILE_UTC_TIME, SDS_DAY_NIGHT, SDS_FLAGS)
SS_LATITUDE = "ssLatitude"
SS_LONGITUDE = "ssLongitude"
SS_PROFILE_TIME = "ssProfile_Time"
SS_PROFILE_UTC_TIME = "ssProfile_UTC_Time"
SS_PROFILE_ID = "ssProfile_ID"
SS_LAND_WATER = "ssLand_Water_Mask"
SS_LASER_ENERGY = "ssLaser_Energy_532"
SS_SDS = (SS_LATITUDE, SS_LONGITUDE, SS_PROFILE_TIME, SS_PROFILE_UTC_TIME, SS_PROFILE_ID, SS_LAND_WATER, SS_LASER_ENERGY)
METADATA_VDATA = "metadata"
METADATA_STRING_FIELDS: dict[str, int] = {
    "Product_ID": 80,
    "Date_Time_at_Granule_Start": 27,
    "Date_Time_at_Granule_End": 27,
    "Lidar_L1_Production_Date_Time": 27,
}
METADATA_FLOAT_FIELDS = (
    "Initial_Subsatellite_Latitude",
    "Initial_Subsatellite_Longitude",
    "Final_Subsatellite_Latitude",
    "Final_Subsatellite_Longitude",
)
METADATA_FIELD_ORDER = (
    "Product_ID",
    "Date_Time_at_Granule_Start",
    "Date_Time_at_Granule_End",
    *METADATA_FLOAT_FIELDS,
    "Lidar_L1_Production_Date_Time",
    "Lidar_Data_Altitudes",
)

# --- time --------------------------------------------------------------------------------------------
TAI_EPOCH = np.datetime64("1993-01-01T00:00:00", "ns")
# UTC dates from which TAI-UTC grew by one second, after the 1993 epoch (IERS Bulletin C).
LEAP_SECONDS_SINCE_1993 = np.array(
    [
        "1993-07-01", "1994-07-01", "1996-01-01", "1997-07-01", "1999-01-01",
        "2006-01-01", "2009-01-01", "2012-07-01", "2015-07-01", "2017-01-01",
    ],
    dtype="datetime64[ns]",
)  # fmt: skip


def utc_to_profile_utc_time(times: np.ndarray) -> np.ndarray:
    """datetime64 UTC -> ``Profile_UTC_Time`` (yymmdd.fraction_of_day, float64)."""
    times = np.asarray(times, dtype="datetime64[ns]")
    days = times.astype("datetime64[D]")
    frac = (times - days).astype(np.int64) / 86_400e9
    ymd = days.astype(object)
    yymmdd = np.array([(d.year % 100) * 10000 + d.month * 100 + d.day for d in np.ravel(ymd)], dtype=np.float64)
    return yymmdd.reshape(times.shape) + frac


def profile_utc_time_to_datetime64(values: np.ndarray) -> np.ndarray:
    """``Profile_UTC_Time`` (yymmdd.fraction_of_day) -> datetime64[ns] UTC (years 2000-2099)."""
    values = np.asarray(values, dtype=np.float64)
    yymmdd = np.floor(values).astype(np.int64)
    frac = values - yymmdd
    years = 2000 + yymmdd // 10000
    months = (yymmdd // 100) % 100
    days = yymmdd % 100
    month_start = (years - 1970) * 12 + (months - 1)
    dates = month_start.astype("datetime64[M]").astype("datetime64[D]") + (days - 1).astype("timedelta64[D]")
    return dates.astype("datetime64[ns]") + np.rint(frac * 86_400e9).astype("timedelta64[ns]")


def utc_to_tai_seconds(times: np.ndarray) -> np.ndarray:
    """datetime64 UTC -> ``Profile_Time`` (TAI seconds since 1993-01-01, counting leap seconds)."""
    times = np.asarray(times, dtype="datetime64[ns]")
    leaps = np.searchsorted(LEAP_SECONDS_SINCE_1993, times, side="right")
    return (times - TAI_EPOCH).astype(np.int64) / 1e9 + leaps
