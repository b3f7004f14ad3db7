"""The ``[runner]`` section of the challenge file turned into container settings."""

from __future__ import annotations

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
        )

    def host_config(self) -> dict[str, Any]:
        """Keyword arguments for ``containers.create`` that enforce these limits."""
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
            "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={self.tmpfs_tmp_bytes}"},
            "log_config": {"type": "json-file",
                           "config": {"max-size": str(log_max), "max-file": "1"}},
            "ipc_mode": "private",
        }
