"""CALIPSO VFM granules from NASA Earthdata: CMR search for what exists, HTTPS with login to fetch.

The collection is found by its short name and version (a CMR collection search), not by a stored
concept id: ASDC's concept ids change when a collection is re-ingested. CMR's UMM-G records carry
each granule's size and checksum, so every VFM file is verified against what ASDC published. The CMR endpoint is configurable (``--cmr-url``) so the same code runs against a
loopback server in tests and the demo. Downloads keep the Earthdata authorisation across the
redirect to ``urs.earthdata.nasa.gov`` (requests drops it on a host change), as earthaccess does.
"""

from __future__ import annotations

import logging
import posixpath
from datetime import UTC, datetime
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter

from cloudbench.config import Region
from cloudbench.errors import CredentialsError, UserError
from cloudbench.products import calipso_vfm
from cloudbench.products.calipso_vfm import DEFAULT_VERSION as DEFAULT_VFM_VERSION
from cloudbench.sensors.calipso_vfm import vfm_layout
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
from cloudbench.sources.credentials import EARTHDATA_FIX, EARTHDATA_LOGIN_HOST, EarthdataCredentials

log = logging.getLogger(__name__)

CMR_URL = "https://cmr.earthdata.nasa.gov"
GRANULE_SEARCH_PATH = "/search/granules.umm_json"
COLLECTION_SEARCH_PATH = "/search/collections.umm_json"
PAGE_SIZE = 2000
TIMEOUT_S = (10.0, 60.0)  # connect, read
HTTP_CHUNK_BYTES = 64 * 1024  # a dropped connection loses at most this much of what arrived
_SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


class EarthdataSession(requests.Session):
    """Keeps the authorisation on redirects between the data host and the Earthdata login host.

    A protected granule URL answers with a redirect to the login host's OAuth page, which wants the
    username and password, then redirects back to the data host with a code that buys a session
    cookie. requests drops the Authorization header whenever the host changes, which breaks that
    dance; here it is kept when either side of the hop is the login host, and dropped for any other
    host change (credentials never leak to a third host).
    """

    def __init__(self, login_host: str = EARTHDATA_LOGIN_HOST):
        super().__init__()
        self.login_host = login_host

    def rebuild_auth(self, prepared_request, response):  # noqa: D102 (requests hook)
        headers = prepared_request.headers
        if "Authorization" in headers:
            old = urlparse(response.request.url).hostname
            new = urlparse(prepared_request.url).hostname
            if old != new and self.login_host not in (old, new):
                del headers["Authorization"]


def _http_error(resp: requests.Response, url: str) -> Exception:
    code = resp.status_code
    if code in (401, 403):
        return CredentialsError(f"Earthdata refused the credentials (HTTP {code}) for {url}", fix=EARTHDATA_FIX)
    if code == 404:
        return NotFoundError(f"{url}: HTTP 404")
    if code >= 500 or code == 429:
        return TransientError(f"{url}: HTTP {code}")
    return OSError(f"{url}: HTTP {code}")


def _size_bytes(info: dict) -> int | None:
    if info.get("SizeInBytes") is not None:
        return int(info["SizeInBytes"])
    if info.get("Size") is not None:
        return int(round(float(info["Size"]) * _SIZE_UNITS.get(str(info.get("SizeUnit", "B")).upper(), 1)))
    return None


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EarthdataCatalog(Catalog):
    """CALIPSO VFM granules of one product version, searched in CMR and fetched over HTTPS."""

    name = "earthdata"

    def __init__(
        self,
        credentials: EarthdataCredentials | None,
        *,
        version: str = DEFAULT_VFM_VERSION,
        concept_id: str | None = None,
        cmr_url: str = CMR_URL,
        pool_size: int = 8,
        retry: RetryPolicy | None = None,
        login_host: str = EARTHDATA_LOGIN_HOST,
    ):
        self.layout = vfm_layout(version)
        self.short_name, self.version = calipso_vfm.cmr_collection(version)
        self._concept_id = concept_id  # None: looked up by short name and version at the first search
        self.cmr_url = cmr_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.session = EarthdataSession(login_host)
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.credentials = credentials
        if credentials is not None:
            credentials.apply(self.session)

    # --- search -------------------------------------------------------------------------------
    @property
    def concept_id(self) -> str:
        """The collection's CMR concept id, found once by short name and version."""
        if self._concept_id is None:
            self._concept_id = retry_call(self._find_collection, self.retry, "CMR collection search")
        return self._concept_id

    def _find_collection(self) -> str:
        url = self.cmr_url + COLLECTION_SEARCH_PATH
        params = {"short_name": self.short_name, "version": self.version}
        try:
            resp = requests.get(url, params=params, timeout=TIMEOUT_S)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"CMR search at {url} failed: {type(exc).__name__}") from exc
        if resp.status_code != 200:
            err = _http_error(resp, url)
            if isinstance(err, TransientError):
                raise err
            raise UserError(f"CMR collection search failed: HTTP {resp.status_code}: {resp.text[:200]}",
                            fix="check --cmr-url")
        ids = [(item.get("meta") or {}).get("concept-id") for item in resp.json().get("items", [])]
        ids = [i for i in ids if i]
        if not ids:
            raise UserError(
                f"CMR at {self.cmr_url} has no collection {self.short_name} version {self.version}",
                fix="check --vfm-version (ASDC's CALIPSO versions look like V4-51) and --cmr-url",
            )
        if len(ids) > 1:
            log.warning("CMR lists %d collections %s %s (%s); using %s", len(ids), self.short_name, self.version,
                        ", ".join(ids), ids[0])
        log.info("CMR collection %s %s is %s", self.short_name, self.version, ids[0])
        return ids[0]

    def _search_page(self, params: dict, search_after: str | None) -> tuple[list[dict], str | None, int | None]:
        headers = {"CMR-Search-After": search_after} if search_after else {}
        url = self.cmr_url + GRANULE_SEARCH_PATH
        try:
            # CMR search is public: never send the Earthdata secret to it.
            resp = requests.get(url, params=params, headers=headers, timeout=TIMEOUT_S)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"CMR search at {url} failed: {type(exc).__name__}") from exc
        if resp.status_code != 200:
            err = _http_error(resp, url)
            if isinstance(err, (TransientError, CredentialsError)):
                raise err
            raise UserError(f"CMR search failed: HTTP {resp.status_code}: {resp.text[:200]}", fix="check --cmr-url and the VFM version")
        hits = resp.headers.get("CMR-Hits")
        return resp.json().get("items", []), resp.headers.get("CMR-Search-After"), None if hits is None else int(hits)

    def search(self, start: datetime, end: datetime, region: Region | None = None) -> list[dict]:
        """Raw UMM-G records of granules overlapping [start, end) and the region's box."""
        params = {
            "collection_concept_id": self.concept_id,
            "temporal": f"{_iso(start)},{_iso(end)}",
            "page_size": PAGE_SIZE,
            "sort_key": "start_date",
        }
        if region is not None:
            params["bounding_box"] = ",".join(f"{v:g}" for v in region.bbox)
        records: list[dict] = []
        after = None
        while True:
            page, after, hits = retry_call(lambda a=after: self._search_page(params, a), self.retry, "CMR search")
            records.extend(page)
            if not page or not after or (hits is not None and len(records) >= hits):
                return records

    def _item(self, record: dict) -> Item | None:
        umm = record.get("umm", record)
        files = (umm.get("DataGranule") or {}).get("ArchiveAndDistributionInformation") or []
        urls = [
            u["URL"]
            for u in umm.get("RelatedUrls") or []
            if u.get("Type") == "GET DATA" and urlparse(u.get("URL", "")).scheme in ("http", "https")
        ]
        for info in files:
            name = info.get("Name", "")
            parsed = self.layout.parse(name)
            if parsed is None:
                continue
            url = next((u for u in urls if posixpath.basename(urlparse(u).path) == name), None)
            if url is None:
                continue
            cs = info.get("Checksum") or {}
            relpath = f"{self.layout.root}/{parsed.time:%Y/%m}/{name}"
            return Item(relpath, url, _size_bytes(info), parse_checksum(cs.get("Algorithm"), cs.get("Value")), self.name, parsed.time)
        log.warning("CMR record %s has no downloadable VFM file; skipped", umm.get("GranuleUR"))
        return None

    def list(self, start: datetime, end: datetime, region: Region | None = None) -> list[Item]:
        items = [i for i in (self._item(r) for r in self.search(start, end, region)) if i is not None]
        return sorted(items, key=lambda i: i.relpath)

    # --- fetch --------------------------------------------------------------------------------
    def open_stream(self, item: Item, offset: int = 0) -> ByteStream:
        if self.credentials is None:
            raise CredentialsError("no NASA Earthdata credentials found (needed for CALIPSO granules)", fix=EARTHDATA_FIX)
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            resp = self.session.get(item.url, headers=headers, stream=True, timeout=TIMEOUT_S)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"{item.url}: {type(exc).__name__}") from exc
        if resp.status_code not in (200, 206):
            resp.close()
            raise _http_error(resp, item.url)
        honoured = resp.status_code == 206 or offset == 0

        def chunks():
            try:
                yield from resp.iter_content(HTTP_CHUNK_BYTES)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                raise TransientError(f"{item.url}: connection lost ({type(exc).__name__})") from exc

        return ByteStream(chunks(), honoured, close=resp.close)

    def close(self) -> None:
        self.session.close()
