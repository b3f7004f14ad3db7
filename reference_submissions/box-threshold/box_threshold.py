"""Classical baseline: Otsu threshold inside each box (numpy only).

For box i the grey values inside the box (2D: channel mean; 3D: the box's
sub-volume) are split by Otsu's threshold (256-bin histogram, maximal
between-class variance). The foreground is the side whose values are less
frequent on the box's border (the object touches the border less than the
background does); ties take the brighter side. A box of uniform intensity is
filled. Labels: i = box i, later boxes overwrite earlier ones.
Exit status: 0 ok, 2 malformed input, 1 other failure.
"""

from __future__ import annotations

import sys

import numpy as np
from case_io import Case, run_folder


def otsu_threshold(values: np.ndarray) -> int:
    """Otsu threshold t on uint8 values: foreground candidates are values > t.

    Returns -1 when all values are equal (no split)."""
    hist = np.bincount(values.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    if total == 0 or np.count_nonzero(hist) < 2:
        return -1
    levels = np.arange(256, dtype=np.float64)
    w0 = np.cumsum(hist)
    w1 = total - w0
    m0 = np.cumsum(hist * levels)
    mt = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mt * w0 / total - m0) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = -1
    return int(np.argmax(between[:-1]))


def segment_box(patch: np.ndarray) -> np.ndarray:
    """Boolean foreground of a uint8 patch ((h, w) or (d, h, w))."""
    t = otsu_threshold(patch)
    if t < 0:
        return np.ones(patch.shape, dtype=bool)
    bright = patch > t
    border = np.zeros(patch.shape, dtype=bool)
    for ax in range(patch.ndim if patch.ndim == 2 else 3):
        if patch.ndim == 3 and ax == 0:
            continue  # in 3D only the in-plane border counts
        idx = [slice(None)] * patch.ndim
        idx[ax] = 0
        border[tuple(idx)] = True
        idx[ax] = -1
        border[tuple(idx)] = True
    frac_bright_border = bright[border].mean() if border.any() else 0.0
    return bright if frac_bright_border <= 0.5 else ~bright


def predict(case: Case) -> np.ndarray:
    if case.dim == 2:
        grey = case.imgs.mean(axis=2).round().astype(np.uint8)
        segs = np.zeros(grey.shape, dtype=np.uint16)
        for i, b in enumerate(case.boxes, start=1):
            x0, y0, x1, y1 = (int(v) for v in b)
            sl = (slice(y0, y1 + 1), slice(x0, x1 + 1))
            segs[sl][segment_box(grey[sl])] = i
        return segs
    segs = np.zeros(case.imgs.shape, dtype=np.uint16)
    for i, b in enumerate(case.boxes, start=1):
        x0, y0, z0, x1, y1, z1 = (int(v) for v in b)
        sl = (slice(z0, z1 + 1), slice(y0, y1 + 1), slice(x0, x1 + 1))
        segs[sl][segment_box(case.imgs[sl])] = i
    return segs


if __name__ == "__main__":
    sys.exit(run_folder(predict, *sys.argv[1:3]))
