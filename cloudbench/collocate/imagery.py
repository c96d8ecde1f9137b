"""Imagery read in place: the slots a run needs, listed in an object store, and how workers open them.

``collocate --imager-source noaa`` reads the NOAA buckets themselves (or a mirror of them at
``--s3-endpoint``) through each product's ``public_store``, ``layout`` and ``slot_dirs``, the same
catalogs ``download`` uses; ``--imager-source URL`` reads any fsspec folder in ARCHIVE/ layout. Only
the slot folders near each granule are listed (a bucket holds years of scans), and the job then
fetches only the units it reads: see :mod:`cloudbench.readers.unit_source`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cloudbench.errors import UserError
from cloudbench.readers.unit_source import UnitOpener
from cloudbench.sensors import registry

NOAA = "noaa"
"""The ``--imager-source`` value naming the products' public stores (NOAA's buckets for AHI and ABI)."""


@dataclass(frozen=True)
class ImagerSource:
    """Where imagery is read in place (a picklable description: workers rebuild the stores from it).

    Attributes:
        root: ``noaa`` for the products' public stores, or the fsspec URL of an ARCHIVE/-layout folder.
        s3_endpoint: another S3 endpoint holding the ``noaa-*`` buckets (a mirror, a test server).
        cache_dir: local folder keeping fetched objects in ARCHIVE/ layout (None: memory only).
    """

    root: str
    s3_endpoint: str | None = None
    cache_dir: str | None = None

    def store(self, product) -> Any:
        """The store of ``product``'s files: its public one, or the folder at ``root``."""
        from cloudbench.sources.fsroot import FsspecStore

        store = product.public_store(self) if self.root == NOAA else FsspecStore(self.root)
        if not isinstance(store, FsspecStore):
            raise UserError(f"{product.description} files in {type(store).__name__} cannot be read in place",
                            fix="download them with `cloudbench download` and give --archive")
        return store

    def _store_for_url(self, url: str):
        """The store a URL of this source belongs to (one per product and process)."""
        name = url.rstrip("/").rsplit("/", 1)[-1]
        found = registry.parse_imager_file(name)
        if found is None:
            raise UserError(f"not an imager file name of any registered product: {name}", path=url)
        key = (os.getpid(), self, found[0].name)
        store = _STORES.get(key)
        if store is None:
            store = _STORES[key] = self.store(found[0])
        return store

    def relpath(self, url: str) -> str:
        """The ARCHIVE/-relative path of a URL of this source (the cache folder's layout)."""
        store = self._store_for_url(url)
        remote = url.split("://", 1)[1] if "://" in url else url
        if self.root == NOAA:
            from cloudbench.sources.noaa import BUCKET_PREFIX

            return remote[len(BUCKET_PREFIX):] if remote.startswith(BUCKET_PREFIX) else remote
        root = store.root_url.split("://", 1)[-1].rstrip("/")
        return remote[len(root) + 1:] if remote.startswith(root + "/") else remote

    def filesystem(self, url: str) -> tuple[Any, str]:
        """(fs, path) of one of this source's URLs."""
        store = self._store_for_url(url)
        return store.fs, store.remote_path(self.relpath(url))

    def opener(self) -> UnitOpener:
        return UnitOpener(filesystem=self.filesystem, cache_dir=self.cache_dir, cache_key=self.relpath)


_STORES: dict[tuple, Any] = {}


def list_slots(source: ImagerSource, position: str, windows: list[tuple[datetime, datetime]]):
    """Full-disk slots of ``position`` whose start lies in one of ``windows``, listed in the store.

    Returns ``(slots, unusable)`` as :func:`cloudbench.collocate.jobs.discover` does: slots carry
    the files' URLs and sizes; sub-area files are listed in ``unusable`` with the reason.
    """
    from cloudbench.collocate.jobs import ImagerSlot
    from cloudbench.sources.fsroot import DirectoryCatalog

    slot_files: dict[tuple[str, datetime], dict[str, int | None]] = {}
    slot_product: dict[tuple[str, datetime], str] = {}
    unusable: list[dict[str, str]] = []
    for platform in registry.platforms_of(position):
        product = registry.imager_for_platform(platform)
        store = source.store(product)
        catalog = DirectoryCatalog(product.layout(platform), store)
        folders: list[str] = []
        for lo, hi in windows:
            t = product.slot_of(lo)
            while t <= hi:
                folders.extend(d for d in product.slot_dirs(platform, t) if d not in folders)
                t += timedelta(minutes=product.slot_minutes(t))
        for folder in folders:
            for item in catalog.list_dir(folder):
                found = registry.parse_imager_file(item.name)
                if found is None or found[1].platform != platform:
                    continue
                prod, info = found
                url = store.url(item.relpath)
                reason = prod.skip_reason(info)
                if reason:
                    unusable.append({"file": url, "reason": reason})
                    continue
                if not any(lo <= info.slot_start <= hi for lo, hi in windows):
                    continue
                key = (platform, info.slot_start)
                slot_files.setdefault(key, {})[url] = item.size
                slot_product[key] = prod.name
    slots = []
    for (platform, start), files in sorted(slot_files.items()):
        names = sorted(files)
        slots.append(ImagerSlot(platform, start, tuple(names), slot_product[(platform, start)],
                                sizes=tuple(files[n] for n in names)))
    return slots, unusable


def granule_windows(granules: list[tuple[datetime, str]], label_product: str, position: str,
                    max_dt_s: float) -> list[tuple[datetime, datetime]]:
    """Per granule, the span of slot starts whose scans can reach its profiles (merged where they overlap)."""
    span = registry.label_product(label_product).granule_span
    product = registry.imager_for_position(position)
    tolerance = timedelta(seconds=max_dt_s)
    windows = []
    for start, _ in granules:
        scan = timedelta(minutes=product.slot_minutes(start))
        windows.append((start - scan - tolerance, start + span + tolerance))
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(windows):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged
