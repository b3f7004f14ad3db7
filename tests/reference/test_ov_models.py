"""The compiled-model cache's decisions (ov_models, no OpenVINO needed): when a cache file made
at image build may be loaded, and why not otherwise."""

from __future__ import annotations

import json

import ov_models
import pytest
from ov_models import baked_properties, compile_properties, cpu_signature, why_not_cached

CPUINFO = ("processor\t: 0\nmodel name\t: AMD EPYC\n"
           "flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma f16c bmi1 bmi2 ht lm\n")


def test_cpu_signature_keeps_only_instruction_set_flags():
    sig = cpu_signature("AMD EPYC ", CPUINFO)
    assert sig == "AMD EPYC | avx avx2 bmi1 bmi2 f16c fma sse4_1 sse4_2 ssse3"
    amx = CPUINFO.replace("fma", "fma avx512f avx512_vnni amx_bf16 amx_int8")
    assert cpu_signature("AMD EPYC", amx) != sig  # a CPU with more instructions: another blob
    assert cpu_signature("AMD EPYC", CPUINFO.replace(" ht", "")) == sig  # non-ISA flags ignored
    assert cpu_signature("X", "") == "X | "


def test_properties_precision_from_the_card_threads_not_baked():
    fp32 = compile_properties({}, "encoder", 2)
    assert fp32["INFERENCE_PRECISION_HINT"] == "f32" and fp32["INFERENCE_NUM_THREADS"] == 2
    int8 = compile_properties({"encoder_inference_precision": None}, "encoder", 2)
    assert "INFERENCE_PRECISION_HINT" not in int8  # OpenVINO chooses (VNNI/AMX where present)
    assert compile_properties({"encoder_inference_precision": None}, "decoder", 2)[
        "INFERENCE_PRECISION_HINT"] == "f32"
    assert baked_properties(compile_properties({}, "encoder", 1)) == \
        baked_properties(compile_properties({}, "encoder", 8))  # one blob for any CPU limit
    assert "INFERENCE_NUM_THREADS" not in baked_properties(fp32)


def test_run_precision_names_the_chosen_type_and_never_fails():
    class Hint:
        def to_string(self):
            return "bf16"

    class Compiled:
        def __init__(self, value):
            self.value = value

        def get_property(self, name):
            if isinstance(self.value, Exception):
                raise self.value
            assert name == "INFERENCE_PRECISION_HINT"
            return self.value

    assert ov_models.run_precision(Compiled(Hint())) == "bf16"
    assert ov_models.run_precision(Compiled("f32")) == "f32"
    assert ov_models.run_precision(Compiled(RuntimeError("no such property"))) == "unknown"


@pytest.fixture
def built(tmp_path):
    blob = tmp_path / "encoder.blob"
    blob.write_bytes(b"x" * 10)
    props = baked_properties(compile_properties({}, "encoder", 2))
    manifest = {"openvino": "2026.4", "cpu": "C | avx2",
                "parts": {"encoder": {"ir_digest": "d1", "properties": props,
                                      "blob_bytes": 10,
                                      "blob_sha256": ov_models.file_sha256(blob)}}}
    kw = {"openvino": "2026.4", "cpu": "C | avx2", "digest": "d1", "properties": props,
          "blob": blob}
    return manifest, kw


def test_blob_used_only_when_everything_matches(built):
    manifest, kw = built
    assert why_not_cached(manifest, "encoder", **kw) is None
    cases = {
        "no compiled.json": (None, {}),
        "no entry for decoder": (manifest, {"part": "decoder"}),
        "running 2027.0": (manifest, {"openvino": "2027.0"}),
        "compiled on CPU": (manifest, {"cpu": "C | avx2 avx512f"}),
        "IR differs": (manifest, {"digest": "d2"}),
        "compiled with properties": (manifest, {"properties": {"PERFORMANCE_HINT": "THROUGHPUT"}}),
    }
    for needle, (m, change) in cases.items():
        args = {**kw, **change}
        part = args.pop("part", "encoder")
        reason = why_not_cached(m, part, **args)
        assert reason is not None and needle in reason, (needle, reason)


def test_missing_truncated_or_altered_cache_file_is_not_loaded(built):
    """OpenVINO loads a cache file with zeroed bytes inside without complaint: the sha256
    recorded at build is what catches it."""
    manifest, kw = built
    kw["blob"].write_bytes(b"x" * 5 + b"\0" * 5)  # same size, other bytes
    assert "differs from the file compiled (sha256)" in why_not_cached(manifest, "encoder", **kw)
    kw["blob"].write_bytes(b"x" * 9)
    assert "has 9 bytes" in why_not_cached(manifest, "encoder", **kw)
    kw["blob"].unlink()
    assert "missing" in why_not_cached(manifest, "encoder", **kw)


def test_read_manifest_tolerates_absent_or_broken(tmp_path):
    assert ov_models.read_manifest(tmp_path) is None
    (tmp_path / "compiled").mkdir()
    (tmp_path / "compiled" / "compiled.json").write_text("{not json")
    assert ov_models.read_manifest(tmp_path) is None
    (tmp_path / "compiled" / "compiled.json").write_text(json.dumps({"parts": {}}))
    assert ov_models.read_manifest(tmp_path) == {"parts": {}}


def test_ir_digest_follows_xml_and_bin_size(tmp_path):
    xml = tmp_path / "m.xml"
    xml.write_text("<net/>")
    (tmp_path / "m.bin").write_bytes(b"1234")
    d = ov_models.ir_digest(xml)
    (tmp_path / "m.bin").write_bytes(b"12345")
    assert ov_models.ir_digest(xml) != d
