"""EUMETSAT Data Store: Meteosat imagery found by collection search and fetched one file at a time.

The Data Store is a search API, not a folder tree: a *collection* (``EO:EUM:DAT:MSG:HRSEVIRI``...)
holds *products* (one SEVIRI scan, one FCI repeat cycle), each a set of named files, its *entries*
(the ``.nat`` file, FCI's 41 chunks, a few XML files). This module talks to it through eumdac:
``AccessToken((key, secret))`` -> ``DataStore(token).get_collection(id).search(dtstart=, dtend=)``
-> ``Product.entries`` -> ``Product.open(entry=NAME)``, so single files (one SEVIRI scan, one FCI
chunk) are fetched, never whole product archives.

To the downloader the Data Store looks like any folder store (:class:`DataStoreStore`): a folder of
ARCHIVE/ (a slot's folder) is turned into a time search by the imager product, and every entry the
product places in that folder becomes a file of it. The planner, the fetcher (``.part`` files,
resume, verification, ledger) and the catalogs then work unchanged. :class:`DataStoreCatalog` is the
same store behind the :class:`~cloudbench.sources.base.Catalog` interface (one search per span).

What the Data Store gives and what is relied on:
- sizes: the product records carry a size in kB of the whole product, not of its entries; an
  entry's exact size comes from a one-byte ranged request (``Range: bytes=0-0`` -> ``Content-Range:
  bytes 0-0/SIZE``), the way eumdac's own downloader sizes entries before a chunked download;
- checksums: only the md5 of the zipped product, which an entry download cannot use; entries are
  verified by size and recorded with the sha256 computed on arrival;
- resume: a resumed download asks for ``Range: bytes=OFFSET-``; a 206 answer is appended, a 200
  answer (range ignored) restarts the file (the fetcher's rule). eumdac's downloader depends on the
  Data Store answering ranges (it splits large files into ranged chunks); the loopback server
  answers them too and can be told not to, and both paths are tested.

Credentials: ``EUMETSAT_CONSUMER_KEY`` and ``EUMETSAT_CONSUMER_SECRET`` (the Data Store's API key
page), looked up when the store is built so a missing key fails before anything is fetched.
"""

from __future__ import annotations

import logging
import posixpath
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import quote

from cloudbench.config import Region
from cloudbench.errors import CredentialsError, UserError
from cloudbench.sources.base import (
    ByteStream,
    Catalog,
    Item,
    NotFoundError,
    RetryPolicy,
    TransientError,
    retry_call,
)
from cloudbench.sources.credentials import EUMETSAT_FIX, EumetsatCredentials, eumetsat_credentials
from cloudbench.sources.fsroot import Entry, Store

if TYPE_CHECKING:  # pragma: no cover
    import eumdac

log = logging.getLogger(__name__)

DATASTORE_URL = "https://api.eumetsat.int"
SOURCE = "eumetsat-datastore"
SIZE_PROBE_WORKERS = 8
READ_BYTES = 64 * 1024  # one read of the HTTP body: a broken transfer loses at most this much of what arrived


# --- what an imager product tells this source ------------------------------------------------------
@dataclass(frozen=True)
class DataStoreQuery:
    """A time search in one collection (``start`` inclusive, ``end`` exclusive, aware UTC)."""

    collection: str
    start: datetime
    end: datetime
    bbox: tuple[float, float, float, float] | None = None  # W, S, E, N


@dataclass(frozen=True)
class DataStoreProductRef:
    """Which Data Store product a file belongs to (the loopback server publishes files by it)."""

    collection: str
    product_id: str
    sensing_start: datetime
    sensing_end: datetime
    platform: str = ""  # e.g. "MSG4", "MTI1" (the product records' platform short name)


@runtime_checkable
class DataStoreLayout(Protocol):
    """How an imager product's ARCHIVE/ folders and files map onto the Data Store.

    Implemented by the Meteosat imager products; nothing here knows one of them.
    """

    def datastore_query(self, reldir: str) -> DataStoreQuery | None:
        """The search that lists an ARCHIVE/ folder (None: the folder is not one of the product's)."""

    def datastore_relpath(self, name: str) -> str | None:
        """Where an entry goes in ARCHIVE/ (None: an entry the product does not keep, e.g. XML)."""

    def datastore_product(self, name: str) -> DataStoreProductRef | None:
        """The collection and product a file of the product belongs to (for publishing)."""


def entry_url(api_url: str, collection: str, product_id: str, entry: str) -> str:
    """The download URL of one entry (as eumdac builds it; the ledger keeps it, without a token)."""
    return (f"{api_url.rstrip('/')}/data/download/1.0.0/collections/{quote(collection, safe='')}"
            f"/products/{quote(product_id, safe='')}/entry?name={quote(entry, safe='')}")


def _naive_utc(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


# --- the client ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FoundProduct:
    """A product of a search: its id, sensing span and entry names."""

    collection: str
    product_id: str
    sensing_start: datetime | None
    sensing_end: datetime | None
    entries: tuple[str, ...]


def _status(exc: BaseException) -> int | None:
    info = getattr(exc, "extra_info", None) or {}
    status = info.get("status") if isinstance(info, dict) else None
    if status is None:
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
    return int(status) if status is not None else None


class DataStoreClient:
    """eumdac's Data Store behind the errors cloudbench speaks.

    Args:
        credentials: the consumer key and secret.
        api_url: the API root (``https://api.eumetsat.int``; a loopback server in tests and the demo).
        retry: backoff for transient search and metadata failures (downloads retry in the fetcher).
    """

    def __init__(self, credentials: EumetsatCredentials, api_url: str = DATASTORE_URL, *,
                 retry: RetryPolicy | None = None):
        try:
            import eumdac
            from eumdac.token import URLs
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise UserError("the Meteosat source needs eumdac", fix="pip install eumdac") from exc
        self.api_url = api_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        urls = URLs()
        urls.set("DEFAULT", "api", self.api_url)
        self._token = eumdac.AccessToken((credentials.key, credentials.secret.reveal()), urls=urls)
        self._datastore = eumdac.DataStore(self._token)
        self._lock = threading.Lock()

    # --- error mapping --------------------------------------------------------------------------
    def _translate(self, exc: BaseException, what: str) -> BaseException:
        import requests
        from eumdac.errors import EumdacError

        status = _status(exc)
        if status in (401, 403):
            return CredentialsError(f"the EUMETSAT Data Store at {self.api_url} refused the credentials "
                                    f"(HTTP {status}) while {what}", fix=EUMETSAT_FIX)
        if status == 404:
            return NotFoundError(f"{what}: not found (HTTP 404)")
        if status is not None and (status >= 500 or status == 429):
            return TransientError(f"{what}: HTTP {status}")
        if isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
            return TransientError(f"{what}: {type(exc).__name__}: {exc}")
        if isinstance(exc, (EumdacError, requests.HTTPError)):
            return OSError(f"{what}: {exc}")
        return exc

    def _call(self, fn, what: str):
        def attempt():
            try:
                with self._lock:  # the token refresh inside eumdac is not thread-safe
                    self._token.access_token  # noqa: B018 - fetch or renew the token under the lock
                return fn()
            except Exception as exc:
                translated = self._translate(exc, what)
                if translated is exc:
                    raise
                raise translated from exc

        return retry_call(attempt, self.retry, what)

    # --- search ---------------------------------------------------------------------------------
    def search(self, query: DataStoreQuery) -> list[FoundProduct]:
        """Products of ``query.collection`` sensed in [start, end) (the Data Store's time overlap)."""
        kwargs: dict[str, Any] = {"dtstart": _naive_utc(query.start), "dtend": _naive_utc(query.end)}
        if query.bbox is not None:
            kwargs["bbox"] = ",".join(f"{v:g}" for v in query.bbox)

        def run() -> list[FoundProduct]:
            collection = self._datastore.get_collection(query.collection)
            out = []
            for product in collection.search(**kwargs):
                out.append(FoundProduct(query.collection, str(product), product.sensing_start, product.sensing_end,
                                        tuple(product.entries)))
            return out

        return self._call(run, f"searching {query.collection} from {query.start:%Y-%m-%dT%H:%M} to "
                               f"{query.end:%Y-%m-%dT%H:%M}")

    # --- entries ----------------------------------------------------------------------------------
    def _product(self, collection: str, product_id: str) -> eumdac.product.Product:
        return self._datastore.get_product(collection, product_id)

    def entry_size(self, collection: str, product_id: str, entry: str) -> int | None:
        """Bytes of one entry, from a one-byte ranged request (None when the server says nothing)."""

        def run() -> int | None:
            with self._product(collection, product_id).open(entry=entry, chunk=(0, 1)) as raw:
                content_range = raw.headers.get("Content-Range") or ""
                total = content_range.rpartition("/")[2].strip()
                if total.isdigit():
                    return int(total)
                length = raw.headers.get("Content-Length")
                if getattr(raw, "status", None) == 200 and length and length.isdigit():
                    return int(length)  # the range was ignored: the length is the whole file's
            return None

        return self._call(run, f"sizing {entry} of {product_id}")

    def open_entry(self, collection: str, product_id: str, entry: str, offset: int = 0) -> ByteStream:
        """Stream one entry from ``offset`` (``Range: bytes=OFFSET-``); see the module notes on ranges."""
        import requests
        import urllib3

        url = entry_url(self.api_url, collection, product_id, entry)
        headers = {"Range": f"bytes={offset}-"} if offset else None
        try:
            with self._lock:
                self._token.access_token  # noqa: B018
            context = self._product(collection, product_id).open(entry=entry, custom_headers=headers)
            raw = context.__enter__()
        except Exception as exc:
            if _status(exc) == 416:  # nothing after OFFSET: the part file already holds every byte
                return ByteStream(iter(()), offset_honoured=True)
            translated = self._translate(exc, f"downloading {url}")
            if translated is exc:
                raise
            raise translated from exc
        status = getattr(raw, "status", 200)
        honoured = offset == 0 or status == 206

        def chunks() -> Iterator[bytes]:
            try:
                while True:
                    data = raw.read(READ_BYTES)
                    if not data:
                        return
                    yield data
            except (urllib3.exceptions.HTTPError, requests.RequestException, ConnectionError, TimeoutError,
                    OSError) as exc:
                raise TransientError(f"{url}: transfer broke off: {type(exc).__name__}") from exc

        def close() -> None:
            try:
                context.__exit__(None, None, None)
            except Exception:  # noqa: BLE001 - a broken connection may fail to close; nothing to keep
                log.debug("closing %s failed", url, exc_info=True)

        return ByteStream(chunks(), offset_honoured=honoured, close=close)


# --- the store: ARCHIVE/ folders as searches ----------------------------------------------------------------
class DataStoreStore(Store):
    """ARCHIVE/ folders of one imager product, each listed by a Data Store search.

    ``list_dir(reldir)`` asks the product which search lists the folder, keeps the entries the
    product places in that folder, and sizes each with a one-byte ranged request (in parallel).
    ``open_stream(relpath)`` fetches the entry behind a listed path (re-listing its folder first
    when the path was not listed in this session, e.g. after a restart).
    """

    source = SOURCE

    def __init__(self, client: DataStoreClient, layout: DataStoreLayout, *, size_workers: int = SIZE_PROBE_WORKERS):
        self.client = client
        self.layout = layout
        self.size_workers = max(1, int(size_workers))
        self._index: dict[str, tuple[str, str, str]] = {}  # relpath -> (collection, product id, entry)
        self._lock = threading.Lock()

    def url(self, relpath: str) -> str:
        ref = self._index.get(relpath)
        if ref is None:
            return f"{self.client.api_url}/data/download/1.0.0#{relpath}"
        return entry_url(self.client.api_url, *ref)

    def _placed(self, products: Sequence[FoundProduct], reldir: str | None) -> list[tuple[str, tuple[str, str, str]]]:
        out = []
        for p in products:
            for entry in p.entries:
                rel = self.layout.datastore_relpath(entry)
                if rel is None or (reldir is not None and posixpath.dirname(rel) != reldir):
                    continue
                out.append((rel, (p.collection, p.product_id, entry)))
        return out

    def _entries(self, placed: list[tuple[str, tuple[str, str, str]]]) -> list[Entry]:
        unique = dict(placed)  # the first product holding a name wins (names are unique per scan)
        with self._lock:
            self._index.update(unique)
        refs = list(unique.items())
        if not refs:
            return []
        with ThreadPoolExecutor(max_workers=min(self.size_workers, len(refs)), thread_name_prefix="ds-size") as pool:
            sizes = list(pool.map(lambda kv: self.client.entry_size(*kv[1]), refs))
        return [Entry(rel, size, None) for (rel, _), size in zip(refs, sizes, strict=True)]

    def list_dir(self, reldir: str) -> list[Entry]:
        reldir = reldir.strip("/")
        query = self.layout.datastore_query(reldir)
        if query is None:
            return []
        return self._entries(self._placed(self.client.search(query), reldir))

    def list_query(self, query: DataStoreQuery) -> list[Entry]:
        """Every entry of a search that the product keeps, wherever it goes in ARCHIVE/."""
        return self._entries(self._placed(self.client.search(query), None))

    def open_stream(self, relpath: str, offset: int = 0) -> ByteStream:
        ref = self._index.get(relpath)
        if ref is None:
            self.list_dir(posixpath.dirname(relpath))
            ref = self._index.get(relpath)
        if ref is None:
            raise NotFoundError(f"{relpath}: no Data Store product holds this file")
        return self.client.open_entry(*ref, offset=offset)


class DataStoreCatalog(Catalog):
    """The Data Store behind the Catalog interface: one search per collection over a span.

    ``list`` runs one search per collection (with the region's box) and places the entries as the
    product does; ``list_dir`` and ``open_stream`` are the store's.
    """

    name = SOURCE

    def __init__(self, store: DataStoreStore, collections: Sequence[str]):
        self.store = store
        self.collections = tuple(collections)

    def _items(self, entries: list[Entry]) -> list[Item]:
        return sorted((Item(e.relpath, self.store.url(e.relpath), e.size, e.checksum, SOURCE) for e in entries),
                      key=lambda i: i.relpath)

    def list(self, start: datetime, end: datetime, region: Region | None = None) -> list[Item]:
        entries: list[Entry] = []
        for collection in self.collections:
            entries += self.store.list_query(DataStoreQuery(collection, start, end, region.bbox if region else None))
        return self._items(entries)

    def list_dir(self, reldir: str) -> list[Item]:
        return self._items(self.store.list_dir(reldir))

    def open_stream(self, item: Item, offset: int = 0) -> ByteStream:
        return self.store.open_stream(item.relpath, offset)


def datastore_store(layout: DataStoreLayout, options: Any) -> DataStoreStore:
    """The store for ``download``'s SourceOptions: API root and credentials (arguments, else environment).

    Raises:
        CredentialsError: the key or the secret is missing (exit 1, naming the variables).
    """
    credentials = eumetsat_credentials(getattr(options, "eumetsat_key", None), getattr(options, "eumetsat_secret", None))
    api_url = getattr(options, "datastore_url", None) or DATASTORE_URL
    return DataStoreStore(DataStoreClient(credentials, api_url), layout)


__all__ = [
    "DATASTORE_URL",
    "DataStoreCatalog",
    "DataStoreClient",
    "DataStoreLayout",
    "DataStoreProductRef",
    "DataStoreQuery",
    "DataStoreStore",
    "FoundProduct",
    "datastore_store",
    "entry_url",
]
