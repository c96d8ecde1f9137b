"""End to end: ``cloudbench collocate`` on a synthetic archive, checked against the scene's truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from cloudbench.cli import main
from cloudbench.config import DEFAULT_GRID, parse_region

BASE = ["--labels", "cldclass-lidar", "--imager", "himawari", "--bands", "B13", "--patch-size", "16",
        "--no-progress"]


def run_cli(archive_root: Path, out: Path, *extra: str, region: str = "120,-40,160,40") -> int:
    with pytest.raises(SystemExit) as exc:
        main(["collocate", "--archive", str(archive_root), "--region", region, "--out", str(out), *BASE, *extra])
    return exc.value.code


def load_pairs(out: Path) -> tuple[pd.DataFrame, dict[str, dict[str, np.ndarray]]]:
    tables = [pd.read_parquet(p) for p in sorted((out / "samples").glob("*.parquet"))]
    table = pd.concat([t for t in tables if len(t)], ignore_index=True).sort_values("sample_id", ignore_index=True)
    arrays = {}
    for job in table["job_id"].unique():
        group = zarr.open_group(str(out / "jobs" / f"{job}.zarr"), mode="r")
        arrays[job] = {name: group[name][:] for name in ("x", "aux", "track_rows", "track_cols", "profiles", "n_track")}
    return table, arrays


def good_archive(synthetic_archive, tmp_path) -> Path:
    """The archive without the truncated granule."""
    import shutil

    root = tmp_path / "good"
    if root.exists():
        return root
    shutil.copytree(synthetic_archive["root"], root, ignore=lambda d, names: [
        n for n in names if n == synthetic_archive["broken"].name])
    return root


@pytest.fixture(scope="module")
def no_parallax_run(synthetic_archive, tmp_path_factory):
    base = tmp_path_factory.mktemp("nopx")
    out = base / "np"
    assert run_cli(good_archive(synthetic_archive, base), out, "--no-parallax") == 0
    return out


@pytest.fixture(scope="module")
def serial_run(synthetic_archive, tmp_path_factory):
    out = tmp_path_factory.mktemp("pairs") / "serial"
    code = run_cli(synthetic_archive["root"], out)
    return code, out


def track_pixels_of(out: Path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(row, col, label column, slot line times per pixel) of every stored track pixel."""
    table, arrays = load_pairs(out)
    rows, cols, labels, sample = [], [], [], []
    for i, r in table.iterrows():
        a = arrays[r.job_id]
        n = int(a["n_track"][r.row])
        rows.append(a["track_rows"][r.row, :n] + r.patch_row0)
        cols.append(a["track_cols"][r.row, :n] + r.patch_col0)
        labels.append(a["profiles"][r.row, :n])
        sample.append(np.full(n, i))
    return table, np.concatenate(rows), np.concatenate(cols), np.concatenate(labels), np.concatenate(sample)


def truth_agreement(synthetic_archive, out: Path) -> tuple[float, float]:
    """Fraction of labeled track pixels whose column equals the imager-seen truth, and of labeled cells."""
    from cloudbench.collocate.imager_access import SlotReader
    from cloudbench.collocate.jobs import plan_jobs

    archive = synthetic_archive["archive"]
    table, rows, cols, labels, sample = track_pixels_of(out)
    slots = {s.start.strftime("%H%M"): s for s in plan_jobs(synthetic_archive["root"], "cldclass-lidar",
                                                            "himawari", 300)[0].slots}
    truth = np.empty_like(labels)
    for i, r in table.iterrows():
        hhmm = r.imager_files.split(";")[0].split("_")[3]
        reader = SlotReader(slots[hhmm], ("B13",))
        line_times = reader.line_times(np.arange(reader.area.height))
        sel = sample == i
        truth[sel] = archive.scene.apparent_truth(archive.geometry, rows[sel], cols[sel], line_times, DEFAULT_GRID)
    labeled = (labels != 255).any(axis=1)
    columns = ((labels == truth).all(axis=1) & labeled).sum() / labeled.sum()
    cells = (labels != 255) & (truth != 255)
    return float(columns), float((labels == truth)[cells].mean())


def test_corrupt_granule_is_skipped_and_reported(serial_run, synthetic_archive):
    code, out = serial_run
    assert code == 3
    report = json.loads((out / "report.json").read_text())
    assert report["jobs_done"] == 2 and report["jobs_skipped"] == 1
    (skipped,) = report["skipped"]
    assert Path(skipped["file"]).name == synthetic_archive["broken"].name and skipped["reason"]
    assert synthetic_archive["broken"].name in (out / "report.txt").read_text()
    assert report["pairs"] > 20
    ledger = [json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines()]
    assert sorted(e["status"] for e in ledger) == ["done", "done", "skipped"]


def test_pairs_layout_matches_the_contract(serial_run):
    from cloudbench.collocate.pairs_store import SAMPLE_COLUMNS

    _, out = serial_run
    table, arrays = load_pairs(out)
    assert list(table.columns) == list(SAMPLE_COLUMNS)
    config = json.loads((out / "config.json").read_text())
    assert config["patch_size"] == 16 and config["bands"] == ["B13"] and len(config["aux_names"]) == 4
    for job, a in arrays.items():
        n = len(table[table.job_id == job])
        assert a["x"].shape == (n, 1, 16, 16) and a["aux"].shape == (n, 4, 16, 16)
        assert a["track_rows"].shape == (n, 32) and a["profiles"].shape == (n, 32, DEFAULT_GRID.n)
        assert np.all(a["n_track"] >= 8)
        assert np.isfinite(a["x"]).all()
        assert ((a["x"] > 180) & (a["x"] < 330)).all()  # brightness temperatures
    assert (table["dt_s"].abs() <= 300).all()
    assert table["sample_id"].is_unique


def test_labels_match_the_truth_the_imager_sees(serial_run, no_parallax_run, synthetic_archive):
    _, out = serial_run
    columns, cells = truth_agreement(synthetic_archive, out)
    # 20 km pixels (reduction 10) hold ~18 radar rays each: the vote across them and the truth at the
    # pixel centre differ at cloud edges and by a bin where a dome top crosses a bin edge.
    assert cells >= 0.98
    columns_np, cells_np = truth_agreement(synthetic_archive, no_parallax_run)
    assert columns > columns_np and cells > cells_np


def test_parallax_moves_high_cloud_pixels_by_the_geometric_displacement(serial_run, no_parallax_run,
                                                                        synthetic_archive):
    from cloudbench.collocate.geometry import pixel_indices
    from cloudbench.readers.cloudsat_cldclass_lidar import read_cldclass_lidar
    from cloudbench.synthetic.parallax import apparent_lonlat

    _, out = serial_run
    no_parallax = no_parallax_run
    area = synthetic_archive["archive"].geometry.area()
    prof = read_cldclass_lidar(synthetic_archive["granule"], DEFAULT_GRID)
    cth = prof["cloud_top_height"].values
    high = np.flatnonzero(cth > 9000)
    assert high.size > 50
    lon, lat = prof["longitude"].values[high], prof["latitude"].values[high]
    alon, alat = apparent_lonlat(lon, lat, cth[high] / 1000.0, 140.7)
    r_true, c_true, _ = pixel_indices(area, lon, lat)
    r_app, c_app, _ = pixel_indices(area, alon, alat)
    moved = (r_true != r_app) | (c_true != c_app)
    assert moved.sum() >= 5  # the displacement crosses pixel borders for some of them

    def stored(run_out):
        _, rows, cols, _, _ = track_pixels_of(run_out)
        return set(zip(rows.tolist(), cols.tolist(), strict=True))

    with_px, without_px = stored(out), stored(no_parallax)
    app = list(zip(r_app[moved].tolist(), c_app[moved].tolist(), strict=True))
    true = list(zip(r_true[moved].tolist(), c_true[moved].tolist(), strict=True))
    assert np.mean([p in with_px for p in app]) >= 0.99
    assert np.mean([p in without_px for p in true]) >= 0.99


def test_per_line_times_match_where_file_start_is_too_far(synthetic_archive, tmp_path):
    out = tmp_path / "dt"
    assert run_cli(good_archive(synthetic_archive, tmp_path), out, "--max-dt", "60") == 0
    table, _ = load_pairs(out)
    report = json.loads((out / "report.json").read_text())
    slot_start = pd.to_datetime(table["imager_files"].str.split("_").str[2] + table["imager_files"].str.split("_").str[3],
                                format="%Y%m%d%H%M")
    from_file_start = (table["time"] - slot_start).dt.total_seconds().abs()
    assert len(table) > 0 and (table["dt_s"].abs() <= 60).all()
    assert (from_file_start > 60).all()  # matching on the file's start time would have found nothing
    assert report["dropped"]["time"] > 0  # profiles truly more than 60 s from any line are dropped
    got = (table["time"] - table["line_time"]).dt.total_seconds()
    np.testing.assert_allclose(got, table["dt_s"], atol=1.0)


def test_region_filter(synthetic_archive, tmp_path):
    out = tmp_path / "region"
    assert run_cli(good_archive(synthetic_archive, tmp_path), out, region="130,-10,150,10") == 0
    table, _ = load_pairs(out)
    report = json.loads((out / "report.json").read_text())
    assert len(table) > 0 and report["dropped"]["region"] > 0
    assert parse_region("130,-10,150,10").contains(table["lon"].values, table["lat"].values).all()


def test_day_night_filter(synthetic_archive, tmp_path):
    out = tmp_path / "night"
    assert run_cli(good_archive(synthetic_archive, tmp_path), out, "--day-night", "night") == 0
    report = json.loads((out / "report.json").read_text())
    day = tmp_path / "day"
    assert run_cli(good_archive(synthetic_archive, tmp_path), day, "--day-night", "day") == 0
    report_day = json.loads((day / "report.json").read_text())
    # CloudSat flies in daylight: asking for night keeps nothing, asking for day drops nothing by that rule
    assert report["pairs"] == 0 and report["dropped"]["day_night"] == report["profiles_read"]
    assert report_day["pairs"] > 0 and report_day["dropped"]["day_night"] == 0


def test_satellite_zenith_filter(synthetic_archive, tmp_path):
    out = tmp_path / "sza"
    assert run_cli(good_archive(synthetic_archive, tmp_path), out, "--max-sza", "25") == 0
    table, _ = load_pairs(out)
    report = json.loads((out / "report.json").read_text())
    assert len(table) > 0 and report["dropped"]["sat_zenith"] > 0
    assert (table["sat_zenith"] <= 25).all()
