"""EarthCARE's orbit and frames: 393 km, 97 deg, descending node at 14:00, frames at the latitude bands."""

from __future__ import annotations

import numpy as np
import pytest

from cloudbench.products import earthcare as ec
from cloudbench.synthetic import orbit
from cloudbench.synthetic.earthcare_tc import frame_times, frames, sample_interval_s
from cloudbench.synthetic.parallax import great_circle_km
from cloudbench.synthetic.render import solar_zenith

E = orbit.EARTHCARE


def test_period_inclination_and_speed():
    tr = E.track("2025-06-17T00:00", "2025-06-17T04:00", interval_s=5.0)
    assert abs(tr.latitude.max() - (180.0 - 97.05)) < 0.05
    asc = np.flatnonzero((tr.latitude[:-1] < 0) & (tr.latitude[1:] >= 0))
    gaps = np.diff(tr.time[asc]).astype("timedelta64[s]").astype(float)
    assert np.allclose(gaps, 92.55 * 60, atol=6)  # 389 orbits in 25 days
    step = great_circle_km(tr.longitude[:-1], tr.latitude[:-1], tr.longitude[1:], tr.latitude[1:]) / 5.0
    assert 7.0 < step.mean() < 7.4  # lower than the A-Train, faster


def test_descending_node_at_14_local_solar_time_in_daylight():
    tr = E.track("2025-06-17T00:00", "2025-06-18T00:00", interval_s=2.0)
    desc = np.flatnonzero((tr.latitude[:-1] > 0) & (tr.latitude[1:] <= 0))
    hours = (tr.time[desc] - tr.time[desc].astype("datetime64[D]")).astype("timedelta64[s]").astype(float) / 3600
    assert np.allclose((hours + tr.longitude[desc] / 15.0) % 24, 14.0, atol=0.05)
    assert np.all(solar_zenith(tr.longitude[desc], tr.latitude[desc], tr.time[desc]) < 45)


def test_orbit_numbers_and_a_real_frame():
    """Orbit 5979's frame B began 2025-06-17 05:04:57 and lasted 707 s (a product's metadata)."""
    (b,) = [f for f in frames("2025-06-17T05:00", "2025-06-17T05:10") if f.frame == "B"]
    assert b.orbit == 5979
    assert abs((b.start - np.datetime64("2025-06-17T05:04:57", "ns")).astype(np.int64) / 1e9) < 5
    assert abs((b.end - b.start).astype(np.int64) / 1e9 - 707) < 3
    first = E.time_at(1, 0.0)
    assert np.datetime64("2024-05-28T22:20") < first < np.datetime64("2024-05-30")  # just after launch


def test_frames_tile_the_orbit_at_their_latitude_bands():
    got = frames("2025-06-17T00:00", "2025-06-17T06:00")
    for a, b in zip(got[:-1], got[1:], strict=True):
        assert a.end == b.start
        assert "ABCDEFGH".index(b.frame) == ("ABCDEFGH".index(a.frame) + 1) % 8
        assert b.orbit == a.orbit + (b.frame == "A")
    for f in got:
        times = frame_times(f)
        lat, _ = E.subpoint(times)
        south, north = ec.FRAMES[f.frame].lat_band
        assert south - 0.05 <= lat.min() and lat.max() <= north + 0.05
        ascending = ec.FRAMES[f.frame].ascending
        if ascending is not None:
            assert (np.diff(lat) > 0).all() == ascending
    durations = {f.frame: (f.end - f.start).astype(np.int64) / 1e9 for f in got}
    assert durations["C"] < durations["A"] < durations["B"] == pytest.approx(durations["D"])


def test_profiles_about_one_km_apart():
    assert 0.13 < sample_interval_s() < 0.145


def test_the_a_train_is_unchanged():
    """The module's functions are still the A-Train's (the CloudSat/CALIPSO archives depend on them)."""
    t = orbit.sample_times("2018-10-01", "2018-10-01T02", 1.0)
    assert orbit.A_TRAIN.inclination_deg == orbit.INCLINATION_DEG and orbit.A_TRAIN.period_s == orbit.PERIOD_S
    for a, b in zip(orbit.subpoint(t), orbit.A_TRAIN.subpoint(t), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(orbit.subpoint(t)[0], E.subpoint(t)[0])
