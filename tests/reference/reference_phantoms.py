"""Small deterministic ellipse/ellipsoid cases in the challenge format (test data only).

Used by the reference-submission tests and ``benchmarks/reference.py`` until
(and besides) ``evalkit demo-data``. Each writer returns the ground-truth label
map; inputs hold ``imgs``, ``boxes`` (tight GT boxes) and, in 3D, ``spacing``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _box2d(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]


def make_2d(path: Path, h: int = 200, w: int = 260, n: int = 2, seed: int = 0) -> np.ndarray:
    """Write a 2D case (uint8 (h, w, 3), n ellipses of distinct brightness)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    img = rng.normal(60, 8, (h, w))
    gts = np.zeros((h, w), np.uint16)
    boxes = []
    for i in range(1, n + 1):
        cy = h * (i / (n + 1))
        cx = w * (0.3 + 0.4 * rng.random())
        ry, rx = h / (3.2 * n) * (0.8 + 0.4 * rng.random()), w / 7 * (0.8 + 0.4 * rng.random())
        m = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        img[m] = rng.normal(140 + 40 * (i % 2), 8, m.sum())
        gts[m] = i
    for i in range(1, n + 1):
        boxes.append(_box2d(gts == i))
    img8 = np.clip(img, 0, 255).astype(np.uint8)
    img3 = np.repeat(img8[:, :, None], 3, axis=-1)
    np.savez_compressed(path, imgs=img3, boxes=np.array(boxes, dtype=np.int64))
    return gts


def make_3d(path: Path, d: int = 24, h: int = 128, w: int = 144, n: int = 2,
            seed: int = 0) -> np.ndarray:
    """Write a 3D case (uint8 (d, h, w), n ellipsoids, spacing (2.5, 1, 1))."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.mgrid[:d, :h, :w]
    vol = rng.normal(50, 8, (d, h, w))
    gts = np.zeros((d, h, w), np.uint16)
    for i in range(1, n + 1):
        cz = d * (0.4 + 0.2 * rng.random())
        cy = h * (i / (n + 1))
        cx = w * (0.35 + 0.3 * rng.random())
        rz, ry, rx = d * 0.3, h / (3.0 * n), w / 6
        m = ((zz - cz) / rz) ** 2 + ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        vol[m] = rng.normal(150 + 40 * (i % 2), 8, m.sum())
        gts[m] = i
    boxes = []
    for i in range(1, n + 1):
        zs, ys, xs = np.nonzero(gts == i)
        boxes.append([int(xs.min()), int(ys.min()), int(zs.min()),
                      int(xs.max()), int(ys.max()), int(zs.max())])
    np.savez_compressed(path, imgs=np.clip(vol, 0, 255).astype(np.uint8),
                        boxes=np.array(boxes, dtype=np.int64),
                        spacing=np.array([2.5, 1.0, 1.0]))
    return gts


def dsc(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two boolean masks; 1.0 when both are empty."""
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int(np.logical_and(a, b).sum()) / s


def per_instance_dsc(a: np.ndarray, b: np.ndarray, n: int) -> list[float]:
    """DSC of labels 1..n between two label maps."""
    return [dsc(a == i, b == i) for i in range(1, n + 1)]
