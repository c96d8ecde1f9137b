"""FCI L1c: physical values -> synthetic body chunks -> satpy's fci_l1c_nc and our reader -> the same values back.

The acceptance of the format work: satpy reads the chunks with no special case (no warning either),
and gives the written calibrated values within half a count, the written per-pixel times within 1 ms
and the written geometry (a pixel's lon/lat within 10 m of the writer's). Our own reader is held to
satpy's output.
"""

from __future__ import annotations

import math
import warnings
from datetime import timedelta
from pathlib import Path

import dask
import h5py
import netCDF4
import numpy as np
import pytest
import yaml
from satpy import Scene

from cloudbench.errors import DataError
from cloudbench.products import fci_l1c as P
from cloudbench.products.geostationary import geometry_for
from cloudbench.readers.fci_l1c import read_channel, read_layout, read_pixel_times
from cloudbench.readers.imager import imager_summary, read_imager
from cloudbench.readers.slot_access import open_slot
from cloudbench.sensors.registry import parse_imager_file
from cloudbench.synthetic.fci_l1c import synthetic_pixel_times, write_fci_slot

from .conftest import FCI_SLOT, FCI_SPEC, smooth_field

FCIDECOMP_FILTER_ID = 32018
MS = np.timedelta64(1, "ms")


def _satpy_load(paths, names: list[str]) -> dict[str, tuple[np.ndarray, object]]:
    """Values and area of each dataset, north-up, loaded by satpy with every warning recorded (none allowed).

    dask runs synchronously: satpy's FCI reader reads through netCDF4 from dask's threads, which is not
    thread-safe (satpy issue #3043, "NetCDF: HDF error OR Segmentation fault"); measured here, 3 of 6
    threaded runs crashed, on compressed and uncompressed chunks alike, and 18 of 18 synchronous runs passed.
    """
    with warnings.catch_warnings(record=True) as caught, dask.config.set(scheduler="synchronous"):
        warnings.simplefilter("always")
        scn = Scene(filenames=[str(p) for p in paths], reader="fci_l1c_nc")
        scn.load(names, upper_right_corner="NE")
        out = {n: (scn[n].values, scn[n].attrs) for n in names}
    assert not caught, [f"{w.category.__name__}: {w.message}" for w in caught]
    return out


@pytest.fixture(scope="module")
def satpy_fci(fci_slot):
    return _satpy_load(fci_slot["paths"], [*FCI_SPEC, "ir_105_time", "vis_06_time"])


def _native(channel: str, values: np.ndarray) -> np.ndarray:
    f = P.CHANNELS[channel].factor
    return np.repeat(np.repeat(values, f, 0), f, 1)


def _half_count(path: Path, channel: str, truth: np.ndarray) -> np.ndarray:
    """Half a count in physical units at each true value, from the file's own attributes."""
    with netCDF4.Dataset(path) as ds:
        g = ds[f"data/{channel}/measured"]
        er = g["effective_radiance"]
        scale, offset = float(er.scale_factor), float(er.add_offset)
        warm_scale = float(er.warm_scale_factor)
        if P.CHANNELS[channel].kind == "vis":
            d = float(np.mean(ds["state/celestial/earth_sun_distance"][:])) / P.ASTRONOMICAL_UNIT_KM
            cesi = float(g["channel_effective_solar_irradiance"][...])
            return np.full(truth.shape, 0.5 * scale * 100 * math.pi * d * d / cesi + 1e-4)
        vc, a, b, c1, c2 = (float(g[f"radiance_to_bt_conversion_{n}"][...]) for n in (
            "coefficient_wavenumber", "coefficient_a", "coefficient_b", "constant_c1", "constant_c2"))

    def bt(r):
        return c2 * vc / (a * np.log(1 + c1 * vc**3 / r)) - b / a

    rad = c1 * vc**3 / np.expm1(c2 * vc / (a * truth + b))
    step = np.where(rad > offset + P.COUNT_MAX * scale, warm_scale, scale)
    eps = step * 1e-3
    slope = (bt(rad + eps) - bt(rad - eps)) / (2 * eps)
    return 0.5 * step * slope * 1.02 + 2e-3


def _chunk_of(paths, chunk: int) -> Path:
    return next(p for p in paths if p.name.endswith(f"_{chunk:04d}.nc"))


# --- names, layout, variables -------------------------------------------------------------------------
def test_chunks_have_archive_names_rows_and_every_variable_satpy_requires(fci_slot):
    paths = fci_slot["paths"]
    assert len(paths) == P.N_CHUNKS
    for chunk, path in enumerate(sorted(paths, key=lambda p: p.name[-7:]), start=1):
        product, info = parse_imager_file(path.name)
        assert product.name == "fci-l1c" and info.unit == chunk and info.band is None and info.full_disk
        assert info.slot_start == FCI_SLOT and info.platform == "meteosat12"
        assert path.relative_to(fci_slot["root"]).as_posix().startswith("meteosat12/FCI-L1C-FDHSI-FD/2025/03/01/1200/")
    name = _chunk_of(paths, 1).name
    assert name.startswith("W_XX-EUMETSAT-Darmstadt,IMG+SAT,MTI1+FCI-1C-RRAD-FDHSI-FD--CHK-BODY---NC4E_C_EUMT_")
    assert "_IDPFI_OPE_20250301120008_" in name and name.endswith("_N__O_0073_0001.nc")

    # satpy's own list of what a chunk must hold
    import satpy

    spec = yaml.load((Path(satpy.__file__).parent / "etc/readers/fci_l1c_nc.yaml").read_text(),
                     Loader=yaml.BaseLoader)["file_types"]["fci_l1c_fdhsi"]
    required = [v.format(channel_name=c) if "{" in v else v for v in spec["required_netcdf_variables"]
                for c in (spec["variable_name_replacements"]["channel_name"] if "{" in v else [None])]
    assert len(required) > 200
    south, north = _chunk_of(paths, 1), _chunk_of(paths, 40)
    with h5py.File(south) as f:
        missing = [v for v in required if not v.startswith("attr/") and v not in f]
        assert not missing
        assert f.attrs["platform"] == "MTI1"
        er = f["data/ir_105/measured/effective_radiance"]
        assert er.id.get_create_plist().get_filter(0)[0] == FCIDECOMP_FILTER_ID  # JPEG-LS compressed, as NC4E
        assert f["time"].attrs["units"] == P.TIME_UNITS
        assert int(f["data/ir_105/measured/start_position_row"][()]) == 1  # chunk 1 is the southern edge
        assert int(f["data/vis_06/measured/end_position_row"][()]) == 2 * int(f["data/ir_105/measured/end_position_row"][()])
    n = fci_slot["geometry"].shape[0]
    layout = read_layout(north, "ir_105")
    assert layout.end_row == n and layout.row0 == 0  # chunk 40 holds the northernmost rows, north-up row 0
    assert read_layout(south, "ir_105").row0 + read_layout(south, "ir_105").n_rows == n


# --- values ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("channel", list(FCI_SPEC))
def test_satpy_returns_the_written_values_within_half_a_count(fci_slot, satpy_fci, channel):
    values, attrs = satpy_fci[channel]
    geometry = fci_slot["geometry"]
    res = P.CHANNELS[channel].resolution_km
    assert values.shape == geometry.native_shape(res)
    truth = np.where(geometry.disk_mask(res), _native(channel, fci_slot["truth"][channel]), np.nan)  # space at its own grid
    ok = np.isfinite(truth)
    np.testing.assert_array_equal(np.isfinite(values), ok)
    tol = _half_count(fci_slot["paths"][0], channel, truth[ok])
    err = np.abs(values[ok] - truth[ok])
    assert np.all(err <= tol), float(np.max(err - tol))
    if channel == "ir_38":  # the warm counts were exercised
        assert np.nanmax(values) > 380.0
    assert attrs["platform_name"] == "Meteosat-12"


@pytest.mark.parametrize("channel", list(FCI_SPEC))
def test_our_reader_equals_satpy(fci_slot, satpy_fci, channel):
    values, _ = satpy_fci[channel]
    mine = np.full_like(values, np.nan)
    for path in fci_slot["paths"]:
        image = read_channel(path, channel)
        mine[image.layout.row0:image.layout.row0 + image.layout.n_rows] = image.values
    np.testing.assert_array_equal(np.isnan(mine), np.isnan(values))
    assert np.nanmax(np.abs(mine - values)) <= 1e-4 * np.nanmax(np.abs(values))
    # the common schema: finer channels averaged onto the 2 km grid
    ds = read_imager(fci_slot["paths"], bands=[channel], rows=(250, 300))
    f = P.CHANNELS[channel].factor
    expected = values[250 * f:300 * f].reshape(50, f, -1, f).mean(axis=(1, 3))
    np.testing.assert_allclose(ds[channel].values, expected, rtol=1e-5, atol=1e-4)


# --- times -----------------------------------------------------------------------------------------------
def _satpy_times(path: Path, seconds: np.ndarray) -> np.ndarray:
    """satpy's ``<channel>_time`` (seconds) as datetime64, with the epoch the file's units give (via cftime)."""
    with netCDF4.Dataset(path) as ds:
        units = ds["time"].units
    ok = np.isfinite(seconds)
    uniq, inverse = np.unique(seconds[ok], return_inverse=True)
    dates = netCDF4.num2date(uniq, units, only_use_cftime_datetimes=False, only_use_python_datetimes=True)
    as64 = np.array([np.datetime64(d.replace(tzinfo=None), "ns") for d in dates])
    out = np.full(seconds.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
    out[ok] = as64[inverse]
    return out


@pytest.mark.parametrize("channel", ["ir_105", "vis_06"])
def test_satpy_returns_the_written_pixel_times_within_1ms(fci_slot, satpy_fci, channel):
    seconds, _ = satpy_fci[f"{channel}_time"]
    got = _satpy_times(fci_slot["paths"][0], seconds)
    written = _native(channel, synthetic_pixel_times(fci_slot["geometry"], FCI_SLOT))
    assert got.shape == written.shape and not np.isnat(got).any()
    assert np.abs(got - written).max() <= MS
    # per pixel, not per line: the pixels of one line were seen several seconds apart
    spread = (got.max(axis=1) - got.min(axis=1)) / np.timedelta64(1, "s")
    assert np.median(spread) > 5.0
    # and south to north: the southern rows first
    assert got[-1].min() < got[got.shape[0] // 2].min() < got[0].min()


def test_our_pixel_times_equal_satpy_and_drive_times_at(fci_slot, satpy_fci):
    seconds, _ = satpy_fci["ir_105_time"]
    satpy_times = _satpy_times(fci_slot["paths"][0], seconds)
    mine = np.full(satpy_times.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
    for path in fci_slot["paths"]:
        layout, times = read_pixel_times(path, "ir_105")
        mine[layout.row0:layout.row0 + layout.n_rows] = times
    assert np.abs(mine - satpy_times).max() <= MS
    reader = open_slot(fci_slot["paths"], ("ir_105", "vis_06"))
    rng = np.random.default_rng(3)
    rows, cols = rng.integers(0, mine.shape[0], 500), rng.integers(0, mine.shape[1], 500)
    np.testing.assert_array_equal(reader.times_at(rows, cols), mine[rows, cols])
    ds = read_imager(fci_slot["paths"], bands=["ir_105"], rows=(100, 120))
    np.testing.assert_array_equal(ds["pixel_time"].values, mine[100:120])
    line_mean = (mine[100:120] - mine[100:120, :1]).astype(np.int64).mean(axis=1)
    assert np.abs((ds["line_time"].values - mine[100:120, 0]).astype(np.int64) - line_mean).max() <= 1


# --- geometry --------------------------------------------------------------------------------------------
def _distance_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    from pyproj import Geod

    return np.asarray(Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)[2])


@pytest.mark.parametrize("channel", ["ir_105", "vis_06"])
def test_satpy_geometry_is_the_writers(fci_slot, satpy_fci, channel):
    area = satpy_fci[channel][1]["area"]
    mine = fci_slot["geometry"].area(P.CHANNELS[channel].resolution_km)
    assert area.shape == mine.shape
    rows, cols = np.mgrid[3:area.shape[0]:37, 5:area.shape[1]:41]
    lon_s, lat_s = area.get_lonlat_from_array_coordinates(cols.ravel(), rows.ravel())
    lon_m, lat_m = mine.get_lonlat_from_array_coordinates(cols.ravel(), rows.ravel())
    ok = np.isfinite(lon_s) & np.isfinite(lon_m)
    np.testing.assert_array_equal(np.isfinite(lon_s), np.isfinite(lon_m))
    assert ok.sum() > 100
    assert _distance_m(lon_s[ok], lat_s[ok], lon_m[ok], lat_m[ok]).max() < 10.0
    # north-up, west-left: row 0 is the northern edge, column 0 the western one
    lon, lat = mine.get_lonlat_from_array_coordinates(np.array([area.shape[1] // 2, 40]),
                                                      np.array([area.shape[0] // 8, area.shape[0] // 2]))
    assert lat[0] > 40 and lon[1] < -40


def test_full_size_chunk_geometry_and_times(tmp_path):
    """The real 2 km grid (5568 rows): the equatorial chunk 20 read by satpy lands where the geometry says."""
    g = geometry_for("meteosat12", 1)
    assert g.shape == (5568, 5568) and g.n_units == 40 and g.native_shape(1.0) == (11136, 11136)
    r0, r1 = P.chunk_grid_rows(g, 20)
    assert (r0, r1) == (2784, 2924)  # 140 rows ending at the equator (rows counted from the south: 2645..2784)
    values = np.full(g.shape, np.nan, np.float32)
    values[r0:r1] = np.where(g.disk_mask(rows=slice(r0, r1)), smooth_field((r1 - r0, g.shape[1]), 200, 300, 2), np.nan)
    (path,) = write_fci_slot(tmp_path, platform="meteosat12", slot_start=FCI_SLOT + timedelta(minutes=10),
                             bands={"ir_105": values}, geometry=g, chunks=[20])
    got = _satpy_load([path], ["ir_105"])  # satpy pads the 39 missing chunks: a full disk comes back
    sat_values, attrs = got["ir_105"]
    area = attrs["area"]
    assert area.shape == g.shape
    np.testing.assert_allclose(area.area_extent, g.area().area_extent, atol=1e-3)
    cols = np.arange(7, g.shape[1], 97)
    for row in (r0, r1 - 1):
        lon_s, lat_s = area.get_lonlat_from_array_coordinates(cols, np.full(cols.shape, row))
        lon_m, lat_m = g.area().get_lonlat_from_array_coordinates(cols, np.full(cols.shape, row))
        ok = np.isfinite(lon_s)
        assert ok.sum() > 40 and _distance_m(lon_s[ok], lat_s[ok], lon_m[ok], lat_m[ok]).max() < 10.0
    image = read_channel(path, "ir_105", with_times=True)
    assert image.layout.row0 == r0 and image.layout.reduction == 1
    np.testing.assert_array_equal(np.isnan(image.values), np.isnan(sat_values[r0:r1]))
    assert np.nanmax(np.abs(image.values - sat_values[r0:r1])) < 1e-3
    assert np.isnan(sat_values[:r0]).all() and np.isnan(sat_values[r1:]).all()
    ok = np.isfinite(values[r0:r1])
    assert np.nanmax(np.abs(image.values[ok] - values[r0:r1][ok])) < 0.1
    written = synthetic_pixel_times(g, FCI_SLOT + timedelta(minutes=10))[r0:r1]
    assert np.abs(image.pixel_times - written).max() <= MS


# --- errors and inspect ------------------------------------------------------------------------------------
def test_damaged_chunks_are_data_errors_naming_the_file(fci_slot, tmp_path):
    src = _chunk_of(fci_slot["paths"], 21)
    cut = tmp_path / src.name
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 3])
    with pytest.raises(DataError, match="not a readable FCI L1c chunk") as exc:
        read_channel(cut, "ir_105")
    assert str(cut) in str(exc.value)
    gutted = tmp_path / "gutted" / src.name
    gutted.parent.mkdir()
    gutted.write_bytes(src.read_bytes())
    with h5py.File(gutted, "r+") as f:
        del f["data/ir_105/measured/index_map"]
    with pytest.raises(DataError, match="data/ir_105/measured/index_map is missing"):
        read_pixel_times(gutted, "ir_105")
    with pytest.raises(DataError, match="not an FCI channel"):
        read_channel(src, "B13")


def test_inspect_summarises_a_chunk(fci_slot, satpy_fci):
    path = _chunk_of(fci_slot["paths"], 20)
    s = imager_summary(path)
    assert s["platform"] == "meteosat12" and s["band"] == "ir_105" and s["chunk"] == 20 and s["units"] == "K"
    assert s["repeat_cycle"] == 73 and s["rows_from_south"][0] > 1
    layout = read_layout(path, "ir_105")
    rows = slice(layout.row0, layout.row0 + layout.n_rows)
    assert s["mean"] == pytest.approx(float(np.nanmean(satpy_fci["ir_105"][0][rows])), rel=1e-6)
    assert s["time_start"].startswith("2025-03-01T12:0") and s["time_start"] < s["time_end"]
