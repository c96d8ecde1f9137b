"""Bad input to the active-sensor readers: DataError naming the file and what is wrong."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from pyhdf.SD import SD, SDC

from cloudbench.errors import DataError, MissingInputError
from cloudbench.readers.calipso_vfm import read_vfm, read_vfm_native, read_vfm_track, vfm_summary
from cloudbench.readers.cloudsat_cldclass_lidar import (
    cldclass_summary,
    read_cldclass_lidar,
    read_cldclass_track,
)
from cloudbench.synthetic.calipso_vfm import write_vfm_granule
from cloudbench.synthetic.cloudsat_cldclass_lidar import write_cldclass_granule

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
REAL_VFM = REAL / "CAL_LID_L2_VFM-ValStage1-V3-30.2013-05-06T17-20-01ZD_Subset.hdf"
REAL_ABI = REAL / "OR_ABI-L1b-RadM1-M6C13_G17_s20193351027275_e20193351027344_c20193351027405.nc"
VFM_READERS = [read_vfm, read_vfm_native, read_vfm_track, vfm_summary]
CLDCLASS_READERS = [read_cldclass_lidar, read_cldclass_track, cldclass_summary]


def truncated_copy(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


@pytest.mark.parametrize("reader", VFM_READERS)
def test_truncated_vfm(tmp_path, reader):
    bad = truncated_copy(REAL_VFM, tmp_path / REAL_VFM.name, 0.6)
    with pytest.raises(DataError, match="truncated") as info:
        reader(bad)
    assert str(bad) in str(info.value)


@pytest.mark.parametrize("fraction", [0.0005, 0.5, 0.95])
def test_truncated_cldclass(tmp_path, track, fraction):
    good = write_cldclass_granule(tmp_path, track(50, [(1.2, 2.4, 3, 1.0)], spacing_s=0.16), granule_number=1)
    bad = truncated_copy(good, tmp_path / f"cut_{good.name}", fraction)
    with pytest.raises(DataError) as info:
        read_cldclass_lidar(bad)
    assert str(bad) in str(info.value) and "truncated" in str(info.value)


@pytest.mark.parametrize("reader", VFM_READERS + CLDCLASS_READERS)
def test_netcdf_file_of_another_product(reader):
    with pytest.raises(DataError, match="not an HDF4 file") as info:
        reader(REAL_ABI)
    assert str(REAL_ABI) in str(info.value)


@pytest.mark.parametrize("reader", CLDCLASS_READERS)
def test_vfm_passed_to_the_cloudsat_reader(reader):
    with pytest.raises(DataError, match="missing field 'Profile_time'.*2B-CLDCLASS-LIDAR") as info:
        reader(REAL_VFM)
    assert str(REAL_VFM) in str(info.value)


def test_cloudsat_file_passed_to_the_vfm_reader(tmp_path, track):
    path = write_cldclass_granule(tmp_path, track(20, [], spacing_s=0.16), granule_number=2)
    with pytest.raises(DataError, match="missing SDS 'Feature_Classification_Flags'") as info:
        read_vfm(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("missing", ["Feature_Classification_Flags", "Latitude", "Profile_UTC_Time"])
def test_hdf4_missing_an_expected_sds(tmp_path, track, missing):
    good = write_vfm_granule(tmp_path / "good.hdf", track(30, [(1.2, 2.4, 3, 1.0)]))
    bad = tmp_path / "CAL_LID_L2_VFM-Standard-V4-51.2018-10-01T03-05-00ZD.hdf"
    src, dst = SD(str(good), SDC.READ), SD(str(bad), SDC.WRITE | SDC.CREATE)
    for name, (_, _, shape, sdc_type, _) in ((n, src.select(n).info()) for n in src.datasets()):
        if name != missing:
            out = dst.create(name, sdc_type, tuple(shape))
            out[:] = src.select(name).get()
            out.endaccess()
    src.end()
    dst.end()
    for reader in (read_vfm, vfm_summary):
        with pytest.raises(DataError, match=f"missing SDS '{missing}'") as info:
            reader(bad)
        assert str(bad) in str(info.value)


def test_flags_of_the_wrong_shape(tmp_path):
    bad = tmp_path / "CAL_LID_L2_VFM-Standard-V4-51.2018-10-01T03-05-00ZD.hdf"
    sd = SD(str(bad), SDC.WRITE | SDC.CREATE)
    for name, shape, kind, dtype in (
        ("Feature_Classification_Flags", (4, 100), SDC.UINT16, np.uint16),
        ("Latitude", (4, 1), SDC.FLOAT32, np.float32),
    ):
        sds = sd.create(name, kind, shape)
        sds[:] = np.zeros(shape, dtype=dtype)
        sds.endaccess()
    sd.end()
    with pytest.raises(DataError, match=r"shape \(4, 100\)") as info:
        read_vfm(bad)
    assert str(bad) in str(info.value)


def test_random_bytes_and_missing_file(tmp_path):
    junk = tmp_path / "junk.hdf"
    junk.write_bytes(b"\x00" * 1000)
    with pytest.raises(DataError, match="not an HDF4 file"):
        read_vfm(junk)
    with pytest.raises(MissingInputError):
        read_vfm(tmp_path / "nope.hdf")


def test_valid_copy_still_reads(tmp_path):
    copy = shutil.copy(REAL_VFM, tmp_path / REAL_VFM.name)
    assert vfm_summary(copy)["n_records"] == 223
