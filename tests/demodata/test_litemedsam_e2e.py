"""End to end: the real LiteMedSAM (OpenVINO reference image) segments the phantoms.

This is what the phantoms are for: a box-prompted model must find each object
inside its box. Runs the reference submission image on the ``tiny`` preset with
the real Docker engine and scores each instance's Dice against the GT.
"""

from __future__ import annotations

import numpy as np
import pytest

from evalkit.contract import discover_cases, load_gt, load_input, load_prediction
from evalkit.demodata import generate

pytestmark = [pytest.mark.docker, pytest.mark.slow]

IMAGE = "evalkit/ref-litemedsam-openvino:latest"


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 2.0 * int((a & b).sum()) / total if total else 1.0


def test_real_litemedsam_segments_the_tiny_phantoms(docker_client, tmp_path):
    import docker

    try:
        docker_client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip(f"{IMAGE} is not built here (python reference_submissions/build.py builds it)")
    data, out = tmp_path / "data", tmp_path / "out"
    generate(data, "tiny", seed=0)
    out.mkdir()
    out.chmod(0o777)  # the image runs as an unprivileged user
    container = docker_client.containers.run(
        IMAGE,
        volumes={str(data / "imgs"): {"bind": "/workspace/inputs", "mode": "ro"},
                 str(out): {"bind": "/workspace/outputs", "mode": "rw"}},
        network_mode="none", nano_cpus=2_000_000_000, mem_limit="8g", detach=True)
    try:
        status = container.wait(timeout=600)
        logs = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
    assert status["StatusCode"] == 0, logs[-2000:]
    report = []
    for case in discover_cases(data / "imgs", data / "gts"):
        inp = load_input(case)
        gts = load_gt(case.gt_path, case.dim, inp.spatial_shape).gts
        segs = load_prediction(out / f"{case.name}.npz", inp.spatial_shape)
        dsc = [_dice(gts == i, segs == i) for i in range(1, inp.n_instances + 1)]
        report.append(f"{case.name}: " + " ".join(f"{d:.2f}" for d in dsc))
        assert min(dsc) >= 0.6 and np.mean(dsc) >= 0.8, "\n".join(report)
    print("\n".join(report))
