"""Every CLI exits 2 on a bad challenge file, with one line naming file and key, no traceback.

The inputs are good, so that only the configuration can stop the command: before
the configuration was checked at load, ``rank`` and ``validate`` ran to the end
with ``memory = "8x"`` or ``tolerance_mm = -1``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import evalkit
from evalkit.cli import main

BAD = {
    "memory": ('[runner]\nmemory = "8x"\n', "runner.memory"),
    "tolerance": ("[metrics]\ntolerance_mm = -1\n", "metrics.tolerance_mm"),
    "type": ('[ranking]\nbootstrap_samples = "10"\n', "ranking.bootstrap_samples"),
    "ignored": ('[ranking]\nmissing_value = "drop"\n', "ranking.missing_value"),
    "unknown": ("[ranking]\nsheme = 1\n", "ranking.sheme"),
}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    inputs, gts, preds = root / "imgs", root / "gts", root / "preds"
    for d in (inputs, gts, preds):
        d.mkdir()
    gt = np.zeros((20, 24), np.uint8)
    gt[2:10, 3:12] = 1
    name = "2DBox_Microscope_0000.npz"
    np.savez_compressed(inputs / name, imgs=np.zeros((20, 24, 3), np.uint8),
                        boxes=np.array([[3, 2, 12, 10]]))
    np.savez_compressed(gts / name, gts=gt)
    np.savez_compressed(preds / name, segs=gt)
    results = root / "results.csv"
    rows = ["task,case,algorithm,metric,value"]
    for c, (a, b) in enumerate([(0.9, 0.8), (0.7, 0.6), (0.5, 0.55)]):
        rows += [f"CT,c{c},A,DSC,{a}", f"CT,c{c},B,DSC,{b}"]
    results.write_text("\n".join(rows) + "\n")
    return {"root": root, "inputs": inputs, "gts": gts, "preds": preds, "results": results}


def commands(data: dict[str, Path], out: Path) -> dict[str, list[str]]:
    return {
        "rank": ["rank", "--results", str(data["results"]), "--out", str(out / "ranking")],
        "score": ["score", "--gt", str(data["gts"]), "--pred", str(data["preds"]),
                  "--out", str(out / "cases.csv"), "--quiet"],
        "validate": ["validate", "--inputs", str(data["inputs"]), "--gt", str(data["gts"]),
                     "--pred", str(data["preds"])],
    }


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``python -m evalkit.cli ARGS`` with the evalkit under test (not the one in ``cwd``)."""
    env = dict(os.environ, PYTHONPATH=str(Path(evalkit.__file__).parents[1]))
    return subprocess.run([sys.executable, "-m", "evalkit.cli", *args], check=False,
                          capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120)


def test_good_inputs_pass_with_the_bundled_config(data, tmp_path):
    for name, args in commands(data, tmp_path).items():
        assert main(args) == 0, name


@pytest.mark.parametrize("command", ["rank", "score", "validate"])
def test_bad_config_is_one_line_and_exit_2_in_a_subprocess(data, tmp_path, command):
    text, key = BAD["memory"]
    config = tmp_path / "bad.toml"
    config.write_text(text)
    proc = run_cli([*commands(data, tmp_path)[command], "--config", str(config)], tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert str(config) in lines[0] and key in lines[0], lines[0]
    assert proc.stdout.strip() == ""


@pytest.mark.parametrize("command", ["rank", "score", "validate"])
@pytest.mark.parametrize("bad", sorted(BAD))
def test_each_kind_of_bad_config_is_one_line_and_exit_2(data, tmp_path, capsys, command, bad):
    text, key = BAD[bad]
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert main([*commands(data, tmp_path)[command], "--config", str(config)]) == 2
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and str(config) in lines[0] and key in lines[0], err
    assert out.strip() == ""


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--submission", "img:latest", "--cases", "{root}", "--out", "{tmp}/run"],
        ["evaluate", "img:latest", "--cases", "{root}", "--reports", "{tmp}/reports"],
        ["check", "img:latest", "--cases", "{root}", "--out", "{tmp}/check"],
    ],
)
def test_engine_commands_stop_at_the_config_before_any_image(data, tmp_path, capsys, args):
    config = tmp_path / "bad.toml"
    config.write_text(BAD["memory"][0])
    argv = [a.format(root=data["root"], tmp=tmp_path) for a in args] + ["--config", str(config)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "runner.memory" in err and str(config) in err and len(err.strip().splitlines()) == 1
