"""``CloudbenchDataset``: a torch Dataset over one split of a built DATASET/, local or in an object store.

Samples are dicts with TorchGeo's keys: ``image`` (the normalised bands), ``aux``, ``mask`` (the
dense (Z, P, P) uint8 target, 255 off the track and where unlabeled), and the labels as the track
arrays the store holds (``track_rows``, ``track_cols``, ``profiles``, ``n_track``).

Why uint8, and why ``mask=False`` exists: a dense target is 99% "off track" and, at the default
geometry, larger than the image itself (80 x 64 x 64 bytes against the 16 bands' 262 kB), so it is
built as uint8 (8x fewer bytes than int64) and widened only on the device. The trainer goes further
and asks for ``mask=False``: its loss and metrics index the model's output at the track pixels
(``cloudbench.train.targets``), which skips building, collating and moving the mask
(benchmarks/bench_loader.py measures both).

Reading is batched: ``__getitems__`` (which torch's DataLoader calls when a Dataset defines it)
reads the samples of a batch with one read per run of neighbouring samples of a shard and decodes
each straight into the batch tensor (``shards.ShardReader.read_into``). Its items are views into that
batch, and torch's ``default_collate`` hands the batch over without stacking a copy (a collate
function for the view type is registered in ``default_collate_fn_map``, torch's documented way to
extend it), so a plain ``DataLoader(ds, batch_size=...)`` takes the fast path. In a worker process
the batch tensors are allocated in shared memory, so passing them to the main process copies nothing.

``root`` may be a local folder or an fsspec URL (``s3://bucket/DATASET``) with ``storage_options``;
remote shards are fetched whole, once, and their samples served from memory (``shards.RemoteFiles``).

Nothing random, nothing shared between workers but read-only metadata: batches are identical
whatever ``num_workers`` is.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, get_worker_info
from torch.utils.data._utils.collate import collate, default_collate_fn_map

from cloudbench.config import CLASS_NAMES, NUM_CLASSES, UNLABELED
from cloudbench.dataset import manifest as mf
from cloudbench.dataset.build import INDEX_NAME, STATS_NAME
from cloudbench.dataset.pairs import ARRAY_NAMES
from cloudbench.dataset.shards import DEFAULT_CACHE_BYTES, LocalFiles, RemoteFiles, ShardReader
from cloudbench.dataset.splits import SPLITS
from cloudbench.errors import DataError, MissingInputError, UserError

SAMPLE_KEYS: dict[str, str] = {"image": "x", "aux": "aux", "track_rows": "track_rows", "track_cols": "track_cols",
                               "profiles": "profiles", "n_track": "n_track"}
"""Sample key -> stored array it comes from (``mask`` is built from the track arrays)."""

_NUMPY_DTYPES = {torch.float32: np.float32, torch.uint8: np.uint8, torch.int16: np.int16,
                 torch.int32: np.int32, torch.int64: np.int64}
_TORCH_DTYPES = {np.dtype(v): k for k, v in _NUMPY_DTYPES.items()}


def new_tensor(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised batch tensor: numpy's memory in the main process, shared memory in a worker.

    numpy asks the kernel for transparent huge pages on large arrays, which halves the page-fault
    time of the first write into a fresh batch. In a DataLoader worker the batch must reach the main
    process: allocated in shared memory it travels as a handle, otherwise torch copies it there.
    """
    if get_worker_info() is not None:
        nbytes = math.prod(shape) * torch.empty(0, dtype=dtype).element_size()
        storage = torch.UntypedStorage._new_shared(max(nbytes, 1))
        return torch.empty(0, dtype=dtype).set_(storage, 0, shape)
    return torch.from_numpy(np.empty(shape, dtype=_NUMPY_DTYPES[dtype]))


def dense_targets_into(out: np.ndarray, profiles: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                       n_track: np.ndarray) -> np.ndarray:
    """Fill ``out`` (B, Z, P, P) with 255 and put each track pixel's profile at its (row, col).

    One scatter for the whole batch. If two track pixels of a sample share a pixel (possible after
    parallax), the later one in track order wins, by construction rather than by numpy's
    unspecified order of repeated writes (``train.targets.TrackTargets`` follows the same rule).

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
    """Stored arrays -> sample tensors: normalisation, the optional dense mask, tensor conversion.

    Args:
        patch_size: P.
        n_levels: Z.
        stats: the stats.json document (train mean and std per channel); None for no normalisation.
        mask: also build the dense (Z, P, P) uint8 ``mask``.
    """

    def __init__(self, patch_size: int, n_levels: int, stats: dict | None, mask: bool = False):
        self.patch_size, self.n_levels, self.mask = int(patch_size), int(n_levels), bool(mask)
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

    def batch(self, x: torch.Tensor, aux: torch.Tensor, profiles: np.ndarray | torch.Tensor,
              track_rows: np.ndarray | torch.Tensor, track_cols: np.ndarray | torch.Tensor,
              n_track: np.ndarray | torch.Tensor, sample_ids: list[str]) -> dict:
        """A batch dict; ``x`` and ``aux`` are fresh float32 (B, C, P, P) tensors, normalised in place.

        Returns:
            ``image`` (B, C, P, P), ``aux`` (B, A, P, P), ``track_rows``/``track_cols`` (B, L) int16,
            ``profiles`` (B, L, Z) uint8, ``n_track`` (B,) int16, ``sample_id`` (list of B str), and
            with ``mask`` the (B, Z, P, P) uint8 target with 255 off the track and where unlabeled.
        """
        if self.normalize:
            self._normalise_(x, self.x_scale, self.x_offset)
            self._normalise_(aux, self.aux_scale, self.aux_offset)
        track = {"track_rows": torch.as_tensor(track_rows), "track_cols": torch.as_tensor(track_cols),
                 "profiles": torch.as_tensor(profiles), "n_track": torch.as_tensor(n_track)}
        out: dict[str, Any] = {"image": x, "aux": aux}
        if self.mask:
            b_n, p = x.shape[0], self.patch_size
            mask = new_tensor((b_n, self.n_levels, p, p), torch.uint8)
            dense_targets_into(mask.numpy(), track["profiles"].numpy(), track["track_rows"].numpy(),
                               track["track_cols"].numpy(), track["n_track"].numpy())
            out["mask"] = mask
        out.update(track)
        out["sample_id"] = list(sample_ids)
        return out


class SampleView(dict):
    """One sample of a batch read at once; its tensors are views into the batch tensors."""


class SampleBatch(list):
    """The items of one ``__getitems__`` call (``SampleView``s into ``batch``) plus the batch itself.

    ``default_collate`` gives back ``batch`` as it is while the list and its items are unchanged
    (see ``_collate_sample_views``); an item replaced or edited makes it stack the items instead.
    """

    def __init__(self, batch: dict):
        ids = batch["sample_id"]
        keys = [k for k in batch if k != "sample_id"]
        super().__init__(SampleView({**{key: batch[key][i] for key in keys}, "sample_id": ids[i]})
                         for i in range(len(ids)))
        self.batch = batch
        self._made = [(item, tuple(item.values())) for item in self]

    def intact(self) -> bool:
        """True while the list holds the items it was made with, each holding what it was made with."""
        if len(self) != len(self._made):
            return False
        for item, (made, values) in zip(self, self._made, strict=True):
            if item is not made or len(item) != len(values):
                return False
            if any(a is not b for a, b in zip(item.values(), values, strict=True)):
                return False
        return True


def _collate_sample_views(batch: list, *, collate_fn_map: dict | None = None) -> dict:
    """``default_collate`` of ``SampleView`` items: the batch they came from, or stacked like plain dicts."""
    if isinstance(batch, SampleBatch) and batch.intact():
        return dict(batch.batch)
    return collate([dict(item) for item in batch], collate_fn_map=collate_fn_map)


default_collate_fn_map[SampleView] = _collate_sample_views


def _is_remote(root: str | Path) -> bool:
    return not isinstance(root, Path) and "://" in str(root) and not str(root).startswith("file://")


class CloudbenchDataset(Dataset):
    """One split of a cloudbench dataset, TorchGeo style.

    Args:
        root: the DATASET/ folder, or its fsspec URL (``s3://bucket/DATASET``, ``gs://...``).
        split: ``train``, ``val`` or ``test``.
        normalize: subtract the train mean and divide by the train std per channel (image and aux);
            NaN pixels become 0 after normalising (the train mean).
        transforms: a callable taking and returning a sample dict, applied to every sample (as in
            TorchGeo). Batches are then stacked from the transformed samples (one copy).
        mask: return ``mask``, the dense (Z, P, P) uint8 target (255 off the track); False leaves it
            out (the trainer's path: its loss indexes the track arrays).
        storage_options: passed to fsspec for a URL ``root`` (credentials, ``endpoint_url``, ...).
        cache_bytes: shard bytes a remote dataset keeps in memory per process.

    Samples are dicts: ``image`` float32 (C, P, P), ``aux`` float32 (A, P, P), ``track_rows`` and
    ``track_cols`` int16 (L,) with -1 padding, ``profiles`` uint8 (L, Z) with 255 where unlabeled,
    ``n_track`` int16 (), ``sample_id`` str, and ``mask`` uint8 (Z, P, P) unless ``mask=False``.
    ``dims`` names the dimensions of each key, as the stores' ``dimension_names`` do.
    """

    num_classes = NUM_CLASSES

    def __init__(self, root: str | Path, split: str, *, normalize: bool = True,
                 transforms: Callable[[dict], dict] | None = None, mask: bool = True,
                 storage_options: dict | None = None, cache_bytes: int = DEFAULT_CACHE_BYTES):
        if split not in SPLITS:
            raise UserError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        if _is_remote(root):
            self.root: str | Path = str(root).rstrip("/")
            self.files: LocalFiles | RemoteFiles = RemoteFiles(self.root, storage_options, cache_bytes)
        else:
            self.root = Path(str(root).removeprefix("file://"))
            if not self.root.is_dir():
                raise MissingInputError("dataset folder not found", path=self.root,
                                        fix="build it with `cloudbench build-splits --pairs PAIRS --out DATASET`")
            self.files = LocalFiles(self.root)
        self.split = split
        self.normalize = normalize
        self.transforms = transforms
        self.manifest = self._read_manifest()
        self.band_names: list[str] = list(self.manifest["bands"])
        self.aux_names: list[str] = list(self.manifest["aux_names"])
        self.height_edges_km: list[float] = list(self.manifest["height_edges_km"])
        self.patch_size: int = int(self.manifest["patch_size"])
        index = pd.read_parquet(io.BytesIO(self._read(INDEX_NAME)), filters=[("split", "==", split)])
        self.index = index.sort_values("row").reset_index(drop=True)
        self.sample_ids: list[str] = self.index["sample_id"].astype(str).tolist()
        expected = int(self.manifest["splits"][split]["n_samples"])
        if len(self.index) != expected or not np.array_equal(self.index["row"].to_numpy(), np.arange(expected)):
            raise DataError(f"index.parquet has {len(self.index)} rows for split {split!r}, the manifest {expected}",
                            path=self.files.location(INDEX_NAME), fix="run `cloudbench verify` and rebuild")
        self._readers = {name: ShardReader(files=self.files, name=f"{split}.zarr/{name}") for name in ARRAY_NAMES}
        for name, reader in self._readers.items():
            if reader.shape[0] != expected:
                raise DataError(f"array {name!r} holds {reader.shape[0]} samples, the manifest {expected}",
                                path=reader.dir)
        try:
            stats = json.loads(self._read(STATS_NAME))
        except ValueError as exc:
            raise DataError(f"not valid JSON ({exc})", path=self.files.location(STATS_NAME)) from exc
        self.assembler = ItemAssembler(self.patch_size, len(self.height_edges_km) - 1,
                                       stats if normalize else None, mask)
        self.bytes_read = 0  # stored bytes read by this process (benchmarks)

    def _read(self, rel: str) -> bytes:
        try:
            return self.files.read_bytes(rel)
        except FileNotFoundError as exc:
            raise DataError(f"{rel} is missing: not a complete cloudbench dataset", path=self.files.location(rel),
                            fix="rebuild with `cloudbench build-splits`") from exc
        except OSError as exc:
            raise DataError(f"not readable ({exc})", path=self.files.location(rel)) from exc

    def _read_manifest(self) -> dict:
        where = self.files.location(mf.MANIFEST_NAME)
        try:
            raw = self.files.read_bytes(mf.MANIFEST_NAME)
        except FileNotFoundError as exc:
            if self.files.remote:
                raise MissingInputError("no cloudbench dataset here (no manifest.json)", path=where,
                                        fix="check the URL and storage_options, or upload a built DATASET/") from exc
            raise mf.missing_manifest(where) from exc
        except OSError as exc:
            raise DataError(f"manifest is not readable ({exc})", path=where) from exc
        return mf.parse_manifest(raw, where)

    @property
    def mask(self) -> bool:
        return self.assembler.mask

    @property
    def dims(self) -> dict[str, tuple[str, ...]]:
        """Dimension names of each sample key (per sample: without the leading ``sample``)."""
        out = {key: self._readers[name].dimension_names[1:] for key, name in SAMPLE_KEYS.items()}
        if self.mask:
            out["mask"] = (out["profiles"][-1], *out["image"][-2:])
        return out

    @property
    def dimension_names(self) -> dict[str, tuple[str, ...]]:
        """The stored arrays' Zarr ``dimension_names`` (what ``xarray.open_zarr`` shows), by array name."""
        return {name: reader.dimension_names for name, reader in self._readers.items()}

    def __len__(self) -> int:
        return len(self.sample_ids)

    def _check(self, i: int) -> int:
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples of split {self.split!r}")
        return i

    def _prefetch(self, indices: list[int] | np.ndarray) -> None:
        """A remote store fetches the shards of ``indices`` it does not hold, all at once; a local one reads in place."""
        if self.files.remote:
            self.files.prefetch([rel for reader in self._readers.values() for rel in reader.shard_files(indices)])

    def read_arrays(self, i: int) -> dict[str, np.ndarray]:
        """The stored arrays of sample ``i`` as numpy, by array name, un-normalised."""
        i = self._check(i)
        self._prefetch([i])
        out = {}
        for name, reader in self._readers.items():
            arr = np.empty((1,) + reader.sample_shape, dtype=reader.dtype)
            self.bytes_read += reader.read_into([i], arr)
            out[name] = arr[0]
        return out

    def read_batch(self, indices: list[int] | np.ndarray) -> dict[str, Any]:
        """Samples ``indices`` as one batch dict of (B, ...) tensors plus ``sample_id`` (a list)."""
        idx = np.array([self._check(i) for i in np.asarray(indices).reshape(-1).tolist()], dtype=np.int64)
        b_n = len(idx)
        self._prefetch(idx)
        arrays = {}
        for name, reader in self._readers.items():
            tensor = new_tensor((b_n,) + reader.sample_shape, _TORCH_DTYPES[reader.dtype])
            self.bytes_read += reader.read_into(idx, tensor.numpy())
            arrays[name] = tensor
        return self.assembler.batch(arrays["x"], arrays["aux"], arrays["profiles"], arrays["track_rows"],
                                    arrays["track_cols"], arrays["n_track"], [self.sample_ids[i] for i in idx])

    def __getitem__(self, i: int) -> dict:
        sample = dict(SampleBatch(self.read_batch([i]))[0])
        return self.transforms(sample) if self.transforms is not None else sample

    def __getitems__(self, indices: list[int]) -> list[dict]:
        """A DataLoader batch read at once; ``default_collate`` then uses it without a copy."""
        items = SampleBatch(self.read_batch(indices))
        if self.transforms is None:
            return items
        return [self.transforms(dict(item)) for item in items]

    def class_counts(self) -> np.ndarray:
        """Voxel counts per class (clear, ice, mixed, water) of the train split, for loss weights."""
        counts = self.manifest["splits"]["train"]["class_counts"]
        return np.array([counts[CLASS_NAMES[k]] for k in range(NUM_CLASSES)], dtype=np.int64)

    def __repr__(self) -> str:
        return f"CloudbenchDataset(root={str(self.root)!r}, split={self.split!r}, n={len(self)})"
