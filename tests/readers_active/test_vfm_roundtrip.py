"""Layers -> synthetic VFM file -> readers gives back the truth (and the file looks like a real one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyhdf.SD import SD, SDC

from cloudbench.config import CLEAR, ICE, MIXED, UNLABELED, WATER, HeightGrid
from cloudbench.products import calipso_vfm as vfm
from cloudbench.readers.calipso_vfm import read_vfm, read_vfm_native, read_vfm_track, vfm_summary
from cloudbench.synthetic import calipso_vfm as writer

REAL_VFM = str(Path(__file__).resolve().parents[1] / "data" / "real" / "CAL_LID_L2_VFM-ValStage1-V3-30.2013-05-06T17-20-01ZD_Subset.hdf")
U = UNLABELED


def bins_of(lo_km: float, hi_km: float, step: float = 0.24) -> slice:
    return slice(int(round(lo_km / step)), int(round(hi_km / step)))


@pytest.mark.parametrize("version", ["V4-51", "V3-30"])
def test_thin_clouds_come_back_per_bin(tmp_path, track, version):
    n = 15 * 12
    layers = track(
        n,
        [(9.6, 12.0, ICE, 0.5), (4.8, 6.0, MIXED, 0.5), (1.2, 2.4, WATER, 1.0)],
        surface_km=0.48,
    )
    path = writer.write_vfm_granule(tmp_path, layers, version=version)
    assert path.name == f"CAL_LID_L2_VFM-Standard-{version}.2018-10-01T03-05-00ZD.hdf"
    ds = read_vfm(path)
    expected = np.zeros(80, dtype=np.uint8)
    expected[bins_of(0.0, 0.48)] = U  # below the surface
    expected[bins_of(9.6, 12.0)] = ICE
    expected[bins_of(4.8, 6.0)] = WATER  # the lidar reports a mixed layer as water
    expected[bins_of(1.2, 2.4)] = WATER
    np.testing.assert_array_equal(ds["phase"].values, np.broadcast_to(expected, (n, 80)))
    np.testing.assert_allclose(ds["cloud_top_height"].values, 12000.0)
    # geolocation and time per shot
    np.testing.assert_allclose(ds["latitude"].values, layers.latitude, atol=2e-5)
    np.testing.assert_allclose(ds["longitude"].values, layers.longitude, atol=2e-5)
    dt_ns = np.abs((ds["time"].values - layers.time).astype(np.int64))
    assert dt_ns.max() < 1_000_000  # 1 ms
    assert ds.attrs["version"] == version and ds.attrs["product"] == "CAL_LID_L2_VFM"


def test_opaque_cloud_blinds_the_lidar_below(tmp_path, track):
    n = 15 * 4
    layers = track(n, [(2.4, 3.6, WATER, 12.0)], surface_km=0.0)
    ds = read_vfm(writer.write_vfm_granule(tmp_path, layers))
    phase = ds["phase"].values
    # optical depth 3 is reached 0.3 km below the top (3.3 km): the lidar sees 3.3-3.6 km
    assert (phase[:, bins_of(3.36, 3.6)] == WATER).all()
    below = phase[:, :14]  # from 3.36 km down: 3.12-3.36 is a quarter cloud, the rest attenuated
    assert (below == U).all(), "attenuated bins must come back unlabeled"
    assert not (below == CLEAR).any(), "attenuated bins must never be clear"
    assert (phase[:, bins_of(3.6, 19.2)] == CLEAR).all()
    native = read_vfm_native(writer.write_vfm_granule(tmp_path / "x.hdf", layers))
    low_types = native["feature_type"].values[0, 255:]  # the 30 m cells of shot 0
    assert vfm.TOTALLY_ATTENUATED in low_types and vfm.SURFACE not in low_types  # surface unseen


def test_surface_and_subsurface_cells(tmp_path, track):
    layers = track(15, [], surface_km=1.0)
    native = read_vfm_native(writer.write_vfm_granule(tmp_path, layers))
    types = native["feature_type"].values[0]
    top, bottom = native["altitude_top"].values, native["altitude_bottom"].values
    surface_cell = (bottom <= 1.0) & (1.0 < top)
    assert (types[surface_cell] == vfm.SURFACE).all() and surface_cell.sum() == 1
    assert (types[top <= 1.0] == vfm.SUBSURFACE).all()
    assert (types[bottom > 1.0] == vfm.CLEAR_AIR).all()


def test_cloud_in_some_records_only(tmp_path, track):
    n = 15 * 6
    in_first_three_records = np.arange(n) < 45
    layers = track(n, [(12.0, 13.2, ICE, 1.0), (0.72, 1.44, WATER, 0.5)], where=[in_first_three_records, ~in_first_three_records])
    phase = read_vfm(writer.write_vfm_granule(tmp_path, layers))["phase"].values
    assert (phase[:45, bins_of(12.0, 13.2)] == ICE).all() and (phase[45:, bins_of(12.0, 13.2)] == CLEAR).all()
    assert (phase[45:, bins_of(0.72, 1.44)] == WATER).all() and (phase[:45, bins_of(0.72, 1.44)] == CLEAR).all()


def test_180m_region_majority_over_its_shots(tmp_path, track):
    """A cloud in 3 of the 5 shots of a 180 m sub-profile fills all 5; in 2 of 5 it vanishes."""
    n = 15
    shots = np.arange(n)
    where = (shots % 5) < 3  # shots 0-2, 5-7, 10-12
    layers = track(n, [(21.6, 23.04, ICE, 0.3), (15.0, 16.2, ICE, 0.3)], where=[where, (shots % 3) == 0])
    grid = HeightGrid(0.0, 24.0, 0.24)
    phase = read_vfm(writer.write_vfm_granule(tmp_path, layers), grid=grid)["phase"].values
    inner = bins_of(21.84, 22.8)  # away from the edges of the 180 m cells
    assert (phase[:, inner] == ICE).all()
    # the 15-16.2 km layer is in 1 of the 3 shots of every 60 m sub-profile: the majority is clear
    assert (phase[:, bins_of(15.0, 16.2)] == CLEAR).all()


def test_track_and_summary(tmp_path, track):
    layers = track(15 * 5, [(1.2, 2.4, WATER, 1.0)])
    path = writer.write_vfm_granule(tmp_path, layers)
    tr = read_vfm_track(path)
    assert tr.sizes["profile"] == 5
    np.testing.assert_allclose(tr["latitude"].values, layers.latitude[7::15], atol=2e-5)
    summary = vfm_summary(path)
    assert summary["n_records"] == 5 and summary["n_profiles"] == 75
    water_cells_per_record = int(np.sum((vfm.REGIONS[2].cell_edges_km()[1:] + vfm.REGIONS[2].cell_edges_km()[:-1]) / 2 >= 1.2) -
                                 np.sum((vfm.REGIONS[2].cell_edges_km()[1:] + vfm.REGIONS[2].cell_edges_km()[:-1]) / 2 >= 2.4)) * 15
    assert summary["vfm_cloud_phase_counts"] == [0, 0, 5 * water_cells_per_record, 0]


def test_extra_shots_are_dropped(tmp_path, track):
    layers = track(15 * 2 + 7, [])
    ds = read_vfm(writer.write_vfm_granule(tmp_path, layers))
    assert ds.sizes["profile"] == 30


def test_structure_copies_the_real_file(tmp_path, track):
    path = writer.write_vfm_granule(tmp_path, track(30, [(1.2, 2.4, WATER, 1.0)]), version="V3-30")
    real, synth = SD(REAL_VFM, SDC.READ), SD(str(path), SDC.READ)
    try:
        real_sds, synth_sds = real.datasets(), synth.datasets()
        assert set(real_sds) == set(synth_sds)
        for name in real_sds:
            r, s = real.select(name), synth.select(name)
            r_info, s_info = r.info(), s.info()
            assert s_info[1] == r_info[1] and s_info[3] == r_info[3], name  # rank and HDF type
            assert s_info[2][1] == r_info[2][1], name  # second dimension (1, 3 or 5515)
            assert set(r.attributes()) <= set(s.attributes()), name
            for key in ("units", "format"):
                assert s.attributes()[key] == r.attributes()[key], (name, key)
            assert all(d.startswith("fakeDim") for d in s.dimensions()), name
    finally:
        real.end()
        synth.end()
    import pyhdf.VS  # noqa: F401
    from pyhdf.HDF import HDF

    def meta_fields(p):
        h = HDF(str(p))
        vs = h.vstart()
        vd = vs.attach("metadata")
        info = [(f[0], f[1], f[2]) for f in vd.fieldinfo()]
        vd.detach()
        vs.end()
        h.close()
        return info

    assert meta_fields(path) == meta_fields(REAL_VFM)


def test_v4_has_per_shot_sds(tmp_path, track):
    path = writer.write_vfm_granule(tmp_path, track(30, []), version="V4-51")
    sd = SD(str(path), SDC.READ)
    try:
        names = set(sd.datasets())
        assert set(vfm.SS_SDS) | {"Profile_ID", "Minimum_Laser_Energy_532"} <= names
        assert sd.select("ssLatitude").info()[2] == [30, 1]
    finally:
        sd.end()


def test_failed_write_leaves_no_file(tmp_path, track, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(writer, "_write_metadata", boom)
    target = tmp_path / "CAL_LID_L2_VFM-Standard-V4-51.2018-10-01T03-05-00ZD.hdf"
    with pytest.raises(RuntimeError):
        writer.write_vfm_granule(target, track(15, []))
    assert not target.exists()
