"""Product facts: file names, archive paths, band tables, full-disk geometry, line-time models."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from cloudbench.products import abi_l1b, ahi_hsd
from cloudbench.products.geostationary import geometry_for


def test_hsd_name_round_trip_and_archive_path():
    slot = datetime(2018, 10, 1, 3, 0, tzinfo=UTC)
    name = ahi_hsd.build_filename("himawari8", slot, "B13", 1)
    assert name == "HS_H08_20181001_0300_B13_FLDK_R20_S0110.DAT.bz2"
    info = ahi_hsd.parse_filename(name)
    assert (info.platform, info.slot_start, info.band, info.segment, info.total_segments) == (
        "himawari8", slot, "B13", 1, 10)
    assert info.compressed and info.resolution_code == "R20"
    assert ahi_hsd.build_filename("himawari9", slot, "B03", 7) == "HS_H09_20181001_0300_B03_FLDK_R05_S0710.DAT.bz2"
    assert ahi_hsd.archive_path("himawari8", slot, name) == f"himawari8/AHI-L1b-FLDK/2018/10/01/0300/{name}"
    assert ahi_hsd.BUCKETS["himawari9"] == "noaa-himawari9"
    assert ahi_hsd.parse_filename("HS_H08_20181001_0300_B17_FLDK_R20_S0110.DAT.bz2") is None
    assert ahi_hsd.parse_filename("OR_ABI-L1b-RadF-M6C13_G16_s20182740300216_e20182740309524_c20182740309589.nc") is None


def test_abi_name_round_trip_and_archive_path():
    name = "OR_ABI-L1b-RadF-M6C13_G16_s20182740300216_e20182740309524_c20182740309589.nc"
    info = abi_l1b.parse_filename(name)
    assert (info.platform, info.scene, info.mode, info.band) == ("goes16", "F", 6, "C13")
    assert info.start == datetime(2018, 10, 1, 3, 0, 21, 600000, tzinfo=UTC)
    assert abi_l1b.build_filename("goes16", "C13", info.start, info.end, info.created, mode=6) == name
    assert abi_l1b.archive_path("goes16", info.start, name) == f"goes16/ABI-L1b-RadF/2018/274/03/{name}"
    meso = abi_l1b.parse_filename("OR_ABI-L1b-RadM1-M6C01_G16_s20200010001262_e20200010001320_c20200010001364.nc")
    assert meso.scene == "M1" and meso.band == "C01"


def test_band_tables():
    assert list(ahi_hsd.BANDS) == [f"B{i:02d}" for i in range(1, 17)]
    assert list(abi_l1b.BANDS) == [f"C{i:02d}" for i in range(1, 17)]
    assert [b for b, v in ahi_hsd.BANDS.items() if v.kind == "vis"] == ["B01", "B02", "B03", "B04", "B05", "B06"]
    assert [b for b, v in abi_l1b.BANDS.items() if v.kind == "vis"] == ["C01", "C02", "C03", "C04", "C05", "C06"]
    assert {b: v.resolution_km for b, v in ahi_hsd.BANDS.items() if v.resolution_km < 2} == {
        "B01": 1.0, "B02": 1.0, "B03": 0.5, "B04": 1.0}
    assert {b: v.resolution_km for b, v in abi_l1b.BANDS.items() if v.resolution_km < 2} == {
        "C01": 1.0, "C02": 0.5, "C03": 1.0, "C05": 1.0}
    assert all(abs(ahi_hsd.BANDS[a].wavelength_um - abi_l1b.BANDS[c].wavelength_um) < 0.3
               for a, c in [("B03", "C02"), ("B13", "C13"), ("B15", "C15")])


def test_header_block_sizes_follow_the_spec():
    sizes = {1: 282, 2: 50, 3: 127, 4: 139, 5: 147, 6: 259, 7: 47, 11: 259}
    assert ahi_hsd.FIXED_BLOCK_LENGTHS == sizes
    assert (ahi_hsd.BLOCK8.itemsize, ahi_hsd.BLOCK9.itemsize, ahi_hsd.BLOCK10.itemsize) == (21, 5, 7)


def test_full_size_geometries():
    ahi = geometry_for("himawari8", 1)
    assert ahi.shape == (5500, 5500) and ahi.n_units == 10
    assert ahi_hsd.hsd_projection(5500, 2.0, 1) == {"cfac": 20466275, "lfac": 20466275, "coff": 2750.5, "loff": 2750.5}
    assert ahi.native_shape(0.5) == (22000, 22000) and ahi.unit_lines(0.5) == 2200
    abi = geometry_for("goes16", 1)
    assert abi.shape == (5424, 5424) and abi.native_shape(0.5) == (21696, 21696)
    s = abi_l1b.scan_angles(5424, 2.0, 1)
    assert s["x_scale"] == pytest.approx(5.6e-05, abs=1e-15) and s["x_offset"] == pytest.approx(-0.151844, abs=1e-12)
    assert abi_l1b.scan_angles(10848, 1.0, 1)["x_offset"] == pytest.approx(-0.151858, abs=1e-12)
    assert abi.proj_lon == -75.0 and abi.sub_lon == -75.2
    assert geometry_for("goes18", 1).proj_lon == -137.0
    assert ahi.area().shape == (5500, 5500)


@pytest.mark.parametrize("k, n, segments", [(2, 2750, 10), (4, 1375, 5), (5, 1100, 10), (10, 550, 10)])
def test_reduced_ahi_geometry_keeps_whole_segments(k, n, segments):
    g = geometry_for("himawari8", k)
    assert g.shape == (n, n) and g.n_units == segments
    for res in (0.5, 1.0, 2.0):
        assert g.native_shape(res)[0] % g.n_units == 0
    p = ahi_hsd.hsd_projection(n, 2.0, k)
    assert p["coff"] == (n + 1) / 2 and p["cfac"] == 20466275 // k
    if k == 10:  # the values formats.md verified with satpy
        assert p["cfac"] == 2046627 and p["coff"] == 275.5


def test_reduced_geometry_covers_the_same_disk():
    full = geometry_for("himawari8", 1).area_extent()
    for k in (2, 4, 5, 10):
        np.testing.assert_allclose(geometry_for("himawari8", k).area_extent(), full, rtol=1e-6)
    full = geometry_for("goes16", 1).area_extent()
    for k in (2, 4, 8):
        np.testing.assert_allclose(geometry_for("goes16", k).area_extent(), full, rtol=1e-9)


def test_geometry_rejects_bad_input():
    with pytest.raises(ValueError):
        geometry_for("himawari8", 3)
    with pytest.raises(ValueError):
        geometry_for("nosat1", 1)


def test_nominal_line_times_model():
    t = ahi_hsd.nominal_line_times(datetime(2018, 10, 1, 3, 0, tzinfo=UTC), 550)
    assert t.dtype == np.dtype("datetime64[ns]") and t.shape == (550,)
    assert np.all(np.diff(t) > np.timedelta64(0, "ns"))
    start = np.datetime64("2018-10-01T03:00:00", "ns")
    assert np.timedelta64(15, "s") < t[0] - start < np.timedelta64(25, "s")
    assert np.timedelta64(9, "m") < t[-1] - start < np.timedelta64(10, "m")
    # finer lines average to the 2 km line time
    fine = (ahi_hsd.nominal_line_times(start, 2200) - start).astype(np.int64).reshape(550, 4).mean(axis=1)
    assert np.abs(fine - (t - start).astype(np.int64)).max() < 2


def test_abi_line_times_span_the_scan():
    s, e = np.datetime64("2019-10-01T03:00:21.6", "ns"), np.datetime64("2019-10-01T03:09:52.4", "ns")
    t = abi_l1b.line_times(s, e, 100)
    assert s < t[0] < t[1] < t[-1] < e
    assert abs((t[50] - t[49]) - (e - s) / 100) <= np.timedelta64(1, "ns")
