"""earthcarekit, a reader written without cloudbench, reads the synthetic frames as EarthCARE products:
it finds the product type, baseline, orbit, frame and the variables by their real names."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cloudbench.config import ICE, MIXED, WATER
from cloudbench.products import earthcare as ec
from cloudbench.readers.earthcare_tc import read_earthcare_native
from cloudbench.synthetic.earthcare_tc import write_earthcare_frame

from .conftest import build_track, frame_of


@pytest.fixture(scope="module")
def eck():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it asks for a configuration file it does not need to read
        return pytest.importorskip("earthcarekit")


@pytest.mark.parametrize("product", list(ec.PRODUCT_TYPES.values()), ids=lambda p: p.code)
def test_earthcarekit_reads_what_the_writer_writes(eck, tmp_path, product):
    layers = build_track(50, [(9.6, 12.0, ICE, 0.5), (4.8, 6.0, MIXED, 2.0), (1.2, 2.4, WATER, 10.0)])
    path = write_earthcare_frame(tmp_path, product, layers, frame_of(layers, orbit=5979, letter="B"),
                                 baseline="BC")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = eck.read_product(str(path))
    assert str(ds["file_type"].values) == product.code
    assert str(ds["baseline"].values) == "BC" and str(ds["frame_id"].values) == "B"
    assert int(ds["orbit_number"].values) == 5979
    assert ds.sizes["along_track"] == 50 and ds.sizes["vertical"] == product.n_levels
    np.testing.assert_allclose(ds["latitude"].values, layers.latitude)
    times = ds["time"].values.astype("datetime64[ns]")
    assert np.abs((times - layers.time).astype(np.int64)).max() < 1000
    classes = ds[product.class_var].values
    with __import__("h5py").File(path) as h:
        np.testing.assert_array_equal(classes, h[f"ScienceData/{product.class_var}"][()])
    # heights are above the ellipsoid, top first; its own conversion to the geoid gives our sea-level grid
    assert (np.diff(ds["height"].values, axis=1) < 0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        msl = eck.read_product(str(path), to_geoid=True)["height"].values
    expected = (product.top_km - product.step_km * np.arange(product.n_levels)) * 1000.0
    np.testing.assert_allclose(msl, np.broadcast_to(expected, msl.shape), atol=0.01)
    ours = read_earthcare_native(path)["height_msl"].values * 1000.0
    np.testing.assert_allclose(ours, msl, atol=0.01)
