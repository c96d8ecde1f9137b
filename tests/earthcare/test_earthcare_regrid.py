"""Per-profile native cells on the common grid: the same overlaps and rules as fixed cells."""

from __future__ import annotations

import numpy as np
import pytest

from cloudbench.config import CLEAR, DEFAULT_GRID, ICE, MIXED, UNLABELED, WATER, HeightGrid
from cloudbench.readers import regrid
from cloudbench.readers.earthcare_tc import cell_edges_from_centres

CODES = np.array([CLEAR, ICE, MIXED, WATER, UNLABELED], dtype=np.uint8)


def test_shared_edges_give_the_fixed_cell_fractions():
    rng = np.random.default_rng(1)
    classes = rng.choice(CODES, size=(300, 242))
    edges = 23.65 - 0.1 * np.arange(243)
    fixed = regrid.cell_fractions(classes, edges, DEFAULT_GRID)
    per_profile = regrid.profile_cell_fractions(classes, np.broadcast_to(edges, (300, 243)), DEFAULT_GRID)
    np.testing.assert_allclose(per_profile, fixed, atol=1e-12)


def test_each_profile_its_own_edges_and_direction():
    rng = np.random.default_rng(2)
    classes = rng.choice(CODES, size=(500, 242))
    edges = 23.65 - 0.1 * np.arange(243)[None, :] + rng.uniform(-0.3, 0.3, (500, 1))
    edges[::3] = edges[::3, ::-1]  # some rows bottom-up
    classes[::3] = classes[::3, ::-1]
    got = regrid.profile_cell_fractions(classes, edges, DEFAULT_GRID)
    for row in range(0, 500, 7):
        np.testing.assert_allclose(got[row], regrid.cell_fractions(classes[row : row + 1], edges[row], DEFAULT_GRID)[0],
                                   atol=1e-12)
    phase = regrid.regrid_profile_cells(classes, edges, DEFAULT_GRID)
    assert phase.shape == (500, 80) and phase.dtype == np.uint8


def test_the_three_rules_and_ties_on_uneven_cells():
    grid = HeightGrid(0.0, 0.96, 0.24)  # four bins
    # bin 0 is half ice, half water (a tie -> the lower code, ice); bin 1 is 0.10 km water and 0.14 clear
    # (water covers 42 % >= 1/3 -> water); bin 2 is 0.10 unlabeled and 0.14 clear (58 % labeled -> clear);
    # bin 3 is 0.08 clear and 0.16 unlabeled (33 % labeled < 1/2 -> 255)
    edges = np.array([[0.0, 0.12, 0.24, 0.34, 0.48, 0.58, 0.72, 0.8, 0.96]])
    classes = np.array([[ICE, WATER, WATER, CLEAR, UNLABELED, CLEAR, CLEAR, UNLABELED]], dtype=np.uint8)
    assert regrid.regrid_profile_cells(classes, edges, grid).tolist() == [[ICE, WATER, CLEAR, UNLABELED]]
    assert regrid.regrid_profile_cells(classes[:, ::-1], edges[:, ::-1], grid).tolist() == [[ICE, WATER, CLEAR,
                                                                                             UNLABELED]]


def test_parts_of_the_grid_outside_the_cells_are_unlabeled():
    edges = np.array([np.linspace(3.0, 0.5, 26)])  # data from 0.5 to 3 km only
    classes = np.full((1, 25), CLEAR, dtype=np.uint8)
    phase = regrid.regrid_profile_cells(classes, edges, DEFAULT_GRID)[0]
    assert (phase[:2] == UNLABELED).all() and (phase[3:12] == CLEAR).all() and (phase[13:] == UNLABELED).all()


def test_edges_from_centres():
    centres = np.array([[10.0, 9.9, 9.8, 9.6]])
    np.testing.assert_allclose(cell_edges_from_centres(centres), [[10.05, 9.95, 9.85, 9.7, 9.5]])


def test_shape_mismatch_is_a_bug_not_data():
    with pytest.raises(ValueError, match="cell_edges_km has shape"):
        regrid.profile_cell_fractions(np.zeros((2, 3), dtype=np.uint8), np.zeros((2, 3)))
