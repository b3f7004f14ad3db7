"""Run-based bounding boxes equal scipy's find_objects."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from evalkit.metrics.boxes import bounding_boxes


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64, np.int16, np.int32])
def test_bounding_boxes_equal_find_objects(dtype):
    rng = np.random.default_rng(int(np.dtype(dtype).itemsize) + 17 * (np.dtype(dtype).kind == "i"))
    for _ in range(80):
        ndim = int(rng.choice([1, 2, 3]))
        shape = tuple(int(x) for x in rng.integers(1, 30, ndim))
        a = np.zeros(shape, dtype)
        for _ in range(int(rng.integers(0, 7))):
            box = tuple(slice(int(lo), int(lo) + int(rng.integers(1, 8)))
                        for lo in (rng.integers(0, n) for n in shape))
            a[box] = rng.integers(1, 12)
        if rng.random() < 0.3:
            a[rng.random(shape) < 0.03] = rng.integers(1, 12)
        max_label = int(rng.integers(1, 14))
        want = [None, *ndimage.find_objects(a, max_label=max_label)]
        want += [None] * (max_label + 1 - len(want))
        assert bounding_boxes(a, max_label) == want, (shape, dtype)


def test_label_above_max_and_empty_inputs():
    a = np.zeros((4, 5), np.uint16)
    a[1, 1] = 3
    a[2, 2:4] = 60000
    assert bounding_boxes(a, 3) == [None, None, None, (slice(1, 2), slice(1, 2))]
    assert bounding_boxes(np.zeros((3, 3), np.uint8), 2) == [None, None, None]
    assert bounding_boxes(np.zeros((0, 3), np.uint8), 2) == [None, None, None]
    assert bounding_boxes(a, 0) == [None]
