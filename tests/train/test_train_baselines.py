"""The reference predictors behave as their physics says."""

import numpy as np
import pytest
import torch

from cloudbench.config import CLEAR, ICE, MIXED, UNLABELED, WATER
from cloudbench.errors import UserError
from cloudbench.train.baselines import BrightnessTemperaturePredictor, MajorityClassPredictor

BANDS = [f"B{i:02d}" for i in range(1, 17)]
EDGES = np.arange(0, 16.5, 1.0).tolist()  # 16 levels of 1 km


def test_bt_rule_puts_cold_tops_high_and_icy():
    p = BrightnessTemperaturePredictor(BANDS, EDGES)
    p.threshold_k, p.depth_km = 5.0, 2.0
    x = torch.zeros(1, 16, 1, 4)
    # clear sky 290 K; tops (standard atmosphere, 6.5 K/km) at 2, 6 and 11 km
    x[0, 13, 0] = torch.tensor([290.0, 290.0 - 6.5 * 2, 290.0 - 6.5 * 6, 290.0 - 6.5 * 11])
    pred = p.predict(x)[0, :, 0]  # (Z, 4)
    assert torch.all(pred[:, 0] == CLEAR)

    def cloud_levels(col):
        return {z: int(c) for z, c in enumerate(pred[:, col].tolist()) if c != CLEAR}

    assert cloud_levels(1) == {0: WATER, 1: WATER}  # 0.5, 1.5 km: warmer than 0 C
    assert cloud_levels(2) == {4: MIXED, 5: MIXED}  # 4.5, 5.5 km: between 0 and -38 C
    assert cloud_levels(3) == {9: ICE, 10: ICE}  # 9.5, 10.5 km: colder than -38 C


def test_bt_rule_fit_finds_the_generating_depth():
    p = BrightnessTemperaturePredictor(BANDS, EDGES)
    x = torch.full((4, 16, 4, 4), 290.0)
    target = torch.full((4, 16, 4, 4), UNLABELED)
    target[:, :, :, 0] = CLEAR
    x[:, 13, :, 1] = 290.0 - 6.5 * 2.6  # a water cloud with its top at 2.6 km, 2 km deep
    target[:, :, :, 1] = CLEAR
    target[:, 1:3, :, 1] = WATER
    p.fit([{"image": x, "mask": target}])
    assert p.depth_km == 2.0
    pred = p.predict(x)
    keep = target != UNLABELED
    assert bool(torch.all(pred[keep] == target[keep]))


def test_bt_rule_needs_a_window_band():
    with pytest.raises(UserError, match="window"):
        BrightnessTemperaturePredictor(["B01", "B02"], EDGES)


def test_majority_per_level():
    target = torch.full((2, 3, 2, 2), CLEAR)
    target[:, 0] = WATER
    target[0, 2] = UNLABELED
    p = MajorityClassPredictor(3).fit([{"image": torch.zeros(2, 1, 2, 2), "mask": target}])
    pred = p.predict(torch.zeros(1, 1, 2, 2))
    assert pred[0, :, 0, 0].tolist() == [WATER, CLEAR, CLEAR]
