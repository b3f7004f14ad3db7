"""HD95 and ASSD: surface-distance metrics of the registry (smaller is better).

Both are DeepMind ``surface-distance``'s definitions, computed from one shared
set of per-surfel distances per instance
(:meth:`~evalkit.metrics.geometry.InstanceGeometry.distances`: every surfel of
each mask, its area, and its exact Euclidean distance to the other mask's
surface), so enabling both costs one distance computation.

HD95
    ``compute_robust_hausdorff(compute_surface_distances(G, P, spacing), 95)``:
    per direction, sort the surfels by (distance, area), take the first whose
    cumulative area share reaches 95 %, and report the larger of the two
    directions. Area-weighted, not a percentile over surfel counts.
ASSD
    The surfel-area-weighted symmetric mean of ``compute_average_surface_distance``'s
    pair: ``(Σ a_G d_G→P + Σ a_P d_P→G) / (Σ a_G + Σ a_P)``, i.e. the mean
    distance over the union of both surfaces, each element counted once with
    its area. This is the classic ASSD (mean over the points of both surfaces,
    as in Heimann et al. 2009 and MONAI's symmetric mode) made area-correct as
    surface-distance makes each direction. The plain mean of the two directed
    averages would instead weight each element of the smaller surface more.

Units: mm in 3D (at the GT spacing). 2D cases are measured on DeepMind's 2D
contour (16-code contour-length table) in pixels, spacing (1, 1), in both modes,
as strict-mode NSD is; the official CVPR24 "(H, W, 1) slab" is not used for
distances (its surfels include the slab's flat faces, so every overlapping pixel
would be a surface point at distance 0).

Empty masks (surface-distance gives ``inf`` for HD95 when either mask is empty,
``nan``/``inf`` for the directed averages):

* exactly one mask empty: ``inf`` for both (no surface to be near, as
  surface-distance's HD95 and its distances say);
* both empty (a label in neither mask): ``NaN`` for both, like DSC and NSD. This
  differs from surface-distance's ``inf`` for HD95 on purpose: there is nothing
  to measure, and under the official plain mean a NaN instance makes the case NaN
  (ranked worst), under strict ``nanmean`` it is ignored;
* missing or invalid prediction: ``missing_value = inf`` per GT instance and for
  the case.

Case value: the instance mean under ``case_mean`` (:func:`evalkit.metrics.case.case_mean`),
so one missed instance (``inf``) makes the case ``inf``; rounded to
``round_digits`` like every case value.
"""

from __future__ import annotations

import math

import numpy as np

from evalkit.metrics.geometry import InstanceGeometry

HD_PERCENT = 95.0


def robust_hausdorff(distances: np.ndarray, areas: np.ndarray, percent: float) -> float:
    """The area-weighted ``percent`` percentile of one direction's surfel distances.

    ``distances``, ``areas``: float64 ``(n,)`` of one surface's surfels (any
    order). Surfels are sorted by (distance, area) and the distance of the first
    whose cumulative area share is ``>= percent / 100`` is returned (the last one
    if rounding leaves none), exactly as ``surface-distance``. ``n = 0``: ``inf``.
    """
    if distances.size == 0:
        return math.inf
    order = np.lexsort((areas, distances))
    dist, area = distances[order], areas[order]
    cum = np.cumsum(area) / np.sum(area)
    idx = int(np.searchsorted(cum, percent / 100.0))
    return float(dist[min(idx, dist.size - 1)])


def hd95(geom: InstanceGeometry) -> float:
    """95th-percentile Hausdorff distance of one instance (mm; pixels in 2D; ``inf`` if a mask is empty)."""
    d = geom.distances()
    return max(robust_hausdorff(d.gt_to_pred, d.gt_areas, HD_PERCENT),
               robust_hausdorff(d.pred_to_gt, d.pred_areas, HD_PERCENT))


def assd(geom: InstanceGeometry) -> float:
    """Average symmetric surface distance of one instance (mm; pixels in 2D; ``inf`` if a mask is empty)."""
    d = geom.distances()
    if d.gt_to_pred.size == 0 or d.pred_to_gt.size == 0:
        return math.inf
    num = np.sum(d.gt_to_pred * d.gt_areas) + np.sum(d.pred_to_gt * d.pred_areas)
    return float(num / (np.sum(d.gt_areas) + np.sum(d.pred_areas)))
