"""Peak memory and time of ``cloudbench synth`` over spans of days (day-by-day writing).

Each span is written by the installed command in a fresh process (paper region, Himawari, CloudSat
only, two bands, reduction 10, seed 0) into an empty folder; peak RSS is the kernel's high-water mark
of that process (``wait4``), so imports and every transient count. For comparison, the library call
``write_archive`` (which returns every rendered slot with its per-pixel truth) writes the first span
in a process of its own. A rerun of the shortest span into its finished folder measures the cost of
checking the day ledger (every file hashed) when nothing is left to do. Acceptance: 30 days peak
under 4 GB RSS.

Run: ``python -m benchmarks.bench_synth [--days 1,3,30] [--quick] [--out FILE]``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]  # the child imports this checkout's cloudbench
START = datetime(2018, 10, 1, tzinfo=UTC)
BANDS = "B13,B14"
LABELS = "cldclass-lidar"
REDUCTION = 10
ACCEPT_PEAK_BYTES = 4 * 10**9
ACCEPT_DAYS = 30

_LIBRARY = """
import sys
from cloudbench.synthetic.archive import write_archive
write_archive(sys.argv[1], start=sys.argv[2], end=sys.argv[3], region="paper", imager="himawari",
              labels=(sys.argv[4],), bands=sys.argv[5].split(","), reduction=int(sys.argv[6]), seed=0)
"""


def _measure(argv: list[str]) -> tuple[float, int]:
    """(seconds, peak RSS bytes) of a child process; raises if it fails."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    out = proc.stdout.read() if proc.stdout else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} ... exited {proc.returncode}: {out[-2000:]}")
    return seconds, int(usage.ru_maxrss) * 1024  # Linux reports KiB


def _synth_argv(out: Path, days: int) -> list[str]:
    end = START + timedelta(days=days)
    return [sys.executable, "-m", "cloudbench", "synth", "--out", str(out), "--start", START.isoformat(),
            "--end", end.isoformat(), "--region", "paper", "--imager", "himawari", "--labels", LABELS,
            "--bands", BANDS, "--reduction", str(REDUCTION), "--seed", "0"]


def _archive_summary(root: Path) -> dict:
    from cloudbench.synthetic.day_ledger import LEDGER_NAME

    lines = [json.loads(line) for line in (root / LEDGER_NAME).read_text().splitlines() if line.strip()]
    files = [f for d in lines for f in d["files"]]
    per_day = [d["seconds"] for d in lines]
    return {
        "days_written": len(lines),
        "slots": sum(d["slots"] for d in lines),
        "granules": sum(f["product"] != "imager" for f in files),
        "files": len(files),
        "bytes": sum(f["size"] for f in files),
        "seconds_per_day_min": round(min(per_day), 1),
        "seconds_per_day_max": round(max(per_day), 1),
    }


def _run_span(tmp: Path, days: int, rerun: bool) -> dict:
    out = tmp / f"synth_{days}d"
    seconds, peak = _measure(_synth_argv(out, days))
    row = {"days": days, "seconds": round(seconds, 1), "peak_rss_MiB": round(peak / 2**20, 1), **_archive_summary(out)}
    row["seconds_per_slot"] = round(seconds / max(row["slots"], 1), 2)
    if rerun:
        again_s, again_peak = _measure(_synth_argv(out, days))
        row["rerun_all_days_complete_s"] = round(again_s, 1)
        row["rerun_peak_rss_MiB"] = round(again_peak / 2**20, 1)
    shutil.rmtree(out, ignore_errors=True)
    return row


def _run_library(tmp: Path, days: int) -> dict:
    out = tmp / f"library_{days}d"
    end = START + timedelta(days=days)
    seconds, peak = _measure([sys.executable, "-c", _LIBRARY, str(out), START.isoformat(), end.isoformat(), LABELS,
                              BANDS, str(REDUCTION)])
    shutil.rmtree(out, ignore_errors=True)
    return {"days": days, "seconds": round(seconds, 1), "peak_rss_MiB": round(peak / 2**20, 1)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=None)
    parser.add_argument("--days", default="1,3,30", help="comma-separated span lengths in days")
    parser.add_argument("--quick", action="store_true", help="one day only")
    parser.add_argument("--no-library", action="store_true", help="skip the write_archive comparison")
    args = parser.parse_args(argv)
    spans = [1] if args.quick else sorted(int(d) for d in args.days.split(","))
    result: dict = {
        "benchmark": "synth",
        "command": f"cloudbench synth --start {START:%Y-%m-%d} --end +N days --region paper --imager himawari "
                   f"--labels {LABELS} --bands {BANDS} --reduction {REDUCTION} --seed 0",
        "cpus": os.cpu_count(),
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench_synth_"))
    try:
        if not args.no_library:
            result["write_archive_library"] = _run_library(tmp, spans[0])
        result["streamed"] = []
        for d in spans:  # the longest span last; what is done so far is saved after each
            result["streamed"].append(_run_span(tmp, d, rerun=(d == spans[0])))
            if args.out:
                Path(args.out).write_text(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    longest = result["streamed"][-1]
    result["acceptance"] = {
        "days": longest["days"], "limit_MiB": round(ACCEPT_PEAK_BYTES / 2**20, 1),
        "peak_rss_MiB": longest["peak_rss_MiB"],
        "met": longest["days"] >= ACCEPT_DAYS and longest["peak_rss_MiB"] * 2**20 < ACCEPT_PEAK_BYTES,
    }
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return result


if __name__ == "__main__":
    main()
