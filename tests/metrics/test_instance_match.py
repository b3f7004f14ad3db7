"""Instance matching: overlap matrix, Hungarian matching, F1 / DSC_TP / PQ and their empty cases.

PQ is checked on hand-worked examples against panoptica's definition (SQ = mean IoU of the
matched pairs, RQ = TP / (TP + FP/2 + FN/2), PQ = SQ x RQ; NaN when neither map has an
instance, 0 when there is no true positive).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalkit.metrics import registry
from evalkit.metrics.case import score_arrays
from evalkit.metrics.instance_match import (
    hungarian_pairs,
    iou_matrix,
    match_instances,
    overlap_matrix,
    relabel_sequential,
    split_binary_prediction,
)
from evalkit.metrics.settings import MetricSettings


def _worked():
    gt = np.zeros((6, 8), np.uint16)
    pred = np.zeros_like(gt)
    gt[0:2, 0:2] = 7          # A: 4 px
    gt[3, 0:4] = 3            # B: 4 px
    gt[5, 6:8] = 900          # C: 2 px, missed
    pred[0:2, 0:2] = 2        # = A, IoU 1
    pred[3, 0:3] = 5          # 3 of B, IoU 3/4
    pred[0, 6:8] = 9          # false positive
    return gt, pred


def test_hand_worked_example_f1_dsc_tp_pq():
    s = match_instances(*_worked())
    assert (s.n_gt, s.n_pred, s.tp, s.fp, s.fn) == (3, 3, 2, 1, 1)
    assert s.precision == pytest.approx(2 / 3) and s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(2 / 3)
    assert s.dsc_tp == pytest.approx((1 + 6 / 7) / 2)          # Dice 1 and 2*3/(4+3)
    assert s.sq == pytest.approx(0.875)                          # (1 + 3/4) / 2
    assert s.rq == pytest.approx(2 / (2 + 0.5 + 0.5))
    assert s.pq == pytest.approx(0.875 * 2 / 3)
    assert s.pairs == ((1, 2), (2, 1))  # sequential labels: GT 3->1, 7->2, 900->3; pred 2->1, 5->2, 9->3


def test_iou_of_exactly_the_threshold_counts_and_the_threshold_is_configurable():
    gt = np.zeros((4, 4), np.uint8)
    gt[0, :] = 1
    pred = np.zeros_like(gt)
    pred[0, :2] = 1                   # IoU 2/4 = 0.5
    s = match_instances(gt, pred, split_binary=False)
    assert (s.tp, s.sq, s.rq, s.pq) == (1, 0.5, 1.0, 0.5)
    s = match_instances(gt, pred, threshold=0.6, split_binary=False)
    assert (s.tp, s.f1, s.pq, s.dsc_tp) == (0, 0.0, 0.0, 0.0)
    s = match_instances(gt, pred, threshold=0.3, split_binary=False)
    assert s.tp == 1 and s.dsc_tp == pytest.approx(2 * 2 / 6)


def test_empty_conventions_official_and_strict():
    z = np.zeros((5, 5), np.uint8)
    one = z.copy()
    one[1:3, 1:3] = 4
    # both empty: official every ratio 0, strict NaN; PQ NaN (panoptica) in both
    s = match_instances(z, z)
    assert (s.f1, s.precision, s.recall, s.dsc_tp) == (0.0, 0.0, 0.0, 0.0) and math.isnan(s.pq)
    s = match_instances(z, z, empty_as_zero=False)
    assert all(math.isnan(v) for v in (s.f1, s.precision, s.recall, s.dsc_tp, s.pq, s.sq, s.rq))
    # GT only (no prediction): F1 0, PQ 0; official tp = fp = fn = 0 as the script
    s = match_instances(one, z)
    assert (s.f1, s.dsc_tp, s.pq, s.tp, s.fn) == (0.0, 0.0, 0.0, 0, 0)
    s = match_instances(one, z, empty_as_zero=False)
    assert (s.f1, s.recall, s.dsc_tp, s.pq, s.fn) == (0.0, 0.0, 0.0, 0.0, 1) and math.isnan(s.precision)
    # prediction only: F1 0, PQ 0; strict recall NaN
    s = match_instances(z, one)
    assert (s.f1, s.precision, s.recall, s.pq, s.fp) == (0.0, 0.0, 0.0, 0.0, 1)
    s = match_instances(z, one, empty_as_zero=False)
    assert (s.f1, s.precision, s.pq) == (0.0, 0.0, 0.0) and math.isnan(s.recall)


def test_overlap_matrix_equals_a_voxel_loop():
    rng = np.random.default_rng(3)
    gt = rng.integers(0, 6, size=(7, 9, 11))
    pred = rng.integers(0, 4, size=(7, 9, 11))
    want = np.zeros((6, 4), np.int64)
    for g, p in zip(gt.ravel(), pred.ravel()):
        want[g, p] += 1
    got = overlap_matrix(gt, pred, 5, 3)
    assert got.dtype == np.int64 and (got == want).all()
    iou = iou_matrix(got)
    assert iou.shape == (5, 3)
    assert iou[1, 2] == pytest.approx(want[2, 3] / ((gt == 2).sum() + (pred == 3).sum() - want[2, 3]))


def test_relabel_sequential_keeps_order_also_for_huge_labels():
    a = np.array([[0, 9, 9], [2**40, 3, 0]], np.int64)
    out, n = relabel_sequential(a)
    assert n == 3 and out.tolist() == [[0, 2, 2], [3, 1, 0]]
    out, n = relabel_sequential(np.array([[5, 5], [7, 5]], np.uint16))   # no background
    assert n == 2 and out.tolist() == [[1, 1], [2, 1]]
    out, n = relabel_sequential(np.zeros((2, 2), np.uint8))
    assert n == 0 and not out.any()


def test_binary_prediction_is_split_into_face_connected_components():
    pred = np.zeros((3, 3, 6), np.uint8)
    pred[0, 0, 0] = pred[1, 1, 1] = 1          # diagonal: two components under 6-connectivity
    pred[0, 0, 4:6] = 1
    out = split_binary_prediction(pred, wrap_uint8=False)
    assert sorted(np.unique(out).tolist()) == [0, 2, 3, 4]     # components 1..3 + max 1
    assert out[0, 0, 0] == 2 and out[0, 0, 4] == 3 and out[1, 1, 1] == 4  # C order of first voxel
    three = pred.copy()
    three[2, 2, 2] = 2
    assert split_binary_prediction(three, wrap_uint8=False) is three    # not binary: unchanged
    s = match_instances(pred, pred, split_binary=True)
    assert (s.n_gt, s.n_pred, s.tp) == (1, 3, 1)            # the 2-voxel piece has IoU 2/4 with the GT


def test_uint8_wrap_of_many_components():
    pred = np.zeros((1, 2, 600), np.uint8)
    pred[0, 0, ::2] = 1                        # 300 isolated voxels
    out = split_binary_prediction(pred, wrap_uint8=True)
    assert out.max() <= 255 and out[0, 0, 2 * 254] == 0    # component 255 + 1 = 256 -> 0
    assert len(np.unique(out[out > 0])) == 255
    assert len(np.unique(split_binary_prediction(pred, wrap_uint8=False))) == 301


def test_hungarian_prefers_more_matches_then_more_iou():
    iou = np.array([[0.9, 0.6], [0.55, 0.0]])
    rows, cols = hungarian_pairs(iou, 0.5)
    assert list(zip(rows.tolist(), cols.tolist())) == [(0, 1), (1, 0)]   # two matches beat one at 0.9
    assert hungarian_pairs(np.zeros((0, 3)), 0.5)[0].size == 0


def test_box_case_scores_instance_metrics_when_enabled():
    gt, pred = _worked()
    settings = MetricSettings(enabled=("DSC", "F1", "DSC_TP", "PQ"), labels_from_gt_max=False)
    values, inst = score_arrays(gt, pred, spacing=None, dim=2, settings=settings)
    assert values["f1_unrounded"] == pytest.approx(2 / 3)
    assert values["pq"] == round(0.875 * 2 / 3, 4)
    assert list(inst.columns) == ["label", "dsc", "f1", "dsc_tp", "pq", "gt_voxels", "pred_voxels"]
    assert inst["f1"].isna().all() and inst["dsc"].notna().any()
    assert [m.name for m in settings.metrics] == ["DSC", "F1", "DSC_TP", "PQ"]
    assert registry.get("F1").label == "F1"
