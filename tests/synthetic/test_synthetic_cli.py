"""``cloudbench synth`` writes an archive the rest of the tools read (end to end, installed command)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cloudbench.cli import main
from cloudbench.products import abi_l1b, cloudsat_cldclass_lidar


def test_synth_then_inspect_a_goes_east_archive(tmp_path):
    exe = Path(sys.executable).with_name("cloudbench")
    out = tmp_path / "ARCHIVE"
    argv = [str(exe), "synth", "--out", str(out), "--start", "2019-06-01T17:40", "--end", "2019-06-01T18:00",
            "--region=-90,-10,-60,10", "--imager", "goes-east", "--labels", "cldclass-lidar", "--bands", "C13",
            "--max-dt", "120", "--seed", "3"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    granules = sorted(out.rglob("*_CS_2B-CLDCLASS-LIDAR_*.hdf"))
    images = sorted(out.rglob("OR_ABI-L1b-RadF-*C13_G16_*.nc"))
    stamps = {p: p.stat().st_mtime_ns for p in [*granules, *images]}
    again = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "1 of 1 days were already complete" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # a rerun rewrites nothing
    assert len(granules) == 1 and cloudsat_cldclass_lidar.parse_filename(granules[0].name) is not None
    assert 1 <= len(images) <= 2 and all(abi_l1b.parse_filename(p.name) is not None for p in images)
    assert images[0].relative_to(out).as_posix().startswith("goes16/ABI-L1b-RadF/2019/152/17/")
    info = json.loads(subprocess.run([str(exe), "inspect", str(images[0]), "--json"], capture_output=True,
                                     text=True, timeout=120, check=True).stdout)
    assert info["platform"] == "goes16" and info["band"] == "C13"
    assert 180 < info["min"] < info["mean"] < info["max"] < 340


def test_synth_rejects_bad_options_with_exit_1(tmp_path, capsys):
    for bad in (["--region", "nowhere"], ["--bands", "B99"], ["--start", "yesterday"]):
        argv = ["synth", "--out", str(tmp_path / "A"), "--start", "2018-10-01T03:30", "--end", "2018-10-01T04:00", *bad]
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 1, (bad, err)
        assert "Traceback" not in err and err.strip()
