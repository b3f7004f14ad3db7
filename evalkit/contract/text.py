"""The text contract (CVPR 2025 text-guided track): ``text_prompts`` instead of boxes.

An input ``.npz`` holds ``imgs``, ``spacing`` (3D) and ``text_prompts``: a
pickled dict (a 0-d object array, as ``np.savez(..., text_prompts=dict)`` writes
it) mapping a class id, written as a string (``"1"``), to its text description,
plus the key ``"instance_label"``: ``0`` = the classes are semantic labels,
``1`` = the target is instances of one class (the official script reads it from
inside the dict). A top-level ``instance_label`` member is accepted too and
must then agree. It is read with the restricted unpickler
(:mod:`evalkit.contract.safepickle`); a participant's file is never unpickled.

Rules checked (every error a :class:`ContractError` naming the case, the file
and the key, e.g. ``text_prompts['abc']``): the member is a dict; every class key
is a decimal integer string (or an int) in ``1..max_instances``; every
description is a non-empty string (a list of strings is joined with ``"; "``);
at least one class; ``instance_label`` is 0 or 1; an instance case has one
class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.contract.errors import ContractError

#: ``[contract] inputs`` of the text contract.
KIND = "text"
KEY = "text_prompts"
INSTANCE_KEY = "instance_label"


@dataclass(frozen=True)
class TextPrompts:
    """The prompts of one text case: ``classes`` (class id -> description) and
    ``instance_label`` (0 semantic, 1 instances)."""

    classes: dict[int, str]
    instance_label: int

    @property
    def kind(self) -> str:
        """``"semantic"`` or ``"instance"``."""
        return "instance" if self.instance_label == 1 else "semantic"

    @property
    def class_ids(self) -> list[int]:
        """The prompted class ids, sorted."""
        return sorted(self.classes)

    def to_object(self) -> dict[str, Any]:
        """The dict as the official files hold it (string keys, ``instance_label``)."""
        return {**{str(k): v for k, v in sorted(self.classes.items())}, INSTANCE_KEY: self.instance_label}


def _instance_label(value: Any, *, case, file, key: str) -> int:
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int) or value not in (0, 1):
        raise ContractError("bad_values", case=case, file=file, key=key,
                            expected="0 (semantic classes) or 1 (instances of one class)",
                            found=repr(value)[:80])
    return int(value)


def parse_text_prompts(
    obj: Any,
    *,
    case: str | None = None,
    file: str | Path | None = None,
    max_classes: int = 65535,
    instance_label: Any = None,
) -> TextPrompts:
    """Check a loaded ``text_prompts`` object (a dict, or the 0-d object array holding it).

    ``instance_label``: the top-level member's value when the file has one
    (``None``: none). Raises :class:`ContractError` (module docstring).
    """
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == ():
        obj = obj.item()
    if not isinstance(obj, Mapping):
        raise ContractError("bad_values", case=case, file=file, key=KEY,
                            expected="a dict of class id (string) -> text description",
                            found=type(obj).__name__,
                            fix="save it as np.savez(path, text_prompts={'1': 'liver', "
                                "'instance_label': 0}, ...)")
    classes: dict[int, str] = {}
    inner = None
    for k, v in obj.items():
        if k == INSTANCE_KEY:
            inner = _instance_label(v, case=case, file=file, key=f"{KEY}[{INSTANCE_KEY!r}]")
            continue
        where = f"{KEY}[{str(k)[:40]!r}]"
        if isinstance(k, bool) or not isinstance(k, (str, int)) or (
                isinstance(k, str) and not k.strip().isdecimal()):
            raise ContractError("bad_values", case=case, file=file, key=where,
                                expected="a class id written as a decimal integer string such as '1'",
                                found=repr(k)[:80])
        cid = int(k)
        if not 1 <= cid <= max_classes:
            raise ContractError("bad_values", case=case, file=file, key=where,
                                expected=f"a class id in 1..{max_classes}", found=str(cid))
        if cid in classes:
            raise ContractError("bad_values", case=case, file=file, key=where,
                                expected="each class id once", found=f"class {cid} twice")
        if isinstance(v, (list, tuple)) and v and all(isinstance(x, str) for x in v):
            v = "; ".join(v)
        if not isinstance(v, str) or not v.strip():
            raise ContractError("bad_values", case=case, file=file, key=where,
                                expected="a non-empty text description", found=repr(v)[:80])
        classes[cid] = v
    outer = None if instance_label is None else _instance_label(
        instance_label, case=case, file=file, key=INSTANCE_KEY)
    if inner is None and outer is None:
        raise ContractError("missing_key", case=case, file=file, key=f"{KEY}[{INSTANCE_KEY!r}]",
                            expected="instance_label 0 (semantic) or 1 (instances) in text_prompts")
    if inner is not None and outer is not None and inner != outer:
        raise ContractError("bad_values", case=case, file=file, key=INSTANCE_KEY,
                            expected=f"the value of text_prompts['instance_label'] ({inner})",
                            found=str(outer))
    label = inner if inner is not None else outer
    if not classes:
        raise ContractError("bad_values", case=case, file=file, key=KEY,
                            expected="at least one class id -> description", found="none")
    if label == 1 and len(classes) != 1:
        raise ContractError("bad_values", case=case, file=file, key=KEY,
                            expected="one class in an instance case (instance_label 1)",
                            found=f"{len(classes)} classes")
    return TextPrompts(classes, label)


def load_text_prompts(
    path: str | Path,
    limits: Mapping[str, Any] | None = None,
    *,
    case: str | None = None,
    with_spacing: bool = False,
) -> TextPrompts | tuple[TextPrompts, np.ndarray | None]:
    """Read and check the ``text_prompts`` of an input ``.npz`` (organiser file).

    ``limits``: the challenge's ``[contract]`` section (``None``: bundled
    defaults). ``with_spacing``: also return the input's ``spacing`` (checked;
    ``None`` when absent), which the official text script scores with:
    ``(prompts, spacing)``. The image is never inflated. Raises :class:`ContractError`.
    """
    from evalkit.contract.npz import _limits, case_name_of, load_npz
    from evalkit.contract.validate import check_spacing

    lim = _limits(limits)
    case = case if case is not None else case_name_of(path)
    keys = {KEY: "text_prompts: a pickled dict class id -> description",
            INSTANCE_KEY: "instance_label 0 or 1"}
    if with_spacing:
        keys["spacing"] = "floating voxel spacing (3,)"
    arrays = load_npz(
        path,
        keys=keys,
        optional=(INSTANCE_KEY, "spacing"),
        objects=(KEY,),
        max_file_bytes=lim["max_file_bytes"],
        max_decompressed_bytes=lim["max_decompressed_bytes"],
        case=case,
    )
    prompts = parse_text_prompts(arrays[KEY], case=case, file=path,
                                 max_classes=int(lim["max_instances"]),
                                 instance_label=arrays.get(INSTANCE_KEY))
    if not with_spacing:
        return prompts
    spacing = arrays.get("spacing")
    if spacing is not None:
        check_spacing(spacing, case=case, file=path)
    return prompts, spacing
