"""The training loop: sparse-guided loss, AdamW + cosine schedule, early stopping, exact resume.

Reproducibility is built in rather than hoped for: every epoch reseeds torch and its shuffle order from
(seed, epoch), so an epoch's randomness does not depend on what ran before it; with the model,
optimiser, scheduler, early-stopping state and history restored from the last checkpoint, a run killed
after an epoch and resumed gives the same weights and metrics as one that never stopped (on CPU,
where kernels are deterministic).
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cloudbench.errors import DataError, UserError
from cloudbench.models import build_from_spec, build_model
from cloudbench.progress import progress_bar
from cloudbench.train.data import describe, make_loader
from cloudbench.train.device import autocast_for, resolve_device
from cloudbench.train.evaluate import evaluate_model
from cloudbench.train.losses import SparsePhaseLoss, class_weights
from cloudbench.train.targets import TrackTargets

CHECKPOINT_FORMAT = "cloudbench-checkpoint-1"
EARLY_STOP_METRIC = "macro_all.f1"  # validation macro F1 over all four classes


@dataclass
class TrainConfig:
    """Every knob of a training run; stored in each checkpoint."""

    model: str = "sgmagnet"
    size: str = "small"
    epochs: int = 30
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    dice_weight: float = 1.0
    class_weight_power: float = 0.5  # 1 = inverse frequency; see cloudbench.train.losses.class_weights
    grad_clip: float = 1.0
    patience: int = 6
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0

    def validate(self) -> None:
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise UserError(f"--lr must be positive, got {self.lr}")
        if self.class_weight_power < 0:
            raise UserError(f"--class-weight-power must be >= 0, got {self.class_weight_power}")
        if self.num_workers < 0:
            raise UserError(f"--num-workers must be >= 0, got {self.num_workers}")


@dataclass
class EpochRecord:
    """One line of the learning curve."""

    epoch: int
    train_loss: float
    train_ce: float
    train_dice: float
    val_loss: float
    val_macro_f1: float | None
    val_macro_f1_cloud: float | None
    val_accuracy: float | None
    lr: float
    samples_per_s: float
    data_wait_fraction: float
    seconds: float


@dataclass
class TrainState:
    """What resumes a run: the epoch counter, early-stopping state and the learning curve."""

    epoch: int = 0  # epochs completed
    best_score: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    stopped_early: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _cosine_with_warmup(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary name, then rename: a killed save never leaves a half checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by the trainer (DataError names the file if it is not one)."""
    path = Path(path)
    if not path.exists():
        from cloudbench.errors import MissingInputError

        raise MissingInputError("checkpoint not found", path=path, fix="point --checkpoint at RUN/checkpoints/best.pt")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise DataError(f"cannot read checkpoint: {exc}", path=path) from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise DataError("not a cloudbench checkpoint", path=path, fix="use a file from RUN/checkpoints/")
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any]) -> torch.nn.Module:
    model = build_from_spec(ckpt["model_spec"])
    model.load_state_dict(ckpt["model_state"])
    return model


class Trainer:
    """Trains one model on a train split, validating each epoch; writes RUN/checkpoints/{last,best}.pt."""

    def __init__(self, config: TrainConfig, train_ds: Any, val_ds: Any, out: str | Path, *, progress: bool = False,
                 dataset_ref: str | None = None):
        config.validate()
        self.config = config
        self.train_ds = train_ds
        self.val_ds = val_ds
        self.out = Path(out)
        self.ckpt_dir = self.out / "checkpoints"
        self.progress = progress
        self.data_info = describe(train_ds)
        self.data_info["dataset"] = dataset_ref
        self.device = resolve_device(config.device)
        if self.device.type == "cpu":
            torch.use_deterministic_algorithms(True, warn_only=True)
        seed_everything(config.seed)
        self.model = build_model(
            config.model,
            in_channels=len(self.data_info["band_names"]),
            aux_channels=len(self.data_info["aux_names"]),
            num_classes=self.data_info["num_classes"],
            levels=len(self.data_info["height_edges_km"]) - 1,
            size=config.size,
        ).to(self.device)
        self.loss_fn = SparsePhaseLoss(
            class_weights(self.data_info["class_counts"], power=config.class_weight_power), config.dice_weight
        ).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        steps_per_epoch = math.ceil(len(train_ds) / config.batch_size)
        total = steps_per_epoch * config.epochs
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, _cosine_with_warmup(total, max(1, int(config.warmup_fraction * total)))
        )
        self.state = TrainState()

    # -- checkpoints -------------------------------------------------------------------------
    def _checkpoint(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "model_spec": asdict(self.model.spec),
            "model_state": self.model.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "scheduler_state": self.scheduler.state_dict(),
            "train_state": asdict(self.state),
            "config": asdict(self.config),
            "data": self.data_info,
            "rng": {
                "torch": torch.get_rng_state(),
                "numpy": np.random.get_state(),
                "python": random.getstate(),
            },
        }

    def resume(self) -> None:
        """Restore everything from RUN/checkpoints/last.pt (UserError if there is none or it differs)."""
        path = self.ckpt_dir / "last.pt"
        if not path.exists():
            raise UserError("--resume but the run has no checkpoint", path=path, fix="start without --resume")
        ckpt = load_checkpoint(path)
        if ckpt["model_spec"] != asdict(self.model.spec):
            raise UserError(
                f"checkpoint is a {ckpt['model_spec']} model, this run asks for {asdict(self.model.spec)}",
                path=path, fix="resume with the same --model, --size and dataset",
            )
        self.model.load_state_dict(ckpt["model_state"])
        self.optimizer.load_state_dict(ckpt["optimizer_state"])
        self.scheduler.load_state_dict(ckpt["scheduler_state"])
        self.state = TrainState(**ckpt["train_state"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        np.random.set_state(ckpt["rng"]["numpy"])
        random.setstate(ckpt["rng"]["python"])

    # -- loop ----------------------------------------------------------------------------------
    def _train_epoch(self, epoch: int) -> dict[str, float]:
        cfg = self.config
        torch.manual_seed(cfg.seed * 100_003 + epoch)  # dropout etc.: depends on (seed, epoch) only
        loader = make_loader(self.train_ds, cfg.batch_size, shuffle=True, seed=cfg.seed * 100_003 + epoch,
                             num_workers=cfg.num_workers, pin_memory=self.device.type == "cuda")
        self.model.train()
        sums = {"loss": 0.0, "ce": 0.0, "dice": 0.0}
        n_samples, wait, busy = 0, 0.0, 0.0
        bar = progress_bar(len(loader), f"epoch {epoch + 1}/{cfg.epochs}", "batch", enabled=self.progress,
                           leave=False)
        it = iter(loader)
        start = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                break
            x = batch["image"].to(self.device, non_blocking=True)
            aux = batch["aux"].to(self.device, non_blocking=True)
            targets = TrackTargets.from_batch(batch, self.device, non_blocking=True)  # widened on the device
            t1 = time.perf_counter()
            with autocast_for(self.device):
                logits = self.model(x, aux)
            losses = self.loss_fn(logits, targets)
            self.optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            t2 = time.perf_counter()
            b = x.shape[0]
            for k in sums:
                sums[k] += float(losses[k].detach()) * b
            n_samples += b
            wait += t1 - t0
            busy += t2 - t0
            bar.update(1)
            bar.set_postfix(loss=f"{float(losses['loss'].detach()):.3f}", samples_s=f"{n_samples / (t2 - start):.1f}")
        bar.close()
        elapsed = time.perf_counter() - start
        n = max(n_samples, 1)
        return {
            "train_loss": sums["loss"] / n,
            "train_ce": sums["ce"] / n,
            "train_dice": sums["dice"] / n,
            "samples_per_s": n_samples / elapsed if elapsed > 0 else 0.0,
            "data_wait_fraction": wait / busy if busy > 0 else 0.0,
        }

    def fit(self, resume: bool = False, on_epoch_end: Callable[[int, dict], None] | None = None) -> TrainState:
        """Train until ``epochs`` or early stopping; returns the final state (history included).

        ``on_epoch_end(epoch, record)`` runs after the epoch's checkpoints are on disk.
        """
        if resume:
            self.resume()
        cfg = self.config
        while self.state.epoch < cfg.epochs and not self.state.stopped_early:
            epoch = self.state.epoch
            t_start = time.perf_counter()
            train_stats = self._train_epoch(epoch)
            val = evaluate_model(self.model, self.val_ds, self.device, batch_size=cfg.batch_size,
                                 loss_fn=self.loss_fn, num_workers=cfg.num_workers)
            score = _lookup(val["metrics"], EARLY_STOP_METRIC)
            record = EpochRecord(
                epoch=epoch + 1,
                train_loss=train_stats["train_loss"],
                train_ce=train_stats["train_ce"],
                train_dice=train_stats["train_dice"],
                val_loss=val["loss"],
                val_macro_f1=score,
                val_macro_f1_cloud=val["metrics"]["macro_cloud"]["f1"],
                val_accuracy=val["metrics"]["accuracy"],
                lr=float(self.optimizer.param_groups[0]["lr"]),
                samples_per_s=train_stats["samples_per_s"],
                data_wait_fraction=train_stats["data_wait_fraction"],
                seconds=time.perf_counter() - t_start,
            )
            self.state.history.append(asdict(record))
            self.state.epoch = epoch + 1
            score_v = -math.inf if score is None else score
            if score_v > self.state.best_score:
                self.state.best_score = score_v
                self.state.best_epoch = epoch + 1
                self.state.bad_epochs = 0
                improved = True
            else:
                self.state.bad_epochs += 1
                improved = False
            if self.state.bad_epochs >= cfg.patience:
                self.state.stopped_early = True
            ckpt = self._checkpoint()
            if improved:
                atomic_save(ckpt, self.ckpt_dir / "best.pt")
            atomic_save(ckpt, self.ckpt_dir / "last.pt")
            if on_epoch_end is not None:
                on_epoch_end(epoch, asdict(record))
        return self.state


def _lookup(metrics: dict, dotted: str) -> float | None:
    value: Any = metrics
    for key in dotted.split("."):
        value = value[key]
    return value
