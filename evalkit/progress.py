"""Progress on long work: a tqdm bar on a terminal, plain lines in a log file.

tqdm redraws its bar with carriage returns, which a log file (``make evaluate >
log``, CI) keeps as one enormous line. :func:`progress` gives a tqdm bar when the
stream is a terminal and otherwise a :class:`LineProgress` with the same small API
(``update``, ``set_postfix_str``, ``close``) that writes one line per finished item
(``lines="each"``) or one line at the end (``lines="end"``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import IO, Any

from tqdm import tqdm


class LineProgress:
    """tqdm's ``update`` / ``set_postfix_str`` / ``close`` as plain lines."""

    def __init__(self, total: int | None, desc: str, *, initial: int = 0, unit: str = "it",
                 lines: str = "each", file: IO[str] | None = None):
        self.total, self.desc, self.n, self.unit, self.lines = total, desc, initial, unit, lines
        self.file = file if file is not None else sys.stderr
        self.postfix = ""
        self._t0 = time.monotonic()
        self._closed = False

    def _line(self) -> str:
        of = f"/{self.total}" if self.total is not None else ""
        extra = f" {self.postfix}" if self.postfix else ""
        return f"{self.desc}: {self.n}{of} {self.unit}{extra} ({time.monotonic() - self._t0:.1f} s)"

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.lines == "each":
            print(self._line(), file=self.file, flush=True)

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text

    def close(self) -> None:
        if not self._closed and self.lines == "end":
            print(self._line(), file=self.file, flush=True)
        self._closed = True

    def __iter__(self):  # pragma: no cover - only tqdm-style iteration is used via progress(iterable=...)
        raise TypeError("LineProgress wraps no iterable")


class _IterLines(LineProgress):
    def __init__(self, iterable, **kw):
        super().__init__(kw.pop("total", None), **kw)
        self._it = iterable

    def __iter__(self):
        for x in self._it:
            yield x
            self.update()
        self.close()


def per_node(counts: Mapping[str, int]) -> str:
    """Per-node counts for a progress bar's postfix: ``"nodes a=3 b=2"`` (sorted by node;
    ``""`` for no counts). One bar covers a whole cluster; this says where the items ran."""
    return ("nodes " + " ".join(f"{k}={v}" for k, v in sorted(counts.items()))) if counts else ""


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress(iterable=None, *, total: int | None = None, desc: str = "", unit: str = "it",
             initial: int = 0, enabled: bool = True, lines: str = "each", file: IO[str] | None = None):
    """A progress reporter: tqdm on a terminal, :class:`LineProgress` elsewhere, silent
    (a disabled tqdm) when ``enabled`` is false. ``iterable``: wrap it like ``tqdm(it)``."""
    stream = file if file is not None else sys.stderr
    if not enabled or is_terminal(stream):
        kw = {"total": total, "desc": desc, "unit": unit, "initial": initial, "file": stream,
              "disable": not enabled, "dynamic_ncols": True}
        return tqdm(iterable, **kw) if iterable is not None else tqdm(**kw)
    if iterable is not None:
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)
        return _IterLines(iterable, total=total, desc=desc, unit=unit, initial=initial, lines=lines,
                          file=stream)
    return LineProgress(total, desc, initial=initial, unit=unit, lines=lines, file=stream)
