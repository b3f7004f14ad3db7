"""Instance-level metrics on two label maps: matching, F1, matched Dice, panoptic quality.

Usable by any challenge (CVPR 2025 text track: ``F1`` and ``DSC_TP``). Inputs
are integer label maps of one shape, ``(H, W)`` or ``(D, H, W)``: 0 is
background, every other value one instance (values need not be sequential).

Pipeline (:func:`match_instances`):

1. optional uint8 cast (the official quirk, ``uint8_cast``: labels above 255
   wrap modulo 256, both maps; strict: no cast);
2. optional split of a *binary* prediction (``split_binary``): when the
   prediction holds exactly two distinct values (the official test, so ``{0, k}``
   and also ``{a, b}`` without background), every foreground value is split into
   6-connected components (3D; 4-connected in 2D) numbered in C order of first
   voxel and added to the prediction's maximum; under the uint8 cast that sum
   wraps modulo 256 as the official assignment into a uint8 array does;
3. sequential relabelling of both maps (sorted distinct non-zero values ->
   ``1..n``, :func:`relabel_sequential`);
4. the overlap matrix (:func:`overlap_matrix`, one ``np.bincount`` over the
   voxels where either map is non-zero) and the IoU matrix ``(n_gt, n_pred)``;
5. Hungarian matching (``scipy.optimize.linear_sum_assignment``) on the official
   cost ``-(iou >= t) - iou / (2 * min(n_gt, n_pred))``: it maximises the number
   of pairs with IoU >= t first, their IoU sum second; a pair counts (TP) when
   its IoU >= ``threshold`` (0.5: then the matching is unique up to exact ties).

Values (:class:`InstanceScores`): TP, FP = n_pred - TP, FN = n_gt - TP;
precision = TP / (TP + FP), recall = TP / (TP + FN),
F1 = 2 * precision * recall / (precision + recall) (the official order of
operations); ``DSC_TP`` = mean Dice of the matched pairs; panoptica's
``SQ`` = mean IoU of the matched pairs, ``RQ`` = TP / (TP + FP/2 + FN/2),
``PQ = SQ x RQ``.

Empty conventions (``empty_as_zero``):

* official (``True``, the CVPR25 script): an undefined ratio is 0. No predicted
  instance: TP = FP = FN = 0 and precision = recall = F1 = DSC_TP = 0, also when
  the GT is empty too; no GT instance but predictions: F1 = 0, DSC_TP = 0.
* strict (``False``, panoptica's defaults): no instance in either map: every
  value NaN (nothing to score); otherwise with TP = 0: F1 = RQ = SQ = PQ = 0,
  DSC_TP = 0; precision NaN without predictions, recall NaN without GT.

PQ follows panoptica in both modes (NaN for two empty maps, 0 when TP = 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

#: Largest label value relabelled through a lookup table (above it: ``np.unique``).
_LUT_MAX = 1 << 24


def relabel_sequential(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """``labels`` with its distinct non-zero values mapped, in sorted order, to ``1..n``.

    ``labels``: a non-negative integer array (any shape). Returns ``(out, n)``:
    ``out`` of the same shape (0 stays 0; the smallest of uint8 / uint16 / uint32 /
    int64 that holds ``n``), ``n`` the number of instances.
    Empty or all-zero input: ``(zeros, 0)``.
    """
    a = np.asarray(labels)
    if a.size == 0:
        return np.zeros(a.shape, np.int64), 0
    top = int(a.max())
    if top <= 0:
        return np.zeros(a.shape, np.int64), 0
    if top <= _LUT_MAX:
        present = np.bincount(a.ravel(), minlength=top + 1) > 0
        present[0] = False
        n = int(present.sum())
        lut = np.zeros(top + 1, _label_dtype(n))
        lut[present] = np.arange(1, n + 1)
        return lut[a], n
    values, inverse = np.unique(a, return_inverse=True)
    offset = 1 if values[0] != 0 else 0
    n = int(np.count_nonzero(values))
    return (inverse.reshape(a.shape) + offset).astype(_label_dtype(n)), n


def _label_dtype(n: int) -> np.dtype:
    for dt in (np.uint8, np.uint16, np.uint32):
        if n <= np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.int64)


def overlap_matrix(gt: np.ndarray, pred: np.ndarray, n_gt: int, n_pred: int) -> np.ndarray:
    """Voxel counts of every (GT label, prediction label) pair, background included.

    ``gt``, ``pred``: sequential label maps (values ``0..n_gt`` and ``0..n_pred``)
    of one shape. Returns int64 ``(n_gt + 1, n_pred + 1)``: entry ``[i, j]`` is the
    number of voxels labelled ``i`` in ``gt`` and ``j`` in ``pred``. One
    ``np.bincount`` of the paired labels over the voxels where either is
    non-zero; ``[0, 0]`` is the rest of the array.
    """
    if gt.shape != pred.shape:
        raise ValueError(f"gt shape {gt.shape} differs from prediction shape {pred.shape}")
    g = gt.ravel()
    p = pred.ravel()
    idx = np.flatnonzero((g | p) != 0)  # non-negative labels; nonzero() is fastest on bool
    width = n_pred + 1
    pairs = g[idx].astype(np.int64) * width + p[idx]
    counts = np.bincount(pairs, minlength=(n_gt + 1) * width).reshape(n_gt + 1, width)
    counts[0, 0] += g.size - idx.size
    return counts


def iou_matrix(overlap: np.ndarray) -> np.ndarray:
    """IoU of every (GT instance, predicted instance) pair: float64 ``(n_gt, n_pred)``.

    ``overlap``: :func:`overlap_matrix`. ``iou[i, j]`` is for GT ``i + 1`` and
    prediction ``j + 1``; sizes are the row and column sums (background row and
    column included), as the official script computes them.
    """
    n_pred = overlap.sum(axis=0, keepdims=True)
    n_true = overlap.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = overlap / (n_pred + n_true - overlap)
    iou[np.isnan(iou)] = 0.0
    return iou[1:, 1:]


def hungarian_pairs(iou: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The matched pairs ``(gt_index, pred_index)`` (0-based) with IoU >= ``threshold``.

    Hungarian matching on the official cost ``-(iou >= t) - iou / (2 * min(n_gt, n_pred))``
    (module docstring). An empty matrix gives no pairs.
    """
    if iou.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    n_min = min(iou.shape)
    cost = -(iou >= threshold).astype(float) - iou / (2 * n_min)
    rows, cols = linear_sum_assignment(cost)
    ok = iou[rows, cols] >= threshold
    return rows[ok].astype(np.int64), cols[ok].astype(np.int64)


def split_binary_prediction(pred: np.ndarray, *, wrap_uint8: bool) -> np.ndarray:
    """A binary prediction split into connected components (module docstring, step 2).

    ``pred``: a label map with exactly two distinct values (else returned
    unchanged). Connectivity: faces (6 in 3D, 4 in 2D); each foreground value is
    split on its own. Components are numbered ``1..n`` in C order of their first
    voxel and stored as ``component + pred.max()``; ``wrap_uint8``: that sum
    modulo 256 (the official uint8 quirk; a component landing on 0 becomes
    background). Returns a new int64 array.
    """
    values = np.unique(pred)
    if values.size != 2:
        return pred
    out = pred.astype(np.int64, copy=True)
    structure = ndimage.generate_binary_structure(pred.ndim, 1)
    comps = np.zeros(pred.shape, np.int64)
    n = 0
    for v in values[values != 0]:
        lab, k = ndimage.label(pred == v, structure=structure)
        comps[lab > 0] = lab[lab > 0] + n
        n += k
    if n == 0:
        return out
    comps = _c_order_numbering(comps)
    fg = comps > 0
    new = comps[fg] + int(values[-1])
    out[fg] = new % 256 if wrap_uint8 else new
    return out


def _c_order_numbering(comps: np.ndarray) -> np.ndarray:
    """Renumber components ``1..n`` by the C-order position of their first voxel."""
    flat = comps.ravel()
    ids, first = np.unique(flat, return_index=True)
    keep = ids != 0
    ids, first = ids[keep], first[keep]
    order = ids[np.argsort(first, kind="stable")]
    lut = np.zeros(int(comps.max()) + 1, np.int64)
    lut[order] = np.arange(1, order.size + 1)
    return lut[comps]


@dataclass(frozen=True)
class InstanceScores:
    """The instance-level values of one case (module docstring for definitions and empties).

    Counts are ints; ratios floats in [0, 1] or NaN. ``pairs``: the matched
    ``(gt_label, pred_label)`` pairs in the sequential labels (1-based), with
    their ``iou`` and ``dice``.
    """

    n_gt: int
    n_pred: int
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    dsc_tp: float
    sq: float
    rq: float
    pq: float
    pairs: tuple[tuple[int, int], ...] = ()
    iou: tuple[float, ...] = ()
    dice: tuple[float, ...] = ()


def prepare_maps(gt: np.ndarray, pred: np.ndarray, *, uint8_cast: bool,
                 split_binary: bool) -> tuple[np.ndarray, int, np.ndarray, int]:
    """Steps 1-3 of the module docstring: ``(gt_seq, n_gt, pred_seq, n_pred)``."""
    if gt.shape != pred.shape:
        raise ValueError(f"gt shape {gt.shape} differs from prediction shape {pred.shape}")
    if uint8_cast:
        gt = gt.astype(np.uint8)
        pred = pred.astype(np.uint8)
    if split_binary:
        pred = split_binary_prediction(pred, wrap_uint8=uint8_cast)
    gt_seq, n_gt = relabel_sequential(gt)
    pred_seq, n_pred = relabel_sequential(pred)
    return gt_seq, n_gt, pred_seq, n_pred


def match_instances(
    gt: np.ndarray,
    pred: np.ndarray,
    *,
    threshold: float = 0.5,
    uint8_cast: bool = False,
    split_binary: bool = False,
    empty_as_zero: bool = True,
) -> InstanceScores:
    """Match the instances of ``gt`` and ``pred`` and compute every value of :class:`InstanceScores`.

    ``gt``, ``pred``: non-negative integer label maps of one shape. ``threshold``:
    the IoU a pair needs to count (official 0.5). Switches: module docstring.
    """
    gt_seq, n_gt, pred_seq, n_pred = prepare_maps(gt, pred, uint8_cast=uint8_cast,
                                                  split_binary=split_binary)
    return scores_from_overlap(overlap_matrix(gt_seq, pred_seq, n_gt, n_pred), threshold,
                               empty_as_zero=empty_as_zero)


def scores_from_overlap(overlap: np.ndarray, threshold: float, *, empty_as_zero: bool) -> InstanceScores:
    """:class:`InstanceScores` from an :func:`overlap_matrix` (sequential labels)."""
    n_gt, n_pred = overlap.shape[0] - 1, overlap.shape[1] - 1
    nan = math.nan
    if n_pred == 0 and empty_as_zero:
        # official: no prediction -> tp = fp = fn = 0 and every ratio 0
        return InstanceScores(n_gt, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, nan if n_gt == 0 else 0.0,
                              nan if n_gt == 0 else 0.0, nan if n_gt == 0 else 0.0)
    if n_pred == 0 and n_gt == 0:
        return InstanceScores(0, 0, 0, 0, 0, nan, nan, nan, nan, nan, nan, nan)
    iou = iou_matrix(overlap)
    rows, cols = hungarian_pairs(iou, threshold)
    tp = int(rows.size)
    fp, fn = n_pred - tp, n_gt - tp
    zero = 0.0 if empty_as_zero else nan
    precision = tp / (tp + fp) if tp + fp > 0 else zero
    recall = tp / (tp + fn) if tp + fn > 0 else zero
    if precision + recall > 0:
        f1 = 2 * precision * recall / (precision + recall)
    else:
        f1 = 0.0
    ious = iou[rows, cols]
    inter = overlap[rows + 1, cols + 1]
    sizes = overlap.sum(axis=1)[rows + 1] + overlap.sum(axis=0)[cols + 1]
    dice = 2 * inter / sizes
    dsc_tp = float(np.mean(dice)) if tp else 0.0
    sq = float(np.mean(ious)) if tp else 0.0
    rq = tp / (tp + 0.5 * fp + 0.5 * fn)
    return InstanceScores(
        n_gt, n_pred, tp, fp, fn, float(precision), float(recall), float(f1), dsc_tp, sq, rq, sq * rq,
        tuple((int(r) + 1, int(c) + 1) for r, c in zip(rows, cols)),
        tuple(float(x) for x in ious), tuple(float(x) for x in dice),
    )


# The registry's case functions of the level-"matching" metrics: ``(scores, ctx) -> float``.


def f1_value(scores: InstanceScores, ctx=None) -> float:
    """F1 of :class:`InstanceScores` (registry metric ``F1``)."""
    return scores.f1


def dsc_tp_value(scores: InstanceScores, ctx=None) -> float:
    """Mean Dice of the matched pairs (registry metric ``DSC_TP``)."""
    return scores.dsc_tp


def pq_value(scores: InstanceScores, ctx=None) -> float:
    """Panoptic quality (registry metric ``PQ``)."""
    return scores.pq


def precision_value(scores: InstanceScores, ctx=None) -> float:
    """Precision (registry metric ``Precision``)."""
    return scores.precision


def recall_value(scores: InstanceScores, ctx=None) -> float:
    """Recall (registry metric ``Recall``)."""
    return scores.recall
