"""``cloudbench collocate``: exact image-profile pairs from an ARCHIVE/ into PAIRS/."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cloudbench.cli.choices import imager_positions, label_products
from cloudbench.config import (
    DEFAULT_GRID,
    MAX_DT_S,
    MAX_SZA_DEG,
    PATCH_SIZE,
    REGIONS,
    HeightGrid,
    parse_region,
)
from cloudbench.errors import PartialError, UserError


@click.command("collocate")
@click.option("--archive", required=True,
              help="ARCHIVE folder or fsspec URL (any layout): label granules, and imagery unless --imager-source.")
@click.option("--region", required=True, help=f"W,S,E,N in degrees or a preset ({', '.join(REGIONS)}).")
@click.option("--out", required=True, help="PAIRS folder or fsspec URL (s3://bucket/PAIRS) to write (resumable).")
@click.option("--imager-source", default=None,
              help="Read imagery in place: 'noaa' (the public NOAA buckets) or the fsspec URL of a folder in "
                   "ARCHIVE layout; only the files each job reads are fetched.")
@click.option("--s3-endpoint", default=None, help="S3 endpoint holding the noaa-* buckets (with --imager-source noaa).")
@click.option("--imager-cache", default=None, type=click.Path(file_okay=False),
              help="Local folder keeping the imager files read in place (ARCHIVE layout).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Local dask worker processes.")
@click.option("--scheduler", default=None, help="Address of an existing dask.distributed scheduler.")
@click.option("--labels", type=label_products(), default="cldclass-lidar", show_default=True, help="Label product.")
@click.option("--imager", type=imager_positions(), default=None,
              help="Imager position (default: the region preset's, or the one in the archive).")
@click.option("--bands", default=None, help="Comma-separated bands, e.g. B03,B13 (default: all 16).")
@click.option("--patch-size", type=click.IntRange(min=4), default=PATCH_SIZE, show_default=True)
@click.option("--max-dt", type=click.FloatRange(min=0), default=MAX_DT_S, show_default=True,
              help="Largest |profile time - imager line time| in seconds.")
@click.option("--max-sza", type=click.FloatRange(0, 90), default=MAX_SZA_DEG, show_default=True,
              help="Largest satellite zenith angle in degrees.")
@click.option("--day-night", type=click.Choice(["day", "night", "both"]), default="both", show_default=True)
@click.option("--no-parallax", is_flag=True, help="Skip the parallax shift (for comparison only).")
@click.option("--levels", default=str(DEFAULT_GRID), show_default=True, help="Height grid START:STOP:STEP in km.")
@click.option("--min-track", type=click.IntRange(min=1), default=None,
              help="Fewest matched track pixels in a patch (default: patch size / 2).")
@click.option("--no-quicklook", is_flag=True, help="Skip PAIRS/quicklook.png (samples with their track drawn).")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def command(archive, region, out, imager_source, s3_endpoint, imager_cache, workers, scheduler, labels, imager, bands,
            patch_size, max_dt, max_sza, day_night, no_parallax, levels, min_track, no_quicklook, no_progress) -> None:
    """Pair imager patches with the lidar/radar phase profiles crossing them.

    Exit 3 when a damaged granule skipped its job or a damaged imager file its slot; PAIRS/report.txt
    lists them. Rerunning into the same --out redoes only those jobs (and any a kill interrupted).
    URLs use fsspec's configuration for credentials and endpoints (e.g. FSSPEC_S3_ENDPOINT_URL).
    """
    from cloudbench.cli import set_run_dir
    from cloudbench.collocate.imagery import ImagerSource
    from cloudbench.storage import is_remote

    set_run_dir(None if is_remote(out) else out)
    if (s3_endpoint or imager_cache) and not imager_source:
        raise UserError("--s3-endpoint and --imager-cache go with --imager-source")
    from cloudbench.collocate.pairing import CollocateConfig
    from cloudbench.collocate.report import render_text
    from cloudbench.collocate.run import collocate

    if workers and scheduler:
        raise UserError("give either --workers or --scheduler, not both")
    try:
        reg = parse_region(region)
        grid = HeightGrid.parse(levels)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    band_list = tuple(b.strip() for b in bands.split(",") if b.strip()) if bands else None
    position = imager or reg.imager
    if band_list and position:  # the product's spelling of the names, given in any case
        from cloudbench.sensors.registry import imager_for_position

        band_list = imager_for_position(position).check_bands(band_list)
    cfg = CollocateConfig(
        out=str(out), region=reg, labels=labels, imager=imager or reg.imager, bands=band_list,
        patch_size=patch_size, max_dt_s=max_dt, max_sza=max_sza, day_night=day_night,
        parallax=not no_parallax, grid=grid, min_track=min_track,
        imager_source=ImagerSource(imager_source, s3_endpoint, imager_cache) if imager_source else None,
    )
    try:
        report = collocate(archive, cfg, workers=workers, scheduler=scheduler, progress=not no_progress,
                            quicklook=not no_quicklook)
    except PartialError as exc:
        if exc.report:
            from cloudbench.storage import Location

            folder, name = exc.report.rsplit("/", 1) if is_remote(exc.report) else (str(Path(exc.report).parent),
                                                                                    Path(exc.report).name)
            click.echo(render_text(json.loads(Location(folder).read_text(name))), nl=False)
        raise
    click.echo(render_text(report), nl=False)
