"""The runner journal: one JSON object per finished case, appended atomically.

Each record is written with a single ``write`` on an ``O_APPEND`` descriptor,
then ``fsync``-ed, so a harness killed at any moment leaves either the whole
line or (at worst) a torn last line without its newline; :func:`read_journal`
ignores such a torn tail and :func:`open_journal` truncates it before appending.
Columns are fixed by docs/design.md (:data:`COLUMNS`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Self

STATUSES = ("ok", "nonzero_exit", "oom", "timeout", "missing_output", "invalid_output",
            "harness_error")


@dataclass
class CaseRecord:
    """One case's outcome. Times in seconds, memory in bytes, timestamps ISO 8601 UTC.

    ``wall_s`` is the official figure (create -> exit observed); ``engine_s`` the
    engine's StartedAt -> FinishedAt; ``start_overhead_s`` = ``wall_s - engine_s``;
    ``cpu_s`` / ``peak_memory_bytes`` come from the per-case parent cgroup
    (``None`` and ``degraded_timing`` true when unavailable or when cases ran side by side).
    ``output`` is the collected file relative to the submission folder, or ``None``.
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

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=False, allow_nan=False)


COLUMNS = tuple(f.name for f in fields(CaseRecord))


def _parse(line: str) -> CaseRecord | None:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or "case" not in obj or "status" not in obj:
        return None
    return CaseRecord(**{k: obj.get(k) for k in COLUMNS if k in obj})


def read_journal(path: str | Path) -> list[CaseRecord]:
    """All complete records of a journal in file order (``[]`` if it does not exist).

    A torn last line (no trailing newline, e.g. after ``kill -9``) is ignored; an
    unparseable complete line raises ``ValueError`` naming the line number.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    out: list[CaseRecord] = []
    for i, raw in enumerate(complete, 1):
        if not raw.strip():
            continue
        rec = _parse(raw.decode("utf-8", "replace"))
        if rec is None:
            raise ValueError(f"{p}: line {i} is not a journal record: {raw[:120]!r}")
        out.append(rec)
    del tail  # torn write of a killed harness: not a record
    return out


def latest_by_case(records: list[CaseRecord]) -> dict[str, CaseRecord]:
    """The last record of each case (later attempts replace earlier ones)."""
    out: dict[str, CaseRecord] = {}
    for r in records:
        out[r.case] = r
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
