"""Loader speed: sharded Zarr (CloudbenchDataset) against one NetCDF file per sample, and against the disk.

The per-file layout is the one IceCloudNet and 3DClouds use. Both datasets hand their raw arrays to
the same ``ItemAssembler`` (normalisation, dense target, tensor conversion), item by item and batch
by batch alike, so the ratio measures storage layout and reading only. The disk reference is a
plain sequential read of the shard files. Everything runs on a warm page cache (the files were just
written). Each figure is the best of ``--repeats`` passes (the machine may be shared); for the
single-process figures the CPU time of this process is reported too, which other load disturbs less.

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
from cloudbench.dataset.loader import CloudbenchDataset, ItemAssembler, SampleBatch
from cloudbench.dataset.pairs import ARRAY_NAMES
from cloudbench.dataset.testing import write_fake_pairs

PATCH, LEVELS, BATCH = 64, 80, 32  # the dataset-spec defaults: 16 bands x 64 x 64, 80 levels


class NetcdfPerSample(Dataset):
    """One NetCDF file per sample, opened for every item, as the per-file peers do."""

    def __init__(self, files: list[Path], stats: dict, patch: int, engine: str = "xarray",
                 target_dtype: torch.dtype = torch.int64):
        self.files, self.engine = files, engine
        self.assembler = ItemAssembler(patch, LEVELS, stats, target_dtype)

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

    def read_batch(self, indices) -> dict:
        arrays = [self._read(self.files[i]) for i in indices]
        stacked = {name: np.stack([a[name] for a in arrays]) for name in ARRAY_NAMES}
        return self.assembler.batch(torch.from_numpy(stacked["x"].astype(np.float32, copy=False)),
                                    torch.from_numpy(stacked["aux"].astype(np.float32, copy=False)),
                                    stacked["profiles"], stacked["track_rows"], stacked["track_cols"],
                                    stacked["n_track"], [self.files[i].stem for i in indices])

    def __getitem__(self, i: int) -> dict:
        b = self.read_batch([i])
        return {"x": b["x"][0], "aux": b["aux"][0], "target": b["target"][0], "sample_id": b["sample_id"][0]}

    def __getitems__(self, indices: list[int]) -> SampleBatch:
        return SampleBatch(self.read_batch(indices))


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


def best_of(fn, repeats: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process), each the best of ``repeats`` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def epoch(dataset: Dataset, workers: int, collate) -> int:
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=workers, collate_fn=collate,
                        generator=torch.Generator().manual_seed(0))
    return sum(len(b["sample_id"]) for b in loader)


def items(dataset: Dataset) -> None:
    """Fetch every item once, in order, without a DataLoader (reading + item assembly only)."""
    for i in range(len(dataset)):
        dataset[i]


def sequential_read_mb_s(files: list[Path]) -> tuple[float, int]:
    total = 0
    t0 = time.perf_counter()
    for path in files:
        with open(path, "rb", buffering=0) as fh:
            while chunk := fh.read(8 << 20):
                total += len(chunk)
    return total / 1e6 / (time.perf_counter() - t0), total


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=600, help="samples in PAIRS (about 60% end in train)")
    parser.add_argument("--quick", action="store_true", help="a small run (200 samples, 1 repeat)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    n_samples = 200 if args.quick else args.samples
    repeats = 1 if args.quick else args.repeats
    torch.set_num_threads(1)  # the same for both layouts; torch's threaded casts and stacks cost more than they save here
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        days = 20
        pairs = write_fake_pairs(tmp / "PAIRS", days=days, samples_per_day=max(1, n_samples // days), seed=0,
                                 patch_size=PATCH, height_edges_km=list(np.round(np.arange(LEVELS + 1) * 0.24, 6)))
        build_dataset(pairs, tmp / "DATASET", seed=0, summary=False, progress=False)
        stats = json.loads((tmp / "DATASET" / "stats.json").read_text())
        ds = CloudbenchDataset(tmp / "DATASET", "train")
        nc_files = write_netcdf_copy(ds, tmp / "netcdf")
        shard_files = sorted(p for p in (tmp / "DATASET" / "train.zarr").rglob("*") if p.is_file())
        n = len(ds)

        def datasets(target_dtype: torch.dtype) -> dict[str, Dataset]:
            return {"zarr_shards": CloudbenchDataset(tmp / "DATASET", "train", target_dtype=target_dtype),
                    "netcdf_per_sample_xarray": NetcdfPerSample(nc_files, stats, PATCH, "xarray", target_dtype),
                    "netcdf_per_sample_netcdf4": NetcdfPerSample(nc_files, stats, PATCH, "netcdf4", target_dtype)}

        def ratios(row: dict, key: str) -> None:
            z = row["zarr_shards"][key]
            row[f"speedup_vs_xarray_netcdf_{key}"] = round(z / row["netcdf_per_sample_xarray"][key], 2)
            row[f"speedup_vs_netcdf4_netcdf_{key}"] = round(z / row["netcdf_per_sample_netcdf4"][key], 2)

        results = {"samples": n, "patch": PATCH, "bands": len(ds.band_names), "levels": LEVELS, "batch": BATCH,
                   "repeats_best_of": repeats, "page_cache": "warm", "python": platform.python_version(),
                   "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                   "compressor": ds.manifest["config"]["compressor"]}  # fmt: skip
        for dtype_name, target_dtype in (("int64", torch.int64), ("uint8", torch.uint8)):
            section: dict = {}
            sets = datasets(target_dtype)
            row = {}
            for name, dset in sets.items():
                wall, cpu = best_of(lambda d=dset: items(d), repeats)
                row[name] = {"samples_per_s": _rate(n, wall), "samples_per_cpu_s": _rate(n, cpu)}
            ratios(row, "samples_per_s")
            ratios(row, "samples_per_cpu_s")
            section["items"] = row
            for collate_name, collate in (("default_collate", None), ("fast_collate", CloudbenchDataset.collate)):
                for workers in (0, args.workers):
                    row = {}
                    for name, dset in sets.items():
                        got = []
                        wall, cpu = best_of(lambda d=dset, w=workers, c=collate, g=got: g.append(epoch(d, w, c)), repeats)
                        assert got[-1] == n
                        row[name] = {"samples_per_s": _rate(n, wall)}
                        if workers == 0:
                            row[name]["samples_per_cpu_s"] = _rate(n, cpu)
                    ratios(row, "samples_per_s")
                    if workers == 0:
                        ratios(row, "samples_per_cpu_s")
                    section[f"dataloader_{collate_name}_workers_{workers}"] = row
            results[f"target_{dtype_name}"] = section

        # bytes: the loader's read rate against a plain sequential read of the same shard files
        ds.bytes_read = 0
        wall_items, _ = best_of(lambda: items(ds), 1)
        stored_mb = ds.bytes_read / 1e6
        decoded_mb = n * sum(np.asarray(v).nbytes for v in ds.read_arrays(0).values()) / 1e6
        disk_mb_s, disk_bytes = sequential_read_mb_s(shard_files)
        results["disk"] = {
            "shard_bytes": disk_bytes,
            "sequential_read_mb_s": round(disk_mb_s, 1),
            "loader_items_per_s": _rate(n, wall_items),
            "loader_stored_mb_s": round(stored_mb / wall_items, 1),
            "loader_decoded_mb_s": round(decoded_mb / wall_items, 1),
            "loader_fraction_of_disk": round(stored_mb / wall_items / disk_mb_s, 3),
            "netcdf_bytes": int(sum(p.stat().st_size for p in nc_files)),
        }
        items_row = results["target_int64"]["items"]
        results["target_speedup"] = 10
        results["meets_target_items_vs_xarray_netcdf"] = items_row["speedup_vs_xarray_netcdf_samples_per_s"] >= 10
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
