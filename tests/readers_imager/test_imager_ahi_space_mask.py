"""The space mask of an HSD segment, found line by line, equals the limb test on every pixel.

The reader settles each line's two limb columns with the exact test instead of testing all pixels
(a second per 0.5 km segment); this compares the two on every segment of real full-disk geometry
at each resolution, real and rounded projection parameters, and reduced disks.
"""

from __future__ import annotations

import numpy as np
import pytest

from cloudbench.products import ahi_hsd as P
from cloudbench.readers.ahi_hsd import _limb_terms, _mask_space, _space

# Himawari-8 block 3 values (WGS84 radii in km, satellite distance from the Earth's centre)
REQ, RPOL, DIST = 6378.137, 6356.7523, 42164.0


def _params(resolution_km: float, reduction: int, segment: int, n_segments: int = 10):
    n = int(round(5500 * 2.0 / resolution_km)) // reduction  # 5500 columns at 2 km, 22000 at 0.5 km
    proj = P.hsd_projection(n, resolution_km, reduction)
    lines = n // n_segments
    return (proj["cfac"], proj["lfac"], float(np.float32(proj["coff"])), float(np.float32(proj["loff"])),
            REQ, RPOL, DIST, (segment - 1) * lines, lines, n)


def _exact(params) -> np.ndarray:
    xx, yy = _limb_terms(*params)
    return xx[None, :] + yy[:, None] > 1


def _header(params) -> dict:
    cfac, lfac, coff, loff, a, b, d, first, n_lines, n_cols = params
    return {"projection": {"cfac": cfac, "lfac": lfac, "coff": coff, "loff": loff, "earth_equatorial_radius": a,
                           "earth_polar_radius": b, "distance_from_earth_centre": d},
            "first_line": first, "n_lines": n_lines, "n_columns": n_cols}


@pytest.mark.parametrize("resolution_km, reduction", [(2.0, 1), (1.0, 1), (2.0, 10), (1.0, 10), (0.5, 10), (2.0, 7)])
def test_line_ends_equal_the_test_on_every_pixel(resolution_km, reduction):
    for segment in range(1, 11):
        params = _params(resolution_km, reduction, segment)
        space = _space(_header(params))
        np.testing.assert_array_equal(space, _exact(params), err_msg=f"segment {segment}")


@pytest.mark.slow
def test_line_ends_at_half_km_full_size():
    for segment in (1, 5, 10):
        params = _params(0.5, 1, segment)
        np.testing.assert_array_equal(_space(_header(params)), _exact(params), err_msg=f"segment {segment}")


def test_odd_centres_and_lines_without_earth():
    # a centre off the grid's middle and a segment entirely beyond the pole
    cfac, lfac, coff, loff, a, b, d, first, n_lines, n_cols = _params(2.0, 10, 1)
    for params in [(cfac, lfac, coff + 37.25, loff - 11.5, a, b, d, first, n_lines, n_cols),
                   (cfac, lfac, coff, loff, a, b, d, -200, 60, n_cols)]:
        space = _space(_header(params))
        np.testing.assert_array_equal(space, _exact(params))
    assert _space(_header((cfac, lfac, coff, loff, a, b, d, -200, 60, n_cols)))[:10].all()


def test_masking_writes_nan_exactly_on_space():
    params = _params(2.0, 10, 3)
    values = np.arange(params[8] * params[9], dtype=np.float32).reshape(params[8], params[9])
    _mask_space(values, _header(params))
    np.testing.assert_array_equal(np.isnan(values), _exact(params))
