"""The after-build summary: samples and class balance per split (a text table) and a map figure.

Coastlines need data files that are not available offline, so the map is a lon/lat scatter on a
graticule; the region of the samples is obvious enough from the coordinates.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cloudbench.config import CLASS_NAMES
from cloudbench.dataset.splits import SPLITS

SPLIT_COLOURS = {"train": "#1f77b4", "val": "#ff7f0e", "test": "#2ca02c"}


def summary_table(manifest: dict) -> str:
    """Samples, days and class balance (% of labeled voxels) per split, as aligned text."""
    names = [CLASS_NAMES[i] for i in sorted(CLASS_NAMES)]
    header = ["split", "samples", "days", "granules"] + [f"{n} %" for n in names] + ["voxels"]
    rows = []
    for split in SPLITS:
        doc = manifest["splits"][split]
        total = sum(doc["class_counts"].values())
        shares = [f"{100 * doc['class_counts'][n] / total:.1f}" if total else "-" for n in names]
        rows.append([split, str(doc["n_samples"]), str(doc["n_days"]), str(doc["n_granules"])] + shares + [str(total)])
    guard = manifest.get("guard", {})
    rows.append(["guard", str(guard.get("n_samples", 0)), str(len(guard.get("days", []))), "-"] + ["-"] * len(names) + ["-"])
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in [header] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    rule = manifest["config"]["split_rule"]
    lines.append(f"split rule: {rule}; seed {manifest['config']['splits']['seed']}; "
                 f"guard days dropped: {len(guard.get('days', []))}")
    tradeoff = guard.get("block_tradeoff")
    if tradeoff:
        lines.append(f"blocks of {tradeoff['block_days']} day(s): {100 * guard.get('fraction_of_days', 0):.0f}% of "
                     f"{tradeoff['n_days']} days are guard; the hash rule with 1-day blocks would guard "
                     f"{100 * tradeoff['guard_fraction_of_days_with_1_day_blocks']:.0f}%")
    return "\n".join(lines)


def plot_locations(index: pd.DataFrame, path: str | Path) -> Path:
    """Sample centres on a lon/lat graticule, coloured by split (PNG, no timestamp in its metadata)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5), dpi=100)
    for split in SPLITS:
        sel = index[index["split"] == split]
        ax.scatter(sel["lon"], sel["lat"], s=6, c=SPLIT_COLOURS[split], label=f"{split} ({len(sel)})", alpha=0.8)
    ax.set_xlabel("longitude (deg E)")
    ax.set_ylabel("latitude (deg N)")
    ax.grid(True, linestyle=":", linewidth=0.6)
    ax.set_title("Sample locations by split")
    ax.legend(loc="best", fontsize=8)
    path = Path(path)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path


def write_summary(root: str | Path, manifest: dict, index: pd.DataFrame) -> tuple[Path, Path]:
    """Write summary.txt and summary.png next to the dataset."""
    root = Path(root)
    text = root / "summary.txt"
    text.write_text(summary_table(manifest) + "\n")
    return text, plot_locations(index, root / "summary.png")
