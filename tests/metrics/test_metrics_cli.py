"""``evalkit score`` end to end: real files, real worker processes, tables on disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from metrics_reference import official_case

from evalkit.cli import main
from evalkit.metrics.case import CASE_COLUMNS, INSTANCE_TABLE_COLUMNS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def folders(tmp_path: Path):
    rng = np.random.default_rng(0)
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    truth = {}
    for i in range(3):
        gt = np.zeros((8, 24, 24), np.uint16)
        gt[1:5, 2:12, 3:13] = 1
        gt[3:7, 12:22, 10:20] = 2
        pred = gt.copy()
        pred[rng.random(gt.shape) < 0.1 * (i + 1)] = 0
        name = f"3DBox_CT_{i:04d}"
        np.savez_compressed(gt_dir / f"{name}.npz", gts=gt, spacing=np.array([2.0, 0.9, 0.9]))
        np.savez_compressed(pred_dir / f"{name}.npz", segs=pred)
        truth[name] = (gt, pred, (2.0, 0.9, 0.9), 3)
    for i in range(2):
        gt = np.zeros((40, 50), np.uint8)
        gt[5:20, 5:25] = 1
        gt[22:35, 20:45] = 2
        pred = np.roll(gt, i + 1, axis=1)
        name = f"2DBox_Microscope_{i:04d}"
        np.savez_compressed(gt_dir / f"{name}.npz", gts=gt)
        np.savez_compressed(pred_dir / f"{name}.npz", segs=pred)
        truth[name] = (gt, pred, None, 2)
    (pred_dir / "2DBox_Microscope_0001.npz").unlink()  # one missing output
    (pred_dir / "model_cache.bin").write_bytes(b"ignored")
    return gt_dir, pred_dir, truth


def test_score_writes_the_design_tables(folders, tmp_path, capsys):
    gt_dir, pred_dir, truth = folders
    out = tmp_path / "scores" / "cases.csv"
    rc = main(["score", "--gt", str(gt_dir), "--pred", str(pred_dir), "--out", str(out), "--quiet"])
    assert rc == 0
    cases = pd.read_csv(out, keep_default_na=False, na_values=[""])
    inst = pd.read_csv(out.with_name("instances.csv"))
    assert list(cases.columns) == CASE_COLUMNS
    assert list(inst.columns) == INSTANCE_TABLE_COLUMNS
    assert out.with_name("cases.parquet").exists() and out.with_name("instances.parquet").exists()
    pd.testing.assert_frame_equal(pd.read_parquet(out.with_name("cases.parquet"))[["case", "dsc"]],
                                  cases[["case", "dsc"]])
    meta = json.loads(out.with_name("cases_meta.json").read_text())
    assert meta["settings"]["mode"] == "official" and "numpy" in meta["versions"]
    assert "[metrics]" in meta["challenge_toml"]
    by = cases.set_index("case")
    assert by.loc["2DBox_Microscope_0001", "status"] == "missing_output"
    assert by.loc["2DBox_Microscope_0001", "dsc"] == 0.0
    for name, (gt, pred, spacing, dim) in truth.items():
        if name == "2DBox_Microscope_0001":
            continue
        _, dsc, nsd = official_case(gt, pred, dim=dim, spacing=spacing)
        assert by.loc[name, "status"] == "ok"
        assert by.loc[name, "dsc"] == round(np.float64(dsc), 4)
        assert by.loc[name, "nsd"] == round(np.float64(nsd), 4)
        assert abs(by.loc[name, "dsc_unrounded"] - dsc) <= 1e-12
    assert "scored 5 cases" in capsys.readouterr().err


def test_score_statuses_strict_and_stem_convention(folders, tmp_path):
    gt_dir, pred_dir, _ = folders
    journal = tmp_path / "journal.jsonl"
    journal.write_text(json.dumps({"case": "3DBox_CT_0002", "status": "oom", "reason": "OOMKilled"}) + "\n")
    out = tmp_path / "teamA.csv"
    rc = main(["score", "--gt", str(gt_dir), "--pred", str(pred_dir), "--out", str(out),
               "--statuses", str(journal), "--mode", "strict", "--workers", "1", "--quiet",
               "--no-parquet"])
    assert rc == 0
    cases = pd.read_csv(out).set_index("case")
    assert (tmp_path / "teamA_instances.csv").exists() and not (tmp_path / "teamA.parquet").exists()
    assert cases.loc["3DBox_CT_0002", "status"] == "oom"
    assert cases.loc["3DBox_CT_0002", "reason"] == "OOMKilled"
    assert cases.loc["3DBox_CT_0002", "dsc"] == 0.0
    meta = json.loads((tmp_path / "teamA_meta.json").read_text())
    assert meta["settings"]["mode"] == "strict" and meta["settings"]["nsd_dsc_gate"] is None


def test_score_bad_arguments(tmp_path, folders):
    gt_dir, pred_dir, _ = folders
    assert main(["score", "--gt", str(tmp_path / "nope"), "--pred", str(pred_dir),
                 "--out", str(tmp_path / "c.csv")]) == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[metrics]\nmode = 'loose'\n")
    assert main(["score", "--gt", str(gt_dir), "--pred", str(pred_dir), "--out",
                 str(tmp_path / "c.csv"), "--config", str(bad)]) == 2


def test_gt_error_makes_exit_status_1(tmp_path, folders):
    gt_dir, pred_dir, _ = folders
    (gt_dir / "3DBox_CT_0000.npz").write_bytes(b"broken")
    rc = main(["score", "--gt", str(gt_dir), "--pred", str(pred_dir), "--out", str(tmp_path / "c.csv"),
               "--quiet"])
    assert rc == 1
    cases = pd.read_csv(tmp_path / "c.csv").set_index("case")
    assert cases.loc["3DBox_CT_0000", "status"] == "gt_error"
    assert (cases.drop(index="3DBox_CT_0000")["status"] != "gt_error").all()


def test_help_documents_the_output_convention():
    out = subprocess.run([sys.executable, "-m", "evalkit.cli", "score", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "instances.csv" in out and "--statuses" in out and "_instances.csv" in out


def test_score_with_distance_metrics_enabled_writes_their_columns(folders, tmp_path, capsys):
    from metrics_reference import sd  # surface-distance itself, the reference

    gt_dir, pred_dir, truth = folders
    config = tmp_path / "distances.toml"
    config.write_text('[metrics]\nenabled = ["DSC", "NSD", "HD95", "ASSD"]\n')
    out = tmp_path / "scores" / "cases.csv"
    rc = main(["score", "--gt", str(gt_dir), "--pred", str(pred_dir), "--out", str(out), "--quiet",
               "--config", str(config)])
    assert rc == 0
    cases = pd.read_csv(out).set_index("case")
    inst = pd.read_csv(out.with_name("instances.csv"))
    assert list(cases.columns[:11]) == ["modality", "dim", "n_instances", "dsc", "nsd", "hd95", "assd",
                                        "dsc_unrounded", "nsd_unrounded", "hd95_unrounded", "assd_unrounded"]
    assert list(inst.columns) == ["case", "modality", "dim", "label", "dsc", "nsd", "hd95", "assd",
                                  "gt_voxels", "pred_voxels"]
    assert cases.loc["2DBox_Microscope_0001", "hd95"] == np.inf  # missing output: missing_value
    gt, pred, spacing, _ = truth["3DBox_CT_0002"]
    d = sd.compute_surface_distances(gt == 1, pred == 1, spacing)
    row = inst[(inst["case"] == "3DBox_CT_0002") & (inst["label"] == 1)].iloc[0]
    assert abs(row["hd95"] - sd.compute_robust_hausdorff(d, 95)) <= 1e-9
    # DSC and NSD are those of the default configuration
    default = tmp_path / "default" / "cases.csv"
    assert main(["score", "--gt", str(gt_dir), "--pred", str(pred_dir), "--out", str(default), "--quiet"]) == 0
    base = pd.read_csv(default).set_index("case")
    pd.testing.assert_frame_equal(cases[base.columns], base)
    assert "mean HD95" in capsys.readouterr().err


def test_score_refuses_an_unknown_enabled_metric(folders, tmp_path, capsys):
    gt_dir, pred_dir, _ = folders
    config = tmp_path / "bad.toml"
    config.write_text('[metrics]\nenabled = ["DSC", "HD99"]\n')
    assert main(["score", "--gt", str(gt_dir), "--pred", str(pred_dir), "--out", str(tmp_path / "c.csv"),
                 "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "metrics.enabled" in err and "HD99" in err and "HD95" in err
