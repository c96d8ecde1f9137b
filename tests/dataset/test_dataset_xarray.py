"""PAIRS job stores and DATASET split stores open in plain xarray and zarr, with the loader's names and values."""

import warnings

import numpy as np
import pytest
import xarray as xr
import zarr

from cloudbench.config import CLASS_NAMES, UNLABELED
from cloudbench.dataset.loader import CloudbenchDataset
from cloudbench.dataset.pairs import ARRAY_NAMES, open_pairs


def _open(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. a missing consolidated metadata or dimension_names
        return xr.open_zarr(path)


def test_a_pairs_job_store_opens_in_xarray_with_the_reader_values(pairs_dir):
    pairs = open_pairs(pairs_dir)
    job_id = sorted(pairs.jobs)[0]
    ds = _open(pairs_dir / "jobs" / f"{job_id}.zarr")
    assert set(ds.data_vars) == set(ARRAY_NAMES)
    group = zarr.open_group(str(pairs_dir / "jobs" / f"{job_id}.zarr"), mode="r")
    n = group["x"].shape[0]
    rows = pairs.read_rows(job_id, np.arange(n))
    for name in ARRAY_NAMES:
        assert ds[name].dims == tuple(group[name].metadata.dimension_names), name
        assert ds[name].dtype == rows[name].dtype, name
        np.testing.assert_array_equal(ds[name].values, rows[name], err_msg=name)
    table = pairs.samples[pairs.samples["job_id"] == job_id].sort_values("row")
    assert ds["sample_id"].values.tolist() == table["sample_id"].tolist()
    assert ds["band"].values.tolist() == pairs.bands
    np.testing.assert_allclose(ds["height"].values, np.diff(pairs.height_edges_km) / 2 + pairs.height_edges_km[:-1])


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_each_split_opens_in_xarray_with_the_loader_names_and_values(built, split):
    root, manifest = built
    loader = CloudbenchDataset(root, split, normalize=False)
    ds = _open(root / f"{split}.zarr")
    assert set(ds.data_vars) == set(ARRAY_NAMES)
    assert ds.sizes["sample"] == len(loader) == manifest["splits"][split]["n_samples"]
    stored = {name: np.stack([loader.read_arrays(i)[name] for i in range(len(loader))]) for name in ARRAY_NAMES}
    for name in ARRAY_NAMES:
        assert ds[name].dims == loader.dimension_names[name], name
        assert ds[name].dtype == stored[name].dtype, name
        np.testing.assert_array_equal(ds[name].values, stored[name], err_msg=name)
    items = [loader[i] for i in range(len(loader))]
    for key, name in (("image", "x"), ("aux", "aux"), ("profiles", "profiles"), ("track_rows", "track_rows")):
        assert ("sample", *loader.dims[key]) == ds[name].dims
        np.testing.assert_array_equal(np.stack([it[key].numpy() for it in items]), ds[name].values)
    assert ds["sample_id"].values.tolist() == loader.sample_ids
    assert ds["band"].values.tolist() == loader.band_names
    assert ds["aux_channel"].values.tolist() == loader.aux_names
    edges = np.asarray(loader.height_edges_km)
    np.testing.assert_allclose(ds["height"].values, (edges[:-1] + edges[1:]) / 2)
    np.testing.assert_allclose(ds["height_bounds"].values, np.stack([edges[:-1], edges[1:]], axis=1))
    assert ds["height"].attrs["units"] == "km"
    # padding and labels as documented, on the stored integers
    n_track = ds["n_track"].values
    beyond = np.arange(ds.sizes["track"])[None, :] >= n_track[:, None]
    assert (ds["track_rows"].values[beyond] == -1).all() and (ds["profiles"].values[beyond] == UNLABELED).all()
    flags = ds["profiles"].attrs
    assert flags["flag_values"] == [*sorted(CLASS_NAMES), UNLABELED]
    assert flags["flag_meanings"].split() == [CLASS_NAMES[c] for c in sorted(CLASS_NAMES)] + ["unlabeled"]
    assert "_FillValue" not in ds["profiles"].attrs and ds["profiles"].dtype == np.uint8
    b13 = ds["x"].sel(band="B13")
    assert str(b13["band_units"].values) == "K" and float(b13["band_wavelength"]) == pytest.approx(10.4073)
    assert ds["aux"].sel(aux_channel="latitude")["aux_units"].values.item() == "degrees_north"


def test_zarr_reads_the_split_groups_alone(built):
    root, _ = built
    for split in ("train", "val", "test"):
        group = zarr.open_group(str(root / f"{split}.zarr"), mode="r")
        assert group.attrs["Conventions"].startswith("CF-")
        for name in ARRAY_NAMES:
            assert group[name].metadata.dimension_names[0] == "sample"
            assert group[name].attrs["long_name"]
        assert group["x"].attrs["comment"].endswith("band_units coordinate")  # 16 bands, two units
        assert group["band"][:].tolist() == group.attrs["bands"]
