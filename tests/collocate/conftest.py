"""A small synthetic archive shared by the collocation end-to-end tests (one pass, four AHI slots)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

START, END = "2018-10-01T03:50", "2018-10-01T04:30"
REGION = "120,-40,160,40"


@pytest.fixture(scope="session")
def synthetic_archive(tmp_path_factory):
    """ARCHIVE/ with one real granule, a second copy of it under another orbit's name, and a truncated one."""
    from cloudbench.synthetic.archive import write_archive

    root = tmp_path_factory.mktemp("archive")
    archive = write_archive(root, start=START, end=END, region=REGION, imager="himawari",
                            labels=("cldclass-lidar",), bands=("B13",), reduction=10, seed=0, max_dt_s=300)
    (granule,) = archive.granules
    src = Path(granule.path)
    twin = src.with_name(src.name.replace("_65576_", "_65599_").replace("035853", "035854"))
    shutil.copy(src, twin)
    broken = src.with_name(src.name.replace("_65576_", "_65598_").replace("035853", "035852"))
    broken.write_bytes(src.read_bytes()[: src.stat().st_size // 3])
    return {"root": root, "archive": archive, "granule": src, "twin": twin, "broken": broken}
