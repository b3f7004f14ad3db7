"""The geometry of one instance, computed once and shared by every metric.

Model: DeepMind's ``surface-distance`` ("compute the distances once, derive
every metric from them"). Per instance (label) :mod:`evalkit.metrics.instances`
crops both masks once and builds an :class:`InstanceGeometry`; each enabled
metric's ``instance`` function (:mod:`evalkit.metrics.registry`) reads what it
needs from it:

* voxel counts (``gt_voxels``, ``pred_voxels``, ``overlap_voxels``): always;
* surfels of both masks, per surfel kind: on first use, then cached;
* the surface overlap at the NSD tolerance (:meth:`InstanceGeometry.overlap`):
  the exact tolerance-dilation method of :mod:`evalkit.metrics.surface`;
* per-surfel distances to the other surface (:meth:`InstanceGeometry.distances`):
  one distance transform per direction, only when a distance metric asks.

So a configuration with DSC and NSD (cvpr24) does exactly the work it did before
the registry, and HD95 and ASSD together cost one distance computation.

Surfel kinds: NSD uses ``nsd_kind`` (``"3d"``; in 2D the official ``"2d-slab"`` or
DeepMind's ``"2d-contour"``, per ``nsd_2d_as_slab``). Distances always use a
DeepMind kind, :attr:`InstanceGeometry.distance_kind`: ``"3d"``, or the 2D
contour in pixels (a slab's surfels include its flat faces, which would make
every overlapping pixel a surface point at distance 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evalkit.metrics.surface import (
    SurfaceDistances,
    SurfaceOverlap,
    Surfels,
    SurfelTable,
    overlap_from_surfels,
    surface_distances,
    surfel_table,
    surfels,
)


@dataclass
class InstanceGeometry:
    """One instance: both masks on one padded crop, and what is derived from them.

    ``gt``, ``pred``: bool masks of one shape (2D or 3D), carrying at least the
    :func:`evalkit.metrics.surface.padding` of ``nsd_kind`` as background on
    every side. ``spacing``: mm per voxel in array-axis order (``(1, 1)`` in
    2D: pixels). ``tolerance_mm``: the NSD tolerance. Voxel counts are of the
    whole instance (the crop holds all of it). At least one mask is non-empty.
    """

    gt: np.ndarray
    pred: np.ndarray
    nsd_kind: str
    spacing: tuple[float, ...]
    tolerance_mm: float
    gt_voxels: int
    pred_voxels: int
    overlap_voxels: int
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_masks(cls, gt: np.ndarray, pred: np.ndarray, *, nsd_kind: str,
                   spacing: tuple[float, ...], tolerance_mm: float) -> InstanceGeometry:
        """Count voxels of two padded bool masks; surfels and distances wait until asked for."""
        n_g = int(np.count_nonzero(gt))
        n_p = int(np.count_nonzero(pred))
        inter = int(np.count_nonzero(gt & pred)) if n_g and n_p else 0
        return cls(gt, pred, nsd_kind, tuple(spacing), float(tolerance_mm), n_g, n_p, inter)

    @property
    def distance_kind(self) -> str:
        """The surfel kind of distance metrics: ``"3d"`` or ``"2d-contour"`` (module docstring)."""
        return "3d" if self.gt.ndim == 3 else "2d-contour"

    def surfels(self, kind: str) -> tuple[Surfels, Surfels, SurfelTable]:
        """The surfels of ``gt`` and ``pred`` for ``kind`` and their table (computed once)."""
        key = ("surfels", kind)
        if key not in self._cache:
            table = surfel_table(kind, self.spacing)
            self._cache[key] = (surfels(self.gt, table), surfels(self.pred, table), table)
        return self._cache[key]

    def overlap(self) -> SurfaceOverlap:
        """Surface areas within ``tolerance_mm`` of the other surface, for ``nsd_kind`` (NSD)."""
        if "overlap" not in self._cache:
            g, p, table = self.surfels(self.nsd_kind)
            self._cache["overlap"] = overlap_from_surfels(g, p, table, self.tolerance_mm)
        return self._cache["overlap"]

    def distances(self) -> SurfaceDistances:
        """Per-surfel distances of both surfaces to each other, for :attr:`distance_kind`."""
        if "distances" not in self._cache:
            g, p, table = self.surfels(self.distance_kind)
            self._cache["distances"] = surface_distances(g, p, self.gt.shape, table)
        return self._cache["distances"]
