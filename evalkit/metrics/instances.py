"""Per-instance DSC and NSD over two label maps, each instance on its own crop.

For label ``i``: ``G = gt == i`` and ``P = pred == i``. Both live inside the
bounding box of ``G | P``; the crop (padded with background by
:func:`evalkit.metrics.surface.surface_overlap`) gives exactly the full-array
values, so no label is ever evaluated over the whole array.

Conventions (pinned in tests):

* DSC = 2|G∧P| / (|G| + |P|); both empty: NaN; one empty: 0.
* NSD: both empty: NaN; exactly one empty: 0 (no surface to be near).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from evalkit.metrics.boxes import bounding_boxes
from evalkit.metrics.surface import surface_overlap

INSTANCE_COLUMNS = ["label", "dsc", "nsd", "gt_voxels", "pred_voxels"]


def score_instances(
    gt: np.ndarray,
    pred: np.ndarray,
    labels: Sequence[int],
    *,
    kind: str,
    spacing: tuple[float, ...],
    tolerance_mm: float,
    compute_nsd: bool = True,
) -> pd.DataFrame:
    """DSC and NSD of each label in ``labels``.

    ``gt``, ``pred``: integer label maps of one shape (``(H, W)`` or ``(D, H, W)``);
    ``kind``: surfel kind (``"3d"``, ``"2d-contour"``, ``"2d-slab"``) with
    ``spacing`` in mm per voxel in array-axis order (2 entries for the 2D kinds);
    ``tolerance_mm``: NSD tolerance. Labels must be >= 1.

    Returns a table with columns ``label, dsc, nsd, gt_voxels, pred_voxels`` (one
    row per requested label, in order; NSD NaN when ``compute_nsd`` is false).
    """
    if gt.shape != pred.shape:
        raise ValueError(f"gt shape {gt.shape} differs from prediction shape {pred.shape}")
    labels = [int(x) for x in labels]
    if any(x < 1 for x in labels):
        raise ValueError("labels must be >= 1")
    top = max(labels, default=0)
    gt_boxes = bounding_boxes(gt, top)
    pred_boxes = bounding_boxes(pred, top)
    rows = []
    for label in labels:
        gb, pb = gt_boxes[label], pred_boxes[label]
        if gb is None and pb is None:
            rows.append((label, math.nan, math.nan, 0, 0))
            continue
        box = _union(gb, pb)
        g = gt[box] == label
        p = pred[box] == label
        n_g = int(np.count_nonzero(g))
        n_p = int(np.count_nonzero(p))
        inter = int(np.count_nonzero(g & p)) if n_g and n_p else 0
        dsc = 2 * inter / (n_g + n_p)
        nsd = math.nan
        if compute_nsd:
            nsd = surface_overlap(
                g, p, kind=kind, spacing=spacing, tolerance_mm=tolerance_mm
            ).surface_dice
        rows.append((label, dsc, nsd, n_g, n_p))
    table = pd.DataFrame(rows, columns=INSTANCE_COLUMNS)
    return table.astype({"label": "int64", "dsc": "float64", "nsd": "float64",
                         "gt_voxels": "int64", "pred_voxels": "int64"})


def _union(a: tuple[slice, ...] | None, b: tuple[slice, ...] | None) -> tuple[slice, ...]:
    if a is None:
        return b
    if b is None:
        return a
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b))
