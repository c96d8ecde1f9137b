"""Read only what a job needs from one imager slot: headers for geometry and line times, and the
band values of the patches, segment by segment, cropped to each patch before averaging to 2 km.

Peak memory is one decoded segment (or one ABI band image) plus the job's patches, never a full
disk of all bands: satpy's full-disk composites are what blow memory in other tools.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cloudbench.collocate.parallax import GeosGeometry
from cloudbench.collocate.patches import block_mean
from cloudbench.errors import DataError, UserError
from cloudbench.products import abi_l1b as ABI
from cloudbench.products import ahi_hsd as AHI
from cloudbench.products.geostationary import SENSOR_OF_PLATFORM, geometry_for


@dataclass
class SlotReader:
    """Lazy access to one slot's files for the requested bands (all 16 when None)."""

    slot: object  # jobs.ImagerSlot
    bands: tuple[str, ...] | None = None
    files_used: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        platform = self.slot.platform
        self.sensor = SENSOR_OF_PLATFORM[platform]
        table = AHI.BANDS if self.sensor == "ahi" else ABI.BANDS
        names = tuple(self.bands) if self.bands else tuple(table)
        unknown = [b for b in names if b not in table]
        if unknown:
            raise UserError(f"bands {unknown} are not {self.sensor.upper()} bands; choose from {', '.join(table)}")
        self.band_names = list(names)
        self._files: dict[str, dict[int, str]] = {}
        for path in self.slot.files:
            name = Path(path).name
            if self.sensor == "ahi":
                info = AHI.parse_filename(name)
                if info is not None and info.area == AHI.AREA_FULL_DISK:
                    self._files.setdefault(info.band, {})[info.segment] = path
            else:
                info = ABI.parse_filename(name)
                if info is not None and info.scene == "F":
                    self._files.setdefault(info.band, {})[0] = path
        missing = [b for b in self.band_names if b not in self._files]
        if missing:
            raise DataError(f"slot {self.slot.slot_id} lacks bands {missing}", path=self.slot.files[0])
        self._ref_band = min(self.band_names, key=lambda b: (-table[b].resolution_km, b))
        self._geometry = self._read_geometry()
        self.area = self._geometry.area(2.0)
        self.geometry = GeosGeometry(self._geometry.sub_lon, self._geometry.h, self._geometry.a, self._geometry.b)
        self._line_times = np.full(self.area.height, np.datetime64("NaT"), dtype="datetime64[ns]")
        self._times_known: set[int] = set()

    # --- geometry and times ----------------------------------------------------------------
    def _factor(self, band: str) -> int:
        table = AHI.BANDS if self.sensor == "ahi" else ABI.BANDS
        return int(round(2.0 / table[band].resolution_km))

    def _read_geometry(self):
        band = self._ref_band
        files = self._files[band]
        path = files[min(files)]
        res = 2.0 / self._factor(band)
        if self.sensor == "ahi":
            from cloudbench.readers.ahi_hsd import read_hsd_header

            header = read_hsd_header(path)
            cfac = int(header["projection"]["cfac"])
            reduction = int(round(AHI.CFAC[res] / cfac))
        else:
            from cloudbench.readers.abi_l1b import read_abi

            image = read_abi(path, rows=slice(0, 1))
            reduction = int(round(abs(image.x_scale) / ABI.SCAN_ANGLE_STEP[res]))
            self._abi_times = (image.time_start, image.time_end)
        try:
            return geometry_for(self.slot.platform, reduction)
        except ValueError as exc:
            raise DataError(f"unexpected grid ({exc})", path=path) from exc

    def same_grid(self, other: SlotReader) -> bool:
        return self._geometry == other._geometry or (
            self.area.area_extent == other.area.area_extent and self.area.shape == other.area.shape
        )

    def _segment_rows(self) -> int:
        """2 km rows per AHI segment (the whole disk for ABI)."""
        if self.sensor == "ahi":
            return self._geometry.segment_lines(2.0)
        return self.area.height

    def line_times(self, rows: np.ndarray) -> np.ndarray:
        """Observation time of every 2 km line (NaT where unread): headers of the segments holding ``rows``."""
        rows = np.asarray(rows)
        rows = rows[(rows >= 0) & (rows < self.area.height)]
        seg_rows = self._segment_rows()
        if self.sensor == "abi":
            if 0 not in self._times_known:
                start, end = self._abi_times
                self._line_times[:] = ABI.line_times(start, end, self.area.height)
                self._times_known.add(0)
            return self._line_times
        from cloudbench.readers.ahi_hsd import read_hsd_header

        f = self._factor(self._ref_band)
        for seg in np.unique(rows // seg_rows):
            seg = int(seg)
            if seg in self._times_known:
                continue
            path = self._files[self._ref_band].get(seg + 1)
            self._times_known.add(seg)
            if path is None:
                continue  # a missing segment: its lines stay unmatched
            header = read_hsd_header(path)
            native = header["line_times"].astype("datetime64[ns]")
            lt = native.astype(np.int64).reshape(-1, f).mean(axis=1).astype(np.int64).astype("datetime64[ns]")
            first = header["first_line"] // f
            self._line_times[first:first + lt.size] = lt
        return self._line_times

    # --- band values ---------------------------------------------------------------------------
    def fill_patches(self, corners: list[tuple[int, int]], p: int, out: np.ndarray) -> None:
        """Write each patch's bands (2 km, block-averaged) into ``out[k]`` for patch corners (row0, col0)."""
        if not corners:
            return
        seg_rows = self._segment_rows()
        used: set[str] = set()
        for i, band in enumerate(self.band_names):
            f = self._factor(band)
            segs = sorted({s for r0, _ in corners for s in range(r0 // seg_rows, (r0 + p - 1) // seg_rows + 1)})
            for seg in segs:
                first_row, values = self._decode(band, seg, used)
                if values is None:
                    continue
                lo, hi = first_row, first_row + values.shape[0] // f
                for k, (r0, c0) in enumerate(corners):
                    a, b = max(r0, lo), min(r0 + p, hi)
                    if a >= b:
                        continue
                    native = values[(a - lo) * f:(b - lo) * f, c0 * f:(c0 + p) * f]
                    out[k, i, a - r0:b - r0] = block_mean(native, f)
                del values
        self.files_used = sorted(used)

    def _decode(self, band: str, seg: int, used: set[str]):
        f = self._factor(band)
        if self.sensor == "ahi":
            from cloudbench.readers.ahi_hsd import read_hsd_segment

            path = self._files[band].get(seg + 1)
            if path is None:
                return 0, None
            used.add(path)
            first, values, _ = read_hsd_segment(path)
            return first // f, values
        from cloudbench.readers.abi_l1b import read_abi

        path = self._files[band][0]
        used.add(path)
        image = read_abi(path)
        return image.first_row // f, image.values
