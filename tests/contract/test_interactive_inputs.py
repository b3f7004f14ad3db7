"""CVPR25 interactive inputs: per-class box dicts (optional), free case names, GT apart."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from evalkit.config import load_challenge
from evalkit.contract import ContractError, discover_cases, load_gt, load_input

CH = load_challenge("cvpr25-interactive")
LIMITS = CH.contract


def _box(z0=1, z1=5, zm=3, x0=2, y0=3, x1=10, y1=12):
    return {"z_min": z0, "z_max": z1, "z_mid": zm, "z_mid_x_min": x0, "z_mid_y_min": y0,
            "z_mid_x_max": x1, "z_mid_y_max": y1}


def _write(path, boxes=None, shape=(8, 16, 20), **extra):
    members = {"imgs": np.zeros(shape, np.uint8), "spacing": np.array([2.0, 1.0, 1.0]), **extra}
    if boxes is not None:
        members["boxes"] = boxes
    np.savez_compressed(path, **members)
    return path


def test_boxes_as_dicts_load(tmp_path):
    x = load_input(_write(tmp_path / "CT_a.npz", [_box(), _box(0, 7, 7, 0, 0, 19, 15)]), LIMITS)
    assert x.spatial_shape == (8, 16, 20) and x.n_instances == 2
    assert x.boxes[1]["z_mid_x_max"] == 19 and type(x.boxes[0]["z_min"]) is int
    assert x.boxes_member.dtype == object


def test_no_boxes_is_a_valid_case(tmp_path):
    x = load_input(_write(tmp_path / "vessel.npz"), LIMITS)
    assert x.boxes is None and x.boxes_member is None and x.n_instances == 0


@pytest.mark.parametrize("box, reason", [
    (dict(_box(), z_mid=6), "bad_box"),         # z_mid outside z_min..z_max
    (_box(x1=20), "bad_box"),                    # x_max == W
    (dict(_box(), z_min=1.5), "bad_values"),     # not an integer
    ({k: v for k, v in _box().items() if k != "z_mid"}, "bad_values"),
])
def test_bad_box_dicts_name_class_and_key(tmp_path, box, reason):
    with pytest.raises(ContractError) as info:
        load_input(_write(tmp_path / "CT_b.npz", [_box(), box]), LIMITS)
    assert info.value.reason == reason and info.value.key == "boxes"
    assert "class 1" in str(info.value)


def test_cvpr24_box_array_is_refused_with_a_fix(tmp_path):
    with pytest.raises(ContractError) as info:
        load_input(_write(tmp_path / "CT_c.npz", np.array([[1, 2, 3, 4, 5, 6]])), LIMITS)
    assert info.value.reason == "bad_dtype" and "CVPR24" in str(info.value)


def test_gt_holds_gts_only(tmp_path):
    np.savez_compressed(tmp_path / "g.npz", gts=np.ones((8, 16, 20), np.uint8))
    gt = load_gt(tmp_path / "g.npz", 3, (8, 16, 20), LIMITS)
    assert gt.spacing is None and gt.gts.shape == (8, 16, 20)


def test_free_names_say_which_rule_applied(tmp_path):
    inputs, gts = tmp_path / "in", tmp_path / "gt"
    inputs.mkdir()
    gts.mkdir()
    for name in ["CT_liver_01", "mri-brain-2", "Case_PET_3", "weird0001", "US_x", "tube_9"]:
        _write(inputs / f"{name}.npz")
        np.savez_compressed(gts / f"{name}.npz", gts=np.zeros((8, 16, 20), np.uint8))
    (tmp_path / "m.csv").write_text("case,modality,dim\ntube_9,CT,\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cases = discover_cases(inputs, gts, tmp_path / "m.csv", challenge=CH)
    got = {c.name: (c.modality, c.dim, c.modality_rule) for c in cases}
    assert got == {"CT_liver_01": ("CT", 3, "token"), "mri-brain-2": ("MR", 3, "token"),
                   "Case_PET_3": ("PET", 3, "token"), "weird0001": ("all", 3, "default"),
                   "US_x": ("US", 3, "token"), "tube_9": ("CT", 3, "manifest")}
    said = " ".join(str(w.message) for w in caught)
    assert "a leading name token: 4" in said and "default task: 1" in said and "manifest: 1" in said


def test_cvpr24_names_still_required_there(tmp_path):
    _write(tmp_path / "weird0001.npz")
    with pytest.raises(ContractError) as info:
        discover_cases(tmp_path)
    assert info.value.reason == "bad_name"
