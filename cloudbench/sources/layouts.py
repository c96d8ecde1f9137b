"""Where each product sits in the archive layout, and what its file names say.

ARCHIVE/ (dataset-spec.md) mirrors the public archives folder by folder, so one description per
product serves the real archives, any fsspec mirror and the local ARCHIVE/ alike. A layout answers:
which folders can hold files for a time span, and what a file name says (start time, band, segment).

File names are parsed by the product modules (``cloudbench.products``), the one home of each pattern.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cloudbench.products import abi_l1b, ahi_hsd, calipso_vfm, cloudsat_cldclass_lidar

DEFAULT_VFM_VERSION = calipso_vfm.DEFAULT_VERSION
CLDCLASS_RELEASE = "P1_" + cloudsat_cldclass_lidar.DEFAULT_RELEASE


def _days(start: datetime, end: datetime) -> list[datetime]:
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    while day < end:
        out.append(day)
        day += timedelta(days=1)
    return out


@dataclass(frozen=True)
class NameInfo:
    """What a file name says; fields not in a product's names stay None."""

    time: datetime
    end: datetime | None = None
    band: str | None = None  # "B13" (AHI) or "C13" (ABI)
    segment: int | None = None  # AHI segment, 1-based
    n_segments: int | None = None
    platform: str | None = None  # archive folder name, e.g. "himawari8", "goes16"


@dataclass(frozen=True)
class Layout:
    """One product's archive layout: folders by time and a file-name parser."""

    product: str
    top: str  # first folder under ARCHIVE/ ("calipso", "cloudsat", "himawari8", "goes16")
    collection: str  # second folder ("LID_L2_VFM-Standard-V4-51", "AHI-L1b-FLDK", ...)
    lookback: timedelta = field(default=timedelta(0))  # a file starting this long before `start` can still overlap

    def dirs_for(self, start: datetime, end: datetime) -> list[str]:
        raise NotImplementedError

    def parse(self, name: str) -> NameInfo | None:
        raise NotImplementedError

    def overlaps(self, info: NameInfo, start: datetime, end: datetime) -> bool:
        return start - self.lookback <= info.time < end

    @property
    def root(self) -> str:
        return f"{self.top}/{self.collection}"


class VfmLayout(Layout):
    """``calipso/LID_L2_VFM-Standard-V4-51/YYYY/MM/``: half-orbit granules of about 48 minutes."""

    def dirs_for(self, start: datetime, end: datetime) -> list[str]:
        months = sorted({(d.year, d.month) for d in _days(start - self.lookback, end)})
        return [f"{self.root}/{y:04d}/{m:02d}" for y, m in months]

    def parse(self, name: str) -> NameInfo | None:
        info = calipso_vfm.parse_filename(name)
        if info is None or info.collection != self.collection:
            return None
        return NameInfo(time=info.start)


class CldclassLayout(Layout):
    """``cloudsat/2B-CLDCLASS-LIDAR.P1_R05/YYYY/DDD/``: one orbit (about 99 minutes) per granule."""

    def dirs_for(self, start: datetime, end: datetime) -> list[str]:
        return [f"{self.root}/{d:%Y}/{d:%j}" for d in _days(start - self.lookback, end)]

    def parse(self, name: str) -> NameInfo | None:
        info = cloudsat_cldclass_lidar.parse_filename(name)
        if info is None or info.collection != self.collection:
            return None
        return NameInfo(time=info.start)


class AhiLayout(Layout):
    """``himawari8/AHI-L1b-FLDK/YYYY/MM/DD/HHMM/``: one folder per 10-minute full-disk slot."""

    slot_minutes: int = ahi_hsd.SLOT_MINUTES

    def slot_dir(self, slot: datetime) -> str:
        return f"{self.root}/{slot:%Y/%m/%d/%H%M}"

    def slots(self, start: datetime, end: datetime) -> list[datetime]:
        t = start.replace(minute=start.minute - start.minute % self.slot_minutes, second=0, microsecond=0)
        out = []
        while t < end:
            out.append(t)
            t += timedelta(minutes=self.slot_minutes)
        return out

    def dirs_for(self, start: datetime, end: datetime) -> list[str]:
        return [self.slot_dir(s) for s in self.slots(start, end)]

    def parse(self, name: str) -> NameInfo | None:
        info = ahi_hsd.parse_filename(name)
        if info is None or info.area != ahi_hsd.AREA_FULL_DISK or info.platform != self.top:
            return None
        return NameInfo(info.slot_start, None, info.band, info.segment, info.total_segments, info.platform)


class AbiLayout(Layout):
    """``goes16/ABI-L1b-RadF/YYYY/DDD/HH/``: all bands of all full-disk scans of one hour."""

    def dirs_for(self, start: datetime, end: datetime) -> list[str]:
        t = (start - self.lookback).replace(minute=0, second=0, microsecond=0)
        out = []
        while t < end:
            out.append(f"{self.root}/{t:%Y/%j/%H}")
            t += timedelta(hours=1)
        return out

    def parse(self, name: str) -> NameInfo | None:
        info = abi_l1b.parse_filename(name)
        if info is None or info.scene != "F" or info.platform != self.top:
            return None
        return NameInfo(info.start, info.end, info.band, None, None, info.platform)


def vfm_layout(version: str = DEFAULT_VFM_VERSION) -> VfmLayout:
    return VfmLayout("calipso_vfm", "calipso", f"LID_L2_VFM-Standard-{version}", timedelta(minutes=60))


def cldclass_layout(release: str = CLDCLASS_RELEASE) -> CldclassLayout:
    return CldclassLayout(
        "cloudsat_cldclass_lidar", "cloudsat", f"{cloudsat_cldclass_lidar.PRODUCT}.{release}", timedelta(minutes=100)
    )


def ahi_layout(platform: str) -> AhiLayout:
    return AhiLayout("ahi_hsd", platform, ahi_hsd.PRODUCT_DIR)


def abi_layout(platform: str) -> AbiLayout:
    return AbiLayout("abi_l1b", platform, abi_l1b.PRODUCT_DIR, timedelta(minutes=15))


def imager_layout(platform: str) -> AhiLayout | AbiLayout:
    """The layout of a platform's full-disk L1b folders (``himawari8`` -> AHI, ``goes16`` -> ABI)."""
    if platform.startswith("himawari"):
        return ahi_layout(platform)
    if platform.startswith("goes"):
        return abi_layout(platform)
    raise ValueError(f"unknown imager platform {platform!r}")
