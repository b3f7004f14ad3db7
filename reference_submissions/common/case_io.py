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

CVPR25 interactive track (3D only, any file name): ``boxes`` is optional and,
when present, a pickled object array holding one dict per class
(``z_min, z_max, z_mid, z_mid_x_min, z_mid_y_min, z_mid_x_max, z_mid_y_max``);
from the second iteration on the file also holds ``clicks`` (per class
``{'fg': [[z, y, x], ...], 'bg': [...]}``, accumulated), ``clicks_order`` (per
class ``'fg'``/``'bg'``/``None`` per iteration) and ``prev_pred`` (the previous
output, uint8). A file is read as interactive when it holds any of those keys or
its ``boxes`` are pickled (never a file named ``2D...``); :attr:`Case.interactive` then holds the prompts. The
pickled members are read by a restricted unpickler (numpy arrays and scalars,
lists, dicts, str, numbers, None; any other class is refused).

Bad input raises :class:`CaseError` whose message names the file, the key, what
was expected and what was found; :func:`run_folder` turns it into one line on
stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_INPUT_BYTES = 2_000_000_000
MAX_CLASSES = 1000           # interactive: classes per case
MAX_CLICKS = 10_000          # interactive: clicks per class
MAX_PICKLE_BYTES = 50_000_000  # interactive: one pickled member (boxes, clicks, clicks_order)
INTERACTIVE_KEYS = ("clicks", "clicks_order", "prev_pred")


class CaseError(ValueError):
    """A malformed input case (message: file, key, expected, found)."""


@dataclass(frozen=True)
class ClassBox:
    """A CVPR25 per-class box: the 2D box ``[x_min, y_min, x_max, y_max]`` (pixels,
    inclusive) on slice ``z_mid`` and the class's slice range ``z_min..z_max``."""

    z_min: int
    z_max: int
    z_mid: int
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class Interactive:
    """The CVPR25 interactive prompts of one case, classes 1..n in order.

    boxes: per class a :class:`ClassBox` or None (no ``boxes`` key, or a class
    without a box). fg/bg: per class int64 ``(k, 3)`` ``[z, y, x]`` voxel indices
    (k may be 0), in the order given. order: per class the ``'fg'``/``'bg'``/None
    entries of ``clicks_order`` (the last one is this iteration's click).
    prev_pred: the previous prediction, same shape as ``imgs`` (uint16), or None.
    """

    boxes: tuple[ClassBox | None, ...]
    fg: tuple[np.ndarray, ...]
    bg: tuple[np.ndarray, ...]
    order: tuple[tuple[str | None, ...], ...]
    prev_pred: np.ndarray | None

    @property
    def n_classes(self) -> int:
        return len(self.boxes)


@dataclass(frozen=True)
class Case:
    """One loaded, checked input case.

    imgs: uint8, ``(H, W, 3)`` in 2D (grey images are repeated to 3 channels),
    ``(D, H, W)`` in 3D. boxes: int64 ``(N, 4)`` in 2D, ``(N, 6)`` in 3D; for an
    interactive (CVPR25) case ``(0, 6)`` and the prompts are in ``interactive``.
    """

    name: str
    dim: int
    imgs: np.ndarray
    boxes: np.ndarray
    interactive: Interactive | None = None


def _fail(path: Path, key: str, expected: str, found: str) -> CaseError:
    return CaseError(f"{path.name}: key '{key}': expected {expected}, found {found}")


class _PromptUnpickler(pickle.Unpickler):
    """Admits only what numpy object arrays of lists/dicts/str/numbers need."""

    ALLOWED = {(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray")
               for n in ("_reconstruct", "scalar")} | {("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def _read_pickled(path: Path, key: str) -> np.ndarray:
    """Read npz member ``key`` (an object array) with the restricted unpickler."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(f"{key}.npy")
        if info.file_size > MAX_PICKLE_BYTES:
            raise _fail(path, key, f"at most {MAX_PICKLE_BYTES} bytes", f"{info.file_size} bytes")
        with zf.open(info) as fp:
            raw = io.BytesIO(fp.read())
    version = np.lib.format.read_magic(raw)
    if version == (1, 0):
        np.lib.format.read_array_header_1_0(raw)
    elif version == (2, 0):
        np.lib.format.read_array_header_2_0(raw)
    else:
        raise _fail(path, key, ".npy format 1.0 or 2.0", f"version {version}")
    try:
        obj = _PromptUnpickler(raw).load()
    except Exception as exc:  # noqa: BLE001 - a refused class or a broken pickle
        raise _fail(path, key, "a pickled array of lists/dicts/numbers/str",
                    f"{type(exc).__name__}: {exc}") from None
    if not isinstance(obj, np.ndarray):
        raise _fail(path, key, "an array", type(obj).__name__)
    return obj


def _regular_input(path: str | Path) -> Path:
    """``path`` when it is a regular file (not a symlink) of at most MAX_INPUT_BYTES."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        raise CaseError(f"{path.name}: not a regular file")
    size = path.stat().st_size
    if size > MAX_INPUT_BYTES:
        raise CaseError(f"{path.name}: file is {size} bytes, more than {MAX_INPUT_BYTES}")
    return path


def _int(v, path: Path, key: str, what: str) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer, float, np.floating)):
        raise _fail(path, key, f"{what}: an integer", repr(v)[:80])
    if not math.isfinite(float(v)) or float(v) != int(v):
        raise _fail(path, key, f"{what}: an integer", repr(v)[:80])
    return int(v)


def _class_boxes(raw: np.ndarray, path: Path, shape: tuple[int, int, int]) -> list[ClassBox | None]:
    items = raw.tolist() if isinstance(raw, np.ndarray) else raw
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or len(items) > MAX_CLASSES:
        raise _fail(path, "boxes", f"a list of at most {MAX_CLASSES} per-class dicts",
                    type(items).__name__)
    d, h, w = shape
    out: list[ClassBox | None] = []
    for i, b in enumerate(items, start=1):
        if b is None:
            out.append(None)
            continue
        if not isinstance(b, dict):
            raise _fail(path, "boxes", f"class {i}: a dict", type(b).__name__)
        v = {}
        for k in ("z_min", "z_max", "z_mid", "z_mid_x_min", "z_mid_y_min", "z_mid_x_max",
                  "z_mid_y_max"):
            if k not in b:
                raise _fail(path, "boxes", f"class {i}: key '{k}'", f"keys {sorted(map(str, b))}")
            v[k] = _int(b[k], path, "boxes", f"class {i} {k}")
        x0, y0, x1, y1 = v["z_mid_x_min"], v["z_mid_y_min"], v["z_mid_x_max"], v["z_mid_y_max"]
        if not (0 <= v["z_min"] <= v["z_mid"] <= v["z_max"] < d and 0 <= x0 <= x1 <= w
                and 0 <= y0 <= y1 <= h):
            raise _fail(path, "boxes", f"class {i}: 0 <= z_min <= z_mid <= z_max < {d}, "
                        f"0 <= x_min <= x_max <= {w}, 0 <= y_min <= y_max <= {h}", str(v))
        out.append(ClassBox(v["z_min"], v["z_max"], v["z_mid"], (x0, y0, x1, y1)))
    return out


def _class_clicks(raw: np.ndarray, path: Path, shape: tuple[int, int, int]
                  ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    items = raw.tolist() if isinstance(raw, np.ndarray) else raw
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or len(items) > MAX_CLASSES:
        raise _fail(path, "clicks", f"a list of at most {MAX_CLASSES} per-class dicts",
                    type(items).__name__)
    fgs, bgs = [], []
    for i, c in enumerate(items, start=1):
        if not isinstance(c, dict):
            raise _fail(path, "clicks", f"class {i}: a dict {{'fg': [...], 'bg': [...]}}",
                        type(c).__name__)
        pair = []
        for kind in ("fg", "bg"):
            pts = c.get(kind, [])
            pts = pts.tolist() if isinstance(pts, np.ndarray) else pts
            if not isinstance(pts, (list, tuple)) or len(pts) > MAX_CLICKS:
                raise _fail(path, "clicks", f"class {i} '{kind}': at most {MAX_CLICKS} [z, y, x]",
                            type(pts).__name__)
            arr = np.zeros((len(pts), 3), np.int64)
            for j, p in enumerate(pts):
                p = p.tolist() if isinstance(p, np.ndarray) else p
                if not isinstance(p, (list, tuple)) or len(p) != 3:
                    raise _fail(path, "clicks", f"class {i} '{kind}': [z, y, x] points",
                                repr(p)[:80])
                arr[j] = [_int(q, path, "clicks", f"class {i} '{kind}' coordinate") for q in p]
            if len(arr) and (arr.min() < 0 or np.any(arr.max(axis=0) >= np.array(shape))):
                raise _fail(path, "clicks", f"class {i} '{kind}': points inside the image "
                            f"{tuple(shape)}", str(arr.tolist())[:120])
            pair.append(arr)
        fgs.append(pair[0])
        bgs.append(pair[1])
    return fgs, bgs


def _clicks_order(raw: np.ndarray, path: Path) -> list[tuple[str | None, ...]]:
    items = raw.tolist() if isinstance(raw, np.ndarray) else raw
    if not isinstance(items, list) or len(items) > MAX_CLASSES:
        raise _fail(path, "clicks_order", "a list per class", type(items).__name__)
    out = []
    for i, seq in enumerate(items, start=1):
        if not isinstance(seq, (list, tuple)) or len(seq) > MAX_CLICKS or any(
                v not in ("fg", "bg", None) for v in seq):
            raise _fail(path, "clicks_order", f"class {i}: a list of 'fg'/'bg'/None",
                        repr(seq)[:80])
        out.append(tuple(seq))
    return out


def _load_interactive(path: Path, npz, imgs: np.ndarray, pickled: set[str]) -> Interactive:
    """Parse the CVPR25 prompt keys of an already opened npz (``pickled``: object members)."""
    if imgs.ndim != 3:
        raise _fail(path, "imgs", "shape (D, H, W) for an interactive (3D) case",
                    f"shape {imgs.shape}")
    shape = tuple(int(v) for v in imgs.shape)

    def member(key: str) -> np.ndarray:
        return _read_pickled(path, key) if key in pickled else npz[key]

    keys = set(npz.files)
    boxes = _class_boxes(member("boxes"), path, shape) if "boxes" in keys else None
    if "clicks" in keys:
        fg, bg = _class_clicks(member("clicks"), path, shape)
    else:
        fg = bg = None
    order = _clicks_order(member("clicks_order"), path) if "clicks_order" in keys else None
    n = max(len(x) for x in (boxes, fg, order) if x is not None) if any(
        x is not None for x in (boxes, fg, order)) else 0
    for key, x in (("boxes", boxes), ("clicks", fg), ("clicks_order", order)):
        if x is not None and len(x) != n:
            raise _fail(path, key, f"one entry per class ({n} classes)", f"{len(x)} entries")
    if n == 0:
        raise _fail(path, "boxes", "at least one class (boxes or clicks)", "none")
    prev = None
    if "prev_pred" in keys:
        if "prev_pred" in pickled:
            raise _fail(path, "prev_pred", "a numeric array", "a pickled object array")
        prev = npz["prev_pred"]
        if prev.shape != imgs.shape or prev.dtype.kind not in "iub":
            raise _fail(path, "prev_pred", f"an integer label map of shape {imgs.shape}",
                        f"dtype {prev.dtype} shape {prev.shape}")
        prev = np.where(prev.astype(np.int64) > n, 0, prev).astype(np.uint16)
    empty = np.zeros((0, 3), np.int64)
    return Interactive(
        boxes=tuple(boxes if boxes is not None else [None] * n),
        fg=tuple(fg if fg is not None else [empty] * n),
        bg=tuple(bg if bg is not None else [empty] * n),
        order=tuple(order if order is not None else [()] * n),
        prev_pred=prev)


def load_case(path: str | Path) -> Case:
    """Load and check one input ``.npz`` (no pickle, regular file, bounded size).

    A CVPR25 interactive file (see the module docstring) is read with its
    pickled members through a restricted unpickler and is always 3D.

    Raises CaseError for: unreadable file, missing ``imgs``/``boxes``, wrong
    dtype or shape, values outside 0..255, an empty box list, a box with the
    wrong number of coordinates (e.g. a 2D box in a 3D case), a box with
    min > max, or a box outside the image.
    """
    path = _regular_input(path)
    dim = 3 if path.name.startswith("3D") else 2
    interactive = None
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            pickled = {k for k in ("boxes", *INTERACTIVE_KEYS) if k in keys and _is_pickled(npz, k)}
            # CVPR25 interactive cases are 3D; a "2D..." file is always read the CVPR24 way
            is_interactive = not path.name.startswith("2D") and (
                bool(pickled) or any(k in keys for k in INTERACTIVE_KEYS))
            for key in ("imgs",) if is_interactive else ("imgs", "boxes"):
                if key not in keys:
                    raise _fail(path, key, "an array", f"no such key (keys: {sorted(keys)})")
            imgs = npz["imgs"]
            if is_interactive:
                dim = 3
                interactive = _load_interactive(path, npz, imgs, pickled)
                boxes = np.zeros((0, 6), np.int64)
            else:
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

    if interactive is not None:
        return Case(name=path.stem, dim=3, imgs=imgs, boxes=boxes, interactive=interactive)
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


def read_members(path: str | Path) -> dict[str, np.ndarray]:
    """Every member of an input ``.npz`` without a general unpickler: plain arrays with
    ``allow_pickle=False``, object (pickled) members -- CVPR25 ``boxes``, ``clicks``,
    ``clicks_order``, ``text_prompts`` -- through the restricted unpickler (at most
    ``MAX_PICKLE_BYTES`` each). For images that read the prompts themselves instead of
    through :func:`load_case`. Raises CaseError for a non-regular or oversized file, an
    unreadable archive or a refused pickle."""
    path = _regular_input(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            pickled = {k for k in npz.files if _is_pickled(npz, k)}
            out = {k: npz[k] for k in npz.files if k not in pickled}
    except (OSError, ValueError, zipfile.BadZipFile, KeyError) as exc:
        raise CaseError(f"{path.name}: not a readable .npz ({type(exc).__name__}: {exc})") from None
    for k in sorted(pickled):
        out[k] = _read_pickled(path, k)
    return out


def _is_pickled(npz, key: str) -> bool:
    """True when npz member ``key`` is an object (pickled) array; reads only its header."""
    with npz.zip.open(f"{key}.npy") as fp:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            _, _, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            _, _, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            return False
    return bool(dtype.hasobject)


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
        what = (f"{case.interactive.n_classes} classes, "
                f"{sum(len(f) + len(b) for f, b in zip(case.interactive.fg, case.interactive.bg))}"
                " clicks" if case.interactive is not None else f"{len(case.boxes)} boxes")
        print(f"{path.name}: {what}, {time.perf_counter() - t0:.2f} s", flush=True)
    return status
