"""CloudSat 2B-CLDCLASS-LIDAR (HDF-EOS2 swath in HDF4): names, structure, fields, fills, codes (no I/O).

The reader and the synthetic writer both import these names, so a synthetic granule has exactly the
structure the reader expects and the reader tolerates what real files hold (see docs/formats.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath

PRODUCT = "2B-CLDCLASS-LIDAR"
DEFAULT_RELEASE = "R05"

# --- file names ------------------------------------------------------------------------------
# R05: 2018275012345_65932_CS_2B-CLDCLASS-LIDAR_GRANULE_P1_R05_E08_F03.hdf
# R04: 2010182003409_22250_CS_2B-CLDCLASS-LIDAR_GRANULE_P_R04_E03.hdf
FILENAME_RE = re.compile(
    r"^(?P<time>\d{13})_(?P<granule>\d{5})_CS_2B-CLDCLASS-LIDAR_GRANULE_"
    r"(?P<iteration>P\d*)_(?P<release>R\d{2})_E(?P<epoch>\d{2})(?:_F(?P<fix>\d{2}))?\.hdf$"
)


@dataclass(frozen=True)
class CldclassFileInfo:
    """What a 2B-CLDCLASS-LIDAR file name says."""

    start: datetime  # UTC of the first profile, to the second
    granule: int  # orbit number
    iteration: str  # "P1" (R05) or "P" (R04)
    release: str  # "R05"
    epoch: int
    fix: int | None  # R05 only

    @property
    def version(self) -> str:
        """Product version as the swath attribute spells it, e.g. ``P1_R05``."""
        return f"{self.iteration}_{self.release}"

    @property
    def collection(self) -> str:
        """DPC folder name, e.g. ``2B-CLDCLASS-LIDAR.P1_R05``."""
        return f"{PRODUCT}.{self.version}"


def parse_filename(name: str) -> CldclassFileInfo | None:
    """Parse a 2B-CLDCLASS-LIDAR file name (folder prefix ignored); ``None`` if it is not one."""
    match = FILENAME_RE.match(PurePosixPath(str(name)).name)
    if match is None:
        return None
    start = datetime.strptime(match["time"], "%Y%j%H%M%S").replace(tzinfo=UTC)
    fix = None if match["fix"] is None else int(match["fix"])
    return CldclassFileInfo(start, int(match["granule"]), match["iteration"], match["release"], int(match["epoch"]), fix)


def build_filename(
    start: datetime, granule: int, *, release: str = DEFAULT_RELEASE, epoch: int = 8, fix: int | None = 3
) -> str:
    """File name for a granule whose first profile is at ``start`` (UTC, truncated to the second).

    R04 names use the iteration ``P`` and carry no fix number; R05 and later use ``P1`` and ``_Fnn``.
    """
    if start.tzinfo is not None:
        start = start.astimezone(UTC)
    stamp = start.strftime("%Y%j%H%M%S")
    if release <= "R04":
        return f"{stamp}_{granule:05d}_CS_{PRODUCT}_GRANULE_P_{release}_E{epoch:02d}.hdf"
    tail = "" if fix is None else f"_F{fix:02d}"
    return f"{stamp}_{granule:05d}_CS_{PRODUCT}_GRANULE_P1_{release}_E{epoch:02d}{tail}.hdf"


def archive_relpath(name: str) -> str:
    """Path inside ARCHIVE/: ``cloudsat/2B-CLDCLASS-LIDAR.P1_R05/YYYY/DDD/<name>``."""
    info = parse_filename(name)
    if info is None:
        raise ValueError(f"not a 2B-CLDCLASS-LIDAR file name: {name!r}")
    base = PurePosixPath(str(name)).name
    return f"cloudsat/{info.collection}/{info.start:%Y}/{info.start:%j}/{base}"


# --- structure ---------------------------------------------------------------------------------
SWATH_NAME = PRODUCT  # Vgroup of class "SWATH"
SWATH_CLASS = "SWATH"
SWATH_VGROUP_CLASS = "SWATH Vgroup"
GEOLOCATION_GROUP = "Geolocation Fields"
DATA_GROUP = "Data Fields"
ATTRIBUTES_GROUP = "Swath Attributes"
ATTRIBUTE_VDATA_CLASS = "Attr0.0"
ATTRIBUTE_FIELD = "AttrValues"

# Geolocation fields
PROFILE_TIME = "Profile_time"  # Vdata f4, s since the first profile
UTC_START = "UTC_start"  # Vdata f4 (1 value), s of day of the first profile
TAI_START = "TAI_start"  # Vdata f8 (1 value)
LATITUDE = "Latitude"
LONGITUDE = "Longitude"
RANGE_TO_INTERCEPT = "Range_to_intercept"
DEM_ELEVATION = "DEM_elevation"  # Vdata i2, m
VERTICAL_BINSIZE = "Vertical_binsize"
PITCH_OFFSET = "Pitch_offset"
ROLL_OFFSET = "Roll_offset"
HEIGHT = "Height"  # SDS (nray, 125) i2, m, index 0 at the top

# Data fields
CLOUDLAYER = "Cloudlayer"  # Vdata i1
NAVIGATION_LAND_SEA_FLAG = "Navigation_land_sea_flag"
DATA_QUALITY = "Data_quality"
DATA_STATUS = "Data_status"
DATA_TARGET_ID = "Data_targetID"
CLOUD_LAYER_BASE = "CloudLayerBase"  # SDS (nray, 10) f4, km
CLOUD_LAYER_TOP = "CloudLayerTop"
CLOUD_PHASE = "CloudPhase"  # SDS (nray, 10) i1
CLOUD_PHASE_CONFIDENCE = "CloudPhaseConfidenceLevel"
CLOUD_LAYER_TYPE = "CloudLayerType"
CLOUD_FRACTION = "CloudFraction"
CLOUD_TYPE_QUALITY = "CloudTypeQuality"
LAYER_BASE_FLAG = "LayerBaseFlag"
LAYER_TOP_FLAG = "LayerTopFlag"

REQUIRED_VDATA = (PROFILE_TIME, UTC_START, LATITUDE, LONGITUDE, CLOUDLAYER)
REQUIRED_SDS = (CLOUD_LAYER_BASE, CLOUD_LAYER_TOP, CLOUD_PHASE)

# --- sizes, fills, codes --------------------------------------------------------------------------
N_HEIGHT_BINS = 125
N_LAYER_SLOTS = 10
VERTICAL_BINSIZE_M = 239.8
PROFILE_INTERVAL_S = 0.16
HEIGHT_TOP_M = 25_030.0  # centre of bin 0, approximately
HEIGHT_FILL = -9999
DEM_OCEAN = -9999  # DEM_elevation over ocean
LAYER_HEIGHT_FILL = -99.0  # CloudLayerBase/Top, CloudFraction, CloudTypeQuality
CLOUDLAYER_FILL = -9
PHASE_NOT_DETERMINED, PHASE_ICE, PHASE_MIXED, PHASE_WATER, PHASE_MISSING = 0, 1, 2, 3, -9
PHASES: dict[int, str] = {
    PHASE_NOT_DETERMINED: "not determined",
    PHASE_ICE: "ice",
    PHASE_MIXED: "mixed",
    PHASE_WATER: "water",
    PHASE_MISSING: "missing",
}
LAND, SEA, COAST = 1, 2, 3  # Navigation_land_sea_flag
