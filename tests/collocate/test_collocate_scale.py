"""Parallel runs give the serial run's pairs; a run killed halfway resumes to identical output."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import zarr

from cloudbench.collocate.pairing import CollocateConfig, collocate_job
from cloudbench.collocate.run import collocate
from cloudbench.config import parse_region
from cloudbench.errors import PartialError


def config(out) -> CollocateConfig:
    return CollocateConfig(out=str(out), region=parse_region("120,-40,160,40"), imager="himawari",
                           bands=("B13",), patch_size=16)


def snapshot(out) -> dict:
    tables = {p.stem: pd.read_parquet(p) for p in sorted((out / "samples").glob("*.parquet"))}
    arrays = {}
    for job in tables:
        group = zarr.open_group(str(out / "jobs" / f"{job}.zarr"), mode="r")
        arrays[job] = {k: group[k][:] for k in ("x", "aux", "track_rows", "track_cols", "profiles", "n_track")}
    return {"tables": tables, "arrays": arrays}


def assert_same(a: dict, b: dict) -> None:
    assert a["tables"].keys() == b["tables"].keys()
    for job in a["tables"]:
        pd.testing.assert_frame_equal(a["tables"][job], b["tables"][job])
        for k, v in a["arrays"][job].items():
            np.testing.assert_array_equal(v, b["arrays"][job][k])


@pytest.fixture(scope="module")
def serial(synthetic_archive, tmp_path_factory):
    out = tmp_path_factory.mktemp("scale") / "serial"
    with pytest.raises(PartialError):
        collocate(synthetic_archive["root"], config(out), progress=False)
    return snapshot(out)


def test_local_workers_and_existing_scheduler_match_serial(synthetic_archive, serial, tmp_path):
    from distributed import LocalCluster

    out = tmp_path / "workers"
    with pytest.raises(PartialError):
        collocate(synthetic_archive["root"], config(out), workers=2, progress=False)
    assert_same(serial, snapshot(out))

    out2 = tmp_path / "scheduler"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with pytest.raises(PartialError):
            collocate(synthetic_archive["root"], config(out2), scheduler=cluster.scheduler_address, progress=False)
    assert_same(serial, snapshot(out2))


def test_killed_run_resumes_to_identical_output(synthetic_archive, serial, tmp_path, monkeypatch):
    """Killed during its third job: the rerun does not redo the finished job, retries the skipped one
    (its file may have been replaced since) and runs the rest."""
    out = tmp_path / "killed"
    seen = []

    def dies_on_third(job, cfg):
        if len(seen) == 2:
            raise KeyboardInterrupt  # the process is stopped while the third job runs
        seen.append(job.job_id)
        return collocate_job(job, cfg)

    monkeypatch.setattr("cloudbench.collocate.pairing.collocate_job", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        collocate(synthetic_archive["root"], config(out), progress=False)
    before = [json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines()]
    assert [e["job_id"] for e in before] == seen
    assert sorted(e["status"] for e in before) == ["done", "skipped"]
    finished = next(e["job_id"] for e in before if e["status"] == "done")
    monkeypatch.undo()
    redone = []

    def counting(job, cfg):
        redone.append(job.job_id)
        return collocate_job(job, cfg)

    monkeypatch.setattr("cloudbench.collocate.pairing.collocate_job", counting)
    with pytest.raises(PartialError):
        collocate(synthetic_archive["root"], config(out), progress=False)
    assert finished not in redone and len(redone) == 2
    assert_same(serial, snapshot(out))
