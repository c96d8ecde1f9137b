"""Loader speed: sharded Zarr (CloudbenchDataset) against one NetCDF file per sample, and against the disk.

The per-file layout is the one IceCloudNet and 3DClouds use. Both loaders produce the same items
(normalised x and aux, dense int64 target), so the comparison measures storage layout and reading
only. The disk reference is a plain sequential read of the shard files. Everything runs on a warm
page cache (the files were just written); cold-cache numbers depend on the disk and are not measured.

    python -m benchmarks.bench_loader [--samples N] [--quick] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from cloudbench.dataset.build import build_dataset
from cloudbench.dataset.loader import CloudbenchDataset, dense_target
from cloudbench.dataset.pairs import ARRAY_NAMES
from cloudbench.dataset.testing import write_fake_pairs

PATCH, LEVELS = 64, 80  # the dataset-spec defaults: 16 bands x 64 x 64, 80 levels


class NetcdfPerSample(Dataset):
    """One NetCDF file per sample, opened with xarray for every item, as the per-file peers do."""

    def __init__(self, files: list[Path], stats: dict, patch: int, engine: str = "xarray"):
        self.files, self.patch, self.engine = files, patch, engine
        self.x_mean = np.asarray(stats["x"]["mean"], np.float32)[:, None, None]
        self.x_std = np.asarray(stats["x"]["std"], np.float32)[:, None, None]
        self.a_mean = np.asarray(stats["aux"]["mean"], np.float32)[:, None, None]
        self.a_std = np.asarray(stats["aux"]["std"], np.float32)[:, None, None]

    def __len__(self) -> int:
        return len(self.files)

    def _read(self, path: Path) -> dict[str, np.ndarray]:
        if self.engine == "xarray":
            import xarray as xr

            with xr.open_dataset(path) as ds:
                return {name: ds[name].values for name in ARRAY_NAMES}
        import netCDF4

        with netCDF4.Dataset(path) as ds:
            ds.set_auto_mask(False)
            return {name: ds[name][...] for name in ARRAY_NAMES}

    def __getitem__(self, i: int) -> dict:
        a = self._read(self.files[i])
        x = np.nan_to_num((a["x"] - self.x_mean) / self.x_std, nan=0.0)
        aux = np.nan_to_num((a["aux"] - self.a_mean) / self.a_std, nan=0.0)
        target = dense_target(a["profiles"], a["track_rows"], a["track_cols"], int(a["n_track"]), self.patch)
        return {"x": torch.from_numpy(x.astype(np.float32)), "aux": torch.from_numpy(aux.astype(np.float32)),
                "target": torch.from_numpy(target.astype(np.int64)), "sample_id": self.files[i].stem}


def write_netcdf_copy(ds: CloudbenchDataset, folder: Path) -> list[Path]:
    import xarray as xr

    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(len(ds)):
        a = ds.read_arrays(i)
        dims = {"x": ("band", "y", "x_"), "aux": ("aux", "y", "x_"), "track_rows": ("track",),
                "track_cols": ("track",), "profiles": ("track", "level"), "n_track": ()}
        path = folder / f"{ds.sample_ids[i]}.nc"
        xr.Dataset({k: (dims[k], np.asarray(v)) for k, v in a.items()}).to_netcdf(path, engine="netcdf4")
        files.append(path)
    return files


def epoch(dataset: Dataset, workers: int, batch: int = 16) -> tuple[float, int]:
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers,
                        generator=torch.Generator().manual_seed(0))
    t0 = time.perf_counter()
    n = sum(len(b["sample_id"]) for b in loader)
    return time.perf_counter() - t0, n


def items_time(dataset: Dataset) -> float:
    """Seconds to fetch every item once, in order, without a DataLoader (reading + item assembly only)."""
    t0 = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    return time.perf_counter() - t0


def sequential_read_mb_s(files: list[Path]) -> tuple[float, int]:
    total = 0
    t0 = time.perf_counter()
    for path in files:
        with open(path, "rb", buffering=0) as fh:
            while chunk := fh.read(8 << 20):
                total += len(chunk)
    return total / 1e6 / (time.perf_counter() - t0), total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=600, help="samples in PAIRS (about half end in train)")
    parser.add_argument("--quick", action="store_true", help="a small run (200 samples)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    n_samples = 200 if args.quick else args.samples
    torch.set_num_threads(1)  # the same for both layouts; torch's threaded casts and stacks cost more than they save here
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        days = 20
        pairs = write_fake_pairs(tmp / "PAIRS", days=days, samples_per_day=max(1, n_samples // days), seed=0,
                                 patch_size=PATCH, height_edges_km=list(np.round(np.arange(LEVELS + 1) * 0.24, 6)))
        build_dataset(pairs, tmp / "DATASET", seed=0, summary=False, progress=False)
        ds = CloudbenchDataset(tmp / "DATASET", "train")
        stats = json.loads((tmp / "DATASET" / "stats.json").read_text())
        nc_files = write_netcdf_copy(ds, tmp / "netcdf")
        shard_files = sorted(p for p in (tmp / "DATASET" / "train.zarr").rglob("*") if p.is_file())

        # loader alone, item by item (no DataLoader): bytes read and decoded per second
        ds.bytes_read = 0
        t_items = items_time(ds)
        t_nc_xr = items_time(NetcdfPerSample(nc_files, stats, PATCH, "xarray"))
        t_nc_n4 = items_time(NetcdfPerSample(nc_files, stats, PATCH, "netcdf4"))
        stored_mb = ds.bytes_read / 1e6
        decoded_mb = len(ds) * sum(np.asarray(v).nbytes for v in ds.read_arrays(0).values()) / 1e6
        disk_mb_s, disk_bytes = sequential_read_mb_s(shard_files)

        results = {"samples": len(ds), "patch": PATCH, "bands": len(ds.band_names), "levels": LEVELS,
                   "page_cache": "warm", "python": platform.python_version(), "torch": torch.__version__,
                   "cpus": torch.get_num_threads()}  # fmt: skip
        rows = {}
        for workers in (0, args.workers):
            t_z, n_z = epoch(ds, workers)
            t_x, n_x = epoch(NetcdfPerSample(nc_files, stats, PATCH, "xarray"), workers)
            t_n, n_n = epoch(NetcdfPerSample(nc_files, stats, PATCH, "netcdf4"), workers)
            rows[f"workers_{workers}"] = {
                "zarr_shards_samples_per_s": round(n_z / t_z, 1),
                "netcdf_per_sample_xarray_samples_per_s": round(n_x / t_x, 1),
                "netcdf_per_sample_netcdf4_samples_per_s": round(n_n / t_n, 1),
                "speedup_vs_xarray_netcdf": round((n_z / t_z) / (n_x / t_x), 2),
                "speedup_vs_netcdf4_netcdf": round((n_z / t_z) / (n_n / t_n), 2),
            }
        results["items"] = {
            "zarr_shards_samples_per_s": round(len(ds) / t_items, 1),
            "netcdf_per_sample_xarray_samples_per_s": round(len(ds) / t_nc_xr, 1),
            "netcdf_per_sample_netcdf4_samples_per_s": round(len(ds) / t_nc_n4, 1),
            "speedup_vs_xarray_netcdf": round(t_nc_xr / t_items, 2),
            "speedup_vs_netcdf4_netcdf": round(t_nc_n4 / t_items, 2),
        }
        results["dataloader"] = rows
        results["target_speedup"] = 10
        results["meets_target_items_vs_xarray_netcdf"] = results["items"]["speedup_vs_xarray_netcdf"] >= 10
        results["disk"] = {
            "shard_bytes": disk_bytes,
            "sequential_read_mb_s": round(disk_mb_s, 1),
            "loader_items_per_s": round(len(ds) / t_items, 1),
            "loader_stored_mb_s": round(stored_mb / t_items, 1),
            "loader_decoded_mb_s": round(decoded_mb / t_items, 1),
            "loader_fraction_of_disk": round(stored_mb / t_items / disk_mb_s, 3),
            "netcdf_bytes": int(sum(p.stat().st_size for p in nc_files)),
        }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
