"""A product from outside cloudbench plugs in through entry points and runs the whole chain.

``tests/plugins`` holds a toy imager (4 km sample grid, one band at 2 km) and a toy lidar, declared as
``cloudbench.imagers`` / ``cloudbench.labels`` entry points of a ``toy_sensors`` distribution. With
that folder on the path, and no cloudbench module edited, the CLI offers them, ``download`` plans and
fetches only the toy files the toy track needs, and ``collocate`` pairs them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from cloudbench.sensors import registry

PLUGINS = Path(__file__).parent / "plugins"
START, END = "2018-10-01T07:00", "2018-10-01T08:15"
REGION = "80,-40,120,40"
REDUCTION = 5  # 550 x 550 pixels of 20 km


@pytest.fixture
def toy_path(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))
    registry.reset()
    yield
    registry.reset()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PLUGINS), str(Path(__file__).parents[1]), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "cloudbench", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


def test_entry_points_register_the_toy_products(toy_path):
    assert "toy-geo" in registry.imager_choices() and "toy-lidar" in registry.label_choices()
    assert registry.imager_for_platform("toysat1").name == "toy-imager"
    # the built-ins are still there
    assert {"himawari", "goes-east"} <= set(registry.imager_choices())


def test_unknown_product_names_the_known_ones(toy_path):
    from cloudbench.errors import UserError

    with pytest.raises(UserError) as exc:
        registry.label_product("no-such-lidar")
    assert "toy-lidar" in str(exc.value) and "cldclass-lidar" in str(exc.value)


def test_toy_products_go_through_download_planning_and_collocation(toy_path, tmp_path):
    from cloudbench.synthetic.archive import write_archive

    source = tmp_path / "source"
    archive = write_archive(source, start=START, end=END, region=REGION, imager="toy-geo", labels=("toy-lidar",),
                            reduction=REDUCTION, seed=0, only_near_tracks=False)
    assert archive.granules and len(archive.slots) == 5  # every 15-minute scan of the span
    written = {p.name for s in archive.slots for p in s.paths}

    help_text = _cli("download", "--help", cwd=tmp_path).stdout
    assert "toy-geo" in help_text and "toy-lidar" in help_text

    out = tmp_path / "archive"
    done = _cli("download", "--start", START, "--end", END, "--region", REGION, "--imager", "toy-geo",
                "--labels", "toy-lidar", "--out", str(out), "--source-root", f"file://{source}",
                "--geometry-reduction", str(REDUCTION), "--max-dt", "300", "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    fetched = {p.name for p in out.rglob("TOY_*.npz")}
    assert fetched and fetched < written  # only the scans near the pass
    # every fetched scan saw some track point of the region within 300 s (+30 s margin), per its scan model
    track = np.concatenate([g.layers.time for g in archive.granules])
    for name in fetched:
        slot = datetime.strptime(name.split("_")[2], "%Y%m%d%H%M").replace(tzinfo=UTC)
        scan = (np.datetime64(slot.replace(tzinfo=None), "ns"), np.datetime64(slot.replace(tzinfo=None)
                + timedelta(seconds=600), "ns"))
        gap = np.minimum(np.abs(track - scan[0]), np.abs(track - scan[1])).min()
        inside = ((track >= scan[0]) & (track <= scan[1])).any()
        assert inside or gap <= np.timedelta64(330, "s"), name
    assert {p.name for p in out.rglob("TOYLIDAR_*.npz")} == {g.path.name for g in archive.granules}

    pairs = tmp_path / "pairs"
    done = _cli("collocate", "--archive", str(out), "--region", REGION, "--out", str(pairs), "--imager", "toy-geo",
                "--labels", "toy-lidar", "--patch-size", "16", "--no-quicklook", "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads((pairs / "report.json").read_text())
    assert report["pairs"] > 0 and report["jobs_skipped"] == 0
    import pandas as pd
    import zarr

    table = pd.concat([pd.read_parquet(p) for p in (pairs / "samples").glob("*.parquet")])
    assert set(table["platform"]) == {"toysat1"} and set(table["label_product"]) == {"toy-lidar"}
    job = zarr.open_group(str(next((pairs / "jobs").glob("*.zarr"))), mode="r")
    assert list(job.attrs["bands"]) == ["T11", "V06"]
    x = job["x"][:]
    assert np.isfinite(x).mean() > 0.9 and np.nanmax(x[:, 0]) < 330 and np.nanmin(x[:, 0]) > 150  # BT in K


def test_docs_sensor_tables_are_the_registry():
    from cloudbench.sensors.tables import BEGIN, END, render

    registry.reset()
    text = (Path(__file__).parents[1] / "docs" / "sensors.md").read_text(encoding="utf-8")
    assert BEGIN in text and END in text, "docs/sensors.md lost its generated tables"
    page = text[text.index(BEGIN):text.index(END) + len(END)]
    assert page == render(), "docs/sensors.md is stale: paste `python -m cloudbench.sensors.tables` into it"
