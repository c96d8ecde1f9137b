"""Session fixtures shared across stages: a DATASET/ made by the whole pipeline from a synthetic archive."""

from __future__ import annotations

import os

import hdf5plugin
import pytest

# netCDF4's wheels carry their own HDF5, which finds hdf5plugin's filters (FCIDECOMP, used by compressed
# FCI chunks) only through HDF5_PLUGIN_PATH set before netCDF4 is first imported: satpy reads FCI through
# netCDF4, so the test session sets it here, as a satpy user of compressed chunks does (docs/meteosat.md).
os.environ.setdefault("HDF5_PLUGIN_PATH", hdf5plugin.PLUGIN_PATH)

# A 20-level height grid (0-19.2 km in 0.96 km bins) instead of the product's 80 x 0.24 km: the
# volumetric head's cost grows with the number of levels, and at 80 levels the trained-model benchmark
# cannot train to convergence within the test-suite budget on a CI machine; the phase physics (cloud top
# from the window brightness temperature, phase from the temperature at each height) is the same.
PIPELINE_LEVELS = "0:19.2:0.96"


@pytest.fixture(scope="session")
def pipeline_dataset(tmp_path_factory):
    """DATASET/ built by synthetic archive -> collocate -> build-splits (cloudbench.demo).

    Six days (every other day from 2018-10-01, one daytime pass each) over the paper region at
    reduction 10, 16 x 16 patches, three bands that carry the phase signal (1.6 um, 10.4 um, 11.2 um),
    on the coarse ``PIPELINE_LEVELS`` grid: four days for training and one each for validation and
    test (about 350 samples); building it takes about a minute.
    """
    from cloudbench.demo import build_synthetic_benchmark

    return build_synthetic_benchmark(tmp_path_factory.mktemp("pipeline"), days=6, bands=("B05", "B13", "B14"),
                                     reduction=10, patch_size=16, seed=0, levels=PIPELINE_LEVELS)
