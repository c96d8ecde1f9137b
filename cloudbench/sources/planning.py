"""Which scans and which of their units (segments, chunks, files) a set of track points needs.

Written once for every imager product from two facts the product gives: when each grid row is
observed after the slot start (``line_offsets_s``, the scan model) and which units hold a range of
rows (``units_for_rows``). A track point at row ``l`` and time ``t`` needs slot ``k`` and the units of
the rows ``l' in [l - margin, l + margin]`` that slot ``k`` observed within the tolerance of ``t``.
Because a scan sweeps its rows in order (north to south for AHI and ABI, south to north for FCI), the
rows seen within the tolerance form one contiguous run, found by binary search.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

EPOCH = np.datetime64("2000-01-01T00:00:00", "ns")  # slots are aligned to midnight, so any midnight works


def _ns(seconds: float) -> np.timedelta64:
    return np.timedelta64(int(round(seconds * 1e9)), "ns")


def to_datetime(t: np.datetime64) -> datetime:
    return datetime.fromtimestamp(t.astype("datetime64[ns]").astype(np.int64) / 1e9, tz=UTC)


def scan_needs(product, geometry, lines: np.ndarray, times: np.ndarray, *, start: datetime, max_dt_s: float,
               line_margin: int, time_margin_s: float) -> dict[datetime, set[int]]:
    """Slot start -> units whose rows a track point falls on within the time tolerance."""
    nlines = geometry.shape[0]
    lines = np.asarray(lines, dtype=np.int64)
    times = np.asarray(times, dtype="datetime64[ns]")
    if lines.size == 0:
        return {}
    offsets = np.asarray(product.line_offsets_s(geometry, start), dtype=np.float64)
    offset_ns = np.round(offsets * 1e9).astype(np.int64).astype("timedelta64[ns]")
    decreasing = offsets.size > 1 and offsets[-1] < offsets[0]
    if decreasing:  # scan runs towards row 0: search on the reversed rows, where offsets increase
        offset_ns = offset_ns[::-1]
        lines = nlines - 1 - lines
    if np.any(np.diff(offset_ns.astype(np.int64)) < 0):
        raise ValueError(f"{product.name}: line offsets must be monotonic along the rows")
    slot = _ns(product.slot_minutes(start) * 60)
    tol = _ns(max_dt_s + time_margin_s)
    lo = np.clip(lines - line_margin, 0, nlines - 1)
    hi = np.clip(lines + line_margin, 0, nlines - 1)
    rel = times - EPOCH
    # candidate slots k: |t - (EPOCH + k*slot + offset(l))| <= tol for some l in [lo, hi]
    first = (rel - tol - offset_ns[hi]) // slot
    last = (rel + tol - offset_ns[lo]) // slot
    needs: dict[datetime, set[int]] = {}
    for d in range(int((last - first).max(initial=-1)) + 1):
        k = first + d
        use = k <= last
        since = rel[use] - k[use] * slot  # time of each point after the candidate slot's start
        la = np.maximum(np.searchsorted(offset_ns, since - tol, side="left"), lo[use])
        lb = np.minimum(np.searchsorted(offset_ns, since + tol, side="right") - 1, hi[use])
        ok = la <= lb
        runs = np.unique(np.stack([k[use][ok], la[ok], lb[ok]], axis=1), axis=0)
        for kk, a, b in runs:
            if decreasing:
                a, b = nlines - 1 - b, nlines - 1 - a
            units = product.units_for_rows(geometry, int(a), int(b) + 1)
            needs.setdefault(to_datetime(EPOCH + int(kk) * slot), set()).update(units)
    return needs


__all__ = ["scan_needs", "to_datetime"]
