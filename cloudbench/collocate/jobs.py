"""Find products by file name anywhere under ARCHIVE/ and group them into independent jobs.

A job is one active-sensor granule plus every imager slot that could hold a line within the time
tolerance of one of its profiles. Grouping uses only file names (granule start, slot start), so
planning reads no data and a corrupt granule fails inside its own job, where it is reported.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cloudbench.errors import MissingInputError, UserError
from cloudbench.sensors import registry


@dataclass(frozen=True)
class ImagerSlot:
    """One imager scan: its product, platform, nominal start and all its files (every band and unit)."""

    platform: str
    start: datetime
    files: tuple[str, ...]
    product: str = ""  # imager product name in the sensor registry

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


def _walk(root: Path):
    for folder, _dirs, names in os.walk(root):
        for name in sorted(names):
            yield Path(folder) / name


@dataclass
class Discovery:
    """What ``discover`` found: granules, full-disk slots, and imager files it cannot use (with why)."""

    granules: list[tuple[datetime, str]]
    slots: list[ImagerSlot]
    unusable: list[dict[str, str]]

    def __iter__(self):  # (granules, slots) unpacking, as callers used before
        return iter((self.granules, self.slots))


def discover(archive: str | Path, label_product: str, imager_platforms: set[str] | None = None) -> Discovery:
    """Granules of ``label_product`` and imager slots under ``archive``, by file name.

    Sub-area imager files (AHI target areas, ABI CONUS/mesoscale) are not slots: they are listed in
    ``unusable`` with the reason, so the report can say why they were left out.
    """
    root = Path(archive)
    if not root.is_dir():
        raise MissingInputError("archive folder not found", path=root, fix="give --archive the folder download wrote")
    labels = registry.label_product(label_product)
    granules: list[tuple[datetime, str]] = []
    slot_files: dict[tuple[str, datetime], list[str]] = {}
    slot_product: dict[tuple[str, datetime], str] = {}
    unusable: list[dict[str, str]] = []
    for path in _walk(root):
        name = path.name
        info = labels.parse_filename(name)
        if info is not None:
            granules.append((info.start, str(path)))
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
    stem = Path(path).name
    stem = stem[: stem.rindex(".")] if "." in stem else stem
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem)


def scan_span(slot: ImagerSlot) -> timedelta:
    """How long after its slot start a scan can still be observing: one repeat cycle."""
    product = registry.imager_product(slot.product)
    return timedelta(minutes=product.slot_minutes(slot.start))


def plan_jobs(archive: str | Path, label_product: str, imager: str | None, max_dt_s: float,
              discovery: Discovery | None = None) -> list[Job]:
    """One job per granule with the slots whose scans can come within ``max_dt_s`` of it."""
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
