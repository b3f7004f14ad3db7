"""One case: label maps (or files, or a runner status) -> instance rows + a case row.

Case values follow the settings (:mod:`evalkit.metrics.settings`):

* labels: ``1..max(gts)`` (official; ``max`` as a Python int so a uint8 255 does
  not wrap) or every label present in GT or prediction (strict: a prediction
  label with no GT instance scores DSC 0 / NSD 0, it is not ignored);
* case DSC / NSD: ``mean`` (one NaN label makes the case NaN; no labels: NaN) or
  ``nanmean`` (labels absent from both masks ignored; no labels: NaN);
* DSC gate (official): case NSD is computed only when case DSC > gate, NaN
  counting as false; otherwise case NSD = 0.0;
* 2D NSD: slab (official) or DeepMind contour (strict), spacing 1 (pixels);
  3D NSD at the GT spacing as stored, array-axis order.

Instance rows always carry the per-label NSD, also when the gate sets the case
NSD to 0 (the gate is a case-level rule). Rounded case values use NumPy's
round-half-to-even, as ``round(np.float64(x), digits)`` did in the official script.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from evalkit.metrics.boxes import bounding_boxes
from evalkit.metrics.instances import INSTANCE_COLUMNS, score_instances
from evalkit.metrics.settings import MetricSettings

CASE_COLUMNS = [
    "case", "modality", "dim", "n_instances", "dsc", "nsd",
    "dsc_unrounded", "nsd_unrounded", "status", "reason",
]
INSTANCE_TABLE_COLUMNS = ["case", "modality", "dim", "label", "dsc", "nsd", "gt_voxels", "pred_voxels"]


def surfel_kind(dim: int, settings: MetricSettings) -> str:
    """The surfel kind for a case of dimensionality ``dim`` under ``settings``."""
    if dim == 3:
        return "3d"
    if dim == 2:
        return "2d-slab" if settings.nsd_2d_as_slab else "2d-contour"
    raise ValueError(f"dim must be 2 or 3, found {dim!r}")


def case_labels(gt: np.ndarray, pred: np.ndarray | None, settings: MetricSettings) -> list[int]:
    """The labels a case is scored on (sorted ints >= 1).

    Official: ``1..max(gt)`` (empty for an all-zero GT). Strict: every label that
    occurs in ``gt`` or ``pred`` (``pred`` may be ``None``: none); a label above
    ``settings.max_label`` raises ``ValueError``.
    """
    top = int(gt.max()) if gt.size else 0
    if settings.labels_from_gt_max:
        return list(range(1, top + 1))
    present = set(_present(gt, settings.max_label))
    if pred is not None:
        present |= set(_present(pred, settings.max_label))
    return sorted(present)


def _present(a: np.ndarray, max_label: int = 65535) -> list[int]:
    if a.size == 0:
        return []
    top = int(a.max())
    if top < 1:
        return []
    if top > max_label:
        raise ValueError(f"label map holds label {top}, above the largest allowed label {max_label}")
    return [i for i, box in enumerate(bounding_boxes(a, top)) if box is not None]


def aggregate(values: np.ndarray, how: str) -> float:
    """Mean (``"mean"``: any NaN -> NaN) or NaN-ignoring mean; empty -> NaN."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.mean(values) if how == "mean" else np.nanmean(values))


def round_value(x: float, digits: int) -> float:
    """NumPy round-half-to-even of ``x`` to ``digits`` decimals (NaN stays NaN)."""
    return float(np.round(np.float64(x), digits))


def score_arrays(
    gt: np.ndarray,
    pred: np.ndarray,
    *,
    spacing: tuple[float, ...] | None,
    dim: int,
    settings: MetricSettings,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Score one case from its label maps.

    ``gt``, ``pred``: integer label maps of one shape, ``(H, W)`` (``dim=2``) or
    ``(D, H, W)`` (``dim=3``); ``spacing``: mm per voxel in array-axis order (3D;
    ignored in 2D, where distances are in pixels). Returns the case values
    (``n_instances, dsc, nsd, dsc_unrounded, nsd_unrounded``) and the instance
    table (``label, dsc, nsd, gt_voxels, pred_voxels``).
    """
    if gt.shape != pred.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from GT shape {gt.shape}")
    if gt.ndim != dim:
        raise ValueError(f"a {dim}D case needs a {dim}D label map, found shape {gt.shape}")
    kind = surfel_kind(dim, settings)
    if dim == 3:
        if spacing is None or len(spacing) != 3:
            raise ValueError(f"a 3D case needs a spacing of 3 values, found {spacing!r}")
        sp = tuple(float(s) for s in spacing)
    else:
        sp = (1.0, 1.0)
    labels = case_labels(gt, pred, settings)
    inst = score_instances(
        gt, pred, labels, kind=kind, spacing=sp, tolerance_mm=settings.tolerance_mm
    )
    dsc = aggregate(inst["dsc"].to_numpy(), settings.case_mean)
    gate = settings.nsd_dsc_gate
    if gate is not None and not dsc > gate:
        nsd = 0.0
    else:
        nsd = aggregate(inst["nsd"].to_numpy(), settings.case_mean)
    return _case_values(len(labels), dsc, nsd, settings), inst


def score_missing(gt: np.ndarray, settings: MetricSettings) -> tuple[dict[str, Any], pd.DataFrame]:
    """Score a case whose prediction is missing or invalid: DSC 0 and NSD 0.

    Instance rows are those of an empty prediction (DSC/NSD 0 for labels in the
    GT, NaN for labels in neither).
    """
    labels = case_labels(gt, None, settings)
    boxes = bounding_boxes(gt, max(labels, default=0))
    rows = []
    for label in labels:
        box = boxes[label]
        n_g = 0 if box is None else int(np.count_nonzero(gt[box] == label))
        v = 0.0 if n_g else math.nan
        rows.append((label, v, v, n_g, 0))
    inst = pd.DataFrame(rows, columns=INSTANCE_COLUMNS).astype(
        {"label": "int64", "dsc": "float64", "nsd": "float64", "gt_voxels": "int64",
         "pred_voxels": "int64"}
    )
    return _case_values(len(labels), 0.0, 0.0, settings), inst


def _case_values(n: int, dsc: float, nsd: float, settings: MetricSettings) -> dict[str, Any]:
    return {
        "n_instances": int(n),
        "dsc": round_value(dsc, settings.round_digits),
        "nsd": round_value(nsd, settings.round_digits),
        "dsc_unrounded": float(dsc),
        "nsd_unrounded": float(nsd),
    }
