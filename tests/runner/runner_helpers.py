"""Helpers for the runner tests: tiny cases, the expected box-fill answer, test configs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

IMAGES_DIR = Path(__file__).resolve().parents[1] / "images"

# Small limits so the hostile images fail fast (the bundled defaults are 8g / 900 s).
TEST_RUNNER = {
    "memory": "256m",
    "cpus": 1.0,
    "pids_limit": 64,
    "timeout_s": 5,
    "tmpfs_tmp": "16m",
    "outputs_cap_bytes": 8 * 1024 * 1024,
    "log_tail_bytes": 4096,
}


def load_image_builder():
    spec = importlib.util.spec_from_file_location("evalkit_test_image_build", IMAGES_DIR / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write_config(path: Path, **runner) -> Path:
    """A challenge TOML overriding ``[runner]`` with TEST_RUNNER plus ``runner``."""
    values = dict(TEST_RUNNER, **runner)
    lines = ["[runner]"]
    for k, v in values.items():
        if isinstance(v, bool):
            lines.append(f"{k} = {'true' if v else 'false'}")
        elif isinstance(v, str):
            lines.append(f'{k} = "{v}"')
        elif isinstance(v, list | tuple):
            lines.append(f"{k} = [" + ", ".join(f'"{x}"' for x in v) + "]")
        else:
            lines.append(f"{k} = {v}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_2d(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 256, size=(32, 40, 3), dtype=np.uint8)
    boxes = np.array([[2, 3, 20, 25], [10, 5, 30, 15]], dtype=np.int64)
    np.savez_compressed(path, imgs=imgs, boxes=boxes)
    return path


def write_3d(path: Path, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 256, size=(6, 24, 28), dtype=np.uint8)
    boxes = np.array([[1, 2, 1, 10, 12, 4], [5, 6, 0, 20, 20, 2]], dtype=np.int64)
    np.savez_compressed(path, imgs=imgs, boxes=boxes, spacing=np.array([2.0, 1.0, 1.0]))
    return path


def expected_boxfill(input_path: Path) -> np.ndarray:
    """What the ``ok`` test image answers (tests/images/common/boxfill.py), computed with numpy."""
    with np.load(input_path, allow_pickle=False) as z:
        imgs, boxes = z["imgs"], z["boxes"]
    if boxes.shape[1] == 4:
        segs = np.zeros(imgs.shape[:2], np.uint16)
        for i, (x0, y0, x1, y1) in enumerate(boxes, 1):
            segs[y0:y1, x0:x1] = i
    else:
        segs = np.zeros(imgs.shape, np.uint16)
        for i, (x0, y0, z0, x1, y1, z1) in enumerate(boxes, 1):
            segs[z0:z1 + 1, y0:y1, x0:x1] = i
    return segs
