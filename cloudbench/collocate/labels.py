"""One label column per imager pixel from the profiles that fall into it.

CALIPSO shots are 333 m apart and CloudSat rays about 1.1 km, so a 2 km pixel holds several profiles.
Each height bin takes the class most profiles in that pixel give it, among the profiles that label it.
A bin that fewer than half of the pixel's profiles label stays unlabeled, the horizontal twin of the
vertical regridding rule: under a cloud that blinds the lidar in most of the pixel, the one shot that
sees through a gap does not speak for the pixel. Ties go to the lowest class code, which keeps the rule
deterministic and, since clear is 0, never invents a cloud from a split vote between clear and cloud.
"""

from __future__ import annotations

import numpy as np

from cloudbench.config import CLASS_NAMES, NUM_CLASSES, UNLABELED


def majority_per_bin(phase: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Majority class per (group, height bin).

    Args:
        phase: (N, Z) uint8 class codes of N profiles, 255 unlabeled.
        group: (N,) int, the group (pixel) of each profile, 0 <= group < n_groups.
        n_groups: number of groups.

    Returns:
        (n_groups, Z) uint8; 255 where fewer than half of the group's profiles label that bin.
    """
    phase = np.asarray(phase)
    group = np.asarray(group, dtype=np.int64)
    n, z = phase.shape
    counts = np.zeros((n_groups, z, NUM_CLASSES), dtype=np.int32)
    labeled = phase < NUM_CLASSES
    g_idx = np.broadcast_to(group[:, None], (n, z))[labeled]
    z_idx = np.broadcast_to(np.arange(z)[None, :], (n, z))[labeled]
    np.add.at(counts, (g_idx, z_idx, phase[labeled].astype(np.int64)), 1)
    out = counts.argmax(axis=-1).astype(np.uint8)
    members = np.bincount(group, minlength=n_groups)[:, None]
    n_labeled = counts.sum(axis=-1)
    out[(n_labeled == 0) | (2 * n_labeled < members)] = UNLABELED
    return out


def class_counts(profiles: np.ndarray) -> dict[str, int]:
    """Voxel count per class name (``count_clear`` ...) in a label array."""
    return {f"count_{name}": int((profiles == code).sum()) for code, name in CLASS_NAMES.items()}
