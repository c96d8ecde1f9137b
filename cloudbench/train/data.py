"""Opening DATASET/ splits for training and evaluation, and describing them for checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from cloudbench.errors import MissingInputError, UserError

SPLITS = ("train", "val", "test")


def open_split(root: str | Path, split: str, normalize: bool = True) -> Dataset:
    """The loader's dataset for one split of DATASET/ (UserError if the folder or split is missing)."""
    from cloudbench.dataset.loader import CloudbenchDataset

    if "://" in str(root):  # an fsspec URL: the loader reads it and names what is missing
        root_ref: str | Path = str(root)
    else:
        root_ref = Path(root)
    if isinstance(root_ref, Path) and not (root_ref / "manifest.json").exists():
        raise MissingInputError(
            "not a cloudbench dataset (no manifest.json)", path=root_ref, fix="build one with `cloudbench build-splits`"
        )
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}", fix=f"use one of {', '.join(SPLITS)}")
    # the default sparse track targets: the loss and metrics index the output at the track, on the device
    ds = CloudbenchDataset(root_ref, split, normalize=normalize, mask=False)  # the loss indexes the track
    if len(ds) == 0:
        raise UserError(f"split {split!r} has no samples", path=root_ref, fix="build the dataset from more days")
    return ds


def describe(ds: Any) -> dict[str, Any]:
    """What a checkpoint must remember about the data to rebuild and check the model later."""
    return {
        "band_names": list(ds.band_names),
        "aux_names": list(ds.aux_names),
        "height_edges_km": [float(e) for e in ds.height_edges_km],
        "num_classes": int(ds.num_classes),
        "patch_size": int(ds.patch_size),
        "class_counts": [int(c) for c in ds.class_counts()],
    }


def check_compatible(expected: dict[str, Any], ds: Any, where: str) -> None:
    """UserError if a dataset's bands, aux, height grid or classes differ from the model's."""
    got = describe(ds)
    for key in ("band_names", "aux_names", "num_classes"):
        if got[key] != expected[key]:
            raise UserError(
                f"dataset {key} {got[key]} differ from the checkpoint's {expected[key]}",
                path=where,
                fix="evaluate on a dataset built with the same bands, aux channels and classes",
            )
    if not np.allclose(got["height_edges_km"], expected["height_edges_km"]):
        raise UserError("dataset height grid differs from the checkpoint's", path=where,
                        fix="evaluate on a dataset built with the same --levels")


def seed_worker(worker_id: int) -> None:
    """Seed numpy and random in each DataLoader worker from torch's per-worker seed."""
    import random

    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(
    ds: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A seeded DataLoader: the shuffle order and worker seeds depend only on ``seed``."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        generator=generator,
        worker_init_fn=seed_worker,
        pin_memory=pin_memory,
        persistent_workers=False,
        drop_last=False,
    )
