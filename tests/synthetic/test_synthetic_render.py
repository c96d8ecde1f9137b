"""Rendered imager bands carry the physics that makes phase learnable; the view is parallax-displaced."""

from datetime import UTC, datetime

import numpy as np
import pytest

from cloudbench.config import DEFAULT_GRID, ICE, UNLABELED, WATER, Region
from cloudbench.products.geostationary import geometry_for
from cloudbench.synthetic.parallax import apparent_lonlat, great_circle_km
from cloudbench.synthetic.render import render_slot, satellite_zenith, slot_line_times, solar_zenith
from cloudbench.synthetic.scene import Scene, temperature_k

ROI = Region(110, -30, 170, 30)
BANDS = ["B03", "B05", "B11", "B14", "B15", "B16"]


@pytest.fixture(scope="module")
def geometry():
    return geometry_for("himawari8", 10)


@pytest.fixture(scope="module")
def scene():
    return Scene(11, "2018-10-01T00:00")


@pytest.fixture(scope="module")
def day(scene, geometry):
    slot = datetime(2018, 10, 1, 3, 0, tzinfo=UTC)
    return render_slot(scene, geometry, slot, BANDS, noise=False, roi=ROI, roi_margin_deg=0.0)


def _by_phase(r, phase):
    v = r.view
    return v.covered & (v.layers.phase[:, 0] == phase) & np.isfinite(v.lon)


def test_ice_and_water_have_the_right_infrared_signatures(day):
    b = {k: a.ravel() for k, a in day.bands.items()}
    ice, water = _by_phase(day, ICE), _by_phase(day, WATER)
    assert ice.sum() > 200 and water.sum() > 200
    btd86 = b["B11"] - b["B14"]
    split = b["B14"] - b["B15"]
    assert np.mean(btd86[ice]) > 0.5 > -0.5 > np.mean(btd86[water])
    assert np.mean(split[ice]) > np.mean(split[water]) + 0.5


def test_ice_reflects_less_at_1_6_um_than_water_for_the_same_visible_brightness(day):
    b = {k: a.ravel() for k, a in day.bands.items()}
    sza = day.solar_zenith.ravel()
    bright = (b["B03"] > 20) & (sza < 70)
    ratio = b["B05"] / np.maximum(b["B03"], 1e-3)
    ice, water = _by_phase(day, ICE) & bright, _by_phase(day, WATER) & bright
    assert np.median(ratio[ice]) < 0.75 * np.median(ratio[water])


def test_thick_cloud_brightness_temperature_is_its_top_temperature(day):
    v = day.view
    tau = np.nansum(np.where(np.isfinite(v.layers.optical_depth), v.layers.optical_depth, 0), axis=1)
    thick = v.covered & (tau > 60) & (v.layers.phase[:, 0] == WATER)
    if thick.sum() < 5:
        thick = v.covered & (tau > 60)
    assert thick.sum() >= 5
    t_top = temperature_k(v.layers.top_km[thick, 0], v.lat[thick])
    assert np.all(np.abs(day.bands["B14"].ravel()[thick] - t_top) < 2.0)
    clear = ~v.covered & np.isfinite(v.lon)
    assert np.nanmean(day.bands["B14"].ravel()[clear]) > np.nanmean(day.bands["B14"].ravel()[v.covered]) + 10


def test_visible_is_dark_at_night_and_off_disk_is_nan(scene, geometry):
    slot = datetime(2018, 10, 1, 9, 0, tzinfo=UTC)  # the terminator crosses the disk
    r = render_slot(scene, geometry, slot, ["B03", "B13"], roi=Region(170, -10, 175, 10), roi_margin_deg=0.0)
    vis, sza = r.bands["B03"], r.solar_zenith
    assert np.all(vis[sza >= 90] == 0)
    assert np.nanmean(vis[sza < 60]) > 2
    on = np.isfinite(r.view.lon).reshape(geometry.shape)
    assert np.all(np.isnan(vis[~on])) and np.all(np.isfinite(vis[on]))


def test_view_uses_per_line_times_and_parallax_displaced_tops(day, geometry):
    v = day.view
    times = slot_line_times(geometry, datetime(2018, 10, 1, 3, 0, tzinfo=UTC))
    assert np.all(np.diff(times) > np.timedelta64(0, "ns"))
    assert np.array_equal(v.time.reshape(geometry.shape)[:, 0], times)
    cov = np.flatnonzero(v.covered)
    alon, alat = apparent_lonlat(v.true_lon[cov], v.true_lat[cov], v.cloud_top_km[cov], geometry.sub_lon)
    err = great_circle_km(v.lon[cov], v.lat[cov], alon, alat)
    assert np.percentile(err, 99) < 0.5
    shift = great_circle_km(v.lon[cov], v.lat[cov], v.true_lon[cov], v.true_lat[cov])
    assert shift.max() > 5.0


def test_apparent_truth_is_the_column_under_the_seen_top(scene, geometry, day):
    v = day.view
    cov = np.flatnonzero(v.covered)[::97][:40]
    rows, cols = np.divmod(cov, geometry.shape[1])
    truth = scene.apparent_truth(geometry, rows, cols, day.line_times, DEFAULT_GRID)
    direct = scene.truth_columns(v.true_lon[cov], v.true_lat[cov], v.time[cov], DEFAULT_GRID)
    assert np.array_equal(truth, direct)
    assert np.all((truth != 0) & (truth != UNLABELED), axis=1).sum() == 0  # columns have clear air above the cloud
    tops = scene.apparent_cloud_top_km(geometry, rows, cols, day.line_times)
    assert np.allclose(tops, v.cloud_top_km[cov], equal_nan=True)


def test_geometry_helpers():
    assert np.isclose(satellite_zenith(140.7, 0.0, 140.7), 0.0, atol=1e-6)
    assert 50 < float(satellite_zenith(140.7, 45.0, 140.7)) < 55  # ~52.6 deg at 45N below the satellite
    noon = np.datetime64("2018-03-20T12:00:00")
    assert float(solar_zenith(0.0, 0.0, noon)) < 3
    assert float(solar_zenith(180.0, 0.0, noon)) > 177


def test_rendering_in_blocks_gives_the_same_image(scene, geometry, day, monkeypatch):
    import cloudbench.synthetic.render as render

    monkeypatch.setattr(render, "BLOCK_PIXELS", 550 * 37)  # 15 uneven blocks of lines
    slot = datetime(2018, 10, 1, 3, 0, tzinfo=UTC)
    blocks = render.render_slot(scene, geometry, slot, BANDS, noise=False, roi=ROI, roi_margin_deg=0.0)
    for name in BANDS:
        assert np.array_equal(blocks.bands[name], day.bands[name], equal_nan=True)
    assert np.array_equal(blocks.view.covered, day.view.covered)
