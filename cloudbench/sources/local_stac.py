"""A STAC API and a token-protected file server on loopback, serving a folder of EarthCARE frames as
ESA's MAAP does, for the download tests and the offline demo.

It speaks what pystac-client sends for cloudbench's searches: the landing page with its conformance
classes, ``/collections``, and ``/search`` by GET and POST with ``collections``, ``datetime``,
``bbox``, ``limit`` and a CQL2 text ``filter`` (comparisons, ``AND``/``OR``/``NOT``, parentheses,
``IN``), answered one page at a time with ``next`` links. Items carry the properties MAAP's do
(``product:type``, ``version``, ``sat:absolute_orbit``, ``frame``, start and end times), the frame's
ground track as geometry, and an ``enclosure_h5`` asset with ``file:size`` and ``file:checksum``.
Asset downloads need ``Authorization: Bearer <token>`` (401 without, 403 with a wrong one), honour
``Range``, and have the fault knobs of the other loopback servers
(:class:`~cloudbench.sources.local_servers.Faults`).

Use :func:`serve_earthcare` for a whole ARCHIVE/ (it publishes every ``earthcare/**/*.h5``)::

    with serve_earthcare("ARCHIVE", token="t") as server:
        catalog = MaapStacCatalog(AC_TC, Secret("t"), stac_url=server.url)
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import numpy as np

from cloudbench.products import earthcare as ec
from cloudbench.sources.local_servers import LOOPBACK, Faults, _stream

log = logging.getLogger(__name__)

COLLECTION = "EarthCAREL2Validated_MAAP"
DATA_PATH = "/data/earthcare-pdgs/EarthCARE/L2Validated"  # where asset URLs point, as MAAP's do
TRACK_POINTS = 40  # vertices of an item's ground-track geometry
CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
]


# --- CQL2 text: the subset cloudbench's searches use ---------------------------------------------------------
class CqlError(ValueError):
    """A filter this server cannot parse (answered with HTTP 400)."""


_TOKEN_RE = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><>|<=|>=|=|<|>)|"
                       r"(?P<par>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_:.\-]*))")


def _tokens(text: str) -> list[tuple[str, Any]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None or m.end() == pos:
            raise CqlError(f"cannot parse filter at {text[pos:pos + 20]!r}")
        pos = m.end()
        if m["str"] is not None:
            out.append(("value", m["str"][1:-1].replace("''", "'")))
        elif m["num"] is not None:
            out.append(("value", float(m["num"]) if "." in m["num"] else int(m["num"])))
        elif m["op"] is not None:
            out.append(("op", m["op"]))
        elif m["par"] is not None:
            out.append((m["par"], m["par"]))
        else:
            word = m["word"]
            kind = word.upper() if word.upper() in ("AND", "OR", "NOT", "IN") else "name"
            out.append((kind, word))
    return out


def parse_cql2_text(text: str):
    """A predicate ``properties -> bool`` for a CQL2 text filter."""
    tokens = _tokens(text)
    pos = 0

    def peek(kind: str) -> bool:
        return pos < len(tokens) and tokens[pos][0] == kind

    def take(kind: str):
        nonlocal pos
        if not peek(kind):
            raise CqlError(f"expected {kind} in filter {text!r}")
        pos += 1
        return tokens[pos - 1][1]

    def disjunction():
        terms = [conjunction()]
        while peek("OR"):
            take("OR")
            terms.append(conjunction())
        return lambda p: any(t(p) for t in terms)

    def conjunction():
        terms = [negation()]
        while peek("AND"):
            take("AND")
            terms.append(negation())
        return lambda p: all(t(p) for t in terms)

    def negation():
        if peek("NOT"):
            take("NOT")
            inner = negation()
            return lambda p: not inner(p)
        if peek("("):
            take("(")
            inner = disjunction()
            take(")")
            return inner
        return comparison()

    def comparison():
        name = take("name")
        if peek("IN"):
            take("IN")
            take("(")
            values = [take("value")]
            while peek(","):
                take(",")
                values.append(take("value"))
            take(")")
            return lambda p: p.get(name) in values
        op = take("op")
        value = take("value")
        ops = {"=": lambda a, b: a == b, "<>": lambda a, b: a != b, "<": lambda a, b: a < b,
               "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}

        def test(p: dict) -> bool:
            have = p.get(name)
            if have is None:
                return False
            try:
                return ops[op](have, value)
            except TypeError:
                return False

        return test

    predicate = disjunction()
    if pos != len(tokens):
        raise CqlError(f"unexpected {tokens[pos][1]!r} in filter {text!r}")
    return predicate


# --- items -----------------------------------------------------------------------------------------------------
@dataclass
class StacEntry:
    """One published frame: its STAC item and the local file behind its h5 asset."""

    item: dict
    local: Path
    url_path: str
    begin: datetime
    end: datetime

    @property
    def name(self) -> str:
        return posixpath.basename(self.url_path)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text: str) -> datetime | None:
    text = text.strip()
    if text in ("", ".."):
        return None
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _sha256_multihash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while data := f.read(1 << 20):
            h.update(data)
    return "1220" + h.hexdigest()


def _track_geometry(lat: np.ndarray, lon: np.ndarray) -> dict:
    """A LineString of the track (split into a MultiLineString where it crosses the antimeridian)."""
    take = np.unique(np.linspace(0, lat.size - 1, min(TRACK_POINTS, lat.size)).round().astype(int))
    pts = [[float(lon[i]), float(lat[i])] for i in take]
    parts, current = [], [pts[0]]
    for a, b in zip(pts[:-1], pts[1:], strict=True):
        if abs(b[0] - a[0]) > 180.0:
            parts.append(current)
            current = []
        current.append(b)
    parts.append(current)
    parts = [p if len(p) > 1 else p * 2 for p in parts]
    if len(parts) == 1:
        return {"type": "LineString", "coordinates": parts[0]}
    return {"type": "MultiLineString", "coordinates": parts}


def _bbox(lat: np.ndarray, lon: np.ndarray) -> list[float]:
    """[W, S, E, N]; W > E where the track crosses the antimeridian."""
    lon = np.asarray(lon, dtype=np.float64)
    if (np.abs(np.diff(lon)) > 180.0).any():
        east = lon[lon >= 0]
        west = lon[lon < 0]
        return [float(east.min()), float(lat.min()), float(west.max()), float(lat.max())]
    return [float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())]


def _bbox_intersects(a: list[float], b: list[float]) -> bool:
    aw, as_, ae, an = a
    bw, bs, be, bn = b
    if an < bs or bn < as_:
        return False

    def spans(w: float, e: float) -> list[tuple[float, float]]:
        return [(w, e)] if w <= e else [(w, 180.0), (-180.0, e)]

    return any(x0 <= y1 and y0 <= x1 for x0, x1 in spans(aw, ae) for y0, y1 in spans(bw, be))


# --- the server --------------------------------------------------------------------------------------------------
class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up (a fetch stopped by refused credentials, a dropped keep-alive) are normal here."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            log.debug("stac: client %s went away: %s", client_address, exc)
            return
        super().handle_error(request, client_address)


class StacArchiveServer:
    """A STAC API over published EarthCARE frames and a bearer-token file server for their assets."""

    def __init__(self, *, token: str, collection: str = COLLECTION, page_size_cap: int = 1000):
        self.token = token
        self.collection = collection
        self.page_size_cap = page_size_cap
        self.entries: list[StacEntry] = []
        self.faults = Faults()
        self.requests: list[dict] = []  # method, path, range, status, and the search body (tests look)
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    # --- content -------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def publish(self, local: str | Path, relpath: str | None = None) -> StacEntry:
        """Publish one EarthCARE ``.h5``: its item (times, track, properties from the file) and its asset."""
        from cloudbench.readers.earthcare_tc import read_earthcare_track

        local = Path(local)
        info = ec.parse_filename(local.name)
        if info is None:
            raise ValueError(f"{local.name} is not an EarthCARE product name")
        track = read_earthcare_track(local)
        times = track["time"].values
        lat, lon = track["latitude"].values, track["longitude"].values
        begin, end = (np.datetime64(t, "us").astype(datetime).replace(tzinfo=UTC) for t in (times.min(), times.max()))
        relpath = relpath or ec.archive_relpath(local.name)
        url_path = f"{DATA_PATH}/{relpath.removeprefix(ec.MISSION + '/')}"
        stem = info.product_name
        frame = ec.FRAMES[info.frame]
        item = {
            "type": "Feature",
            "stac_version": "1.0.0",
            "stac_extensions": ["https://stac-extensions.github.io/file/v2.1.0/schema.json",
                                "https://stac-extensions.github.io/sat/v1.0.0/schema.json"],
            "id": stem,
            "collection": self.collection,
            "geometry": _track_geometry(lat, lon),
            "bbox": _bbox(lat, lon),
            "properties": {
                "datetime": None,
                "start_datetime": _iso(begin),
                "end_datetime": _iso(end),
                "product:type": info.product_type,
                "version": info.baseline.lower(),
                "sat:absolute_orbit": info.orbit,
                "sat:orbit_state": "ascending" if frame.ascending else ("descending" if frame.ascending is False
                                                                        else "polar"),
                "frame": info.frame,
                "platform": "earthcare",
                "processing:datetime": _iso(info.processing_start),
            },
            "assets": {
                "enclosure_h5": {"href": "", "type": "application/x-hdf5", "roles": ["data"],
                                 "file:size": local.stat().st_size, "file:checksum": _sha256_multihash(local)},
            },
            "links": [],
        }
        entry = StacEntry(item, local, url_path, begin, end)
        self.entries.append(entry)
        return entry

    def publish_archive(self, archive: str | Path) -> list[str]:
        """Publish every EarthCARE ``.h5`` under ``archive/earthcare/``; returns their ARCHIVE/ paths."""
        archive = Path(archive)
        published = []
        for path in sorted((archive / ec.MISSION).rglob(f"*{ec.H5_SUFFIX}")):
            if ec.parse_filename(path.name) is None:
                continue
            relpath = path.relative_to(archive).as_posix()
            self.publish(path, relpath)
            published.append(relpath)
        return published

    def _item_json(self, entry: StacEntry) -> dict:
        item = json.loads(json.dumps(entry.item))
        item["assets"]["enclosure_h5"]["href"] = self.url + entry.url_path
        base = f"{self.url}/collections/{self.collection}"
        item["links"] = [{"rel": "self", "href": f"{base}/items/{entry.item['id']}", "type": "application/geo+json"},
                         {"rel": "collection", "href": base, "type": "application/json"},
                         {"rel": "root", "href": self.url + "/", "type": "application/json"}]
        return item

    # --- search ------------------------------------------------------------------------------------------------
    def search(self, params: dict[str, Any], method: str) -> dict:
        """One page of results for normalised search parameters."""
        hits = list(self.entries)
        collections = params.get("collections")
        if collections:
            hits = [e for e in hits if e.item["collection"] in collections]
        if params.get("ids"):
            hits = [e for e in hits if e.item["id"] in params["ids"]]
        if params.get("datetime"):
            text = params["datetime"]
            lo, _, hi = text.partition("/") if "/" in text else (text, "", text)
            t0, t1 = _parse_time(lo), _parse_time(hi)
            hits = [e for e in hits if (t1 is None or e.begin <= t1) and (t0 is None or e.end >= t0)]
        if params.get("bbox"):
            box = [float(v) for v in params["bbox"]]
            hits = [e for e in hits if _bbox_intersects(e.item["bbox"], box)]
        if params.get("filter"):
            lang = params.get("filter-lang", "cql2-text")
            if lang != "cql2-text":
                raise CqlError(f"filter-lang {lang!r} is not supported here; use cql2-text")
            predicate = parse_cql2_text(params["filter"])
            hits = [e for e in hits if predicate(e.item["properties"])]
        hits.sort(key=lambda e: (e.begin, e.item["id"]))
        limit = max(1, min(int(params.get("limit") or 10), self.page_size_cap))
        start = int(str(params.get("token") or "next:0").split(":", 1)[1])
        page = hits[start : start + limit]
        links = [{"rel": "root", "href": self.url + "/", "type": "application/json"}]
        if start + limit < len(hits):
            nxt = {**{k: v for k, v in params.items() if v is not None}, "token": f"next:{start + limit}"}
            if method == "POST":
                links.append({"rel": "next", "href": self.url + "/search", "method": "POST", "body": nxt,
                              "merge": False, "type": "application/geo+json"})
            else:
                query = {k: (",".join(str(x) for x in v) if isinstance(v, list) else v) for k, v in nxt.items()}
                links.append({"rel": "next", "href": f"{self.url}/search?{urlencode(query)}", "method": "GET",
                              "type": "application/geo+json"})
        return {"type": "FeatureCollection", "features": [self._item_json(e) for e in page], "links": links,
                "numberMatched": len(hits), "numberReturned": len(page)}

    def landing(self) -> dict:
        return {
            "type": "Catalog", "stac_version": "1.0.0", "id": "cloudbench-loopback-maap",
            "description": "EarthCARE frames on loopback", "conformsTo": CONFORMANCE,
            "links": [
                {"rel": "self", "href": self.url + "/", "type": "application/json"},
                {"rel": "root", "href": self.url + "/", "type": "application/json"},
                {"rel": "conformance", "href": self.url + "/conformance", "type": "application/json"},
                {"rel": "data", "href": self.url + "/collections", "type": "application/json"},
                {"rel": "search", "href": self.url + "/search", "type": "application/geo+json", "method": "GET"},
                {"rel": "search", "href": self.url + "/search", "type": "application/geo+json", "method": "POST"},
            ],
        }

    def collection_json(self) -> dict:
        return {"type": "Collection", "stac_version": "1.0.0", "id": self.collection, "license": "other",
                "description": "EarthCARE level-2 validated products (loopback)",
                "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}},
                "links": [{"rel": "self", "href": f"{self.url}/collections/{self.collection}"},
                          {"rel": "root", "href": self.url + "/"}]}

    # --- lifecycle --------------------------------------------------------------------------------------------------
    def start(self, port: int = 0) -> StacArchiveServer:
        self._server = _QuietServer((LOOPBACK, port), _make_handler(self))
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="stac-http", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StacArchiveServer:
        return self.start() if self._server is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_request(self, **kw) -> None:
        with self._lock:
            self.requests.append(kw)

    def data_requests(self, name: str) -> list[dict]:
        return [r for r in self.requests if r["path"].endswith("/" + name)]

    def searches(self) -> list[dict]:
        return [r for r in self.requests if r["path"].rstrip("/").endswith("/search")]


def _normalise_get(query: dict[str, list[str]]) -> dict[str, Any]:
    params: dict[str, Any] = {k: v[0] for k, v in query.items()}
    for key in ("collections", "ids"):
        if key in params:
            params[key] = [s for s in params[key].split(",") if s]
    if "bbox" in params:
        params["bbox"] = [float(v) for v in params["bbox"].split(",")]
    return params


def _make_handler(server: StacArchiveServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet: tests and the demo have their own reports
            log.debug("stac: " + fmt, *args)

        def _send(self, status: int, body: bytes, ctype: str = "application/json", headers: dict | None = None):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, payload: dict) -> None:
            self._send(status, json.dumps(payload).encode())

        def _search(self, params: dict[str, Any], method: str) -> None:
            server.log_request(method=method, path="/search", range=None, status=200, params=params,
                               authorization=self.headers.get("Authorization") is not None)
            try:
                self._json(200, server.search(params, method))
            except (CqlError, ValueError) as exc:
                self._json(400, {"code": "InvalidParameterValue", "description": str(exc)})

        def do_POST(self):  # noqa: N802 (http.server API)
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            if url.path.rstrip("/") != "/search":
                self._json(404, {"code": "NotFound", "description": url.path})
                return
            try:
                params = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                self._json(400, {"code": "InvalidParameterValue", "description": "body is not JSON"})
                return
            self._search(params, "POST")

        def do_GET(self):  # noqa: N802 (http.server API)
            url = urlparse(self.path)
            path = url.path.rstrip("/") or "/"
            if path == "/":
                self._json(200, server.landing())
            elif path == "/conformance":
                self._json(200, {"conformsTo": CONFORMANCE})
            elif path == "/collections":
                self._json(200, {"collections": [server.collection_json()], "links": []})
            elif path == f"/collections/{server.collection}":
                self._json(200, server.collection_json())
            elif path == "/search":
                self._search(_normalise_get(parse_qs(url.query)), "GET")
            else:
                self._serve_asset(url.path)

        def _serve_asset(self, path: str) -> None:
            entry = next((e for e in server.entries if e.url_path == path), None)
            rng = self.headers.get("Range")
            if entry is None:
                server.log_request(method="GET", path=path, range=rng, status=404)
                self._json(404, {"code": "NotFound", "description": path})
                return
            auth = self.headers.get("Authorization") or ""
            kind, _, value = auth.partition(" ")
            if kind.lower() != "bearer" or not value:
                server.log_request(method="GET", path=path, range=rng, status=401)
                self._send(401, b"Unauthorized", "text/plain", {"WWW-Authenticate": 'Bearer realm="esa-maap"'})
                return
            if value != server.token:
                server.log_request(method="GET", path=path, range=rng, status=403)
                self._send(403, b"Forbidden", "text/plain")
                return
            name = entry.name
            if server.faults.take(server.faults.errors_500, name):
                server.log_request(method="GET", path=path, range=rng, status=500)
                self._send(500, b"Internal Server Error", "text/plain")
                return
            data = entry.local.read_bytes()
            if server.faults.take(server.faults.corrupt, name):
                mid = len(data) // 2
                data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1 :]
            start, status = 0, 200
            if rng and rng.startswith("bytes=") and not server.faults.ignore_range:
                first = rng[6:].split("-", 1)[0]
                start = int(first) if first else 0
                if start >= len(data):
                    server.log_request(method="GET", path=path, range=rng, status=416)
                    self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{len(data)}"})
                    return
                status = 206
            body = data[start:]
            drop = server.faults.take(server.faults.drop_after, name)
            server.log_request(method="GET", path=path, range=rng, status=status)
            self.send_response(status)
            self.send_header("Content-Type", "application/x-hdf5")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            limit = drop[0] if drop else len(body)
            _stream(self.wfile, body[:limit], server.faults.throttle_bps)
            if drop:
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)

    return Handler


@contextmanager
def serve_earthcare(archive: str | Path, *, token: str) -> Iterator[StacArchiveServer]:
    """Serve every EarthCARE frame under ``archive/earthcare/`` through a loopback STAC API until the block ends."""
    with StacArchiveServer(token=token) as server:
        server.publish_archive(archive)
        yield server


__all__ = ["COLLECTION", "CqlError", "StacArchiveServer", "StacEntry", "parse_cql2_text", "serve_earthcare"]

