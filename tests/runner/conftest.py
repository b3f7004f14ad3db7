"""Fixtures for the runner tests: test images (built once per session), cases, configs."""

from __future__ import annotations

from pathlib import Path

import pytest
from runner_helpers import load_image_builder, write_2d, write_3d


@pytest.fixture(scope="session")
def base_image(docker_client) -> str:
    from evalkit.runner.engine import base_image_ref

    return base_image_ref(docker_client)


@pytest.fixture(scope="session")
def test_images(docker_client, base_image) -> dict[str, str]:
    """{name: image ID} of the tiny test submissions in tests/images/ (content-hash cached)."""
    return load_image_builder().build_all(docker_client, base_image)


@pytest.fixture(scope="session")
def cases_dir(tmp_path_factory) -> Path:
    """One 2D and one 3D case."""
    d = tmp_path_factory.mktemp("cases")
    write_2d(d / "2DBox_CT_0001.npz")
    write_3d(d / "3DBox_MR_0001.npz")
    return d


@pytest.fixture(scope="session")
def case2d(cases_dir) -> Path:
    return cases_dir / "2DBox_CT_0001.npz"
