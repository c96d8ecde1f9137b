"""The GOES/ABI planning path: whole full-disk scans chosen from the tracks, every bucket of the position.

A hand-made GOES-East archive in NOAA's bucket layout (moto S3): 15-minute Mode 3 full-disk scans
(the mode of autumn 2018), three bands each, named as the real RadF files are. The tracks are the
synthetic A-Train orbit's. Which scans are needed is decided here by brute force: every track point
inside the region and the window against every line of every scan, with per-line times from the
scan's start and end in the file name.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from cloudbench.config import parse_region
from cloudbench.products import abi_l1b, calipso_vfm
from cloudbench.products.geostationary import geometry_for
from cloudbench.sources.base import RetryPolicy
from cloudbench.sources.download import SourceOptions, download
from cloudbench.sources.planner import DEFAULT_LINE_MARGIN_KM, DEFAULT_TIME_MARGIN_S
from cloudbench.synthetic import orbit

REGION = "-100,-20,-50,20"
REDUCTION = 20
BANDS = {"C02": 3000, "C07": 1200, "C13": 1000}  # band -> object size (bytes): finer bands are larger
WANT_BANDS = ("C07", "C13")
MAX_DT_S = 300.0
SCAN_START_S, SCAN_END_S = 39.6, 676.3  # a Mode 3 full disk: s...1500396_e...1511163
FAST = RetryPolicy(attempts=3, base_s=0.01, max_s=0.05)


def _dt(t: np.datetime64) -> datetime:
    return datetime.fromisoformat(str(t.astype("datetime64[s]"))).replace(tzinfo=UTC)


def upload_scans(s3, platform: str, first: datetime, last: datetime) -> dict[str, tuple[datetime, datetime, str, int]]:
    """Every 15-minute scan from ``first`` to ``last``; returns ARCHIVE/ path -> (start, end, band, size)."""
    scans = {}
    slot = first
    while slot <= last:
        start, end = slot + timedelta(seconds=SCAN_START_S), slot + timedelta(seconds=SCAN_END_S)
        for band, size in BANDS.items():
            name = abi_l1b.build_filename(platform, band, start, end, end + timedelta(seconds=20), mode=3)
            s3.put(f"noaa-{platform}", abi_l1b.bucket_key(start, name), bytes([len(scans) % 251]) * size)
            scans[abi_l1b.archive_path(platform, start, name)] = (start, end, band, size)
        slot += timedelta(minutes=15)
    return scans


def publish_tracks(http_server, tmp_path, start: datetime, end: datetime) -> dict[str, dict]:
    """Half-orbit VFM granules of the window in the CMR-style search; their tracks, one point a second."""
    tracks = {}
    for g in orbit.calipso_granules(start, end):
        name = calipso_vfm.build_filename(_dt(g.start), g.day_night)
        local = tmp_path / name
        local.write_bytes(name.encode() * 20)
        http_server.add_granule(http_server.add_collection(*calipso_vfm.cmr_collection("V4-51")), "/data/CALIPSO/" + name, local,
                                _dt(g.start), _dt(g.end))
        t = orbit.track(g.start, g.end, interval_s=1.0)
        tracks[name] = {"time": t.time, "latitude": t.latitude, "longitude": t.longitude}
    return tracks


def needed_scans(scans, tracks, platform: str, start: datetime, end: datetime) -> set[datetime]:
    region = parse_region(REGION)
    time = np.concatenate([t["time"] for t in tracks.values()])
    lat = np.concatenate([t["latitude"] for t in tracks.values()])
    lon = np.concatenate([t["longitude"] for t in tracks.values()])
    t0, t1 = (np.datetime64(t.replace(tzinfo=None), "ns") for t in (start, end))
    keep = region.contains(lon, lat) & (time >= t0) & (time < t1)
    geom = geometry_for(platform, REDUCTION)
    _, rows = geom.area().get_array_indices_from_lonlat(lon[keep], lat[keep])
    ok = ~np.ma.getmaskarray(rows)
    rows, time = np.asarray(rows)[ok], time[keep][ok]
    margin = math.ceil(DEFAULT_LINE_MARGIN_KM / (2.0 * REDUCTION))  # the 2 km sample grid
    tol = np.timedelta64(int((MAX_DT_S + DEFAULT_TIME_MARGIN_S) * 1e9), "ns")
    lines = np.arange(geom.shape[0])
    need = set()
    for s, e, _, _ in scans.values():
        lt = abi_l1b.line_times(s, e, geom.shape[0])  # the scan model: linear from start to end
        near = np.abs(rows[:, None] - lines[None, :]) <= margin
        close = np.abs(time[:, None] - lt[None, :]) <= tol
        if (near & close).any():
            need.add(s)
    return need


@pytest.mark.parametrize(
    ("platform", "start"),
    [("goes16", datetime(2018, 10, 15, 4, tzinfo=UTC)),  # the operational satellite of the date
     ("goes19", datetime(2018, 10, 16, 5, tzinfo=UTC))],  # its bucket empty: the other bucket of the position
)
def test_goes_east_plan_selects_whole_scans_under_the_tracks(platform, start, s3_server, http_server, tmp_path,
                                                             monkeypatch):
    end = start + timedelta(hours=3)
    monkeypatch.setenv("EARTHDATA_TOKEN", http_server.token)
    scans = upload_scans(s3_server, platform, start - timedelta(hours=1), end + timedelta(minutes=45))
    tracks = publish_tracks(http_server, tmp_path, start, end)
    need = needed_scans(scans, tracks, platform, start, end)
    assert 0 < len(need) < 12 / 2  # the passes need some scans, far from all

    result = download(start=start, end=end, region=parse_region(REGION), imager="goes-east", labels="vfm",
                      out=tmp_path / "archive", dry_run=True, bands=",".join(WANT_BANDS), max_dt_s=MAX_DT_S,
                      workers=2, opts=SourceOptions(s3_endpoint=s3_server.endpoint, cmr_url=http_server.url),
                      geometry_reduction=REDUCTION, retry=FAST, track_reader=lambda p: tracks[p.name])
    plan = result.plan
    want = {rel for rel, (s, _, band, _) in scans.items() if s in need and band in WANT_BANDS}
    assert {i.relpath for i in plan.imager_items} == want
    assert all(i.checksum and i.checksum.startswith("md5:") for i in plan.imager_items)
    assert plan.window_slots == 12 and plan.listed_slots == len(need)
    scan_bytes = sum(BANDS.values())
    assert plan.full_window_bytes == 12 * scan_bytes
    assert plan.fraction == pytest.approx(len(need) * (BANDS["C07"] + BANDS["C13"]) / (12 * scan_bytes))
    assert not list((tmp_path / "archive").rglob("*.nc"))  # a dry run
