"""MSG SEVIRI native: product facts, and physical values -> synthetic .nat -> satpy and cloudbench's reader.

The round trips are the acceptance checks of the format: satpy's ``seviri_l1b_native`` reader, with
every warning an error, must give back the written calibrated values within half a count, the
written per-line times within 1 ms, and the written geometry (a pixel's lon/lat within 10 m). Two
eras are written: 2008 (Meteosat-9, Earth model 1, the half-pixel georeference offset) and 2020
(Meteosat-11, corrected), on reduced disks with all 11 channels, and one full-size disk.
"""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pyproj import Geod
from satpy import Scene

from cloudbench.errors import DataError
from cloudbench.products import seviri_native as P
from cloudbench.readers.imager import read_imager
from cloudbench.readers.seviri_native import read_nat_header, read_seviri
from cloudbench.sensors.registry import imager_for_position, parse_imager_file
from cloudbench.synthetic.render import satellite_zenith
from cloudbench.synthetic.seviri_native import (
    channel_calibration,
    exact_counts,
    nominal_line_times,
    write_seviri_slot,
)

from .conftest import smooth_field

SPEC = {"VIS006": (0.0, 105.0), "VIS008": (1.0, 100.0), "IR_016": (0.0, 90.0), "IR_039": (215.0, 330.0),
        "WV_062": (205.0, 250.0), "WV_073": (210.0, 265.0), "IR_087": (195.0, 310.0), "IR_097": (200.0, 290.0),
        "IR_108": (190.0, 318.0), "IR_120": (190.0, 315.0), "IR_134": (200.0, 290.0)}
ERAS = {"2008": ("meteosat9", datetime(2008, 6, 1, 12, 0, tzinfo=UTC)),
        "2020": ("meteosat11", datetime(2020, 3, 2, 12, 30, tzinfo=UTC))}
GEOD = Geod(ellps="WGS84")


def write_slot(root, platform: str, slot: datetime, reduction: int, spec: dict, seed: int = 0) -> dict:
    product = imager_for_position("seviri")
    geometry = product.geometry_at(platform, slot, reduction)
    mask = geometry.disk_mask()
    truth = {band: np.where(mask, smooth_field(geometry.shape, lo, hi, seed + i), np.nan).astype(np.float32)
             for i, (band, (lo, hi)) in enumerate(spec.items())}
    (path,) = write_seviri_slot(root, platform=platform, slot_start=slot, bands=truth, geometry=geometry)
    return {"path": path, "geometry": geometry, "truth": truth, "slot": slot, "platform": platform,
            "times": nominal_line_times(geometry.shape[0], slot)}


@pytest.fixture(scope="module", params=list(ERAS))
def reduced(request, tmp_path_factory):
    platform, slot = ERAS[request.param]
    return write_slot(tmp_path_factory.mktemp(f"seviri_{request.param}"), platform, slot, 8, SPEC)


@pytest.fixture(scope="module")
def full_size(tmp_path_factory):
    platform, slot = ERAS["2020"]
    return write_slot(tmp_path_factory.mktemp("seviri_full"), platform, slot, 1,
                      {"VIS006": SPEC["VIS006"], "IR_108": SPEC["IR_108"]})


def satpy_scene(path, channels):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the file must satisfy satpy without special cases
        scn = Scene(filenames=[str(path)], reader="seviri_l1b_native")
        scn.load(list(channels), upper_right_corner="NE")  # north-up, west-left: cloudbench's orientation
        return {c: (scn[c].values, scn[c].coords["acq_time"].values, scn[c].attrs["area"]) for c in channels}


# --- product facts --------------------------------------------------------------------------------------
def test_name_round_trip_slot_and_archive_folder():
    end = datetime(2021, 3, 2, 12, 42, 44, 185000, tzinfo=UTC)
    name = P.build_filename("meteosat11", end)
    assert name == "MSG4-SEVI-MSG15-0100-NA-20210302124244.185000000Z-NA.nat"
    info = P.parse_filename(name)
    assert (info.platform, info.end) == ("meteosat11", end)
    product, f = parse_imager_file(name)
    assert product.name == "seviri-native" and f.band is None and f.unit == 0 and f.full_disk
    assert f.slot_start == datetime(2021, 3, 2, 12, 30, tzinfo=UTC)  # the stamp is the scan END
    assert P.parse_filename("MSG4-SEVI-MSG15-0100-NA-20210302124244.185000000Z-20210302125010-1234567.nat").end == end
    assert P.parse_filename("MSG5-SEVI-MSG15-0100-NA-20210302124244.185000000Z-NA.nat") is None
    assert product.slot_dirs("meteosat11", f.slot_start) == ["meteosat11/HRSEVIRI/2021/03/02/1230"]
    # the same satellite over the Indian Ocean files into that collection's folder
    iodc = datetime(2020, 5, 1, 6, 0, tzinfo=UTC)
    assert product.slot_dirs("meteosat8", iodc) == ["meteosat8/HRSEVIRI-IODC/2020/05/01/0600"]
    assert product.slot_dirs("meteosat8", datetime(2015, 1, 1, tzinfo=UTC)) == []  # no service then


def test_rapid_scan_files_are_sub_area_scans():
    end = datetime(2015, 7, 1, 12, 9, 14, 0, tzinfo=UTC)  # Meteosat-9 at 9.5E, a 5-minute scan
    product, f = parse_imager_file(P.build_filename("meteosat9", end))
    assert not f.full_disk and f.slot_start == datetime(2015, 7, 1, 12, 5, tzinfo=UTC)
    assert "sub-area" in product.skip_reason(f)


def test_station_table_puts_each_satellite_at_one_place_at_a_time():
    for platform in P.SATELLITE_IDS:
        spans = sorted((s.start, s.end or datetime(2100, 1, 1, tzinfo=UTC)) for s in P.STATIONS if s.platform == platform)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), platform
    for position in (P.POSITION_0DEG, P.POSITION_IODC, P.POSITION_RSS):
        stations = sorted(P.stations_of(position), key=lambda s: s.start)
        assert all(a.end == b.start for a, b in zip(stations, stations[1:], strict=False)), position  # no gap
    assert P.station_at("meteosat9", datetime(2008, 6, 1, tzinfo=UTC)).lon == 0.0
    assert P.station_at("meteosat8", datetime(2020, 1, 1, tzinfo=UTC)).lon == 41.5
    assert P.station_at("meteosat9", datetime(2023, 1, 1, tzinfo=UTC)).lon == 45.5


def test_record_layouts_have_the_format_sizes():
    assert P.HEADER_WITH_ARCHIVE.itemsize == 450_400 and P.HEADER_WITHOUT_ARCHIVE.itemsize == 445_286
    assert P.TRAILER.itemsize == 380_363
    assert P.LINE_PREFIX.itemsize == 65 and P.LINE_PREFIX.fields["acq_time"][1] == 56
    # a full disk with all 12 channels: about 259 MiB
    lines = P.line_dtype(P.CHANNEL_ORDER, P.VISIR_COLUMNS, P.HRV_COLUMNS // 2)
    total = P.HEADER_WITH_ARCHIVE.itemsize + lines.itemsize * P.VISIR_LINES + P.TRAILER.itemsize
    assert 258 < total / 2**20 < 260


def test_ten_bit_packing_matches_satpy_unpacking():
    from satpy.readers.core.seviri import dec10216

    counts = np.random.default_rng(1).integers(0, 1024, (5, 64)).astype(np.uint16)
    packed = P.pack10(counts)
    assert packed.shape == (5, 80)
    assert np.array_equal(np.asarray(dec10216(packed.ravel())).reshape(5, 64), counts)
    assert np.array_equal(P.unpack10(packed), counts)


def test_geometry_by_date_and_reduced_grids():
    product = imager_for_position("seviri")
    old = product.geometry_at("meteosat9", datetime(2008, 6, 1, tzinfo=UTC))
    new = product.geometry_at("meteosat11", datetime(2020, 6, 1, tzinfo=UTC))
    iodc = product.geometry_at("meteosat9", datetime(2023, 6, 1, tzinfo=UTC))
    assert old.shape == new.shape == (3712, 3712) and old.grid_km == 3.0
    step = 3000.403165817
    assert old.area_extent() == pytest.approx((-1856 * step, -1856 * step, 1856 * step, 1856 * step), abs=0.5)
    assert new.area_extent() == pytest.approx((-1856.5 * step, -1855.5 * step, 1855.5 * step, 1856.5 * step), abs=0.5)
    assert P.has_georef_offset(old) and not P.has_georef_offset(new)
    assert iodc.sub_lon == iodc.proj_lon == 45.5 and new.h == 35785831.0
    # the sub-satellite point: centre of pixel (1856, 1856) once corrected, a pixel corner before
    lon, lat = new.area().get_lonlat(1856, 1856)
    assert abs(lon) < 1e-9 and abs(lat) < 1e-9
    assert [P.grid_size(k) for k in (1, 8, 16, 29)] == [3712, 464, 232, 128]
    assert P.grid_size(10) % 4 == 0


def test_line_offsets_run_south_to_north():
    product = imager_for_position("seviri")
    g = product.geometry(P.default_station("meteosat11").platform, 8)
    off = product.line_offsets_s(g, datetime(2020, 1, 1, tzinfo=UTC))
    assert off[0] == pytest.approx(P.SCAN_END_S, abs=1) and off[-1] == pytest.approx(P.SCAN_START_S, abs=1)
    assert np.all(np.diff(off) < 0)


# --- round trips -------------------------------------------------------------------------------------------
def _check_values(values: np.ndarray, truth: np.ndarray, channel: str, sat: int, header) -> float:
    """Largest deviation in counts where the written value was not clipped; asserts half a count."""
    distance = P.sun_earth_distance_au(header.scan_start)
    cal = channel_calibration(channel, sat)
    written = exact_counts(truth, channel, sat, cal, distance)
    read = exact_counts(values, channel, sat, cal, distance)
    assert np.array_equal(np.isnan(values), np.isnan(truth)), channel
    inside = np.isfinite(written) & (written >= max(1, cal.lowest_count)) & (written <= P.COUNT_MAX)
    assert inside.mean() > 0.99 * np.isfinite(written).mean(), channel
    # what was read is a count exactly (the calibration inverts), and it is the written value's count
    assert np.nanmax(np.abs(read[inside] - np.round(read[inside]))) < 0.02, channel
    dev = float(np.max(np.abs(read[inside] - written[inside])))
    assert dev <= 0.5 + 0.02, (channel, dev)
    return dev


def test_satpy_returns_the_written_values_times_and_geometry(reduced):
    path, truth, geometry = reduced["path"], reduced["truth"], reduced["geometry"]
    header = read_nat_header(path)
    sat = P.SATELLITE_IDS[reduced["platform"]]
    assert header.channels == tuple(SPEC) and header.georef_offset == P.has_georef_offset(geometry)
    got = satpy_scene(path, SPEC)
    for channel in SPEC:
        values, acq, area = got[channel]
        _check_values(values, truth[channel], channel, sat, header)
        sees_earth = geometry.disk_mask().any(axis=1)
        assert np.isnat(acq[~sees_earth]).all() and not np.isnat(acq[sees_earth]).any()
        dt = np.abs((acq[sees_earth] - reduced["times"][sees_earth]).astype("timedelta64[ns]").astype(np.int64))
        assert dt.max() <= 1_000_000  # 1 ms
        assert area.shape == geometry.area().shape
    _check_geometry(got["IR_108"][2], geometry)


def _check_geometry(area, geometry, vza_max: float = 80.0, step: int = 1) -> None:
    """satpy's area against the writer's: pixel centres (every ``step``-th row and column) within 10 m."""
    from cloudbench.synthetic.scene import pixel_lonlat

    rows, cols = np.mgrid[0:geometry.shape[0]:step, 0:geometry.shape[1]:step]
    assert area.shape == geometry.area().shape
    lon, lat = pixel_lonlat(area, rows.ravel(), cols.ravel())
    glon, glat = pixel_lonlat(geometry.area(), rows.ravel(), cols.ravel())
    both = np.isfinite(lon) & np.isfinite(glon)
    assert np.array_equal(np.isfinite(lon), np.isfinite(glon))
    useful = both & (satellite_zenith(np.where(both, glon, 0), np.where(both, glat, 0), geometry.sub_lon) < vza_max)
    _, _, dist = GEOD.inv(glon[useful], glat[useful], lon[useful], lat[useful])
    assert useful.sum() > 0.5 * both.sum() and dist.max() < 10.0, dist.max()


def test_cloudbench_reader_equals_satpy(reduced):
    path = reduced["path"]
    image = read_seviri(path)
    got = satpy_scene(path, ["VIS006", "IR_039", "IR_108"])
    for channel, (values, acq, _) in got.items():
        np.testing.assert_array_equal(image.values[channel], values)
        np.testing.assert_array_equal(image.line_times, acq)  # every channel carries the same times here
    np.testing.assert_array_equal(image.line_times, got["IR_108"][1])
    # a band of rows: the same values and times as the whole read
    part = read_seviri(path, ["IR_108"], rows=(100, 140))
    assert part.row0 == 100
    np.testing.assert_array_equal(part.values["IR_108"], image.values["IR_108"][100:140])
    np.testing.assert_array_equal(part.line_times, image.line_times[100:140])


def test_read_imager_gives_the_common_schema(reduced):
    path, truth = reduced["path"], reduced["truth"]
    ds = read_imager([path], ["IR_108", "VIS006"], rows=(200, 260))
    assert ds.attrs["platform"] == reduced["platform"] and ds.attrs["sensor"] == "seviri"
    assert list(ds["y"].values[[0, -1]]) == [200, 259] and ds.sizes["x"] == truth["IR_108"].shape[1]
    np.testing.assert_array_equal(ds["line_time"].values, reduced["times"][200:260])
    sat = P.SATELLITE_IDS[reduced["platform"]]
    assert np.nanmax(np.abs(ds["IR_108"].values - truth["IR_108"][200:260])) < 0.6
    _check_values(ds["IR_108"].values, truth["IR_108"][200:260], "IR_108", sat, read_nat_header(path))


def test_full_size_disk_round_trip(full_size):
    path, truth, geometry = full_size["path"], full_size["truth"], full_size["geometry"]
    header = read_nat_header(path)
    assert header.full_disk and header.reduction == 1 and (header.n_lines, header.n_columns) == (3712, 3712)
    assert path.stat().st_size == (P.HEADER_WITH_ARCHIVE.itemsize + P.TRAILER.itemsize
                                   + P.line_dtype(("VIS006", "IR_108"), 3712).itemsize * 3712)
    got = satpy_scene(path, ["VIS006", "IR_108"])
    sat = P.SATELLITE_IDS[full_size["platform"]]
    for channel, (values, acq, _) in got.items():
        _check_values(values, truth[channel], channel, sat, header)
        sees_earth = geometry.disk_mask().any(axis=1)
        dt = (acq[sees_earth] - full_size["times"][sees_earth]).astype("timedelta64[ns]").astype(np.int64)
        assert np.abs(dt).max() <= 1_000_000
    _check_geometry(got["IR_108"][2], geometry, step=8)
    ours = read_seviri(path, ["IR_108"], rows=(1800, 1864))
    np.testing.assert_array_equal(ours.values["IR_108"], got["IR_108"][0][1800:1864])


def test_files_holding_hrv_are_read_past_its_records(reduced, tmp_path):
    """A file with HRV (three 1 km records after the VIS/IR records of every line) reads the same."""
    src = reduced["path"]
    header = read_nat_header(src)
    n = header.n_lines
    raw = np.fromfile(src, dtype=P.HEADER_WITH_ARCHIVE, count=1)
    raw["secondary"]["SelectedBandIDs"]["value"] = (P.selected_band_ids(P.CHANNEL_ORDER).ljust(49) + "\n").encode()
    lines_in = np.fromfile(src, dtype=header.line_dtype, count=n, offset=header.header_size)
    hrv_cols = int(bytes(raw["secondary"]["NumberColumnsHRV"]["value"][0]).decode().strip())
    out_type = P.line_dtype(P.CHANNEL_ORDER, n, hrv_cols)
    lines_out = np.zeros(n, dtype=out_type)
    lines_out["visir"] = lines_in["visir"]
    lines_out["hrv"]["prefix"]["chan_id"] = 12
    lines_out["hrv"]["data"] = 0xA5  # counts that must never leak into a VIS/IR channel
    trailer = np.fromfile(src, dtype=P.TRAILER, count=1, offset=header.header_size + header.data_size)
    dest = tmp_path / src.name
    dest.write_bytes(raw.tobytes() + lines_out.tobytes() + trailer.tobytes())
    with_hrv = read_nat_header(dest)
    assert with_hrv.channels[-1] == "HRV" and with_hrv.hrv_columns == hrv_cols
    got = satpy_scene(dest, ["IR_108", "VIS008"])
    ours = read_seviri(dest, ["IR_108", "VIS008"])
    before = read_seviri(src, ["IR_108", "VIS008"])
    for channel in ("IR_108", "VIS008"):
        np.testing.assert_array_equal(ours.values[channel], got[channel][0])
        np.testing.assert_array_equal(ours.values[channel], before.values[channel])


def test_truncated_and_foreign_files_are_data_errors(reduced, tmp_path):
    src = reduced["path"]
    cut = tmp_path / src.name
    cut.write_bytes(src.read_bytes()[: src.stat().st_size - 5000])
    with pytest.raises(DataError, match="5000 short"):
        read_nat_header(cut)
    tiny = tmp_path / ("x" + src.name[1:])
    tiny.write_bytes(b"FormatName                  : NATIVE" + b"\0" * 100)
    with pytest.raises(DataError, match="shorter than"):
        read_nat_header(tiny)
    product = imager_for_position("seviri")
    with pytest.raises(DataError, match="not HRV"):
        product.read_header(src, "HRV")
    renamed = tmp_path / P.build_filename("meteosat8", reduced["slot"] + timedelta(seconds=P.SCAN_END_S))
    renamed.write_bytes(src.read_bytes())
    with pytest.raises(DataError, match="header says"):
        product.read_header(renamed, "IR_108")


def test_inspect_summarises_a_native_file(reduced, capsys):
    from cloudbench.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["inspect", str(reduced["path"]), "--json"])
    assert exc.value.code == 0
    doc = json.loads(capsys.readouterr().out)
    truth = reduced["truth"]["IR_108"]
    assert doc["reader"] == "seviri-native" and doc["platform"] == reduced["platform"] and doc["band"] == "IR_108"
    assert doc["bands"] == list(SPEC) and doc["units"] == "K" and doc["shape"] == list(truth.shape)
    assert doc["georef_offset"] == (reduced["slot"].year < 2017)
    assert abs(doc["mean"] - float(np.nanmean(truth))) < 0.05 and doc["valid_pixels"] == int(np.isfinite(truth).sum())
    start = datetime.fromisoformat(doc["time_start"].replace("Z", "+00:00"))
    assert timedelta(0) < start - reduced["slot"] < timedelta(minutes=1)
