"""``cloudbench download --imager fci`` against a served synthetic day (the loopback EUMETSAT Data Store for the
FCI chunks, SFTP for CloudSat): single body chunks are planned and fetched by entry.

The archive holds every chunk of every 10-minute repeat cycle of one day (144 cycles x 40 chunks),
so the planner has to choose twice: the cycles near a pass, and within a cycle the chunks whose rows
the track crosses. The test derives the chunks from the truth written into the files (each track
point's pixel and the per-pixel times the chunks record), not from the planner's scan model:
- every chunk holding a row within the line margin of a track point that its pixel there saw within
  --max-dt must be planned (the planner may not miss a chunk the data needs);
- every planned chunk must hold such a row seen within --max-dt plus the planner's clock margin plus
  the spread of times within a chunk's sweep (the nominal model may not reach further than that).
A real download then fetches exactly the planned chunks, byte for byte, and no TRAIL chunk.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cloudbench.config import MAX_DT_S, parse_region
from cloudbench.products import fci_l1c as P
from cloudbench.sources.local_servers import serve_archive
from cloudbench.sources.planner import DEFAULT_LINE_MARGIN_KM, DEFAULT_TIME_MARGIN_S
from cloudbench.synthetic import write_archive
from cloudbench.synthetic.scene import Scene

REGION = "-20,-40,20,40"
DAY = ("2025-03-01T00:00", "2025-03-02T00:00")
REDUCTION = 48  # 116 x 116 on the 2 km grid: 40 chunks of 2 or 3 rows
BANDS = ("ir_105",)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A whole day of FCI chunks (thin clouds keep the 144 renders quick) and the day's CloudSat passes."""
    root = tmp_path_factory.mktemp("fci_source") / "ARCHIVE"
    scene = Scene(5, np.datetime64(DAY[0], "ns"), np.datetime64(DAY[1], "ns"), region=parse_region(REGION),
                  cloud_density=0.1)
    return write_archive(root, start=DAY[0], end=DAY[1], region=REGION, imager="fci", labels=("cldclass-lidar",),
                         bands=BANDS, reduction=REDUCTION, seed=5, only_near_tracks=False, scene=scene)


@pytest.fixture(scope="module")
def served(synthetic):
    with serve_archive(synthetic.root) as endpoints:
        yield endpoints


def chunks_seen(archive, tol_s: float) -> set[str]:
    """ARCHIVE/ paths of the chunks holding a row within the line margin of a track point whose pixel in
    that row was seen within ``tol_s`` of the point (per-pixel times as written)."""
    region = parse_region(REGION)
    t0, t1 = (np.datetime64(t, "ns") for t in DAY)
    time = np.concatenate([g.layers.time for g in archive.granules])
    lat = np.concatenate([g.layers.latitude for g in archive.granules])
    lon = np.concatenate([g.layers.longitude for g in archive.granules])
    keep = region.contains(lon, lat) & (time >= t0) & (time < t1)
    geometry = archive.geometry
    cols, rows = geometry.area().get_array_indices_from_lonlat(lon[keep], lat[keep])
    on_disk = ~np.ma.getmaskarray(rows)
    rows, cols, time = np.asarray(rows)[on_disk], np.asarray(cols)[on_disk], time[keep][on_disk]
    margin = math.ceil(DEFAULT_LINE_MARGIN_KM / (2.0 * REDUCTION))  # the 2 km sample grid
    tol = np.timedelta64(int(tol_s * 1e9), "ns")
    n = geometry.shape[0]
    need = set()
    for slot in archive.slots:
        by_chunk = {int(p.name[-7:-3]): p for p in slot.paths}
        for d in range(-margin, margin + 1):
            r = np.clip(rows + d, 0, n - 1)
            seen = np.abs(time - slot.rendered.pixel_times[r, cols]) <= tol
            for row in np.unique(r[seen]):
                (chunk,) = P.chunks_for_rows(geometry, int(row), int(row) + 1)
                need.add(by_chunk[chunk].relative_to(archive.root).as_posix())
    return need


def cli() -> list[str]:
    return [str(Path(sys.executable).with_name("cloudbench"))]


def download_args(out: Path, endpoints, *extra: str) -> list[str]:
    return ["download", "--start", DAY[0], "--end", DAY[1], "--region", REGION, "--imager", "fci",
            "--labels", "cldclass-lidar", "--bands", ",".join(BANDS), "--out", str(out),
            "--geometry-reduction", str(REDUCTION), "--no-progress", *endpoints.download_args(), *extra]


def test_dry_run_plans_only_the_chunks_the_tracks_cross_and_download_fetches_them(synthetic, served, tmp_path):
    every = {p.relative_to(synthetic.root).as_posix() for p in synthetic.files["imager"]}
    assert len(synthetic.slots) == 144 and len(every) == 144 * 40
    assert set(served.datastore_files) == every
    sweep_spread_s = max(s.duration_s for s in P.scan_schedule(synthetic.geometry)) / 2
    must = chunks_seen(synthetic, MAX_DT_S)
    may = chunks_seen(synthetic, MAX_DT_S + DEFAULT_TIME_MARGIN_S + sweep_spread_s)
    assert 0 < len(must) <= len(may) < len(every) / 20

    env = {**os.environ, **served.env()}
    mirror = tmp_path / "MIRROR"
    dry = subprocess.run([*cli(), *download_args(mirror, served, "--dry-run")], env=env, capture_output=True,
                         text=True, timeout=900)
    assert dry.returncode == 0, dry.stderr
    report = json.loads((mirror / "download-report.json").read_text())
    planned = set(report["imager_files"])
    assert must <= planned <= may, (len(must - planned), len(planned - may))
    assert all(P.parse_filename(Path(p).name).part == "BODY" for p in planned)  # no TRAIL chunk is needed
    plan = report["plan"]
    share = len(planned) / len(every)
    print({"planned_chunks": len(planned), "day_chunks": len(every), "share_of_day": round(share, 4),
           "cycles_needed": plan["scans_needed"], "byte_share": plan["fraction_of_full_window"],
           "chunks_per_needed_cycle": round(len(planned) / plan["scans_needed"], 1)})
    assert plan["window_scans"] == 144 and 0 < plan["scans_needed"] < 144
    assert len(planned) < 0.5 * 40 * plan["scans_needed"]  # within a cycle too: only some of its chunks
    assert not list(mirror.rglob("*.nc"))  # a dry run fetches no imagery

    real = subprocess.run([*cli(), *download_args(mirror, served)], env=env, capture_output=True, text=True,
                          timeout=900)
    assert real.returncode == 0, real.stderr
    report = json.loads((mirror / "download-report.json").read_text())
    assert set(report["imager_files"]) == planned and set(report["fetched"]) == planned
    fetched = {p.relative_to(mirror).as_posix() for p in mirror.rglob("*.nc")}
    assert fetched == planned and not list(mirror.rglob("*.part"))
    for rel in planned:  # byte for byte what the Data Store holds, once in the ledger, by entry
        assert hashlib.sha256((mirror / rel).read_bytes()).digest() == hashlib.sha256(
            (synthetic.root / rel).read_bytes()).digest()
    ledger = [json.loads(line) for line in (mirror / "ledger.jsonl").read_text().splitlines()]
    chunks = [e for e in ledger if e["path"].endswith(".nc")]
    assert sorted(e["path"] for e in chunks) == sorted(planned)
    assert all(e["catalog"] == "eumetsat-datastore" and "/entry?name=W_XX-EUMETSAT" in e["source"] for e in chunks)
