"""What every figure of the project shares: the phase colours as a colormap, their legend, and an
atomic save (a figure is written under a temporary name and renamed, never seen half-written).

matplotlib is imported inside the functions: importing this module costs nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cloudbench.config import CLASS_NAMES, PHASE_COLOURS, UNLABELED, UNLABELED_COLOUR


def phase_cmap():
    """(colormap, norm) for :func:`phase_image` arrays: one colour per class, the last for unlabeled."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    colours = [PHASE_COLOURS[c] for c in sorted(PHASE_COLOURS)] + [UNLABELED_COLOUR]
    return ListedColormap(colours), BoundaryNorm(np.arange(-0.5, len(colours)), len(colours))


def phase_image(a: np.ndarray) -> np.ndarray:
    """Class codes with UNLABELED moved next to the classes, so the colormap stays contiguous."""
    out = np.asarray(a).astype(np.int64)
    out[np.asarray(a) == UNLABELED] = len(PHASE_COLOURS)
    return out


def phase_legend_handles(unlabeled_label: str = "unlabeled") -> list:
    """Legend patches for the classes and unlabeled, in code order."""
    from matplotlib.patches import Patch

    handles = [Patch(color=PHASE_COLOURS[k], label=CLASS_NAMES[k]) for k in sorted(PHASE_COLOURS)]
    handles.append(Patch(color=UNLABELED_COLOUR, label=unlabeled_label))
    return handles


def save_figure(fig, path: str | Path, **savefig_kwargs) -> Path:
    """Save under a temporary name in the same folder, then rename into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, **savefig_kwargs)
    os.replace(tmp, path)
    return path
