"""An exclusive lock on a run folder or a submission folder, held for a whole run.

Two ``evalkit run`` / ``evaluate`` processes on one folder would share its run token:
the second one's leftover clean-up would remove the first one's live container and
delete its work folder. Each process therefore holds ``fcntl.flock`` on
``<folder>/.evalkit.lock`` while it works; the lock file names the holder (pid, host,
command, since when) so a second process can say who has it. The kernel drops the lock
when the holder exits, however it exits (kill -9 included), so a stale lock file never
blocks anyone.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from evalkit.runfolder.layout import RunFolderError

LOCK_NAME = ".evalkit.lock"


class FolderBusyError(RunFolderError):
    """Another process holds the folder's lock; the message names it."""


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8", errors="replace")[:4096])
        cmd = " ".join(str(c) for c in info.get("command", []))[:200]
        return f"pid {info.get('pid')} on {info.get('host')} since {info.get('since')} ({cmd})"
    except (OSError, ValueError, AttributeError):
        return "another process"


@contextmanager
def folder_lock(folder: str | Path, *, wait: bool = False, poll_s: float = 0.5,
                timeout_s: float | None = None) -> Iterator[Path]:
    """Hold the exclusive lock of ``folder`` (created if needed) for the ``with`` block.

    ``wait=False``: raise :class:`FolderBusyError` at once, naming the holder, when
    another process has it. ``wait=True``: wait for it (``timeout_s`` bounds the wait;
    ``None`` = as long as it takes). Re-entrant within one process is *not* supported:
    hold it once, at the top of the run.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    start = time.monotonic()
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait or (timeout_s is not None and time.monotonic() - start > timeout_s):
                    raise FolderBusyError(
                        f"{folder} is in use by {_holder(path)}. Wait for it to finish, pass "
                        "--wait to queue behind it, or use another run folder.") from None
                time.sleep(poll_s)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": sys.argv,
                "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock
