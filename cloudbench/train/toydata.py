"""A small in-memory phase dataset with the loader's interface, where brightness temperature decides phase.

It exists for unit tests of the trainer and for the training benchmark: it needs no archive and no
pipeline, and its physics is the same as the synthetic archive's in spirit (cloud-top temperature sets
the 11 um brightness temperature, temperature sets the phase, the lidar goes blind below optical depth
3), so a model that learns here has learnt something physical. Items are the loader's dicts:
``image`` (C, P, P), ``aux`` (A, P, P), the track arrays ``track_rows``, ``track_cols`` (L,),
``profiles`` (L, Z) with 255 where unlabeled and ``n_track``, and ``sample_id``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from cloudbench.config import (
    AUX_NAMES,
    CLEAR,
    FREEZING_K,
    HOMOGENEOUS_FREEZING_K,
    ICE,
    LAPSE_K_PER_KM,
    MIXED,
    NUM_CLASSES,
    TROPOPAUSE_K,
    UNLABELED,
    WATER,
)

TOY_BANDS = tuple(f"B{i:02d}" for i in range(1, 17))  # AHI band names; B13/B14 are the 10.4/11.2 um windows
ATTENUATION_TAU = 3.0


def _smooth_field(rng: np.random.Generator, p: int, blobs: int) -> np.ndarray:
    """Sum of Gaussian blobs in [0, 1]: cloud objects with soft edges."""
    yy, xx = np.mgrid[0:p, 0:p].astype(np.float32)
    field = np.zeros((p, p), np.float32)
    for _ in range(blobs):
        cy, cx = rng.uniform(-0.2 * p, 1.2 * p, 2)
        s = rng.uniform(0.15, 0.4) * p
        field += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s)).astype(np.float32)
    return np.clip(field, 0, 1.5) / 1.5


def temperature_k(height_km: np.ndarray, surface_k: float) -> np.ndarray:
    """Standard-atmosphere temperature: lapse rate 6.5 K/km up to the tropopause."""
    return np.maximum(surface_k - LAPSE_K_PER_KM * np.asarray(height_km), TROPOPAUSE_K)


def phase_of_temperature(t_k: np.ndarray, top_k: float) -> np.ndarray:
    """Water above 0 C, ice below -38 C; in between ice under a cold (< -20 C) top, else mixed."""
    phase = np.where(t_k >= FREEZING_K, WATER, np.where(t_k <= HOMOGENEOUS_FREEZING_K, ICE, MIXED))
    if top_k < FREEZING_K - 20.0:
        phase = np.where(phase == MIXED, ICE, phase)
    return phase.astype(np.uint8)


def make_sample(rng: np.random.Generator, p: int, edges_km: np.ndarray) -> dict[str, np.ndarray]:
    """One patch: bands (16, P, P), aux (4, P, P), dense truth (Z, P, P), track-only target."""
    z = len(edges_km) - 1
    centres = 0.5 * (edges_km[:-1] + edges_km[1:])
    surface_k = rng.uniform(288.0, 302.0)
    temps = temperature_k(centres, surface_k)
    cover = _smooth_field(rng, p, int(rng.integers(1, 5)))
    top_field = _smooth_field(rng, p, int(rng.integers(1, 4)))
    top_max = rng.uniform(0.3, 1.0) * edges_km[-1]
    top_km = 0.8 + top_field * (top_max - 0.8)
    cloudy = cover > rng.uniform(0.1, 0.4)
    thick_km = rng.uniform(1.5, 6.0)
    cirrus = rng.random() < 0.3  # a thin high ice layer over part of the patch (multi-layer columns)
    cirrus_cover = _smooth_field(rng, p, 1) > 0.5 if cirrus else np.zeros((p, p), bool)
    cirrus_base = rng.uniform(0.65, 0.8) * edges_km[-1]
    truth = np.full((z, p, p), CLEAR, np.uint8)
    bt11 = np.full((p, p), surface_k, np.float32)
    tau_total = np.zeros((p, p), np.float32)
    ice_top = np.zeros((p, p), bool)
    labeled_depth = np.zeros((z, p, p), bool)
    for r in range(p):
        for c in range(p):
            tau_col = np.zeros(z, np.float32)
            below_k = surface_k
            if cloudy[r, c]:
                top = top_km[r, c]
                base = max(top - thick_km, 0.3)
                inside = (centres >= base) & (centres < top)
                t_top = float(temperature_k(top, surface_k))
                truth[inside, r, c] = phase_of_temperature(temps[inside], t_top)[...]
                tau_col[inside] = 1.5 * (top - base) / max(inside.sum(), 1)
                emis = 1.0 - np.exp(-tau_col.sum() / 2.0)
                below_k = emis * t_top + (1 - emis) * surface_k
                ice_top[r, c] = t_top < HOMOGENEOUS_FREEZING_K + 10
            if cirrus_cover[r, c]:
                inside = (centres >= cirrus_base) & (centres < cirrus_base + 1.2)
                truth[inside, r, c] = ICE
                tau_col[inside] = 0.6 / max(inside.sum(), 1)
                t_ci = float(temperature_k(cirrus_base + 0.6, surface_k))
                emis = 1.0 - np.exp(-0.6 / 2.0)
                below_k = emis * t_ci + (1 - emis) * below_k
                ice_top[r, c] = True
            bt11[r, c] = below_k
            tau_total[r, c] = tau_col.sum()
            tau_above = np.cumsum(tau_col[::-1])[::-1] - tau_col  # optical depth above each bin
            labeled_depth[:, r, c] = tau_above < ATTENUATION_TAU
    noise = rng.normal(0, 0.5, (16, p, p)).astype(np.float32)
    vis = 5.0 + 80.0 * (1.0 - np.exp(-tau_total / 8.0))
    bands = np.empty((16, p, p), np.float32)
    for i in range(6):  # B01-B06 reflectance %; B05 (1.6 um) darker for ice tops
        factor = 0.55 if i == 4 else 1.0
        bands[i] = np.where(ice_top, vis * factor, vis) if i == 4 else vis * (0.9 + 0.03 * i)
    for i in range(6, 16):  # B07-B16 brightness temperature K
        bands[i] = bt11 - (6.0 if i == 8 else 0.0)
    bands[10] = bt11 + np.where(ice_top, 1.5, -1.0)  # B11 (8.6 um): 8.6-11 > 0 for ice
    bands[14] = bt11 - np.where(ice_top & (tau_total < 3), 2.0, 0.3)  # B15 (12.4 um) split window
    bands += noise
    aux = np.stack(
        [
            np.full((p, p), rng.uniform(10, 60)),
            np.full((p, p), rng.uniform(0, 80)),
            np.full((p, p), rng.uniform(-40, 40)),
            np.full((p, p), rng.uniform(100, 160)),
        ]
    ).astype(np.float32)
    # the track: a straight line across the patch at a random angle
    angle = rng.uniform(-np.pi / 3, np.pi / 3)
    t = np.linspace(-0.75 * p, 0.75 * p, 4 * p)
    rows = np.round(p / 2 + t * np.cos(angle)).astype(int)
    cols = np.round(p / 2 + t * np.sin(angle) + rng.uniform(-p / 6, p / 6)).astype(int)
    ok = (rows >= 0) & (rows < p) & (cols >= 0) & (cols < p)
    rows, cols = rows[ok], cols[ok]
    first = np.sort(np.unique(rows * p + cols, return_index=True)[1])  # each pixel once, in track order
    rows, cols = rows[first], cols[first]
    on_track = np.zeros((p, p), bool)
    on_track[rows, cols] = True
    target = np.where(on_track[None] & labeled_depth, truth, UNLABELED).astype(np.uint8)
    max_track = 4 * p  # the track's sample points: more than it can have distinct pixels
    n = len(rows)
    track_rows = np.full(max_track, -1, np.int16)
    track_cols = np.full(max_track, -1, np.int16)
    profiles = np.full((max_track, z), UNLABELED, np.uint8)
    track_rows[:n], track_cols[:n], profiles[:n] = rows, cols, target[:, rows, cols].T
    return {"image": bands, "aux": aux, "mask": target, "truth": truth, "track_rows": track_rows,
            "track_cols": track_cols, "profiles": profiles, "n_track": np.int16(n)}


class ToyPhaseDataset(Dataset):
    """Seeded in-memory dataset with the ``CloudbenchDataset`` interface (see the module docstring)."""

    def __init__(
        self,
        n: int,
        patch_size: int = 16,
        levels: int = 24,
        top_km: float = 14.4,
        seed: int = 0,
        split: str = "train",
        stats: dict[str, np.ndarray] | None = None,
        normalize: bool = True,
    ):
        rng = np.random.default_rng(seed)
        edges = np.linspace(0.0, top_km, levels + 1)
        samples = [make_sample(rng, patch_size, edges) for _ in range(n)]
        self.raw_x = np.stack([s["image"] for s in samples])
        self.raw_aux = np.stack([s["aux"] for s in samples])
        self.targets = np.stack([s["mask"] for s in samples])
        self.track = {k: np.stack([s[k] for s in samples]) for k in ("track_rows", "track_cols", "profiles", "n_track")}
        self.split = split
        self.band_names = list(TOY_BANDS)
        self.aux_names = list(AUX_NAMES)
        self.height_edges_km = edges.tolist()
        self.num_classes = NUM_CLASSES
        self.patch_size = patch_size
        self.stats = stats if stats is not None else self.compute_stats()
        self.normalize = normalize
        self._train_counts: list[int] | None = None
        self.sample_ids = [f"toy-{split}-{seed}-{i:05d}" for i in range(n)]

    def compute_stats(self) -> dict[str, np.ndarray]:
        """Per-channel mean/std of this dataset (use the training split's for every split)."""
        return {
            "x_mean": self.raw_x.mean(axis=(0, 2, 3)),
            "x_std": self.raw_x.std(axis=(0, 2, 3)) + 1e-6,
            "aux_mean": self.raw_aux.mean(axis=(0, 2, 3)),
            "aux_std": self.raw_aux.std(axis=(0, 2, 3)) + 1e-6,
        }

    def with_train_counts(self, counts: list[int]) -> ToyPhaseDataset:
        """Make ``class_counts()`` answer the training split's counts, as the real loader does."""
        self._train_counts = list(counts)
        return self

    def class_counts(self) -> list[int]:
        if self._train_counts is not None:
            return self._train_counts
        t = self.targets[self.targets != UNLABELED]
        return np.bincount(t, minlength=NUM_CLASSES)[:NUM_CLASSES].astype(int).tolist()

    def __len__(self) -> int:
        return self.raw_x.shape[0]

    def __getitem__(self, i: int) -> dict:
        x, aux = self.raw_x[i], self.raw_aux[i]
        if self.normalize:
            s = self.stats
            x = (x - s["x_mean"][:, None, None]) / s["x_std"][:, None, None]
            aux = (aux - s["aux_mean"][:, None, None]) / s["aux_std"][:, None, None]
        return {
            "image": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
            "aux": torch.from_numpy(np.ascontiguousarray(aux, dtype=np.float32)),
            **{k: torch.as_tensor(v[i]) for k, v in self.track.items()},
            "sample_id": self.sample_ids[i],
        }


def toy_splits(
    n_train: int = 48, n_val: int = 16, n_test: int = 16, patch_size: int = 16, levels: int = 24, seed: int = 0
) -> dict[str, ToyPhaseDataset]:
    """Train/val/test toy splits sharing the training split's statistics and class counts."""
    train = ToyPhaseDataset(n_train, patch_size, levels, seed=seed, split="train")
    counts = train.class_counts()
    out = {"train": train.with_train_counts(counts)}
    for k, (name, n) in enumerate((("val", n_val), ("test", n_test)), start=1):
        out[name] = ToyPhaseDataset(
            n, patch_size, levels, seed=seed + 1000 * k, split=name, stats=train.stats
        ).with_train_counts(counts)
    return out
