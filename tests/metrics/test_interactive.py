"""Iteration-level metrics of the CVPR 2025 interactive protocol (evalkit/metrics/interactive.py).

Unit tests against the surface-distance package (tests/metrics/metrics_reference.py)
and hand-computed areas. Parity with the official script's own numbers:
tests/metrics/test_interactive_parity.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from metrics_reference import label_values

from evalkit.metrics import registry
from evalkit.metrics.interactive import (
    ITERATION_METRICS,
    auc,
    gt_labels,
    iteration_dsc,
    iteration_nsd,
    score_iterations,
)


def _case(rng, shape=(10, 24, 26), labels=(1, 2, 4)):
    gts = np.zeros(shape, dtype=np.uint8)
    for i, lab in enumerate(labels):
        gts[2 + i:6 + i, 3 + 6 * i:9 + 6 * i, 4:12 + 3 * i] = lab
    segs = gts.copy()
    segs[rng.random(shape) < 0.05] = 0
    segs[:, :, 1:] = segs[:, :, :-1].copy()
    return gts, segs


def test_dsc_and_nsd_are_the_means_over_labels_present_in_the_gt():
    rng = np.random.default_rng(0)
    spacing = (2.5, 0.8, 0.9)
    gts, segs = _case(rng)
    segs[0, 0, 0] = 3                   # a label only in the prediction: ignored
    assert gt_labels(gts) == [1, 2, 4]  # not 1..max: label 3 is absent from the GT
    ref = [label_values(gts, segs, lab, dim=3, spacing=spacing, tolerance=2.0) for lab in (1, 2, 4)]
    dsc = iteration_dsc(gts, segs)
    assert abs(dsc - np.mean([r[0] for r in ref])) <= 1e-12
    nsd = iteration_nsd(gts, segs, spacing)
    assert abs(nsd - np.mean([r[1] for r in ref])) <= 1e-12
    assert iteration_nsd(gts, segs, spacing, dsc=dsc) == nsd


def test_nsd_gate_and_empty_cases():
    gts = np.zeros((6, 10, 10), dtype=np.uint8)
    gts[1:5, 2:8, 2:8] = 1
    segs = np.zeros_like(gts)
    segs[1:5, 2:8, 2:3] = 1             # DSC = 2*24/(144+24) = 0.2857 > 0.2: NSD computed
    d = iteration_dsc(gts, segs)
    assert d == pytest.approx(2 * 24 / 168)
    assert iteration_nsd(gts, segs, (1, 1, 1)) > 0
    assert iteration_nsd(gts, segs, (1, 1, 1), dsc_gate=0.3) == 0.0
    assert iteration_nsd(gts, segs, (1, 1, 1), dsc_gate=0.3, dsc=0.31) > 0   # the given DSC decides
    zero = np.zeros_like(gts)
    assert iteration_dsc(gts, zero) == 0.0 and iteration_nsd(gts, zero, (1, 1, 1)) == 0.0
    # no label in the GT: DSC NaN (official np.mean([])); NSD 0 under the gate (NaN is not > 0.2)
    assert math.isnan(iteration_dsc(zero, segs))
    assert iteration_nsd(zero, segs, (1, 1, 1)) == 0.0
    assert math.isnan(iteration_nsd(zero, segs, (1, 1, 1), dsc_gate=None))
    with pytest.raises(ValueError, match="shape"):
        iteration_dsc(gts, segs[:1])


def test_auc_is_the_trapezoid_over_the_click_iterations():
    values = [0.9, 0.1, 0.2, 0.4, 0.6, 0.8]
    # official: the last five on x = 0..4: 0.5*(0.1+0.2) + 0.5*(0.2+0.4) + 0.5*(0.4+0.6) + 0.5*(0.6+0.8)
    assert auc(values) == pytest.approx(0.15 + 0.3 + 0.5 + 0.7)
    assert auc(values, include_box=True) == pytest.approx(0.5 + 0.15 + 0.3 + 0.5 + 0.7)
    assert auc([1.0] * 6) == pytest.approx(4.0) and auc([1.0] * 6, include_box=True) == pytest.approx(5.0)
    with pytest.raises(ValueError):
        auc([0.5] * 4)
    with pytest.raises(ValueError):
        auc([0.5], include_box=True)


def test_score_iterations_none_is_zero_and_keys_are_official():
    rng = np.random.default_rng(1)
    gts, segs = _case(rng)
    out = score_iterations(gts, [None, segs, segs, gts, gts, gts], (1.0, 1.0, 1.0))
    assert list(out) == [*(f"DSC_{k}" for k in range(1, 7)), *(f"NSD_{k}" for k in range(1, 7)),
                         "DSC_AUC", "NSD_AUC", "DSC_Final", "NSD_Final"]
    assert out["DSC_1"] == 0.0 and out["NSD_1"] == 0.0
    assert out["DSC_6"] == 1.0 and out["NSD_6"] == 1.0 and out["DSC_Final"] == 1.0
    d2 = iteration_dsc(gts, segs)
    assert out["DSC_2"] == d2
    assert out["DSC_AUC"] == pytest.approx(0.5 * (d2 + d2) + 0.5 * (d2 + 1) + 1 + 1)
    strict = score_iterations(gts, [None, segs, segs, gts, gts, gts], (1.0, 1.0, 1.0), include_box=True)
    assert strict["DSC_AUC"] == pytest.approx(out["DSC_AUC"] + 0.5 * d2)


def test_registry_declares_the_interactive_metrics():
    for name in ITERATION_METRICS:
        m = registry.get(name)
        assert m.source == "scores" and m.direction == "larger" and m.optional
        assert callable(registry.compute(m.iteration)) and not m.instance and not m.case
    assert registry.get("DSC_AUC").bounds == (0.0, 5.0) and registry.get("DSC_Final").bounds == (0.0, 1.0)
    t = registry.get("TotalRunningTime")
    assert t.source == "runner" and t.direction == "smaller" and t.column == "wall_s" and t.unit == "s"
    with pytest.raises(ValueError, match="iteration"):
        registry.Metric("X", "x", "larger", 0.0, iteration="m:f", instance="m:g", case="m:h")
