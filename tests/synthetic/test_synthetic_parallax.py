"""Forward parallax of the synthetic imager, checked against the known figure and satpy's inverse."""

import numpy as np
import pytest

from cloudbench.synthetic.parallax import apparent_lonlat, great_circle_km, parallax_shift_km, true_lonlat


def test_ten_km_top_at_45n_five_degrees_off_moves_about_12_7_km():
    shift = float(parallax_shift_km(140.7 + 5.0, 45.0, 10.0, 140.7))
    assert 12.4 < shift < 13.1


def test_shift_points_away_from_the_sub_satellite_point_and_grows_with_height():
    lon, lat = np.array([150.0, 130.0, 140.7]), np.array([30.0, -30.0, 40.0])
    alon, alat = apparent_lonlat(lon, lat, 12.0, 140.7)
    assert alon[0] > lon[0] and alat[0] > lat[0]  # north-east of the sub-point: moves further north-east
    assert alon[1] < lon[1] and alat[1] < lat[1]
    assert alat[2] > lat[2] and abs(alon[2] - lon[2]) < 1e-9  # on the sub-satellite meridian: only north
    low = parallax_shift_km(lon, lat, 3.0, 140.7)
    high = parallax_shift_km(lon, lat, 12.0, 140.7)
    assert np.all(high > 3.5 * low)


def test_zero_height_and_sub_satellite_point_do_not_move():
    alon, alat = apparent_lonlat(np.array([120.0, 140.7]), np.array([-20.0, 0.0]), np.array([0.0, 15.0]), 140.7)
    assert np.allclose(alon, [120.0, 140.7]) and np.allclose(alat, [-20.0, 0.0], atol=1e-9)


def test_true_lonlat_inverts_apparent_lonlat():
    rng = np.random.default_rng(1)
    lon = rng.uniform(90, 190, 500)
    lat = rng.uniform(-65, 65, 500)
    h = rng.uniform(0, 18, 500)
    alon, alat = apparent_lonlat(lon, lat, h, 140.7)
    ok = np.isfinite(alon)
    back_lon, back_lat = true_lonlat(alon[ok], alat[ok], h[ok], 140.7)
    assert great_circle_km(((lon[ok] + 180) % 360) - 180, lat[ok], back_lon, back_lat).max() < 1e-3


def test_points_behind_the_limb_are_not_visible():
    alon, alat = apparent_lonlat(140.7 + 100.0, 0.0, 10.0, 140.7)
    assert np.isnan(alon) and np.isnan(alat)


def test_agrees_with_satpy_parallax_correction_used_in_reverse():
    satpy_parallax = pytest.importorskip("satpy.modifiers.parallax")
    rng = np.random.default_rng(2)
    lon = rng.uniform(100, 180, 200)
    lat = rng.uniform(-55, 55, 200)
    h = rng.uniform(1, 16, 200)
    alon, alat = apparent_lonlat(lon, lat, h, 140.7)
    # satpy corrects an apparent position back to the cloud's true one (spherical Earth)
    clon, clat = satpy_parallax.get_parallax_corrected_lonlats(140.7, 0.0, 35786.0e3, alon, alat, h * 1000.0)
    shift = great_circle_km(lon, lat, alon, alat)
    err = great_circle_km(((lon + 180) % 360) - 180, lat, np.asarray(clon), np.asarray(clat))
    assert np.all(err < 0.05 * shift + 0.3)
    assert np.median(err) < 0.3
