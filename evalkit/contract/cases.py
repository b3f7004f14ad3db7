"""Cases: name parsing, manifest override and discovery of a folder of cases.

A case is one ``.npz`` file in the inputs folder; its name (the file stem) says
its dimensionality and modality: ``3DBox_CT_0001`` is a 3D CT case,
``2DBox_Microscope_0007`` a 2D microscopy case (``Microscope`` is an alias).
A manifest CSV (columns ``case,modality,dim``) overrides what names say.
"""

from __future__ import annotations

import csv
import os
import re
import stat
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from evalkit.contract.errors import ContractError


class ContractWarning(UserWarning):
    """Something in a folder of cases that is tolerated but worth a look."""


@dataclass(frozen=True)
class Case:
    """One case of a test set.

    ``name`` is the file stem (``"3DBox_CT_0001"``), ``modality`` the canonical
    modality (aliases resolved), ``dim`` 2 or 3, ``input_path`` the input ``.npz``
    and ``gt_path`` its ground truth (``None`` when no GT folder was given).
    ``modality_rule`` says where the modality came from: ``"manifest"``, ``"name"``
    (the ``<dim>Box_<Modality>_<id>`` field), ``"token"`` (a leading name token that
    names a known modality, ``case_names = "free"``) or ``"default"`` (the
    challenge's ``default_task``).
    """

    name: str
    modality: str
    dim: int
    input_path: Path
    gt_path: Path | None = None
    modality_rule: str = "name"

    @property
    def file_name(self) -> str:
        """The file name used for the input, the GT and the prediction: ``<name>.npz``."""
        return f"{self.name}.npz"


def _bundled():
    from evalkit.config import load_challenge

    return load_challenge()


def resolve_modality(
    modality: str, aliases: Mapping[str, str] | None = None, known: list[str] | None = None
) -> str:
    """Canonical modality name.

    Exact alias first (``"Microscope" -> "Microscopy"``), then a case-insensitive
    match against the known modalities and the aliases (``"ct" -> "CT"``); anything
    else is returned unchanged (organisers may add modalities).
    """
    aliases = dict(aliases or {})
    if modality in aliases:
        return aliases[modality]
    known = list(known or [])
    if modality in known:
        return modality
    folded = modality.casefold()
    for name in known:
        if name.casefold() == folded:
            return name
    for alias, target in aliases.items():
        if alias.casefold() == folded:
            return target
    return modality


def parse_case_name(name: str, aliases: Mapping[str, str] | None = None) -> tuple[str, int]:
    """``(modality, dim)`` from a case name or file name.

    A name starting with ``"3D"`` is 3D, anything else 2D. The modality is the
    second ``_``-separated field, with ``aliases`` resolved (``None`` = the bundled
    challenge's aliases and modalities). A name without a second field (or with an
    empty one) raises :class:`ContractError` (``bad_name``).
    """
    stem = name[:-4] if name.lower().endswith(".npz") else name
    stem = Path(stem).name
    dim = 3 if stem.startswith("3D") else 2
    fields = stem.split("_")
    if len(fields) < 2 or not fields[1]:
        raise ContractError(
            "bad_name",
            case=stem,
            file=name,
            expected="a name like 2DBox_<Modality>_<id>.npz or 3DBox_<Modality>_<id>.npz",
            found=f"'{stem}' (no modality field)",
            fix="rename the file or give its modality and dim in a manifest (case,modality,dim)",
        )
    known = None
    if aliases is None:
        ch = _bundled()
        aliases, known = ch.modality_aliases, ch.modalities
    return resolve_modality(fields[1], aliases, known), dim


def modality_from_token(name: str, aliases: Mapping[str, str],
                        known: list[str]) -> str | None:
    """The known modality named by a leading token of ``name`` (``"CT_liver_01"`` ->
    ``"CT"``, ``"mri-brain-3"`` -> ``"MR"`` with alias ``MRI``), else ``None``.

    Tokens are split on ``_``, ``-`` and ``.``; the first token, then the second (so
    ``3D_CT_01`` and ``Case_MR_7`` work), is resolved through ``aliases`` and matched
    case-insensitively against ``known``.
    """
    stem = name[:-4] if name.lower().endswith(".npz") else name
    tokens = [t for t in re.split(r"[_\-.]", stem) if t]
    for token in tokens[:2]:
        resolved = resolve_modality(token, aliases, known)
        if resolved in known:
            return resolved
    return None


def read_manifest(
    path: str | Path, aliases: Mapping[str, str] | None = None, known: list[str] | None = None
) -> dict[str, tuple[str | None, int | None]]:
    """Read a manifest CSV: ``case -> (modality or None, dim or None)``.

    Columns ``case,modality,dim`` (header required; ``case`` with or without
    ``.npz``). A blank modality or dim means "infer from the name". ``dim`` must be
    2 or 3. A case listed twice is an error (``duplicate_case``); a malformed file
    ``bad_values`` naming the row and column.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ContractError(
            "missing_file",
            file=path,
            expected="a readable manifest CSV",
            found=f"{type(exc).__name__}: {exc.strerror}",
        ) from None
    reader = csv.DictReader(text.splitlines())
    cols = [c.strip() for c in (reader.fieldnames or [])]
    if "case" not in cols:
        raise ContractError(
            "bad_values",
            file=path,
            key="case",
            expected="a header with columns case,modality,dim",
            found=f"columns {cols}",
        )
    out: dict[str, tuple[str | None, int | None]] = {}
    for lineno, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        case = row.get("case", "")
        if case.lower().endswith(".npz"):
            case = case[:-4]
        if not case:
            raise ContractError(
                "bad_values",
                file=path,
                key="case",
                expected=f"a case name on line {lineno}",
                found="an empty field",
            )
        if case in out:
            raise ContractError(
                "duplicate_case",
                case=case,
                file=path,
                key="case",
                expected="each case once",
                found=f"'{case}' again on line {lineno}",
            )
        modality = row.get("modality") or None
        if modality is not None:
            modality = resolve_modality(modality, aliases, known)
        dim_text = row.get("dim") or ""
        dim: int | None = None
        if dim_text:
            if dim_text.upper().rstrip("D") not in ("2", "3"):
                raise ContractError(
                    "bad_values",
                    case=case,
                    file=path,
                    key="dim",
                    expected=f"2 or 3 on line {lineno}",
                    found=repr(dim_text),
                )
            dim = int(dim_text.upper().rstrip("D"))
        out[case] = (modality, dim)
    return out


def discover_cases(
    inputs_dir: str | Path,
    gt_dir: str | Path | None = None,
    manifest: str | Path | None = None,
    challenge=None,
) -> list[Case]:
    """The cases of an inputs folder, sorted by name.

    Every ``*.npz`` entry of ``inputs_dir`` (not recursive) is a case; other entries
    are ignored with a :class:`ContractWarning`. Dimensionality and modality come
    from the name (:func:`parse_case_name`) unless ``manifest`` gives them; a
    manifest case missing from the folder is an error. An unknown modality is
    allowed with a warning. With ``gt_dir``, every case must have
    ``gt_dir/<case>.npz`` (``missing_file`` naming the case otherwise).
    ``challenge`` (a :class:`evalkit.config.Challenge`) supplies modalities and
    aliases; ``None`` = the bundled CVPR24 file. Files are not opened here: loading
    (``load_input``) does the symlink/size/content checks.

    Raises :class:`ContractError`: ``missing_file`` (no such folder, missing GT,
    manifest case without a file), ``duplicate_case`` (two files with one case
    name, e.g. ``a.npz`` and ``a.NPZ``), ``bad_name``, ``bad_values`` (manifest).
    """
    ch = challenge if challenge is not None else _bundled()
    aliases, known = ch.modality_aliases, ch.modalities
    free = ch.contract.get("case_names", "modality-field") == "free"
    inputs_dir = Path(inputs_dir)
    if not inputs_dir.is_dir():
        raise ContractError(
            "missing_file",
            file=inputs_dir,
            expected="a folder of .npz cases",
            found="no such folder" if not inputs_dir.exists() else "not a folder",
        )
    files: dict[str, Path] = {}
    with os.scandir(inputs_dir) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if not entry.name.lower().endswith(".npz") or len(entry.name) <= 4:
            warnings.warn(
                f"{inputs_dir / entry.name}: not an .npz file; ignored",
                ContractWarning,
                stacklevel=2,
            )
            continue
        if entry.is_dir(follow_symlinks=False):
            warnings.warn(
                f"{inputs_dir / entry.name}: a folder, not a case file; ignored",
                ContractWarning,
                stacklevel=2,
            )
            continue
        name = entry.name[:-4]
        if name in files:
            raise ContractError(
                "duplicate_case",
                case=name,
                file=inputs_dir / entry.name,
                expected="one file per case name",
                found=f"both {files[name].name} and {entry.name}",
                fix="remove one of them",
            )
        files[name] = inputs_dir / entry.name
    listed = read_manifest(manifest, aliases, known) if manifest is not None else {}
    missing = sorted(set(listed) - set(files))
    if missing:
        raise ContractError(
            "missing_file",
            case=missing[0],
            file=inputs_dir / f"{missing[0]}.npz",
            expected=f"every manifest case in {inputs_dir}",
            found=f"{len(missing)} missing: {', '.join(missing[:10])}",
        )
    cases = []
    rules: dict[str, int] = {}
    for name in sorted(files):
        modality, dim = listed.get(name, (None, None))
        rule = "manifest" if modality is not None else "name"
        if free:
            if modality is None:
                modality = modality_from_token(name, aliases or {}, known or [])
                rule = "token" if modality is not None else "default"
                modality = modality if modality is not None else str(ch.contract["default_task"])
            dim = dim if dim is not None else int(ch.contract.get("default_dim", 3))
        elif modality is None or dim is None:
            parsed_modality, parsed_dim = parse_case_name(name, aliases or {})
            modality = (
                modality
                if modality is not None
                else resolve_modality(parsed_modality, aliases, known)
            )
            dim = dim if dim is not None else parsed_dim
        rules[rule] = rules.get(rule, 0) + 1
        if known and modality not in known and rule != "default":
            warnings.warn(
                f"{files[name]}: modality '{modality}' is not one of the challenge's "
                f"modalities {known}; kept as its own task",
                ContractWarning,
                stacklevel=2,
            )
        gt_path = None
        if gt_dir is not None:
            gt_path = Path(gt_dir) / f"{name}.npz"
            try:
                st = os.lstat(gt_path)
            except OSError:
                raise ContractError(
                    "missing_file",
                    case=name,
                    file=gt_path,
                    expected=f"ground truth for case {name}",
                    found="no such file",
                    fix=f"add {gt_path.name} to {gt_dir}",
                ) from None
            if stat.S_ISDIR(st.st_mode):
                raise ContractError(
                    "not_regular_file",
                    case=name,
                    file=gt_path,
                    expected="a ground-truth .npz file",
                    found="a directory",
                )
        cases.append(Case(name, modality, dim, files[name], gt_path, rule))
    if free and cases:
        warnings.warn(f"{inputs_dir}: {len(cases)} cases; modality from {describe_rules(rules)}",
                      ContractWarning, stacklevel=2)
    return cases


_RULE_WORDS = {"manifest": "the manifest", "name": "the name's modality field",
               "token": "a leading name token", "default": "none found: default task"}


def describe_rules(counts: Mapping[str, int]) -> str:
    """``{"token": 5, "default": 1}`` -> ``"a leading name token: 5, none found: default task: 1"``."""
    return ", ".join(f"{_RULE_WORDS.get(k, k)}: {v}" for k, v in sorted(counts.items()))
