import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader, default_collate

from cloudbench.dataset.loader import CloudbenchDataset, dense_targets_into
from cloudbench.dataset.pairs import open_pairs
from cloudbench.errors import DataError, UserError

TRACK_KEYS = ("track_rows", "track_cols", "profiles", "n_track")
TENSOR_KEYS = ("image", "aux", *TRACK_KEYS)


def test_item_keys_shapes_and_attributes(built):
    root, manifest = built
    ds = CloudbenchDataset(root, "train", mask=False)
    assert len(ds) == manifest["splits"]["train"]["n_samples"]
    item = ds[0]
    p, z, L = manifest["patch_size"], len(manifest["height_edges_km"]) - 1, manifest["max_track"]
    assert set(item) == {*TENSOR_KEYS, "sample_id"}  # mask=False: the track arrays only
    assert item["image"].shape == (len(ds.band_names), p, p) and item["image"].dtype == torch.float32
    assert item["aux"].shape == (len(ds.aux_names), p, p)
    assert item["track_rows"].shape == (L,) and item["track_rows"].dtype == torch.int16
    assert item["profiles"].shape == (L, z) and item["profiles"].dtype == torch.uint8
    assert item["n_track"].shape == () and item["n_track"].dtype == torch.int16
    assert ds.dims["image"] == ("band", "row", "col") and ds.dims["profiles"] == ("track", "height")
    assert ds.num_classes == 4 and ds.patch_size == p
    counts = manifest["splits"]["train"]["class_counts"]
    assert ds.class_counts().tolist() == [counts[k] for k in ("clear", "ice", "mixed", "water")]
    with_mask = CloudbenchDataset(root, "train")[0]  # TorchGeo's keys by default: image and mask
    assert set(with_mask) == {*TENSOR_KEYS, "mask", "sample_id"}
    assert with_mask["mask"].shape == (z, p, p) and with_mask["mask"].dtype == torch.uint8
    assert CloudbenchDataset(root, "train", mask=True).dims["mask"] == ("height", "row", "col")


def test_mask_and_track_arrays_come_from_the_pairs_track(pairs_dir, built):
    root, _ = built
    ds = CloudbenchDataset(root, "val", normalize=False, mask=True)
    pairs = open_pairs(pairs_dir)
    table = pairs.samples.set_index("sample_id")
    for i in range(len(ds)):
        item = ds[i]
        src = table.loc[item["sample_id"]]
        raw = {k: v[0] for k, v in pairs.read_rows(src["job_id"], np.array([src["row"]])).items()}
        n = int(raw["n_track"])
        mask = item["mask"].numpy()
        on_track = np.zeros(mask.shape[1:], bool)
        on_track[raw["track_rows"][:n], raw["track_cols"][:n]] = True
        assert (mask[:, ~on_track] == 255).all()
        for k in range(n):
            np.testing.assert_array_equal(mask[:, raw["track_rows"][k], raw["track_cols"][k]], raw["profiles"][k])
        np.testing.assert_array_equal(item["image"].numpy(), raw["x"])
        for key in TRACK_KEYS:
            np.testing.assert_array_equal(item[key].numpy(), raw[key])


def test_normalisation_uses_train_statistics(built):
    root, _ = built
    stats = json.loads((root / "stats.json").read_text())
    raw = CloudbenchDataset(root, "test", normalize=False)[1]["image"].numpy()
    norm = CloudbenchDataset(root, "test")[1]["image"].numpy()
    mean = np.array(stats["x"]["mean"], np.float32)[:, None, None]
    std = np.array(stats["x"]["std"], np.float32)[:, None, None]
    np.testing.assert_allclose(norm, (raw - mean) / std, rtol=1e-5, atol=1e-5)
    train = CloudbenchDataset(root, "train")
    images = torch.stack([train[i]["image"] for i in range(len(train))])
    assert images.mean(dim=(0, 2, 3)).abs().max() < 1e-3


def _epoch(ds, workers, batch_size=4, seed=7):
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=workers,
                        generator=torch.Generator().manual_seed(seed))
    return list(loader)


def test_batches_identical_with_0_and_2_workers(built):
    root, _ = built
    ds = CloudbenchDataset(root, "train", mask=True)
    single, multi = _epoch(ds, 0), _epoch(ds, 2)
    assert len(single) == len(multi) > 1
    for a, b in zip(single, multi, strict=True):
        assert a["sample_id"] == b["sample_id"]
        for key in (*TENSOR_KEYS, "mask"):
            assert torch.equal(a[key], b[key])


def test_default_collate_hands_over_the_batch_without_a_copy(built):
    root, _ = built
    ds = CloudbenchDataset(root, "train")
    order = [4, 0, 7, 1]
    items = ds.__getitems__(order)
    batch = default_collate(items)
    stacked = {key: torch.stack([ds[i][key] for i in order]) for key in TENSOR_KEYS}
    for key in TENSOR_KEYS:
        assert batch[key].data_ptr() == items.batch[key].data_ptr(), key  # the batch as read: no stacking
        assert torch.equal(batch[key], stacked[key]), key
    assert batch["sample_id"] == [ds.sample_ids[i] for i in order]
    items[1]["image"] = torch.zeros_like(items[1]["image"])  # an edited item: stacked the plain way
    edited = default_collate(items)
    assert edited["image"].data_ptr() != items.batch["image"].data_ptr()
    assert torch.equal(edited["image"][1], torch.zeros_like(items[1]["image"]))
    assert torch.equal(edited["image"][0], stacked["image"][0])
    plain = default_collate([ds[0], ds[1]])  # items from __getitem__ collate the default way
    assert torch.equal(plain["image"], torch.stack([ds[0]["image"], ds[1]["image"]]))


def test_transforms_apply_to_every_sample(built):
    root, _ = built

    def flip(sample):
        sample = dict(sample)
        sample["image"] = sample["image"].flip(-1)
        sample["track_cols"] = torch.where(sample["track_cols"] >= 0, sample["image"].shape[-1] - 1 - sample["track_cols"],
                                           sample["track_cols"])
        return sample

    plain = CloudbenchDataset(root, "train")
    flipped = CloudbenchDataset(root, "train", transforms=flip)
    assert torch.equal(flipped[2]["image"], plain[2]["image"].flip(-1))
    a, b = _epoch(plain, 0), _epoch(flipped, 0)
    for x, y in zip(a, b, strict=True):
        assert x["sample_id"] == y["sample_id"]
        assert torch.equal(y["image"], x["image"].flip(-1))
        valid = x["track_cols"] >= 0
        assert torch.equal(y["track_cols"][valid], plain.patch_size - 1 - x["track_cols"][valid])


def test_bad_split_and_index(built):
    with pytest.raises(UserError, match="unknown split"):
        CloudbenchDataset(built[0], "training")
    ds = CloudbenchDataset(built[0], "test")
    with pytest.raises(IndexError):
        ds[len(ds)]
    assert ds[-1]["sample_id"] == pd.read_parquet(built[0] / "index.parquet").query("split == 'test'")["sample_id"].max()


def test_batched_reads_equal_item_reads_in_any_order(built):
    root, _ = built
    ds = CloudbenchDataset(root, "train", mask=True)
    order = [5, 0, 1, 2, 2, len(ds) - 1, 3]  # shuffled, a repeat, across shards (shard size 3)
    batch = ds.__getitems__(order)
    assert [s["sample_id"] for s in batch] == [ds.sample_ids[i] for i in order]
    for i, got in zip(order, batch, strict=True):
        want = ds[i]
        for key in (*TENSOR_KEYS, "mask"):
            assert torch.equal(got[key], want[key]), (i, key)


def test_shared_pixel_takes_the_later_track_profile():
    profiles = np.array([[[1, 1], [3, 3], [2, 2]]], np.uint8)  # (B=1, L=3, Z=2)
    rows, cols = np.array([[0, 0, 1]], np.int16), np.array([[1, 1, 0]], np.int16)
    out = dense_targets_into(np.zeros((1, 2, 2, 2), np.uint8), profiles, rows, cols, np.array([3]))
    assert out[0, :, 0, 1].tolist() == [3, 3] and out[0, :, 1, 0].tolist() == [2, 2]
    assert (out[0, :, 0, 0] == 255).all() and (out[0, :, 1, 1] == 255).all()
    with pytest.raises(DataError, match="outside"):
        dense_targets_into(np.zeros((1, 2, 2, 2), np.uint8), profiles, rows + 5, cols, np.array([3]))
