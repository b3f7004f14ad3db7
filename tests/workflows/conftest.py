"""Fixtures for the end-to-end workflow tests: tiny case sets, test images, a small-limits config."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

IMAGES = Path(__file__).resolve().parents[1] / "images"

SMALL_LIMITS = """
[runner]
memory = "256m"
cpus = 1.0
pids_limit = 128
timeout_s = 8
tmpfs_tmp = "64m"
outputs_cap_bytes = 8_388_608

[ranking]
bootstrap_samples = 200
"""


def _builder():
    spec = importlib.util.spec_from_file_location("evalkit_test_images", IMAGES / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def test_images(docker_client) -> dict[str, str]:
    """{name: image ID} of the tiny test submissions in tests/images/ (content-hash cached)."""
    from evalkit.runner.engine import base_image_ref

    return _builder().build_all(docker_client, base_image_ref(docker_client))


@pytest.fixture(scope="session")
def small_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "small.toml"
    path.write_text(SMALL_LIMITS)
    return path


@pytest.fixture(scope="session")
def tiny_cases(tmp_path_factory) -> Path:
    """The demo generator's tiny preset (official format: imgs/ and gts/)."""
    from evalkit.demodata.generate import generate

    out = tmp_path_factory.mktemp("tiny")
    generate(out, preset="tiny", seed=0)
    return out


@pytest.fixture(scope="session")
def one_case(tiny_cases, tmp_path_factory) -> Path:
    """A single 2D case of the tiny preset (fast checks of faulty images)."""
    out = tmp_path_factory.mktemp("one")
    name = min(p.name for p in (tiny_cases / "imgs").glob("2D*.npz"))
    for sub in ("imgs", "gts"):
        (out / sub).mkdir()
        shutil.copy(tiny_cases / sub / name, out / sub / name)
    return out
