"""The official LiteMedSAM box-prompt inference algorithm (CVPR24), engine-agnostic.

numpy + OpenCV. The network is two callables:

- ``encode(x)``: ``x`` float32 ``(1, 3, S, S)`` -> image embedding (any array);
- ``decode(emb, box)``: ``box`` float32 ``(1, 1, 4)`` ``[x0, y0, x1, y1]`` in
  P-space -> low-resolution mask logits ``(1, 1, L, L)``.

S is the encoder's input size; P the prompt space (``Card.prompt_size``, = S
for LiteMedSAM, 1024 for EfficientViT-SAM). Boxes, crops and propagated
neighbour masks live in P-space; below, "S-space" means P-space when P != S.

Pre-processing (as the official script): resize the longest side to S with
``cv2.INTER_AREA`` (new side ``int(side * S / max(H, W) + 0.5)``), min-max
normalise the resized image to [0, 1] (or mean/std from the model card), zero
pad bottom/right to S x S. Boxes: ``int(coord * S / max(H, W))``.
Post-processing: logits (resized bilinearly to S x S when L != S) cropped to
the resized extent, bilinearly upsampled (half-pixel centres, i.e.
``align_corners=False``) to (H, W), logit > threshold (= sigmoid > 0.5).

3D (per box i, in order): start at ``z_mid = int((z_max - z_min) / 2 + z_min)``
with the given box, propagate up to ``z_max`` and then down to ``z_min``, both
inclusive (the contract's z range; the first CVPR24 script stopped one slice
short on both ends, its later versions include them). The box of each new slice
is the bounding box of the neighbouring slice's mask, resized like the image
and zero padded to S x S, widened by 3 px and clipped to [0, S]; when that mask
is empty, the middle box is used. Later boxes overwrite earlier ones.

``cache_embeddings=True`` (the OpenVINO image) encodes each slice once per
case and shares it among boxes, giving identical results; ``False`` (the
challenge's PyTorch baseline) re-encodes every slice for every box.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

Encode = Callable[[np.ndarray], Any]
Decode = Callable[[Any, np.ndarray], np.ndarray]
Upsample = Callable[[np.ndarray, tuple[int, int]], np.ndarray]


@dataclass(frozen=True)
class Card:
    """What the algorithm needs to know about a SAM-style model (the model card).

    input_size: S (square encoder input, px). box_size: P, the square space
    of the prompt encoder's boxes and of the crop before the final resize (SAM
    and EfficientViT-SAM: 1024; LiteMedSAM: = S; 0 means S). norm: "minmax" or
    "meanstd" (``mean``/``std`` per channel on 0..255 values). mask_threshold:
    logit threshold. bbox_shift: px (in P-space) added around a propagated box.
    """

    input_size: int = 256
    box_size: int = 0
    norm: str = "minmax"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    mask_threshold: float = 0.0
    bbox_shift: int = 3
    extra: dict = field(default_factory=dict)

    @property
    def prompt_size(self) -> int:
        return self.box_size or self.input_size

    @classmethod
    def from_dict(cls, d: dict) -> Card:
        norm = d.get("normalisation", {"kind": "minmax"})
        return cls(
            input_size=int(d["input_size"]),
            box_size=int(d.get("box_size", 0)),
            norm=str(norm["kind"]),
            mean=tuple(norm.get("mean", (0.0, 0.0, 0.0))),
            std=tuple(norm.get("std", (1.0, 1.0, 1.0))),
            mask_threshold=float(d.get("mask_threshold", 0.0)),
            bbox_shift=int(d.get("bbox_shift", 3)),
            extra=d,
        )


def resized_shape(h: int, w: int, size: int) -> tuple[int, int]:
    """(new_h, new_w) after resizing the longest side to ``size`` (official rounding)."""
    scale = size * 1.0 / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)


def resize_longest(a: np.ndarray, size: int) -> np.ndarray:
    """Resize (H, W[, C]) so its longest side is ``size``, ``cv2.INTER_AREA``."""
    nh, nw = resized_shape(a.shape[0], a.shape[1], size)
    return cv2.resize(a, (nw, nh), interpolation=cv2.INTER_AREA)


def pad_to(a: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad bottom/right to (size, size[, C])."""
    pad = [(0, size - a.shape[0]), (0, size - a.shape[1])] + [(0, 0)] * (a.ndim - 2)
    return np.pad(a, pad)


def preprocess(img3c: np.ndarray, card: Card) -> tuple[np.ndarray, tuple[int, int]]:
    """uint8 (H, W, 3) -> (float32 (1, 3, S, S), (new_h, new_w))."""
    s = card.input_size
    r = resize_longest(img3c, s)
    if card.norm == "minmax":
        r = (r - r.min()) / np.clip(r.max() - r.min(), a_min=1e-8, a_max=None)
    elif card.norm == "meanstd":
        r = (r - np.asarray(card.mean)) / np.asarray(card.std)
    else:
        raise ValueError(f"model card: normalisation kind {card.norm!r} is not minmax/meanstd")
    x = np.ascontiguousarray(pad_to(r, s).transpose(2, 0, 1)[None].astype(np.float32))
    return x, r.shape[:2]


def scale_box(box: np.ndarray, hw: tuple[int, int], size: int) -> np.ndarray:
    """[x0, y0, x1, y1] in original pixels -> S-space, truncated like the official code."""
    ratio = size / max(hw)
    return np.array([int(v * ratio) for v in box], dtype=np.int64)


def box_from_mask(mask_s: np.ndarray, shift: int) -> np.ndarray:
    """Bounding box of a non-empty (S, S) mask widened by ``shift`` and clipped to [0, S]."""
    ys, xs = np.nonzero(mask_s)
    h, w = mask_s.shape
    return np.array([max(0, xs.min() - shift), max(0, ys.min() - shift),
                     min(w, xs.max() + shift), min(h, ys.max() + shift)], dtype=np.int64)


def cv2_upsample(logits: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of float32 (h, w) to (H, W), half-pixel centres."""
    if logits.shape == tuple(hw):
        return logits
    return cv2.resize(logits, (hw[1], hw[0]), interpolation=cv2.INTER_LINEAR)


class SamBoxPredictor:
    """Box-prompted SAM-style segmentation of one case (2D or 3D).

    ``cache_embeddings`` bounds memory by ``max_cache_bytes`` (beyond it,
    slices are re-encoded: same result, more time).
    """

    def __init__(self, encode: Encode, decode: Decode, card: Card, *,
                 cache_embeddings: bool = True, upsample: Upsample = cv2_upsample,
                 max_cache_bytes: int = 3 << 30):
        self.encode, self.decode, self.card = encode, decode, card
        self.cache_embeddings = cache_embeddings
        self.upsample = upsample
        self.max_cache_bytes = max_cache_bytes
        self.encoder_calls = 0

    def _encode(self, img3c: np.ndarray) -> tuple[Any, tuple[int, int]]:
        x, _ = preprocess(img3c, self.card)
        self.encoder_calls += 1
        # the resized extent in prompt space (= the encoder's when box_size == input_size)
        return self.encode(x), resized_shape(img3c.shape[0], img3c.shape[1], self.card.prompt_size)

    def _mask(self, emb: Any, box_s: np.ndarray, new_hw: tuple[int, int],
              hw: tuple[int, int]) -> np.ndarray:
        s = self.card.prompt_size
        box = np.asarray(box_s, dtype=np.float32).reshape(1, 1, 4)
        low = np.asarray(self.decode(emb, box), dtype=np.float32)[0, 0]
        if low.shape != (s, s):
            low = self.upsample(low, (s, s))
        low = np.ascontiguousarray(low[: new_hw[0], : new_hw[1]])
        return self.upsample(low, hw) > self.card.mask_threshold

    def predict_2d(self, img3c: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """img3c uint8 (H, W, 3), boxes (N, 4) -> uint16 (H, W) labels 1..N."""
        hw = img3c.shape[:2]
        segs = np.zeros(hw, dtype=np.uint16)
        emb, new_hw = self._encode(img3c)
        for idx, box in enumerate(boxes, start=1):
            box_s = scale_box(box, hw, self.card.prompt_size)
            segs[self._mask(emb, box_s, new_hw, hw)] = idx
        return segs

    def predict_3d(self, vol: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """vol uint8 (D, H, W), boxes (N, 6) -> uint16 (D, H, W) labels 1..N."""
        s = self.card.prompt_size
        hw = vol.shape[1:]
        segs = np.zeros(vol.shape, dtype=np.uint16)
        cache: dict[int, tuple[Any, tuple[int, int]]] = {}
        cache_bytes = 0

        def embed(z: int) -> tuple[Any, tuple[int, int]]:
            nonlocal cache_bytes
            if z in cache:
                return cache[z]
            img3c = np.repeat(vol[z][:, :, None], 3, axis=-1)
            out = self._encode(img3c)
            if self.cache_embeddings:
                nbytes = int(getattr(out[0], "nbytes", 0))
                if cache_bytes + nbytes <= self.max_cache_bytes:
                    cache[z] = out
                    cache_bytes += nbytes
            return out

        for idx, box in enumerate(boxes, start=1):
            x0, y0, z0, x1, y1, z1 = (int(v) for v in box)
            mid_box = np.array([x0, y0, x1, y1])
            z_mid = int((z1 - z0) / 2 + z0)
            # the neighbour mask holds value idx as in the official uint8 temp volume
            lab_dtype = np.uint8 if idx < 256 else np.uint16

            def next_box(prev: np.ndarray | None, idx: int = idx, lab_dtype=lab_dtype,
                         mid_box: np.ndarray = mid_box) -> np.ndarray:
                if prev is not None:
                    m = resize_longest((prev * idx).astype(lab_dtype), s)
                    if m.max() > 0:
                        return box_from_mask(pad_to(m, s), self.card.bbox_shift)
                return scale_box(mid_box, hw, s)

            mid_mask = None
            prev = None
            for z in range(z_mid, z1 + 1):
                emb, new_hw = embed(z)
                box_s = scale_box(mid_box, hw, s) if z == z_mid else next_box(prev)
                prev = self._mask(emb, box_s, new_hw, hw)
                segs[z][prev] = idx
                if z == z_mid:
                    mid_mask = prev
            prev = mid_mask
            for z in range(z_mid - 1, z0 - 1, -1):
                emb, new_hw = embed(z)
                prev = self._mask(emb, next_box(prev), new_hw, hw)
                segs[z][prev] = idx
        return segs

    def predict(self, imgs: np.ndarray, boxes: np.ndarray, dim: int) -> np.ndarray:
        return self.predict_2d(imgs, boxes) if dim == 2 else self.predict_3d(imgs, boxes)
