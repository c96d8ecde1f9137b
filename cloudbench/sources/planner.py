"""The download planner: fetch the active-sensor granules, read their tracks, then list only the
imager files the tracks need.

A full Himawari slot is 160 files; the A-Train crosses a region in a few minutes and a few segments.
So the plan is made from the tracks: an imager line is needed when a track point inside the region
falls on it (within ``line_margin`` lines, which covers parallax shifts) and the line was scanned
within ``max_dt`` of the point's time (per-line times from the products' scan model, widened by
``time_margin_s`` because real scans drift from the model by seconds). For AHI that selects slots and
segments; ABI full-disk files are whole disks, so it selects scans. Only requested bands are listed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from cloudbench.config import Region, platforms_for
from cloudbench.errors import UserError
from cloudbench.products import abi_l1b, ahi_hsd
from cloudbench.products.geostationary import FullDiskGeometry, geometry_for
from cloudbench.sources.base import Catalog, Item
from cloudbench.sources.fetch import Fetcher, FetchReport
from cloudbench.sources.fsroot import DirectoryCatalog
from cloudbench.sources.layouts import AhiLayout

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
    """(line, time) of every on-disk track point on the 2 km grid; off-disk points are dropped."""
    if not tracks:
        return np.zeros(0, np.int64), np.zeros(0, "datetime64[ns]")
    lon = np.concatenate([t.longitude for t in tracks])
    lat = np.concatenate([t.latitude for t in tracks])
    time = np.concatenate([t.time for t in tracks])
    cols, rows = geometry.area(2.0).get_array_indices_from_lonlat(lon, lat)
    ok = ~np.ma.getmaskarray(rows) & ~np.ma.getmaskarray(cols)
    return np.asarray(rows)[ok].astype(np.int64), time[ok]


def _ns(seconds: float) -> np.timedelta64:
    return np.timedelta64(int(round(seconds * 1e9)), "ns")


def _to_datetime(t: np.datetime64) -> datetime:
    from datetime import UTC

    return datetime.fromtimestamp(t.astype("datetime64[ns]").astype(np.int64) / 1e9, tz=UTC)


def ahi_needs(geometry: FullDiskGeometry, lines: np.ndarray, times: np.ndarray, *, max_dt_s: float,
              line_margin: int, time_margin_s: float) -> dict[datetime, set[int]]:
    """Slot start -> 1-based segments whose lines a track point falls on within the time tolerance."""
    nlines = geometry.shape[0]
    epoch = np.datetime64("2000-01-01T00:00:00", "ns")
    line_offset = ahi_hsd.nominal_line_times(epoch, nlines) - epoch  # per-line delay after the slot start
    slot = _ns(ahi_hsd.SLOT_MINUTES * 60)
    tol = _ns(max_dt_s + time_margin_s)
    seg_lines = nlines // geometry.n_segments
    lo = np.clip(lines - line_margin, 0, nlines - 1)
    hi = np.clip(lines + line_margin, 0, nlines - 1)
    rel = times - epoch
    # candidate slots k: |t - (epoch + k*slot + offset(l))| <= tol for some l in [lo, hi]
    first = (rel - tol - line_offset[hi]) // slot
    last = (rel + tol - line_offset[lo]) // slot
    needs: dict[datetime, set[int]] = {}
    for d in range(int((last - first).max(initial=-1)) + 1):
        k = first + d
        use = k <= last
        since = rel[use] - k[use] * slot  # time of each point after the candidate slot's start
        # line offsets grow with the line, so the lines seen within tol form one contiguous run
        la = np.maximum(np.searchsorted(line_offset, since - tol, side="left"), lo[use])
        lb = np.minimum(np.searchsorted(line_offset, since + tol, side="right") - 1, hi[use])
        ok = la <= lb
        triples = np.unique(np.stack([k[use][ok], la[ok] // seg_lines, lb[ok] // seg_lines], axis=1), axis=0)
        for kk, sa, sb in triples:
            needs.setdefault(_to_datetime(epoch + int(kk) * slot), set()).update(range(int(sa) + 1, int(sb) + 2))
    return needs


def abi_scan_needed(geometry: FullDiskGeometry, lines: np.ndarray, times: np.ndarray, start: datetime,
                    end: datetime, *, max_dt_s: float, line_margin: int, time_margin_s: float) -> bool:
    """Whether a full-disk scan from ``start`` to ``end`` saw some track point within the tolerance."""
    if lines.size == 0:
        return False
    nlines = geometry.shape[0]
    lt = abi_l1b.line_times(start, end, nlines)
    tol = _ns(max_dt_s + time_margin_s)
    lo = np.clip(lines - line_margin, 0, nlines - 1)
    hi = np.clip(lines + line_margin, 0, nlines - 1)
    # line times grow with the line: the nearest time over [lo, hi] is one of the ends or t itself
    t_lo, t_hi = lt[lo], lt[hi]
    nearest = np.where(times < t_lo, t_lo, np.where(times > t_hi, t_hi, times))
    return bool((np.abs(times - nearest) <= tol).any())


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
        return int(math.ceil(self.line_margin_km / (2.0 * geometry.reduction)))

    def plan(self, start: datetime, end: datetime, region: Region, imager: str) -> DownloadPlan:
        label_items = self.labels.list(start, end, region)
        label_jobs = [(i, self.labels) for i in label_items]
        report = self.fetcher.fetch(label_jobs, desc="label granules")
        failed = {f.relpath for f in report.failed}
        paths = [(self.fetcher.archive / i.relpath, i.name) for i in label_items if i.relpath not in failed]
        tracks = read_tracks(paths, region, start, end, self.track_reader)
        plan = DownloadPlan(label_jobs, [], report, tracks)
        platforms = [p for p in platforms_for(imager, start) if p in self.imagers]
        if not platforms:
            raise UserError(f"no imager catalog for {imager}", fix="check --imager")
        if isinstance(self.imagers[platforms[0]].layout, AhiLayout):
            self._plan_ahi(plan, start, end, platforms)
        else:
            self._plan_abi(plan, start, end, platforms)
        return plan

    def _bands_ok(self, item_band: str | None) -> bool:
        return not self.bands or item_band in self.bands

    def _plan_ahi(self, plan: DownloadPlan, start: datetime, end: datetime, platforms: list[str]) -> None:
        layout: AhiLayout = self.imagers[platforms[0]].layout  # type: ignore[assignment]
        plan.window_slots = len(layout.slots(start, end))
        geoms = {p: geometry_for(p, self.reduction) for p in platforms}
        needs_by_platform = {}
        for p, g in geoms.items():
            lines, times = track_lines(g, plan.tracks)
            needs_by_platform[p] = ahi_needs(g, lines, times, max_dt_s=self.max_dt_s,
                                             line_margin=self.line_margin(g), time_margin_s=self.time_margin_s)
        slots = sorted({s for needs in needs_by_platform.values() for s in needs})
        full_files = full_bytes = 0
        first = self.imagers[platforms[0]]
        listed = first.list_dirs([first.layout.slot_dir(s) for s in slots], self.fetcher.workers)  # type: ignore[attr-defined]
        for slot in slots:
            for p in platforms:  # operational platform first; the others when its folder is empty
                cat = self.imagers[p]
                reldir = cat.layout.slot_dir(slot)  # type: ignore[attr-defined]
                items = listed[reldir] if p == platforms[0] else cat.list_dir(reldir)
                if not items:
                    continue
                plan.listed_slots += 1
                full_files += len(items)
                full_bytes += sum(i.size or 0 for i in items)
                segs = needs_by_platform[p].get(slot, set())
                for item in items:
                    info = cat.layout.parse(item.name)
                    if info and self._bands_ok(info.band) and info.segment in segs:
                        plan.imager_jobs.append((item, cat))
                break
        self._estimate_full(plan, full_files, full_bytes)

    def _plan_abi(self, plan: DownloadPlan, start: datetime, end: datetime, platforms: list[str]) -> None:
        mode = abi_l1b.scan_mode_for(start)
        plan.window_slots = int((end - start) / timedelta(minutes=abi_l1b.slot_minutes(mode)))
        if not plan.tracks:
            return
        tmin = _to_datetime(min(t.time.min() for t in plan.tracks))
        tmax = _to_datetime(max(t.time.max() for t in plan.tracks))
        pad = timedelta(seconds=self.max_dt_s + self.time_margin_s)
        scans: dict[tuple[str, datetime], list[Item]] = {}
        for p in platforms:
            cat = self.imagers[p]
            geom = geometry_for(p, self.reduction)
            lines, times = track_lines(geom, plan.tracks)
            reldirs = cat.layout.dirs_for(tmin - pad, tmax + pad + timedelta(minutes=15))
            for items in cat.list_dirs(reldirs, self.fetcher.workers).values():
                for item in items:
                    info = cat.layout.parse(item.name)
                    scans.setdefault((p, info.time), []).append(item)
            found = False
            for (platform, _t0), items in sorted(scans.items()):
                if platform != p:
                    continue
                found = True
                info = cat.layout.parse(items[0].name)
                if not abi_scan_needed(geom, lines, times, info.time, info.end, max_dt_s=self.max_dt_s,
                                       line_margin=self.line_margin(geom), time_margin_s=self.time_margin_s):
                    continue
                plan.listed_slots += 1
                for item in items:
                    if self._bands_ok(cat.layout.parse(item.name).band):
                        plan.imager_jobs.append((item, cat))
            if found:
                break
        listed = [items for items in scans.values()]
        full_files = sum(len(v) for v in listed)
        full_bytes = sum(i.size or 0 for v in listed for i in v)
        if listed:
            plan.full_window_files = round(full_files / len(listed) * plan.window_slots)
            plan.full_window_bytes = round(full_bytes / len(listed) * plan.window_slots)

    @staticmethod
    def _estimate_full(plan: DownloadPlan, files: int, nbytes: int) -> None:
        """The naive download: every file of every slot of the window, at the listed slots' mean size."""
        if plan.listed_slots:
            plan.full_window_files = round(files / plan.listed_slots * plan.window_slots)
            plan.full_window_bytes = round(nbytes / plan.listed_slots * plan.window_slots)
