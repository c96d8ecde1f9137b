"""Read a PAIRS/ folder (what ``collocate`` writes) as one table of samples plus lazy array access.

Only jobs with a ``done`` ledger line count: a job's Zarr and parquet are renamed into place before
its ledger line is appended, so a job without one may be half written and is ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import zarr

from cloudbench.collocate.sample_schema import ARRAY_NAMES
from cloudbench.errors import DataError, MissingInputError

__all__ = ["ARRAY_NAMES", "CONFIG_KEYS", "SAMPLE_COLUMNS", "Pairs", "open_pairs", "pairs_job_exists", "read_ledger"]

SAMPLE_COLUMNS = (
    "sample_id", "job_id", "row", "granule_id", "label_product", "product_version", "imager_files",
    "platform", "time", "line_time", "dt_s", "lat", "lon", "parallax_km", "sat_zenith", "day_night",
    "frac_labeled", "n_track", "count_clear", "count_ice", "count_mixed", "count_water", "date",
    "patch_row0", "patch_col0",
)  # fmt: skip
"""Columns every ``samples/<job_id>.parquet`` must have (docs/architecture.md, PAIRS/)."""

CONFIG_KEYS = ("bands", "aux_names", "patch_size", "height_edges_km")
"""Keys of PAIRS/config.json the dataset stage cannot do without."""


@dataclass
class Pairs:
    """An opened PAIRS/ folder: its config, the done jobs and their samples.

    Attributes:
        root: the PAIRS/ folder.
        config: the collocate configuration (config.json).
        jobs: ledger lines of the done jobs, by job id.
        samples: one row per sample of every done job, sorted by ``sample_id``.
    """

    root: Path
    config: dict
    jobs: dict[str, dict]
    samples: pd.DataFrame
    _groups: dict[str, zarr.Group] = field(default_factory=dict, repr=False)

    @property
    def bands(self) -> list[str]:
        return list(self.config["bands"])

    @property
    def aux_names(self) -> list[str]:
        return list(self.config["aux_names"])

    @property
    def patch_size(self) -> int:
        return int(self.config["patch_size"])

    @property
    def height_edges_km(self) -> list[float]:
        return [float(v) for v in self.config["height_edges_km"]]

    @property
    def n_levels(self) -> int:
        return len(self.config["height_edges_km"]) - 1

    @cached_property
    def max_track(self) -> int:
        """L, the padded track length; taken from the first job so any writer's choice is honoured."""
        if not self.jobs:
            return 2 * self.patch_size
        return int(self.group(next(iter(sorted(self.jobs))))["track_rows"].shape[1])

    def job_path(self, job_id: str) -> Path:
        return self.root / "jobs" / f"{job_id}.zarr"

    def group(self, job_id: str) -> zarr.Group:
        if job_id not in self._groups:
            path = self.job_path(job_id)
            try:
                self._groups[job_id] = zarr.open_group(str(path), mode="r")
            except Exception as exc:
                raise DataError(f"cannot open the job's Zarr group ({exc})", path=path) from exc
        return self._groups[job_id]

    def read_rows(self, job_id: str, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The arrays of some samples of one job; rows are indices into the job's arrays."""
        group = self.group(job_id)
        rows = np.asarray(rows, dtype=np.int64)
        out = {}
        lo, hi = int(rows.min()), int(rows.max()) + 1
        for name in ARRAY_NAMES:
            try:
                block = np.asarray(group[name][lo:hi])  # one contiguous read, then pick
            except Exception as exc:
                raise DataError(f"cannot read array {name!r} ({exc})", path=self.job_path(job_id)) from exc
            out[name] = block[rows - lo]
        return out


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"not readable as JSON ({exc})", path=path) from exc


def read_ledger(path: Path) -> dict[str, dict]:
    """Done jobs of a PAIRS ledger, the last line of a job winning (reruns append)."""
    jobs: dict[str, dict] = {}
    if not path.exists():
        return jobs
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            job_id = str(entry["job_id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"line {lineno} is not a ledger entry with a job_id ({exc})", path=path) from exc
        if entry.get("status") == "done":
            jobs[job_id] = entry
        else:
            jobs.pop(job_id, None)
    return jobs


def open_pairs(root: str | Path) -> Pairs:
    """Open PAIRS/ and gather the samples of every done job.

    Raises:
        MissingInputError: the folder or its config.json is missing.
        DataError: a done job's parquet or Zarr is missing or lacks a required column or array.
    """
    root = Path(root)
    if not root.is_dir():
        raise MissingInputError("PAIRS folder not found", path=root, fix="run `cloudbench collocate --out PAIRS` first")
    config_path = root / "config.json"
    if not config_path.exists():
        raise MissingInputError(
            "config.json is missing: not a PAIRS folder", path=config_path, fix="point --pairs at the folder collocate wrote"
        )
    config = _read_json(config_path)
    missing_keys = [k for k in CONFIG_KEYS if k not in config]
    if missing_keys:
        raise DataError(f"config.json lacks {', '.join(missing_keys)}", path=config_path)
    jobs = read_ledger(root / "ledger.jsonl")
    frames = []
    for job_id in sorted(jobs):
        path = root / "samples" / f"{job_id}.parquet"
        if not path.exists():
            raise DataError("the ledger marks this job done but its sample table is missing", path=path)
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:
            raise DataError(f"not a readable parquet table ({exc})", path=path) from exc
        lacking = [c for c in SAMPLE_COLUMNS if c not in frame.columns]
        if lacking:
            raise DataError(f"sample table lacks columns {', '.join(lacking)}", path=path)
        if not pairs_job_exists(root, job_id):
            raise DataError("the ledger marks this job done but its Zarr group is missing", path=root / "jobs" / f"{job_id}.zarr")
        frames.append(frame)
    if frames:
        samples = pd.concat(frames, ignore_index=True)
    else:
        samples = pd.DataFrame({c: pd.Series(dtype=object) for c in SAMPLE_COLUMNS})
    dup = samples["sample_id"][samples["sample_id"].duplicated()]
    if len(dup):
        raise DataError(f"sample_id {dup.iloc[0]!r} occurs in more than one job table", path=root / "samples")
    samples = samples.sort_values("sample_id", kind="stable").reset_index(drop=True)
    samples["date"] = samples["date"].astype(str)
    return Pairs(root=root, config=config, jobs=jobs, samples=samples)


def pairs_job_exists(root: Path, job_id: str) -> bool:
    return (root / "jobs" / f"{job_id}.zarr" / "zarr.json").exists()
