"""A windless scene on the full-resolution MTG FCI grid, collocated with and without the parallax shift,
and the figures that judge the stored labels against the scene's truth.

Shared by the FCI truth tests of every label product (CloudSat, EarthCARE): the scene is rendered on a
12-times reduced disk and repeated onto the real 5568 x 5568 grid, written only into the chunks the
pass crosses, so that between a profile and the truth its pixel shows stand only parallax, time
matching (FCI records a time per pixel) and the pixel lookup.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from cloudbench.cli import main
from cloudbench.config import DEFAULT_GRID, UNLABELED

REDUCTION = 12  # the render's grid: 464 x 464, repeated 12 x 12 onto the 5568 x 5568 grid
CHUNK_MARGIN_ROWS = 24  # patch half-size plus parallax and slack, in 2 km rows
SUB = 4  # sub-pixel samples per axis when asking whether the truth is uniform over a pixel
BAND = "ir_105"
PATCH = 16


def job_arrays(out: Path, job: str) -> dict[str, np.ndarray]:
    group = zarr.open_group(str(out / "jobs" / f"{job}.zarr"), mode="r")
    return {name: group[name][:] for name in ("x", "track_rows", "track_cols", "profiles", "n_track")}


def sample_table(out: Path) -> pd.DataFrame:
    tables = [pd.read_parquet(p) for p in sorted((out / "samples").glob("*.parquet"))]
    return pd.concat([t for t in tables if len(t)], ignore_index=True)


def slot_files(root: Path, imager_files: str) -> list[Path]:
    """Every chunk of the repeat cycle a sample was cut from (its folder), not only the chunks it used."""
    first = next(root.rglob(imager_files.split(";")[0]))
    return sorted(first.parent.glob("W_XX-EUMETSAT-*.nc"))


def build_calm_fci_archive(tmp_path_factory, start: str, end: str, region: str, labels: str, seed: int = 0) -> dict:
    """ARCHIVE/ with the ``labels`` passes over ``region`` of a windless scene and the FCI chunks they need.

    Returns the archive ``root``, the ``scene``, the full-resolution ``geometry``, the ``platform``, the
    ``chunks`` written and the ``granules`` (paths in the archive).
    """
    from cloudbench.products import fci_l1c
    from cloudbench.products.geostationary import geometry_for
    from cloudbench.synthetic.archive import write_archive
    from cloudbench.synthetic.fci_l1c import write_fci_slot
    from cloudbench.synthetic.parallax import apparent_lonlat
    from cloudbench.synthetic.scene import Scene

    scratch = tmp_path_factory.mktemp("fci_calm_reduced")
    scene = Scene(seed, np.datetime64(start, "ns"), np.datetime64(end, "ns"), wind_ms=(0.0, 0.0))
    reduced = write_archive(scratch, start=start, end=end, region=region, imager="fci", labels=(labels,),
                            bands=(BAND,), reduction=REDUCTION, seed=seed, max_dt_s=300, scene=scene)
    assert reduced.granules, f"no {labels} pass over {region} in {start} - {end}"
    root = tmp_path_factory.mktemp("fci_calm_fine")
    fine = geometry_for(reduced.platform, 1)
    assert fine.shape == (5568, 5568) and reduced.geometry.shape[0] * REDUCTION == 5568
    granules, rows = [], []
    for granule in reduced.granules:
        dest = root / granule.path.relative_to(scratch)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(granule.path, dest)
        granules.append(dest)
        # only the chunks the pass crosses (its true and apparent pixels, with a patch's margin)
        track = granule.layers
        top = np.nan_to_num(track.cloud_top_km, nan=0.0)
        alon, alat = apparent_lonlat(track.longitude, track.latitude, top, fine.sub_lon)
        _, r = fine.area().get_array_indices_from_lonlat(np.append(alon, track.longitude),
                                                         np.append(alat, track.latitude))
        rows.append(np.ma.compressed(r))
    rows = np.concatenate(rows)
    chunks = fci_l1c.chunks_for_rows(fine, int(rows.min()) - CHUNK_MARGIN_ROWS, int(rows.max()) + CHUNK_MARGIN_ROWS + 1)
    assert 0 < len(chunks) < 40
    for slot in reduced.slots:
        values = np.repeat(np.repeat(slot.rendered.bands[BAND], REDUCTION, axis=0), REDUCTION, axis=1)
        write_fci_slot(root, platform=reduced.platform, slot_start=slot.slot_start, bands={BAND: values},
                       geometry=fine, chunks=chunks)
    return {"root": root, "scene": scene, "geometry": fine, "platform": reduced.platform, "chunks": chunks,
            "granules": granules, "slots": [s.slot_start for s in reduced.slots]}


def collocate_with_and_without_parallax(root: Path, region: str, labels: str, base: Path) -> dict[str, Path]:
    """``cloudbench collocate`` on the archive, once with the parallax shift and once without (16 x 16 patches)."""
    outs = {}
    for name, extra in (("parallax", ()), ("no_parallax", ("--no-parallax",))):
        outs[name] = base / name
        with pytest.raises(SystemExit) as exc:
            main(["collocate", "--archive", str(root), "--region", region, "--out", str(outs[name]),
                  "--labels", labels, "--imager", "fci", "--bands", BAND, "--patch-size", str(PATCH),
                  "--no-progress", *extra])
        assert exc.value.code == 0
    return outs


def stored_pixels(root: Path, out: Path, open_slot) -> tuple[np.ndarray, ...]:
    """Distinct stored track pixels: rows, cols, label columns and each PIXEL's observation time (from the chunks)."""
    table = sample_table(out)
    rows, cols, labels, times = [], [], [], []
    for name, group in table.groupby("imager_files"):
        access = open_slot([str(p) for p in slot_files(root, name)], [BAND])
        for job, sel in group.groupby("job_id"):
            a = job_arrays(out, job)
            for r in sel.itertuples():
                n = int(a["n_track"][r.row])
                rr = a["track_rows"][r.row, :n].astype(np.int64) + r.patch_row0
                cc = a["track_cols"][r.row, :n].astype(np.int64) + r.patch_col0
                rows.append(rr)
                cols.append(cc)
                labels.append(a["profiles"][r.row, :n])
                times.append(access.times_at(rr, cc))
    rows, cols, labels, times = (np.concatenate(v) for v in (rows, cols, labels, times))
    _, first = np.unique(np.stack([rows, cols, times.astype(np.int64)], axis=1), axis=0, return_index=True)
    return rows[first], cols[first], labels[first], times[first]


def truth_over_footprint(scene, geometry, rows, cols, times, columns: Callable | None = None,
                         ) -> tuple[np.ndarray, np.ndarray]:
    """The truth at each pixel centre and over SUB x SUB points of it, at the pixel's own time.

    The scene is asked per row; a track crosses a row at one or two adjacent pixels, whose times
    differ by milliseconds, so the row holds the time of one of them. ``columns`` is the rule from
    layers to columns (None: the exact layers; a label product's ``ideal_columns``: its own sampling).
    """
    assert not np.isnat(times).any()
    line_times = np.full(geometry.shape[0], np.datetime64("NaT"), dtype="datetime64[ns]")
    line_times[rows] = times
    return scene.footprint_truth(geometry, rows, cols, line_times, DEFAULT_GRID, sub=SUB, columns=columns)


def single_column_scores(scene, geometry, pixels: tuple[np.ndarray, ...], columns: Callable | None = None) -> dict:
    """The criterion's figures for stored pixels ``(rows, cols, labels, times)`` against the truth.

    ``equal_where_uniform``: among labeled pixels whose footprint holds a single truth column, the share
    whose stored column is exactly that column; ``equal_centre``: the same over every labeled pixel,
    against the truth at its centre; ``bins_equal_where_both_label``: the share of bins that agree
    where both the stored column and the truth label them, over the single-column pixels.
    """
    rows, cols, labels, times = pixels
    centre, over = truth_over_footprint(scene, geometry, rows, cols, times, columns)
    uniform = (over == centre[:, None, :]).all(axis=(1, 2))
    labeled = (labels != UNLABELED).any(axis=1)
    equal = (labels == centre).all(axis=1)
    counted = labeled & uniform
    both = (labels != UNLABELED) & (centre != UNLABELED) & counted[:, None]
    return {"pixels": int(labeled.sum()), "uniform": float(uniform[labeled].mean()),
            "single_column_pixels": int(counted.sum()),
            "equal_where_uniform": float(equal[counted].mean()),
            "equal_centre": float(equal[labeled].mean()),
            "bins_equal_where_both_label": float((labels == centre)[both].mean())}
