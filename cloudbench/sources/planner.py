"""The download planner: fetch the active-sensor granules, read their tracks, then list only the
imager files the tracks need.

A full Himawari slot is 160 files; the A-Train crosses a region in a few minutes and a few segments.
So the plan is made from the tracks: an imager line is needed when a track point inside the region
falls on it (within ``line_margin`` lines, which covers parallax shifts) and the line was scanned
within ``max_dt`` of the point's time (per-line times from the product's scan model, widened by
``time_margin_s`` because real scans drift from the model by seconds). That selects slots and the
units of each (AHI segments, FCI chunks; whole files where a scan is one file, as for ABI), through
the imager product's ``needs`` (:mod:`cloudbench.sources.planning`). Only requested bands are listed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from cloudbench.config import Region
from cloudbench.errors import UserError
from cloudbench.products.geostationary import FullDiskGeometry
from cloudbench.sensors.base import ImagerFile, ImagerProduct
from cloudbench.sensors.registry import imager_for_position, platforms_for
from cloudbench.sources.base import Catalog, Item
from cloudbench.sources.fetch import Fetcher, FetchReport
from cloudbench.sources.fsroot import DirectoryCatalog

log = logging.getLogger(__name__)

DEFAULT_LINE_MARGIN_KM = 30.0  # parallax of a 15 km cloud top off-nadir stays inside this
DEFAULT_TIME_MARGIN_S = 30.0


@dataclass
class Track:
    """Track points inside the region and the time window (UTC datetime64[ns], degrees)."""

    time: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    granule: str


@dataclass
class DownloadPlan:
    """What to fetch, and what the naive download of the same window would have cost."""

    label_jobs: list[tuple[Item, Catalog]]
    imager_jobs: list[tuple[Item, Catalog]]
    label_report: FetchReport
    tracks: list[Track] = field(default_factory=list)
    window_slots: int = 0  # imager scans in the time window
    listed_slots: int = 0  # scans whose folder the planner listed
    full_window_files: int | None = None  # every file of every scan of the window (estimated from listed scans)
    full_window_bytes: int | None = None

    @property
    def imager_items(self) -> list[Item]:
        return [i for i, _ in self.imager_jobs]

    @property
    def planned_bytes(self) -> int:
        return sum(i.size or 0 for i in self.imager_items)

    @property
    def fraction(self) -> float | None:
        """Planned imager bytes over the naive download's (None if nothing was listed)."""
        if not self.full_window_bytes:
            return None
        return self.planned_bytes / self.full_window_bytes

    def summary(self) -> dict:
        labels = [i for i, _ in self.label_jobs]
        return {
            "label_files": len(labels),
            "label_bytes": sum(i.size or 0 for i in labels),
            "track_points_in_region": int(sum(t.time.size for t in self.tracks)),
            "imager_files": len(self.imager_jobs),
            "imager_bytes": self.planned_bytes,
            "window_scans": self.window_slots,
            "scans_needed": self.listed_slots,
            "full_window_files": self.full_window_files,
            "full_window_bytes": self.full_window_bytes,
            "fraction_of_full_window": self.fraction,
            "saved_fraction": None if self.fraction is None else 1.0 - self.fraction,
        }


def _default_track_reader(path: Path):
    from cloudbench.readers import read_track

    return read_track(path)


def read_tracks(paths: list[tuple[Path, str]], region: Region, start: datetime, end: datetime,
                reader: Callable[[Path], object] | None = None) -> list[Track]:
    """Track points of each granule that lie in the region and the window."""
    reader = reader or _default_track_reader
    t0 = np.datetime64(start.replace(tzinfo=None), "ns")
    t1 = np.datetime64(end.replace(tzinfo=None), "ns")
    tracks = []
    for path, granule in paths:
        try:
            ds = reader(path)
        except Exception as exc:
            exc.add_note(f"while reading the track of {path}")
            raise
        time = np.asarray(ds["time"], dtype="datetime64[ns]").ravel()
        lat = np.asarray(ds["latitude"], dtype=np.float64).ravel()
        lon = np.asarray(ds["longitude"], dtype=np.float64).ravel()
        keep = np.isfinite(lat) & np.isfinite(lon) & (time >= t0) & (time < t1) & region.contains(lon, lat)
        if keep.any():
            tracks.append(Track(time[keep], lat[keep], lon[keep], granule))
    return tracks


def track_lines(geometry: FullDiskGeometry, tracks: list[Track]) -> tuple[np.ndarray, np.ndarray]:
    """(row, time) of every on-disk track point on the sample grid; off-disk points are dropped."""
    if not tracks:
        return np.zeros(0, np.int64), np.zeros(0, "datetime64[ns]")
    lon = np.concatenate([t.longitude for t in tracks])
    lat = np.concatenate([t.latitude for t in tracks])
    time = np.concatenate([t.time for t in tracks])
    cols, rows = geometry.area().get_array_indices_from_lonlat(lon, lat)
    ok = ~np.ma.getmaskarray(rows) & ~np.ma.getmaskarray(cols)
    return np.asarray(rows)[ok].astype(np.int64), time[ok]


@dataclass
class Planner:
    """Plans a download: label granules first (fetched: their tracks decide the rest), then imagery.

    Args:
        labels: catalog of the active-sensor granules.
        imagers: platform -> catalog of its full-disk files (every platform of the imager position).
        fetcher: fetches the label granules into ARCHIVE/.
        bands: imager bands to list (``B13``... or ``C13``...).
        reduction: geometry of the archive's imager grid (1: real full disks; the synthetic archives
            of tests and the demo are written reduced).
    """

    labels: Catalog
    imagers: dict[str, DirectoryCatalog]
    fetcher: Fetcher
    bands: tuple[str, ...]
    max_dt_s: float = 300.0
    reduction: int = 1
    line_margin_km: float = DEFAULT_LINE_MARGIN_KM
    time_margin_s: float = DEFAULT_TIME_MARGIN_S
    track_reader: Callable[[Path], object] | None = None

    def line_margin(self, geometry: FullDiskGeometry) -> int:
        return int(math.ceil(self.line_margin_km / (geometry.grid_km * geometry.reduction)))

    def plan(self, start: datetime, end: datetime, region: Region, imager: str) -> DownloadPlan:
        label_items = self.labels.list(start, end, region)
        label_jobs = [(i, self.labels) for i in label_items]
        report = self.fetcher.fetch(label_jobs, desc="label granules")
        failed = {f.relpath for f in report.failed}
        paths = [(self.fetcher.archive / i.relpath, i.name) for i in label_items if i.relpath not in failed]
        tracks = read_tracks(paths, region, start, end, self.track_reader)
        plan = DownloadPlan(label_jobs, [], report, tracks)
        product = imager_for_position(imager)
        platforms = [p for p in platforms_for(imager, start) if p in self.imagers]
        if not platforms:
            raise UserError(f"no imager catalog for {imager}", fix="check --imager")
        self._plan_imagery(product, plan, start, end, platforms, imager)
        return plan

    def _bands_ok(self, info: ImagerFile) -> bool:
        return not self.bands or info.band is None or info.band in self.bands

    def _plan_imagery(self, product: ImagerProduct, plan: DownloadPlan, start: datetime, end: datetime,
                      platforms: list[str], position: str) -> None:
        """Slots and units the tracks need, listed folder by folder; the operational platform first."""
        step = timedelta(minutes=product.slot_minutes(start))
        plan.window_slots = int(-(-(end - product.slot_of(start)) // step))
        needs_by_platform = {}
        for p in platforms:
            g = product.geometry_at(p, start, self.reduction)
            lines, times = track_lines(g, plan.tracks)
            needs_by_platform[p] = product.needs(g, lines, times, start=start, max_dt_s=self.max_dt_s,
                                                 line_margin=self.line_margin(g), time_margin_s=self.time_margin_s)
        slots = sorted({s for needs in needs_by_platform.values() for s in needs})
        listings: dict[tuple[str, str], list[Item]] = {}
        full_files = full_bytes = 0
        first = self.imagers[platforms[0]]
        # the operational platform's slot folders, several listings at a time (each is a round trip)
        listed = first.list_dirs([d for s in slots for d in product.slot_dirs(platforms[0], s)], self.fetcher.workers)
        for slot in slots:
            for p in platforms:  # operational platform first; the others when its folders are empty
                if not product.serves(p, position, slot):
                    continue  # the satellite was elsewhere then (a Meteosat over the Indian Ocean)
                cat = self.imagers[p]
                items = []
                for reldir in product.slot_dirs(p, slot):
                    if (p, reldir) not in listings:
                        listings[(p, reldir)] = listed[reldir] if p == platforms[0] else cat.list_dir(reldir)
                    for item in listings[(p, reldir)]:
                        info = product.parse_filename(item.name)
                        if info is not None and info.platform == p and info.full_disk and info.slot_start == slot:
                            items.append((item, info))
                if not items:
                    continue
                plan.listed_slots += 1
                full_files += len(items)
                full_bytes += sum(i.size or 0 for i, _ in items)
                units = needs_by_platform[p].get(slot, set())
                for item, info in items:
                    if self._bands_ok(info) and info.unit in units:
                        plan.imager_jobs.append((item, cat))
                break
        self._estimate_full(plan, full_files, full_bytes)

    @staticmethod
    def _estimate_full(plan: DownloadPlan, files: int, nbytes: int) -> None:
        """The naive download: every file of every slot of the window, at the listed slots' mean size."""
        if plan.listed_slots:
            plan.full_window_files = round(files / plan.listed_slots * plan.window_slots)
            plan.full_window_bytes = round(nbytes / plan.listed_slots * plan.window_slots)
