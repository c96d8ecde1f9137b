"""``build_dataset``: PAIRS/ -> DATASET/ (split stores, index, statistics, Croissant, manifest).

Order matters for trust: an old manifest is removed first and the new one is written last, so a
DATASET/ whose build was interrupted has no manifest and ``verify`` and the loader refuse it.

PAIRS/ and DATASET/ may be fsspec URLs. A DATASET/ URL is built in a local scratch folder by the
same code (so the bytes are the same) and published: the old manifest removed, every other file
uploaded, files of an earlier build that are no longer part of it removed, the manifest last.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

import cloudbench
from cloudbench.collocate import sample_schema as schema
from cloudbench.config import NUM_CLASSES, Region, parse_region
from cloudbench.dataset import croissant
from cloudbench.dataset import manifest as mf
from cloudbench.dataset.pairs import ARRAY_NAMES, Pairs, open_pairs
from cloudbench.dataset.shards import (
    DEFAULT_SHARD_SIZE,
    array_specs,
    compressor_config,
    store_files,
    write_split,
)
from cloudbench.dataset.splits import (
    DEFAULT_BLOCK_DAYS,
    GUARD,
    SPLITS,
    SplitConfig,
    assign_splits,
    guard_tradeoff,
)
from cloudbench.dataset.stats import ChannelStats, class_counts, counts_to_dict, stats_document
from cloudbench.errors import UserError
from cloudbench.progress import progress_bar
from cloudbench.storage import Location, is_remote, local_staging, name_of

INDEX_NAME = "index.parquet"
STATS_NAME = "stats.json"
CROISSANT_NAME = "croissant.json"
SPLIT_ORDER = {name: i for i, name in enumerate(SPLITS)}



def array_description(name: str, pairs: Pairs) -> str:
    """One sentence per array for croissant.json, from the attributes the stores carry."""
    attrs = schema.array_attributes(name, pairs.bands, pairs.aux_names, pairs.patch_size)
    parts = [attrs["long_name"][0].upper() + attrs["long_name"][1:]]
    if "units" in attrs:
        parts.append(f"units {attrs['units']}")
    if "flag_meanings" in attrs:
        codes = ", ".join(f"{v} {m}" for v, m in zip(attrs["flag_values"], attrs["flag_meanings"].split(), strict=True))
        parts.append(f"classes {codes}")
    if name in schema.PADDING:
        parts.append(f"padding {schema.PADDING[name]} beyond n_track")
    parts.append(f"dimensions ({', '.join(schema.DIMENSIONS[name])})")
    return "; ".join(parts) + "."


def _as_region(value: Region | str | tuple | list | None) -> Region | None:
    if value is None or isinstance(value, Region):
        return value
    try:
        if isinstance(value, str):
            return parse_region(value)
        return parse_region(",".join(str(v) for v in value))
    except ValueError as exc:
        raise UserError(str(exc)) from exc


def _prepare_out(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        known = {mf.MANIFEST_NAME, INDEX_NAME, STATS_NAME, CROISSANT_NAME, "summary.txt", "summary.png"}
        known |= {f"{s}.zarr" for s in SPLITS}
        strangers = [p.name for p in out.iterdir() if p.name not in known and not p.name.startswith(".")]
        if strangers:
            raise UserError(f"{out} exists and holds other files ({', '.join(sorted(strangers)[:5])})",
                            fix="choose an empty or new --out folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / mf.MANIFEST_NAME).unlink(missing_ok=True)  # from now on the folder is incomplete


def _source_files(pairs: Pairs, job_ids: list[str]) -> list[dict]:
    """The archive inputs as the collocate ledger recorded them (name, kind, sha256), de-duplicated."""
    seen: dict[str, dict] = {}
    for job_id in job_ids:
        for item in pairs.jobs[job_id].get("inputs", []) or []:
            if isinstance(item, dict) and item.get("name"):
                entry = {"name": str(item["name"]), "kind": item.get("kind"), "sha256": item.get("sha256")}
                seen.setdefault(entry["name"], entry)
    return [seen[k] for k in sorted(seen)]


def _pairs_files(pairs: Pairs, job_ids: list[str]) -> list[dict]:
    """sha256 of the PAIRS files this dataset was built from (config, tables, job stores)."""
    if not pairs.location.remote:
        root = Path(pairs.root)
        files = [root / "config.json"]
        for job_id in job_ids:
            files.append(root / "samples" / f"{job_id}.parquet")
            files.extend(store_files(root / "jobs" / f"{job_id}.zarr"))
        return [mf.file_entry(root, p) for p in files]
    loc = pairs.location
    rels = ["config.json"]
    for job_id in job_ids:
        rels.append(f"samples/{job_id}.parquet")
        rels.extend(loc.list_files(f"jobs/{job_id}.zarr"))
    return [{"path": rel, "sha256": loc.sha256(rel), "bytes": loc.size(rel)} for rel in rels]


def build_dataset(
    pairs: str | Path,
    out: str | Path,
    *,
    seed: int = 0,
    ratios: tuple[float, float, float] = (0.7, 0.15, 0.15),
    holdout_region: Region | str | tuple | None = None,
    holdout_month: str | None = None,
    block_days: int = DEFAULT_BLOCK_DAYS,
    shard_size: int = DEFAULT_SHARD_SIZE,
    summary: bool = True,
    progress: bool | None = None,
) -> dict:
    """Build DATASET/ from PAIRS/; same inputs and arguments give the same bytes.

    Args:
        pairs: the PAIRS/ folder written by ``collocate``.
        out: DATASET/ to (re)write; must be new, empty, or an earlier dataset.
        seed: seeds the day hash of the splits.
        ratios: train, val, test fractions of days (before guards; see ``splits``).
        holdout_region: W,S,E,N box (or a preset name) whose samples form the test split.
        holdout_month: YYYY-MM whose days form the test split.
        block_days: days per split block (counted from 1970-01-01); only train days next to an
            evaluation block are guard, so longer blocks lose fewer days (see ``splits``).
        shard_size: samples per shard file.
        summary: also write summary.txt and summary.png (not part of the checksummed set).
        progress: False for no bar (one line when done instead); bars only show on a terminal.

    Returns:
        The manifest as written.
    """
    if shard_size < 1:
        raise UserError(f"--shard-size must be at least 1, got {shard_size}")
    if is_remote(out):
        return _build_and_publish(pairs, str(out), seed=seed, ratios=ratios, holdout_region=holdout_region,
                                  holdout_month=holdout_month, block_days=block_days, shard_size=shard_size,
                                  summary=summary, progress=progress)
    out = Path(out)
    pairs_obj = open_pairs(pairs)
    split_config = SplitConfig(seed=int(seed), ratios=tuple(float(r) for r in ratios),
                               holdout_region=_as_region(holdout_region), holdout_month=holdout_month,
                               block_days=block_days)
    samples = pairs_obj.samples.copy()
    result = assign_splits(samples, split_config, pairs_obj.patch_size)
    samples["split"] = result.sample_split.to_numpy()
    samples["split_day"] = result.split_day.to_numpy()
    _prepare_out(out)

    specs = array_specs(pairs_obj)
    attrs_common = {"bands": pairs_obj.bands, "aux_names": pairs_obj.aux_names, "patch_size": pairs_obj.patch_size,
                    "height_edges_km": pairs_obj.height_edges_km, "schema_version": mf.SCHEMA_VERSION}
    x_stats, aux_stats = ChannelStats(len(pairs_obj.bands)), ChannelStats(len(pairs_obj.aux_names))
    split_docs: dict[str, dict] = {}
    frames = []
    n_kept = int((samples["split"] != GUARD).sum())
    with progress_bar(n_kept, "build-splits", "sample", enabled=progress is not False) as bar:
        for split in SPLITS:
            frame = samples[samples["split"] == split].sort_values("sample_id", kind="stable").reset_index(drop=True)
            source = frame.copy()  # rows in the PAIRS job arrays
            frame["row"] = np.arange(len(frame), dtype=np.int64)  # rows in the split's store
            counts = np.zeros(NUM_CLASSES, np.int64)

            def on_block(block: dict, split: str = split, counts: np.ndarray = counts) -> None:
                counts[:] += class_counts(block["profiles"], block["n_track"])
                if split == "train":
                    x_stats.update(block["x"])
                    aux_stats.update(block["aux"])

            store = out / f"{split}.zarr"
            write_split(store, pairs_obj, source, attrs=attrs_common | {"split": split, "n_samples": len(frame)},
                        shard_size=shard_size, on_block=on_block, progress=bar)
            split_docs[split] = {
                "n_samples": len(frame),
                "n_days": int(frame["split_day"].nunique()),
                "days": sorted(frame["split_day"].unique().tolist()),
                "n_granules": int(frame["granule_id"].nunique()),
                "class_counts": counts_to_dict(counts),
                "files": [mf.file_entry(out, p) for p in store_files(store)],
            }
            frames.append(frame)

    index = pd.concat(frames, ignore_index=True)
    index.insert(1, "split", index.pop("split"))
    index_tmp = out / f".{INDEX_NAME}.tmp"
    index.to_parquet(index_tmp, index=False)
    os.replace(index_tmp, out / INDEX_NAME)

    stats = stats_document(x_stats, aux_stats, pairs_obj.bands, pairs_obj.aux_names, split_docs["train"]["n_samples"])
    mf.write_json_atomic(out / STATS_NAME, stats)

    arrays_doc = {name: {"dtype": str(specs[name][1]), "sample_shape": list(specs[name][0]),
                         "dimensions": list(schema.DIMENSIONS[name]), "fill_value": specs[name][2],
                         "description": array_description(name, pairs_obj)} for name in ARRAY_NAMES}
    version = cloudbench.__version__
    crs = croissant.croissant_document(
        name="cloudbench", version=version,
        description=("Geostationary imager patches paired with spaceborne lidar/radar cloud phase profiles "
                     f"({pairs_obj.config.get('label_product', 'unknown product')}); leak-free day splits."),
        index=index, index_sha256=mf.sha256_file(out / INDEX_NAME), stats_sha256=mf.sha256_file(out / STATS_NAME),
        splits=list(SPLITS), arrays=arrays_doc,
    )  # fmt: skip
    mf.write_json_atomic(out / CROISSANT_NAME, crs)

    guard = samples[samples["split"] == GUARD]
    job_ids = sorted(pairs_obj.jobs)
    manifest = {
        "schema_version": mf.SCHEMA_VERSION,
        "cloudbench_version": version,
        mf.CREATED_FIELD: pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        "config": {
            "splits": split_config.to_json(),
            "split_rule": result.rule,
            "guard_days": 1,
            "shard_size": int(shard_size),
            "compressor": compressor_config(),
            "pairs": {"folder": name_of(pairs), "config": pairs_obj.config},
        },
        "bands": pairs_obj.bands,
        "aux_names": pairs_obj.aux_names,
        "patch_size": pairs_obj.patch_size,
        "height_edges_km": pairs_obj.height_edges_km,
        "max_track": pairs_obj.max_track,
        "arrays": {k: {kk: vv for kk, vv in v.items() if kk != "description"} for k, v in arrays_doc.items()},
        "source_files": _source_files(pairs_obj, job_ids),
        "pairs_files": _pairs_files(pairs_obj, job_ids),
        "days": dict(sorted(result.day_splits.items())),
        "splits": split_docs,
        "guard": {
            "n_samples": len(guard),
            "days": sorted(guard["split_day"].unique().tolist()),
            "fraction_of_days": round(sum(v == GUARD for v in result.day_splits.values()) / max(1, len(result.day_splits)), 4),
            "block_tradeoff": guard_tradeoff(list(result.day_splits), split_config),
        },
        "files": {name: mf.file_entry(out, out / name) for name in (INDEX_NAME, STATS_NAME, CROISSANT_NAME)},
    }
    mf.write_manifest(out, manifest)
    if summary:
        from cloudbench.dataset.summary import write_summary

        write_summary(out, manifest, index)
    return json.loads((out / mf.MANIFEST_NAME).read_text())


def _build_and_publish(pairs: str | Path, url: str, **options) -> dict:
    """Build DATASET/ in a local scratch folder and publish it at ``url``, manifest last.

    The scratch folder (under ``TMPDIR``) needs room for the whole dataset.
    """
    target = Location(url)
    strangers = [f for f in target.list_files() if f.split("/", 1)[0] not in _KNOWN_NAMES]
    if strangers:
        raise UserError(f"{url} holds other files ({', '.join(strangers[:5])})",
                        fix="choose an empty or new --out location")
    target.remove(mf.MANIFEST_NAME)  # from now on the remote dataset is incomplete
    with local_staging("cloudbench-dataset-") as scratch:
        local = scratch / (target.name or "DATASET")
        manifest = build_dataset(pairs, local, **options)
        built = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
        for name in sorted(p.name for p in local.iterdir() if p.name != mf.MANIFEST_NAME):
            target.put(local / name, name)
        for stale in sorted(set(target.list_files()) - built):
            target.remove(stale)
        target.put(local / mf.MANIFEST_NAME, mf.MANIFEST_NAME)
    return manifest


_KNOWN_NAMES = {mf.MANIFEST_NAME, INDEX_NAME, STATS_NAME, CROISSANT_NAME, "summary.txt", "summary.png"} | {
    f"{s}.zarr" for s in SPLITS}
