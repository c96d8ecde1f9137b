"""MTG FCI Level 1c FDHSI as an imager product: 40 body chunks per 10-minute repeat cycle, all 16 channels in each.

File facts live in :mod:`cloudbench.products.fci_l1c` (names, channels, grid, chunk rows, orientation,
scan model), decoding in :mod:`cloudbench.readers.fci_l1c` (h5py with satpy's calibration arithmetic;
the module says why not satpy itself), writing in :mod:`cloudbench.synthetic.fci_l1c`.

What sets FCI apart from AHI and ABI: a chunk holds every channel (one file per unit, not per band), the
scan runs from SOUTH to NORTH (chunk 1 is the southern edge, so the nominal line times decrease along
north-up rows), and the pixels of one line are seen at different instants, which the chunks record
per pixel (``index_map`` into the ``time`` table): :meth:`FciL1c.pixel_times` hands them to
collocation, so each profile meets the time of the very pixel that saw it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from cloudbench.products import fci_l1c as P
from cloudbench.sensors.base import ImagerFile, ImagerProduct, PlatformPeriod, UnitData, UnitHeader
from cloudbench.sources.layouts import Layout, NameInfo

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"  # netCDF-4 files are HDF5 files
SUMMARY_CHANNELS = ("ir_105", "vis_06")  # the channel ``inspect`` summarises: the first of these with data


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class FciLayout(Layout):
    """``meteosat12/FCI-L1C-FDHSI-FD/YYYY/MM/DD/HHMM/``: the chunks of one repeat cycle per folder."""

    slot_minutes: int = P.SLOT_MINUTES

    def slot_dir(self, slot: datetime) -> str:
        return f"{self.root}/{slot:%Y/%m/%d/%H%M}"

    def dirs_for(self, start: datetime, end: datetime) -> list[str]:
        t = start.replace(minute=start.minute - start.minute % self.slot_minutes, second=0, microsecond=0)
        out = []
        while t < end:
            out.append(self.slot_dir(t))
            t += timedelta(minutes=self.slot_minutes)
        return out

    def parse(self, name: str) -> NameInfo | None:
        info = P.parse_filename(name)
        if info is None or info.platform != self.top or info.part != "BODY" or info.coverage != "FD":
            return None
        return NameInfo(info.slot_start, None, None, info.chunk, P.N_CHUNKS, info.platform)


class FciL1c(ImagerProduct):
    """Meteosat-12 (MTG-I1) FCI L1c full-disk FDHSI body chunks, 16 channels at 1 and 2 km."""

    name = "fci-l1c"
    sensor = "fci"
    description = "MTG FCI L1c FDHSI body chunk (netCDF-4)"
    grid_km = 2.0
    # The position table (platforms, longitudes, dates): Meteosat-12 has served the 0 deg full-disk
    # FCI service since EUMETSAT declared it operational on 4 December 2024 (prime 0 deg satellite
    # since June 2025); the 0 deg projection origin is in every chunk (mtg_geos_projection). Sources:
    # docs/meteosat.md.
    positions: ClassVar[Mapping[str, tuple[PlatformPeriod, ...]]] = {
        "fci": (PlatformPeriod("meteosat12", _utc(2024, 12, 4), None),),
    }
    sub_lon: ClassVar[Mapping[str, float]] = P.NOMINAL_SUBPOINT_LON
    bands: ClassVar[Mapping[str, Any]] = P.CHANNELS
    magic = (HDF5_MAGIC,)
    product_dir = P.PRODUCT_DIR
    decode_in_threads = False  # h5py serialises HDF5 calls behind one lock: threads would only queue

    # --- names and time -------------------------------------------------------------------------
    def parse_filename(self, name: str) -> ImagerFile | None:
        info = P.parse_filename(name)
        if info is None:
            return None
        full = info.kind == "FDHSI" and info.coverage == "FD" and info.part == "BODY"
        area = info.coverage if info.part == "BODY" else info.part
        if info.kind != "FDHSI":
            area = f"{info.kind}-{area}"
        return ImagerFile(platform=info.platform, slot_start=info.slot_start, band=None, unit=info.chunk,
                          start=info.start, end=info.end, full_disk=full, area=area)

    def skip_reason(self, info: ImagerFile) -> str | None:
        if info.area == "TRAIL":
            return "the TRAIL chunk holds repeat-cycle metadata and no channel data"
        if info.area.startswith("HRFI"):
            return "HRFI chunks (0.5/1 km subset of channels) are not read; collocation uses the FDHSI chunks"
        return super().skip_reason(info)

    def slot_minutes(self, when: datetime) -> int:
        return P.SLOT_MINUTES

    # --- geometry -----------------------------------------------------------------------------------
    def geometry(self, platform: str, reduction: int = 1, **file_args: Any):
        return P.full_disk_geometry(platform, reduction)

    def units_for_rows(self, geometry, row0: int, row1: int) -> set[int]:
        return P.chunks_for_rows(geometry, row0, row1)

    def line_offsets_s(self, geometry, slot_start: datetime) -> np.ndarray:
        return P.line_offsets_s(geometry)

    # --- reading ------------------------------------------------------------------------------------
    def read_header(self, path: str | Path, band: str) -> UnitHeader:
        from cloudbench.readers.fci_l1c import read_layout

        layout = read_layout(path, band)
        return UnitHeader(row0=layout.row0, n_rows=layout.n_rows, col0=0, n_cols=layout.n_cols,
                          reduction=layout.reduction)

    def decode(self, path: str | Path, band: str, rows: tuple[int, int] | None = None) -> UnitData:
        from cloudbench.readers.fci_l1c import read_channel

        image = read_channel(path, band)
        return UnitData(row0=image.layout.row0, col0=0, values=image.values)

    def pixel_times(self, path: str | Path, band: str, header: UnitHeader) -> np.ndarray:
        from cloudbench.readers.fci_l1c import read_pixel_times

        return read_pixel_times(path, band)[1]

    def summary(self, path: str | Path) -> dict[str, Any]:
        from cloudbench.readers.fci_l1c import read_channel
        from cloudbench.readers.slot_access import iso_utc, value_stats

        path = Path(path)
        info = P.parse_filename(path.name)
        images = {}
        for channel in SUMMARY_CHANNELS:
            images[channel] = read_channel(path, channel, with_times=True)
            if np.isfinite(images[channel].values).any():
                break
        channel, image = next(((c, i) for c, i in images.items() if np.isfinite(i.values).any()),
                              next(iter(images.items())))
        times = image.pixel_times[~np.isnat(image.pixel_times)] if image.pixel_times is not None else np.array([])
        out = {
            "product": P.PRODUCT_DIR,
            "platform": image.layout.platform,
            "band": channel,
            "time_start": iso_utc(times.min()) if times.size else (iso_utc(info.start) if info else None),
            "time_end": iso_utc(times.max()) if times.size else (iso_utc(info.end) if info else None),
            "shape": [int(image.values.shape[0]), int(image.values.shape[1])],
            "units": "%" if P.CHANNELS[channel].kind == "vis" else "K",
            "chunk": info.chunk if info else None,
            "repeat_cycle": info.repeat_cycle if info else None,
            "rows_from_south": [image.layout.start_row, image.layout.end_row],
        }
        out.update(value_stats(image.values))
        return out

    def probe(self, path: Path) -> bool:
        try:
            import h5py

            with h5py.File(path, "r") as f:
                return "data/ir_105/measured/effective_radiance" in f and "index_map" in f["data/ir_105/measured"]
        except (OSError, ValueError, KeyError):
            return False

    # --- archive ------------------------------------------------------------------------------------
    def layout(self, platform: str) -> FciLayout:
        return FciLayout(self.name, platform, P.PRODUCT_DIR)

    def slot_dirs(self, platform: str, slot_start: datetime) -> list[str]:
        return [P.archive_dir(platform, slot_start)]

    def public_store(self, options: Any):
        from cloudbench.sources.eumetsat import datastore_store

        return datastore_store(self, options)

    # --- the Data Store (sources.eumetsat.DataStoreLayout) ------------------------------------------------
    # A Data Store product is one repeat cycle; its entries are the 40 BODY chunks and the TRAIL chunk.
    # An ARCHIVE/ cycle folder is a time search of the FDHSI collection over the cycle, and only the BODY
    # chunks are kept (the reader needs no TRAIL), so the planner picks single chunks by entry.
    def datastore_query(self, reldir: str):
        from cloudbench.sources.eumetsat import DataStoreQuery

        parts = reldir.strip("/").split("/")
        if len(parts) != 6 or parts[0] not in P.PLATFORM_CODES or parts[1] != P.PRODUCT_DIR:
            return None
        try:
            slot = datetime.strptime("".join(parts[2:]), "%Y%m%d%H%M").replace(tzinfo=UTC)
        except ValueError:
            return None
        return DataStoreQuery(P.DATA_STORE_COLLECTION, slot, slot + timedelta(minutes=P.SLOT_MINUTES))

    def _body_chunk(self, name: str) -> P.FciName | None:
        info = P.parse_filename(name.rsplit("/", 1)[-1])  # entries may sit in a folder of the product
        ok = info is not None and info.kind == "FDHSI" and info.coverage == "FD" and info.part == "BODY"
        return info if ok else None

    def datastore_relpath(self, name: str) -> str | None:
        info = self._body_chunk(name)
        return None if info is None else P.archive_path(info.platform, info.slot_start, name.rsplit("/", 1)[-1])

    def datastore_product(self, name: str):
        from cloudbench.sources.eumetsat import DataStoreProductRef

        info = self._body_chunk(name)
        if info is None:
            return None
        start = info.slot_start + timedelta(seconds=P.SCAN_OFFSET_S)
        return DataStoreProductRef(P.DATA_STORE_COLLECTION, P.product_id(info.platform, info.slot_start), start,
                                   start + timedelta(seconds=P.SCAN_DURATION_S), P.PLATFORM_CODES[info.platform])

    # --- synthetic ----------------------------------------------------------------------------------
    def synthetic_pixel_times(self, geometry, slot_start: datetime) -> np.ndarray:
        from cloudbench.synthetic.fci_l1c import synthetic_pixel_times

        return synthetic_pixel_times(geometry, slot_start)

    def synthetic_line_times(self, geometry, slot_start: datetime) -> np.ndarray:
        from cloudbench.readers.slot_access import row_means

        return row_means(self.synthetic_pixel_times(geometry, slot_start))

    def write_synthetic_slot(self, root, *, platform, slot_start, bands, geometry) -> list[Path]:
        from cloudbench.synthetic.fci_l1c import write_fci_slot

        return write_fci_slot(root, platform=platform, slot_start=slot_start, bands=bands, geometry=geometry)
