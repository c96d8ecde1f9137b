"""Time and memory to read SEVIRI native rows: cloudbench's reader against satpy's seviri_l1b_native.

A collocation job needs a few rows (a patch's height) of a few channels and their line times; a
full-size .nat file holds the whole disk of every channel. This writes one full-size synthetic file
(3712 x 3712, the 11 VIS/IR channels, 184 MiB) and, each in a fresh process, reads 64 grid rows of
3 channels (VIS006, IR_108, IR_120) with their per-line acquisition times, and one whole channel,
through cloudbench's reader and through satpy (``Scene.load`` then the rows). Seconds are the median
of the timed repetitions after a first (cold) call; memory is the process's peak resident set above
what it held before the call (sampled every 2 ms). The two readers' values are checked to be identical.

Run: ``python -m benchmarks.bench_seviri_read [--out FILE] [--quick]``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

SLOT = datetime(2020, 6, 1, 12, 0, tzinfo=UTC)
CHANNELS = ("VIS006", "IR_108", "IR_120")
ROWS = (1800, 1864)

_CHILD = r'''
import json, statistics, sys, threading, time
import numpy as np, psutil
class Peak:
    """Resident memory sampled every 2 ms while a call runs (ru_maxrss would count the imports' peak)."""
    def __init__(self):
        self.proc, self.base, self.peak, self.stop = psutil.Process(), psutil.Process().memory_info().rss, 0, False
    def _poll(self):
        while not self.stop:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.002)
    def __enter__(self):
        self.thread = threading.Thread(target=self._poll, daemon=True); self.thread.start(); return self
    def __exit__(self, *exc):
        self.stop = True; self.thread.join(); self.peak = max(self.peak, self.proc.memory_info().rss)
    @property
    def mib(self):
        return (self.peak - self.base) / 2**20
method, path, channels, r0, r1, repeat = sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
if method == "cloudbench":
    from cloudbench.readers.seviri_native import read_seviri
    def rows():
        img = read_seviri(path, channels, rows=(r0, r1))
        return img.values, img.line_times
    def whole():
        return read_seviri(path, channels[-1:]).values[channels[-1]]
else:
    from satpy import Scene
    def rows():
        scn = Scene(filenames=[path], reader="seviri_l1b_native")
        scn.load(channels, upper_right_corner="NE")
        return {c: scn[c][r0:r1].values for c in channels}, scn[channels[0]].coords["acq_time"].values[r0:r1]
    def whole():
        scn = Scene(filenames=[path], reader="seviri_l1b_native")
        scn.load(channels[-1:], upper_right_corner="NE")
        return scn[channels[-1]].values
with Peak() as first:
    t0 = time.perf_counter(); values, times = rows(); cold = time.perf_counter() - t0
warm = []
for _ in range(repeat):
    t0 = time.perf_counter(); rows(); warm.append(time.perf_counter() - t0)
with Peak() as all_rows:
    t0 = time.perf_counter(); full = whole(); whole_s = time.perf_counter() - t0
np.savez(sys.argv[7], times=times.astype("int64"), **values)
print(json.dumps({"rows_cold_s": cold, "rows_s": statistics.median(warm), "rows_peak_mib": first.mib,
                  "whole_channel_s": whole_s, "whole_channel_peak_mib": all_rows.mib}))
'''


def _write(folder: Path, reduction: int) -> Path:
    from cloudbench.products import seviri_native as P
    from cloudbench.synthetic.seviri_native import write_seviri_slot

    geometry = P.full_disk_geometry("meteosat11", reduction)
    n = geometry.shape[0]
    rng = np.random.default_rng(0)
    y = np.linspace(0, 1, n)[:, None]
    x = np.linspace(0, 1, n)[None, :]
    field = 260 + 30 * np.sin(17 * x + 3) * np.cos(11 * y) + 15 * np.sin(43 * x * y)
    mask = geometry.disk_mask()
    bands = {}
    for i, band in enumerate(P.BAND_NAMES):
        noisy = field + rng.normal(0, 0.2, field.shape) + i
        value = np.clip(noisy - 200, 0, 110) if P.BANDS[band].kind == "vis" else noisy
        bands[band] = np.where(mask, value, np.nan).astype(np.float32)
    (path,) = write_seviri_slot(folder, platform="meteosat11", slot_start=SLOT, bands=bands, geometry=geometry)
    return path


def _child(method: str, path: Path, rows: tuple[int, int], repeat: int, dump: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", _CHILD, method, str(path), ",".join(CHANNELS), str(rows[0]),
                           str(rows[1]), str(repeat), str(dump)], capture_output=True, text=True, check=True)
    return {k: round(v, 4 if k.endswith("_s") else 1) for k, v in json.loads(proc.stdout.splitlines()[-1]).items()}


def run(reduction: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), reduction)
        from cloudbench.readers.seviri_native import read_nat_header

        n = read_nat_header(path).n_lines
        rows = (min(ROWS[0], n // 2), min(ROWS[0], n // 2) + min(64, n // 4))
        ours = _child("cloudbench", path, rows, repeat, Path(tmp) / "ours.npz")
        theirs = _child("satpy", path, rows, repeat, Path(tmp) / "satpy.npz")
        a, b = np.load(Path(tmp) / "ours.npz"), np.load(Path(tmp) / "satpy.npz")
        identical = all(np.array_equal(a[k], b[k], equal_nan=True) for k in a.files)
        size_mib = path.stat().st_size / 2**20
    return {
        "benchmark": "seviri_read",
        "reduction": reduction,
        "shape": [n, n],
        "file_mib": round(size_mib, 1),
        "channels": list(CHANNELS),
        "rows": list(rows),
        "cloudbench": ours,
        "satpy": theirs,
        "rows_satpy_over_cloudbench": round(theirs["rows_s"] / ours["rows_s"], 1),
        "identical_values_and_times": bool(identical),
        "repeat": repeat,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None, help="also write the JSON to this file")
    parser.add_argument("--quick", action="store_true", help="a reduced disk (reduction 8)")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions after the cold call; the median is reported")
    args = parser.parse_args(argv)
    result = run(8 if args.quick else 1, args.repeat)
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
