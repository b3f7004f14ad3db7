"""The run-folder lock: a second process is refused (naming the holder) or waits."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from evalkit.runfolder.lock import FolderBusyError, folder_lock

HOLD = textwrap.dedent("""
    import sys, time
    from evalkit.runfolder.lock import folder_lock
    with folder_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def _holder(folder, seconds):
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), str(seconds)], stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_second_process_is_refused_with_the_holder_named(tmp_path):
    p = _holder(tmp_path, 30)
    try:
        with pytest.raises(FolderBusyError) as info, folder_lock(tmp_path):
            pass
        assert f"pid {p.pid}" in str(info.value) and "--wait" in str(info.value)
    finally:
        p.kill()
        p.wait()
    with folder_lock(tmp_path):  # the kernel dropped the dead holder's lock
        pass


def test_wait_queues_behind_the_holder(tmp_path):
    p = _holder(tmp_path, 1.0)
    t0 = time.monotonic()
    with folder_lock(tmp_path, wait=True, poll_s=0.05):
        waited = time.monotonic() - t0
    p.wait()
    assert waited > 0.5


def test_wait_timeout(tmp_path):
    p = _holder(tmp_path, 30)
    try:
        with pytest.raises(FolderBusyError), folder_lock(tmp_path, wait=True, poll_s=0.05, timeout_s=0.3):
            pass
    finally:
        p.kill()
        p.wait()
