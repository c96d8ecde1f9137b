"""A dask cluster with no shared disk: workers in their own temporary folders see the inputs and the
outputs only through a loopback S3 server, and the run equals the local serial one byte for byte.

The archive exists only in buckets (imagery in a NOAA-layout bucket, label granules under an
``s3://`` ARCHIVE/), PAIRS/ and DATASET/ are written to a bucket, and ``verify`` checks the DATASET/
there. The loopback server runs in this process; the workers are separate processes that reach it
over HTTP, configured by fsspec's environment variables as a cloud cluster's workers would be.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from cloudbench.collocate.imagery import NOAA, ImagerSource
from cloudbench.collocate.pairing import CollocateConfig
from cloudbench.collocate.run import collocate
from cloudbench.dataset.build import build_dataset
from cloudbench.dataset.pairs import ARRAY_NAMES
from cloudbench.dataset.splits import SPLITS
from cloudbench.storage import Location

from .conftest import pairs_equal, upload_tree

# a dask cluster, a loopback S3 server and two full runs: minutes on two cores (make test-all)
pytestmark = pytest.mark.slow

distributed = pytest.importorskip("distributed")


class OwnFolder(distributed.WorkerPlugin):
    """Each worker process works in a fresh folder of its own (its working and temporary folder)."""

    def __init__(self, base: str):
        self.base = base

    def setup(self, worker) -> None:
        import tempfile

        folder = tempfile.mkdtemp(prefix="worker-", dir=self.base)
        os.chdir(folder)
        os.environ["TMPDIR"] = folder
        tempfile.tempdir = folder


@pytest.fixture(scope="module")
def settings():
    from cloudbench.demo import MIN_DAYS, DemoSettings

    return DemoSettings(days=MIN_DAYS, bands=("B13",), labels="cldclass-lidar", imager="himawari", reduction=10,
                        patch_size=16, seed=0)


@pytest.fixture(scope="module")
def three_day_archive(tmp_path_factory, settings):
    """One daytime pass on each of three days (train, val and test need a day each)."""
    from cloudbench.demo import write_demo_source

    root = tmp_path_factory.mktemp("archive_cluster")
    write_demo_source(root, settings)
    (root / ".cloudbench-demo.json").unlink(missing_ok=True)
    return root


def _config(settings, out, source=None) -> CollocateConfig:
    return CollocateConfig(out=str(out), region=settings.region, imager=settings.imager, bands=settings.bands,
                           patch_size=settings.patch_size, max_dt_s=300.0, imager_source=source)


def _same_dataset(local: Path, url: str) -> list[str]:
    """Differences between two DATASET/: index table bytes and every split array, exactly."""
    la, lb = Location(str(local)), Location(url)
    problems = []
    if la.read_bytes("index.parquet") != lb.read_bytes("index.parquet"):
        problems.append("index.parquet differs")
    for split in SPLITS:
        ga = zarr.open_group(la.zarr_store(f"{split}.zarr"), mode="r")
        gb = zarr.open_group(lb.zarr_store(f"{split}.zarr"), mode="r")
        for name in ARRAY_NAMES:
            a, b = ga[name][...], gb[name][...]
            if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
                problems.append(f"{split}/{name} differs")
        shards_a = [f for f in la.list_files(f"{split}.zarr")]
        shards_b = [f for f in lb.list_files(f"{split}.zarr")]
        if shards_a != shards_b or any(la.read_bytes(f) != lb.read_bytes(f) for f in shards_a):
            problems.append(f"{split}.zarr files differ")
    return problems


def test_cluster_without_shared_disk_equals_the_local_serial_run(three_day_archive, settings, moto_s3, s3_config,
                                                                 tmp_path):
    root = three_day_archive
    local = collocate(root, _config(settings, tmp_path / "PAIRS"), progress=False, quicklook=False)
    jobs = local["jobs_done"]
    assert jobs >= 3 and local["pairs"] > 0
    build_dataset(tmp_path / "PAIRS", tmp_path / "DATASET", shard_size=4, summary=False, progress=False)

    moto_s3.upload_archive(root)
    upload_tree(moto_s3, root / "cloudsat", "inputs", "ARCHIVE/cloudsat")
    moto_s3.put("outputs", "README", b"outputs of the cluster run")  # the output bucket exists
    workers_base = tmp_path / "workers"
    workers_base.mkdir()
    source = ImagerSource(NOAA, s3_endpoint=moto_s3.endpoint)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  worker_class=distributed.Nanny) as cluster, distributed.Client(cluster) as client:
        client.register_plugin(OwnFolder(str(workers_base)))
        folders = client.run(os.getcwd)
        assert len(set(folders.values())) == 2 and all(f.startswith(str(workers_base)) for f in folders.values())
        remote = collocate("s3://inputs/ARCHIVE", _config(settings, "s3://outputs/PAIRS", source),
                           scheduler=cluster.scheduler_address, progress=False, quicklook=False)
    assert remote["jobs_done"] == jobs and remote["pairs"] == local["pairs"]
    pairs = Location("s3://outputs/PAIRS")
    local_ledger = (tmp_path / "PAIRS" / "ledger.jsonl").read_text().splitlines()
    assert len(pairs.list_dir("ledger")) == len(local_ledger) == jobs  # one entry object per job
    assert pairs_equal(tmp_path / "PAIRS", "s3://outputs/PAIRS") == []
    for folder in workers_base.iterdir():  # job scratch folders were cleaned up; nothing was left behind
        assert not [p for p in folder.rglob("*") if p.is_file()], folder

    manifest = build_dataset("s3://outputs/PAIRS", "s3://outputs/DATASET", shard_size=4, summary=False, progress=False)
    assert manifest["splits"] == build_dataset(tmp_path / "PAIRS", tmp_path / "DATASET2", shard_size=4,
                                               summary=False, progress=False)["splits"]
    assert _same_dataset(tmp_path / "DATASET", "s3://outputs/DATASET") == []

    from cloudbench.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["verify", "s3://outputs/DATASET"])
    assert exc.value.code == 0

    # read from s3:// with zarr and the index table, as a training job next to the bucket would
    dataset = Location("s3://outputs/DATASET")
    index = pd.read_parquet(io.BytesIO(dataset.read_bytes("index.parquet")))
    local_train = zarr.open_group(str(tmp_path / "DATASET" / "train.zarr"), mode="r")
    remote_train = zarr.open_group(dataset.zarr_store("train.zarr"), mode="r")
    rows = index.loc[index["split"] == "train", "row"].to_numpy()
    assert len(rows) == remote_train["x"].shape[0]
    np.testing.assert_array_equal(remote_train["x"][rows[-1]], local_train["x"][rows[-1]])


def test_a_damaged_dataset_on_the_bucket_fails_verify(three_day_archive, settings, moto_s3, s3_config, tmp_path):
    from cloudbench.dataset.verify import verify_dataset
    from cloudbench.errors import DataError

    collocate(three_day_archive, _config(settings, tmp_path / "PAIRS"), progress=False, quicklook=False)
    moto_s3.put("outputs", "README", b"x")
    build_dataset(tmp_path / "PAIRS", "s3://outputs/D2", shard_size=4, summary=False, progress=False)
    assert verify_dataset("s3://outputs/D2")["ok"]
    target = Location("s3://outputs/D2")
    shard = next(f for f in target.list_files("train.zarr") if "/c/" in f)
    data = bytearray(target.read_bytes(shard))
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(shard, bytes(data))
    with pytest.raises(DataError, match="sha256 mismatch"):
        verify_dataset("s3://outputs/D2")
    # an interrupted rebuild leaves no manifest: verify refuses the dataset instead of trusting it
    target.remove("manifest.json")
    with pytest.raises(DataError, match="manifest.json is missing"):
        verify_dataset("s3://outputs/D2")


def test_the_loader_reads_the_dataset_from_the_bucket(three_day_archive, settings, moto_s3, s3_config, tmp_path):
    import torch

    from cloudbench.dataset.loader import CloudbenchDataset

    collocate(three_day_archive, _config(settings, tmp_path / "PAIRS"), progress=False, quicklook=False)
    moto_s3.put("outputs", "README", b"x")
    build_dataset(tmp_path / "PAIRS", tmp_path / "DATASET", shard_size=4, summary=False, progress=False)
    build_dataset(tmp_path / "PAIRS", "s3://outputs/D3", shard_size=4, summary=False, progress=False)
    local = CloudbenchDataset(tmp_path / "DATASET", "train")
    remote = CloudbenchDataset("s3://outputs/D3", "train", storage_options=dict(s3_config))
    assert len(remote) == len(local) > 0
    for i in range(len(local)):
        a, b = local[i], remote[i]
        assert a.keys() == b.keys()
        for key, value in a.items():
            assert torch.equal(value, b[key]) if isinstance(value, torch.Tensor) else value == b[key], key
