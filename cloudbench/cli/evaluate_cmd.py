"""``cloudbench evaluate``: score any checkpoint on any split, or compare finished runs side by side."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(name="evaluate")
@click.option("--dataset", type=click.Path(file_okay=False), help="DATASET/ folder.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), help="A checkpoint, e.g. RUN/checkpoints/best.pt.")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test", show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Output folder [default: RUN/eval-<split>].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto", show_default=True)
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--no-progress", is_flag=True, help="No progress bars (they are off anyway when output is not a terminal; one line per stage then).")
@click.option("--compare", "compare", multiple=True, type=click.Path(), help="RUN folders to tabulate side by side (repeatable).")
@click.argument("runs", nargs=-1, type=click.Path())
def command(dataset, checkpoint, split, out, device, batch_size, no_progress, compare, runs) -> None:
    """Write metrics.json, report.md and figures for CHECKPOINT on SPLIT; or, with --compare RUN..., print a table."""
    from cloudbench.errors import UserError

    if compare:
        from cloudbench.train.evaluate import compare_runs

        click.echo(compare_runs([*compare, *runs]))
        return
    if runs:
        raise UserError(f"unexpected arguments {list(runs)}", fix="list runs after --compare")
    if not dataset or not checkpoint:
        raise UserError("evaluate needs --dataset and --checkpoint (or --compare RUN...)")
    from cloudbench.train.pipeline import evaluate_checkpoint

    doc = evaluate_checkpoint(dataset, checkpoint, split, out, device=device, batch_size=batch_size,
                              progress=not no_progress)
    m = doc["metrics"]
    click.echo(
        f"{doc['model']['name']} on {split}: macro F1 {m['macro_all']['f1']:.4f} "
        f"(cloud {m['macro_cloud']['f1']:.4f}), cloud-mask F1 {m['cloud_mask']['f1']:.4f}"
    )
    target = Path(out) if out else Path(checkpoint).parent.parent / f"eval-{split}"
    click.echo(f"wrote {target / 'metrics.json'}")
