"""The sparse track targets give the loss and the metrics exactly what the dense mask gives them."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from cloudbench.dataset.loader import CloudbenchDataset
from cloudbench.errors import DataError
from cloudbench.train.losses import SparsePhaseLoss, class_weights
from cloudbench.train.metrics import ConfusionAccumulator
from cloudbench.train.targets import TrackTargets


def test_track_targets_equal_the_dense_mask_for_loss_and_metrics(fake_dataset):
    ds = CloudbenchDataset(fake_dataset, "train", mask=True)
    z = len(ds.height_edges_km) - 1
    loss_fn = SparsePhaseLoss(class_weights(ds.class_counts(), power=0.5))
    sparse_acc, dense_acc = ConfusionAccumulator(4, z), ConfusionAccumulator(4, z)
    gen = torch.Generator().manual_seed(0)
    batches = 0
    for batch in DataLoader(ds, batch_size=6):
        targets = TrackTargets.from_batch(batch)
        assert torch.equal(targets.dense(), batch["mask"])
        logits = torch.randn((batch["image"].shape[0], 4, z, ds.patch_size, ds.patch_size), generator=gen)
        sparse, dense = loss_fn(logits, targets), loss_fn(logits, batch["mask"])
        for key in ("loss", "ce", "dice"):
            assert sparse[key].item() == pytest.approx(dense[key].item(), rel=1e-5, abs=1e-6), key
        pred = logits.argmax(dim=1)
        sparse_acc.update(targets.take(pred), targets.columns())
        dense_acc.update(pred, batch["mask"])
        batches += 1
    assert batches > 1 and sparse_acc.matrix.sum() > 0
    np.testing.assert_array_equal(sparse_acc.per_level, dense_acc.per_level)
    np.testing.assert_array_equal(sparse_acc.per_level_complex, dense_acc.per_level_complex)


def test_gradients_reach_only_the_track_pixels():
    rows = torch.tensor([[0, 1, -1]], dtype=torch.int16)
    cols = torch.tensor([[2, 3, -1]], dtype=torch.int16)
    profiles = torch.tensor([[[0, 1], [3, 255], [255, 255]]], dtype=torch.uint8)
    targets = TrackTargets.from_track(rows, cols, profiles, torch.tensor([2], dtype=torch.int16), 4)
    logits = torch.randn(1, 4, 2, 4, 4, requires_grad=True)
    SparsePhaseLoss(torch.ones(4))(logits, targets)["loss"].backward()
    touched = logits.grad.abs().sum(dim=(0, 1, 2)) > 0
    assert touched.nonzero().tolist() == [[0, 2], [1, 3]]


def test_shared_pixel_keeps_the_later_profile_and_bad_pixels_are_refused():
    rows = torch.tensor([[0, 0, 1]], dtype=torch.int16)
    cols = torch.tensor([[1, 1, 0]], dtype=torch.int16)
    profiles = torch.tensor([[[1, 1], [3, 3], [2, 2]]], dtype=torch.uint8)
    t = TrackTargets.from_track(rows, cols, profiles, torch.tensor([3]), 2)
    assert len(t) == 2
    assert t.dense()[0, :, 0, 1].tolist() == [3, 3] and t.dense()[0, :, 1, 0].tolist() == [2, 2]
    with pytest.raises(DataError, match="outside"):
        TrackTargets.from_track(rows + 5, cols, profiles, torch.tensor([3]), 2)
    with pytest.raises(KeyError, match="track arrays"):
        TrackTargets.from_batch({"image": torch.zeros(1, 1, 2, 2)})
