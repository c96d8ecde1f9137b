"""Seconds to decode the 10 segments of one AHI band: bare bz2 + uint16, our fast path, satpy.

Collocation decodes thousands of HSD segments, so ``read_hsd_segment`` must stay close to the floor
set by bz2 decompression (target: within 1.5x of it). The segments are written by the synthetic
writer at the real size (5500 x 5500 at 2 km, B13) with a smooth field plus sensor-like noise, so
they compress like real imagery. ``--quick`` uses a reduced disk (``--reduction``, default 4).

Run: ``python -m benchmarks.bench_hsd_decode [--out FILE] [--quick]``; prints JSON.
"""

from __future__ import annotations

import argparse
import bz2
import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from cloudbench.products.geostationary import geometry_for
from cloudbench.readers.ahi_hsd import read_hsd_header, read_hsd_segment
from cloudbench.synthetic.ahi_hsd import write_ahi_slot

SLOT = datetime(2018, 10, 1, 3, 0, tzinfo=UTC)


def _scene(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Brightness temperatures: smooth structures (clouds) plus 0.1 K noise."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, shape[0])[:, None]
    x = np.linspace(0, 1, shape[1])[None, :]
    field = 260 + 30 * np.sin(17 * x + 3) * np.cos(11 * y) + 15 * np.sin(43 * x * y)
    return (field + rng.normal(0, 0.1, shape)).astype(np.float32)


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run(reduction: int, repeat: int) -> dict:
    geometry = geometry_for("himawari8", reduction)
    with tempfile.TemporaryDirectory() as tmp:
        values = np.where(geometry.disk_mask(), _scene(geometry.shape), np.nan)
        t0 = time.perf_counter()
        paths = sorted(write_ahi_slot(tmp, platform="himawari8", slot_start=SLOT, bands={"B13": values},
                                      geometry=geometry))
        write_s = time.perf_counter() - t0
        header_len = [read_hsd_header(p)["header_length"] for p in paths]

        def bare():
            for p, h in zip(paths, header_len, strict=True):
                raw = bz2.decompress(Path(p).read_bytes())
                np.frombuffer(raw, dtype="<u2", offset=h).copy()

        def fast():
            for p in paths:
                read_hsd_segment(p)

        def satpy_load():
            from satpy import Scene

            scn = Scene(filenames=[str(p) for p in paths], reader="ahi_hsd")
            scn.load(["B13"])
            scn["B13"].values  # noqa: B018 - force the dask computation

        bare_s = _best(bare, repeat)
        fast_s = _best(fast, repeat)
        satpy_s = _best(satpy_load, max(1, repeat - 1))
        size = sum(Path(p).stat().st_size for p in paths)
    return {
        "benchmark": "hsd_decode",
        "band": "B13",
        "reduction": reduction,
        "shape": list(geometry.shape),
        "segments": len(paths),
        "compressed_mb": round(size / 1e6, 2),
        "write_s": round(write_s, 3),
        "bare_bz2_decode_s": round(bare_s, 3),
        "read_hsd_segment_s": round(fast_s, 3),
        "satpy_s": round(satpy_s, 3),
        "fast_over_bare": round(fast_s / bare_s, 3),
        "satpy_over_fast": round(satpy_s / fast_s, 3),
        "repeat": repeat,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None, help="also write the JSON to this file")
    parser.add_argument("--quick", action="store_true", help="reduced disk (see --reduction)")
    parser.add_argument("--reduction", type=int, default=None, help="full-disk reduction (default 1, or 4 with --quick)")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions; the best is reported")
    args = parser.parse_args(argv)
    reduction = args.reduction or (4 if args.quick else 1)
    result = run(reduction, args.repeat)
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
