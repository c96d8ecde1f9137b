"""Find products by file name anywhere under ARCHIVE/ and group them into independent jobs.

A job is one active-sensor granule plus every imager slot that could hold a line within the time
tolerance of one of its profiles. Grouping uses only file names (granule start, slot start), so
planning reads no data and a corrupt granule fails inside its own job, where it is reported.

ARCHIVE/ may be a local folder or any fsspec URL (walked the same way); imagery may instead come
from an :class:`~cloudbench.collocate.imagery.ImagerSource` (the NOAA buckets, a mirror), where
only the slot folders near the granules are listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from cloudbench.errors import MissingInputError, UserError
from cloudbench.sensors import registry
from cloudbench.storage import Location, name_of

if TYPE_CHECKING:  # pragma: no cover
    from cloudbench.collocate.imagery import ImagerSource


@dataclass(frozen=True)
class ImagerSlot:
    """One imager scan: its product, platform, nominal start and all its files (every band and unit).

    ``files`` are local paths or URLs; ``sizes`` (same order, may be empty) are what a store's
    listing said, so a worker reading in place needs no request to learn them.
    """

    platform: str
    start: datetime
    files: tuple[str, ...]
    product: str = ""  # imager product name in the sensor registry
    sizes: tuple[int | None, ...] = ()

    def size_of(self) -> dict[str, int | None]:
        return dict(zip(self.files, self.sizes, strict=True)) if self.sizes else {}

    @property
    def slot_id(self) -> str:
        return f"{self.platform}_{self.start:%Y%m%dT%H%M}"


@dataclass(frozen=True)
class Job:
    """One granule and the slots it needs; ``job_id`` names its files in PAIRS/."""

    job_id: str
    granule: str
    label_product: str
    granule_start: datetime
    slots: tuple[ImagerSlot, ...]


def _walk(root: Location):
    """Every file under ARCHIVE/ (a folder or a URL), as the path or URL a job opens."""
    for rel in root.list_files():
        yield root.url(rel)


@dataclass
class Discovery:
    """What ``discover`` found: granules, full-disk slots, and imager files it cannot use (with why)."""

    granules: list[tuple[datetime, str]]
    slots: list[ImagerSlot]
    unusable: list[dict[str, str]]

    def __iter__(self):  # (granules, slots) unpacking, as callers used before
        return iter((self.granules, self.slots))


def discover(archive: str | Path, label_product: str, imager_platforms: set[str] | None = None, *,
             imagery: bool = True) -> Discovery:
    """Granules of ``label_product`` and imager slots under ``archive`` (a folder or URL), by file name.

    Sub-area imager files (AHI target areas, ABI CONUS/mesoscale) are not slots: they are listed in
    ``unusable`` with the reason, so the report can say why they were left out. ``imagery`` False
    looks for granules only (imagery read in place from elsewhere).
    """
    root = Location(archive)
    if not root.is_dir():
        raise MissingInputError("archive folder not found", path=str(archive),
                                fix="give --archive the folder (or URL) download wrote")
    labels = registry.label_product(label_product)
    granules: list[tuple[datetime, str]] = []
    slot_files: dict[tuple[str, datetime], list[str]] = {}
    slot_product: dict[tuple[str, datetime], str] = {}
    unusable: list[dict[str, str]] = []
    for path in _walk(root):
        name = name_of(path)
        info = labels.parse_filename(name)
        if info is not None:
            granules.append((info.start, str(path)))
            continue
        if not imagery:
            continue
        found = registry.parse_imager_file(name)
        if found is None:
            continue
        product, f = found
        if imager_platforms is not None and f.platform not in imager_platforms:
            continue
        reason = product.skip_reason(f)
        if reason:
            unusable.append({"file": str(path), "reason": reason})
            continue
        key = (f.platform, f.slot_start)
        slot_files.setdefault(key, []).append(str(path))
        slot_product[key] = product.name
    slots = [ImagerSlot(p, s, tuple(sorted(f)), slot_product[(p, s)]) for (p, s), f in sorted(slot_files.items())]
    return Discovery(sorted(granules), slots, unusable)


def platforms_of(imager: str | None) -> set[str] | None:
    """Every platform that ever served an imager position (all buckets are searched)."""
    if imager is None:
        return None
    return set(registry.platforms_of(imager))


def job_id_for(path: str) -> str:
    """A file-system-safe id from the granule's file name (unique: names carry time and orbit)."""
    stem = name_of(path)
    stem = stem[: stem.rindex(".")] if "." in stem else stem
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem)


def scan_span(slot: ImagerSlot) -> timedelta:
    """How long after its slot start a scan can still be observing: one repeat cycle."""
    product = registry.imager_product(slot.product)
    return timedelta(minutes=product.slot_minutes(slot.start))


def discover_in_place(archive: str | Path, label_product: str, imager: str | None, max_dt_s: float,
                      source: ImagerSource) -> Discovery:
    """Granules under ``archive`` and the slots near them listed in ``source`` (imagery read in place)."""
    from cloudbench.collocate.imagery import granule_windows, list_slots

    if imager is None:
        raise UserError("reading imagery in place needs the imager position",
                        fix="give --imager (or a region preset that names one)")
    found = discover(archive, label_product, imagery=False)
    windows = granule_windows(found.granules, label_product, imager, max_dt_s)
    slots, unusable = list_slots(source, imager, windows) if windows else ([], [])
    return Discovery(found.granules, slots, unusable)


def plan_jobs(archive: str | Path, label_product: str, imager: str | None, max_dt_s: float,
              discovery: Discovery | None = None, imager_source: ImagerSource | None = None) -> list[Job]:
    """One job per granule with the slots whose scans can come within ``max_dt_s`` of it.

    Imager slots come from ARCHIVE/ itself, or from ``imager_source`` when given (read in place).
    """
    if discovery is None and imager_source is not None:
        discovery = discover_in_place(archive, label_product, imager, max_dt_s, imager_source)
    found = discovery or discover(archive, label_product, platforms_of(imager))
    granules, slots = found.granules, found.slots
    platforms = {s.platform for s in slots}
    if imager is None and len(platforms) > 1:
        positions = {pos for p in platforms for pos in registry.position_of_platform(p)}
        if len(positions) > 1:
            raise UserError(
                f"the archive holds imagery of several positions ({', '.join(sorted(positions))})",
                fix="choose one with --imager",
            )
    span = registry.label_product(label_product).granule_span
    tolerance = timedelta(seconds=max_dt_s)
    jobs = []
    for start, path in granules:
        hi = start + span + tolerance
        needed = tuple(s for s in slots if start - scan_span(s) - tolerance <= s.start <= hi)
        jobs.append(Job(job_id_for(path), path, label_product, start, needed))
    return jobs
