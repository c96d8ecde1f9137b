"""Real archive servers on loopback: S3 (moto), a CMR-style search + login-protected HTTPS-like file
server, and SFTP (paramiko), each holding a synthetic archive in the real archive's layout (and the
EUMETSAT Data Store, :mod:`cloudbench.sources.local_datastore`, for Meteosat files).

The offline demo and the download tests run the real network code against these, so each server
speaks the real protocol (S3 REST, HTTP with Range and 401s, SSH/SFTP with password login). Each
has fault knobs (drop the connection mid-file, answer 500, serve corrupt bytes, throttle) so the
fetcher's resume, retry and verification paths run against real sockets, and a ``latency_s`` knob
that puts a :class:`~cloudbench.sources.latency.LatencyProxy` in front of it, so each request pays a
cloud endpoint's round trip (30 ms is typical) instead of loopback's microseconds.

To serve a whole ARCHIVE/ folder (for instance one written by ``cloudbench.synthetic.write_archive``)
through all of them at once, use :func:`serve_archive`; it stops every server on the way out, also on
Ctrl-C::

    with serve_archive("ARCHIVE") as ep:
        env = {**os.environ, **ep.env()}  # the logins, as a user would export them
        subprocess.run(["cloudbench", "download", "--start", "2018-10-01", "--end", "2018-10-02",
                        "--region", "paper", "--imager", "himawari", "--labels", "vfm",
                        "--out", "MIRROR", "--geometry-reduction", "10", *ep.download_args()],
                       env=env, check=True)
        # in-process, logins included: sources.download.download(..., opts=ep.source_options())
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import socket
import threading
import time
from base64 import b64decode
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import paramiko
from paramiko.sftp import SFTP_FAILURE, SFTP_NO_SUCH_FILE, SFTP_PERMISSION_DENIED

from cloudbench.extras import import_from_extra
from cloudbench.sources.latency import LOOPBACK, LatencyProxy

log = logging.getLogger(__name__)

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with path.open("rb") as f:
        while data := f.read(1 << 20):
            h.update(data)
    return h.hexdigest()


# --- fault knobs ------------------------------------------------------------------------------
@dataclass
class Faults:
    """Per-file fault budget, keyed by file name; each serve of a file consumes one count.

    ``drop_after``: name -> (bytes, times): close the socket after sending that many bytes.
    ``errors_500``: name -> times to answer HTTP 500 (S3-like 5xx) before serving.
    ``corrupt``: name -> times to serve the bytes with one byte flipped.
    ``throttle_bps``: sleep so that each response streams at about this rate (0: off).
    ``ignore_range``: answer 200 with the whole file to Range requests.
    """

    drop_after: dict[str, tuple[int, int]] = field(default_factory=dict)
    errors_500: dict[str, int] = field(default_factory=dict)
    corrupt: dict[str, int] = field(default_factory=dict)
    throttle_bps: float = 0.0
    ignore_range: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, table: dict, name: str) -> bool | tuple[int, int]:
        with self._lock:
            value = table.get(name)
            if not value:
                return False
            if isinstance(value, tuple):
                nbytes, times = value
                if times <= 0:
                    return False
                table[name] = (nbytes, times - 1)
                return value
            table[name] = value - 1
            return True


# --- HTTP: CMR-style granule search and login-protected file serving ---------------------------
@dataclass
class Granule:
    concept_id: str
    url_path: str  # e.g. /data/CALIPSO/LID_L2_VFM-Standard-V4-51/2018/10/<name>
    local: Path
    begin: datetime
    end: datetime
    bbox: tuple[float, float, float, float] | None  # W, S, E, N
    size: int
    md5: str


def _parse_iso(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


def _bbox_intersects(a, b) -> bool:
    if a is None or b is None:
        return True
    aw, as_, ae, an = a
    bw, bs, be, bn = b
    if an < bs or bn < as_:
        return False

    def spans(w, e):
        return [(w, e)] if w <= e else [(w, 180.0), (-180.0, e)]

    return any(x0 <= y1 and y0 <= x1 for x0, x1 in spans(aw, ae) for y0, y1 in spans(bw, be))


class ArchiveHttpServer:
    """A CMR-style search and a file server behind a login.

    The search answers what the catalog asks CMR: collections by short name and version
    (``/search/collections.umm_json``), then granules of a collection concept id by time and box
    (``/search/granules.umm_json``, paged with CMR-Search-After). Concept ids are made up here
    (``C1000000001-LOCAL``...), so a client that stored real ones instead of searching finds nothing.

    Files under ``/data/`` need ``Authorization: Bearer <token>`` or HTTP basic auth with the
    configured user (401 otherwise); the search is public, like CMR's. Range requests get 206.
    """

    def __init__(self, *, token: str | None = None, username: str | None = None, password: str | None = None,
                 page_size_cap: int = 2000, latency_s: float = 0.0):
        self.token, self.username, self.password = token, username, password
        self.latency_s = latency_s  # round trip added to every request (see LatencyProxy); 0: none
        self._proxy: LatencyProxy | None = None
        self.granules: list[Granule] = []
        self.collections: dict[tuple[str, str], str] = {}  # (short name, version) -> concept id
        self.faults = Faults()
        self.requests: list[dict] = []  # method, path, range, status (for tests to check resumes)
        self.page_size_cap = page_size_cap
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- content ------------------------------------------------------------------------------
    def add_collection(self, short_name: str, version: str) -> str:
        """Register a collection (once); returns its concept id for ``add_granule``."""
        key = (short_name, version)
        if key not in self.collections:
            self.collections[key] = f"C{1_000_000_001 + len(self.collections)}-LOCAL"
        return self.collections[key]

    def search_collections(self, query: dict[str, list[str]]) -> list[dict]:
        """UMM-C-like records of the registered collections matching ``short_name`` and ``version``."""
        short_name = (query.get("short_name") or [None])[0]
        version = (query.get("version") or [None])[0]
        return [{"meta": {"concept-id": cid, "provider-id": "LOCAL"}, "umm": {"ShortName": s, "Version": v}}
                for (s, v), cid in self.collections.items()
                if (short_name is None or s == short_name) and (version is None or v == version)]

    def add_granule(self, concept_id: str, url_path: str, local: str | Path, begin: datetime, end: datetime,
                    bbox: tuple[float, float, float, float] | None = None, md5: str | None = None) -> Granule:
        """Publish a local file at ``url_path`` and in the search results of ``concept_id``.

        ``md5`` overrides the advertised checksum (to publish a wrong one).
        """
        local = Path(local)
        g = Granule(concept_id, "/" + url_path.lstrip("/"), local, begin, end, bbox, local.stat().st_size, md5 or _md5(local))
        self.granules.append(g)
        return g

    @property
    def url(self) -> str:
        """Where clients connect: the latency proxy when there is one, else the server itself."""
        assert self._server is not None, "server not started"
        host, port = self._proxy.address if self._proxy is not None else self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _umm(self, g: Granule) -> dict:
        name = posixpath.basename(g.url_path)
        short_name, version = next((key for key, cid in self.collections.items() if cid == g.concept_id), (None, None))
        umm = {
            "GranuleUR": name,
            "TemporalExtent": {"RangeDateTime": {"BeginningDateTime": g.begin.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                                                 "EndingDateTime": g.end.strftime("%Y-%m-%dT%H:%M:%S.000Z")}},
            "DataGranule": {"ArchiveAndDistributionInformation": [
                {"Name": name, "SizeInBytes": g.size, "Size": round(g.size / 1024**2, 6), "SizeUnit": "MB",
                 "Checksum": {"Value": g.md5, "Algorithm": "MD5"}}]},
            "RelatedUrls": [{"URL": self.url + g.url_path, "Type": "GET DATA"},
                            {"URL": "s3://asdc-prod-protected" + g.url_path, "Type": "GET DATA VIA DIRECT ACCESS"}],
            "CollectionReference": {"ShortName": short_name, "Version": version},
        }
        if g.bbox is not None:
            w, s, e, n = g.bbox
            umm["SpatialExtent"] = {"HorizontalSpatialDomain": {"Geometry": {"BoundingRectangles": [
                {"WestBoundingCoordinate": w, "SouthBoundingCoordinate": s, "EastBoundingCoordinate": e,
                 "NorthBoundingCoordinate": n}]}}}
        return {"meta": {"concept-id": f"G{abs(hash(name)) % 10**10}-LOCAL", "native-id": name}, "umm": umm}

    def search(self, query: dict[str, list[str]], after: str | None) -> tuple[list[dict], int, str | None]:
        cid = (query.get("collection_concept_id") or [None])[0]
        hits = [g for g in self.granules if cid is None or g.concept_id == cid]
        if "temporal" in query:
            t0, t1 = (_parse_iso(v) if v else None for v in query["temporal"][0].split(","))
            hits = [g for g in hits if (t1 is None or g.begin <= t1) and (t0 is None or g.end >= t0)]
        if "bounding_box" in query:
            box = tuple(float(v) for v in query["bounding_box"][0].split(","))
            hits = [g for g in hits if _bbox_intersects(g.bbox, box)]
        hits.sort(key=lambda g: (g.begin, g.url_path))
        page_size = min(int((query.get("page_size") or ["10"])[0]), self.page_size_cap)
        start = int(after) if after else 0
        page = hits[start : start + page_size]
        nxt = str(start + page_size) if start + page_size < len(hits) else None
        return [self._umm(g) for g in page], len(hits), nxt

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self, port: int = 0) -> ArchiveHttpServer:
        handler = _make_http_handler(self)
        self._server = ThreadingHTTPServer((LOOPBACK, 0 if self.latency_s else port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="archive-http", daemon=True)
        self._thread.start()
        if self.latency_s:
            self._proxy = LatencyProxy(self._server.server_address[:2], self.latency_s, port).start()
        return self

    def stop(self) -> None:
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ArchiveHttpServer:
        return self.start() if self._server is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    def authorised(self, header: str | None) -> bool:
        if not header:
            return False
        kind, _, value = header.partition(" ")
        if kind.lower() == "bearer":
            return self.token is not None and value == self.token
        if kind.lower() == "basic" and self.username is not None:
            try:
                user, _, pw = b64decode(value).decode().partition(":")
            except ValueError:
                return False
            return user == self.username and pw == self.password
        return False

    def log_request(self, **kw) -> None:
        with self._lock:
            self.requests.append(kw)

    def data_requests(self, name: str) -> list[dict]:
        return [r for r in self.requests if r["path"].endswith("/" + name)]


def _make_http_handler(server: ArchiveHttpServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet: tests and the demo have their own reports
            log.debug("http: " + fmt, *args)

        def _send(self, status: int, body: bytes, ctype: str = "application/json", headers: dict | None = None):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self):  # noqa: N802 (http.server API)
            url = urlparse(self.path)
            if url.path.rstrip("/").endswith("/search/collections.umm_json"):
                items = server.search_collections(parse_qs(url.query))
                server.log_request(method="GET", path=url.path, range=None, status=200, query=url.query)
                self._send(200, json.dumps({"hits": len(items), "took": 1, "items": items}).encode(),
                           headers={"CMR-Hits": str(len(items))})
                return
            if url.path.rstrip("/").endswith("/search/granules.umm_json"):
                items, hits, nxt = server.search(parse_qs(url.query), self.headers.get("CMR-Search-After"))
                headers = {"CMR-Hits": str(hits)}
                if nxt:
                    headers["CMR-Search-After"] = nxt
                server.log_request(method="GET", path=url.path, range=None, status=200, query=url.query)
                self._send(200, json.dumps({"hits": hits, "took": 1, "items": items}).encode(), headers=headers)
                return
            g = next((g for g in server.granules if g.url_path == url.path), None)
            if g is None:
                server.log_request(method="GET", path=url.path, range=None, status=404)
                self._send(404, b'{"errors":["not found"]}')
                return
            if not server.authorised(self.headers.get("Authorization")):
                server.log_request(method="GET", path=url.path, range=None, status=401)
                self._send(401, b"Unauthorized", "text/plain", {"WWW-Authenticate": 'Basic realm="Earthdata Login"'})
                return
            self._serve_file(g, url.path)

        def _serve_file(self, g: Granule, path: str):
            name = posixpath.basename(path)
            rng = self.headers.get("Range")
            if server.faults.take(server.faults.errors_500, name):
                server.log_request(method="GET", path=path, range=rng, status=500)
                self._send(500, b"Internal Server Error", "text/plain")
                return
            data = g.local.read_bytes()
            if server.faults.take(server.faults.corrupt, name):
                mid = len(data) // 2
                data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1 :]
            start = 0
            status = 200
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
            self.send_header("Content-Type", "application/octet-stream")
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


def _stream(wfile, body: bytes, bps: float, chunk: int = 64 * 1024) -> None:
    if not bps:
        wfile.write(body)
        return
    step = max(1024, min(chunk, int(bps / 20)))
    for i in range(0, len(body), step):
        wfile.write(body[i : i + step])
        wfile.flush()
        time.sleep(step / bps)


# --- S3: moto's real server -----------------------------------------------------------------
class _BodilessReads:
    """The handler's request stream; while a request without a body is served, reads return nothing.

    After each response werkzeug drains what is left in the socket, reading until it is empty,
    which is right when the connection is about to close and would swallow (or wait for) the next
    request on a kept-alive one. A request without a body leaves nothing to drain, so the drain
    finds nothing, and the next request stays where ``readline`` finds it.
    """

    def __init__(self, raw):
        self._raw = raw
        self.bodiless = False

    def read(self, n: int = -1) -> bytes:
        return b"" if self.bodiless else self._raw.read(n)

    def __getattr__(self, name: str):
        return getattr(self._raw, name)


def _keep_alive_moto_handler():
    """moto's request handler, keeping the connection open after a request without a body.

    Werkzeug's development server closes the connection after every response. S3 keeps connections
    alive, and behind a round trip of latency a new connection per request would charge every GET
    and listing a handshake that real clients do not pay. Requests without a body (GET, HEAD,
    listings: all of a download) keep the connection; uploads still close it.
    """
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class KeepAliveHandler(MotoRequestHandler):
        disable_nagle_algorithm = True  # headers and body go out as separate writes: never hold one back

        def setup(self) -> None:
            super().setup()
            self.rfile = _BodilessReads(self.rfile)

        def handle_one_request(self) -> None:
            self.rfile.bodiless = False  # the next request line and headers are read as they come
            super().handle_one_request()

        def parse_request(self) -> bool:
            ok = super().parse_request()
            if ok:
                self.rfile.bodiless = ("Transfer-Encoding" not in self.headers
                                       and int(self.headers.get("Content-Length") or 0) == 0)
            return ok

        def send_header(self, keyword: str, value: str) -> None:
            if self.rfile.bodiless and keyword.lower() == "connection" and value.lower() == "close":
                return
            super().send_header(keyword, value)

    return KeepAliveHandler


class MotoS3Server:
    """moto's S3 server on loopback; ``upload_archive`` fills ``noaa-<platform>`` buckets from ARCHIVE/ folders.

    moto keeps one object store per process, so a server resets it when it starts: a fresh server is
    empty, as a fresh bucket host would be, whatever an earlier server of the same process held.
    """

    def __init__(self, port: int = 0, *, latency_s: float = 0.0):
        self._requested_port = port  # 0: the system picks a free one when the server binds
        self.port: int | None = port or None
        self.latency_s = latency_s  # round trip added to every request (see LatencyProxy); 0: none
        self._direct_port: int | None = None
        self._proxy: LatencyProxy | None = None
        self._server = None
        self._client = None
        self._buckets: set[str] = set()

    @property
    def endpoint(self) -> str:
        """Where clients connect (through the latency proxy when there is one)."""
        assert self.port is not None, "server not started"
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def direct_endpoint(self) -> str:
        """moto itself, without the proxy: filling buckets need not pay the round trips."""
        assert self._direct_port is not None, "server not started"
        return f"http://{LOOPBACK}:{self._direct_port}"

    def start(self) -> MotoS3Server:
        moto_app = import_from_extra("moto.moto_server.werkzeug_app", "demo", "the loopback S3 server")
        DomainDispatcherApplication, create_backend_app = moto_app.DomainDispatcherApplication, moto_app.create_backend_app  # noqa: N806
        from werkzeug.serving import make_server

        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self._server = make_server(LOOPBACK, 0 if self.latency_s else self._requested_port,
                                   DomainDispatcherApplication(create_backend_app), threaded=True,
                                   request_handler=_keep_alive_moto_handler())
        threading.Thread(target=self._server.serve_forever, name="moto-s3", daemon=True).start()
        self._direct_port = self.port = int(self._server.server_address[1])
        if self.latency_s:
            self._proxy = LatencyProxy((LOOPBACK, self._direct_port), self.latency_s, self._requested_port).start()
            self.port = self._proxy.port
        import requests

        requests.post(f"{self.direct_endpoint}/moto-api/reset", timeout=10).raise_for_status()
        return self

    def stop(self) -> None:
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None
        if self._server is not None:
            self._server.shutdown()  # werkzeug closes the listening socket when serve_forever returns
            self._server = None
            self._client = None

    def __enter__(self) -> MotoS3Server:
        return self.start() if self._server is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    def client(self):
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def _new_client(self):
        boto3 = import_from_extra("boto3", "demo", "the loopback S3 server")
        return boto3.client("s3", endpoint_url=self.direct_endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def put(self, bucket: str, key: str, data: bytes) -> None:
        c = self.client()
        if bucket not in self._buckets:
            self._create_bucket(bucket)
        try:
            c.put_object(Bucket=bucket, Key=key, Body=data, ACL="public-read")
        except c.exceptions.NoSuchBucket:  # another server of this process reset moto's one store
            self._create_bucket(bucket)
            c.put_object(Bucket=bucket, Key=key, Body=data, ACL="public-read")

    def _create_bucket(self, bucket: str) -> None:
        c = self.client()
        try:
            c.create_bucket(Bucket=bucket)
        except c.exceptions.BucketAlreadyOwnedByYou:
            pass
        self._buckets.add(bucket)

    def upload_archive(self, archive: str | Path, tops: tuple[str, ...] | None = None) -> list[str]:
        """Upload ``ARCHIVE/<platform>/...`` to ``s3://noaa-<platform>/...``; returns the keys uploaded."""
        archive = Path(archive)
        client = self.client()
        uploaded = []
        for top in imager_tops() if tops is None else tops:
            base = archive / top
            if not base.is_dir():
                continue
            bucket = f"noaa-{top}"
            existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
            if bucket not in existing:
                client.create_bucket(Bucket=bucket)
            for path in sorted(p for p in base.rglob("*") if p.is_file()):
                key = path.relative_to(base).as_posix()
                # NOAA's open-data objects are public-read: anonymous clients may GET them
                client.upload_file(str(path), bucket, key, ExtraArgs={"ACL": "public-read"})
                uploaded.append(f"{top}/{key}")
        return uploaded


# --- SFTP: paramiko server ------------------------------------------------------------------
_HOST_KEY: paramiko.RSAKey | None = None
_HOST_KEY_LOCK = threading.Lock()


def _host_key() -> paramiko.RSAKey:
    global _HOST_KEY
    with _HOST_KEY_LOCK:
        if _HOST_KEY is None:
            _HOST_KEY = paramiko.RSAKey.generate(2048)
        return _HOST_KEY


class SftpServer:
    """A read-only SFTP server on loopback serving ``root`` to one user, by password or by SSH key.

    ``authorized_keys``: public keys (paramiko keys) that may log in as the user, as the DPC accepts
    a key registered with the account.

    ``mounts`` shows other local folders as top-level folders of the tree (``{"Data":
    ARCHIVE/"cloudsat"}`` serves an ARCHIVE/'s CloudSat part where the DPC keeps it, without copying).

    Fault knob ``faults.drop_after``: file name -> (bytes, times): close the SSH connection when a
    read reaches past that many bytes of the file.
    """

    def __init__(self, root: str | Path, username: str, password: str, *, mounts: dict[str, str | Path] | None = None,
                 authorized_keys: list[paramiko.PKey] | None = None, latency_s: float = 0.0):
        self.latency_s = latency_s  # round trip added to every exchange (see LatencyProxy); 0: none
        self._proxy: LatencyProxy | None = None
        self.root = Path(root).resolve()
        self.mounts = {name.strip("/"): Path(local).resolve() for name, local in (mounts or {}).items()}
        self.username, self.password = username, password
        self.authorized_keys = list(authorized_keys or [])
        self.faults = Faults()
        self.opened: Counter[str] = Counter()  # file name -> opens (tests check resumes)
        self.logins_refused = 0
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._transports: list[paramiko.Transport] = []
        self._stop = threading.Event()

    @property
    def port(self) -> int:
        """Where clients connect (through the latency proxy when there is one)."""
        assert self._sock is not None, "server not started"
        return self._proxy.port if self._proxy is not None else self._sock.getsockname()[1]

    @property
    def host(self) -> str:
        return LOOPBACK

    def start(self, port: int = 0) -> SftpServer:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((LOOPBACK, 0 if self.latency_s else port))
        self._sock.listen(32)
        self._sock.settimeout(0.2)
        _host_key()
        self._thread = threading.Thread(target=self._accept_loop, name="sftp-accept", daemon=True)
        self._thread.start()
        if self.latency_s:
            self._proxy = LatencyProxy(self._sock.getsockname()[:2], self.latency_s, port).start()
        return self

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            t = paramiko.Transport(conn)
            t.add_server_key(_host_key())
            t.set_subsystem_handler("sftp", paramiko.SFTPServer, _ReadOnlyTree)
            try:
                t.start_server(server=_Login(self, t))
            except (paramiko.SSHException, EOFError, OSError):
                t.close()
                continue
            self._transports.append(t)

    def stop(self) -> None:
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
        for t in self._transports:
            t.close()
        self._transports.clear()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> SftpServer:
        return self.start() if self._sock is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


class _Login(paramiko.ServerInterface):
    def __init__(self, owner: SftpServer, transport: paramiko.Transport):
        self.owner = owner
        self.transport = transport

    def check_auth_password(self, username, password):
        if username == self.owner.username and password == self.owner.password:
            return paramiko.AUTH_SUCCESSFUL
        self.owner.logins_refused += 1
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username, key):
        if username == self.owner.username and any(
                key.get_name() == k.get_name() and key.asbytes() == k.asbytes() for k in self.owner.authorized_keys):
            return paramiko.AUTH_SUCCESSFUL
        self.owner.logins_refused += 1
        return paramiko.AUTH_FAILED

    def get_allowed_auths(self, username):
        return "password,publickey" if self.owner.authorized_keys else "password"

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _Handle(paramiko.SFTPHandle):
    def __init__(self, f, name: str, login: _Login):
        super().__init__(0)
        self.readfile = f
        self.name = name
        self.login = login

    def read(self, offset, length):
        faults = self.login.owner.faults
        drop = faults.drop_after.get(self.name)
        if drop and drop[1] > 0 and offset + length > drop[0]:
            faults.take(faults.drop_after, self.name)
            self.login.transport.close()
            return SFTP_FAILURE
        if faults.throttle_bps:
            time.sleep(length / faults.throttle_bps)
        return super().read(offset, length)


class _ReadOnlyTree(paramiko.SFTPServerInterface):
    """The owner's folder as a read-only SFTP tree (paths outside it are refused)."""

    def __init__(self, login: _Login, *args, **kwargs):
        super().__init__(login, *args, **kwargs)
        self.login = login
        self.root = login.owner.root

    def _local(self, path: str) -> Path:
        rel = posixpath.normpath("/" + path).lstrip("/")
        top, _, rest = rel.partition("/")
        base = self.login.owner.mounts.get(top)
        if base is None:
            base, rest = self.root, rel
        p = (base / rest).resolve()
        if p != base and base not in p.parents:
            raise PermissionError(path)
        return p

    @staticmethod
    def _attr(p: Path) -> paramiko.SFTPAttributes:
        attr = paramiko.SFTPAttributes.from_stat(p.stat())
        attr.filename = p.name
        return attr

    def list_folder(self, path):
        try:
            return [self._attr(c) for c in sorted(self._local(path).iterdir())]
        except FileNotFoundError:
            return SFTP_NO_SUCH_FILE
        except (PermissionError, NotADirectoryError):
            return SFTP_PERMISSION_DENIED

    def stat(self, path):
        try:
            return self._attr(self._local(path))
        except FileNotFoundError:
            return SFTP_NO_SUCH_FILE
        except PermissionError:
            return SFTP_PERMISSION_DENIED

    lstat = stat

    def open(self, path, flags, attr):
        if flags & (os.O_WRONLY | os.O_RDWR):
            return SFTP_PERMISSION_DENIED  # an archive is read-only
        try:
            p = self._local(path)
            f = p.open("rb")
        except FileNotFoundError:
            return SFTP_NO_SUCH_FILE
        except (PermissionError, IsADirectoryError):
            return SFTP_PERMISSION_DENIED
        self.login.owner.opened[p.name] += 1
        return _Handle(f, p.name, self.login)

    def canonicalize(self, path):
        return "/" + posixpath.normpath("/" + path).lstrip("/")


# --- a whole ARCHIVE/ behind all three servers ----------------------------------------------------
DEMO_TOKEN = "local-earthdata-token"  # the loopback servers' logins: not secrets, nothing real is behind them
DEMO_DPC_USER = "cloudsat-user"
DEMO_DPC_PASSWORD = "local-dpc-password"
ASDC_DATA_PATH = "/data/CALIPSO"  # ASDC's file URLs: https://asdc.larc.nasa.gov/data/CALIPSO/<collection>/...
MAAP_DEMO_TOKEN = "local-maap-token"


def imager_tops() -> tuple[str, ...]:
    """Archive folders of the registry's imager platforms whose public archive is an S3 bucket."""
    from cloudbench.sensors.registry import imager_products
    from cloudbench.sources.noaa import NoaaBucketStore

    tops: list[str] = []
    for product in imager_products().values():
        try:
            store = product.public_store(None)
        except Exception:  # noqa: BLE001 - a product without a public store (or needing credentials) is not served here
            continue
        if isinstance(store, NoaaBucketStore):
            tops += list(product.sub_lon)
    return tuple(tops)


@dataclass(frozen=True)
class ArchiveEndpoints:
    """Where :func:`serve_archive` serves an ARCHIVE/, and the logins it accepts.

    ``download_args()`` are the ``cloudbench download`` options that point at these servers and
    ``env()`` the logins the way users keep them (environment variables), so they stay off command
    lines; ``source_options()`` is both at once for the library call ``sources.download.download``.
    """

    s3_endpoint: str
    cmr_url: str
    dpc_host: str
    dpc_port: int
    earthdata_token: str = field(repr=False)
    dpc_user: str
    dpc_password: str = field(repr=False)
    maap_url: str = ""
    maap_token: str = field(default="", repr=False)
    uploaded: tuple[str, ...] = ()  # ARCHIVE/-relative imager files now in the S3 buckets
    granules: tuple[str, ...] = ()  # ARCHIVE/-relative VFM files published in the CMR-style search
    frames: tuple[str, ...] = ()  # ARCHIVE/-relative EarthCARE files published in the STAC search
    ports: tuple[int, ...] = ()  # every loopback port the servers listen on
    datastore_url: str = ""  # the loopback EUMETSAT Data Store (Meteosat files)
    eumetsat_key: str = ""
    eumetsat_secret: str = field(default="", repr=False)
    datastore_files: tuple[str, ...] = ()  # ARCHIVE/-relative files published in the Data Store

    def download_args(self) -> list[str]:
        return ["--s3-endpoint", self.s3_endpoint, "--cmr-url", self.cmr_url, "--datastore-url", self.datastore_url,
                "--dpc-host", self.dpc_host, "--dpc-port", str(self.dpc_port), "--maap-url", self.maap_url]

    def env(self) -> dict[str, str]:
        from cloudbench.sources.credentials import (
            DPC_PASSWORD_ENV,
            DPC_USER_ENV,
            EUMETSAT_KEY_ENV,
            EUMETSAT_SECRET_ENV,
        )
        from cloudbench.sources.maap_stac import MAAP_TOKEN_ENV

        return {"EARTHDATA_TOKEN": self.earthdata_token, DPC_USER_ENV: self.dpc_user, DPC_PASSWORD_ENV: self.dpc_password,
                EUMETSAT_KEY_ENV: self.eumetsat_key, EUMETSAT_SECRET_ENV: self.eumetsat_secret,
                MAAP_TOKEN_ENV: self.maap_token}

    def source_options(self):
        """``SourceOptions`` for ``sources.download.download``, logins included (no environment needed)."""
        from cloudbench.sources.download import SourceOptions

        return SourceOptions(s3_endpoint=self.s3_endpoint, cmr_url=self.cmr_url, dpc_host=self.dpc_host,
                             dpc_port=self.dpc_port, dpc_user=self.dpc_user, dpc_password=self.dpc_password,
                             earthdata_token=self.earthdata_token, maap_stac_url=self.maap_url,
                             maap_token=self.maap_token, datastore_url=self.datastore_url,
                             eumetsat_key=self.eumetsat_key, eumetsat_secret=self.eumetsat_secret)


def publish_vfm_granules(server: ArchiveHttpServer, archive: str | Path) -> list[str]:
    """Publish every VFM file under ``archive/calipso/`` in the server's search, at its ASDC-like URL.

    Each record's time span and bounding box come from the file's own track (the real reader), as
    CMR's come from the granule's metadata; the collection is the one of the stage and version in the
    name, registered under its CMR short name and version.
    """
    from cloudbench.products import calipso_vfm
    from cloudbench.readers import read_track

    archive = Path(archive)
    published = []
    for path in sorted((archive / "calipso").rglob("*.hdf")):
        info = calipso_vfm.parse_filename(path.name)
        if info is None:
            continue
        track = read_track(path)
        times = np.asarray(track["time"], dtype="datetime64[ns]")
        lat, lon = np.asarray(track["latitude"]), np.asarray(track["longitude"])
        begin, end = (datetime.fromisoformat(str(t.astype("datetime64[us]"))).replace(tzinfo=UTC)
                      for t in (times.min(), times.max()))
        bbox = (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
        relpath = path.relative_to(archive).as_posix()
        collection = server.add_collection(*calipso_vfm.cmr_collection(info.version, info.stage))
        server.add_granule(collection, f"{ASDC_DATA_PATH}/{relpath.removeprefix('calipso/')}", path, begin, end, bbox)
        published.append(relpath)
    return published


@contextmanager
def serve_archive(archive: str | Path, *, token: str = DEMO_TOKEN, dpc_user: str = DEMO_DPC_USER,
                  dpc_password: str = DEMO_DPC_PASSWORD, maap_token: str = MAAP_DEMO_TOKEN,
                  latency_s: float = 0.0) -> Iterator[ArchiveEndpoints]:
    """Serve an ARCHIVE/ folder as the real archives do, on loopback, until the block ends.

    - imager folders (``himawari8/``, ``goes16/``...) go to moto S3 buckets ``noaa-<platform>``;
    - CALIPSO VFM files are found through a CMR-style search and fetched with the Earthdata token
      (401 without it);
    - ``cloudsat/`` is the ``Data/`` folder of an SFTP server that takes ``dpc_user``/``dpc_password``;
    - EarthCARE frames are found through a STAC search (as ESA MAAP's) and fetched with a bearer token;
    - Meteosat files (``meteosat8/``...) are products of a loopback EUMETSAT Data Store that takes
      the consumer key and secret of :mod:`cloudbench.sources.local_datastore`.

    ``latency_s`` puts every server behind a :class:`~cloudbench.sources.latency.LatencyProxy`: each
    request then pays that round trip, as it would against the real archives.

    Every server stops when the block exits, whether it ends, raises or is interrupted (Ctrl-C):
    their ports are closed afterwards. The uploaded objects stay in moto's in-process store.
    """
    archive = Path(archive)
    if not archive.is_dir():
        from cloudbench.errors import MissingInputError

        raise MissingInputError("is not a folder", path=archive, fix="give the ARCHIVE folder to serve")
    with ExitStack() as stack:
        s3 = stack.enter_context(MotoS3Server(latency_s=latency_s))
        uploaded = s3.upload_archive(archive, imager_tops())
        http = stack.enter_context(ArchiveHttpServer(token=token, latency_s=latency_s))
        granules = publish_vfm_granules(http, archive)
        sftp = stack.enter_context(SftpServer(archive / "cloudsat", dpc_user, dpc_password,
                                             mounts={"Data": archive / "cloudsat"}, latency_s=latency_s))
        from cloudbench.sources.local_datastore import LocalDataStore, publish_archive
        from cloudbench.sources.local_stac import StacArchiveServer

        stac = stack.enter_context(StacArchiveServer(token=maap_token))
        frames = stac.publish_archive(archive)
        datastore = stack.enter_context(LocalDataStore())
        published = publish_archive(datastore, archive)
        http_port = int(http.url.rsplit(":", 1)[1])
        stac_port = int(stac.url.rsplit(":", 1)[1])
        yield ArchiveEndpoints(
            s3_endpoint=s3.endpoint, cmr_url=http.url, dpc_host=sftp.host, dpc_port=sftp.port,
            earthdata_token=token, dpc_user=dpc_user, dpc_password=dpc_password, maap_url=stac.url,
            maap_token=maap_token, uploaded=tuple(uploaded), granules=tuple(granules), frames=tuple(frames),
            ports=(s3.port, http_port, sftp.port, stac_port, datastore.port),
            datastore_url=datastore.url, eumetsat_key=datastore.key, eumetsat_secret=datastore.secret,
            datastore_files=tuple(published),
        )
