"""Box prompts derived from a label map, exactly as the case contract defines them."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def boxes_from_labels(labels: np.ndarray, n_instances: int) -> np.ndarray:
    """Tight box of every label ``1..n_instances`` of a 2D or 3D label map.

    - 2D ``labels`` ``(H, W)`` -> ``int64 (N, 4)`` rows ``[x_min, y_min, x_max, y_max]``.
    - 3D ``labels`` ``(D, H, W)`` -> ``int64 (N, 6)`` rows
      ``[x_min, y_min, z_min, x_max, y_max, z_max]``.

    All bounds are inclusive pixel indices of the given array (row ``i - 1`` is label
    ``i``). A label with no pixel raises ``ValueError``: the contract has no way to
    prompt an absent instance.
    """
    if labels.ndim not in (2, 3):
        raise ValueError(f"label map must be 2D or 3D, found shape {labels.shape}")
    objects = ndimage.find_objects(np.asarray(labels), max_label=n_instances)
    missing = [i + 1 for i, sl in enumerate(objects) if sl is None]
    if missing:
        raise ValueError(f"labels {missing} have no pixel in the label map")
    rows = []
    for sl in objects:
        lo = [s.start for s in sl]
        hi = [s.stop - 1 for s in sl]
        if labels.ndim == 2:
            rows.append([lo[1], lo[0], hi[1], hi[0]])
        else:
            rows.append([lo[2], lo[1], lo[0], hi[2], hi[1], hi[0]])
    width = 4 if labels.ndim == 2 else 6
    return np.asarray(rows, dtype=np.int64).reshape(len(rows), width)
