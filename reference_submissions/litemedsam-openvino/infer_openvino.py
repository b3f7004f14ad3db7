"""Run a SAM-style encoder/decoder OpenVINO IR pair on every challenge case.

Reads ``model/model_card.json`` (input size, normalisation, IR file names),
compiles both IRs for CPU (f32 precision hint, latency hint, one stream, as
many threads as the container's CPU limit allows) and applies the official
LiteMedSAM box-prompt algorithm (``sam_algo``) with each slice's embedding
computed once per case. Exit status: 0 ok, 2 malformed input, 1 other failure.

CVPR25 interactive inputs (clicks, ``prev_pred``, per-class dict boxes) use the
model card's ``decoder_points`` IR (point + box-corner prompts, K points): it is
reshaped to the static K of each prompt and compiled once per K, on first use.
An IR pair without it (e.g. the EfficientViT-SAM card) runs the box iteration
and keeps ``prev_pred`` on click iterations.

Usage: ``python infer_openvino.py [--inputs DIR] [--outputs DIR] [--model DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from case_io import Case, cpu_limit, run_folder
from sam_algo import Card, SamBoxPredictor


def load_predictor(model_dir: Path, threads: int) -> SamBoxPredictor:
    """Compile the IR pair named by ``model_dir/model_card.json``."""
    import openvino as ov

    card_d = json.loads((model_dir / "model_card.json").read_text())
    card = Card.from_dict(card_d)
    core = ov.Core()
    cfg = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY",
           "NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": threads,
           "CPU_DENORMALS_OPTIMIZATION": True}  # flush denormals: no effect on masks, avoids slow paths
    enc = core.compile_model(model_dir / card_d["encoder"], "CPU", cfg)
    dec = core.compile_model(model_dir / card_d["decoder"], "CPU", cfg)
    enc_req, dec_req = enc.create_infer_request(), dec.create_infer_request()
    emb_in, box_in = dec.inputs[0], dec.inputs[1]
    decode_points = None
    if card_d.get("decoder_points"):
        decode_points = _point_decoder(core, model_dir / card_d["decoder_points"], cfg)

    def encode(x: np.ndarray) -> np.ndarray:
        enc_req.infer([x])
        return enc_req.get_output_tensor(0).data.copy()

    def decode(emb: np.ndarray, box: np.ndarray) -> np.ndarray:
        dec_req.infer({emb_in: emb, box_in: box})
        return dec_req.get_output_tensor(0).data.copy()

    return SamBoxPredictor(encode, decode, card, cache_embeddings=True,
                           decode_points=decode_points)


def _point_decoder(core, xml: Path, cfg: dict):
    """``decode_points(emb, coords (1,K,2), labels (1,K)) -> (logits, iou)``: the IR
    reshaped to each K met (static shapes, no padding points) and compiled once per K."""
    requests: dict[int, object] = {}

    def decode_points(emb: np.ndarray, coords: np.ndarray, labels: np.ndarray):
        k = int(coords.shape[1])
        if k not in requests:
            model = core.read_model(xml)
            model.reshape({"embeddings": [1, 256, 64, 64], "point_coords": [1, k, 2],
                           "point_labels": [1, k]})
            requests[k] = core.compile_model(model, "CPU", cfg).create_infer_request()
        req = requests[k]
        req.infer({"embeddings": emb, "point_coords": coords, "point_labels": labels})
        return req.get_output_tensor(0).data.copy(), float(req.get_output_tensor(1).data.ravel()[0])

    return decode_points


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", default="/workspace/inputs")
    p.add_argument("--outputs", default="/workspace/outputs")
    p.add_argument("--model", default=os.environ.get("MODEL_DIR", str(Path(__file__).parent / "model")))
    args = p.parse_args(argv)
    threads = cpu_limit()
    try:
        predictor = load_predictor(Path(args.model), threads)
    except Exception as exc:  # noqa: BLE001 - one clear line, no traceback
        print(f"ERROR loading model from {args.model}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"OpenVINO, {threads} threads, model {args.model}", flush=True)

    def predict(case: Case) -> np.ndarray:
        it = case.interactive
        if it is not None:
            return predictor.predict_interactive(case.imgs, list(it.boxes), list(it.fg),
                                                 list(it.bg), list(it.order), it.prev_pred)
        return predictor.predict(case.imgs, case.boxes, case.dim)

    return run_folder(predict, args.inputs, args.outputs)


if __name__ == "__main__":
    sys.exit(main())
