"""``verify_dataset``: recompute every checksum and re-check schema, counts and split leakage.

All checks run and every fault is listed (a user fixing one should not discover the next one on the
next run); any fault raises ``DataError`` (exit 2) with the list. DATASET/ may be a folder or an
fsspec URL: every file is read through a :class:`~cloudbench.storage.Location`.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from cloudbench.config import CLASS_NAMES, NUM_CLASSES
from cloudbench.dataset import manifest as mf
from cloudbench.dataset.build import INDEX_NAME, STATS_NAME
from cloudbench.dataset.pairs import ARRAY_NAMES, SAMPLE_COLUMNS
from cloudbench.dataset.splits import EVAL_SPLITS, SPLITS, _neighbours, boxes_overlap, imager_slot
from cloudbench.dataset.stats import class_counts
from cloudbench.errors import DataError, MissingInputError
from cloudbench.storage import Location

REQUIRED_KEYS = ("schema_version", "cloudbench_version", "config", "bands", "aux_names", "patch_size",
                 "height_edges_km", "arrays", "source_files", "splits", "files", mf.HASH_FIELD)  # fmt: skip


def _check_manifest(manifest: dict, faults: list[str]) -> bool:
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        faults.append(f"manifest.json lacks {', '.join(missing)}")
        return False
    if manifest[mf.HASH_FIELD] != mf.content_hash(manifest):
        faults.append("manifest.json was edited or corrupted: its content no longer matches manifest_sha256 "
                      "(rebuild the dataset rather than editing the manifest)")
    if manifest["schema_version"] != mf.SCHEMA_VERSION:
        faults.append(f"manifest schema_version {manifest['schema_version']!r}, this cloudbench reads {mf.SCHEMA_VERSION!r}")
    if set(manifest["splits"]) != set(SPLITS):
        faults.append(f"manifest splits {sorted(manifest['splits'])}, expected {list(SPLITS)}")
        return False
    return True


def _check_files(root: Location, manifest: dict, faults: list[str]) -> int:
    checked = 0
    for entry in manifest["files"].values():
        checked += _check_entry(root, entry, faults)
    for split in SPLITS:
        recorded = {e["path"]: e for e in manifest["splits"][split].get("files", [])}
        present = set(root.list_files(f"{split}.zarr"))
        for path in sorted(set(recorded) - present):
            faults.append(f"{root.url(path)}: missing (a shard or metadata file of the {split} split listed in the manifest)")
        for path in sorted(present - set(recorded)):
            faults.append(f"{root.url(path)}: unexpected file in the {split} store (not in the manifest)")
        for path in sorted(set(recorded) & present):
            checked += _check_entry(root, recorded[path], faults)
    return checked


def _check_entry(root: Location, entry: dict, faults: list[str]) -> int:
    rel = entry["path"]
    path = root.url(rel)
    if not root.exists(rel):
        faults.append(f"{path}: missing (listed in the manifest)")
        return 0
    size = root.size(rel)
    if size != entry["bytes"]:
        faults.append(f"{path}: size {size} bytes, manifest says {entry['bytes']} (truncated or replaced)")
    elif root.sha256(rel) != entry["sha256"]:
        faults.append(f"{path}: sha256 mismatch, the file changed since the build (corrupted or edited)")
    return 1


def _array_meta(root: Location, store: str, name: str) -> dict | None:
    try:
        return json.loads(root.read_bytes(f"{store}/{name}/zarr.json"))
    except (OSError, ValueError):
        return None


def _check_schema_and_counts(root: Location, manifest: dict, index: pd.DataFrame, faults: list[str]) -> None:
    arrays = manifest["arrays"]
    for split in SPLITS:
        expected = int(manifest["splits"][split]["n_samples"])
        in_index = int((index["split"] == split).sum())
        if in_index != expected:
            faults.append(f"{root.url(INDEX_NAME)}: {in_index} rows of split {split}, manifest says {expected}")
        rows = np.sort(index.loc[index["split"] == split, "row"].to_numpy())
        if in_index == expected and not np.array_equal(rows, np.arange(expected)):
            faults.append(f"{root.url(INDEX_NAME)}: rows of split {split} are not 0..{expected - 1}")
        store = f"{split}.zarr"
        for name in ARRAY_NAMES:
            meta = _array_meta(root, store, name)
            where = root.url(f"{store}/{name}")
            if meta is None:
                faults.append(f"{root.url(f'{store}/{name}/zarr.json')}: array metadata missing or unreadable")
                continue
            spec = arrays.get(name, {})
            want_shape = [expected] + list(spec.get("sample_shape", []))
            if meta.get("shape") != want_shape:
                faults.append(f"{where}: shape {meta.get('shape')}, expected {want_shape}")
            if np.dtype(meta.get("data_type", "V")) != np.dtype(spec.get("dtype", "V")):
                faults.append(f"{where}: dtype {meta.get('data_type')}, expected {spec.get('dtype')}")


def _check_class_counts(root: Location, manifest: dict, faults: list[str]) -> None:
    import zarr

    for split in SPLITS:
        store = root.url(f"{split}.zarr")
        try:
            group = zarr.open_group(root.zarr_store(f"{split}.zarr"), mode="r")
            counts = class_counts(np.asarray(group["profiles"][:]), np.asarray(group["n_track"][:]))
        except Exception as exc:
            faults.append(f"{store}: labels cannot be read ({exc})")
            continue
        recorded = manifest["splits"][split]["class_counts"]
        if [recorded.get(CLASS_NAMES[k]) for k in range(NUM_CLASSES)] != counts.tolist():
            faults.append(f"{store}: voxel class counts {counts.tolist()} differ from the manifest's {recorded}")


def _check_leakage(index: pd.DataFrame, manifest: dict, faults: list[str]) -> None:
    """No sample, day, granule or overlapping patch in two splits; guard days respected."""
    region_mode = manifest["config"]["splits"].get("holdout_region") is not None
    dup = index[index["sample_id"].duplicated(keep=False)]
    for sid, group in dup.groupby("sample_id"):
        faults.append(f"sample {sid} is present in more than one split ({', '.join(sorted(set(group['split'])))})")

    def pairs_to_check():
        for i, a in enumerate(SPLITS):
            for b in SPLITS[i + 1 :]:
                yield a, b, region_mode and "test" in (a, b)

    by_split = {s: index[index["split"] == s] for s in SPLITS}
    for a, b, spatial in pairs_to_check():
        if spatial:
            continue  # region hold-out: test shares days with the others by design; overlap is checked below
        for column, what in (("split_day", "day"), ("granule_id", "granule")):
            shared = sorted(set(by_split[a][column].astype(str)) & set(by_split[b][column].astype(str)))
            if shared:
                more = f" and {len(shared) - 3} more" if len(shared) > 3 else ""
                faults.append(f"{what} {', '.join(shared[:3])}{more} in both {a} and {b} splits")
    train_days = set(by_split["train"]["split_day"].astype(str))
    eval_splits = ("val",) if region_mode else EVAL_SPLITS  # region test days may neighbour train days
    eval_days = set(index.loc[index["split"].isin(eval_splits), "split_day"].astype(str))
    for day in sorted(train_days):
        near = [n for n in _neighbours(day) if n in eval_days]
        if near:
            faults.append(f"train day {day} is next to evaluation day {near[0]}: the one-day guard is missing")
    size = int(manifest["patch_size"])
    slots = index["imager_files"].map(imager_slot)
    for _, group in index.groupby(slots):
        if group["split"].nunique() < 2:
            continue
        r0, c0, sp = group["patch_row0"].to_numpy(), group["patch_col0"].to_numpy(), group["split"].to_numpy()
        ids = group["sample_id"].to_numpy()
        for i in range(len(group)):
            hit = boxes_overlap(r0[i], c0[i], r0[i + 1 :], c0[i + 1 :], size) & (sp[i + 1 :] != sp[i])
            for j in np.flatnonzero(hit)[:1]:
                faults.append(f"patches {ids[i]} ({sp[i]}) and {ids[i + 1 + j]} ({sp[i + 1 + j]}) overlap in one imager scan")


def _read_manifest(root: Location) -> dict:
    if not root.remote:
        return mf.read_manifest(root.path)
    where = root.url(mf.MANIFEST_NAME)
    try:
        raw = root.read_bytes(mf.MANIFEST_NAME)
    except FileNotFoundError:
        raise DataError("manifest.json is missing: not a complete cloudbench dataset", path=where,
                        fix="rebuild with `cloudbench build-splits`") from None
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise DataError(f"manifest is not valid JSON ({exc})", path=where) from exc
    if not isinstance(doc, dict):
        raise DataError("manifest is not a JSON object", path=where)
    return doc


def verify_dataset(root: str | Path) -> dict:
    """Check a DATASET/ folder (or URL) end to end.

    Returns:
        A report: samples per split and the number of files whose checksum was recomputed.

    Raises:
        MissingInputError: the folder does not exist.
        DataError: any fault; the message lists them all.
    """
    where = str(root)
    root = Location(str(root))
    if not root.is_dir():
        raise MissingInputError("dataset folder not found", path=where)
    manifest = _read_manifest(root)
    faults: list[str] = []
    checked = 0
    if _check_manifest(manifest, faults):
        checked = _check_files(root, manifest, faults)
        index = None
        try:
            index = pd.read_parquet(io.BytesIO(root.read_bytes(INDEX_NAME)))
        except Exception as exc:
            faults.append(f"{root.url(INDEX_NAME)}: not readable ({exc})")
        if index is not None:
            lacking = [c for c in (*SAMPLE_COLUMNS, "split", "split_day") if c not in index.columns]
            if lacking:
                faults.append(f"{root.url(INDEX_NAME)}: lacks columns {', '.join(lacking)}")
            else:
                _check_schema_and_counts(root, manifest, index, faults)
                _check_leakage(index, manifest, faults)
        _check_class_counts(root, manifest, faults)
        try:
            stats = json.loads(root.read_bytes(STATS_NAME))
            if stats.get("bands") != manifest["bands"] or len(stats["x"]["mean"]) != len(manifest["bands"]):
                faults.append(f"{root.url(STATS_NAME)}: bands do not match the manifest")
        except (OSError, ValueError, KeyError) as exc:
            faults.append(f"{root.url(STATS_NAME)}: not readable ({exc})")
    if faults:
        listing = "\n".join(f"  - {f}" for f in faults)
        raise DataError(f"{len(faults)} fault(s) found:\n{listing}", path=where,
                        fix="rebuild with `cloudbench build-splits` (or re-download the dataset)")
    return {"ok": True, "files_checked": checked,
            "samples": {s: manifest["splits"][s]["n_samples"] for s in SPLITS}}
