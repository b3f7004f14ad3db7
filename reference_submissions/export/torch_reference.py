"""PyTorch LiteMedSAM on the host: the acceptance reference for the images.

Runs in the export environment: ``build_lite_medsam()`` with the verified
``lite_medsam.pth``, the official pre-processing and the official PyTorch
post-processing (``F.interpolate(..., mode="bilinear", align_corners=False)``),
re-encoding every slice for every box exactly like the challenge baseline
(``--cache-embeddings`` encodes each slice once: the same masks, faster).
Writes ``<outputs>/<case>.npz`` (``segs`` uint16) for every ``<inputs>/*.npz``.

Usage: ``python torch_reference.py --inputs DIR --outputs DIR``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "common"))
sys.path.insert(0, str(HERE))

from case_io import Case, run_folder
from export_litemedsam import Decoder, Encoder, load_model
from sam_algo import Card, SamBoxPredictor


def torch_upsample(a: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(a))[None, None]
    return F.interpolate(t, size=tuple(hw), mode="bilinear", align_corners=False)[0, 0].numpy()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", required=True)
    p.add_argument("--outputs", required=True)
    p.add_argument("--cache-embeddings", action="store_true",
                   help="encode each slice once per case (identical masks, fewer encoder runs)")
    args = p.parse_args(argv)
    net = load_model()
    enc, dec = Encoder(net).eval(), Decoder(net).eval()

    @torch.no_grad()
    def encode(x: np.ndarray) -> torch.Tensor:
        return enc(torch.from_numpy(x))

    @torch.no_grad()
    def decode(emb: torch.Tensor, box: np.ndarray) -> np.ndarray:
        return dec(emb, torch.from_numpy(box))[0].numpy()

    predictor = SamBoxPredictor(encode, decode, Card(), cache_embeddings=args.cache_embeddings,
                                upsample=torch_upsample)

    def predict(case: Case) -> np.ndarray:
        return predictor.predict(case.imgs, case.boxes, case.dim)

    return run_folder(predict, args.inputs, args.outputs)


if __name__ == "__main__":
    sys.exit(main())
