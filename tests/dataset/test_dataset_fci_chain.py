"""FCI end to end: a synthetic Meteosat-12 archive, served, downloaded chunk by chunk, collocated, split, verified.

This is the chain ``cloudbench demo --imager fci`` runs: a synthetic ARCHIVE/ written with
``imager="fci"`` (one daytime CloudSat pass on each of four days of February 2025, Meteosat-12 FCI
at 0 deg, a 1 km and two 2 km channels, reduced disk), served by :func:`serve_archive` (the FCI body
chunks by the loopback EUMETSAT Data Store, CloudSat over SFTP), fetched by ``cloudbench download
--imager fci`` with the logins in the environment, then ``collocate``, ``build-splits`` and ``verify``.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from cloudbench.cli import main
from cloudbench.config import parse_region
from cloudbench.sources.local_servers import serve_archive
from cloudbench.synthetic import orbit, write_archive
from cloudbench.synthetic.archive import aware_utc

# a whole FCI chain through the loopback servers: about a minute on two cores (make test-all)
pytestmark = pytest.mark.slow

REGION = "-20,-40,20,40"
DAYS = [date(2025, 2, 1) + timedelta(days=2 * k) for k in range(4)]
BANDS = ("nir_16", "ir_105", "ir_123")
REDUCTION = 10


def daytime_pass(day: date):
    """The longest pass of the day over the region with the Sun up at its centre, +- a minute."""
    start = np.datetime64(day.isoformat(), "ns")
    best = None
    for enter, leave in orbit.passes_over(parse_region(REGION), start, start + np.timedelta64(1, "D")):
        mid = enter + (leave - enter) // 2
        _, lon = orbit.subpoint(np.array([mid]))
        local = ((mid - start) / np.timedelta64(1, "h") + float(lon[0]) / 15.0) % 24.0
        if 6.0 <= local <= 18.0 and (best is None or leave - enter > best[1] - best[0]):
            best = (enter, leave)
    assert best is not None
    minute = np.timedelta64(60, "s")
    return aware_utc(best[0] - minute), aware_utc(best[1] + minute)


def run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code


def test_fci_archive_downloads_collocates_and_splits(tmp_path, monkeypatch):
    source = tmp_path / "source"
    written = []
    for day in DAYS:
        start, end = daytime_pass(day)
        arch = write_archive(source, start=start, end=end, region=REGION, imager="fci", labels=("cldclass-lidar",),
                             bands=BANDS, reduction=REDUCTION, seed=1, max_dt_s=300)
        assert arch.platform == "meteosat12" and arch.slots
        written += [p.relative_to(source).as_posix() for s in arch.slots for p in s.paths]
    mirror, pairs, dataset = tmp_path / "ARCHIVE", tmp_path / "PAIRS", tmp_path / "DATASET"
    with serve_archive(source) as endpoints:
        assert set(endpoints.datastore_files) == set(written)
        for key, value in endpoints.env().items():
            monkeypatch.setenv(key, value)
        code = run(["download", "--start", DAYS[0].isoformat(), "--end", (DAYS[-1] + timedelta(days=1)).isoformat(),
                    "--region", REGION, "--imager", "fci", "--labels", "cldclass-lidar", "--bands", ",".join(BANDS),
                    "--out", str(mirror), "--geometry-reduction", str(REDUCTION), "--no-progress",
                    *endpoints.download_args()])
    assert code == 0
    fetched = {p.relative_to(mirror).as_posix() for p in mirror.rglob("*.nc")}
    assert fetched and fetched <= set(written)
    assert len(fetched) < len(written) / 2  # chunks by entry: only those whose rows the passes cross

    assert run(["collocate", "--archive", str(mirror), "--region", REGION, "--out", str(pairs), "--labels",
                "cldclass-lidar", "--imager", "fci", "--bands", ",".join(BANDS), "--patch-size", "16",
                "--no-progress"]) == 0
    table = pd.concat([pd.read_parquet(p) for p in (pairs / "samples").glob("*.parquet")], ignore_index=True)
    assert set(table["platform"]) == {"meteosat12"} and table["date"].nunique() == len(DAYS)
    assert set(table["imager_files"].str.split(";").explode()) <= {p.rsplit("/", 1)[-1] for p in fetched}

    assert run(["build-splits", "--pairs", str(pairs), "--out", str(dataset)]) == 0
    assert run(["verify", str(dataset)]) == 0
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["bands"] == list(BANDS)
    assert any(f["name"].startswith("W_XX-EUMETSAT-Darmstadt,IMG+SAT,MTI1+FCI") for f in manifest["source_files"])
    stats = json.loads((dataset / "stats.json").read_text())  # every channel carries data into the samples
    assert stats["bands"] == list(BANDS) and all(n > 0 for n in stats["x"]["pixels"])
    nir, window, split = stats["x"]["mean"]
    assert 0 < nir < 100 and 200 < split < window + 5 < 320  # reflectance (%) of the 1 km channel, BTs (K)
    assert all(manifest["splits"][s]["n_samples"] > 0 for s in ("train", "val", "test"))
