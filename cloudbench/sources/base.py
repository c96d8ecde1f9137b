"""What every archive looks like to the downloader: items with a size and a checksum, and a byte stream.

Each archive (ASDC via CMR, the CloudSat DPC over SFTP, NOAA's buckets, any fsspec mirror) answers
two questions behind one small interface: what exists for a time span and region (``list``), and the
bytes of one item from an offset on (``open_stream``). The fetcher, ledger and planner only see this
interface, so resuming, verifying and retrying are written once for all archives.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import datetime

from cloudbench.config import Region

CHUNK_BYTES = 1 << 20  # streaming unit: large enough for throughput, small enough to resume cheaply


@dataclass(frozen=True)
class Item:
    """One remote file and where it goes in ARCHIVE/.

    ``checksum`` is ``"algo:hexvalue"`` (``md5``, ``sha256``, ``sha1``...) when the archive gives one,
    else None: then only the size is verified and the ledger keeps the sha256 computed on arrival.
    """

    relpath: str  # path under ARCHIVE/, in the archive layout of dataset-spec.md
    url: str  # where the bytes come from (for the ledger and error messages)
    size: int | None
    checksum: str | None
    source: str  # catalog name: "earthdata", "cloudsat-dpc", "noaa-s3", "fsspec"
    time: datetime | None = None  # nominal start time of the product, when the name gives it

    @property
    def name(self) -> str:
        return self.relpath.rsplit("/", 1)[-1]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["time"] = None if self.time is None else self.time.isoformat()
        return d


class TransientError(OSError):
    """A failure worth retrying: timeout, dropped connection, server error (5xx)."""


class NotFoundError(FileNotFoundError):
    """The archive does not have the item (never retried)."""


class ByteStream(AbstractContextManager):
    """Bytes of one item from ``offset`` on; ``offset_honoured`` False means the source restarted at 0.

    Archives that cannot serve a range (an HTTP server answering 200 to a Range request) say so here,
    and the fetcher then starts the partial file over instead of appending a second copy.
    """

    def __init__(self, chunks: Iterator[bytes], offset_honoured: bool, close=None):
        self._chunks = chunks
        self.offset_honoured = offset_honoured
        self._close = close

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def __exit__(self, *exc) -> None:
        if self._close is not None:
            self._close()


class Catalog(abc.ABC):
    """One archive of one product: lists items and streams their bytes."""

    name: str = "catalog"

    @abc.abstractmethod
    def list(self, start: datetime, end: datetime, region: Region | None = None) -> list[Item]:
        """Items whose data fall in [start, end) (and the region, where the archive can tell)."""

    @abc.abstractmethod
    def open_stream(self, item: Item, offset: int = 0) -> ByteStream:
        """Stream the bytes of ``item`` from ``offset`` on.

        Raises:
            TransientError: worth a retry (timeouts, dropped connections, 5xx).
            NotFoundError: the item is gone.
            cloudbench.errors.CredentialsError: credentials missing or refused.
        """

    def close(self) -> None:  # noqa: B027 - optional hook; most catalogs hold nothing to release
        """Release connections (SFTP sessions, HTTP pools)."""


def parse_checksum(algorithm: str | None, value: str | None) -> str | None:
    """Normalise an archive's checksum declaration to ``algo:hex`` (``SHA-256`` -> ``sha256``)."""
    if not algorithm or not value:
        return None
    algo = algorithm.strip().lower().replace("-", "").replace("_", "")
    if algo not in {"md5", "sha1", "sha256", "sha512"}:
        return None
    return f"{algo}:{value.strip().lower()}"


def etag_checksum(etag: str | None) -> str | None:
    """An S3 ETag is the md5 of the object only for single-part uploads (no ``-N`` suffix)."""
    if not etag:
        return None
    value = etag.strip().strip('"').lower()
    if "-" in value or len(value) != 32:
        return None
    return f"md5:{value}"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for transient failures: ``base_s * 2**attempt``, capped at ``max_s``."""

    attempts: int = 5
    base_s: float = 1.0
    max_s: float = 30.0

    def delay(self, attempt: int) -> float:
        return min(self.max_s, self.base_s * (2**attempt))


def retry_call(fn, policy: RetryPolicy, what: str):
    """Call ``fn()`` until it does not raise TransientError, sleeping with backoff in between."""
    import time

    for attempt in range(policy.attempts):
        try:
            return fn()
        except TransientError:
            if attempt == policy.attempts - 1:
                raise
            time.sleep(policy.delay(attempt))
    raise AssertionError(f"unreachable: {what}")  # pragma: no cover
