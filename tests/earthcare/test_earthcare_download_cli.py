"""`cloudbench download --labels earthcare-ac-tc --imager himawari` end to end on 2025 dates.

A small synthetic archive (EarthCARE's daytime pass over a box of the Himawari-9 disk, two IR bands,
reduction 10) is served by :func:`serve_archive`: the AC__TC__2B frame behind the loopback STAC search
and token-protected file server (ESA MAAP's protocol), the AHI segments in moto S3 buckets in NOAA's
layout. The command runs as a separate process against those servers. What it must fetch is computed
here from the truth the archive was written from (the frame's profiles, the per-line times of each
written slot, the full-disk projection), file by file, as tests/sources/test_sources_e2e.py does for
CALIPSO and CloudSat, not from the planner's search.
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

from cloudbench.cli import main
from cloudbench.config import MAX_DT_S, parse_region
from cloudbench.products import ahi_hsd
from cloudbench.sources.local_servers import serve_archive
from cloudbench.sources.maap_stac import MAAP_TOKEN_ENV
from cloudbench.sources.planner import DEFAULT_LINE_MARGIN_KM, DEFAULT_TIME_MARGIN_S
from cloudbench.synthetic import write_archive

LABELS = "earthcare-ac-tc"
REGION = "120,-15,150,15"  # EarthCARE's daytime pass on 2025-06-17, 04:09-04:17 UTC, over 144-150 E
WINDOW = ("2025-06-17T03:00", "2025-06-17T06:00")  # the download window: 18 Himawari-9 slots
ARCHIVE_SPAN = ("2025-06-17T03:40", "2025-06-17T04:30")  # what is written: the pass and the slots around it
BANDS = ("B13", "B14")
REDUCTION = 10
WRONG_TOKEN = "maap-wrong-3f9e1c"


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("ec_synthetic") / "ARCHIVE"
    return write_archive(root, start=ARCHIVE_SPAN[0], end=ARCHIVE_SPAN[1], region=REGION, labels=(LABELS,),
                         bands=list(BANDS), reduction=REDUCTION, seed=7)


@pytest.fixture(scope="module")
def served(synthetic):
    with serve_archive(synthetic.root) as endpoints:
        yield endpoints


def expected_imagery(archive) -> set[str]:
    """AHI files some profile of the written frames needs: inside the region and the window, within the
    line margin of one of the file's lines, seen within the time tolerance (+ the clock margin)."""
    region = parse_region(REGION)
    t0, t1 = (np.datetime64(t, "ns") for t in WINDOW)
    layers = [g.layers for g in archive.granules if g.product == LABELS]
    time = np.concatenate([la.time for la in layers])
    lat = np.concatenate([la.latitude for la in layers])
    lon = np.concatenate([la.longitude for la in layers])
    keep = region.contains(lon, lat) & (time >= t0) & (time < t1)
    _, rows = archive.geometry.area().get_array_indices_from_lonlat(lon[keep], lat[keep])
    on_disk = ~np.ma.getmaskarray(rows)
    rows, time = np.asarray(rows)[on_disk], time[keep][on_disk]
    margin = math.ceil(DEFAULT_LINE_MARGIN_KM / (2.0 * REDUCTION))  # the 2 km sample grid
    tol = np.timedelta64(int((MAX_DT_S + DEFAULT_TIME_MARGIN_S) * 1e9), "ns")
    need = set()
    for slot in archive.slots:
        for path in slot.paths:
            info = ahi_hsd.parse_filename(path.name)
            per_segment = archive.geometry.shape[0] // info.total_segments
            lines = np.arange((info.segment - 1) * per_segment, info.segment * per_segment)
            near = np.abs(rows[:, None] - lines[None, :]) <= margin
            close = np.abs(time[:, None] - slot.rendered.line_times[lines][None, :]) <= tol
            if info.band in BANDS and (near & close).any():
                need.add(path.relative_to(archive.root).as_posix())
    return need


def frame_files(archive) -> set[str]:
    return {g.path.relative_to(archive.root).as_posix() for g in archive.granules if g.product == LABELS}


def download_args(out: Path, endpoints) -> list[str]:
    return ["download", "--start", WINDOW[0], "--end", WINDOW[1], "--region", REGION, "--imager", "himawari",
            "--labels", LABELS, "--out", str(out), "--geometry-reduction", str(REDUCTION), "--no-progress",
            *endpoints.download_args()]


def files_under(root: Path, pattern: str) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob(pattern)} if root.exists() else set()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def all_text_under(root: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl", ".log", ".txt"))


@pytest.mark.slow
def test_download_fetches_exactly_the_frame_and_the_segments_it_needs(synthetic, served, tmp_path):
    mirror = tmp_path / "MIRROR"
    want = expected_imagery(synthetic)
    frames = frame_files(synthetic)
    assert synthetic.platform == "himawari9" and len(frames) == 1
    assert set(served.frames) == frames
    assert want and len(want) < len(synthetic.files["imager"])  # some written slots and segments are not needed
    script = Path(sys.executable).with_name("cloudbench")  # the installed console script
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "cloudbench"]
    proc = subprocess.run([*cli, *download_args(mirror, served)], env={**os.environ, **served.env()},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert files_under(mirror, "*.DAT.bz2") == want
    assert files_under(mirror, "*.h5") == frames
    for rel in want | frames:  # byte for byte what the archive holds
        assert sha256(mirror / rel) == sha256(synthetic.root / rel)
    report = json.loads((mirror / "download-report.json").read_text())
    assert set(report["fetched"]) == want and report["failed"] == []
    assert report["plan"]["window_scans"] == 18
    assert report["plan"]["scans_needed"] == len({r.rsplit("/", 2)[-2] for r in want})
    # the token works but is never shown: not on the terminal, not in anything written
    assert served.maap_token not in proc.stdout + proc.stderr + all_text_under(mirror)


def _run(args: list[str], env: dict[str, str], monkeypatch) -> int:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as info:
        main(args)
    return info.value.code


@pytest.mark.slow
def test_missing_maap_token_exits_1_naming_the_variable(served, tmp_path, monkeypatch, capfd):
    env = {k: v for k, v in served.env().items() if k != MAAP_TOKEN_ENV}
    monkeypatch.delenv(MAAP_TOKEN_ENV, raising=False)
    mirror = tmp_path / "NO_TOKEN"
    assert _run(download_args(mirror, served), env, monkeypatch) == 1
    out, err = capfd.readouterr()
    assert MAAP_TOKEN_ENV in err and "is not set" in err and "Traceback" not in err
    assert "portal.maap.eo.esa.int" in err  # how to get one
    assert files_under(mirror, "*.h5") == set() and files_under(mirror, "*.DAT.bz2") == set()


@pytest.mark.slow
def test_refused_maap_token_exits_1_without_showing_it(served, tmp_path, monkeypatch, capfd):
    env = {**served.env(), MAAP_TOKEN_ENV: WRONG_TOKEN}
    mirror = tmp_path / "REFUSED"
    assert _run(download_args(mirror, served), env, monkeypatch) == 1
    out, err = capfd.readouterr()
    assert MAAP_TOKEN_ENV in err and "refused" in err and "Traceback" not in err
    assert WRONG_TOKEN not in out + err + all_text_under(mirror)
    assert served.maap_token not in out + err
    assert files_under(mirror, "*.h5") == set() and files_under(mirror, "*.DAT.bz2") == set()
