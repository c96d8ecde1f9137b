from datetime import UTC, datetime

import numpy as np
import pytest

from cloudbench import config


def test_default_grid_is_cloudsat_spacing():
    g = config.DEFAULT_GRID
    assert g.n == 80
    assert np.isclose(g.edges_km[-1], 19.2)
    assert np.allclose(np.diff(g.edges_km), 0.24)
    assert np.isclose(g.centres_km[0], 0.12)


def test_grid_parse_and_errors():
    g = config.HeightGrid.parse("0:12:0.5")
    assert g.n == 24
    with pytest.raises(ValueError):
        config.HeightGrid.parse("0:12")
    with pytest.raises(ValueError):
        config.HeightGrid.parse("5:1:0.5")


def test_region_presets_and_box():
    paper = config.parse_region("paper")
    assert paper.bbox == (100.0, -60.0, 160.0, 60.0) and paper.imager == "himawari"
    box = config.parse_region("10,-5,20,5")
    assert box.contains(np.array([15.0, 25.0]), np.array([0.0, 0.0])).tolist() == [True, False]
    wrap = config.Region(170, -10, -170, 10)
    assert wrap.contains(np.array([175.0, -175.0, 0.0]), np.zeros(3)).tolist() == [True, True, False]
    with pytest.raises(ValueError):
        config.parse_region("nowhere")


def test_platform_by_date_lists_primary_first_and_keeps_others():
    when = datetime(2018, 10, 1, tzinfo=UTC)
    from cloudbench.sensors.registry import platforms_for

    assert platforms_for("himawari", when) == ["himawari8", "himawari9"]
    later = datetime(2023, 6, 1, tzinfo=UTC)
    assert platforms_for("himawari", later)[0] == "himawari9"
    assert platforms_for("goes-east", datetime(2025, 5, 1, tzinfo=UTC))[0] == "goes19"
