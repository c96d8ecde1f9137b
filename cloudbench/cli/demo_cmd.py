"""``cloudbench demo``: the whole chain offline, on a synthetic archive served on loopback."""

from __future__ import annotations

import signal
import threading

import click

from cloudbench.cli.choices import imager_positions, label_products
from cloudbench.demo import DEMO_IMAGER, MAX_DAYS, MIN_DAYS, DemoSettings


def _interrupt_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so the servers are stopped on the way out either way."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


@click.command("demo")
@click.option("--out", default="demo-out", show_default=True, type=click.Path(file_okay=False),
              help="Demo folder (new, empty, or an earlier demo's; its synthetic archive is reused).")
@click.option("--days", type=click.IntRange(MIN_DAYS, MAX_DAYS), default=DemoSettings.days, show_default=True,
              help="Days of data, every other day from 2018-10-01 or the first month both sensors fly "
                   "(one daytime pass each).")
@click.option("--epochs", type=click.IntRange(min=1), default=DemoSettings.epochs, show_default=True,
              help="Training epochs of SGMAGNet (small).")
@click.option("--bands", default=None,
              help="Imager bands, comma separated (default: the imager's 1.6, 8.6, 10.4, 11.2 and 12.3 um bands).")
@click.option("--labels", type=label_products(), default=None,
              help="Label product (default: cldclass-lidar, CloudSat over SFTP; for imagers launched after 2023 "
                   "earthcare-ac-tc, EarthCARE over a STAC search).")
@click.option("--imager", type=imager_positions(), default=DEMO_IMAGER, show_default=True, help="Imager position.")
@click.option("--first-day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="First day of data, YYYY-MM-DD (default: 2018-10-01, or the first month both sensors fly).")
@click.option("--full-size", is_flag=True, help="Real 5500 x 5500 disks (slow: tens of minutes, gigabytes).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
def command(out, days, epochs, bands, labels, imager, first_day, full_size, seed, no_progress) -> None:
    """Synthetic archive -> loopback servers -> download -> collocate -> build-splits -> train -> evaluate."""
    from cloudbench.cli import set_run_dir

    set_run_dir(out)
    from cloudbench.demo import run_demo

    _interrupt_on_sigterm()
    band_list = [b.strip().upper() for b in (bands or "").split(",") if b.strip()]
    result = run_demo(out, days=days, full_size=full_size, epochs=epochs, progress=not no_progress,
                      bands=band_list, labels=labels or "", imager=imager, seed=seed,
                      first_date=first_day.date() if first_day else None, echo=click.echo)
    click.echo("\n== metrics (test split) ==")
    click.echo(result.table)
    click.echo("\n== figures ==")
    for path in result.figures:
        click.echo(str(path))
    click.echo(f"\nreport: {result.run / 'eval-test' / 'report.md'}")
    total, cpu = sum(result.seconds.values()), sum(result.cpu_seconds.values())
    click.echo(f"demo finished in {total:.0f} s (CPU {cpu:.0f} s); the commands it ran are in {result.out / 'demo.json'}")
