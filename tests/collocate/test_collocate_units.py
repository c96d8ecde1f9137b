"""Unit tests of the pure collocation steps on a geos grid built here."""

from __future__ import annotations

import numpy as np
import pytest
from pyresample.geometry import AreaDefinition

from cloudbench.collocate.geometry import pixel_indices, satellite_zenith
from cloudbench.collocate.labels import majority_per_bin
from cloudbench.collocate.parallax import GeosGeometry, apparent_lonlat
from cloudbench.collocate.patches import block_mean, plan_patches, track_pixels
from cloudbench.collocate.timing import choose_slots, line_offsets_s

H = 35785863.0
A, B = 6378137.0, 6356752.3


def geos_area(n: int = 5500, sub_lon: float = 140.7) -> AreaDefinition:
    half = 5500000.0 * (5500 / 5500)
    proj = {"proj": "geos", "lon_0": sub_lon, "h": H, "a": A, "b": B, "units": "m"}
    return AreaDefinition("fd", "full disk", "fd", proj, n, n, (-half, -half, half, half))


def test_apparent_position_inverts_satpy_parallax_correction():
    from satpy.modifiers.parallax import get_parallax_corrected_lonlats

    geom = GeosGeometry(140.7, H, A, B)
    lon = np.array([145.7, 120.0, 160.0, 140.7])
    lat = np.array([45.0, -30.0, 10.0, 0.0])
    cth = np.array([10000.0, 5000.0, 15000.0, 12000.0])
    app_lon, app_lat, shift = apparent_lonlat(geom, lon, lat, cth)
    back_lon, back_lat = get_parallax_corrected_lonlats(140.7, 0.0, H, app_lon, app_lat, cth)
    # satpy assumes a sphere; its correction of our apparent position lands back within ~300 m
    km_per_deg = 111.2
    err_km = np.hypot((np.asarray(back_lon) - lon) * np.cos(np.deg2rad(lat)), np.asarray(back_lat) - lat) * km_per_deg
    assert np.all(err_km < 0.3), err_km
    # formats.md: 10 km at 45N, 5 deg off the sub-satellite longitude moves about 12.7 km
    assert shift[0] == pytest.approx(12.7, abs=0.4)
    # the shift points away from the sub-satellite point
    assert app_lat[0] > 45.0 and app_lon[0] > 145.7
    assert app_lat[1] < -30.0 and app_lon[1] < 120.0
    # straight below the satellite there is no parallax
    assert shift[3] < 1e-6


def test_clear_profiles_are_not_shifted():
    geom = GeosGeometry(140.7, H, A, B)
    lon, lat = np.array([150.0, 151.0]), np.array([20.0, 21.0])
    app_lon, app_lat, shift = apparent_lonlat(geom, lon, lat, np.array([np.nan, 0.0]))
    np.testing.assert_array_equal(app_lon, lon)
    np.testing.assert_array_equal(app_lat, lat)
    np.testing.assert_array_equal(shift, 0.0)


def test_geometry_from_area_reads_ellipsoid():
    geom = GeosGeometry.from_area(geos_area(550))
    assert geom.sub_lon == 140.7 and geom.height == H
    assert geom.a == pytest.approx(A) and geom.b == pytest.approx(B, abs=0.01)


def test_pixel_indices_round_trip_and_drop_nan_and_off_disk():
    area = geos_area(550)
    rows = np.array([10, 275, 300, 540])
    cols = np.array([275, 100, 275, 280])
    lons, lats = area.get_lonlats()
    lon = np.append(lons[rows, cols], [np.nan, -30.0, 140.0])
    lat = np.append(lats[rows, cols], [10.0, 0.0, np.nan])
    r, c, valid = pixel_indices(area, lon, lat)
    np.testing.assert_array_equal(valid, [True] * 4 + [False] * 3)
    np.testing.assert_array_equal(r[:4], rows)
    np.testing.assert_array_equal(c[:4], cols)
    assert np.all(r[4:] == -1) and np.all(c[4:] == -1)


def test_satellite_zenith_matches_pyorbital():
    from pyorbital.orbital import get_observer_look

    geom = GeosGeometry(140.7, H, A, B)
    lon = np.array([140.7, 150.0, 100.0, 170.0])
    lat = np.array([0.0, 40.0, -20.0, 55.0])
    sza = satellite_zenith(geom, lon, lat)
    _, elev = get_observer_look(np.full(4, 140.7), np.zeros(4), np.full(4, H / 1000.0),
                                np.datetime64("2018-10-01T03:00"), lon, lat, np.zeros(4))
    np.testing.assert_allclose(sza, 90.0 - elev, atol=0.05)
    assert sza[0] < 1e-6


def test_line_offsets_use_the_line_not_the_file_start():
    start = np.datetime64("2018-10-01T03:00:00", "ns")
    line_time = start + (np.arange(550) * 1_090_909_090).astype("timedelta64[ns]")  # 10 min / 550 lines
    line_time[500:] = np.datetime64("NaT")
    t = np.array([start + np.timedelta64(420, "s")] * 3)
    dt = line_offsets_s(t, np.array([385, 0, 520]), line_time)
    assert dt[0] == pytest.approx(420 - 385 * 1.090909090, abs=1e-3)
    assert dt[1] == pytest.approx(420.0)
    assert np.isnan(dt[2])


def test_choose_slots_per_profile_and_drop_out_of_time():
    base = np.datetime64("2018-10-01T03:00:00", "ns")
    per_line = (np.arange(100) * 6_000_000_000).astype("timedelta64[ns]")  # 6 s per line
    slots = [base + per_line, base + np.timedelta64(600, "s") + per_line]
    rows = np.array([0, 90, 50, 50])
    t = base + np.array([10, 590, 650 + 300, 3000], dtype="timedelta64[s]").astype("timedelta64[ns]")
    slot, dt = choose_slots(t, [lt[rows] for lt in slots], max_dt_s=300.0)
    np.testing.assert_array_equal(slot, [0, 0, 1, -1])
    np.testing.assert_allclose(dt[:3], [10, 50, 50])
    assert np.isnan(dt[3])


def test_majority_per_bin_ignores_unlabeled_and_breaks_ties_low():
    phase = np.array([[1, 3, 255, 0], [1, 0, 255, 3], [3, 0, 255, 255], [2, 2, 2, 2]], dtype=np.uint8)
    out = majority_per_bin(phase, np.array([0, 0, 0, 1]), 2)
    np.testing.assert_array_equal(out[0], [1, 0, 255, 0])
    np.testing.assert_array_equal(out[1], [2, 2, 2, 2])


def test_a_bin_most_profiles_cannot_see_stays_unlabeled():
    """Six lidar shots in a pixel under an opaque layer: a shot seeing through a gap is not the pixel."""
    phase = np.full((6, 4), 255, dtype=np.uint8)
    phase[:, 0] = 1  # the ice top, seen by every shot
    phase[0, 1] = 0  # one shot sees clear air below it
    phase[:3, 2] = 3  # half of them see water
    phase[:2, 3] = 0  # a third see clear
    out = majority_per_bin(phase, np.zeros(6, dtype=np.int64), 1)
    np.testing.assert_array_equal(out[0], [1, 255, 3, 255])


def test_track_pixels_keep_track_order_and_vote():
    rows = np.array([5, 5, 6, 7, 7, 7])
    cols = np.array([9, 9, 9, 8, 8, 8])
    phase = np.array([[1], [1], [3], [0], [3], [3]], dtype=np.uint8)
    tp = track_pixels(np.zeros(6, int), rows, cols, phase)
    np.testing.assert_array_equal(tp.rows, [5, 6, 7])
    np.testing.assert_array_equal(tp.labels[:, 0], [1, 3, 3])
    np.testing.assert_array_equal(tp.pixel_of_profile, [0, 0, 1, 2, 2, 2])


def test_profiles_under_a_higher_tops_image_do_not_vote():
    """A cirrus top shifted onto the pixel of two clear rays: the imager sees the cirrus there."""
    ice, clear, low = [0, 1, 1], [0, 0, 0], [3, 0, 0]
    phase = np.array([ice, clear, clear, low, clear], dtype=np.uint8)
    rows = np.array([5, 5, 5, 6, 6])
    top_km = np.array([11.0, np.nan, np.nan, 1.5, np.nan])
    plain = track_pixels(np.zeros(5, int), rows, np.zeros(5, int), phase)
    seen = track_pixels(np.zeros(5, int), rows, np.zeros(5, int), phase, top_km)
    np.testing.assert_array_equal(plain.labels[0], clear)  # two clear rays outvote the cirrus
    np.testing.assert_array_equal(seen.labels[0], ice)
    np.testing.assert_array_equal(seen.labels[1], plain.labels[1])  # a low cloud hides nothing
    np.testing.assert_array_equal(seen.voters, [True, False, False, True, True])


def test_plan_patches_every_half_patch_with_members_inside():
    n = 40
    rows = np.arange(100, 100 + n)
    cols = 200 + np.arange(n) // 4
    tp = track_pixels(np.zeros(n, int), rows, cols, np.zeros((n, 2), np.uint8))
    plans = plan_patches(tp, patch_size=16, min_track=8, grid_shape=(550, 550))
    assert [p.centre for p in plans] == [8, 16, 24, 32]
    for p in plans:
        r, c = tp.rows[p.members], tp.cols[p.members]
        assert np.all((r >= p.row0) & (r < p.row0 + 16) & (c >= p.col0) & (c < p.col0 + 16))
        assert p.members.size == 16
    # a patch near the grid edge is moved inside, not padded
    tp2 = track_pixels(np.zeros(10, int), np.arange(10), np.arange(10), np.zeros((10, 1), np.uint8))
    (edge,) = plan_patches(tp2, patch_size=16, min_track=8, grid_shape=(550, 550))
    assert (edge.row0, edge.col0) == (0, 0) and edge.members.size == 10


def test_block_mean():
    img = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    np.testing.assert_array_equal(block_mean(img, 2)[0], [[2.5, 4.5], [10.5, 12.5]])
