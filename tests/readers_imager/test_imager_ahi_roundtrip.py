"""AHI HSD: physical values -> synthetic segments -> satpy and the fast reader -> the same values back."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import numpy as np
import pytest
from satpy import Scene

from cloudbench.products import ahi_hsd
from cloudbench.products.geostationary import geometry_for
from cloudbench.readers.ahi_hsd import read_hsd_header, read_hsd_segment
from cloudbench.readers.imager import imager_area, imager_summary, read_imager
from cloudbench.synthetic.ahi_hsd import write_ahi_slot

from .conftest import AHI_SLOT, AHI_SPEC, smooth_field

H, C, K = 6.62606957e-34, 299792458.0, 1.3806488e-23


def _quantisation_tolerance(header: dict, truth: np.ndarray) -> np.ndarray:
    """Half a count in physical units, from block 5 and an independent Planck derivative."""
    cal = header["calibration"]
    gain = abs(cal["gain"])
    if header["band_number"] < 7:
        return np.full(truth.shape, 0.5 * gain * cal["rad2albedo"] * 100 + 1e-4)
    lam = cal["central_wavelength_um"] * 1e-6
    te = truth  # c0..c2 are close to the identity; the derivative is what matters
    x = H * C / (lam * K * te)
    dB_dT = 2 * H * C**2 / lam**5 * np.exp(x) * x / te / np.expm1(x) ** 2 * 1e-6  # W m-2 sr-1 um-1 K-1
    return 0.5 * gain / dB_dT * 1.05 + 1e-3


def _segments(paths, band):
    return sorted(p for p in paths if f"_{band}_" in p.name)


def _native_truth(truth2km: np.ndarray, band: str) -> np.ndarray:
    f = ahi_hsd.BANDS[band].factor
    return np.repeat(np.repeat(truth2km, f, 0), f, 1)


def test_files_have_archive_names_and_layout(ahi_slot):
    paths = ahi_slot["paths"]
    assert len(paths) == 3 * 10
    p = _segments(paths, "B13")[0]
    assert p.relative_to(ahi_slot["root"]).as_posix() == (
        "himawari8/AHI-L1b-FLDK/2018/10/01/0300/HS_H08_20181001_0300_B13_FLDK_R20_S0110.DAT.bz2")
    assert not list(ahi_slot["root"].rglob("*.part"))


@pytest.mark.parametrize("band", list(AHI_SPEC))
def test_satpy_and_fast_reader_return_the_physical_values(ahi_slot, band):
    paths = _segments(ahi_slot["paths"], band)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # header sizes must satisfy satpy's checks
        scn = Scene(filenames=[str(p) for p in paths], reader="ahi_hsd")
        scn.load([band])
        sat = scn[band].values
    segs = [read_hsd_segment(p) for p in paths]
    fast = np.concatenate([s[1] for s in segs])
    assert [s[0] for s in segs] == [i * fast.shape[0] // 10 for i in range(10)]
    assert fast.dtype == np.float32 and fast.shape == ahi_slot["geometry"].native_shape(ahi_hsd.BANDS[band].resolution_km)
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(sat))
    assert np.nanmax(np.abs(fast - sat)) < 1e-3
    truth = _native_truth(ahi_slot["truth"][band], band)
    ok = np.isfinite(fast)
    assert ok.mean() > 0.7  # the disk fills ~78 % of the square
    tol = _quantisation_tolerance(read_hsd_header(paths[0]), truth[ok])
    assert np.all(np.abs(fast[ok] - truth[ok]) <= tol)
    assert np.all(np.isnan(truth[~ok]) | ~ahi_slot["geometry"].disk_mask(ahi_hsd.BANDS[band].resolution_km)[~ok])


@pytest.mark.parametrize("band", ["B03", "B13"])
def test_satpy_area_is_the_geometry_area(ahi_slot, band):
    paths = _segments(ahi_slot["paths"], band)
    scn = Scene(filenames=[str(p) for p in paths], reader="ahi_hsd")
    scn.load([band])
    res = ahi_hsd.BANDS[band].resolution_km
    area = scn[band].attrs["area"]
    expected = ahi_slot["geometry"].area(res)
    assert area.shape == expected.shape
    np.testing.assert_allclose(area.area_extent, expected.area_extent, rtol=0, atol=1e-3)
    # one tenth of the real full disk: same extent within the rounding of CFAC
    np.testing.assert_allclose(area.area_extent, geometry_for("himawari8", 1).area(res).area_extent, rtol=1e-6)


def test_block9_line_times_come_back_within_a_millisecond(ahi_slot):
    for band in AHI_SPEC:
        n = ahi_slot["geometry"].native_shape(ahi_hsd.BANDS[band].resolution_km)[0]
        nominal = ahi_hsd.nominal_line_times(AHI_SLOT, n)
        got = np.concatenate([read_hsd_header(p)["line_times"] for p in _segments(ahi_slot["paths"], band)])
        assert np.abs((got - nominal).astype(np.int64)).max() < 1_000_000  # ns


def test_header_fields(ahi_slot):
    h = read_hsd_header(_segments(ahi_slot["paths"], "B04")[3])
    assert (h["band"], h["segment"], h["total_segments"], h["n_lines"], h["n_columns"]) == ("B04", 4, 10, 110, 1100)
    assert h["first_line"] == 330
    assert h["projection"]["cfac"] == 4093254 and h["projection"]["coff"] == 550.5
    assert h["projection"]["sub_lon"] == 140.7
    assert h["satellite_name"] == "Himawari-8" and h["observation_area"] == "FLDK"
    assert len(h["observation_times"]) >= 2 and h["observation_start"] == h["line_times"][0]


def test_read_imager_common_schema(ahi_slot):
    ds = read_imager(ahi_slot["paths"], rows=(110, 170))
    g = ahi_slot["geometry"]
    assert list(ds.data_vars) == ["B03", "B04", "B13", "line_time"]
    assert ds.sizes == {"y": 60, "x": 550}
    assert ds.y.values[0] == 110 and ds.x.values[-1] == 549
    assert ds.line_time.dtype == np.dtype("datetime64[ns]")
    expected_times = ahi_hsd.nominal_line_times(AHI_SLOT, 550)[110:170]
    assert np.abs((ds.line_time.values - expected_times).astype(np.int64)).max() < 1_000_000
    for band in AHI_SPEC:
        truth = ahi_slot["truth"][band][110:170]
        got = ds[band].values
        ok = np.isfinite(got) & np.isfinite(truth)
        assert ok.sum() > 0.9 * np.isfinite(truth).sum()
        assert np.abs(got[ok] - truth[ok]).max() < (0.2 if band == "B13" else 0.1)
    attrs = ds.attrs
    assert attrs["platform"] == "himawari8" and attrs["sensor"] == "ahi" and attrs["sub_lon"] == 140.7
    assert attrs["slot_start"].startswith("2018-10-01T03:00:00")
    assert len(attrs["source_files"]) == 3 * 2  # rows 110..170 lie in segments 3 and 4
    assert imager_area(ds) == g.area()
    cols, rows = imager_area(ds).get_array_indices_from_lonlat(np.array([140.7, 160.0]), np.array([0.0, 20.0]))
    assert int(rows[0]) in (274, 275) and int(cols[0]) in (274, 275)  # the sub-point is the disk's centre
    assert int(rows[1]) < 274 and int(cols[1]) > 275  # north-east of it


def test_summary_matches_satpy(ahi_slot):
    p = _segments(ahi_slot["paths"], "B13")[4]
    s = imager_summary(p)
    scn = Scene(filenames=[str(p)], reader="ahi_hsd")
    scn.load(["B13"])
    v = scn["B13"].values
    assert s["product"] == "AHI-L1b-FLDK" and s["platform"] == "himawari8" and s["band"] == "B13"
    assert s["shape"] == [55, 550] and s["segment"] == 5
    assert s["min"] == pytest.approx(float(np.nanmin(v)), abs=1e-3)
    assert s["max"] == pytest.approx(float(np.nanmax(v)), abs=1e-3)
    assert s["mean"] == pytest.approx(float(np.nanmean(v)), abs=1e-3)
    assert s["time_start"] < s["time_end"]


def test_mid_size_geometry_with_five_segments(tmp_path):
    g = geometry_for("himawari8", 4)  # 1375 lines: 5 segments of 275
    values = np.where(g.disk_mask(), smooth_field(g.shape, 200.0, 300.0, 3), np.nan)
    paths = write_ahi_slot(tmp_path, platform="himawari8", slot_start=AHI_SLOT, bands={"B13": values},
                           geometry=g, segments=[2])
    assert [p.name[-14:] for p in paths] == ["_S0205.DAT.bz2"]
    scn = Scene(filenames=[str(p) for p in paths], reader="ahi_hsd")
    scn.load(["B13"])
    area = scn["B13"].attrs["area"]
    assert area.shape == (1375, 1375)  # satpy pads the missing segments
    np.testing.assert_allclose(area.area_extent, g.area().area_extent, atol=1e-3)
    first, fast, _ = read_hsd_segment(paths[0])
    assert first == 275
    sat = scn["B13"].values[275:550]
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(sat))
    assert np.nanmax(np.abs(fast - sat)) < 1e-3


def test_given_line_times_are_written_per_line(tmp_path):
    g = geometry_for("himawari8", 10)
    times = ahi_hsd.nominal_line_times(AHI_SLOT, 550) + (np.arange(550) ** 2 * 1000).astype("timedelta64[ns]")
    values = np.where(g.disk_mask(), 250.0, np.nan)
    paths = write_ahi_slot(tmp_path, platform="himawari9", slot_start=datetime(2023, 1, 1, tzinfo=UTC),
                           bands={"B13": values}, geometry=g, segments=[1, 2], line_times=times)
    got = np.concatenate([read_hsd_header(p)["line_times"] for p in paths])
    assert np.abs((got - times[:110]).astype(np.int64)).max() < 1_000_000
    assert paths[0].name.startswith("HS_H09_20230101_0000_B13")
