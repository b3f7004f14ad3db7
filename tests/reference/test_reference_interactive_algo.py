"""The interactive (CVPR25) algorithm of common/sam_algo.py with a fake network.

The fake decoders label the bright pixels inside the prompt box; the point
decoder also adds the bright pixels within 10 px of a fg click, removes
everything within 10 px of a bg click and, without a box, keeps the bright
pixels within 30 px of the fg clicks. So the output shows which prompts the
algorithm gave on every slice.
"""

from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="sam_algo needs OpenCV (opencv-python-headless)")

from case_io import ClassBox
from sam_algo import Card, SamBoxPredictor

S = 256


def _disk(cx, cy, r):
    yy, xx = np.mgrid[:S, :S]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def fake_net(calls):
    def encode(x):
        calls.append(1)
        return x.copy()

    def box_region(emb, x0, y0, x1, y1):
        yy, xx = np.mgrid[:S, :S]
        return (xx >= x0) & (xx <= x1) & (yy >= y0) & (yy <= y1) & (emb[0, 0] > 0.5)

    def decode(emb, box):
        m = box_region(emb, *box[0, 0])
        return np.where(m, 1.0, -1.0)[None, None].astype(np.float32)

    def decode_points(emb, coords, labels):
        c, lab = coords[0], labels[0]
        bright = emb[0, 0] > 0.5
        if (lab == 2).any():
            (x0, y0), (x1, y1) = c[lab == 2][0], c[lab == 3][0]
            m = box_region(emb, x0, y0, x1, y1)
        else:
            m = np.zeros((S, S), bool)
            for x, y in c[lab == 1]:
                m |= bright & _disk(x, y, 30)
        for x, y in c[lab == 1]:
            m |= bright & _disk(x, y, 10)
        for x, y in c[lab == 0]:
            m &= ~_disk(x, y, 10)
        return np.where(m, 1.0, -1.0)[None, None].astype(np.float32), 0.9

    return encode, decode, decode_points


def blob_volume(d=9):
    """Bright 40x40 square on every slice plus a bright 16x16 satellite at x 150..165."""
    vol = np.zeros((d, S, S), np.uint8)
    vol[:, 100:140, 60:100] = 255
    vol[:, 110:126, 150:166] = 255
    return vol


def predictor(calls):
    enc, dec, dpts = fake_net(calls)
    return SamBoxPredictor(enc, dec, Card(), decode_points=dpts)


def run(p, vol, boxes, fg=None, bg=None, order=None, prev=None):
    n = len(boxes)
    empty = np.zeros((0, 3), np.int64)
    fg = fg or [empty] * n
    bg = bg or [empty] * n
    order = order or [()] * n
    return p.predict_interactive(vol, boxes, [np.asarray(f).reshape(-1, 3) for f in fg],
                                 [np.asarray(b).reshape(-1, 3) for b in bg], order, prev)


def test_box_iteration_is_the_box_propagation_from_the_given_z_mid():
    vol = blob_volume()
    calls = []
    p = predictor(calls)
    cb = ClassBox(z_min=1, z_max=7, z_mid=4, box=(60, 100, 99, 139))
    segs = run(p, vol, [cb])
    ref = SamBoxPredictor(*fake_net([])[:2], Card()).predict(
        vol, np.array([[60, 100, 1, 99, 139, 7]]), dim=3)  # z_mid = int(6/2 + 1) = 4
    assert (segs == ref).all() and (segs[1:8, 100:140, 60:100] == 1).all()
    assert not segs[0].any() and not segs[8].any() and len(calls) == 7


def test_fg_click_adds_the_missed_region_and_untouched_slices_keep_prev_pred():
    vol = blob_volume()
    cb = ClassBox(z_min=0, z_max=8, z_mid=4, box=(60, 100, 99, 139))
    prev = np.zeros(vol.shape, np.uint16)
    prev[:, 100:140, 60:100] = 1          # the square found on every slice
    prev[0, 0:5, 0:5] = 1                 # a mark far away: must survive (untouched slice)
    calls = []
    # fg click on the satellite, on slice 4: it is bright but outside the box
    segs = run(predictor(calls), vol, [cb], fg=[[[4, 118, 158]]], order=[("fg",)], prev=prev)
    assert segs[4, 118, 158] == 1 and (segs[4, 100:140, 60:100] == 1).all()
    # the correction propagated to the neighbours (the satellite is there on every slice)
    assert (segs[3, 110:126, 150:166] == 1).sum() > 100 and (segs[5, 110:126, 150:166] == 1).sum() > 100
    assert len(calls) <= 9  # each slice encoded at most once
    far = [z for z in range(9) if not (segs[z, 110:126, 150:166] == 1).any()]
    for z in far:  # slices the correction did not reach keep prev_pred exactly
        assert (segs[z] == prev[z]).all(), z


def test_bg_click_removes_a_false_positive_and_propagation_stops_where_it_ends():
    vol = blob_volume()
    cb = ClassBox(z_min=0, z_max=8, z_mid=4, box=(60, 100, 99, 139))
    prev = np.zeros(vol.shape, np.uint16)
    prev[:, 100:140, 60:100] = 1
    prev[3:6, 110:126, 150:166] = 1       # the satellite wrongly included on slices 3..5
    calls = []
    segs = run(predictor(calls), vol, [cb], bg=[[[4, 118, 158]]], order=[("bg",)], prev=prev)
    assert segs[4, 118, 158] == 0 and not segs[3:6, 110:126, 150:166].any()
    assert (segs[:, 100:140, 60:100] == 1).all()
    # slices 2 and 6 hold no false positive: the correction ends there, 0,1,7,8 never needed
    assert len(calls) <= 5


def test_class_without_a_box_is_segmented_from_a_click_alone():
    vol = np.zeros((12, S, S), np.uint8)
    vol[2:9, 60:76, 60:76] = 255          # a tube through slices 2..8
    prev = np.zeros(vol.shape, np.uint16)  # iteration 1 was skipped: nothing yet
    segs = run(predictor([]), vol, [None], fg=[[[5, 68, 68]]], order=[("fg",)], prev=prev)
    assert (segs[2:9, 60:76, 60:76] == 1).all()
    assert not segs[:2].any() and not segs[9:].any()


def test_class_without_a_new_click_is_left_alone_and_fallback_honours_the_click():
    vol = blob_volume()
    cb = ClassBox(z_min=0, z_max=8, z_mid=4, box=(60, 100, 99, 139))
    prev = np.zeros(vol.shape, np.uint16)
    prev[:, 100:140, 60:100] = 1
    prev[:, 10:20, 10:20] = 2
    # class 2's last entry is None (already perfect): its region is kept as it was;
    # class 1 gets a fg click on a dark pixel, which no SAM candidate covers
    segs = run(predictor([]), vol, [cb, None], fg=[[[4, 50, 200]], [[1, 15, 15]]],
               order=[("fg",), ("fg", None)], prev=prev)
    assert (segs[:, 10:20, 10:20] == 2).all()
    assert segs[4, 50, 200] == 1  # the local fallback: a small disk at the click


def test_click_without_prev_pred_starts_from_the_box_iteration():
    vol = blob_volume()
    cb = ClassBox(z_min=0, z_max=8, z_mid=4, box=(60, 100, 99, 139))
    calls = []
    segs = run(predictor(calls), vol, [cb], fg=[[[4, 118, 158]]], order=[("fg",)], prev=None)
    assert (segs[:, 100:140, 60:100] == 1).all() and segs[4, 118, 158] == 1
    assert len(calls) == 9  # the box iteration's slices, each encoded once
