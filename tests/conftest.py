"""Session fixtures shared across stages: a DATASET/ made by the whole pipeline from a synthetic archive."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def pipeline_dataset(tmp_path_factory):
    """DATASET/ built by synthetic archive -> collocate -> build-splits (cloudbench.demo).

    Four days (every other day from 2018-10-01, one daytime pass each) over the paper region at
    reduction 10, 16 x 16 patches, three bands that carry the phase signal (1.6 um, 10.4 um, 11.2 um):
    about 230 samples, two days for training and one each for validation and test.
    """
    from cloudbench.demo import build_synthetic_benchmark

    return build_synthetic_benchmark(tmp_path_factory.mktemp("pipeline"), days=4, bands=("B05", "B13", "B14"),
                                     reduction=10, patch_size=16, seed=0)
