"""The fetcher: parallel, resumable, verified downloads into ARCHIVE/, recorded in the ledger.

A file reaches its final path only after its size and checksum were verified: bytes stream to
``<name>.part``, which a later attempt (or a later run, after a kill) resumes from its last byte
where the archive serves ranges. Transient failures (timeouts, dropped connections, 5xx) are retried
with exponential backoff; a checksum mismatch restarts the file from zero, then is reported. Refused
credentials stop the whole run: retrying them would only lock the user's account.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from cloudbench.errors import CredentialsError
from cloudbench.progress import progress_bar
from cloudbench.sources.base import CHUNK_BYTES, Catalog, Item, NotFoundError, RetryPolicy, TransientError
from cloudbench.sources.ledger import Ledger

log = logging.getLogger(__name__)

PART_SUFFIX = ".part"
CHECKSUM_ATTEMPTS = 3  # a mismatch is re-fetched from zero this many times in all before it is reported
READ_AHEAD_BYTES = 16 * CHUNK_BYTES  # per transfer: bytes received ahead of writing and hashing


class ChecksumMismatch(Exception):
    """The bytes arrived complete but do not match the archive's size or checksum."""


@dataclass
class FetchFailure:
    relpath: str
    url: str
    reason: str

    def to_dict(self) -> dict:
        return {"path": self.relpath, "url": self.url, "reason": self.reason}


@dataclass
class FetchReport:
    """What a fetch run did; ``failed`` lists files that could not be had, with the reason."""

    fetched: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)  # already in the ledger, not fetched again
    failed: list[FetchFailure] = field(default_factory=list)
    bytes_fetched: int = 0
    seconds: float = 0.0
    retries: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


class _Hashes:
    """The archive's checksum algorithm (if any) and sha256, fed the same bytes."""

    def __init__(self, checksum: str | None):
        self.algo = checksum.split(":", 1)[0] if checksum else None
        self.sha256 = hashlib.sha256()
        self.archive = hashlib.new(self.algo) if self.algo and self.algo != "sha256" else None

    def update(self, data: bytes) -> None:
        self.sha256.update(data)
        if self.archive is not None:
            self.archive.update(data)

    def archive_value(self) -> str | None:
        if self.algo is None:
            return None
        h = self.sha256 if self.archive is None else self.archive
        return f"{self.algo}:{h.hexdigest()}"


def read_ahead(chunks: Iterable[bytes], max_bytes: int = READ_AHEAD_BYTES) -> Iterator[bytes]:
    """The chunks, received by a helper thread up to ``max_bytes`` ahead of the consumer.

    Verifying a file costs two hashes per byte; done between reads, the connection idles while they
    run (and an object store's next ranged GET waits for them). Receiving in a thread of its own keeps
    the bytes flowing while the consumer writes and hashes. Errors of the stream are raised here, in
    the consumer, in order; stopping early (an error while writing, Ctrl-C) stops the helper too.
    """
    slots: queue.Queue = queue.Queue(maxsize=max(1, max_bytes // CHUNK_BYTES))
    stop = threading.Event()
    done = object()

    def receive() -> None:
        try:
            for data in chunks:
                while not stop.is_set():
                    try:
                        slots.put(data, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            item: object = done
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            item = exc
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    helper = threading.Thread(target=receive, name="fetch-read-ahead", daemon=True)
    helper.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        helper.join(timeout=60)


def hash_file(path: Path, checksum: str | None) -> _Hashes:
    hashes = _Hashes(checksum)
    with path.open("rb") as f:
        while data := f.read(1 << 20):
            hashes.update(data)
    return hashes


class Fetcher:
    """Downloads items into ``archive`` with a bounded pool of ``workers`` threads.

    Args:
        archive: ARCHIVE/ folder; files go to ``archive/item.relpath``.
        workers: parallel downloads (the pool is bounded: memory and sockets stay fixed).
        retry: backoff for transient failures, per file.
        progress: show a byte progress bar with rate and ETA (on stderr) where a terminal shows it;
            otherwise, and when False, one line per fetch (``cloudbench.progress``).
    """

    def __init__(self, archive: str | Path, *, workers: int = 8, retry: RetryPolicy | None = None, progress: bool = False):
        self.archive = Path(archive)
        self.workers = max(1, int(workers))
        self.retry = retry or RetryPolicy()
        self.progress = progress
        self.ledger = Ledger(self.archive)
        self._bar = None
        self._lock = threading.Lock()

    # --- one file -------------------------------------------------------------------------------
    def _verified(self, item: Item, size: int, hashes: _Hashes) -> str | None:
        """None if the bytes match the item, else the reason."""
        if item.size is not None and size != item.size:
            return f"size {size} bytes, the archive says {item.size}"
        if item.checksum is not None and hashes.archive_value() != item.checksum.lower():
            return f"checksum {hashes.archive_value()} does not match the archive's {item.checksum}"
        return None

    def _adopt_existing(self, item: Item, final: Path) -> bool:
        """A file at the final path without a ledger line (killed between rename and record)."""
        hashes = hash_file(final, item.checksum)
        if self._verified(item, final.stat().st_size, hashes) is None:
            self.ledger.record(path=item.relpath, source=item.url, catalog=item.source, size=final.stat().st_size,
                               checksum=item.checksum, sha256=hashes.sha256.hexdigest())
            return True
        final.unlink()
        return False

    def _tick(self, n: int) -> None:
        if self._bar is not None and n:
            self._bar.update(n)

    def _attempt(self, item: Item, catalog: Catalog, part: Path) -> tuple[int, _Hashes]:
        """Stream the rest of the item into ``part``; returns (size, hashes of the whole part)."""
        offset = part.stat().st_size if part.exists() else 0
        if item.size is not None and offset > item.size:
            part.unlink()
            offset = 0
        hashes = hash_file(part, item.checksum) if offset else _Hashes(item.checksum)
        with catalog.open_stream(item, offset) as stream:
            if offset and not stream.offset_honoured:
                log.info("%s: the archive ignored the range request; starting over", item.url)
                self._tick(-offset)
                offset = 0
                hashes = _Hashes(item.checksum)
            part.parent.mkdir(parents=True, exist_ok=True)
            with part.open("r+b" if offset else "wb") as f:
                f.seek(offset)
                f.truncate()
                size = offset
                for data in read_ahead(stream):
                    f.write(data)
                    hashes.update(data)
                    size += len(data)
                    self._tick(len(data))
                f.flush()
                os.fsync(f.fileno())
        if item.size is not None and size < item.size:
            raise TransientError(f"{item.url}: stream ended at byte {size} of {item.size}")
        return size, hashes

    def fetch_one(self, item: Item, catalog: Catalog, report: FetchReport) -> None:
        final = self.archive / item.relpath
        entry = self.ledger.get(item.relpath)
        if entry is not None and final.exists() and final.stat().st_size == entry.size:
            with self._lock:
                report.present.append(item.relpath)
            self._tick(item.size or 0)
            return
        if final.exists() and entry is None and self._adopt_existing(item, final):
            with self._lock:
                report.present.append(item.relpath)
            self._tick(item.size or 0)
            return
        part = final.with_name(final.name + PART_SUFFIX)
        transient = 0
        mismatches = 0
        while True:
            try:
                size, hashes = self._attempt(item, catalog, part)
                reason = self._verified(item, size, hashes)
                if reason is not None:
                    raise ChecksumMismatch(reason)
            except TransientError as exc:
                transient += 1
                with self._lock:
                    report.retries += 1
                if transient >= self.retry.attempts:
                    self._fail(report, item, f"gave up after {transient} attempts: {exc}")
                    return
                delay = self.retry.delay(transient - 1)
                log.info("%s: %s; retrying in %.1f s", item.relpath, exc, delay)
                time.sleep(delay)
                continue
            except ChecksumMismatch as exc:
                mismatches += 1
                self._tick(-(part.stat().st_size if part.exists() else 0))
                part.unlink(missing_ok=True)
                if mismatches >= CHECKSUM_ATTEMPTS:
                    self._fail(report, item, f"verification failed {mismatches} times: {exc}")
                    return
                with self._lock:
                    report.retries += 1
                log.warning("%s: %s; fetching again", item.relpath, exc)
                continue
            except NotFoundError as exc:
                self._fail(report, item, f"not found: {exc}")
                return
            except CredentialsError:
                raise
            except OSError as exc:
                self._fail(report, item, f"{type(exc).__name__}: {exc}")
                return
            break
        os.replace(part, final)
        self.ledger.record(path=item.relpath, source=item.url, catalog=item.source, size=size,
                           checksum=item.checksum, sha256=hashes.sha256.hexdigest())
        with self._lock:
            report.fetched.append(item.relpath)
            report.bytes_fetched += size

    def _fail(self, report: FetchReport, item: Item, reason: str) -> None:
        log.warning("%s: %s", item.relpath, reason)
        with self._lock:
            report.failed.append(FetchFailure(item.relpath, item.url, reason))

    # --- many files -----------------------------------------------------------------------------
    def fetch(self, jobs: list[tuple[Item, Catalog]], *, desc: str = "download") -> FetchReport:
        """Fetch every item (each once, whatever the duplicates) and report what happened.

        Raises:
            CredentialsError: an archive refused the credentials; the run stops at once.
        """
        unique: dict[str, tuple[Item, Catalog]] = {}
        for item, catalog in jobs:
            unique.setdefault(item.relpath, (item, catalog))
        report = FetchReport()
        t0 = time.perf_counter()
        total = sum(i.size or 0 for i, _ in unique.values())
        self._bar = progress_bar(total, desc, "B", enabled=self.progress, unit_scale=True, unit_divisor=1024,
                                 leave=True)
        try:
            with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="fetch") as pool:
                futures = [pool.submit(self.fetch_one, item, cat, report) for item, cat in unique.values()]
                done, pending = wait(futures, return_when=FIRST_EXCEPTION)
                for fut in done:
                    exc = fut.exception()
                    if exc is not None:
                        for p in pending:
                            p.cancel()
                        raise exc
        finally:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
        report.seconds = time.perf_counter() - t0
        report.fetched.sort()
        report.present.sort()
        report.failed.sort(key=lambda f: f.relpath)
        return report
