"""``cloudbench download`` as a library call: build the catalogs, plan from the tracks, fetch, report.

Everything the command does is here so the demo and tests call the same code; the CLI module only
parses options and prints the result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cloudbench.config import IMAGER_PLATFORMS, Region
from cloudbench.errors import PartialError, UserError
from cloudbench.folder_lock import exclusive
from cloudbench.products import abi_l1b, ahi_hsd
from cloudbench.sources.base import Catalog, RetryPolicy
from cloudbench.sources.cloudsat_dpc import DPC_HOST, DPC_PORT, DpcSftpStore
from cloudbench.sources.credentials import (
    EarthdataCredentials,
    Secret,
    dpc_credentials,
    earthdata_credentials,
)
from cloudbench.sources.earthdata import CMR_URL, EarthdataCatalog
from cloudbench.sources.fetch import Fetcher, FetchReport
from cloudbench.sources.fsroot import DirectoryCatalog, FsspecStore
from cloudbench.sources.layouts import DEFAULT_VFM_VERSION, cldclass_layout, imager_layout, vfm_layout
from cloudbench.sources.noaa import NoaaBucketStore
from cloudbench.sources.planner import DownloadPlan, Planner

LABELS = ("cldclass-lidar", "vfm")
REPORT_NAME = "download-report.json"


@dataclass
class SourceOptions:
    """Where the archives are and how to log in (defaults: the real archives)."""

    source_root: str | None = None  # any fsspec URL mirroring ARCHIVE/'s layout
    s3_endpoint: str | None = None
    cmr_url: str = CMR_URL
    vfm_version: str = DEFAULT_VFM_VERSION
    dpc_host: str = DPC_HOST
    dpc_port: int = DPC_PORT
    dpc_user: str | None = None
    dpc_password: str | None = None
    # for library callers (the demo, tests); the CLI reads EARTHDATA_TOKEN, never a command-line secret
    earthdata_token: str | None = None
    storage_options: dict = field(default_factory=dict)


def label_catalog(labels: str, opts: SourceOptions, workers: int = 8) -> Catalog:
    """The active-sensor catalog; credentials are looked up here so a missing login fails first."""
    if labels not in LABELS:
        raise UserError(f"unknown --labels {labels!r}", fix=f"use one of {', '.join(LABELS)}")
    if opts.source_root:
        layout = vfm_layout(opts.vfm_version) if labels == "vfm" else cldclass_layout()
        return DirectoryCatalog(layout, FsspecStore(opts.source_root, storage_options=opts.storage_options))
    if labels == "vfm":
        creds = (EarthdataCredentials("SourceOptions.earthdata_token", token=Secret(opts.earthdata_token))
                 if opts.earthdata_token else earthdata_credentials())
        return EarthdataCatalog(creds, version=opts.vfm_version, cmr_url=opts.cmr_url, pool_size=workers)
    creds = dpc_credentials(opts.dpc_user, opts.dpc_password)
    return DirectoryCatalog(cldclass_layout(), DpcSftpStore(creds, opts.dpc_host, opts.dpc_port))


def imager_catalogs(imager: str, opts: SourceOptions, workers: int = 8) -> dict[str, DirectoryCatalog]:
    """One catalog per platform of the imager position (every bucket is searched, not a date table).

    ``workers``: parallel transfers; the NOAA store keeps that many connections open.
    """
    if imager not in IMAGER_PLATFORMS:
        raise UserError(f"unknown --imager {imager!r}", fix=f"use one of {', '.join(IMAGER_PLATFORMS)}")
    if opts.source_root:
        store = FsspecStore(opts.source_root, storage_options=opts.storage_options)
    else:
        store = NoaaBucketStore(opts.s3_endpoint, connections=workers)
    return {p.platform: DirectoryCatalog(imager_layout(p.platform), store) for p in IMAGER_PLATFORMS[imager]}


def parse_bands(spec: str | None, imager: str) -> tuple[str, ...]:
    """``B13,B14`` (AHI) or ``C13`` (ABI); empty means every band."""
    table = ahi_hsd.BAND_NAMES if imager == "himawari" else abi_l1b.BAND_NAMES
    if not spec:
        return tuple(table)
    bands = tuple(b.strip().upper() for b in spec.split(",") if b.strip())
    bad = [b for b in bands if b not in table]
    if bad:
        raise UserError(f"--bands: {', '.join(bad)} not {imager} bands", fix=f"choose from {','.join(table)}")
    return bands


@dataclass
class DownloadResult:
    plan: DownloadPlan
    imagery: FetchReport | None  # None on a dry run
    report_path: Path

    @property
    def failed(self) -> list:
        out = list(self.plan.label_report.failed)
        if self.imagery is not None:
            out += self.imagery.failed
        return out


def download(*, start: datetime, end: datetime, region: Region, imager: str, labels: str, out: str | Path,
             dry_run: bool = False, bands: str | None = None, max_dt_s: float = 300.0, workers: int = 8,
             opts: SourceOptions | None = None, geometry_reduction: int = 1, progress: bool = False,
             retry: RetryPolicy | None = None, track_reader=None) -> DownloadResult:
    """Plan and fetch a window into ARCHIVE/ ``out``; raise PartialError (exit 3) if files failed.

    A dry run fetches only the label granules (their tracks make the plan) and writes the plan.
    """
    if end <= start:
        raise UserError(f"--end {end:%Y-%m-%d} is not after --start {start:%Y-%m-%d}", fix="give an --end after --start")
    opts = opts or SourceOptions()
    band_tuple = parse_bands(bands, imager)
    with exclusive(out, "download"):
        imagers = imager_catalogs(imager, opts, workers)
        labels_cat = label_catalog(labels, opts, workers)
        fetcher = Fetcher(out, workers=workers, retry=retry, progress=progress)
        try:
            planner = Planner(labels_cat, imagers, fetcher, band_tuple, max_dt_s=max_dt_s,
                              reduction=geometry_reduction, track_reader=track_reader)
            plan = planner.plan(start, end, region, imager)
            imagery = None if dry_run else fetcher.fetch(plan.imager_jobs, desc="imagery")
        finally:
            labels_cat.close()
            for cat in {id(c.store): c for c in imagers.values()}.values():
                cat.close()
        result = DownloadResult(plan, imagery, Path(out) / REPORT_NAME)
        _write_report(result, dry_run)
    if result.failed:
        raise PartialError(
            f"{len(result.failed)} file(s) could not be fetched: "
            + "; ".join(f"{f.relpath} ({f.reason})" for f in result.failed[:10]),
            skipped=[f.to_dict() for f in result.failed],
            report=result.report_path,
        )
    return result


def _write_report(result: DownloadResult, dry_run: bool) -> None:
    doc = {
        "dry_run": dry_run,
        "plan": result.plan.summary(),
        "imager_files": [i.relpath for i in result.plan.imager_items],
        "fetched": None if result.imagery is None else result.imagery.fetched,
        "already_present": None if result.imagery is None else result.imagery.present,
        "failed": [f.to_dict() for f in result.failed],
    }
    result.report_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = result.report_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(result.report_path)
