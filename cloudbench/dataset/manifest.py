"""manifest.json: the dataset's root of trust.

Everything a user needs to trust or rebuild the dataset is in it: the schema and cloudbench versions,
the full build configuration, the PAIRS inputs with their sha256, and per split the counts and the
sha256 of every store file. It also carries ``manifest_sha256``, a sha256 over its own canonical
content minus the creation time and that field, so an edit by hand is caught by ``verify``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from cloudbench.checksums import sha256_file
from cloudbench.errors import DataError

SCHEMA_VERSION = "1.0"
MANIFEST_NAME = "manifest.json"
CREATED_FIELD = "created"
HASH_FIELD = "manifest_sha256"
_VOLATILE = (CREATED_FIELD, HASH_FIELD)


def canonical_bytes(doc: dict) -> bytes:
    """One byte string per content: sorted keys, no whitespace, ASCII."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def content_hash(manifest: dict) -> str:
    """sha256 of the manifest without its creation time and without this hash."""
    body = {k: v for k, v in manifest.items() if k not in _VOLATILE}
    return hashlib.sha256(canonical_bytes(body)).hexdigest()


def seal(manifest: dict) -> dict:
    """Set ``manifest_sha256``; call after the last change."""
    manifest[HASH_FIELD] = content_hash(manifest)
    return manifest


def file_entry(root: Path, path: Path) -> dict:
    return {"path": path.relative_to(root).as_posix(), "sha256": sha256_file(path), "bytes": path.stat().st_size}


def write_json_atomic(path: Path, doc: dict) -> None:
    """Write JSON under a temporary name and rename, so a crash never leaves a half file in place."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True, allow_nan=False) + "\n")
    os.replace(tmp, path)


def write_manifest(root: Path, manifest: dict) -> Path:
    path = Path(root) / MANIFEST_NAME
    write_json_atomic(path, seal(manifest))
    return path


def read_manifest(root: str | Path) -> dict:
    """The manifest of DATASET/ as a dict.

    Raises:
        DataError: missing, not JSON, or not an object.
    """
    path = Path(root) / MANIFEST_NAME
    if not path.exists():
        raise missing_manifest(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"manifest is not readable ({exc})", path=path) from exc
    return parse_manifest(raw, path)


def missing_manifest(where: str | Path) -> DataError:
    return DataError("manifest.json is missing: not a complete cloudbench dataset", path=where,
                     fix="rebuild with `cloudbench build-splits`")


def parse_manifest(raw: bytes | str, where: str | Path) -> dict:
    """The manifest document from its bytes (read from a folder or an object store); DataError names ``where``."""
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise DataError(f"manifest is not valid JSON ({exc})", path=where) from exc
    if not isinstance(doc, dict):
        raise DataError("manifest is not a JSON object", path=where)
    return doc
