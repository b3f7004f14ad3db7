"""The journal: one JSON object per line, appended atomically; the one reader.

Each record is written with a single ``write`` on an ``O_APPEND`` descriptor,
then ``fsync``-ed, so a harness killed at any moment leaves either the whole
line or (at worst) a torn last line without its newline.

**The one policy for a bad line** (every stage reads journals through
:func:`read_journal`):

* a torn last line (no trailing newline: a harness killed mid-write) is not a
  record and is ignored; :func:`open_journal` cuts it off before appending;
* blank lines are skipped;
* any other line that is not a JSON object with string ``case`` and ``status``
  raises :class:`JournalError` naming the file and the line number: a journal
  is written only by evalkit, so a garbled complete line means the file was
  damaged or edited, and results built on it could be wrong.

**Records.** A protocol (``evalkit.runner.protocols``) writes, per case, one
``record = "case"`` line with the case's outcome. A protocol that runs a case
several times (``interactive``) first writes one ``record = "run"`` line per
container run (``iteration``, ``attempt``); a single-run protocol writes only the
case line, which then also stands for its one run (``iteration`` 1). Lines of
journals written before the ``record`` field existed are case records.
Columns are fixed by docs/design.md (:data:`COLUMNS`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Self

from evalkit.errors import EvalkitError

STATUSES = ("ok", "nonzero_exit", "oom", "timeout", "missing_output", "invalid_output",
            "harness_error", "skipped", "over_budget")
RECORD_KINDS = ("case", "run")


class JournalError(EvalkitError, ValueError):
    """A journal line that is complete but not a record; names the file and line."""


@dataclass
class CaseRecord:
    """One case's (or one run's) outcome. Times in seconds, memory in bytes,
    timestamps ISO 8601 UTC.

    ``wall_s`` is the official figure (create -> exit observed); ``engine_s`` the
    engine's StartedAt -> FinishedAt; ``start_overhead_s`` = ``wall_s - engine_s``;
    ``cpu_s`` / ``peak_memory_bytes`` come from the per-case parent cgroup
    (``None`` and ``degraded_timing`` true when unavailable or when cases ran side by side).
    ``output`` is the collected file relative to the submission folder, or ``None``.
    ``record`` is ``"case"`` or ``"run"`` (see the module docstring); ``iteration``
    counts a case's container runs from 1; ``attempt`` counts tries of the case
    (a ``harness_error`` is retried with ``attempt`` + 1); ``node`` names the
    machine that ran it (``""``: this one).
    """

    case: str
    status: str
    exit_code: int | None = None
    oom_killed: bool = False
    killed_by_runner: bool = False
    wall_s: float | None = None
    engine_s: float | None = None
    start_overhead_s: float | None = None
    cpu_s: float | None = None
    peak_memory_bytes: int | None = None
    reason: str = ""
    output: str | None = None
    image_id: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    attempt: int = 1
    degraded_timing: bool = False
    record: str = "case"
    iteration: int = 1
    node: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=False, allow_nan=False)


COLUMNS = tuple(f.name for f in fields(CaseRecord))


def _parse(line: str) -> CaseRecord | None:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    if not isinstance(obj.get("case"), str) or not isinstance(obj.get("status"), str):
        return None
    rec = CaseRecord(**{k: obj[k] for k in COLUMNS if k in obj})
    if rec.reason is None:
        rec.reason = ""
    if rec.record not in RECORD_KINDS:
        return None
    return rec


def read_journal(path: str | Path, *, kind: str | None = "case") -> list[CaseRecord]:
    """The complete records of a journal in file order (``[]`` if it does not exist).

    ``kind``: ``"case"`` (default; the case outcomes every stage reads),
    ``"run"`` (per-run lines of multi-run protocols) or ``None`` (all lines).
    Raises :class:`JournalError` for a complete line that is not a record (the
    module docstring gives the policy); a torn last line is ignored.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    complete = lines[:-1]  # lines[-1] is b"" or the torn write of a killed harness: not a record
    out: list[CaseRecord] = []
    for i, raw in enumerate(complete, 1):
        if not raw.strip():
            continue
        rec = _parse(raw.decode("utf-8", "replace"))
        if rec is None:
            raise JournalError(
                f"{p}: line {i} is not a journal record: {raw[:120]!r}. The journal is written "
                "only by evalkit: restore it from a backup, or delete that line to rerun the case.")
        if kind is None or rec.record == kind:
            out.append(rec)
    return out


def latest_by_case(records: list[CaseRecord]) -> dict[str, CaseRecord]:
    """The last record of each case (later attempts replace earlier ones)."""
    out: dict[str, CaseRecord] = {}
    for r in records:
        out[r.case] = r
    return out


def runs_by_case(records: list[CaseRecord]) -> dict[str, list[CaseRecord]]:
    """Run records grouped by case, in file order (for multi-run protocols)."""
    out: dict[str, list[CaseRecord]] = {}
    for r in records:
        if r.record == "run":
            out.setdefault(r.case, []).append(r)
    return out


class Journal:
    """Append-only writer; use :func:`open_journal`."""

    def __init__(self, path: Path):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, record: CaseRecord) -> None:
        data = (record.to_json() + "\n").encode()
        written = os.write(self._fd, data)
        if written != len(data):  # pragma: no cover - regular files write fully
            raise OSError(f"{self.path}: short write ({written} of {len(data)} bytes)")
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_journal(path: str | Path) -> Journal:
    """Open ``path`` for appending, first cutting off a torn last line if any."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.exists():
        with open(p, "r+b") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
                f.flush()
                os.fsync(f.fileno())
    return Journal(p)
