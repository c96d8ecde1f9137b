"""EarthCARE file names, frames and the archive layout."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cloudbench.products import earthcare as ec
from cloudbench.sources.earthcare_layout import earthcare_layout

REAL = "ECA_EXAD_AC__TC__2B_20250617T050457Z_20250617T085638Z_05979B"


def test_name_parts_and_the_second_stamp_is_the_processing_start():
    info = ec.parse_filename(REAL + ".h5")
    assert (info.agency, info.latency, info.baseline, info.product_type) == ("E", "X", "AD", "AC__TC__2B")
    assert info.sensing_start == datetime(2025, 6, 17, 5, 4, 57, tzinfo=UTC)
    assert info.processing_start == datetime(2025, 6, 17, 8, 56, 38, tzinfo=UTC)  # not the sensing end
    assert (info.orbit, info.frame, info.suffix, info.orbit_frame) == (5979, "B", ".h5", "05979B")
    assert info.product_name == REAL


@pytest.mark.parametrize("suffix", ["", ".h5", ".HDR", ".ZIP"])
def test_every_distributed_form_parses_and_folders_are_ignored(suffix):
    info = ec.parse_filename(f"some/folder/{REAL}{suffix}")
    assert info is not None and info.suffix == suffix and info.product_name == REAL


@pytest.mark.parametrize("name", [
    "ECA_EXAD_AC__TC__2B_20250617T050457Z_20250617T085638Z_05979I.h5",  # no frame I
    "ECA_EXAD_AC__TC__2B_20250617T050457Z_20250617T085638Z_5979B.h5",  # orbit is 5 digits
    "ECA_QXAD_AC__TC__2B_20250617T050457Z_20250617T085638Z_05979B.h5",  # agency E or J
    "ECA_EXAD_AC_TC_2B_20250617T050457Z_20250617T085638Z_05979B.h5",  # type is 10 characters
    "ECA_EXAD_AC__TC__2B_20250617T050457Z_05979B.h5",  # one stamp only
    "CAL_LID_L2_VFM-Standard-V4-51.2018-10-01T03-05-00ZD.hdf",
])
def test_other_names_are_refused(name):
    assert ec.parse_filename(name) is None


def test_build_is_the_inverse_of_parse():
    info = ec.parse_filename(REAL)
    for product in ec.PRODUCT_TYPES:
        name = ec.build_filename(product, info.sensing_start, info.orbit, info.frame, baseline="BC",
                                 processing_start=info.processing_start)
        back = ec.parse_filename(name)
        assert back.product_type == product and back.baseline == "BC" and back.suffix == ".h5"
        assert (back.sensing_start, back.processing_start, back.orbit, back.frame) == (
            info.sensing_start, info.processing_start, 5979, "B")
    with pytest.raises(ValueError, match="frame"):
        ec.build_filename("AC__TC__2B", info.sensing_start, 1, "Z", baseline="BA", processing_start=info.sensing_start)
    with pytest.raises(ValueError, match="10 characters"):
        ec.build_filename("AC_TC_2B", info.sensing_start, 1, "A", baseline="BA", processing_start=info.sensing_start)


def test_frames_are_latitude_bands_in_orbit_order():
    assert "".join(ec.FRAMES) == "ABCDEFGH"
    assert ec.FRAMES["A"].lat_band == (-22.5, 22.5) and ec.FRAMES["A"].ascending
    assert ec.FRAMES["B"].lat_band == (22.5, 67.5)
    assert ec.FRAMES["C"].lat_band == (67.5, 90.0) and ec.FRAMES["C"].ascending is None
    assert ec.FRAMES["D"].lat_band == (22.5, 67.5) and ec.FRAMES["D"].ascending is False
    assert ec.FRAMES["E"].lat_band == (-22.5, 22.5)
    assert ec.FRAMES["G"].lat_band == (-90.0, -67.5)
    assert ec.FRAMES["H"].lat_band == (-67.5, -22.5) and ec.FRAMES["H"].ascending
    bounds = [ec.frame_bounds_u(f, 97.05) for f in ec.FRAMES]
    for (_, a1), (b0, _) in zip(bounds[:-1], bounds[1:], strict=True):
        assert a1 == pytest.approx(b0)  # contiguous
    assert bounds[-1][1] - bounds[0][0] == pytest.approx(2 * 3.141592653589793)  # one orbit in all


def test_archive_layout_folders_and_names():
    path = ec.archive_relpath(REAL + ".h5")
    assert path == f"earthcare/AC__TC__2B/2025/06/17/{REAL}.h5"
    layout = earthcare_layout(ec.AC_TC)
    assert layout.root == "earthcare/AC__TC__2B" and layout.relpath(REAL + ".h5") == path
    assert layout.parse(REAL + ".h5").time == datetime(2025, 6, 17, 5, 4, 57, tzinfo=UTC)
    assert layout.parse(REAL + ".HDR") is None  # the archive keeps the .h5
    assert layout.parse(REAL.replace("AC__TC__2B", "ATL_TC__2A") + ".h5") is None  # another product
    only_bc = earthcare_layout(ec.AC_TC, "BC")
    assert only_bc.parse(REAL + ".h5") is None and only_bc.parse(REAL.replace("EXAD", "EXBC") + ".h5") is not None
    # a frame starting just before midnight is looked for in the day before too
    dirs = layout.dirs_for(datetime(2025, 6, 18, 0, 5, tzinfo=UTC), datetime(2025, 6, 18, 2, tzinfo=UTC))
    assert dirs == ["earthcare/AC__TC__2B/2025/06/17", "earthcare/AC__TC__2B/2025/06/18"]


def test_time_conversion_round_trip_and_fill():
    import numpy as np

    t = np.array(["2025-06-17T05:04:57.123456", "2000-01-01T00:00:00"], dtype="datetime64[ns]")
    s = ec.datetime64_to_seconds(t)
    assert s[1] == 0.0
    back = ec.seconds_to_datetime64(np.append(s, [ec.FLOAT_FILL, np.nan]))
    assert (back[:2] == t).all() and np.isnat(back[2:]).all()
