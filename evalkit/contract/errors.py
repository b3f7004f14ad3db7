"""The one error type of the contract stage.

Every rejection of an input, ground-truth or prediction file is a
:class:`ContractError`. It carries what a status line needs (``reason``, a short
machine code) and what a person needs to fix the file: the case, the file, the
key, what was expected, what was found, and a plain-words fix.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.errors import EvalkitError

#: The machine codes a ContractError may carry (docs/design.md).
REASONS: frozenset[str] = frozenset(
    {
        "missing_file",
        "not_regular_file",
        "symlink",
        "too_large",
        "zip_bomb",
        "pickled",
        "bad_zip",
        "missing_key",
        "bad_dtype",
        "bad_shape",
        "bad_values",
        "bad_box",
        "bad_spacing",
        "empty_file",
        "bad_name",
        "duplicate_case",
    }
)


class ContractError(EvalkitError, ValueError):
    """A file (or folder of cases) that breaks the case contract.

    Attributes
    ----------
    case : str | None
        Case name (file stem, e.g. ``"3DBox_CT_0001"``), or ``None`` when unknown.
    file : str | None
        The file's path as given (or its name), or ``None`` for folder-level errors.
    key : str | None
        The ``.npz`` key concerned (``"imgs"``, ``"boxes"``, ``"spacing"``, ``"gts"``,
        ``"segs"``), or ``None`` when the problem is the file itself.
    expected, found : str
        Short descriptions of what the contract requires and what the file holds.
    reason : str
        A short machine code from :data:`REASONS` (used as status detail by the
        runner and metrics).
    fix : str
        What to do about it, in plain words (may be empty).

    ``str(err)`` names all of them, e.g.::

        3DBox_CT_0001.npz: key 'boxes': expected integer array of shape (N, 6) [...],
        found float32 (3, 4). Write boxes as int64 ... [bad_dtype]
    """

    def __init__(
        self,
        reason: str,
        *,
        case: str | None = None,
        file: str | Path | None = None,
        key: str | None = None,
        expected: str = "",
        found: str = "",
        fix: str = "",
    ) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown ContractError reason {reason!r}; known: {sorted(REASONS)}")
        self.reason = reason
        self.case = case
        self.file = None if file is None else str(file)
        self.key = key
        self.expected = expected
        self.found = found
        self.fix = fix
        super().__init__(self._message())

    def _message(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.case is not None and (self.file is None or self.case not in Path(self.file).name):
            where.append(f"case {self.case}")
        head = ": ".join(where) if where else "contract"
        parts = [head]
        if self.key is not None:
            parts.append(f"key '{self.key}'")
        detail = []
        if self.expected:
            detail.append(f"expected {self.expected}")
        if self.found:
            detail.append(f"found {self.found}")
        text = ": ".join(parts)
        if detail:
            text += ": " + ", ".join(detail) + "."
        if self.fix:
            fix = self.fix.rstrip(".")
            text += " " + fix[:1].upper() + fix[1:] + "."
        return f"{text} [{self.reason}]"

    def __reduce__(self):  # keep the attributes through pickling (multiprocessing workers)
        return (
            _rebuild,
            (self.reason, self.case, self.file, self.key, self.expected, self.found, self.fix),
        )

    def as_status(self) -> str:
        """One line for a status table: ``"<reason>: <message>"``."""
        return f"{self.reason}: {self}"


def _rebuild(reason, case, file, key, expected, found, fix) -> ContractError:
    return ContractError(
        reason, case=case, file=file, key=key, expected=expected, found=found, fix=fix
    )
