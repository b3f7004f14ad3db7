"""The ``[runner]`` section of the challenge file turned into container settings.

Filesystem: the container's root filesystem is read-only (``read_only_rootfs``,
default true). What it may write is size-capped tmpfs: ``/tmp`` (``tmpfs_tmp``),
and ``writable_size`` each at every ``writable_paths`` entry and at the paths the
image needs (its user's HOME, its ``VOLUME`` paths; from the intake record). tmpfs
pages are charged to the container's memory cgroup, so everything written there
counts against ``memory`` too. The staged inputs are read-only and the outputs
folder is capped separately (``outputs_cap_bytes``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from evalkit.config import ConfigError, parse_size


def parse_bytes(value: int | str, key: str = "size") -> int:
    """``8g`` / ``256m`` / ``1073741824`` -> bytes (binary units, like docker's ``-m``).

    The parser is :func:`evalkit.config.parse_size`, which also checks every size of
    the challenge file at load; this wrapper names the ``[runner]`` key in the error
    (a :class:`ConfigError`, which is a ``ValueError``).
    """
    try:
        return parse_size(value)
    except ValueError as exc:
        raise ConfigError(f"[runner] {key}: {exc}") from None


#: Where a tmpfs must never go: the root, the engine's own mounts, the workspace.
RESERVED_PATHS = ("/", "/proc", "/sys", "/dev", "/workspace", "/workspace/inputs",
                  "/workspace/outputs")
_RESERVED_TREES = ("/proc", "/sys", "/dev", "/workspace/inputs", "/workspace/outputs")


def writable_path_problem(path: str) -> str:
    """Why ``path`` cannot be a writable tmpfs mount point (``""`` when it can).

    It must be absolute, normalised (no ``..``, ``.``, ``//`` or trailing ``/``), and
    neither the root, ``/workspace`` itself, nor in ``/proc``, ``/sys``, ``/dev`` or
    the staged inputs / outputs folders.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        return "expected an absolute path"
    if posixpath.normpath(path) != path or path.startswith("//"):
        return f"expected a normalised path ({posixpath.normpath(path)!r})"
    if path in RESERVED_PATHS or any(path.startswith(t + "/") for t in _RESERVED_TREES):
        return "the root, /workspace and paths in /proc, /sys, /dev or the inputs/outputs folders stay as they are"
    return ""


@dataclass(frozen=True)
class RunnerLimits:
    """Validated ``[runner]`` settings; sizes in bytes, times in seconds."""

    command: tuple[str, ...]
    memory_bytes: int
    cpus: float
    pids_limit: int
    timeout_s: float
    network: str
    tmpfs_tmp_bytes: int
    outputs_cap_bytes: int
    log_tail_bytes: int
    parallel_cases: int
    read_only_rootfs: bool = True
    writable_paths: tuple[str, ...] = ()  # absolute paths, each a tmpfs of writable_bytes
    writable_bytes: int = 256 * 1024 * 1024

    @classmethod
    def from_config(cls, runner: dict[str, Any]) -> RunnerLimits:
        cmd = runner["command"]
        if isinstance(cmd, str) or not cmd or not all(isinstance(c, str) for c in cmd):
            raise ConfigError(f"[runner] command: expected a list of strings, found {cmd!r}")
        cpus = float(runner["cpus"])
        if cpus <= 0:
            raise ConfigError(f"[runner] cpus: expected > 0, found {cpus}")
        timeout = float(runner["timeout_s"])
        if timeout <= 0:
            raise ConfigError(f"[runner] timeout_s: expected > 0, found {timeout}")
        pids = int(runner["pids_limit"])
        if pids <= 0:
            raise ConfigError(f"[runner] pids_limit: expected > 0, found {pids}")
        return cls(
            command=tuple(cmd),
            memory_bytes=parse_bytes(runner["memory"], "memory"),
            cpus=cpus,
            pids_limit=pids,
            timeout_s=timeout,
            network=str(runner["network"]),
            tmpfs_tmp_bytes=parse_bytes(runner["tmpfs_tmp"], "tmpfs_tmp"),
            outputs_cap_bytes=parse_bytes(runner["outputs_cap_bytes"], "outputs_cap_bytes"),
            log_tail_bytes=parse_bytes(runner["log_tail_bytes"], "log_tail_bytes"),
            parallel_cases=max(1, int(runner.get("parallel_cases", 1))),
            read_only_rootfs=bool(runner.get("read_only_rootfs", True)),
            writable_paths=_writable_paths(runner.get("writable_paths", [])),
            writable_bytes=parse_bytes(runner.get("writable_size", "256m"), "writable_size"),
        )

    def tmpfs_mounts(self, image_paths: Iterable[str] = ()) -> dict[str, str]:
        """Mount point -> tmpfs options: ``/tmp`` (``tmpfs_tmp_bytes``), then each of
        ``writable_paths`` and ``image_paths`` (the image's HOME and VOLUME paths)
        with ``writable_bytes``. Duplicates and paths that may not be a mount point
        (:func:`writable_path_problem`, e.g. HOME ``/``) are skipped. The engine adds
        ``noexec``; the mode is 1777."""
        mounts = {"/tmp": f"rw,nosuid,nodev,size={self.tmpfs_tmp_bytes}"}
        for path in (*self.writable_paths, *image_paths):
            path = posixpath.normpath(path) if path else path
            if path and path not in mounts and not writable_path_problem(path):
                mounts[path] = f"rw,nosuid,nodev,size={self.writable_bytes}"
        return mounts

    def host_config(self, image_paths: Iterable[str] = ()) -> dict[str, Any]:
        """Keyword arguments for ``containers.create`` that enforce these limits.

        ``image_paths``: the image's own paths that get a writable tmpfs (its user's
        HOME, its ``VOLUME`` paths; see :meth:`tmpfs_mounts`)."""
        log_max = max(self.log_tail_bytes * 2, 1 << 20)
        return {
            "mem_limit": self.memory_bytes,
            "memswap_limit": self.memory_bytes,  # equal: no swap on top
            "nano_cpus": round(self.cpus * 1e9),
            "pids_limit": self.pids_limit,
            "network_mode": self.network,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "init": True,
            "read_only": self.read_only_rootfs,
            "tmpfs": self.tmpfs_mounts(image_paths),
            "log_config": {"type": "json-file",
                           "config": {"max-size": str(log_max), "max-file": "1"}},
            "ipc_mode": "private",
        }


def _writable_paths(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigError(f"[runner] writable_paths: expected a list of absolute paths, found {value!r}")
    for path in value:
        problem = writable_path_problem(path)
        if problem:
            raise ConfigError(f"[runner] writable_paths: {path!r}: {problem}")
    return tuple(value)
