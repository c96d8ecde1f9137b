"""``cloudbench inspect``: summaries of every product and clear failures on bad input."""

import bz2
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from cloudbench.cli import main
from cloudbench.config import Region
from cloudbench.errors import DataError, MissingInputError, UserError
from cloudbench.products import ahi_hsd
from cloudbench.products import calipso_vfm as vfm
from cloudbench.products.geostationary import geometry_for
from cloudbench.synthetic import orbit
from cloudbench.synthetic.scene import Scene

SLOT = datetime(2018, 10, 1, 4, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One small file of each product, written by the synthetic writers under archive names."""
    from cloudbench.synthetic.ahi_hsd import write_ahi_slot
    from cloudbench.synthetic.calipso_vfm import write_vfm_granule
    from cloudbench.synthetic.cloudsat_cldclass_lidar import write_cldclass_granule
    from cloudbench.synthetic.render import render_slot

    root = tmp_path_factory.mktemp("inspect")
    scene = Scene(1, "2018-10-01T00:00")
    t0 = np.datetime64("2018-10-01T04:08:00", "ns")
    shots = orbit.track(t0, t0 + np.timedelta64(15, "s"), interval_s=orbit.calipso_shot_interval_s())
    vfm_layers = scene.layers_at(shots.longitude, shots.latitude, shots.time)
    vfm_path = write_vfm_granule(root, vfm_layers)
    rays = orbit.track(t0, t0 + np.timedelta64(20, "s"), interval_s=orbit.CLOUDSAT_RAY_INTERVAL_S)
    cs_path = write_cldclass_granule(root, scene.layers_at(rays.longitude, rays.latitude, rays.time), granule_number=65576)
    geometry = geometry_for("himawari8", 10)
    rendered = render_slot(scene, geometry, SLOT, ["B13"], roi=Region(135, -5, 145, 5), roi_margin_deg=0)
    hsd = write_ahi_slot(root, platform="himawari8", slot_start=SLOT, bands=rendered.bands, geometry=geometry, segments=[5])
    return {"vfm": Path(vfm_path), "cldclass": Path(cs_path), "hsd": Path(hsd[0]), "root": root,
            "vfm_layers": vfm_layers, "b13": rendered.bands["B13"], "geometry": geometry}


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_vfm_json_summary_follows_the_contract(files, capsys):
    code, out, err = run(["inspect", str(files["vfm"]), "--json"], capsys)
    assert code == 0, err
    info = json.loads(out)
    for key in ("product", "version", "n_records", "n_profiles", "time_start", "time_end", "lat_range", "lon_range",
                "vfm_feature_type_counts", "vfm_cloud_phase_counts"):
        assert key in info
    layers = files["vfm_layers"]
    n_records = layers.n // vfm.SHOTS_PER_RECORD
    assert info["n_records"] == n_records and info["n_profiles"] == n_records * vfm.SHOTS_PER_RECORD
    assert len(info["vfm_feature_type_counts"]) == 8 and sum(info["vfm_feature_type_counts"]) == n_records * vfm.N_CELLS
    assert len(info["vfm_cloud_phase_counts"]) == 4
    assert sum(info["vfm_cloud_phase_counts"]) == info["vfm_feature_type_counts"][2]
    lat = layers.latitude[: n_records * 15]
    assert info["lat_range"][0] <= lat.min() + 0.1 and info["lat_range"][1] >= lat.max() - 0.1


def test_imager_json_summary_has_the_calibrated_statistics(files, capsys):
    code, out, err = run(["inspect", str(files["hsd"]), "--json"], capsys)
    assert code == 0, err
    info = json.loads(out)
    assert info["platform"] == "himawari8" and info["band"] == "B13"
    for key in ("product", "time_start", "time_end", "shape", "min", "max", "mean"):
        assert key in info
    g = files["geometry"]
    seg_lines = g.shape[0] // g.n_units
    assert list(info["shape"]) == [seg_lines, g.shape[1]]
    seg = files["b13"][4 * seg_lines : 5 * seg_lines]
    assert abs(info["mean"] - float(np.nanmean(seg))) < 0.5
    assert abs(info["min"] - float(np.nanmin(seg))) < 0.5 and abs(info["max"] - float(np.nanmax(seg))) < 0.5


def test_table_output_without_json(files, capsys):
    code, out, err = run(["inspect", str(files["cldclass"])], capsys)
    assert code == 0, err
    assert "product" in out and "2B-CLDCLASS-LIDAR" in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


def test_missing_path_exits_1_naming_it(tmp_path, capsys):
    missing = tmp_path / "CAL_LID_L2_VFM-Standard-V4-51.2018-10-01T03-05-00ZD.hdf"
    code, out, err = run(["inspect", str(missing), "--json"], capsys)
    assert code == 1
    assert str(missing) in err and "Traceback" not in err


def test_truncated_file_exits_2_naming_it(files, tmp_path, capsys):
    cut = tmp_path / files["vfm"].name
    data = files["vfm"].read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    code, out, err = run(["inspect", str(cut), "--json"], capsys)
    assert code == 2
    assert str(cut) in err and "truncated" in err.lower() and "Traceback" not in err


def test_text_file_named_like_a_vfm_exits_2(tmp_path, capsys):
    fake = tmp_path / "CAL_LID_L2_VFM-Standard-V4-51.2018-10-01T03-05-00ZD.hdf"
    fake.write_text("<html>Earthdata login required</html>\n")
    code, out, err = run(["inspect", str(fake)], capsys)
    assert code == 2
    assert str(fake) in err and "text" in err and "Traceback" not in err


def test_cldclass_renamed_as_vfm_exits_2(files, tmp_path, capsys):
    other = tmp_path / "CAL_LID_L2_VFM-Standard-V4-51.2018-10-01T04-08-00ZD.hdf"
    other.write_bytes(files["cldclass"].read_bytes())
    code, out, err = run(["inspect", str(other), "--json"], capsys)
    assert code == 2
    assert str(other) in err and "Traceback" not in err


def test_hdf4_missing_an_sds_exits_2_naming_it(tmp_path, capsys):
    from pyhdf.SD import SD, SDC

    path = tmp_path / "CAL_LID_L2_VFM-Standard-V4-51.2018-10-01T03-05-00ZD.hdf"
    sd = SD(str(path), SDC.WRITE | SDC.CREATE)
    for name in ("Latitude", "Longitude"):
        s = sd.create(name, SDC.FLOAT32, (3, 1))
        s[:] = np.zeros((3, 1), np.float32)
        s.endaccess()
    sd.end()
    code, out, err = run(["inspect", str(path), "--json"], capsys)
    assert code == 2
    assert str(path) in err and "Traceback" not in err
    assert "Feature_Classification_Flags" in err or "Profile_UTC_Time" in err


def test_hsd_with_a_broken_header_exits_2_naming_it(files, tmp_path, capsys):
    raw = bytearray(bz2.decompress(files["hsd"].read_bytes()))
    b1 = ahi_hsd.BLOCK1.itemsize
    raw[b1] = 9  # block 2 now claims to be block 9
    raw[b1 + 1 : b1 + 3] = (7).to_bytes(2, "little")  # with an impossible length
    bad = tmp_path / files["hsd"].name
    bad.write_bytes(bz2.compress(bytes(raw)))
    code, out, err = run(["inspect", str(bad), "--json"], capsys)
    assert code == 2
    assert str(bad) in err and "Traceback" not in err


def test_debug_shows_the_traceback(tmp_path, capsys):
    fake = tmp_path / "CAL_LID_L2_VFM-Standard-V4-51.2018-10-01T03-05-00ZD.hdf"
    fake.write_text("not hdf")
    with pytest.raises(DataError):
        main(["--debug", "inspect", str(fake)])


def test_registry_guesses_by_name_then_content(files, tmp_path):
    from cloudbench.readers import READERS, guess_reader, open_product, read_profiles, read_track

    assert guess_reader(files["vfm"]).name == "calipso-vfm"
    assert guess_reader(files["cldclass"]).name == "cloudsat-cldclass-lidar"
    assert guess_reader(files["hsd"]).name == "ahi-hsd"
    renamed = tmp_path / "granule.hdf"
    renamed.write_bytes(files["cldclass"].read_bytes())
    assert guess_reader(renamed).name == "cloudsat-cldclass-lidar"
    renamed_vfm = tmp_path / "profile.bin"
    renamed_vfm.write_bytes(files["vfm"].read_bytes())
    assert guess_reader(renamed_vfm).name == "calipso-vfm"
    unknown = tmp_path / "notes.txt"
    unknown.write_text("hello")
    with pytest.raises(DataError) as exc:
        guess_reader(unknown)
    assert str(unknown) in str(exc.value)
    for name in READERS:
        assert name in str(exc.value)
    with pytest.raises(MissingInputError):
        guess_reader(tmp_path / "nope.hdf")
    ds = read_profiles(files["cldclass"])
    assert ds.sizes["height"] == 80 and ds["phase"].dtype == np.uint8
    assert read_track(files["vfm"]).sizes["profile"] >= 1
    img = open_product(files["hsd"], bands=["B13"])
    assert "B13" in img and "line_time" in img
    with pytest.raises(UserError):
        read_profiles(files["hsd"])


def test_end_to_end_through_the_installed_command(files):
    exe = Path(sys.executable).with_name("cloudbench")
    proc = subprocess.run([str(exe), "inspect", str(files["cldclass"]), "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["reader"] == "cloudsat-cldclass-lidar"
    bad = files["root"] / "HS_H08_20181001_0400_B13_FLDK_R20_S0510.DAT.bz2.copy"
    proc = subprocess.run([str(exe), "inspect", str(bad)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and str(bad) in proc.stderr and "Traceback" not in proc.stderr


REAL = Path(__file__).resolve().parents[1] / "data" / "real"


def test_real_vfm_counts_match_the_raw_flags(capsys):
    from pyhdf.SD import SD, SDC

    path = next(REAL.glob("CAL_LID_L2_VFM-*.hdf"))
    code, out, err = run(["inspect", str(path), "--json"], capsys)
    assert code == 0, err
    info = json.loads(out)
    sd = SD(str(path), SDC.READ)
    flags = sd.select("Feature_Classification_Flags")[:].astype(np.uint16)
    sd.end()
    assert info["version"] == "V3-30" and info["n_records"] == flags.shape[0]
    assert info["vfm_feature_type_counts"] == np.bincount((flags & 7).ravel(), minlength=8).tolist()
    cloud = (flags & 7) == 2
    assert info["vfm_cloud_phase_counts"] == np.bincount(((flags >> 5) & 3)[cloud], minlength=4).tolist()


def test_real_abi_file_summary(capsys):
    path = next(REAL.glob("OR_ABI-L1b-RadM1-M6C13_G17_*.nc"))
    code, out, err = run(["inspect", str(path), "--json"], capsys)
    assert code == 0, err
    info = json.loads(out)
    assert info["platform"] == "goes17" and info["band"] == "C13" and list(info["shape"]) == [500, 500]
    assert 150 < info["min"] < info["mean"] < info["max"] < 340
