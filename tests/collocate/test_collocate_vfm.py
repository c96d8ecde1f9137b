"""CALIPSO VFM labels end to end: ``cloudbench collocate --labels vfm`` on a synthetic archive.

The lidar sees what CloudSat's merged product does only down to an optical depth of about 3 and never
calls a layer mixed, so the checks are the lidar's: every bin it labels is the truth (mixed-phase
layers read as water), nothing is labeled mixed, and below an opaque layer bins are unlabeled, not clear.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from cloudbench.config import DEFAULT_GRID, MIXED, UNLABELED, WATER

START, END = "2018-10-01T03:50", "2018-10-01T04:30"
REGION = "120,-40,160,40"


@pytest.fixture(scope="module")
def vfm_run(calm_collocation):
    return calm_collocation(START, END, REGION, "himawari", "vfm", "B13")


def _stored(out: Path):
    table = pd.concat([pd.read_parquet(p) for p in sorted((out / "samples").glob("*.parquet"))], ignore_index=True)
    rows, cols, labels = [], [], []
    for job, sel in table.groupby("job_id"):
        group = zarr.open_group(str(out / "jobs" / f"{job}.zarr"), mode="r")
        a = {name: group[name][:] for name in ("track_rows", "track_cols", "profiles", "n_track")}
        for r in sel.itertuples():
            n = int(a["n_track"][r.row])
            rows.append(a["track_rows"][r.row, :n].astype(np.int64) + r.patch_row0)
            cols.append(a["track_cols"][r.row, :n].astype(np.int64) + r.patch_col0)
            labels.append(a["profiles"][r.row, :n])
    rows, cols, labels = (np.concatenate(v) for v in (rows, cols, labels))
    _, first = np.unique(np.stack([rows, cols], axis=1), axis=0, return_index=True)
    return table, rows[first], cols[first], labels[first]


def test_vfm_labels_are_the_truth_the_lidar_sees(vfm_run):
    assert vfm_run["code"] == 0
    table, rows, cols, labels = _stored(vfm_run["out"])
    assert len(table) >= 5 and set(table["label_product"]) == {"vfm"}
    assert table["granule_id"].str.startswith("CAL_LID_L2_VFM").all()
    assert not (labels == MIXED).any()  # the lidar alone never calls a layer mixed

    scene, geometry = vfm_run["archive"].scene, vfm_run["archive"].geometry
    area = geometry.area()
    line_times = np.full(area.height, np.datetime64("2018-10-01T04:10", "ns"))  # no wind: time does not matter
    centre, over = scene.footprint_truth(geometry, rows, cols, line_times, DEFAULT_GRID)
    uniform = (over == centre[:, None, :]).all(axis=(1, 2))
    lidar_truth = np.where(centre == MIXED, WATER, centre)

    seen = (labels != UNLABELED) & (lidar_truth != UNLABELED)
    pixels = uniform & seen.any(axis=1)
    wrong = seen & (labels != lidar_truth) & pixels[:, None]
    # a bin next to a change of the truth column: a layer top or base, which the lidar places to its
    # 30 m (60 m above 8.2 km) cells, so the bin's 1/3 cloud-cover rule can fall either way there
    change = np.zeros_like(seen)
    change[:, 1:] |= lidar_truth[:, 1:] != lidar_truth[:, :-1]
    change[:, :-1] |= lidar_truth[:, :-1] != lidar_truth[:, 1:]
    truth_cloud = (lidar_truth != UNLABELED) & (lidar_truth != 0)
    under_cloud = pixels[:, None] & truth_cloud
    scores = {
        "pixels": int(pixels.sum()),
        "bins_agree": float(1 - wrong.sum() / seen[pixels].sum()),
        "wrong_at_boundary": float(wrong[change].sum() / max(wrong.sum(), 1)),
        "cloud_bins_labeled": float((under_cloud & (labels != UNLABELED)).sum() / under_cloud.sum()),
        "cloud_bins_called_clear": float((under_cloud & (labels == 0)).sum() / under_cloud.sum()),
    }
    print(scores)
    assert scores["pixels"] >= 30
    assert scores["bins_agree"] >= 0.99, scores
    assert scores["wrong_at_boundary"] >= 0.95, scores
    # the lidar stops at opaque layers: cloud bins beneath go unlabeled, they are not called clear
    assert scores["cloud_bins_labeled"] < 0.9, scores
    assert scores["cloud_bins_called_clear"] < 0.02, scores
