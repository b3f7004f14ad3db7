"""Iteration-level metrics of the CVPR 2025 interactive protocol (pure functions).

A case is predicted up to six times (iteration 1: the box; 2..6: one click per
class each). Each iteration's prediction is scored against the GT, and the case
gets the area under the per-click curves and the final values (facts:
``shared/spec/cvpr25.md``, official ``CVPR25_iter_eval.py``, commit 748e862):

* ``DSC_k`` (:func:`iteration_dsc`): the mean Dice over the labels present in
  the GT (sorted, 0 excluded; the official ``np.sort(pd.unique(gts))[1:]``), not
  CVPR24's ``1..max``. A prediction label absent from the GT is ignored. Dice of
  one label: ``2|G & P| / (|G| + |P|)`` (``|G| > 0``, so never 0/0). A GT with no
  label: NaN (the official ``np.mean([])``).
* ``NSD_k`` (:func:`iteration_nsd`): the mean surface Dice at ``tolerance_mm``
  (2 mm) over the same labels, with the case's spacing (mm per voxel, array-axis
  order), computed only when the iteration's mean DSC is above ``dsc_gate``
  (0.2; NaN is not above), else 0.0. Uses evalkit's verified surface code
  (:mod:`evalkit.metrics.surface`, equal to DeepMind's ``surface-distance``
  within 1e-12).
* ``DSC_AUC`` / ``NSD_AUC`` (:func:`auc`): the trapezoid area of the last
  ``n_clicks`` (5) values on x = 0..4 (range 0..4): the click iterations only,
  because boxes are optional. ``include_box=True`` (strict alternative): all six
  values on x = 0..5.
* ``DSC_Final`` / ``NSD_Final``: the last iteration's values.

No rounding anywhere. An iteration with no prediction (``None``: the box run
skipped for a case without ``boxes``, or a failed run under strict rules)
scores as an all-zero prediction: DSC 0 and NSD 0 (the gate), as the official
script scores it. Predictions are scored as given (the official script scores
the ``segs`` it loads without a cast; its saved ``all_segs`` are uint8 copies).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import integrate

from evalkit.metrics import registry
from evalkit.metrics.instances import score_instances


def gt_labels(gts: np.ndarray) -> list[int]:
    """The labels scored: those present in ``gts``, sorted, 0 excluded (Python ints)."""
    return [int(v) for v in np.unique(gts) if v != 0]


def _mean(values: np.ndarray) -> float:
    if values.size == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.mean(values))


def _check(gts: np.ndarray, segs: np.ndarray) -> None:
    if gts.shape != segs.shape:
        raise ValueError(f"prediction shape {segs.shape} differs from GT shape {gts.shape}")


def iteration_dsc(gts: np.ndarray, segs: np.ndarray) -> float:
    """Mean Dice over the GT's labels of one iteration's prediction (NaN when ``gts`` has none).

    ``gts``, ``segs``: integer label maps of one shape (2D or 3D).
    """
    gts, segs = np.asarray(gts), np.asarray(segs)
    _check(gts, segs)
    labels = gt_labels(gts)
    if not labels:
        return math.nan
    inst = score_instances(gts, segs, labels, kind="3d" if gts.ndim == 3 else "2d-contour",
                           spacing=(1.0,) * gts.ndim, tolerance_mm=0.0, metrics=(registry.DSC,))
    return _mean(inst["dsc"].to_numpy())


def iteration_nsd(gts: np.ndarray, segs: np.ndarray, spacing: Sequence[float],
                  tolerance_mm: float = 2.0, dsc_gate: float | None = 0.2,
                  dsc: float | None = None) -> float:
    """Mean NSD over the GT's labels at ``tolerance_mm``, 0.0 when the mean DSC is not above ``dsc_gate``.

    ``gts``, ``segs``: 3D integer label maps ``(D, H, W)`` of one shape;
    ``spacing``: mm per voxel in array-axis order. ``dsc``: the iteration's mean
    DSC when already known (computed otherwise). ``dsc_gate=None``: no gate.
    A GT without labels: 0.0 under the gate (its DSC is NaN), NaN without it.
    """
    gts, segs = np.asarray(gts), np.asarray(segs)
    _check(gts, segs)
    if gts.ndim != 3:
        raise ValueError(f"interactive NSD is 3D, found shape {gts.shape}")
    sp = tuple(float(s) for s in spacing)
    if len(sp) != 3:
        raise ValueError(f"a 3D case needs a spacing of 3 values, found {spacing!r}")
    if dsc_gate is not None:
        if dsc is None:
            dsc = iteration_dsc(gts, segs)
        if not dsc > dsc_gate:
            return 0.0
    labels = gt_labels(gts)
    if not labels:
        return math.nan
    inst = score_instances(gts, segs, labels, kind="3d", spacing=sp, tolerance_mm=float(tolerance_mm),
                           metrics=(registry.NSD,))
    return _mean(inst["nsd"].to_numpy())


def auc(values: Sequence[float], n_clicks: int = 5, include_box: bool = False) -> float:
    """Trapezoid area under a per-iteration curve (unit spacing between iterations).

    Official (``include_box=False``): the last ``n_clicks`` values on
    x = 0..n_clicks-1 (``cumulative_trapezoid(values[-n:], arange(n))[-1]``),
    range ``0..n_clicks - 1`` for values in [0, 1]. ``include_box=True``: every
    value on x = 0..len-1. Fewer than two values: ``ValueError`` (no area).
    """
    v = np.asarray(values, dtype=np.float64)
    if not include_box:
        if n_clicks < 2:
            raise ValueError(f"an AUC needs at least 2 click iterations, found n_clicks={n_clicks}")
        if v.size < n_clicks:
            raise ValueError(f"an AUC over {n_clicks} clicks needs {n_clicks} values, found {v.size}")
        v = v[-n_clicks:]
    if v.size < 2:
        raise ValueError(f"an AUC needs at least 2 values, found {v.size}")
    return float(integrate.cumulative_trapezoid(v, np.arange(v.size))[-1])


def dsc_auc(dscs: Sequence[float], nsds: Sequence[float], *, n_clicks: int = 5,
            include_box: bool = False) -> float:
    """``DSC_AUC`` from a case's per-iteration curves (registry ``iteration`` function; :func:`auc`)."""
    return auc(dscs, n_clicks, include_box)


def nsd_auc(dscs: Sequence[float], nsds: Sequence[float], *, n_clicks: int = 5,
            include_box: bool = False) -> float:
    """``NSD_AUC`` from a case's per-iteration curves (registry ``iteration`` function; :func:`auc`)."""
    return auc(nsds, n_clicks, include_box)


def dsc_final(dscs: Sequence[float], nsds: Sequence[float], *, n_clicks: int = 5,
              include_box: bool = False) -> float:
    """``DSC_Final``: the last iteration's DSC (registry ``iteration`` function)."""
    return float(dscs[-1])


def nsd_final(dscs: Sequence[float], nsds: Sequence[float], *, n_clicks: int = 5,
              include_box: bool = False) -> float:
    """``NSD_Final``: the last iteration's NSD (registry ``iteration`` function)."""
    return float(nsds[-1])


#: The registry metrics computed from the curves, in registry order.
ITERATION_METRICS = ("DSC_AUC", "NSD_AUC", "DSC_Final", "NSD_Final")


def score_iterations(gts: np.ndarray, segs_per_iteration: Sequence[np.ndarray | None],
                     spacing: Sequence[float], *, tolerance_mm: float = 2.0,
                     dsc_gate: float | None = 0.2, n_clicks: int = 5,
                     include_box: bool = False) -> dict[str, Any]:
    """Every interactive metric of one case from its per-iteration predictions.

    ``segs_per_iteration``: iteration 1..N in order (N = ``n_clicks + 1``, 6,
    officially); ``None`` = no prediction for that iteration (scored as zeros:
    DSC 0, NSD 0). Returns ``DSC_1..DSC_N``, ``NSD_1..NSD_N``, ``DSC_AUC``,
    ``NSD_AUC``, ``DSC_Final``, ``NSD_Final`` (floats, unrounded).

    A GT without labels gives NaN DSC (and NSD 0 under the gate); a ``None``
    iteration always scores 0, as the official script sets iteration 1 of a
    case without boxes to 0 without scoring it.
    """
    gts = np.asarray(gts)
    if not segs_per_iteration:
        raise ValueError("score_iterations needs at least one iteration")
    dscs: list[float] = []
    nsds: list[float] = []
    for segs in segs_per_iteration:
        if segs is None:
            dscs.append(0.0)
            nsds.append(0.0)
            continue
        d = iteration_dsc(gts, segs)
        dscs.append(d)
        nsds.append(iteration_nsd(gts, segs, spacing, tolerance_mm, dsc_gate, dsc=d))
    out: dict[str, Any] = {}
    for k, d in enumerate(dscs, start=1):
        out[f"DSC_{k}"] = d
    for k, n in enumerate(nsds, start=1):
        out[f"NSD_{k}"] = n
    for name in ITERATION_METRICS:
        fn = registry.compute(registry.get(name).iteration)
        out[name] = fn(dscs, nsds, n_clicks=n_clicks, include_box=include_box)
    return out
