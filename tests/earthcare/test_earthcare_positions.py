"""A 2025 benchmark with EarthCARE labels builds end to end over each imager position of the EarthCARE
era: Himawari-9 (``himawari``), GOES-19 (``goes-east``, from 2025-04-04) and GOES-18 (``goes-west``).

Each one is the demo's chain without servers (:func:`cloudbench.demo.build_synthetic_benchmark`):
synthetic archive (one daytime EarthCARE pass a day over the position's demo region) -> ``collocate
--labels earthcare-ac-tc`` -> ``build-splits`` -> ``verify``, kept small: reduction 10, two IR bands,
three days. The platform comes from the registry's platform table by date, so the samples must name
the satellite that served the position on those days.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from cloudbench.demo import bands_near, build_synthetic_benchmark, first_day, run_command

LABELS = "earthcare-ac-tc"
# position -> (first day, the platform serving it then); None: the demo's own first day for the pair
POSITIONS = {
    "himawari": (None, "himawari9"),
    "goes-east": (date(2025, 6, 1), "goes19"),  # the demo's first month (February) is still GOES-16's
    "goes-west": (None, "goes18"),
}


@pytest.mark.slow
@pytest.mark.parametrize("position", list(POSITIONS))
def test_a_2025_benchmark_builds_over_each_position(position, tmp_path):
    first, platform = POSITIONS[position]
    start = first or first_day(position, LABELS)
    assert start.year == 2025
    dataset = build_synthetic_benchmark(tmp_path, days=3, bands=bands_near(position, (10.4, 11.2)), labels=LABELS,
                                        imager=position, reduction=10, seed=0, first_date=first)
    assert (dataset / "manifest.json").is_file()
    run_command(["verify", str(dataset)])  # raises (and fails the test) on any problem
    index = pd.read_parquet(dataset / "index.parquet")
    assert len(index) > 0
    assert set(index["platform"]) == {platform}, index["platform"].value_counts()
    assert set(index["label_product"]) == {LABELS}
    assert {d[:4] for d in index["date"]} == {"2025"} and min(index["date"]) >= start.isoformat()
    assert set(index["split"]) >= {"train", "val", "test"}
    counts = index[["count_clear", "count_ice", "count_water"]].sum()
    assert (counts > 0).all(), counts  # the labels hold clear sky and both pure phases


def test_goes_east_first_day_would_be_goes16_and_a_wrong_first_day_is_refused():
    """Without --first-day the goes-east demo starts in February 2025, under GOES-16; a first day before
    EarthCARE's public data is refused naming the day to start from."""
    from cloudbench.demo import DemoSettings
    from cloudbench.errors import UserError
    from cloudbench.sensors.registry import platforms_for
    from cloudbench.synthetic.archive import aware_utc

    start = first_day("goes-east", LABELS)
    assert platforms_for("goes-east", aware_utc(start.isoformat()))[0] == "goes16"
    assert platforms_for("goes-east", aware_utc("2025-06-01"))[0] == "goes19"
    with pytest.raises(UserError, match="do not both fly") as err:
        DemoSettings(labels=LABELS, imager="goes-east", days=3, first_date=date(2024, 6, 1))
    assert str(start) in err.value.fix
