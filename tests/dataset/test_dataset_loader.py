import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from cloudbench.dataset.loader import CloudbenchDataset, dense_targets_into
from cloudbench.dataset.pairs import open_pairs
from cloudbench.errors import DataError, UserError


def test_item_shapes_and_attributes(built):
    root, manifest = built
    ds = CloudbenchDataset(root, "train")
    assert len(ds) == manifest["splits"]["train"]["n_samples"]
    item = ds[0]
    p, z = manifest["patch_size"], len(manifest["height_edges_km"]) - 1
    assert item["x"].shape == (len(ds.band_names), p, p) and item["x"].dtype == torch.float32
    assert item["aux"].shape == (len(ds.aux_names), p, p)
    assert item["target"].shape == (z, p, p) and item["target"].dtype == torch.int64
    assert ds.num_classes == 4 and ds.patch_size == p
    counts = manifest["splits"]["train"]["class_counts"]
    assert ds.class_counts().tolist() == [counts[k] for k in ("clear", "ice", "mixed", "water")]


def test_target_is_rebuilt_from_the_pairs_track(pairs_dir, built):
    root, _ = built
    ds = CloudbenchDataset(root, "val", normalize=False)
    pairs = open_pairs(pairs_dir)
    table = pairs.samples.set_index("sample_id")
    for i in range(len(ds)):
        item = ds[i]
        src = table.loc[item["sample_id"]]
        raw = {k: v[0] for k, v in pairs.read_rows(src["job_id"], np.array([src["row"]])).items()}
        n = int(raw["n_track"])
        target = item["target"].numpy()
        on_track = np.zeros(target.shape[1:], bool)
        on_track[raw["track_rows"][:n], raw["track_cols"][:n]] = True
        assert (target[:, ~on_track] == 255).all()
        for k in range(n):
            np.testing.assert_array_equal(target[:, raw["track_rows"][k], raw["track_cols"][k]], raw["profiles"][k])
        np.testing.assert_array_equal(item["x"].numpy(), raw["x"])


def test_normalisation_uses_train_statistics(built):
    root, _ = built
    stats = json.loads((root / "stats.json").read_text())
    raw = CloudbenchDataset(root, "test", normalize=False)[1]["x"].numpy()
    norm = CloudbenchDataset(root, "test")[1]["x"].numpy()
    mean = np.array(stats["x"]["mean"], np.float32)[:, None, None]
    std = np.array(stats["x"]["std"], np.float32)[:, None, None]
    np.testing.assert_allclose(norm, (raw - mean) / std, rtol=1e-5, atol=1e-5)
    train = torch.stack([CloudbenchDataset(root, "train")[i]["x"] for i in range(len(CloudbenchDataset(root, "train")))])
    assert train.mean(dim=(0, 2, 3)).abs().max() < 1e-3


def test_batches_identical_with_0_and_2_workers(built):
    root, _ = built
    ds = CloudbenchDataset(root, "train")

    def batches(workers):
        loader = DataLoader(ds, batch_size=4, shuffle=True, num_workers=workers,
                            generator=torch.Generator().manual_seed(7))
        return list(loader)

    single, multi = batches(0), batches(2)
    assert len(single) == len(multi) > 1
    for a, b in zip(single, multi, strict=True):
        assert a["sample_id"] == b["sample_id"]
        for key in ("x", "aux", "target"):
            assert torch.equal(a[key], b[key])


def test_bad_split_and_index(built):
    with pytest.raises(UserError, match="unknown split"):
        CloudbenchDataset(built[0], "training")
    ds = CloudbenchDataset(built[0], "test")
    with pytest.raises(IndexError):
        ds[len(ds)]
    assert ds[-1]["sample_id"] == pd.read_parquet(built[0] / "index.parquet").query("split == 'test'")["sample_id"].max()


def test_batched_reads_equal_item_reads_in_any_order(built):
    root, _ = built
    ds = CloudbenchDataset(root, "train")
    order = [5, 0, 1, 2, 2, len(ds) - 1, 3]  # shuffled, a repeat, across shards (shard size 3)
    batch = ds.__getitems__(order)
    assert [s["sample_id"] for s in batch] == [ds.sample_ids[i] for i in order]
    for i, got in zip(order, batch, strict=True):
        want = ds[i]
        for key in ("x", "aux", "target"):
            assert torch.equal(got[key], want[key]), (i, key)


def test_fast_collate_gives_the_default_collate_batch(built):
    root, _ = built
    ds = CloudbenchDataset(root, "train")

    def batches(collate, workers):
        loader = DataLoader(ds, batch_size=5, shuffle=True, num_workers=workers, collate_fn=collate,
                            generator=torch.Generator().manual_seed(3))
        return list(loader)

    reference = batches(None, 0)
    for got in (batches(CloudbenchDataset.collate, 0), batches(CloudbenchDataset.collate, 2)):
        assert len(got) == len(reference) > 1
        for a, b in zip(reference, got, strict=True):
            assert a["sample_id"] == b["sample_id"]
            for key in ("x", "aux", "target"):
                assert a[key].shape == b[key].shape and torch.equal(a[key], b[key])
    plain = [ds[0], ds[1]]  # items not from __getitems__ still collate the default way
    assert torch.equal(CloudbenchDataset.collate(plain)["x"], torch.stack([plain[0]["x"], plain[1]["x"]]))


def test_uint8_targets_hold_the_same_labels(built):
    root, _ = built
    wide, narrow = CloudbenchDataset(root, "val"), CloudbenchDataset(root, "val", target_dtype=torch.uint8)
    for i in range(len(wide)):
        t = narrow[i]["target"]
        assert t.dtype == torch.uint8 and torch.equal(t.long(), wide[i]["target"])
    with pytest.raises(UserError, match="target_dtype"):
        CloudbenchDataset(root, "val", target_dtype=torch.int8)


def test_shared_pixel_takes_the_later_track_profile():
    profiles = np.array([[[1, 1], [3, 3], [2, 2]]], np.uint8)  # (B=1, L=3, Z=2)
    rows, cols = np.array([[0, 0, 1]], np.int16), np.array([[1, 1, 0]], np.int16)
    out = dense_targets_into(np.zeros((1, 2, 2, 2), np.int64), profiles, rows, cols, np.array([3]))
    assert out[0, :, 0, 1].tolist() == [3, 3] and out[0, :, 1, 0].tolist() == [2, 2]
    assert (out[0, :, 0, 0] == 255).all() and (out[0, :, 1, 1] == 255).all()
    with pytest.raises(DataError, match="outside"):
        dense_targets_into(np.zeros((1, 2, 2, 2), np.int64), profiles, rows + 5, cols, np.array([3]))
