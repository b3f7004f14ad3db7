"""Small case files built in tmp_path for the contract tests (helpers, imported by name)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_2d(path: Path, *, h: int = 12, w: int = 16, boxes=None, **extra) -> Path:
    """A valid 2D input case (imgs uint8 (h, w, 3), two boxes), overridable per key."""
    rng = np.random.default_rng(0)
    arrays = {
        "imgs": rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        "boxes": np.array([[0, 0, 5, 5], [3, 2, w - 1, h - 1]], dtype=np.int64)
        if boxes is None
        else boxes,
    }
    arrays.update(extra)
    np.savez_compressed(path, **arrays)
    return path


def write_3d(path: Path, *, d: int = 4, h: int = 10, w: int = 12, boxes=None, **extra) -> Path:
    """A valid 3D input case (imgs uint8 (d, h, w), one box, spacing), overridable per key."""
    arrays = {
        "imgs": np.arange(d * h * w, dtype=np.uint8).reshape(d, h, w),
        "boxes": np.array([[1, 2, 0, 8, 9, d - 1]], dtype=np.int64) if boxes is None else boxes,
        "spacing": np.array([2.5, 0.8, 0.8]),
    }
    arrays.update(extra)
    np.savez_compressed(path, **arrays)
    return path


def assert_names(err, case: str, file: Path | str, key: str | None) -> None:
    """The message names the case, the file and (when given) the key."""
    text = str(err)
    assert case in text, text
    assert Path(file).name in text, text
    assert err.case == case
    assert err.file is not None and Path(err.file).name == Path(file).name
    if key is not None:
        assert err.key == key
        assert f"'{key}'" in text, text
