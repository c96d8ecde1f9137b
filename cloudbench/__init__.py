"""cloudbench: AI-ready pairs of geostationary imagery and spaceborne lidar/radar cloud phase profiles.

The public API, one entry point per stage (imported lazily so that ``import cloudbench`` stays cheap
and does not pull in torch or dask until a stage needs them)::

    open_product, read_profiles   readers: any supported product file -> common schema
    download                      sources: plan and fetch granules and imagery into ARCHIVE/
    collocate                     collocate: ARCHIVE/ -> PAIRS/
    build_dataset                 dataset: PAIRS/ -> DATASET/ (splits, shards, manifest)
    CloudbenchDataset             dataset: a torch Dataset over one split of DATASET/
    train_baseline                train: DATASET/ -> RUN/
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from cloudbench.errors import (
    CloudbenchError,
    CredentialsError,
    DataError,
    MissingInputError,
    PartialError,
    UserError,
)
from cloudbench.extras import DISTRIBUTION

try:  # installed under its name on the package index, not under the import name
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

_LAZY = {
    "open_product": "cloudbench.readers.registry",
    "read_profiles": "cloudbench.readers.registry",
    "download": "cloudbench.sources.download",
    "collocate": "cloudbench.collocate.run",
    "build_dataset": "cloudbench.dataset.build",
    "CloudbenchDataset": "cloudbench.dataset.loader",
    "train_baseline": "cloudbench.train.pipeline",
}

__all__ = [
    # stages
    "open_product",
    "read_profiles",
    "download",
    "collocate",
    "build_dataset",
    "CloudbenchDataset",
    "train_baseline",
    # errors
    "CloudbenchError",
    "UserError",
    "MissingInputError",
    "CredentialsError",
    "DataError",
    "PartialError",
    "__version__",
]


_NEEDS_TRAIN = {"CloudbenchDataset", "train_baseline"}  # torch: the ``train`` extra


def __getattr__(name: str) -> Any:
    if name in _NEEDS_TRAIN:
        from cloudbench.extras import import_from_extra

        return getattr(import_from_extra(_LAZY[name], "train", f"cloudbench.{name}"), name)
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cloudbench' has no attribute {name!r}")
