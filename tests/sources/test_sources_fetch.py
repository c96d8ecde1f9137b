"""The fetcher against a real HTTP server on loopback: resume, retry, verification, kill, idempotence."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cloudbench.errors import CredentialsError
from cloudbench.products import calipso_vfm
from cloudbench.sources.base import RetryPolicy
from cloudbench.sources.credentials import EarthdataCredentials, Secret
from cloudbench.sources.earthdata import EarthdataCatalog
from cloudbench.sources.fetch import Fetcher
from cloudbench.sources.ledger import Ledger

T0 = datetime(2018, 10, 1, tzinfo=UTC)
VFM_COLLECTION = calipso_vfm.cmr_collection("V4-51")  # CMR short name and version
FAST_RETRY = RetryPolicy(attempts=4, base_s=0.01, max_s=0.05)


def publish(server, tmp_path: Path, n: int = 3, size: int = 300_000, seed: int = 0) -> dict[str, bytes]:
    """Random granules in the server's archive; returns name -> bytes."""
    rng = __import__("numpy").random.default_rng(seed)
    out = {}
    for k in range(n):
        start = T0.replace(hour=k)
        name = calipso_vfm.build_filename(start, "D")
        data = rng.integers(0, 256, size + 1000 * k, dtype="u1").tobytes()
        local = tmp_path / "served" / name
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(data)
        server.add_granule(server.add_collection(*VFM_COLLECTION), "/data/CALIPSO/" + calipso_vfm.archive_relpath(name).removeprefix("calipso/"), local,
                           start, start.replace(minute=48), (100, -60, 160, 60))
        out[name] = data
    return out


def catalog(server, token: str | None = "") -> EarthdataCatalog:
    token = server.token if token == "" else token
    creds = None if token is None else EarthdataCredentials("test", token=Secret(token))
    return EarthdataCatalog(creds, cmr_url=server.url, retry=FAST_RETRY)


def jobs(cat):
    return [(i, cat) for i in cat.list(T0, T0.replace(day=2))]


def archive_files(archive: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in archive.rglob("*.hdf")}


def test_fetch_verifies_and_records_each_file_once(http_server, tmp_path):
    served = publish(http_server, tmp_path)
    cat = catalog(http_server)
    archive = tmp_path / "archive"
    report = Fetcher(archive, workers=3, retry=FAST_RETRY).fetch(jobs(cat))
    assert report.ok and len(report.fetched) == 3
    assert archive_files(archive) == served
    lines = (archive / "ledger.jsonl").read_text().splitlines()
    assert len(lines) == 3
    for line in lines:
        e = json.loads(line)
        data = served[Path(e["path"]).name]
        assert e["sha256"] == hashlib.sha256(data).hexdigest()
        assert e["checksum"] == "md5:" + hashlib.md5(data).hexdigest()
        assert e["size"] == len(data) and e["source"].startswith(http_server.url)
    n_requests = len(http_server.requests)
    again = Fetcher(archive, workers=3, retry=FAST_RETRY).fetch(jobs(cat))
    assert again.fetched == [] and len(again.present) == 3
    data_requests = [r for r in http_server.requests[n_requests:] if r["path"].startswith("/data/")]
    assert data_requests == []  # nothing fetched twice
    assert len((archive / "ledger.jsonl").read_text().splitlines()) == 3


def test_dropped_connection_resumes_from_partial_byte(http_server, tmp_path):
    served = publish(http_server, tmp_path, n=1)
    name = next(iter(served))
    http_server.faults.drop_after[name] = (100_000, 1)
    archive = tmp_path / "archive"
    report = Fetcher(archive, workers=1, retry=FAST_RETRY).fetch(jobs(catalog(http_server)))
    assert report.ok and report.retries >= 1
    reqs = http_server.data_requests(name)
    assert reqs[0]["range"] is None and reqs[-1]["range"].startswith("bytes=")
    assert 0 < int(reqs[-1]["range"][6:].rstrip("-")) <= 100_000  # resumed where the bytes stopped
    assert archive_files(archive) == served


def test_rerun_resumes_a_file_left_partial(http_server, tmp_path):
    served = publish(http_server, tmp_path, n=1)
    name = next(iter(served))
    http_server.faults.drop_after[name] = (120_000, 10)
    archive = tmp_path / "archive"
    one_try = type(FAST_RETRY)(attempts=1, base_s=0.01)
    first = Fetcher(archive, retry=one_try).fetch(jobs(catalog(http_server)))
    assert len(first.failed) == 1 and not (archive / calipso_vfm.archive_relpath(name)).exists()
    part = next(archive.rglob("*.part"))
    partial = part.stat().st_size
    assert 0 < partial < len(served[name])
    http_server.faults.drop_after.clear()
    second = Fetcher(archive, retry=FAST_RETRY).fetch(jobs(catalog(http_server)))
    assert second.ok and second.bytes_fetched == len(served[name])
    assert http_server.data_requests(name)[-1]["range"] == f"bytes={partial}-"
    assert archive_files(archive) == served and not list(archive.rglob("*.part"))


def test_server_ignoring_ranges_restarts_cleanly(http_server, tmp_path):
    served = publish(http_server, tmp_path, n=1)
    name = next(iter(served))
    http_server.faults.drop_after[name] = (50_000, 1)
    http_server.faults.ignore_range = True
    archive = tmp_path / "archive"
    assert Fetcher(archive, retry=FAST_RETRY).fetch(jobs(catalog(http_server))).ok
    assert archive_files(archive) == served


def test_corrupt_once_is_refetched(http_server, tmp_path):
    served = publish(http_server, tmp_path, n=1)
    http_server.faults.corrupt[next(iter(served))] = 1
    archive = tmp_path / "archive"
    report = Fetcher(archive, retry=FAST_RETRY).fetch(jobs(catalog(http_server)))
    assert report.ok and report.retries == 1
    assert archive_files(archive) == served


def test_wrong_checksum_is_reported_and_never_placed(http_server, tmp_path):
    served = publish(http_server, tmp_path, n=2)
    bad = sorted(served)[0]
    http_server.faults.corrupt[bad] = 100
    archive = tmp_path / "archive"
    report = Fetcher(archive, retry=FAST_RETRY).fetch(jobs(catalog(http_server)))
    assert [f.relpath for f in report.failed] == [calipso_vfm.archive_relpath(bad)]
    assert "checksum" in report.failed[0].reason
    assert len(http_server.data_requests(bad)) == 3  # retried from zero, then reported
    assert bad not in archive_files(archive) and not list(archive.rglob("*.part"))
    assert [Path(e.path).name for e in Ledger(archive).entries()] == [sorted(served)[1]]


def test_server_errors_back_off_then_succeed(http_server, tmp_path):
    served = publish(http_server, tmp_path, n=1)
    http_server.faults.errors_500[next(iter(served))] = 2
    archive = tmp_path / "archive"
    report = Fetcher(archive, retry=FAST_RETRY).fetch(jobs(catalog(http_server)))
    assert report.ok and report.retries == 2
    assert [r["status"] for r in http_server.data_requests(next(iter(served)))] == [500, 500, 200]


def test_refused_credentials_stop_the_run(http_server, tmp_path):
    publish(http_server, tmp_path, n=2)
    with pytest.raises(CredentialsError) as info:
        Fetcher(tmp_path / "archive", retry=FAST_RETRY).fetch(jobs(catalog(http_server, token="wrong-token-value")))
    assert "401" in str(info.value) and "EARTHDATA_TOKEN" in str(info.value)
    assert "wrong-token-value" not in str(info.value)


KILL_SCRIPT = """
import sys
from datetime import datetime, timezone
from cloudbench.sources.base import RetryPolicy
from cloudbench.sources.credentials import EarthdataCredentials, Secret
from cloudbench.sources.earthdata import EarthdataCatalog
from cloudbench.sources.fetch import Fetcher
cat = EarthdataCatalog(EarthdataCredentials("t", token=Secret(sys.argv[3])), cmr_url=sys.argv[1])
items = cat.list(datetime(2018, 10, 1, tzinfo=timezone.utc), datetime(2018, 10, 2, tzinfo=timezone.utc))
Fetcher(sys.argv[2], workers=2).fetch([(i, cat) for i in items])
"""


def test_sigkill_mid_run_then_rerun_gives_identical_files(http_server, tmp_path):
    served = publish(http_server, tmp_path, n=3, size=400_000)
    http_server.faults.throttle_bps = 800_000  # ~0.5 s per file: the kill lands mid-file
    archive = tmp_path / "archive"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, http_server.url, str(archive), http_server.token])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        parts = [p for p in archive.rglob("*.part") if p.stat().st_size > 50_000] if archive.exists() else []
        if parts:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert parts, "the download never started"
    assert len(archive_files(archive)) < 3
    http_server.faults.throttle_bps = 0
    report = Fetcher(archive, retry=FAST_RETRY).fetch(jobs(catalog(http_server)))
    assert report.ok
    assert archive_files(archive) == served
    assert len(Ledger(archive)) == 3
    assert len((archive / "ledger.jsonl").read_text().splitlines()) == 3
    resumed = [r for name in served for r in http_server.data_requests(name) if r["range"]]
    assert resumed  # at least one file continued from its partial byte
