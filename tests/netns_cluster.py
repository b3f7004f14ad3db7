"""Several "hosts" on one machine: a Dask scheduler and workers, each in its own network
namespace, joined by veth pairs (used by tests/workflows/test_dask_cluster.py and benchmarks/cluster.py).

Topology (``B`` is a random second octet, ``P`` a per-cluster prefix)::

    root ns (coordinator) 10.B.0.1 --veth-- 10.B.0.2 scheduler ns (forwards) 10.B.i.1 --veth-- 10.B.i.2 worker i

The coordinator reaches the workers through the scheduler's namespace (it forwards;
its own iptables are empty), so results come straight from the workers over those
links. Every process shares the machine's Docker engine through /var/run/docker.sock.
:meth:`NetnsCluster.close` kills every process it started (by process group) and
deletes the namespaces (their veth pairs go with them).
"""

from __future__ import annotations

import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parents[1]


def why_not_available() -> str | None:
    """The reason namespaces cannot be made here, or ``None``."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None or shutil.which("nsenter") is None:
        return "no 'ip' (iproute2) or 'nsenter' (util-linux) command"
    if not (Path(sys.executable).parent / "dask").exists() and shutil.which("dask") is None:
        return "no 'dask' command (pip install dask distributed)"
    return None


def _sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True)


class NetnsCluster:
    """A scheduler and up to ``n_slots`` workers in network namespaces of their own."""

    def __init__(self, n_slots: int, log_dir: Path, *, scratch: Path | None = None):
        self.prefix = f"ek{os.getpid() % 10000}{random.randint(10, 99)}"
        self.octet = random.randint(200, 250)
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.scratch = Path(scratch) if scratch else self.log_dir / "scratch"
        self.n_slots = n_slots
        self.namespaces: list[str] = []
        self.procs: dict[str, subprocess.Popen] = {}
        self._route = False
        self.dask = str(Path(sys.executable).parent / "dask") \
            if (Path(sys.executable).parent / "dask").exists() else shutil.which("dask")

    # ---------------------------------------------------------------- network
    @property
    def scheduler_ip(self) -> str:
        return f"10.{self.octet}.0.2"

    @property
    def address(self) -> str:
        return f"tcp://{self.scheduler_ip}:8786"

    def worker_ns(self, i: int) -> str:
        return f"{self.prefix}w{i}"

    def setup_network(self) -> None:
        p, b = self.prefix, self.octet
        s = f"{p}s"
        _sh("ip", "netns", "add", s)
        self.namespaces.append(s)
        _sh("ip", "link", "add", f"{p}r", "type", "veth", "peer", "name", f"{p}s0")
        _sh("ip", "link", "set", f"{p}s0", "netns", s)
        _sh("ip", "addr", "add", f"10.{b}.0.1/24", "dev", f"{p}r")
        _sh("ip", "link", "set", f"{p}r", "up")
        _sh("ip", "-n", s, "addr", "add", f"10.{b}.0.2/24", "dev", f"{p}s0")
        _sh("ip", "-n", s, "link", "set", f"{p}s0", "up")
        _sh("ip", "-n", s, "link", "set", "lo", "up")
        _sh("ip", "netns", "exec", s, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        _sh("ip", "route", "add", f"10.{b}.0.0/16", "via", f"10.{b}.0.2")
        self._route = True
        for i in range(self.n_slots):
            w = self.worker_ns(i)
            _sh("ip", "netns", "add", w)
            self.namespaces.append(w)
            _sh("ip", "link", "add", f"{p}a{i}", "type", "veth", "peer", "name", f"{p}b{i}")
            _sh("ip", "link", "set", f"{p}a{i}", "netns", s)
            _sh("ip", "link", "set", f"{p}b{i}", "netns", w)
            _sh("ip", "-n", s, "addr", "add", f"10.{b}.{i + 1}.1/24", "dev", f"{p}a{i}")
            _sh("ip", "-n", s, "link", "set", f"{p}a{i}", "up")
            _sh("ip", "-n", w, "addr", "add", f"10.{b}.{i + 1}.2/24", "dev", f"{p}b{i}")
            _sh("ip", "-n", w, "link", "set", f"{p}b{i}", "up")
            _sh("ip", "-n", w, "link", "set", "lo", "up")
            _sh("ip", "-n", w, "route", "add", "default", "via", f"10.{b}.{i + 1}.1")

    # ---------------------------------------------------------------- processes
    def _spawn(self, key: str, ns: str, argv: list[str], prelude: str = "",
               env: dict[str, str] | None = None, wrapper: list[str] = ()) -> subprocess.Popen:
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), "DASK_DISTRIBUTED__WORKER__DAEMON": "False",
                    **(env or {})}
        cmd = " ".join(shlex.quote(a) for a in argv)
        script = f"{prelude} exec {cmd}" if prelude else f"exec {cmd}"
        log = open(self.log_dir / f"{key}.log", "ab")  # noqa: SIM115 - kept open by the child
        # nsenter --net: only the network namespace, so the engine sees the mounts the runner
        # makes (a capped outputs tmpfs); `ip netns exec` would add a private mount namespace
        proc = subprocess.Popen(["nsenter", f"--net=/var/run/netns/{ns}", *wrapper,
                                 "sh", "-c", script], stdout=log,
                                stderr=subprocess.STDOUT, env=full_env, start_new_session=True)
        self.procs[key] = proc
        return proc

    def start_scheduler(self) -> None:
        self._spawn("scheduler", f"{self.prefix}s",
                    [self.dask, "scheduler", "--host", self.scheduler_ip, "--port", "8786",
                     "--no-dashboard"])
        self._wait_port(self.scheduler_ip, 8786)

    def start_worker(self, i: int, *, name: str | None = None, slots: int = 1,
                     private: tuple[Path, Path] | None = None, nanny: bool = True) -> str:
        """Start worker ``i`` in its namespace. ``prelude``: shell run before it; a
        ``private_view`` prelude (:meth:`private_file`) gives this "host" its own view of a
        file. Returns its node name."""
        name = name or f"w{i}"
        argv = [self.dask, "worker", self.address, "--host", f"10.{self.octet}.{i + 1}.2",
                "--nthreads", "1", "--resources", f"slot={slots}", "--preload",
                "evalkit.runner.dask_worker", "--name", name, "--no-dashboard"]
        if not nanny:
            argv.append("--no-nanny")
        prelude, wrapper = self.private_file(*private) if private else ("", [])
        self._spawn(f"worker{i}", self.worker_ns(i), argv, prelude=prelude, wrapper=wrapper,
                    env={"EVALKIT_SCRATCH": str(self.scratch / name)})
        return name

    @staticmethod
    def private_file(shown: Path, target: Path) -> tuple[str, list[str]]:
        """(prelude, wrapper) that make ``target`` show ``shown``'s content to one worker only
        (a private mount namespace: that worker's own mounts stay invisible to the engine)."""
        return (f"mount --bind {shlex.quote(str(shown))} {shlex.quote(str(target))} &&",
                ["unshare", "-m", "--propagation", "slave"])

    def kill(self, key: str, sig: int = signal.SIGKILL) -> None:
        """Kill process ``key`` (``scheduler`` or ``worker<i>``) and everything it started."""
        proc = self.procs.pop(key, None)
        if proc is None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)

    def _wait_port(self, host: str, port: int, timeout: float = 30.0) -> None:
        import socket

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((host, port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"nothing listens on {host}:{port} after {timeout} s; see {self.log_dir}")

    def wait_for_workers(self, n: int, timeout: float = 60.0) -> None:
        from distributed import Client

        with Client(self.address, timeout=timeout) as client:
            client.wait_for_workers(n, timeout=timeout)

    def close(self) -> None:
        for key in list(self.procs):
            self.kill(key)
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
        self.namespaces.clear()
        if self._route:
            subprocess.run(["ip", "route", "del", f"10.{self.octet}.0.0/16"], check=False, capture_output=True)
            subprocess.run(["ip", "link", "del", f"{self.prefix}r"], check=False, capture_output=True)
            self._route = False

    def restart(self) -> None:
        """After a lost scheduler: stop workers w0, w1, start a new scheduler and both again."""
        for key in ("worker0", "worker1"):
            self.kill(key)
        self.start_scheduler()
        self.start_worker(0)
        self.start_worker(1)
        self.wait_for_workers(2)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def two_worker_cluster(log_dir: Path, n_slots: int = 2) -> Iterator[NetnsCluster]:
    """A cluster with its scheduler and workers w0, w1 up (``n_slots`` > 2 keeps namespaces
    for workers a test starts itself); skips the caller, printing why, where netns is missing."""
    import pytest

    reason = why_not_available()
    if reason:
        print(f"cluster tests skipped: {reason}")
        pytest.skip(reason)
    with NetnsCluster(n_slots, log_dir) as c:
        c.setup_network()
        c.start_scheduler()
        c.start_worker(0)
        c.start_worker(1)
        c.wait_for_workers(2)
        yield c
