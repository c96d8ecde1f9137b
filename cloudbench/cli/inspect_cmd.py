"""``cloudbench inspect FILE [--json]``: what a product file holds, for any supported product."""

from __future__ import annotations

import json
from typing import Any

import click


def _render_value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_render_value(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_render_value(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def format_table(info: dict[str, Any]) -> str:
    """A readable two-column table of a summary."""
    width = max((len(k) for k in info), default=0)
    return "\n".join(f"{k.ljust(width)}  {_render_value(v)}" for k, v in info.items())


@click.command("inspect")
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON (docs/dataset-spec.md, 'Command line').")
def command(file: str, as_json: bool) -> None:
    """Summarise FILE: a file of any registered imager or label product (recognised by its name)."""
    from cloudbench.readers.registry import summary

    info = summary(file)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
    else:
        click.echo(format_table(info))
