"""The click-aware classical baseline (reference_submissions/click-fill): logic, and its image.

The CVPR 2025 protocol run with this image by the official script is the parity
evidence in tests/data/cvpr25/; here: what it answers for boxes, clicks and
``prev_pred``, that it still answers CVPR24 inputs, and the image on the runner.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REF = Path(__file__).resolve().parents[2] / "reference_submissions"
sys.path.insert(0, str(REF / "click-fill"))
import click_fill
from reference_images import build_reference_images

BOX = {"z_min": 2, "z_max": 6, "z_mid": 4, "z_mid_x_min": 5, "z_mid_y_min": 3,
       "z_mid_x_max": 15, "z_mid_y_max": 9}


def _members(clicks, order):
    return {"clicks": np.asanyarray(clicks), "clicks_order": np.asanyarray(order)}


def test_boxes_become_ellipsoids_inside_their_slice_range():
    imgs = np.zeros((10, 20, 24), dtype=np.uint8)
    segs = click_fill.predict_interactive({"imgs": imgs, "boxes": np.asanyarray([BOX])})
    assert segs.dtype == np.uint8 and segs.shape == imgs.shape
    z = np.nonzero(segs.any(axis=(1, 2)))[0]
    assert (z.min(), z.max()) == (2, 6)
    ys, xs = np.nonzero(segs[4])
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (3, 9, 5, 15)
    assert segs[2].sum() < segs[4].sum()              # narrower away from z_mid


def test_clicks_replayed_in_order_on_prev_pred():
    imgs = np.zeros((10, 20, 24), dtype=np.uint8)
    prev = np.zeros(imgs.shape, dtype=np.uint8)
    prev[5, 10, 10] = 1
    data = {"imgs": imgs, "prev_pred": prev, **_members(
        [{"fg": [[5, 10, 14]], "bg": [[5, 10, 10]]}, {"fg": [], "bg": []}],
        [["fg", "bg"], [None, None]])}
    segs = click_fill.predict_interactive(data)
    assert segs[5, 10, 16] == 1 and segs[5, 10, 18] == 1   # the fg ball (radius 4 px)
    assert segs[5, 10, 10] == 0 and segs[5, 10, 13] == 0   # cleared by the later bg click
    assert segs[4, 10, 14] == 1 and segs[3, 10, 14] == 0   # the ball spans one slice each way
    assert (segs == 2).sum() == 0
    # no prev_pred, no boxes (a case without boxes, iteration 2): only the clicks
    data = {"imgs": imgs, **_members([{"fg": [[1, 1, 1]], "bg": []}], [["fg"]])}
    assert click_fill.predict_interactive(data)[1, 1, 1] == 1


def test_cvpr24_inputs_get_the_box_fill_answer(tmp_path):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    np.savez_compressed(inp / "3DBox_CT_0001.npz", imgs=np.zeros((6, 16, 16), np.uint8),
                        boxes=np.array([[2, 3, 1, 8, 9, 4]]), spacing=np.array([1.0, 1.0, 1.0]))
    np.savez_compressed(inp / "2DBox_US_0001.npz", imgs=np.zeros((16, 16, 3), np.uint8),
                        boxes=np.array([[1, 2, 5, 6]]))
    assert click_fill.main(str(inp), str(out)) == 0
    segs = np.load(out / "3DBox_CT_0001.npz")["segs"]
    assert segs.shape == (6, 16, 16) and segs[1:5, 3:10, 2:9].all() and segs.sum() == 4 * 7 * 7
    assert np.load(out / "2DBox_US_0001.npz")["segs"][2:7, 1:6].all()


def test_cvpr25_folder_with_pickled_members(tmp_path):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    np.savez_compressed(inp / "CT_x_0001.npz", imgs=np.zeros((10, 20, 24), np.uint8),
                        spacing=np.array([1.0, 1.0, 1.0]), boxes=[BOX],
                        clicks=[{"fg": [[4, 6, 10]], "bg": []}], clicks_order=[["fg"]],
                        prev_pred=np.zeros((10, 20, 24), np.uint8))
    assert click_fill.main(str(inp), str(out)) == 0
    assert np.load(out / "CT_x_0001.npz")["segs"][4, 6, 10] == 1


@pytest.mark.docker
@pytest.mark.slow
def test_click_fill_image_runs_cvpr24_cases_on_the_runner(docker_client, tmp_path):
    ref = build_reference_images("click-fill", timeout=1800)["click-fill"]
    data = tmp_path / "demo"
    subprocess.run([sys.executable, "-m", "evalkit.cli", "demo-data", "--out", str(data), "--preset", "tiny"],
                   check=True, capture_output=True)
    from evalkit.runner.executor import make_executor
    from evalkit.runner.run import run_submission

    files = sorted((data / "imgs").glob("*.npz"))
    with make_executor(None) as executor:
        image = executor.prepare(ref, name="click-fill")
        records = run_submission(image, files, tmp_path / "run", name="click-fill", executor=executor,
                                 progress=False)
    assert {r.case: r.status for r in records} == {f.stem: "ok" for f in files}
