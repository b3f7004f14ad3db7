"""The real reference images, end to end, through the real runner (evalkit.runner).

Builds the images with ``reference_submissions/build.py`` (idempotent: the
export env, the LiteMedSAM export, the wheelhouse and each image are reused
when present), runs them on the ``evalkit demo-data --preset tiny`` cases in
locked-down containers (no network, non-root, read-only inputs, 8 GB, CPU
limit) and compares against PyTorch LiteMedSAM run on the host in the export
environment.
"""

from __future__ import annotations

import copy
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from reference_images import build_reference_images
from reference_phantoms import make_2d, make_3d, per_instance_dsc

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
REF = REPO / "reference_submissions"
BUILD = REF / "build.py"
EXPORT_PY = REPO / ".venv-export" / "bin" / "python"
CACHE = Path.home() / ".cache" / "evalkit" / "torch-reference"


@pytest.fixture(scope="session")
def reference_images(docker_client) -> dict[str, str]:
    names = ["litemedsam-openvino", "litemedsam-openvino-int8", "litemedsam-pytorch", "box-fill",
             "box-threshold", "efficientvit-sam-openvino"]
    return build_reference_images(*names)


@pytest.fixture(scope="session")
def demo_cases(tmp_path_factory) -> tuple[list[Path], Path]:
    """Input paths and the GT folder of the tiny demo preset (own phantoms if absent)."""
    out = tmp_path_factory.mktemp("demo")
    proc = subprocess.run([sys.executable, "-m", "evalkit.cli", "demo-data", "--out", str(out),
                           "--preset", "tiny"], capture_output=True, text=True, check=False)
    imgs, gts = out / "imgs", out / "gts"
    if proc.returncode != 0 or not list(imgs.glob("*.npz")):
        print(f"evalkit demo-data unavailable ({proc.stderr.strip()[-200:]}); using own phantoms")
        imgs.mkdir(parents=True, exist_ok=True)
        gts.mkdir(parents=True, exist_ok=True)
        for name, fn, kw in [("2DBox_US_0001", make_2d, {"n": 1}),
                             ("2DBox_Microscopy_0001", make_2d, {"n": 4}),
                             ("3DBox_CT_0001", make_3d, {"d": 8, "h": 64, "w": 64})]:
            gt = fn(imgs / f"{name}.npz", **kw)
            np.savez_compressed(gts / f"{name}.npz", gts=gt)
    files = sorted(imgs.glob("*.npz"))
    assert any(f.name.startswith("3D") for f in files) and any(f.name.startswith("2D") for f in files)
    return files, gts


def torch_reference(inputs: list[Path], tmp: Path) -> Path:
    """Outputs of host PyTorch LiteMedSAM for ``inputs`` (cached by input + code hash)."""
    h = hashlib.sha256()
    for f in sorted(inputs) + [REF / "export" / "torch_reference.py",
                               REF / "export" / "export_litemedsam.py",
                               REF / "common" / "sam_algo.py", REF / "common" / "case_io.py"]:
        h.update(f.name.encode() + hashlib.sha256(f.read_bytes()).digest())
    out = CACHE / h.hexdigest()[:16]
    if out.is_dir() and all((out / f.name).exists() for f in inputs):
        return out
    if not EXPORT_PY.exists():  # exports were cached, so build.py skipped the torch env: make it
        subprocess.run([sys.executable, str(BUILD), "--export-env"], check=True, timeout=1800)
    staged = tmp / "torch-ref-in"
    staged.mkdir()
    for f in inputs:
        shutil.copy(f, staged / f.name)
    partial = out.with_name(out.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    proc = subprocess.run([str(EXPORT_PY), str(REF / "export" / "torch_reference.py"),
                           "--inputs", str(staged), "--outputs", str(partial), "--cache-embeddings"],
                          capture_output=True, text=True, timeout=3600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return out


def run_image(ref: str, cases, run_dir: Path, name: str, config=None):
    from evalkit.runner.executor import make_executor
    from evalkit.runner.run import run_submission

    with make_executor(config) as executor:
        image = executor.prepare(ref, name=name)
        records = run_submission(image, cases, run_dir, config=config, name=name, executor=executor,
                                 progress=False)
    return image, {r.case: r for r in records}


def test_openvino_image_matches_pytorch_litemedsam(reference_images, demo_cases, tmp_path):
    files, _ = demo_cases
    image, recs = run_image(reference_images["litemedsam-openvino"], files, tmp_path / "run", "ov")
    assert image.user not in ("", "0", "root") and not image.user.startswith("0:")
    print(f"litemedsam-openvino image: {image.size_bytes / 1e6:.0f} MB, user {image.user}")
    ref_dir = torch_reference(files, tmp_path)
    out_dir = tmp_path / "run" / "submissions" / "ov" / "outputs"
    for f in files:
        rec = recs[f.stem]
        assert rec.status == "ok", (f.stem, rec.status, rec.reason)
        ours = np.load(out_dir / f.name, allow_pickle=False)["segs"]
        ref = np.load(ref_dir / f.name, allow_pickle=False)["segs"]
        assert ours.dtype == np.uint16 and ours.shape == ref.shape
        n = len(np.load(f, allow_pickle=False)["boxes"])
        dscs = per_instance_dsc(ours, ref, n)
        print(f.stem, f"wall {rec.wall_s:.2f} s", "per-instance DSC vs PyTorch:",
              [round(d, 4) for d in dscs])
        assert min(dscs) >= 0.99, (f.stem, dscs)
        assert any((ref == i).any() for i in range(1, n + 1)), "reference segmented nothing"


MALFORMED = {
    "2DBox_US_0091": ({"imgs": np.zeros((64, 64, 3), np.uint8)}, "key 'boxes'"),
    "2DBox_US_0092": ({"imgs": np.zeros((64, 64, 3), np.uint8),
                       "boxes": np.array([[10, 10, 200, 40]])}, "inside the image"),
    "2DBox_US_0093": ({"imgs": np.zeros((64, 64, 3), np.uint8),
                       "boxes": np.zeros((0, 4), np.int64)}, "at least one box"),
    "3DBox_CT_0094": ({"imgs": np.zeros((6, 64, 64), np.uint8), "spacing": np.ones(3),
                       "boxes": np.array([[10, 10, 40, 40]])}, "(N, 6)"),
}


@pytest.mark.parametrize("image_name", ["litemedsam-openvino", "litemedsam-pytorch",
                                        "box-threshold"])
def test_malformed_inputs_fail_with_a_clear_message(reference_images, tmp_path, image_name):
    from evalkit.runner.execute import CaseJob

    jobs = []
    for name, (arrays, _) in MALFORMED.items():
        path = tmp_path / f"{name}.npz"
        np.savez(path, **arrays)
        shape = arrays["imgs"].shape[:2] if name.startswith("2D") else arrays["imgs"].shape
        jobs.append(CaseJob(name, path, expected_shape=tuple(shape)))  # bypass the runner's check
    _, recs = run_image(reference_images[image_name], jobs, tmp_path / "run", image_name)
    logs = tmp_path / "run" / "submissions" / image_name / "logs"
    for name, (_, needle) in MALFORMED.items():
        rec = recs[name]
        assert rec.status == "nonzero_exit" and rec.exit_code == 2, (name, rec)
        assert needle in rec.reason and name in rec.reason, (name, rec.reason)
        log = (logs / f"{name}.log").read_text()
        assert "Traceback" not in log, log


def test_pytorch_baseline_and_classical_images(reference_images, demo_cases, tmp_path):
    files, gts = demo_cases
    two_d = [f for f in files if f.name.startswith("2D")][:1]
    _, ov = run_image(reference_images["litemedsam-openvino"], two_d, tmp_path / "run", "ov")
    _, pt = run_image(reference_images["litemedsam-pytorch"], two_d, tmp_path / "run", "pt")
    for f in two_d:
        assert ov[f.stem].status == "ok" and pt[f.stem].status == "ok", (ov, pt)
        a = np.load(tmp_path / "run/submissions/ov/outputs" / f.name)["segs"]
        b = np.load(tmp_path / "run/submissions/pt/outputs" / f.name)["segs"]
        n = len(np.load(f)["boxes"])
        assert min(per_instance_dsc(a, b, n)) >= 0.99
    for name in ("box-fill", "box-threshold"):
        _, recs = run_image(reference_images[name], files, tmp_path / "run", name)
        scores = []
        for f in files:
            assert recs[f.stem].status == "ok", (name, recs[f.stem])
            segs = np.load(tmp_path / "run/submissions" / name / "outputs" / f.name)["segs"]
            gt = np.load(gts / f.name)["gts"]
            scores += per_instance_dsc(segs, gt, int(gt.max()))
        print(name, "mean DSC vs GT", round(float(np.mean(scores)), 3))
        assert 0.2 < np.mean(scores) < 1.0, (name, scores)  # real, imperfect segmentations


def test_threads_follow_the_cpu_limit(reference_images, demo_cases, tmp_path):
    from evalkit.config import Challenge, load_challenge

    base = load_challenge()
    data = copy.deepcopy(base.data)
    data["runner"]["cpus"] = 1.0
    one_cpu = Challenge(data=data, source="test:cpus=1")
    files, _ = demo_cases
    f = [f for f in files if f.name.startswith("2D")][:1]
    _, recs = run_image(reference_images["litemedsam-openvino"], f, tmp_path / "run", "ov1",
                        config=one_cpu)
    assert recs[f[0].stem].status == "ok"
    log = (tmp_path / "run/submissions/ov1/logs" / f"{f[0].stem}.log").read_text()
    assert "OpenVINO, 1 threads" in log, log


def test_efficientvit_sam_ir_pair_runs_in_the_same_image(reference_images, demo_cases, tmp_path):
    """The EfficientViT-SAM export (RANDOM weights: the path, not the accuracy) runs in the
    OpenVINO image's code: encoder at 512, boxes in 1024 space, 256 low-res logits."""
    import json

    import docker

    ref = reference_images["efficientvit-sam-openvino"]
    client = docker.from_env()
    probe = client.containers.run(ref, ["sh", "-c", "cat model/model_card.json model/export_meta.json"],
                                  remove=True, network_mode="none")
    card_text, meta_text = probe.decode().split("}\n{", 1)
    card, meta = json.loads(card_text + "}"), json.loads("{" + meta_text)
    assert card["input_size"] == 512 and card["box_size"] == 1024 and card["random_weights"]
    assert meta["max_abs_diff_encoder"] < 1e-3 and meta["max_abs_diff_decoder_logits"] < 1e-3
    files, _ = demo_cases
    picked = [f for f in files if f.name.startswith("3D")][:1] + [
        f for f in files if f.name.startswith("2D")][:1]
    _, recs = run_image(ref, picked, tmp_path / "run", "evit")
    for f in picked:
        assert recs[f.stem].status == "ok", recs[f.stem]
        segs = np.load(tmp_path / "run/submissions/evit/outputs" / f.name)["segs"]
        with np.load(f) as z:
            shape = z["imgs"].shape if f.name.startswith("3D") else z["imgs"].shape[:2]
            n = len(z["boxes"])
        assert segs.dtype == np.uint16 and segs.shape == shape and segs.max() <= n


def _segs(run_dir: Path, name: str, f: Path) -> np.ndarray:
    return np.load(run_dir / "submissions" / name / "outputs" / f.name, allow_pickle=False)["segs"]


def test_compiled_models_load_from_the_cache_and_a_bad_cache_falls_back(reference_images,
                                                                        demo_cases, tmp_path):
    """The image loads both models from the compiled cache made at its build (log says so);
    with the encoder's cache file altered inside (same size: OpenVINO itself would load it)
    and the decoder's missing, it compiles both again, says why, and writes the same masks."""
    import docker

    files, _ = demo_cases
    f = next(f for f in files if f.name.startswith("2D"))
    ref = reference_images["litemedsam-openvino"]
    _, recs = run_image(ref, [f], tmp_path / "run", "cached")
    assert recs[f.stem].status == "ok"
    log = (tmp_path / "run/submissions/cached/logs" / f"{f.stem}.log").read_text()
    assert "encoder: loaded the compiled cache" in log and "decoder: loaded the compiled cache" \
        in log, log
    assert "compiled cache not used" not in log, log
    assert "first encoder call" in log
    # the FP32 image pins f32 (a CPU with native bf16 would otherwise run bf16: other masks)
    assert log.count("runs at f32") == 2, log

    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    outputs.mkdir(mode=0o777)
    outputs.chmod(0o777)
    shutil.copy(f, inputs / f.name)
    tamper = ("import json, os; m = json.load(open('/tmp/m/compiled/compiled.json'))['parts']; "
              "c = '/tmp/m/compiled/cache/'; e = c + m['encoder']['blob']; os.chmod(e, 0o644); "
              "fh = open(e, 'r+b'); fh.seek(os.path.getsize(e) // 2); fh.write(bytes(4096)); "
              "fh.close(); os.remove(c + m['decoder']['blob'])")
    script = (f"cp -r /workspace/model /tmp/m && chmod -R u+w /tmp/m && "
              f"/opt/venv/bin/python -c \"{tamper}\" && "
              "/opt/venv/bin/python infer_openvino.py --model /tmp/m")
    client = docker.from_env()
    out = client.containers.run(ref, ["sh", "-c", script], remove=True, stderr=True,
                                network_mode="none", nano_cpus=2_000_000_000,
                                tmpfs={"/tmp": "size=512m"},
                                volumes={str(inputs): {"bind": "/workspace/inputs", "mode": "ro"},
                                         str(outputs): {"bind": "/workspace/outputs",
                                                        "mode": "rw"}}).decode()
    assert "encoder: compiled cache not used:" in out and "differs from the file compiled" in out, out
    assert "decoder: compiled cache not used:" in out and ".blob is missing" in out, out
    fallback = np.load(outputs / f.name, allow_pickle=False)["segs"]
    np.testing.assert_array_equal(fallback, _segs(tmp_path / "run", "cached", f))


def test_int8_image_agrees_with_fp32(reference_images, demo_cases, tmp_path):
    """INT8 encoder (NNCF) vs the FP32 image on the tiny cases; and the export's own check on
    the demo set (recorded in the image's export_meta.json)."""
    import json

    import docker

    files, _ = demo_cases
    ref8 = reference_images["litemedsam-openvino-int8"]
    meta = json.loads(docker.from_env().containers.run(
        ref8, ["cat", "model/export_meta.json"], remove=True, network_mode="none"))
    check = meta["int8_check"]
    print("INT8 export check on the demo set:", {k: check[k] for k in (
        "dsc_mean", "dsc_min", "instances", "speed_ratio")}, meta.get("int8_scheme"))
    assert check["instances"] > 0 and 0.0 <= check["dsc_min"] <= check["dsc_mean"] <= 1.0
    assert check["speed_ratio"] > 0
    _, r32 = run_image(reference_images["litemedsam-openvino"], files, tmp_path / "run", "fp32")
    _, r8 = run_image(ref8, files, tmp_path / "run", "int8")
    dscs = []
    for f in files:
        assert r8[f.stem].status == "ok" and r32[f.stem].status == "ok"
        n = len(np.load(f, allow_pickle=False)["boxes"])
        dscs += per_instance_dsc(_segs(tmp_path / "run", "int8", f),
                                 _segs(tmp_path / "run", "fp32", f), n)
    print("INT8 vs FP32 per-instance DSC on the tiny cases:", [round(d, 4) for d in dscs])
    # the target (INT8 weights, FP32 activations: quantize_encoder.py's docstring)
    assert meta["int8_scheme"] == "weights", meta.get("int8_scheme")
    assert check["dsc_mean"] >= 0.98, check
    assert np.mean(dscs) >= 0.98, dscs
