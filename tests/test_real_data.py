"""The real sample files in tests/data/real are the ones their README describes, byte for byte.

The reader tests trust these files as ground truth for the products' layouts; a file damaged by a
checkout (line-ending conversion, a Git LFS pointer instead of the content) or edited by hand would
turn that trust into a silent error, so every file is checked against SHA256SUMS and the README.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

REAL_DATA = Path(__file__).resolve().parent / "data" / "real"
NOT_DATA = {"README.md", "SHA256SUMS"}


def _sums() -> dict[str, str]:
    sums = {}
    for line in (REAL_DATA / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name.lstrip("*")] = digest
    return sums


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def test_every_file_is_listed_and_every_listed_file_is_there():
    present = {p.name for p in REAL_DATA.iterdir() if p.is_file() and p.name not in NOT_DATA}
    assert present == set(_sums()), "tests/data/real and its SHA256SUMS list different files"
    assert len(present) >= 4


@pytest.mark.parametrize("name", sorted(_sums()))
def test_file_matches_its_sha256(name):
    assert _sha256(REAL_DATA / name) == _sums()[name], f"{name} differs from the archive's bytes"


@pytest.mark.parametrize("name", sorted(_sums()))
def test_readme_gives_origin_and_sha256(name):
    readme = (REAL_DATA / "README.md").read_text(encoding="utf-8")
    assert f"`{name}`" in readme, f"README.md does not describe {name}"
    assert _sums()[name] in readme, f"README.md does not give the sha256 of {name}"
