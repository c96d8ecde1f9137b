"""FCI product facts: names, channels, chunk rows (south to north), grids, orientation, scan model, time units."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from cloudbench.products import fci_l1c as P
from cloudbench.products.geostationary import geometry_for
from cloudbench.sensors.registry import imager_for_platform, imager_for_position, platforms_for

SLOT = datetime(2025, 6, 30, 23, 50, tzinfo=UTC)


def test_chunk_name_round_trip_and_archive_path():
    start, end = datetime(2025, 6, 30, 23, 50, 8, tzinfo=UTC), datetime(2025, 6, 30, 23, 50, 15, tzinfo=UTC)
    name = P.build_filename("meteosat12", SLOT, 1, start, end, datetime(2025, 7, 1, 0, 0, 30, tzinfo=UTC))
    assert name == ("W_XX-EUMETSAT-Darmstadt,IMG+SAT,MTI1+FCI-1C-RRAD-FDHSI-FD--CHK-BODY---NC4E_C_EUMT_20250701000030"
                    "_IDPFI_OPE_20250630235008_20250630235015_N__O_0144_0001.nc")
    info = P.parse_filename(name)
    assert (info.platform, info.coverage, info.part, info.repeat_cycle, info.chunk) == ("meteosat12", "FD", "BODY", 144, 1)
    assert info.slot_start == SLOT and info.start == start
    assert P.archive_path("meteosat12", SLOT, name) == f"meteosat12/FCI-L1C-FDHSI-FD/2025/06/30/2350/{name}"
    # names satpy's tests carry: other facilities, purposes and compression flags parse too
    other = ("W_XX-EUMETSAT-Darmstadt,IMG+SAT,MTI1+FCI-1C-RRAD-FDHSI-FD--CHK-BODY--L2P-NC4E_C_EUMT_20170410114434"
             "_GTT_DEV_20170410113925_20170410113934_N__C_0070_0067.nc")
    assert P.parse_filename(other).chunk == 67
    rss = name.replace("FDHSI-FD--", "FDHSI-Q4--").replace("_N__O_", "_N_JLS_O_")
    assert P.parse_filename(rss).coverage == "Q4"
    trail = name.replace("CHK-BODY", "CHK-TRAIL").replace("_0001.nc", "_0041.nc")
    assert P.parse_filename(trail).part == "TRAIL"
    assert P.parse_filename(name.replace("MTI1", "MTI9")) is None  # no such spacecraft in the table
    assert P.parse_filename("HS_H08_20181001_0300_B13_FLDK_R20_S0110.DAT.bz2") is None


def test_product_skips_what_collocation_cannot_use():
    product = imager_for_platform("meteosat12")
    name = P.build_filename("meteosat12", SLOT, 7, SLOT, SLOT, SLOT)
    body = product.parse_filename(name)
    assert body.full_disk and body.unit == 7 and body.band is None and product.skip_reason(body) is None
    trail = product.parse_filename(name.replace("CHK-BODY", "CHK-TRAIL").replace("_0007.nc", "_0041.nc"))
    assert "TRAIL" in product.skip_reason(trail)
    q4 = product.parse_filename(name.replace("FDHSI-FD--", "FDHSI-Q4--"))
    assert not q4.full_disk and "sub-area" in product.skip_reason(q4)
    hrfi = product.parse_filename(name.replace("FDHSI", "HRFI"))
    assert "HRFI" in product.skip_reason(hrfi)


def test_position_table_and_channels():
    assert imager_for_position("fci").name == "fci-l1c"
    assert platforms_for("fci", datetime(2025, 3, 1, tzinfo=UTC)) == ["meteosat12"]
    assert list(P.CHANNELS) == ["vis_04", "vis_05", "vis_06", "vis_08", "vis_09", "nir_13", "nir_16", "nir_22",
                                "ir_38", "wv_63", "wv_73", "ir_87", "ir_97", "ir_105", "ir_123", "ir_133"]
    assert {c.resolution_km for c in P.CHANNELS.values() if c.kind == "vis"} == {1.0}
    assert {c.resolution_km for c in P.CHANNELS.values() if c.kind == "ir"} == {2.0}
    assert [c.number for c in P.CHANNELS.values()] == list(range(1, 17))


def test_real_grid_chunks_run_from_the_south():
    g = geometry_for("meteosat12", 1)
    assert g.shape == (5568, 5568) and g.n_units == 40 and g.sensor == "fci" and g.sweep == "y"
    rows = P.chunk_file_rows(5568)
    assert rows[0] == (1, 139) and rows[-1][1] == 5568
    heights = [e - s + 1 for s, e in rows]
    assert sum(heights) == 5568 and set(heights) == {139, 140} and heights.count(140) == 8
    assert rows[19] == (2645, 2784)  # chunk 20 ends at the equator, 140 rows
    assert all(rows[k][0] == rows[k - 1][1] + 1 for k in range(1, 40))
    # north-up: chunk 1 is the bottom of the grid, chunk 40 the top
    assert P.chunk_grid_rows(g, 1) == (5429, 5568) and P.chunk_grid_rows(g, 40)[0] == 0
    assert P.chunks_for_rows(g, 0, 1) == {40} and P.chunks_for_rows(g, 5567, 5568) == {1}
    assert P.chunks_for_rows(g, 2783, 2785) == {20, 21}
    assert P.chunks_for_rows(g, -5, 0) == set() and len(P.chunks_for_rows(g, 0, 5568)) == 40
    extent = g.area_extent()
    assert extent[2] == pytest.approx(5568 / 2 * P.SCAN_ANGLE_STEP[2.0] * P.PERSPECTIVE_POINT_HEIGHT)
    assert g.area_extent(1.0)[2] == pytest.approx(extent[2], abs=0.01)  # the two steps differ by 1e-9 rad


@pytest.mark.parametrize("k", [2, 3, 10, 20, 48])
def test_reduced_geometries_keep_whole_chunks(k):
    g = geometry_for("meteosat12", k)
    n = round(5568 / k)
    assert g.shape == (n, n) and g.native_shape(1.0) == (2 * n, 2 * n) and g.n_units == min(40, n)
    rows = P.chunk_file_rows(n, g.n_units)
    assert rows[0][0] == 1 and rows[-1][1] == n and all(e >= s for s, e in rows)
    covered = sorted(r for c in range(1, g.n_units + 1) for r in range(*P.chunk_grid_rows(g, c)))
    assert covered == list(range(n))
    s = P.scan_angles(2.0, k)
    assert s["x_scale"] < 0 < s["y_scale"]
    assert s["x_offset"] + 1 * s["x_scale"] == pytest.approx(-(s["x_offset"] + n * s["x_scale"]))  # symmetric
    with pytest.raises(ValueError):
        geometry_for("meteosat12", 1000)


def test_orientation_is_one_flip_both_ways():
    a = np.arange(12).reshape(3, 4)
    north_up = P.orient(a, x_scale=-1.0)  # x falls along the columns: column 1 is already the west
    np.testing.assert_array_equal(north_up, a[::-1])
    np.testing.assert_array_equal(P.orient(north_up, -1.0), a)
    np.testing.assert_array_equal(P.orient(a, x_scale=1.0), a[::-1, ::-1])  # east-first columns are turned too
    assert P.grid_rows_of_file_rows(1, 139, 5568) == (5429, 5568)


def test_scan_model_south_to_north_per_pixel():
    g = geometry_for("meteosat12", 10)
    schedule = P.scan_schedule(g)
    assert [s.chunk for s in schedule] == list(range(1, 41))
    starts = np.array([s.start_s for s in schedule])
    durations = np.array([s.duration_s for s in schedule])
    assert np.all(np.diff(starts) > 0) and starts[0] == P.SCAN_OFFSET_S
    assert starts[-1] + durations[-1] == pytest.approx(P.SCAN_OFFSET_S + P.SCAN_DURATION_S)
    assert durations[0] < 8 and durations[19] > 14  # polar chunks are short, equatorial ones long
    offsets = P.line_offsets_s(g)
    assert offsets[0] > offsets[-1]  # decreasing along north-up rows: the south is seen first
    assert np.all(np.diff(offsets) <= 0)
    pixels = P.pixel_time_offsets_s(g)
    row = pixels[g.shape[0] // 2]
    assert row[-1] < row[0]  # the sweep runs east to west
    assert 10 < row[0] - row[-1] < 20
    assert np.abs(pixels * 1e6 - np.round(pixels * 1e6)).max() < 1e-3  # whole microseconds: files hold them exactly


def test_time_units_are_read_not_assumed():
    epoch, per = P.parse_time_units("seconds since 2000-01-01 00:00:00.0")
    assert epoch == np.datetime64("2000-01-01T00:00", "ns") and per == 10**9
    epoch, per = P.parse_time_units("milliseconds since 1970-01-01T00:00:00Z")
    assert epoch == np.datetime64("1970-01-01", "ns") and per == 10**6
    assert P.parse_time_units("days since 2010-1-1")[0] == np.datetime64("2010-01-01", "ns")
    t = P.times_from_values(np.array([0.5, np.nan]), "seconds since 2000-01-01 12:00:00")
    assert t[0] == np.datetime64("2000-01-01T12:00:00.5") and np.isnat(t[1])
    back = P.values_from_times(t[:1], "seconds since 2000-01-01 12:00:00")
    assert back[0] == 0.5
    with pytest.raises(ValueError, match="since"):
        P.parse_time_units("seconds")


def test_count_scaling_spans_the_useful_range():
    for name, c in P.CHANNELS.items():
        s = P.count_scaling(name)
        top = s.offset + P.COUNT_MAX * s.scale
        if c.kind == "vis":
            assert P.reflectance_to_radiance(np.array(115.0), name, 1.0) < top
        else:
            assert P.bt_to_radiance(np.array(c.bt_max_k - 1), name) < top
        assert s.offset < 0 < s.scale
    warm = P.count_scaling("ir_38")
    assert warm.valid_max == 8191
    assert warm.warm_offset + 4096 * warm.warm_scale == pytest.approx(
        P.count_scaling("ir_38").offset + 4095 * P.count_scaling("ir_38").scale, rel=1e-3)
