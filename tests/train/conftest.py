"""Fixtures for the trainer tests: a toy in-memory split set and a real DATASET/ built from fake PAIRS/."""

from __future__ import annotations

import copy

import pytest
import torch

from cloudbench.dataset.build import build_dataset
from cloudbench.dataset.testing import write_fake_pairs
from cloudbench.train.toydata import toy_splits


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """One intra-op thread: tiny tensors gain nothing from more, and a shared machine loses a lot."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def toy():
    """Toy splits where brightness temperature decides phase, and a SplitProvider over them."""
    splits = toy_splits(n_train=48, n_val=12, n_test=16, patch_size=16, levels=20, seed=3)

    def provider(split: str, normalize: bool):
        ds = copy.copy(splits[split])
        ds.normalize = normalize
        return ds

    return provider


@pytest.fixture(scope="session")
def fake_dataset(tmp_path_factory):
    """A real DATASET/ (sharded Zarr, manifest, stats) built by the dataset builder from fake PAIRS/."""
    root = tmp_path_factory.mktemp("fake")
    pairs = write_fake_pairs(root / "PAIRS", days=10, samples_per_day=4, seed=0, patch_size=16)
    build_dataset(pairs, root / "DATASET", seed=0, summary=False, progress=False)
    return root / "DATASET"
