"""The two commands' library functions: train a baseline into RUN/, and evaluate any checkpoint.

Both end with the same outputs (metrics.json, report.md, figures) so runs compare side by side.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from cloudbench.train.data import check_compatible
from cloudbench.train.device import resolve_device
from cloudbench.train.evaluate import SplitProvider, dataset_splits, evaluate_baselines, evaluate_model
from cloudbench.train.report import write_run_outputs
from cloudbench.train.trainer import TrainConfig, Trainer, load_checkpoint, model_from_checkpoint

DEFAULT_CURTAINS = 4


def _document(ckpt: dict[str, Any], ckpt_path: Path | None, split: str, result: dict[str, Any],
              dataset_ref: str | None, baselines: dict[str, Any] | None) -> dict[str, Any]:
    spec = ckpt["model_spec"]
    model = model_from_checkpoint(ckpt)
    state = ckpt["train_state"]
    return {
        "model": {**spec, "parameters": sum(p.numel() for p in model.parameters())},
        "split": split,
        "dataset": dataset_ref,
        "checkpoint": None if ckpt_path is None else str(ckpt_path),
        "epoch": state["epoch"],
        "best_epoch": state["best_epoch"],
        "samples": result["samples"],
        "config": ckpt["config"],
        "metrics": result["metrics"],
        "baselines": baselines or {},
        "history": state["history"],
    }


def evaluate_to(out: str | Path, ckpt_path: str | Path, splits: SplitProvider, split: str = "test", *,
                device: str = "auto", batch_size: int = 8, dataset_ref: str | None = None,
                baselines: bool = True, curtains: int = DEFAULT_CURTAINS,
                extra: dict[str, Any] | None = None, progress: bool | None = None) -> dict[str, Any]:
    """Evaluate a checkpoint on a split and write metrics.json, report.md and figures into ``out``."""
    ckpt_path = Path(ckpt_path)
    ckpt = load_checkpoint(ckpt_path)
    ds = splits(split, True)
    check_compatible(ckpt["data"], ds, str(dataset_ref or split))
    dev = resolve_device(device)
    model = model_from_checkpoint(ckpt).to(dev)
    result = evaluate_model(model, ds, dev, batch_size=batch_size, curtains=curtains, progress=progress)
    base = evaluate_baselines(splits, split) if baselines else None
    doc = {**_document(ckpt, ckpt_path, split, result, dataset_ref, base), **(extra or {})}
    return write_run_outputs(Path(out), doc, result["curtains"], list(ds.height_edges_km))


def train_on(splits: SplitProvider, out: str | Path, config: TrainConfig, *, resume: bool = False,
             progress: bool = False, dataset_ref: str | None = None, on_epoch_end=None) -> dict[str, Any]:
    """Train on the train split, early-stop on val, then evaluate the best checkpoint on test into ``out``."""
    out = Path(out)
    trainer = Trainer(config, splits("train", True), splits("val", True), out, progress=progress,
                      dataset_ref=dataset_ref)
    trainer.fit(resume=resume, on_epoch_end=on_epoch_end)
    # the whole run's learning curve, not only the part up to the best epoch
    extra = {"history": trainer.state.history, "stopped_early": trainer.state.stopped_early, "config": asdict(config)}
    return evaluate_to(out, out / "checkpoints" / "best.pt", splits, "test", device=config.device,
                       batch_size=config.batch_size, dataset_ref=dataset_ref, extra=extra)


def train_baseline(dataset: str | Path, out: str | Path, config: TrainConfig, *, resume: bool = False,
                   progress: bool = False) -> dict[str, Any]:
    """``cloudbench train-baseline``: train on DATASET/ into RUN/ and evaluate on its test split."""
    return train_on(dataset_splits(dataset), out, config, resume=resume, progress=progress, dataset_ref=str(dataset))


def evaluate_checkpoint(dataset: str | Path, checkpoint: str | Path, split: str = "test", out: str | Path | None = None,
                        *, device: str = "auto", batch_size: int = 8, progress: bool = False) -> dict[str, Any]:
    """``cloudbench evaluate``: any checkpoint on any split; ``out`` defaults to the checkpoint's RUN/eval-<split>."""
    checkpoint = Path(checkpoint)
    if out is None:
        out = checkpoint.parent.parent / f"eval-{split}"
    return evaluate_to(out, checkpoint, dataset_splits(dataset), split, device=device, batch_size=batch_size,
                       dataset_ref=str(dataset), progress=progress)
