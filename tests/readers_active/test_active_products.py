"""File names, archive paths, the 5515 layout, bit fields and time conversions of the active products."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from pyhdf.SD import SD, SDC

from cloudbench.products import calipso_vfm as vfm
from cloudbench.products import cloudsat_cldclass_lidar as cs

REAL_VFM = str(Path(__file__).resolve().parents[1] / "data" / "real" / "CAL_LID_L2_VFM-ValStage1-V3-30.2013-05-06T17-20-01ZD_Subset.hdf")


def test_vfm_standard_name_round_trip():
    name = "CAL_LID_L2_VFM-Standard-V4-51.2018-10-01T03-05-00ZD.hdf"
    info = vfm.parse_filename(f"some/folder/{name}")
    assert info is not None
    assert (info.stage, info.version, info.day_night, info.subset) == ("Standard", "V4-51", "D", False)
    assert info.start == datetime(2018, 10, 1, 3, 5, 0, tzinfo=UTC)
    assert vfm.build_filename(info.start, "D", version="V4-51") == name
    assert vfm.archive_relpath(name) == f"calipso/LID_L2_VFM-Standard-V4-51/2018/10/{name}"


def test_vfm_valstage_subset_name():
    info = vfm.parse_filename("CAL_LID_L2_VFM-ValStage1-V3-30.2013-05-06T17-20-01ZD_Subset.hdf")
    assert info is not None
    assert (info.stage, info.version, info.subset) == ("ValStage1", "V3-30", True)
    assert info.start == datetime(2013, 5, 6, 17, 20, 1, tzinfo=UTC)
    assert vfm.parse_filename("CAL_LID_L2_VFM-Standard-V4-51.2018-10-01T03-05-00ZN.hdf").day_night == "N"
    assert vfm.parse_filename("CAL_LID_L2_05kmCLay-Standard-V4-51.2018-10-01T03-05-00ZN.hdf") is None


def test_vfm_cmr_collection_is_the_file_name_prefix_and_version():
    assert vfm.cmr_collection("V4-51") == ("CAL_LID_L2_VFM-Standard-V4-51", "V4-51")
    assert vfm.cmr_collection("V3-30", "ValStage1") == ("CAL_LID_L2_VFM-ValStage1-V3-30", "V3-30")
    short_name, _ = vfm.cmr_collection()
    assert vfm.build_filename(datetime(2018, 10, 1, tzinfo=UTC)).startswith(short_name + ".")


def test_cloudsat_names():
    r05 = "2018275012345_65932_CS_2B-CLDCLASS-LIDAR_GRANULE_P1_R05_E08_F03.hdf"
    info = cs.parse_filename(r05)
    assert info.start == datetime(2018, 10, 2, 1, 23, 45, tzinfo=UTC)  # day 275 of 2018
    assert (info.granule, info.release, info.epoch, info.fix, info.version) == (65932, "R05", 8, 3, "P1_R05")
    assert cs.build_filename(info.start, 65932) == r05
    assert cs.archive_relpath(r05) == f"cloudsat/2B-CLDCLASS-LIDAR.P1_R05/2018/275/{r05}"
    r04 = "2010182003409_22250_CS_2B-CLDCLASS-LIDAR_GRANULE_P_R04_E03.hdf"
    info4 = cs.parse_filename(r04)
    assert (info4.iteration, info4.release, info4.fix, info4.version) == ("P", "R04", None, "P_R04")
    assert cs.build_filename(info4.start, 22250, release="R04", epoch=3) == r04
    assert cs.parse_filename("2018275012345_65932_CS_2B-GEOPROF_GRANULE_P1_R05_E08_F03.hdf") is None


def test_layout_regions():
    sizes = [(r.offset, r.bins, r.n_subprofiles, r.shots_per_subprofile, r.nominal_resolution_m) for r in vfm.REGIONS]
    assert sizes == [(0, 55, 3, 5, 180), (165, 200, 5, 3, 60), (1165, 290, 15, 1, 30)]
    assert sum(r.size for r in vfm.REGIONS) == vfm.N_CELLS == 5515
    assert vfm.N_ALTITUDES == 545
    tops = [round(r.top_km, 1) for r in vfm.REGIONS]
    bottoms = [round(r.bottom_km, 1) for r in vfm.REGIONS]
    assert tops == [30.1, 20.2, 8.2] and bottoms == [20.2, 8.2, -0.5]


def test_shot_cell_index_follows_the_layout():
    index = vfm.shot_cell_index()
    assert index.shape == (15, 545)
    # shot 6: 180 m sub-profile 1 (shots 5-9), 60 m sub-profile 2 (shots 6-8), its own 30 m sub-profile
    assert index[6, 0] == 55 and index[6, 54] == 109
    assert index[6, 55] == 165 + 2 * 200 and index[6, 254] == 165 + 3 * 200 - 1
    assert index[6, 255] == 1165 + 6 * 290 and index[6, 544] == 1165 + 7 * 290 - 1
    # every one of the 5515 values is used by at least one shot
    assert np.unique(index).size == 5515


def test_altitudes_match_real_lidar_data_altitudes():
    import pyhdf.VS  # noqa: F401
    from pyhdf.HDF import HDF

    h = HDF(REAL_VFM)
    vs = h.vstart()
    vd = vs.attach("metadata")
    fields = [f[0] for f in vd.fieldinfo()]
    real = np.array(vd.read(1)[0][fields.index("Lidar_Data_Altitudes")])
    vd.detach()
    vs.end()
    h.close()
    np.testing.assert_allclose(vfm.cell_centres_km(), real[33:578], atol=0.002)  # 2 m
    np.testing.assert_allclose(vfm.lidar_data_altitudes_km(), real, atol=0.002)


def test_bit_fields_by_hand():
    # 28602 = 2**14 + 2**13 + 2**11 + 2**10 + 2**9 + 2**8 + 2**7 + 2**5 + 2**4 + 2**3 + 2**1:
    # type 0b010 = cloud, QA 0b11, phase 0b01, phase QA 0b11, subtype 0b111, subtype QA 0, averaging 0b011
    v = np.array([28602, 19834, 46595, 7, 1])
    assert vfm.feature_type(v).tolist() == [2, 2, 3, 7, 1]
    assert vfm.feature_type_qa(v).tolist() == [3, 3, 0, 0, 0]
    assert vfm.ice_water_phase(v).tolist() == [1, 3, 0, 0, 0]
    assert vfm.ice_water_phase_qa(v).tolist() == [3, 2, 0, 0, 0]
    assert vfm.feature_subtype(v).tolist() == [7, 6, 3, 0, 0]
    assert vfm.feature_subtype_qa(v).tolist() == [0, 0, 1, 0, 0]
    assert vfm.horizontal_averaging(v).tolist() == [3, 2, 5, 0, 0]
    rebuilt = vfm.encode_flags(2, type_qa=3, phase=1, phase_qa=3, subtype=7, subtype_qa=0, averaging=3)
    assert int(rebuilt) == 28602


def test_profile_utc_time_conversions():
    t = np.array(["2013-05-06T17:37:54.274199", "2019-12-31T23:59:59.999"], dtype="datetime64[ns]")
    values = vfm.utc_to_profile_utc_time(t)
    assert values[0] == pytest.approx(130506 + (17 * 3600 + 37 * 60 + 54.274199) / 86400, abs=1e-10)
    back = vfm.profile_utc_time_to_datetime64(values)
    assert np.abs((back - t).astype(np.int64)).max() < 10_000  # 10 us


def test_real_file_times_and_tai():
    sd = SD(REAL_VFM, SDC.READ)
    utc = sd.select("Profile_UTC_Time").get()[:, 0]
    tai = sd.select("Profile_Time").get()[:, 0]
    sd.end()
    times = vfm.profile_utc_time_to_datetime64(utc)
    # metadata Date_Time_at_Granule_Start is 2013-05-06T17:37:54.274199Z
    assert abs((times[0] - np.datetime64("2013-05-06T17:37:54.274199", "ns")).astype(np.int64)) < 20_000
    # the TAI route agrees once the 8 leap seconds since 1993 are counted
    np.testing.assert_allclose(vfm.utc_to_tai_seconds(times), tai, atol=1e-3)
