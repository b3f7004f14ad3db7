"""Bounding boxes of every label of a label map, in one pass over the foreground.

``scipy.ndimage.find_objects`` visits every voxel (about 4 ns each: 0.2 s on a
200x512x512 volume). Most of a CT volume is background, so for unsigned label
maps the array is first cut into slabs along axis 0; each slab is cropped to the
bounding box of its foreground (found from two cheap max-projections) and only
that crop goes through ``find_objects``. The result is identical.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

SLAB = 16  # slices per slab along axis 0 (3D)


def bounding_boxes(labels: np.ndarray, max_label: int) -> list[tuple[slice, ...] | None]:
    """Bounding box of each label ``0..max_label`` (entry 0 is always ``None``).

    ``labels``: integer array (any number of dimensions, values above
    ``max_label`` or below 1 are ignored). Each entry is a tuple of slices (one
    per axis, ``stop`` exclusive) or ``None`` when the label does not occur.
    """
    out: list[tuple[slice, ...] | None] = [None] * (max_label + 1)
    if max_label < 1 or labels.size == 0:
        return out
    if labels.dtype.kind != "u" or labels.ndim not in (2, 3):
        # Signed maps: find_objects ignores labels <= 0 itself. No shortcut.
        _merge(out, ndimage.find_objects(labels, max_label=max_label), None)
        return out
    if labels.ndim == 2:
        rows = labels.max(axis=1)
        if rows.any():
            r0, r1 = _extent(rows)
            c0, c1 = _extent(labels[r0:r1].max(axis=0))
            crop = (slice(r0, r1), slice(c0, c1))
            _merge(out, ndimage.find_objects(labels[crop], max_label=max_label), crop)
        return out
    proj_rows = labels.max(axis=2)  # (D, H): foreground of each row
    proj_cols = labels.max(axis=1)  # (D, W): foreground of each column
    for z0 in range(0, labels.shape[0], SLAB):
        z1 = min(z0 + SLAB, labels.shape[0])
        rows = proj_rows[z0:z1].any(axis=0)
        if not rows.any():
            continue
        h0, h1 = _extent(rows)
        w0, w1 = _extent(proj_cols[z0:z1].any(axis=0))
        crop = (slice(z0, z1), slice(h0, h1), slice(w0, w1))
        _merge(out, ndimage.find_objects(labels[crop], max_label=max_label), crop)
    return out


def _merge(out: list, found: list, crop: tuple[slice, ...] | None) -> None:
    """Fold ``find_objects`` boxes of a crop (offset by ``crop``) into ``out``."""
    for i, box in enumerate(found, start=1):
        if box is None:
            continue
        if crop is not None:
            box = tuple(slice(s.start + c.start, s.stop + c.start) for s, c in zip(box, crop))
        prev = out[i]
        if prev is None:
            out[i] = box
        else:
            out[i] = tuple(
                slice(min(p.start, s.start), max(p.stop, s.stop)) for p, s in zip(prev, box)
            )


def _extent(mask: np.ndarray) -> tuple[int, int]:
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return 0, 0
    return int(idx[0]), int(idx[-1]) + 1
