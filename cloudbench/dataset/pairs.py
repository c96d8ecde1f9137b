"""Read a PAIRS/ folder (what ``collocate`` writes) as one table of samples plus lazy array access.

Only jobs with a ``done`` ledger line count: a job's Zarr and parquet are renamed into place before
its ledger line is appended, so a job without one may be half written and is ignored. PAIRS/ may be
a folder or an fsspec URL (see ``collocate.pairs_store``).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import zarr

from cloudbench.collocate.sample_schema import ARRAY_NAMES
from cloudbench.errors import DataError, MissingInputError
from cloudbench.storage import Location, join

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

    root: Path | str  # a folder, or the URL of one
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

    @cached_property
    def location(self) -> Location:
        return Location(str(self.root))

    def job_path(self, job_id: str) -> Path | str:
        return join(self.root, "jobs", f"{job_id}.zarr")

    def group(self, job_id: str) -> zarr.Group:
        if job_id not in self._groups:
            path = self.job_path(job_id)
            try:
                self._groups[job_id] = zarr.open_group(self.location.zarr_store(f"jobs/{job_id}.zarr"), mode="r")
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


def _read_json(loc: Location, rel: str) -> dict:
    try:
        return json.loads(loc.read_bytes(rel))
    except (OSError, ValueError) as exc:
        raise DataError(f"not readable as JSON ({exc})", path=loc.url(rel)) from exc


def read_ledger(path: Path | Location) -> dict[str, dict]:
    """Done jobs of a PAIRS ledger, the last line of a job winning (reruns append).

    ``path`` is a ledger.jsonl, or the Location of a PAIRS/ (either layout of the ledger).
    """
    from cloudbench.collocate.pairs_store import ledger_lines

    jobs: dict[str, dict] = {}
    if isinstance(path, Location):
        lines = ledger_lines(path)
        path = join(path.root, "ledger")
    elif path.exists():
        lines = path.read_text().splitlines()
    else:
        return jobs
    for lineno, line in enumerate(lines, 1):
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
    loc = Location(str(root))
    root = Path(root) if not loc.remote else loc.root
    if not loc.is_dir():
        raise MissingInputError("PAIRS folder not found", path=root, fix="run `cloudbench collocate --out PAIRS` first")
    config_path = join(root, "config.json")
    if not loc.exists("config.json"):
        raise MissingInputError(
            "config.json is missing: not a PAIRS folder", path=config_path, fix="point --pairs at the folder collocate wrote"
        )
    config = _read_json(loc, "config.json")
    missing_keys = [k for k in CONFIG_KEYS if k not in config]
    if missing_keys:
        raise DataError(f"config.json lacks {', '.join(missing_keys)}", path=config_path)
    jobs = read_ledger(loc) if loc.remote else read_ledger(root / "ledger.jsonl")
    frames = []
    tables = [f"samples/{job_id}.parquet" for job_id in sorted(jobs)]
    present = set(loc.list_files("samples")) if loc.remote else None
    for rel in tables:
        path = join(root, rel)
        if not (rel in present if present is not None else loc.exists(rel)):
            raise DataError("the ledger marks this job done but its sample table is missing", path=path)
    for job_id, rel, data in zip(sorted(jobs), tables, loc.read_many(tables), strict=True):
        path = join(root, rel)
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:
            raise DataError(f"not a readable parquet table ({exc})", path=path) from exc
        lacking = [c for c in SAMPLE_COLUMNS if c not in frame.columns]
        if lacking:
            raise DataError(f"sample table lacks columns {', '.join(lacking)}", path=path)
        if not pairs_job_exists(loc, job_id):
            raise DataError("the ledger marks this job done but its Zarr group is missing",
                            path=join(root, "jobs", f"{job_id}.zarr"))
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


def pairs_job_exists(root: Path | Location, job_id: str) -> bool:
    loc = root if isinstance(root, Location) else Location(root)
    return loc.exists(f"jobs/{job_id}.zarr/zarr.json")
