"""Per-instance metric values over two label maps, each instance on its own crop.

For label ``i``: ``G = gt == i`` and ``P = pred == i``. Both live inside the
bounding box of ``G | P`` (found for all labels at once,
:mod:`evalkit.metrics.boxes`); that box grown by the margin the surface
computation needs (:func:`evalkit.metrics.surface.padding`, background beyond
the array) gives exactly the full-array values, so no label is ever evaluated
over the whole array.

Per label the crop, masks and voxel counts are made once as an
:class:`~evalkit.metrics.geometry.InstanceGeometry`; every requested metric's
``instance`` function (:mod:`evalkit.metrics.registry`) derives its value from
it, sharing surfels and distances. A label absent from both masks is NaN for
every metric and is never computed. Per-metric conventions for one empty mask
are in the metric modules (:mod:`evalkit.metrics.overlap`: DSC 0, NSD 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from evalkit.metrics import registry
from evalkit.metrics.boxes import bounding_boxes
from evalkit.metrics.geometry import InstanceGeometry
from evalkit.metrics.registry import Metric
from evalkit.metrics.surface import padding

#: The instance columns of the default (cvpr24) metrics, DSC and NSD.
INSTANCE_COLUMNS = ["label", "dsc", "nsd", "gt_voxels", "pred_voxels"]


def instance_columns(metrics: Sequence[Metric]) -> list[str]:
    """``label``, one column per metric (in order), ``gt_voxels``, ``pred_voxels``."""
    return ["label", *(m.column for m in metrics), "gt_voxels", "pred_voxels"]


def instance_dtypes(metrics: Sequence[Metric]) -> dict[str, str]:
    """The dtypes of :func:`instance_columns`: int64 label and counts, float64 values."""
    return {"label": "int64", **{m.column: "float64" for m in metrics},
            "gt_voxels": "int64", "pred_voxels": "int64"}


def score_instances(
    gt: np.ndarray,
    pred: np.ndarray,
    labels: Sequence[int],
    *,
    kind: str,
    spacing: tuple[float, ...],
    tolerance_mm: float,
    metrics: Sequence[Metric] = (registry.DSC, registry.NSD),
) -> pd.DataFrame:
    """The value of every metric in ``metrics`` for each label in ``labels``.

    ``gt``, ``pred``: integer label maps of one shape (``(H, W)`` or ``(D, H, W)``);
    ``kind``: NSD surfel kind (``"3d"``, ``"2d-contour"``, ``"2d-slab"``) with
    ``spacing`` in mm per voxel in array-axis order (2 entries for the 2D kinds;
    distance metrics use the same spacing); ``tolerance_mm``: NSD tolerance.
    ``metrics``: scored registry metrics. Labels must be >= 1.

    Returns a table with :func:`instance_columns` (one row per requested label,
    in order; NaN for a label in neither mask).
    """
    if gt.shape != pred.shape:
        raise ValueError(f"gt shape {gt.shape} differs from prediction shape {pred.shape}")
    labels = [int(x) for x in labels]
    if any(x < 1 for x in labels):
        raise ValueError("labels must be >= 1")
    top = max(labels, default=0)
    pad = padding(kind, spacing, tolerance_mm)
    gt_boxes = bounding_boxes(gt, top)
    pred_boxes = bounding_boxes(pred, top)
    functions = [registry.compute(m.instance) for m in metrics]
    none = (math.nan,) * len(metrics)
    rows = []
    for label in labels:
        gb, pb = gt_boxes[label], pred_boxes[label]
        if gb is None and pb is None:
            rows.append((label, *none, 0, 0))
            continue
        box = _union(gb, pb)
        geom = InstanceGeometry.from_masks(
            padded_mask(gt, label, box, pad), padded_mask(pred, label, box, pad),
            nsd_kind=kind, spacing=spacing, tolerance_mm=tolerance_mm,
        )
        rows.append((label, *(float(f(geom)) for f in functions), geom.gt_voxels, geom.pred_voxels))
    table = pd.DataFrame(rows, columns=instance_columns(metrics))
    return table.astype(instance_dtypes(metrics))


def padded_mask(
    labels: np.ndarray, label: int, box: tuple[slice, ...], pad: tuple[int, ...]
) -> np.ndarray:
    """``labels == label`` on ``box`` grown by ``pad`` voxels per side (bool, C-contiguous).

    ``box`` must hold every voxel of ``label``; the margin reads the array where
    it exists (other labels there compare False) and is background beyond it.
    """
    lo = [s.start - p for s, p in zip(box, pad)]
    hi = [s.stop + p for s, p in zip(box, pad)]
    if all(a >= 0 for a in lo) and all(b <= n for b, n in zip(hi, labels.shape)):
        return labels[tuple(slice(a, b) for a, b in zip(lo, hi))] == label
    out = np.zeros([b - a for a, b in zip(lo, hi)], dtype=bool)
    src = tuple(slice(max(a, 0), min(b, n)) for a, b, n in zip(lo, hi, labels.shape))
    dst = tuple(slice(s.start - a, s.stop - a) for s, a in zip(src, lo))
    np.equal(labels[src], label, out=out[dst])
    return out


def _union(a: tuple[slice, ...] | None, b: tuple[slice, ...] | None) -> tuple[slice, ...]:
    if a is None:
        return b
    if b is None:
        return a
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b))
