"""``cloudbench download`` as a library call: build the catalogs, plan from the tracks, fetch, report.

Everything the command does is here so the demo and tests call the same code; the CLI module only
parses options and prints the result.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from cloudbench.config import Region
from cloudbench.errors import PartialError, UserError
from cloudbench.folder_lock import exclusive
from cloudbench.sensors import registry
from cloudbench.sources.base import Catalog, RetryPolicy
from cloudbench.sources.cloudsat_dpc import DPC_HOST, DPC_PORT
from cloudbench.sources.earthdata import CMR_URL
from cloudbench.sources.eumetsat import DATASTORE_URL
from cloudbench.sources.fetch import Fetcher, FetchReport
from cloudbench.sources.fsroot import DirectoryCatalog, FsspecStore
from cloudbench.sources.planner import DownloadPlan, Planner

REPORT_NAME = "download-report.json"


@dataclass
class SourceOptions:
    """Where the archives are and how to log in (defaults: the real archives)."""

    source_root: str | None = None  # any fsspec URL mirroring ARCHIVE/'s layout
    s3_endpoint: str | None = None
    cmr_url: str = CMR_URL
    label_version: str | None = None  # product version of the labels (default: the product's own)
    maap_stac_url: str | None = None  # ESA MAAP STAC API (EarthCARE); None: the public endpoint
    maap_token: str | None = None  # for library callers; the CLI reads MAAP_TOKEN, never a command-line secret
    dpc_host: str = DPC_HOST
    dpc_port: int = DPC_PORT
    dpc_user: str | None = None
    dpc_key: str | None = None  # SSH private key file (--dpc-key); else CLOUDSAT_DPC_KEY, else a password
    # for library callers (tests, the loopback servers' endpoints); the CLI never takes a secret as an
    # option: it reads the environment or ~/.netrc, or asks through ``password_prompt``
    dpc_password: str | None = None
    earthdata_token: str | None = None
    password_prompt: Callable[[str], str] | None = None  # hidden input; None where no one can answer
    datastore_url: str = DATASTORE_URL  # EUMETSAT Data Store API root (Meteosat imagery)
    # for library callers (the demo, tests); the CLI reads EUMETSAT_CONSUMER_KEY / EUMETSAT_CONSUMER_SECRET
    # from the environment, never a command-line secret
    eumetsat_key: str | None = None
    eumetsat_secret: str | None = None
    storage_options: dict = field(default_factory=dict)
    connections: int = 8  # connections a pooled public store keeps open (download sets it to --workers)


def label_catalog(labels: str, opts: SourceOptions, workers: int = 8) -> Catalog:
    """The label product's catalog; credentials are looked up here so a missing login fails first."""
    product = registry.label_product(labels)
    if opts.source_root:
        layout = product.layout(opts.label_version)
        return DirectoryCatalog(layout, FsspecStore(opts.source_root, storage_options=opts.storage_options))
    return product.catalog(opts, workers)


def imager_catalogs(imager: str, opts: SourceOptions, workers: int = 8) -> dict[str, DirectoryCatalog]:
    """One catalog per platform of the imager position (every bucket is searched, not a date table).

    ``workers``: parallel transfers; a public store that pools connections keeps that many open.
    """
    product = registry.imager_for_position(imager)
    if opts.source_root:
        store = FsspecStore(opts.source_root, storage_options=opts.storage_options)
    else:
        store = product.public_store(replace(opts, connections=workers))
    return {p: DirectoryCatalog(product.layout(p), store) for p in registry.platforms_of(imager)}


def parse_bands(spec: str | None, imager: str) -> tuple[str, ...]:
    """``B13,B14`` (AHI), ``C13`` (ABI)...: the position's imager bands; empty means every band."""
    product = registry.imager_for_position(imager)
    if not spec:
        return product.band_names
    bands = tuple(b.strip() for b in spec.split(",") if b.strip())
    bad = [b for b in bands if product.band_name(b) is None]
    if bad:
        raise UserError(f"--bands: {', '.join(bad)} not {imager} bands", fix=f"choose from {','.join(product.band_names)}")
    return tuple(product.band_name(b) for b in bands)  # any case: the product's spelling (b13, IR_105, ir_105)


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
