"""Shared fixtures: the Docker engine for tests marked ``docker``."""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "docker: needs a running Docker engine (started by the test session)")
    config.addinivalue_line("markers", "cluster: starts a Dask scheduler and workers in network namespaces")


@pytest.fixture(scope="session")
def docker_client():
    """A ``docker.DockerClient`` to an engine that answers (started when root).

    Skips (with the reason) only when not root and no engine answers; as root,
    a failure to install/start the engine is an error, not a skip.
    """
    from evalkit.runner.engine import EngineError, ensure_engine

    try:
        client = ensure_engine()
    except EngineError as exc:
        if os.geteuid() != 0:
            pytest.skip(f"no Docker engine and not root, so none can be started: {exc}")
        raise
    yield client
    client.close()


@pytest.fixture(scope="session")
def docker_executor(docker_client):
    """A :class:`~evalkit.runner.executor.DockerExecutor` on the bundled config, sharing the
    session's engine connection (limits come from each run's own config)."""
    from evalkit.config import load_challenge
    from evalkit.runner.executor import DockerExecutor

    with DockerExecutor(load_challenge(), client=docker_client) as executor:
        yield executor
