"""Official-style reference: the CVPR24 scorer's procedure with the surface-distance package.

Every label over the full arrays, ``surface_distance.compute_surface_distances``
+ ``compute_surface_dice_at_tolerance``; 2D through ``(H, W, 1)`` slabs at spacing
(1, 1, 1). The PyPI wheel (0.1) still uses ``np.Inf`` / ``np.NaN``, which NumPy 2
removed: they are put back here, in the test process only.
"""

from __future__ import annotations

import warnings

import numpy as np

if not hasattr(np, "Inf"):
    np.Inf = np.inf
if not hasattr(np, "NaN"):
    np.NaN = np.nan

from surface_distance import metrics as sd


def label_values(gt, pred, label, *, dim, spacing, tolerance, native_2d=False):
    """(DSC, NSD) of one label over the full arrays, the official way (or DeepMind 2D)."""
    g, p = gt == label, pred == label
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dsc = float(sd.compute_dice_coefficient(g, p))
        if dim == 2 and native_2d:
            d = sd.compute_surface_distances(g, p, (1.0, 1.0))
        elif dim == 2:
            d = sd.compute_surface_distances(g[..., None], p[..., None], (1.0, 1.0, 1.0))
        else:
            d = sd.compute_surface_distances(g, p, tuple(spacing))
        nsd = float(sd.compute_surface_dice_at_tolerance(d, tolerance))
    return dsc, nsd


def official_case(gt, pred, *, dim, spacing, tolerance=2.0):
    """The official case procedure: labels 1..max(gt), plain mean, NSD gate at DSC > 0.2."""
    labels = list(range(1, int(gt.max()) + 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dsc = [sd.compute_dice_coefficient(gt == i, pred == i) for i in labels]
        case_dsc = np.mean(dsc)
        if case_dsc > 0.2:
            nsd = [label_values(gt, pred, i, dim=dim, spacing=spacing, tolerance=tolerance)[1]
                   for i in labels]
            case_nsd = np.mean(nsd)
        else:
            case_nsd = 0.0
    return labels, float(case_dsc), float(case_nsd)
