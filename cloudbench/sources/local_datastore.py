"""A loopback EUMETSAT Data Store: the API subset eumdac uses, serving a folder of Meteosat files.

It answers what :mod:`cloudbench.sources.eumetsat` (through eumdac) asks:

- ``POST /token``: client-credentials token for HTTP basic auth with the configured key and secret
  (401 otherwise); ``POST /revoke``;
- ``GET /data/search-products/1.0.0/osdd?pi=COLLECTION``: the OpenSearch description eumdac reads
  the valid search parameters from;
- ``GET /data/search-products/1.0.0/os?format=json&pi=&dtstart=&dtend=&bbox=&si=&c=``: a GeoJSON
  FeatureCollection of the products whose sensing span overlaps [dtstart, dtend), paged by
  ``si``/``c``, each with its entries under ``properties.links.sip-entries``;
- ``GET /data/browse/1.0.0/collections/C/products/P``: one product's record; ``.../metadata`` of
  the download API likewise;
- ``GET /data/download/1.0.0/collections/C/products/P/entry?name=N``: one file, with ``Range``
  answered by 206 and ``Content-Range``, 416 past the end.

Everything but the token endpoint needs ``Authorization: Bearer <token>`` (401 otherwise). Each
product also lists the two small XML entries real products carry (``EOPMetadata.xml``,
``manifest.xml``), so clients must pick the files they want. Fault knobs are the CMR server's
:class:`~cloudbench.sources.local_servers.Faults` (drop the connection mid-file, answer 500, corrupt,
throttle, ignore ranges), keyed by entry name.

Files are published one by one (:meth:`LocalDataStore.add_entry`) or a whole ARCHIVE/ at once
(:func:`publish_archive`: every file an imager product places in the Data Store, grouped into its
products by the product's own rule).
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
import threading
from base64 import b64decode
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from cloudbench.sources.local_servers import LOOPBACK, Faults, _stream

log = logging.getLogger(__name__)

DEMO_KEY = "local-consumer-key"  # the loopback server's login: not a secret, nothing real is behind it
DEMO_SECRET = "local-consumer-secret"
TOKEN_LIFETIME_S = 3600
SEARCH_PARAMETERS = ("bbox", "geo", "title", "sat", "dtstart", "dtend", "publication", "sort", "type", "timeliness",
                     "orbit", "relorbit", "cycle", "zone", "set", "acronym", "coverage", "repeatCycleIdentifier")
EXTRA_ENTRIES = ("EOPMetadata.xml", "manifest.xml")
MAX_PAGE = 500


@dataclass
class PublishedProduct:
    """One product: its collection, id, sensing span and files (entry name -> local path)."""

    collection: str
    product_id: str
    sensing_start: datetime
    sensing_end: datetime
    platform: str = ""
    entries: dict[str, Path] = field(default_factory=dict)
    published: datetime = field(default_factory=lambda: datetime.now(UTC))

    def entry_bytes(self, name: str) -> bytes | None:
        if name in self.entries:
            return self.entries[name].read_bytes()
        if name in EXTRA_ENTRIES:
            return _xml_entry(self, name)
        return None

    def entry_names(self) -> list[str]:
        return [*sorted(self.entries), *EXTRA_ENTRIES]


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _xml_entry(p: PublishedProduct, name: str) -> bytes:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<{name.split(".")[0]} identifier="{p.product_id}" '
            f'collection="{p.collection}" start="{_iso(p.sensing_start)}" end="{_iso(p.sensing_end)}">'
            + "".join(f'<file name="{n}"/>' for n in sorted(p.entries)) + f"</{name.split('.')[0]}>\n")
    return body.encode()


def _parse_time(text: str) -> datetime:
    t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


class LocalDataStore:
    """The Data Store API subset on loopback (see the module notes).

    Args:
        key, secret: the consumer key and secret the token endpoint accepts.
    """

    def __init__(self, *, key: str = DEMO_KEY, secret: str = DEMO_SECRET):
        self.key, self.secret = key, secret
        self.products: dict[tuple[str, str], PublishedProduct] = {}
        self.faults = Faults()
        self.requests: list[dict] = []  # method, path, query, range, status (tests check searches and resumes)
        self.tokens_refused = 0
        self._tokens: set[str] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- content ----------------------------------------------------------------------------------
    def add_entry(self, collection: str, product_id: str, name: str, local: str | Path, sensing_start: datetime,
                  sensing_end: datetime, platform: str = "") -> PublishedProduct:
        """Publish a local file as entry ``name`` of a product (created on first use)."""
        key = (collection, product_id)
        with self._lock:
            product = self.products.get(key)
            if product is None:
                product = PublishedProduct(collection, product_id, sensing_start.astimezone(UTC),
                                           sensing_end.astimezone(UTC), platform)
                self.products[key] = product
            product.entries[name] = Path(local)
        return product

    def entry_files(self) -> dict[str, Path]:
        """Every published file by entry name."""
        return {n: p for prod in self.products.values() for n, p in prod.entries.items()}

    # --- lifecycle ----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    def start(self, port: int = 0) -> LocalDataStore:
        self._server = _HttpServer((LOOPBACK, port), _make_handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="local-datastore",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalDataStore:
        return self.start() if self._server is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- bookkeeping ---------------------------------------------------------------------------------
    def log_request(self, **kw) -> None:
        with self._lock:
            self.requests.append(kw)

    def entry_requests(self, name: str) -> list[dict]:
        """Download requests of one entry (size probes included: their range is ``bytes=0-0``)."""
        return [r for r in self.requests if r.get("entry") == name]

    def searches(self) -> list[dict]:
        return [r for r in self.requests if r["path"].endswith("/os")]

    def issue_token(self) -> str:
        token = "ds-" + secrets.token_hex(12)
        with self._lock:
            self._tokens.add(token)
        return token

    def token_ok(self, header: str | None) -> bool:
        kind, _, value = (header or "").partition(" ")
        return kind.lower() == "bearer" and value in self._tokens

    def login_ok(self, header: str | None) -> bool:
        kind, _, value = (header or "").partition(" ")
        if kind.lower() != "basic":
            return False
        try:
            user, _, pw = b64decode(value).decode().partition(":")
        except ValueError:
            return False
        return user == self.key and pw == self.secret

    # --- API answers ------------------------------------------------------------------------------------
    def search(self, query: dict[str, list[str]]) -> dict:
        def one(name: str) -> str | None:
            return (query.get(name) or [None])[0]

        collection = one("pi")
        hits = [p for p in self.products.values() if p.collection == collection]
        if one("dtstart"):
            t0 = _parse_time(one("dtstart"))
            hits = [p for p in hits if p.sensing_end > t0]
        if one("dtend"):
            t1 = _parse_time(one("dtend"))
            hits = [p for p in hits if p.sensing_start < t1]
        hits.sort(key=lambda p: (p.sensing_start, p.product_id), reverse=one("sort") != "start,time,1")
        start = int(one("si") or 0)
        count = min(int(one("c") or 10), MAX_PAGE)
        page = hits[start:start + count] if count else []
        return {"type": "FeatureCollection", "totalResults": len(hits), "itemsPerPage": count,
                "features": [self.feature(p) for p in page]}

    def feature(self, p: PublishedProduct) -> dict:
        size_kb = sum(f.stat().st_size for f in p.entries.values()) // 1024
        href = f"{self.url}/data/download/1.0.0/collections/{p.collection}/products/{p.product_id}"
        return {
            "type": "Feature",
            "id": p.product_id,
            "geometry": None,
            "properties": {
                "identifier": p.product_id,
                "parentIdentifier": p.collection,
                "title": p.product_id,
                "date": f"{_iso(p.sensing_start)}/{_iso(p.sensing_end)}",
                "updated": _iso(p.published),
                "productInformation": {"productType": p.collection.rsplit(":", 1)[-1], "size": size_kb,
                                       "timeliness": "NT"},
                "acquisitionInformation": [{"platform": {"platformShortName": p.platform, "orbitType": "GEO"},
                                            "instrument": {"instrumentShortName": ""},
                                            "acquisitionParameters": {}}],
                "extraInformation": {},
                "links": {
                    "data": [{"href": href, "mediaType": "application/zip", "title": "Product download"}],
                    "sip-entries": [{"href": f"{href}/entry?name={n}", "title": n,
                                     "mediaType": "application/xml" if n.endswith(".xml") else "application/octet-stream"}
                                    for n in p.entry_names()],
                },
            },
        }


def _osdd() -> bytes:
    params = "".join(f'<parameters:Parameter name="{n}" value="{{{n}}}" title="{n}"/>' for n in SEARCH_PARAMETERS)
    fixed = "".join(f'<parameters:Parameter name="{n}" value="{{{n}}}"/>' for n in ("format", "pi", "si", "c"))
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<OpenSearchDescription xmlns="http://a9.com/-/spec/opensearch/1.1/" '
            'xmlns:parameters="http://a9.com/-/spec/opensearch/extensions/parameters/1.0/">'
            '<ShortName>Data Store</ShortName>'
            f'<Url type="application/json" template="os?format=json">{fixed}{params}</Url>'
            '</OpenSearchDescription>').encode()


class _HttpServer(ThreadingHTTPServer):
    """Quiet about clients that hang up (a size probe reads one byte and closes; a killed download)."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("datastore: %s hung up", client_address)
            return
        super().handle_error(request, client_address)


def _make_handler(server: LocalDataStore):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet: tests and the demo have their own reports
            log.debug("datastore: " + fmt, *args)

        def _send(self, status: int, body: bytes, ctype: str = "application/json", headers: dict | None = None):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, doc: dict) -> None:
            self._send(status, json.dumps(doc).encode())

        def _drain(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)

        def do_POST(self):  # noqa: N802 (http.server API)
            url = urlparse(self.path)
            self._drain()
            if url.path.rstrip("/") == "/token":
                if not server.login_ok(self.headers.get("Authorization")):
                    server.tokens_refused += 1
                    server.log_request(method="POST", path=url.path, status=401)
                    self._json(401, {"error": "invalid_client", "error_description": "Client Authentication failed"})
                    return
                server.log_request(method="POST", path=url.path, status=200)
                self._json(200, {"access_token": server.issue_token(), "scope": "am_application_scope default",
                                 "token_type": "Bearer", "expires_in": TOKEN_LIFETIME_S})
                return
            if url.path.rstrip("/") == "/revoke":
                self._send(200, b"", "text/plain")
                return
            self._json(404, {"error": "not found"})

        def do_GET(self):  # noqa: N802 (http.server API)
            url = urlparse(self.path)
            query = parse_qs(url.query)
            path = url.path.rstrip("/")
            if not server.token_ok(self.headers.get("Authorization")):
                server.log_request(method="GET", path=path, query=query, status=401)
                self._json(401, {"code": 401, "message": "Invalid credentials"})
                return
            parts = [unquote(p) for p in path.split("/") if p]
            if path.endswith("/search-products/1.0.0/osdd"):
                server.log_request(method="GET", path=path, query=query, status=200)
                self._send(200, _osdd(), "application/opensearchdescription+xml")
                return
            if path.endswith("/search-products/1.0.0/os"):
                server.log_request(method="GET", path=path, query=query, status=200)
                self._json(200, server.search(query))
                return
            # /data/{browse|download}/1.0.0/collections/C/products/P[/metadata|/entry]
            if len(parts) >= 7 and parts[0] == "data" and parts[3] == "collections" and parts[5] == "products":
                product = server.products.get((parts[4], parts[6]))
                tail = parts[7] if len(parts) > 7 else ""
                if product is None:
                    server.log_request(method="GET", path=path, query=query, status=404)
                    self._json(404, {"code": 404, "message": f"product {parts[6]} not found in {parts[4]}"})
                    return
                if parts[1] == "download" and tail == "entry":
                    self._serve_entry(product, (query.get("name") or [""])[0], path)
                    return
                server.log_request(method="GET", path=path, query=query, status=200)
                self._json(200, server.feature(product))
                return
            server.log_request(method="GET", path=path, query=query, status=404)
            self._json(404, {"code": 404, "message": "not found"})

        def _serve_entry(self, product: PublishedProduct, name: str, path: str) -> None:
            rng = self.headers.get("Range")
            faults = server.faults
            if faults.take(faults.errors_500, name):
                server.log_request(method="GET", path=path, entry=name, range=rng, status=500)
                self._json(500, {"code": 500, "message": "Internal Server Error"})
                return
            data = product.entry_bytes(name)
            if data is None:
                server.log_request(method="GET", path=path, entry=name, range=rng, status=404)
                self._json(404, {"code": 404, "message": f"no entry {name!r} in {product.product_id}"})
                return
            start, stop, status = 0, len(data), 200
            if rng and rng.startswith("bytes=") and not faults.ignore_range:
                first, _, last = rng[6:].partition("-")
                start = int(first) if first else 0
                stop = min(len(data), int(last) + 1) if last else len(data)
                if start >= len(data):
                    server.log_request(method="GET", path=path, entry=name, range=rng, status=416)
                    self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{len(data)}"})
                    return
                status = 206
            probe = status == 206 and stop - start == 1
            if not probe and faults.take(faults.corrupt, name):
                mid = len(data) // 2
                data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1:]
            body = data[start:stop]
            drop = False if probe else faults.take(faults.drop_after, name)
            server.log_request(method="GET", path=path, entry=name, range=rng, status=status)
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Disposition", f'attachment; filename="{name}"')
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}")
            self.end_headers()
            limit = drop[0] if drop else len(body)
            try:
                _stream(self.wfile, body[:limit], faults.throttle_bps)
                if drop:
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
            except (BrokenPipeError, ConnectionResetError):  # the client hung up (a size probe, a kill)
                self.close_connection = True

    return Handler


def publish_archive(server: LocalDataStore, archive: str | Path) -> list[str]:
    """Publish every file under ``archive`` that an imager product keeps in the Data Store.

    Products say which files are theirs and which Data Store product each belongs to
    (:class:`~cloudbench.sources.eumetsat.DataStoreLayout`); files of other products are left out.
    Returns the ARCHIVE/-relative paths published.
    """
    from cloudbench.sensors.registry import imager_products
    from cloudbench.sources.eumetsat import DataStoreLayout

    archive = Path(archive)
    layouts = [p for p in imager_products().values() if isinstance(p, DataStoreLayout)]
    published = []
    for path in sorted(_files(archive)):
        for layout in layouts:
            ref = layout.datastore_product(path.name)
            if ref is None:
                continue
            server.add_entry(ref.collection, ref.product_id, path.name, path, ref.sensing_start, ref.sensing_end,
                             ref.platform)
            published.append(path.relative_to(archive).as_posix())
            break
    return published


def _files(root: Path) -> Iterator[Path]:
    for path in root.rglob("*"):
        if path.is_file() and not path.name.endswith(".part") and path.name != "ledger.jsonl":
            yield path


__all__ = ["DEMO_KEY", "DEMO_SECRET", "LocalDataStore", "PublishedProduct", "publish_archive"]
