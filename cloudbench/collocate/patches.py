"""Track pixels and the patches cut around them.

The track is turned into an ordered list of imager pixels (one per slot, row and column, in the
order the track first enters them), each with one label column. Patches of P x P are centred on every
(P/2)-th track pixel of a slot, so consecutive patches overlap by half, and carry the track pixels
of that same slot that fall inside them (at most L = 2P, the ones nearest the centre).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cloudbench.collocate.labels import majority_per_bin
from cloudbench.config import HIDDEN_BELOW_KM


@dataclass
class TrackPixels:
    """The distinct imager pixels a track crosses, in track order.

    ``pixel_of_profile`` maps each input profile to its pixel (index into the arrays here).
    """

    slot: np.ndarray  # (K,) int
    rows: np.ndarray  # (K,) int64, global imager row
    cols: np.ndarray  # (K,) int64, global imager column
    labels: np.ndarray  # (K, Z) uint8
    first_profile: np.ndarray  # (K,) index of the first profile in each pixel
    pixel_of_profile: np.ndarray  # (N,) int64
    voters: np.ndarray | None = None  # (N,) bool, False for profiles hidden under a higher top; None: all vote

    @property
    def n(self) -> int:
        return int(self.rows.shape[0])


def track_pixels(slot: np.ndarray, rows: np.ndarray, cols: np.ndarray, phase: np.ndarray,
                 top_km: np.ndarray | None = None, hidden_below_km: float = HIDDEN_BELOW_KM) -> TrackPixels:
    """Group profiles (already in track order) by (slot, row, col) and vote their labels.

    With ``top_km`` (each profile's cloud top, NaN where clear) the vote is the imager's view: after
    the parallax shift, a high cloud's top can land on the pixel of clear or low-cloud profiles
    beside it, and the imager then sees that top over the whole pixel. Profiles whose top lies more
    than ``hidden_below_km`` under the highest top in their pixel do not vote (they still belong to
    the track). On the windless test scene over four seeds this lifted agreement with the truth on
    pixels of one truth column from 99.84 % to 99.94 % and at pixel centres from 97.87 % to 98.10 %,
    with the same result for tolerances of 3 to 6 km.
    """
    slot = np.asarray(slot, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    key = np.stack([slot, rows, cols], axis=1)
    if key.shape[0] == 0:
        z = phase.shape[1]
        empty = np.zeros(0, dtype=np.int64)
        return TrackPixels(empty, empty, empty, np.zeros((0, z), np.uint8), empty, empty)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(first, kind="stable")  # unique sorts by key; put pixels back in track order
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    pixel_of_profile = rank[inverse]
    first = first[order]
    voters = np.ones(pixel_of_profile.size, dtype=bool)
    if top_km is not None:
        top = np.nan_to_num(np.asarray(top_km, dtype=np.float64), nan=0.0)  # clear: the surface
        highest = np.zeros(order.size)
        np.maximum.at(highest, pixel_of_profile, top)
        voters = top >= highest[pixel_of_profile] - hidden_below_km
    labels = majority_per_bin(phase[voters], pixel_of_profile[voters], order.size)
    return TrackPixels(slot[first], rows[first], cols[first], labels, first, pixel_of_profile, voters)


@dataclass(frozen=True)
class PatchPlan:
    """One patch: its slot, top-left global pixel, centre track pixel and member track pixels."""

    slot: int
    row0: int
    col0: int
    centre: int  # index into TrackPixels
    members: np.ndarray  # indices into TrackPixels, in track order


def patch_centres(n: int, patch_size: int) -> list[int]:
    """Indices of the centre pixels along a run of ``n`` track pixels: every P/2, from P/2."""
    step = max(patch_size // 2, 1)
    if n == 0:
        return []
    if n <= step:
        return [n // 2]
    return list(range(step, n, step))


def plan_patches(
    track: TrackPixels, patch_size: int, min_track: int, grid_shape: tuple[int, int], max_track: int | None = None
) -> list[PatchPlan]:
    """Patches of every slot along the track, keeping those with at least ``min_track`` members.

    A patch near the disk's edge is moved inside the grid rather than padded, so every patch is a
    real P x P window; its members are the slot's track pixels inside it.
    """
    p = patch_size
    max_track = 2 * p if max_track is None else max_track
    n_rows, n_cols = grid_shape
    plans: list[PatchPlan] = []
    for s in np.unique(track.slot):
        idx = np.flatnonzero(track.slot == s)  # this slot's pixels in track order
        for k in patch_centres(idx.size, p):
            c = idx[k]
            row0 = int(np.clip(track.rows[c] - p // 2, 0, max(n_rows - p, 0)))
            col0 = int(np.clip(track.cols[c] - p // 2, 0, max(n_cols - p, 0)))
            r, q = track.rows[idx], track.cols[idx]
            inside = idx[(r >= row0) & (r < row0 + p) & (q >= col0) & (q < col0 + p)]
            if inside.size > max_track:
                dist = np.abs(inside - c)
                inside = np.sort(inside[np.argsort(dist, kind="stable")[:max_track]])
            if inside.size >= min_track:
                plans.append(PatchPlan(int(s), row0, col0, int(c), inside))
    plans.sort(key=lambda pl: (pl.centre, pl.slot))
    return plans


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` x ``factor`` blocks of the last two axes (finer bands onto the 2 km grid)."""
    if factor == 1:
        return image
    *lead, h, w = image.shape
    h2, w2 = h // factor, w // factor
    view = image[..., : h2 * factor, : w2 * factor].reshape(*lead, h2, factor, w2, factor)
    return view.mean(axis=(-3, -1), dtype=np.float32)
