"""PAIRS/ writer, ledger and the resumable driver (serial), with a job function defined here."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import zarr

from cloudbench.collocate.pairs_store import (
    SAMPLE_COLUMNS,
    JobArrays,
    append_ledger,
    read_ledger,
    write_job,
)
from cloudbench.collocate.report import build_report, render_text
from cloudbench.collocate.run import run_jobs


def _arrays(n: int, p: int = 4, z: int = 3) -> JobArrays:
    rng = np.random.default_rng(n)
    a = JobArrays.empty(2, 4, p, z)
    return JobArrays(
        rng.random((n, 2, p, p), dtype=np.float32), rng.random((n, 4, p, p), dtype=np.float32),
        np.full((n, 2 * p), -1, np.int16), np.full((n, 2 * p), -1, np.int16),
        np.full((n, 2 * p, z), 255, np.uint8), np.arange(n, dtype=np.int16),
    ) if n else a


def _table(job_id: str, n: int) -> pd.DataFrame:
    rows = [{c: 0 for c in SAMPLE_COLUMNS} | {"sample_id": f"{job_id}-{k:05d}", "job_id": job_id, "row": k}
            for k in range(n)]
    return pd.DataFrame(rows, columns=list(SAMPLE_COLUMNS))


def test_write_job_round_trip(tmp_path):
    arrays = _arrays(3)
    write_job(tmp_path, "g1", arrays, _table("g1", 3), {"bands": ["B13", "B14"]})
    group = zarr.open_group(str(tmp_path / "jobs" / "g1.zarr"), mode="r")
    np.testing.assert_array_equal(group["x"][:], arrays.x)
    np.testing.assert_array_equal(group["n_track"][:], [0, 1, 2])
    assert group.attrs["job_id"] == "g1" and group.attrs["bands"] == ["B13", "B14"]
    table = pd.read_parquet(tmp_path / "samples" / "g1.parquet")
    assert list(table.columns) == list(SAMPLE_COLUMNS) and len(table) == 3
    assert not any(p.name.startswith(".tmp-") for p in (tmp_path / "jobs").iterdir())


def test_write_job_refuses_table_without_columns(tmp_path):
    with pytest.raises(ValueError, match="lacks columns"):
        write_job(tmp_path, "g1", _arrays(1), pd.DataFrame({"sample_id": ["a"]}), {})


def test_ledger_survives_a_torn_last_line(tmp_path):
    append_ledger(tmp_path, {"job_id": "a", "status": "done"})
    with open(tmp_path / "ledger.jsonl", "a") as fh:
        fh.write('{"job_id": "b", "sta')  # killed mid-write
    append_ledger(tmp_path, {"job_id": "c", "status": "skipped", "file": "x.hdf", "reason": "truncated"})
    ledger = read_ledger(tmp_path)
    assert set(ledger) == {"a", "c"}


@dataclass(frozen=True)
class ToyJob:
    job_id: str


def toy_job(job: ToyJob, out: str, calls: list) -> dict:
    calls.append(job.job_id)
    if job.job_id == "bad":
        return {"job_id": job.job_id, "status": "skipped", "file": "bad.hdf", "reason": "truncated HDF4"}
    n = int(job.job_id[-1])
    write_job(out, job.job_id, _arrays(n), _table(job.job_id, n), {})
    return {"job_id": job.job_id, "status": "done", "n_samples": n, "dropped": {"region": n}}


def test_driver_resumes_without_redoing_finished_jobs(tmp_path):
    jobs = [ToyJob("j1"), ToyJob("j2"), ToyJob("bad"), ToyJob("j3")]
    calls: list = []

    class Killed(Exception):
        pass

    def dying(job, out, calls):
        if job.job_id == "bad":
            raise Killed
        return toy_job(job, out, calls)

    with pytest.raises(Killed):
        run_jobs(jobs, dying, tmp_path, args=(str(tmp_path), calls), progress=False)
    assert calls == ["j1", "j2"]
    # a half-written job left behind by the kill is cleaned, never mistaken for a finished one
    (tmp_path / "jobs" / ".tmp-j3.zarr").mkdir()
    calls.clear()
    ledger, resumed = run_jobs(jobs, toy_job, tmp_path, args=(str(tmp_path), calls), progress=False)
    assert calls == ["bad", "j3"] and resumed == 2
    assert not (tmp_path / "jobs" / ".tmp-j3.zarr").exists()
    report = build_report(ledger, resumed=resumed)
    assert report["pairs"] == 1 + 2 + 3 and report["jobs_done"] == 3 and report["jobs_skipped"] == 1
    assert report["dropped"]["region"] == 6
    assert report["skipped"] == [{"job_id": "bad", "file": "bad.hdf", "reason": "truncated HDF4"}]
    assert "bad.hdf: truncated HDF4" in render_text(report)
    json.dumps(report)


def test_job_store_carries_names_units_and_coordinates_for_xarray(tmp_path):
    import xarray as xr

    from cloudbench.collocate.sample_schema import AUX_CHANNELS, DIMENSIONS
    from cloudbench.config import AUX_NAMES
    from cloudbench.sensors.registry import imager_products

    assert set(AUX_NAMES) <= set(AUX_CHANNELS)  # every aux channel has its units and CF name
    assert all(b.kind in ("vis", "ir") for p in imager_products().values() for b in p.bands.values())
    arrays = _arrays(3)
    table = _table("g1", 3).iloc[[2, 0, 1]]  # rows out of order: sample_id must still follow the rows
    attrs = {"bands": ["B13", "C02"], "aux_names": list(AUX_NAMES), "patch_size": 4, "height_edges_km": [0, 1, 2, 3.5]}
    write_job(tmp_path, "g1", arrays, table, attrs)
    ds = xr.open_zarr(tmp_path / "jobs" / "g1.zarr")
    for name, dims in DIMENSIONS.items():
        assert ds[name].dims == dims
    np.testing.assert_array_equal(ds["x"].values, arrays.x)
    np.testing.assert_array_equal(ds["profiles"].values, arrays.profiles)  # 255 stays 255, still uint8
    assert ds["sample_id"].values.tolist() == ["g1-00000", "g1-00001", "g1-00002"]
    assert ds["band_units"].values.tolist() == ["K", "%"] and "units" not in ds["x"].attrs
    assert ds["aux_units"].values.tolist() == ["degree", "degree", "degrees_north", "degrees_east"]
    np.testing.assert_allclose(ds["height"].values, [0.5, 1.5, 2.75])
    assert ds["height"].attrs["units"] == "km" and ds["track_rows"].attrs["valid_max"] == 3
