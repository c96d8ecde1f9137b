"""The planner and `cloudbench download` against loopback S3 (moto) and a CMR-style server.

The imager archive is a synthetic day of AHI segment files in the NOAA bucket layout; the active
granules' tracks come from a straight A-Train-like pass. The expected file set is computed file by
file from the truth (every file of the window is checked against every track point), independently
of the planner's slot-by-slot search.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from cloudbench.cli import main
from cloudbench.config import parse_region
from cloudbench.products import ahi_hsd, calipso_vfm
from cloudbench.products.geostationary import geometry_for
from cloudbench.sources.base import RetryPolicy
from cloudbench.sources.download import SourceOptions, download

T0 = datetime(2018, 10, 1, 0, tzinfo=UTC)
HOURS = 6
REDUCTION = 10
BANDS = ("B03", "B13")
FAST = RetryPolicy(attempts=3, base_s=0.01, max_s=0.05)
NEAR_PASS = timedelta(minutes=50)  # a pass needs slots from ~30 min before its equator crossing to ~20 after
PASSES = {  # granule start -> (time of the equator crossing, lon at the equator)
    T0 + timedelta(hours=1): (T0 + timedelta(hours=1, minutes=20), 125.0),
    T0 + timedelta(hours=4): (T0 + timedelta(hours=4, minutes=10), 150.0),
}


def track_of(cross: datetime, lon0: float):
    """An ascending pass: 7 km/s, about 8 deg inclination from north, one point every 5 km."""
    s = np.arange(-1500, 1500, 0.7)  # seconds from the equator crossing
    lat = s * 7.0 / 111.0
    lon = lon0 - 0.14 * lat
    time = np.datetime64(cross.replace(tzinfo=None), "ns") + (s * 1e9).astype("timedelta64[ns]")
    return {"time": time, "latitude": lat, "longitude": lon}


@pytest.fixture(scope="module")
def archive_servers(s3_server, tmp_path_factory):
    """Upload the imager slots around the passes once per module (moto is session-wide).

    Every slot has the same files and sizes, so slots far from any pass (which the planner never
    lists) are left out; the full window is then the uploaded slots' mean times the window's slots.
    """
    slot = T0
    while slot < T0 + timedelta(hours=HOURS):
        if not any(-NEAR_PASS <= slot - cross <= NEAR_PASS for cross, _ in PASSES.values()):
            slot += timedelta(minutes=10)
            continue
        for band in BANDS:
            for seg in range(1, 11):
                name = ahi_hsd.build_filename("himawari8", slot, band, seg)
                s3_server.put("noaa-himawari8", ahi_hsd.bucket_key(slot, name), f"{name}".encode() * (3 if band == "B03" else 1))
        slot += timedelta(minutes=10)
    return s3_server


def publish_granules(http_server, tmp_path):
    tracks = {}
    for start, (cross, lon0) in PASSES.items():
        name = calipso_vfm.build_filename(start, "D")
        local = tmp_path / "served" / name
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(name.encode() * 50)
        http_server.add_granule(http_server.add_collection(*calipso_vfm.cmr_collection("V4-51")), "/data/CALIPSO/" + name, local, start,
                                start + timedelta(minutes=48))
        tracks[name] = track_of(cross, lon0)
    return tracks


def expected_files(s3, tracks, region, max_dt_s, margin_lines, time_margin_s, bands):
    """Every object of the window checked against every track point: needed iff some point inside the
    region falls within ``margin_lines`` of one of the file's lines, seen within the tolerance."""
    geom = geometry_for("himawari8", REDUCTION)
    lat = np.concatenate([t["latitude"] for t in tracks.values()])
    lon = np.concatenate([t["longitude"] for t in tracks.values()])
    time = np.concatenate([t["time"] for t in tracks.values()])
    inside = region.contains(lon, lat) & (time >= np.datetime64("2018-10-01")) & (time < np.datetime64("2018-10-01T06"))
    cols, rows = geom.area().get_array_indices_from_lonlat(lon[inside], lat[inside])
    ok = ~np.ma.getmaskarray(rows)
    rows, time = np.asarray(rows)[ok], time[inside][ok]
    seg_lines = geom.shape[0] // geom.n_units
    client = s3.client()
    # moto's store is shared by every server of the process: look only at this module's day
    pages = client.get_paginator("list_objects_v2").paginate(Bucket="noaa-himawari8", Prefix=f"{ahi_hsd.PRODUCT_DIR}/{T0:%Y/%m/%d}/")
    sizes = {o["Key"]: o["Size"] for page in pages for o in page["Contents"]}
    need = set()
    for key in sizes:
        info = ahi_hsd.parse_filename(key.rsplit("/", 1)[-1])
        if info.band not in bands:
            continue
        lines = np.arange((info.segment - 1) * seg_lines, info.segment * seg_lines)
        lt = ahi_hsd.nominal_line_times(info.slot_start, geom.shape[0])[lines]
        p = np.abs((time - lt[0]).astype(np.int64)) <= (max_dt_s + time_margin_s + 700) * 1e9  # cheap prefilter
        near = np.abs(rows[p][:, None] - lines[None, :]) <= margin_lines
        close = np.abs((time[p][:, None] - lt[None, :]).astype(np.int64)) <= (max_dt_s + time_margin_s) * 1e9
        if (near & close).any():
            need.add("himawari8/" + key)
    return need, sizes


def run(http_server, s3, tmp_path, tracks, *, dry_run=False, bands="B13", max_dt=300.0):
    return download(start=T0, end=T0 + timedelta(hours=HOURS), region=parse_region("paper"), imager="himawari",
                    labels="vfm", out=tmp_path / "archive", dry_run=dry_run, bands=bands, max_dt_s=max_dt,
                    workers=4, opts=SourceOptions(s3_endpoint=s3.endpoint, cmr_url=http_server.url),
                    geometry_reduction=REDUCTION, retry=FAST, track_reader=lambda p: tracks[p.name])


def test_plan_matches_truth_and_is_a_small_fraction(archive_servers, http_server, tmp_path, monkeypatch):
    monkeypatch.setenv("EARTHDATA_TOKEN", http_server.token)
    tracks = publish_granules(http_server, tmp_path)
    region = parse_region("paper")
    for bands, max_dt in (("B13", 300.0), ("B03,B13", 120.0)):
        result = run(http_server, archive_servers, tmp_path / bands, tracks, dry_run=True, bands=bands, max_dt=max_dt)
        want, sizes = expected_files(archive_servers, tracks, region, max_dt, 2, 30.0, bands.split(","))
        got = {i.relpath for i in result.plan.imager_items}
        assert got == want and want
        uploaded_slots = len({k.rsplit("/", 2)[-2] for k in sizes})
        full = sum(sizes.values()) * (HOURS * 6) / uploaded_slots
        assert result.plan.full_window_bytes == full
        assert result.plan.fraction == pytest.approx(sum(sizes[k.removeprefix("himawari8/")] for k in want) / full)
        assert result.plan.fraction < 0.1
        # the dry run fetched the granules the plan needs and no imagery
        assert not list((tmp_path / bands / "archive").rglob("*.DAT.bz2"))
        assert len(list((tmp_path / bands / "archive").rglob("*.hdf"))) == len(PASSES)


def test_download_fetches_exactly_the_plan_once(archive_servers, http_server, tmp_path, monkeypatch):
    monkeypatch.setenv("EARTHDATA_TOKEN", http_server.token)
    tracks = publish_granules(http_server, tmp_path)
    result = run(http_server, archive_servers, tmp_path, tracks)
    archive = tmp_path / "archive"
    on_disk = {p.relative_to(archive).as_posix() for p in archive.rglob("*.bz2")}
    assert on_disk == {i.relpath for i in result.plan.imager_items} == set(result.imagery.fetched)
    ledger = [json.loads(line)["path"] for line in (archive / "ledger.jsonl").read_text().splitlines()]
    assert sorted(ledger) == sorted(on_disk | {p.relative_to(archive).as_posix() for p in archive.rglob("*.hdf")})
    again = run(http_server, archive_servers, tmp_path, tracks)
    assert again.imagery.fetched == [] and len(again.imagery.present) == len(on_disk)
    assert len((archive / "ledger.jsonl").read_text().splitlines()) == len(ledger)


def test_cli_missing_credentials_exit_1_with_fix(tmp_path, monkeypatch, capsys):
    for var in ("EARTHDATA_TOKEN", "EARTHDATA_USERNAME", "EARTHDATA_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("CLOUDSAT_DPC_PASSWORD", "pw-secret-41")
    monkeypatch.delenv("CLOUDSAT_DPC_USERNAME", raising=False)
    base = ["download", "--start", "2018-10-01", "--end", "2018-10-02", "--region", "paper", "--imager", "himawari",
            "--out", str(tmp_path / "a"), "--s3-endpoint", "http://127.0.0.1:9"]
    for labels, fix in (("vfm", "EARTHDATA_TOKEN"), ("cldclass-lidar", "CLOUDSAT_DPC_USERNAME")):
        with pytest.raises(SystemExit) as exit_info:
            main([*base, "--labels", labels])
        err = capsys.readouterr().err
        assert exit_info.value.code == 1 and fix in err and "pw-secret-41" not in err


def test_cli_reports_failures_with_exit_3(archive_servers, http_server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EARTHDATA_TOKEN", http_server.token)
    tracks = publish_granules(http_server, tmp_path)
    bad = sorted(tracks)[0]
    http_server.faults.corrupt[bad] = 100
    with pytest.raises(Exception) as info:
        run(http_server, archive_servers, tmp_path, tracks, dry_run=True)
    assert getattr(info.value, "exit_code", None) == 3 and bad in str(info.value)
    assert not (tmp_path / "archive" / calipso_vfm.archive_relpath(bad)).exists()
