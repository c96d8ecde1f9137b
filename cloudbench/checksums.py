"""File checksums shared by every stage: readers record them, collocate lists its inputs with them,
the manifest and ``verify`` compare them. One streaming implementation, so all agree byte for byte."""

from __future__ import annotations

import hashlib
from pathlib import Path

BLOCK = 1 << 20


def sha256_file(path: str | Path, block: int = BLOCK) -> str:
    """Hex SHA-256 of a file, read in blocks (memory stays flat for multi-GB files)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
    return digest.hexdigest()
