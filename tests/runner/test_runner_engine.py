"""Engine set-up: the real engine answers, the base image exists; the not-root message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from evalkit.runner import engine

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.docker
def test_engine_ensure_cli_prints_an_existing_base_image(docker_client):
    proc = subprocess.run([sys.executable, "-m", "evalkit.cli", "engine", "ensure"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    ref = proc.stdout.strip().splitlines()[-1]
    assert engine.image_exists(docker_client, ref)
    assert ref in ("python:3.11-slim-bookworm", engine.LOCAL_PYTHON_BASE)
    c = docker_client.containers.create(ref, ["python3", "-c", "import venv, ssl; print('py ok')"],
                                        network_mode="none")
    try:
        c.start()
        assert c.wait(timeout=60)["StatusCode"] == 0
        assert b"py ok" in c.logs()
    finally:
        c.remove(force=True)


@pytest.mark.docker
def test_ensure_base_image_is_idempotent(docker_client):
    ref = engine.ensure_base_image(docker_client)
    assert ref == engine.LOCAL_PYTHON_BASE and engine.image_exists(docker_client, ref)


def test_not_root_without_engine_says_what_to_do(monkeypatch):
    monkeypatch.setattr(engine, "_ping", lambda timeout=10.0: None)
    monkeypatch.setattr(engine.os, "geteuid", lambda: 1000)
    with pytest.raises(engine.EngineError, match=r"apt-get install docker.io.*dockerd"):
        engine.ensure_engine()


@pytest.mark.docker
@pytest.mark.slow
def test_base_image_from_scratch(docker_client):
    """debootstrap + docker import into a throwaway tag (about 3 minutes on 2 busy cores)."""
    import os

    if os.environ.get("EVALKIT_TEST_BASE_FROM_SCRATCH") != "1":
        pytest.skip("building the base image from scratch takes ~3 min; "
                    "set EVALKIT_TEST_BASE_FROM_SCRATCH=1 to run it")
    tag = "evalkit-test/python-base-scratch:bookworm"
    if engine.image_exists(docker_client, tag):
        docker_client.images.remove(tag, force=True)
    try:
        assert engine.ensure_base_image(docker_client, tag=tag) == tag
        image = docker_client.images.get(tag)
        assert image.attrs["Config"]["Cmd"] == ["/bin/bash"]
        assert "LANG=C.UTF-8" in image.attrs["Config"]["Env"]
        c = docker_client.containers.create(tag, ["python3", "-m", "venv", "/tmp/v"],
                                            network_mode="none")
        try:
            c.start()
            assert c.wait(timeout=120)["StatusCode"] == 0, c.logs()
        finally:
            c.remove(force=True)
        assert engine.ensure_base_image(docker_client, tag=tag) == tag  # idempotent, no rebuild
    finally:
        docker_client.images.remove(tag, force=True)
