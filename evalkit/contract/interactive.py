"""The CVPR25 interactive input: a 3D image, its spacing and optional per-class boxes.

An input ``.npz`` holds ``imgs`` uint8 ``(D, H, W)``, ``spacing`` ``(3,)`` and,
optionally, ``boxes``: a pickled object array with one dict per class, in class
order, with the integer keys of :data:`BOX_KEYS` (``z_min``/``z_max`` the slice
range, ``z_mid`` the slice of the 2D box ``z_mid_x_min .. z_mid_y_max``; inclusive
voxel indices). Structures such as vessels have no box, so the key may be absent.
``boxes`` goes through the restricted unpickler
(:mod:`evalkit.contract.safepickle`); nothing else of the file may be pickled.

The ground truth sits in a separate file holding ``gts`` only (labels 1..n,
sequential); its spacing is the input's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.contract.errors import ContractError
from evalkit.contract.npz import case_name_of, load_npz

#: The keys of one class's box dict (all integers, voxel indices).
BOX_KEYS = ("z_min", "z_max", "z_mid", "z_mid_x_min", "z_mid_y_min", "z_mid_x_max", "z_mid_y_max")
#: ``[contract] inputs`` value of this kind of input.
KIND = "interactive"


@dataclass(frozen=True)
class InteractiveInput:
    """A validated CVPR25 interactive input.

    ``imgs`` uint8 ``(D, H, W)``; ``spacing`` floating ``(3,)`` (mm, stored order);
    ``boxes``: one dict per class (keys :data:`BOX_KEYS`, Python ints) or ``None`` when
    the case has no boxes; ``boxes_member``: the ``boxes`` object array exactly as
    stored (the harness writes it back unchanged into every later iteration's input).
    """

    imgs: np.ndarray
    spacing: np.ndarray
    boxes: list[dict[str, int]] | None
    boxes_member: np.ndarray | None
    dim: int = 3

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.imgs.shape)

    @property
    def n_instances(self) -> int:
        """Classes with a box (0 for a case without boxes)."""
        return 0 if self.boxes is None else len(self.boxes)


def check_class_boxes(member: np.ndarray, shape: tuple[int, int, int], *, max_classes: int,
                      case: str | None = None, file: Any = None) -> list[dict[str, int]]:
    """The per-class box dicts of a loaded ``boxes`` member, checked against ``shape``.

    ``member``: the object array numpy gives for a list of dicts (1D, one dict each).
    Each dict must hold exactly the integer keys of :data:`BOX_KEYS` with
    ``0 <= z_min <= z_mid <= z_max < D``, ``0 <= x_min <= x_max < W`` and
    ``0 <= y_min <= y_max < H``. Returns the dicts with Python int values.
    Raises :class:`ContractError` (``bad_shape``, ``bad_values``, ``bad_box``).
    """
    fix = ("write boxes as a list with one dict per class: "
           "{" + ", ".join(f"'{k}': int" for k in BOX_KEYS) + "}")

    def fail(reason: str, expected: str, found: str) -> ContractError:
        return ContractError(reason, case=case, file=file, key="boxes", expected=expected,
                             found=found, fix=fix)

    if member.ndim != 1 or not 1 <= member.shape[0] <= max_classes:
        raise fail("bad_shape", f"a list of 1 to {max_classes} dicts, one per class",
                   f"an array of shape {member.shape}")
    d, h, w = shape
    out = []
    for i, box in enumerate(member.tolist()):
        if not isinstance(box, dict) or set(box) != set(BOX_KEYS):
            found = (f"keys {sorted(map(str, box))}" if isinstance(box, dict)
                     else type(box).__name__)
            raise fail("bad_values", f"class {i}: a dict with keys {list(BOX_KEYS)}",
                       f"class {i}: {found}"[:300])
        values = {}
        for k in BOX_KEYS:
            v = box[k]
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise fail("bad_values", f"class {i}: integer '{k}'",
                           f"class {i}: '{k}' = {v!r}"[:300])
            values[k] = int(v)
        checks = (("z", values["z_min"], values["z_mid"], values["z_max"], d),
                  ("x", values["z_mid_x_min"], None, values["z_mid_x_max"], w),
                  ("y", values["z_mid_y_min"], None, values["z_mid_y_max"], h))
        for axis, lo, mid, hi, size in checks:
            inside = 0 <= lo <= hi < size and (mid is None or lo <= mid <= hi)
            if not inside:
                order = f"{axis}_min <= {axis}_mid <= {axis}_max" if mid is not None else \
                    f"{axis}_min <= {axis}_max"
                raise fail("bad_box", f"class {i}: {order}, all in 0..{size - 1} "
                           f"(image shape {shape})", f"class {i}: {values}")
        out.append(values)
    return out


def load_interactive_input(path: str | Path, limits: Mapping[str, Any], *,
                           case: str | None = None) -> InteractiveInput:
    """Load and validate a CVPR25 interactive input (``imgs``, ``spacing``, optional ``boxes``).

    ``limits``: the challenge's ``[contract]`` section. Members other than these three
    are never inflated (a harness-written input also holds ``clicks``, ``clicks_order``
    and ``prev_pred``; :func:`evalkit.contract.npz.load_npz` reads those on demand).
    Raises :class:`ContractError`.
    """
    from evalkit.contract.validate import check_imgs, check_spacing

    path = Path(path)
    name = case if case is not None else case_name_of(path)
    arrays = load_npz(
        path,
        keys={"imgs": "uint8 image (D, H, W)", "spacing": "floating voxel spacing (3,)",
              "boxes": "per-class box dicts"},
        optional=("boxes",),
        objects=("boxes",),
        max_file_bytes=limits["max_file_bytes"],
        max_decompressed_bytes=limits["max_decompressed_bytes"],
        case=name,
    )
    shape = check_imgs(arrays["imgs"], 3, case=name, file=path)
    check_spacing(arrays["spacing"], case=name, file=path)
    member = arrays.get("boxes")
    boxes = None
    if member is not None:
        if member.dtype != np.dtype(object):
            raise ContractError("bad_dtype", case=name, file=path, key="boxes",
                                expected="a list of per-class dicts (an object array)",
                                found=f"{member.dtype} array of shape {member.shape}",
                                fix="CVPR24 (N, 6) box arrays are not this challenge's boxes")
        boxes = check_class_boxes(member, shape, max_classes=int(limits["max_instances"]),
                                  case=name, file=path)
    return InteractiveInput(arrays["imgs"], arrays["spacing"], boxes, member)
