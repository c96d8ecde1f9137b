"""EarthCARE frames from ESA's MAAP: a STAC API search for what exists, HTTPS with a bearer token to fetch.

The search (pystac-client) asks the collection ``EarthCAREL2Validated_MAAP`` for one product type
(CQL2 filter on ``product:type``, optionally ``version`` for one baseline) over the time span and the
region's box, then keeps only the frames whose ground track really crosses the region: the frame's
latitude band first (from its letter), then the item's track geometry (or bounding box). Where a frame
exists in several baselines, the newest one is kept. Each item's ``enclosure_h5`` asset is the file
fetched, with its size from ``file:size`` (and a checksum from ``file:checksum`` when the item has one).

Searching is public; downloading needs an ESA MAAP access token, read from the environment variable
:data:`MAAP_TOKEN_ENV` and sent only as ``Authorization: Bearer`` to the asset URLs. It is held in a
:class:`~cloudbench.sources.credentials.Secret`, so no message, log line or repr can show it.
"""

from __future__ import annotations

import logging
import os
import posixpath
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import numpy as np
import requests
from requests.adapters import HTTPAdapter

from cloudbench.config import Region
from cloudbench.errors import CredentialsError, UserError
from cloudbench.products import earthcare as ec
from cloudbench.sources.base import (
    ByteStream,
    Catalog,
    Item,
    NotFoundError,
    RetryPolicy,
    TransientError,
    parse_checksum,
    retry_call,
)
from cloudbench.sources.credentials import Secret
from cloudbench.sources.earthcare_layout import EarthcareLayout, earthcare_layout

log = logging.getLogger(__name__)

MAAP_STAC_URL = "https://catalog.maap.eo.esa.int/catalogue"
COLLECTION = "EarthCAREL2Validated_MAAP"
H5_ASSET = "enclosure_h5"
MAAP_TOKEN_ENV = "MAAP_TOKEN"
MAAP_FIX = (
    f"set {MAAP_TOKEN_ENV} to an ESA MAAP access token: sign in at https://portal.maap.eo.esa.int with an "
    "ESA EO Sign In account whose EarthCARE data access is approved, create a token there and exchange it for "
    f"an access token as ESA's MAAP documentation shows, then export it as {MAAP_TOKEN_ENV}. Access tokens "
    "expire: make a new one when downloads are refused"
)
PAGE_SIZE = 500
TIMEOUT_S = (10.0, 60.0)
HTTP_CHUNK_BYTES = 64 * 1024
DENSIFY_DEG = 0.25  # track segments are checked against the region every this many degrees


def maap_token(env: Mapping[str, str] | None = None) -> Secret:
    """The MAAP access token from the environment, or CredentialsError naming the variable (exit 1)."""
    env = os.environ if env is None else env
    value = env.get(MAAP_TOKEN_ENV, "").strip()
    if not value:
        raise CredentialsError(f"no ESA MAAP token: {MAAP_TOKEN_ENV} is not set (needed to download EarthCARE frames)",
                               fix=MAAP_FIX)
    return Secret(value)


# --- which frames cross a region ---------------------------------------------------------------------------
def _lat_overlap(band: tuple[float, float], region: Region) -> bool:
    return band[0] <= region.north and region.south <= band[1]


def _unwrapped(lon: np.ndarray) -> np.ndarray:
    return np.rad2deg(np.unwrap(np.deg2rad(np.asarray(lon, dtype=np.float64))))


def _line_crosses(coords: Any, region: Region) -> bool:
    """Whether a line of (lon, lat) points, densified, enters the region (antimeridian-safe)."""
    pts = np.asarray(coords, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] == 0 or pts.shape[1] < 2:
        return False
    lon, lat = _unwrapped(pts[:, 0]), pts[:, 1]
    if lon.size > 1:  # every DENSIFY_DEG along each segment, then the last vertex
        steps = np.maximum(1, np.ceil(np.hypot(np.diff(lon), np.diff(lat)) / DENSIFY_DEG).astype(int))
        seg = np.repeat(np.arange(lon.size - 1), steps)
        frac = np.concatenate([np.arange(k) / k for k in steps])
        lon = np.append(lon[seg] + frac * (lon[seg + 1] - lon[seg]), lon[-1])
        lat = np.append(lat[seg] + frac * (lat[seg + 1] - lat[seg]), lat[-1])
    return bool(region.contains((lon + 180.0) % 360.0 - 180.0, lat).any())


def _bbox_crosses(bbox: Any, region: Region) -> bool:
    """Whether a STAC bbox ([W, S, E, N] or the 3-D [W, S, zmin, E, N, zmax]) meets the region's box."""
    values = [float(v) for v in bbox]
    w, s, e, n = values if len(values) == 4 else (values[0], values[1], values[3], values[4])
    if n < region.south or region.north < s:
        return False

    def spans(a: float, b: float) -> list[tuple[float, float]]:
        return [(a, b)] if a <= b else [(a, 180.0), (-180.0, b)]

    return any(x0 <= y1 and y0 <= x1 for x0, x1 in spans(w, e) for y0, y1 in spans(region.west, region.east))


def frame_crosses(frame: str, geometry: Mapping | None, bbox: Any, region: Region | None) -> bool:
    """Whether a frame's track crosses ``region``: its latitude band, then its track, else its box."""
    if region is None:
        return True
    if frame in ec.FRAMES and not _lat_overlap(ec.FRAMES[frame].lat_band, region):
        return False
    if geometry:
        kind, coords = geometry.get("type"), geometry.get("coordinates")
        if kind == "LineString":
            return _line_crosses(coords, region)
        if kind == "MultiLineString":
            return any(_line_crosses(part, region) for part in coords)
    if bbox:
        return _bbox_crosses(bbox, region)
    return True


def multihash_checksum(value: str | None) -> str | None:
    """A STAC ``file:checksum`` (hex multihash) as ``algo:hex``; None for unknown algorithms."""
    if not value:
        return None
    v = value.strip().lower()
    for prefix, algo, size in (("1220", "sha256", 32), ("1114", "sha1", 20), ("1340", "sha512", 64),
                               ("d50110", "md5", 16)):
        if v.startswith(prefix) and len(v) == len(prefix) + 2 * size:
            return parse_checksum(algo, v[len(prefix):])
    return None


def _stac_error(exc: Exception, url: str) -> Exception:
    status = getattr(exc, "status_code", None)
    if status is None or status >= 500 or status == 429:
        return TransientError(f"STAC search at {url} failed: {exc}")
    return UserError(f"STAC search at {url} failed: HTTP {status}: {str(exc)[:200]}",
                     fix="check the MAAP STAC URL and the collection name")


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class MaapStacCatalog(Catalog):
    """One EarthCARE product's frames, searched in a STAC API and fetched with a bearer token.

    Args:
        product: the product type to search.
        token: the access token (None: listing works, fetching raises CredentialsError).
        stac_url: the STAC API root (the loopback server in tests and the demo).
        collection: the STAC collection holding the product.
        baseline: only this processor baseline (two letters); None: the newest of each frame.
        asset: the item asset to fetch.
    """

    name = "maap-stac"

    def __init__(self, product: ec.ProductType, token: Secret | None, *, stac_url: str = MAAP_STAC_URL,
                 collection: str = COLLECTION, baseline: str | None = None, asset: str = H5_ASSET,
                 pool_size: int = 8, retry: RetryPolicy | None = None, page_size: int = PAGE_SIZE):
        self.product = product
        self.stac_url = stac_url.rstrip("/")
        self.collection = collection
        self.baseline = baseline.upper() if baseline else None
        self.asset = asset
        self.page_size = page_size
        self.retry = retry or RetryPolicy()
        self.layout: EarthcareLayout = earthcare_layout(product, self.baseline)
        self._token = token
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def __repr__(self) -> str:
        return f"MaapStacCatalog({self.product.code!r}, {self.stac_url!r}, token={'***' if self._token else None})"

    # --- search -----------------------------------------------------------------------------------------
    def _filter(self) -> str:
        cql = f"product:type = '{self.product.code}'"
        if self.baseline:
            cql += f" AND version = '{self.baseline.lower()}'"
        return cql

    def search(self, start: datetime, end: datetime, region: Region | None = None) -> list[Any]:
        """The raw STAC items (pystac) of the product overlapping [start, end) and the region's box."""
        from pystac_client import Client
        from pystac_client.exceptions import APIError

        bbox = None
        if region is not None and region.west <= region.east:
            bbox = list(region.bbox)

        def run() -> list[Any]:
            try:
                client = Client.open(self.stac_url, timeout=TIMEOUT_S)  # public: no token sent
                found = client.search(collections=[self.collection], datetime=[start, end], filter=self._filter(),
                                      filter_lang="cql2-text", bbox=bbox, limit=self.page_size, method="POST")
                return list(found.items())
            except APIError as exc:
                raise _stac_error(exc, self.stac_url) from None

        return retry_call(run, self.retry, "STAC search")

    def _item(self, stac_item: Any) -> Item | None:
        asset = stac_item.assets.get(self.asset)
        if asset is None:
            log.warning("STAC item %s has no %r asset; skipped", stac_item.id, self.asset)
            return None
        name = posixpath.basename(urlparse(asset.href).path)
        if not name.endswith(ec.H5_SUFFIX):
            name = f"{stac_item.id}{ec.H5_SUFFIX}"
        info = ec.parse_filename(name)
        if info is None or info.product_type != self.product.code:
            log.warning("STAC item %s: %s is not a %s file name; skipped", stac_item.id, name, self.product.code)
            return None
        extra = asset.extra_fields
        size = extra.get("file:size")
        return Item(self.layout.relpath(name), asset.href, None if size is None else int(size),
                    multihash_checksum(extra.get("file:checksum")), self.name, info.sensing_start)

    def list(self, start: datetime, end: datetime, region: Region | None = None) -> list[Item]:
        """Frames of [start, end) whose track crosses the region: newest baseline of each, as archive items."""
        newest: dict[tuple[int, str], tuple[tuple[str, datetime], Item]] = {}
        for stac_item in self.search(start, end, region):
            item = self._item(stac_item)
            if item is None:
                continue
            info = ec.parse_filename(item.name)
            frame = str(stac_item.properties.get("frame") or info.frame)
            if not frame_crosses(frame, stac_item.geometry, stac_item.bbox, region):
                continue
            rank = (info.baseline, info.processing_start)
            key = (info.orbit, info.frame)
            if key not in newest or rank > newest[key][0]:
                newest[key] = (rank, item)
        return sorted((item for _, item in newest.values()), key=lambda i: i.relpath)

    # --- fetch ----------------------------------------------------------------------------------------------
    def open_stream(self, item: Item, offset: int = 0) -> ByteStream:
        if not self._token:
            raise CredentialsError(f"no ESA MAAP token: {MAAP_TOKEN_ENV} is not set (needed to download EarthCARE "
                                   "frames)", fix=MAAP_FIX)
        headers = {"Authorization": f"Bearer {self._token.reveal()}"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            resp = self.session.get(item.url, headers=headers, stream=True, timeout=TIMEOUT_S)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"{item.url}: {type(exc).__name__}") from None
        if resp.status_code not in (200, 206):
            code = resp.status_code
            resp.close()
            if code in (401, 403):
                raise CredentialsError(f"ESA MAAP refused the token in {MAAP_TOKEN_ENV} (HTTP {code}) for {item.url}",
                                       fix=MAAP_FIX)
            if code == 404:
                raise NotFoundError(f"{item.url}: HTTP 404")
            if code >= 500 or code == 429:
                raise TransientError(f"{item.url}: HTTP {code}")
            raise OSError(f"{item.url}: HTTP {code}")
        honoured = resp.status_code == 206 or offset == 0

        def chunks():
            try:
                yield from resp.iter_content(HTTP_CHUNK_BYTES)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                raise TransientError(f"{item.url}: connection lost ({type(exc).__name__})") from None

        return ByteStream(chunks(), honoured, close=resp.close)

    def close(self) -> None:
        self.session.close()


def maap_catalog(product: ec.ProductType, options: Any = None, workers: int = 8,
                 env: Mapping[str, str] | None = None) -> Catalog:
    """The catalog ``download`` uses for an EarthCARE product, from its source options.

    Options read (all optional, by name): ``source_root`` (an ARCHIVE/-layout mirror: a plain
    directory catalog), ``maap_stac_url``, ``maap_token`` (library callers; the CLI reads
    :data:`MAAP_TOKEN_ENV`), ``label_version`` (the baseline). The token is looked up here, so a missing one
    fails before anything is searched.
    """
    root = getattr(options, "source_root", None)
    baseline = getattr(options, "label_version", None)
    if root:
        from cloudbench.sources.fsroot import DirectoryCatalog, FsspecStore

        return DirectoryCatalog(earthcare_layout(product, baseline),
                                FsspecStore(root, storage_options=getattr(options, "storage_options", None) or {}))
    given = getattr(options, "maap_token", None)
    token = Secret(given) if given else maap_token(env)
    url = getattr(options, "maap_stac_url", None) or MAAP_STAC_URL
    return MaapStacCatalog(product, token, stac_url=url, baseline=baseline, pool_size=workers)
