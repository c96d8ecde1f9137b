"""Archives that are folders: any fsspec root mirroring the archive layout, and the catalog over them.

A store maps an ARCHIVE/ relative path to a remote one and lists folders with sizes (and checksums
where the listing has them). NOAA's buckets (``noaa.py``) and the CloudSat DPC (``cloudsat_dpc.py``)
are stores with their own path mapping; ``--source-root`` is a plain store whose layout is ARCHIVE/'s.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import fsspec
from fsspec.asyn import AsyncFileSystem, sync

from cloudbench.config import Region
from cloudbench.sources.base import (
    CHUNK_BYTES,
    ByteStream,
    Catalog,
    Item,
    NotFoundError,
    TransientError,
    etag_checksum,
    parse_checksum,
)
from cloudbench.sources.layouts import Layout

log = logging.getLogger(__name__)

READ_BLOCK_BYTES = 16 * CHUNK_BYTES
LIST_WORKERS = 8  # folders listed at once: each listing is a round trip to the archive


@dataclass(frozen=True)
class Entry:
    """One file of a folder listing."""

    relpath: str
    size: int | None
    checksum: str | None


class Store:
    """A folder tree holding files at ARCHIVE/-relative paths."""

    source = "store"

    def url(self, relpath: str) -> str:
        raise NotImplementedError

    def list_dir(self, reldir: str) -> list[Entry]:
        """Files directly in ``reldir``; an absent folder is empty (archives have gaps)."""
        raise NotImplementedError

    def open_stream(self, relpath: str, offset: int = 0) -> ByteStream:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _checksum_from_info(info: dict) -> str | None:
    for key in ("ETag", "etag", "e_tag"):
        if info.get(key):
            return etag_checksum(str(info[key]))
    for algo in ("sha256", "md5"):
        if info.get(algo):
            return parse_checksum(algo, str(info[algo]))
    return None


def _read_chunks(f, chunk: int) -> Iterator[bytes]:
    while True:
        try:
            data = f.read(chunk)
        except FileNotFoundError as exc:
            raise NotFoundError(str(exc)) from exc
        except PermissionError:
            raise  # access denied: retrying cannot help
        except (OSError, TimeoutError, ConnectionError) as exc:
            raise TransientError(f"read failed: {exc}") from exc
        if not data:
            return
        yield data


class FsspecStore(Store):
    """Files under ``root`` of any fsspec filesystem, at ``root/<prefix mapping>(relpath)``."""

    source = "fsspec"

    def __init__(self, root: str, *, storage_options: dict | None = None, fs=None, owns_fs: bool = False):
        if fs is None:
            fs, path = fsspec.core.url_to_fs(root, **(storage_options or {}))
        else:
            path = root
        self.fs = fs
        self.root = path.rstrip("/")
        self.root_url = root.rstrip("/")
        self.owns_fs = owns_fs

    def close(self) -> None:
        """Close the connections of a filesystem this store made for itself (shared ones stay open)."""
        if self.owns_fs:
            close_connections(self.fs)

    def remote_path(self, relpath: str) -> str:
        return posixpath.join(self.root, relpath) if self.root else relpath

    def url(self, relpath: str) -> str:
        return posixpath.join(self.root_url, relpath)

    def list_dir(self, reldir: str) -> list[Entry]:
        path = self.remote_path(reldir)
        try:
            infos = self.fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        except (OSError, TimeoutError, ConnectionError) as exc:
            raise TransientError(f"listing {self.url(reldir)} failed: {exc}") from exc
        out = []
        for info in infos:
            if info.get("type") != "file":
                continue
            name = posixpath.basename(info["name"].rstrip("/"))
            out.append(Entry(f"{reldir}/{name}", info.get("size"), _checksum_from_info(info)))
        return out

    def open_stream(self, relpath: str, offset: int = 0) -> ByteStream:
        path = self.remote_path(relpath)
        if offset == 0 and _streams(self.fs):
            return self._open_streamed(path, relpath)
        try:
            # Object stores answer one ranged GET per block: a block of many chunks keeps requests
            # few for large objects, while the fetcher still writes (and can resume) chunk by chunk.
            f = self.fs.open(path, "rb", block_size=READ_BLOCK_BYTES)
            if offset:
                f.seek(offset)
        except FileNotFoundError as exc:
            raise NotFoundError(f"{self.url(relpath)} not found") from exc
        except PermissionError:
            raise  # access denied: retrying cannot help
        except (OSError, TimeoutError, ConnectionError) as exc:
            raise TransientError(f"open {self.url(relpath)} failed: {exc}") from exc
        return ByteStream(_read_chunks(f, CHUNK_BYTES), offset_honoured=True, close=f.close)


    def _open_streamed(self, path: str, relpath: str) -> ByteStream:
        """The whole object in one request (an object store's GET), read as it arrives.

        Ranged block reads cost one request, and one round trip, per block; a whole-file download
        needs only one, and memory stays at a chunk. Resumes (offset > 0) take the block reader,
        which seeks.
        """
        fs = self.fs
        url = self.url(relpath)
        try:
            f = sync(fs.loop, fs.open_async, path, "rb")
        except FileNotFoundError as exc:
            raise NotFoundError(f"{url} not found") from exc
        except PermissionError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to open is worth a retry
            raise TransientError(f"open {url} failed: {exc}") from exc

        async def next_chunk() -> bytes:
            parts, n = [], 0
            while n < CHUNK_BYTES:
                data = await f.read(CHUNK_BYTES - n)
                if not data:
                    break
                parts.append(data)
                n += len(data)
            return b"".join(parts)

        def chunks() -> Iterator[bytes]:
            while True:
                try:
                    data = sync(fs.loop, next_chunk)
                except FileNotFoundError as exc:
                    raise NotFoundError(f"{url} not found") from exc
                except PermissionError:
                    raise
                except Exception as exc:  # noqa: BLE001 - dropped connections surface as client errors
                    raise TransientError(f"{url}: read failed: {exc}") from exc
                if not data:
                    return
                yield data

        async def release() -> None:
            body = getattr(f, "r", None)  # the response, when a read was cut short: give its connection back
            if body is not None and hasattr(body, "close"):
                body.close()

        def close() -> None:
            try:
                sync(fs.loop, release)
            except Exception:  # noqa: BLE001 - closing a broken response may fail any way
                pass

        return ByteStream(chunks(), offset_honoured=True, close=close)


def close_connections(fs) -> None:
    """Close an async filesystem's HTTP session now, on the filesystem's own event loop.

    s3fs otherwise closes it when the filesystem is garbage collected, from whichever thread collects
    it; when that thread runs an event loop of its own (zarr's, during collocation), the close is
    scheduled on that loop and fails there ("attached to a different loop", a traceback on stderr).
    The filesystem stays usable: the next call opens a new session.
    """
    creator, loop = getattr(fs, "_s3creator", None), getattr(fs, "loop", None)
    if creator is None or loop is None or not loop.is_running():
        return
    try:
        sync(loop, creator.__aexit__, None, None, None)
    except Exception as exc:  # noqa: BLE001 - a session that cannot close cleanly is closed enough
        log.debug("closing the connections of %s: %s", type(fs).__name__, exc)
    fs._s3 = fs._s3creator = None


def _streams(fs) -> bool:
    """Whether the filesystem streams a whole file in one request (async ones that implement ``open_async``)."""
    return isinstance(fs, AsyncFileSystem) and type(fs).open_async is not AsyncFileSystem.open_async


class DirectoryCatalog(Catalog):
    """A product's files found by listing the layout's folders in a store.

    Folder archives cannot filter by region (the name carries only time); the planner reads the
    tracks and the imager geometry to narrow further.
    """

    def __init__(self, layout: Layout, store: Store):
        self.layout = layout
        self.store = store
        self.name = store.source

    def _items(self, entries: list[Entry], start: datetime | None, end: datetime | None) -> list[Item]:
        items = []
        for e in entries:
            name = e.relpath.rsplit("/", 1)[-1]
            info = self.layout.parse(name)
            if info is None:
                continue
            if start is not None and end is not None and not self.layout.overlaps(info, start, end):
                continue
            items.append(Item(e.relpath, self.store.url(e.relpath), e.size, e.checksum, self.store.source, info.time))
        return items

    def list_dir(self, reldir: str) -> list[Item]:
        """Every product file of one folder (a slot or an hour), whatever its time."""
        return self._items(self.store.list_dir(reldir), None, None)

    def list_dirs(self, reldirs: Sequence[str], workers: int = LIST_WORKERS) -> dict[str, list[Item]]:
        """:meth:`list_dir` of each folder, ``workers`` at a time (a day of slots is dozens of round trips)."""
        return {d: self._items(entries, None, None) for d, entries in self._entries(reldirs, workers).items()}

    def _entries(self, reldirs: Sequence[str], workers: int) -> dict[str, list[Entry]]:
        """The store's listing of each folder, several at once; the first listing error is raised."""
        unique = list(dict.fromkeys(reldirs))
        if len(unique) <= 1 or workers <= 1:
            return {d: self.store.list_dir(d) for d in unique}
        with ThreadPoolExecutor(max_workers=min(workers, len(unique)), thread_name_prefix="list") as pool:
            return dict(zip(unique, pool.map(self.store.list_dir, unique), strict=True))

    def list(self, start: datetime, end: datetime, region: Region | None = None) -> list[Item]:
        listed = self._entries(self.layout.dirs_for(start, end), LIST_WORKERS)
        items = [i for entries in listed.values() for i in self._items(entries, start, end)]
        return sorted(items, key=lambda i: i.relpath)

    def open_stream(self, item: Item, offset: int = 0) -> ByteStream:
        return self.store.open_stream(item.relpath, offset)

    def close(self) -> None:
        self.store.close()
