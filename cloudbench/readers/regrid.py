"""Native active-sensor bins -> the common height grid, by the rules of docs/dataset-spec.md.

Per common bin, from the fraction of the bin that each labeled class covers (clear, ice, mixed,
water; whatever is left is unlabeled):

1. labeled classes together cover less than half of the bin -> 255 (unlabeled);
2. else, if some cloud class covers at least a third of the bin -> the cloud class covering most;
3. else -> clear.

Ties between cloud classes go to the lower class code (ice, then mixed, then water): the rule has
to pick one, and a fixed order keeps datasets reproducible. Comparisons allow ``FRACTION_TOLERANCE``
so that a bin covered exactly half or a third by float cell edges is not lost to rounding.

Three ways in: ``cell_fractions`` for profiles of class codes on fixed native cells (VFM),
``profile_cell_fractions`` for cells whose heights differ from profile to profile (EarthCARE's 2-D
height grids), and ``layer_fractions`` for layer tables (CloudSat base/top heights). All are
vectorised over profiles: the overlaps of fixed native cells with the common bins are a short list of
(cell, bin) pairs summed by one weighted bincount; per-profile cells go through each class's
cumulative cover at the bin edges; there is no Python loop over profiles.
"""

from __future__ import annotations

import numpy as np

from cloudbench import config
from cloudbench.config import CLEAR, ICE, MIXED, UNLABELED, WATER, HeightGrid

LABELED_CLASSES = (CLEAR, ICE, MIXED, WATER)  # the order of the class axis of a fractions array
FRACTION_TOLERANCE = 1e-6  # of a bin: 0.24 mm of a 240 m bin
REGRID_BLOCK = 4096  # profiles per block in regrid_cells
TIE_DECIMALS = 12  # per-profile cell fractions are rounded to this many decimals (see regrid_profile_cells)


def classify_fractions(fractions: np.ndarray) -> np.ndarray:
    """Apply the three rules to per-bin class fractions.

    Args:
        fractions: (..., 4, Z) fraction of each common bin covered by clear, ice, mixed, water
            (in ``LABELED_CLASSES`` order); the remainder of the bin is unlabeled.

    Returns:
        (..., Z) uint8 class codes.
    """
    fractions = np.asarray(fractions, dtype=np.float64)
    labeled = fractions.sum(axis=-2)
    cloud = fractions[..., 1:, :]
    best = np.argmax(cloud, axis=-2)  # first maximum: ties go to the lower code
    best_fraction = np.take_along_axis(cloud, best[..., None, :], axis=-2)[..., 0, :]
    cloud_codes = np.array([ICE, MIXED, WATER], dtype=np.uint8)
    out = np.full(labeled.shape, CLEAR, dtype=np.uint8)
    is_cloud = best_fraction >= 1.0 / 3.0 - FRACTION_TOLERANCE
    out[is_cloud] = cloud_codes[best[is_cloud]]
    out[labeled < 0.5 - FRACTION_TOLERANCE] = UNLABELED
    return out


def overlap_matrix(cell_edges_km: np.ndarray, grid: HeightGrid = config.DEFAULT_GRID) -> np.ndarray:
    """(C, Z) fraction of each common bin that each native cell covers (cells in the given order)."""
    edges = np.asarray(cell_edges_km, dtype=np.float64)
    cell_lo = np.minimum(edges[:-1], edges[1:])[:, None]
    cell_hi = np.maximum(edges[:-1], edges[1:])[:, None]
    lo, hi = grid.edges_km[:-1][None, :], grid.edges_km[1:][None, :]
    return np.clip(np.minimum(cell_hi, hi) - np.maximum(cell_lo, lo), 0.0, None) / (hi - lo)


_CLASS_SLOT = np.full(256, len(LABELED_CLASSES), dtype=np.intp)  # class code -> axis index; others last
_CLASS_SLOT[list(LABELED_CLASSES)] = np.arange(len(LABELED_CLASSES))


def cell_fractions(classes: np.ndarray, cell_edges_km: np.ndarray, grid: HeightGrid = config.DEFAULT_GRID) -> np.ndarray:
    """Fractions of each common bin covered by each labeled class, from class codes on native cells.

    The cells are the same for all profiles, so the (cell, bin) overlaps are one short list of
    pairs; one weighted ``bincount`` over (profile, class, bin) adds them up for every profile at
    once, in float64, without BLAS (whose threads fight each other inside parallel workers).

    Args:
        classes: (P, C) uint8 class codes per profile and native cell (any of 0, 1, 2, 3, 255).
        cell_edges_km: (C+1,) cell edges in km, monotonic (top-down or bottom-up), shared by all profiles.
        grid: the common height grid.

    Returns:
        (P, 4, Z) float64 fractions in ``LABELED_CLASSES`` order. Parts of a bin outside the native
        cells count as unlabeled.
    """
    classes = np.asarray(classes)
    n_profiles = classes.shape[0]
    n_slots = len(LABELED_CLASSES) + 1
    weights = overlap_matrix(cell_edges_km, grid)
    cell, bin_ = np.nonzero(weights)
    if cell.size == 0 or n_profiles == 0:
        return np.zeros((n_profiles, len(LABELED_CLASSES), grid.n), dtype=np.float64)
    pair_weight = weights[cell, bin_]
    slot = _CLASS_SLOT[classes[:, cell]]  # (P, pairs)
    index = (np.arange(n_profiles)[:, None] * n_slots + slot) * grid.n + bin_[None, :]
    sums = np.bincount(
        index.ravel(),
        weights=np.broadcast_to(pair_weight, index.shape).ravel(),
        minlength=n_profiles * n_slots * grid.n,
    )
    return sums.reshape(n_profiles, n_slots, grid.n)[:, : len(LABELED_CLASSES), :]


def regrid_cells(classes: np.ndarray, cell_edges_km: np.ndarray, grid: HeightGrid = config.DEFAULT_GRID) -> np.ndarray:
    """(P, C) class codes on native cells -> (P, Z) uint8 class codes on the common grid.

    Works in blocks of ``REGRID_BLOCK`` profiles so a full granule (~60,000 shots) never holds more
    than a few tens of MB of float temporaries.
    """
    classes = np.asarray(classes)
    out = np.empty((classes.shape[0], grid.n), dtype=np.uint8)
    for start in range(0, classes.shape[0], REGRID_BLOCK):
        block = classes[start : start + REGRID_BLOCK]
        out[start : start + REGRID_BLOCK] = classify_fractions(cell_fractions(block, cell_edges_km, grid))
    return out


def profile_cell_fractions(classes: np.ndarray, cell_edges_km: np.ndarray,
                           grid: HeightGrid = config.DEFAULT_GRID) -> np.ndarray:
    """Fractions of each common bin covered by each labeled class, from cells that differ per profile.

    Per profile and class, the height covered by that class below ``h`` is piecewise linear in ``h``;
    its values at the common bin edges are the cumulative cover at the native edge below plus the
    part of the cell ``h`` falls in. A bin's fraction is the difference at its two edges over its
    width: the same overlaps as :func:`cell_fractions`, with edges per profile.

    Args:
        classes: (P, C) uint8 class codes per profile and native cell (any of 0, 1, 2, 3, 255).
        cell_edges_km: (P, C+1) cell edges in km per profile, finite and monotonic along each row
            (top-down or bottom-up; rows may differ in direction).
        grid: the common height grid.

    Returns:
        (P, 4, Z) float64 fractions in ``LABELED_CLASSES`` order; parts of a bin outside the cells
        count as unlabeled.
    """
    classes = np.asarray(classes)
    edges = np.asarray(cell_edges_km, dtype=np.float64)
    n_profiles, n_cells = classes.shape
    if edges.shape != (n_profiles, n_cells + 1):
        raise ValueError(f"cell_edges_km has shape {edges.shape}, expected {(n_profiles, n_cells + 1)}")
    out = np.zeros((n_profiles, len(LABELED_CLASSES), grid.n), dtype=np.float64)
    if n_profiles == 0 or n_cells == 0:
        return out
    down = edges[:, 0] > edges[:, -1]  # top-down rows are turned bottom-up
    edges = np.where(down[:, None], edges[:, ::-1], edges)
    classes = np.where(down[:, None], classes[:, ::-1], classes)
    slot = _CLASS_SLOT[classes]  # (P, C): 0..3 labeled classes, 4 other
    thickness = np.diff(edges, axis=1)  # (P, C) >= 0
    g = grid.edges_km  # (Z+1,)
    # the cell each bin edge falls in, per profile: each row is shifted to its own stretch of the
    # number line, so one searchsorted over all rows' edges serves every profile
    clamped = np.clip(g[None, :], edges[:, :1], edges[:, -1:])  # (P, Z+1) bin edges within the cells
    span = float((edges[:, -1] - edges[:, 0]).max()) + 1.0
    offset = (np.arange(n_profiles, dtype=np.float64) * span)[:, None] - edges[:, :1]
    pos = np.searchsorted((edges + offset).ravel(), (clamped + offset).ravel(), side="right")
    pos = pos.reshape(n_profiles, g.size) - (np.arange(n_profiles) * (n_cells + 1))[:, None]
    cell = np.clip(pos - 1, 0, n_cells - 1)  # the cell holding the edge (clipped at both ends)
    rows = np.arange(n_profiles)[:, None]
    inside = np.clip(clamped - edges[rows, cell], 0.0, thickness[rows, cell])  # height into that cell
    for k in range(len(LABELED_CLASSES)):
        mine = np.where(slot == k, thickness, 0.0)
        cumulative = np.concatenate([np.zeros((n_profiles, 1)), np.cumsum(mine, axis=1)], axis=1)
        cover = cumulative[rows, cell] + np.where(slot[rows, cell] == k, inside, 0.0)  # (P, Z+1)
        out[:, k, :] = np.diff(cover, axis=1) / np.diff(g)[None, :]
    return np.clip(out, 0.0, 1.0)


def regrid_profile_cells(classes: np.ndarray, cell_edges_km: np.ndarray,
                         grid: HeightGrid = config.DEFAULT_GRID) -> np.ndarray:
    """(P, C) class codes on per-profile cells (edges (P, C+1)) -> (P, Z) uint8 classes on ``grid``.

    Fractions are rounded to ``TIE_DECIMALS`` before the rules: cells of ~100 m in 240 m bins often
    split a bin evenly between two cloud classes, and rounding keeps such a tie a tie (so it goes to
    the lower code, as the rules say) instead of to whichever sum came out a few ulps larger.
    """
    classes = np.asarray(classes)
    edges = np.asarray(cell_edges_km, dtype=np.float64)
    out = np.empty((classes.shape[0], grid.n), dtype=np.uint8)
    for start in range(0, classes.shape[0], REGRID_BLOCK):
        stop = start + REGRID_BLOCK
        fractions = profile_cell_fractions(classes[start:stop], edges[start:stop], grid)
        out[start:stop] = classify_fractions(np.round(fractions, TIE_DECIMALS))
    return out


def layer_fractions(
    base_km: np.ndarray,
    top_km: np.ndarray,
    layer_class: np.ndarray,
    surface_km: np.ndarray,
    grid: HeightGrid = config.DEFAULT_GRID,
    *,
    top_of_data_km: float | np.ndarray = np.inf,
) -> np.ndarray:
    """Fractions of each common bin covered by each labeled class, from layer tables.

    Args:
        base_km, top_km: (P, L) layer bounds in km; NaN for unused slots.
        layer_class: (P, L) class code per layer; a layer with ``UNLABELED`` makes its span unlabeled.
        surface_km: (P,) surface elevation in km; everything below it is unlabeled. NaN makes the
            whole profile unlabeled (no valid data).
        grid: the common height grid.
        top_of_data_km: above it nothing was observed (unlabeled).

    Returns:
        (P, 4, Z) float64 fractions in ``LABELED_CLASSES`` order. Clear is the part of the bin above
        the surface and below ``top_of_data_km`` that no layer covers.
    """
    base = np.asarray(base_km, dtype=np.float64)
    top = np.asarray(top_km, dtype=np.float64)
    layer_class = np.asarray(layer_class)
    surface = np.asarray(surface_km, dtype=np.float64)
    lo = grid.edges_km[:-1]  # (Z,)
    hi = grid.edges_km[1:]
    width = hi - lo
    valid_layer = np.isfinite(base) & np.isfinite(top) & (top > base) & np.isfinite(surface)[:, None]
    out = np.zeros((base.shape[0], len(LABELED_CLASSES), grid.n), dtype=np.float64)
    any_layer = np.zeros((base.shape[0], grid.n), dtype=np.float64)
    for slot in range(base.shape[1]):  # few slots: loop over them, vectorised over profiles
        ok = valid_layer[:, slot]
        if not ok.any():
            continue
        b = np.where(ok, np.maximum(base[:, slot], surface), 0.0)[:, None]
        t = np.where(ok, top[:, slot], 0.0)[:, None]
        overlap = np.clip(np.minimum(t, hi) - np.maximum(b, lo), 0.0, None) / width
        overlap[~ok] = 0.0
        any_layer += overlap
        for k, code in enumerate(LABELED_CLASSES[1:], start=1):
            out[:, k, :] += overlap * (layer_class[:, slot] == code)[:, None]
    observed_top = np.broadcast_to(np.asarray(top_of_data_km, dtype=np.float64), surface.shape)
    above_surface = np.clip(
        np.minimum(observed_top[:, None], hi) - np.maximum(surface[:, None], lo), 0.0, None
    ) / width  # NaN surface -> NaN -> clipped below
    above_surface = np.nan_to_num(above_surface, nan=0.0)
    any_layer = np.minimum(any_layer, 1.0)  # layers do not overlap each other
    out[:, 0, :] = np.clip(above_surface - any_layer, 0.0, None)
    return out


def cloud_top_height(phase: np.ndarray, grid: HeightGrid = config.DEFAULT_GRID) -> np.ndarray:
    """Top of the highest cloudy common bin per profile, in metres; NaN where no bin is cloudy.

    Args:
        phase: (P, Z) class codes on ``grid`` (bin 0 at the bottom).
        grid: the common height grid.
    """
    phase = np.asarray(phase)
    cloudy = np.isin(phase, config.CLOUD_CLASSES)
    has_cloud = cloudy.any(axis=1)
    highest = phase.shape[1] - 1 - np.argmax(cloudy[:, ::-1], axis=1)
    tops_m = grid.edges_km[1:][highest] * 1000.0
    return np.where(has_cloud, tops_m, np.nan).astype(np.float32)
