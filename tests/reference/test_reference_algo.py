"""The official LiteMedSAM algorithm (common/sam_algo.py) with a fake network.

The fake encoder passes the pre-processed image through; the fake decoder
returns logit +1 where the image is bright AND inside the prompt box, -1
elsewhere. So what gets labelled shows exactly which box the algorithm chose
on every slice (propagation, 3 px widening, middle-box fallback, z range).
"""

from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="sam_algo needs OpenCV (opencv-python-headless)")

from sam_algo import Card, SamBoxPredictor, resized_shape, scale_box

S = 256


def fake_net():
    def encode(x):
        return x.copy()

    def decode(emb, box):
        x0, y0, x1, y1 = box[0, 0]
        yy, xx = np.mgrid[:S, :S]
        inside = (xx >= x0) & (xx <= x1) & (yy >= y0) & (yy <= y1)
        return np.where(inside & (emb[0, 0] > 0.5), 1.0, -1.0)[None, None].astype(np.float32)

    return encode, decode


def drifting_square(d=9, size=256, step=2):
    """(d, size, size) uint8: a 40 px bright square moving +step px in x per slice."""
    vol = np.zeros((d, size, size), np.uint8)
    for z in range(d):
        x = 60 + step * z
        vol[z, 100:140, x:x + 40] = 255
    return vol


def test_propagation_follows_the_object_both_ways():
    vol = drifting_square()
    mid = 4
    # the prompt box is tight around the middle slice's square only
    box = np.array([[60 + 2 * mid, 100, 0, 60 + 2 * mid + 39, 139, 8]])
    p = SamBoxPredictor(*fake_net(), Card())
    segs = p.predict(vol, box, dim=3)
    for z in range(9):
        # every slice's full square is found: the box follows the neighbour mask (+3 px)
        assert (segs[z] == 1).sum() == (vol[z] > 0).sum(), z
    # the middle box alone would cut the far slices' squares (drift 8 px > 3 px widening)
    assert (vol[0][:, 60 + 2 * mid:60 + 2 * mid + 40] > 0).sum() < (vol[0] > 0).sum()


def test_empty_neighbour_falls_back_to_the_middle_box():
    vol = np.zeros((7, 256, 256), np.uint8)
    vol[[2, 3, 5, 6], 100:140, 100:140] = 255   # slice 4 (above the middle) is empty
    box = np.array([[100, 100, 0, 139, 139, 6]])  # z_mid = 3
    segs = SamBoxPredictor(*fake_net(), Card()).predict(vol, box, dim=3)
    assert (segs[4] == 1).sum() == 0
    assert (segs[5] == 1).sum() == 1600 and (segs[6] == 1).sum() == 1600  # middle box again
    assert (segs[2] == 1).sum() == 1600


def test_z_range_is_inclusive_and_bounded():
    vol = np.zeros((10, 64, 64), np.uint8)
    vol[:, 5:40, 5:40] = 255
    box = np.array([[10, 10, 2, 30, 30, 6]])
    segs = SamBoxPredictor(*fake_net(), Card()).predict(vol, box, dim=3)
    labelled = [z for z in range(10) if (segs[z] == 1).any()]
    assert labelled == [2, 3, 4, 5, 6]


def test_embedding_cache_same_result_fewer_encoder_runs():
    vol = drifting_square(d=9)
    boxes = np.array([[70, 100, 0, 120, 139, 8], [60, 95, 2, 110, 145, 6]])
    cached = SamBoxPredictor(*fake_net(), Card(), cache_embeddings=True)
    plain = SamBoxPredictor(*fake_net(), Card(), cache_embeddings=False)
    a, b = cached.predict(vol, boxes, 3), plain.predict(vol, boxes, 3)
    assert np.array_equal(a, b) and a.dtype == np.uint16
    assert cached.encoder_calls == 9            # each slice once per case
    assert plain.encoder_calls == 9 + 5         # the baseline: every slice for every box


def test_2d_multibox_scaling_and_overwrite():
    img = np.zeros((300, 200, 3), np.uint8)
    img[50:250, 40:160] = 200
    boxes = np.array([[40, 50, 159, 249], [60, 60, 100, 100]])
    segs = SamBoxPredictor(*fake_net(), Card()).predict(img, boxes, dim=2)
    assert segs.shape == (300, 200) and segs.dtype == np.uint16
    assert (segs == 2).any() and (segs == 1).any()
    assert not (segs[70:90, 70:90] == 1).any()  # the later box overwrites the earlier one
    assert resized_shape(300, 200, 256) == (256, 171)  # int(200 * 256 / 300 + 0.5)
    assert list(scale_box(np.array([40, 50, 159, 249]), (300, 200), 256)) == [34, 42, 135, 212]


def test_prompt_space_differs_from_encoder_input():
    """EfficientViT-SAM style card: encoder at S=128, boxes/crop in P=256, logits L=64."""
    card = Card(input_size=128, box_size=256)

    def encode(x):
        assert x.shape == (1, 3, 128, 128)
        return x.copy()

    def decode(emb, box):
        x0, y0, x1, y1 = box[0, 0]  # P-space (256)
        c = (np.arange(64) + 0.5) * 4  # low-res cell centres in P-space
        inside = (c[None, :] >= x0) & (c[None, :] <= x1) & (c[:, None] >= y0) & (c[:, None] <= y1)
        bright = emb[0, 0][::2, ::2] > 0.5  # 128 -> 64
        return np.where(inside & bright, 4.0, -4.0)[None, None].astype(np.float32)

    img = np.zeros((200, 300, 3), np.uint8)
    img[40:120, 60:200] = 220
    img[150:190, 220:280] = 220
    boxes = np.array([[60, 40, 199, 119], [220, 150, 279, 189]])
    segs = SamBoxPredictor(encode, decode, card).predict(img, boxes, dim=2)
    for i, (x0, y0, x1, y1) in enumerate(boxes, start=1):
        truth = np.zeros(img.shape[:2], bool)
        truth[y0:y1 + 1, x0:x1 + 1] = True
        got = segs == i
        dsc = 2 * (got & truth).sum() / (got.sum() + truth.sum())
        assert dsc > 0.95, (i, dsc)
    assert card.prompt_size == 256 and Card().prompt_size == 256
