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

from cloudbench.config import Region, parse_region, platforms_for
from cloudbench.products import calipso_vfm as vfm_product
from cloudbench.products import cloudsat_cldclass_lidar as cs_product
from cloudbench.products.geostationary import FullDiskGeometry, geometry_for
from cloudbench.synthetic import orbit
from cloudbench.synthetic.archive import IMAGERS, LABEL_PRODUCTS, _aware, _granule_samples, slots_near_passes
from cloudbench.synthetic.day_ledger import DayLedger
from cloudbench.synthetic.render import render_slot
from cloudbench.synthetic.scene import Scene

# Per label product: samples per whole unit the granule is cut to, and the sample interval (s).
_SAMPLING = {
    "vfm": (vfm_product.SHOTS_PER_RECORD, orbit.calipso_shot_interval_s),
    "cldclass-lidar": (1, lambda: orbit.CLOUDSAT_RAY_INTERVAL_S),
}
_GRANULES = {"vfm": orbit.calipso_granules, "cldclass-lidar": orbit.cloudsat_granules}


@dataclass(frozen=True)
class SynthSettings:
    """Everything that decides the bytes of a synthetic archive (the arguments of ``write_archive``)."""

    start: datetime
    end: datetime
    region: Region
    imager: str = "himawari"
    labels: tuple[str, ...] = LABEL_PRODUCTS
    bands: tuple[str, ...] | None = None
    reduction: int = 10
    seed: int = 0
    slot_minutes: int | None = None
    only_near_tracks: bool = True
    max_dt_s: float = 600.0
    full_size: bool = False
    vfm_version: str = vfm_product.DEFAULT_VERSION
    clouds_everywhere: bool = False

    @classmethod
    def create(cls, *, start: datetime | str, end: datetime | str, region: str | Region = "paper",
               imager: str = "himawari", labels: tuple[str, ...] | list[str] = LABEL_PRODUCTS,
               bands: list[str] | tuple[str, ...] | None = None, **kw) -> SynthSettings:
        """Checked settings (naive or ISO times are UTC).

        Raises:
            ValueError: an unknown imager, label product or band, or an empty span.
        """
        start_dt, end_dt = _aware(start), _aware(end)
        if end_dt <= start_dt:
            raise ValueError(f"end {end_dt.isoformat()} must be after start {start_dt.isoformat()}")
        reg = parse_region(region) if isinstance(region, str) else region
        if imager not in IMAGERS:
            raise ValueError(f"unknown imager {imager!r}; choose one of {', '.join(IMAGERS)}")
        unknown = [p for p in labels if p not in LABEL_PRODUCTS]
        if unknown:
            raise ValueError(f"unknown label product(s) {unknown}; choose from {', '.join(LABEL_PRODUCTS)}")
        settings = cls(start_dt, end_dt, reg, imager, tuple(labels), None if bands is None else tuple(bands), **kw)
        geometry = settings.geometry()
        for b in settings.bands or ():
            geometry.band(b)
        return settings

    @property
    def platform(self) -> str:
        """The span start's platform, for the whole span (as ``write_archive`` picks it)."""
        return platforms_for(self.imager, self.start)[0]

    def geometry(self) -> FullDiskGeometry:
        return geometry_for(self.platform, 1 if self.full_size else self.reduction)

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
            "full_size": self.full_size, "vfm_version": self.vfm_version,
            "clouds_everywhere": self.clouds_everywhere,
        }


@dataclass(frozen=True)
class PlannedGranule:
    """A granule pass to write: the product, the orbit granule and its first/last written sample."""

    product: str
    granule: orbit.Granule
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


def _samples(settings: SynthSettings, product: str, granule: orbit.Granule) -> np.ndarray | None:
    """The granule's written sample times, exactly as ``write_archive`` cuts them."""
    whole, interval = _SAMPLING[product]
    return _granule_samples(granule, orbit._to_ns(settings.start), orbit._to_ns(settings.end), interval(),
                            settings.region, whole)


def plan_days(settings: SynthSettings) -> list[DayPlan]:
    """Every UTC day touched by the span, with the granules and slots it holds (cheap: no rendering)."""
    start64, end64 = orbit._to_ns(settings.start), orbit._to_ns(settings.end)
    granules: list[PlannedGranule] = []
    for product in LABEL_PRODUCTS:
        if product not in settings.labels:
            continue
        for g in _GRANULES[product](start64, end64):
            times = _samples(settings, product, g)
            if times is not None:
                granules.append(PlannedGranule(product, g, times[0], times[-1]))
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


def write_granule(root: Path, settings: SynthSettings, scene: Scene, planned: PlannedGranule) -> Path:
    """Render and write one planned granule; returns its path."""
    from cloudbench.synthetic.calipso_vfm import write_vfm_granule
    from cloudbench.synthetic.cloudsat_cldclass_lidar import write_cldclass_granule

    times = _samples(settings, planned.product, planned.granule)
    lat, lon = orbit.subpoint(times)
    layers = scene.layers_at(lon, lat, times)
    g = planned.granule
    if planned.product == "vfm":
        name = vfm_product.build_filename(_aware(times[0]), g.day_night, version=settings.vfm_version)
        path = root / vfm_product.archive_relpath(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return Path(write_vfm_granule(path, layers, version=settings.vfm_version, seed=settings.seed))
    name = cs_product.build_filename(_aware(np.datetime64(times[0], "s")), g.orbit)
    path = root / cs_product.archive_relpath(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    return Path(write_cldclass_granule(path, layers, granule_number=g.orbit))


def write_slot(root: Path, settings: SynthSettings, scene: Scene, geometry: FullDiskGeometry, slot: datetime) -> list[Path]:
    """Render and write one imager slot without keeping the per-pixel truth; returns its files."""
    rendered = render_slot(scene, geometry, slot, settings.bands, seed=settings.seed,
                           roi=None if settings.clouds_everywhere else settings.region, keep_view=False)
    if geometry.sensor == "ahi":
        from cloudbench.synthetic.ahi_hsd import write_ahi_slot

        paths = write_ahi_slot(root, platform=settings.platform, slot_start=slot, bands=rendered.bands, geometry=geometry)
    else:
        from cloudbench.synthetic.abi_l1b import write_abi_slot

        paths = write_abi_slot(root, platform=settings.platform, slot_start=slot, bands=rendered.bands, geometry=geometry)
    return [Path(p) for p in paths]


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
        out: dict[str, list[Path]] = {p: [] for p in (*LABEL_PRODUCTS, "imager")}
        for d in self.days:
            for product, paths in d.files.items():
                out[product].extend(paths)
        return out

    @property
    def slots(self) -> int:
        return sum(d.slots for d in self.days)

    @property
    def granules(self) -> int:
        files = self.files
        return sum(len(files[p]) for p in LABEL_PRODUCTS)

    @property
    def days_skipped(self) -> int:
        return sum(d.skipped for d in self.days)


def _write_day(root: Path, settings: SynthSettings, scene: Scene, geometry: FullDiskGeometry, plan: DayPlan,
               bar) -> list[tuple[str, Path]]:
    written: list[tuple[str, Path]] = []
    for g in plan.granules:
        written.append((g.product, write_granule(root, settings, scene, g)))
    for slot in plan.slots:
        written.extend(("imager", p) for p in write_slot(root, settings, scene, geometry, slot))
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
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=sum(len(d.slots) for d in days if done[d.day] is None), desc="imager slots", unit="slot")
        try:
            for plan in days:
                entry = done[plan.day]
                if entry is not None:
                    files: dict[str, list[Path]] = {p: [] for p in (*LABEL_PRODUCTS, "imager")}
                    for f in entry.files:
                        files[f.product].append(root / f.path)
                    report.days.append(DayReport(plan.day, True, files, entry.slots, 0.0))
                    continue
                if bar is not None:
                    bar.set_postfix_str(plan.day.isoformat())
                t0 = time.perf_counter()
                written = _write_day(root, settings, scene, geometry, plan, bar)
                seconds = time.perf_counter() - t0
                ledger.record(plan.day, key, written, len(plan.slots), seconds)
                files = {p: [] for p in (*LABEL_PRODUCTS, "imager")}
                for product, p in written:
                    files[product].append(p)
                report.days.append(DayReport(plan.day, False, files, len(plan.slots), seconds))
        finally:
            if bar is not None:
                bar.close()
    return report

