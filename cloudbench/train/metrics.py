"""Segmentation metrics, all derived from one confusion matrix over labelled voxels.

Why one matrix: the paper's four headline numbers (P 0.922, R 0.858, F1 0.763, IoU 0.617) cannot
come from a single confusion matrix (that P and R give F1 0.889), so its averages must differ from
number to number. Here every number is a function of the same counts, and each average is named.

Definitions (TP, FP, FN of class c count labelled voxels; predictions on unlabelled voxels are
never counted):

* per class: precision = TP/(TP+FP), recall = TP/(TP+FN), F1 = 2TP/(2TP+FP+FN),
  IoU = TP/(TP+FP+FN), support = TP+FN (true voxels of the class).
  A ratio whose denominator is zero is 0 if the class occurs in the truth or the prediction;
  a class absent from both has null metrics and is left out of macro averages.
* macro_cloud: unweighted mean of the per-class values over the cloud classes (ice, mixed, water).
* macro_all: unweighted mean over all classes (clear, ice, mixed, water).
* micro_all: TP, FP, FN summed over all classes first; for single-label voxels this makes precision,
  recall and F1 equal to the accuracy, and IoU = acc/(2-acc).
* micro_cloud: TP, FP, FN summed over the cloud classes only (clear is treated as background).
* cloud_mask: the binary problem "cloud (any phase) vs clear", positive class = cloud.
* accuracy: correct labelled voxels / labelled voxels; ``per_level`` gives it for every height level
  (index 0 = lowest level) with the number of labelled voxels there.
* complex_columns: the same metrics restricted to voxels of complex columns: labelled columns with
  more than one cloud layer (cloud bins separated by at least one clear bin; unlabelled bins do not
  separate layers) or with more than one phase (any mixed bin, or both ice and water).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from cloudbench.config import CLASS_NAMES, CLEAR, CLOUD_CLASSES, UNLABELED

DEFINITIONS: dict[str, str] = {
    "confusion_matrix": "rows = true class, columns = predicted class, counts of labelled voxels",
    "precision": "TP/(TP+FP) per class",
    "recall": "TP/(TP+FN) per class",
    "f1": "2TP/(2TP+FP+FN) per class",
    "iou": "TP/(TP+FP+FN) per class (Jaccard)",
    "zero_division": "0 when the class occurs in truth or prediction; null (and excluded from macro) when in neither",
    "macro_cloud": "unweighted mean of per-class values over ice, mixed, water",
    "macro_all": "unweighted mean of per-class values over clear, ice, mixed, water",
    "micro_all": "TP/FP/FN summed over all classes, then the ratio (P = R = F1 = accuracy)",
    "micro_cloud": "TP/FP/FN summed over ice, mixed, water, then the ratio",
    "cloud_mask": "binary cloud (ice|mixed|water) vs clear, positive = cloud",
    "accuracy": "correct labelled voxels / labelled voxels",
    "per_level": "accuracy per height level, index 0 = lowest bin",
    "complex_columns": "voxels of columns with >1 cloud layer (clear bins between cloud) or >1 phase (any mixed, or ice and water)",
}


def _ratio(num: float, den: float, present: bool) -> float | None:
    if not present:
        return None
    return float(num / den) if den > 0 else 0.0


def class_scores(tp: float, fp: float, fn: float) -> dict[str, float | None]:
    """Precision, recall, F1 and IoU of one class (or one pooled set of classes) from its counts."""
    present = (tp + fp + fn) > 0
    return {
        "precision": _ratio(tp, tp + fp, present),
        "recall": _ratio(tp, tp + fn, present),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn, present),
        "iou": _ratio(tp, tp + fp + fn, present),
    }


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def metrics_from_confusion(cm: np.ndarray, class_names: dict[int, str] | None = None) -> dict:
    """Every metric of the module docstring from one (K, K) confusion matrix (rows true, cols predicted)."""
    cm = np.asarray(cm, dtype=np.float64)
    k = cm.shape[0]
    names = class_names or {c: CLASS_NAMES.get(c, str(c)) for c in range(k)}
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    per_class = {}
    for c in range(k):
        scores = class_scores(tp[c], fp[c], fn[c])
        scores["support"] = int(tp[c] + fn[c])
        per_class[names[c]] = scores
    cloud = [c for c in CLOUD_CLASSES if c < k]
    out: dict = {"per_class": per_class}
    for avg, classes in (("macro_cloud", cloud), ("macro_all", list(range(k)))):
        out[avg] = {m: _mean([per_class[names[c]][m] for c in classes]) for m in ("precision", "recall", "f1", "iou")}
    out["micro_all"] = class_scores(tp.sum(), fp.sum(), fn.sum())
    out["micro_cloud"] = class_scores(tp[cloud].sum(), fp[cloud].sum(), fn[cloud].sum())
    is_cloud = np.zeros(k, dtype=bool)
    is_cloud[cloud] = True
    cloud_tp = cm[np.ix_(is_cloud, is_cloud)].sum()
    cloud_fp = cm[np.ix_(~is_cloud, is_cloud)].sum()
    cloud_fn = cm[np.ix_(is_cloud, ~is_cloud)].sum()
    out["cloud_mask"] = class_scores(cloud_tp, cloud_fp, cloud_fn)
    total = cm.sum()
    out["accuracy"] = float(tp.sum() / total) if total > 0 else None
    out["labeled_voxels"] = int(total)
    out["confusion_matrix"] = cm.astype(np.int64).tolist()
    return out


def complex_column_mask(target: torch.Tensor) -> torch.Tensor:
    """Boolean (B, H, W): columns with more than one cloud layer or more than one phase.

    ``target`` is (B, Z, H, W) with UNLABELED off-track. A new layer starts at a cloud bin whose
    nearest labelled bin below it is clear, so an unlabelled (attenuated) gap never splits a layer.
    """
    labeled = target != UNLABELED
    cloud = labeled & (target != CLEAR)
    z = target.shape[1]
    idx = torch.arange(z, device=target.device).view(1, z, 1, 1).expand_as(target)
    last_labeled = torch.where(labeled, idx, torch.full_like(idx, -1)).cummax(dim=1).values
    prev = torch.cat([torch.full_like(last_labeled[:, :1], -1), last_labeled[:, :-1]], dim=1)
    prev_cloud = torch.gather(cloud, 1, prev.clamp(min=0)) & (prev >= 0)
    prev_clear = (prev >= 0) & ~prev_cloud
    starts = cloud & prev_clear
    first = cloud & (prev < 0)
    n_layers = (starts | first).sum(dim=1)
    phases = [((target == c) & labeled).any(dim=1) for c in CLOUD_CLASSES]
    ice, mixed, water = phases
    multi_phase = mixed | (ice & water)
    return (n_layers > 1) | multi_phase


@dataclass
class ConfusionAccumulator:
    """Accumulates per-level confusion matrices (Z, K, K) for all columns and for complex columns."""

    num_classes: int
    levels: int
    per_level: np.ndarray = field(init=False)
    per_level_complex: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.per_level = np.zeros((self.levels, self.num_classes, self.num_classes), dtype=np.int64)
        self.per_level_complex = np.zeros_like(self.per_level)

    def _counts(self, pred: torch.Tensor, target: torch.Tensor, keep: torch.Tensor) -> np.ndarray:
        k, z = self.num_classes, self.levels
        level = torch.arange(z, device=target.device).view(1, z, 1, 1).expand_as(target)
        code = (level * k + target.clamp(max=k - 1)) * k + pred
        flat = torch.bincount(code[keep].reshape(-1), minlength=z * k * k)
        return flat.view(z, k, k).cpu().numpy().astype(np.int64)

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: ``pred`` and ``target`` (B, Z, H, W) class codes, UNLABELED voxels ignored."""
        if pred.shape != target.shape:
            raise ValueError(f"prediction shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
        pred = pred.long()
        target = target.long()
        labeled = target != UNLABELED
        self.per_level += self._counts(pred, target, labeled)
        complex_cols = complex_column_mask(target)[:, None]
        self.per_level_complex += self._counts(pred, target, labeled & complex_cols)

    @property
    def matrix(self) -> np.ndarray:
        return self.per_level.sum(axis=0)

    def merge(self, other: ConfusionAccumulator) -> None:
        self.per_level += other.per_level
        self.per_level_complex += other.per_level_complex

    def compute(self, height_centres_km: list[float] | None = None) -> dict:
        """The full metrics dictionary (see the module docstring), ready for JSON."""
        out = metrics_from_confusion(self.matrix)
        per_level = []
        for z in range(self.levels):
            n = int(self.per_level[z].sum())
            entry = {
                "level": z,
                "labeled_voxels": n,
                "accuracy": float(np.trace(self.per_level[z]) / n) if n else None,
            }
            if height_centres_km is not None:
                entry["height_km"] = float(height_centres_km[z])
            per_level.append(entry)
        out["per_level"] = per_level
        complex_metrics = metrics_from_confusion(self.per_level_complex.sum(axis=0))
        out["complex_columns"] = complex_metrics
        out["definitions"] = DEFINITIONS
        return out
