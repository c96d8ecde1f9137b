"""Hand-built truth layers and small EarthCARE frames for the EarthCARE tests (tiny, explicit)."""

from __future__ import annotations

import numpy as np
import pytest

from cloudbench.synthetic.earthcare_tc import EarthcareFrame
from cloudbench.synthetic.layers import MAX_LAYERS, TrackLayers

T0 = "2025-06-17T05:05:00"


def build_track(
    n: int,
    layers: list[tuple[float, float, int, float]],
    *,
    t0: str = T0,
    spacing_s: float = 0.1375,
    surface_km: float | np.ndarray = 0.0,
    lat: tuple[float, float] = (30.0, 30.5),
    lon: tuple[float, float] = (-52.0, -52.2),
    where: list[np.ndarray | None] | None = None,
) -> TrackLayers:
    """``n`` profiles; layer i = (base_km, top_km, class code, optical depth), top first; ``where[i]``
    (boolean (n,)) limits layer i to some profiles."""
    start = np.datetime64(t0, "ns")
    time = start + np.rint(np.arange(n) * spacing_s * 1e9).astype("timedelta64[ns]")
    base = np.full((n, MAX_LAYERS), np.nan, dtype=np.float32)
    top = base.copy()
    phase = np.zeros((n, MAX_LAYERS), dtype=np.uint8)
    tau = np.zeros((n, MAX_LAYERS), dtype=np.float32)
    for slot, (b, t, code, od) in enumerate(layers):
        mask = np.ones(n, dtype=bool) if where is None or where[slot] is None else where[slot]
        base[mask, slot], top[mask, slot], phase[mask, slot], tau[mask, slot] = b, t, code, od
    return TrackLayers(
        time=time,
        latitude=np.linspace(lat[0], lat[1], n),
        longitude=np.linspace(lon[0], lon[1], n),
        surface_km=np.broadcast_to(np.asarray(surface_km, dtype=np.float32), (n,)).copy(),
        day_night=np.zeros(n, dtype=np.uint8),
        base_km=base,
        top_km=top,
        phase=phase,
        optical_depth=tau,
    )


def frame_of(layers: TrackLayers, orbit: int = 5979, letter: str = "B") -> EarthcareFrame:
    return EarthcareFrame(layers.time[0], layers.time[-1] + np.timedelta64(1, "s"), orbit, letter)


@pytest.fixture
def track():
    return build_track
