"""Docker engine set-up: make an engine answer, and make a base image exist.

A fresh machine has only the Docker client and no reachable registry
(see shared/spec/environment.md). This module:

* :func:`ensure_engine` returns a :class:`docker.DockerClient` that answers. If no
  engine answers and we are root, it installs Debian's ``docker.io`` when
  ``dockerd`` is absent, starts ``dockerd`` in the background (log in
  ``/var/log/evalkit-dockerd.log``) and waits for ``docker info``. When not root
  it raises :class:`EngineError` saying what to install/start.
* :func:`ensure_base_image` builds ``evalkit/python-base:3.11-bookworm`` from
  scratch (``debootstrap --variant=minbase`` + ``docker import``) when absent;
  idempotent.
* :func:`base_image_ref` returns what to pass as the ``BASE_IMAGE`` build arg:
  the configured public base (``[runner] base_image``) when present locally or
  pullable, else the local build.

``python -m evalkit.runner.engine ensure`` does all of it and prints the base
image reference.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import docker.errors
import requests

from evalkit.errors import EvalkitError

LOCAL_PYTHON_BASE = "evalkit/python-base:3.11-bookworm"
DOCKERD_LOG = Path("/var/log/evalkit-dockerd.log")
DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
DEFAULT_MIRROR = "http://deb.debian.org/debian"


class EngineError(EvalkitError, RuntimeError):
    """The Docker engine cannot be reached or set up; the message says what to do."""


def _ping(timeout: float = 10.0) -> docker.DockerClient | None:
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
        return client
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError):
        return None


def _run(cmd: list[str], timeout: float, what: str) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise EngineError(f"{what}: '{' '.join(cmd)}' did not finish within {timeout:.0f} s.") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise EngineError(f"{what}: '{' '.join(cmd)}' exited {proc.returncode}: {' | '.join(tail)}")


def _apt_install(package: str) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd, t in ((["apt-get", "update"], 600), (["apt-get", "install", "-y", package], 1200)):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=t, env=env, check=False)
        if proc.returncode != 0:
            raise EngineError(f"installing {package}: '{' '.join(cmd)}' exited {proc.returncode}: "
                              f"{proc.stderr.strip()[-500:]}")


def ensure_engine(timeout_s: float = 60.0) -> docker.DockerClient:
    """Return a client to a Docker engine that answers, starting one if needed.

    Root only: installs ``docker.io`` with apt when ``dockerd`` is absent, then
    starts ``dockerd`` detached, logging to ``/var/log/evalkit-dockerd.log``, and
    waits up to ``timeout_s`` seconds for it. Raises :class:`EngineError` with a
    clear instruction when not root or when the engine does not come up.
    """
    client = _ping()
    if client is not None:
        return client
    if os.geteuid() != 0:
        raise EngineError(
            "No Docker engine answers (DOCKER_HOST or /var/run/docker.sock). Install one "
            "(Debian: 'apt-get install docker.io') and start it ('dockerd &' as root, or "
            "'systemctl start docker'), or rerun this as root and evalkit will do it."
        )
    if shutil.which("dockerd") is None:
        _apt_install("docker.io")
    if shutil.which("dockerd") is None:
        raise EngineError("apt-get installed docker.io but 'dockerd' is still not on PATH.")
    DOCKERD_LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(DOCKERD_LOG, "ab") as log:
        subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        client = _ping(timeout=5.0)
        if client is not None:
            client.info()
            return client
        time.sleep(0.5)
    raise EngineError(
        f"started dockerd but it did not answer within {timeout_s:.0f} s; see {DOCKERD_LOG}."
    )


def debian_mirror(sources: Path = DEBIAN_SOURCES) -> str:
    """The first Debian archive URI of the machine's apt sources (deb822 or one-line)."""
    candidates = [sources, Path("/etc/apt/sources.list")]
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("URIs:"):
                for uri in line.split()[1:]:
                    if "security" not in uri:
                        return uri
            if line.startswith("deb ") and "security" not in line:
                parts = [p for p in line.split()[1:] if not p.startswith("[")]
                if parts:
                    return parts[0]
    return DEFAULT_MIRROR


def image_exists(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False


def ensure_base_image(client: docker.DockerClient | None = None, tag: str = LOCAL_PYTHON_BASE,
                      suite: str = "bookworm") -> str:
    """Build ``tag`` (Debian minbase + python3 + python3-venv + ca-certificates) if absent.

    Runs ``debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates``
    into a temporary folder (installing debootstrap with apt when missing), then
    ``tar -C dir -c . | docker import`` with ``CMD ["/bin/bash"]`` and
    ``LANG=C.UTF-8``. Idempotent: returns at once when the tag exists. Root only.
    Returns ``tag``.
    """
    client = client or ensure_engine()
    if image_exists(client, tag):
        return tag
    if os.geteuid() != 0:
        raise EngineError(f"base image {tag} is absent and building it (debootstrap) needs root.")
    if shutil.which("debootstrap") is None:
        _apt_install("debootstrap")
    mirror = debian_mirror()
    with tempfile.TemporaryDirectory(prefix="evalkit-debootstrap-") as tmp:
        root = Path(tmp) / "rootfs"
        _run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
              suite, str(root), mirror], timeout=1800, what=f"building {tag}")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        try:
            imp = subprocess.run(
                ["docker", "import", "-c", 'CMD ["/bin/bash"]', "-c", "ENV LANG=C.UTF-8", "-", tag],
                stdin=tar.stdout, capture_output=True, text=True, timeout=900, check=False)
        finally:
            if tar.stdout:
                tar.stdout.close()
            tar.wait(timeout=60)
        if imp.returncode != 0 or tar.returncode != 0:
            raise EngineError(f"docker import of {tag} failed: {imp.stderr.strip()[-500:]}")
    if not image_exists(client, tag):
        raise EngineError(f"docker import reported success but {tag} is not in the engine.")
    return tag


def base_image_ref(client: docker.DockerClient | None = None, configured: str | None = None) -> str:
    """The base image reference to pass as the ``BASE_IMAGE`` build argument.

    ``configured`` defaults to ``[runner] base_image`` of the bundled challenge
    file. Returns it when it is present locally or can be pulled; otherwise
    builds (if needed) and returns :data:`LOCAL_PYTHON_BASE`.
    """
    client = client or ensure_engine()
    if configured is None:
        from evalkit.config import load_challenge

        configured = load_challenge().runner["base_image"]
    if image_exists(client, configured):
        return configured
    try:
        client.images.pull(configured)
        return configured
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        pass
    return ensure_base_image(client)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["ensure"]:
        print("usage: python -m evalkit.runner.engine ensure", file=sys.stderr)
        return 2
    try:
        client = ensure_engine()
        ref = base_image_ref(client)
    except EngineError as exc:
        print(f"evalkit engine: {exc}", file=sys.stderr)
        return 1
    print(ref)
    return 0


if __name__ == "__main__":
    sys.exit(main())
