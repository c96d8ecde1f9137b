"""MSG SEVIRI Level 1.5 native files as an imager product: one file per 15-minute scan, all channels.

File facts live in :mod:`cloudbench.products.seviri_native` (names, positions by date, record
layouts, calibration constants, geometry), decoding in :mod:`cloudbench.readers.seviri_native` (our
own reader, measured against satpy's; see its docstring), writing in
:mod:`cloudbench.synthetic.seviri_native`. This module ties them to the stages and to the EUMETSAT
Data Store (:mod:`cloudbench.sources.eumetsat`).

- A slot is one file (unit 0, band None: every channel), so planning keeps or drops whole scans by
  the per-line times of the scan model (south to north: row 0, the north, is seen last).
- ARCHIVE/ keeps a slot in ``<platform>/<collection>/YYYY/MM/DD/HHMM/``, the collection being the
  Data Store's (``HRSEVIRI`` at 0 deg, ``HRSEVIRI-IODC`` over the Indian Ocean): a satellite that
  moved keeps its files of each position apart.
- The Data Store lists a slot folder with a time search of that collection over the repeat cycle.
- The geometry comes from the file (sub-satellite longitude, Earth model); before a file exists,
  from the station table by date (:meth:`SeviriNative.geometry_at`).
- The rapid-scan service (9.5E, 5-minute scans of the northern third) is in the station table but
  not an ``--imager`` choice: its files are parsed and skipped as sub-area scans.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from cloudbench.errors import DataError
from cloudbench.products import seviri_native as P
from cloudbench.sensors.base import ImagerFile, ImagerProduct, PlatformPeriod, UnitData, UnitHeader
from cloudbench.sources.eumetsat import DataStoreProductRef, DataStoreQuery
from cloudbench.sources.layouts import Layout, NameInfo


def _periods(position: str) -> tuple[PlatformPeriod, ...]:
    return tuple(PlatformPeriod(s.platform, s.start, s.end) for s in P.stations_of(position))


class SeviriLayout(Layout):
    """``meteosat9/HRSEVIRI/YYYY/MM/DD/HHMM/``: one folder per repeat cycle, in the collection of the
    position the platform served then."""

    def dirs_for(self, start: datetime, end: datetime) -> list[str]:
        t = P.slot_of(start - self.lookback)
        out = []
        while t < end:
            station = P.station_at(self.top, t)
            if station is not None and station.position != P.POSITION_RSS:
                out.append(P.archive_dir(self.top, station.position, t))
            t += P.REPEAT_CYCLE
        return out

    def parse(self, name: str) -> NameInfo | None:
        info = P.parse_filename(name)
        if info is None or info.platform != self.top:
            return None
        return NameInfo(P.slot_of(info.end), info.end, None, None, None, info.platform)


class SeviriNative(ImagerProduct):
    """Meteosat-8..11 SEVIRI Level 1.5 native files (``.nat``), 11 VIS/IR channels on the 3 km grid."""

    name = "seviri-native"
    sensor = "seviri"
    description = "MSG SEVIRI Level 1.5 native file (.nat)"
    grid_km = 3.0
    positions: ClassVar[Mapping[str, tuple[PlatformPeriod, ...]]] = {
        P.POSITION_0DEG: _periods(P.POSITION_0DEG),
        P.POSITION_IODC: _periods(P.POSITION_IODC),
    }
    sub_lon: ClassVar[Mapping[str, float]] = {p: P.default_station(p).lon for p in P.SATELLITE_IDS}
    bands: ClassVar[Mapping[str, Any]] = P.BANDS
    magic = (P.ASCII_MAGIC[:8],)
    product_dir = "SEVIRI-L1.5-native"
    decode_in_threads = True  # numpy reads and unpacking, no shared state

    # --- names and time -------------------------------------------------------------------------
    def parse_filename(self, name: str) -> ImagerFile | None:
        info = P.parse_filename(name)
        if info is None:
            return None
        station = P.station_at(info.platform, info.end)
        rapid = station is not None and station.position == P.POSITION_RSS
        minutes = P.SLOT_MINUTES[P.POSITION_RSS] if rapid else P.SLOT_MINUTES[P.POSITION_0DEG]
        slot = P.slot_of(info.end, minutes)
        return ImagerFile(platform=info.platform, slot_start=slot, band=None, unit=0,
                          start=slot + timedelta(seconds=P.SCAN_START_S), end=info.end, full_disk=not rapid,
                          area="RSS" if rapid else "FD")

    def slot_minutes(self, when: datetime) -> int:
        return P.SLOT_MINUTES[P.POSITION_0DEG]

    # --- geometry -----------------------------------------------------------------------------------
    def geometry(self, platform: str, reduction: int = 1, **file_args: Any):
        return P.full_disk_geometry(platform, reduction, sub_lon=file_args.get("sub_lon"),
                                    georef_offset=bool(file_args.get("georef_offset", False)))

    def geometry_at(self, platform: str, when: datetime, reduction: int = 1):
        return P.full_disk_geometry(platform, reduction, **P.nominal_geometry_args(platform, when))

    def serves(self, platform: str, position: str, when: datetime) -> bool:
        station = P.station_at(platform, when)
        return station is not None and station.position == position

    def units_for_rows(self, geometry, row0: int, row1: int) -> set[int]:
        return {0} if min(geometry.shape[0], row1) > max(0, row0) else set()

    def line_offsets_s(self, geometry, slot_start: datetime) -> np.ndarray:
        return P.grid_line_offsets_s(geometry.shape[0])

    # --- reading ------------------------------------------------------------------------------------
    def _header(self, path: str | Path, band: str):
        from cloudbench.readers.seviri_native import read_nat_header

        header = read_nat_header(path)
        info = P.parse_filename(Path(path).name)
        if info is not None and info.platform != header.platform:
            raise DataError(f"file name says {info.platform} but the header says {header.platform}", path=path)
        if band not in header.visir_channels:
            raise DataError(f"the file holds {', '.join(header.visir_channels)}, not {band}", path=path,
                            fix="download the slot with the channel, or ask for the channels the file holds")
        return header

    def read_header(self, path: str | Path, band: str) -> UnitHeader:
        from cloudbench.readers.seviri_native import read_line_times

        header = self._header(path, band)
        row0, n_rows = header.grid_rows()
        col0, n_cols = header.grid_cols()
        return UnitHeader(row0=row0, n_rows=n_rows, col0=col0, n_cols=n_cols, reduction=header.reduction,
                          line_times=read_line_times(header, band), geometry_args=header.geometry_args)

    def decode(self, path: str | Path, band: str, rows: tuple[int, int] | None = None) -> UnitData:
        from cloudbench.readers.seviri_native import read_seviri

        header = self._header(path, band)
        row0, _ = header.grid_rows()
        local = None if rows is None else (rows[0] - row0, rows[1] - row0)
        image = read_seviri(path, [band], local)
        col0, _ = header.grid_cols()
        return UnitData(row0=image.row0, col0=col0, values=image.values[band], line_times=image.line_times)

    def summary(self, path: str | Path) -> dict[str, Any]:
        from cloudbench.readers.seviri_native import read_nat_header, read_seviri
        from cloudbench.readers.slot_access import iso_utc, value_stats

        header = read_nat_header(path)
        band = "IR_108" if "IR_108" in header.visir_channels else header.visir_channels[0]
        image = read_seviri(path, [band])
        values = image.values[band]
        times = image.line_times[~np.isnat(image.line_times)]
        out = {
            "product": self.product_dir,
            "platform": header.platform,
            "band": band,
            "bands": list(header.visir_channels),
            "hrv": P.HRV in header.channels,
            "time_start": iso_utc(header.scan_start) if header.scan_start else (iso_utc(times.min()) if times.size else None),
            "time_end": iso_utc(header.scan_end) if header.scan_end else (iso_utc(times.max()) if times.size else None),
            "shape": [int(values.shape[0]), int(values.shape[1])],
            "units": "%" if self.bands[band].kind == "vis" else "K",
            "sub_lon": header.sub_lon,
            "georef_offset": header.georef_offset,
        }
        out.update(value_stats(values))
        return out

    def probe(self, path: Path) -> bool:
        from cloudbench.readers.seviri_native import read_nat_header

        try:
            read_nat_header(path)
        except (DataError, OSError, ValueError):
            return False
        return True

    # --- archive ------------------------------------------------------------------------------------
    def layout(self, platform: str) -> SeviriLayout:
        return SeviriLayout(self.name, platform, P.collection_folder(P.default_station(platform).position))

    def slot_dirs(self, platform: str, slot_start: datetime) -> list[str]:
        station = P.station_at(platform, slot_start)
        if station is None or station.position == P.POSITION_RSS:
            return []
        return [P.archive_dir(platform, station.position, slot_start)]

    def public_store(self, options: Any):
        from cloudbench.sources.eumetsat import datastore_store

        return datastore_store(self, options)

    # --- the Data Store (sources.eumetsat.DataStoreLayout) ------------------------------------------------
    def datastore_query(self, reldir: str) -> DataStoreQuery | None:
        parts = reldir.strip("/").split("/")
        if len(parts) != 6 or parts[0] not in P.SATELLITE_IDS or parts[1] not in P.FOLDER_POSITIONS:
            return None
        try:
            slot = datetime.strptime("".join(parts[2:]), "%Y%m%d%H%M").replace(tzinfo=UTC)
        except ValueError:
            return None
        position = P.FOLDER_POSITIONS[parts[1]]
        return DataStoreQuery(P.COLLECTIONS[position], slot, slot + timedelta(minutes=P.SLOT_MINUTES[position]))

    def datastore_relpath(self, name: str) -> str | None:
        info = P.parse_filename(name)
        if info is None:
            return None
        station = P.station_at(info.platform, info.end)
        if station is None:
            return None
        slot = P.slot_of(info.end, P.SLOT_MINUTES[station.position])
        return f"{P.archive_dir(info.platform, station.position, slot)}/{name}"

    def datastore_product(self, name: str) -> DataStoreProductRef | None:
        info = P.parse_filename(name)
        if info is None:
            return None
        station = P.station_at(info.platform, info.end)
        if station is None:
            return None
        slot = P.slot_of(info.end, P.SLOT_MINUTES[station.position])
        return DataStoreProductRef(P.COLLECTIONS[station.position], P.product_id(name),
                                   slot + timedelta(seconds=P.SCAN_START_S), info.end, P.NAME_CODES[info.platform])

    # --- synthetic ----------------------------------------------------------------------------------
    def synthetic_line_times(self, geometry, slot_start: datetime) -> np.ndarray:
        from cloudbench.synthetic.seviri_native import nominal_line_times

        return nominal_line_times(geometry.shape[0], slot_start)

    def write_synthetic_slot(self, root, *, platform, slot_start, bands, geometry) -> list[Path]:
        from cloudbench.synthetic.seviri_native import write_seviri_slot

        return write_seviri_slot(root, platform=platform, slot_start=slot_start, bands=bands, geometry=geometry)
