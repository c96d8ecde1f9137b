"""Truth layers -> synthetic EarthCARE frame -> reader: what each instrument sees comes back on the
common grid, heights above mean sea level; the file's structure read by plain h5py, path by path."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import xarray as xr

from cloudbench.config import CLEAR, ICE, MIXED, UNLABELED, WATER
from cloudbench.errors import DataError
from cloudbench.products import earthcare as ec
from cloudbench.readers.earthcare_tc import (
    earthcare_summary,
    read_earthcare_native,
    read_earthcare_tc,
    read_earthcare_track,
)
from cloudbench.synthetic.earthcare_tc import write_earthcare_frame

from .conftest import build_track, frame_of

C, Ic, M, W, U = CLEAR, ICE, MIXED, WATER, UNLABELED
N = 40
THICK = np.arange(N) < 20  # profiles 0-19: thick liquid the radar sees; 20-39: thin liquid it misses
LAYERS = [(9.6, 12.0, ICE, 0.5), (4.8, 6.0, MIXED, 2.0), (1.2, 2.4, WATER, 10.0), (1.2, 2.4, WATER, 4.0)]
WHERE = [None, THICK, THICK, ~THICK]


def bins(lo_km: float, hi_km: float) -> slice:
    return slice(int(round(lo_km / 0.24)), int(round(hi_km / 0.24)))


def column(*spans: tuple[float, float, int], rest: int = C) -> np.ndarray:
    out = np.full(80, rest, dtype=np.uint8)
    for lo, hi, cls in spans:
        out[bins(lo, hi)] = cls
    return out


def geoid_swinging(lat, lon):
    """Geoid heights from -100 m to +100 m along the track: a wrong sign moves layers by up to 200 m."""
    return np.linspace(-100.0, 100.0, np.size(lat))


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    root = tmp_path_factory.mktemp("frames")
    layers = build_track(N, LAYERS, where=WHERE, t0="2025-06-17T05:05:00.123456")
    out = {}
    for product in ec.PRODUCT_TYPES.values():
        out[product.code] = write_earthcare_frame(root, product, layers, frame_of(layers), geoid=geoid_swinging)
    return out, layers


def test_ac_tc_sees_what_lidar_and_radar_see_together(frames):
    paths, layers = frames
    ds = read_earthcare_tc(paths["AC__TC__2B"])
    phase = ds["phase"].values
    # thick liquid: the lidar sees down into the mixed layer, the radar the liquid below it; under the
    # liquid neither sees anything, which the product calls "possible liquid": unlabeled, not clear
    thick = column((0.0, 1.2, U), (1.2, 2.4, W), (4.8, 6.0, M), (9.6, 12.0, Ic))
    np.testing.assert_array_equal(phase[THICK], np.broadcast_to(thick, (20, 80)))
    # thin liquid: the lidar sees its top 0.9 km (optical depth 3 of 4), the radar nothing
    thin = phase[~THICK]
    assert (thin[:, bins(1.68, 2.4)] == W).all() and (thin[:, bins(0.0, 1.2)] == U).all()
    assert (thin[:, bins(2.4, 9.6)] == C).all() and (thin[:, bins(9.6, 12.0)] == Ic).all()
    np.testing.assert_allclose(ds["cloud_top_height"].values, 12000.0)
    np.testing.assert_allclose(ds["surface_elevation"].values, 0.0, atol=0.01)  # the sea, whatever the geoid


def test_atl_tc_is_blind_below_optical_depth_three_and_has_no_mixed(frames):
    paths, _ = frames
    phase = read_earthcare_tc(paths["ATL_TC__2A"])["phase"].values
    thick = column((0.0, 2.4, U), (4.8, 6.0, W), (9.6, 12.0, Ic))  # mixed reads as supercooled liquid
    np.testing.assert_array_equal(phase[THICK], np.broadcast_to(thick, (20, 80)))
    assert not (phase == MIXED).any()
    assert (phase[~THICK][:, bins(1.68, 2.4)] == W).all() and (phase[~THICK][:, bins(0.0, 1.2)] == U).all()


def test_cpr_tc_misses_thin_liquid_and_never_says_clear(frames):
    paths, _ = frames
    phase = read_earthcare_tc(paths["CPR_TC__2A"])["phase"].values
    thick = column((1.2, 2.4, W), (4.8, 6.0, M), (9.6, 12.0, Ic), rest=U)
    np.testing.assert_array_equal(phase[THICK], np.broadcast_to(thick, (20, 80)))
    np.testing.assert_array_equal(phase[~THICK], np.broadcast_to(column((9.6, 12.0, Ic), rest=U), (20, 80)))
    assert not (phase == CLEAR).any()


def test_geolocation_time_and_attributes_come_back(frames):
    paths, layers = frames
    for code, path in paths.items():
        ds = read_earthcare_tc(path)
        assert np.abs((ds["time"].values - layers.time).astype(np.int64)).max() < 1000  # 1 us
        np.testing.assert_allclose(ds["latitude"].values, layers.latitude)
        np.testing.assert_allclose(ds["longitude"].values, layers.longitude)
        assert ds.attrs["product"] == code and ds.attrs["version"] == "BA"
        assert ds.attrs["orbit"] == 5979 and ds.attrs["frame"] == "B"
        assert ds.attrs["granule_id"] == path.name[:-3] and ds.attrs["source_file"] == str(path)
        assert len(ds.attrs["sha256"]) == 64 and len(ds.attrs["height_edges_km"]) == 81
        assert ds["phase"].dtype == np.uint8 and ds["day_night"].dtype == np.uint8
        assert (ds["day_night"].values == 1).all()  # 05:05 UTC at 52 W is 01:37 local: the night side of EarthCARE
        assert "mean sea level" in ds.attrs["height_reference"]


def test_the_geoid_sign(tmp_path):
    """Heights are above the ellipsoid and the geoid is above it by ``geoid_offset``: mean sea level is
    height minus offset. Over land at 720 m with the geoid 100 m up, the file says elevation 820 m; a
    reader adding the offset would put the ground at 920 m and every layer 200 m too high."""
    layers = build_track(10, [(9.6, 12.0, ICE, 0.5), (3.12, 3.6, WATER, 1.0)], surface_km=0.72)
    path = write_earthcare_frame(tmp_path, ec.AC_TC, layers, frame_of(layers), geoid=lambda la, lo: np.full(np.size(la), 100.0))
    with h5py.File(path) as h:
        assert h["ScienceData/elevation"][0] == pytest.approx(820.0)
        assert h["ScienceData/geoid_offset"][0] == pytest.approx(100.0)
    ds = read_earthcare_tc(path)
    np.testing.assert_allclose(ds["surface_elevation"].values, 720.0, atol=0.01)
    expected = column((0.0, 0.72, U), (3.12, 3.6, W), (9.6, 12.0, Ic))  # the lidar sees it all (optical depth 1.5)
    np.testing.assert_array_equal(ds["phase"].values, np.broadcast_to(expected, (10, 80)))
    np.testing.assert_allclose(ds["cloud_top_height"].values, 12000.0)


def test_without_geoid_offset_heights_stay_above_the_ellipsoid_and_say_so(tmp_path):
    layers = build_track(6, [(9.6, 12.0, ICE, 0.5)])
    path = write_earthcare_frame(tmp_path, ec.CPR_TC, layers, frame_of(layers),
                                 geoid=lambda la, lo: np.full(np.size(la), 100.0), write_geoid=False)
    ds = read_earthcare_tc(path)
    assert "ellipsoid" in ds.attrs["height_reference"]
    np.testing.assert_allclose(ds["surface_elevation"].values, 100.0, atol=0.01)
    # the ice now sits at 9.7-12.1 km: 12.0-12.24 holds 0.1 km of it, more than a third of the bin
    assert (ds["phase"].values[:, bins(9.84, 12.24)] == Ic).all()


def test_fill_times_and_positions_drop_their_profiles(tmp_path):
    layers = build_track(8, [(9.6, 12.0, ICE, 0.5)])
    path = write_earthcare_frame(tmp_path, ec.ATL_TC, layers, frame_of(layers))
    with h5py.File(path, "r+") as h:
        t = h["ScienceData/time"][()]
        t[2] = ec.FLOAT_FILL
        h["ScienceData/time"][...] = t
        lat = h["ScienceData/latitude"][()]
        lat[5] = ec.FLOAT_FILL
        h["ScienceData/latitude"][...] = lat
        g = h["ScienceData/geoid_offset"][()]
        g[3] = ec.FLOAT_FILL  # a gap in the geoid is filled along the track
        h["ScienceData/geoid_offset"][...] = g
    ds = read_earthcare_tc(path)
    assert ds.sizes["profile"] == 6
    np.testing.assert_allclose(ds["latitude"].values, np.delete(layers.latitude, [2, 5]))
    assert read_earthcare_track(path).sizes["profile"] == 6
    assert np.isfinite(read_earthcare_native(path)["geoid_offset"].values).all()


def test_track_and_summary(frames):
    paths, layers = frames
    track = read_earthcare_track(paths["AC__TC__2B"])
    assert set(track.data_vars) == {"time", "latitude", "longitude"} and track.sizes["profile"] == N
    summary = earthcare_summary(paths["AC__TC__2B"])
    assert summary["product"] == "AC__TC__2B" and summary["baseline"] == "BA"
    assert (summary["orbit"], summary["frame"], summary["n_profiles"], summary["n_levels"]) == (5979, "B", N, 242)
    assert summary["time_start"].startswith("2025-06-17T05:05:00.123")
    assert summary["lat_range"] == [pytest.approx(30.0), pytest.approx(30.5)]
    assert set(summary["class_counts"]) == {str(c) for c in ec.AC_TC_CLASSES}
    assert sum(summary["class_counts"].values()) == N * 242
    from cloudbench.synthetic.earthcare_tc import level_centres_msl_km

    centres = level_centres_msl_km(ec.AC_TC)
    ice_cells = int(((centres >= np.float32(9.6)) & (centres < np.float32(12.0))).sum())  # 23 or 24 of 100 m
    assert summary["class_counts"]["21"] == N * ice_cells
    assert summary["phase_counts"]["ice"] == N * ice_cells
    import json

    json.dumps(summary)


def test_structure_read_by_plain_h5py(frames):
    """The layout of docs/earthcare.md, read path by path without cloudbench."""
    paths, layers = frames
    for code, path in paths.items():
        product = ec.PRODUCT_TYPES[code]
        vdim = product.vertical_dim
        with h5py.File(path) as h:
            fixed = h["HeaderData/FixedProductHeader"]
            assert fixed["File_Name"][()].decode() == path.name[:-3]
            assert fixed["File_Type"][()].decode() == code and fixed["File_Class"][()].decode() == "EXBA"
            main = h["HeaderData/VariableProductHeader/MainProductHeader"]
            assert main["orbitNumber"].dtype == np.uint32 and int(main["orbitNumber"][()]) == 5979
            assert main["frameID"][()].decode() == "B" and main["productType"][()].decode() == code
            assert main["frameStartTime"][()].decode().startswith("UTC=2025-06-17T05:05:00")
            sci = h["ScienceData"]
            assert sci["along_track"].shape == (N,) and sci[vdim].shape == (product.n_levels,)
            assert sci[vdim].dtype == np.dtype(">f4")  # netCDF dimension scales, as in real files
            assert sci["time"].dtype == np.float64 and sci["time"].attrs["units"].decode() == ec.TIME_UNITS
            assert sci["latitude"].dtype == np.float64 and sci["longitude"].dtype == np.float64
            height = sci["height"][()]
            assert height.dtype == np.float32 and height.shape == (N, product.n_levels)
            assert (np.diff(height, axis=1) < 0).all()  # top-down
            assert sci["height"].attrs["_FillValue"][0] == np.float32(ec.FLOAT_FILL)
            assert sci[product.elevation_var].dtype == np.float32 and sci["geoid_offset"].dtype == np.float64
            cls = sci[product.class_var]
            assert cls.dtype == np.int8 and "_FillValue" not in cls.attrs
            definition = cls.attrs["definition"]
            assert isinstance(definition, bytes)
            text = definition.decode()
            if code == "CPR_TC__2A":
                assert text.startswith("-1=no data, 0=surface, 1=clear, 2=liquid cloud")
                assert "CPR_height" in sci and "surface_elevation" in sci
            else:
                assert text.splitlines()[:2] in (["-1: unknown", "0: ground"], ["-3: missing", "-2: surface"])
            seconds = sci["time"][()]
            assert abs(seconds[0] - ec.datetime64_to_seconds(layers.time[:1])[0]) < 1e-6
        # and the science group opens as netCDF-4 with xarray, dims by name
        with xr.open_dataset(path, group="ScienceData") as ds:
            assert ds[product.class_var].dims == ("along_track", vdim)


def test_bad_files_are_data_errors(tmp_path, frames):
    paths, _ = frames
    src = paths["AC__TC__2B"]
    truncated = tmp_path / src.name
    truncated.write_bytes(src.read_bytes()[:5000])
    with pytest.raises(DataError, match="cannot be opened"):
        read_earthcare_tc(truncated)
    renamed = tmp_path / src.name.replace("AC__TC__2B", "ATL_TC__2A")
    renamed.write_bytes(src.read_bytes())
    with pytest.raises(DataError, match="no /ScienceData/classification"):
        read_earthcare_tc(renamed)
    with pytest.raises(DataError, match="is an EarthCARE AC__TC__2B product, not CPR_TC__2A"):
        read_earthcare_tc(src, product=ec.CPR_TC)
    other = tmp_path / "ECA_EXBA_ATL_EBD_2A_20250617T050500Z_20250617T085641Z_05979B.h5"
    other.write_bytes(src.read_bytes())
    with pytest.raises(DataError, match="not an EarthCARE target classification"):
        read_earthcare_tc(other)
    wobbly = tmp_path / "wobbly" / src.name
    wobbly.parent.mkdir()
    wobbly.write_bytes(src.read_bytes())
    with h5py.File(wobbly, "r+") as h:
        height = h["ScienceData/height"][()]
        height[7, 100] = height[7, 98]
        h["ScienceData/height"][...] = height
    with pytest.raises(DataError, match="not monotonic in profile 7"):
        read_earthcare_tc(wobbly)


def test_a_file_without_a_telling_name_is_recognised_by_its_header(tmp_path, frames):
    from cloudbench.readers.earthcare_tc import probe

    paths, _ = frames
    plain = tmp_path / "granule.h5"
    plain.write_bytes(paths["CPR_TC__2A"].read_bytes())
    assert probe(plain, ec.CPR_TC) and not probe(plain, ec.AC_TC)
    ds = read_earthcare_tc(plain)
    assert ds.attrs["product"] == "CPR_TC__2A" and ds.attrs["version"] == "BA" and ds.attrs["orbit"] == 5979
    assert not probe(paths["CPR_TC__2A"].with_name("missing.h5"), ec.CPR_TC)
