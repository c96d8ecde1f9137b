"""``cloudbench download --imager seviri`` against a served synthetic archive (the loopback EUMETSAT
Data Store for the Meteosat files, SFTP for CloudSat).

The archive holds every 15-minute SEVIRI scan of a six-hour window in 2008 (Meteosat-9 at 0 deg),
so the planner has to choose: a scan is needed when a CloudSat ray inside the region falls within
the line margin of one of the scan's lines that was observed within --max-dt (+ the clock margin).
The test computes that set from the truth the archive was written from (the rays, the per-line times
written into each file, the projection), not from the planner.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from cloudbench.config import MAX_DT_S, parse_region
from cloudbench.sensors.registry import imager_for_position
from cloudbench.sources.base import RetryPolicy
from cloudbench.sources.credentials import EUMETSAT_KEY_ENV, EUMETSAT_SECRET_ENV
from cloudbench.sources.fetch import Fetcher
from cloudbench.sources.fsroot import DirectoryCatalog
from cloudbench.sources.local_servers import serve_archive
from cloudbench.sources.planner import DEFAULT_LINE_MARGIN_KM, DEFAULT_TIME_MARGIN_S
from cloudbench.synthetic import write_archive

REGION = "-30,-40,30,40"
WINDOW = ("2008-06-01T00:00", "2008-06-01T06:00")  # two CloudSat passes cross the region
REDUCTION = 16
BANDS = ("IR_108",)
FAST = RetryPolicy(attempts=4, base_s=0.01, max_s=0.05)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("seviri_source") / "ARCHIVE"
    return write_archive(root, start=WINDOW[0], end=WINDOW[1], region=REGION, imager="seviri",
                         labels=("cldclass-lidar",), bands=BANDS, reduction=REDUCTION, seed=5, only_near_tracks=False)


@pytest.fixture(scope="module")
def served(synthetic):
    with serve_archive(synthetic.root) as endpoints:
        yield endpoints


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def needed_scans(archive, max_dt_s: float = MAX_DT_S) -> set[str]:
    """ARCHIVE/ paths of the scans some ray needs, from the written truth."""
    region = parse_region(REGION)
    t0, t1 = (np.datetime64(_utc(t).replace(tzinfo=None), "ns") for t in WINDOW)
    time = np.concatenate([g.layers.time for g in archive.granules])
    lat = np.concatenate([g.layers.latitude for g in archive.granules])
    lon = np.concatenate([g.layers.longitude for g in archive.granules])
    keep = region.contains(lon, lat) & (time >= t0) & (time < t1)
    _, rows = archive.geometry.area().get_array_indices_from_lonlat(lon[keep], lat[keep])
    on_disk = ~np.ma.getmaskarray(rows)
    rows, time = np.asarray(rows)[on_disk], time[keep][on_disk]
    margin = math.ceil(DEFAULT_LINE_MARGIN_KM / (3.0 * REDUCTION))  # the 3 km sample grid
    tol = np.timedelta64(int((max_dt_s + DEFAULT_TIME_MARGIN_S) * 1e9), "ns")
    lines = np.arange(archive.geometry.shape[0])
    need = set()
    for slot in archive.slots:
        near = np.abs(rows[:, None] - lines[None, :]) <= margin
        close = np.abs(time[:, None] - slot.rendered.line_times[None, :]) <= tol
        if (near & close).any():
            need.update(p.relative_to(archive.root).as_posix() for p in slot.paths)
    return need


def cli() -> list[str]:
    return [str(Path(sys.executable).with_name("cloudbench"))]


def download_args(out: Path, endpoints, *extra: str) -> list[str]:
    return ["download", "--start", WINDOW[0], "--end", WINDOW[1], "--region", REGION, "--imager", "seviri",
            "--labels", "cldclass-lidar", "--bands", ",".join(BANDS), "--out", str(out),
            "--geometry-reduction", str(REDUCTION), "--no-progress", *endpoints.download_args(), *extra]


def test_download_fetches_exactly_the_scans_near_the_passes(synthetic, served, tmp_path):
    mirror = tmp_path / "MIRROR"
    want = needed_scans(synthetic)
    every = {p.relative_to(synthetic.root).as_posix() for p in synthetic.files["imager"]}
    assert len(every) == 24 and 0 < len(want) < len(every) / 2  # the plan has something to leave out
    assert set(served.datastore_files) == every
    env = {**os.environ, **served.env()}
    proc = subprocess.run([*cli(), *download_args(mirror, served)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((mirror / "download-report.json").read_text())
    assert set(report["imager_files"]) == want and set(report["fetched"]) == want
    plan = report["plan"]
    assert plan["window_scans"] == 24 and plan["scans_needed"] == len(want)
    fetched = {p.relative_to(mirror).as_posix() for p in mirror.rglob("*.nat")}
    assert fetched == want and not list(mirror.rglob("*.part"))
    for rel in want:  # byte for byte what the Data Store holds, recorded once in the ledger
        assert hashlib.sha256((mirror / rel).read_bytes()).digest() == hashlib.sha256(
            (synthetic.root / rel).read_bytes()).digest()
    ledger = [json.loads(line) for line in (mirror / "ledger.jsonl").read_text().splitlines()]
    nat = [e for e in ledger if e["path"].endswith(".nat")]
    assert sorted(e["path"] for e in nat) == sorted(want)
    assert all(e["catalog"] == "eumetsat-datastore" and "/entry?name=" in e["source"] for e in nat)

    # a wider --max-dt needs more scans, and only the new ones are fetched
    wider = needed_scans(synthetic, 900.0)
    assert wider > want
    again = subprocess.run([*cli(), *download_args(mirror, served, "--max-dt", "900")], env=env, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    report = json.loads((mirror / "download-report.json").read_text())
    assert set(report["fetched"]) == wider - want and set(report["already_present"]) == want


def test_missing_key_exits_1_naming_the_variables(served, tmp_path):
    env = {k: v for k, v in {**os.environ, **served.env()}.items() if k != EUMETSAT_KEY_ENV}
    proc = subprocess.run([*cli(), *download_args(tmp_path / "M", served)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1
    assert EUMETSAT_KEY_ENV in proc.stderr and EUMETSAT_SECRET_ENV in proc.stderr
    assert "https://api.eumetsat.int/api-key/" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "M" / "cloudsat").exists()  # nothing was fetched before the check


def test_a_scan_resumes_after_a_mid_file_drop(synthetic, tmp_path):
    from cloudbench.sources.credentials import EumetsatCredentials, Secret
    from cloudbench.sources.eumetsat import DataStoreClient, DataStoreStore
    from cloudbench.sources.local_datastore import LocalDataStore, publish_archive

    product = imager_for_position("seviri")
    slot = synthetic.slots[len(synthetic.slots) // 2]
    (path,) = slot.paths
    reldir = path.parent.relative_to(synthetic.root).as_posix()
    assert product.slot_dirs(synthetic.platform, slot.slot_start) == [reldir]
    with LocalDataStore(key="k", secret="s") as server:
        publish_archive(server, synthetic.root)
        server.faults.drop_after[path.name] = (path.stat().st_size // 2, 1)
        client = DataStoreClient(EumetsatCredentials("k", Secret("s")), server.url, retry=FAST)
        catalog = DirectoryCatalog(product.layout(synthetic.platform), DataStoreStore(client, product))
        (item,) = catalog.list_dir(reldir)
        assert item.relpath == path.relative_to(synthetic.root).as_posix() and item.size == path.stat().st_size
        report = Fetcher(tmp_path / "MIRROR", workers=1, retry=FAST).fetch([(item, catalog)])
        assert report.ok and report.retries == 1
        got = tmp_path / "MIRROR" / item.relpath
        assert got.read_bytes() == path.read_bytes()
        downloads = [r for r in server.entry_requests(path.name) if r["range"] != "bytes=0-0"]
        assert [r["status"] for r in downloads] == [200, 206]
        offset = int(downloads[1]["range"].removeprefix("bytes=").rstrip("-"))
        assert path.stat().st_size // 2 - 2 * 65536 <= offset <= path.stat().st_size // 2


def test_a_service_gap_is_not_filled_with_another_positions_scans(tmp_path):
    """In 2020 Meteosat-8 served the Indian Ocean (41.5E): its scans stand for --imager seviri-iodc,
    never for the 0 deg service, even where the 0 deg satellite (Meteosat-11) has no file."""
    from cloudbench.sources.download import SourceOptions, download

    root = tmp_path / "ARCHIVE"
    region = "20,-20,40,20"  # on both disks
    arch = write_archive(root, start="2020-05-01T11:40", end="2020-05-01T12:10", region=region, imager="seviri-iodc",
                         labels=("cldclass-lidar",), bands=BANDS, reduction=REDUCTION, seed=2, max_dt_s=300)
    assert arch.platform == "meteosat8" and arch.geometry.sub_lon == 41.5
    written = {p.relative_to(root).as_posix() for p in arch.files["imager"]}
    assert written and all(p.startswith("meteosat8/HRSEVIRI-IODC/2020/05/01/") for p in written)
    common = dict(start=_utc("2020-05-01T11:30"), end=_utc("2020-05-01T12:30"), region=parse_region(region),
                  labels="cldclass-lidar", dry_run=True, opts=SourceOptions(source_root=str(root)),
                  geometry_reduction=REDUCTION, retry=FAST)
    iodc = download(imager="seviri-iodc", out=tmp_path / "iodc", **common)
    planned = {i.relpath for i in iodc.plan.imager_items}
    assert planned and planned <= written  # the scans near the pass (the archive holds a few more around it)
    zero = download(imager="seviri", out=tmp_path / "zero", **common)
    assert zero.plan.imager_items == [] and zero.plan.tracks  # the pass is there, the 0 deg scans are not
