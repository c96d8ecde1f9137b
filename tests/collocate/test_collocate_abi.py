"""GOES ABI end to end: ``cloudbench collocate --imager goes-east`` on a synthetic GOES-16 archive.

The ABI path differs from the AHI one in every file-level detail (one netCDF per band and slot, no
segments, line times from the scan's start and end), so it gets its own run: the patches must hold
what satpy's ``abi_l1b`` reader gives for the same pixels, and the labels the truth the imager sees.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import zarr

from cloudbench.config import DEFAULT_GRID

START, END = "2019-10-01T18:55", "2019-10-01T19:35"
REGION = "-100,-40,-50,40"
P = 16  # the patch size calm_collocation runs with


@pytest.fixture(scope="module")
def abi_run(calm_collocation):
    return calm_collocation(START, END, REGION, "goes-east", "cldclass-lidar", "C13")


def _job_arrays(out: Path, job: str) -> dict[str, np.ndarray]:
    group = zarr.open_group(str(out / "jobs" / f"{job}.zarr"), mode="r")
    return {name: group[name][:] for name in ("x", "track_rows", "track_cols", "profiles", "n_track")}


def test_abi_patches_hold_what_satpy_reads(abi_run):
    from satpy import Scene as SatpyScene

    assert abi_run["code"] == 0
    table = abi_run["table"]
    assert len(table) >= 5
    assert set(table["platform"]) == {"goes16"}
    assert table["imager_files"].str.match(r"OR_ABI-L1b-RadF-M\dC13_G16_s\d{14}_e\d{14}_c\d{14}\.nc$").all()
    files = {p.name: p for p in abi_run["root"].rglob("OR_ABI-L1b-RadF-*.nc")}
    checked = 0
    for name, group in table.groupby("imager_files"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scn = SatpyScene(filenames=[str(files[name])], reader="abi_l1b")
            scn.load(["C13"])
            values = scn["C13"].values
        for job, rows in group.groupby("job_id"):
            x = _job_arrays(abi_run["out"], job)["x"]
            for r in rows.itertuples():
                expected = values[r.patch_row0:r.patch_row0 + P, r.patch_col0:r.patch_col0 + P]
                np.testing.assert_allclose(x[r.row, 0], expected, rtol=1e-5, atol=1e-3)
                checked += 1
    assert checked == len(table)


def test_abi_labels_are_the_truth_the_imager_sees(abi_run):
    """On pixels with one truth column over the footprint, the stored column is that column.

    ABI has no per-line time stamps: lines are placed linearly between the file's scan start and end,
    which is also how the synthetic scan is rendered, so the truth is evaluated at those times.
    """
    from cloudbench.readers.slot_access import open_slot

    assert abi_run["code"] == 0
    scene, geometry = abi_run["archive"].scene, abi_run["archive"].geometry
    area = geometry.area()
    files = {p.name: p for p in abi_run["root"].rglob("OR_ABI-L1b-RadF-*.nc")}
    rows, cols, labels, times = [], [], [], []
    for name, group in abi_run["table"].groupby("imager_files"):
        reader = open_slot((str(files[name]),), ("C13",))
        line_times = reader.line_times(np.arange(reader.area.height))
        for job, sel in group.groupby("job_id"):
            a = _job_arrays(abi_run["out"], job)
            for r in sel.itertuples():
                n = int(a["n_track"][r.row])
                rr = a["track_rows"][r.row, :n].astype(np.int64) + r.patch_row0
                rows.append(rr)
                cols.append(a["track_cols"][r.row, :n].astype(np.int64) + r.patch_col0)
                labels.append(a["profiles"][r.row, :n])
                times.append(line_times[rr])
    rows, cols, labels, times = (np.concatenate(v) for v in (rows, cols, labels, times))
    _, first = np.unique(np.stack([rows, cols], axis=1), axis=0, return_index=True)
    rows, cols, labels, times = rows[first], cols[first], labels[first], times[first]

    line_times = np.full(area.height, np.datetime64("NaT"), dtype="datetime64[ns]")
    line_times[rows] = times
    centre, over = scene.footprint_truth(geometry, rows, cols, line_times, DEFAULT_GRID)
    uniform = (over == centre[:, None, :]).all(axis=(1, 2))
    labeled = (labels != 255).any(axis=1)
    equal = (labels == centre).all(axis=1)
    print({"pixels": int(labeled.sum()), "uniform": float(uniform[labeled].mean()),
           "equal_where_uniform": float(equal[labeled & uniform].mean())})
    assert (labeled & uniform).sum() >= 30
    assert equal[labeled & uniform].mean() >= 0.98
