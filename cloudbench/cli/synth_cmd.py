"""``cloudbench synth``: write a synthetic ARCHIVE/ (real names and layout) for tests, demos and benchmarks."""

from __future__ import annotations

from datetime import UTC

import click

from cloudbench.cli.choices import imager_positions
from cloudbench.errors import UserError


@click.command("synth")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=str), help="ARCHIVE folder to write.")
@click.option("--start", required=True, help="UTC start, ISO 8601 (e.g. 2018-10-01T03:30).")
@click.option("--end", required=True, help="UTC end, ISO 8601 (exclusive).")
@click.option("--region", default="paper", show_default=True, help="Preset name or W,S,E,N in degrees.")
@click.option("--imager", type=imager_positions(), default="himawari", show_default=True, help="Imager position.")
@click.option("--labels", default="cldclass-lidar,vfm", show_default=True, help="Active products, comma separated.")
@click.option("--bands", default=None, help="Imager bands, comma separated (default all 16).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--reduction", type=int, default=10, show_default=True, help="Full-disk reduction (10: 550 x 550 AHI disk).")
@click.option("--full-size", is_flag=True, help="Real 5500 x 5500 disks (slow, large).")
@click.option("--max-dt", "max_dt_s", type=float, default=600.0, show_default=True, help="Slots within this many seconds of a pass.")
@click.option("--all-slots", is_flag=True, help="Write every slot in [start, end), not only those near passes.")
@click.option("--no-progress", is_flag=True, help="No progress bars (they are off anyway when output is not a terminal; one line per stage then).")
def command(out, start, end, region, imager, labels, bands, seed, reduction, full_size, max_dt_s, all_slots,
            no_progress) -> None:
    """Render a seeded cloud scene into CALIPSO, CloudSat and imager files under OUT.

    The span is written one UTC day at a time (memory stays that of one imager slot however long the
    span); a rerun of the same command skips the days already complete and redoes a day cut short.
    """
    from cloudbench.cli import set_run_dir

    set_run_dir(out)
    from datetime import datetime

    from cloudbench.synthetic.stream import SynthSettings, stream_archive

    def when(text: str, option: str) -> datetime:
        try:
            t = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise UserError(f"{option} {text!r} is not an ISO 8601 time", fix="use e.g. 2018-10-01T03:30") from exc
        return t if t.tzinfo else t.replace(tzinfo=UTC)

    try:
        settings = SynthSettings.create(
            start=when(start, "--start"),
            end=when(end, "--end"),
            region=region,
            imager=imager,
            labels=tuple(p.strip() for p in labels.split(",") if p.strip()),
            bands=None if bands is None else [b.strip() for b in bands.split(",") if b.strip()],
            reduction=reduction,
            seed=seed,
            only_near_tracks=not all_slots,
            max_dt_s=max_dt_s,
            full_size=full_size,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    report = stream_archive(out, settings, progress=not no_progress)
    files = report.files
    skipped = f" ({report.days_skipped} of {len(report.days)} days were already complete)" if report.days_skipped else ""
    granules = ", ".join(f"{len(paths)} {key}" for key, paths in files.items() if key != "imager" and key in settings.labels)
    click.echo(
        f"wrote {granules} granules and {report.slots} {report.platform} slots ({len(files['imager'])} files) "
        f"under {report.root}{skipped}"
    )
    if not report.granules:
        click.echo("note: no pass of the label platforms crosses the region in that span; widen --region or the "
                   "time span", err=True)
