"""The OpenVINO reference image on CVPR25 interactive inputs, end to end (real docker).

Builds ``litemedsam-openvino`` with ``reference_submissions/build.py`` (reused
when present) and runs it through the evalkit runner (locked-down containers)
on small phantoms written as the official interactive loop writes them: a box
iteration (dict boxes, no ``3DBox_`` name) and a click iteration whose
``prev_pred`` misses part of the object (fg click there), holds a false blob
(bg click there) or is empty for a class without a box (fg click only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reference_images import build_reference_images
from reference_phantoms import dsc

pytestmark = [pytest.mark.docker, pytest.mark.slow]

D, H, W = 9, 96, 96


@pytest.fixture(scope="module")
def openvino_image(docker_client) -> str:
    return build_reference_images("litemedsam-openvino")["litemedsam-openvino"]


def phantom(seed: int = 0):
    """(imgs, gts, blob): a bright ellipsoid (class 1) and a bright distractor (not GT)."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.mgrid[:D, :H, :W]
    vol = rng.normal(50, 6, (D, H, W))
    obj = ((zz - 4) / 4.5) ** 2 + ((yy - 48) / 20) ** 2 + ((xx - 38) / 16) ** 2 <= 1
    blob = ((zz - 4) / 3) ** 2 + ((yy - 48) / 8) ** 2 + ((xx - 76) / 8) ** 2 <= 1
    vol[obj] = rng.normal(170, 6, obj.sum())
    vol[blob] = rng.normal(170, 6, blob.sum())
    return np.clip(vol, 0, 255).astype(np.uint8), obj.astype(np.uint8), blob


def tube(seed: int = 1):
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.mgrid[:D, :H, :W]
    vol = rng.normal(50, 6, (D, H, W))
    t = ((yy - 40 - 2 * zz) ** 2 + (xx - 50) ** 2 <= 6 ** 2) & (zz >= 1) & (zz <= 7)
    vol[t] = rng.normal(180, 6, t.sum())
    return np.clip(vol, 0, 255).astype(np.uint8), t.astype(np.uint8)


def dict_box(gts: np.ndarray) -> dict:
    zs = np.nonzero(gts.any(axis=(1, 2)))[0]
    z_mid = int(zs[len(zs) // 2])
    ys, xs = np.nonzero(gts[z_mid])
    return {"z_min": int(zs.min()), "z_max": int(zs.max()), "z_mid": z_mid,
            "z_mid_x_min": int(xs.min()), "z_mid_y_min": int(ys.min()),
            "z_mid_x_max": int(xs.max()), "z_mid_y_max": int(ys.max())}


def write_click_iter(path: Path, imgs, prev, kind: str, zyx: list[int], boxes=None) -> None:
    """An input as the official loop writes it before iteration 2 (np.savez pickles the
    lists of dicts)."""
    kw = {"imgs": imgs, "spacing": np.ones(3), "prev_pred": prev.astype(np.uint8),
          "clicks": [{"fg": [zyx] if kind == "fg" else [], "bg": [zyx] if kind == "bg" else []}],
          "clicks_order": [[kind]]}
    if boxes is not None:
        kw["boxes"] = boxes
    np.savez_compressed(path, **kw)


def run_image(ref: str, paths: list[Path], run_dir: Path, name: str) -> dict[str, np.ndarray]:
    from evalkit.runner.execute import CaseJob
    from evalkit.runner.executor import make_executor
    from evalkit.runner.run import run_submission

    jobs = [CaseJob(p.stem, p, expected_shape=(D, H, W), dim=3) for p in paths]
    with make_executor(None) as executor:
        image = executor.prepare(ref, name=name)
        records = run_submission(image, jobs, run_dir, name=name, executor=executor,
                                 progress=False)
    out = {}
    for r in records:
        assert r.status == "ok", (r.case, r.status, r.reason)
        out[r.case] = np.load(run_dir / "submissions" / name / "outputs" / f"{r.case}.npz",
                              allow_pickle=False)["segs"]
    return out


def test_box_then_click_iterations(openvino_image, tmp_path):
    imgs, gts, blob = phantom()
    boxes = [dict_box(gts)]
    inp = tmp_path / "in"
    inp.mkdir()
    np.savez_compressed(inp / "CT_phantom_0001.npz", imgs=imgs, spacing=np.ones(3), boxes=boxes)
    seg1 = run_image(openvino_image, [inp / "CT_phantom_0001.npz"], tmp_path / "it1", "ov-it1")
    seg1 = seg1["CT_phantom_0001"]
    print("box iteration DSC", round(dsc(seg1 == 1, gts == 1), 4))
    assert seg1.dtype == np.uint16 and dsc(seg1 == 1, gts == 1) > 0.8

    # iteration 2, three cases in one container run
    missed = gts.copy()
    missed[3:6, :, 38:] = 0                    # the right half missed on slices 3..5
    fg_click = [4, 48, 46]
    assert gts[tuple(fg_click)] == 1 and missed[tuple(fg_click)] == 0
    false_pos = np.maximum(gts, blob.astype(np.uint8))
    false_pos[:3] = gts[:3]
    false_pos[6:] = gts[6:]                    # the distractor included on slices 3..5
    bg_click = [4, 48, 76]
    assert gts[tuple(bg_click)] == 0 and false_pos[tuple(bg_click)] == 1
    vimgs, vgts = tube()
    v_click = [4, 48, 50]
    assert vgts[tuple(v_click)] == 1
    it2 = tmp_path / "in2"
    it2.mkdir()
    write_click_iter(it2 / "CT_fg_0001.npz", imgs, missed, "fg", fg_click, boxes)
    write_click_iter(it2 / "CT_bg_0001.npz", imgs, false_pos, "bg", bg_click, boxes)
    write_click_iter(it2 / "Vessel_0001.npz", vimgs, np.zeros_like(vgts), "fg", v_click)
    out = run_image(openvino_image, sorted(it2.glob("*.npz")), tmp_path / "it2", "ov-it2")

    fg = out["CT_fg_0001"]
    print("fg click: DSC", round(dsc(missed == 1, gts == 1), 4), "->", round(dsc(fg == 1, gts == 1), 4))
    assert fg[tuple(fg_click)] == 1                       # foreground added at the click
    assert dsc(fg == 1, gts == 1) > dsc(missed == 1, gts == 1)
    assert (fg[[0, 8]] == missed[[0, 8]]).all()           # far slices keep prev_pred
    bg = out["CT_bg_0001"]
    print("bg click: DSC", round(dsc(false_pos == 1, gts == 1), 4), "->", round(dsc(bg == 1, gts == 1), 4))
    assert bg[tuple(bg_click)] == 0                       # foreground removed at the click
    assert dsc(bg == 1, gts == 1) > dsc(false_pos == 1, gts == 1)
    v = out["Vessel_0001"]
    print("no-box class from one click: DSC", round(dsc(v == 1, vgts == 1), 4),
          "slices", sorted(set(np.nonzero(v)[0].tolist())))
    assert v[tuple(v_click)] == 1 and (v == 1).any(axis=(1, 2)).sum() >= 3
