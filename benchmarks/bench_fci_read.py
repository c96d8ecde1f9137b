"""Seconds to read FCI L1c body chunks: our h5py reader against satpy's fci_l1c_nc, per chunk and per cycle.

Collocation decodes the chunks a job's patches cross, one at a time. Measured on synthetic FDHSI chunks
at the real size (5568 columns at 2 km, 11136 at 1 km; FCIDECOMP-compressed effective radiance as
disseminated), holding ir_105 (2 km) and vis_06 (1 km): (a) one channel of one equatorial chunk, the
unit collocation decodes (our reader: calibrated values; satpy: a Scene over that chunk, the channel
loaded and computed); (b) the per-pixel times of that chunk; (c) ir_105 over ``--chunks`` chunks of one
cycle. satpy runs dask synchronously (its FCI reader is not thread-safe through netCDF4). ``--quick``
uses a reduced disk.

Run: ``python -m benchmarks.bench_fci_read [--out FILE] [--quick]``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import hdf5plugin

os.environ.setdefault("HDF5_PLUGIN_PATH", hdf5plugin.PLUGIN_PATH)  # before netCDF4 loads: satpy reads through it

import numpy as np  # noqa: E402

from cloudbench.products.geostationary import geometry_for  # noqa: E402
from cloudbench.readers.fci_l1c import read_channel, read_pixel_times  # noqa: E402
from cloudbench.synthetic.fci_l1c import write_fci_slot  # noqa: E402

SLOT = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _scene(shape: tuple[int, int], lo: float, hi: float, seed: int) -> np.ndarray:
    """Smooth structures plus sensor-like noise, so the chunks compress like imagery."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, shape[0])[:, None]
    x = np.linspace(0, 1, shape[1])[None, :]
    field = 0.5 + 0.3 * np.sin(17 * x + 3) * np.cos(11 * y) + 0.2 * np.sin(43 * x * y)
    return (lo + (hi - lo) * field + rng.normal(0, 0.001 * (hi - lo), shape)).astype(np.float32)


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _satpy(paths: list[Path], names: list[str]) -> None:
    import dask
    from satpy import Scene

    with dask.config.set(scheduler="synchronous"):
        scn = Scene(filenames=[str(p) for p in paths], reader="fci_l1c_nc")
        scn.load(names, pad_data=False)
        for n in names:
            scn[n].values  # noqa: B018 - force the dask computation


def run(reduction: int, n_chunks: int, repeat: int) -> dict:
    geometry = geometry_for("meteosat12", reduction)
    mask = geometry.disk_mask()
    bands = {"ir_105": np.where(mask, _scene(geometry.shape, 200, 300, 0), np.nan),
             "vis_06": np.where(mask, _scene(geometry.shape, 0, 100, 1), np.nan)}
    middle = geometry.n_units // 2
    chunks = list(range(middle - n_chunks // 2 + 1, middle - n_chunks // 2 + 1 + n_chunks))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        paths = write_fci_slot(tmp, platform="meteosat12", slot_start=SLOT, bands=bands, geometry=geometry,
                               chunks=chunks)
        write_s = time.perf_counter() - t0
        one = next(p for p in paths if p.name.endswith(f"_{middle:04d}.nc"))
        rows = read_channel(one, "ir_105").values.shape[0]
        result = {
            "benchmark": "fci_read",
            "reduction": reduction,
            "grid_2km": list(geometry.shape),
            "chunk_rows_2km": rows,
            "chunk_mb": round(one.stat().st_size / 1e6, 2),
            "write_s_per_chunk": round(write_s / len(paths), 3),
            "one_chunk": {
                "ours_ir_105_s": round(_best(lambda: read_channel(one, "ir_105"), repeat), 4),
                "satpy_ir_105_s": round(_best(lambda: _satpy([one], ["ir_105"]), repeat), 4),
                "ours_vis_06_s": round(_best(lambda: read_channel(one, "vis_06"), repeat), 4),
                "satpy_vis_06_s": round(_best(lambda: _satpy([one], ["vis_06"]), repeat), 4),
                "ours_pixel_times_s": round(_best(lambda: read_pixel_times(one, "ir_105"), repeat), 4),
                "satpy_pixel_times_s": round(_best(lambda: _satpy([one], ["ir_105_time"]), repeat), 4),
            },
            "cycle": {
                "chunks": len(paths),
                "ours_ir_105_s": round(_best(lambda: [read_channel(p, "ir_105") for p in paths], repeat), 3),
                "satpy_ir_105_s": round(_best(lambda: _satpy(paths, ["ir_105"]), max(1, repeat - 1)), 3),
            },
            "repeat": repeat,
            "python": sys.version.split()[0],
            "machine": platform.machine(),
        }
    for part in ("one_chunk", "cycle"):
        r = result[part]
        r["satpy_over_ours_ir_105"] = round(r["satpy_ir_105_s"] / r["ours_ir_105_s"], 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None, help="also write the JSON to this file")
    parser.add_argument("--quick", action="store_true", help="reduced disk (see --reduction)")
    parser.add_argument("--reduction", type=int, default=None, help="full-disk reduction (default 1, or 8 with --quick)")
    parser.add_argument("--chunks", type=int, default=8, help="chunks of the cycle part")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions; the best is reported")
    args = parser.parse_args(argv)
    reduction = args.reduction or (8 if args.quick else 1)
    result = run(reduction, args.chunks, args.repeat)
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
