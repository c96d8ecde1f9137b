"""Scene -> ARCHIVE files -> real readers gives back the scene's truth."""

from datetime import UTC, datetime

import numpy as np
import pytest

from cloudbench.config import CLEAR, DEFAULT_GRID, ICE, MIXED, UNLABELED, WATER, Region
from cloudbench.products import ahi_hsd, calipso_vfm, cloudsat_cldclass_lidar
from cloudbench.synthetic.archive import write_archive
from cloudbench.synthetic.parallax import great_circle_km
from cloudbench.synthetic.scene import rasterise_layers

REGION = Region(120, -10, 150, 10)
BANDS = ["B05", "B11", "B13", "B14", "B15"]


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    return write_archive(
        root, start="2018-10-01T03:30", end="2018-10-01T05:00", region=REGION, imager="himawari",
        bands=BANDS, reduction=10, seed=7, max_dt_s=300,
    )


def test_layout_and_names_are_the_archive_s(archive):
    files = archive.files
    assert len(files["vfm"]) == 1 and len(files["cldclass-lidar"]) == 1
    vfm = files["vfm"][0]
    info = calipso_vfm.parse_filename(vfm.name)
    assert info is not None and info.day_night == "D"
    assert vfm.relative_to(archive.root).as_posix() == calipso_vfm.archive_relpath(vfm.name)
    cs = files["cldclass-lidar"][0]
    cs_info = cloudsat_cldclass_lidar.parse_filename(cs.name)
    assert cs_info is not None and cs_info.granule == archive.granule(cs).granule.orbit
    assert cs.relative_to(archive.root).as_posix().startswith("cloudsat/2B-CLDCLASS-LIDAR.P1_R05/2018/274/")
    assert 1 <= len(archive.slots) <= 3
    for slot in archive.slots:
        assert len(slot.paths) == len(BANDS) * archive.geometry.n_units
        for p in slot.paths:
            name = ahi_hsd.parse_filename(p.name)
            assert name is not None and name.slot_start == slot.slot_start and name.platform == "himawari8"
            assert p.relative_to(archive.root).as_posix().startswith("himawari8/AHI-L1b-FLDK/2018/10/01/")
    # no temporary files are left behind
    assert not [p for p in archive.root.rglob("*") if p.is_file() and (p.name.startswith(".") or p.suffix == ".part")]


def test_tracks_cross_the_region_and_only_near_slots_were_written(archive):
    for g in archive.granules:
        assert REGION.contains(g.layers.longitude, g.layers.latitude).mean() > 0.95
        pass_start, pass_end = g.layers.time[0], g.layers.time[-1]
        for s in archive.slots:
            s64 = np.datetime64(s.slot_start.replace(tzinfo=None), "ns")
            assert s64 - np.timedelta64(300 + 600, "s") <= pass_end and pass_start <= s64 + np.timedelta64(600 + 300, "s")


def test_cldclass_round_trip_gives_back_the_scene_truth(archive):
    from cloudbench.readers.cloudsat_cldclass_lidar import read_cldclass_lidar

    path = archive.files["cldclass-lidar"][0]
    truth = archive.granule(path).layers
    ds = read_cldclass_lidar(path, DEFAULT_GRID)
    assert ds.sizes["profile"] == truth.n
    dt = np.abs((ds["time"].values - truth.time).astype(np.int64))
    assert dt.max() < 1_000_000  # 1 ms
    assert great_circle_km(ds["longitude"].values, ds["latitude"].values, truth.longitude, truth.latitude).max() < 0.01
    # the scene asked independently at the positions and times the reader gives back
    expected = archive.scene.truth_columns(ds["longitude"].values, ds["latitude"].values, ds["time"].values, DEFAULT_GRID)
    got = ds["phase"].values
    assert (got == expected).mean() > 0.97
    cloudy = np.isin(expected, (ICE, MIXED, WATER))
    assert cloudy.sum() > 1000, "the pass should meet clouds"
    assert (got[cloudy] == expected[cloudy]).mean() > 0.95
    assert set(np.unique(expected[cloudy])) >= {ICE, WATER}
    assert (rasterise_layers(truth, DEFAULT_GRID) == expected).mean() > 0.995  # float32 positions in the file


def test_vfm_round_trip_geolocation_times_and_phase(archive):
    from cloudbench.readers.calipso_vfm import read_vfm, read_vfm_track

    path = archive.files["vfm"][0]
    truth = archive.granule(path).layers
    track = read_vfm_track(path)  # per record: the record centre is its 8th shot
    centre = truth.subset(slice(calipso_vfm.RECORD_CENTRE_SHOT, None, calipso_vfm.SHOTS_PER_RECORD))
    assert track.sizes["profile"] == centre.n == truth.n // 15
    dt = np.abs((track["time"].values - centre.time).astype(np.int64))
    assert dt.max() < 1_000_000
    assert great_circle_km(track["longitude"].values, track["latitude"].values, centre.longitude, centre.latitude).max() < 0.01
    ds = read_vfm(path, DEFAULT_GRID)
    assert ds.sizes["profile"] == truth.n  # per laser shot
    assert np.abs((ds["time"].values - truth.time).astype(np.int64)).max() < 1_000_000
    assert great_circle_km(ds["longitude"].values, ds["latitude"].values, truth.longitude, truth.latitude).max() < 0.01
    got = ds["phase"].values
    expected = rasterise_layers(truth, DEFAULT_GRID)
    lidar_cloud = np.isin(got, (ICE, WATER))
    assert lidar_cloud.sum() > 1000
    # what the lidar calls cloud is cloud in the scene, and its clear air is clear
    assert np.isin(expected[lidar_cloud], (ICE, MIXED, WATER)).mean() > 0.9
    assert (expected[got == CLEAR] == CLEAR).mean() > 0.9
    # water stays water (the lidar never reports mixed)
    both = lidar_cloud & (expected == WATER)
    assert (got[both] == WATER).mean() > 0.9
    # day/night flag follows the Sun: a 13:30 ascending pass over the tropics is daytime
    assert np.all(ds["day_night"].values == 0)


def test_imager_round_trip_values_and_line_times(archive):
    from cloudbench.readers.imager import read_imager

    slot = archive.slots[0]
    ds = read_imager(slot.paths, BANDS)
    assert ds.sizes["y"] == archive.geometry.shape[0]
    lt = ds["line_time"].values
    assert np.abs((lt - slot.rendered.line_times).astype(np.int64)).max() < 1_000_000
    for band in BANDS:
        got = ds[band].values
        want = slot.rendered.bands[band]
        both = np.isfinite(got) & np.isfinite(want)
        assert both.mean() > 0.7
        tol = 0.5 if ahi_hsd.BANDS[band].kind == "ir" else 0.2  # count quantisation (K or %)
        assert np.abs(got[both] - want[both]).max() < tol, band
    # clouds in the image where the scene has them: colder at 11 um
    cov = slot.rendered.view.covered.reshape(archive.geometry.shape)
    b14 = ds["B14"].values
    assert np.nanmean(b14[cov]) < np.nanmean(b14[~cov & np.isfinite(b14)]) - 5


def test_satpy_reads_the_synthetic_segments(archive):
    satpy = pytest.importorskip("satpy")
    slot = archive.slots[0]
    paths = [str(p) for p in slot.paths if "_B13_" in p.name]
    scn = satpy.Scene(filenames=paths, reader="ahi_hsd")
    scn.load(["B13"])
    values = scn["B13"].values
    want = slot.rendered.bands["B13"]
    both = np.isfinite(values) & np.isfinite(want)
    assert both.mean() > 0.7
    assert np.abs(values[both] - want[both]).max() < 0.5


def test_unlabeled_below_ground_in_truth(archive):
    for g in archive.granules:
        cols = rasterise_layers(g.layers, DEFAULT_GRID)
        high = g.layers.surface_km > 0.5
        if high.any():
            assert np.all(cols[high, 0] == UNLABELED)


def test_same_seed_same_files(tmp_path, archive):
    again = write_archive(
        tmp_path, start="2018-10-01T03:30", end="2018-10-01T05:00", region=REGION, imager="himawari",
        bands=["B13"], reduction=10, seed=7, max_dt_s=300, labels=("cldclass-lidar",),
    )
    a = archive.files["cldclass-lidar"][0]
    b = again.files["cldclass-lidar"][0]
    assert a.name == b.name
    assert np.array_equal(archive.granule(a).layers.top_km, again.granule(b).layers.top_km, equal_nan=True)
    s0 = again.slots[0]
    assert np.array_equal(s0.rendered.bands["B13"], archive.slot(s0.slot_start).rendered.bands["B13"], equal_nan=True)
    assert s0.slot_start.tzinfo is UTC or s0.slot_start.utcoffset().total_seconds() == 0
    assert isinstance(s0.slot_start, datetime)


@pytest.mark.parametrize(
    "kwargs, words",
    [({"imager": "meteosat"}, "imager"), ({"labels": ("radar",)}, "label"), ({"bands": ["C13"]}, "AHI"),
     ({"end": "2018-10-01T03:00"}, "after")],
)
def test_bad_arguments_say_what_is_wrong(tmp_path, kwargs, words):
    args = {"start": "2018-10-01T03:30", "end": "2018-10-01T05:00", "region": REGION, **kwargs}
    with pytest.raises(ValueError, match=words):
        write_archive(tmp_path, **args)
    assert not any(tmp_path.iterdir())
