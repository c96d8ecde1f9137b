"""``cloudbench train-baseline``: train SGMAGNet or a baseline on DATASET/ into RUN/."""

from __future__ import annotations

from pathlib import Path

import click

from cloudbench.models import MODEL_NAMES, SIZES


@click.command(name="train-baseline")
@click.option("--dataset", "dataset", required=True, type=click.Path(file_okay=False), help="DATASET/ folder (build-splits output).")
@click.option("--model", type=click.Choice(MODEL_NAMES), default="sgmagnet", show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="RUN/ folder for checkpoints, metrics and figures.")
@click.option("--epochs", type=int, default=30, show_default=True)
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--lr", type=float, default=2e-3, show_default=True, help="Peak AdamW learning rate (cosine schedule).")
@click.option("--size", type=click.Choice(SIZES), default="small", show_default=True, help="Model width preset.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue from RUN/checkpoints/last.pt.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto", show_default=True)
@click.option("--num-workers", type=int, default=0, show_default=True, help="DataLoader worker processes.")
@click.option("--patience", type=int, default=6, show_default=True, help="Epochs without a better validation macro F1 before stopping.")
@click.option("--no-progress", is_flag=True, help="No progress bars (they are off anyway when output is not a terminal; one line per stage then).")
def command(dataset, model, out, epochs, batch_size, lr, size, seed, resume, device, num_workers, patience,
            no_progress) -> None:
    """Train a model with sparse (track-only) supervision, early-stop on validation, evaluate on test."""
    from cloudbench.cli import set_run_dir

    set_run_dir(out)
    from cloudbench.errors import MissingInputError
    from cloudbench.train.pipeline import train_baseline
    from cloudbench.train.trainer import TrainConfig

    if not Path(dataset).is_dir():
        raise MissingInputError("dataset folder not found", path=dataset, fix="run `cloudbench build-splits` first")
    config = TrainConfig(model=model, size=size, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                         patience=patience, device=device, num_workers=num_workers)
    doc = train_baseline(dataset, out, config, resume=resume, progress=not no_progress)
    m = doc["metrics"]
    spec = doc["model"]
    click.echo(f"{spec['name']} ({spec['size']}): {spec['parameters']:,} parameters; best epoch {doc['best_epoch']}")
    click.echo(
        f"test macro F1 {m['macro_all']['f1']:.4f} (cloud classes {m['macro_cloud']['f1']:.4f}), "
        f"cloud-mask F1 {m['cloud_mask']['f1']:.4f}, accuracy {m['accuracy']:.4f}"
    )
    click.echo(f"wrote {Path(out) / 'metrics.json'} and {Path(out) / 'report.md'}")
