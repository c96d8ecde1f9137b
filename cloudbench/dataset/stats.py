"""Normalisation statistics (train split only) and voxel class counts, accumulated shard by shard.

Means and variances are merged per block with Chan's formula in float64, so the result does not
depend on how samples are grouped into shards and keeps precision over millions of pixels.
NaN pixels (off-disk) are left out.
"""

from __future__ import annotations

import numpy as np

from cloudbench.config import CLASS_NAMES, NUM_CLASSES


class ChannelStats:
    """Running per-channel count, mean and sum of squared deviations of (N, C, H, W) blocks."""

    def __init__(self, n_channels: int):
        self.count = np.zeros(n_channels, np.float64)
        self.mean = np.zeros(n_channels, np.float64)
        self.m2 = np.zeros(n_channels, np.float64)

    def update(self, block: np.ndarray) -> None:
        data = np.moveaxis(np.asarray(block, np.float64), 1, 0).reshape(block.shape[1], -1)
        valid = np.isfinite(data)
        n_b = valid.sum(axis=1).astype(np.float64)
        if not n_b.any():
            return
        safe = np.where(valid, data, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_b = np.where(n_b > 0, safe.sum(axis=1) / np.maximum(n_b, 1), 0.0)
            m2_b = np.where(valid, (data - mean_b[:, None]) ** 2, 0.0).sum(axis=1)
        total = self.count + n_b
        delta = mean_b - self.mean
        with np.errstate(invalid="ignore", divide="ignore"):
            self.mean = np.where(total > 0, self.mean + delta * n_b / np.maximum(total, 1), 0.0)
            self.m2 = self.m2 + m2_b + delta**2 * self.count * n_b / np.maximum(total, 1)
        self.count = total

    @property
    def std(self) -> np.ndarray:
        var = np.where(self.count > 1, self.m2 / np.maximum(self.count - 1, 1), 0.0)
        std = np.sqrt(var)
        return np.where(std > 0, std, 1.0)  # a constant channel divides by 1, not 0


def class_counts(profiles: np.ndarray, n_track: np.ndarray) -> np.ndarray:
    """Voxel counts per class (0..NUM_CLASSES-1) over the valid track pixels of a block."""
    L = profiles.shape[1]
    valid = np.arange(L)[None, :] < np.asarray(n_track)[:, None]
    labels = profiles[valid]
    counts = np.bincount(labels.ravel(), minlength=256)
    return counts[:NUM_CLASSES].astype(np.int64)


def counts_to_dict(counts: np.ndarray) -> dict[str, int]:
    return {CLASS_NAMES[i]: int(counts[i]) for i in range(NUM_CLASSES)}


def stats_document(x: ChannelStats, aux: ChannelStats, bands: list[str], aux_names: list[str], n_samples: int) -> dict:
    """The content of stats.json; floats rounded to 9 significant digits so rebuilds print identically."""

    def r(values: np.ndarray) -> list[float]:
        return [float(f"{v:.9g}") for v in values]

    return {
        "split": "train",
        "n_samples": int(n_samples),
        "bands": list(bands),
        "x": {"mean": r(x.mean), "std": r(x.std), "pixels": [int(c) for c in x.count]},
        "aux_names": list(aux_names),
        "aux": {"mean": r(aux.mean), "std": r(aux.std), "pixels": [int(c) for c in aux.count]},
    }
