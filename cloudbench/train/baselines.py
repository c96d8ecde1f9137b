"""Reference predictors without learning: the floor any trained model must clear.

* ``MajorityClassPredictor``: the training split's most frequent class at each height level.
* ``BrightnessTemperaturePredictor``: the textbook infrared rule. A pixel is cloudy if its window
  brightness temperature (about 11 um; 10.4 um if that is all there is) is below a threshold; the
  cloud top is where the standard atmosphere reaches that temperature, warmed from the scene's clear-sky
  (warmest) pixel; the cloud fills a fixed depth below the top; each cloudy level takes the phase of its
  temperature: water above 0 C, ice below -38 C, mixed in between. The threshold and depth are chosen on
  the training split (a small grid search on macro F1), so the rule is as good as it can be on the data.

Both take raw (un-normalised) imager values: a brightness temperature in kelvin is the physics.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

from cloudbench.config import (
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
from cloudbench.errors import UserError
from cloudbench.train.targets import TrackTargets

WINDOW_TARGETS_UM = (11.2, 10.35)
"""The cleaner IR window first (least water vapour absorption), then the 10.4 um one."""


def _window_bands() -> tuple[str, ...]:
    """IR window bands by name, best first, over every registered imager product.

    Read from the products' band tables so the rule follows them; the window band gives the
    cloud-top temperature the rule turns into a height.
    """
    from cloudbench.sensors.registry import imager_products

    order: list[str] = []
    for target_um in WINDOW_TARGETS_UM:
        for product in imager_products().values():
            ir = {n: b for n, b in product.bands.items() if b.kind == "ir"}
            if ir:
                name = min(ir, key=lambda n, t=ir: abs(t[n].wavelength_um - target_um))
                if name not in order:
                    order.append(name)
    return tuple(order)


def __getattr__(name: str):
    if name == "WINDOW_BANDS":  # computed on use: products registered later count too
        return _window_bands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
BT_THRESHOLDS_K = tuple(float(t) for t in np.arange(2.0, 32.0, 2.0))  # below the clear-sky BT
DEPTHS_KM = (0.5, 1.0, 2.0, 3.0, 5.0, 8.0)


def window_band_index(band_names: Sequence[str]) -> int:
    """Index of the 11 um (or 10.4 um) window band; UserError if the dataset has neither."""
    for name in _window_bands():
        if name in band_names:
            return list(band_names).index(name)
    raise UserError(
        f"no infrared window band among {list(band_names)}",
        fix=f"build the dataset with one of {', '.join(_window_bands())} in --bands",
    )


class MajorityClassPredictor:
    """Predicts, at every height level, the class most frequent there in the training split."""

    name = "majority-class"

    def __init__(self, levels: int):
        self.levels = levels
        self.per_level = np.zeros(levels, dtype=np.int64)

    def fit(self, batches: Iterable[dict]) -> MajorityClassPredictor:
        counts = np.zeros((self.levels, NUM_CLASSES), dtype=np.int64)
        for batch in batches:
            t = TrackTargets.from_batch(batch).columns().numpy()  # (N, Z, 1, 1)
            for c in range(NUM_CLASSES):
                counts[:, c] += (t == c).sum(axis=(0, 2, 3))
        self.per_level = counts.argmax(axis=1)
        return self

    def predict(self, x_raw: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x_raw.shape
        levels = torch.as_tensor(self.per_level, dtype=torch.long)
        return levels.view(1, -1, 1, 1).expand(b, -1, h, w).clone()


class BrightnessTemperaturePredictor:
    """The infrared threshold rule of the module docstring."""

    name = "bt-threshold"

    def __init__(self, band_names: Sequence[str], height_edges_km: Sequence[float]):
        self.band = window_band_index(band_names)
        edges = np.asarray(height_edges_km, dtype=np.float64)
        self.centres_km = torch.as_tensor(0.5 * (edges[:-1] + edges[1:]), dtype=torch.float32)
        self.threshold_k = 10.0  # cloudy if BT is this much colder than the clear-sky BT
        self.depth_km = 2.0

    @staticmethod
    def _rule(bt: torch.Tensor, clear_sky: torch.Tensor, z: torch.Tensor, threshold_k: float,
              depth_km: float) -> torch.Tensor:
        """The rule, element by element (the arguments broadcast): class code at height ``z`` (km) under
        a pixel of brightness temperature ``bt`` in a scene whose clear-sky temperature is ``clear_sky``."""
        cloudy = bt < clear_sky - threshold_k
        top_km = ((clear_sky - bt) / LAPSE_K_PER_KM).clamp(min=0.0)  # BT = T(top) in a standard atmosphere
        inside = cloudy & (z <= top_km) & (z >= top_km - depth_km)
        temp = (clear_sky - LAPSE_K_PER_KM * z).clamp(min=TROPOPAUSE_K)
        phase = torch.where(
            temp >= FREEZING_K,
            torch.full_like(temp, WATER),
            torch.where(temp <= HOMOGENEOUS_FREEZING_K, torch.full_like(temp, ICE), torch.full_like(temp, MIXED)),
        ).long()
        return torch.where(inside, phase, torch.full_like(phase, CLEAR))

    @staticmethod
    def _clear_sky(bt: torch.Tensor) -> torch.Tensor:
        """(B,) the warmest pixel of each sample: the surface's temperature."""
        return bt.reshape(bt.shape[0], -1).amax(dim=1)

    def _predict(self, bt: torch.Tensor, threshold_k: float, depth_km: float) -> torch.Tensor:
        """``bt`` (B, H, W) in K -> class codes (B, Z, H, W)."""
        clear_sky = self._clear_sky(bt).view(-1, 1, 1, 1)
        return self._rule(bt[:, None], clear_sky, self.centres_km.view(1, -1, 1, 1), threshold_k, depth_km)

    def fit(self, batches: Iterable[dict]) -> BrightnessTemperaturePredictor:
        """Grid-search threshold and depth for the best macro F1 (all classes) on the given batches.

        Only labeled voxels count, so the rule is applied to those alone (a few per cent of a patch:
        the track's pixels), element by element as :meth:`predict` applies it to the whole patch.
        """
        from cloudbench.train.metrics import metrics_from_confusion

        grid = [(t, d) for t in BT_THRESHOLDS_K for d in DEPTHS_KM]
        cms = np.zeros((len(grid), NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
        for batch in batches:
            bt = batch["image"][:, self.band].float()
            targets = TrackTargets.from_batch(batch)
            n, z = (targets.labels != UNLABELED).nonzero(as_tuple=True)  # the rule only where labels are
            s = targets.sample[n]
            bt_k, clear_k, z_k = bt[s, targets.row[n], targets.col[n]], self._clear_sky(bt)[s], self.centres_km[z]
            truth = targets.labels[n, z] * NUM_CLASSES
            for g, (t, d) in enumerate(grid):
                code = truth + self._rule(bt_k, clear_k, z_k, t, d)
                cms[g] += torch.bincount(code, minlength=NUM_CLASSES**2).view(NUM_CLASSES, NUM_CLASSES).numpy()
        scores = [metrics_from_confusion(cm)["macro_all"]["f1"] or 0.0 for cm in cms]
        self.threshold_k, self.depth_km = grid[int(np.argmax(scores))]
        return self

    def predict(self, x_raw: torch.Tensor) -> torch.Tensor:
        return self._predict(x_raw[:, self.band].float(), self.threshold_k, self.depth_km)

    def describe(self) -> dict:
        return {"threshold_below_clear_sky_k": self.threshold_k, "depth_km": self.depth_km, "band_index": self.band}
