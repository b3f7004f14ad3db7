"""Validation of inputs, ground truth and predictions against the case contract.

The ``check_*`` functions take arrays and raise :class:`ContractError`; the
``load_*`` functions read a file safely (:func:`evalkit.contract.npz.load_npz`) and
check it. Arrays are returned as loaded: no dtype conversion, no copies.

Conventions (docs/spec contract.md):

- 2D input: ``imgs`` uint8 ``(H, W, 3)``; ``boxes`` integer ``(N, 4)`` rows
  ``[x_min, y_min, x_max, y_max]``; ``spacing`` optional and ignored.
- 3D input: ``imgs`` uint8 ``(D, H, W)``; ``boxes`` integer ``(N, 6)`` rows
  ``[x_min, y_min, z_min, x_max, y_max, z_max]``; ``spacing`` floating ``(3,)``,
  finite and > 0, in stored order (never reordered).
- Boxes are inclusive pixel/voxel indices: ``0 <= min <= max < size`` on each axis
  (x against W, y against H, z against D); ``1 <= N <= max_instances``.
- Ground truth ``gts``: integer (not bool) label map of the image's spatial shape,
  labels ``0..N`` (N = number of boxes when known, else ``max_instances``).
- Prediction ``segs``: a label map of exactly the input's spatial shape (checked
  from the ``.npy`` header before inflating). ``[contract] segs_dtypes``:
  ``"integral"`` (CVPR24, as the official scorer) takes any integer or float dtype
  with non-negative integral values and converts it to unsigned; ``"unsigned"``
  (strict) takes unsigned integer dtypes only (uint8/uint16 as the contract says;
  uint32/uint64 too, every value being a valid label). bool is always refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.contract.cases import Case, parse_case_name
from evalkit.contract.errors import ContractError
from evalkit.contract.interactive import KIND as INTERACTIVE
from evalkit.contract.interactive import InteractiveInput, load_interactive_input
from evalkit.contract.npz import _limits, case_name_of, load_npz
from evalkit.contract.text import KIND as TEXT
from evalkit.contract.text import TextPrompts, load_text_prompts

BOX_LAYOUT = {
    2: "[x_min, y_min, x_max, y_max]",
    3: "[x_min, y_min, z_min, x_max, y_max, z_max]",
}


@dataclass(frozen=True)
class CaseInput:
    """A validated input case.

    ``imgs`` uint8 ``(H, W, 3)`` (2D) or ``(D, H, W)`` (3D); ``boxes`` integer
    ``(N, 4)`` or ``(N, 6)``; ``spacing`` floating ``(3,)`` in 3D, ``None`` in 2D;
    ``dim`` 2 or 3.
    """

    imgs: np.ndarray
    boxes: np.ndarray
    spacing: np.ndarray | None
    dim: int
    text: TextPrompts | None = None  # text contract ([contract] inputs = "text"); boxes then (0, 2*dim)

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """``(H, W)`` in 2D, ``(D, H, W)`` in 3D: the shape of GT and predictions."""
        return tuple(self.imgs.shape[:2]) if self.dim == 2 else tuple(self.imgs.shape)

    @property
    def n_instances(self) -> int:
        """Boxes, or the prompted classes of a text case."""
        return len(self.text.classes) if self.text is not None else int(self.boxes.shape[0])


@dataclass(frozen=True)
class GroundTruth:
    """A validated ground truth: ``gts`` integer label map, ``spacing`` (3,) in 3D, else None."""

    gts: np.ndarray
    spacing: np.ndarray | None


def _desc(a: np.ndarray) -> str:
    return f"{a.dtype} {tuple(a.shape)}"


def _is_int(a: np.ndarray) -> bool:
    return a.dtype.kind in "iu"


def check_dim(dim: Any, *, case: str | None = None, file: str | Path | None = None) -> int:
    if dim not in (2, 3):
        raise ContractError(
            "bad_values", case=case, file=file, expected="dim 2 or 3", found=repr(dim)
        )
    return int(dim)


def check_imgs(imgs: np.ndarray, dim: int, *, case=None, file=None) -> tuple[int, ...]:
    """Check ``imgs``; return the spatial shape (``(H, W)`` or ``(D, H, W)``)."""
    expected = "uint8 array of shape (H, W, 3)" if dim == 2 else "uint8 array of shape (D, H, W)"
    if imgs.dtype != np.uint8:
        raise ContractError(
            "bad_dtype",
            case=case,
            file=file,
            key="imgs",
            expected=expected,
            found=_desc(imgs),
            fix="write the image as uint8 (values 0..255)",
        )
    ok = imgs.ndim == 3 and (dim == 3 or imgs.shape[2] == 3)
    if not ok or min(imgs.shape, default=0) < 1:
        raise ContractError(
            "bad_shape",
            case=case,
            file=file,
            key="imgs",
            expected=expected,
            found=_desc(imgs),
            fix=(
                "2D images are RGB with channels last"
                if dim == 2
                else "3D images are single-channel volumes, slices first"
            ),
        )
    return tuple(imgs.shape[:2]) if dim == 2 else tuple(imgs.shape)


def check_boxes(
    boxes: np.ndarray,
    spatial_shape: tuple[int, ...],
    dim: int,
    *,
    max_instances: int = 65535,
    case=None,
    file=None,
) -> None:
    """Check ``boxes`` against the image's spatial shape (inclusive index boxes)."""
    width = 4 if dim == 2 else 6
    expected = f"integer array of shape (N, {width}) {BOX_LAYOUT[dim]}"
    fix = f"write boxes as int64 rows {BOX_LAYOUT[dim]}, inclusive pixel indices"
    if not _is_int(boxes):
        raise ContractError(
            "bad_dtype",
            case=case,
            file=file,
            key="boxes",
            expected=expected,
            found=_desc(boxes),
            fix=fix,
        )
    if boxes.ndim != 2 or boxes.shape[1] != width:
        raise ContractError(
            "bad_shape",
            case=case,
            file=file,
            key="boxes",
            expected=expected,
            found=_desc(boxes),
            fix=fix,
        )
    n = boxes.shape[0]
    if not 1 <= n <= max_instances:
        raise ContractError(
            "bad_shape",
            case=case,
            file=file,
            key="boxes",
            expected=f"1 to {max_instances} boxes",
            found=f"{n} boxes",
            fix=fix,
        )
    b = boxes.astype(np.int64, copy=False) if boxes.dtype != np.uint64 else boxes
    if dim == 2:
        h, w = spatial_shape
        lo, hi, sizes, axes = b[:, :2], b[:, 2:], (w, h), ("x", "y")
    else:
        d, h, w = spatial_shape
        lo, hi, sizes, axes = b[:, :3], b[:, 3:], (w, h, d), ("x", "y", "z")
    for j, (axis, size) in enumerate(zip(axes, sizes, strict=True)):
        bad_order = np.flatnonzero(lo[:, j] > hi[:, j])
        if bad_order.size:
            i = int(bad_order[0])
            raise ContractError(
                "bad_box",
                case=case,
                file=file,
                key="boxes",
                expected=f"{axis}_min <= {axis}_max in every row {BOX_LAYOUT[dim]}",
                found=f"row {i} = {b[i].tolist()} ({axis}_min {lo[i, j]} > {axis}_max {hi[i, j]}; "
                f"{bad_order.size} such rows)",
                fix=fix,
            )
        out = np.flatnonzero((lo[:, j] < 0) | (hi[:, j] >= size))
        if out.size:
            i = int(out[0])
            raise ContractError(
                "bad_box",
                case=case,
                file=file,
                key="boxes",
                expected=f"0 <= {axis} < {size} (image spatial shape {tuple(spatial_shape)})",
                found=f"row {i} = {b[i].tolist()} ({out.size} rows out of bounds)",
                fix=fix,
            )


def check_spacing(spacing: np.ndarray, *, case=None, file=None) -> None:
    """3D spacing: floating ``(3,)``, finite, > 0 (mm per voxel, stored order)."""
    expected = "floating array of shape (3,), finite and > 0"
    fix = "write the voxel spacing in mm as float64, in the array's axis order"
    if spacing.dtype.kind != "f" or spacing.shape != (3,):
        raise ContractError(
            "bad_spacing",
            case=case,
            file=file,
            key="spacing",
            expected=expected,
            found=_desc(spacing),
            fix=fix,
        )
    if not (np.all(np.isfinite(spacing)) and np.all(spacing > 0)):
        raise ContractError(
            "bad_spacing",
            case=case,
            file=file,
            key="spacing",
            expected=expected,
            found=f"values {spacing.tolist()}",
            fix=fix,
        )


def check_label_map(
    arr: np.ndarray,
    key: str,
    spatial_shape: tuple[int, ...] | None,
    *,
    max_label: int | None = None,
    unsigned_only: bool = False,
    kinds: str | None = None,
    case=None,
    file=None,
) -> None:
    """A label map: dtype (numpy kinds ``kinds``; default ``"u"`` when ``unsigned_only``
    else ``"iu"``), exact spatial shape, labels in ``0..max_label``."""
    shape_txt = (
        "of the image's spatial shape"
        if spatial_shape is None
        else (f"of shape {tuple(spatial_shape)}")
    )
    if kinds is None:
        kinds = "u" if unsigned_only else "iu"
    dtype_txt = "integer" if kinds == "iu" else _segs_dtype_text(kinds)
    expected = f"{dtype_txt} label map {shape_txt}"
    if arr.dtype.kind not in kinds:
        raise ContractError(
            "bad_dtype",
            case=case,
            file=file,
            key=key,
            expected=expected,
            found=_desc(arr),
            fix=f"write {key} as uint16 (label i = box i, 0 = background)",
        )
    if spatial_shape is not None and tuple(arr.shape) != tuple(spatial_shape):
        raise ContractError(
            "bad_shape",
            case=case,
            file=file,
            key=key,
            expected=expected,
            found=_desc(arr),
            fix=f"write {key} with exactly the input image's spatial shape",
        )
    if max_label is None or arr.size == 0:
        return
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi > max_label:
        raise ContractError(
            "bad_values",
            case=case,
            file=file,
            key=key,
            expected=f"labels 0..{max_label}",
            found=f"labels {lo}..{hi}",
            fix="label i must be the instance prompted by box i, 0 the background",
        )


def _resolve(case_or_path: Case | str | Path, dim: int | None):
    if isinstance(case_or_path, Case):
        return case_or_path.input_path, case_or_path.name, dim or case_or_path.dim
    path = Path(case_or_path)
    name = case_name_of(path)
    if dim is None:
        _, dim = parse_case_name(name, {})
    return path, name, dim


def load_input(
    case_or_path: Case | str | Path,
    limits: Mapping[str, Any] | None = None,
    *,
    dim: int | None = None,
) -> CaseInput | InteractiveInput:
    """Load and validate an input case (``imgs``, ``boxes``, and ``spacing`` in 3D).

    ``case_or_path`` is a :class:`Case` or a file path (dimensionality then from the
    name unless ``dim`` is given). ``limits`` is the challenge's ``[contract]``
    section (``max_file_bytes``, ``max_decompressed_bytes``, ``max_instances``);
    ``None`` = bundled defaults. In 2D a stored ``spacing`` is not even read.
    With ``[contract] inputs = "interactive"`` (CVPR25) the file is a 3D interactive
    input and an :class:`~evalkit.contract.interactive.InteractiveInput` is returned
    (per-class box dicts, optional). With ``inputs = "text"`` (the CVPR25 text
    contract, :mod:`evalkit.contract.text`) the input carries ``text_prompts``
    instead of ``boxes``: they are checked and returned as ``text`` (``boxes``
    empty). Raises :class:`ContractError`.
    """
    lim = _limits(limits)
    if lim.get("inputs", "boxes") == INTERACTIVE:
        path = case_or_path.input_path if isinstance(case_or_path, Case) else Path(case_or_path)
        name = case_or_path.name if isinstance(case_or_path, Case) else case_name_of(path)
        return load_interactive_input(path, lim, case=name)
    path, name, dim = _resolve(case_or_path, dim)
    check_dim(dim, case=name, file=path)
    if lim.get("inputs", "boxes") == TEXT:
        return _load_text_input(path, name, dim, lim)
    keys = {"imgs": "uint8 image", "boxes": f"integer boxes {BOX_LAYOUT[dim]}"}
    if dim == 3:
        keys["spacing"] = "floating voxel spacing (3,)"
    arrays = load_npz(
        path,
        keys=keys,
        max_file_bytes=lim["max_file_bytes"],
        max_decompressed_bytes=lim["max_decompressed_bytes"],
        case=name,
    )
    spatial = check_imgs(arrays["imgs"], dim, case=name, file=path)
    check_boxes(
        arrays["boxes"], spatial, dim, max_instances=int(lim["max_instances"]), case=name, file=path
    )
    spacing = arrays.get("spacing")
    if dim == 3:
        check_spacing(spacing, case=name, file=path)
    return CaseInput(arrays["imgs"], arrays["boxes"], spacing if dim == 3 else None, dim)


def _load_text_input(path: Path, name: str, dim: int, lim: Mapping[str, Any]) -> CaseInput:
    keys = {"imgs": "uint8 image"}
    if dim == 3:
        keys["spacing"] = "floating voxel spacing (3,)"
    arrays = load_npz(path, keys=keys, max_file_bytes=lim["max_file_bytes"],
                      max_decompressed_bytes=lim["max_decompressed_bytes"], case=name)
    check_imgs(arrays["imgs"], dim, case=name, file=path)
    spacing = arrays.get("spacing")
    if dim == 3:
        check_spacing(spacing, case=name, file=path)
    text = load_text_prompts(path, lim, case=name)
    return CaseInput(arrays["imgs"], np.zeros((0, 2 * dim), np.int64), spacing if dim == 3 else None,
                     dim, text)


def load_gt(
    path: str | Path,
    dim: int,
    image_shape: tuple[int, ...] | None = None,
    limits: Mapping[str, Any] | None = None,
    *,
    n_boxes: int | None = None,
    case: str | None = None,
) -> GroundTruth:
    """Load and validate a ground truth (``gts``, and ``spacing`` in 3D).

    ``image_shape`` is the input's spatial shape (``(H, W)`` / ``(D, H, W)``; a 2D
    ``(H, W, 3)`` image shape is accepted and cut to ``(H, W)``); ``None`` checks only
    the rank. Labels must lie in ``0..n_boxes`` (``0..max_instances`` when
    ``n_boxes`` is None). With ``[contract] inputs = "interactive"`` the file holds
    ``gts`` only and ``spacing`` is ``None`` (the input's spacing applies). With
    ``inputs = "text"`` a 3D GT may hold ``gts`` only (``spacing`` then ``None``:
    the input's spacing is used, as the official text script does).
    Raises :class:`ContractError`.
    """
    path = Path(path)
    name = case if case is not None else case_name_of(path)
    check_dim(dim, case=name, file=path)
    lim = _limits(limits)
    separate = lim.get("inputs", "boxes") == INTERACTIVE
    keys = {"gts": "integer label map"}
    if dim == 3 and not separate:
        keys["spacing"] = "floating voxel spacing (3,)"
    text = lim.get("inputs", "boxes") == TEXT
    arrays = load_npz(
        path,
        keys=keys,
        max_file_bytes=lim["max_file_bytes"],
        max_decompressed_bytes=lim["max_decompressed_bytes"],
        case=name,
        optional=("spacing",) if text else (),
    )
    gts = arrays["gts"]
    shape = None if image_shape is None else tuple(image_shape)[:dim]
    if shape is None and gts.ndim != dim:
        raise ContractError(
            "bad_shape",
            case=name,
            file=path,
            key="gts",
            expected=f"a {dim}D label map",
            found=_desc(gts),
        )
    if gts.dtype == np.bool_:
        raise ContractError(
            "bad_dtype",
            case=name,
            file=path,
            key="gts",
            expected="integer label map (label i = box i)",
            found=_desc(gts),
            fix="write gts as uint16 labels, not a boolean mask",
        )
    max_label = int(n_boxes) if n_boxes is not None else int(lim["max_instances"])
    check_label_map(gts, "gts", shape, max_label=max_label, case=name, file=path)
    spacing = None
    if dim == 3 and not separate and not (text and "spacing" not in arrays):
        spacing = arrays["spacing"]
        check_spacing(spacing, case=name, file=path)
    return GroundTruth(gts, spacing)


#: ``[contract] segs_dtypes``: which prediction dtypes are scored.
SEGS_DTYPE_RULES = ("integral", "unsigned")


def load_prediction(
    path: str | Path,
    expected_shape: tuple[int, ...],
    limits: Mapping[str, Any] | None = None,
    *,
    case: str | None = None,
    notes: list[str] | None = None,
) -> np.ndarray:
    """Load and validate a participant's prediction ``segs``; returns an unsigned label map.

    ``expected_shape`` is the input's spatial shape. The ``.npy`` header of ``segs``
    (shape and dtype) is checked before anything is inflated, so a hostile file
    costs at most the expected array's size. ``limits["segs_dtypes"]``:

    * ``"integral"`` (CVPR24 default, as the official scorer): any integer or float
      dtype whose values are non-negative integers; a signed or float map is
      converted to the smallest unsigned dtype that holds its largest label and a
      note saying so is appended to ``notes``. NaN, infinite, negative and
      non-integral values are refused (``bad_values``); bool is refused.
    * ``"unsigned"`` (strict): unsigned integer dtypes only, returned as stored.

    Label values are not bounded (labels above the number of boxes are the metric's
    business). Raises :class:`ContractError` (``missing_file`` when there is no output).
    """
    path = Path(path)
    name = case if case is not None else case_name_of(path)
    lim = _limits(limits)
    rule = lim.get("segs_dtypes", "integral")
    if rule not in SEGS_DTYPE_RULES:
        raise ValueError(f"contract.segs_dtypes must be one of {SEGS_DTYPE_RULES}, found {rule!r}")
    kinds = "u" if rule == "unsigned" else "uif"
    expected = tuple(int(s) for s in expected_shape)

    def header_ok(shape: tuple[int, ...], dtype: np.dtype) -> None:
        # Only dtype and shape: a map that passes here can be inflated safely.
        check_label_map(np.empty((0,) * len(shape), dtype), "segs", None, kinds=kinds,
                        case=name, file=path)
        if shape != expected:
            raise ContractError("bad_shape", case=name, file=path, key="segs",
                                expected=f"{_segs_dtype_text(kinds)} label map of shape {expected}",
                                found=f"{dtype} {shape}",
                                fix="write segs with exactly the input image's spatial shape")

    arrays = load_npz(
        path,
        keys={"segs": "unsigned integer label map"},
        max_file_bytes=lim["max_file_bytes"],
        max_decompressed_bytes=lim["max_decompressed_bytes"],
        case=name,
        header_checks={"segs": header_ok},
    )
    segs = arrays["segs"]
    check_label_map(segs, "segs", expected, kinds=kinds, case=name, file=path)
    if segs.dtype.kind == "u":
        return segs
    converted = integral_labels(segs, case=name, file=path)
    if notes is not None:
        notes.append(f"segs stored as {segs.dtype}; scored as {converted.dtype} labels "
                     "(any non-negative integral dtype is accepted, as the official scorer does)")
    return converted


def integral_labels(segs: np.ndarray, *, case=None, file=None) -> np.ndarray:
    """A signed-integer or float label map as the smallest unsigned dtype holding it.

    Refuses (``bad_values``) NaN, infinite, negative and non-integral values. An empty
    map becomes uint8. Works in blocks, so the extra memory is a small fraction of ``segs``.
    """
    flat = segs.reshape(-1)
    top = 0
    block = 1 << 22
    for start in range(0, flat.size, block):
        part = flat[start:start + block]
        bad = None
        if part.dtype.kind == "f":
            if not np.isfinite(part).all():
                bad = "NaN or infinite values"
            elif (part != np.floor(part)).any():
                bad = "non-integral values"
        if bad is None and part.size and part.min() < 0:
            bad = f"negative values (smallest {part.min()})"
        if bad is not None:
            raise ContractError("bad_values", case=case, file=file, key="segs",
                                expected="non-negative integer labels (0 = background)",
                                found=bad, fix="write segs as uint16 labels: label i = box i")
        if part.size:
            top = max(top, int(part.max()))
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        if top <= np.iinfo(dtype).max:
            return segs.astype(dtype)
    raise ContractError("bad_values", case=case, file=file, key="segs",
                        expected="labels below 2**64", found=f"largest label {top}",
                        fix="write segs as uint16 labels")


def _segs_dtype_text(kinds: str) -> str:
    return ("unsigned integer (uint8 or uint16)" if kinds == "u"
            else "integer or float (integral values; uint16 recommended)")
