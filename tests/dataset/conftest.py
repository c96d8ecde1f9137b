"""Shared fixtures: one small PAIRS/ and one dataset built from it, reused read-only by the tests."""

from __future__ import annotations

import shutil

import pytest

from cloudbench.dataset.build import build_dataset
from cloudbench.dataset.testing import write_fake_pairs

N_DAYS = 14
SAMPLES_PER_DAY = 4
BLOCK_DAYS = 1


@pytest.fixture(scope="session")
def pairs_dir(tmp_path_factory):
    return write_fake_pairs(tmp_path_factory.mktemp("pairs") / "PAIRS", days=N_DAYS, samples_per_day=SAMPLES_PER_DAY, seed=3)


@pytest.fixture(scope="session")
def built(pairs_dir, tmp_path_factory):
    """(DATASET path, manifest) built once with a small shard size so every split has several shards.

    One-day blocks: 14 days are then enough for the hash rule to give several val, test and guard
    days, which the leakage checks need (7-day blocks would fall back to the chronological rule).
    """
    out = tmp_path_factory.mktemp("ds") / "DATASET"
    manifest = build_dataset(pairs_dir, out, seed=0, shard_size=3, block_days=BLOCK_DAYS)
    return out, manifest


@pytest.fixture()
def dataset_copy(built, tmp_path):
    """A private copy of the built dataset that a test may damage."""
    dst = tmp_path / "DATASET"
    shutil.copytree(built[0], dst)
    return dst
