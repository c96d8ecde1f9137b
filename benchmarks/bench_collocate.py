"""Collocation speed and memory: patch extraction vs a KD-tree baseline, one job's peak RSS and wall
time against bare segment decoding (the single-thread decode floor), with the job's units decoded
serially and in parallel, and jobs per minute with 1 and 2 workers. Prints JSON.

Full mode: one CloudSat granule and full-size slots (5500 x 5500 at 2 km, 16 bands incl. the 0.5 km
B03), only the segments its job reads. ``--quick``: reduction 5 and three bands, for a smoke run.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGETS = {"speedup_vs_kdtree": 100.0, "peak_rss_gb": 2.0, "job_over_decode": 0.6}


def _archive(root: Path, quick: bool):
    from cloudbench.synthetic.archive import write_archive

    if not quick:
        return _full_size_archive(root)
    return write_archive(root, start="2018-10-01T03:50", end="2018-10-01T04:30", region="120,-40,160,40",
                         imager="himawari", labels=("cldclass-lidar",), bands=("B03", "B05", "B13"),
                         reduction=5, seed=0, max_dt_s=300)


FULL_REDUCTION_RENDER = 10  # the scene is rendered on a 20 km grid, then repeated onto the 2 km grid


def _full_size_archive(root: Path) -> list[Path]:
    """One granule and the full-size (5500 x 5500 at 2 km, 16 bands) HSD segments its job reads.

    Rendering 30 M pixels x 16 bands per slot would take far longer than the job it feeds, so the
    scene is rendered at 20 km, repeated onto the 2 km grid with 2 km noise (so segments compress
    like real ones), and only the segments of each slot whose lines lie within the time tolerance
    of the pass are written (the job reads nothing else).
    """
    from cloudbench.products.geostationary import geometry_for
    from cloudbench.synthetic.ahi_hsd import write_ahi_slot
    from cloudbench.synthetic.archive import write_archive
    from cloudbench.synthetic.parallax import apparent_lonlat
    from cloudbench.synthetic.render import slot_line_times

    scratch = root.parent / "reduced"
    reduced = write_archive(scratch, start="2018-10-01T03:50", end="2018-10-01T04:30", region="120,-40,160,40",
                            imager="himawari", labels=("cldclass-lidar",), bands=None,
                            reduction=FULL_REDUCTION_RENDER, seed=0, max_dt_s=300)
    (granule,) = reduced.granules
    dest = root / granule.path.relative_to(scratch)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(granule.path, dest)
    full = geometry_for(reduced.platform, 1)
    track = granule.layers
    alon, alat = apparent_lonlat(track.longitude, track.latitude, np.nan_to_num(track.cloud_top_km), full.sub_lon)
    _, rows = full.area().get_array_indices_from_lonlat(alon, alat)
    ok = ~np.ma.getmaskarray(rows)
    rows, times = np.ma.getdata(rows)[ok], track.time[ok]
    seg_rows = full.unit_lines(2.0)
    rng = np.random.default_rng(0)
    written = [dest]
    for slot in reduced.slots:
        line_t = slot_line_times(full, slot.slot_start)
        near = np.abs((times - line_t[rows]).astype(np.int64)) <= 300 * 10**9
        segs = sorted({int(r // seg_rows) + 1 for r in np.concatenate([rows[near] - 40, rows[near] + 40])
                       if 0 <= r < full.shape[0]})
        if not segs:
            continue
        for band, coarse in slot.rendered.bands.items():
            values = np.repeat(np.repeat(coarse, FULL_REDUCTION_RENDER, 0), FULL_REDUCTION_RENDER, 1)
            values += rng.normal(0.0, 0.2, values.shape).astype(np.float32)
            written += write_ahi_slot(root, platform=reduced.platform, slot_start=slot.slot_start,
                                      bands={band: values}, geometry=full, segments=segs)
            del values
    shutil.rmtree(scratch, ignore_errors=True)
    return written


def _config(out: Path, bands):
    from cloudbench.collocate.pairing import CollocateConfig
    from cloudbench.config import parse_region

    return CollocateConfig(out=str(out), region=parse_region("120,-40,160,40"), imager="himawari",
                           bands=bands, patch_size=64)


def _job_in_subprocess(root: Path, out: Path, bands, threads: int | None = None) -> dict:
    """One job in a fresh interpreter: wall time and peak RSS (VmHWM, which exec resets) of that job alone.

    ``threads`` sets ``CLOUDBENCH_DECODE_THREADS`` (None: the default, the worker's CPUs up to 4).
    """
    import os

    env = dict(os.environ)
    env.pop("CLOUDBENCH_DECODE_THREADS", None)
    if threads is not None:
        env["CLOUDBENCH_DECODE_THREADS"] = str(threads)
    code = f"""
import json, resource, time
from cloudbench.collocate.jobs import plan_jobs
from cloudbench.collocate.pairing import collocate_job
from benchmarks.bench_collocate import _config
job = plan_jobs({str(root)!r}, "cldclass-lidar", "himawari", 300)[0]
t = time.perf_counter()
entry = collocate_job(job, _config(__import__("pathlib").Path({str(out)!r}), {bands!r}))
wall = time.perf_counter() - t
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({{"wall_s": wall, "entry": entry, "rss_kb": int(hwm)}}))
"""
    shutil.rmtree(out, ignore_errors=True)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1], env=env)
    return json.loads(res.stdout.strip().splitlines()[-1])


def _default_threads() -> int:
    from cloudbench.readers.slot_access import default_decode_threads

    return default_decode_threads()


def _decode_time(files: list[str]) -> float:
    from cloudbench.readers.ahi_hsd import read_hsd_segment

    t = time.perf_counter()
    for f in files:
        read_hsd_segment(f)
    return time.perf_counter() - t


def _extraction_vs_kdtree(root: Path, bands, n_patches: int) -> dict:
    """Same patches, same decoded segment data: exact slicing + block mean vs kd_tree nearest per patch."""
    from pyresample import kd_tree
    from pyresample.geometry import SwathDefinition

    from cloudbench.collocate.jobs import plan_jobs
    from cloudbench.collocate.patches import block_mean
    from cloudbench.readers.ahi_hsd import read_hsd_segment
    from cloudbench.readers.slot_access import SlotAccess
    from cloudbench.sensors.registry import imager_product

    job = plan_jobs(root, "cldclass-lidar", "himawari", 300)[0]
    slot = job.slots[len(job.slots) // 2]
    reader = SlotAccess(imager_product(slot.product), slot.files, bands, platform=slot.platform)
    area = reader.area
    p = 64
    seg_rows = reader.geometry.unit_lines()
    present = set.intersection(*(set(reader._files[b]) for b in reader.band_names))
    seg = min(present, key=lambda k: abs(k - 1 - (area.height // 2) // seg_rows)) - 1  # a written segment
    lo = seg * seg_rows
    decoded = {}
    for band in reader.band_names:
        first, values, _ = read_hsd_segment(reader._files[band][seg + 1])
        decoded[band] = values
    c_mid = area.width // 2
    corners = [(lo + (seg_rows - p) // 2, c_mid - 400 + 13 * k) for k in range(n_patches)]
    t = time.perf_counter()
    ours = []
    for r0, c0 in corners:
        chans = []
        for band in reader.band_names:
            f = reader.product.factor(band)
            chans.append(block_mean(decoded[band][(r0 - lo) * f:(r0 - lo + p) * f, c0 * f:(c0 + p) * f], f))
        ours.append(np.stack(chans))
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    for r0, c0 in corners:
        target = area[r0:r0 + p, c0:c0 + p]
        for band in reader.band_names:
            f = reader.product.factor(band)
            m = 8  # cropped source: the patch plus a margin of 8 pixels
            rs, cs = max(r0 - m, lo), c0 - m
            src_area = reader.geometry.area(2.0 / f)[(rs - lo + lo) * f:(r0 + p + m) * f, cs * f:(c0 + p + m) * f]
            lons, lats = src_area.get_lonlats()
            src = decoded[band][(rs - lo) * f:(r0 + p + m - lo) * f, cs * f:(c0 + p + m) * f]
            kd_tree.resample_nearest(SwathDefinition(lons, lats), src, target,
                                     radius_of_influence=3000.0 * f, fill_value=None)
    t_kd = time.perf_counter() - t
    return {"patches": n_patches, "bands": len(reader.band_names), "ours_s": t_ours, "kdtree_s": t_kd,
            "ours_patches_per_s": n_patches / t_ours, "kdtree_patches_per_s": n_patches / t_kd,
            "speedup_vs_kdtree": t_kd / t_ours}


def _jobs_per_minute(root: Path, work: Path, bands, n_jobs: int) -> dict:
    from cloudbench.collocate.run import collocate
    from cloudbench.errors import PartialError

    src = sorted(root.rglob("*CLDCLASS-LIDAR*.hdf"))[0]
    copies = [src.with_name(src.name.replace(src.name[14:19], f"{70000 + k:05d}")) for k in range(1, n_jobs)]
    for copy in copies:  # more granules: copies under other orbit numbers (removed afterwards)
        shutil.copy(src, copy)
    from cloudbench.collocate.run import dask_client

    t = time.perf_counter()
    with dask_client(2, None):
        pass
    out = {"cluster_start_stop_s": time.perf_counter() - t, "jobs": n_jobs}
    for workers in (1, 2):
        target = work / f"pairs_w{workers}"
        t = time.perf_counter()
        try:
            collocate(root, _config(target, bands), workers=workers, progress=False)
        except PartialError:
            pass
        out[f"workers_{workers}"] = n_jobs / ((time.perf_counter() - t) / 60.0)
    for copy in copies:
        copy.unlink()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    parser.add_argument("--archive", default=None,
                        help="build the archive here and keep it (reused when it already holds one)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="jobs for the jobs-per-minute runs (0 skips them)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-collocate-"))
    try:
        root = Path(args.archive) if args.archive else work / "archive"
        t = time.perf_counter()
        reused = root.is_dir() and any(root.rglob("*CLDCLASS-LIDAR*.hdf"))
        if not reused:
            _archive(root, args.quick)
        bands = ("B03", "B05", "B13") if args.quick else None
        import os

        result: dict = {"mode": "quick" if args.quick else "full",
                        "archive_s": None if reused else time.perf_counter() - t, "targets": TARGETS,
                        "load_average_1m_at_start": os.getloadavg()[0]}
        result["extraction"] = _extraction_vs_kdtree(root, bands, 20)
        serial = _job_in_subprocess(root, work / "pairs_job", bands, threads=1)
        job = _job_in_subprocess(root, work / "pairs_job", bands)
        names = {i["name"] for i in job["entry"].get("inputs", []) if i["kind"] == "imager"}
        files = [str(p) for p in root.rglob("HS_*") if p.name in names]
        decode_s = _decode_time(files)
        result["one_job"] = {
            "wall_s": job["wall_s"], "peak_rss_gb": job["rss_kb"] / 1024**2, "samples": job["entry"]["n_samples"],
            "segments_decoded": len(files), "decode_only_s": decode_s,
            "job_over_decode": job["wall_s"] / decode_s if decode_s else None,
            "decode_threads": _default_threads(), "cpus": len(os.sched_getaffinity(0)),
            "serial_decode_wall_s": serial["wall_s"], "serial_decode_peak_rss_gb": serial["rss_kb"] / 1024**2,
            "serial_job_over_decode": serial["wall_s"] / decode_s if decode_s else None,
        }
        n_jobs = (4 if args.quick else 3) if args.jobs is None else args.jobs
        result["jobs_per_minute"] = _jobs_per_minute(root, work, bands, n_jobs) if n_jobs else None
        result["self_peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        result["load_average_1m_at_end"] = os.getloadavg()[0]  # other processes sharing the cores
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(result, indent=2, default=float)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
