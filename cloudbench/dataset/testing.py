"""A format-exact PAIRS/ folder with random but self-consistent content, for tests of later stages.

The dataset builder, the loader and the trainer must be testable without running the collocation.
This writer follows the PAIRS/ layout of docs/architecture.md to the letter (config.json, one Zarr
group and one parquet table per job, ledger.jsonl, report.json) and gives the content a learnable
relation: each patch has a smooth cloud-top field; infrared brightness temperature falls with it, and
the phase profiles on the track are cut from the same field (ice high, mixed middle, water low).
Every job draws from its own seeded generator, so a day's content does not depend on which other
days are written: adding a day leaves the old days' bytes alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from cloudbench import config as cfg
from cloudbench.collocate.pairs_store import JobArrays, write_job_group

AHI_BANDS = tuple(f"B{i:02d}" for i in range(1, 17))
VIS_BANDS = 6  # AHI B01-B06 are reflectances (%), B07-B16 brightness temperatures (K)


def _job_rng(seed: int, job_id: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{job_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _smooth_field(rng: np.random.Generator, size: int, coarse: int = 4) -> np.ndarray:
    """A smooth (size, size) field in [0, 1]: bilinear upsampling of a coarse random grid."""
    grid = rng.random((coarse, coarse))
    pos = np.linspace(0, coarse - 1, size)
    i0 = np.clip(np.floor(pos).astype(int), 0, coarse - 2)
    w = pos - i0
    rows = grid[i0] * (1 - w)[:, None] + grid[i0 + 1] * w[:, None]
    return rows[:, i0] * (1 - w)[None, :] + rows[:, i0 + 1] * w[None, :]


def _profiles_from_top(top_km: np.ndarray, edges_km: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, Z) class codes: clear above the top, a 2 km cloud of the height's phase, 255 at the surface bin."""
    centres = 0.5 * (edges_km[:-1] + edges_km[1:])
    n, z = top_km.shape[0], centres.shape[0]
    out = np.full((n, z), cfg.CLEAR, dtype=np.uint8)
    for i, top in enumerate(top_km):
        if np.isfinite(top):
            phase = cfg.ICE if top > 8 else (cfg.MIXED if top > 4 else cfg.WATER)
            in_cloud = (centres <= top) & (centres >= top - 2.0)
            out[i, in_cloud] = phase
            if rng.random() < 0.3:  # an opaque cloud: the lidar is blind below it
                out[i, centres < top - 2.0] = cfg.UNLABELED
        out[i, 0] = cfg.UNLABELED  # surface bin
    return out


def _write_job(root: Path, job_id: str, day: date, hour: int, n: int, *, seed: int, patch_size: int,
               edges_km: np.ndarray, bands: tuple[str, ...], platform: str) -> tuple[pd.DataFrame, dict]:
    rng = _job_rng(seed, job_id)
    p, z = patch_size, len(edges_km) - 1
    max_track = 2 * p
    c, a = len(bands), len(cfg.AUX_NAMES)
    x = np.empty((n, c, p, p), np.float32)
    aux = np.empty((n, a, p, p), np.float32)
    track_rows = np.full((n, max_track), -1, np.int16)
    track_cols = np.full((n, max_track), -1, np.int16)
    profiles = np.full((n, max_track, z), cfg.UNLABELED, np.uint8)
    n_track = np.zeros(n, np.int16)
    row_start, col_start = int(rng.integers(500, 4000)), int(rng.integers(1000, 4500))
    lat0, lon0 = float(rng.uniform(-50, 50)), float(rng.uniform(105, 155))
    t0 = np.datetime64(f"{day.isoformat()}T{hour:02d}:00:00", "ns") + np.timedelta64(int(rng.integers(0, 3000)), "s")
    rows = []
    granule = f"{day.isoformat()}T{hour:02d}-{int(rng.integers(0, 60)):02d}-00ZD"
    slot = f"{day.strftime('%Y%m%d')}_{hour:02d}{int(rng.integers(0, 6)) * 10:02d}"
    imager_files = ";".join(f"HS_H08_{slot}_{b}_FLDK_R20_S0510.DAT.bz2" for b in bands)
    for k in range(n):
        cloudy = _smooth_field(rng, p) > 0.35
        top = np.where(cloudy, 1.0 + 13.0 * _smooth_field(rng, p), np.nan).astype(np.float32)
        top_or_surface = np.nan_to_num(top, nan=0.0)
        for b in range(c):
            if b < VIS_BANDS and c == len(AHI_BANDS):
                x[k, b] = np.where(cloudy, 55.0, 8.0) + rng.normal(0, 3, (p, p))
            else:
                x[k, b] = 295.0 - 6.5 * top_or_surface - 2.0 * b + rng.normal(0, 1.0, (p, p))
        lat = lat0 + (k * p / 2 + np.arange(p)[:, None]) * -0.02 + np.zeros((1, p))
        lon = lon0 + np.arange(p)[None, :] * 0.02 + np.zeros((p, 1))
        aux[k, 0] = np.abs(lat) * 0.8 + 10
        aux[k, 1] = 40 + 0.1 * lat
        aux[k, 2] = lat
        aux[k, 3] = lon
        track_c = np.clip(np.round(p / 2 + (np.arange(p) - p / 2) * 0.25 + rng.normal(0, 0.3, p)), 0, p - 1)
        keep = rng.random(p) > 0.1  # some profiles dropped (time tolerance, off-disk)
        r_idx, c_idx = np.arange(p)[keep], track_c[keep].astype(int)
        m = len(r_idx)
        track_rows[k, :m], track_cols[k, :m], n_track[k] = r_idx, c_idx, m
        prof = _profiles_from_top(top[r_idx, c_idx], edges_km, rng)
        profiles[k, :m] = prof
        counts = [int((prof == code).sum()) for code in (cfg.CLEAR, cfg.ICE, cfg.MIXED, cfg.WATER)]
        t = t0 + np.timedelta64(int(k * p * 0.3), "s")
        dt = float(rng.uniform(-250, 250))
        rows.append({
            "sample_id": f"{job_id}-{k:05d}", "job_id": job_id, "row": k, "granule_id": granule,
            "label_product": "2B-CLDCLASS-LIDAR", "product_version": "P1_R05", "imager_files": imager_files,
            "platform": platform, "time": t, "line_time": t + np.timedelta64(int(dt * 1e9), "ns"), "dt_s": dt,
            "lat": float(lat[p // 2, p // 2]), "lon": float(lon[p // 2, p // 2]),
            "parallax_km": float(rng.uniform(0, 8)), "sat_zenith": float(aux[k, 0, p // 2, p // 2]),
            "day_night": 0, "frac_labeled": float((prof != cfg.UNLABELED).mean()), "n_track": m,
            "count_clear": counts[0], "count_ice": counts[1], "count_mixed": counts[2], "count_water": counts[3],
            "date": day.isoformat(), "patch_row0": row_start + k * p // 2, "patch_col0": col_start + k * p // 8,
        })  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    frame["line_time"] = pd.to_datetime(frame["line_time"], utc=True)
    frame["day_night"] = frame["day_night"].astype(np.uint8)

    final = root / "jobs" / f"{job_id}.zarr"
    tmp = root / "jobs" / f".{job_id}.zarr.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    attrs = {
        "bands": list(bands), "aux_names": list(cfg.AUX_NAMES), "patch_size": p,
        "height_edges_km": [float(e) for e in edges_km], "label_product": "2B-CLDCLASS-LIDAR", "platform": platform,
    }  # fmt: skip
    write_job_group(tmp, job_id, JobArrays(x, aux, track_rows, track_cols, profiles, n_track),
                    frame["sample_id"].tolist(), attrs)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    sample_path = root / "samples" / f"{job_id}.parquet"
    frame.to_parquet(sample_path.with_suffix(".parquet.tmp"), index=False)
    os.replace(sample_path.with_suffix(".parquet.tmp"), sample_path)
    granule_file = f"2018{day.timetuple().tm_yday:03d}{hour:02d}0000_{int(rng.integers(60000, 70000))}_CS_2B-CLDCLASS-LIDAR_GRANULE_P1_R05_E08_F03.hdf"
    inputs = [{"name": granule_file, "kind": "granule"}] + [
        {"name": f, "kind": "imager"} for f in imager_files.split(";")
    ]
    for item in inputs:
        item["sha256"] = hashlib.sha256(item["name"].encode()).hexdigest()
    ledger = {"job_id": job_id, "status": "done", "granule_id": granule, "n_samples": n, "inputs": inputs}
    return frame, ledger


def write_fake_pairs(
    root: str | Path,
    days: int | list[str] = 3,
    samples_per_day: int = 4,
    seed: int = 0,
    *,
    start: str = "2018-10-01",
    jobs_per_day: int = 2,
    patch_size: int = 16,
    height_edges_km: list[float] | None = None,
    bands: tuple[str, ...] = AHI_BANDS,
    platform: str = "himawari8",
) -> Path:
    """Write a PAIRS/ folder of ``days`` days (a count from ``start``, or ISO dates).

    Args:
        root: the PAIRS/ folder to create (emptied first).
        days: how many consecutive days from ``start``, or the list of ``YYYY-MM-DD`` days.
        samples_per_day: samples per day, spread over ``jobs_per_day`` jobs (granules).
        seed: with the job id, seeds each job's content.
        patch_size: P; small by default so tests stay fast. L = 2 P.
        height_edges_km: the height grid; default 20 levels of 0.96 km (tests need not use 80).

    Returns:
        The PAIRS/ folder.
    """
    root = Path(root)
    shutil.rmtree(root, ignore_errors=True)
    (root / "jobs").mkdir(parents=True)
    (root / "samples").mkdir()
    if isinstance(days, int):
        first = date.fromisoformat(start)
        day_list = [first + timedelta(days=i) for i in range(days)]
    else:
        day_list = sorted(date.fromisoformat(d) for d in days)
    edges = np.asarray(height_edges_km if height_edges_km is not None else np.round(np.arange(21) * 0.96, 6))
    config = {
        "bands": list(bands), "aux_names": list(cfg.AUX_NAMES), "patch_size": patch_size,
        "height_edges_km": [float(e) for e in edges], "region": [100.0, -60.0, 160.0, 60.0],
        "imager": "himawari", "label_product": "2B-CLDCLASS-LIDAR", "max_dt_s": cfg.MAX_DT_S,
        "max_sza_deg": cfg.MAX_SZA_DEG, "min_track": patch_size // 2, "max_track": 2 * patch_size,
    }  # fmt: skip
    (root / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    ledger_lines, n_pairs = [], 0
    for day in day_list:
        per_job = np.full(jobs_per_day, samples_per_day // jobs_per_day)
        per_job[: samples_per_day % jobs_per_day] += 1
        for j, n in enumerate(per_job):
            if n == 0:
                continue
            hour = 2 + 2 * j
            job_id = f"{platform}_{day.strftime('%Y%m%d')}T{hour:02d}_{j:02d}"
            _, ledger = _write_job(root, job_id, day, hour, int(n), seed=seed, patch_size=patch_size,
                                   edges_km=edges, bands=bands, platform=platform)
            ledger_lines.append(json.dumps(ledger, sort_keys=True))
            n_pairs += int(n)
    (root / "ledger.jsonl").write_text("\n".join(ledger_lines) + "\n")
    report = {"jobs_done": len(ledger_lines), "jobs_skipped": 0, "pairs": n_pairs, "skipped": []}
    (root / "report.json").write_text(json.dumps(report, indent=2))
    (root / "report.txt").write_text(f"jobs done: {len(ledger_lines)}\npairs: {n_pairs}\n")
    return root


def reseal_dataset(root: str | Path) -> dict:
    """Re-record every checksum of DATASET/ and re-seal its manifest after a deliberate edit.

    Tests use it to plant one fault (say, a sample in two splits) that the checksum check alone
    would otherwise catch first, so each check of ``verify`` is exercised on its own.
    """
    from cloudbench.dataset import manifest as mf
    from cloudbench.dataset.shards import store_files

    root = Path(root)
    manifest = mf.read_manifest(root)
    for name in manifest["files"]:
        manifest["files"][name] = mf.file_entry(root, root / name)
    for split, doc in manifest["splits"].items():
        doc["files"] = [mf.file_entry(root, p) for p in store_files(root / f"{split}.zarr")]
    mf.write_manifest(root, manifest)
    return manifest
