"""Metrics against confusion matrices computed by hand."""

import numpy as np
import pytest
import torch

from cloudbench.config import UNLABELED
from cloudbench.train.metrics import ConfusionAccumulator, complex_column_mask, metrics_from_confusion

# rows true (clear, ice, mixed, water), columns predicted
CM = np.array(
    [
        [50, 2, 0, 8],
        [4, 10, 6, 0],
        [0, 2, 3, 5],
        [6, 0, 1, 13],
    ]
)


def test_per_class_scores_by_hand():
    m = metrics_from_confusion(CM)
    ice = m["per_class"]["ice"]
    # ice: TP 10, FP 2+0+2... column ice = 2+10+2+0 = 14 -> FP 4; FN = 4+6 = 10
    assert ice["precision"] == pytest.approx(10 / 14)
    assert ice["recall"] == pytest.approx(10 / 20)
    assert ice["f1"] == pytest.approx(20 / (20 + 4 + 10))
    assert ice["iou"] == pytest.approx(10 / (10 + 4 + 10))
    assert ice["support"] == 20
    mixed = m["per_class"]["mixed"]  # TP 3, FP 6+1 = 7, FN 2+5 = 7
    assert mixed["f1"] == pytest.approx(6 / 20) and mixed["iou"] == pytest.approx(3 / 17)


def test_averages_by_hand():
    m = metrics_from_confusion(CM)
    f1 = {
        "clear": 100 / (100 + 10 + 10),
        "ice": 20 / 34,
        "mixed": 6 / 20,
        "water": 26 / (26 + 13 + 7),
    }
    assert m["macro_all"]["f1"] == pytest.approx(np.mean(list(f1.values())))
    assert m["macro_cloud"]["f1"] == pytest.approx(np.mean([f1["ice"], f1["mixed"], f1["water"]]))
    total, correct = CM.sum(), np.trace(CM)
    assert m["accuracy"] == pytest.approx(correct / total)
    assert m["micro_all"]["f1"] == pytest.approx(correct / total)  # single-label voxels: micro F1 = accuracy
    assert m["micro_all"]["iou"] == pytest.approx(correct / (2 * total - correct))
    # micro over cloud classes: TP 26, FP (cols 1..3 minus diag) = 14+10+26-26 = 24, FN = 20+10+20-26 = 24
    assert m["micro_cloud"]["precision"] == pytest.approx(26 / 50)
    assert m["micro_cloud"]["recall"] == pytest.approx(26 / 50)
    # cloud mask: TP = cloud rows x cloud cols = 10+6+0+2+3+5+0+1+13 = 40; FP = 2+0+8 = 10; FN = 4+0+6 = 10
    assert m["cloud_mask"]["precision"] == pytest.approx(40 / 50)
    assert m["cloud_mask"]["recall"] == pytest.approx(40 / 50)
    assert m["cloud_mask"]["iou"] == pytest.approx(40 / 60)


def test_zero_division_rules():
    cm = np.array([[5, 0, 0, 1], [0, 0, 0, 0], [2, 0, 0, 0], [0, 0, 0, 3]])
    m = metrics_from_confusion(cm)
    assert m["per_class"]["ice"]["f1"] is None  # absent in truth and prediction
    mixed = m["per_class"]["mixed"]  # in truth, never predicted
    assert mixed["precision"] == 0.0 and mixed["recall"] == 0.0 and mixed["f1"] == 0.0
    water_f1 = 6 / (6 + 1)
    assert m["macro_cloud"]["f1"] == pytest.approx((0.0 + water_f1) / 2)  # ice left out


def test_accumulator_ignores_unlabeled_and_counts_per_level():
    target = torch.full((1, 3, 2, 2), UNLABELED)
    pred = torch.zeros((1, 3, 2, 2), dtype=torch.long)
    target[0, :, 0, 0] = torch.tensor([0, 3, 1])  # level 0 clear, level 1 water, level 2 ice
    pred[0, :, 0, 0] = torch.tensor([0, 3, 3])
    pred[0, :, 1, 1] = 2  # predictions off the track never count
    acc = ConfusionAccumulator(4, 3)
    acc.update(pred, target)
    expected = np.zeros((4, 4), int)
    expected[0, 0] = expected[3, 3] = expected[1, 3] = 1
    np.testing.assert_array_equal(acc.matrix, expected)
    m = acc.compute([0.5, 1.5, 2.5])
    assert [lv["accuracy"] for lv in m["per_level"]] == [1.0, 1.0, 0.0]
    assert [lv["labeled_voxels"] for lv in m["per_level"]] == [1, 1, 1]
    assert m["per_level"][2]["height_km"] == 2.5
    with pytest.raises(ValueError):
        acc.update(pred[:, :2], target)


def _column(values):
    t = torch.tensor(values).view(1, len(values), 1, 1)
    return bool(complex_column_mask(t)[0, 0, 0])


def test_complex_columns():
    c, i, m, w, u = 0, 1, 2, 3, UNLABELED
    assert not _column([c, w, w, c, c])  # one water layer
    assert _column([c, w, c, w, c])  # two layers separated by clear
    assert not _column([w, u, w, c])  # an unlabelled gap does not split a layer
    assert _column([c, w, m, c])  # mixed phase
    assert _column([w, w, i, i, c])  # ice over water, one layer
    assert not _column([i, i, i, c])
    assert not _column([u, u, u])


def test_complex_subset_uses_same_definitions():
    target = torch.full((1, 4, 1, 2), UNLABELED)
    target[0, :, 0, 0] = torch.tensor([3, 0, 3, 0])  # two-layer column
    target[0, :, 0, 1] = torch.tensor([3, 0, 0, 0])  # simple column
    pred = torch.zeros_like(target)
    acc = ConfusionAccumulator(4, 4)
    acc.update(pred, target)
    m = acc.compute()
    assert m["labeled_voxels"] == 8
    assert m["complex_columns"]["labeled_voxels"] == 4
    assert m["complex_columns"]["per_class"]["water"]["recall"] == 0.0
