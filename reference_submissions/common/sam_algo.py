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

Interactive (CVPR25, :meth:`SamBoxPredictor.predict_interactive`): the box
iteration runs the box propagation above from each class's ``z_mid`` box over
``z_min..z_max``. A click iteration starts from ``prev_pred`` and, per class
with a new click, re-segments the click's slice from SAM prompts (box + that
slice's fg/bg clicks, see :meth:`SamBoxPredictor._refine_slice`) and applies
only the connected part of the change under the click (a fg click adds, a bg
click removes); then it propagates slice by slice like the box propagation
(box of the corrected neighbour mask), applying on each slice the part of the
change connected to the previous slice's, until there is none. Slices the
correction does not reach keep ``prev_pred``. It needs a third network callable,
``decode_points(emb, coords, labels)``: coords float32 ``(1, K, 2)`` ``(x, y)``
in P-space, labels float32 ``(1, K)`` (1 fg, 0 bg, 2/3 box corners) ->
(low-res logits ``(1, 1, L, L)``, predicted IoU).

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
DecodePoints = Callable[[Any, np.ndarray, np.ndarray], tuple[np.ndarray, float]]
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
                 max_cache_bytes: int = 3 << 30, decode_points: DecodePoints | None = None):
        self.encode, self.decode, self.card = encode, decode, card
        self.decode_points = decode_points
        self.click_select = "iou"   # see _refine_slice: "iou" or "change"
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
        box = np.asarray(box_s, dtype=np.float32).reshape(1, 1, 4)
        low = np.asarray(self.decode(emb, box), dtype=np.float32)[0, 0]
        return self._to_mask(low, new_hw, hw)

    def _to_mask(self, low: np.ndarray, new_hw: tuple[int, int], hw: tuple[int, int]) -> np.ndarray:
        s = self.card.prompt_size
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
        segs = np.zeros(vol.shape, dtype=np.uint16)
        embed = self._slice_embedder(vol)
        for idx, box in enumerate(boxes, start=1):
            x0, y0, z0, x1, y1, z1 = (int(v) for v in box)
            z_mid = int((z1 - z0) / 2 + z0)
            self._track_box(embed, segs, idx, np.array([x0, y0, x1, y1]), z0, z1, z_mid)
        return segs

    def _slice_embedder(self, vol: np.ndarray) -> Callable[[int], tuple[Any, tuple[int, int]]]:
        """``embed(z)`` -> (embedding, resized extent) of slice z, cached per case."""
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

        return embed

    def _track_box(self, embed, segs: np.ndarray, idx: int, mid_box: np.ndarray, z0: int,
                   z1: int, z_mid: int) -> None:
        """The official per-box propagation: label ``idx`` written into ``segs`` on z0..z1."""
        s = self.card.prompt_size
        hw = segs.shape[1:]
        # the neighbour mask holds value idx as in the official uint8 temp volume
        lab_dtype = np.uint8 if idx < 256 else np.uint16

        def next_box(prev: np.ndarray | None) -> np.ndarray:
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

    # ---- interactive (CVPR25) --------------------------------------------------------------

    def _prompt_mask(self, emb: Any, new_hw: tuple[int, int], hw: tuple[int, int],
                     box_s: np.ndarray | None, pts: np.ndarray, labels: np.ndarray
                     ) -> tuple[np.ndarray, float]:
        """Mask (H, W) and predicted IoU for a box (P-space, or None) plus points
        ``pts`` (k, 2) ``(x, y)`` in P-space with ``labels`` (k,) 1 fg / 0 bg."""
        coords = [np.asarray(box_s, np.float32).reshape(2, 2)] if box_s is not None else []
        labs = [np.array([2.0, 3.0], np.float32)] if box_s is not None else []
        coords.append(np.asarray(pts, np.float32).reshape(-1, 2))
        labs.append(np.asarray(labels, np.float32).reshape(-1))
        c = np.concatenate(coords)[None]
        lab = np.concatenate(labs)[None]
        if c.shape[1] == 0:
            return np.zeros(hw, bool), 0.0
        low, iou = self.decode_points(emb, np.ascontiguousarray(c), np.ascontiguousarray(lab))
        return self._to_mask(np.asarray(low, np.float32)[0, 0], new_hw, hw), float(iou)

    def _to_p(self, yx: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
        """(k, 2) [y, x] pixel indices -> (k, 2) (x, y) in P-space (SAM's coordinate scaling)."""
        r = self.card.prompt_size / max(hw)
        return np.asarray(yx, np.float64)[:, ::-1] * r

    def _mask_box(self, mask: np.ndarray) -> np.ndarray:
        """P-space box of a non-empty (H, W) mask, as the propagation computes it."""
        s = self.card.prompt_size
        m = resize_longest(mask.astype(np.uint8), s)
        if m.max() == 0:  # a tiny mask vanished in the resize: box of its pixels
            ys, xs = np.nonzero(mask)
            r = s / max(mask.shape)
            return np.array([int(xs.min() * r), int(ys.min() * r), int(xs.max() * r),
                             int(ys.max() * r)], dtype=np.int64)
        return box_from_mask(pad_to(m, s), self.card.bbox_shift)

    def _refine_slice(self, emb: Any, new_hw: tuple[int, int], hw: tuple[int, int],
                      old: np.ndarray, box_s: np.ndarray | None, fg: np.ndarray, bg: np.ndarray,
                      new_click: tuple[str, np.ndarray]) -> np.ndarray:
        """Re-segment one slice from its clicks. old: bool (H, W) previous mask; box_s:
        the class's P-space box for this slice or None; fg/bg: (k, 2) [y, x] clicks on
        this slice; new_click: (kind, [y, x]) of this iteration.

        Candidates (all SAM prompts): the box with all the slice's clicks; the box
        enlarged to hold the fg clicks, with and without the clicks; for a fg click
        without a box, boxes of three sizes centred on it. The chosen candidate
        honours the new click and most other clicks, then has the highest predicted
        IoU (``click_select="iou"``) or changes the previous mask least (``"change"``). When no candidate honours the new click, the previous mask is edited
        locally: a fg click adds a disk, a bg click removes the mask's connected
        component under it (or a disk, when that component is the mask's largest).
        """
        s = self.card.prompt_size
        pts = np.concatenate([self._to_p(fg, hw), self._to_p(bg, hw)])
        labels = np.concatenate([np.ones(len(fg)), np.zeros(len(bg))])
        cands: list[tuple[np.ndarray, float]] = []
        boxes: list[np.ndarray | None] = []
        if box_s is not None:
            boxes.append(np.asarray(box_s, np.int64))
        if len(fg):
            fp = self._to_p(fg, hw)
            m = 4 * self.card.bbox_shift
            if box_s is not None:
                b = np.asarray(box_s, np.int64)
                grown = np.array([min(b[0], fp[:, 0].min() - m), min(b[1], fp[:, 1].min() - m),
                                  max(b[2], fp[:, 0].max() + m), max(b[3], fp[:, 1].max() + m)])
                boxes.append(np.clip(grown, 0, s).astype(np.int64))
            else:
                cx, cy = fp[-1]
                for half in (s // 32, s // 16, s // 8):
                    boxes.append(np.clip([cx - half, cy - half, cx + half, cy + half], 0, s
                                         ).astype(np.int64))
        for b in boxes:
            cands.append(self._prompt_mask(emb, new_hw, hw, b, pts, labels))
            if b is not None and len(pts):
                cands.append(self._prompt_mask(emb, new_hw, hw, b, pts[:0], labels[:0]))
        if box_s is None and not len(fg) and len(pts):
            cands.append(self._prompt_mask(emb, new_hw, hw, None, pts, labels))

        kind, (ny, nx) = new_click
        want = kind == "fg"
        best, best_key = None, None
        for mask, iou in cands:
            if bool(mask[ny, nx]) != want:
                continue
            ok = sum(bool(mask[y, x]) for y, x in fg) + sum(not mask[y, x] for y, x in bg)
            key = (ok, iou if self.click_select == "iou" else -int((mask ^ old).sum()))
            if best_key is None or key > best_key:
                best, best_key = mask, key
        if best is not None:
            return best
        return _local_edit(old, kind, int(ny), int(nx), self.card.bbox_shift)

    def predict_interactive(self, vol: np.ndarray, boxes: list, fg: list, bg: list,
                            order: list, prev_pred: np.ndarray | None) -> np.ndarray:
        """CVPR25 interactive prediction of one 3D case -> uint16 (D, H, W), labels 1..n.

        vol uint8 (D, H, W). Per class i (1-based, lists of equal length n): boxes[i-1]
        an object with ``z_min, z_max, z_mid, box`` (pixels) or None; fg/bg[i-1] int
        (k, 3) ``[z, y, x]`` clicks in the order given; order[i-1] the
        ``'fg'``/``'bg'``/None sequence whose last entry names this iteration's click.
        Without any click: the box iteration (classes without a box stay empty). With
        clicks: ``prev_pred`` (when absent: the box iteration's result) corrected around each class's new click. On
        the click's slice the applied change is the 8-connected part of SAM's change
        (additions for fg, removals for bg) under the click; a fg change takes no
        other class's pixels except the piece under the click; a bg change that
        would remove more than half of the slice's mask falls back to a local edit.
        Propagation applies, per neighbouring slice, the part of the change connected
        to the previous slice's; it stops where there is none, at the class's z
        range, when the change grows more than 3x (+64 px), when a bg change would
        remove more than half of the slice's mask or a fg change (class with a box)
        more than double it; on the click's slice those two fall back to a local edit.
        """
        d = vol.shape[0]
        hw = vol.shape[1:]
        s = self.card.prompt_size
        embed = self._slice_embedder(vol)
        clicked = any(len(f) or len(b) for f, b in zip(fg, bg))
        if prev_pred is not None and clicked and self.decode_points is None:
            return prev_pred.astype(np.uint16)  # no point decoder: keep what we had
        if prev_pred is None or not clicked:
            # the box iteration (also the start of a click iteration without prev_pred)
            segs = np.zeros(vol.shape, dtype=np.uint16)
            for idx, cb in enumerate(boxes, start=1):
                if cb is not None:
                    self._track_box(embed, segs, idx, np.array(cb.box), cb.z_min, cb.z_max,
                                    cb.z_mid)
            if not clicked or self.decode_points is None:
                return segs
        else:
            segs = prev_pred.astype(np.uint16)
        for idx in range(1, len(boxes) + 1):
            seq = order[idx - 1]
            kind = seq[-1] if len(seq) else None
            pool = fg[idx - 1] if kind == "fg" else bg[idx - 1] if kind == "bg" else None
            if pool is None or not len(pool):
                continue
            z, y, x = (int(v) for v in pool[-1])
            cb = boxes[idx - 1]
            z_lo, z_hi = (cb.z_min, cb.z_max) if cb is not None else (0, d - 1)
            old = segs == idx

            def slice_clicks(zz: int, idx: int = idx) -> tuple[np.ndarray, np.ndarray]:
                f, b = np.asarray(fg[idx - 1]).reshape(-1, 3), np.asarray(bg[idx - 1]).reshape(-1, 3)
                return f[f[:, 0] == zz][:, 1:], b[b[:, 0] == zz][:, 1:]

            emb, new_hw = embed(z)
            f, b = slice_clicks(z)
            if cb is not None and z == cb.z_mid:
                box_z = scale_box(np.array(cb.box), hw, s)  # the given box: the best prompt
            elif old[z].any():
                box_z = self._mask_box(old[z])
            else:
                box_z = scale_box(np.array(cb.box), hw, s) if cb is not None else None
            cur = self._refine_slice(emb, new_hw, hw, old[z], box_z, f, b, (kind, np.array([y, x])))
            seed = np.zeros(hw, bool)
            seed[y, x] = True
            # a fg correction takes no pixels from other classes, except the connected
            # piece under the click itself (the click says it is this class)
            other = (segs != idx) & (segs != 0)
            flip = _flip_region(old[z], cur & ~other[z], kind, seed)
            if kind == "fg" and other[z][y, x]:
                flip |= _flip_region(old[z], cur & other[z], kind, seed)
            if kind == "fg" and cb is not None and old[z].any() and flip.sum() > old[z].sum():
                # SAM would more than double the slice's object: likely a leak, add a disk
                flip = _local_edit(old[z], kind, y, x, self.card.bbox_shift) & ~old[z]
            if kind == "bg" and 2 * flip.sum() > old[z].sum():
                # SAM would erase most of the slice's object: remove only the part under the
                # click (its component when it is not the largest, else a small disk)
                flip = old[z] & ~_local_edit(old[z], kind, y, x, self.card.bbox_shift)
            new_z = old[z] | flip if kind == "fg" else old[z] & ~flip
            _write(segs, z, idx, new_z)
            for step in (1, -1):
                prev_m, prev_flip = new_z, flip
                zz = z + step
                while z_lo <= zz <= z_hi and prev_flip.any():
                    ref = prev_m if prev_m.any() else old[zz]
                    if not ref.any():
                        break
                    emb, new_hw = embed(zz)
                    f, b = slice_clicks(zz)
                    pts = np.concatenate([self._to_p(f, hw), self._to_p(b, hw)])
                    labels = np.concatenate([np.ones(len(f)), np.zeros(len(b))])
                    m, _ = self._prompt_mask(emb, new_hw, hw, self._mask_box(ref), pts, labels)
                    fl = _flip_region(old[zz], m & ~other[zz], kind, prev_flip)
                    if not fl.any() or fl.sum() > 3 * prev_flip.sum() + 64 or (
                            kind == "bg" and 2 * fl.sum() > old[zz].sum()) or (
                            kind == "fg" and cb is not None and old[zz].any()
                            and fl.sum() > old[zz].sum()):
                        break  # the error region ended (or SAM leaked, or would erase the object)
                    new_zz = old[zz] | fl if kind == "fg" else old[zz] & ~fl
                    _write(segs, zz, idx, new_zz)
                    prev_m, prev_flip = new_zz, fl
                    zz += step
        return segs

    def predict(self, imgs: np.ndarray, boxes: np.ndarray, dim: int) -> np.ndarray:
        return self.predict_2d(imgs, boxes) if dim == 2 else self.predict_3d(imgs, boxes)


def _write(segs: np.ndarray, z: int, idx: int, mask: np.ndarray) -> None:
    """Make ``mask`` the slice-z region of label idx (other labels are overwritten)."""
    sl = segs[z]
    sl[(sl == idx) & ~mask] = 0
    sl[mask] = idx


def _flip_region(old: np.ndarray, new: np.ndarray, kind: str, seed: np.ndarray) -> np.ndarray:
    """The part of a correction to apply: for a fg click the pixels ``new`` adds to
    ``old``, for a bg click those it removes, restricted to the 8-connected
    components that touch ``seed`` (the click, or the previous slice's flip)."""
    cand = (new & ~old) if kind == "fg" else (old & ~new)
    if not cand.any():
        return cand
    _, lab = cv2.connectedComponents(cand.astype(np.uint8), connectivity=8)
    ids = np.unique(lab[seed & cand])
    return np.isin(lab, ids[ids > 0])


def _local_edit(old: np.ndarray, kind: str, y: int, x: int, radius: int) -> np.ndarray:
    """Fallback when SAM ignores a click: fg adds a disk of ``radius`` px at (y, x);
    bg removes the connected component of ``old`` under the click, or a disk when
    that component is the mask's largest (so the object itself is kept)."""
    h, w = old.shape
    yy, xx = np.ogrid[:h, :w]
    disk = (yy - y) ** 2 + (xx - x) ** 2 <= max(1, radius) ** 2
    if kind == "fg":
        return old | disk
    n, lab = cv2.connectedComponents(old.astype(np.uint8), connectivity=8)
    comp = lab[y, x]
    if comp == 0:
        return old
    sizes = np.bincount(lab.ravel(), minlength=n)
    sizes[0] = 0
    if n > 2 and sizes[comp] < sizes.max():
        return old & (lab != comp)
    return old & ~disk
