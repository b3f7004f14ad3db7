"""Staging folders and output collection for one case.

* :func:`capped_folder` mounts a tmpfs of ``cap`` bytes on a host folder (root
  only, through the ``mount(2)`` syscall), so a container writing more than the
  cap gets ``ENOSPC`` inside instead of filling the host disk. Without the
  privilege it falls back to a plain folder and the cap is only checked after
  the container exits (``enforced`` is then false).
* :func:`collect` copies out exactly one expected file: no symlink (``O_NOFOLLOW``),
  only a regular file, at most ``cap`` bytes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

MNT_DETACH = 2
MS_NOSUID = 2
MS_NODEV = 4
_libc = None


def _lib():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


@dataclass
class CappedFolder:
    """A host folder, size-capped while mounted (``enforced``)."""

    path: Path
    cap_bytes: int
    enforced: bool

    def used_bytes(self) -> int:
        """Bytes in use on the capped mount (or the sum of regular file sizes)."""
        if self.enforced:
            st = os.statvfs(self.path)
            return (st.f_blocks - st.f_bfree) * st.f_frsize
        total = 0
        for dirpath, _, files in os.walk(self.path, followlinks=False):
            for f in files:
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_size
                except OSError:
                    pass
        return total

    def release(self) -> None:
        """Unmount (if mounted); the folder itself is left for the caller to delete."""
        if self.enforced:
            unmount(self.path)
            self.enforced = False


def capped_folder(path: Path, cap_bytes: int, mode: int = 0o777) -> CappedFolder:
    """Create ``path`` (mode ``mode``) and mount a ``cap_bytes`` tmpfs on it when possible."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    if os.geteuid() == 0:
        opts = f"size={cap_bytes},mode={mode:o},nr_inodes=4096".encode()
        rc = _lib().mount(b"tmpfs", str(path).encode(), b"tmpfs",
                          ctypes.c_ulong(MS_NOSUID | MS_NODEV), opts)
        if rc == 0:
            return CappedFolder(path, cap_bytes, True)
    return CappedFolder(path, cap_bytes, False)


def unmount(path: Path) -> None:
    """Lazily unmount ``path``; ignores 'not mounted'."""
    rc = _lib().umount2(str(path).encode(), MNT_DETACH)
    if rc != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise OSError(err, f"umount {path}: {os.strerror(err)}")


def is_mountpoint(path: Path) -> bool:
    try:
        return os.path.ismount(path)
    except OSError:
        return False


class OutputRejected(Exception):
    """The output file exists but cannot be collected; ``reason`` is a short code."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def collect(src: Path, dest: Path, cap_bytes: int) -> bool:
    """Copy the regular file ``src`` to ``dest`` without following links.

    Returns False when ``src`` does not exist. Raises :class:`OutputRejected`
    (reason ``symlink``, ``not_regular_file`` or ``too_large``) otherwise.
    Never reads more than ``cap_bytes`` bytes.
    """
    try:
        st = os.lstat(src)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode):
        raise OutputRejected("symlink", f"{src.name}: is a symbolic link (to "
                             f"{os.readlink(src)!r}); outputs must be regular files")
    if not stat.S_ISREG(st.st_mode):
        raise OutputRejected("not_regular_file", f"{src.name}: not a regular file "
                             f"(mode {stat.filemode(st.st_mode)})")
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OutputRejected("symlink", f"{src.name}: is a symbolic link") from None
        raise
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode):
            raise OutputRejected("not_regular_file", f"{src.name}: not a regular file")
        if fst.st_size > cap_bytes:
            raise OutputRejected("too_large", f"{src.name}: {fst.st_size} bytes, cap is {cap_bytes}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        copied = 0
        with open(tmp, "wb") as out:
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                copied += len(chunk)
                if copied > cap_bytes:
                    out.close()
                    tmp.unlink(missing_ok=True)
                    raise OutputRejected("too_large", f"{src.name}: more than {cap_bytes} bytes")
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    finally:
        os.close(fd)
    return True
