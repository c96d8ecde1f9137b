"""EarthCARE end to end: ``cloudbench collocate --labels earthcare-ac-tc`` on the full-resolution AHI grid
of a windless 2025 scene, checked against the scene's truth, with and without the parallax shift.

The criterion is CloudSat's (tests/collocate/test_collocate_e2e.py), adapted to a product of ~100 m
cells that says where it is blind: on track pixels whose footprint holds one truth column, the stored
column must be that column on every bin the product labels, except bins next to a change of the truth
column (a layer top or base, placed by 100 m cells, can fall either way under the third/half rules).
Bins the product leaves unlabeled (below an opaque layer where the radar sees nothing) do not count.

The archive is built here from the product's own synthetic hooks; the collocation runs once
``earthcare-ac-tc`` is a ``--labels`` choice (until then the tests are skipped, saying why).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cloudbench.config import DEFAULT_GRID, UNLABELED, parse_region

START, END = "2025-06-17T03:50", "2025-06-17T04:35"  # EarthCARE's daytime pass over 130-150 E at ~04:10
FINE_REGION = "130,-15,150,15"
PLATFORM = "himawari9"
PATCH_MARGIN_ROWS = 24
SLOT_MARGIN_S = 300


def _labels_choice_wired() -> bool:
    try:
        from cloudbench.sensors import registry

        return "earthcare-ac-tc" in registry.label_choices()
    except Exception:
        return False


def _longest_run(inside: np.ndarray) -> slice | None:
    if not inside.any():
        return None
    edges = np.flatnonzero(np.diff(np.concatenate([[0], inside.astype(np.int8), [0]])))
    k = int(np.argmax(edges[1::2] - edges[0::2]))
    return slice(int(edges[0::2][k]), int(edges[1::2][k]))


def build_calm_fine_earthcare_archive(root: Path) -> dict:
    """One AC__TC__2B pass over FINE_REGION of a windless scene and the AHI segments it needs, at 2 km."""
    from cloudbench.products.geostationary import geometry_for
    from cloudbench.sensors.earthcare import EarthcareAcTc
    from cloudbench.synthetic.ahi_hsd import write_ahi_slot
    from cloudbench.synthetic.orbit import sample_times
    from cloudbench.synthetic.parallax import apparent_lonlat
    from cloudbench.synthetic.render import render_slot
    from cloudbench.synthetic.scene import Scene

    start, end = np.datetime64(START, "ns"), np.datetime64(END, "ns")
    region = parse_region(FINE_REGION)
    scene = Scene(0, start, end, wind_ms=(0.0, 0.0))
    product = EarthcareAcTc()
    granules = []
    for g in product.synthetic_granules(start, end):
        times = sample_times(g.start, g.end, product.synthetic_sample_interval_s())
        lat, lon = product.synthetic_subpoint(times)
        run = _longest_run(region.contains(lon, lat) & (times >= start) & (times < end))
        if run is None:
            continue
        layers = scene.layers_at(lon[run], lat[run], times[run])
        granules.append((product.write_synthetic(root, layers, g), layers))
    reduction = 10
    reduced, fine = geometry_for(PLATFORM, reduction), geometry_for(PLATFORM, 1)
    rows_needed = []
    for _, layers in granules:
        top = np.nan_to_num(layers.cloud_top_km, nan=0.0)
        alon, alat = apparent_lonlat(layers.longitude, layers.latitude, top, fine.sub_lon)
        _, rows = fine.area().get_array_indices_from_lonlat(np.append(alon, layers.longitude),
                                                            np.append(alat, layers.latitude))
        rows_needed.append(np.ma.compressed(rows))
    rows = np.concatenate(rows_needed)
    seg_rows = fine.unit_lines(2.0)
    segments = sorted({int(r // seg_rows) + 1 for r in np.concatenate([rows - PATCH_MARGIN_ROWS, rows + PATCH_MARGIN_ROWS])
                       if 0 <= r < fine.shape[0]})
    first = min(layers.time[0] for _, layers in granules).astype("datetime64[us]").astype(datetime)
    last = max(layers.time[-1] for _, layers in granules).astype("datetime64[us]").astype(datetime)
    slot = datetime(2025, 6, 17, 3, 50, tzinfo=UTC)
    slots = []
    while slot < datetime(2025, 6, 17, 4, 35, tzinfo=UTC):
        if slot - timedelta(seconds=SLOT_MARGIN_S) <= last.replace(tzinfo=UTC) and \
                first.replace(tzinfo=UTC) <= slot + timedelta(minutes=10, seconds=SLOT_MARGIN_S):
            slots.append(slot)
        slot += timedelta(minutes=10)
    for slot in slots:
        rendered = render_slot(scene, reduced, slot, ["B13"], seed=0, roi=region)
        values = np.repeat(np.repeat(rendered.bands["B13"], reduction, axis=0), reduction, axis=1)
        write_ahi_slot(root, platform=PLATFORM, slot_start=slot, bands={"B13": values}, geometry=fine, segments=segments)
    return {"root": root, "scene": scene, "geometry": fine, "granules": granules, "segments": segments, "slots": slots}


@pytest.fixture(scope="module")
def ec_archive(tmp_path_factory):
    return build_calm_fine_earthcare_archive(tmp_path_factory.mktemp("ec_calm_fine"))


@pytest.mark.slow
def test_the_archive_has_one_pass_and_its_slots(ec_archive):
    """The archive itself: one AC__TC__2B pass inside the region, the AHI slots and segments around it."""
    arch = ec_archive
    ((path, layers),) = arch["granules"]
    assert path.relative_to(arch["root"]).parts[:2] == ("earthcare", "AC__TC__2B") and layers.n > 1000
    assert parse_region(FINE_REGION).contains(layers.longitude, layers.latitude).all()
    assert 2 <= len(arch["slots"]) <= 5 and arch["segments"]
    assert len(list(arch["root"].rglob("HS_H09_*"))) == len(arch["slots"]) * len(arch["segments"])


@pytest.fixture(scope="module")
def calm_runs(ec_archive, tmp_path_factory):
    if not _labels_choice_wired():
        pytest.skip("earthcare-ac-tc is not a --labels choice of collocate yet")
    from cloudbench.cli import main

    arch = ec_archive
    outs = {}
    for name, extra in (("parallax", ()), ("no_parallax", ("--no-parallax",))):
        out = tmp_path_factory.mktemp("ec_pairs") / name
        with pytest.raises(SystemExit) as exc:
            main(["collocate", "--archive", str(arch["root"]), "--region", FINE_REGION, "--out", str(out),
                  "--labels", "earthcare-ac-tc", "--imager", "himawari", "--bands", "B13", "--patch-size", "16",
                  "--no-progress", *extra])
        assert exc.value.code == 0
        outs[name] = out
    return arch, outs


def _stored_pixels(out: Path):
    import zarr

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


@pytest.mark.slow
def test_labels_match_the_truth_the_imager_sees(calm_runs):
    arch, outs = calm_runs
    scores = {}
    for name, out in outs.items():
        table, rows, cols, labels = _stored_pixels(out)
        assert set(table["label_product"]) == {"earthcare-ac-tc"}
        line_times = np.full(arch["geometry"].area().height, np.datetime64("2025-06-17T04:10", "ns"))  # no wind
        centre, sub = arch["scene"].footprint_truth(arch["geometry"], rows, cols, line_times, DEFAULT_GRID, sub=4)
        uniform = (sub == centre[:, None, :]).all(axis=(1, 2))
        labeled = (labels != UNLABELED).any(axis=1)
        change = np.zeros(centre.shape, dtype=bool)
        change[:, 1:] |= centre[:, 1:] != centre[:, :-1]
        change[:, :-1] |= centre[:, :-1] != centre[:, 1:]
        counted = (labels != UNLABELED) & (centre != UNLABELED) & ~change
        equal = ((labels == centre) | ~counted).all(axis=1)
        scores[name] = {
            "pixels": int((labeled & uniform).sum()),
            "equal_where_uniform": float(equal[labeled & uniform].mean()),
            "exact_column_where_uniform": float((labels == centre).all(axis=1)[labeled & uniform].mean()),
            "bins_counted": float(counted[labeled & uniform].mean()),
        }
    print(scores)
    with_px, without_px = scores["parallax"], scores["no_parallax"]
    assert with_px["pixels"] > 500, scores
    assert with_px["equal_where_uniform"] >= 0.99, scores
    assert without_px["equal_where_uniform"] < with_px["equal_where_uniform"] - 0.005, scores
