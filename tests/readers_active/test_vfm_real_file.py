"""The VFM reader on a real V3-30 file, checked against decodes written here from docs/formats.md."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pyhdf.SD import SD, SDC

from cloudbench.readers.calipso_vfm import read_vfm, read_vfm_native, read_vfm_track, vfm_summary

REAL_VFM = str(Path(__file__).resolve().parents[1] / "data" / "real" / "CAL_LID_L2_VFM-ValStage1-V3-30.2013-05-06T17-20-01ZD_Subset.hdf")


@pytest.fixture(scope="module")
def raw():
    sd = SD(REAL_VFM, SDC.READ)
    out = {name: sd.select(name).get() for name in ("Feature_Classification_Flags", "Latitude", "Longitude", "Profile_UTC_Time")}
    sd.end()
    return out


@pytest.fixture(scope="module")
def native():
    return read_vfm_native(REAL_VFM)


def test_summary_counts_equal_an_independent_decode(raw):
    flags = raw["Feature_Classification_Flags"].astype(np.int64)
    types = flags % 8  # bits 1-3
    phases = (flags // 32) % 4  # bits 6-7
    expected_types = [int((types == k).sum()) for k in range(8)]
    expected_phases = [int(((types == 2) & (phases == k)).sum()) for k in range(4)]
    summary = vfm_summary(REAL_VFM)
    json.dumps(summary)  # JSON-serialisable as it is
    assert set(summary) == {
        "product", "version", "n_records", "n_profiles", "time_start", "time_end", "lat_range", "lon_range",
        "vfm_feature_type_counts", "vfm_cloud_phase_counts",
    }  # fmt: skip
    assert summary["vfm_feature_type_counts"] == expected_types
    assert summary["vfm_cloud_phase_counts"] == expected_phases
    assert sum(expected_types) == 223 * 5515
    assert (summary["product"], summary["version"]) == ("CAL_LID_L2_VFM", "V3-30")
    assert (summary["n_records"], summary["n_profiles"]) == (223, 223 * 15)
    lat = raw["Latitude"][:, 0]
    assert summary["lat_range"] == pytest.approx([float(lat.min()), float(lat.max())])
    assert summary["time_start"].startswith("2013-05-06T17:37:54.27")
    assert summary["time_end"].startswith("2013-05-06T17:40:39.42")


@pytest.mark.parametrize("record", [0, 57, 222])
@pytest.mark.parametrize("shot", [0, 4, 5, 7, 14])
def test_native_profile_by_hand(raw, native, record, shot):
    """Each shot's profile = its 180 m sub-profile (shot // 5), 60 m (shot // 3), own 30 m one."""
    row = raw["Feature_Classification_Flags"][record]
    high = row[0 + (shot // 5) * 55 : 0 + (shot // 5 + 1) * 55]
    mid = row[165 + (shot // 3) * 200 : 165 + (shot // 3 + 1) * 200]
    low = row[1165 + shot * 290 : 1165 + (shot + 1) * 290]
    expected = np.concatenate([high, mid, low]).astype(np.int64)
    profile = native.isel(profile=record * 15 + shot)
    assert int(profile["record_index"]) == record and int(profile["shot"]) == shot
    np.testing.assert_array_equal(profile["feature_classification_flags"].values, expected)
    np.testing.assert_array_equal(profile["feature_type"].values, expected % 8)
    np.testing.assert_array_equal(profile["feature_type_qa"].values, (expected // 8) % 4)
    np.testing.assert_array_equal(profile["ice_water_phase"].values, (expected // 32) % 4)
    np.testing.assert_array_equal(profile["ice_water_phase_qa"].values, (expected // 128) % 4)
    np.testing.assert_array_equal(profile["feature_subtype"].values, (expected // 512) % 8)
    np.testing.assert_array_equal(profile["feature_subtype_qa"].values, (expected // 4096) % 2)
    np.testing.assert_array_equal(profile["horizontal_averaging"].values, (expected // 8192) % 8)


def test_native_altitudes_and_metadata(native):
    alt = native.attrs["Lidar_Data_Altitudes"]
    np.testing.assert_allclose(native["altitude"].values, np.asarray(alt)[33:578], atol=0.002)
    assert native.attrs["Product_ID"] == "L2_LIDAR"
    assert native.attrs["Date_Time_at_Granule_Start"] == "2013-05-06T17:37:54.274199Z"


def test_v3_shot_positions_interpolate_between_record_centres(raw, native):
    lat = raw["Latitude"][:, 0].astype(np.float64)
    shot_lat = native["latitude"].values.reshape(223, 15)
    np.testing.assert_allclose(shot_lat[:, 7], lat, atol=1e-6)  # shot 7 is the record centre
    # shot 12 of record 10 lies 5/15 of the way to record 11's centre
    assert shot_lat[10, 12] == pytest.approx(lat[10] + (lat[11] - lat[10]) * 5 / 15, abs=1e-9)
    times = native["time"].values.reshape(223, 15)
    steps = np.diff(times.ravel()).astype(np.int64) / 1e9
    assert np.all(steps > 0.045) and np.all(steps < 0.055)  # ~0.0496 s between laser shots


def test_common_schema_on_real_file(raw):
    ds = read_vfm(REAL_VFM)
    assert ds.sizes == {"profile": 223 * 15, "height": 80}
    assert ds["phase"].dtype == np.uint8 and ds["time"].dtype == np.dtype("datetime64[ns]")
    assert set(np.unique(ds["phase"].values)) <= {0, 1, 3, 255}  # the lidar has no mixed class
    # where the raw 30 m cells of a shot below 8.2 km are all totally attenuated, nothing is clear
    flags = raw["Feature_Classification_Flags"]
    low = flags[:, 1165:].reshape(223 * 15, 290) % 8  # 290 cells of 30 m, top (8.2 km) to bottom
    attenuated_below_2km = (low[:, -83:] == 7).all(axis=1)  # lowest ~2.5 km
    assert attenuated_below_2km.any()
    assert (ds["phase"].values[attenuated_below_2km, 1:8] == 255).all()
    cloudy = np.isin(ds["phase"].values, (1, 3)).any(axis=1)
    assert np.isnan(ds["cloud_top_height"].values[~cloudy]).all()
    assert np.isfinite(ds["cloud_top_height"].values[cloudy]).all()
    assert len(ds.attrs["sha256"]) == 64 and ds.attrs["version"] == "V3-30"


def test_track_is_per_record(raw):
    track = read_vfm_track(REAL_VFM)
    assert track.sizes["profile"] == 223 and track.attrs["sampling"] == "record"
    np.testing.assert_allclose(track["latitude"].values, raw["Latitude"][:, 0], atol=1e-6)


def test_inspect_cli_end_to_end(raw, tmp_path):
    """``cloudbench inspect --json`` as a user runs it: counts equal the decode written here."""
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("cloudbench")
    done = subprocess.run([str(exe), "inspect", REAL_VFM, "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    flags = raw["Feature_Classification_Flags"].astype(np.int64)
    types, phases = flags & 7, (flags >> 5) & 3
    assert summary["vfm_feature_type_counts"] == [int((types == k).sum()) for k in range(8)]
    assert summary["vfm_cloud_phase_counts"] == [int(((types == 2) & (phases == k)).sum()) for k in range(4)]
    cut = tmp_path / Path(REAL_VFM).name
    cut.write_bytes(Path(REAL_VFM).read_bytes()[:500_000])
    done = subprocess.run([str(exe), "inspect", str(cut), "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and str(cut) in done.stderr and "truncated" in done.stderr
    assert "Traceback" not in done.stderr
