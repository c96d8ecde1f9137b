"""Real ABI L1b files: our summary equals satpy's own calibration, and the physics is plausible."""

from __future__ import annotations

import json

import numpy as np
import pytest
from satpy import Scene

from cloudbench.readers.abi_l1b import read_abi
from cloudbench.readers.imager import imager_summary, read_imager

from .conftest import REAL_DATA

FILES = sorted(REAL_DATA.glob("OR_ABI-L1b-*.nc"))


def test_the_three_real_abi_samples_are_there():
    assert len(FILES) == 3, f"expected 3 real ABI samples under {REAL_DATA}"


@pytest.mark.parametrize("path", FILES, ids=[p.name[:30] for p in FILES])
def test_summary_matches_satpy(path):
    summary = imager_summary(path)
    json.dumps(summary)  # JSON-serialisable as `inspect --json` needs
    band = summary["band"]
    scn = Scene(filenames=[str(path)], reader="abi_l1b")
    scn.load([band])
    v = scn[band].values.astype(np.float64)
    assert summary["min"] == pytest.approx(np.nanmin(v), rel=1e-6, abs=1e-6)
    assert summary["max"] == pytest.approx(np.nanmax(v), rel=1e-6, abs=1e-6)
    assert summary["mean"] == pytest.approx(np.nanmean(v), rel=1e-5, abs=1e-6)
    assert summary["shape"] == list(v.shape)
    assert summary["time_start"][:19] == scn[band].attrs["start_time"].strftime("%Y-%m-%dT%H:%M:%S")
    assert summary["product"] == "ABI-L1b-RadM1"
    if band in ("C13", "C11"):
        assert summary["units"] == "K" and 180 < summary["min"] < summary["max"] < 320
    else:
        assert summary["units"] == "%" and -2 < summary["min"] <= summary["mean"] <= summary["max"] < 120


def test_mesoscale_lands_on_global_fixed_grid_rows():
    c13 = next(p for p in FILES if "C13" in p.name)
    image = read_abi(c13)
    assert (image.first_row, image.first_col) == (562, 3152)  # from y[0] = 0.120372, x[0] = 0.024668
    ds = read_imager([c13, next(p for p in FILES if "C11" in p.name)])
    assert int(ds.y[0]) == 562 and int(ds.x[0]) == 3152 and ds.sizes == {"y": 500, "x": 500}
    assert ds.attrs["platform"] == "goes17" and ds.attrs["proj_lon"] == -137.0
    assert image.line_times[0] > image.time_start and image.line_times[-1] < image.time_end
