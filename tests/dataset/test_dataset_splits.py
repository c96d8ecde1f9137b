from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from cloudbench.config import Region
from cloudbench.dataset.build import build_dataset
from cloudbench.dataset.pairs import open_pairs
from cloudbench.dataset.splits import (
    BLOCK_EPOCH,
    GUARD,
    SplitConfig,
    assign_splits,
    block_start,
    calendar_split,
    day_unit,
    guard_tradeoff,
    hash_day_splits,
    split_days,
)
from cloudbench.dataset.testing import write_fake_pairs
from cloudbench.errors import DataError, UserError


def _days(n, start="2018-10-01"):
    d0 = date.fromisoformat(start)
    return [(d0 + timedelta(days=i)).isoformat() for i in range(n)]


def test_day_hash_depends_on_seed_and_date_only():
    assert day_unit("2018-10-01", 0) == day_unit("2018-10-01", 0)
    assert day_unit("2018-10-01", 0) != day_unit("2018-10-01", 1)
    units = np.array([day_unit(d, 0) for d in _days(2000)])
    assert 0 <= units.min() and units.max() < 1
    # the hash behaves like a uniform draw: ratios hold on a long calendar
    cfg = SplitConfig(seed=0, block_days=1)
    shares = pd.Series([calendar_split(d, cfg) for d in _days(2000)]).value_counts(normalize=True)
    assert abs(shares["train"] - 0.7) < 0.04 and abs(shares["val"] - 0.15) < 0.03


@pytest.mark.parametrize("block_days", [1, 7])
def test_guard_demotes_train_days_next_to_evaluation_days(block_days):
    cfg = SplitConfig(seed=5, block_days=block_days)
    days = _days(120)
    got = hash_day_splits(days, cfg)
    raw = {d: calendar_split(d, cfg) for d in _days(122, "2018-09-30")}
    for d, split in got.items():
        prev_d, next_d = (date.fromisoformat(d) + timedelta(days=k) for k in (-1, 1))
        near_eval = raw[prev_d.isoformat()] in ("val", "test") or raw[next_d.isoformat()] in ("val", "test")
        if raw[d] == "train":
            assert split == (GUARD if near_eval else "train"), d
        else:
            assert split == raw[d]
    assert GUARD in got.values()


def test_adding_a_day_leaves_every_existing_day_in_its_split(tmp_path):
    old_days = _days(16)
    new_day = "2018-10-17"
    old = build_dataset(write_fake_pairs(tmp_path / "P1", days=old_days, samples_per_day=2), tmp_path / "D1",
                        seed=11, shard_size=4, summary=False, block_days=1)
    new = build_dataset(write_fake_pairs(tmp_path / "P2", days=old_days + [new_day], samples_per_day=2),
                        tmp_path / "D2", seed=11, shard_size=4, summary=False, block_days=1)
    assert old["config"]["split_rule"] == new["config"]["split_rule"] == "hash"
    assert {d: new["days"][d] for d in old["days"]} == old["days"]
    assert new_day in new["days"]
    # the samples of old days keep their split too
    i1 = pd.read_parquet(tmp_path / "D1" / "index.parquet").set_index("sample_id")["split"]
    i2 = pd.read_parquet(tmp_path / "D2" / "index.parquet").set_index("sample_id")["split"]
    assert (i2.loc[i1.index] == i1).all()


def _day_samples(days):
    """A sample table with one sample (own granule, own imager slot) per day: enough for assign_splits."""
    return pd.DataFrame({"granule_id": [f"g{d}" for d in days], "imager_files": [f"s{d}" for d in days],
                         "date": days, "lat": 0.0, "lon": 120.0})


@pytest.mark.parametrize("block_days", [1, 3, 7])
def test_blocks_keep_old_days_when_days_are_added(block_days):
    cfg = SplitConfig(seed=2, block_days=block_days)
    old_days = _days(90) + _days(30, "2019-02-01")  # a gap: the new days fill it and extend the end
    old = assign_splits(_day_samples(old_days), cfg, 16)
    new_days = old_days + _days(10, "2019-01-05") + _days(5, "2019-03-03")
    new = assign_splits(_day_samples(new_days), cfg, 16)
    assert old.rule == new.rule == "hash"
    assert {d: new.day_splits[d] for d in old_days} == old.day_splits


def test_blocks_are_counted_from_the_epoch_and_split_whole():
    assert block_start(BLOCK_EPOCH.isoformat(), 7) == "1970-01-01"
    assert block_start("1970-01-07", 7) == "1970-01-01" and block_start("1970-01-08", 7) == "1970-01-08"
    assert block_start("2018-10-05", 1) == "2018-10-05"
    cfg = SplitConfig(seed=5, block_days=7)
    days = _days(364)
    raw = {d: calendar_split(d, cfg) for d in days}
    by_block = pd.Series(raw).groupby([block_start(d, 7) for d in days]).nunique()
    assert (by_block == 1).all()  # every block is wholly train, val or test before the guard
    got = hash_day_splits(days, cfg)
    for d in (d for d, s in got.items() if s == GUARD):
        first, last = block_start(d, 7), (date.fromisoformat(block_start(d, 7)) + timedelta(days=6)).isoformat()
        assert d in (first, last), d  # only the edge days of a train block can be guard


def test_longer_blocks_lose_fewer_days_to_the_guard():
    days = _days(730)
    one = guard_tradeoff(days, SplitConfig(seed=1, block_days=1))
    seven = guard_tradeoff(days, SplitConfig(seed=1, block_days=7))
    assert one["guard_fraction_of_days"] == seven["guard_fraction_of_days_with_1_day_blocks"]
    # expected shares: 0.7 * (1 - 0.7**2) = 0.357 for days, 0.7 * 2 * 0.3 / 7 = 0.06 for weeks
    assert 0.30 < one["guard_fraction_of_days"] < 0.42
    assert 0.03 < seven["guard_fraction_of_days"] < 0.09


def test_block_days_must_be_a_positive_whole_number():
    for bad in (0, -7, 2.5):
        with pytest.raises(UserError, match="block-days"):
            SplitConfig(block_days=bad)


def test_granules_crossing_midnight_stay_in_one_split():
    samples = pd.DataFrame({
        "granule_id": ["g1", "g1", "g2", "g3"],
        "imager_files": ["a", "b", "b", "c"],
        "date": ["2018-10-01", "2018-10-02", "2018-10-02", "2018-10-02"],
    })  # fmt: skip
    # g1 crosses midnight; g2 shares g1's second imager slot; g3 is independent
    assert split_days(samples).tolist() == ["2018-10-01", "2018-10-01", "2018-10-01", "2018-10-02"]


def test_tiny_dataset_still_gets_train_val_and_test(tmp_path):
    pairs = open_pairs(write_fake_pairs(tmp_path / "P", days=["2018-10-01", "2018-10-05", "2018-10-09"], samples_per_day=2))
    result = assign_splits(pairs.samples, SplitConfig(seed=0), pairs.patch_size)
    assert result.rule == "chronological"
    assert result.day_splits == {"2018-10-01": "train", "2018-10-05": "val", "2018-10-09": "test"}


def test_too_few_days_is_a_data_error(tmp_path):
    pairs = open_pairs(write_fake_pairs(tmp_path / "P", days=2, samples_per_day=2))
    with pytest.raises(DataError, match="too few"):
        assign_splits(pairs.samples, SplitConfig(seed=0), pairs.patch_size)


def test_holdout_month_is_test_and_guarded(tmp_path):
    pairs = open_pairs(write_fake_pairs(tmp_path / "P", days=55, samples_per_day=1, start="2018-10-10"))
    result = assign_splits(pairs.samples, SplitConfig(seed=1, holdout_month="2018-11", block_days=1), pairs.patch_size)
    for day, split in result.day_splits.items():
        assert (split == "test") == day.startswith("2018-11"), day
    assert result.day_splits["2018-10-31"] != "train" and result.day_splits["2018-12-01"] != "train"
    with pytest.raises(UserError, match="selects no day"):
        assign_splits(pairs.samples, SplitConfig(holdout_month="2019-01"), pairs.patch_size)


def test_holdout_region_takes_every_sample_inside_it(tmp_path):
    pairs = open_pairs(write_fake_pairs(tmp_path / "P", days=20, samples_per_day=4))
    region = Region(100.0, -60.0, 160.0, 0.0)
    result = assign_splits(pairs.samples, SplitConfig(seed=2, holdout_region=region), pairs.patch_size)
    inside = region.contains(pairs.samples["lon"], pairs.samples["lat"])
    assert (result.sample_split[inside] == "test").all()
    assert set(result.sample_split[~inside]) <= {"train", "val", GUARD}
    with pytest.raises(UserError):
        SplitConfig(holdout_region=region, holdout_month="2018-10")


def test_bad_ratios_are_user_errors():
    with pytest.raises(UserError):
        SplitConfig(ratios=(0.5, 0.5, 0.5))
    with pytest.raises(UserError):
        SplitConfig(ratios=(0.0, 0.5, 0.5))
