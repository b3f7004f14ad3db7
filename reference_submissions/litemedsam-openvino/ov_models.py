"""Loading the OpenVINO models of the reference image: compiled once at image build, imported at run.

``precompile(model_dir)`` (run by a ``RUN`` step of the Dockerfile, on the
machine that builds the image) compiles every IR the model card names with the
run-time properties and stores ``model_dir/compiled/<part>.blob``
(``CompiledModel.export_model``) and ``model_dir/compiled/compiled.json`` (the
manifest: OpenVINO version, CPU signature, the IR's digest and the properties
each blob was compiled with). At run time ``load_part`` imports the blob
(``Core.import_model``, about half the time of compiling) when the manifest
matches the running OpenVINO, CPU, IR and properties, and otherwise compiles the
IR as before and says why in one log line: a blob made on another CPU (other
instruction set) or for other properties is never used, and a missing or
unreadable blob only costs the compile time.

The thread count is not baked in: ``import_model`` takes ``INFERENCE_NUM_THREADS``
at run time (checked: same outputs bit for bit), so one blob serves any container
CPU limit. Properties: latency hint, one stream, denormals flushed, threads =
the container's CPU limit, and ``INFERENCE_PRECISION_HINT`` from the model card
(``<part>_inference_precision``, default ``"f32"`` so CPUs with bf16/AMX do not
change the numbers; ``null`` lets OpenVINO choose, used for the INT8 encoder).

``load_parts_async`` starts the imports on background threads (OpenVINO
releases the GIL while compiling/importing) so that Python keeps reading and
pre-processing the first case meanwhile; each part is awaited on first use.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

BLOB_DIR = "compiled"
MANIFEST = "compiled.json"
PARTS = ("encoder", "decoder")
#: /proc/cpuinfo flags that change the code OpenVINO's CPU plugin generates
_ISA = re.compile(r"^(sse4_[12]|ssse3|avx\w*|fma|f16c|amx\w*|\w*vnni\w*|bmi[12])$")


def log(msg: str) -> None:
    """Progress of the background model loading, on stdout: it may finish after a case's
    error, and the harness reports the last stderr line as the reason (the error must be it)."""
    print(msg, flush=True)


def compile_properties(card: dict, part: str, threads: int) -> dict[str, Any]:
    """The CPU plugin properties for ``part`` ("encoder"/"decoder") at ``threads`` threads."""
    cfg: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1",
                           "INFERENCE_NUM_THREADS": int(threads),
                           "CPU_DENORMALS_OPTIMIZATION": True}  # no effect on masks, avoids slow paths
    precision = card.get(f"{part}_inference_precision", "f32")
    if precision:
        cfg["INFERENCE_PRECISION_HINT"] = precision
    return cfg


def baked_properties(cfg: dict[str, Any]) -> dict[str, str]:
    """The properties a blob fixes (all but the thread count, which import takes), as strings."""
    return {k: str(v) for k, v in sorted(cfg.items()) if k != "INFERENCE_NUM_THREADS"}


def cpu_signature(device_name: str, cpuinfo: str | None = None) -> str:
    """``<CPU name> | <sorted instruction-set flags>`` (Linux ``/proc/cpuinfo``; name only elsewhere)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            cpuinfo = ""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = {f for f in line.split(":", 1)[1].split() if _ISA.match(f)}
            break
    return f"{device_name.strip()} | {' '.join(sorted(flags))}"


def ir_digest(xml: Path) -> str:
    """sha256 of the IR's ``.xml`` + the size of its ``.bin`` (cheap; the weights' offsets are in
    the xml, so a different model changes one of them)."""
    h = hashlib.sha256(xml.read_bytes())
    binf = xml.with_suffix(".bin")
    h.update(str(binf.stat().st_size if binf.exists() else -1).encode())
    return h.hexdigest()


def why_not_cached(manifest: dict | None, part: str, *, openvino: str, cpu: str, digest: str,
                   properties: dict[str, str], blob: Path) -> str | None:
    """None when ``blob`` may be imported for ``part``, else the reason it may not (one phrase)."""
    if manifest is None:
        return "no compiled.json in the image (built without the precompile step)"
    entry = manifest.get("parts", {}).get(part)
    if entry is None:
        return f"compiled.json has no entry for {part}"
    if manifest.get("openvino") != openvino:
        return f"compiled with OpenVINO {manifest.get('openvino')}, running {openvino}"
    if manifest.get("cpu") != cpu:
        return f"compiled on CPU [{manifest.get('cpu')}], running on [{cpu}]"
    if entry.get("ir_digest") != digest:
        return "the IR differs from the one compiled"
    if entry.get("properties") != properties:
        return f"compiled with properties {entry.get('properties')}, running with {properties}"
    if not blob.is_file():
        return f"{blob.name} is missing"
    if blob.stat().st_size != entry.get("blob_bytes"):
        return f"{blob.name} has {blob.stat().st_size} bytes, compiled.json says {entry.get('blob_bytes')}"
    return None


def read_manifest(model_dir: Path) -> dict | None:
    try:
        return json.loads((model_dir / BLOB_DIR / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def load_part(core, model_dir: Path, card: dict, part: str, threads: int):
    """Import ``part``'s compiled blob when it fits this CPU and these properties, else compile
    its IR (logging why). Returns ``(compiled_model, how)``; ``how`` is "imported" or
    "compiled"."""
    import openvino as ov

    t0 = time.perf_counter()
    xml = model_dir / card[part]
    cfg = compile_properties(card, part, threads)
    blob = model_dir / BLOB_DIR / f"{part}.blob"
    reason = why_not_cached(read_manifest(model_dir), part, openvino=ov.__version__,
                            cpu=cpu_signature(core.get_property("CPU", "FULL_DEVICE_NAME")),
                            digest=ir_digest(xml), properties=baked_properties(cfg), blob=blob)
    if reason is None:
        try:
            model = core.import_model(io.BytesIO(blob.read_bytes()), "CPU", cfg)
            log(f"{part}: imported the compiled blob in {time.perf_counter() - t0:.2f} s")
            return model, "imported"
        except Exception as exc:  # noqa: BLE001 - a broken blob costs the compile time only
            msg = " ".join(str(exc).split())[-200:]  # one line; OpenVINO's check is at the end
            reason = f"importing {blob.name} failed ({type(exc).__name__}: {msg})"
    model = core.compile_model(xml, "CPU", cfg)
    log(f"{part}: compiled cache not used: {reason}; compiled {xml.name} in "
        f"{time.perf_counter() - t0:.2f} s")
    return model, "compiled"


def load_parts_async(model_dir: Path, card: dict, threads: int) -> dict[str, Future]:
    """Start loading every part on its own thread; ``{part: Future[(compiled_model, how)]}``."""
    import openvino as ov

    core = ov.Core()
    pool = ThreadPoolExecutor(max_workers=len(PARTS), thread_name_prefix="ov-load")
    futures = {p: pool.submit(load_part, core, model_dir, card, p, threads) for p in PARTS}
    pool.shutdown(wait=False)
    return futures


def precompile(model_dir: Path, threads: int) -> dict:
    """Compile every part for this CPU, write the blobs and ``compiled/compiled.json``."""
    import openvino as ov

    card = json.loads((model_dir / "model_card.json").read_text())
    core = ov.Core()
    out = model_dir / BLOB_DIR
    out.mkdir(exist_ok=True)
    manifest = {"openvino": ov.__version__,
                "cpu": cpu_signature(core.get_property("CPU", "FULL_DEVICE_NAME")), "parts": {}}
    for part in PARTS:
        xml = model_dir / card[part]
        cfg = compile_properties(card, part, threads)
        t0 = time.perf_counter()
        compiled = core.compile_model(xml, "CPU", cfg)
        compile_s = time.perf_counter() - t0
        blob = out / f"{part}.blob"
        blob.write_bytes(compiled.export_model().getvalue())
        t0 = time.perf_counter()
        core.import_model(io.BytesIO(blob.read_bytes()), "CPU", cfg)
        import_s = time.perf_counter() - t0
        manifest["parts"][part] = {"ir": xml.name, "ir_digest": ir_digest(xml),
                                   "properties": baked_properties(cfg), "blob": blob.name,
                                   "blob_bytes": blob.stat().st_size,
                                   "compile_s": round(compile_s, 3), "import_s": round(import_s, 3)}
        log(f"precompiled {part}: compile {compile_s:.2f} s, import {import_s:.2f} s, "
            f"{blob.stat().st_size / 1e6:.1f} MB")
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
