"""Case scoring: per-label values against the official-style full-array computation,
the official quirks (each a switch), strict mode, and the edge cases of metrics.md."""

from __future__ import annotations

import math

import numpy as np
import pytest
from metrics_reference import label_values, official_case

from evalkit.config import load_challenge
from evalkit.metrics import MetricSettings, settings_from_challenge, settings_from_section
from evalkit.metrics.case import round_value, score_arrays

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

OFFICIAL = settings_from_challenge(load_challenge())
STRICT = settings_from_challenge(load_challenge(), mode="strict")


def _random_label_maps(rng, dim):
    shape = tuple(int(x) for x in (rng.integers(4, 14, 3) if dim == 3 else rng.integers(8, 40, 2)))
    n = int(rng.integers(1, 7))
    labels = rng.choice(np.arange(1, 12), n, replace=False)  # non-contiguous labels
    gt = np.zeros(shape, np.uint16)
    pred = np.zeros(shape, np.uint16)
    for lab in labels:
        lo = [int(rng.integers(0, s)) for s in shape]
        hi = [min(s, a + int(rng.integers(1, max(2, s // 2)))) for a, s in zip(lo, shape)]
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        r = rng.random()
        if r < 0.1:  # label only in the prediction
            pred[box] = lab
            continue
        gt[box] = lab
        if r < 0.2:  # prediction misses the label
            continue
        shift = tuple(slice(max(0, a + int(rng.integers(-2, 3))), max(1, b + int(rng.integers(-2, 3))))
                      for a, b in zip(lo, hi))
        pred[shift] = lab
        noise = rng.random(shape) < 0.05
        pred[noise & (pred == lab)] = 0
    if rng.random() < 0.1:
        pred[:] = 0  # empty prediction
    return gt, pred


@pytest.mark.parametrize("dim", [2, 3])
def test_per_label_values_equal_the_official_full_array_computation(dim):
    rng = np.random.default_rng(100 + dim)
    spacings = [(2.5, 0.8, 0.8), (1.0, 1.0, 1.0), (0.6, 1.9, 1.1), (5.0, 0.7, 0.7)]
    for trial in range(60):
        gt, pred = _random_label_maps(rng, dim)
        spacing = spacings[trial % len(spacings)] if dim == 3 else None
        tol = [1.0, 2.0, 3.0][trial % 3]
        settings = MetricSettings(tolerance_mm=tol)
        values, inst = score_arrays(gt, pred, spacing=spacing, dim=dim, settings=settings)
        labels = list(range(1, int(gt.max()) + 1))
        assert inst["label"].tolist() == labels
        for row in inst.itertuples():
            dsc, nsd = label_values(gt, pred, row.label, dim=dim, spacing=spacing, tolerance=tol)
            for ours, ref in ((row.dsc, dsc), (row.nsd, nsd)):
                assert (math.isnan(ours) and math.isnan(ref)) or abs(ours - ref) <= 1e-12, (
                    trial, row.label, ours, ref)
            assert row.gt_voxels == int((gt == row.label).sum())
            assert row.pred_voxels == int((pred == row.label).sum())
        _, case_dsc, case_nsd = official_case(gt, pred, dim=dim, spacing=spacing, tolerance=tol)
        assert values["n_instances"] == len(labels)
        for ours, ref in ((values["dsc"], case_dsc), (values["nsd"], case_nsd)):
            ref_r = round(np.float64(ref), 4)
            assert (math.isnan(ours) and math.isnan(ref_r)) or ours == ref_r, (trial, ours, ref)


def test_strict_2d_nsd_is_deepmind_native_2d():
    rng = np.random.default_rng(7)
    for trial in range(60):
        gt, pred = _random_label_maps(rng, 2)
        tol = [1.0, 2.0, 3.0][trial % 3]
        settings = settings_from_section({"mode": "strict", "tolerance_mm": tol})
        _, inst = score_arrays(gt, pred, spacing=None, dim=2, settings=settings)
        present = sorted((set(np.unique(gt)) | set(np.unique(pred))) - {0})
        assert inst["label"].tolist() == [int(x) for x in present]
        for row in inst.itertuples():
            _, nsd = label_values(gt, pred, row.label, dim=2, spacing=None, tolerance=tol, native_2d=True)
            assert abs(row.nsd - nsd) <= 1e-12, (trial, row.label, row.nsd, nsd)


def test_slab_and_contour_nsd_differ_as_the_spec_says():
    # a dilated, shifted 2D prediction: the slab NSD is a region measure, far above the contour NSD
    yy, xx = np.mgrid[:80, :80]
    gt = (((yy - 40) ** 2 + (xx - 40) ** 2) <= 20**2).astype(np.uint8)
    from scipy import ndimage

    pred = np.roll(ndimage.binary_dilation(gt, iterations=3), 2, axis=1).astype(np.uint8)
    _, off = score_arrays(gt, pred, spacing=None, dim=2, settings=OFFICIAL)
    _, st = score_arrays(gt, pred, spacing=None, dim=2, settings=STRICT)
    assert off["nsd"][0] > 0.9
    assert st["nsd"][0] < 0.6


# ---------------------------------------------------------------- edge cases (metrics.md)
def _case(gt, pred, settings, dim=2, spacing=None):
    return score_arrays(np.asarray(gt), np.asarray(pred), spacing=spacing, dim=dim, settings=settings)


def test_both_empty():
    z = np.zeros((6, 6), np.uint8)
    v, inst = _case(z, z, OFFICIAL)
    assert v["n_instances"] == 0 and len(inst) == 0
    assert math.isnan(v["dsc"]) and v["nsd"] == 0.0  # NaN DSC fails the gate
    v, inst = _case(z, z, STRICT)
    assert v["n_instances"] == 0 and math.isnan(v["dsc"]) and math.isnan(v["nsd"])


def test_gt_all_zero_prediction_not():
    gt = np.zeros((6, 6), np.uint8)
    pred = gt.copy()
    pred[1:3, 1:3] = 1
    v, inst = _case(gt, pred, OFFICIAL)  # official: labels 1..max(gt) = none
    assert v["n_instances"] == 0 and math.isnan(v["dsc"]) and v["nsd"] == 0.0
    v, inst = _case(gt, pred, STRICT)  # strict: a false positive counts
    assert v["n_instances"] == 1 and v["dsc"] == 0.0 and v["nsd"] == 0.0
    assert inst.iloc[0].to_dict() == {"label": 1, "dsc": 0.0, "nsd": 0.0, "gt_voxels": 0, "pred_voxels": 4}


def test_label_only_in_prediction():
    gt = np.zeros((10, 10), np.uint8)
    gt[1:4, 1:4] = 1
    pred = gt.copy()
    pred[6:9, 6:9] = 2
    v, inst = _case(gt, pred, OFFICIAL)
    assert inst["label"].tolist() == [1] and v["dsc"] == 1.0 and v["nsd"] == 1.0  # ignored
    v, inst = _case(gt, pred, STRICT)
    assert inst["label"].tolist() == [1, 2] and v["dsc"] == 0.5 and v["nsd"] == 0.5  # counted


def test_uint8_label_255_does_not_wrap():
    gt = np.zeros((4, 300), np.uint8)
    pred = np.zeros((4, 300), np.uint8)
    gt[1:3, 290:292] = 255
    pred[1:3, 290:292] = 255
    v, inst = _case(gt, pred, OFFICIAL)
    assert v["n_instances"] == 255  # 1..255, computed as a Python int
    assert inst["label"].iloc[-1] == 255 and inst["dsc"].iloc[-1] == 1.0
    assert math.isnan(v["dsc"])  # labels 1..254 are absent from both: NaN (official plain mean)
    v, inst = _case(gt, pred, STRICT)
    assert v["n_instances"] == 1 and v["dsc"] == 1.0 and v["nsd"] == 1.0


def test_mean_dsc_exactly_at_the_gate_gives_nsd_zero():
    gt = np.zeros((10, 10), np.uint8)
    pred = np.zeros((10, 10), np.uint8)
    gt[0, 0:5] = 1
    pred[0, 4:9] = 1  # overlap 1 of 5 + 5: DSC = 2/10 = 0.2 exactly
    v, inst = _case(gt, pred, OFFICIAL)
    assert v["dsc_unrounded"] == 0.2
    assert v["nsd"] == 0.0 and inst["nsd"].iloc[0] > 0  # gate is strict (>), instance NSD kept
    pred[0, 3] = 1  # DSC 4/11 > 0.2: NSD computed
    v, _ = _case(gt, pred, OFFICIAL)
    assert v["dsc_unrounded"] > 0.2 and v["nsd"] > 0
    gateless = MetricSettings(nsd_dsc_gate=None)
    pred[0, 3] = 0
    v, _ = _case(gt, pred, gateless)
    assert v["nsd"] > 0


def test_nan_gate():
    # label 2 absent from both masks: official DSC mean is NaN, and NaN > 0.2 is false
    gt = np.zeros((10, 10), np.uint8)
    gt[1:4, 1:4] = 1
    gt[6:8, 6:8] = 3
    pred = gt.copy()
    v, inst = _case(gt, pred, OFFICIAL)
    assert inst["label"].tolist() == [1, 2, 3]
    assert math.isnan(inst["dsc"].iloc[1]) and math.isnan(inst["nsd"].iloc[1])
    assert math.isnan(v["dsc"]) and v["nsd"] == 0.0
    nanmean = MetricSettings(case_mean="nanmean")
    v, _ = _case(gt, pred, nanmean)
    assert v["dsc"] == 1.0 and v["nsd"] == 1.0
    v, _ = _case(gt, pred, STRICT)
    assert v["n_instances"] == 2 and v["dsc"] == 1.0 and v["nsd"] == 1.0


def test_empty_prediction_scores_zero():
    gt = np.zeros((5, 6, 7), np.uint8)
    gt[1:3, 1:4, 2:5] = 1
    v, inst = _case(gt, np.zeros_like(gt), OFFICIAL, dim=3, spacing=(2.5, 0.8, 0.8))
    assert v["dsc"] == 0.0 and v["nsd"] == 0.0
    assert inst.iloc[0]["nsd"] == 0.0


def test_object_touching_every_border():
    gt = np.ones((4, 5, 6), np.uint8)
    v, _ = _case(gt, gt.copy(), OFFICIAL, dim=3, spacing=(1.0, 2.0, 3.0))
    assert v["dsc"] == 1.0 and v["nsd"] == 1.0
    dsc, nsd = label_values(gt, gt.copy(), 1, dim=3, spacing=(1.0, 2.0, 3.0), tolerance=2.0)
    assert (dsc, nsd) == (1.0, 1.0)


def test_rounding_is_numpy_half_even():
    assert round_value(0.12345, 4) == float(np.round(np.float64(0.12345), 4))
    # NumPy scales, rounds half to even, scales back: 2.675 -> 267.5 -> 268 (Python's round gives 2.67)
    assert round_value(2.675, 2) == 2.68 and round(2.675, 2) == 2.67
    assert round_value(0.5, 0) == 0.0 and round_value(1.5, 0) == 2.0
    assert math.isnan(round_value(math.nan, 4))


def test_shape_and_spacing_errors():
    with pytest.raises(ValueError, match="shape"):
        _case(np.zeros((3, 3), np.uint8), np.zeros((3, 4), np.uint8), OFFICIAL)
    with pytest.raises(ValueError, match="spacing"):
        _case(np.zeros((3, 3, 3), np.uint8), np.zeros((3, 3, 3), np.uint8), OFFICIAL, dim=3)


def test_settings_modes():
    assert OFFICIAL.mode == "official" and OFFICIAL.nsd_dsc_gate == 0.2 and OFFICIAL.nsd_2d_as_slab
    assert OFFICIAL.labels_from_gt_max and OFFICIAL.case_mean == "mean"
    assert STRICT.nsd_dsc_gate is None and not STRICT.nsd_2d_as_slab
    assert not STRICT.labels_from_gt_max and STRICT.case_mean == "nanmean"
    s = settings_from_section({"mode": "official", "official": {"nsd_dsc_gate": False}})
    assert s.nsd_dsc_gate is None
    with pytest.raises(ValueError, match="nsd_dsc_gate"):
        settings_from_section({"official": {"nsd_dsc_gate": "0.2"}})
    with pytest.raises(ValueError, match="case_mean"):
        settings_from_section({"official": {"case_mean": "median"}})
