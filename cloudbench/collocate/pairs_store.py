"""The PAIRS/ folder: one staging Zarr and one sample table per job, a job ledger, the config.

Layout (docs/architecture.md): ``jobs/<job_id>.zarr``, ``samples/<job_id>.parquet``, ``ledger.jsonl``,
``config.json``, ``report.json``/``report.txt``. A job's Zarr and table are written under temporary
names and renamed when complete; only then is its ledger line appended. A job is done only if its
ledger line exists, so a run killed at any moment never leaves a half-written job that looks whole.

PAIRS/ may also be an fsspec URL (``s3://bucket/PAIRS``). Object stores have neither rename nor
append, so there a job is written in a local scratch folder by the same code, uploaded under its
final keys, and committed by one ledger object per job (``ledger/<job_id>.json``, one PUT, written
by the driver only, after the worker's upload returned); readers see the same entries either way.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import zarr

from cloudbench.collocate import sample_schema as schema
from cloudbench.collocate.sample_schema import ARRAY_NAMES
from cloudbench.storage import Location, is_remote, local_staging

LEDGER = "ledger.jsonl"
LEDGER_DIR = "ledger"  # on object stores: one entry object per job
CONFIG = "config.json"
TMP_PREFIX = ".tmp-"

SAMPLE_COLUMNS = (
    "sample_id", "job_id", "row", "granule_id", "label_product", "product_version", "imager_files",
    "platform", "time", "line_time", "dt_s", "lat", "lon", "parallax_km", "sat_zenith", "day_night",
    "frac_labeled", "n_track", "count_clear", "count_ice", "count_mixed", "count_water", "date",
    "patch_row0", "patch_col0",
)


@dataclass
class JobArrays:
    """The arrays of one job's samples (N may be 0)."""

    x: np.ndarray  # (N, C, P, P) float32
    aux: np.ndarray  # (N, A, P, P) float32
    track_rows: np.ndarray  # (N, L) int16, -1 padding
    track_cols: np.ndarray  # (N, L) int16, -1 padding
    profiles: np.ndarray  # (N, L, Z) uint8, 255 padding
    n_track: np.ndarray  # (N,) int16

    @classmethod
    def empty(cls, n_bands: int, n_aux: int, patch_size: int, n_levels: int) -> JobArrays:
        p, L = patch_size, 2 * patch_size
        return cls(
            np.zeros((0, n_bands, p, p), np.float32), np.zeros((0, n_aux, p, p), np.float32),
            np.zeros((0, L), np.int16), np.zeros((0, L), np.int16),
            np.zeros((0, L, n_levels), np.uint8), np.zeros((0,), np.int16),
        )


def job_zarr_path(root: str | Path, job_id: str) -> Path:
    return Path(root) / "jobs" / f"{job_id}.zarr"


def job_table_path(root: str | Path, job_id: str) -> Path:
    return Path(root) / "samples" / f"{job_id}.parquet"


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def write_job(root: str | Path, job_id: str, arrays: JobArrays, samples: pd.DataFrame, attrs: dict) -> None:
    """Write one job's Zarr group and sample table, each under a temporary name, then rename.

    For a PAIRS/ URL: written locally by this same code, then uploaded (the ledger commits it).
    """
    if is_remote(root):
        target = Location(str(root))
        with local_staging("cloudbench-job-") as scratch:
            write_job(scratch, job_id, arrays, samples, attrs)
            for local in (job_zarr_path(scratch, job_id), job_table_path(scratch, job_id)):
                target.put(local, local.relative_to(scratch).as_posix())
        return
    root = Path(root)
    final_zarr = job_zarr_path(root, job_id)
    final_table = job_table_path(root, job_id)
    final_zarr.parent.mkdir(parents=True, exist_ok=True)
    final_table.parent.mkdir(parents=True, exist_ok=True)
    tmp_zarr = final_zarr.with_name(TMP_PREFIX + final_zarr.name)
    tmp_table = final_table.with_name(TMP_PREFIX + final_table.name)
    _remove(tmp_zarr)
    _remove(tmp_table)

    missing = [c for c in SAMPLE_COLUMNS if c not in samples.columns]
    if missing:
        raise ValueError(f"sample table lacks columns {missing}")
    sample_ids = samples.sort_values("row", kind="stable")["sample_id"].astype(str).tolist()  # row = array index
    write_job_group(tmp_zarr, job_id, arrays, sample_ids, attrs)
    samples.loc[:, list(SAMPLE_COLUMNS)].to_parquet(tmp_table, index=False)

    _remove(final_zarr)
    _remove(final_table)
    os.replace(tmp_zarr, final_zarr)
    os.replace(tmp_table, final_table)


def write_job_group(path: str | Path, job_id: str, arrays: JobArrays, sample_ids: list[str], attrs: dict) -> None:
    """One job's Zarr v3 group at ``path``: the arrays with their dimension names and CF attributes,
    the coordinate arrays that are known (``attrs`` bands, aux_names, height_edges_km; the sample ids),
    and consolidated metadata, so ``xarray.open_zarr`` reads it as it is (see ``sample_schema``)."""
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    shapes = {name: getattr(arrays, name).shape for name in ARRAY_NAMES}
    bands = list(attrs.get("bands") or [])
    aux_names = list(attrs.get("aux_names") or [])
    patch_size = int(attrs.get("patch_size") or shapes["x"][-1])
    for name in ARRAY_NAMES:
        data = getattr(arrays, name)
        array = group.create_array(name, shape=data.shape, dtype=data.dtype, chunks=(1, *data.shape[1:]),
                                   fill_value=schema.fill_value(name), dimension_names=schema.DIMENSIONS[name])
        if data.shape[0]:
            array[...] = data
        array.attrs.update(schema.array_attributes(name, bands, aux_names, patch_size))
    edges = attrs.get("height_edges_km")
    known = {  # coordinates only where they match the arrays (a partial attrs dict writes fewer)
        "bands": bands if len(bands) == shapes["x"][1] else None,
        "aux_names": aux_names if len(aux_names) == shapes["aux"][1] else None,
        "height_edges_km": edges if edges is not None and len(edges) == shapes["profiles"][2] + 1 else None,
    }
    if len(sample_ids) != shapes["x"][0]:
        raise ValueError(f"{len(sample_ids)} sample ids for {shapes['x'][0]} samples")
    schema.write_coordinates(group, schema.coordinates(**known, sample_ids=sample_ids), sample_chunk=len(sample_ids))
    group.attrs.update({**schema.group_attributes(), "job_id": job_id, **attrs})
    with warnings.catch_warnings():  # zarr warns that consolidated metadata is not in the v3 spec yet
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        zarr.consolidate_metadata(str(path))


def append_ledger(root: str | Path, entry: dict) -> None:
    """Append one finished job (``status`` done or skipped) to the ledger, flushed to disk.

    On an object store the entry is its own object, replacing the job's earlier one.
    """
    if is_remote(root):
        Location(str(root)).write_text(f"{LEDGER_DIR}/{entry['job_id']}.json", json.dumps(entry, sort_keys=True, default=str) + "\n")
        return
    path = Path(root) / LEDGER
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(entry, sort_keys=True, default=str)
    torn = False
    if path.exists() and path.stat().st_size:
        with open(path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            torn = fh.read(1) != b"\n"  # a line cut by a kill: start ours on a fresh line
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(("\n" if torn else "") + line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def ledger_lines(root: str | Path | Location) -> list[str]:
    """The ledger's entries as JSON lines, oldest first (a folder's ledger.jsonl, or a store's
    ``ledger/`` objects by name: one per job, so order does not matter there)."""
    loc = root if isinstance(root, Location) else Location(str(root))
    if loc.remote:
        names = [f"{LEDGER_DIR}/{n}" for n in loc.list_dir(LEDGER_DIR) if n.endswith(".json")]
        return [data.decode("utf-8").strip() for data in loc.read_many(names)]
    path = loc.path / LEDGER
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def read_ledger(root: str | Path) -> dict[str, dict]:
    """Finished jobs by id (the last line wins); a torn last line from a kill is ignored."""
    done: dict[str, dict] = {}
    for line in ledger_lines(root):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and "job_id" in entry:
            done[entry["job_id"]] = entry
    return done


def _remote_parent(path: str | Path) -> tuple[Location, str] | None:
    if not is_remote(path):
        return None
    parent, name = str(path).rsplit("/", 1)
    return Location(parent), name


def write_json_atomic(path: str | Path, payload: dict) -> None:
    """Write JSON under a temporary name and rename, so readers never see half a file (a URL: one PUT)."""
    remote = _remote_parent(path)
    if remote is not None:
        remote[0].write_text(remote[1], json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(TMP_PREFIX + path.name)
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_text_atomic(path: str | Path, text: str) -> None:
    remote = _remote_parent(path)
    if remote is not None:
        remote[0].write_text(remote[1], text)
        return
    path = Path(path)
    tmp = path.with_name(TMP_PREFIX + path.name)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def clean_temporaries(root: str | Path) -> None:
    """Remove what a killed run left half-written (its ledger never names them).

    Object stores hold no temporary names (jobs are staged locally); a job whose upload a kill cut
    has no ledger entry and is written again, replacing its objects.
    """
    if is_remote(root):
        return
    root = Path(root)
    for sub in ("jobs", "samples"):
        folder = root / sub
        if folder.is_dir():
            for item in folder.iterdir():
                if item.name.startswith(TMP_PREFIX):
                    _remove(item)
