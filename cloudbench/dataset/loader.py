"""``CloudbenchDataset``: a torch Dataset over one split of a built DATASET/.

Each item reads one chunk per array from the split's shards (one ``pread`` and one Blosc decode
each, see ``shards.ShardReader``), rebuilds the dense (Z, P, P) target from the sparse track labels
(255 off the track and where unlabeled) and normalises with the train statistics of stats.json, the
one place normalisation happens. Nothing random, nothing shared between workers but read-only
metadata: batches are identical whatever ``num_workers`` is.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from cloudbench.config import CLASS_NAMES, NUM_CLASSES, UNLABELED
from cloudbench.dataset.build import INDEX_NAME, STATS_NAME
from cloudbench.dataset.manifest import read_manifest
from cloudbench.dataset.pairs import ARRAY_NAMES
from cloudbench.dataset.shards import ShardReader
from cloudbench.dataset.splits import SPLITS
from cloudbench.errors import DataError, MissingInputError, UserError


def dense_target(profiles: np.ndarray, rows: np.ndarray, cols: np.ndarray, n_track: int, patch_size: int) -> np.ndarray:
    """(Z, P, P) uint8 target: each track pixel's profile at its (row, col), 255 elsewhere.

    If two track pixels share a pixel (possible after parallax), the later one in track order wins.
    """
    n = int(n_track)
    z = profiles.shape[1]
    target = np.full((z, patch_size, patch_size), UNLABELED, dtype=np.uint8)
    if n > 0:
        r, c = rows[:n].astype(np.intp), cols[:n].astype(np.intp)
        target[:, r, c] = profiles[:n].T
    return target


class CloudbenchDataset(Dataset):
    """One split of a cloudbench dataset.

    Args:
        root: the DATASET/ folder.
        split: ``train``, ``val`` or ``test``.
        normalize: subtract the train mean and divide by the train std per channel (x and aux);
            NaN pixels become 0 after normalising (the train mean).

    Items are dicts: ``x`` float32 (C, P, P), ``aux`` float32 (A, P, P), ``target`` int64 (Z, P, P),
    ``sample_id`` str.
    """

    num_classes = NUM_CLASSES

    def __init__(self, root: str | Path, split: str, normalize: bool = True):
        self.root = Path(root)
        if split not in SPLITS:
            raise UserError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        if not self.root.is_dir():
            raise MissingInputError("dataset folder not found", path=self.root,
                                    fix="build it with `cloudbench build-splits --pairs PAIRS --out DATASET`")
        self.split = split
        self.normalize = normalize
        self.manifest = read_manifest(self.root)
        self.band_names: list[str] = list(self.manifest["bands"])
        self.aux_names: list[str] = list(self.manifest["aux_names"])
        self.height_edges_km: list[float] = list(self.manifest["height_edges_km"])
        self.patch_size: int = int(self.manifest["patch_size"])
        index = pd.read_parquet(self.root / INDEX_NAME, filters=[("split", "==", split)])
        self.index = index.sort_values("row").reset_index(drop=True)
        self.sample_ids: list[str] = self.index["sample_id"].astype(str).tolist()
        expected = int(self.manifest["splits"][split]["n_samples"])
        if len(self.index) != expected or not np.array_equal(self.index["row"].to_numpy(), np.arange(expected)):
            raise DataError(f"index.parquet has {len(self.index)} rows for split {split!r}, the manifest {expected}",
                            path=self.root / INDEX_NAME, fix="run `cloudbench verify` and rebuild")
        self._readers = {name: ShardReader(self.root / f"{split}.zarr" / name) for name in ARRAY_NAMES}
        for name, reader in self._readers.items():
            if reader.shape[0] != expected:
                raise DataError(f"array {name!r} holds {reader.shape[0]} samples, the manifest {expected}",
                                path=reader.dir)
        stats = json.loads((self.root / STATS_NAME).read_text())
        self._x_mean = np.asarray(stats["x"]["mean"], np.float32)[:, None, None]
        self._x_std = np.asarray(stats["x"]["std"], np.float32)[:, None, None]
        self._aux_mean = np.asarray(stats["aux"]["mean"], np.float32)[:, None, None]
        self._aux_std = np.asarray(stats["aux"]["std"], np.float32)[:, None, None]
        self.bytes_read = 0  # stored bytes read by this process (benchmarks)

    def __len__(self) -> int:
        return len(self.sample_ids)

    def read_arrays(self, i: int) -> dict[str, np.ndarray]:
        """The stored arrays of sample ``i`` as numpy, un-normalised."""
        out = {}
        for name, reader in self._readers.items():
            out[name], nbytes = reader.read_raw(i)
            self.bytes_read += nbytes
        return out

    def __getitem__(self, i: int) -> dict:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples of split {self.split!r}")
        a = self.read_arrays(i)
        x, aux = a["x"], a["aux"]
        if self.normalize:
            x = np.nan_to_num((x - self._x_mean) / self._x_std, nan=0.0)
            aux = np.nan_to_num((aux - self._aux_mean) / self._aux_std, nan=0.0)
        else:  # decoded buffers are read-only; torch wants writable memory
            x, aux = x.copy(), aux.copy()
        target = dense_target(a["profiles"], a["track_rows"], a["track_cols"], int(a["n_track"]), self.patch_size)
        return {
            "x": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
            "aux": torch.from_numpy(np.ascontiguousarray(aux, dtype=np.float32)),
            "target": torch.from_numpy(target.astype(np.int64)),  # numpy: torch's threaded cast is slower here
            "sample_id": self.sample_ids[i],
        }

    def class_counts(self) -> np.ndarray:
        """Voxel counts per class (clear, ice, mixed, water) of the train split, for loss weights."""
        counts = self.manifest["splits"]["train"]["class_counts"]
        return np.array([counts[CLASS_NAMES[k]] for k in range(NUM_CLASSES)], dtype=np.int64)

    def __repr__(self) -> str:
        return f"CloudbenchDataset(root={str(self.root)!r}, split={self.split!r}, n={len(self)})"
