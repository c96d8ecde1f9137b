"""The loader reads a DATASET/ from an S3 bucket (moto's real server on loopback) as it reads a folder.

The server records the requests it receives (moto's recorder), so the test counts the GETs at the
server: each shard file is fetched once, whole, per process, however many batches use it.
"""

import json
from urllib.parse import urlparse

import moto.moto_api
import pytest
import requests
import torch
from torch.utils.data import DataLoader

from cloudbench.dataset.loader import CloudbenchDataset
from cloudbench.dataset.pairs import ARRAY_NAMES
from cloudbench.errors import MissingInputError
from cloudbench.sources.local_servers import MotoS3Server

BUCKET = "cb-datasets"
KEYS = ("image", "aux", "mask", "track_rows", "track_cols", "profiles", "n_track")


@pytest.fixture(scope="module")
def s3(built):
    """(url, storage_options, server) of the built DATASET/ uploaded to a loopback bucket."""
    root = built[0]
    with MotoS3Server() as server:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            server.put(BUCKET, f"DATASET/{path.relative_to(root).as_posix()}", path.read_bytes())
        options = {"endpoint_url": server.endpoint, "key": "testing", "secret": "testing"}
        yield f"s3://{BUCKET}/DATASET", options, server


@pytest.fixture()
def recorded(s3, tmp_path, monkeypatch):
    """A function returning the requests the server received since the fixture started (method, path, range)."""
    _, _, server = s3
    log = tmp_path / "requests.jsonl"
    monkeypatch.setattr(moto.moto_api.recorder, "_location", str(log))
    requests.post(f"{server.endpoint}/moto-api/recorder/reset-recording", timeout=10).raise_for_status()
    requests.post(f"{server.endpoint}/moto-api/recorder/start-recording", timeout=10).raise_for_status()

    def requests_so_far() -> list[dict]:
        entries = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return [{"method": e["method"], "path": urlparse(e["url"]).path,
                 "range": {k.lower(): v for k, v in e["headers"].items()}.get("range")} for e in entries]

    yield requests_so_far
    requests.post(f"{server.endpoint}/moto-api/recorder/stop-recording", timeout=10).raise_for_status()


def _assert_same(a: dict, b: dict) -> None:
    assert a["sample_id"] == b["sample_id"] and set(a) == set(b)
    for key in set(KEYS) & set(a):
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("split", ["train", "test"])
def test_s3_samples_equal_the_local_ones(built, s3, split):
    url, options, _ = s3
    local = CloudbenchDataset(built[0], split, mask=True)
    remote = CloudbenchDataset(url, split, mask=True, storage_options=options)
    assert len(remote) == len(local) and remote.sample_ids == local.sample_ids
    assert remote.dimension_names == local.dimension_names
    for i in range(len(local)):
        _assert_same(remote[i], local[i])

    def epoch(ds, workers):
        return list(DataLoader(ds, batch_size=4, shuffle=True, num_workers=workers,
                               generator=torch.Generator().manual_seed(1)))

    for workers in (0, 2):
        for a, b in zip(epoch(remote, workers), epoch(local, 0), strict=True):
            _assert_same(a, b)


def test_each_shard_is_fetched_once_and_whole(built, s3, recorded):
    url, options, _ = s3
    ds = CloudbenchDataset(url, "train", storage_options=options)
    shards_per_array = -(-len(ds) // 3)  # the fixture's shard size is 3
    metadata = [r for r in recorded() if r["method"] == "GET"]
    assert len(metadata) == 3 + len(ARRAY_NAMES)  # manifest, index, stats, one zarr.json per array
    for _ in range(2):  # two epochs in one process: the second is served from memory
        n = sum(len(b["sample_id"]) for b in DataLoader(ds, batch_size=4, shuffle=True))
        assert n == len(ds)
    shard_gets = [r for r in recorded() if r["method"] == "GET" and "/c/" in r["path"]]
    paths = [r["path"] for r in shard_gets]
    assert len(paths) == len(set(paths)) == len(ARRAY_NAMES) * shards_per_array
    assert all(r["range"] is None for r in shard_gets)  # whole objects, no ranged reads
    assert ds.files.fetched_objects == len(paths)


def test_a_small_cache_refetches_but_reads_the_same(built, s3, recorded):
    url, options, _ = s3
    local = CloudbenchDataset(built[0], "val")
    remote = CloudbenchDataset(url, "val", storage_options=options, cache_bytes=1)  # keeps one batch's shards
    for i in [*range(len(local)), 0]:
        _assert_same(remote[i], local[i])
    shard_gets = [r for r in recorded() if r["method"] == "GET" and "/c/" in r["path"]]
    assert len(shard_gets) > len({r["path"] for r in shard_gets})  # evicted shards were fetched again


def test_a_url_without_a_dataset_is_named(s3):
    _, options, _ = s3
    with pytest.raises(MissingInputError, match="no manifest.json"):
        CloudbenchDataset(f"s3://{BUCKET}/nothing-here", "train", storage_options=options)
