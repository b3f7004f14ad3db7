"""Per-instance DSC and NSD over two label maps, each instance on its own crop.

For label ``i``: ``G = gt == i`` and ``P = pred == i``. Both live inside the
bounding box of ``G | P`` (found for all labels at once,
:mod:`evalkit.metrics.boxes`); that box grown by the margin the surface
computation needs (:func:`evalkit.metrics.surface.padding`, background beyond
the array) gives exactly the full-array values, so no label is ever evaluated
over the whole array.

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
from evalkit.metrics.surface import padded_surface_overlap, padding

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
    pad = padding(kind, spacing, tolerance_mm)
    gt_boxes = bounding_boxes(gt, top)
    pred_boxes = bounding_boxes(pred, top)
    rows = []
    for label in labels:
        gb, pb = gt_boxes[label], pred_boxes[label]
        if gb is None and pb is None:
            rows.append((label, math.nan, math.nan, 0, 0))
            continue
        box = _union(gb, pb)
        g = padded_mask(gt, label, box, pad)
        p = padded_mask(pred, label, box, pad)
        n_g = int(np.count_nonzero(g))
        n_p = int(np.count_nonzero(p))
        inter = int(np.count_nonzero(g & p)) if n_g and n_p else 0
        dsc = 2 * inter / (n_g + n_p)
        nsd = math.nan
        if compute_nsd:
            nsd = padded_surface_overlap(
                g, p, kind=kind, spacing=spacing, tolerance_mm=tolerance_mm
            ).surface_dice
        rows.append((label, dsc, nsd, n_g, n_p))
    table = pd.DataFrame(rows, columns=INSTANCE_COLUMNS)
    return table.astype({"label": "int64", "dsc": "float64", "nsd": "float64",
                         "gt_voxels": "int64", "pred_voxels": "int64"})


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
