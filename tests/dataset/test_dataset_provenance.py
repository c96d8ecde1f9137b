"""The whole chain's provenance: a DATASET/ built from a real collocate run names the archive files
its samples came from, with checksums that match those files."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cloudbench.checksums import sha256_file
from cloudbench.demo import MIN_DAYS, PAIRS, SOURCE, build_synthetic_benchmark


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    """The smallest whole-pipeline DATASET/ (one day per split, one band): provenance needs no more."""
    return build_synthetic_benchmark(tmp_path_factory.mktemp("provenance"), days=MIN_DAYS, bands=("B13",),
                                     reduction=10, patch_size=16, seed=0)


def test_manifest_lists_the_granules_and_imager_files_of_the_samples(small_dataset):
    root = small_dataset.parent
    manifest = json.loads((small_dataset / "manifest.json").read_text())
    listed = {s["name"]: s for s in manifest["source_files"]}
    on_disk = {p.name: p for p in (root / SOURCE).rglob("*") if p.is_file()}

    samples = pd.concat([pd.read_parquet(p) for p in sorted((root / PAIRS / "samples").glob("*.parquet"))])
    imager = set(";".join(samples["imager_files"]).split(";"))
    granules = {f"{g}.hdf" for g in samples["granule_id"]}
    assert imager and granules
    # every file a sample was cut from is listed, as what it is; granules without samples may be too
    assert {n for n, s in listed.items() if s["kind"] == "imager"} == imager
    assert granules <= {n for n, s in listed.items() if s["kind"] == "granule"}
    for name, entry in listed.items():
        assert entry["sha256"] == sha256_file(on_disk[name]), name
