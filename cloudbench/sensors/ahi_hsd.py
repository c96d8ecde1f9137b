"""Himawari-8/9 AHI Standard Data (HSD) as an imager product: 10 segments per band per 10-minute scan.

File facts live in :mod:`cloudbench.products.ahi_hsd` (names, header dtypes, band table, projection
constants), decoding in :mod:`cloudbench.readers.ahi_hsd` (our own fast reader: block 9 per-line
times and a one-pass calibrated decode that equals satpy's), writing in
:mod:`cloudbench.synthetic.ahi_hsd`. This module ties them to the stages.
"""

from __future__ import annotations

import bz2
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from cloudbench.errors import DataError
from cloudbench.products import ahi_hsd as P
from cloudbench.sensors.base import ImagerFile, ImagerProduct, PlatformPeriod, UnitData, UnitHeader
from cloudbench.sources.layouts import Layout, NameInfo

BZ2_MAGIC = b"BZh"
HSD_MAGIC = b"\x01\x1a\x01"  # block 1, length 282 (little endian): an uncompressed HSD segment


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class AhiLayout(Layout):
    """``himawari8/AHI-L1b-FLDK/YYYY/MM/DD/HHMM/``: one folder per 10-minute full-disk slot."""

    slot_minutes: int = P.SLOT_MINUTES

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
        info = P.parse_filename(name)
        if info is None or info.area != P.AREA_FULL_DISK or info.platform != self.top:
            return None
        return NameInfo(info.slot_start, None, info.band, info.segment, info.total_segments, info.platform)


class AhiHsd(ImagerProduct):
    """Himawari AHI full-disk HSD segments (``.DAT`` / ``.DAT.bz2``), 16 bands at 0.5, 1 and 2 km."""

    name = "ahi-hsd"
    sensor = "ahi"
    description = "Himawari AHI Standard Data segment (.DAT or .DAT.bz2)"
    grid_km = 2.0
    # Operational hand-over dates; secondary sources report Himawari-8 primary again after a
    # Himawari-9 fault in Oct 2025, so catalogs look in every bucket of the position, not this table alone.
    positions: ClassVar[Mapping[str, tuple[PlatformPeriod, ...]]] = {
        "himawari": (
            PlatformPeriod("himawari8", _utc(2015, 7, 7), _utc(2022, 12, 13, 5)),
            PlatformPeriod("himawari9", _utc(2022, 12, 13, 5), None),
        ),
    }
    sub_lon: ClassVar[Mapping[str, float]] = P.NOMINAL_SUBPOINT_LON
    bands: ClassVar[Mapping[str, Any]] = P.BANDS
    magic = (BZ2_MAGIC, HSD_MAGIC)
    product_dir = P.PRODUCT_DIR
    decode_in_threads = True  # our own bz2 + numpy decoder holds no shared state; bz2 releases the GIL
    reads_unit_sources = True  # bz2 decompresses the fetched bytes in memory

    # --- names and time -------------------------------------------------------------------------
    def parse_filename(self, name: str) -> ImagerFile | None:
        info = P.parse_filename(name)
        if info is None:
            return None
        return ImagerFile(platform=info.platform, slot_start=info.slot_start, band=info.band, unit=info.segment,
                          full_disk=info.area == P.AREA_FULL_DISK, area=info.area)

    def slot_minutes(self, when: datetime) -> int:
        return P.SLOT_MINUTES

    # --- geometry -----------------------------------------------------------------------------------
    def geometry(self, platform: str, reduction: int = 1, **file_args: Any):
        return P.full_disk_geometry(platform, reduction)

    def units_for_rows(self, geometry, row0: int, row1: int) -> set[int]:
        seg_rows = geometry.unit_lines()
        r0, r1 = max(0, row0), min(geometry.shape[0], row1)
        if r1 <= r0:
            return set()
        return set(range(r0 // seg_rows + 1, (r1 - 1) // seg_rows + 2))

    def line_offsets_s(self, geometry, slot_start: datetime) -> np.ndarray:
        epoch = np.datetime64("2000-01-01T00:00:00", "ns")
        return (P.nominal_line_times(epoch, geometry.shape[0]) - epoch).astype(np.int64) / 1e9

    # --- reading ------------------------------------------------------------------------------------
    def read_header(self, path: str | Path, band: str) -> UnitHeader:
        from cloudbench.readers.ahi_hsd import read_hsd_header

        header = read_hsd_header(path)
        if header["band"] != band:
            raise DataError(f"file name says {band} but block 5 says {header['band']}", path=path)
        res = self.bands[band].resolution_km
        cfac = int(header["projection"]["cfac"])
        reduction = max(1, int(round(P.CFAC[res] / cfac))) if cfac else 0
        return UnitHeader(row0=int(header["first_line"]), n_rows=int(header["n_lines"]), col0=0,
                          n_cols=int(header["n_columns"]), reduction=reduction, line_times=header["line_times"])

    def decode(self, path: str | Path, band: str, rows: tuple[int, int] | None = None) -> UnitData:
        from cloudbench.readers.ahi_hsd import read_hsd_segment

        first, values, times = read_hsd_segment(path)
        return UnitData(row0=int(first), col0=0, values=values, line_times=times)

    def summary(self, path: str | Path) -> dict[str, Any]:
        from cloudbench.readers.ahi_hsd import read_hsd_header, read_hsd_segment
        from cloudbench.readers.slot_access import iso_utc, value_stats

        path = Path(path)
        header = read_hsd_header(path)
        _, values, _ = read_hsd_segment(path)
        b = self.bands[header["band"]]
        info = P.parse_filename(path.name)
        out = {
            "product": P.PRODUCT_DIR,
            "platform": info.platform if info else P.CODE_PLATFORMS.get(header["blocks"][1]["satellite_name"], ""),
            "band": header["band"],
            "time_start": iso_utc(header["observation_start"]),
            "time_end": iso_utc(header["observation_end"]),
            "shape": [int(values.shape[0]), int(values.shape[1])],
            "units": "%" if b.kind == "vis" else "K",
            "area": info.area if info else "",
            "segment": header["segment"],
            "total_segments": header["total_segments"],
        }
        out.update(value_stats(values))
        return out

    def probe(self, path: Path) -> bool:
        try:
            with open(path, "rb") as f:
                head = f.read(3)
            if head.startswith(BZ2_MAGIC):
                with bz2.open(path, "rb") as f:
                    head = f.read(3)
            return head.startswith(HSD_MAGIC)
        except (OSError, EOFError, ValueError):
            return False

    # --- archive ------------------------------------------------------------------------------------
    def layout(self, platform: str) -> AhiLayout:
        return AhiLayout(self.name, platform, P.PRODUCT_DIR)

    def slot_dirs(self, platform: str, slot_start: datetime) -> list[str]:
        return [self.layout(platform).slot_dir(slot_start)]

    def public_store(self, options: Any):
        from cloudbench.sources.noaa import NoaaBucketStore

        return NoaaBucketStore(getattr(options, "s3_endpoint", None), connections=getattr(options, "connections", None))

    # --- synthetic ----------------------------------------------------------------------------------
    def synthetic_line_times(self, geometry, slot_start: datetime) -> np.ndarray:
        return P.nominal_line_times(slot_start, geometry.shape[0])

    def write_synthetic_slot(self, root, *, platform, slot_start, bands, geometry) -> list[Path]:
        from cloudbench.synthetic.ahi_hsd import write_ahi_slot

        return [Path(p) for p in write_ahi_slot(root, platform=platform, slot_start=slot_start, bands=bands,
                                                geometry=geometry)]

