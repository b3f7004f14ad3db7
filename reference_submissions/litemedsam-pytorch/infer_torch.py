"""The challenge's PyTorch LiteMedSAM baseline, as a container (TorchScript, CPU).

Loads ``model/encoder.ts`` and ``model/decoder.ts`` (TorchScript traces of the
official modules, exported on the host) and runs the official algorithm
exactly as the CVPR24 baseline script did: every slice is re-encoded for every
box, post-processing with ``F.interpolate(bilinear, align_corners=False)``.
Threads: the container's CPU limit. Exit status: 0 ok, 2 malformed input, 1 other.

Usage: ``python infer_torch.py [--inputs DIR] [--outputs DIR] [--model DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from case_io import Case, cpu_limit, run_folder
from sam_algo import Card, SamBoxPredictor


def torch_upsample(a: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(a))[None, None]
    return F.interpolate(t, size=tuple(hw), mode="bilinear", align_corners=False)[0, 0].numpy()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", default="/workspace/inputs")
    p.add_argument("--outputs", default="/workspace/outputs")
    p.add_argument("--model", default=os.environ.get("MODEL_DIR", str(Path(__file__).parent / "model")))
    args = p.parse_args(argv)
    threads = cpu_limit()
    torch.set_num_threads(threads)
    model = Path(args.model)
    try:
        card_d = json.loads((model / "model_card.json").read_text())
        enc = torch.jit.load(str(model / card_d["encoder_torchscript"]), map_location="cpu").eval()
        dec = torch.jit.load(str(model / card_d["decoder_torchscript"]), map_location="cpu").eval()
    except Exception as exc:  # noqa: BLE001 - one clear line, no traceback
        print(f"ERROR loading model from {model}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"PyTorch {torch.__version__}, {threads} threads", flush=True)

    @torch.inference_mode()
    def encode(x: np.ndarray) -> torch.Tensor:
        return enc(torch.from_numpy(x))

    @torch.inference_mode()
    def decode(emb: torch.Tensor, box: np.ndarray) -> np.ndarray:
        return dec(emb, torch.from_numpy(box))[0].numpy()

    predictor = SamBoxPredictor(encode, decode, Card.from_dict(card_d), cache_embeddings=False,
                                upsample=torch_upsample)

    def predict(case: Case) -> np.ndarray:
        return predictor.predict(case.imgs, case.boxes, case.dim)

    return run_folder(predict, args.inputs, args.outputs)


if __name__ == "__main__":
    sys.exit(main())
