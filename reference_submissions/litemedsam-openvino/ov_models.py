"""Loading the OpenVINO models of the reference image: compiled once at image build, loaded at run.

``precompile(model_dir)`` (run by a ``RUN`` step of the Dockerfile, on the
machine that builds the image) compiles every IR the model card names with the
run-time properties into OpenVINO's model cache, ``model_dir/compiled/cache/``
(``CACHE_DIR``: one ``<hash>.blob`` per part), and writes
``model_dir/compiled/compiled.json`` (the manifest: OpenVINO version, CPU
signature, and per part the IR's digest, the properties, the cache file with
its size and sha256). At run time ``load_part`` compiles the IR with the same
``CACHE_DIR`` when the manifest matches the running OpenVINO, CPU, IR,
properties and cache file, and OpenVINO then loads the cached graph instead of
compiling (``LOADED_FROM_CACHE``, checked and logged; measured in the image on
this machine: the encoder loads in 0.30 s from the cache, 0.40 s by importing an
exported blob through ``Core.import_model``, 1.1 s compiling).
Otherwise it compiles the IR as before and says why in one log line: a cache
made on another CPU (other instruction set) or for other properties is never
used, and a missing, truncated or altered cache file (sha256) only costs the
compile time. OpenVINO itself does not check a cache file's contents (a file
with zeroed bytes inside loads silently), hence the digest.

The thread count is not baked in: OpenVINO leaves ``INFERENCE_NUM_THREADS`` out
of the cache key and applies it at load (checked: the same cache file, the same
outputs bit for bit), so one cache serves any container CPU limit. Properties:
latency hint, one stream, denormals flushed, threads = the container's CPU
limit, and ``INFERENCE_PRECISION_HINT`` from the model card
(``<part>_inference_precision``, default ``"f32"`` so CPUs with bf16/AMX do not
change the numbers; ``null`` lets OpenVINO choose, used for the INT8 encoder: bf16
for its floating-point layers on a CPU with native bf16, f32 on AVX2). Every load
logs the precision the part runs at (``runs at bf16``), and ``compiled.json``
records it per part (``runs_at``).

``load_parts_async`` loads the encoder on a background thread at once
(OpenVINO releases the GIL while compiling/loading) so that Python keeps
reading and pre-processing the first case meanwhile; the decoder is loaded on a
second thread started by ``start("decoder")`` (the image starts it when the
main thread has nothing else to do, so three threads do not share two cores
while the encoder, the first thing needed, loads). Each part is awaited on first
use.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

BLOB_DIR = "compiled"
MANIFEST = "compiled.json"
CACHE_DIR = "cache"  # under BLOB_DIR: OpenVINO's model cache (CACHE_DIR property)
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


def run_precision(compiled_model) -> str:
    """The floating-point precision OpenVINO chose for a compiled model ("f32", "bf16", ...):
    the card's hint when it sets one, else the CPU's default (bf16 where the CPU has native
    bf16, e.g. AVX512_BF16 or AMX; f32 on AVX2). INT8 layers run in INT8 either way."""
    try:
        hint = compiled_model.get_property("INFERENCE_PRECISION_HINT")
        return hint.to_string() if hasattr(hint, "to_string") else str(hint)
    except Exception:  # noqa: BLE001 - a plugin without the property: say so, do not fail
        return "unknown"


def baked_properties(cfg: dict[str, Any]) -> dict[str, str]:
    """The properties a cache file fixes (all but the thread count, applied at load), as strings."""
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
    """None when the cache file ``blob`` may be loaded for ``part``, else the reason it may not
    (one phrase). Checks, in order: manifest, entry, OpenVINO version, CPU, IR digest,
    properties, the file's presence, size and sha256."""
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
    if file_sha256(blob) != entry.get("blob_sha256"):
        return f"{blob.name} differs from the file compiled (sha256)"
    return None


def file_sha256(path: Path) -> str:
    """sha256 of a file (about 15 ms for the 29 MB encoder cache)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def read_manifest(model_dir: Path) -> dict | None:
    try:
        return json.loads((model_dir / BLOB_DIR / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def load_part(core, model_dir: Path, card: dict, part: str, threads: int):
    """Load ``part`` from the compiled cache when it fits this CPU and these properties, else
    compile its IR (logging why). Returns ``(compiled_model, how)``; ``how`` is "cached" or
    "compiled"."""
    import openvino as ov

    t0 = time.perf_counter()
    xml = model_dir / card[part]
    cfg = compile_properties(card, part, threads)
    manifest = read_manifest(model_dir)
    entry = (manifest or {}).get("parts", {}).get(part, {})
    cache = model_dir / BLOB_DIR / CACHE_DIR
    blob = cache / str(entry.get("blob", f"{part}.blob"))
    reason = why_not_cached(manifest, part, openvino=ov.__version__,
                            cpu=cpu_signature(core.get_property("CPU", "FULL_DEVICE_NAME")),
                            digest=ir_digest(xml), properties=baked_properties(cfg), blob=blob)
    if reason is None:
        try:
            model = core.compile_model(xml, "CPU", {**cfg, "CACHE_DIR": str(cache)})
            if model.get_property("LOADED_FROM_CACHE"):
                log(f"{part}: loaded the compiled cache in {time.perf_counter() - t0:.2f} s, "
                    f"runs at {run_precision(model)}")
                return model, "cached"
            log(f"{part}: compiled cache not used: OpenVINO did not load {blob.name} (model "
                f"path {xml} differs from the build's?); compiled {xml.name} in "
                f"{time.perf_counter() - t0:.2f} s, runs at {run_precision(model)}")
            return model, "compiled"
        except Exception as exc:  # noqa: BLE001 - a broken cache costs the compile time only
            msg = " ".join(str(exc).split())[-200:]  # one line; OpenVINO's check is at the end
            reason = f"loading {blob.name} failed ({type(exc).__name__}: {msg})"
    model = core.compile_model(xml, "CPU", cfg)
    log(f"{part}: compiled cache not used: {reason}; compiled {xml.name} in "
        f"{time.perf_counter() - t0:.2f} s, runs at {run_precision(model)}")
    return model, "compiled"


class PartLoader:
    """The parts of a model card loading on background threads: ``start(part)`` begins one
    (idempotent), ``result(part)`` starts it if needed and waits -> ``(compiled_model, how)``."""

    def __init__(self, model_dir: Path, card: dict, threads: int):
        import openvino as ov

        self._args = (ov.Core(), model_dir, card)
        self._threads = threads
        self._pool = ThreadPoolExecutor(max_workers=len(PARTS), thread_name_prefix="ov-load")
        self._futures: dict[str, Future] = {}

    def start(self, part: str) -> None:
        if part not in self._futures:
            self._futures[part] = self._pool.submit(load_part, *self._args, part, self._threads)

    def result(self, part: str):
        self.start(part)
        return self._futures[part].result()


def load_parts_async(model_dir: Path, card: dict, threads: int) -> PartLoader:
    """Start loading the encoder (the decoder starts on ``start("decoder")`` or first use)."""
    loader = PartLoader(model_dir, card, threads)
    loader.start("encoder")
    return loader


def precompile(model_dir: Path, threads: int) -> dict:
    """Compile every part for this CPU into ``compiled/cache/`` and write ``compiled.json``."""
    import openvino as ov

    card = json.loads((model_dir / "model_card.json").read_text())
    core = ov.Core()
    cache = model_dir / BLOB_DIR / CACHE_DIR
    cache.mkdir(parents=True, exist_ok=True)
    manifest = {"openvino": ov.__version__,
                "cpu": cpu_signature(core.get_property("CPU", "FULL_DEVICE_NAME")), "parts": {}}
    for part in PARTS:
        xml = model_dir / card[part]
        props = compile_properties(card, part, threads)
        cfg = {**props, "CACHE_DIR": str(cache)}
        before = {f.name for f in cache.iterdir()}
        t0 = time.perf_counter()
        ov.Core().compile_model(xml, "CPU", cfg)
        compile_s = time.perf_counter() - t0
        new = sorted(f for f in cache.iterdir() if f.name not in before)
        if len(new) != 1:
            raise RuntimeError(f"compiling {xml.name} into {cache} wrote {[f.name for f in new]}, "
                               "expected one cache file")
        t0 = time.perf_counter()
        loaded = ov.Core().compile_model(xml, "CPU", cfg)
        load_s = time.perf_counter() - t0
        if not loaded.get_property("LOADED_FROM_CACHE"):
            raise RuntimeError(f"OpenVINO did not load {new[0].name} back for {part}")
        blob = new[0]
        manifest["parts"][part] = {"ir": xml.name, "ir_digest": ir_digest(xml),
                                   "properties": baked_properties(props),
                                   "blob": blob.name, "blob_bytes": blob.stat().st_size,
                                   "blob_sha256": file_sha256(blob),
                                   "runs_at": (runs_at := run_precision(loaded)),
                                   "compile_s": round(compile_s, 3), "load_s": round(load_s, 3)}
        log(f"precompiled {part}: compile {compile_s:.2f} s, load from cache {load_s:.2f} s, "
            f"{blob.stat().st_size / 1e6:.1f} MB, runs at {runs_at}")
    (model_dir / BLOB_DIR / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
