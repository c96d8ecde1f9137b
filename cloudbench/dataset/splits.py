"""Leak-free splits: whole blocks of days, decided by a seeded hash of the block, with a one-day guard.

Rules:

1. Days are grouped in blocks of ``block_days`` consecutive days counted from 1970-01-01 (block b
   holds days b * block_days .. b * block_days + block_days - 1 since that epoch), so a day's block
   never depends on which other days have data. Every block gets a number u in [0, 1) from
   sha256("<seed>:<YYYY-MM-DD of the block's first day>"). With ratios (r_train, r_val, r_test)
   the block is train if u < r_train, val if u < r_train + r_val, else test, and so is each of its
   days. A day's split depends on its date, the seed and ``block_days`` only, so adding days never
   moves old ones. With ``block_days`` = 1 a block is a day and its key is the date itself.
2. Guard: a train day whose calendar neighbour (day before or after) is a val or test day by rule 1
   is demoted to "guard" and its samples are left out. The neighbour is judged by rule 1 whether or
   not it has data, so adding a day can never demote an existing one either. Only the first and
   last day of a train block can be guard; why blocks of 7 by default is ``guard_tradeoff``'s story:
   with one-day blocks a train day is guard with probability 0.7 * (1 - 0.7^2) = 36% of all days,
   with 7-day blocks 0.7 * 2 * 0.3 / 7 = 6%, at the price of coarser, noisier split fractions.
3. The unit is the "split day" of a sample, not its own date: samples that share a granule or an
   imager slot are linked, and each linked group takes the earliest date among its samples. An orbit
   that crosses midnight therefore never lands in two splits.
4. ``holdout_month`` (YYYY-MM): every day of that month is test; other days are train or val by
   rule 1 with the test ratio folded into train and val in proportion; guards as in rule 2.
5. ``holdout_region`` (W,S,E,N): every sample whose centre lies in the box is test, whatever its
   day; the others are train or val by day as in rule 4; an outside sample whose patch overlaps a
   test patch of the same imager slot is guard. Leakage checks then compare test with the others by
   region and overlap instead of by day.
6. Tiny datasets: if rules 1-2 leave train, val or test empty, the days present are split in time
   order instead (test = the last round(r_test * n) days, at least one; val = the round(r_val * n)
   days before, at least one; the rest train, then rule 2). The manifest records which rule ran
   (``split_rule``: "hash" or "chronological"); the stability of rule 1 holds for the "hash" rule only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from cloudbench.config import Region
from cloudbench.errors import DataError, UserError

SPLITS = ("train", "val", "test")
DEFAULT_BLOCK_DAYS = 7
BLOCK_EPOCH = date(1970, 1, 1)
GUARD = "guard"
EVAL_SPLITS = ("val", "test")


@dataclass(frozen=True)
class SplitConfig:
    """What decides the splits; recorded verbatim in the manifest."""

    seed: int = 0
    ratios: tuple[float, float, float] = (0.7, 0.15, 0.15)
    holdout_region: Region | None = None
    holdout_month: str | None = None
    block_days: int = DEFAULT_BLOCK_DAYS

    def __post_init__(self) -> None:
        if int(self.block_days) != self.block_days or self.block_days < 1:
            raise UserError(f"--block-days must be a whole number of days, at least 1, got {self.block_days}",
                            fix=f"e.g. --block-days {DEFAULT_BLOCK_DAYS} (or 1 for per-day splits)")
        if len(self.ratios) != 3 or any(r < 0 for r in self.ratios) or not np.isclose(sum(self.ratios), 1.0):
            raise UserError(f"ratios must be three non-negative numbers summing to 1, got {self.ratios}",
                            fix="e.g. --ratios 0.7,0.15,0.15")
        if self.ratios[0] <= 0:
            raise UserError("the train ratio must be above 0", fix="e.g. --ratios 0.7,0.15,0.15")
        if self.holdout_month is not None:
            try:
                date.fromisoformat(f"{self.holdout_month}-01")
            except ValueError as exc:
                raise UserError(f"--holdout-month must be YYYY-MM, got {self.holdout_month!r}") from exc
        if self.holdout_region is not None and self.holdout_month is not None:
            raise UserError("choose either a held-out region or a held-out month, not both")

    @property
    def day_ratios(self) -> tuple[float, float, float]:
        """Ratios of the day hash; with a hold-out, test comes from the hold-out and train:val keep their proportion."""
        if self.holdout_region is None and self.holdout_month is None:
            return self.ratios
        tr, va = self.ratios[0], self.ratios[1]
        return (tr / (tr + va), va / (tr + va), 0.0)

    def to_json(self) -> dict:
        region = None if self.holdout_region is None else list(self.holdout_region.bbox)
        return {"seed": self.seed, "ratios": list(self.ratios), "holdout_region": region,
                "holdout_month": self.holdout_month, "block_days": int(self.block_days),
                "block_epoch": BLOCK_EPOCH.isoformat()}


def day_unit(day: str, seed: int) -> float:
    """The day's number in [0, 1): the first 8 bytes of sha256("<seed>:<day>")."""
    digest = hashlib.sha256(f"{seed}:{day}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def block_start(day: str, block_days: int) -> str:
    """The first day (ISO) of the block holding ``day``: blocks are counted from ``BLOCK_EPOCH``."""
    offset = (date.fromisoformat(day) - BLOCK_EPOCH).days
    return (BLOCK_EPOCH + timedelta(days=offset - offset % int(block_days))).isoformat()


def calendar_split(day: str, config: SplitConfig) -> str:
    """Rule 1 (and rule 4): the split of any calendar day, whether or not it has data."""
    if config.holdout_month is not None and day.startswith(config.holdout_month):
        return "test"
    u = day_unit(block_start(day, config.block_days), config.seed)
    r_train, r_val, _ = config.day_ratios
    if u < r_train:
        return "train"
    if u < r_train + r_val:
        return "val"
    return "test"


def _neighbours(day: str) -> tuple[str, str]:
    d = date.fromisoformat(day)
    return (d - timedelta(days=1)).isoformat(), (d + timedelta(days=1)).isoformat()


def hash_day_splits(days: list[str], config: SplitConfig) -> dict[str, str]:
    """Rules 1, 2 and 4 for the given days: train, val, test or guard."""
    out = {}
    for day in days:
        split = calendar_split(day, config)
        if split == "train" and any(calendar_split(n, config) in EVAL_SPLITS for n in _neighbours(day)):
            split = GUARD
        out[day] = split
    return out


def guard_tradeoff(days: list[str], config: SplitConfig) -> dict:
    """What the block size costs on these days: the share of them that rule 2 turns into guard.

    Recorded in the manifest next to the same share with one-day blocks, so the choice of
    ``block_days`` is judged on the dataset's own calendar rather than on expectations.
    """
    days = sorted(set(days))

    def share(cfg: SplitConfig) -> float:
        splits = hash_day_splits(days, cfg)
        return round(sum(s == GUARD for s in splits.values()) / max(1, len(days)), 4)

    one_day = SplitConfig(config.seed, config.ratios, config.holdout_region, config.holdout_month, block_days=1)
    return {"n_days": len(days), "block_days": int(config.block_days),
            "guard_fraction_of_days": share(config), "guard_fraction_of_days_with_1_day_blocks": share(one_day)}


def chronological_day_splits(days: list[str], config: SplitConfig) -> dict[str, str]:
    """Rule 6: the fallback for datasets too small for the hash to fill every split."""
    days = sorted(days)
    n = len(days)
    _, r_val, r_test = config.ratios
    if config.holdout_month is not None:
        test = [d for d in days if d.startswith(config.holdout_month)]
    else:
        test = days[n - max(1, round(r_test * n)):]
    rest = [d for d in days if d not in test]
    n_val = max(1, round(r_val * n))
    val, train = rest[len(rest) - n_val:], rest[: len(rest) - n_val]
    out = {d: "test" for d in test} | {d: "val" for d in val}
    evaluation = set(test) | set(val)
    for d in train:
        out[d] = GUARD if any(nb in evaluation for nb in _neighbours(d)) else "train"
    return out


class _UnionFind:
    def __init__(self, n: int):
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def imager_slot(imager_files: str) -> str:
    """A key of the imager scan a sample was cut from: its sorted file names."""
    return ";".join(sorted(str(imager_files).split(";")))


def split_days(samples: pd.DataFrame) -> pd.Series:
    """Rule 3: each sample's split day, the earliest date of the samples linked to it by granule or slot."""
    n = len(samples)
    uf = _UnionFind(n)
    for key in (samples["granule_id"].astype(str), samples["imager_files"].map(imager_slot)):
        first: dict[str, int] = {}
        for i, k in enumerate(key):
            if k in first:
                uf.union(first[k], i)
            else:
                first[k] = i
    roots = np.array([uf.find(i) for i in range(n)], dtype=np.int64)
    dates = samples["date"].astype(str).to_numpy()
    earliest = pd.Series(dates).groupby(roots).transform("min")
    return pd.Series(earliest.to_numpy(), index=samples.index, name="split_day")


def boxes_overlap(r0a, c0a, r0b, c0b, size: int) -> np.ndarray:
    """Whether two P x P patches given by their top-left pixels share at least one pixel."""
    return (np.abs(np.asarray(r0a) - np.asarray(r0b)) < size) & (np.abs(np.asarray(c0a) - np.asarray(c0b)) < size)


@dataclass
class SplitResult:
    """The outcome: per-sample split (guard samples included), the day table, the rule that ran."""

    sample_split: pd.Series
    split_day: pd.Series
    day_splits: dict[str, str]
    rule: str


def assign_splits(samples: pd.DataFrame, config: SplitConfig, patch_size: int) -> SplitResult:
    """Give every sample a split (train, val, test or guard) by the rules of this module.

    Raises:
        UserError: a hold-out that selects no sample.
        DataError: too few days for train, val and test even in time order.
    """
    sday = split_days(samples)
    days = sorted(set(sday))
    if not days:
        raise DataError("PAIRS holds no samples: nothing to split", fix="check the collocate report")
    if config.holdout_month is not None and not any(d.startswith(config.holdout_month) for d in days):
        raise UserError(f"--holdout-month {config.holdout_month} selects no day of the PAIRS data ({days[0]} .. {days[-1]})")
    if config.holdout_month is not None and all(d.startswith(config.holdout_month) for d in days):
        raise UserError(f"--holdout-month {config.holdout_month} covers every day of the PAIRS data: nothing left to train on")
    region_test = np.zeros(len(samples), bool)
    if config.holdout_region is not None:
        region_test = config.holdout_region.contains(samples["lon"].to_numpy(), samples["lat"].to_numpy())
        if not region_test.any():
            raise UserError(f"--holdout-region {config.holdout_region.bbox} contains no sample centre")
        if region_test.all():
            raise UserError(f"--holdout-region {config.holdout_region.bbox} contains every sample: nothing left to train on")
    outside_days = sorted(set(sday[~region_test])) if config.holdout_region is not None else days

    rule = "hash"
    day_splits = hash_day_splits(outside_days, config)
    present = set(day_splits.values()) | ({"test"} if region_test.any() else set())
    if not {"train", "val", "test"} <= present:
        rule = "chronological"
        if config.holdout_region is not None:
            day_splits = chronological_day_splits(outside_days, SplitConfig(config.seed, (config.day_ratios[0], config.day_ratios[1], 0.0), block_days=config.block_days))
            day_splits = {d: ("val" if s == "test" else s) for d, s in day_splits.items()}
        else:
            day_splits = chronological_day_splits(days, config)
        present = set(day_splits.values()) | ({"test"} if region_test.any() else set())
        if not {"train", "val", "test"} <= present:
            raise DataError(
                f"PAIRS has {len(days)} day(s) ({', '.join(days)}): too few for train, val and test with a one-day guard",
                fix="collocate more days (at least 3 apart from each other, or 4 in a row)",
            )
    split = sday.map(day_splits).astype(object)
    if config.holdout_region is not None:
        split[region_test] = "test"
        split = _guard_overlaps(samples, split, patch_size)
    return SplitResult(sample_split=split.rename("split"), split_day=sday, day_splits=day_splits, rule=rule)


def _guard_overlaps(samples: pd.DataFrame, split: pd.Series, patch_size: int) -> pd.Series:
    """Region hold-out: a non-test sample whose patch overlaps a test patch of the same scan becomes guard."""
    split = split.copy()
    slots = samples["imager_files"].map(imager_slot)
    for _, idx in samples.groupby(slots).groups.items():
        idx = np.asarray(idx)
        is_test = (split[idx] == "test").to_numpy()
        if not is_test.any() or is_test.all():
            continue
        t = samples.loc[idx[is_test], ["patch_row0", "patch_col0"]].to_numpy()
        for i in idx[~is_test]:
            r0, c0 = samples.at[i, "patch_row0"], samples.at[i, "patch_col0"]
            if boxes_overlap(t[:, 0], t[:, 1], r0, c0, patch_size).any():
                split[i] = GUARD
    return split
