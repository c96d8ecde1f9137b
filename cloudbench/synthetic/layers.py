"""The truth along an active-sensor track, as cloud layers: the hand-over from scene to writers.

The scene decides where clouds are; each product writer decides how its instrument would report
them (the lidar going blind below optical depth ~3, the radar's layer table). Keeping that split
means one scene feeds CALIPSO and CloudSat writers alike, and tests compare every reader with the
same truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_LAYERS = 10  # CloudSat's layer table has 10 slots; the scene never makes more


@dataclass
class TrackLayers:
    """Cloud layers seen along one track, one row per sample (laser shot or radar ray).

    Layer slots are ordered top (index 0) to bottom; unused slots hold NaN heights and phase 0.
    Phases use the class codes of ``cloudbench.config`` (ICE, MIXED, WATER).
    """

    time: np.ndarray  # (N,) datetime64[ns], UTC
    latitude: np.ndarray  # (N,) float64
    longitude: np.ndarray  # (N,) float64
    surface_km: np.ndarray  # (N,) float32, surface elevation above mean sea level
    day_night: np.ndarray  # (N,) uint8, 0 day 1 night
    base_km: np.ndarray  # (N, L) float32
    top_km: np.ndarray  # (N, L) float32
    phase: np.ndarray  # (N, L) uint8
    optical_depth: np.ndarray  # (N, L) float32

    @property
    def n(self) -> int:
        return int(self.time.shape[0])

    @property
    def n_layers(self) -> np.ndarray:
        """Layers per sample (slots with a finite top)."""
        return np.isfinite(self.top_km).sum(axis=1).astype(np.int8)

    @property
    def cloud_top_km(self) -> np.ndarray:
        """Highest layer top per sample, NaN where clear."""
        with np.errstate(all="ignore"):
            top = np.nanmax(np.where(np.isfinite(self.top_km), self.top_km, -np.inf), axis=1)
        return np.where(np.isfinite(top), top, np.nan).astype(np.float32)

    def subset(self, index: np.ndarray | slice) -> TrackLayers:
        return TrackLayers(
            **{name: getattr(self, name)[index] for name in self.__dataclass_fields__}  # type: ignore[index]
        )
