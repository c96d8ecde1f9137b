"""GOES-R ABI L1b radiances as an imager product: one netCDF file per band per scan.

File facts live in :mod:`cloudbench.products.abi_l1b` (names, fixed grid, band table, scan model),
decoding in :mod:`cloudbench.readers.abi_l1b` (netCDF4 with satpy's calibration arithmetic), writing
in :mod:`cloudbench.synthetic.abi_l1b`. An L1b file records only its scan's start and end, so the
per-line times are placed linearly between them (see :func:`cloudbench.products.abi_l1b.line_times`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from cloudbench.products import abi_l1b as P
from cloudbench.sensors.base import ImagerFile, ImagerProduct, PlatformPeriod, UnitData, UnitHeader
from cloudbench.sources.layouts import Layout, NameInfo

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"  # netCDF4 files are HDF5 files


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class AbiLayout(Layout):
    """``goes16/ABI-L1b-RadF/YYYY/DDD/HH/``: all bands of all full-disk scans of one hour."""

    def hour_dir(self, t: datetime) -> str:
        return f"{self.root}/{t:%Y/%j/%H}"

    def dirs_for(self, start: datetime, end: datetime) -> list[str]:
        t = (start - self.lookback).replace(minute=0, second=0, microsecond=0)
        out = []
        while t < end:
            out.append(self.hour_dir(t))
            t += timedelta(hours=1)
        return out

    def parse(self, name: str) -> NameInfo | None:
        info = P.parse_filename(name)
        if info is None or info.scene != "F" or info.platform != self.top:
            return None
        return NameInfo(info.start, info.end, info.band, None, None, info.platform)


class AbiL1b(ImagerProduct):
    """GOES-16/17/18/19 ABI L1b full-disk radiances (``OR_ABI-L1b-RadF-...nc``), 16 bands."""

    name = "abi-l1b"
    sensor = "abi"
    description = "GOES-R ABI L1b radiances (netCDF4)"
    grid_km = 2.0
    # Operational hand-over dates (NOAA notices); catalogs look in every bucket of the position.
    positions: ClassVar[Mapping[str, tuple[PlatformPeriod, ...]]] = {
        "goes-east": (
            PlatformPeriod("goes16", _utc(2017, 12, 18), _utc(2025, 4, 4)),
            PlatformPeriod("goes19", _utc(2025, 4, 4), None),
        ),
        "goes-west": (
            PlatformPeriod("goes17", _utc(2019, 2, 12), _utc(2023, 1, 4)),
            PlatformPeriod("goes18", _utc(2023, 1, 4), None),
        ),
    }
    sub_lon: ClassVar[Mapping[str, float]] = P.NOMINAL_SUBPOINT_LON
    bands: ClassVar[Mapping[str, Any]] = P.BANDS
    magic = (HDF5_MAGIC,)
    product_dir = P.PRODUCT_DIR
    decode_in_threads = False  # netCDF4/HDF5 builds are not thread-safe
    reads_unit_sources = True  # netCDF4 opens the fetched bytes with HDF5's in-memory driver

    # --- names and time -------------------------------------------------------------------------
    def parse_filename(self, name: str) -> ImagerFile | None:
        info = P.parse_filename(name)
        if info is None:
            return None
        minutes = P.slot_minutes(info.mode)
        s = info.start.astimezone(UTC)
        day = s.replace(hour=0, minute=0, second=0, microsecond=0)
        slot = day + timedelta(minutes=minutes * int((s - day).total_seconds() // (minutes * 60)))
        return ImagerFile(platform=info.platform, slot_start=slot, band=info.band, unit=0, start=info.start,
                          end=info.end, full_disk=info.scene == "F", area=f"Rad{info.scene}")

    def slot_minutes(self, when: datetime) -> int:
        return P.slot_minutes(P.scan_mode_for(when))

    # --- geometry -----------------------------------------------------------------------------------
    def geometry(self, platform: str, reduction: int = 1, **file_args: Any):
        return P.full_disk_geometry(platform, reduction)

    def units_for_rows(self, geometry, row0: int, row1: int) -> set[int]:
        return {0} if min(geometry.shape[0], row1) > max(0, row0) else set()

    def line_offsets_s(self, geometry, slot_start: datetime) -> np.ndarray:
        start, end = P.nominal_scan_bounds(slot_start)
        times = P.line_times(start, end, geometry.shape[0])
        return (times - np.datetime64(slot_start.astimezone(UTC).replace(tzinfo=None), "ns")).astype(np.int64) / 1e9

    # --- reading ------------------------------------------------------------------------------------
    def read_header(self, path: str | Path, band: str) -> UnitHeader:
        from cloudbench.readers.abi_l1b import read_abi

        image = read_abi(path, rows=slice(0, 1))
        res = self.bands[band].resolution_km
        reduction = max(1, int(round(abs(image.x_scale) / P.SCAN_ANGLE_STEP[res])))
        times = P.line_times(image.time_start, image.time_end, image.n_lines)
        return UnitHeader(row0=image.first_row, n_rows=image.n_lines, col0=image.first_col, n_cols=image.n_columns,
                          reduction=reduction, line_times=times)

    def decode(self, path: str | Path, band: str, rows: tuple[int, int] | None = None) -> UnitData:
        from cloudbench.readers.abi_l1b import read_abi

        image = read_abi(path)
        return UnitData(row0=image.first_row, col0=image.first_col, values=image.values, line_times=image.line_times)

    def summary(self, path: str | Path) -> dict[str, Any]:
        from cloudbench.readers.abi_l1b import read_abi
        from cloudbench.readers.slot_access import iso_utc, value_stats

        image = read_abi(path)
        b = self.bands[image.band]
        out = {
            "product": f"ABI-L1b-Rad{image.scene}",
            "platform": image.platform,
            "band": image.band,
            "time_start": iso_utc(image.time_start),
            "time_end": iso_utc(image.time_end),
            "shape": [int(image.n_lines), int(image.n_columns)],
            "units": "%" if b.kind == "vis" else "K",
            "scene": image.scene,
        }
        out.update(value_stats(image.values))
        return out

    def probe(self, path: Path) -> bool:
        try:
            import netCDF4

            with netCDF4.Dataset(str(path)) as ds:
                return "Rad" in ds.variables and "band_id" in ds.variables
        except (OSError, ValueError, RuntimeError):
            return False

    # --- archive ------------------------------------------------------------------------------------
    def layout(self, platform: str) -> AbiLayout:
        return AbiLayout(self.name, platform, P.PRODUCT_DIR, timedelta(minutes=15))

    def slot_dirs(self, platform: str, slot_start: datetime) -> list[str]:
        layout = self.layout(platform)
        # a scan starts within its slot and may end in the next hour's folder only by its end time;
        # files are filed by start time, so the slot's hour folder holds them
        return [layout.hour_dir(slot_start)]

    def public_store(self, options: Any):
        from cloudbench.sources.noaa import NoaaBucketStore

        return NoaaBucketStore(getattr(options, "s3_endpoint", None), connections=getattr(options, "connections", None))

    # --- synthetic ----------------------------------------------------------------------------------
    def synthetic_line_times(self, geometry, slot_start: datetime) -> np.ndarray:
        s, e = P.nominal_scan_bounds(slot_start)
        return P.line_times(s, e, geometry.shape[0])

    def write_synthetic_slot(self, root, *, platform, slot_start, bands, geometry) -> list[Path]:
        from cloudbench.synthetic.abi_l1b import write_abi_slot

        return [Path(p) for p in write_abi_slot(root, platform=platform, slot_start=slot_start, bands=bands,
                                                geometry=geometry)]
