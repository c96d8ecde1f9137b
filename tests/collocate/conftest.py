"""Synthetic archives shared by the collocation end-to-end tests (built once per session).

- ``synthetic_archive``: a reduced disk (20 km pixels), one pass, four AHI slots, the scene's default
  wind; plus a second copy of the granule under another orbit's name and a truncated one. Used for
  the pipeline's plumbing (reports, layout, filters, workers, resume) and for the advection test.
- ``calm_fine_archive``: the real 2 km grid and a scene without wind, so that the only things
  between a profile and the truth its pixel shows are parallax, time matching and the pixel lookup.
  Only the HSD segments the pass crosses are written, with the band values of the reduced render
  repeated onto the 2 km grid (the labels, not the radiances, are under test there).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

START, END = "2018-10-01T03:50", "2018-10-01T04:30"
REGION = "120,-40,160,40"
FINE_REGION = "130,-15,150,15"
PATCH_MARGIN_ROWS = 24  # patch half-size (8 at P = 16) plus parallax and slack, in 2 km rows


@pytest.fixture(scope="session")
def synthetic_archive(tmp_path_factory):
    """ARCHIVE/ with one real granule, a second copy of it under another orbit's name, and a truncated one."""
    from cloudbench.synthetic.archive import write_archive

    root = tmp_path_factory.mktemp("archive")
    archive = write_archive(root, start=START, end=END, region=REGION, imager="himawari",
                            labels=("cldclass-lidar",), bands=("B13",), reduction=10, seed=0, max_dt_s=300)
    (granule,) = archive.granules
    src = Path(granule.path)
    twin = src.with_name(src.name.replace("_65576_", "_65599_").replace("035853", "035854"))
    shutil.copy(src, twin)
    broken = src.with_name(src.name.replace("_65576_", "_65598_").replace("035853", "035852"))
    broken.write_bytes(src.read_bytes()[: src.stat().st_size // 3])
    return {"root": root, "archive": archive, "granule": src, "twin": twin, "broken": broken}


@pytest.fixture(scope="session")
def calm_fine_archive(tmp_path_factory):
    """A windless scene on the full-resolution 2 km AHI grid: one granule, the slots and segments it needs."""
    from cloudbench.products.geostationary import geometry_for
    from cloudbench.synthetic.ahi_hsd import write_ahi_slot
    from cloudbench.synthetic.archive import write_archive
    from cloudbench.synthetic.parallax import apparent_lonlat
    from cloudbench.synthetic.scene import Scene

    scratch = tmp_path_factory.mktemp("calm_reduced")
    scene = Scene(0, np.datetime64(START, "ns"), np.datetime64(END, "ns"), wind_ms=(0.0, 0.0))
    reduction = 10
    reduced = write_archive(scratch, start=START, end=END, region=FINE_REGION, imager="himawari",
                            labels=("cldclass-lidar",), bands=("B13",), reduction=reduction, seed=0,
                            max_dt_s=300, scene=scene)
    root = tmp_path_factory.mktemp("calm_fine")
    (granule,) = reduced.granules
    dest = root / granule.path.relative_to(scratch)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(granule.path, dest)

    fine = geometry_for(reduced.platform, 1)
    track = granule.layers
    top = np.nan_to_num(track.cloud_top_km, nan=0.0)
    alon, alat = apparent_lonlat(track.longitude, track.latitude, top, fine.sub_lon)
    cols, rows = fine.area().get_array_indices_from_lonlat(np.append(alon, track.longitude),
                                                           np.append(alat, track.latitude))
    rows = np.ma.compressed(rows)
    seg_rows = fine.unit_lines(2.0)
    segments = sorted({int(r // seg_rows) + 1 for r in np.concatenate(
        [rows - PATCH_MARGIN_ROWS, rows + PATCH_MARGIN_ROWS]) if 0 <= r < fine.shape[0]})
    for slot in reduced.slots:
        values = np.repeat(np.repeat(slot.rendered.bands["B13"], reduction, axis=0), reduction, axis=1)
        write_ahi_slot(root, platform=reduced.platform, slot_start=slot.slot_start, bands={"B13": values},
                       geometry=fine, segments=segments)
    return {"root": root, "scene": scene, "geometry": fine, "granule": dest, "region": FINE_REGION,
            "segments": segments}


@pytest.fixture(scope="session")
def calm_collocation(tmp_path_factory):
    """Build a windless synthetic archive and run ``cloudbench collocate`` on it (16 x 16 patches).

    Returns a function ``(start, end, region, imager, labels, bands)`` -> dict with the CLI's exit
    ``code``, the archive ``root``, the ``archive`` object (scene and geometry), the PAIRS ``out``
    folder and the sample ``table``.
    """
    import pandas as pd

    from cloudbench.cli import main
    from cloudbench.synthetic.archive import write_archive
    from cloudbench.synthetic.scene import Scene

    def run(start: str, end: str, region: str, imager: str, labels: str, bands: str) -> dict:
        root = tmp_path_factory.mktemp(f"calm_{imager}_{labels}")
        scene = Scene(0, np.datetime64(start, "ns"), np.datetime64(end, "ns"), wind_ms=(0.0, 0.0))
        archive = write_archive(root, start=start, end=end, region=region, imager=imager, labels=(labels,),
                                bands=tuple(bands.split(",")), reduction=10, seed=0, max_dt_s=300, scene=scene)
        out = tmp_path_factory.mktemp(f"calm_{imager}_{labels}_pairs") / "pairs"
        with pytest.raises(SystemExit) as exc:
            main(["collocate", "--archive", str(root), "--region", region, "--out", str(out), "--labels", labels,
                  "--imager", imager, "--bands", bands, "--patch-size", "16", "--no-progress"])
        tables = [pd.read_parquet(p) for p in sorted((out / "samples").glob("*.parquet"))]
        table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
        return {"code": exc.value.code, "root": root, "archive": archive, "out": out, "table": table}

    return run


@pytest.fixture(scope="module")
def moto_s3():
    """moto's S3 server on loopback, reachable from other processes (dask workers) over HTTP."""
    from cloudbench.sources.local_servers import MotoS3Server

    with MotoS3Server() as server:
        yield server


@pytest.fixture()
def s3_config(moto_s3, monkeypatch):
    """fsspec's configuration pointed at the loopback server, in this process and (by environment
    variables) in processes started from it, as a cluster's workers would be configured."""
    import fsspec.config

    conf = {"endpoint_url": moto_s3.endpoint, "key": "testing", "secret": "testing"}
    monkeypatch.setitem(fsspec.config.conf, "s3", conf)
    for key, value in conf.items():
        monkeypatch.setenv(f"FSSPEC_S3_{key.upper()}", value)
    return conf


@pytest.fixture()
def s3_requests(moto_s3, tmp_path, monkeypatch):
    """A function returning the requests the server received since the fixture started: dicts with
    ``method``, ``bucket``, ``key`` and ``range`` ((start, end) inclusive, or None), counted at the server."""
    import json
    from urllib.parse import unquote, urlparse

    import moto.moto_api
    import requests

    log = tmp_path / "requests.jsonl"
    monkeypatch.setattr(moto.moto_api.recorder, "_location", str(log))
    api = f"{moto_s3.endpoint}/moto-api/recorder"
    requests.post(f"{api}/reset-recording", timeout=10).raise_for_status()
    requests.post(f"{api}/start-recording", timeout=10).raise_for_status()

    def so_far() -> list[dict]:
        out = []
        for line in log.read_text().splitlines() if log.exists() else []:
            e = json.loads(line)
            path = unquote(urlparse(e["url"]).path).lstrip("/")
            bucket, _, key = path.partition("/")
            rng = {k.lower(): v for k, v in e["headers"].items()}.get("range")
            span = None
            if rng:
                lo, hi = rng.split("=", 1)[1].split("-")
                span = (int(lo), int(hi))
            out.append({"method": e["method"], "bucket": bucket, "key": key, "range": span})
        return out

    yield so_far
    requests.post(f"{api}/stop-recording", timeout=10).raise_for_status()


def upload_tree(server, root, bucket: str, prefix: str) -> list[str]:
    """Upload every file under ``root`` to ``s3://bucket/prefix/...``; returns the keys."""
    keys = []
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        key = f"{prefix}/{path.relative_to(root).as_posix()}"
        server.put(bucket, key, path.read_bytes())
        keys.append(key)
    return keys


def pairs_equal(a, b) -> list[str]:
    """Differences between two PAIRS/ (folders or URLs): sample tables and every job array, exactly."""
    import io

    import pandas as pd
    import zarr

    from cloudbench.storage import Location

    la, lb = Location(str(a)), Location(str(b))
    problems = []
    tables_a, tables_b = la.list_files("samples"), lb.list_files("samples")
    if tables_a != tables_b:
        return [f"sample tables differ: {tables_a} vs {tables_b}"]
    for rel in tables_a:
        if la.read_bytes(rel) != lb.read_bytes(rel):
            ta, tb = (pd.read_parquet(io.BytesIO(x.read_bytes(rel))) for x in (la, lb))
            problems.append(f"{rel}: table bytes differ (frames {'equal' if ta.equals(tb) else 'differ'})")
        job = rel.split("/", 1)[1].rsplit(".", 1)[0]
        ga = zarr.open_group(la.zarr_store(f"jobs/{job}.zarr"), mode="r")
        gb = zarr.open_group(lb.zarr_store(f"jobs/{job}.zarr"), mode="r")
        for name in ("x", "aux", "track_rows", "track_cols", "profiles", "n_track"):
            xa, xb = ga[name][...], gb[name][...]
            if xa.dtype != xb.dtype or xa.shape != xb.shape or xa.tobytes() != xb.tobytes():
                problems.append(f"{job}/{name} differs")
    return problems
