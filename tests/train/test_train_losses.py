"""Sparse guidance: only labelled voxels enter the loss; class weights follow the training counts."""

import pytest
import torch

from cloudbench.config import UNLABELED
from cloudbench.train.losses import MAX_WEIGHT, SparsePhaseLoss, class_weights


def test_class_weights_inverse_frequency():
    w = class_weights([600, 200, 100, 100])
    assert w.tolist() == pytest.approx([1000 / (4 * 600), 1000 / (4 * 200), 2.5, 2.5])
    assert class_weights([10**9, 1, 0, 10])[1] == MAX_WEIGHT  # clipped
    assert class_weights([5, 5, 0, 5])[2] == 1.0  # absent class


def test_unlabeled_voxels_do_not_matter():
    torch.manual_seed(0)
    target = torch.full((2, 5, 4, 4), UNLABELED)
    target[:, :, 1, 2] = torch.tensor([0, 0, 1, 3, 2])
    logits = torch.randn(2, 4, 5, 4, 4, requires_grad=True)
    loss_fn = SparsePhaseLoss(class_weights([10, 3, 2, 5]))
    loss = loss_fn(logits, target)["loss"]
    loss.backward()
    off_track = target == UNLABELED
    assert torch.all(logits.grad.movedim(1, -1)[off_track] == 0)
    changed = logits.detach().clone()
    changed.movedim(1, -1)[off_track] = 100.0
    assert loss_fn(changed, target)["loss"].item() == pytest.approx(loss.item())


def test_perfect_prediction_has_low_loss_and_no_labels_gives_zero():
    target = torch.tensor([0, 1, 2, 3]).view(1, 4, 1, 1).expand(1, 4, 2, 2).clone()
    good = torch.nn.functional.one_hot(target, 4).movedim(-1, 1).float() * 20
    bad = torch.roll(good, 1, dims=1)
    loss_fn = SparsePhaseLoss(torch.ones(4))
    assert loss_fn(good, target)["loss"] < 1e-3 < loss_fn(bad, target)["loss"]
    empty = torch.full_like(target, UNLABELED)
    assert loss_fn(good, empty)["loss"].item() == 0.0
