"""The A-Train-like orbit: speed, inclination, local time, granules."""

import numpy as np

from cloudbench.config import Region
from cloudbench.synthetic import orbit
from cloudbench.synthetic.parallax import great_circle_km
from cloudbench.synthetic.render import solar_zenith


def test_ground_speed_is_about_seven_km_per_second():
    tr = orbit.track("2018-10-01T00:00", "2018-10-01T01:40", interval_s=1.0)
    step = great_circle_km(tr.longitude[:-1], tr.latitude[:-1], tr.longitude[1:], tr.latitude[1:])
    assert 6.6 < step.mean() < 7.2
    assert step.max() - step.min() < 0.1


def test_inclination_and_period():
    tr = orbit.track("2018-10-01T00:00", "2018-10-01T03:00", interval_s=5.0)
    assert abs(tr.latitude.max() - (180.0 - 98.2)) < 0.05
    assert abs(tr.latitude.min() + (180.0 - 98.2)) < 0.05
    # ascending equator crossings are one period apart
    asc = np.flatnonzero((tr.latitude[:-1] < 0) & (tr.latitude[1:] >= 0))
    gaps = np.diff(tr.time[asc]).astype("timedelta64[s]").astype(float)
    assert np.allclose(gaps, 98.8 * 60, atol=10)


def test_ascending_node_is_at_1330_local_solar_time_and_sunlit():
    tr = orbit.track("2018-10-01T00:00", "2018-10-02T00:00", interval_s=2.0)
    asc = np.flatnonzero((tr.latitude[:-1] < 0) & (tr.latitude[1:] >= 0))
    hours = (tr.time[asc] - tr.time[asc].astype("datetime64[D]")).astype("timedelta64[s]").astype(float) / 3600
    local = (hours + tr.longitude[asc] / 15.0) % 24
    assert np.allclose(local, 13.5, atol=0.05)
    assert np.all(solar_zenith(tr.longitude[asc], tr.latitude[asc], tr.time[asc]) < 40)
    desc = np.flatnonzero((tr.latitude[:-1] > 0) & (tr.latitude[1:] <= 0))
    assert np.all(solar_zenith(tr.longitude[desc], tr.latitude[desc], tr.time[desc]) > 90)


def test_calipso_halves_alternate_day_night_and_tile_time():
    halves = orbit.calipso_granules("2018-10-01T00:00", "2018-10-01T06:00")
    assert [h.day_night for h in halves[:4]] in (["D", "N", "D", "N"], ["N", "D", "N", "D"])
    for a, b in zip(halves[:-1], halves[1:], strict=True):
        assert a.end == b.start
    for h in halves:
        mid = h.start + (h.end - h.start) // 2
        lat, lon = orbit.subpoint(np.array([mid]))
        sunlit = solar_zenith(lon, lat, np.array([mid]))[0] < 90
        assert sunlit == (h.day_night == "D")


def test_cloudsat_granules_are_whole_orbits_numbered_consecutively():
    g = orbit.cloudsat_granules("2018-10-01T00:00", "2018-10-01T06:00")
    assert [x.orbit for x in g] == list(range(g[0].orbit, g[0].orbit + len(g)))
    dur = (g[0].end - g[0].start).astype("timedelta64[s]").astype(float)
    assert abs(dur - 98.8 * 60) < 1
    assert g[0].start <= np.datetime64("2018-10-01T00:00") < g[0].end


def test_passes_over_a_region_are_inside_it():
    region = Region(120, -10, 150, 10)
    passes = orbit.passes_over(region, "2018-10-01", "2018-10-02")
    assert 1 <= len(passes) <= 4
    for enter, leave in passes:
        lat, lon = orbit.subpoint(np.array([enter, leave]))
        assert region.contains(lon, lat).all()
        assert 60 < (leave - enter).astype("timedelta64[s]").astype(float) < 600
