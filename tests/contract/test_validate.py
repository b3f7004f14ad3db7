"""Validation of inputs, ground truth and predictions: each violation has its reason."""

from __future__ import annotations

import numpy as np
import pytest
from contract_helpers import assert_names, write_2d, write_3d

from evalkit.contract import (
    Case,
    CaseInput,
    ContractError,
    GroundTruth,
    load_gt,
    load_input,
    load_prediction,
)


def _input_error(path, **kw) -> ContractError:
    with pytest.raises(ContractError) as info:
        load_input(path, **kw)
    return info.value


# ---------------------------------------------------------------- valid round trips


def test_valid_2d_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    boxes = np.array([[0, 0, 8, 6], [2, 1, 4, 3]], dtype=np.int32)
    path = tmp_path / "2DBox_Endoscopy_0001.npz"
    np.savez_compressed(path, imgs=imgs, boxes=boxes, spacing=np.array([1.0, 1.0]))
    inp = load_input(path)
    assert isinstance(inp, CaseInput)
    assert inp.dim == 2 and inp.spacing is None and inp.n_instances == 2
    assert inp.spatial_shape == (7, 9)
    np.testing.assert_array_equal(inp.imgs, imgs)
    np.testing.assert_array_equal(inp.boxes, boxes)
    assert inp.boxes.dtype == np.int32  # as stored, not converted

    gts = np.zeros((7, 9), np.uint8)
    gts[1:4, 2:5] = 2
    np.savez_compressed(tmp_path / "gt.npz", gts=gts)
    gt = load_gt(tmp_path / "gt.npz", 2, inp.imgs.shape, n_boxes=2)
    assert isinstance(gt, GroundTruth) and gt.spacing is None
    np.testing.assert_array_equal(gt.gts, gts)

    for dtype in (np.uint8, np.uint16):
        np.savez_compressed(tmp_path / "pred.npz", segs=gts.astype(dtype))
        segs = load_prediction(tmp_path / "pred.npz", inp.spatial_shape)
        assert segs.dtype == dtype
        np.testing.assert_array_equal(segs, gts)


def test_valid_3d_round_trip(tmp_path):
    path = write_3d(tmp_path / "3DBox_PET_0001.npz", d=5, h=10, w=12)
    case = Case("3DBox_PET_0001", "PET", 3, path, None)
    inp = load_input(case)
    assert inp.dim == 3 and inp.spatial_shape == (5, 10, 12)
    np.testing.assert_array_equal(inp.spacing, [2.5, 0.8, 0.8])  # stored order, untouched
    gts = np.zeros((5, 10, 12), np.uint16)
    gts[0:5, 2:9, 1:8] = 1
    np.savez_compressed(tmp_path / "gt.npz", gts=gts, spacing=np.array([2.5, 0.8, 0.8]))
    gt = load_gt(tmp_path / "gt.npz", 3, inp.spatial_shape, n_boxes=1)
    np.testing.assert_array_equal(gt.spacing, [2.5, 0.8, 0.8])
    np.savez_compressed(tmp_path / "pred.npz", segs=gts)
    assert load_prediction(tmp_path / "pred.npz", inp.spatial_shape).shape == (5, 10, 12)


def test_case_dim_from_case_object_beats_the_name(tmp_path):
    path = write_3d(tmp_path / "case_0001.npz")  # name would say 2D
    assert load_input(Case("case_0001", "CT", 3, path, None)).dim == 3
    assert load_input(path, dim=3).dim == 3
    assert _input_error(path).reason == "bad_shape"  # parsed as 2D: (D, H, W) is not (H, W, 3)


# ---------------------------------------------------------------- inputs


def test_wrong_key(tmp_path):
    path = tmp_path / "2DBox_CT_0002.npz"
    np.savez_compressed(path, img=np.zeros((4, 4, 3), np.uint8), boxes=np.array([[0, 0, 1, 1]]))
    err = _input_error(path)
    assert err.reason == "missing_key"
    assert_names(err, "2DBox_CT_0002", path, "imgs")


def test_3d_without_spacing(tmp_path):
    path = tmp_path / "3DBox_CT_0003.npz"
    np.savez_compressed(path, imgs=np.zeros((2, 4, 4), np.uint8), boxes=np.array([[0] * 6]))
    err = _input_error(path)
    assert err.reason == "missing_key"
    assert_names(err, "3DBox_CT_0003", path, "spacing")


@pytest.mark.parametrize(
    ("imgs", "reason"),
    [
        (np.zeros((12, 16, 3), np.float32), "bad_dtype"),
        (np.zeros((12, 16, 3), np.uint16), "bad_dtype"),
        (np.zeros((12, 16), np.uint8), "bad_shape"),
        (np.zeros((12, 16, 4), np.uint8), "bad_shape"),
        (np.zeros((3, 12, 16), np.uint8), "bad_shape"),
    ],
)
def test_2d_imgs_dtype_and_shape(tmp_path, imgs, reason):
    path = write_2d(tmp_path / "2DBox_CT_0004.npz", imgs=imgs, boxes=np.array([[0, 0, 1, 1]]))
    err = _input_error(path)
    assert err.reason == reason
    assert_names(err, "2DBox_CT_0004", path, "imgs")
    assert str(imgs.dtype) in str(err)


def test_3d_imgs_wrong_rank(tmp_path):
    path = write_3d(tmp_path / "3DBox_CT_0005.npz", imgs=np.zeros((4, 10, 12, 1), np.uint8))
    err = _input_error(path)
    assert err.reason == "bad_shape"
    assert "(D, H, W)" in str(err) and "(4, 10, 12, 1)" in str(err)


def test_float_boxes_message(tmp_path):
    boxes = np.array([[1, 2, 0, 8, 9, 3]] * 3, dtype=np.float32)
    path = write_3d(tmp_path / "3DBox_CT_0001.npz", boxes=boxes)
    err = _input_error(path)
    assert err.reason == "bad_dtype"
    assert_names(err, "3DBox_CT_0001", path, "boxes")
    assert "(N, 6)" in str(err) and "float32 (3, 6)" in str(err) and "int64" in str(err)


@pytest.mark.parametrize(
    "boxes",
    [
        np.array([[0, 0, 5, 5, 1, 1]]),  # 6 columns in 2D
        np.array([0, 0, 5, 5]),  # 1-D
        np.zeros((0, 4), np.int64),  # no boxes
        np.array([[True, False, True, True]]),  # bool is not an integer box
    ],
)
def test_2d_box_shapes(tmp_path, boxes):
    path = write_2d(tmp_path / "2DBox_CT_0006.npz", boxes=boxes)
    err = _input_error(path)
    assert err.reason in ("bad_shape", "bad_dtype")
    assert_names(err, "2DBox_CT_0006", path, "boxes")


def test_too_many_boxes(tmp_path):
    path = write_2d(tmp_path / "2DBox_CT_0007.npz", boxes=np.array([[0, 0, 1, 1]] * 5))
    err = _input_error(path, limits={"max_instances": 4})
    assert err.reason == "bad_shape"
    assert "5 boxes" in str(err)
    assert load_input(path, limits={"max_instances": 5}).n_instances == 5


@pytest.mark.parametrize(
    ("box", "axis"),
    [
        ([0, 0, 16, 5], "x"),  # x_max == W (16): out of bounds, indices are inclusive
        ([0, 0, 5, 12], "y"),  # y_max == H
        ([-1, 0, 5, 5], "x"),
    ],
)
def test_2d_box_out_of_bounds(tmp_path, box, axis):
    path = write_2d(tmp_path / "2DBox_CT_0008.npz", boxes=np.array([[0, 0, 1, 1], box]))
    err = _input_error(path)
    assert err.reason == "bad_box"
    assert_names(err, "2DBox_CT_0008", path, "boxes")
    assert f"0 <= {axis} <" in str(err) and "row 1" in str(err)


def test_2d_box_on_the_last_pixel_is_fine(tmp_path):
    path = write_2d(tmp_path / "2DBox_CT_0009.npz", boxes=np.array([[15, 11, 15, 11]]))
    assert load_input(path).n_instances == 1


def test_3d_z_min_above_z_max(tmp_path):
    path = write_3d(tmp_path / "3DBox_CT_0010.npz", boxes=np.array([[1, 2, 3, 8, 9, 2]]))
    err = _input_error(path)
    assert err.reason == "bad_box"
    assert_names(err, "3DBox_CT_0010", path, "boxes")
    assert "z_min <= z_max" in str(err)


def test_3d_z_out_of_bounds(tmp_path):
    path = write_3d(tmp_path / "3DBox_CT_0011.npz", d=4, boxes=np.array([[1, 2, 0, 8, 9, 4]]))
    err = _input_error(path)
    assert err.reason == "bad_box"
    assert "0 <= z < 4" in str(err)


@pytest.mark.parametrize(
    "spacing",
    [
        np.array([1.0, 1.0]),
        np.array([1, 1, 1]),
        np.array([1.0, 0.0, 1.0]),
        np.array([1.0, np.nan, 1.0]),
        np.array([1.0, -2.0, 1.0]),
    ],
)
def test_3d_bad_spacing(tmp_path, spacing):
    path = write_3d(tmp_path / "3DBox_CT_0012.npz", spacing=spacing)
    err = _input_error(path)
    assert err.reason == "bad_spacing"
    assert_names(err, "3DBox_CT_0012", path, "spacing")


# ---------------------------------------------------------------- ground truth


def test_gt_shape_dtype_labels_and_spacing(tmp_path):
    gt_path = tmp_path / "3DBox_CT_0013.npz"
    sp = np.array([1.0, 1.0, 1.0])

    def gt_error(**arrays) -> ContractError:
        np.savez_compressed(gt_path, **arrays)
        with pytest.raises(ContractError) as info:
            load_gt(gt_path, 3, (4, 10, 12), n_boxes=2)
        assert_names(info.value, "3DBox_CT_0013", gt_path, info.value.key)
        return info.value

    ok = np.zeros((4, 10, 12), np.uint8)
    assert gt_error(gts=ok[:, :, :-1], spacing=sp).reason == "bad_shape"
    assert gt_error(gts=ok.astype(bool), spacing=sp).reason == "bad_dtype"
    assert gt_error(gts=ok.astype(np.float32), spacing=sp).reason == "bad_dtype"
    labels3 = ok.copy()
    labels3[0, 0, 0] = 3
    err = gt_error(gts=labels3, spacing=sp)
    assert err.reason == "bad_values" and "labels 0..2" in str(err)
    negative = ok.astype(np.int16)
    negative[0, 0, 0] = -1
    assert gt_error(gts=negative, spacing=sp).reason == "bad_values"
    assert gt_error(gts=ok).reason == "missing_key"
    assert gt_error(gts=ok, spacing=np.array([1.0, np.inf, 1.0])).reason == "bad_spacing"
    np.savez_compressed(gt_path, gts=ok.astype(np.int32), spacing=sp)
    assert load_gt(gt_path, 3, (4, 10, 12), n_boxes=2).gts.dtype == np.int32


# ---------------------------------------------------------------- predictions


@pytest.mark.parametrize(
    ("segs", "reason"),
    [
        (np.zeros((12, 16), bool), "bad_dtype"),
        (np.zeros((12, 16), np.float32), "bad_dtype"),
        (np.zeros((12, 16), np.int64), "bad_dtype"),
        (np.zeros((12, 16, 1), np.uint8), "bad_shape"),
        (np.zeros((16, 12), np.uint16), "bad_shape"),
    ],
)
def test_prediction_dtype_and_shape(tmp_path, segs, reason):
    path = tmp_path / "2DBox_CT_0014.npz"
    np.savez_compressed(path, segs=segs)
    with pytest.raises(ContractError) as info:  # the contract's letter: unsigned only
        load_prediction(path, (12, 16), {"segs_dtypes": "unsigned"})
    assert info.value.reason == reason
    assert_names(info.value, "2DBox_CT_0014", path, "segs")
    assert "uint16" in str(info.value)
    if segs.dtype.kind in "if" and segs.shape == (12, 16):  # official: integral values score
        assert load_prediction(path, (12, 16)).dtype.kind == "u"
    else:
        with pytest.raises(ContractError) as info:
            load_prediction(path, (12, 16))
        assert info.value.reason == reason


def test_prediction_missing_file_and_key(tmp_path):
    with pytest.raises(ContractError) as info:
        load_prediction(tmp_path / "2DBox_CT_0015.npz", (2, 2))
    assert info.value.reason == "missing_file"
    path = tmp_path / "2DBox_CT_0016.npz"
    np.savez_compressed(path, seg=np.zeros((2, 2), np.uint8))
    with pytest.raises(ContractError) as info:
        load_prediction(path, (2, 2))
    assert info.value.reason == "missing_key"
    assert_names(info.value, "2DBox_CT_0016", path, "segs")


def test_error_pickles_with_its_attributes(tmp_path):
    import pickle

    err = ContractError("bad_box", case="c", file="c.npz", key="boxes", expected="e", found="f")
    back = pickle.loads(pickle.dumps(err))
    assert (back.reason, back.case, back.file, back.key) == ("bad_box", "c", "c.npz", "boxes")
    assert str(back) == str(err)
    with pytest.raises(ValueError):
        ContractError("no_such_reason")
