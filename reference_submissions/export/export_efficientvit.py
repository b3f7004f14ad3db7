"""Export an EfficientViT-SAM (PyPI ``efficientsam``) IR pair + model card.

RANDOMLY INITIALISED WEIGHTS (``torch.manual_seed(--seed)``): no medical
EfficientViT-SAM weights are available offline, so this proves the export path
and that the OpenVINO reference image runs such a model, not its accuracy.
Pass ``--weights FILE`` (a state dict for the chosen variant) to export real
weights the same way.

Architecture: ``efficientvit-sam-<variant>`` (default ``l0``) at a 512 encoder
input (the MedficientSAM set-up: min-max scaling, longest side 512), SAM prompt
encoder and mask decoder in 1024 box space, 256x256 low-res logits. Writes
``encoder.xml/.bin`` (``image`` [1,3,512,512] -> ``embeddings`` [1,256,64,64]),
``decoder.xml/.bin`` (``embeddings``, ``boxes`` [1,1,4] -> ``low_res_logits``
[1,1,256,256], ``iou``), ``model_card.json``, ``export_meta.json``.

Usage: ``python export_efficientvit.py --out DIR [--variant l0] [--seed 0] [--weights FILE]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import openvino as ov
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export_litemedsam import Decoder, Encoder, name_ports

INPUT = 512
BOX_SPACE = 1024


MAX_ENCODER_DIFF = 1e-3   # OpenVINO f32 vs PyTorch, max |difference| of the embeddings
MAX_LOGIT_DIFF = 1e-2     # ... of the decoder's low-res logits


def load_state_dict(path: Path) -> dict:
    """A state dict from ``path`` (tensors only, never unpickled objects): a flat dict, or one
    under ``state_dict``/``model`` (training checkpoints); a ``module.`` prefix is dropped."""
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise SystemExit(f"{path}: expected a state dict of tensors (optionally under "
                         f"'state_dict' or 'model'), found {type(obj).__name__}")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def export(out: Path, variant: str, seed: int, weights: Path | None) -> dict:
    from efficientsam.sam_model_zoo import create_efficientvit_sam_model

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    net = create_efficientvit_sam_model(f"efficientvit-sam-{variant}", pretrained=False,
                                        image_size=INPUT)
    if weights is not None:
        net.load_state_dict(load_state_dict(weights), strict=True)
    net = net.eval()
    enc, dec = Encoder(net).eval(), Decoder(net).eval()
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 3, INPUT, INPUT, generator=g)
    boxes = torch.tensor([[[200.0, 240.0, 700.0, 800.0]]])
    with torch.no_grad():
        emb = enc(image)
        low, _ = dec(emb, boxes)
        ov_enc = ov.convert_model(enc, example_input=image, input=[[1, 3, INPUT, INPUT]])
        name_ports(ov_enc, ["image"], ["embeddings"])
        ov_dec = ov.convert_model(dec, example_input=(emb, boxes),
                                  input=[list(emb.shape), [1, 1, 4]])
        name_ports(ov_dec, ["embeddings", "boxes"], ["low_res_logits", "iou"])
    ov.save_model(ov_enc, out / "encoder.xml", compress_to_fp16=False)
    ov.save_model(ov_dec, out / "decoder.xml", compress_to_fp16=False)

    core = ov.Core()
    cfg = {"INFERENCE_PRECISION_HINT": "f32"}
    emb_ov = core.compile_model(out / "encoder.xml", "CPU", cfg)({"image": image.numpy()})[
        "embeddings"]
    low_ov = core.compile_model(out / "decoder.xml", "CPU", cfg)(
        {"embeddings": emb.numpy(), "boxes": boxes.numpy()})["low_res_logits"]
    card = {
        "name": f"EfficientViT-SAM-{variant.upper()}",
        "source": "PyPI efficientsam architecture; "
                  + (f"weights {weights.name}" if weights else
                     f"RANDOMLY INITIALISED weights (seed {seed}): not a usable segmenter"),
        "input_size": INPUT,
        "box_size": BOX_SPACE,
        "resize": "longest_side_area",
        "normalisation": {"kind": "minmax"},
        "box_scale": "longest_side",
        "low_res_size": int(low.shape[-1]),
        "mask_threshold": 0.0,
        "bbox_shift": 3,
        "encoder": "encoder.xml",
        "decoder": "decoder.xml",
        "random_weights": weights is None,
    }
    meta = {
        "variant": variant,
        "seed": seed,
        "random_weights": weights is None,
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "embedding_shape": list(emb.shape),
        "torch": torch.__version__,
        "openvino": ov.__version__,
        "max_abs_diff_encoder": float(np.abs(emb_ov - emb.numpy()).max()),
        "max_abs_diff_decoder_logits": float(np.abs(low_ov - low.numpy()).max()),
    }
    (out / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    (out / "export_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--variant", default="l0", choices=["l0", "l1", "l2"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", type=Path, default=None)
    args = p.parse_args(argv)
    meta = export(args.out, args.variant, args.seed, args.weights)
    print(json.dumps(meta))
    if meta["max_abs_diff_encoder"] > MAX_ENCODER_DIFF or \
            meta["max_abs_diff_decoder_logits"] > MAX_LOGIT_DIFF:
        print("export check failed: OpenVINO disagrees with PyTorch "
              f"(encoder {meta['max_abs_diff_encoder']:.2e} > {MAX_ENCODER_DIFF} or logits "
              f"{meta['max_abs_diff_decoder_logits']:.2e} > {MAX_LOGIT_DIFF})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
