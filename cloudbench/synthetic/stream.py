"""Write a synthetic ARCHIVE/ one UTC day at a time, so memory stays that of one slot however long the span.

:func:`~cloudbench.synthetic.archive.write_archive` returns every rendered slot with the truth behind
each pixel, which tests need and which costs about 60 MB per slot at reduction 10 (a day over the
paper region holds some fifty slots). ``cloudbench synth`` needs only the files, so here:

1. the whole span is planned first, from orbit arithmetic alone: which granules cross the region
   (clipped to the span, longest pass, as ``write_archive`` clips them) and which imager slots come
   within ``max_dt_s`` of any pass of the span;
2. the plan is written day by day, each granule and slot dropped from memory once its files are
   written, and a day's line goes to :mod:`~cloudbench.synthetic.day_ledger` once all its files are
   in place, so a rerun skips the days already complete.

The files are the ones ``write_archive`` writes for the same span and seed, byte for byte: the choices
are made over the whole span as there, the scene is one :class:`~cloudbench.synthetic.scene.Scene`
whose reference time is the span's start (the cloud field depends on it, so days are not rendered from
scenes of their own), and a file's bytes depend only on its own granule or slot. A granule belongs to
the day of its first profile (the date in its name), a slot to the day it starts in.
"""

from __future__ import annotations

import glob
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from cloudbench.config import Region, parse_region
from cloudbench.products.geostationary import FullDiskGeometry
from cloudbench.sensors import registry
from cloudbench.sensors.base import SyntheticGranule
from cloudbench.synthetic import orbit
from cloudbench.synthetic.archive import (
    DEFAULT_LABELS,
    _aware,
    label_sample_times,
    plan_granules,
    slots_near_passes,
    write_granule,
    write_slot,
)
from cloudbench.synthetic.day_ledger import DayLedger
from cloudbench.synthetic.scene import Scene


@dataclass(frozen=True)
class SynthSettings:
    """Everything that decides the bytes of a synthetic archive (the arguments of ``write_archive``)."""

    start: datetime
    end: datetime
    region: Region
    imager: str = "himawari"
    labels: tuple[str, ...] = DEFAULT_LABELS
    bands: tuple[str, ...] | None = None
    reduction: int = 10
    seed: int = 0
    slot_minutes: int | None = None
    only_near_tracks: bool = True
    max_dt_s: float = 600.0
    full_size: bool = False
    label_versions: tuple[tuple[str, str], ...] = ()  # (label key, version) where not the product's default
    clouds_everywhere: bool = False

    @classmethod
    def create(cls, *, start: datetime | str, end: datetime | str, region: str | Region = "paper",
               imager: str = "himawari", labels: tuple[str, ...] | list[str] = DEFAULT_LABELS,
               bands: list[str] | tuple[str, ...] | None = None, **kw) -> SynthSettings:
        """Checked settings (naive or ISO times are UTC).

        Raises:
            ValueError: an unknown imager, label product or band, or an empty span.
        """
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
        if bands is not None:
            bad = [b for b in bands if product.band_name(b) is None]
            if bad:
                raise ValueError(f"{bad} are not {product.description} bands; "
                                 f"choose from {', '.join(product.band_names)}")
            bands = [product.band_name(b) for b in bands]
        return cls(start_dt, end_dt, reg, imager, tuple(labels), None if bands is None else tuple(bands), **kw)

    @property
    def platform(self) -> str:
        """The span start's platform, for the whole span (as ``write_archive`` picks it)."""
        return registry.platforms_for(self.imager, self.start)[0]

    def geometry(self) -> FullDiskGeometry:
        product = registry.imager_for_position(self.imager)
        return product.geometry_at(self.platform, self.start, 1 if self.full_size else self.reduction)

    def key(self) -> dict:
        """JSON form recorded with each finished day: a rerun trusts only days written with the same."""
        from cloudbench import __version__

        return {
            "cloudbench_version": __version__,
            "start": self.start.astimezone(UTC).isoformat(), "end": self.end.astimezone(UTC).isoformat(),
            "region": list(self.region.bbox), "imager": self.imager, "platform": self.platform,
            "labels": sorted(self.labels), "bands": None if self.bands is None else list(self.bands),
            "reduction": self.reduction, "seed": self.seed, "slot_minutes": self.slot_minutes,
            "only_near_tracks": self.only_near_tracks, "max_dt_s": float(self.max_dt_s),
            "full_size": self.full_size, "label_versions": [list(v) for v in self.label_versions],
            "clouds_everywhere": self.clouds_everywhere,
        }


@dataclass(frozen=True)
class PlannedGranule:
    """A granule pass to write: the product, the orbit granule and its first/last written sample."""

    product: str
    granule: SyntheticGranule
    first: np.datetime64
    last: np.datetime64

    @property
    def day(self) -> date:
        return _aware(self.first).date()


@dataclass
class DayPlan:
    """What one UTC day of the span holds."""

    day: date
    granules: list[PlannedGranule] = field(default_factory=list)
    slots: list[datetime] = field(default_factory=list)


def _samples(settings: SynthSettings, product: str, granule: SyntheticGranule) -> np.ndarray | None:
    """The granule's written sample times, exactly as ``write_archive`` cuts them."""
    return label_sample_times(product, granule, orbit._to_ns(settings.start), orbit._to_ns(settings.end),
                              settings.region)


def plan_days(settings: SynthSettings) -> list[DayPlan]:
    """Every UTC day touched by the span, with the granules and slots it holds (cheap: no rendering)."""
    start64, end64 = orbit._to_ns(settings.start), orbit._to_ns(settings.end)
    granules = [PlannedGranule(key, g, times[0], times[-1])
                for key, g, times in plan_granules(settings.labels, start64, end64, settings.region)]
    spans = [(_aware(g.first), _aware(g.last)) for g in granules]
    slots = slots_near_passes(settings.geometry(), spans, settings.start, settings.end, settings.slot_minutes,
                              settings.only_near_tracks, settings.max_dt_s)
    first_day = settings.start.astimezone(UTC).date()
    last_day = (settings.end.astimezone(UTC) - timedelta(microseconds=1)).date()
    days = {first_day + timedelta(days=k): DayPlan(first_day + timedelta(days=k))
            for k in range((last_day - first_day).days + 1)}
    for g in granules:
        days[g.day].granules.append(g)
    for s in slots:
        days[s.astimezone(UTC).date()].slots.append(s)
    return list(days.values())


def write_planned_granule(root: Path, settings: SynthSettings, scene: Scene, planned: PlannedGranule) -> Path:
    """Render and write one planned granule; returns its path."""
    times = _samples(settings, planned.product, planned.granule)
    path, _ = write_granule(root, scene, planned.product, planned.granule, times, seed=settings.seed,
                            version=dict(settings.label_versions).get(planned.product))
    return path


def write_planned_slot(root: Path, settings: SynthSettings, scene: Scene, geometry: FullDiskGeometry,
                       slot: datetime) -> list[Path]:
    """Render and write one imager slot without keeping the per-pixel truth; returns its files."""
    paths, _ = write_slot(root, scene, settings.platform, geometry, slot, settings.bands, seed=settings.seed,
                          roi=None if settings.clouds_everywhere else settings.region, keep_view=False)
    return paths


def _remove_stale_parts(paths: list[Path]) -> None:
    """Temporary files a killed run left beside files now written (``name.part``, ``.name.<pid>.part``)."""
    for p in paths:
        p.with_name(p.name + ".part").unlink(missing_ok=True)
        for stale in p.parent.glob(f".{glob.escape(p.name)}.*.part"):
            stale.unlink(missing_ok=True)


@dataclass
class DayReport:
    """One day of a streamed run: written now, or skipped because the ledger says it is complete."""

    day: date
    skipped: bool
    files: dict[str, list[Path]]  # by product: vfm, cldclass-lidar, imager
    slots: int
    seconds: float


@dataclass
class StreamReport:
    """What :func:`stream_archive` did, day by day."""

    root: Path
    platform: str
    days: list[DayReport] = field(default_factory=list)

    @property
    def files(self) -> dict[str, list[Path]]:
        out: dict[str, list[Path]] = {p: [] for p in (*registry.label_choices(), "imager")}
        for d in self.days:
            for product, paths in d.files.items():
                out.setdefault(product, []).extend(paths)
        return out

    @property
    def slots(self) -> int:
        return sum(d.slots for d in self.days)

    @property
    def granules(self) -> int:
        files = self.files
        return sum(len(v) for p, v in files.items() if p != "imager")

    @property
    def days_skipped(self) -> int:
        return sum(d.skipped for d in self.days)


def _write_day(root: Path, settings: SynthSettings, scene: Scene, geometry: FullDiskGeometry, plan: DayPlan,
               bar) -> list[tuple[str, Path]]:
    written: list[tuple[str, Path]] = []
    for g in plan.granules:
        written.append((g.product, write_planned_granule(root, settings, scene, g)))
    for slot in plan.slots:
        written.extend(("imager", p) for p in write_planned_slot(root, settings, scene, geometry, slot))
        if bar is not None:
            bar.update(1)
    _remove_stale_parts([p for _, p in written])
    return written


def stream_archive(root: str | Path, settings: SynthSettings, *, progress: bool = False) -> StreamReport:
    """Write the planned span into ``root`` day by day; days already complete (same settings) are skipped.

    Holds the folder lock for the run (a second ``synth`` into the same folder is refused). Peak memory
    is that of rendering one slot: nothing rendered outlives the writing of its files.

    Raises:
        cloudbench.errors.UserError: another process is writing into ``root``.
    """
    from cloudbench.folder_lock import exclusive

    root = Path(root)
    report = StreamReport(root, settings.platform)
    with exclusive(root, "synth"):
        ledger = DayLedger(root)
        key = settings.key()
        days = plan_days(settings)
        done = {d.day: ledger.complete(d.day, key) for d in days}
        scene = Scene(settings.seed, orbit._to_ns(settings.start), orbit._to_ns(settings.end), region=settings.region)
        geometry = settings.geometry()
        from cloudbench.progress import progress_bar

        bar = progress_bar(sum(len(d.slots) for d in days if done[d.day] is None), "imager slots", "slot",
                           enabled=progress)
        try:
            for plan in days:
                entry = done[plan.day]
                if entry is not None:
                    files: dict[str, list[Path]] = {p: [] for p in (*registry.label_choices(), "imager")}
                    for f in entry.files:
                        files.setdefault(f.product, []).append(root / f.path)
                    report.days.append(DayReport(plan.day, True, files, entry.slots, 0.0))
                    continue
                if bar is not None:
                    bar.set_postfix_str(plan.day.isoformat())
                t0 = time.perf_counter()
                written = _write_day(root, settings, scene, geometry, plan, bar)
                seconds = time.perf_counter() - t0
                ledger.record(plan.day, key, written, len(plan.slots), seconds)
                files = {p: [] for p in (*registry.label_choices(), "imager")}
                for product, p in written:
                    files.setdefault(product, []).append(p)
                report.days.append(DayReport(plan.day, False, files, len(plan.slots), seconds))
        finally:
            if bar is not None:
                bar.close()
    return report

