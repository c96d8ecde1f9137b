"""Write a whole synthetic ARCHIVE/: active granules along A-Train passes plus the imager slots around them.

The layout and the file names are the real archives' (docs/dataset-spec.md, "ARCHIVE/"), so everything
downstream (catalogs, collocation, inspect) runs on it unchanged. The returned
:class:`SyntheticArchive` keeps the scene and the truth written into each file, so tests can ask what
the right answer is.

To keep test archives small:
- only the part of each granule whose ground track lies inside the region is written (the file is
  still named, as the archive names files, by the time of its first profile); a granule crossing the
  region twice keeps its longest pass;
- only the imager slots within ``max_dt_s`` of a pass are written (``only_near_tracks``);
- imager pixels more than 10 deg from the region are rendered as clear sky (see
  :func:`~cloudbench.synthetic.render.render_slot`) unless ``clouds_everywhere``; ``full_size=True``
  writes the real 5500 x 5500 (AHI) / 5424 x 5424 (ABI) disks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from cloudbench.config import Region, parse_region
from cloudbench.products.geostationary import FullDiskGeometry
from cloudbench.sensors import registry
from cloudbench.sensors.base import SyntheticGranule
from cloudbench.synthetic import orbit
from cloudbench.synthetic.layers import TrackLayers
from cloudbench.synthetic.render import RenderedSlot, render_slot
from cloudbench.synthetic.scene import Scene

DEFAULT_LABELS = ("cldclass-lidar", "vfm")


@dataclass
class WrittenGranule:
    """One active-sensor file and the truth written into it."""

    product: str  # the --labels key: "vfm", "cldclass-lidar", ...
    path: Path
    granule: SyntheticGranule
    layers: TrackLayers  # per shot (VFM: whole records only) or per ray, as written


@dataclass
class WrittenSlot:
    """One imager slot: its files, the per-line times and the rendered physical values."""

    slot_start: datetime
    paths: list[Path]
    rendered: RenderedSlot


@dataclass
class SyntheticArchive:
    """What :func:`write_archive` wrote, with the truth behind it."""

    root: Path
    scene: Scene
    region: Region
    imager: str
    platform: str
    geometry: FullDiskGeometry
    start: datetime
    end: datetime
    granules: list[WrittenGranule] = field(default_factory=list)
    slots: list[WrittenSlot] = field(default_factory=list)

    @property
    def files(self) -> dict[str, list[Path]]:
        """Written files by product: every label product key (``vfm``, ``cldclass-lidar``...) and ``imager``."""
        out: dict[str, list[Path]] = {p: [] for p in registry.label_choices()}
        for g in self.granules:
            out.setdefault(g.product, []).append(g.path)
        out["imager"] = [p for s in self.slots for p in s.paths]
        return out

    @property
    def tracks(self) -> dict[Path, TrackLayers]:
        """Truth layers per active file."""
        return {g.path: g.layers for g in self.granules}

    def granule(self, path: str | Path) -> WrittenGranule:
        p = Path(path)
        for g in self.granules:
            if g.path == p or g.path.name == p.name:
                return g
        raise KeyError(f"{path} is not a granule of this archive")

    def slot(self, slot_start: datetime) -> WrittenSlot:
        for s in self.slots:
            if s.slot_start == slot_start:
                return s
        raise KeyError(f"no slot {slot_start.isoformat()} in this archive")


def aware_utc(t: datetime | str | np.datetime64) -> datetime:
    """An aware UTC datetime from an ISO string, a datetime64 or a (naive = UTC) datetime."""
    return _aware(t)


def _aware(t: datetime | str | np.datetime64) -> datetime:
    if isinstance(t, str):
        t = datetime.fromisoformat(t.replace("Z", "+00:00"))
    if isinstance(t, np.datetime64):
        us = int((np.datetime64(t, "us") - np.datetime64("1970-01-01", "us")).astype(np.int64))
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _longest_run(inside: np.ndarray) -> slice | None:
    """The longest run of True values as a slice (None if there is none)."""
    if not inside.any():
        return None
    edges = np.flatnonzero(np.diff(np.concatenate([[0], inside.astype(np.int8), [0]])))
    starts, stops = edges[0::2], edges[1::2]
    k = int(np.argmax(stops - starts))
    return slice(int(starts[k]), int(stops[k]))


def _granule_samples(
    granule: SyntheticGranule, start: np.datetime64, end: np.datetime64, interval_s: float, region: Region,
    whole: int, subpoint,
) -> np.ndarray | None:
    """Sample times of a granule inside [start, end) and the region (longest pass), aligned to ``whole``."""
    times = orbit.sample_times(granule.start, granule.end, interval_s)
    lat, lon = subpoint(times)
    inside = region.contains(lon, lat) & (times >= start) & (times < end)
    run = _longest_run(inside)
    if run is None:
        return None
    i0 = (run.start // whole) * whole
    i1 = -(-run.stop // whole) * whole
    i1 = min(i1, (times.shape[0] // whole) * whole)
    if i1 <= i0:
        return None
    return times[i0:i1]


def write_archive(
    root: str | Path,
    *,
    start: datetime | str,
    end: datetime | str,
    region: str | Region = "paper",
    imager: str = "himawari",
    labels: tuple[str, ...] | list[str] = DEFAULT_LABELS,
    bands: list[str] | tuple[str, ...] | None = None,
    reduction: int = 10,
    seed: int = 0,
    slot_minutes: int | None = None,
    only_near_tracks: bool = True,
    max_dt_s: float = 600.0,
    full_size: bool = False,
    scene: Scene | None = None,
    label_versions: dict[str, str] | None = None,
    progress: bool | None = None,
    clouds_everywhere: bool = False,
) -> SyntheticArchive:
    """Render a synthetic ARCHIVE/ for [start, end) over ``region`` and return what was written.

    Args:
        root: The ARCHIVE folder (created if needed).
        start, end: UTC span (aware datetimes or ISO strings; naive means UTC).
        region: A preset name (``paper``, ``himawari``...), ``W,S,E,N``, or a Region.
        imager: An imager position (``himawari``, ``goes-east``, ...); the platform follows the date.
        labels: Label products to write (``--labels`` keys: ``cldclass-lidar``, ``vfm``, ...).
        bands: Imager bands (default all 16); fewer keep tests fast.
        reduction: Full-disk reduction factor (10: 550 x 550 px AHI disk); ignored with ``full_size``.
        seed: Seeds the scene and the instrument noise.
        slot_minutes: Minutes between imager slots (default: the product's, 10 for AHI / ABI mode 6).
        only_near_tracks: Write only slots within ``max_dt_s`` of a written pass (else every slot).
        max_dt_s: Time margin around each pass for the slots.
        full_size: Real 2 km disks (5500 x 5500); the per-pixel truth view is not kept (memory).
        scene: A scene to render instead of ``Scene(seed, start, end, region=region)``.
        label_versions: Product version per label key for names and metadata (default: each product's).
        progress: True: a bar over the imager slots (on a terminal; else one line when done); False:
            only that line; None: neither (for callers with their own progress).
        clouds_everywhere: Render clouds over the whole disk, not only within 10 deg of the region
            (a full-size disk then takes minutes per slot).

    Raises:
        ValueError: an unknown imager, label product or band.
    """
    root = Path(root)
    start_dt, end_dt = _aware(start), _aware(end)
    if end_dt <= start_dt:
        raise ValueError(f"end {end_dt.isoformat()} must be after start {start_dt.isoformat()}")
    reg = parse_region(region) if isinstance(region, str) else region
    if imager not in registry.imager_choices():
        raise ValueError(f"unknown imager {imager!r}; choose one of {', '.join(registry.imager_choices())}")
    unknown = [p for p in labels if p not in registry.label_choices()]
    if unknown:
        raise ValueError(f"unknown label product(s) {unknown}; choose from {', '.join(registry.label_choices())}")
    product = registry.imager_for_position(imager)
    platform = registry.platforms_for(imager, start_dt)[0]
    geometry = product.geometry_at(platform, start_dt, 1 if full_size else reduction)
    if bands is not None:
        bad = [b for b in bands if product.band_name(b) is None]
        if bad:
            raise ValueError(f"{bad} are not {product.description} bands; choose from {', '.join(product.band_names)}")
        bands = [product.band_name(b) for b in bands]  # the product's spelling, whatever the case given
    start64 = orbit._to_ns(start_dt)
    end64 = orbit._to_ns(end_dt)
    scene = scene or Scene(seed, start64, end64, region=reg)
    archive = SyntheticArchive(root, scene, reg, imager, platform, geometry, start_dt, end_dt)
    root.mkdir(parents=True, exist_ok=True)

    # --- active granules -------------------------------------------------------------------------
    versions = label_versions or {}
    for key, granule, times in plan_granules(labels, start64, end64, reg):
        path, layers = write_granule(root, scene, key, granule, times, seed=seed, version=versions.get(key))
        archive.granules.append(WrittenGranule(key, path, granule, layers))

    # --- imager slots ------------------------------------------------------------------------------
    slots = _slots(archive, start_dt, end_dt, slot_minutes, only_near_tracks, max_dt_s)
    bar = None
    if progress is not None:
        from cloudbench.progress import progress_bar

        bar = progress_bar(len(slots), "imager slots", "slot", enabled=progress)
    for slot in slots:
        paths, rendered = write_slot(root, scene, platform, geometry, slot, bands, seed=seed,
                                     roi=None if clouds_everywhere else reg, keep_view=not full_size)
        archive.slots.append(WrittenSlot(slot, paths, rendered))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return archive


def label_sample_times(key: str, granule: SyntheticGranule, start: np.datetime64, end: np.datetime64,
                       region: Region) -> np.ndarray | None:
    """The sample times a label product's granule is written with: inside [start, end) and the region
    (longest pass), cut to whole records; None when the granule does not cross."""
    label = registry.label_product(key)
    return _granule_samples(granule, start, end, label.synthetic_sample_interval_s(), region,
                            label.samples_per_record, label.synthetic_subpoint)


def plan_granules(labels, start: np.datetime64, end: np.datetime64,
                  region: Region) -> list[tuple[str, SyntheticGranule, np.ndarray]]:
    """(label key, granule, sample times) of every granule of ``labels`` crossing the region in the span."""
    out = []
    for key in labels:
        for g in registry.label_product(key).synthetic_granules(start, end):
            times = label_sample_times(key, g, start, end, region)
            if times is not None:
                out.append((key, g, times))
    return out


def write_granule(root: Path, scene: Scene, key: str, granule: SyntheticGranule, times: np.ndarray, *,
                  seed: int = 0, version: str | None = None) -> tuple[Path, TrackLayers]:
    """Render the scene along the granule's track and write it with its product's writer."""
    label = registry.label_product(key)
    lat, lon = label.synthetic_subpoint(times)
    layers = scene.layers_at(lon, lat, times)
    return Path(label.write_synthetic(root, layers, granule, seed=seed, version=version)), layers


def write_slot(root: Path, scene: Scene, platform: str, geometry: FullDiskGeometry, slot: datetime,
               bands, *, seed: int = 0, roi: Region | None = None, keep_view: bool = True,
               ) -> tuple[list[Path], RenderedSlot]:
    """Render one imager slot and write it with its product's writer; returns the files and the render."""
    rendered = render_slot(scene, geometry, slot, bands, seed=seed, roi=roi, keep_view=keep_view)
    paths = registry.imager_for_platform(platform).write_synthetic_slot(
        root, platform=platform, slot_start=slot, bands=rendered.bands, geometry=geometry)
    return [Path(p) for p in paths], rendered


def _slot_step(geometry: FullDiskGeometry, when: datetime, slot_minutes: int | None) -> timedelta:
    if slot_minutes is not None:
        return timedelta(minutes=int(slot_minutes))
    return timedelta(minutes=registry.imager_for_platform(geometry.platform).slot_minutes(when))


def _slots(
    archive: SyntheticArchive, start: datetime, end: datetime, slot_minutes: int | None, near: bool, max_dt_s: float
) -> list[datetime]:
    """Slot start times in [start, end): all of them, or those whose scan comes within max_dt of a pass."""
    spans = [(_aware(g.layers.time[0]), _aware(g.layers.time[-1])) for g in archive.granules]
    return slots_near_passes(archive.geometry, spans, start, end, slot_minutes, near, max_dt_s)


def slots_near_passes(
    geometry: FullDiskGeometry, spans: list[tuple[datetime, datetime]], start: datetime, end: datetime,
    slot_minutes: int | None, near: bool, max_dt_s: float,
) -> list[datetime]:
    """Slot start times in [start, end): all, or those within max_dt of a pass (``spans``: first/last profile)."""
    step = _slot_step(geometry, start, slot_minutes)
    epoch = datetime(start.year, start.month, start.day, tzinfo=UTC)
    first = epoch + step * ((start - epoch) // step)
    if first < start:
        first += step
    every = []
    t = first
    while t < end:
        every.append(t)
        t += step
    if not near:
        return every
    margin = timedelta(seconds=max_dt_s)
    keep = []
    for s in every:
        scan_end = s + step  # the scan of a slot lies inside the slot
        if any(s - margin <= b and a <= scan_end + margin for a, b in spans):
            keep.append(s)
    return keep
