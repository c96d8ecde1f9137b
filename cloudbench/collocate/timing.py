"""Match each profile to the imager scan line that observed it, slot by slot.

A full-disk scan sweeps the disk over about ten minutes, so a file's start time can be minutes away
from the moment the track's lines were seen. The per-line (or per-pixel) observation times that the
imager product gives are the only honest clock: the time offset of a profile is its own time minus
the observation time of the pixel its (parallax-shifted) position lies in, and the best slot is
chosen for every profile separately.
"""

from __future__ import annotations

import numpy as np

NS_PER_S = 1_000_000_000


def line_offsets_s(profile_time: np.ndarray, rows: np.ndarray, line_time: np.ndarray) -> np.ndarray:
    """Seconds from the observation of line ``rows`` to ``profile_time``; NaN where unknown.

    ``line_time`` is indexed by the global row number (NaT for lines the slot lacks); rows < 0 or
    past the end are unknown.
    """
    rows = np.asarray(rows, dtype=np.int64)
    t = np.asarray(profile_time).astype("datetime64[ns]")
    lt = np.asarray(line_time).astype("datetime64[ns]")
    ok = (rows >= 0) & (rows < lt.shape[0])
    seen = np.full(rows.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
    seen[ok] = lt[rows[ok]]
    ok &= ~np.isnat(seen) & ~np.isnat(t)
    dt = np.full(rows.shape, np.nan)
    dt[ok] = (t[ok] - seen[ok]).astype(np.int64) / NS_PER_S
    return dt


def seen_offsets_s(profile_time: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Seconds from the observation ``seen`` of each profile's pixel to the profile; NaN where unknown."""
    t = np.asarray(profile_time).astype("datetime64[ns]")
    seen = np.asarray(seen).astype("datetime64[ns]")
    ok = ~np.isnat(seen) & ~np.isnat(t)
    dt = np.full(t.shape, np.nan)
    dt[ok] = (t[ok] - seen[ok]).astype(np.int64) / NS_PER_S
    return dt


def choose_slots(
    profile_time: np.ndarray, slot_seen: list[np.ndarray], max_dt_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per profile, the slot whose observation of its pixel is nearest in time, if within ``max_dt_s``.

    ``slot_seen[k]`` holds, per profile, when slot ``k`` observed the profile's pixel (NaT where the
    slot did not or the pixel is unknown). Returns ``slot`` (int, -1 where no slot is within
    tolerance) and ``dt_s`` (profile minus observation time, NaN where unmatched). Ties go to the
    earlier slot in the list, so results do not depend on the order jobs run in.
    """
    n = np.asarray(profile_time).shape[0]
    slot = np.full(n, -1, dtype=np.int64)
    best = np.full(n, np.nan)
    for k, seen in enumerate(slot_seen):
        dt = seen_offsets_s(profile_time, seen)
        better = np.isfinite(dt) & (np.abs(dt) <= max_dt_s) & ~(np.abs(dt) >= np.abs(best))
        slot[better] = k
        best[better] = dt[better]
    return slot, best
