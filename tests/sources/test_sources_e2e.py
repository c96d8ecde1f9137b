"""`cloudbench download` end to end: a synthetic ARCHIVE/ served by the three real protocols.

A small synthetic archive (one A-Train pass over a box of the Himawari disk, both label products,
two IR bands, reduction 10) is served by :func:`serve_archive`: imager files in moto S3 buckets in
NOAA's layout, CALIPSO VFM behind a CMR-style search and a login (401 without it), CloudSat over
SFTP. The command runs as a separate process against those servers. What it must fetch is computed
here from the truth the archive was written from (the shots and rays of each granule, the per-line
times of each written slot, the full-disk projection), file by file, not from the planner's search.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import requests

from cloudbench.cli import main
from cloudbench.config import MAX_DT_S, parse_region
from cloudbench.products import ahi_hsd
from cloudbench.sources.download import download
from cloudbench.sources.local_servers import LOOPBACK, serve_archive
from cloudbench.sources.planner import DEFAULT_LINE_MARGIN_KM, DEFAULT_TIME_MARGIN_S
from cloudbench.synthetic import write_archive

REGION = "120,-15,150,15"  # one pass on 2018-10-15, 04:01-04:09 UTC
WINDOW = ("2018-10-15T03:00", "2018-10-15T06:00")  # the download window: 18 Himawari slots
ARCHIVE_SPAN = ("2018-10-15T03:40", "2018-10-15T04:30")  # what is written: the pass and the slots around it
BANDS = ("B13", "B14")
REDUCTION = 10
LABEL_DIRS = {"vfm": "calipso", "cldclass-lidar": "cloudsat"}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic") / "ARCHIVE"
    return write_archive(root, start=ARCHIVE_SPAN[0], end=ARCHIVE_SPAN[1], region=REGION, bands=list(BANDS),
                         reduction=REDUCTION, seed=7)


@pytest.fixture(scope="module")
def served(synthetic):
    with serve_archive(synthetic.root) as endpoints:
        yield endpoints


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def expected_imagery(archive, labels: str, max_dt_s: float = MAX_DT_S) -> set[str]:
    """Imager files some truth sample of ``labels`` needs: inside the region and the window, within
    the line margin of one of the file's lines, seen within ``max_dt_s`` (+ the clock margin)."""
    region = parse_region(REGION)
    t0, t1 = (np.datetime64(_utc(t).replace(tzinfo=None), "ns") for t in WINDOW)
    layers = [g.layers for g in archive.granules if g.product == labels]
    time = np.concatenate([la.time for la in layers])
    lat = np.concatenate([la.latitude for la in layers])
    lon = np.concatenate([la.longitude for la in layers])
    keep = region.contains(lon, lat) & (time >= t0) & (time < t1)
    cols, rows = archive.geometry.area().get_array_indices_from_lonlat(lon[keep], lat[keep])
    on_disk = ~np.ma.getmaskarray(rows)
    rows, time = np.asarray(rows)[on_disk], time[keep][on_disk]
    margin = math.ceil(DEFAULT_LINE_MARGIN_KM / (2.0 * REDUCTION))  # the 2 km sample grid
    tol = np.timedelta64(int((max_dt_s + DEFAULT_TIME_MARGIN_S) * 1e9), "ns")
    need = set()
    for slot in archive.slots:
        for path in slot.paths:
            info = ahi_hsd.parse_filename(path.name)
            per_segment = archive.geometry.shape[0] // info.total_segments
            lines = np.arange((info.segment - 1) * per_segment, info.segment * per_segment)
            near = np.abs(rows[:, None] - lines[None, :]) <= margin
            close = np.abs(time[:, None] - slot.rendered.line_times[lines][None, :]) <= tol
            if info.band in BANDS and (near & close).any():
                need.add(path.relative_to(archive.root).as_posix())
    return need


def label_files(archive, labels: str) -> set[str]:
    return {g.path.relative_to(archive.root).as_posix() for g in archive.granules if g.product == labels}


def download_args(out: Path, labels: str, endpoints, *extra: str) -> list[str]:
    return ["download", "--start", WINDOW[0], "--end", WINDOW[1], "--region", REGION, "--imager", "himawari",
            "--labels", labels, "--out", str(out), "--geometry-reduction", str(REDUCTION), "--no-progress",
            *endpoints.download_args(), *extra]


def run_in_process(args: list[str], endpoints, monkeypatch) -> int:
    for key, value in endpoints.env().items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as info:
        main(args)
    return info.value.code


def files_under(root: Path, pattern: str) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob(pattern)}


def ledger_paths(archive: Path) -> list[str]:
    return [json.loads(line)["path"] for line in (archive / "ledger.jsonl").read_text().splitlines()]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_fetches_exactly_the_planned_set_then_nothing_again(synthetic, served, tmp_path, monkeypatch):
    mirror = tmp_path / "MIRROR"
    want_vfm = expected_imagery(synthetic, "vfm")
    assert want_vfm and len(want_vfm) < len(synthetic.files["imager"])  # some written slots are not needed
    script = Path(sys.executable).with_name("cloudbench")  # the installed console script
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "cloudbench"]
    proc = subprocess.run([*cli, *download_args(mirror, "vfm", served)], env={**os.environ, **served.env()},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert files_under(mirror, "*.DAT.bz2") == want_vfm
    assert files_under(mirror, "*.hdf") == label_files(synthetic, "vfm")
    for rel in files_under(mirror, "*.hdf") | want_vfm:  # byte for byte what the archive holds
        assert sha256(mirror / rel) == sha256(synthetic.root / rel)
    report = json.loads((mirror / "download-report.json").read_text())
    plan = report["plan"]
    assert set(report["fetched"]) == want_vfm and report["failed"] == []
    assert plan["window_scans"] == 18 and plan["scans_needed"] == len({r.rsplit("/", 2)[-2] for r in want_vfm})
    # the naive download: every file of every slot of the window, at the written slots' mean size
    written = synthetic.files["imager"]
    full = sum(p.stat().st_size for p in written) / len(synthetic.slots) * plan["window_scans"]
    planned = sum((synthetic.root / r).stat().st_size for r in want_vfm)
    assert plan["imager_bytes"] == planned
    assert plan["full_window_bytes"] == pytest.approx(full, rel=0.1)
    assert plan["fraction_of_full_window"] == pytest.approx(planned / full, rel=0.1)
    assert plan["fraction_of_full_window"] < 0.1
    assert "% of it" in proc.stdout

    # the CloudSat pass needs nearly the same imagery: only what is new is fetched, each file once
    want_cs = expected_imagery(synthetic, "cldclass-lidar")
    assert run_in_process(download_args(mirror, "cldclass-lidar", served), served, monkeypatch) == 0
    report = json.loads((mirror / "download-report.json").read_text())
    assert set(report["fetched"]) == want_cs - want_vfm and set(report["already_present"]) == want_cs & want_vfm
    assert files_under(mirror, "*.DAT.bz2") == want_vfm | want_cs
    assert files_under(mirror, "*.hdf") == label_files(synthetic, "vfm") | label_files(synthetic, "cldclass-lidar")
    ledger = ledger_paths(mirror)
    assert sorted(ledger) == sorted(files_under(mirror, "*.DAT.bz2") | files_under(mirror, "*.hdf"))

    # a rerun (the library call, logins in the options alone) fetches nothing and adds no ledger line
    for key in served.env():
        monkeypatch.delenv(key)
    again = download(start=_utc(WINDOW[0]), end=_utc(WINDOW[1]), region=parse_region(REGION), imager="himawari",
                     labels="vfm", out=mirror, opts=served.source_options(), geometry_reduction=REDUCTION)
    assert again.imagery.fetched == [] and set(again.imagery.present) == want_vfm
    assert again.plan.label_report.fetched == [] and again.plan.label_report.present
    assert ledger_paths(mirror) == ledger and not list(mirror.rglob("*.part"))


def test_dry_run_fetches_no_imagery(synthetic, served, tmp_path, monkeypatch, capsys):
    fresh = tmp_path / "FRESH"
    assert run_in_process(download_args(fresh, "cldclass-lidar", served, "--dry-run"), served, monkeypatch) == 0
    want = expected_imagery(synthetic, "cldclass-lidar")
    report = json.loads((fresh / "download-report.json").read_text())
    assert report["dry_run"] and report["fetched"] is None and set(report["imager_files"]) == want
    assert files_under(fresh, "*.DAT.bz2") == set() and files_under(fresh, "*.part") == set()
    # only the label granules arrived (their tracks make the plan), each recorded once
    assert sorted(ledger_paths(fresh)) == sorted(label_files(synthetic, "cldclass-lidar"))
    out = capsys.readouterr().out
    assert "dry run: no imagery fetched" in out and all(rel in out for rel in want)


def test_granules_need_the_login_and_are_searchable(served):
    search = requests.get(served.cmr_url + "/search/granules.umm_json", params={"page_size": 10}, timeout=10)
    items = search.json()["items"]
    assert search.status_code == 200 and len(items) == len(served.granules) == 1
    info = items[0]["umm"]["DataGranule"]["ArchiveAndDistributionInformation"][0]
    assert info["Checksum"]["Algorithm"] == "MD5" and info["SizeInBytes"] > 0
    url = next(u["URL"] for u in items[0]["umm"]["RelatedUrls"] if u["Type"] == "GET DATA")
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
    ok = requests.get(url, headers={"Authorization": f"Bearer {served.earthdata_token}"}, timeout=10)
    assert ok.status_code == 200 and hashlib.md5(ok.content).hexdigest() == info["Checksum"]["Value"]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex((LOOPBACK, port)) == 0


def test_serve_archive_closes_every_port_even_on_interrupt(synthetic, tmp_path):
    tiny = tmp_path / "ARCHIVE"  # one file of each archive, copied from the synthetic one
    for rel in (synthetic.files["vfm"][0], synthetic.files["cldclass-lidar"][0], synthetic.files["imager"][0]):
        dest = tiny / rel.relative_to(synthetic.root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(rel.read_bytes())
    with pytest.raises(KeyboardInterrupt), serve_archive(tiny) as ep:
        ports = ep.ports
        assert len(set(ports)) == 4 and all(_port_open(p) for p in ports)
        assert len(ep.uploaded) == len(ep.granules) == 1
        raise KeyboardInterrupt
    assert not any(_port_open(p) for p in ports)
    with serve_archive(tiny) as ep:
        ports = ep.ports
    assert not any(_port_open(p) for p in ports)
