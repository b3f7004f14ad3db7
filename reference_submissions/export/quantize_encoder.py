"""Post-training INT8 quantisation of a SAM-style image encoder with NNCF (+ export checks).

Runs in the export environment (openvino + nncf + opencv). Input: an FP32
export folder (``encoder.xml``, ``decoder.xml``, ``model_card.json``, as
written by ``export_litemedsam.py``), a folder of calibration cases and a
folder of check cases (challenge ``.npz`` inputs; ``evalkit demo-data`` writes
both, build.py uses the demo preset with seed 1 for calibration and seed 0, the
set the reference is ranked on, for the check). Writes into ``--out``:

- ``encoder_int8.xml/.bin``: the INT8 encoder, same ports as the FP32 IR. Two
  schemes (``--scheme``):

  - ``weights`` (the default, shipped): ``nncf.compress_weights`` INT8_ASYM,
    per-output-channel INT8 weights of every MatMul and convolution except the
    patch embedding, the first (convolutional) stage ``layers.0`` and the neck
    (kept FP32: 14% of the weights, most in the neck); activations FP32. Data-free
    (the calibration folder is not read), seconds to run.
  - ``full``: ``nncf.quantize`` INT8 weights *and* activations
    (``ModelType.TRANSFORMER``, MIXED preset, bias correction off, calibration
    slices pre-processed exactly like inference), with the patch embedding, the
    last transformer stage and the neck in floating point. Kept for CPUs with
    VNNI/AMX, where INT8 activations pay; it misses the agreement target (below).

- ``decoder.xml/.bin``: the FP32 decoder, copied unchanged;
- ``model_card.json``: the FP32 card with ``encoder`` -> ``encoder_int8.xml``,
  ``encoder_precision`` (``int8-weights`` or ``int8``), ``int8_scheme`` and
  ``encoder_inference_precision: null`` (OpenVINO picks its precision for the
  floating-point layers, and VNNI/AMX for INT8 layers where the CPU has them);
- ``export_meta.json``: scheme, calibration set, per-instance DSC of INT8 vs FP32
  masks on every check case (the official algorithm, ``sam_algo``), encoder times.

Export check (exit status 1 when it fails, after writing everything): mean
per-instance DSC >= 0.98. build.py still builds the INT8 image then (a ranked
variant: the leaderboard shows the cost) and logs the shortfall.

Why ``weights`` (measured 1 Dec 2026 on this 2-core AMD EPYC, AVX2 only: no
VNNI, no AMX, under heavy load from other jobs). Configurations were chosen on
the seed-1 2D demo cases (72 instances; the validation set), and the seed-0 2D
cases (72 of the check set's 81 instances) are shown beside them; "ratio" is
the FP32/INT8 encoder time per slice in the same process (> 1: INT8 faster):

=========================================================  ========  ========  =====
configuration                                              seed 1    seed 0    ratio
                                                           mean/min  mean/min
=========================================================  ========  ========  =====
full, previous (SmoothQuant 0.95, MEAN_MINMAX)             .956/.48  .957/.71  0.97
full, SmoothQuant off                                      .958/.61  .954/.71  0.91
full, + layers.3 local convs in float                      .956/.47  .957/.72  0.97
full, MINMAX activation ranges                             .959/.57  .954/.72  0.97
full, + layers.2 in float (only layers.0/1 INT8)           .966/.52  .963/.75  0.97
full, only layers.2 INT8                                   .973/.73  .979/.78  0.73
weights, every layer INT8                                  .979/.80  .988/.93  1.20
weights, patch embed + layers.3 + neck FP32                .982/.86  .990/.94  1.02
weights, patch embed + neck FP32                           .981/.86  .990/.95  1.05
 same, 3D cases included (seed 1, 81 instances)            .981/.82
 same + layers.0 FP32 (3D incl.; chosen)                   .987/.88
 same + layers.0 + layers.1 FP32 (3D incl.)                .989/.91
(reference: FP16 weights, no INT8)                         .999/.99  -         -
=========================================================  ========  ========  =====

Every INT8-activation configuration stays below 0.98 (each stage quantised
costs ~0.01-0.02, the many small Microscopy nuclei first) and gains no speed on
AVX2 without VNNI; INT8 weights meet the target at FP32 speed (ratios within
the load noise) and shrink the weight file (about 13 MB vs 27.7 MB). With only
the patch embedding and neck in FP32 the seed-1 mean (0.981, MR 0.935) was too
close to 0.98, so a per-stage sweep on seed 1 (one more stage in FP32 each, 2D
mean: layers.0 .986, layers.1 .984, layers.2 .987, layers.3 .982) picked
``layers.0``: as good as the others and the smallest (its convolutions hold
about 2% of the weights). The shipped scheme's export check on the whole seed-0
set: see ``export_meta.json`` and the reference README.

On a second 2-core AMD EPYC with AVX-512, VNNI and native bf16 (no AMX), the
check on the seed-0 set (81 instances; the INT8 encoder's float layers run at
OpenVINO's default there, bf16, recorded as ``encoder_runs_at_int8``):
``weights`` mean .989 / min .945 at 1.61x, ``full`` mean .959 / min .721 at
1.96x. INT8 activations pay there but still miss the agreement target, so
``weights`` stays the default; the weights scheme uses VNNI too, through
OpenVINO's dynamic quantisation of the activations of INT8-weight matrix products.

Usage: ``python quantize_encoder.py --fp32 DIR --calib DIR --check DIR --out DIR
[--scheme weights|full]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import openvino as ov

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "common"))
sys.path.insert(0, str(HERE.parent / "litemedsam-openvino"))

from case_io import load_case
from ov_models import run_precision
from sam_algo import Card, SamBoxPredictor, preprocess

MIN_MEAN_DSC = 0.98
CFG = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1"}


def calibration_slices(folder: Path, per_volume: int = 8) -> list[np.ndarray]:
    """Pre-processed encoder inputs (float32 (1, 3, S, S)) from every case in ``folder``:
    each 2D image, and ``per_volume`` slices evenly spread over each 3D volume's boxed z range."""
    card = Card()
    out = []
    for f in sorted(folder.glob("*.npz")):
        case = load_case(f)
        if case.dim == 2:
            out.append(preprocess(case.imgs, card)[0])
            continue
        z0, z1 = int(case.boxes[:, 2].min()), int(case.boxes[:, 5].max())
        for z in np.unique(np.linspace(z0, z1, per_volume).round().astype(int)):
            out.append(preprocess(np.repeat(case.imgs[z][:, :, None], 3, axis=-1), card)[0])
    if not out:
        raise SystemExit(f"{folder}: no calibration cases (*.npz)")
    return out


#: kept in floating point: the neck (the embedding itself), the last transformer stage and the
#: patch embedding (the convolutions on the raw image; the IR names them by their fused
#: Multiply). Quantising everything gave per-instance DSC 0.61-0.80 on three demo cases.
IGNORED_PATTERNS = [r".*image_encoder\.neck.*", r".*image_encoder\.layers\.3\..*",
                    r".*image_encoder\.patch_embed.*"]
FIRST_CONVS = 3  # the patch embedding's convolutions, the first ones in the graph


def first_convs(model: ov.Model, n: int) -> list[str]:
    """Names of the first ``n`` (group) convolutions in graph order."""
    return [op.get_friendly_name() for op in model.get_ordered_ops()
            if op.get_type_name() in ("Convolution", "GroupConvolution")][:n]


def ignored_scope(model: ov.Model):
    import nncf

    return nncf.IgnoredScope(names=first_convs(model, FIRST_CONVS), patterns=IGNORED_PATTERNS,
                             validate=False)


#: the ``weights`` scheme keeps these in FP32: the neck (its output is the embedding itself) and
#: the first WEIGHTS_FP32_CONVS convolutions (the IR names them by their fused Multiply): the
#: patch embedding and the convolutional stage layers.0 with its downsample (its patterns would
#: not match them). Found by the sweep in the module docstring (seed-1 validation set, not the
#: seed-0 check set): all INT8 0.979 (2D), + patch embedding and neck FP32 0.981, + layers.0 0.987.
WEIGHTS_FP32_PATTERNS = [r".*image_encoder\.neck.*"]
WEIGHTS_FP32_CONVS = 11


def compress_weights(fp32_xml: Path) -> ov.Model:
    """INT8 weights (asymmetric, per output channel), FP32 activations; data-free."""
    import nncf

    model = ov.Core().read_model(fp32_xml)
    keep = nncf.IgnoredScope(names=first_convs(model, WEIGHTS_FP32_CONVS),
                             patterns=WEIGHTS_FP32_PATTERNS, validate=False)
    return nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM, ignored_scope=keep)


def quantize(fp32_xml: Path, slices: list[np.ndarray]) -> ov.Model:
    """INT8 encoder: mixed preset (symmetric weights, asymmetric activations: GELU outputs are
    mostly positive), transformer model type, the layers above left in floating point."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters

    model = ov.Core().read_model(fp32_xml)
    return nncf.quantize(model, nncf.Dataset(slices), subset_size=len(slices),
                         model_type=nncf.ModelType.TRANSFORMER,
                         preset=nncf.QuantizationPreset.MIXED,
                         ignored_scope=ignored_scope(model),
                         advanced_parameters=AdvancedQuantizationParameters(
                             disable_bias_correction=True))


def per_instance_dsc(a: np.ndarray, b: np.ndarray, n: int) -> list[float]:
    """DSC of label i in ``a`` vs ``b`` for i in 1..n (1.0 when both are empty)."""
    out = []
    for i in range(1, n + 1):
        x, y = a == i, b == i
        s = int(x.sum() + y.sum())
        out.append(1.0 if s == 0 else 2.0 * int((x & y).sum()) / s)
    return out


def predictor(core: ov.Core, enc_xml: Path, dec_xml: Path, enc_cfg: dict, timer: list[float]):
    """``(SamBoxPredictor, precision)``: the official algorithm on this encoder/decoder pair, and
    the floating-point precision OpenVINO runs the encoder at (``enc_cfg`` without a hint: the
    CPU's default, bf16 where the CPU has it natively)."""
    compiled = core.compile_model(enc_xml, "CPU", enc_cfg)
    precision = run_precision(compiled)
    enc = compiled.create_infer_request()
    dec = core.compile_model(dec_xml, "CPU", CFG).create_infer_request()

    def encode(x):
        t = time.perf_counter()
        enc.infer([x])
        timer.append(time.perf_counter() - t)
        return enc.get_output_tensor(0).data.copy()

    def decode(emb, box):
        dec.infer([emb, box])
        return dec.get_output_tensor(0).data.copy()

    return SamBoxPredictor(encode, decode, Card(), cache_embeddings=True), precision


def agreement(fp32_dir: Path, out: Path, check: Path) -> dict:
    """Run the official algorithm with the FP32 and the INT8 encoder on every check case."""
    core = ov.Core()
    t32: list[float] = []
    t8: list[float] = []
    p32, prec32 = predictor(core, fp32_dir / "encoder.xml", fp32_dir / "decoder.xml", CFG, t32)
    int8_cfg = {k: v for k, v in CFG.items() if k != "INFERENCE_PRECISION_HINT"}
    p8, prec8 = predictor(core, out / "encoder_int8.xml", out / "decoder.xml", int8_cfg, t8)
    cases = {}
    for f in sorted(check.glob("*.npz")):
        case = load_case(f)
        a = p32.predict(case.imgs, case.boxes, case.dim)
        b = p8.predict(case.imgs, case.boxes, case.dim)
        cases[f.stem] = [round(d, 6) for d in per_instance_dsc(b, a, len(case.boxes))]
        print(f"{f.stem}: INT8 vs FP32 per-instance DSC min {min(cases[f.stem]):.4f} "
              f"mean {np.mean(cases[f.stem]):.4f}", flush=True)
    all_d = [d for v in cases.values() for d in v]
    # encoder time per slice: median over the check run, after the first call of each
    m32, m8 = float(np.median(t32[1:] or t32)), float(np.median(t8[1:] or t8))
    return {"per_instance_dsc": cases, "dsc_mean": float(np.mean(all_d)),
            "dsc_min": float(np.min(all_d)), "instances": len(all_d),
            "encoder_s_fp32": m32, "encoder_s_int8": m8, "speed_ratio": m32 / m8,
            # the float layers' precision on this CPU (the INT8 encoder's is OpenVINO's choice)
            "encoder_runs_at_fp32": prec32, "encoder_runs_at_int8": prec8,
            "cpu": core.get_property("CPU", "FULL_DEVICE_NAME"),
            "cpu_capabilities": list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))}


SCHEMES = ("weights", "full")


def export(fp32_dir: Path, calib: Path, check: Path, out: Path, scheme: str = "weights") -> dict:
    import nncf

    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    if scheme == "full":
        slices = calibration_slices(calib)
        q = quantize(fp32_dir / "encoder.xml", slices)
    else:
        slices = []
        q = compress_weights(fp32_dir / "encoder.xml")
    ov.save_model(q, out / "encoder_int8.xml", compress_to_fp16=False)
    quant_s = time.perf_counter() - t
    for name in ("decoder.xml", "decoder.bin"):
        shutil.copy2(fp32_dir / name, out / name)
    card = json.loads((fp32_dir / "model_card.json").read_text())
    card.update({"name": card.get("name", "model") + (" (INT8 encoder)" if scheme == "full"
                                                      else " (INT8-weight encoder)"),
                 "encoder": "encoder_int8.xml", "int8_scheme": scheme,
                 "encoder_precision": "int8" if scheme == "full" else "int8-weights",
                 "encoder_inference_precision": None})
    for k in ("encoder_torchscript", "decoder_torchscript"):
        card.pop(k, None)
    (out / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    check_res = agreement(fp32_dir, out, check)
    fp32_meta = json.loads((fp32_dir / "export_meta.json").read_text())
    meta = {**{k: fp32_meta[k] for k in ("checkpoint_sha256", "parameters") if k in fp32_meta},
            "openvino": ov.__version__, "nncf": nncf.__version__,
            "int8_scheme": scheme, "quantisation_s": round(quant_s, 1),
            "calibration": None if scheme != "full" else {
                "folder_cases": sorted(f.stem for f in calib.glob("*.npz")),
                "slices": len(slices), "seconds": round(quant_s, 1)},
            "int8_check": check_res, "min_mean_dsc": MIN_MEAN_DSC}
    (out / "export_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fp32", required=True, type=Path, help="FP32 export folder")
    p.add_argument("--calib", required=True, type=Path, help="folder of calibration cases")
    p.add_argument("--check", required=True, type=Path, help="folder of check cases")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--scheme", choices=SCHEMES, default="weights",
                   help="weights: INT8 weights, FP32 activations (default); full: INT8 both")
    args = p.parse_args(argv)
    meta = export(args.fp32, args.calib, args.check, args.out, args.scheme)
    c = meta["int8_check"]
    print(f"INT8 vs FP32 on {c['instances']} instances: per-instance DSC mean {c['dsc_mean']:.4f} "
          f"min {c['dsc_min']:.4f}; encoder {c['encoder_s_fp32']:.3f} s -> "
          f"{c['encoder_s_int8']:.3f} s per slice ({c['speed_ratio']:.2f}x; float layers at "
          f"{c['encoder_runs_at_fp32']} / {c['encoder_runs_at_int8']})", flush=True)
    if c["dsc_mean"] < MIN_MEAN_DSC:
        print(f"export check failed: INT8 mean DSC {c['dsc_mean']:.4f} < {MIN_MEAN_DSC}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
