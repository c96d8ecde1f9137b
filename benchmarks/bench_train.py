"""Training throughput, peak memory and data-wait fraction per model (JSON).

Each model runs in its own process so that peak memory (max RSS on CPU, max allocated on CUDA) is its
own. Data come from a real DATASET/ (sharded Zarr through CloudbenchDataset) built from fake PAIRS/ at
the default geometry (64 px patches, 80 levels; --quick: 32 px, 40 levels). The data-wait fraction is
the share of step time spent waiting for the next batch (target under 10%).

    python -m benchmarks.bench_train [--quick] [--device cpu|cuda] [--size small] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cloudbench.models import MODEL_NAMES


def _build_dataset(root: Path, patch: int, levels: int, days: int) -> Path:
    import numpy as np

    from cloudbench.dataset.build import build_dataset
    from cloudbench.dataset.testing import write_fake_pairs

    edges = np.round(np.arange(levels + 1) * (19.2 / levels), 6).tolist()
    pairs = write_fake_pairs(root / "PAIRS", days=days, samples_per_day=8, seed=0, patch_size=patch,
                             height_edges_km=edges)
    build_dataset(pairs, root / "DATASET", seed=0, summary=False, progress=False)
    return root / "DATASET"


def _one(args: argparse.Namespace) -> dict:
    """Train one model for two epochs in this process; report the second (warm) epoch."""
    import torch

    from cloudbench.train.evaluate import dataset_splits
    from cloudbench.train.trainer import TrainConfig, Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    splits = dataset_splits(args.dataset)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    config = TrainConfig(model=args.one, size=args.size, epochs=2, batch_size=args.batch_size, device=args.device,
                         num_workers=args.num_workers, patience=10)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, splits("train", True), splits("val", True), tmp)
        if trainer.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        trainer.fit()
    warm = trainer.state.history[-1]
    out = {
        "model": args.one,
        "size": args.size,
        "parameters": trainer.model.num_parameters,
        "device": str(trainer.device),
        "precision": "bf16 autocast" if trainer.device.type == "cuda" else "fp32",
        "batch_size": args.batch_size,
        "train_samples": len(splits("train", True)),
        "samples_per_s": round(warm["samples_per_s"], 3),
        "data_wait_fraction": round(warm["data_wait_fraction"], 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_increase_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base_rss, 1),
    }
    if trainer.device.type == "cuda":
        out["peak_cuda_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None, help="write the JSON here too")
    parser.add_argument("--quick", action="store_true", help="32 px patches, 40 levels")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", default="small")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--models", default=",".join(MODEL_NAMES))
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--dataset", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(_one(args)))
        return 0
    patch, levels, days = (32, 40, 8) if args.quick else (64, 80, 8)
    results = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        dataset = _build_dataset(Path(tmp), patch, levels, days)
        for name in args.models.split(","):
            cmd = [sys.executable, "-m", "benchmarks.bench_train", "--one", name, "--dataset", str(dataset),
                   "--device", args.device, "--size", args.size, "--batch-size", str(args.batch_size),
                   "--num-workers", str(args.num_workers), "--threads", str(args.threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                results.append({"model": name, "error": proc.stderr[-2000:]})
                continue
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    import torch

    doc = {
        "benchmark": "train",
        "patch_size": patch,
        "levels": levels,
        "channels": 16,
        "num_workers": args.num_workers,
        "torch": torch.__version__,
        "threads": args.threads or torch.get_num_threads(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "data_wait_target": 0.10,
        "seconds": round(time.perf_counter() - t0, 1),
        "results": results,
    }
    text = json.dumps(doc, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
