"""The text contract: text_prompts read with the restricted unpickler, errors naming case and key."""

from __future__ import annotations

import numpy as np
import pytest

from evalkit.config import load_challenge
from evalkit.contract import ContractError, load_gt, load_input
from evalkit.contract.text import TextPrompts, load_text_prompts, parse_text_prompts

LIMITS = dict(load_challenge("cvpr25-text").contract)


def _write(path, prompts, **extra):
    arrays = {"imgs": np.zeros((4, 8, 8), np.uint8), "spacing": np.array([2.0, 1.0, 1.0])}
    if prompts is not None:
        arrays["text_prompts"] = prompts
    arrays.update(extra)
    np.savez(path, **arrays)  # pickles the dict, as the organisers' files do
    return path


def test_official_layout_is_read(tmp_path):
    p = _write(tmp_path / "3DText_CT_0001.npz", {"1": "liver", "5": "aorta", "instance_label": 0})
    t = load_text_prompts(p, LIMITS)
    assert t == TextPrompts({1: "liver", 5: "aorta"}, 0) and t.kind == "semantic" and t.class_ids == [1, 5]
    x = load_input(p, LIMITS)
    assert x.text == t and x.boxes.shape == (0, 6) and x.n_instances == 2 and x.spatial_shape == (4, 8, 8)
    t, spacing = load_text_prompts(p, LIMITS, with_spacing=True)
    assert spacing.tolist() == [2.0, 1.0, 1.0]


def test_top_level_instance_label_is_accepted_and_must_agree(tmp_path):
    p = _write(tmp_path / "3DText_CT_0002.npz", {"1": "lesions"}, instance_label=np.array(1))
    assert load_text_prompts(p, LIMITS).kind == "instance"
    p = _write(tmp_path / "3DText_CT_0003.npz", {"1": "lesions", "instance_label": 0},
               instance_label=np.array(1))
    with pytest.raises(ContractError) as e:
        load_text_prompts(p, LIMITS)
    assert e.value.key == "instance_label" and e.value.case == "3DText_CT_0003"


@pytest.mark.parametrize("obj, key, reason", [
    (["liver"], "text_prompts", "bad_values"),
    ({"liver": "liver", "instance_label": 0}, "text_prompts['liver']", "bad_values"),
    ({"0": "background", "instance_label": 0}, "text_prompts['0']", "bad_values"),
    ({"1": "", "instance_label": 0}, "text_prompts['1']", "bad_values"),
    ({"1": 3, "instance_label": 0}, "text_prompts['1']", "bad_values"),
    ({"1": "liver", "instance_label": 2}, "text_prompts['instance_label']", "bad_values"),
    ({"1": "liver"}, "text_prompts['instance_label']", "missing_key"),
    ({"instance_label": 0}, "text_prompts", "bad_values"),
    ({"1": "a", "2": "b", "instance_label": 1}, "text_prompts", "bad_values"),
])
def test_bad_prompts_name_the_case_and_the_key(obj, key, reason):
    with pytest.raises(ContractError) as e:
        parse_text_prompts(obj, case="3DText_CT_0009", file="x.npz")
    assert (e.value.reason, e.value.key, e.value.case) == (reason, key, "3DText_CT_0009")
    assert "3DText_CT_0009" in str(e.value) and key in str(e.value)


def test_a_hostile_pickle_is_refused_unrun(tmp_path):
    class Evil:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    obj = np.empty((), dtype=object)
    obj[()] = {"1": Evil(), "instance_label": 0}
    p = tmp_path / "3DText_CT_0004.npz"
    np.savez(p, imgs=np.zeros((4, 8, 8), np.uint8), spacing=np.ones(3), text_prompts=obj)
    with pytest.raises(ContractError) as e:
        load_text_prompts(p, LIMITS)
    assert e.value.reason == "pickled" and not (tmp_path / "pwned").exists()


def test_missing_prompts_and_box_contract_unchanged(tmp_path):
    p = _write(tmp_path / "3DText_CT_0005.npz", None)
    with pytest.raises(ContractError) as e:
        load_input(p, LIMITS)
    assert e.value.reason == "missing_key" and e.value.key == "text_prompts"
    with pytest.raises(ContractError) as e:   # the box contract still wants boxes
        load_input(_write(tmp_path / "3DBox_CT_0001.npz", {"1": "x", "instance_label": 0}))
    assert e.value.key == "boxes"


def test_text_ground_truth_may_hold_gts_only(tmp_path):
    np.savez(tmp_path / "g.npz", gts=np.zeros((4, 8, 8), np.uint16))
    assert load_gt(tmp_path / "g.npz", 3, None, LIMITS).spacing is None
    with pytest.raises(ContractError):
        load_gt(tmp_path / "g.npz", 3, None, None)   # box contract: spacing required in 3D
