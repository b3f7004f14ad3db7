"""Bounding boxes of every label of a label map, from runs along the last axis.

``scipy.ndimage.find_objects`` visits every voxel through a generic iterator
(about 4 ns each: 0.2 s on a 200x512x512 volume). For unsigned label maps this
module works on *runs* instead: keep the rows (lines along the last axis) that
hold any foreground, mark where the value changes along each row, and take each
label's extent from its runs (row index -> leading axes, run start/end -> last
axis). A CT volume has about 10^5 runs, so the cost is a few vectorised passes
over the foreground rows. Results equal ``find_objects`` (tested).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def bounding_boxes(labels: np.ndarray, max_label: int) -> list[tuple[slice, ...] | None]:
    """Bounding box of each label ``0..max_label`` (entry 0 is always ``None``).

    ``labels``: integer array (values above ``max_label`` or below 1 are
    ignored). Each entry is a tuple of slices (one per axis, ``stop`` exclusive)
    or ``None`` when the label does not occur.
    """
    out: list[tuple[slice, ...] | None] = [None] * (max_label + 1)
    if max_label < 1 or labels.size == 0:
        return out
    if labels.dtype.kind != "u" or labels.ndim < 1:
        # Signed maps: find_objects ignores labels <= 0 itself. No shortcut.
        for i, box in enumerate(ndimage.find_objects(labels, max_label=max_label), start=1):
            out[i] = box
        return out
    lead, width = labels.shape[:-1], labels.shape[-1]
    rows = labels.reshape(-1, width)
    fg_rows = np.flatnonzero(rows.any(axis=1))
    if fg_rows.size == 0:
        return out
    sub = rows[fg_rows]
    starts = np.empty(sub.shape, dtype=bool)
    starts[:, 0] = True
    np.not_equal(sub[:, 1:], sub[:, :-1], out=starts[:, 1:])
    flat = np.flatnonzero(starts)
    values = sub.reshape(-1)[flat]
    run_row, run_start = np.divmod(flat, width)
    run_end = np.full(flat.shape, width - 1, dtype=np.intp)  # inclusive
    same_row = run_row[1:] == run_row[:-1]
    run_end[:-1][same_row] = run_start[1:][same_row] - 1
    keep = (values > 0) & (values <= max_label)
    values = values[keep].astype(np.intp)
    if values.size == 0:
        return out
    row_index = fg_rows[run_row[keep]]
    coords = list(np.unravel_index(row_index, lead)) if lead else []
    n = max_label + 1
    lows, highs = [], []
    for coord in coords:
        lo = np.full(n, np.iinfo(np.intp).max, dtype=np.intp)
        hi = np.full(n, -1, dtype=np.intp)
        np.minimum.at(lo, values, coord)
        np.maximum.at(hi, values, coord)
        lows.append(lo)
        highs.append(hi)
    lo = np.full(n, np.iinfo(np.intp).max, dtype=np.intp)
    hi = np.full(n, -1, dtype=np.intp)
    np.minimum.at(lo, values, run_start[keep])
    np.maximum.at(hi, values, run_end[keep])
    lows.append(lo)
    highs.append(hi)
    present = np.flatnonzero(highs[0] >= 0)
    lo_t = np.stack(lows, axis=1)[present].tolist()
    hi_t = np.stack(highs, axis=1)[present].tolist()
    for label, los, his in zip(present.tolist(), lo_t, hi_t):
        out[label] = tuple(slice(a, b + 1) for a, b in zip(los, his))
    return out
