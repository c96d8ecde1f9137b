"""Sparse-guided loss: class-balanced cross-entropy plus soft Dice, on labelled voxels only.

Labels exist only on the track columns (and not below an opaque layer), so every term is masked:
unlabelled voxels neither help nor hurt. Class weights come from the training split's voxel counts,
because clear sky outnumbers mixed phase by orders of magnitude and an unweighted loss learns "clear".
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cloudbench.config import UNLABELED
from cloudbench.train.targets import TrackTargets

MIN_WEIGHT, MAX_WEIGHT = 0.05, 20.0  # keep a class with a handful of voxels from dominating


def class_weights(counts: Sequence[float], power: float = 1.0) -> torch.Tensor:
    """Inverse-frequency weights raised to ``power``, normalised so the weighted mean over voxels is 1.

    w_c ~ (N / (K * n_c)) ** power, clipped to [0.05, 20]; a class absent from the training split gets
    weight 1 (it never appears as a target, so its weight only matters if it appears later).
    ``power=1`` is plain inverse frequency; ``power=0.5`` (square root) is the trainer's default because
    with ~95 % clear voxels plain inverse frequency weights clear ~50x below a cloud class, and the
    model then paints cloud over clear sky (clear precision and every cloud class's precision drop).
    """
    counts_t = torch.as_tensor(list(counts), dtype=torch.float64)
    k = counts_t.numel()
    total = counts_t.sum()
    if total <= 0:
        return torch.ones(k, dtype=torch.float32)
    present = counts_t > 0
    w = torch.where(present, (total / (k * counts_t.clamp(min=1))) ** power, torch.ones_like(counts_t))
    if power != 1.0:  # renormalise: the voxel-weighted mean of the present classes' weights is 1
        w = torch.where(present, w * total / (w * counts_t).sum(), w)
    return w.clamp(MIN_WEIGHT, MAX_WEIGHT).float()


class SparsePhaseLoss(nn.Module):
    """loss = weighted CE (mean over labelled voxels) + dice_weight * (1 - mean soft Dice over classes).

    The Dice term is computed from softmax probabilities on labelled voxels and averaged over the
    classes that occur in the batch's truth, so a rare class pulls as hard as clear sky does.
    """

    def __init__(self, weights: torch.Tensor, dice_weight: float = 1.0, eps: float = 1.0):
        super().__init__()
        self.register_buffer("weights", weights.float())
        self.dice_weight = dice_weight
        self.eps = eps

    def forward(self, logits: torch.Tensor, target: torch.Tensor | TrackTargets) -> dict[str, torch.Tensor]:
        """``logits`` (B, K, Z, H, W); ``target`` the batch's ``TrackTargets`` (the loss then indexes the
        logits at the labelled pixels only) or a dense (B, Z, H, W) target with UNLABELED where unknown."""
        if isinstance(target, TrackTargets):
            logits, target = target.take(logits), target.columns()
        logits = logits.float()
        k = logits.shape[1]
        labeled = target != UNLABELED
        if not bool(labeled.any()):
            zero = logits.sum() * 0.0
            return {"loss": zero, "ce": zero, "dice": zero}
        flat_logits = logits.movedim(1, -1)[labeled]  # (N, K)
        flat_target = target[labeled].long()  # (N,)
        ce = F.cross_entropy(flat_logits, flat_target, weight=self.weights)
        probs = flat_logits.softmax(dim=-1)
        onehot = F.one_hot(flat_target, k).to(probs.dtype)
        inter = (probs * onehot).sum(dim=0)
        denom = probs.sum(dim=0) + onehot.sum(dim=0)
        dice = (2 * inter + self.eps) / (denom + self.eps)
        active = onehot.sum(dim=0) > 0
        dice_loss = 1.0 - dice[active].mean()
        return {"loss": ce + self.dice_weight * dice_loss, "ce": ce.detach(), "dice": dice_loss.detach()}
