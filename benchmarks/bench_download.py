"""Download throughput against an S3 server (moto) at loopback and at a cloud round trip, and the planner's saving.

1. Throughput: the fetcher (bounded pool, streamed, verified, ledgered) against a plain sequential
   ``s3fs.get`` of the same objects, for many small files and for a few large ones; once on bare
   loopback and once behind a delay line adding a 30 ms round trip to every request (and one more
   to every new connection), as a client in another cloud region meets the NOAA buckets. The server
   runs in a process of its own, so the client's threads do not share its interpreter.
2. Saving, geometry only: for the synthetic orbit's passes of one day over the paper region, the
   share of the day's Himawari slot-segments (144 slots x 10 segments, full resolution) that the
   planner's rule selects at --max-dt 300.
3. Saving, measured: a synthetic ARCHIVE/ of that day (reduction 10) served by the loopback servers,
   and ``download --dry-run`` planning over it: planned bytes over the full window's bytes (every
   file of every slot of the day, at the listed slots' mean size), and the slot-segment share; the
   plan's time on loopback and at the 30 ms round trip, with one worker and with the default.

Run: ``python -m benchmarks.bench_download [--quick] [--out FILE]``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import statistics
import tempfile
import time
from contextlib import contextmanager
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
    track_lines,
)

SLOT = datetime(2018, 9, 30, 3, 0, tzinfo=UTC)  # not the synthetic day: moto has one store per process
LATENCIES_S = (0.0, 0.030)
ACCEPT_SMALL_SPEEDUP = 4.0  # at 30 ms: the fetcher over a sequential s3fs get, many small files
ACCEPT_LARGE_RATIO = 0.9  # at 30 ms: large files within 10% of the sequential rate


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


def _serve(conn, latency_s: float, uploads: list[tuple[datetime, int, int, int]]) -> None:
    """Server process: moto (behind the delay line when latency_s > 0) holding the uploads, until told to stop."""
    with MotoS3Server(latency_s=latency_s) as server:
        for slot, n, size, seed in uploads:
            _upload(server, slot, n, size, seed)
        conn.send(server.endpoint)
        conn.recv()


@contextmanager
def _server_process(latency_s: float, uploads: list[tuple[datetime, int, int, int]]):
    """The S3 endpoint of a server running in a separate process."""
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(there, latency_s, uploads), daemon=True)
    proc.start()
    try:
        if not here.poll(300):
            raise RuntimeError("the S3 server process did not start")
        yield here.recv()
    finally:
        here.send("stop")
        proc.join(30)
        if proc.is_alive():
            proc.terminate()


def _throughput(endpoint: str, slot: datetime, workers: int | None, repeat: int) -> dict:
    """Fetcher and sequential get of the slot's objects, alternated ``repeat`` times; medians and every ratio."""
    t_fetcher, t_plain, total, files, n_workers = [], [], 0, 0, 0
    for _ in range(repeat):
        tmp = Path(tempfile.mkdtemp())
        try:
            fetcher = Fetcher(tmp / "fetcher") if workers is None else Fetcher(tmp / "fetcher", workers=workers)
            n_workers = fetcher.workers
            cat = noaa_imager_catalog("himawari8", endpoint, connections=fetcher.workers)
            items = cat.list(slot, slot + timedelta(minutes=10))
            total, files = sum(i.size for i in items), len(items)
            t0 = time.perf_counter()
            report = fetcher.fetch([(i, cat) for i in items])
            t_fetcher.append(time.perf_counter() - t0)
            assert report.ok, report.failed
            fs = s3_filesystem(endpoint)
            (tmp / "plain").mkdir()
            t0 = time.perf_counter()
            for i in items:
                fs.get("noaa-" + i.relpath, str(tmp / "plain" / i.name))
            t_plain.append(time.perf_counter() - t0)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    tf, tp = statistics.median(t_fetcher), statistics.median(t_plain)
    return {
        "files": files,
        "bytes": total,
        "fetcher_workers": n_workers,
        "repeats": repeat,
        "fetcher_s": round(tf, 3),
        "fetcher_MiB_s": round(total / 2**20 / tf, 2),
        "sequential_s3fs_get_s": round(tp, 3),
        "sequential_s3fs_get_MiB_s": round(total / 2**20 / tp, 2),
        "speedup_fetcher_over_sequential": round(tp / tf, 2),
        "speedup_each_repeat": [round(b / a, 2) for a, b in zip(t_fetcher, t_plain, strict=True)],
    }


def _day_fraction(reduction: int = 1) -> dict:
    """Share of one day's full Himawari window that the planner selects for the synthetic passes."""
    from cloudbench.synthetic import orbit

    region = parse_region("paper")
    start = np.datetime64("2018-10-01T00:00:00", "ns")
    times = orbit.sample_times(start, start + np.timedelta64(1, "D"), 1.0)
    lat, lon = orbit.subpoint(times)
    keep = region.contains(lon, lat)
    from cloudbench.sensors.registry import imager_for_platform

    geom = geometry_for("himawari8", reduction)
    lines, t = track_lines(geom, [Track(times[keep], lat[keep], lon[keep], "day")])
    needs = imager_for_platform("himawari8").needs(
        geom, lines, t, start=datetime(2018, 10, 1, tzinfo=UTC), max_dt_s=300.0,
        line_margin=int(np.ceil(DEFAULT_LINE_MARGIN_KM / (2.0 * reduction))), time_margin_s=DEFAULT_TIME_MARGIN_S)
    pairs = sum(len(s) for d, s in needs.items() if d.date() == datetime(2018, 10, 1).date())
    total = 144 * geom.n_units
    return {"region": "paper", "day": "2018-10-01", "track_points_in_region": int(keep.sum()),
            "slots_needed": len(needs), "slot_segments_needed": pairs, "slot_segments_in_day": total,
            "fraction_of_full_window": round(pairs / total, 5),
            "note": "same fraction for any band subset: segments of every requested band are fetched alike"}


def _synthetic_day_plan(bands: list[str] | None, reduction: int = 10, seed: int = 0) -> dict:
    """Write a synthetic day over the paper region, serve it, and plan ``download`` over it (dry run).

    The plan is timed on bare loopback, then at the round trip with one worker (every label granule
    fetched and every slot folder listed one after the other) and with the default workers.
    """
    from cloudbench.sources.download import download
    from cloudbench.sources.local_servers import serve_archive
    from cloudbench.synthetic.stream import SynthSettings, stream_archive

    day = datetime(2018, 10, 1, tzinfo=UTC)
    tmp = Path(tempfile.mkdtemp())
    plan_s: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        archive = stream_archive(tmp / "ARCHIVE", SynthSettings.create(
            start=day, end=day + timedelta(days=1), region="paper", labels=("vfm",), bands=bands,
            reduction=reduction, seed=seed))
        t_write = time.perf_counter() - t0
        runs = [(0.0, None), (LATENCIES_S[-1], 1), (LATENCIES_S[-1], None)]
        for k, (latency, workers) in enumerate(runs):
            with serve_archive(archive.root, latency_s=latency) as ep:
                t0 = time.perf_counter()
                result = download(start=day, end=day + timedelta(days=1), region=parse_region("paper"),
                                  imager="himawari", labels="vfm", out=tmp / f"MIRROR{k}", dry_run=True,
                                  max_dt_s=300.0, opts=ep.source_options(), geometry_reduction=reduction,
                                  **({} if workers is None else {"workers": workers}))
                plan_s[f"plan_rtt_{latency * 1000:.0f}ms_{workers or 'default'}_workers_s"] = round(
                    time.perf_counter() - t0, 2)
        summary = result.plan.summary()
        planned = {(i.relpath.rsplit("/", 2)[-2], ahi_hsd.parse_filename(i.name).segment) for i in result.plan.imager_items}
        written_bytes = sum(p.stat().st_size for p in archive.files["imager"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n_bands = len(bands) if bands else len(ahi_hsd.BAND_NAMES)
    return {
        "region": "paper", "day": "2018-10-01", "reduction": reduction, "bands": bands or "all 16",
        "label_granules": summary["label_files"], "track_points_in_region": summary["track_points_in_region"],
        "slots_written": archive.slots, "imager_bytes_written": written_bytes,
        "window_slots": summary["window_scans"], "slots_planned": summary["scans_needed"],
        "files_planned": summary["imager_files"], "planned_bytes": summary["imager_bytes"],
        "full_window_files": summary["full_window_files"], "full_window_bytes": summary["full_window_bytes"],
        "fraction_of_full_window_bytes": round(summary["fraction_of_full_window"], 5),
        "slot_segments_planned": len(planned), "slot_segments_in_day": summary["window_scans"] * ahi_hsd.N_SEGMENTS,
        "fraction_of_slot_segments": round(len(planned) / (summary["window_scans"] * ahi_hsd.N_SEGMENTS), 5),
        "files_per_band_consistent": summary["imager_files"] == len(planned) * n_bands,
        "synth_s": round(t_write, 1), **plan_s,
        "note": "bytes and slot-segments give different fractions because segment files differ in size: the "
                "top and bottom segments hold much space, and reduced synthetic disks render clouds only near the region",
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=None, help="fetcher threads (default: the fetcher's own)")
    parser.add_argument("--repeat", type=int, default=3, help="alternated runs of fetcher and sequential get; medians")
    parser.add_argument("--synthetic-bands", default=None,
                        help="bands of the synthetic day (default: all 16; B03,B13 with --quick); 'none' skips it")
    args = parser.parse_args(argv)
    small_n, small_size = (60, 20_000) if args.quick else (150, 40_000)
    large_n, large_size = (3, 8 << 20) if args.quick else (4, 32 << 20)
    result: dict = {"benchmark": "download",
                    "server": "moto (werkzeug, connections kept alive) on 127.0.0.1 in a separate process, behind a LatencyProxy "
                              "delay line when the round trip is above 0"}
    uploads = [(SLOT, small_n, small_size, 0), (SLOT + timedelta(minutes=10), large_n, large_size, 1)]
    for latency in LATENCIES_S:
        with _server_process(latency, uploads) as endpoint:
            result[f"rtt_{latency * 1000:.0f}ms"] = {
                "many_small": _throughput(endpoint, SLOT, args.workers, args.repeat),
                "few_large": _throughput(endpoint, SLOT + timedelta(minutes=10), args.workers, args.repeat),
            }
    at = result[f"rtt_{LATENCIES_S[-1] * 1000:.0f}ms"]
    result["acceptance"] = {
        "rtt_ms": LATENCIES_S[-1] * 1000,
        "small_speedup": at["many_small"]["speedup_fetcher_over_sequential"],
        "small_speedup_min": ACCEPT_SMALL_SPEEDUP,
        "large_ratio": at["few_large"]["speedup_fetcher_over_sequential"],
        "large_ratio_min": ACCEPT_LARGE_RATIO,
        "met": at["many_small"]["speedup_fetcher_over_sequential"] >= ACCEPT_SMALL_SPEEDUP
        and at["few_large"]["speedup_fetcher_over_sequential"] >= ACCEPT_LARGE_RATIO,
    }
    result["planner_day_fraction"] = _day_fraction()
    spec = args.synthetic_bands or ("B03,B13" if args.quick else "all")
    if spec != "none":
        bands = None if spec == "all" else [b.strip() for b in spec.split(",")]
        result["synthetic_day_plan"] = _synthetic_day_plan(bands)
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return result


if __name__ == "__main__":
    main()
