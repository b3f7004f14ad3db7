"""Classical baseline: label every pixel/voxel inside box i with i (numpy only).

2D boxes ``[x0, y0, x1, y1]``, 3D ``[x0, y0, z0, x1, y1, z1]``, all inclusive
pixel indices (clipped to the image); later boxes overwrite earlier ones.
Exit status: 0 ok, 2 malformed input, 1 other failure.
"""

from __future__ import annotations

import sys

import numpy as np
from case_io import Case, run_folder


def fill_boxes(shape: tuple[int, ...], boxes: np.ndarray) -> np.ndarray:
    """uint16 label map of ``shape`` ((H, W) or (D, H, W)) with box i filled with i."""
    segs = np.zeros(shape, dtype=np.uint16)
    for i, b in enumerate(boxes, start=1):
        if len(shape) == 2:
            x0, y0, x1, y1 = (int(v) for v in b)
            segs[y0:y1 + 1, x0:x1 + 1] = i
        else:
            x0, y0, z0, x1, y1, z1 = (int(v) for v in b)
            segs[z0:z1 + 1, y0:y1 + 1, x0:x1 + 1] = i
    return segs


def predict(case: Case) -> np.ndarray:
    shape = case.imgs.shape[:2] if case.dim == 2 else case.imgs.shape
    return fill_boxes(shape, case.boxes)


if __name__ == "__main__":
    sys.exit(run_folder(predict, *sys.argv[1:3]))
