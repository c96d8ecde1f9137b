"""The labelled columns of a batch, on the device: where they are and what they hold.

The loader hands over the sparse track arrays (``track_rows``, ``track_cols``, ``profiles``,
``n_track``: int16 and uint8, a few kB per sample) rather than a dense (Z, P, P) target that is 99%
"off track". ``TrackTargets`` moves them to the device, widens them there, and keeps one entry per
labelled patch pixel. The loss and the metrics then index the model's dense output at those pixels
(``take``): each track pixel becomes a 1 x 1 "patch", so ``SparsePhaseLoss`` and
``ConfusionAccumulator`` see the same labelled voxels as with the dense target, in far less memory.

A batch with only a dense ``mask`` (a TorchGeo-style dataset) works too: every pixel with at least
one label becomes an entry.

Two track pixels of a sample may share a patch pixel (after the parallax shift); the later one in
track order is kept, the rule the loader's dense mask follows, so both give the same voxels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cloudbench.config import UNLABELED
from cloudbench.errors import DataError

TRACK_KEYS = ("track_rows", "track_cols", "profiles", "n_track")


@dataclass(frozen=True)
class TrackTargets:
    """N labelled patch pixels of a batch of B samples.

    Attributes:
        sample, row, col: (N,) int64 indices of each pixel's sample, patch row and patch column.
        labels: (N, Z) int64 class codes, ``UNLABELED`` where a bin has no label.
        batch_size: B.
        patch_size: P.
    """

    sample: torch.Tensor
    row: torch.Tensor
    col: torch.Tensor
    labels: torch.Tensor
    batch_size: int
    patch_size: int

    @classmethod
    def from_batch(cls, batch: dict, device: torch.device | str = "cpu", *, non_blocking: bool = False) -> TrackTargets:
        """From a loader batch: its track arrays if it has them, else its dense ``mask``."""
        p = int(batch["image"].shape[-1])
        if all(k in batch for k in TRACK_KEYS):
            moved = {k: batch[k].to(device, non_blocking=non_blocking) for k in TRACK_KEYS}
            return cls.from_track(moved["track_rows"], moved["track_cols"], moved["profiles"], moved["n_track"], p)
        if "mask" in batch:
            return cls.from_dense(batch["mask"].to(device, non_blocking=non_blocking))
        raise KeyError(f"a batch needs the track arrays ({', '.join(TRACK_KEYS)}) or a dense 'mask'; "
                       f"it has {', '.join(batch)}")

    @classmethod
    def from_track(cls, rows: torch.Tensor, cols: torch.Tensor, profiles: torch.Tensor, n_track: torch.Tensor,
                   patch_size: int) -> TrackTargets:
        """From (B, L) rows and columns, (B, L, Z) profiles and (B,) valid counts, on their device."""
        b_n, max_track = rows.shape
        valid = torch.arange(max_track, device=rows.device)[None, :] < n_track.long().clamp(max=max_track)[:, None]
        b, k = valid.nonzero(as_tuple=True)
        r, c = rows[b, k].long(), cols[b, k].long()
        if r.numel() and bool(((r < 0) | (c < 0) | (r >= patch_size) | (c >= patch_size)).any()):
            raise DataError(f"a track pixel lies outside the {patch_size} x {patch_size} patch")
        key = (b * patch_size + r) * patch_size + c
        unique, inverse = torch.unique(key, return_inverse=True)
        if unique.numel() != key.numel():  # shared pixels: keep the last track pixel of each
            order = torch.arange(key.numel(), device=key.device)
            last = torch.full((unique.numel(),), -1, dtype=torch.long, device=key.device)
            last.scatter_reduce_(0, inverse, order, reduce="amax")
            keep = last.sort().values
            b, k, r, c = b[keep], k[keep], r[keep], c[keep]
        return cls(b, r, c, profiles[b, k].long(), int(b_n), int(patch_size))

    @classmethod
    def from_dense(cls, mask: torch.Tensor) -> TrackTargets:
        """From a dense (B, Z, P, P) target: every pixel with at least one label."""
        labeled = (mask != UNLABELED).any(dim=1)
        b, r, c = labeled.nonzero(as_tuple=True)
        return cls(b, r, c, mask[b, :, r, c].long(), int(mask.shape[0]), int(mask.shape[-1]))

    def __len__(self) -> int:
        return int(self.sample.numel())

    def take(self, dense: torch.Tensor) -> torch.Tensor:
        """(B, ..., P, P) -> (N, ..., 1, 1): the values at the labelled pixels, as 1 x 1 patches."""
        picked = dense[self.sample, ..., self.row, self.col]  # (N, ...)
        return picked[..., None, None]

    def columns(self) -> torch.Tensor:
        """(N, Z, 1, 1) labels, shaped like ``take`` of a (B, Z, P, P) prediction."""
        return self.labels[..., None, None]

    def dense(self) -> torch.Tensor:
        """(B, Z, P, P) uint8 target with 255 off the labelled pixels (for figures)."""
        z = self.labels.shape[1]
        out = torch.full((self.batch_size, z, self.patch_size, self.patch_size), UNLABELED, dtype=torch.uint8,
                         device=self.labels.device)
        out[self.sample, :, self.row, self.col] = self.labels.to(torch.uint8)
        return out
