"""``cloudbench verify DATASET``: checksums, schema, counts and split leakage; exit 2 on any fault."""

from __future__ import annotations

import json

import click


@click.command("verify")
@click.argument("dataset")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def command(dataset: str, as_json: bool) -> None:
    """Recompute every checksum of DATASET (a folder or fsspec URL) and check its schema, counts and
    leak-free splits."""
    from cloudbench.dataset.verify import verify_dataset

    report = verify_dataset(dataset)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        counts = ", ".join(f"{k} {v}" for k, v in report["samples"].items())
        click.echo(f"OK: {dataset} ({report['files_checked']} files checksummed; samples: {counts})")
