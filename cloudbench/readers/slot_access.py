"""The one way into an imager slot: its files grouped by band and unit, read only where asked.

Collocation and ``read_imager`` both come through :class:`SlotAccess`: headers for the geometry and
the line times, then band values unit by unit (AHI segments, FCI chunks, or one file), cropped to
what is asked before finer bands are averaged onto the sample grid. Peak memory is one decoded unit
plus the requested patches or rows, never a full disk of all bands (satpy's full-disk composites
are what blow memory in other tools).

Everything specific to a product comes from its :class:`~cloudbench.sensors.base.ImagerProduct`:
names, bands, units, header and decode. Nothing here knows a sensor.

Files may be local paths or URLs (imagery read in place from a bucket): a
:class:`~cloudbench.readers.unit_source.UnitOpener` turns each into a unit source. Products that
decode from memory get the source itself; the others get a local copy. Units of the reference band
(whose headers give the geometry and line times) are kept for the slot's life, so their bytes are
fetched once whether the job reads their header, their data or both; other units are fetched when
decoded and dropped afterwards.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cloudbench.checksums import sha256_file
from cloudbench.errors import DataError, UserError
from cloudbench.readers.unit_source import LocalUnit, UnitOpener, UnitSource
from cloudbench.sensors.base import ImagerFile, ImagerProduct, UnitData
from cloudbench.storage import is_remote

NAT = np.datetime64("NaT")


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` x ``factor`` blocks of the last two axes (finer bands onto the sample grid).

    A block with a NaN pixel is NaN (the pixel is unknown, not zero).
    """
    if factor == 1:
        return image
    *lead, h, w = image.shape
    h2, w2 = h // factor, w // factor
    view = image[..., : h2 * factor, : w2 * factor].reshape(*lead, h2, factor, w2, factor)
    return view.mean(axis=(-3, -1), dtype=np.float32)


def mean_line_times(native: np.ndarray, factor: int) -> np.ndarray:
    """Grid-line times from native-line times: the mean of each run of ``factor`` (NaT stays NaT)."""
    native = np.asarray(native, dtype="datetime64[ns]")
    if factor == 1:
        return native
    runs = native[: (native.size // factor) * factor].reshape(-1, factor)
    ns = runs.astype(np.int64)
    # the mean of the offsets from each run's first time: exact to the nanosecond (a float64 mean of
    # epoch nanoseconds would round to ~256 ns)
    out = (ns[:, 0] + np.round((ns - ns[:, :1]).mean(axis=1)).astype(np.int64)).astype("datetime64[ns]")
    out[np.isnat(runs).any(axis=1)] = NAT
    return out


def mean_pixel_times(native: np.ndarray, factor: int) -> np.ndarray:
    """Grid-pixel times from native-pixel times: the mean of each ``factor`` x ``factor`` block (NaT if any is)."""
    native = np.asarray(native, dtype="datetime64[ns]")
    if factor == 1:
        return native
    h, w = native.shape[0] // factor, native.shape[1] // factor
    blocks = native[: h * factor, : w * factor].reshape(h, factor, w, factor).transpose(0, 2, 1, 3).reshape(h, w, -1)
    ns = blocks.astype(np.int64)
    out = (ns[..., 0] + np.round((ns - ns[..., :1]).mean(axis=-1)).astype(np.int64)).astype("datetime64[ns]")
    out[np.isnat(blocks).any(axis=-1)] = NAT
    return out


def row_means(times: np.ndarray) -> np.ndarray:
    """Each row's mean of grid-pixel times (NaT where the row has none), exact to the nanosecond."""
    t = np.asarray(times, dtype="datetime64[ns]")
    ok = ~np.isnat(t)
    ns = t.astype(np.int64)
    count = ok.sum(axis=1)
    ref = np.where(count > 0, np.where(ok, ns, np.iinfo(np.int64).max).min(axis=1), 0)
    mean = np.where(ok, ns - ref[:, None], 0).sum(axis=1) / np.maximum(count, 1)
    out = (ref + np.round(mean).astype(np.int64)).astype("datetime64[ns]")
    out[count == 0] = NAT
    return out


def iso_utc(t: Any) -> str:
    """An ISO-8601 UTC string (microseconds, ``Z``) of a datetime or datetime64."""
    if isinstance(t, datetime):
        return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(np.datetime_as_string(np.datetime64(t, "us"), unit="us")) + "Z"


def value_stats(values: np.ndarray) -> dict[str, Any]:
    """min, max, mean and count of the finite values (None where there is none), for ``inspect``."""
    finite = np.isfinite(values)
    n = int(finite.sum())
    if n == 0:
        return {"min": None, "max": None, "mean": None, "valid_pixels": 0}
    v = values[finite]
    return {"min": float(v.min()), "max": float(v.max()), "mean": float(v.mean(dtype=np.float64)), "valid_pixels": n}


DECODE_THREADS_ENV = "CLOUDBENCH_DECODE_THREADS"


def default_decode_threads(workers_on_machine: int = 1) -> int:
    """Threads that decode units at once: the CPUs of this worker's share of the machine, at most 4
    (each holds a decoded unit).

    ``CLOUDBENCH_DECODE_THREADS`` overrides it (1 decodes serially); local clusters set it for their
    worker processes to each one's share (:func:`cloudbench.collocate.run.local_worker_env`).
    """
    env = os.environ.get(DECODE_THREADS_ENV)
    if env:
        return max(1, int(env))
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus // max(1, workers_on_machine)))


class SlotAccess:
    """Lazy access to one scan's files for the requested bands (every band when None).

    Args:
        product: the imager product of the files.
        files: the slot's files (any bands, any units); files the product cannot collocate
            (sub-area scans) are left out and listed in ``skipped`` with the reason.
        bands: band names in the order wanted; unknown names are a UserError naming the valid ones.
        platform: the platform, when known (else from the first file name).
        slot_id: a name for messages (default: platform and slot start).
        full_disk_only: leave out sub-area files (collocation); ``read_imager`` reads them too.
        decode_threads: units decoded at once (default :func:`default_decode_threads`).
        opener: how file locations become unit sources (default: local paths as they are, URLs
            through fsspec's configuration, nothing cached).
        sizes: file sizes a store listing gave, by location (saves a request per remote file).

    Raises:
        UserError: unknown bands, or files of several platforms or slots.
        DataError: a requested band has no file, or the reference header is unreadable.
    """

    def __init__(self, product: ImagerProduct, files: Sequence[str | Path], bands: Sequence[str] | None = None, *,
                 platform: str | None = None, slot_id: str | None = None, full_disk_only: bool = True,
                 decode_threads: int | None = None, opener: UnitOpener | None = None,
                 sizes: dict[str, int | None] | None = None) -> None:
        self.product = product
        self.files = tuple(str(f) for f in files)
        self.opener = opener or UnitOpener()
        self._sizes = dict(sizes or {})
        self._units: dict[str, UnitSource] = {}  # reference-band units, kept (header, then maybe data)
        self._sha256: dict[str, str] = {}
        self._scratch: Path | None = None
        self.band_names = list(product.check_bands(bands))
        self.skipped: list[dict[str, str]] = []
        self.files_used: list[str] = []
        self.decode_threads = decode_threads or default_decode_threads()
        self._files: dict[str, dict[int, str]] = {}
        infos: list[ImagerFile] = []
        for path in self.files:
            info = product.parse_filename(Path(path).name)
            if info is None:
                raise UserError(f"not a {product.description} file name", path=path)
            reason = product.skip_reason(info) if full_disk_only else None
            if reason:
                self.skipped.append({"file": path, "reason": reason})
                continue
            infos.append(info)
            for band in ([info.band] if info.band is not None else product.band_names):
                self._files.setdefault(band, {})[info.unit] = path
        platforms = {i.platform for i in infos} | ({platform} if platform else set())
        slots = {i.slot_start for i in infos}
        if len(platforms) > 1 or len(slots) > 1:
            raise UserError(f"files of one platform and slot are needed, got {sorted(platforms)} / "
                            f"{sorted(s.isoformat() for s in slots)}")
        if not infos:
            why = self.skipped[0]["reason"] if self.skipped else "no files"
            raise DataError(f"no usable {product.description} file in this slot ({why})",
                            path=self.files[0] if self.files else None)
        self.infos = infos
        self.platform = platforms.pop()
        self.slot_start = slots.pop()
        self.slot_id = slot_id or f"{self.platform}_{self.slot_start:%Y%m%dT%H%M}"
        missing = [b for b in self.band_names if b not in self._files]
        if missing:
            raise DataError(f"slot {self.slot_id} lacks bands {missing}", path=self.files[0])
        self._ref_band = min(self.band_names, key=lambda b: (-product.bands[b].resolution_km, b))
        self.geometry, self._ref_header = self._read_geometry()
        self.area = self.geometry.area()
        self._line_times = np.full(self.area.height, NAT, dtype="datetime64[ns]")
        self._times_known: set[int] = set()
        # per unit with per-pixel times: (first grid row, first grid column, grid-pixel times)
        self._pixel_blocks: dict[int, tuple[int, int, np.ndarray]] = {}

    # --- geometry and times ----------------------------------------------------------------------
    def _read_geometry(self):
        band = self._ref_band
        units = self._files[band]
        path = units[min(units)]
        header = self._header(path, band)
        try:
            geometry = self.product.geometry(self.platform, header.reduction, **header.geometry_args)
        except ValueError as exc:
            raise DataError(f"unexpected grid ({exc})", path=path) from exc
        native_cols = geometry.native_shape(self.product.bands[band].resolution_km)[1]
        if self.infos[0].full_disk and header.n_cols != native_cols:
            raise DataError(f"{header.n_cols} columns do not make a full disk of {band} "
                            f"({native_cols} expected at reduction {header.reduction})", path=path)
        return geometry, header

    def same_grid(self, other: SlotAccess) -> bool:
        return self.geometry == other.geometry or (
            self.area.area_extent == other.area.area_extent and self.area.shape == other.area.shape
        )

    @property
    def sub_lon(self) -> float:
        return float(self.geometry.sub_lon)

    def line_times(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Observation time of every grid line (NaT where not read): headers of the units holding ``rows``.

        ``rows`` None reads every unit's header.
        """
        band = self._ref_band
        f = self.product.factor(band)
        height = self.area.height
        if rows is None:
            wanted = self.product.units_for_rows(self.geometry, 0, height)
        else:
            rows = np.asarray(rows, dtype=np.int64)
            rows = np.unique(rows[(rows >= 0) & (rows < height)])
            wanted = set()
            for r in rows:
                wanted |= self.product.units_for_rows(self.geometry, int(r), int(r) + 1)
        for unit in sorted(wanted - self._times_known):
            self._times_known.add(unit)
            path = self._files[band].get(unit)
            if path is None:
                continue  # a missing unit: its lines stay unmatched
            header = self._ref_header if path == self._ref_path(band) else self._header(path, band)
            first = header.row0 // f
            native = self.product.line_times(header, self.infos, self.geometry)
            pixel = self.product.pixel_times(path, band, header)
            if pixel is not None:
                grid = mean_pixel_times(pixel, f)
                self._pixel_blocks[unit] = (first, header.col0 // f, grid)
                lt = row_means(grid) if native is None else mean_line_times(native, f)
            elif native is None:
                continue
            else:
                lt = mean_line_times(native, f)
            lo, hi = max(first, 0), min(first + lt.size, height)
            if hi > lo:
                self._line_times[lo:hi] = lt[lo - first:hi - first]
        return self._line_times

    def _ref_path(self, band: str) -> str:
        units = self._files[band]
        return units[min(units)]

    def times_at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """When the pixels (grid rows/cols) were observed; NaT for rows < 0 or not read.

        A pixel of a unit with per-pixel times (``ImagerProduct.pixel_times``) gets its own time;
        every other pixel its line's time.
        """
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.broadcast_to(np.asarray(cols, dtype=np.int64), rows.shape)
        lt = self.line_times(rows)
        out = np.full(rows.shape, NAT, dtype="datetime64[ns]")
        ok = (rows >= 0) & (rows < lt.shape[0])
        out[ok] = lt[rows[ok]]
        for r0, c0, block in self._pixel_blocks.values():
            inside = ok & (rows >= r0) & (rows < r0 + block.shape[0]) & (cols >= c0) & (cols < c0 + block.shape[1])
            if inside.any():
                out[inside] = block[rows[inside] - r0, cols[inside] - c0]
        return out

    def pixel_times(self, row0: int, row1: int, col0: int, col1: int) -> np.ndarray | None:
        """Per-pixel times of grid rows [row0, row1) x columns [col0, col1); None where the product has
        only line times (NaT where a unit was not read)."""
        self.line_times(np.arange(row0, row1))
        if not self._pixel_blocks:
            return None
        out = np.full((row1 - row0, col1 - col0), NAT, dtype="datetime64[ns]")
        for r0, c0, block in self._pixel_blocks.values():
            a, b = max(row0, r0), min(row1, r0 + block.shape[0])
            ca, cb = max(col0, c0), min(col1, c0 + block.shape[1])
            if a < b and ca < cb:
                out[a - row0:b - row0, ca - col0:cb - col0] = block[a - r0:b - r0, ca - c0:cb - c0]
        return out

    # --- file access ---------------------------------------------------------------------------------
    def _unit(self, path: str, keep: bool) -> UnitSource:
        unit = self._units.get(path)
        if unit is None:
            unit = self.opener.open(path, self._sizes.get(path))
            if keep and not isinstance(unit, LocalUnit):
                self._units[path] = unit
        return unit

    def _product_input(self, unit: UnitSource) -> str | Path | UnitSource:
        """What the product reads: the path of a local file, else the source or a local copy of it."""
        if isinstance(unit, LocalUnit):
            return str(unit.path)
        local = unit.local_path()
        if local is not None:
            return local
        if self.product.reads_unit_sources:
            return unit
        return self._local_copy(unit)

    def _local_copy(self, unit: UnitSource) -> Path:
        """A product that reads only files gets the object copied into the slot's scratch folder."""
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="cloudbench-slot-"))
            weakref.finalize(self, shutil.rmtree, str(self._scratch), True)
        path = self._scratch / unit.name
        if not path.exists():
            data = unit.read_all()
            tmp = path.with_name(".tmp-" + path.name)
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return path

    def _header(self, path: str, band: str):
        return self.product.read_header(self._product_input(self._unit(path, keep=band == self._ref_band)), band)

    def _fetch(self, path: str, band: str) -> tuple[UnitSource, str | Path | UnitSource]:
        """Open a unit and bring its bytes into memory (or onto local disk) before it is decoded."""
        unit = self._unit(path, keep=False)
        given = self._product_input(unit)
        if isinstance(given, UnitSource):
            given.read_all()
        return unit, given

    def _decode(self, path: str, band: str, fetched: tuple | None = None) -> UnitData:
        unit, given = fetched or self._fetch(path, band)
        data = self.product.decode(given, band)
        if not isinstance(unit, LocalUnit):
            self._sha256[path] = unit.sha256()
        return data

    def sha256(self, path: str) -> str:
        """Hex SHA-256 of one of the slot's files (from the bytes already read for a remote one)."""
        known = self._sha256.get(path)
        if known is not None:
            return known
        unit = self._unit(path, keep=False)
        return unit.sha256() if not isinstance(unit, LocalUnit) else sha256_file(unit.path)

    # --- band values --------------------------------------------------------------------------------
    def _decoded(self, jobs: list[tuple[str, int, str]]) -> Iterator[tuple[str, int, str, UnitData]]:
        """Decode (band, unit, path) jobs, up to ``decode_threads`` at once, yielding each as it is ready.

        bz2 releases the GIL, so threads decode units in parallel where the product allows it; a
        product whose decoder is not thread-safe still has its next units fetched by the threads
        while the current one decodes. The units of the finest bands go first and results come in
        the order they finish, so no thread idles behind a large unit at the head of the queue or at
        the end of the slot (both callers write each unit to its own place, so order is free). At
        most ``decode_threads`` + 1 units (fetched bytes or decoded values) are held at a time:
        memory stays bounded by the worker's threads.
        """
        parallel = self.product.decode_in_threads
        remote = any(is_remote(p) for _, _, p in jobs)
        if self.decode_threads <= 1 or len(jobs) <= 1 or not (parallel or remote):
            for band, unit, path in jobs:
                yield band, unit, path, self._decode(path, band)
            return

        def work(job: tuple[str, int, str]):
            band, _, path = job
            return self._decode(path, band) if parallel else self._fetch(path, band)

        largest_first = sorted(jobs, key=lambda job: -self.product.factor(job[0]))
        with ThreadPoolExecutor(max_workers=self.decode_threads, thread_name_prefix="decode") as pool:
            queue = iter(largest_first)
            running = {pool.submit(work, job): job for job in itertools.islice(queue, self.decode_threads)}
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                while finished:  # popped, so a consumed unit is not kept alive by the set
                    fut = finished.pop()
                    band, unit, path = running.pop(fut)
                    done = fut.result()
                    del fut
                    nxt = next(queue, None)  # keep every thread busy while this unit is consumed
                    if nxt is not None:
                        running[pool.submit(work, nxt)] = nxt
                    data = done if parallel else self._decode(path, band, done)
                    del done
                    yield band, unit, path, data
                    del data

    def fill_patches(self, corners: list[tuple[int, int]], p: int, out: np.ndarray) -> None:
        """Write each patch's bands (sample grid, block-averaged) into ``out[k]`` for corners (row0, col0)."""
        if not corners:
            return
        used: set[str] = set()
        jobs = []
        for band in self.band_names:
            units: set[int] = set()
            for r0, _ in corners:
                units |= self.product.units_for_rows(self.geometry, r0, r0 + p)
            for unit in sorted(units):
                path = self._files[band].get(unit)
                if path is not None:
                    jobs.append((band, unit, path))
        index = {b: i for i, b in enumerate(self.band_names)}
        for band, _unit, path, data in self._decoded(jobs):
            used.add(path)
            f = self.product.factor(band)
            i = index[band]
            lo, c_lo = data.row0 // f, data.col0 // f
            hi, c_hi = lo + data.values.shape[0] // f, c_lo + data.values.shape[1] // f
            for k, (r0, c0) in enumerate(corners):
                a, b = max(r0, lo), min(r0 + p, hi)
                ca, cb = max(c0, c_lo), min(c0 + p, c_hi)
                if a >= b or ca >= cb:
                    continue
                native = data.values[(a - lo) * f:(b - lo) * f, (ca - c_lo) * f:(cb - c_lo) * f]
                out[k, i, a - r0:b - r0, ca - c0:cb - c0] = block_mean(native, f)
        self.files_used = sorted(used)

    def extent(self) -> tuple[int, int, int, int]:
        """(row0, row1, col0, col1) of the grid the files cover: the full disk, or a sub-area file's box."""
        if all(i.full_disk for i in self.infos):
            return 0, self.area.height, 0, self.area.width
        f = self.product.factor(self._ref_band)
        h = self._ref_header
        return h.row0 // f, (h.row0 + h.n_rows) // f, h.col0 // f, (h.col0 + h.n_cols) // f

    def read_rows(self, row0: int, row1: int) -> dict[str, Any]:
        """Every band on grid rows [row0, row1) of the covered extent: values, line times, used files."""
        e_r0, e_r1, c0, c1 = self.extent()
        r0, r1 = max(row0, e_r0), min(row1, e_r1)
        if r1 <= r0:
            raise UserError(f"rows {row0}..{row1} miss this slot's lines {e_r0}..{e_r1}", path=self.files[0])
        values = {b: np.full((r1 - r0, c1 - c0), np.nan, np.float32) for b in self.band_names}
        self.fill_patches_rect(r0, r1, c0, c1, values)
        times = self.line_times(np.arange(r0, r1))[r0:r1].copy()
        got = {"rows": (r0, r1), "cols": (c0, c1), "values": values, "line_time": times}
        pixel = self.pixel_times(r0, r1, c0, c1)
        if pixel is not None:
            got["pixel_time"] = pixel
        return got

    def fill_patches_rect(self, r0: int, r1: int, c0: int, c1: int, values: dict[str, np.ndarray]) -> None:
        """Fill whole-row rectangles of every band (``read_rows``); missing units stay NaN."""
        used: set[str] = set()
        jobs = []
        units = self.product.units_for_rows(self.geometry, r0, r1) if self.infos[0].full_disk else {
            i.unit for i in self.infos}
        for band in self.band_names:
            for unit in sorted(units):
                path = self._files[band].get(unit)
                if path is not None:
                    jobs.append((band, unit, path))
        for band, _unit, path, data in self._decoded(jobs):
            used.add(path)
            f = self.product.factor(band)
            lo, c_lo = data.row0 // f, data.col0 // f
            hi, c_hi = lo + data.values.shape[0] // f, c_lo + data.values.shape[1] // f
            a, b = max(r0, lo), min(r1, hi)
            ca, cb = max(c0, c_lo), min(c1, c_hi)
            if a >= b or ca >= cb:
                continue
            native = data.values[(a - lo) * f:(b - lo) * f, (ca - c_lo) * f:(cb - c_lo) * f]
            values[band][a - r0:b - r0, ca - c0:cb - c0] = block_mean(native, f)
        self.files_used = sorted(used)


def open_slot(files: Sequence[str | Path], bands: Sequence[str] | None = None, **kwargs: Any) -> SlotAccess:
    """A :class:`SlotAccess` for files of any registered imager product (found by the first name)."""
    from cloudbench.sensors.registry import parse_imager_file

    if not files:
        raise UserError("an imager slot needs at least one file")
    found = parse_imager_file(Path(files[0]).name)
    if found is None:
        from cloudbench.sensors.registry import imager_products

        names = "; ".join(p.description for p in imager_products().values())
        raise UserError(f"not an imager file name of any registered product ({names})", path=files[0])
    return SlotAccess(found[0], files, bands, **kwargs)


__all__ = ["SlotAccess", "block_mean", "default_decode_threads", "iso_utc", "mean_line_times", "mean_pixel_times",
           "open_slot", "row_means", "value_stats"]
