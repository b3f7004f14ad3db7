"""Run a SAM-style encoder/decoder OpenVINO IR pair on every challenge case.

Reads ``model/model_card.json`` (input size, normalisation, IR file names),
loads both IRs for CPU (``ov_models``: the compiled cache made at image build
when it fits this CPU, else compiled now; f32 precision hint unless the card says
otherwise, latency hint, one stream, as many threads as the container's CPU
limit allows) and applies the official
LiteMedSAM box-prompt algorithm (``sam_algo``) with each slice's embedding
computed once per case. Exit status: 0 ok, 2 malformed input, 1 other failure.

CVPR25 interactive inputs (clicks, ``prev_pred``, per-class dict boxes) use the
model card's ``decoder_points`` IR (point + box-corner prompts, K points): it is
reshaped to the static K of each prompt and compiled once per K, on first use.
An IR pair without it (e.g. the EfficientViT-SAM card) runs the box iteration
and keeps ``prev_pred`` on click iterations.

Usage: ``python infer_openvino.py [--inputs DIR] [--outputs DIR] [--model DIR] [--precompile]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from case_io import Case, cpu_limit, run_folder


def process_age_s() -> float:
    """Seconds since this process started (Linux ``/proc``; -1 elsewhere)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return -1.0


def load_predictor(model_dir: Path, threads: int):
    """The predictor for the IR pair named by ``model_dir/model_card.json``.

    The models load on background threads (``ov_models``: the image's compiled cache when
    it fits this CPU, else compiled): the encoder at once, the decoder from the moment the
    first case is read and pre-processed (the main thread then only waits, so the decoder's
    load takes its core instead of slowing the encoder's); ``encode``/``decode`` wait for
    theirs on first use. Returns a ``sam_algo.SamBoxPredictor`` (imported here, after the
    loading has started).
    """
    from ov_models import load_parts_async

    card_d = json.loads((model_dir / "model_card.json").read_text())
    loader = load_parts_async(model_dir, card_d, threads)  # first: the rest overlaps with it
    from sam_algo import Card, SamBoxPredictor  # cv2 loads while the models do

    card = Card.from_dict(card_d)
    state: dict = {}

    def request(part: str):
        if part not in state:
            loader.start("decoder")  # the main thread waits from here on
            model, _how = loader.result(part)
            state[part] = (model.create_infer_request(), model.inputs)
            if part == "encoder":
                print(f"first encoder call {process_age_s():.2f} s after process start "
                      f"(epoch {time.time():.3f})", file=sys.stderr, flush=True)
        return state[part]

    decode_points = None
    if card_d.get("decoder_points"):  # compiled on first use (click runs only)
        from ov_models import compile_properties

        decode_points = _point_decoder(model_dir / card_d["decoder_points"],
                                       compile_properties(card_d, "decoder", threads))

    def encode(x: np.ndarray) -> np.ndarray:
        req, _ = request("encoder")
        req.infer([x])
        return req.get_output_tensor(0).data.copy()

    def decode(emb: np.ndarray, box: np.ndarray) -> np.ndarray:
        req, (emb_in, box_in) = request("decoder")
        req.infer({emb_in: emb, box_in: box})
        return req.get_output_tensor(0).data.copy()

    return SamBoxPredictor(encode, decode, card, cache_embeddings=True,
                           decode_points=decode_points)


def _point_decoder(xml: Path, cfg: dict):
    """``decode_points(emb, coords (1,K,2), labels (1,K)) -> (logits, iou)``: the IR
    reshaped to each K met (static shapes, no padding points) and compiled once per K."""
    requests: dict[int, object] = {}
    cores: list = []

    def decode_points(emb: np.ndarray, coords: np.ndarray, labels: np.ndarray):
        k = int(coords.shape[1])
        if not cores:
            import openvino as ov

            cores.append(ov.Core())
        core = cores[0]
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
    p.add_argument("--precompile", action="store_true",
                   help="compile the models for this CPU into MODEL/compiled/ and exit (image build)")
    args = p.parse_args(argv)
    threads = cpu_limit()
    if args.precompile:
        from ov_models import precompile

        precompile(Path(args.model), threads)
        return 0
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


def exit_now(status: int) -> None:
    """Exit without the interpreter's teardown (about 0.1 s of freeing OpenVINO's compiled
    models and numpy's arrays per container): every output is already written and renamed
    into place (``case_io.save_segs``) and the streams are flushed here."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    exit_now(main())
