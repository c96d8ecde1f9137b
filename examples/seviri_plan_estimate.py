"""Estimate what ``cloudbench download --imager seviri`` fetches for a region and period, before fetching.

    python examples/seviri_plan_estimate.py --start 2008-06-01 --days 30 --region=-30,-30,30,30

The planner keeps a 15-minute SEVIRI scan when a label profile inside the region falls near one of
its lines that was observed within --max-dt of the profile. This script runs that same selection
(``ImagerProduct.needs``, the real 3712-line grid, the scan model's line times) on the synthetic
A-Train orbit (one track point a second), day by day, and multiplies the scans by the size of a
full-disk native file as the Data Store delivers it (all 12 channels, computed from the record sizes
of the format). The real orbit differs from the synthetic one by minutes, not by passes per day, so
the count per day is a fair estimate; the label granules come on top (see docs/user-guide.md).
"""

from __future__ import annotations

import argparse
import math
from datetime import UTC, datetime, timedelta

import numpy as np

from cloudbench.config import MAX_DT_S, parse_region
from cloudbench.products import seviri_native as P
from cloudbench.sensors.registry import imager_for_position, platforms_for
from cloudbench.sources.planner import DEFAULT_LINE_MARGIN_KM, DEFAULT_TIME_MARGIN_S, Track, track_lines
from cloudbench.synthetic import orbit


def full_file_bytes() -> int:
    """A full-disk native file with every channel (HRV included) and the archive header."""
    lines = P.line_dtype(P.CHANNEL_ORDER, P.VISIR_COLUMNS, P.HRV_COLUMNS // 2)
    return P.HEADER_WITH_ARCHIVE.itemsize + lines.itemsize * P.VISIR_LINES + P.TRAILER.itemsize


def scans_per_day(start: datetime, days: int, region: str, max_dt_s: float, position: str) -> list[int]:
    product = imager_for_position(position)
    box = parse_region(region)
    out = []
    for d in range(days):
        day = start + timedelta(days=d)
        platform = platforms_for(position, day)[0]
        geometry = product.geometry_at(platform, day, 1)
        t0 = np.datetime64(day.replace(tzinfo=None), "ns")
        track = orbit.track(t0, t0 + np.timedelta64(1, "D"), interval_s=1.0)
        keep = box.contains(track.longitude, track.latitude)
        lines, times = track_lines(geometry, [Track(track.time[keep], track.latitude[keep], track.longitude[keep], "")])
        needs = product.needs(geometry, lines, times, start=day, max_dt_s=max_dt_s,
                              line_margin=math.ceil(DEFAULT_LINE_MARGIN_KM / geometry.grid_km),
                              time_margin_s=DEFAULT_TIME_MARGIN_S)
        out.append(len(needs))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", default="2008-06-01", help="first day, YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--region", default="-30,-30,30,30", help="W,S,E,N or a preset")
    parser.add_argument("--max-dt", type=float, default=MAX_DT_S)
    parser.add_argument("--imager", default=P.POSITION_0DEG, choices=(P.POSITION_0DEG, P.POSITION_IODC))
    args = parser.parse_args()
    start = datetime.strptime(args.start, "%Y-%m-%d").replace(tzinfo=UTC)
    counts = np.array(scans_per_day(start, args.days, args.region, args.max_dt, args.imager))
    size = full_file_bytes()
    per_day = counts.mean() * size
    print(f"scans per day: mean {counts.mean():.1f} (min {counts.min()}, max {counts.max()}) of 96 "
          f"= {100 * counts.mean() / 96:.1f}% of the full window")
    print(f"full-disk file: {size / 2**20:.1f} MiB; imagery per day {per_day / 2**30:.2f} GiB, "
          f"per year {365 * per_day / 2**40:.2f} TiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
