"""A small prediction that declares a huge array costs the harness no memory (hardening issue,
item 5), through the real engine: the image writes it, the runner refuses it at its header."""

from __future__ import annotations

import tracemalloc

import pytest
from test_runner_docker import run_image

pytestmark = pytest.mark.docker


def test_huge_declared_prediction_is_refused_at_its_header(docker_executor, test_images, case2d, tmp_path):
    tracemalloc.start()
    try:
        records, sub = run_image(docker_executor, test_images["hugeheader"], [case2d], tmp_path / "run",
                                 timeout_s=120, outputs_cap_bytes=64 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (rec,) = records
    assert rec.status == "invalid_output", (rec.status, rec.reason)
    assert "bad_shape" in rec.reason and "16384, 32768" in rec.reason
    written = (sub / "rejected" / case2d.name).stat().st_size
    assert written < 4 << 20  # the file itself is small; it only declares 512 MiB
    assert peak < 32 << 20, f"the harness peaked at {peak / 2**20:.0f} MiB on a {written} byte file"
