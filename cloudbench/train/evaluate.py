"""Evaluation: run a model (or a reference predictor) over a split, accumulate one confusion matrix.

Also the pieces the report needs: curtains (height x along-track) of true and predicted phase for a
few samples, and the side-by-side comparison of finished runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cloudbench.config import UNLABELED
from cloudbench.errors import MissingInputError, UserError
from cloudbench.progress import progress_bar
from cloudbench.train.data import make_loader
from cloudbench.train.device import autocast_for
from cloudbench.train.metrics import ConfusionAccumulator
from cloudbench.train.targets import TrackTargets

SplitProvider = Callable[[str, bool], Any]  # (split, normalize) -> dataset
MIN_CURTAIN_COLUMNS = 4


def track_curtain(target: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray] | None:
    """Order a sample's track pixels along the track and cut (Z, L) curtains of truth and prediction.

    Track pixels are the columns with at least one labelled voxel. Their order along the track is their
    projection on the principal axis of the pixel positions (the track is nearly straight within a
    patch); the returned ``distance_px`` is that projection, starting at 0.
    """
    labeled_cols = (target != UNLABELED).any(axis=0)
    rows, cols = np.nonzero(labeled_cols)
    if rows.size < MIN_CURTAIN_COLUMNS:
        return None
    pts = np.stack([rows, cols], axis=1).astype(np.float64)
    centred = pts - pts.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    along = centred @ vt[0]
    if vt[0][0] < 0 or (vt[0][0] == 0 and vt[0][1] < 0):  # a fixed sense: top of the patch first
        along = -along
    order = np.argsort(along, kind="stable")
    return {
        "true": target[:, rows[order], cols[order]],
        "pred": pred[:, rows[order], cols[order]],
        "distance_px": along[order] - along[order][0],
        "rows": rows[order],
        "cols": cols[order],
    }


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module,
    ds: Any,
    device: torch.device,
    *,
    batch_size: int = 8,
    loss_fn: torch.nn.Module | None = None,
    num_workers: int = 0,
    curtains: int = 0,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Metrics of ``model`` on ``ds`` (labelled voxels only), mean loss, and up to ``curtains`` curtains.

    ``progress``: True for a bar over the batches (one line when done where no terminal shows it), False
    for only that line, None for neither (validation inside training, which has its own).
    """
    model.eval()
    levels = len(ds.height_edges_km) - 1
    acc = ConfusionAccumulator(ds.num_classes, levels)
    loader = make_loader(ds, batch_size, shuffle=False, seed=0, num_workers=num_workers)
    loss_sum, n = 0.0, 0
    kept: list[dict[str, Any]] = []
    bar = None if progress is None else progress_bar(len(loader), "evaluate", "batch", enabled=progress)
    for batch in loader:
        x = batch["image"].to(device)
        aux = batch["aux"].to(device)
        targets = TrackTargets.from_batch(batch, device)
        with autocast_for(device):
            logits = model(x, aux)
        acc.update(targets.take(logits).float().argmax(dim=1), targets.columns())  # labelled pixels only
        if loss_fn is not None:
            loss_sum += float(loss_fn(logits, targets)["loss"]) * x.shape[0]
        n += x.shape[0]
        if len(kept) < curtains:
            _collect_curtains(kept, curtains, batch["sample_id"], targets.dense(), logits.float().argmax(dim=1))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    centres = _centres(ds.height_edges_km)
    return {"metrics": acc.compute(centres), "loss": loss_sum / max(n, 1), "curtains": kept, "samples": n}


def _centres(edges: Iterable[float]) -> list[float]:
    e = np.asarray(list(edges), dtype=np.float64)
    return (0.5 * (e[:-1] + e[1:])).tolist()


def _collect_curtains(kept: list, wanted: int, ids: list[str], target: torch.Tensor, pred: torch.Tensor) -> None:
    for i in range(target.shape[0]):
        if len(kept) >= wanted:
            return
        curtain = track_curtain(target[i].cpu().numpy(), pred[i].cpu().numpy())
        if curtain is not None:
            curtain["sample_id"] = ids[i]
            kept.append(curtain)


@torch.no_grad()
def evaluate_predictor(predictor: Any, raw_ds: Any, *, batch_size: int = 16) -> dict[str, Any]:
    """Metrics of a reference predictor (``predict(image_raw) -> classes``) on un-normalised data."""
    levels = len(raw_ds.height_edges_km) - 1
    acc = ConfusionAccumulator(raw_ds.num_classes, levels)
    for batch in make_loader(raw_ds, batch_size, shuffle=False, seed=0):
        targets = TrackTargets.from_batch(batch)
        acc.update(targets.take(predictor.predict(batch["image"])), targets.columns())
    return acc.compute(_centres(raw_ds.height_edges_km))


def fit_batches(raw_ds: Any, max_samples: int = 256, batch_size: int = 16) -> Iterable[dict]:
    """Batches of at most ``max_samples`` training samples, for fitting the reference predictors."""
    from torch.utils.data import Subset

    subset = Subset(raw_ds, range(min(len(raw_ds), max_samples)))
    return list(make_loader(subset, batch_size, shuffle=False, seed=0))


def evaluate_baselines(splits: SplitProvider, split: str) -> dict[str, Any]:
    """Fit both reference predictors on the training split and score them on ``split``."""
    from cloudbench.train.baselines import BrightnessTemperaturePredictor, MajorityClassPredictor

    train_raw = splits("train", False)
    eval_raw = splits(split, False)
    batches = fit_batches(train_raw)
    levels = len(train_raw.height_edges_km) - 1
    majority = MajorityClassPredictor(levels).fit(batches)
    bt = BrightnessTemperaturePredictor(train_raw.band_names, train_raw.height_edges_km).fit(batches)
    return {
        majority.name: {"metrics": evaluate_predictor(majority, eval_raw), "params": {"per_level": majority.per_level.tolist()}},
        bt.name: {"metrics": evaluate_predictor(bt, eval_raw), "params": bt.describe()},
    }


def dataset_splits(root: str | Path) -> SplitProvider:
    """A SplitProvider over DATASET/ that opens each (split, normalize) once."""
    from cloudbench.train.data import open_split

    cache: dict[tuple[str, bool], Any] = {}

    def get(split: str, normalize: bool) -> Any:
        key = (split, normalize)
        if key not in cache:
            cache[key] = open_split(root, split, normalize)
        return cache[key]

    return get


# -- comparing finished runs -----------------------------------------------------------------------
COMPARE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("macro F1 (all)", "macro_all.f1"),
    ("macro F1 (cloud)", "macro_cloud.f1"),
    ("macro IoU (all)", "macro_all.iou"),
    ("micro F1 (cloud)", "micro_cloud.f1"),
    ("cloud-mask F1", "cloud_mask.f1"),
    ("complex macro F1", "complex_columns.macro_all.f1"),
    ("accuracy", "accuracy"),
)


def read_run_metrics(path: str | Path) -> dict[str, Any]:
    """RUN/metrics.json (or a metrics.json path itself); UserError names what is missing."""
    path = Path(path)
    file = path / "metrics.json" if path.is_dir() else path
    if not file.exists():
        raise MissingInputError("no metrics.json", path=file, fix="train or evaluate a model into that folder first")
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        from cloudbench.errors import DataError

        raise DataError(f"metrics.json is not valid JSON: {exc}", path=file) from exc


def _get(metrics: dict, dotted: str) -> Any:
    value: Any = metrics
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def compare_runs(paths: list[str | Path]) -> str:
    """A plain-text table with one column per run: model, size, parameters, split and headline metrics."""
    if not paths:
        raise UserError("--compare needs at least one RUN folder")
    docs = [(Path(p), read_run_metrics(p)) for p in paths]
    header = ["metric"] + [p.name or str(p) for p, _ in docs]
    rows = [
        ["model"] + [d.get("model", {}).get("name", "?") for _, d in docs],
        ["size"] + [str(d.get("model", {}).get("size", "?")) for _, d in docs],
        ["parameters"] + [f"{d.get('model', {}).get('parameters', 0):,}" for _, d in docs],
        ["split"] + [str(d.get("split", "?")) for _, d in docs],
    ]
    for label, key in COMPARE_COLUMNS:
        rows.append([label] + [_fmt(_get(d.get("metrics", {}), key)) for _, d in docs])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"
