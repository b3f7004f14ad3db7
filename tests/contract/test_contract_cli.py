"""`evalkit validate`: one line per case, exit 1 when any case fails."""

from __future__ import annotations

import argparse
import subprocess
import sys

import numpy as np
from contract_helpers import write_2d, write_3d

from evalkit.contract import cli


def main(argv: list[str]) -> int:
    """The validate subcommand on its own (``evalkit.cli`` imports every stage)."""
    parser = argparse.ArgumentParser(prog="evalkit validate")
    cli.add_arguments(parser)
    assert argv[0] == "validate"
    return cli.run(parser.parse_args(argv[1:]))


def _folders(tmp_path):
    inputs, gt, pred = (tmp_path / n for n in ("inputs", "gt", "pred"))
    for d in (inputs, gt, pred):
        d.mkdir()
    write_2d(inputs / "2DBox_CT_0001.npz")
    write_3d(inputs / "3DBox_MR_0001.npz")
    np.savez_compressed(gt / "2DBox_CT_0001.npz", gts=np.zeros((12, 16), np.uint8))
    np.savez_compressed(
        gt / "3DBox_MR_0001.npz", gts=np.ones((4, 10, 12), np.uint8), spacing=np.ones(3)
    )
    np.savez_compressed(pred / "2DBox_CT_0001.npz", segs=np.zeros((12, 16), np.uint16))
    np.savez_compressed(pred / "3DBox_MR_0001.npz", segs=np.zeros((4, 10, 12), np.uint8))
    return inputs, gt, pred


def test_validate_all_ok(tmp_path, capsys):
    inputs, gt, pred = _folders(tmp_path)
    rc = main(["validate", "--inputs", str(inputs), "--gt", str(gt), "--pred", str(pred)])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0, out
    assert len(out) == 2
    assert out[0].startswith("ok   2DBox_CT_0001") and "input+gt+pred" in out[0]
    assert out[1].startswith("ok   3DBox_MR_0001")


def test_validate_reports_each_bad_case_and_exits_1(tmp_path, capsys):
    inputs, gt, pred = _folders(tmp_path)
    # bool is refused in every mode (float32 with integral values is scored, as officially)
    np.savez_compressed(pred / "3DBox_MR_0001.npz", segs=np.zeros((4, 10, 12), bool))
    rc = main(["validate", "--inputs", str(inputs), "--gt", str(gt), "--pred", str(pred)])
    out = capsys.readouterr().out.splitlines()
    assert rc == 1
    assert out[0].startswith("ok   2DBox_CT_0001")
    assert out[1].startswith("FAIL 3DBox_MR_0001") and "'segs'" in out[1]
    assert "[bad_dtype]" in out[1]


def test_validate_missing_gt_is_a_failure(tmp_path, capsys):
    inputs, gt, _ = _folders(tmp_path)
    (gt / "3DBox_MR_0001.npz").unlink()
    assert main(["validate", "--inputs", str(inputs), "--gt", str(gt)]) == 1
    assert "3DBox_MR_0001" in capsys.readouterr().out


def test_validate_as_a_subprocess(tmp_path):
    inputs, _, _ = _folders(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "evalkit.cli", "validate", "--inputs", str(inputs)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ok   ") == 2
    assert "2/2 cases ok" in proc.stderr
