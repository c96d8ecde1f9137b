"""Collocation speed and memory: patch extraction vs a KD-tree baseline, one job's peak RSS and wall
time against bare segment decoding, and jobs per minute with 1 and 2 workers. Prints JSON.

Full mode: a full-size synthetic slot set (5500 x 5500 at 2 km, 16 bands incl. the 0.5 km B03) and
one CloudSat granule. ``--quick``: reduction 5 and three bands, for a smoke run.
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

TARGETS = {"speedup_vs_kdtree": 100.0, "peak_rss_gb": 2.0, "job_over_decode": 1.5}


def _archive(root: Path, quick: bool):
    from cloudbench.synthetic.archive import write_archive

    return write_archive(root, start="2018-10-01T03:50", end="2018-10-01T04:30", region="120,-40,160,40",
                         imager="himawari", labels=("cldclass-lidar",),
                         bands=("B03", "B05", "B13") if quick else None,
                         reduction=5 if quick else 10, full_size=not quick, seed=0, max_dt_s=300)


def _config(out: Path, bands):
    from cloudbench.collocate.pairing import CollocateConfig
    from cloudbench.config import parse_region

    return CollocateConfig(out=str(out), region=parse_region("120,-40,160,40"), imager="himawari",
                           bands=bands, patch_size=64)


def _job_in_subprocess(root: Path, out: Path, bands) -> dict:
    """One job in a fresh interpreter: wall time and peak RSS (VmHWM, which exec resets) of that job alone."""
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
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


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

    from cloudbench.collocate.imager_access import SlotReader
    from cloudbench.collocate.jobs import plan_jobs
    from cloudbench.collocate.patches import block_mean
    from cloudbench.readers.ahi_hsd import read_hsd_segment

    job = plan_jobs(root, "cldclass-lidar", "himawari", 300)[0]
    reader = SlotReader(job.slots[len(job.slots) // 2], bands)
    area = reader.area
    p = 64
    seg_rows = reader._segment_rows()
    seg = (area.height // 2) // seg_rows
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
            f = reader._factor(band)
            chans.append(block_mean(decoded[band][(r0 - lo) * f:(r0 - lo + p) * f, c0 * f:(c0 + p) * f], f))
        ours.append(np.stack(chans))
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    for r0, c0 in corners:
        target = area[r0:r0 + p, c0:c0 + p]
        for band in reader.band_names:
            f = reader._factor(band)
            m = 8  # cropped source: the patch plus a margin of 8 pixels
            rs, cs = max(r0 - m, lo), c0 - m
            src_area = reader._geometry.area(2.0 / f)[(rs - lo + lo) * f:(r0 + p + m) * f, cs * f:(c0 + p + m) * f]
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

    src = next(root.rglob("*CLDCLASS-LIDAR*.hdf"))
    for k in range(1, n_jobs):  # more granules: copies under other orbit numbers
        shutil.copy(src, src.with_name(src.name.replace(src.name[14:19], f"{70000 + k:05d}")))
    out = {}
    for workers in (1, 2):
        target = work / f"pairs_w{workers}"
        t = time.perf_counter()
        try:
            collocate(root, _config(target, bands), workers=workers, progress=False)
        except PartialError:
            pass
        out[f"workers_{workers}"] = n_jobs / ((time.perf_counter() - t) / 60.0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-collocate-"))
    try:
        root = work / "archive"
        t = time.perf_counter()
        _archive(root, args.quick)
        bands = ("B03", "B05", "B13") if args.quick else None
        result: dict = {"mode": "quick" if args.quick else "full", "archive_s": time.perf_counter() - t,
                        "targets": TARGETS}
        result["extraction"] = _extraction_vs_kdtree(root, bands, 20 if args.quick else 50)
        job = _job_in_subprocess(root, work / "pairs_job", bands)
        import pandas as pd

        table = pd.read_parquet(work / "pairs_job" / "samples" / f"{job['entry']['job_id']}.parquet")
        names = set(";".join(table["imager_files"]).split(";")) if len(table) else set()
        files = [str(p) for p in root.rglob("HS_*") if p.name in names]
        decode_s = _decode_time(files)
        result["one_job"] = {
            "wall_s": job["wall_s"], "peak_rss_gb": job["rss_kb"] / 1024**2, "samples": job["entry"]["n_samples"],
            "segments_decoded": len(files), "decode_only_s": decode_s,
            "job_over_decode": job["wall_s"] / decode_s if decode_s else None,
        }
        result["jobs_per_minute"] = _jobs_per_minute(root, work, bands, 4 if args.quick else 3)
        result["self_peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(result, indent=2, default=float)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
