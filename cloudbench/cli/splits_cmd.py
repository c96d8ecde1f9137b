"""``cloudbench build-splits``: PAIRS/ -> DATASET/ (see cloudbench.dataset.build)."""

from __future__ import annotations

import click

from cloudbench.errors import UserError


def _ratios(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError as exc:
        raise UserError(f"--ratios must be three numbers like 0.7,0.15,0.15, got {text!r}") from exc
    if len(values) != 3:
        raise UserError(f"--ratios needs three numbers (train,val,test), got {text!r}")
    return values  # type: ignore[return-value]


@click.command("build-splits")
@click.option("--pairs", "pairs", required=True, help="PAIRS/ folder (or fsspec URL) from collocate.")
@click.option("--out", "out", required=True, help="DATASET/ folder (or fsspec URL, e.g. s3://bucket/DATASET) to write.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the day hash that picks splits.")
@click.option("--ratios", default="0.7,0.15,0.15", show_default=True, help="train,val,test fractions of days.")
@click.option("--holdout-region", default=None, help="W,S,E,N box (deg) whose samples form the test split.")
@click.option("--holdout-month", default=None, help="YYYY-MM whose days form the test split.")
@click.option("--block-days", default=None, type=int,
              help="Days per split block, counted from 1970-01-01; only train days next to an evaluation "
                   "block are guard [default: 7].")
@click.option("--shard-size", default=None, type=int, help="Samples per shard file [default: 256].")
@click.option("--no-progress", is_flag=True, help="No progress bars (they are off anyway when output is not a terminal; one line per stage then).")
def command(pairs: str, out: str, seed: int, ratios: str, holdout_region: str | None,
            holdout_month: str | None, block_days: int | None, shard_size: int | None, no_progress: bool) -> None:
    """Split PAIRS by whole day (seeded, guarded), write sharded Zarr splits, manifest and summary."""
    from cloudbench.cli import set_run_dir
    from cloudbench.storage import is_remote, join

    set_run_dir(None if is_remote(out) else out)
    from cloudbench.dataset.build import build_dataset
    from cloudbench.dataset.shards import DEFAULT_SHARD_SIZE
    from cloudbench.dataset.splits import DEFAULT_BLOCK_DAYS
    from cloudbench.dataset.summary import summary_table

    manifest = build_dataset(pairs, out, seed=seed, ratios=_ratios(ratios), holdout_region=holdout_region,
                             holdout_month=holdout_month, shard_size=shard_size or DEFAULT_SHARD_SIZE,
                             block_days=DEFAULT_BLOCK_DAYS if block_days is None else block_days,
                             progress=not no_progress)
    click.echo(summary_table(manifest))
    click.echo(f"wrote {out} (map of sample locations: {join(out, 'summary.png')})")
