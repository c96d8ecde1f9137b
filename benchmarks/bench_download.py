"""Download throughput against a loopback S3 server (moto), and the planner's saving on a synthetic day.

1. Throughput: the fetcher (bounded pool, streamed, verified, ledgered) against a plain sequential
   ``s3fs.get`` of the same objects, for many small files and for a few large ones.
2. Saving: for one synthetic day of A-Train passes over the paper region, the fraction of the full
   Himawari window (every slot, segment, band) that the planner selects at --max-dt 300.

Run: ``python -m benchmarks.bench_download [--quick] [--out FILE]``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from cloudbench.config import parse_region
from cloudbench.products import ahi_hsd
from cloudbench.products.geostationary import geometry_for
from cloudbench.sources.fetch import Fetcher
from cloudbench.sources.local_servers import MotoS3Server
from cloudbench.sources.noaa import noaa_imager_catalog, s3_filesystem
from cloudbench.sources.planner import (
    DEFAULT_LINE_MARGIN_KM,
    DEFAULT_TIME_MARGIN_S,
    Track,
    ahi_needs,
    track_lines,
)

SLOT = datetime(2018, 10, 1, 3, 0, tzinfo=UTC)


def _upload(server: MotoS3Server, slot: datetime, n: int, size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = 0
    for band in ahi_hsd.BAND_NAMES:
        for seg in range(1, 11):
            if k >= n:
                return
            name = ahi_hsd.build_filename("himawari8", slot, band, seg)
            server.put("noaa-himawari8", ahi_hsd.bucket_key(slot, name), rng.integers(0, 256, size, dtype="u1").tobytes())
            k += 1


def _throughput(server: MotoS3Server, slot: datetime, workers: int) -> dict:
    cat = noaa_imager_catalog("himawari8", server.endpoint)
    items = cat.list(slot, slot + timedelta(minutes=10))
    total = sum(i.size for i in items)
    tmp = Path(tempfile.mkdtemp())
    try:
        t0 = time.perf_counter()
        report = Fetcher(tmp / "fetcher", workers=workers).fetch([(i, cat) for i in items])
        t_fetcher = time.perf_counter() - t0
        assert report.ok, report.failed
        fs = s3_filesystem(server.endpoint)
        (tmp / "plain").mkdir()
        t0 = time.perf_counter()
        for i in items:
            fs.get("noaa-" + i.relpath, str(tmp / "plain" / i.name))
        t_plain = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "files": len(items),
        "bytes": total,
        "fetcher_workers": workers,
        "fetcher_s": round(t_fetcher, 3),
        "fetcher_MiB_s": round(total / 2**20 / t_fetcher, 2),
        "sequential_s3fs_get_s": round(t_plain, 3),
        "sequential_s3fs_get_MiB_s": round(total / 2**20 / t_plain, 2),
        "speedup_fetcher_over_sequential": round(t_plain / t_fetcher, 2),
    }


def _day_fraction(reduction: int = 1) -> dict:
    """Share of one day's full Himawari window that the planner selects for the synthetic passes."""
    from cloudbench.synthetic import orbit

    region = parse_region("paper")
    start = np.datetime64("2018-10-01T00:00:00", "ns")
    times = orbit.sample_times(start, start + np.timedelta64(1, "D"), 1.0)
    lat, lon = orbit.subpoint(times)
    keep = region.contains(lon, lat)
    geom = geometry_for("himawari8", reduction)
    lines, t = track_lines(geom, [Track(times[keep], lat[keep], lon[keep], "day")])
    needs = ahi_needs(geom, lines, t, max_dt_s=300.0,
                      line_margin=int(np.ceil(DEFAULT_LINE_MARGIN_KM / (2.0 * reduction))), time_margin_s=DEFAULT_TIME_MARGIN_S)
    pairs = sum(len(s) for d, s in needs.items() if d.date() == datetime(2018, 10, 1).date())
    total = 144 * geom.n_segments
    return {"region": "paper", "day": "2018-10-01", "track_points_in_region": int(keep.sum()),
            "slots_needed": len(needs), "slot_segments_needed": pairs, "slot_segments_in_day": total,
            "fraction_of_full_window": round(pairs / total, 5),
            "note": "same fraction for any band subset: segments of every requested band are fetched alike"}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args(argv)
    small_n, small_size = (60, 20_000) if args.quick else (150, 40_000)
    large_n, large_size = (3, 8 << 20) if args.quick else (4, 32 << 20)
    result: dict = {"benchmark": "download", "server": "moto ThreadedMotoServer on 127.0.0.1"}
    with MotoS3Server() as server:
        _upload(server, SLOT, small_n, small_size, 0)
        _upload(server, SLOT + timedelta(minutes=10), large_n, large_size, 1)
        result["many_small"] = _throughput(server, SLOT, args.workers)
        result["few_large"] = _throughput(server, SLOT + timedelta(minutes=10), args.workers)
    result["planner_day_fraction"] = _day_fraction()
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return result


if __name__ == "__main__":
    main()
