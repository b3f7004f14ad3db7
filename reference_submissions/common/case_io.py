"""Reading, checking and writing one challenge case inside a submission container.

numpy only (every bundled image carries this file). The container contract
(CVPR24 "MedSAM on laptop"): ``/workspace/inputs/<case>.npz`` holds ``imgs``
(2D: uint8 ``(H, W, 3)`` or ``(H, W)``; 3D: uint8 ``(D, H, W)``) and ``boxes``
(2D: ``(N, 4)`` rows ``[x_min, y_min, x_max, y_max]``; 3D: ``(N, 6)`` rows
``[x_min, y_min, z_min, x_max, y_max, z_max]``, z inclusive on both ends), in
pixel indices of the original image. The case is 3D when its file name starts
with ``3D``. The output ``/workspace/outputs/<case>.npz`` holds ``segs``: a
uint16 label map of the image's spatial shape, label i = box i (1-based), later
boxes overwrite earlier ones.

Bad input raises :class:`CaseError` whose message names the file, the key, what
was expected and what was found; :func:`run_folder` turns it into one line on
stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_INPUT_BYTES = 2_000_000_000


class CaseError(ValueError):
    """A malformed input case (message: file, key, expected, found)."""


@dataclass(frozen=True)
class Case:
    """One loaded, checked input case.

    imgs: uint8, ``(H, W, 3)`` in 2D (grey images are repeated to 3 channels),
    ``(D, H, W)`` in 3D. boxes: int64 ``(N, 4)`` in 2D, ``(N, 6)`` in 3D.
    """

    name: str
    dim: int
    imgs: np.ndarray
    boxes: np.ndarray


def _fail(path: Path, key: str, expected: str, found: str) -> CaseError:
    return CaseError(f"{path.name}: key '{key}': expected {expected}, found {found}")


def load_case(path: str | Path) -> Case:
    """Load and check one input ``.npz`` (no pickle, regular file, bounded size).

    Raises CaseError for: unreadable file, missing ``imgs``/``boxes``, wrong
    dtype or shape, values outside 0..255, an empty box list, a box with the
    wrong number of coordinates (e.g. a 2D box in a 3D case), a box with
    min > max, or a box outside the image.
    """
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        raise CaseError(f"{path.name}: not a regular file")
    size = path.stat().st_size
    if size > MAX_INPUT_BYTES:
        raise CaseError(f"{path.name}: file is {size} bytes, more than {MAX_INPUT_BYTES}")
    dim = 3 if path.name.startswith("3D") else 2
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            for key in ("imgs", "boxes"):
                if key not in keys:
                    raise _fail(path, key, "an array", f"no such key (keys: {sorted(keys)})")
            imgs = npz["imgs"]
            boxes = npz["boxes"]
    except CaseError:
        raise
    except Exception as exc:  # noqa: BLE001 - zip/npy format errors, pickled arrays
        raise CaseError(f"{path.name}: cannot read as .npz without pickle: {exc}") from None

    if imgs.dtype != np.uint8:
        if imgs.dtype.kind not in "iuf" or imgs.size == 0:
            raise _fail(path, "imgs", "uint8 values 0..255", f"dtype {imgs.dtype}")
        lo, hi = float(np.min(imgs)), float(np.max(imgs))
        if lo < 0 or hi > 255:
            raise _fail(path, "imgs", "values 0..255", f"range [{lo}, {hi}]")
        imgs = imgs.astype(np.uint8)
    if dim == 2:
        if imgs.ndim == 2:
            imgs = np.repeat(imgs[:, :, None], 3, axis=-1)
        if imgs.ndim != 3 or imgs.shape[2] != 3:
            raise _fail(path, "imgs", "shape (H, W, 3) for a 2D case", f"shape {imgs.shape}")
        spatial = imgs.shape[:2]
    else:
        if imgs.ndim != 3:
            raise _fail(path, "imgs", "shape (D, H, W) for a 3D case", f"shape {imgs.shape}")
        spatial = imgs.shape
    if min(spatial) < 1:
        raise _fail(path, "imgs", "a non-empty image", f"shape {imgs.shape}")

    ncoord = 4 if dim == 2 else 6
    if boxes.dtype.kind not in "iuf":
        raise _fail(path, "boxes", "integer coordinates", f"dtype {boxes.dtype}")
    if boxes.size == 0:
        raise _fail(path, "boxes", f"at least one box (N, {ncoord})", f"shape {boxes.shape}")
    if boxes.ndim == 1 and boxes.shape[0] == ncoord:
        boxes = boxes[None, :]
    if boxes.ndim != 2 or boxes.shape[1] != ncoord:
        what = "[x_min, y_min, x_max, y_max]" if dim == 2 else (
            "[x_min, y_min, z_min, x_max, y_max, z_max] (3D case)")
        raise _fail(path, "boxes", f"shape (N, {ncoord}) rows {what}", f"shape {boxes.shape}")
    if not np.all(np.isfinite(boxes)):
        raise _fail(path, "boxes", "finite coordinates", "NaN or infinity")
    if boxes.dtype.kind == "f" and not np.all(boxes == np.round(boxes)):
        raise _fail(path, "boxes", "integer coordinates", "fractional values")
    boxes = boxes.astype(np.int64)
    if dim == 2:
        h, w = spatial
        limits = {"x": w, "y": h}
        axes = {"x": (0, 2), "y": (1, 3)}
    else:
        d, h, w = spatial
        limits = {"x": w, "y": h, "z": d - 1}
        axes = {"x": (0, 3), "y": (1, 4), "z": (2, 5)}
    for i, box in enumerate(boxes, start=1):
        for ax, (a, b) in axes.items():
            lo, hi = int(box[a]), int(box[b])
            if lo > hi:
                raise _fail(path, "boxes", f"box {i}: {ax}_min <= {ax}_max", f"{list(box)}")
            if lo < 0 or hi > limits[ax]:
                raise _fail(path, "boxes",
                            f"box {i} inside the image ({ax} in 0..{limits[ax]}, image shape "
                            f"{tuple(imgs.shape)})", f"{list(box)}")
    return Case(name=path.stem, dim=dim, imgs=imgs, boxes=boxes)


def save_segs(path: str | Path, segs: np.ndarray) -> None:
    """Write ``segs`` (any integer label map) as uint16 to ``path`` (compressed npz)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part.npz")
    np.savez_compressed(tmp, segs=segs.astype(np.uint16, copy=False))
    os.replace(tmp, path)


def cpu_limit() -> int:
    """CPUs this container may use: the cgroup CPU quota (v2 ``cpu.max``, v1
    ``cpu.cfs_quota_us``/``cpu.cfs_period_us``) rounded up, capped by the CPU
    affinity mask; the affinity count when no quota is set. Always >= 1."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = None
    try:
        parts = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if parts and parts[0] != "max":
            quota = int(parts[0]) / int(parts[1])
    except (OSError, ValueError, IndexError):
        for base in ("/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpuacct,cpu"):
            try:
                q = int(Path(base, "cpu.cfs_quota_us").read_text())
                p = int(Path(base, "cpu.cfs_period_us").read_text())
            except (OSError, ValueError):
                continue
            if q > 0 and p > 0:
                quota = q / p
            break
    if quota is not None:
        n = min(n, max(1, math.ceil(quota - 1e-9)))
    return max(1, n)


def run_folder(predict: Callable[[Case], np.ndarray], inputs: str | Path = "/workspace/inputs",
               outputs: str | Path = "/workspace/outputs") -> int:
    """Run ``predict`` on every ``inputs/*.npz`` and write ``outputs/<same name>``.

    ``predict`` takes a checked :class:`Case` and returns the label map. A bad
    case prints ``ERROR <file>: <problem>`` on stderr and the others still run.
    Returns the exit status: 0 when every case succeeded, 2 when a case was
    malformed, 1 on any other failure (its message is printed, not a traceback).
    """
    inputs, outputs = Path(inputs), Path(outputs)
    files = sorted(p for p in inputs.glob("*.npz"))
    if not files:
        print(f"ERROR: no .npz files in {inputs}", file=sys.stderr)
        return 2
    outputs.mkdir(parents=True, exist_ok=True)
    status = 0
    for path in files:
        t0 = time.perf_counter()
        try:
            case = load_case(path)
            segs = predict(case)
            save_segs(outputs / path.name, segs)
        except CaseError as exc:
            print(f"ERROR {exc}", file=sys.stderr, flush=True)
            status = max(status, 2)
            continue
        except MemoryError:
            print(f"ERROR {path.name}: out of memory", file=sys.stderr, flush=True)
            status = max(status, 1)
            continue
        except Exception as exc:  # noqa: BLE001 - report, keep going with the next case
            print(f"ERROR {path.name}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            status = max(status, 1)
            continue
        print(f"{path.name}: {len(case.boxes)} boxes, {time.perf_counter() - t0:.2f} s", flush=True)
    return status
