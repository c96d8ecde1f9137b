"""``CloudbenchDataset``: a torch Dataset over one split of a built DATASET/.

Reading is batched: ``__getitems__`` (which torch's DataLoader calls when a Dataset defines it)
reads the samples of a batch with one ``pread`` per run of neighbouring samples of a shard and
decodes each straight into the batch tensor (see ``shards.ShardReader.read_into``).
``ItemAssembler`` then normalises in place with fused per-channel scale and offset and builds the
dense (Z, P, P) targets of the whole batch in one vectorised scatter; it is the one place where
normalisation, target building and tensor conversion happen, and the benchmark's per-file baseline
goes through it too. ``ds[i]`` is the same path with a batch of one.

Nothing random, nothing shared between workers but read-only metadata: batches are identical
whatever ``num_workers`` is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset
from torch.utils.data._utils.collate import default_collate

from cloudbench.config import CLASS_NAMES, NUM_CLASSES, UNLABELED
from cloudbench.dataset.build import INDEX_NAME, STATS_NAME
from cloudbench.dataset.manifest import read_manifest
from cloudbench.dataset.pairs import ARRAY_NAMES
from cloudbench.dataset.shards import ShardReader
from cloudbench.dataset.splits import SPLITS
from cloudbench.errors import DataError, MissingInputError, UserError

TARGET_DTYPES = (torch.uint8, torch.int16, torch.int32, torch.int64)
"""Target dtypes that hold every class code and 255; int64 is what ``cross_entropy`` takes directly."""


_NUMPY_DTYPES = {torch.float32: np.float32, torch.uint8: np.uint8, torch.int16: np.int16,
                 torch.int32: np.int32, torch.int64: np.int64}


def new_tensor(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised tensor whose memory numpy allocated.

    numpy asks the kernel for transparent huge pages on large arrays, so the first write into a
    fresh 84 MB batch of int64 targets takes about half the page faults' time that torch's own
    allocation does (15 against 29 ms of CPU measured for 32 x 80 x 64 x 64).
    """
    return torch.from_numpy(np.empty(shape, dtype=_NUMPY_DTYPES[dtype]))


def dense_targets_into(out: np.ndarray, profiles: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                       n_track: np.ndarray) -> np.ndarray:
    """Fill ``out`` (B, Z, P, P) with 255 and put each track pixel's profile at its (row, col).

    One scatter for the whole batch. If two track pixels of a sample share a pixel (possible after
    parallax), the later one in track order wins, by construction rather than by numpy's
    unspecified order of repeated writes.

    Raises:
        DataError: a valid track pixel outside the patch (a corrupt sample).
    """
    b_n, z, p = out.shape[0], out.shape[1], out.shape[-1]
    out.fill(UNLABELED)
    n_track = np.asarray(n_track, dtype=np.int64).reshape(b_n)
    max_track = profiles.shape[1]
    valid = np.arange(max_track)[None, :] < np.minimum(n_track, max_track)[:, None]
    b, k = np.nonzero(valid)
    if b.size == 0:
        return out
    r = rows[b, k].astype(np.intp)
    c = cols[b, k].astype(np.intp)
    if r.min() < 0 or c.min() < 0 or r.max() >= p or c.max() >= p:
        raise DataError(f"a track pixel lies outside the {p} x {p} patch (rows {r.min()}..{r.max()}, "
                        f"cols {c.min()}..{c.max()})")
    key = (b * p + r) * p + c
    if len(np.unique(key)) != len(key):  # keep the last track pixel of each shared pixel
        _, first_of_reversed = np.unique(key[::-1], return_index=True)
        keep = np.sort(len(key) - 1 - first_of_reversed)
        b, k, r, c = b[keep], k[keep], r[keep], c[keep]
    out[b, :, r, c] = profiles[b, k, :z]
    return out


def dense_target(profiles: np.ndarray, rows: np.ndarray, cols: np.ndarray, n_track: int, patch_size: int) -> np.ndarray:
    """(Z, P, P) uint8 target of one sample: its profiles on the track, 255 elsewhere."""
    out = np.empty((1, profiles.shape[1], patch_size, patch_size), dtype=np.uint8)
    return dense_targets_into(out, profiles[None], rows[None], cols[None], np.array([n_track]))[0]


class ItemAssembler:
    """Stored arrays -> loader tensors: normalisation, dense targets, tensor conversion.

    Args:
        patch_size: P.
        n_levels: Z.
        stats: the stats.json document (train mean and std per channel); None for no normalisation.
        target_dtype: dtype of the dense target; one of ``TARGET_DTYPES``.
    """

    def __init__(self, patch_size: int, n_levels: int, stats: dict | None, target_dtype: torch.dtype = torch.int64):
        if target_dtype not in TARGET_DTYPES:
            raise UserError(f"target_dtype {target_dtype} cannot hold the class codes and 255",
                            fix=f"use one of {', '.join(str(d) for d in TARGET_DTYPES)}")
        self.patch_size, self.n_levels, self.target_dtype = int(patch_size), int(n_levels), target_dtype
        self.normalize = stats is not None
        if stats is not None:  # (v - mean) / std == v * scale + offset, computed once in float64
            self.x_scale, self.x_offset = self._fused(stats["x"])
            self.aux_scale, self.aux_offset = self._fused(stats["aux"])

    @staticmethod
    def _fused(doc: dict) -> tuple[torch.Tensor, torch.Tensor]:
        mean = np.asarray(doc["mean"], np.float64)
        std = np.asarray(doc["std"], np.float64)
        scale = (1.0 / std).astype(np.float32)[:, None, None]
        offset = (-mean / std).astype(np.float32)[:, None, None]
        return torch.from_numpy(scale), torch.from_numpy(offset)

    @staticmethod
    def _normalise_(t: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor) -> None:
        t.mul_(scale).add_(offset)
        if not torch.isfinite(t.sum()):  # one cheap pass; the clean-up only where NaN is present
            torch.nan_to_num_(t, nan=0.0)

    def batch(self, x: torch.Tensor, aux: torch.Tensor, profiles: np.ndarray, track_rows: np.ndarray,
              track_cols: np.ndarray, n_track: np.ndarray, sample_ids: list[str]) -> dict:
        """A batch dict; ``x`` and ``aux`` are fresh float32 (B, C, P, P) tensors, normalised in place.

        Returns:
            ``x`` (B, C, P, P), ``aux`` (B, A, P, P), ``target`` (B, Z, P, P) of ``target_dtype``
            with 255 off-track and where unlabeled, ``sample_id`` (list of B str).
        """
        if self.normalize:
            self._normalise_(x, self.x_scale, self.x_offset)
            self._normalise_(aux, self.aux_scale, self.aux_offset)
        b_n, p = x.shape[0], self.patch_size
        target = new_tensor((b_n, self.n_levels, p, p), self.target_dtype)
        dense_targets_into(target.numpy(), profiles, track_rows, track_cols, n_track)
        return {"x": x, "aux": aux, "target": target, "sample_id": list(sample_ids)}


class SampleBatch(list):
    """The per-sample dicts of one ``__getitems__`` call (views into ``batch``), plus the batch itself.

    ``default_collate`` stacks the views into new tensors; ``CloudbenchDataset.collate`` hands out
    ``batch`` as it is, without that copy.
    """

    def __init__(self, batch: dict):
        ids = batch["sample_id"]
        super().__init__({"x": batch["x"][k], "aux": batch["aux"][k], "target": batch["target"][k],
                          "sample_id": ids[k]} for k in range(len(ids)))
        self.batch = batch


class CloudbenchDataset(Dataset):
    """One split of a cloudbench dataset.

    Args:
        root: the DATASET/ folder.
        split: ``train``, ``val`` or ``test``.
        normalize: subtract the train mean and divide by the train std per channel (x and aux);
            NaN pixels become 0 after normalising (the train mean).
        target_dtype: dtype of ``target``; int64 (the default) feeds ``cross_entropy`` directly,
            uint8 moves 8 times fewer bytes (convert on the device with ``.long()``).

    Items are dicts: ``x`` float32 (C, P, P), ``aux`` float32 (A, P, P), ``target`` (Z, P, P) with
    255 off the track, ``sample_id`` str. For the fastest batches pass ``collate_fn=ds.collate``
    to the DataLoader: the batch tensors built by ``__getitems__`` are then used without a copy.
    """

    num_classes = NUM_CLASSES

    def __init__(self, root: str | Path, split: str, normalize: bool = True, target_dtype: torch.dtype = torch.int64):
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
        self.assembler = ItemAssembler(self.patch_size, len(self.height_edges_km) - 1,
                                       stats if normalize else None, target_dtype)
        self.bytes_read = 0  # stored bytes read by this process (benchmarks)

    @property
    def target_dtype(self) -> torch.dtype:
        return self.assembler.target_dtype

    def __len__(self) -> int:
        return len(self.sample_ids)

    def read_arrays(self, i: int) -> dict[str, np.ndarray]:
        """The stored arrays of sample ``i`` as numpy, un-normalised."""
        out = {}
        for name, reader in self._readers.items():
            arr = np.empty((1,) + reader.sample_shape, dtype=reader.dtype)
            self.bytes_read += reader.read_into([self._check(i)], arr)
            out[name] = arr[0]
        return out

    def _check(self, i: int) -> int:
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples of split {self.split!r}")
        return i

    def read_batch(self, indices: list[int] | np.ndarray) -> dict[str, Any]:
        """Samples ``indices`` as one batch dict of (B, ...) tensors plus ``sample_id`` (a list)."""
        idx = np.array([self._check(i) for i in np.asarray(indices).reshape(-1).tolist()], dtype=np.int64)
        b_n = len(idx)
        x_reader, aux_reader = self._readers["x"], self._readers["aux"]
        x = new_tensor((b_n,) + x_reader.sample_shape, torch.float32)
        aux = new_tensor((b_n,) + aux_reader.sample_shape, torch.float32)
        self.bytes_read += x_reader.read_into(idx, x.numpy()) + aux_reader.read_into(idx, aux.numpy())
        labels = {}
        for name in ("track_rows", "track_cols", "profiles", "n_track"):
            reader = self._readers[name]
            labels[name] = np.empty((b_n,) + reader.sample_shape, dtype=reader.dtype)
            self.bytes_read += reader.read_into(idx, labels[name])
        return self.assembler.batch(x, aux, labels["profiles"], labels["track_rows"], labels["track_cols"],
                                    labels["n_track"], [self.sample_ids[i] for i in idx])

    def __getitem__(self, i: int) -> dict:
        batch = self.read_batch([i])
        return {"x": batch["x"][0], "aux": batch["aux"][0], "target": batch["target"][0],
                "sample_id": batch["sample_id"][0]}

    def __getitems__(self, indices: list[int]) -> SampleBatch:
        """A DataLoader batch read at once; see ``collate`` to use it without a copy."""
        return SampleBatch(self.read_batch(indices))

    @staticmethod
    def collate(samples: list[dict]) -> dict:
        """``collate_fn`` for a DataLoader: the batch of ``__getitems__`` as it is, else ``default_collate``.

        Gives the same batch as ``default_collate`` (a test checks it), minus stacking the items
        into new tensors: for 32 int64 targets of 80 x 64 x 64 that copy is 84 MB.
        """
        batch = getattr(samples, "batch", None)
        if batch is not None and len(samples) == len(batch["sample_id"]):
            return batch
        return default_collate(list(samples))

    def class_counts(self) -> np.ndarray:
        """Voxel counts per class (clear, ice, mixed, water) of the train split, for loss weights."""
        counts = self.manifest["splits"]["train"]["class_counts"]
        return np.array([counts[CLASS_NAMES[k]] for k in range(NUM_CLASSES)], dtype=np.int64)

    def __repr__(self) -> str:
        return f"CloudbenchDataset(root={str(self.root)!r}, split={self.split!r}, n={len(self)})"
