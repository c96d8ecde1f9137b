"""Find products by file name anywhere under ARCHIVE/ and group them into independent jobs.

A job is one active-sensor granule plus every imager slot that could hold a line within the time
tolerance of one of its profiles. Grouping uses only file names (granule start, slot start), so
planning reads no data and a corrupt granule fails inside its own job, where it is reported.
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cloudbench.config import IMAGER_PLATFORMS
from cloudbench.errors import MissingInputError, UserError

LABEL_PRODUCTS = {"cldclass-lidar": "cloudsat_cldclass_lidar", "vfm": "calipso_vfm"}
"""``--labels`` choice -> module under ``cloudbench.products``."""

IMAGER_PRODUCTS = ("ahi_hsd", "abi_l1b")
"""Modules under ``cloudbench.products`` whose file names identify imager slots."""

# A CloudSat granule is one orbit (~99 min), a CALIPSO VFM file half of one; slots are searched
# over this span after the granule's start, so no profile's slot is missed.
GRANULE_SPAN = timedelta(minutes=100)
# A full-disk scan lasts up to this long after its slot start.
SCAN_SPAN = timedelta(minutes=10)


@dataclass(frozen=True)
class ImagerSlot:
    """One imager scan: its platform, nominal start and all its files (every band and segment)."""

    platform: str
    start: datetime
    files: tuple[str, ...]

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


def _products_module(name: str):
    try:
        return importlib.import_module(f"cloudbench.products.{name}")
    except ImportError:
        return None


def _walk(root: Path):
    for folder, _dirs, names in os.walk(root):
        for name in sorted(names):
            yield Path(folder) / name


def _slot_key(module, name: str) -> tuple[str, datetime] | None:
    """(platform, slot start) of an imager file name, from its product module's parser."""
    info = module.parse_filename(name)
    if info is None:
        return None
    platform = getattr(info, "platform", None)
    start = getattr(info, "slot_start", None) or getattr(info, "start", None) or getattr(info, "start_time", None)
    if platform is None or start is None:
        return None
    slot_minutes = getattr(module, "SLOT_MINUTES", 10)
    start = start.replace(minute=start.minute - start.minute % slot_minutes, second=0, microsecond=0)
    return platform, start


def discover(archive: str | Path, label_product: str, imager_platforms: set[str] | None = None):
    """Granules of ``label_product`` and imager slots under ``archive``, by file name.

    Returns ``(granules, slots)``: a sorted list of (start, path) and a list of ImagerSlot.
    """
    root = Path(archive)
    if not root.is_dir():
        raise MissingInputError("archive folder not found", path=root, fix="give --archive the folder download wrote")
    if label_product not in LABEL_PRODUCTS:
        raise UserError(f"unknown --labels {label_product!r}; choose one of {', '.join(LABEL_PRODUCTS)}")
    label_module = _products_module(LABEL_PRODUCTS[label_product])
    imager_modules = [m for m in (_products_module(n) for n in IMAGER_PRODUCTS) if m is not None]
    granules: list[tuple[datetime, str]] = []
    slot_files: dict[tuple[str, datetime], list[str]] = {}
    for path in _walk(root):
        name = path.name
        info = label_module.parse_filename(name)
        if info is not None:
            granules.append((info.start, str(path)))
            continue
        for module in imager_modules:
            key = _slot_key(module, name)
            if key is not None:
                if imager_platforms is None or key[0] in imager_platforms:
                    slot_files.setdefault(key, []).append(str(path))
                break
    slots = [ImagerSlot(p, s, tuple(sorted(f))) for (p, s), f in sorted(slot_files.items())]
    return sorted(granules), slots


def platforms_of(imager: str | None) -> set[str] | None:
    """Every platform that ever served an imager position (all buckets are searched)."""
    if imager is None:
        return None
    if imager not in IMAGER_PLATFORMS:
        raise UserError(f"unknown --imager {imager!r}; choose one of {', '.join(IMAGER_PLATFORMS)}")
    return {p.platform for p in IMAGER_PLATFORMS[imager]}


def job_id_for(path: str) -> str:
    """A file-system-safe id from the granule's file name (unique: names carry time and orbit)."""
    stem = Path(path).name.removesuffix(".hdf")
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem)


def plan_jobs(archive: str | Path, label_product: str, imager: str | None, max_dt_s: float) -> list[Job]:
    """One job per granule with the slots whose scans can come within ``max_dt_s`` of it."""
    granules, slots = discover(archive, label_product, platforms_of(imager))
    platforms = {s.platform for s in slots}
    if imager is None and len(platforms) > 1:
        positions = {name for name, periods in IMAGER_PLATFORMS.items() for p in periods if p.platform in platforms}
        if len(positions) > 1:
            raise UserError(
                f"the archive holds imagery of several positions ({', '.join(sorted(positions))})",
                fix="choose one with --imager",
            )
    tolerance = timedelta(seconds=max_dt_s)
    jobs = []
    for start, path in granules:
        lo = start - SCAN_SPAN - tolerance
        hi = start + GRANULE_SPAN + tolerance
        needed = tuple(s for s in slots if lo <= s.start <= hi)
        jobs.append(Job(job_id_for(path), path, label_product, start, needed))
    return jobs
