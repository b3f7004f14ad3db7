"""DSC and NSD: the overlap metrics of the registry (instance and case functions).

Instance values (one label, :class:`~evalkit.metrics.geometry.InstanceGeometry`;
never called for a label absent from both masks, which is NaN):

* DSC = 2|G∧P| / (|G| + |P|); one mask empty: 0.
* NSD = surface Dice at ``tolerance_mm`` (DeepMind definition, the exact
  tolerance-dilation method of :mod:`evalkit.metrics.surface`); one mask
  empty: 0 (no surface to be near).

Case values: DSC is the instance mean (:func:`evalkit.metrics.case.case_mean`);
NSD is the instance mean too, except under the official DSC gate
(:func:`nsd_case`).
"""

from __future__ import annotations

import numpy as np

from evalkit.metrics.case import CaseContext, aggregate
from evalkit.metrics.geometry import InstanceGeometry


def dsc(geom: InstanceGeometry) -> float:
    """Dice similarity coefficient of one instance (a ratio in [0, 1])."""
    return 2 * geom.overlap_voxels / (geom.gt_voxels + geom.pred_voxels)


def nsd(geom: InstanceGeometry) -> float:
    """Normalized surface Dice of one instance at the geometry's tolerance (in [0, 1])."""
    return geom.overlap().surface_dice


def nsd_case(values: np.ndarray, ctx: CaseContext) -> float:
    """Case NSD: 0.0 when a gate is set and the case DSC is not above it (NaN is not), else the mean.

    The gate (``nsd_dsc_gate``, official 0.2) is a case rule: instance rows keep
    their NSD also when it sets the case to 0.
    """
    gate = ctx.settings.nsd_dsc_gate
    if gate is not None and not ctx.dsc > gate:
        return 0.0
    return aggregate(values, ctx.settings.case_mean)
