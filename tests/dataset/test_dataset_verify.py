"""verify: each planted fault gives exit 2 and a message that names it."""

import json
import os

import pandas as pd
import pytest

from cloudbench.cli import main
from cloudbench.dataset.testing import reseal_dataset
from cloudbench.dataset.verify import verify_dataset
from cloudbench.errors import DataError


def run_verify(path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["verify", str(path)])
    return exc.value.code, capsys.readouterr()


def first_shard(root, split="train"):
    return next(p for p in sorted((root / f"{split}.zarr" / "x" / "c").rglob("*")) if p.is_file())


def test_clean_dataset_passes(built, capsys):
    code, out = run_verify(built[0], capsys)
    assert code == 0, out.err
    assert "OK" in out.out
    report = verify_dataset(built[0])
    assert report["samples"]["train"] == built[1]["splits"]["train"]["n_samples"]


def test_changed_byte_in_a_shard(dataset_copy, capsys):
    shard = first_shard(dataset_copy)
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    code, out = run_verify(dataset_copy, capsys)
    assert code == 2
    assert f"{shard}: sha256 mismatch" in out.err


def test_sample_in_two_splits(dataset_copy, capsys):
    index = pd.read_parquet(dataset_copy / "index.parquet")
    val_id = index.loc[index["split"] == "val", "sample_id"].iloc[0]
    index.loc[index.index[index["split"] == "train"][0], "sample_id"] = val_id
    index.to_parquet(dataset_copy / "index.parquet", index=False)
    reseal_dataset(dataset_copy)  # checksums now agree: only the leak remains
    code, out = run_verify(dataset_copy, capsys)
    assert code == 2
    assert f"sample {val_id} is present in more than one split (train, val)" in out.err
    assert "sha256 mismatch" not in out.err


def test_day_shared_by_two_splits(dataset_copy):
    index = pd.read_parquet(dataset_copy / "index.parquet")
    test_day = index.loc[index["split"] == "test", "split_day"].iloc[0]
    index.loc[index["split"] == "val", "split_day"] = test_day
    index.to_parquet(dataset_copy / "index.parquet", index=False)
    reseal_dataset(dataset_copy)
    with pytest.raises(DataError, match=f"day {test_day} in both val and test splits"):
        verify_dataset(dataset_copy)


def test_missing_shard(dataset_copy, capsys):
    shard = first_shard(dataset_copy, "val")
    os.remove(shard)
    code, out = run_verify(dataset_copy, capsys)
    assert code == 2
    assert f"{shard}: missing" in out.err


def test_manifest_edited_by_hand(dataset_copy, capsys):
    path = dataset_copy / "manifest.json"
    doc = json.loads(path.read_text())
    doc["splits"]["test"]["n_samples"] += 1
    path.write_text(json.dumps(doc, indent=2))
    code, out = run_verify(dataset_copy, capsys)
    assert code == 2
    assert "manifest.json was edited or corrupted" in out.err


def test_missing_manifest_and_folder(dataset_copy, tmp_path, capsys):
    (dataset_copy / "manifest.json").unlink()
    code, out = run_verify(dataset_copy, capsys)
    assert code == 2 and "manifest.json is missing" in out.err
    code, out = run_verify(tmp_path / "nothing-here", capsys)
    assert code == 1 and "not found" in out.err
