"""The seeded cloud field: determinism, phase rules, motion, rasterised truth."""

import numpy as np
import pytest

from cloudbench.config import CLEAR, DEFAULT_GRID, ICE, MIXED, UNLABELED, WATER, HeightGrid, Region
from cloudbench.synthetic.scene import Scene, rasterise_layers, temperature_k

T0 = np.datetime64("2018-10-01T04:00:00", "ns")


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(5)
    n = 6000
    return rng.uniform(100, 160, n), rng.uniform(-50, 50, n)


@pytest.fixture(scope="module")
def scene():
    return Scene(3, "2018-10-01T00:00")


def test_same_seed_same_sky_other_seed_other_sky(points, scene):
    lon, lat = points
    a = scene.layers_at(lon, lat, T0)
    b = Scene(3, "2018-10-01T00:00", region=Region(100, -50, 160, 50)).layers_at(lon, lat, T0)
    c = Scene(4, "2018-10-01T00:00").layers_at(lon, lat, T0)
    assert np.array_equal(a.top_km, b.top_km, equal_nan=True) and np.array_equal(a.phase, b.phase)
    assert not np.array_equal(a.top_km, c.top_km, equal_nan=True)
    # a subset of points gets exactly the same columns (no dependence on what else was asked)
    d = scene.layers_at(lon[:50], lat[:50], T0)
    assert np.array_equal(a.top_km[:50], d.top_km, equal_nan=True)


def test_cloud_cover_layers_and_sizes_are_plausible(points, scene):
    lon, lat = points
    layers = scene.layers_at(lon, lat, T0)
    cover = np.isfinite(layers.cloud_top_km).mean()
    assert 0.25 < cover < 0.8
    n = layers.n_layers
    assert n.max() >= 2 and n.max() <= 10
    # layers are ordered top first and do not overlap
    top, base = layers.top_km, layers.base_km
    both = np.isfinite(top[:, 1])
    assert np.all(base[both, 0] >= top[both, 1] - 1e-6)
    assert np.all(top[np.isfinite(top)] > base[np.isfinite(top)])
    assert np.all(base[np.isfinite(base)] >= layers.surface_km[np.isfinite(base).any(axis=1)].min())


def test_phase_follows_top_temperature(points, scene):
    lon, lat = points
    layers = scene.layers_at(lon, lat, T0)
    ok = np.isfinite(layers.top_km)
    t_top = temperature_k(layers.top_km, lat[:, None])[ok]
    phase = layers.phase[ok]
    assert np.all(phase[t_top > 273.15 + 1e-6] == WATER)
    assert np.all(phase[t_top < 273.15 - 38 - 1e-6] == ICE)
    between = (t_top < 273.15) & (t_top > 273.15 - 38)
    assert set(np.unique(phase[between])) <= {ICE, MIXED, WATER}
    assert {ICE, MIXED, WATER} <= set(np.unique(phase))


def test_field_moves_with_the_wind(scene):
    lon = np.linspace(120, 130, 400)
    lat = np.full_like(lon, 5.0)
    top_now = scene.cloud_top_km(lon, lat, T0)
    later = T0 + np.timedelta64(1800, "s")
    mlon, mlat = scene.moved_position(*scene.static_position(lon, lat, T0), later)
    top_later = scene.cloud_top_km(mlon, mlat, later)
    assert np.array_equal(np.isfinite(top_now), np.isfinite(top_later))
    assert np.allclose(top_now, top_later, equal_nan=True, atol=1e-4)
    # 8 m/s eastward for 30 min is 14.4 km
    assert np.allclose((mlon - lon) * 111.195 * np.cos(np.radians(5.0)), 14.4, atol=0.2)
    # and the field at a fixed place changes
    assert not np.array_equal(np.isfinite(top_now), np.isfinite(scene.cloud_top_km(lon, lat, later + np.timedelta64(3 * 3600, "s"))))


def test_neighbouring_2km_points_mostly_share_a_column(scene):
    lat = np.arange(-30, 30, 0.018)  # ~2 km apart
    lon = np.full_like(lat, 135.0)
    cols = scene.truth_columns(lon, lat, T0, DEFAULT_GRID)
    same = np.all(cols[1:] == cols[:-1], axis=1).mean()
    assert same > 0.8


def test_truth_columns_are_clear_above_surface_and_unlabeled_below(points, scene):
    lon, lat = points
    layers = scene.layers_at(lon, lat, T0)
    cols = rasterise_layers(layers, DEFAULT_GRID)
    centres = DEFAULT_GRID.centres_km
    below = centres[None, :] < layers.surface_km[:, None] - 0.121
    assert np.all(cols[below] == UNLABELED)
    assert np.any(below), "the seeded terrain should rise above the lowest bin somewhere"
    clear = ~np.isfinite(layers.cloud_top_km)
    above = centres[None, :] > layers.surface_km[:, None] + 0.121
    assert np.all(cols[clear[:, None] & above] == CLEAR)
    # a cloudy bin centre well inside a layer carries that layer's phase
    j = np.flatnonzero(np.isfinite(layers.top_km[:, 0]) & (layers.top_km[:, 0] - layers.base_km[:, 0] > 1.0))[:50]
    for i in j:
        mid = 0.5 * (layers.top_km[i, 0] + layers.base_km[i, 0])
        k = int(np.searchsorted(DEFAULT_GRID.edges_km, mid) - 1)
        assert cols[i, k] == layers.phase[i, 0]


def test_rasterise_follows_the_third_of_a_bin_rule():
    from cloudbench.synthetic.layers import TrackLayers

    grid = HeightGrid(0.0, 2.0, 1.0)  # two bins of 1 km
    def one(base, top, surface=0.0):
        return TrackLayers(
            time=np.array([T0]), latitude=np.zeros(1), longitude=np.zeros(1),
            surface_km=np.array([surface], np.float32), day_night=np.zeros(1, np.uint8),
            base_km=np.array([[base] + [np.nan] * 9], np.float32), top_km=np.array([[top] + [np.nan] * 9], np.float32),
            phase=np.array([[WATER] + [0] * 9], np.uint8), optical_depth=np.array([[5.0] + [np.nan] * 9], np.float32),
        )
    assert rasterise_layers(one(0.5, 1.4), grid).tolist() == [[WATER, WATER]]  # 0.5 and 0.4 of the bins
    assert rasterise_layers(one(0.7, 1.3), grid).tolist() == [[CLEAR, CLEAR]]  # 0.3 each: under a third
    assert rasterise_layers(one(1.2, 1.6, surface=0.6), grid).tolist() == [[UNLABELED, WATER]]
