"""Loopback servers at a cloud round trip (LatencyProxy), and the fetcher's per-request economy against them.

Time is checked only from below (an exchange cannot beat the injected round trip) and, once, against
a bound far above the correct cost but far below what a per-byte delay would cost.
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import requests

from cloudbench.products import ahi_hsd
from cloudbench.sensors.registry import imager_for_platform
from cloudbench.sources.base import TransientError
from cloudbench.sources.cloudsat_dpc import DpcSftpStore
from cloudbench.sources.credentials import Secret, SftpCredentials
from cloudbench.sources.fetch import Fetcher, read_ahead
from cloudbench.sources.fsroot import DirectoryCatalog, FsspecStore
from cloudbench.sources.local_servers import ArchiveHttpServer, MotoS3Server, SftpServer, serve_archive
from cloudbench.sources.noaa import noaa_imager_catalog

RTT = 0.2
TOKEN = "tok-latency-not-a-real-token"
DPC_USER, DPC_PASSWORD = "cs-user", "dpc-pw-latency"
SLOT = datetime(2018, 9, 29, 6, 0, tzinfo=UTC)


def test_each_exchange_pays_the_round_trip_and_a_new_connection_one_more(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 4 << 20, dtype="u1").tobytes()
    (tmp_path / "g.hdf").write_bytes(data)
    with ArchiveHttpServer(token=TOKEN, latency_s=RTT) as server:
        server.add_granule("C1", "/data/g.hdf", tmp_path / "g.hdf", SLOT, SLOT)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        with requests.Session() as s:
            t0 = time.perf_counter()
            first = s.get(server.url + "/data/g.hdf", headers=auth, timeout=30)
            t_first = time.perf_counter() - t0
            t0 = time.perf_counter()
            second = s.get(server.url + "/data/g.hdf", headers={**auth, "Range": "bytes=100-"}, timeout=30)
            t_second = time.perf_counter() - t0
        connections = server._proxy.connections
    assert first.content == data and second.status_code == 206 and second.content == data[100:]
    assert t_first >= 2 * RTT  # handshake, then the request
    assert t_second >= RTT  # the kept-alive connection: one round trip
    assert connections == 1
    # 4 MiB cross the proxy in 16 chunks: a per-chunk delay would add 16 half round trips (1.6 s)
    assert t_second < RTT + 0.6


def test_s3_transfers_share_a_pool_of_kept_alive_connections(tmp_path):
    with MotoS3Server(latency_s=RTT / 4) as server:
        blobs = {}
        for seg in range(1, 11):
            for band in ("B13", "B14"):
                name = ahi_hsd.build_filename("himawari8", SLOT, band, seg)
                blobs[name] = hashlib.sha256(name.encode()).digest() * (1000 + seg)
                server.put("noaa-himawari8", ahi_hsd.bucket_key(SLOT, name), blobs[name])
        cat = noaa_imager_catalog("himawari8", server.endpoint, connections=4)
        items = cat.list(SLOT, SLOT + timedelta(minutes=10))
        report = Fetcher(tmp_path, workers=4).fetch([(i, cat) for i in items])
        connections = server._proxy.connections
    assert report.ok and len(report.fetched) == 20
    assert {p.name: p.read_bytes() for p in tmp_path.rglob("*.bz2")} == blobs
    assert connections <= 4 + 1  # one per worker (and the listing's): never one per file


def test_an_interrupted_s3_download_resumes_from_its_partial_file(tmp_path, s3_server):
    name = ahi_hsd.build_filename("himawari8", SLOT, "B03", 4)
    data = np.random.default_rng(1).integers(0, 256, 3 << 20, dtype="u1").tobytes()
    s3_server.put("noaa-himawari8", ahi_hsd.bucket_key(SLOT, name), data)
    cat = noaa_imager_catalog("himawari8", s3_server.endpoint)
    [item] = [i for i in cat.list(SLOT, SLOT + timedelta(minutes=10)) if i.name == name]
    part = tmp_path / (item.relpath + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data[: 1 << 20])  # what a killed run left
    report = Fetcher(tmp_path, workers=1).fetch([(item, cat)])
    assert report.ok and (tmp_path / item.relpath).read_bytes() == data and not part.exists()


def test_sftp_behind_the_delay_line(tmp_path):
    root = tmp_path / "dpc"
    (root / "2B-CLDCLASS-LIDAR.P1_R05" / "2018" / "274").mkdir(parents=True)
    payload = b"granule bytes " * 50_000
    (root / "2B-CLDCLASS-LIDAR.P1_R05" / "2018" / "274" / "a.hdf").write_bytes(payload)
    with SftpServer(root, DPC_USER, DPC_PASSWORD, latency_s=RTT / 4) as server:
        store = DpcSftpStore(SftpCredentials(DPC_USER, Secret(DPC_PASSWORD)), server.host, server.port, data_dir="")
        t0 = time.perf_counter()
        entries = store.list_dir("cloudsat/2B-CLDCLASS-LIDAR.P1_R05/2018/274")
        t_login_and_list = time.perf_counter() - t0
        with store.open_stream(entries[0].relpath) as stream:
            got = b"".join(stream)
        store.close()
    assert [e.relpath.rsplit("/", 1)[-1] for e in entries] == ["a.hdf"] and got == payload
    assert t_login_and_list >= 3 * RTT / 4  # SSH: handshake, key exchange, login, listing


def test_serve_archive_puts_every_server_behind_the_round_trip(tmp_path):
    archive = tmp_path / "ARCHIVE"
    (archive / "himawari8").mkdir(parents=True)
    with serve_archive(archive, latency_s=RTT) as ep:
        t0 = time.perf_counter()
        requests.get(ep.cmr_url + "/search/granules.umm_json", timeout=30).raise_for_status()
        t_search = time.perf_counter() - t0
        t0 = time.perf_counter()
        requests.get(ep.s3_endpoint + "/noaa-himawari8?list-type=2", timeout=30)
        t_list = time.perf_counter() - t0
    assert t_search >= 2 * RTT and t_list >= 2 * RTT


def test_read_ahead_keeps_order_and_raises_where_the_stream_failed():
    def stream():
        yield from (b"a", b"b", b"c")
        raise TransientError("dropped")

    got = []
    with pytest.raises(TransientError, match="dropped"):
        for chunk in read_ahead(stream(), max_bytes=1):
            got.append(chunk)
    assert got == [b"a", b"b", b"c"]


def test_read_ahead_stops_its_helper_when_the_consumer_stops():
    produced = []

    def endless():
        k = 0
        while True:
            produced.append(k)
            yield bytes([k % 256])
            k += 1

    before = threading.active_count()
    reader = read_ahead(endless(), max_bytes=1)
    assert next(reader) == b"\x00"
    reader.close()  # the consumer gave up (an error while writing, Ctrl-C)
    assert threading.active_count() == before
    n = len(produced)
    time.sleep(0.3)
    assert len(produced) == n  # nothing is received for nobody


def test_folders_are_listed_concurrently_with_the_same_result(tmp_path):
    layout = imager_for_platform("himawari8").layout("himawari8")
    slots = [SLOT + timedelta(minutes=10 * k) for k in range(5)]
    for k, slot in enumerate(slots):
        for seg in range(1, 1 + k):
            name = ahi_hsd.build_filename("himawari8", slot, "B13", seg)
            path = tmp_path / ahi_hsd.archive_path("himawari8", slot, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x" * seg)
    cat = DirectoryCatalog(layout, FsspecStore(str(tmp_path)))
    dirs = [layout.slot_dir(s) for s in slots]
    assert cat.list_dirs(dirs, workers=4) == {d: cat.list_dir(d) for d in dirs}
    assert [len(v) for v in cat.list_dirs(dirs, workers=4).values()] == [0, 1, 2, 3, 4]
