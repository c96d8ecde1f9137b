"""``cloudbench inspect`` on EarthCARE frames: the summary, and exit 2 naming the code when a file's
``definition`` disagrees with the table.

``inspect`` finds a file's product through the sensor registry; these tests run once the EarthCARE
products are among its built-ins (until then they are skipped, saying why).
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from cloudbench.cli import main
from cloudbench.config import ICE, WATER
from cloudbench.products import earthcare as ec
from cloudbench.synthetic.earthcare_tc import write_earthcare_frame

from .conftest import build_track, frame_of


def _inspect_knows_earthcare() -> bool:
    try:
        from cloudbench.sensors import registry

        return "earthcare-ac-tc" in registry.label_choices()
    except Exception:
        return False


pytestmark = pytest.mark.skipif(not _inspect_knows_earthcare(),
                                reason="the EarthCARE products are not built-ins of the sensor registry yet")


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


@pytest.fixture
def frame(tmp_path):
    layers = build_track(30, [(9.6, 12.0, ICE, 0.5), (1.2, 2.4, WATER, 10.0)])
    return write_earthcare_frame(tmp_path, ec.AC_TC, layers, frame_of(layers))


def test_inspect_summarises_a_frame(frame, capsys):
    code, out, err = run(["inspect", str(frame), "--json"], capsys)
    assert code == 0, err
    info = json.loads(out)
    assert info["product"] == "AC__TC__2B" and (info["orbit"], info["frame"], info["n_profiles"]) == (5979, "B", 30)
    assert info["class_counts"]["21"] > 0 and info["file"] == str(frame)


def test_inspect_exits_2_naming_the_code_of_a_disagreeing_definition(frame, capsys):
    with h5py.File(frame, "r+") as h:
        var = h["ScienceData/synergetic_target_classification"]
        text = var.attrs["definition"].decode().replace("18: supercooled liquid", "18: graupel")
        var.attrs["definition"] = np.bytes_(text.encode())
    code, out, err = run(["inspect", str(frame)], capsys)
    assert code == 2
    assert "class code 18" in err and "graupel" in err and str(frame) in err and "Traceback" not in err
