"""Text cases through the file-level scoring: prompts from the input, kinds, missing predictions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalkit.config import load_challenge
from evalkit.metrics import settings_from_challenge
from evalkit.metrics.folder import score_folder
from evalkit.metrics.scoring import score_case

CH = load_challenge("cvpr25-text")
SETTINGS = settings_from_challenge(CH)
LIMITS = dict(CH.contract)


def _case(tmp_path, name, prompts, gts, segs=None, spacing=(2.0, 1.0, 1.0)):
    for d in ("imgs", "gts", "pred"):
        (tmp_path / d).mkdir(exist_ok=True)
    np.savez(tmp_path / "imgs" / f"{name}.npz", imgs=np.zeros(gts.shape, np.uint8),
             spacing=np.array(spacing), text_prompts=prompts)
    np.savez(tmp_path / "gts" / f"{name}.npz", gts=gts)  # gts only, as the organisers' text GT
    if segs is not None:
        np.savez(tmp_path / "pred" / f"{name}.npz", segs=segs)
    return (tmp_path / "imgs" / f"{name}.npz", tmp_path / "gts" / f"{name}.npz",
            tmp_path / "pred" / f"{name}.npz" if segs is not None else None)


def _volume():
    gts = np.zeros((6, 12, 12), np.uint16)
    gts[1:4, 1:5, 1:5] = 2
    gts[1:4, 7:11, 7:11] = 7
    return gts


def test_semantic_case_scores_prompted_present_classes(tmp_path):
    gts = _volume()
    segs = gts.copy()
    segs[segs == 7] = 0                                    # class 7 missed
    inp, gt, pred = _case(tmp_path, "3DText_CT_0001", {"2": "liver", "7": "spleen", "9": "aorta",
                                                       "instance_label": 0}, gts, segs)
    r = score_case("3DText_CT_0001", gt, pred, SETTINGS, limits=LIMITS, input_path=inp)
    assert r.row["status"] == "ok" and r.row["n_instances"] == 2      # 9 is prompted, not present
    assert r.row["dsc_unrounded"] == 0.5 and r.row["nsd"] == 0.5
    assert math.isnan(r.row["f1"]) and math.isnan(r.row["dsc_tp"])
    assert r.instances["label"].tolist() == [2, 7]


def test_instance_case_scores_f1_and_dsc_tp(tmp_path):
    gts = _volume()
    segs = (gts > 0).astype(np.uint8)                      # binary: split into two components
    inp, gt, pred = _case(tmp_path, "3DText_CT_0002", {"1": "lesions", "instance_label": 1}, gts, segs)
    r = score_case("3DText_CT_0002", gt, pred, SETTINGS, limits=LIMITS, input_path=inp)
    assert r.row["status"] == "ok" and r.row["n_instances"] == 2
    assert (r.row["f1"], r.row["dsc_tp"]) == (1.0, 1.0)
    assert math.isnan(r.row["dsc"]) and math.isnan(r.row["nsd"]) and r.instances.empty


def test_missing_prediction_scores_missing_values_for_the_kind_only(tmp_path):
    gts = _volume()
    inp, gt, _ = _case(tmp_path, "3DText_CT_0003", {"1": "lesions", "instance_label": 1}, gts)
    r = score_case("3DText_CT_0003", gt, None, SETTINGS, limits=LIMITS, input_path=inp)
    assert r.row["status"] == "missing_output" and (r.row["f1"], r.row["dsc_tp"]) == (0.0, 0.0)
    assert math.isnan(r.row["dsc"]) and r.row["n_instances"] == 2
    inp, gt, _ = _case(tmp_path, "3DText_CT_0004", {"2": "liver", "instance_label": 0}, gts)
    r = score_case("3DText_CT_0004", gt, None, SETTINGS, limits=LIMITS, input_path=inp,
                   runner_status="timeout", runner_reason="deadline")
    assert r.row["status"] == "timeout" and (r.row["dsc"], r.row["nsd"]) == (0.0, 0.0)
    assert math.isnan(r.row["f1"]) and r.instances["label"].tolist() == [2]


def test_text_case_without_its_input_is_a_gt_error(tmp_path):
    gts = _volume()
    _, gt, pred = _case(tmp_path, "3DText_CT_0005", {"2": "liver", "instance_label": 0}, gts, gts)
    r = score_case("3DText_CT_0005", gt, pred, SETTINGS, limits=LIMITS)
    assert r.row["status"] == "gt_error" and "text_prompts" in r.row["reason"]
    np.savez(tmp_path / "imgs" / "3DText_CT_0005.npz", imgs=np.zeros(gts.shape, np.uint8),
             spacing=np.ones(3), text_prompts={"x": "liver", "instance_label": 0})
    r = score_case("3DText_CT_0005", gt, pred, SETTINGS, limits=LIMITS,
                   input_path=tmp_path / "imgs" / "3DText_CT_0005.npz")
    assert r.row["status"] == "gt_error" and "text_prompts['x']" in r.row["reason"]


def test_the_input_spacing_is_used_as_the_official_script_does(tmp_path):
    gts = _volume()
    segs = np.roll(gts, 1, axis=2)
    inp, gt, pred = _case(tmp_path, "3DText_CT_0006", {"2": "liver", "instance_label": 0}, gts, segs,
                          spacing=(1.0, 1.0, 3.0))
    np.savez(gt, gts=gts, spacing=np.array([1.0, 1.0, 1.0]))     # a GT spacing that differs
    r = score_case("3DText_CT_0006", gt, pred, SETTINGS, limits=LIMITS, input_path=inp)
    np.savez(inp, imgs=np.zeros(gts.shape, np.uint8), spacing=np.array([1.0, 1.0, 1.0]),
             text_prompts={"2": "liver", "instance_label": 0})
    r1 = score_case("3DText_CT_0006", gt, pred, SETTINGS, limits=LIMITS, input_path=inp)
    assert r.row["nsd_unrounded"] < r1.row["nsd_unrounded"] == 1.0


def test_score_folder_reads_prompts_from_inputs_dir(tmp_path):
    gts = _volume()
    _case(tmp_path, "3DText_CT_0001", {"2": "liver", "instance_label": 0}, gts, gts)
    _case(tmp_path, "3DText_CT_0002", {"1": "lesions", "instance_label": 1}, gts, gts)
    cases, _ = score_folder(tmp_path / "gts", tmp_path / "pred", SETTINGS, limits=LIMITS,
                               inputs_dir=tmp_path / "imgs", workers=1, progress=False)
    assert cases["status"].tolist() == ["ok", "ok"]
    assert cases["dsc"].tolist()[0] == 1.0 and cases["f1"].tolist()[1] == 1.0
    assert list(cases.columns[4:8]) == ["dsc", "nsd", "f1", "dsc_tp"]


@pytest.mark.parametrize("mode", ["strict"])
def test_strict_mode_has_no_uint8_cast(tmp_path, mode):
    gts = np.zeros((4, 6, 6), np.uint16)
    gts[0:2, 0:2, 0:2] = 258                          # uint8 cast: 258 -> 2
    segs = np.zeros_like(gts)
    segs[0:2, 0:2, 0:2] = 2
    inp, gt, pred = _case(tmp_path, "3DText_CT_0007", {"2": "liver", "258": "spleen",
                                                       "instance_label": 0}, gts, segs)
    official = score_case("3DText_CT_0007", gt, pred, SETTINGS, limits=LIMITS, input_path=inp)
    strict = score_case("3DText_CT_0007", gt, pred, settings_from_challenge(CH, mode=mode),
                        limits=LIMITS, input_path=inp)
    assert official.row["dsc"] == 1.0 and strict.row["dsc"] == 0.0


def test_free_case_names_use_the_discovered_modality_and_dim(tmp_path):
    from evalkit.contract import discover_cases

    gts = _volume()
    _case(tmp_path, "CT_AbdTumor_0001", {"1": "lesions", "instance_label": 1}, gts, gts)
    with pytest.warns(Warning):  # discovery says how it found the modality (a leading token)
        info = {c.name: (c.modality, c.dim) for c in discover_cases(tmp_path / "imgs", None, challenge=CH)}
    assert info == {"CT_AbdTumor_0001": ("CT", 3)}
    cases, _ = score_folder(tmp_path / "gts", tmp_path / "pred", SETTINGS, limits=LIMITS,
                            inputs_dir=tmp_path / "imgs", case_info=info, workers=1, progress=False)
    assert cases[["modality", "dim", "status", "f1"]].values.tolist() == [["CT", 3, "ok", 1.0]]
