"""ABI L1b: physical values -> synthetic RadF files -> satpy and read_abi -> the same values back."""

from __future__ import annotations

from datetime import timedelta

import netCDF4
import numpy as np
import pytest
from satpy import Scene

from cloudbench.products import abi_l1b
from cloudbench.products.geostationary import geometry_for
from cloudbench.readers.abi_l1b import read_abi
from cloudbench.readers.imager import imager_area, imager_summary, read_imager
from cloudbench.synthetic.abi_l1b import write_abi_slot

from .conftest import ABI_SLOT, ABI_SPEC, REAL_DATA, smooth_field


def _tolerance(path, truth: np.ndarray) -> np.ndarray:
    """Half a count in physical units, from the file's own attributes and the L1b formulas."""
    with netCDF4.Dataset(path) as ds:
        scale = float(ds["Rad"].scale_factor)
        if ds["band_id"][0] <= 6:
            factor = np.pi * float(ds["earth_sun_distance_anomaly_in_AU"][...]) ** 2 / float(ds["esun"][...])
            return np.full(truth.shape, 0.5 * scale * factor * 100 + 1e-4)
        fk1, fk2, bc1, bc2 = (float(ds[n][...]) for n in ("planck_fk1", "planck_fk2", "planck_bc1", "planck_bc2"))
    rad = fk1 / np.expm1(fk2 / (bc1 + bc2 * truth))

    def bt(r):
        return (fk2 / np.log(fk1 / r + 1) - bc1) / bc2

    eps = scale * 1e-3
    slope = (bt(rad + eps) - bt(rad - eps)) / (2 * eps)
    return 0.5 * scale * slope * 1.05 + 1e-3


def test_files_have_archive_names_and_structure(abi_slot):
    names = sorted(p.name for p in abi_slot["paths"])
    assert all(n.startswith("OR_ABI-L1b-RadF-M6C") and "_G16_s20192740300216_e20192740309524_" in n for n in names)
    rel = abi_slot["paths"][0].relative_to(abi_slot["root"]).as_posix()
    assert rel.startswith("goes16/ABI-L1b-RadF/2019/274/03/")
    real = REAL_DATA / "OR_ABI-L1b-RadM1-M6C13_G17_s20193351027275_e20193351027344_c20193351027405.nc"
    c13 = next(p for p in abi_slot["paths"] if "C13" in p.name)
    with netCDF4.Dataset(c13) as syn, netCDF4.Dataset(real) as ref:
        core = {"Rad", "DQF", "t", "x", "y", "time_bounds", "goes_imager_projection", "band_id", "band_wavelength",
                "esun", "kappa0", "planck_fk1", "planck_fk2", "planck_bc1", "planck_bc2",
                "earth_sun_distance_anomaly_in_AU", "nominal_satellite_subpoint_lon", "yaw_flip_flag"}
        assert core <= set(syn.variables) and core <= set(ref.variables)
        for name in ("Rad", "DQF"):
            assert syn[name].dtype == ref[name].dtype
            assert set(ref[name].ncattrs()) - set(syn[name].ncattrs()) <= {"resolution", "coordinates"}
        assert syn["x"].dtype == np.int16 and syn["x"].scale_factor == np.float32(5.6e-4)
        assert set(ref["goes_imager_projection"].ncattrs()) - {"coordinates"} <= set(syn["goes_imager_projection"].ncattrs())
        assert {"time_coverage_start", "time_coverage_end", "platform_ID", "orbital_slot"} <= set(syn.ncattrs())


@pytest.mark.parametrize("band", list(ABI_SPEC))
def test_satpy_and_read_abi_return_the_physical_values(abi_slot, band):
    path = next(p for p in abi_slot["paths"] if band in p.name)
    scn = Scene(filenames=[str(path)], reader="abi_l1b")
    scn.load([band])
    sat = scn[band].values
    image = read_abi(path)
    assert image.values.shape == abi_slot["geometry"].native_shape(abi_l1b.BANDS[band].resolution_km)
    np.testing.assert_array_equal(np.isnan(image.values), np.isnan(sat))
    assert np.nanmax(np.abs(image.values - sat)) < 1e-4
    f = abi_l1b.BANDS[band].factor
    truth = np.repeat(np.repeat(abi_slot["truth"][band], f, 0), f, 1)
    ok = np.isfinite(image.values)
    assert ok.mean() > 0.7
    assert np.all(np.abs(image.values[ok] - truth[ok]) <= _tolerance(path, truth[ok]))
    area = scn[band].attrs["area"]
    expected = abi_slot["geometry"].area(abi_l1b.BANDS[band].resolution_km)
    assert area.shape == expected.shape
    np.testing.assert_allclose(area.area_extent, expected.area_extent, atol=1e-3)


def test_line_times_from_the_scan_bounds(abi_slot):
    path = next(p for p in abi_slot["paths"] if "C13" in p.name)
    image = read_abi(path)
    start = np.datetime64(ABI_SLOT.replace(tzinfo=None), "ns") + np.timedelta64(21600, "ms")
    end = start + np.timedelta64(570800, "ms")
    assert abs(image.time_start - start) < np.timedelta64(1, "ms") and abs(image.time_end - end) < np.timedelta64(1, "ms")
    expected = abi_l1b.line_times(start, end, 542)
    assert np.abs((image.line_times - expected).astype(np.int64)).max() < 1_000_000


def test_read_imager_common_schema(abi_slot):
    ds = read_imager(abi_slot["paths"], bands=["C13", "C02", "C01"], rows=slice(200, 260))
    assert list(ds.data_vars) == ["C13", "C02", "C01", "line_time"]
    assert ds.sizes == {"y": 60, "x": 542} and int(ds.y[0]) == 200
    for band in ABI_SPEC:
        truth = abi_slot["truth"][band][200:260]
        got = ds[band].values
        ok = np.isfinite(got) & np.isfinite(truth)
        assert ok.sum() > 0.9 * np.isfinite(truth).sum()
        assert np.abs(got[ok] - truth[ok]).max() < 0.2
    assert ds.attrs["platform"] == "goes16" and ds.attrs["sensor"] == "abi" and ds.attrs["sub_lon"] == -75.2
    assert ds.attrs["slot_start"].startswith("2019-10-01T03:00:00")
    assert imager_area(ds) == abi_slot["geometry"].area()
    dt = (ds.line_time.values[1:] - ds.line_time.values[:-1]).astype(np.int64) / 1e9
    assert np.allclose(dt, 570.8 / 542, atol=1e-6)


def test_mid_size_abi_area(tmp_path):
    g = geometry_for("goes17", 4)  # 1356 x 1356
    values = np.where(g.disk_mask(), smooth_field(g.shape, 200.0, 300.0, 5), np.nan)
    (path,) = write_abi_slot(tmp_path, platform="goes17", slot_start=ABI_SLOT - timedelta(minutes=10),
                             bands={"C13": values}, geometry=g)
    scn = Scene(filenames=[str(path)], reader="abi_l1b")
    scn.load(["C13"])
    area = scn["C13"].attrs["area"]
    assert area.shape == (1356, 1356)
    np.testing.assert_allclose(area.area_extent, g.area().area_extent, atol=1e-3)
    np.testing.assert_allclose(area.area_extent, geometry_for("goes17", 1).area().area_extent, rtol=1e-9)
    lon_0 = [p.value for p in area.crs.coordinate_operation.params if "natural origin" in p.name.lower()]
    assert lon_0 == [-137.0]
    s = imager_summary(path)
    assert s["platform"] == "goes17" and s["shape"] == [1356, 1356]
    assert s["mean"] == pytest.approx(float(np.nanmean(scn["C13"].values)), rel=1e-6)
