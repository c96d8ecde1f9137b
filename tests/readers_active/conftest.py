"""Hand-built track layers for the active-sensor reader tests (tiny, seeded, explicit)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cloudbench.synthetic.layers import MAX_LAYERS, TrackLayers

REAL_VFM = str(Path(__file__).resolve().parents[1] / "data" / "real" / "CAL_LID_L2_VFM-ValStage1-V3-30.2013-05-06T17-20-01ZD_Subset.hdf")


def build_track(
    n: int,
    layers: list[tuple[float, float, int, float]],
    *,
    t0: str = "2018-10-01T03:05:00.123456789",
    spacing_s: float = 0.0496,
    surface_km: float | np.ndarray = 0.0,
    lat: tuple[float, float] = (10.0, 12.0),
    lon: tuple[float, float] = (130.0, 129.5),
    where: list[np.ndarray | None] | None = None,
) -> TrackLayers:
    """A track of ``n`` samples; layer i = (base_km, top_km, class code, optical depth), top first.

    ``where[i]`` (boolean (n,)) limits layer i to some samples; by default it is everywhere.
    """
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


@pytest.fixture
def track():
    return build_track
