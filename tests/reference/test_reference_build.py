"""build.py logic without Docker: image list, content-hash tags, export cache key."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

BUILD = Path(__file__).resolve().parents[2] / "reference_submissions" / "build.py"


def _build_module():
    spec = importlib.util.spec_from_file_location("reference_build", BUILD)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_list_names_every_bundled_image():
    out = subprocess.run([sys.executable, str(BUILD), "--list"], capture_output=True, text=True,
                         check=True).stdout
    names = [line.split("\t")[0] for line in out.splitlines()]
    assert {"litemedsam-openvino", "litemedsam-pytorch", "box-fill", "box-threshold"} <= set(names)


def test_context_hash_follows_content(tmp_path):
    b = _build_module()
    ctx = tmp_path / "ctx"
    (ctx / "wheels").mkdir(parents=True)
    (ctx / "Dockerfile").write_text("FROM x\n")
    (ctx / "wheels" / "a-1.0-py3-none-any.whl").write_bytes(b"12345")
    h1 = b.context_hash(ctx, "sha256:base")
    assert h1 == b.context_hash(ctx, "sha256:base")            # stable
    assert h1 != b.context_hash(ctx, "sha256:other-base")      # base image is part of the tag
    (ctx / "Dockerfile").write_text("FROM y\n")
    h2 = b.context_hash(ctx, "sha256:base")
    assert h2 != h1
    (ctx / "wheels" / "a-1.0-py3-none-any.whl").write_bytes(b"54321")  # same name and size
    assert b.context_hash(ctx, "sha256:base") == h2
    (ctx / "wheels" / "a-1.0-py3-none-any.whl").write_bytes(b"123456")
    assert b.context_hash(ctx, "sha256:base") != h2


def test_export_key_depends_on_checkpoint_and_code():
    b = _build_module()
    k = b.export_key("litemedsam")
    assert len(k) == 16 and k == b.export_key("litemedsam")
    assert b.CKPT_SHA256.startswith("79d8c9dc")
    if "efficientvit-sam" in b.EXPORTERS and b.EXPORTERS["efficientvit-sam"].exists():
        assert b.export_key("efficientvit-sam") != k


def test_int8_image_is_ranked_and_keyed_on_the_fp32_export():
    b = _build_module()
    spec = b.IMAGES["litemedsam-openvino-int8"]
    assert spec.leaderboard and spec.model == "litemedsam-int8"
    assert "encoder_int8.xml" in spec.model_files and "encoder.xml" not in spec.model_files
    assert b.export_key("litemedsam-int8") not in (b.export_key("litemedsam"),)
    assert ["nncf==3.4.0"] in b.EXPORT_REQUIREMENTS


def test_efficientvit_checkpoint_changes_the_key_and_joins_the_leaderboard(tmp_path):
    b = _build_module()
    if "efficientvit-sam-openvino" not in b.IMAGES:
        return
    random_key = b.export_key("efficientvit-sam")
    assert not b.IMAGES["efficientvit-sam-openvino"].leaderboard
    ckpt = tmp_path / "evit.pt"
    ckpt.write_bytes(b"weights-1")
    b.use_efficientvit_checkpoint(ckpt, "l1")
    k1 = b.export_key("efficientvit-sam")
    assert k1 != random_key and b.IMAGES["efficientvit-sam-openvino"].leaderboard
    assert b.exporter_args("efficientvit-sam") == ["--weights", ckpt.resolve(), "--variant", "l1"]
    ckpt.write_bytes(b"weights-2")
    assert b.export_key("efficientvit-sam") != k1
    with pytest.raises(SystemExit, match="no such file"):
        b.use_efficientvit_checkpoint(tmp_path / "missing.pt")
