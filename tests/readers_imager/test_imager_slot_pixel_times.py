"""SlotAccess with per-pixel times: a product's ``pixel_times`` reach ``times_at`` pixel by pixel (unit test).

A stand-in product (two units of a small full disk, files that exist only by name) gives every pixel
its own time; SlotAccess must hand those to collocation, derive line times as row means, average them
onto the sample grid for a finer reference band, leave unread units at NaT, and keep the line-time
behaviour of products without pixel times unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import pytest

from cloudbench.products.geostationary import geometry_for
from cloudbench.readers.slot_access import SlotAccess, mean_pixel_times, row_means
from cloudbench.sensors.base import ImagerFile, ImagerProduct, UnitData, UnitHeader

SLOT = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
T0 = np.datetime64("2025-01-01T12:00", "ns")
GEOMETRY = replace(geometry_for("himawari8", 50), n_units=2)  # 110 x 110 on the 2 km grid, two units of 55 rows


@dataclass(frozen=True)
class _Band:
    name: str
    wavelength_um: float
    resolution_km: float
    kind: str = "ir"
    number: int = 1


def _time(rows: np.ndarray, cols: np.ndarray, factor: int) -> np.ndarray:
    """A native pixel's time: 2 s per 2 km row plus 100 ms per native column (a sweep along the line)."""
    return T0 + ((rows // factor) * 2_000_000_000 + cols * 100_000_000 // factor).astype("timedelta64[ns]")


class PixelTimed(ImagerProduct):
    name = "stand-in"
    sensor = "standin"
    description = "stand-in product"
    positions = {}
    sub_lon = {"himawari8": 140.7}
    bands = {"A": _Band("A", 10.0, 2.0), "F": _Band("F", 0.6, 1.0, "vis")}
    with_pixel_times = True

    def parse_filename(self, name):
        if not name.startswith("unit_"):
            return None
        return ImagerFile("himawari8", SLOT, None, int(name[5]))

    def slot_minutes(self, when):
        return 10

    def geometry(self, platform, reduction=1, **file_args):
        return GEOMETRY

    def units_for_rows(self, geometry, row0, row1):
        return {u for u in (1, 2) if max(row0, 55 * (u - 1)) < min(row1, 55 * u)}

    def line_offsets_s(self, geometry, slot_start):
        return np.arange(geometry.shape[0], dtype=float)

    def _rows(self, path, band):
        f = self.factor(band)
        unit = int(str(path)[-1])
        return (unit - 1) * 55 * f, 55 * f, 110 * f

    def read_header(self, path, band):
        row0, n, cols = self._rows(path, band)
        f = self.factor(band)
        lines = None if self.with_pixel_times else T0 + (np.arange(row0, row0 + n) // f * 2_000_000_000).astype(
            "timedelta64[ns]")
        return UnitHeader(row0=row0, n_rows=n, col0=0, n_cols=cols, reduction=50, line_times=lines)

    def decode(self, path, band, rows=None):
        row0, n, cols = self._rows(path, band)
        return UnitData(row0, 0, np.zeros((n, cols), np.float32))

    def pixel_times(self, path, band, header):
        if not self.with_pixel_times:
            return None
        r, c = np.mgrid[header.row0:header.row0 + header.n_rows, 0:header.n_cols]
        return _time(r, c, self.factor(band))

    def summary(self, path):
        return {}

    def layout(self, platform):
        raise NotImplementedError

    def slot_dirs(self, platform, slot_start):
        return []

    def public_store(self, options):
        raise NotImplementedError

    def synthetic_line_times(self, geometry, slot_start):
        raise NotImplementedError

    def write_synthetic_slot(self, root, **kwargs):
        raise NotImplementedError


def test_times_at_gives_each_pixel_its_own_time():
    reader = SlotAccess(PixelTimed(), ["unit_1", "unit_2"], ["A"])
    rows = np.array([3, 3, 60, 109])
    cols = np.array([0, 50, 7, 109])
    got = reader.times_at(rows, cols)
    np.testing.assert_array_equal(got, _time(rows, cols, 1))
    assert got[1] - got[0] == np.timedelta64(5, "s")  # same line, another time
    # line times are the rows' means
    lines = reader.line_times()
    expected = T0 + (np.arange(110) * 2_000_000_000 + 5_450_000_000).astype("timedelta64[ns]")
    np.testing.assert_array_equal(lines, expected)
    got_rows = reader.read_rows(50, 60)
    np.testing.assert_array_equal(got_rows["pixel_time"], _time(*np.mgrid[50:60, 0:110], 1))
    np.testing.assert_array_equal(reader.times_at(np.array([-1]), np.array([0])), np.array(["NaT"], "datetime64[ns]"))


def test_a_finer_reference_band_is_averaged_onto_the_sample_grid():
    reader = SlotAccess(PixelTimed(), ["unit_1", "unit_2"], ["F"])
    rows, cols = np.array([10, 70]), np.array([20, 99])
    # the 2 x 2 native pixels of a 2 km pixel: columns 2c and 2c+1 at 50 ms per native column
    expected = _time(rows * 2, cols * 2, 2) + np.timedelta64(25, "ms")
    np.testing.assert_array_equal(reader.times_at(rows, cols), expected)


def test_a_missing_unit_leaves_its_pixels_unmatched():
    reader = SlotAccess(PixelTimed(), ["unit_1"], ["A"])
    got = reader.times_at(np.array([10, 80]), np.array([10, 10]))
    assert got[0] == _time(np.array([10]), np.array([10]), 1)[0] and np.isnat(got[1])


def test_products_without_pixel_times_keep_their_line_times():
    product = PixelTimed()
    product.with_pixel_times = False
    reader = SlotAccess(product, ["unit_1", "unit_2"], ["A"])
    rows = np.array([3, 3, 60])
    got = reader.times_at(rows, np.array([0, 50, 7]))
    np.testing.assert_array_equal(got, T0 + (rows * 2_000_000_000).astype("timedelta64[ns]"))
    assert "pixel_time" not in reader.read_rows(0, 5)
    assert reader.pixel_times(0, 5, 0, 5) is None


def test_mean_helpers_exact_to_the_nanosecond_and_nat_aware():
    base = np.datetime64(10**18, "ns")
    t = base + np.array([[0, 3, 5, 6], [1, 1, 9, 8]]).astype("timedelta64[ns]")
    ns = np.timedelta64(1, "ns")
    np.testing.assert_array_equal(mean_pixel_times(t, 2), np.array([[base + 1 * ns, base + 7 * ns]]))  # 1.25, 7
    np.testing.assert_array_equal(row_means(t), np.array([base + 4 * ns, base + 5 * ns]))  # 3.5, 4.75
    t[1, 3] = np.datetime64("NaT")
    assert np.isnat(mean_pixel_times(t, 2)[0, 1])
    assert row_means(t)[1] == base + 4 * ns  # (1 + 1 + 9) / 3 without the unknown pixel
    assert np.isnat(row_means(np.array([["NaT", "NaT"]], "datetime64[ns]"))[0])


@pytest.mark.parametrize("band", ["A", "F"])
def test_header_rows_place_the_blocks(band):
    reader = SlotAccess(PixelTimed(), ["unit_2"], [band])
    assert np.isnat(reader.line_times()[:55]).all() and not np.isnat(reader.line_times()[55:]).any()
