"""Layers -> synthetic 2B-CLDCLASS-LIDAR file -> readers gives back the truth; the file's structure."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from pyhdf.SD import SD, SDC

from cloudbench.config import CLEAR, ICE, MIXED, UNLABELED, WATER
from cloudbench.products import cloudsat_cldclass_lidar as cs
from cloudbench.readers.cloudsat_cldclass_lidar import (
    cldclass_summary,
    read_cldclass_lidar,
    read_cldclass_native,
    read_cldclass_track,
)
from cloudbench.synthetic.cloudsat_cldclass_lidar import write_cldclass_granule

U = UNLABELED


def bins_of(lo_km: float, hi_km: float, step: float = 0.24) -> slice:
    return slice(int(round(lo_km / step)), int(round(hi_km / step)))


@pytest.fixture
def granule(tmp_path, track):
    """40 rays crossing midnight; rays 0-19 over land at 0.72 km, 20-39 over ocean."""
    n = 40
    land = np.arange(n) < 20
    layers = track(
        n,
        [(9.6, 12.0, ICE, 0.5), (4.8, 6.0, MIXED, 2.0), (1.2, 2.4, WATER, 10.0)],
        t0="2018-10-01T23:59:57.123456789",
        spacing_s=0.16,
        surface_km=np.where(land, 0.72, 0.0),
        where=[None, ~land, None],
    )
    path = write_cldclass_granule(tmp_path, layers, granule_number=65932)
    return path, layers, land


def test_round_trip(granule):
    path, layers, land = granule
    assert path.name == "2018274235957_65932_CS_2B-CLDCLASS-LIDAR_GRANULE_P1_R05_E08_F03.hdf"
    ds = read_cldclass_lidar(path)
    expected = np.zeros((40, 80), dtype=np.uint8)
    expected[:, bins_of(9.6, 12.0)] = ICE
    expected[~land, bins_of(4.8, 6.0)] = MIXED
    expected[:, bins_of(1.2, 2.4)] = WATER  # the radar is not blinded by an opaque layer
    expected[land, bins_of(0.0, 0.72)] = U  # below the DEM surface
    np.testing.assert_array_equal(ds["phase"].values, expected)
    np.testing.assert_allclose(ds["cloud_top_height"].values, 12000.0)
    np.testing.assert_allclose(ds["surface_elevation"].values, np.where(land, 720.0, 0.0))
    dt_ns = np.abs((ds["time"].values - layers.time).astype(np.int64))
    assert dt_ns.max() < 1_000_000  # 1 ms, across midnight
    assert str(ds["time"].values[-1]).startswith("2018-10-02T00:00:03")
    np.testing.assert_allclose(ds["latitude"].values, layers.latitude, atol=2e-5)
    np.testing.assert_allclose(ds["longitude"].values, layers.longitude, atol=2e-5)
    assert ds.attrs["version"] == "P1_R05" and ds.attrs["granule"] == 65932 and len(ds.attrs["sha256"]) == 64


def test_native_table_and_structure(granule):
    path, layers, land = granule
    native = read_cldclass_native(path)
    assert native["cloudlayer"].values.tolist() == [2] * 20 + [3] * 20
    assert native["cloud_phase"].values[0].tolist() == [1, 3] + [0] * 8  # unused slots hold 0
    assert native["layer_top_km"].values[25, :3].tolist() == pytest.approx([12.0, 6.0, 2.4])
    assert (native["dem_elevation"].values[~land] == -9999).all()
    height = native["height_m"].values
    assert height.shape == (40, 125) and (np.diff(height, axis=1) < 0).all()  # top-down
    assert np.abs(np.diff(height[0].astype(float)) + 239.8).max() < 1.0
    assert 24_900 < height[0, 0] < 25_100

    import pyhdf.V  # noqa: F401
    import pyhdf.VS  # noqa: F401
    from pyhdf.HDF import HC, HDF

    h = HDF(str(path))
    v, vs = h.vgstart(), h.vstart()
    try:
        swath = v.attach(v.find(cs.SWATH_NAME))
        assert swath._class == "SWATH"
        children = {}
        for tag, ref in swath.tagrefs():
            assert tag == HC.DFTAG_VG
            child = v.attach(ref)
            children[child._name] = child
        assert set(children) == {"Geolocation Fields", "Data Fields", "Swath Attributes"}
        assert {c._class for c in children.values()} == {"SWATH Vgroup"}
        geo_vdata = [vs.attach(ref)._name for tag, ref in children["Geolocation Fields"].tagrefs() if tag == HC.DFTAG_VH]
        geo_sds = [ref for tag, ref in children["Geolocation Fields"].tagrefs() if tag == HC.DFTAG_NDG]
        assert {"Profile_time", "UTC_start", "TAI_start", "Latitude", "Longitude", "DEM_elevation"} <= set(geo_vdata)
        assert len(geo_sds) == 1  # Height
        attr = vs.attach("Latitude.units")
        assert attr._class == "Attr0.0" and [f[0] for f in attr.fieldinfo()] == ["AttrValues"]
        attr.detach()
        for child in children.values():
            child.detach()
        swath.detach()
    finally:
        v.end()
        vs.end()
        h.close()


def _edit_sds(path, name, rows, cols, value):
    sd = SD(str(path), SDC.WRITE)
    sds = sd.select(name)
    data = sds.get()
    data[rows, cols] = value
    sds[:] = data
    sds.endaccess()
    sd.end()


def test_only_the_first_cloudlayer_slots_count(granule):
    path, _, _ = granule
    # a stray layer in slot 5 of every ray, beyond Cloudlayer: must be ignored
    _edit_sds(path, cs.CLOUD_LAYER_BASE, slice(None), 5, 14.4)
    _edit_sds(path, cs.CLOUD_LAYER_TOP, slice(None), 5, 15.6)
    _edit_sds(path, cs.CLOUD_PHASE, slice(None), 5, 1)
    phase = read_cldclass_lidar(path)["phase"].values
    assert (phase[:, bins_of(14.4, 15.6)] == CLEAR).all()


@pytest.mark.parametrize("bad_phase", [0, -9])
def test_layer_of_undetermined_or_missing_phase_is_unlabeled(granule, bad_phase):
    path, _, land = granule
    _edit_sds(path, cs.CLOUD_PHASE, 3, 0, bad_phase)  # ray 3, its ice layer
    phase = read_cldclass_lidar(path)["phase"].values
    assert (phase[3, bins_of(9.6, 12.0)] == U).all()
    assert (phase[3, bins_of(1.2, 2.4)] == WATER).all()
    assert (phase[4, bins_of(9.6, 12.0)] == ICE).all()


def test_fill_heights_and_fill_count_unlabel_the_ray(granule):
    path, _, _ = granule
    _edit_sds(path, cs.CLOUD_LAYER_BASE, 5, 1, -99.0)
    import pyhdf.VS  # noqa: F401
    from pyhdf.HDF import HC, HDF

    h = HDF(str(path), HC.WRITE)
    vs = h.vstart()
    vd = vs.attach(cs.CLOUDLAYER, write=1)
    vd.seek(7)
    vd.write([[-9]])  # Cloudlayer fill on ray 7
    vd.detach()
    vs.end()
    h.close()
    phase = read_cldclass_lidar(path)["phase"].values
    assert (phase[5] == U).all() and (phase[7] == U).all()
    assert (phase[6] != U).any() and (phase[8] != U).any()


def test_track_summary_and_renamed_file(granule, tmp_path):
    path, layers, _ = granule
    track = read_cldclass_track(path)
    assert track.sizes["profile"] == 40
    summary = cldclass_summary(path)
    assert summary["n_profiles"] == 40 and summary["granule"] == 65932
    assert summary["layer_counts_by_phase"] == {"0": 0, "1": 40, "2": 20, "3": 40, "-9": 0}
    assert summary["time_start"] == "2018-10-01T23:59:57.123Z"
    renamed = tmp_path / "renamed.hdf"
    shutil.copy(path, renamed)
    dt = np.abs((read_cldclass_track(renamed)["time"].values - layers.time).astype(np.int64))
    assert dt.max() < 1_000_000  # date from the start_time swath attribute
