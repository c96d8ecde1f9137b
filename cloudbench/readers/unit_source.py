"""One imager file (a unit: a segment, a chunk, a band file) wherever it lies: a local path, or an
object read in place from a bucket or any fsspec URL.

Products that can decode from memory (AHI: bz2 decompresses bytes; ABI: netCDF4 opens a buffer)
take a :class:`UnitSource`; the others get a local file (see ``SlotAccess``). A remote unit is
fetched with ranged reads that never overlap: a header read fetches a prefix (growing until the
header is complete), a later full read fetches only the rest, so each byte of an object crosses the
network at most once however the job uses it. With a cache folder, whole objects are kept on local
disk under their archive path and later jobs on the same machine read them from there.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from cloudbench.checksums import sha256_file

FIRST_FETCH_BYTES = 256 << 10  # a header read's first range: an HSD header plus its first bz2 block, mostly


class UnitSource:
    """What a product's ``read_header``/``decode`` may be given instead of a path.

    Attributes:
        name: the file name (no folders): products parse it.
        location: the path or URL, for messages.
    """

    name: str
    location: str

    def open(self) -> BinaryIO:
        """A binary reader from the first byte (what a header read streams)."""
        raise NotImplementedError

    def read_all(self) -> bytes:
        """Every byte of the file."""
        raise NotImplementedError

    def local_path(self) -> Path | None:
        """A local file with the same bytes, when there is one (ARCHIVE/ or the cache folder)."""
        return None

    def sha256(self) -> str:
        """Hex SHA-256 of the file (computed from bytes already read where possible)."""
        raise NotImplementedError

    def __str__(self) -> str:  # messages name the file where it lies
        return self.location


class LocalUnit(UnitSource):
    """A file on local disk."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.name = self.path.name
        self.location = str(self.path)

    def open(self) -> BinaryIO:
        return open(self.path, "rb")

    def read_all(self) -> bytes:
        return self.path.read_bytes()

    def local_path(self) -> Path:
        return self.path

    def sha256(self) -> str:
        return sha256_file(self.path)


@dataclass
class FetchStats:
    """Requests and bytes fetched by remote units of one process (benchmarks and tests read it)."""

    requests: int = 0
    bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, nbytes: int) -> None:
        with self.lock:
            self.requests += 1
            self.bytes += nbytes


FETCHED = FetchStats()


class RemoteUnit(UnitSource):
    """An object in a store, fetched by non-overlapping ranges and kept in memory while referenced.

    Args:
        fs: the fsspec filesystem holding it.
        path: its path in ``fs``.
        url: its URL (messages, the PAIRS tables keep only the name).
        size: its size when the listing gave it (saves a request).
        cache_file: where to keep the whole object on local disk once fetched (None: memory only).
    """

    def __init__(self, fs, path: str, url: str, size: int | None = None, cache_file: Path | None = None):
        self.fs, self.path, self.location = fs, path, url
        self.name = posixpath.basename(path)
        self._size = size
        self._buf = bytearray()
        self._full: bytes | None = None
        self._sha256: str | None = None
        self.cache_file = cache_file
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        if self._size is None:
            self._size = int(self.fs.size(self.path))
        return self._size

    def _cached(self) -> Path | None:
        c = self.cache_file
        return c if c is not None and c.is_file() and c.stat().st_size == self.size else None

    def local_path(self) -> Path | None:
        return self._cached()

    def _fetch_to(self, end: int) -> None:
        """Extend the bytes held to ``[0, end)`` (one ranged read of what is missing)."""
        end = min(end, self.size)
        start = len(self._buf)
        if end <= start:
            return
        data = self.fs.cat_file(self.path, start=start, end=end)
        if len(data) != end - start:
            raise OSError(f"{self.location}: asked for bytes {start}..{end}, got {len(data)}")
        FETCHED.add(len(data))
        self._buf += data

    def read_range(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``; anything not held yet is fetched, growing the held prefix."""
        cached = self._cached()
        if cached is not None:
            with open(cached, "rb") as fh:
                fh.seek(start)
                return fh.read(max(0, end - start))
        with self._lock:
            if self._full is not None:
                return self._full[start:end]
            if end > len(self._buf):  # grow by at least the bytes held so far: few requests per header
                self._fetch_to(max(end, 2 * len(self._buf), FIRST_FETCH_BYTES))
            return bytes(self._buf[start:end])

    def open(self) -> BinaryIO:
        cached = self._cached()
        if cached is not None:
            return open(cached, "rb")
        return _RangeReader(self)

    def read_all(self) -> bytes:
        cached = self._cached()
        if cached is not None:
            data = cached.read_bytes()
            self._sha256 = self._sha256 or hashlib.sha256(data).hexdigest()
            return data
        with self._lock:
            if self._full is None:
                self._fetch_to(self.size)
                self._full = bytes(self._buf)
                self._buf = bytearray()
                self._sha256 = hashlib.sha256(self._full).hexdigest()
                if self.cache_file is not None:
                    _write_atomic(self.cache_file, self._full)
            return self._full

    def release(self) -> None:
        """Drop the bytes held (the hash of a fully read object is kept)."""
        with self._lock:
            self._full, self._buf = None, bytearray()

    def sha256(self) -> str:
        if self._sha256 is None:
            self.read_all()
        assert self._sha256 is not None
        return self._sha256


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{threading.get_ident()}-{path.name}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class _RangeReader(io.RawIOBase):
    """A sequential, seekable reader over a :class:`RemoteUnit` (what ``bz2.open`` streams a header from)."""

    def __init__(self, unit: RemoteUnit):
        self.unit = unit
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.unit.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, b) -> int:
        n = min(len(b), max(0, self.unit.size - self.pos))
        if n == 0:
            return 0
        data = self.unit.read_range(self.pos, self.pos + n)
        b[: len(data)] = data
        self.pos += len(data)
        return len(data)


def as_unit(source: str | Path | UnitSource) -> UnitSource:
    """A :class:`UnitSource` for what a product was given (a path becomes a :class:`LocalUnit`)."""
    return source if isinstance(source, UnitSource) else LocalUnit(source)


@dataclass(frozen=True)
class UnitOpener:
    """Turns the file locations a job holds (paths or URLs) into unit sources, in any process.

    Args:
        filesystem: ``url -> (fs, path)`` for URLs (default: fsspec with its configuration); must
            be picklable (a module-level function or a dataclass), as openers travel to dask workers.
        cache_dir: local folder that keeps fetched objects (None: memory only).
        cache_key: ``url -> relative path`` under ``cache_dir`` (default: the URL without its scheme).
    """

    filesystem: Callable[[str], tuple[Any, str]] | None = None
    cache_dir: str | None = None
    cache_key: Callable[[str], str] | None = None

    def open(self, location: str | Path, size: int | None = None) -> UnitSource:
        text = str(location)
        from cloudbench.storage import is_remote, local_path

        if not is_remote(text):
            return LocalUnit(local_path(text))
        fs, path = (self.filesystem or default_filesystem)(text)
        cache = None
        if self.cache_dir:
            key = self.cache_key(text) if self.cache_key else text.split("://", 1)[1]
            cache = Path(self.cache_dir) / key
        return RemoteUnit(fs, path, text, size=size, cache_file=cache)


def default_filesystem(url: str) -> tuple[Any, str]:
    """fsspec's filesystem for ``url`` (with fsspec's configuration; instances are cached by fsspec)."""
    import fsspec

    fs = fsspec.filesystem(url.split("://", 1)[0])
    return fs, fs._strip_protocol(url)


__all__ = ["FETCHED", "FetchStats", "LocalUnit", "RemoteUnit", "UnitOpener", "UnitSource", "as_unit",
           "default_filesystem"]
