"""Hand-built cases for each regridding rule of docs/dataset-spec.md (boundaries and ties included)."""

from __future__ import annotations

import numpy as np
import pytest

from cloudbench.config import CLEAR, ICE, MIXED, UNLABELED, WATER, HeightGrid
from cloudbench.readers import regrid

U = UNLABELED


def one_bin(clear=0.0, ice=0.0, mixed=0.0, water=0.0) -> int:
    fractions = np.array([[[clear], [ice], [mixed], [water]]], dtype=np.float64)
    return int(regrid.classify_fractions(fractions)[0, 0])


@pytest.mark.parametrize(
    ("fractions", "expected", "why"),
    [
        (dict(clear=0.49), U, "rule 1: labeled below half"),
        (dict(ice=0.2, clear=0.29), U, "rule 1: labeled below half even with cloud"),
        (dict(clear=0.5), CLEAR, "rule 1 boundary: exactly half is enough"),
        (dict(water=0.5), WATER, "exactly half, all cloud"),
        (dict(ice=1 / 3, clear=1 / 3), ICE, "rule 2 boundary: exactly a third"),
        (dict(ice=0.33, clear=0.67), CLEAR, "rule 3: just below a third"),
        (dict(ice=0.3, water=0.3, clear=0.4), CLEAR, "rule 3: two clouds, neither reaches a third"),
        (dict(ice=0.4, water=0.6), WATER, "rule 2: the cloud covering most"),
        (dict(ice=0.35, water=0.34, clear=0.31), ICE, "rule 2: the cloud covering most, close"),
        (dict(mixed=0.34, clear=0.16), MIXED, "half unlabeled, a third mixed"),
        (dict(ice=0.5, water=0.5), ICE, "tie ice/water -> lower code"),
        (dict(mixed=0.4, water=0.4, clear=0.2), MIXED, "tie mixed/water -> lower code"),
        (dict(ice=0.25, mixed=0.25, water=0.25, clear=0.25), CLEAR, "three clouds below a third each"),
        (dict(), U, "nothing labeled"),
        (dict(clear=1.0), CLEAR, "all clear"),
    ],
)
def test_rules_on_fractions(fractions, expected, why):
    assert one_bin(**fractions) == expected, why


def test_exact_boundaries_from_cell_edges():
    """1/2 and 1/3 produced by float cell edges (6 cells of 40 m per 240 m bin) still count."""
    grid = HeightGrid(0.0, 0.96, 0.24)
    edges = np.linspace(0.0, 0.96, 25)  # 24 cells of 0.04 km, bottom-up
    c = CLEAR
    classes = np.array(
        [
            [ICE, ICE, c, c, c, c]  # bin 0: ice exactly 1/3 -> ice
            + [U, U, U, c, c, c]  # bin 1: labeled exactly 1/2 -> clear
            + [U, U, U, U, c, ICE]  # bin 2: labeled 1/3 -> 255
            + [WATER, WATER, WATER, ICE, ICE, ICE]  # bin 3: tie -> ice
        ],
        dtype=np.uint8,
    )
    assert regrid.regrid_cells(classes, edges, grid).tolist() == [[ICE, CLEAR, U, ICE]]
    # the same cells stored top-down give the same answer
    assert regrid.regrid_cells(classes[:, ::-1], edges[::-1], grid).tolist() == [[ICE, CLEAR, U, ICE]]


def test_partial_cells_are_weighted_by_overlap():
    grid = HeightGrid(0.0, 0.24, 0.24)
    edges = np.array([0.0, 0.1, 0.2, 0.3])  # the third cell covers only 0.04 of the bin
    fractions = regrid.cell_fractions(np.array([[WATER, CLEAR, ICE]], dtype=np.uint8), edges, grid)
    np.testing.assert_allclose(fractions[0, :, 0], [0.1 / 0.24, 0.04 / 0.24, 0.0, 0.1 / 0.24])
    assert regrid.regrid_cells(np.array([[WATER, CLEAR, ICE]], dtype=np.uint8), edges, grid)[0, 0] == WATER


def test_bins_outside_native_cells_are_unlabeled():
    grid = HeightGrid(0.0, 0.72, 0.24)
    edges = np.array([0.0, 0.24, 0.36])  # nothing above 0.36 km
    out = regrid.regrid_cells(np.array([[CLEAR, CLEAR]], dtype=np.uint8), edges, grid)
    assert out.tolist() == [[CLEAR, CLEAR, U]]  # bin 1 half covered -> clear; bin 2 not covered


def test_layer_fractions_surface_and_unlabeled_layers():
    grid = HeightGrid(0.0, 1.92, 0.24)
    nan = np.nan
    base = np.array([[1.2, 0.48], [1.2, nan], [0.6, nan]])
    top = np.array([[1.68, 0.72], [1.68, nan], [1.0, nan]])
    cls = np.array([[ICE, WATER], [U, 0], [MIXED, 0]], dtype=np.uint8)
    surface = np.array([0.3, 0.0, nan])  # ray 2 has no valid data
    phase = regrid.classify_fractions(regrid.layer_fractions(base, top, cls, surface, grid))
    # ray 0: bin 0 below surface (0-0.24) -> 255; bin 1 (0.24-0.48) 0.18 above surface -> clear
    assert phase[0].tolist() == [U, CLEAR, WATER, CLEAR, CLEAR, ICE, ICE, CLEAR]
    # ray 1: the span of a layer of unknown phase is unlabeled, never clear
    assert phase[1].tolist() == [CLEAR] * 5 + [U, U, CLEAR]
    assert (phase[2] == U).all()


def test_layer_fractions_top_of_data():
    grid = HeightGrid(0.0, 0.96, 0.24)
    empty = np.full((1, 1), np.nan)
    phase = regrid.classify_fractions(
        regrid.layer_fractions(empty, empty, np.zeros((1, 1), np.uint8), np.array([0.0]), grid, top_of_data_km=0.6)
    )
    assert phase.tolist() == [[CLEAR, CLEAR, CLEAR, U]]  # bin 2 has 0.12 of 0.24 observed: exactly half


def test_cloud_top_height():
    grid = HeightGrid(0.0, 0.96, 0.24)
    phase = np.array([[WATER, CLEAR, ICE, CLEAR], [CLEAR] * 4, [U, MIXED, U, U]], dtype=np.uint8)
    tops = regrid.cloud_top_height(phase, grid)
    np.testing.assert_allclose(tops[[0, 2]], [720.0, 480.0])
    assert np.isnan(tops[1])
