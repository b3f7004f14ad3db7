"""File-level scoring: hostile or broken predictions score DSC 0 / NSD 0 with a named
reason; runner statuses carry through; a folder run never dies on one case."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit.config import load_challenge
from evalkit.metrics import settings_from_challenge
from evalkit.metrics.case import CASE_COLUMNS, INSTANCE_TABLE_COLUMNS
from evalkit.metrics.folder import read_statuses, score_folder
from evalkit.metrics.scoring import score_case

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CH = load_challenge()
OFFICIAL = settings_from_challenge(CH)
STRICT = settings_from_challenge(CH, mode="strict")
CASE = "3DBox_CT_0001"


def _gt3d() -> np.ndarray:
    gt = np.zeros((6, 20, 20), np.uint8)
    gt[1:4, 2:9, 2:9] = 1
    gt[2:5, 10:18, 11:17] = 2
    return gt


@pytest.fixture
def gt_file(tmp_path: Path) -> Path:
    d = tmp_path / "gt"
    d.mkdir()
    p = d / f"{CASE}.npz"
    np.savez_compressed(p, gts=_gt3d(), spacing=np.array([2.5, 0.8, 0.8]))
    return p


def _pred(tmp_path: Path, name: str = CASE, **arrays) -> Path:
    d = tmp_path / "pred"
    d.mkdir(exist_ok=True)
    p = d / f"{name}.npz"
    np.savez(p, **arrays)
    return p


def _zero(result, status, reason_code):
    row = result.row
    assert row["status"] == status, row
    assert row["dsc"] == 0.0 and row["nsd"] == 0.0, row
    assert reason_code in row["reason"], row
    assert "\n" not in row["reason"]
    assert result.instances["dsc"].tolist() == [0.0, 0.0]
    assert result.instances["pred_voxels"].tolist() == [0, 0]


def test_good_prediction(tmp_path, gt_file):
    pred = _pred(tmp_path, segs=_gt3d())
    r = score_case(CASE, gt_file, pred, OFFICIAL)
    assert r.row["status"] == "ok" and r.row["reason"] == ""
    assert (r.row["dsc"], r.row["nsd"], r.row["n_instances"]) == (1.0, 1.0, 2)
    assert (r.row["modality"], r.row["dim"]) == ("CT", 3)
    assert list(r.row) == CASE_COLUMNS and list(r.instances.columns) == INSTANCE_TABLE_COLUMNS


def test_missing_prediction(tmp_path, gt_file):
    _zero(score_case(CASE, gt_file, tmp_path / "nothing.npz", OFFICIAL), "missing_output", "missing_file")
    _zero(score_case(CASE, gt_file, None, OFFICIAL), "missing_output", "missing_file")


def test_unreadable_prediction(tmp_path, gt_file):
    p = tmp_path / "garbage.npz"
    p.write_bytes(b"PK\x03\x04 this is not a zip file at all" * 10)
    _zero(score_case(CASE, gt_file, p, OFFICIAL), "invalid_output", "bad_zip")


def test_empty_prediction_file(tmp_path, gt_file):
    p = tmp_path / "empty.npz"
    p.write_bytes(b"")
    r = score_case(CASE, gt_file, p, OFFICIAL)
    _zero(r, "invalid_output", "empty_file")


def test_pickled_prediction_is_never_unpickled(tmp_path, gt_file):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    p = _pred(tmp_path, segs=np.array([Evil()], dtype=object))
    _zero(score_case(CASE, gt_file, p, OFFICIAL), "invalid_output", "pickled")
    assert not marker.exists()


def test_oversized_prediction(tmp_path, gt_file):
    p = _pred(tmp_path, segs=_gt3d(), junk=np.zeros(100_000))  # 800 kB; the GT file is ~1 kB
    r = score_case(CASE, gt_file, p, OFFICIAL, limits={"max_file_bytes": 100_000})
    _zero(r, "invalid_output", "too_large")


def test_zip_bomb_prediction(tmp_path, gt_file):
    d = tmp_path / "pred"
    d.mkdir()
    p = d / f"{CASE}.npz"
    np.savez_compressed(p, segs=np.zeros((200, 200, 200), np.uint8))
    r = score_case(CASE, gt_file, p, OFFICIAL, limits={"max_decompressed_bytes": 100_000})
    _zero(r, "invalid_output", "zip_bomb")


@pytest.mark.parametrize(
    ("segs", "code"),
    [
        (np.zeros((6, 20, 21), np.uint8), "bad_shape"),
        (np.zeros((20, 20), np.uint8), "bad_shape"),
        (np.zeros((6, 20, 20), np.float32), "bad_dtype"),
        (np.zeros((6, 20, 20), bool), "bad_dtype"),
        (np.zeros((6, 20, 20), np.int16), "bad_dtype"),
    ],
)
def test_wrong_shape_or_dtype(tmp_path, gt_file, segs, code):
    # "unsigned" is the contract's letter; the official default scores integral float/int maps
    strict_dtypes = {"segs_dtypes": "unsigned"}
    _zero(score_case(CASE, gt_file, _pred(tmp_path, segs=segs), OFFICIAL, limits=strict_dtypes),
          "invalid_output", code)


def test_missing_key(tmp_path, gt_file):
    _zero(score_case(CASE, gt_file, _pred(tmp_path, masks=_gt3d()), OFFICIAL), "invalid_output", "missing_key")


def test_symlinked_prediction(tmp_path, gt_file):
    target = _pred(tmp_path, name="elsewhere", segs=_gt3d())
    link = tmp_path / "pred" / f"{CASE}.npz"
    link.symlink_to(target)
    _zero(score_case(CASE, gt_file, link, OFFICIAL), "invalid_output", "symlink")


def test_huge_labels_in_strict_mode(tmp_path, gt_file):
    segs = _gt3d().astype(np.uint64)
    segs[0, 0, 0] = 2**62
    r = score_case(CASE, gt_file, _pred(tmp_path, segs=segs), STRICT)
    _zero(r, "invalid_output", "bad_values")
    # official mode ignores labels above max(gts)
    r = score_case(CASE, gt_file, _pred(tmp_path, segs=segs), OFFICIAL)
    assert r.row["status"] == "ok" and r.row["dsc"] == 1.0


def test_runner_status_carries_through(tmp_path, gt_file):
    pred = _pred(tmp_path, segs=_gt3d())  # even a perfect file left behind is not scored
    r = score_case(CASE, gt_file, pred, OFFICIAL, runner_status="timeout", runner_reason="ran past 900 s")
    _zero(r, "timeout", "ran past 900 s")
    r = score_case(CASE, gt_file, pred, OFFICIAL, runner_status="ok")
    assert r.row["status"] == "ok" and r.row["dsc"] == 1.0


def test_bad_gt_is_a_gt_error(tmp_path):
    p = tmp_path / f"{CASE}.npz"
    np.savez(p, gts=_gt3d())  # 3D GT without spacing
    r = score_case(CASE, p, None, OFFICIAL)
    assert r.row["status"] == "gt_error" and "missing_key" in r.row["reason"]
    assert math.isnan(r.row["dsc"]) and math.isnan(r.row["nsd"])


def test_signed_gt_is_scored_like_unsigned(tmp_path):
    gt = _gt3d().astype(np.int32)
    p = tmp_path / f"{CASE}.npz"
    np.savez(p, gts=gt, spacing=np.array([2.5, 0.8, 0.8]))
    r = score_case(CASE, p, _pred(tmp_path, segs=_gt3d().astype(np.uint16)), OFFICIAL)
    assert r.row["status"] == "ok" and r.row["dsc"] == 1.0


def test_read_statuses(tmp_path):
    j = tmp_path / "journal.jsonl"
    lines = [
        {"case": "a", "status": "timeout", "reason": "900 s"},
        {"case": "b", "status": "ok", "reason": None},
        {"case": "a", "status": "ok", "reason": None},  # a retry wins
    ]
    j.write_text("\n".join(json.dumps(x) for x in lines) + '\n\n{"case": "c", "sta')
    assert read_statuses(j) == {"a": ("ok", ""), "b": ("ok", "")}
    j.write_text('not json\n{"case": "a", "status": "ok"}\n')
    with pytest.raises(ValueError, match="line 1"):
        read_statuses(j)


def test_folder_run_carries_on_past_every_bad_case(tmp_path):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    gt = _gt3d()
    names = {
        "3DBox_CT_0001": "good",
        "3DBox_CT_0002": "missing",
        "3DBox_MR_0003": "garbage",
        "3DBox_MR_0004": "pickled",
        "3DBox_PET_0005": "shape",
        "3DBox_PET_0006": "dtype",
        "3DBox_CT_0007": "timeout",
        "3DBox_CT_0008": "badgt",
    }
    for name, what in names.items():
        if what == "badgt":
            (gt_dir / f"{name}.npz").write_bytes(b"nope")
        else:
            np.savez_compressed(gt_dir / f"{name}.npz", gts=gt, spacing=np.array([2.5, 0.8, 0.8]))
        p = pred_dir / f"{name}.npz"
        if what in ("good", "timeout", "badgt"):
            np.savez(p, segs=gt)
        elif what == "garbage":
            p.write_bytes(os.urandom(300))
        elif what == "pickled":
            np.savez(p, segs=np.array([{"x": 1}], dtype=object))
        elif what == "shape":
            np.savez(p, segs=gt[:, :10])
        elif what == "dtype":
            np.savez(p, segs=gt.astype(bool))  # refused in every mode
    statuses = {"3DBox_CT_0007": ("timeout", "killed at 900 s")}
    cases, inst = score_folder(gt_dir, pred_dir, OFFICIAL, limits=CH.contract,
                               aliases=CH.modality_aliases, statuses=statuses, workers=2,
                               progress=False)
    assert list(cases.columns) == CASE_COLUMNS and list(inst.columns) == INSTANCE_TABLE_COLUMNS
    assert cases["case"].tolist() == sorted(names)
    got = dict(zip(cases["case"], cases["status"]))
    assert got == {
        "3DBox_CT_0001": "ok",
        "3DBox_CT_0002": "missing_output",
        "3DBox_MR_0003": "invalid_output",
        "3DBox_MR_0004": "invalid_output",
        "3DBox_PET_0005": "invalid_output",
        "3DBox_PET_0006": "invalid_output",
        "3DBox_CT_0007": "timeout",
        "3DBox_CT_0008": "gt_error",
    }
    by = cases.set_index("case")
    assert by.loc["3DBox_CT_0001", "dsc"] == 1.0
    for name in ("3DBox_CT_0002", "3DBox_MR_0003", "3DBox_MR_0004", "3DBox_PET_0005",
                 "3DBox_PET_0006", "3DBox_CT_0007"):
        assert (by.loc[name, "dsc"], by.loc[name, "nsd"]) == (0.0, 0.0), name
        assert by.loc[name, "reason"], name
    assert "pickled" in by.loc["3DBox_MR_0004", "reason"]
    assert math.isnan(by.loc["3DBox_CT_0008", "dsc"])
    assert set(inst["case"]) == set(names) - {"3DBox_CT_0008"}
    # the same run in one process gives the same tables
    c1, i1 = score_folder(gt_dir, pred_dir, OFFICIAL, limits=CH.contract, statuses=statuses,
                          workers=1, progress=False)
    pd.testing.assert_frame_equal(c1, cases)
    pd.testing.assert_frame_equal(i1, inst)


def _dying_score_case(case, *args, **kwargs):
    """score_case, except that one case kills its worker process outright."""
    if case == "3DBox_CT_0002":
        os._exit(3)
    return score_case(case, *args, **kwargs)


def test_a_dying_worker_loses_only_its_own_case(tmp_path, monkeypatch):
    import multiprocessing

    if multiprocessing.get_start_method() != "fork":
        pytest.skip("needs the fork start method to inject a dying worker")
    from evalkit.metrics import folder

    monkeypatch.setattr(folder, "score_case", _dying_score_case)
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    for i in range(1, 5):
        name = f"3DBox_CT_{i:04d}"
        np.savez_compressed(gt_dir / f"{name}.npz", gts=_gt3d(), spacing=np.array([2.5, 0.8, 0.8]))
        np.savez(pred_dir / f"{name}.npz", segs=_gt3d())
    cases, _ = score_folder(gt_dir, pred_dir, OFFICIAL, workers=2, progress=False)
    got = dict(zip(cases["case"], cases["status"]))
    assert got.pop("3DBox_CT_0002") == "harness_error"
    assert set(got.values()) == {"ok"} and len(got) == 3
    assert "died" in cases.set_index("case").loc["3DBox_CT_0002", "reason"]
