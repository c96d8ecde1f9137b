"""``cloudbench download``: fetch the label granules and only the imagery under their tracks."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from cloudbench.cli.choices import imager_positions, label_products
from cloudbench.config import MAX_DT_S, REGIONS, parse_region
from cloudbench.errors import UserError
from cloudbench.sources.cloudsat_dpc import DPC_HOST, DPC_PORT
from cloudbench.sources.download import SourceOptions, download
from cloudbench.sources.earthdata import CMR_URL
from cloudbench.sources.eumetsat import DATASTORE_URL


def _date(value: str, name: str) -> datetime:
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise UserError(f"{name} {value!r} is not a date", fix=f"write {name} as YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)")


def _size(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return str(n)


@click.command("download")
@click.option("--start", required=True, help="First day (UTC), YYYY-MM-DD[THH:MM].")
@click.option("--end", required=True, help="End (exclusive, UTC), YYYY-MM-DD[THH:MM].")
@click.option("--region", required=True, help=f"Preset name ({', '.join(REGIONS)}) or W,S,E,N.")
@click.option("--imager", required=True, type=imager_positions(), help="Imager position.")
@click.option("--labels", required=True, type=label_products(), help="Label product.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="ARCHIVE folder.")
@click.option("--dry-run", is_flag=True, help="Print the plan; fetch only the label granules the plan needs.")
@click.option("--source-root", default=None, help="fsspec URL of a mirror in the archive layout (all products).")
@click.option("--max-dt", default=MAX_DT_S, show_default=True, type=float, help="Imager line time tolerance (s).")
@click.option("--bands", default=None, help="Imager bands, e.g. B13,B14 (AHI), C13 (ABI), IR_108,IR_120 (SEVIRI); default: all.")
@click.option("--workers", default=8, show_default=True, type=click.IntRange(1, 64), help="Parallel downloads.")
@click.option("--s3-endpoint", default=None, help="S3 endpoint URL holding the noaa-* buckets.")
@click.option("--cmr-url", default=CMR_URL, show_default=True, help="CMR search endpoint root.")
@click.option("--datastore-url", default=DATASTORE_URL, show_default=True,
              help="EUMETSAT Data Store API root (Meteosat imagery; key and secret from EUMETSAT_CONSUMER_KEY "
                   "and EUMETSAT_CONSUMER_SECRET).")
@click.option("--label-version", "--vfm-version", "label_version", default=None,
              help="Label product version or release (default: the product's, e.g. V4-51 for VFM).")
@click.option("--dpc-host", default=DPC_HOST, show_default=True)
@click.option("--dpc-port", default=DPC_PORT, show_default=True, type=int)
@click.option("--dpc-user", default=None, help="CloudSat DPC user (or CLOUDSAT_DPC_USERNAME).")
@click.option("--dpc-password", default=None, help="CloudSat DPC password (or CLOUDSAT_DPC_PASSWORD).")
@click.option("--geometry-reduction", default=1, show_default=True, type=click.IntRange(1, 100),
              help="Imager grid coarsening of the archive (1 for real archives; synthetic ones are reduced).")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def command(start, end, region, imager, labels, out, dry_run, source_root, max_dt, bands, workers, s3_endpoint,
            cmr_url, datastore_url, label_version, dpc_host, dpc_port, dpc_user, dpc_password, geometry_reduction,
            no_progress):
    """Download label granules and the imager files under their tracks into ARCHIVE."""
    try:
        reg = parse_region(region)
    except ValueError as exc:
        raise UserError(str(exc), fix="use a preset name or W,S,E,N in degrees") from None
    opts = SourceOptions(source_root=source_root, s3_endpoint=s3_endpoint, cmr_url=cmr_url, datastore_url=datastore_url,
                         label_version=label_version,
                         dpc_host=dpc_host, dpc_port=dpc_port, dpc_user=dpc_user, dpc_password=dpc_password)
    result = download(start=_date(start, "--start"), end=_date(end, "--end"), region=reg, imager=imager,
                      labels=labels, out=out, dry_run=dry_run, bands=bands, max_dt_s=max_dt, workers=workers,
                      opts=opts, geometry_reduction=geometry_reduction, progress=not no_progress)
    s = result.plan.summary()
    frac = s["fraction_of_full_window"]
    click.echo(f"label granules: {s['label_files']} ({_size(s['label_bytes'])}), "
               f"track points in region: {s['track_points_in_region']}")
    click.echo(f"imager files planned: {s['imager_files']} ({_size(s['imager_bytes'])}) "
               f"from {s['scans_needed']} of {s['window_scans']} scans")
    if frac is not None:
        click.echo(f"full window: {s['full_window_files']} files ({_size(s['full_window_bytes'])}); "
                   f"plan = {100 * frac:.3f}% of it, saves {100 * (1 - frac):.3f}%")
    if dry_run:
        for item in result.plan.imager_items:
            click.echo(f"  {item.relpath}  {_size(item.size)}")
        click.echo("dry run: no imagery fetched")
    elif result.imagery is not None:
        click.echo(f"fetched {len(result.imagery.fetched)} files ({_size(result.imagery.bytes_fetched)}), "
                   f"{len(result.imagery.present)} already present")
    click.echo(f"report: {result.report_path}")
