"""What an archive layout is: which folders can hold a product's files for a time span, and what a
file name says.

ARCHIVE/ (docs/dataset-spec.md) mirrors the public archives folder by folder, so one layout per
product serves the real archives, any fsspec mirror and the local ARCHIVE/ alike. The layouts
themselves live with their products (``cloudbench.sensors.<product>``); file names are parsed by
the product modules (``cloudbench.products``), the one home of each pattern.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


def days_between(start: datetime, end: datetime) -> list[datetime]:
    """Midnights of every day from ``start``'s to the last before ``end``."""
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
