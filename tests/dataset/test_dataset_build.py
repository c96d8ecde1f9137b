import json

import numpy as np
import pandas as pd
import pytest
import zarr

from cloudbench.config import CLASS_NAMES
from cloudbench.dataset import manifest as mf
from cloudbench.dataset.build import build_dataset
from cloudbench.dataset.croissant import validate_croissant
from cloudbench.dataset.pairs import ARRAY_NAMES, open_pairs
from cloudbench.dataset.shards import ShardReader
from cloudbench.errors import MissingInputError, UserError


def test_two_builds_are_byte_identical_apart_from_creation_time(pairs_dir, built, tmp_path):
    first, m1 = built
    second = tmp_path / "again"
    m2 = build_dataset(pairs_dir, second, seed=0, shard_size=3, block_days=1)
    files1 = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    files2 = sorted(p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_file())
    assert files1 == files2
    for rel in files1:
        if rel in ("manifest.json", "summary.png"):
            continue
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    body1 = {k: v for k, v in m1.items() if k != mf.CREATED_FIELD}
    body2 = {k: v for k, v in m2.items() if k != mf.CREATED_FIELD}
    assert body1 == body2
    lines1 = [ln for ln in (first / "manifest.json").read_text().splitlines() if '"created"' not in ln]
    lines2 = [ln for ln in (second / "manifest.json").read_text().splitlines() if '"created"' not in ln]
    assert lines1 == lines2


def test_another_seed_gives_other_splits(pairs_dir, built, tmp_path):
    other = build_dataset(pairs_dir, tmp_path / "seed9", seed=9, shard_size=3, summary=False, block_days=1)
    assert other["days"] != built[1]["days"]


def test_split_arrays_hold_the_pairs_samples_in_sample_id_order(pairs_dir, built):
    root, manifest = built
    pairs = open_pairs(pairs_dir)
    index = pd.read_parquet(root / "index.parquet")
    for split in ("train", "val", "test"):
        sub = index[index["split"] == split].sort_values("row")
        assert sub["sample_id"].is_monotonic_increasing
        group = zarr.open_group(str(root / f"{split}.zarr"), mode="r")
        for _, rec in sub.iterrows():
            src = pairs.samples.set_index("sample_id").loc[rec["sample_id"]]
            want = pairs.read_rows(src["job_id"], np.array([src["row"]]))
            for name in ARRAY_NAMES:
                np.testing.assert_array_equal(group[name][int(rec["row"])], want[name][0], err_msg=name)
    guard_ids = set(pairs.samples["sample_id"]) - set(index["sample_id"])
    assert len(guard_ids) == manifest["guard"]["n_samples"]


def test_stores_are_sharded_one_sample_per_chunk(built):
    root, manifest = built
    meta = json.loads((root / "train.zarr" / "x" / "zarr.json").read_text())
    assert meta["zarr_format"] == 3
    assert meta["codecs"][0]["name"] == "sharding_indexed"
    assert meta["codecs"][0]["configuration"]["chunk_shape"][0] == 1
    assert meta["chunk_grid"]["configuration"]["chunk_shape"][0] == 3
    n = manifest["splits"]["train"]["n_samples"]
    shard_files = [p for p in (root / "train.zarr" / "x" / "c").rglob("*") if p.is_file()]
    assert len(shard_files) == -(-n // 3)
    assert "consolidated_metadata" in json.loads((root / "train.zarr" / "zarr.json").read_text())


def test_fast_shard_reader_matches_zarr(built):
    root, _ = built
    for split in ("train", "test"):
        group = zarr.open_group(str(root / f"{split}.zarr"), mode="r")
        for name in ARRAY_NAMES:
            reader = ShardReader(root / f"{split}.zarr" / name)
            full = group[name][:]
            for i in range(full.shape[0]):
                np.testing.assert_array_equal(reader.read(i), full[i])


def test_stats_come_from_train_only(built):
    root, _ = built
    stats = json.loads((root / "stats.json").read_text())
    x = zarr.open_group(str(root / "train.zarr"), mode="r")["x"][:].astype(np.float64)
    np.testing.assert_allclose(stats["x"]["mean"], x.mean(axis=(0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(stats["x"]["std"], x.std(axis=(0, 2, 3), ddof=1), rtol=1e-5)
    x_val = zarr.open_group(str(root / "val.zarr"), mode="r")["x"][:].astype(np.float64)
    assert not np.allclose(stats["x"]["mean"], x_val.mean(axis=(0, 2, 3)), rtol=1e-6)


def test_manifest_content(pairs_dir, built):
    root, manifest = built
    assert manifest["schema_version"] == mf.SCHEMA_VERSION
    assert manifest["config"]["splits"]["seed"] == 0
    assert manifest["config"]["pairs"]["config"] == json.loads((pairs_dir / "config.json").read_text())
    assert manifest[mf.HASH_FIELD] == mf.content_hash(manifest)
    ledger = [json.loads(line) for line in (pairs_dir / "ledger.jsonl").read_text().splitlines()]
    granule_inputs = {i["name"]: i["sha256"] for e in ledger for i in e["inputs"]}
    assert {s["name"]: s["sha256"] for s in manifest["source_files"]} == granule_inputs
    for entry in manifest["pairs_files"]:
        assert mf.sha256_file(pairs_dir / entry["path"]) == entry["sha256"]
    for split in ("train", "val", "test"):
        doc = manifest["splits"][split]
        group = zarr.open_group(str(root / f"{split}.zarr"), mode="r")
        prof, n = group["profiles"][:], group["n_track"][:]
        for code, name in CLASS_NAMES.items():
            want = sum(int((prof[i, : n[i]] == code).sum()) for i in range(prof.shape[0]))
            assert doc["class_counts"][name] == want
        for entry in doc["files"]:
            assert mf.sha256_file(root / entry["path"]) == entry["sha256"]
    index = pd.read_parquet(root / "index.parquet")
    assert {"split", "row", "split_day", "sample_id", "granule_id", "lat", "lon"} <= set(index.columns)


def test_croissant_validates_and_describes_the_index(built):
    root, _ = built
    assert validate_croissant(root / "croissant.json") == []
    doc = json.loads((root / "croissant.json").read_text())
    ids = {d["@id"]: d for d in doc["distribution"]}
    assert ids["index.parquet"]["sha256"] == mf.sha256_file(root / "index.parquet")
    assert {"train.zarr", "val.zarr", "test.zarr"} <= set(ids)
    index = pd.read_parquet(root / "index.parquet")
    # the keywords name what the samples are made of, read from the index, not a fixed list
    assert set(index["label_product"]) | set(index["platform"]) <= set(doc["keywords"])
    mlc = pytest.importorskip("mlcroissant")
    records = list(mlc.Dataset(jsonld=str(root / "croissant.json")).records("samples"))
    index = pd.read_parquet(root / "index.parquet")
    assert len(records) == len(index)
    assert records[0]["samples/sample_id"].decode() == index["sample_id"].iloc[0]


def test_summary_files(built):
    root, manifest = built
    text = (root / "summary.txt").read_text()
    for split in ("train", "val", "test", "guard"):
        assert split in text
    assert str(manifest["splits"]["train"]["n_samples"]) in text
    assert (root / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_inputs(tmp_path, pairs_dir):
    with pytest.raises(MissingInputError):
        build_dataset(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.tex").write_text("x")
    with pytest.raises(UserError, match="other files"):
        build_dataset(pairs_dir, tmp_path / "busy")
