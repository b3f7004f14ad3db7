"""Click simulation of the CVPR 2025 interactive protocol (evalkit/runner/clicks.py).

The reference below is a direct, full-array transcription of the official
steps (CVPR25_iter_eval.py, commit 748e862: 26-connected components, the padded
EDT crop, 2x2x2 block-max downsampling, ``np.random.seed(42)`` + ``choice``),
with scipy's labelling in place of cc3d (their numbering is checked against
cc3d's own output in ``test_scipy_numbers_components_like_cc3d``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from evalkit.runner.clicks import (
    Click,
    ClickHistory,
    ClickSettings,
    case_labels,
    largest_component,
    max_pool2,
    next_clicks,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "cvpr25"


# ---- the reference: the official steps on the full array --------------------------------------

def _block_max(a: np.ndarray) -> np.ndarray:
    """skimage.measure.block_reduce(a, (2, 2, 2), np.max): zero-pad the far end, take block maxima."""
    out_shape = [-(-n // 2) for n in a.shape]
    padded = np.zeros([2 * n for n in out_shape], dtype=a.dtype)
    padded[: a.shape[0], : a.shape[1], : a.shape[2]] = a
    out = np.zeros(out_shape, dtype=a.dtype)
    for dz in (0, 1):
        for dy in (0, 1):
            for dx in (0, 1):
                out = np.maximum(out, padded[dz::2, dy::2, dx::2])
    return out


def _reference_edt(component: np.ndarray, max_voxels: int) -> np.ndarray:
    coords = np.argwhere(component)
    lo, hi = coords.min(axis=0), coords.max(axis=0) + 1
    crop = hi - lo
    pad = np.maximum((crop * 0.25).astype(int), 1)
    center = np.zeros(crop + 2 * pad, dtype=np.uint8)
    center[pad[0]:pad[0] + crop[0], pad[1]:pad[1] + crop[1], pad[2]:pad[2] + crop[2]] = \
        component[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    large = center.shape[0] * center.shape[1] * center.shape[2] > max_voxels
    if large:
        center = _block_max(center)
    edt = ndimage.distance_transform_edt(center)
    if large:
        edt = edt.repeat(2, axis=0).repeat(2, axis=1).repeat(2, axis=2)
    cropped = edt[pad[0]:pad[0] + crop[0], pad[1]:pad[1] + crop[1], pad[2]:pad[2] + crop[2]]
    full = np.zeros(component.shape, dtype=cropped.dtype)
    full[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = cropped
    return full


def reference_clicks(segs, gts, max_voxels=60_000_000, uint8=True):
    """[(label, kind, zyx)] as the official loop makes them (global RNG saved and restored)."""
    segs = np.zeros_like(gts, dtype=np.uint8) if segs is None else (segs.astype(np.uint8) if uint8 else segs)
    out = []
    state = np.random.get_state()
    try:
        for cls in sorted(np.unique(gts))[1:]:
            s_c = (segs == cls).astype(np.uint8)
            g_c = (gts == cls).astype(np.uint8)
            error = (s_c != g_c).astype(np.uint8)
            if error.sum() == 0:
                out.append((int(cls), None, None))
                continue
            labels, _ = ndimage.label(error, structure=np.ones((3, 3, 3)))
            sizes = np.bincount(labels.flat)
            sizes[0] = 0
            comp = labels == np.argmax(sizes)
            edt = _reference_edt(comp, max_voxels)
            edt *= comp
            if np.sum(edt) == 0:
                edt = comp
            np.random.seed(42)
            cands = np.argwhere(edt == edt.max())
            center = tuple(int(v) for v in cands[np.random.choice(len(cands))])
            out.append((int(cls), "bg" if g_c[center] == 0 else "fg", center))
    finally:
        np.random.set_state(state)
    return out


def _as_tuples(clicks):
    return [(c.label, c.kind, c.zyx) for c in clicks]


def _random_case(rng, shape=(12, 20, 22), n=3):
    gts = np.zeros(shape, dtype=np.uint8)
    for lab in range(1, n + 1):
        c = rng.integers(2, np.array(shape) - 2)
        r = rng.integers(2, 5, 3)
        zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
        gts[((zz - c[0]) / r[0]) ** 2 + ((yy - c[1]) / r[1]) ** 2 + ((xx - c[2]) / r[2]) ** 2 <= 1] = lab
    segs = gts.copy()
    noise = rng.random(shape)
    segs[noise < 0.03] = rng.integers(0, n + 1)
    segs = ndimage.shift(segs, (0, 1, -1), order=0)
    return segs, gts


# ---- against the reference ----------------------------------------------------------------------

def test_random_cases_match_the_reference():
    rng = np.random.default_rng(7)
    for _ in range(25):
        segs, gts = _random_case(rng)
        assert _as_tuples(next_clicks(segs, gts)) == reference_clicks(segs, gts)


def test_downsampled_edt_path_matches_the_reference():
    rng = np.random.default_rng(3)
    settings = ClickSettings(max_edt_voxels=50)  # every padded box is "too large"
    hit = 0
    for _ in range(15):
        segs, gts = _random_case(rng, shape=(13, 19, 21))
        ours = _as_tuples(next_clicks(segs, gts, settings))
        assert ours == reference_clicks(segs, gts, max_voxels=50)
        hit += ours != reference_clicks(segs, gts)
    assert hit > 0, "the downsampling path never changed a click: the test does not exercise it"


def test_max_pool2_is_block_max_with_zero_padding():
    rng = np.random.default_rng(0)
    for shape in ((4, 6, 8), (5, 7, 3), (1, 1, 1), (3, 2, 9)):
        a = rng.integers(0, 5, shape).astype(np.uint8)
        assert np.array_equal(max_pool2(a), _block_max(a))


# ---- conventions ---------------------------------------------------------------------------------

def test_empty_previous_prediction_is_zeros_and_every_click_is_fg_at_the_centre():
    gts = np.zeros((9, 11, 11), dtype=np.uint8)
    gts[2:7, 3:8, 3:8] = 1        # a 5x5x5 cube: unique deepest voxel (4, 5, 5)
    gts[0:2, 0:2, 9:11] = 3       # labels need not be 1..n
    clicks = next_clicks(None, gts)
    assert [c.label for c in clicks] == [1, 3]
    assert clicks[0] == Click(1, "fg", (4, 5, 5))
    assert clicks[1].kind == "fg"
    assert _as_tuples(clicks) == reference_clicks(None, gts)
    assert next_clicks(np.zeros_like(gts), gts) == clicks


def test_a_perfect_class_gets_no_click():
    gts = np.zeros((6, 8, 8), dtype=np.uint8)
    gts[1:4, 1:4, 1:4] = 1
    gts[2:5, 5:8, 5:8] = 2
    segs = gts.copy()
    segs[segs == 2] = 0
    clicks = next_clicks(segs, gts)
    assert clicks[0] == Click(1, None, None)
    assert clicks[1].kind == "fg" and clicks[1].label == 2


def test_oversegmentation_gives_a_bg_click_inside_the_error():
    gts = np.zeros((8, 12, 12), dtype=np.uint8)
    gts[2:5, 2:5, 2:5] = 1
    segs = gts.copy()
    segs[1:8, 6:12, 6:12] = 1      # a large false-positive slab
    (click,) = next_clicks(segs, gts)
    assert click.kind == "bg" and gts[click.zyx] == 0 and segs[click.zyx] == 1
    assert _as_tuples([click]) == reference_clicks(segs, gts)


def test_equal_components_tie_to_the_first_in_raster_order():
    gts = np.zeros((5, 10, 20), dtype=np.uint8)
    gts[1:4, 2:5, 2:5] = 1
    gts[1:4, 2:5, 12:15] = 1       # same size, later in C order
    comp = largest_component(gts == 1)
    assert comp[2, 3, 3] and not comp[2, 3, 13]
    # swapped along the first axis: the first voxel in C order decides, not the position along x
    gts2 = np.zeros((12, 10, 20), dtype=np.uint8)
    gts2[7:10, 2:5, 2:5] = 1
    gts2[1:4, 2:5, 12:15] = 1
    comp2 = largest_component(gts2 == 1)
    assert comp2[2, 3, 13] and not comp2[8, 3, 3]
    assert next_clicks(None, gts)[0].zyx == (2, 3, 3)


def test_edt_ties_use_the_seeded_draw_over_c_order():
    gts = np.zeros((3, 6, 12), dtype=np.uint8)
    gts[1, 1:5, 1:11] = 1          # one slice thick: many voxels share the maximum distance
    (click,) = next_clicks(None, gts)
    dist = ndimage.distance_transform_edt(np.pad(gts == 1, 1)) [1:-1, 1:-1, 1:-1]
    cands = np.argwhere(dist == dist.max())
    assert len(cands) > 1
    pick = tuple(int(v) for v in cands[np.random.RandomState(42).choice(len(cands))])
    assert click.zyx == pick
    assert _as_tuples([click]) == reference_clicks(None, gts)
    other = next_clicks(None, gts, ClickSettings(seed=1))[0]
    assert other.zyx == tuple(int(v) for v in cands[np.random.RandomState(1).choice(len(cands))])


def test_global_random_state_is_untouched():
    rng = np.random.default_rng(1)
    segs, gts = _random_case(rng)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    next_clicks(segs, gts)
    assert np.array_equal(np.random.get_state()[1], before)


def test_uint8_wrap_of_the_previous_prediction():
    gts = np.zeros((6, 8, 8), dtype=np.uint16)
    gts[1:5, 2:6, 2:6] = 1
    segs = gts.astype(np.uint16) * 257   # 257 reads as 1 after the official uint8 cast
    assert next_clicks(segs, gts) == [Click(1, None, None)]
    strict = next_clicks(segs, gts, ClickSettings(uint8_prev=False))
    assert strict[0].kind == "fg"
    assert _as_tuples(strict) == reference_clicks(segs, gts, uint8=False)
    assert _as_tuples(next_clicks(segs, gts)) == reference_clicks(segs, gts)


def test_no_labels_and_bad_shapes():
    assert next_clicks(None, np.zeros((2, 3, 4), dtype=np.uint8)) == []
    with pytest.raises(ValueError, match="3D"):
        next_clicks(None, np.zeros((3, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="shape"):
        next_clicks(np.zeros((2, 3, 3), np.uint8), np.ones((2, 3, 4), np.uint8))
    assert case_labels(np.array([[[0, 5, 2, 5]]])) == [2, 5]


def test_scipy_numbers_components_like_cc3d():
    """tests/data/cvpr25/cc3d_labels.npz: random masks with cc3d 4.1.1's own 26-connected labels."""
    with np.load(DATA / "cc3d_labels.npz") as f:
        n = int(f["n"])
        for i in range(n):
            mask, expected = f[f"mask_{i}"], f[f"cc3d_{i}"]
            ours, _ = ndimage.label(mask, structure=np.ones((3, 3, 3)))
            assert np.array_equal(ours, expected), i


# ---- the history ---------------------------------------------------------------------------------

def test_history_members_and_json_round_trip():
    h = ClickHistory([1, 2])
    h.add([Click(1, "fg", (1, 2, 3)), Click(2, None, None)])
    h.add([Click(1, "bg", (4, 5, 6)), Click(2, "fg", (7, 8, 9))])
    h.add([Click(1, "fg", (0, 0, 1)), Click(2, "fg", (7, 8, 9))])
    m = h.to_members()
    assert m["clicks"] == [{"fg": [[1, 2, 3], [0, 0, 1]], "bg": [[4, 5, 6]]},
                           {"fg": [[7, 8, 9], [7, 8, 9]], "bg": []}]
    assert m["clicks_order"] == [["fg", "bg", "fg"], [None, "fg", "fg"]]
    assert all(type(v) is int for d in m["clicks"] for k in d for p in d[k] for v in p)
    assert all(type(v) is np.int64 for p in h.to_members(numpy_scalars=True)["clicks"][0]["fg"] for v in p)
    text = h.to_json()
    assert isinstance(text, str) and "\n" not in text and text == h.to_json()
    doc = json.loads(text)
    assert doc == h.to_dict() and ClickHistory.from_dict(doc) == h
    assert doc["labels"] == [1, 2] and [it["iteration"] for it in doc["iterations"]] == [2, 3, 4]
    assert doc["iterations"][0]["clicks"][1] == {"label": 2, "kind": None, "zyx": None}
    back = ClickHistory.from_json(text)
    assert ClickHistory.from_json(doc) == back
    assert back == h and back.to_members() == m
    again = ClickHistory.from_iterations([1, 2], [its for _, its in h.iterations])
    assert again == h
    # np.savez's view of the members: clicks 1-D object, clicks_order (classes, iterations)
    assert np.asanyarray(m["clicks_order"]).shape == (2, 3)
    assert np.asanyarray(m["clicks"]).shape == (2,)


def test_history_refuses_clicks_for_other_labels_and_bad_clicks():
    h = ClickHistory([1, 2])
    with pytest.raises(ValueError, match="labels"):
        h.add([Click(1, "fg", (0, 0, 0))])
    with pytest.raises(ValueError, match="kind"):
        Click(1, "up", (0, 0, 0))
    with pytest.raises(ValueError, match="position"):
        Click(1, "fg", None)


def test_max_pool2_equals_skimage_block_reduce():
    """tests/data/cvpr25/block_reduce.npz: skimage 0.26.0 block_reduce(mask, (2, 2, 2), np.max) outputs."""
    with np.load(DATA / "block_reduce.npz") as f:
        for i in range(int(f["n"])):
            assert np.array_equal(max_pool2(f[f"mask_{i}"]), f[f"reduced_{i}"]), i
