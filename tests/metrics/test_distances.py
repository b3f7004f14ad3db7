"""HD95 and ASSD against DeepMind's surface-distance, run here as the reference.

Randomized 2D and 3D masks, anisotropic spacing, empty masks. The conventions
of evalkit/metrics/distances.py are pinned: one mask empty -> inf, both empty ->
NaN (surface-distance: HD95 inf), missing prediction -> inf.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from metrics_reference import sd
from scipy import ndimage

from evalkit.metrics import MetricSettings, geometry, registry
from evalkit.metrics.case import score_arrays, score_missing
from evalkit.metrics.instances import score_instances

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SPACINGS_3D = [(1.0, 1.0, 1.0), (2.5, 0.8, 0.8), (0.7, 1.3, 0.45), (3.0, 0.5, 1.0), (1.25, 1.25, 5.0)]
SPACINGS_2D = [(1.0, 1.0), (0.8, 0.8), (0.5, 1.7), (2.0, 0.9)]
DISTANCES = [registry.HD95, registry.ASSD]
ALL = ("DSC", "NSD", "HD95", "ASSD")


def reference(g: np.ndarray, p: np.ndarray, spacing) -> tuple[float, float]:
    """(HD95, ASSD) with surface-distance; ASSD = area-weighted mean of its two directed averages."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")
        d = sd.compute_surface_distances(g, p, tuple(spacing))
        hd = float(sd.compute_robust_hausdorff(d, 95))
        avg_gp, avg_pg = sd.compute_average_surface_distance(d)
    a_g, a_p = float(np.sum(d["surfel_areas_gt"])), float(np.sum(d["surfel_areas_pred"]))
    if a_g == 0 or a_p == 0:  # a directed average is nan (0/0) or inf: the pair gives no finite mean
        assd = math.nan if a_g == a_p == 0 else math.inf
    else:
        assd = (avg_gp * a_g + avg_pg * a_p) / (a_g + a_p)
    return hd, assd


def _random_mask(rng, shape):
    kind = rng.integers(0, 5)
    if kind == 0:
        return np.zeros(shape, bool)
    if kind == 1:
        return rng.random(shape) < rng.uniform(0.05, 0.7)
    m = np.zeros(shape, bool)  # a few boxes, often touching the border
    for _ in range(rng.integers(1, 4)):
        lo = [int(rng.integers(0, n)) for n in shape]
        hi = [int(rng.integers(a, n)) + 1 for a, n in zip(lo, shape)]
        m[tuple(slice(a, b) for a, b in zip(lo, hi))] = True
    if kind >= 3:
        m ^= rng.random(shape) < 0.1
    return m


def _ours(g, p, spacing, metrics=DISTANCES):
    """Instance values through the scoring path: label map 1 = mask, cropped per instance."""
    kind = "3d" if g.ndim == 3 else "2d-contour"
    table = score_instances(g.astype(np.uint8), p.astype(np.uint8), [1], kind=kind,
                            spacing=tuple(spacing), tolerance_mm=2.0, metrics=metrics)
    return tuple(float(table[m.column].iloc[0]) for m in metrics)


def _check(ours: float, ref: float, g, p, what: str) -> None:
    if not g.any() and not p.any():
        assert math.isnan(ours), what  # both empty: NaN (surface-distance: HD95 inf, ASD nan)
    elif not g.any() or not p.any():
        assert ours == math.inf and ref == math.inf, what
    else:
        assert math.isfinite(ours) and abs(ours - ref) <= 1e-9, (what, ours, ref)


@pytest.mark.parametrize("ndim", [2, 3])
def test_hd95_and_assd_equal_surface_distance(ndim):
    rng = np.random.default_rng(40 + ndim)
    spacings = SPACINGS_3D if ndim == 3 else SPACINGS_2D
    seen = {"finite": 0, "one empty": 0, "both empty": 0}
    for trial in range(150):
        shape = tuple(int(x) for x in rng.integers(1, 14 if ndim == 3 else 30, ndim))
        g, p = _random_mask(rng, shape), _random_mask(rng, shape)
        r = rng.random()
        if r < 0.15:
            p = ndimage.binary_dilation(g, iterations=int(rng.integers(1, 3)))
        elif r < 0.25:
            p = np.roll(g, int(rng.integers(-3, 4)), axis=int(rng.integers(ndim)))
        spacing = spacings[trial % len(spacings)]
        hd, assd = _ours(g, p, spacing)
        ref_hd, ref_assd = reference(g, p, spacing)
        _check(hd, ref_hd, g, p, f"HD95 trial {trial} {shape} {spacing}")
        _check(assd, ref_assd, g, p, f"ASSD trial {trial} {shape} {spacing}")
        key = ("both empty" if not g.any() and not p.any() else
               "one empty" if not g.any() or not p.any() else "finite")
        seen[key] += 1
    assert seen["finite"] > 80 and seen["one empty"] > 5 and seen["both empty"] >= 1, seen


def test_both_empty_differs_from_surface_distance_only_in_the_stated_way():
    z = np.zeros((5, 6, 7), bool)
    ref_hd, _ = reference(z, z, (1.0, 2.0, 3.0))
    assert ref_hd == math.inf  # surface-distance; evalkit reports NaN (nothing to measure)
    assert all(math.isnan(v) for v in _ours(z, z, (1.0, 2.0, 3.0)))


def test_distances_ignore_other_labels_and_the_array_border():
    # an object touching the border, a second label next to it: label 1's values are its own
    rng = np.random.default_rng(9)
    for _ in range(20):
        gt = np.zeros((7, 12, 15), np.uint8)
        pred = np.zeros_like(gt)
        gt[0:4, 0:6, 3:15] = 1
        gt[4:7, 6:12, 0:8] = 2
        pred[0:5, 1:7, 2:14] = 1
        pred[rng.random(gt.shape) < 0.05] = 2
        spacing = SPACINGS_3D[int(rng.integers(len(SPACINGS_3D)))]
        table = score_instances(gt, pred, [1, 2], kind="3d", spacing=spacing, tolerance_mm=2.0,
                                metrics=DISTANCES)
        for label in (1, 2):
            ref = reference(gt == label, pred == label, spacing)
            row = table[table["label"] == label].iloc[0]
            assert abs(row["hd95"] - ref[0]) <= 1e-9 and abs(row["assd"] - ref[1]) <= 1e-9


def test_case_values_2d_use_the_contour_in_pixels_in_both_modes():
    rng = np.random.default_rng(3)
    gt = np.zeros((40, 50), np.uint8)
    gt[5:20, 5:25] = 1
    gt[22:35, 20:45] = 2
    pred = np.roll(gt, 2, axis=1)
    pred[rng.random(gt.shape) < 0.03] = 0
    for mode in ("official", "strict"):
        settings = MetricSettings(enabled=ALL) if mode == "official" else MetricSettings(
            mode="strict", labels_from_gt_max=False, case_mean="nanmean", nsd_dsc_gate=None,
            nsd_2d_as_slab=False, enabled=ALL)
        values, inst = score_arrays(gt, pred, spacing=None, dim=2, settings=settings)
        refs = [reference(gt == i, pred == i, (1.0, 1.0)) for i in (1, 2)]
        np.testing.assert_allclose(inst["hd95"], [r[0] for r in refs], rtol=0, atol=1e-9)
        np.testing.assert_allclose(inst["assd"], [r[1] for r in refs], rtol=0, atol=1e-9)
        assert values["hd95_unrounded"] == pytest.approx(np.mean([r[0] for r in refs]), abs=1e-12)
        assert values["assd"] == round(values["assd_unrounded"], 4)


def test_case_conventions_missing_instance_and_missing_prediction():
    gt = np.zeros((5, 8, 9), np.uint8)
    gt[1:3, 1:4, 1:4] = 1
    gt[2:4, 5:8, 5:8] = 2
    pred = gt.copy()
    pred[pred == 2] = 0  # label 2 missed: inf
    settings = MetricSettings(enabled=ALL)
    values, inst = score_arrays(gt, pred, spacing=(2.0, 0.7, 0.7), dim=3, settings=settings)
    assert inst["hd95"].tolist() == [0.0, math.inf] and inst["assd"].tolist() == [0.0, math.inf]
    assert values["hd95"] == math.inf and values["assd_unrounded"] == math.inf
    assert values["dsc"] == 0.5  # the other metrics are unaffected
    values, inst = score_missing(gt, settings)
    assert values["hd95"] == values["assd"] == math.inf and values["dsc"] == values["nsd"] == 0.0
    assert inst["hd95"].tolist() == [math.inf, math.inf]


def test_nsd_and_dsc_are_unchanged_by_enabling_distances():
    rng = np.random.default_rng(17)
    for dim in (2, 3):
        for _ in range(10):
            shape = tuple(int(x) for x in rng.integers(6, 16, dim))
            gt = (rng.random(shape) < 0.3).astype(np.uint8) * rng.integers(1, 4, shape).astype(np.uint8)
            pred = np.where(rng.random(shape) < 0.8, gt, 0).astype(np.uint8)
            sp = (2.5, 0.8, 0.8) if dim == 3 else None
            base_v, base_i = score_arrays(gt, pred, spacing=sp, dim=dim, settings=MetricSettings())
            v, i = score_arrays(gt, pred, spacing=sp, dim=dim, settings=MetricSettings(enabled=ALL))
            for c in ("dsc", "nsd", "dsc_unrounded", "nsd_unrounded"):
                assert (math.isnan(v[c]) and math.isnan(base_v[c])) or v[c] == base_v[c]
            np.testing.assert_array_equal(i[["dsc", "nsd"]].to_numpy(), base_i[["dsc", "nsd"]].to_numpy())


def test_distances_are_computed_once_per_instance_and_only_when_enabled(monkeypatch):
    calls = []
    real = geometry.surface_distances

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(geometry, "surface_distances", counting)
    gt = np.zeros((6, 10, 10), np.uint8)
    gt[1:3, 1:5, 1:5] = 1
    gt[3:5, 5:9, 5:9] = 2
    pred = np.roll(gt, 1, axis=2)
    score_arrays(gt, pred, spacing=(1.0, 1.0, 1.0), dim=3, settings=MetricSettings())
    assert calls == []  # cvpr24 (DSC, NSD): no distance transform at all
    score_arrays(gt, pred, spacing=(1.0, 1.0, 1.0), dim=3, settings=MetricSettings(enabled=ALL))
    assert len(calls) == 2  # two instances, HD95 and ASSD share one computation each
