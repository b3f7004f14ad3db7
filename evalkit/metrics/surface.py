"""Surface elements on the voxel-corner grid and the surface Dice at a tolerance.

This is the DeepMind ``surface-distance`` definition of NSD (surface Dice),
computed on one cropped instance without a distance transform:

* A *corner* sits between ``2**ndim`` voxels. Its neighbour code packs those
  voxels into bits with the kernel ``[[[128, 64], [32, 16]], [[8, 4], [2, 1]]]``
  (3D) or ``[[8, 4], [2, 1]]`` (2D), the lowest-index voxel taking the highest
  bit; everything outside the array is background.
* A corner is a *surfel* when its code is neither 0 nor "all ones" (255 in 3D,
  15 in 2D); its area (3D, mm²) or contour length (2D, mm) comes from the
  lookup tables of the PyPI package ``surface-distance`` scaled by spacing.
* A surfel of one mask is *within tolerance* when some surfel of the other mask
  lies at a spacing-scaled Euclidean distance ``<= tolerance_mm``. Instead of a
  distance transform we enumerate the integer corner offsets whose length is
  ``<= tolerance_mm`` (computed in float64 with exactly the formula SciPy's
  ``distance_transform_edt`` uses, so ties at the tolerance decide identically),
  dilate the other mask's bit-packed surfel map by that offset set, and read
  each surfel's bit. A surfel is within tolerance exactly when its nearest
  surfel of the other mask is, so this equals thresholding the exact distance.

Three surfel *kinds* exist:

``"3d"``
    DeepMind 3D surfels (256 codes, marching-cubes areas).
``"2d-contour"``
    DeepMind's native 2D contour (16 codes, contour lengths).
``"2d-slab"``
    The official CVPR24 2D procedure: a 2D mask made into an ``(H, W, 1)`` slab
    and pushed through the 3D code. Reduced exactly to 2D: every corner that
    touches the foreground is a surfel (its two 3D corner layers both are), its
    area is the sum of the two layers' 3D table entries (third spacing 1.0), and
    distances are in-plane only.

Distance metrics (HD95, ASSD) need the distance of every surfel to the other
surface, not just "within tolerance or not": :func:`surface_distances` computes
them from the same :class:`Surfels` with SciPy's exact Euclidean distance
transform on the surfel grid, as ``surface-distance`` does. It is called only
when a distance metric is enabled (:class:`evalkit.metrics.geometry.InstanceGeometry`
computes it lazily), so NSD alone never pays for a distance transform.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from surface_distance import lookup_tables

KINDS = ("3d", "2d-contour", "2d-slab")
#: Bound on the offset box enumerated for a tolerance (about 5 voxels of reach in 3D
#: is typical; a 0.01 mm spacing must not make us allocate gigabytes).
MAX_OFFSET_CANDIDATES = 2_000_000

# 3D kernel weights for the two corner layers of a one-voxel slab, indexed like
# the 2D kernel [[8, 4], [2, 1]] (row offset, column offset). The corner below
# the slab sees the slab voxels in the kernel's second layer, the corner above
# it in the first.
_SLAB_LAYER_BELOW = np.array([[64, 16], [4, 1]])
_SLAB_LAYER_ABOVE = np.array([[128, 32], [8, 2]])


@dataclass(frozen=True)
class SurfelTable:
    """Per-code surfel data for one kind and one spacing.

    ``area``: float64 ``(2**2**ndim,)``, area (mm², 3D) or length (mm, 2D) of
    each neighbour code. ``full_code``: the "all inside" code that is not a
    surfel (``None`` for the slab kind, where every touching corner is one).
    ``spacing``: float64 ``(ndim,)`` used for distances.
    """

    kind: str
    ndim: int
    area: np.ndarray
    full_code: int | None
    spacing: tuple[float, ...]


@functools.lru_cache(maxsize=64)
def surfel_table(kind: str, spacing: tuple[float, ...]) -> SurfelTable:
    """The surfel table for ``kind`` at ``spacing`` (mm per voxel, array axis order).

    ``spacing`` has 3 entries for ``"3d"`` and 2 for the 2D kinds. Raises
    ``ValueError`` for an unknown kind, a wrong length, or a non-positive or
    non-finite spacing.
    """
    spacing = tuple(float(s) for s in spacing)
    ndim = 3 if kind == "3d" else 2
    if kind not in KINDS:
        raise ValueError(f"unknown surfel kind {kind!r}; expected one of {KINDS}")
    if len(spacing) != ndim or not all(math.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(
            f"spacing for kind {kind!r} must be {ndim} positive finite numbers, found {spacing}"
        )
    if kind == "3d":
        area = lookup_tables.create_table_neighbour_code_to_surface_area(spacing)
        full = 255
    elif kind == "2d-contour":
        area = lookup_tables.create_table_neighbour_code_to_contour_length(spacing)
        full = 15
    else:
        table3d = lookup_tables.create_table_neighbour_code_to_surface_area(spacing + (1.0,))
        area = np.zeros(16)
        for code in range(16):
            bits = np.array([[(code >> 3) & 1, (code >> 2) & 1], [(code >> 1) & 1, code & 1]])
            below = int((bits * _SLAB_LAYER_BELOW).sum())
            above = int((bits * _SLAB_LAYER_ABOVE).sum())
            area[code] = table3d[below] + table3d[above] if code else 0.0
        full = None
    area = np.asarray(area, dtype=np.float64)
    area.flags.writeable = False
    return SurfelTable(kind, ndim, area, full, spacing)


def offset_lengths(offsets: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    """Spacing-scaled Euclidean lengths (mm, float64) of integer corner offsets.

    ``offsets``: integer ``(m, ndim)``. The arithmetic is SciPy's
    ``distance_transform_edt`` with ``sampling``: per axis ``float64(o) * s``,
    squared, summed in axis order, square root. Using the same operations in the
    same order makes ``length <= tolerance`` decide exact ties identically.
    """
    d = offsets.astype(np.float64) * np.asarray(spacing, dtype=np.float64)
    d = d * d
    total = d[:, 0].copy()
    for axis in range(1, d.shape[1]):
        total = total + d[:, axis]
    return np.sqrt(total)


@functools.lru_cache(maxsize=64)
def tolerance_offsets(spacing: tuple[float, ...], tolerance_mm: float) -> np.ndarray:
    """All integer corner offsets whose scaled length is ``<= tolerance_mm``.

    Returns int64 ``(m, ndim)`` sorted by length (the zero offset first). A
    negative or NaN tolerance gives an empty set (nothing is ever within it).
    Raises ``ValueError`` when the tolerance spans more than
    :data:`MAX_OFFSET_CANDIDATES` candidate offsets.
    """
    ndim = len(spacing)
    tol = float(tolerance_mm)
    if not tol >= 0:
        return np.zeros((0, ndim), dtype=np.int64)
    reach = [math.floor(tol / s) + 1 for s in spacing]
    if math.prod(2 * r + 1 for r in reach) > MAX_OFFSET_CANDIDATES:
        raise ValueError(
            f"tolerance {tol} mm spans more than {MAX_OFFSET_CANDIDATES} corner offsets at "
            f"spacing {tuple(spacing)}; expected a tolerance of a few voxels"
        )
    grids = np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij")
    offsets = np.stack([g.ravel() for g in grids], axis=1).astype(np.int64)
    lengths = offset_lengths(offsets, spacing)
    keep = lengths <= tol
    offsets, lengths = offsets[keep], lengths[keep]
    order = np.lexsort(tuple(offsets.T[::-1]) + (lengths,))
    out = offsets[order]
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class SurfaceOverlap:
    """Surface areas of one G/P pair (mm² in 3D, mm in 2D).

    ``gt_area`` / ``pred_area``: total surfel area of each mask;
    ``gt_within`` / ``pred_within``: the part within tolerance of the other surface.
    """

    gt_area: float
    gt_within: float
    pred_area: float
    pred_within: float

    @property
    def surface_dice(self) -> float:
        """NSD = (gt_within + pred_within) / (gt_area + pred_area); NaN when both are empty."""
        den = self.gt_area + self.pred_area
        if den == 0:
            return math.nan
        return (self.gt_within + self.pred_within) / den


def surface_overlap(
    gt: np.ndarray, pred: np.ndarray, *, kind: str, spacing: tuple[float, ...], tolerance_mm: float
) -> SurfaceOverlap:
    """Surface overlap of two binary masks of the same shape (a crop or a whole array).

    ``gt``, ``pred``: bool arrays, 2D for the 2D kinds, 3D for ``"3d"``. Masks may
    touch the array border: the array is treated as surrounded by background.
    A mask with no foreground has no surfels: its area is 0 and nothing of the
    other mask is within tolerance of it. Exact in float64 up to summation order.
    """
    table = surfel_table(kind, tuple(spacing))
    if gt.shape != pred.shape or gt.ndim != table.ndim:
        raise ValueError(
            f"gt and pred must be {table.ndim}D arrays of one shape for kind {kind!r}, "
            f"found {gt.shape} and {pred.shape}"
        )
    pad = padding(kind, spacing, tolerance_mm)
    width = [(p, p) for p in pad]
    return padded_surface_overlap(
        np.pad(gt.astype(bool, copy=False), width),
        np.pad(pred.astype(bool, copy=False), width),
        kind=kind, spacing=spacing, tolerance_mm=tolerance_mm,
    )


def padding(kind: str, spacing: tuple[float, ...], tolerance_mm: float) -> tuple[int, ...]:
    """Background margin (voxels per axis) :func:`padded_surface_overlap` needs around the masks.

    One voxel so every corner touching a mask exists, plus the reach of the
    tolerance offsets so that ``corner + offset`` never leaves the array.
    """
    table = surfel_table(kind, tuple(spacing))
    offsets = tolerance_offsets(table.spacing, float(tolerance_mm))
    if len(offsets) == 0:
        return (1,) * table.ndim
    return tuple(int(r) + 1 for r in np.abs(offsets).max(axis=0))


def padded_surface_overlap(
    gt: np.ndarray, pred: np.ndarray, *, kind: str, spacing: tuple[float, ...], tolerance_mm: float
) -> SurfaceOverlap:
    """:func:`surface_overlap` of masks that already carry :func:`padding` of background.

    ``gt``, ``pred``: bool arrays of one shape whose outer ``padding(...)``
    voxels on every side are False (not checked).
    """
    table = surfel_table(kind, tuple(spacing))
    return overlap_from_surfels(surfels(gt, table), surfels(pred, table), table, tolerance_mm)


def overlap_from_surfels(g: Surfels, p: Surfels, table: SurfelTable, tolerance_mm: float) -> SurfaceOverlap:
    """The :class:`SurfaceOverlap` of two masks' surfels (same padded grid, same ``table``).

    A surfel is within tolerance when the other mask's surfel map, dilated by
    :func:`tolerance_offsets`, holds its corner (module docstring).
    """
    offsets = tolerance_offsets(table.spacing, float(tolerance_mm))
    g_area = table.area[g.codes]
    p_area = table.area[p.codes]
    g_hit = g.test(dilate_bits(p.bitmap, offsets))
    p_hit = p.test(dilate_bits(g.bitmap, offsets))
    return SurfaceOverlap(
        gt_area=float(g_area.sum()),
        gt_within=float(g_area[g_hit].sum()),
        pred_area=float(p_area.sum()),
        pred_within=float(p_area[p_hit].sum()),
    )


@dataclass(frozen=True)
class Surfels:
    """The surfels of one padded mask.

    ``bitmap``: uint8, the mask's shape with the last axis packed 8 corners a
    byte (``np.packbits`` order): bit set = the corner is a surfel. Corner ``c``
    sits between voxels ``c`` and ``c + 1`` on every axis. ``byte``/``bit``:
    where each surfel's bit is (flat byte index, bit 0..7 from the most
    significant); ``codes``: uint8 neighbour codes, in the same (raster) order;
    ``index``: the flat index of each surfel's corner on the unpacked grid (the
    mask's shape), same order.
    """

    bitmap: np.ndarray
    byte: np.ndarray
    bit: np.ndarray
    codes: np.ndarray
    index: np.ndarray

    def test(self, bitmap: np.ndarray) -> np.ndarray:
        """Is each surfel's corner set in ``bitmap`` (same layout as ``self.bitmap``)?"""
        if self.byte.size == 0:
            return np.zeros(0, dtype=bool)
        return ((bitmap.reshape(-1)[self.byte] >> (7 - self.bit)) & 1).astype(bool)


def surfels(mask: np.ndarray, table: SurfelTable) -> Surfels:
    """Surfels of a padded bool mask (its last voxel on every axis must be background).

    Mixed neighbourhoods are found on bit-packed rows (8 voxels a byte, OR and
    AND of the ``2**ndim`` neighbours), so the full-size work is one pass to
    pack; codes are then gathered only at the surfels.
    """
    mask = np.ascontiguousarray(mask, dtype=bool)
    ndim = mask.ndim
    packed = np.packbits(mask, axis=-1)
    nxt = _shift_bits(packed, 1)  # the neighbour along the last axis
    any_ = packed | nxt
    all_ = packed & nxt if table.full_code is not None else None
    for axis in range(ndim - 2, -1, -1):
        any_ = _pair(any_, axis, np.bitwise_or)
        if all_ is not None:
            all_ = _pair(all_, axis, np.bitwise_and)
    bitmap = any_ if all_ is None else any_ & ~all_
    byte = np.flatnonzero(bitmap)
    hits = np.flatnonzero(np.unpackbits(bitmap.reshape(-1)[byte]))
    byte, bit = byte[hits >> 3], (hits & 7).astype(np.uint8)
    # flat voxel index of each corner: row * width + 8 * byte-in-row + bit
    n_bytes, width = bitmap.shape[-1], mask.shape[-1]
    row, col = np.divmod(byte, n_bytes)
    flat = row * width + col * 8 + bit
    strides = np.cumprod((mask.shape[1:] + (1,))[::-1])[::-1]
    m = mask.reshape(-1).view(np.uint8)
    codes = np.zeros(flat.shape, dtype=np.uint8)
    n_bits = 1 << ndim
    for j, delta in enumerate(itertools.product((0, 1), repeat=ndim)):
        codes |= m[flat + int(np.dot(delta, strides))] << np.uint8(n_bits - 1 - j)
    return Surfels(bitmap, byte, bit, codes, flat)


@dataclass(frozen=True)
class SurfaceDistances:
    """Per-surfel distances between two surfaces (mm in 3D; pixels in 2D at spacing 1).

    ``gt_to_pred``: float64, the distance of each GT surfel to the nearest
    prediction surfel (``inf`` when the prediction has none); ``gt_areas``: the
    GT surfels' areas (mm², 3D) or lengths (2D). ``pred_to_gt`` / ``pred_areas``
    likewise. All in the surfels' raster order (unsorted): the four arrays of
    ``surface_distance.compute_surface_distances`` before its sort.
    """

    gt_to_pred: np.ndarray
    gt_areas: np.ndarray
    pred_to_gt: np.ndarray
    pred_areas: np.ndarray


def surface_distances(g: Surfels, p: Surfels, shape: tuple[int, ...], table: SurfelTable) -> SurfaceDistances:
    """Distances from each surfel of ``g`` to ``p``'s surface and back.

    ``g``, ``p``: surfels of two masks on one padded grid of ``shape``, made with
    ``table`` (a DeepMind kind: ``"3d"`` or ``"2d-contour"``). Each direction is
    one ``scipy.ndimage.distance_transform_edt`` of the other mask's surfel grid
    at ``table.spacing`` (the arithmetic of ``surface-distance``, so distances
    equal its own), read at the surfels' corners. Memory: the float64 transform
    and SciPy's int32 feature indices of the grid, once per direction.
    """
    return SurfaceDistances(
        gt_to_pred=_distances_to(p, g, shape, table.spacing),
        gt_areas=table.area[g.codes],
        pred_to_gt=_distances_to(g, p, shape, table.spacing),
        pred_areas=table.area[p.codes],
    )


def _distances_to(target: Surfels, query: Surfels, shape: tuple[int, ...],
                  spacing: tuple[float, ...]) -> np.ndarray:
    """Distance of each ``query`` surfel to the nearest ``target`` surfel (``inf``: no target)."""
    if query.index.size == 0:
        return np.zeros(0, dtype=np.float64)
    if target.index.size == 0:
        return np.full(query.index.size, np.inf)
    free = np.ones(shape, dtype=bool)
    free.reshape(-1)[target.index] = False
    edt = ndimage.distance_transform_edt(free, sampling=spacing)
    return edt.reshape(-1)[query.index]


def _pair(a: np.ndarray, axis: int, op) -> np.ndarray:
    """``op`` of each element with its successor along ``axis`` (the last one with 0)."""
    out = np.zeros_like(a)
    lo = [slice(None)] * a.ndim
    hi = [slice(None)] * a.ndim
    lo[axis] = slice(None, -1)
    hi[axis] = slice(1, None)
    op(a[tuple(lo)], a[tuple(hi)], out=out[tuple(lo)])
    return out


def _shift_bits(packed: np.ndarray, k: int) -> np.ndarray:
    """Bitmap whose corner ``c`` holds corner ``c + k`` of ``packed`` along the last axis (0 fill)."""
    nbytes, r = divmod(abs(k), 8)
    if r == 0:
        x = packed.copy()
    elif k > 0:  # bits move towards lower corners
        x = packed << np.uint8(r)
        x[..., :-1] |= packed[..., 1:] >> np.uint8(8 - r)
    else:
        x = packed >> np.uint8(r)
        x[..., 1:] |= packed[..., :-1] << np.uint8(8 - r)
    if nbytes == 0:
        return x
    out = np.zeros_like(x)
    n = x.shape[-1]
    if nbytes < n:
        if k > 0:
            out[..., : n - nbytes] = x[..., nbytes:]
        else:
            out[..., nbytes:] = x[..., : n - nbytes]
    return out


def dilate_bits(bitmap: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``out[c] = OR over offsets o of bitmap[c + o]`` on a packed bitmap (0 outside)."""
    out = np.zeros_like(bitmap)
    if len(offsets) == 0:
        return out
    shifted: dict[int, np.ndarray] = {}
    lead = bitmap.shape[:-1]
    for off in offsets.tolist():
        *lo_off, last = off
        src = shifted.get(last)
        if src is None:
            src = shifted[last] = _shift_bits(bitmap, last) if last else bitmap
        dst_sl, src_sl = [], []
        for o, n in zip(lo_off, lead):
            if o >= n or -o >= n:
                break
            dst_sl.append(slice(max(0, -o), n - max(0, o)))
            src_sl.append(slice(max(0, o), n + min(0, o)))
        else:
            out[tuple(dst_sl)] |= src[tuple(src_sl)]
    return out
