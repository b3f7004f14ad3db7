"""The cvpr25 demo preset: the CVPR 2025 interactive input format (evalkit/demodata/cvpr25.py)."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from evalkit.demodata import PRESETS, generate
from evalkit.demodata.cvpr25 import BOX_KEYS, box_dict
from evalkit.demodata.presets import CVPR25


@pytest.fixture(scope="module")
def cvpr25_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cvpr25")
    generate(out, "cvpr25", seed=0)
    return out


def _load(path: Path) -> dict:
    # organiser-side test: the boxes member is pickled (dicts), as in the organisers' files
    with np.load(path, allow_pickle=True) as f:
        return {k: f[k] for k in f.files}


def test_layout_names_manifest_and_record(cvpr25_dir):
    names = sorted(p.stem for p in (cvpr25_dir / "imgs").glob("*.npz"))
    assert names == sorted(s.name for s in CVPR25) and 6 <= len(names) <= 8
    assert sorted(p.stem for p in (cvpr25_dir / "gts").glob("*.npz")) == names
    assert not any(n.startswith(("3DBox_", "2DBox_")) for n in names)
    assert any(n.split("_")[0] not in ("CT", "MR", "PET") for n in names)   # one without a modality token
    with open(cvpr25_dir / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["case"] for r in rows] == names
    assert {r["modality"] for r in rows} == {"CT", "MR", "PET"} and {r["dim"] for r in rows} == {"3"}
    meta = json.loads((cvpr25_dir / "demodata.json").read_text())
    assert meta["preset"] == "cvpr25" and [c["name"] for c in meta["cases"]] == names
    for c in meta["cases"]:
        ip, gp = cvpr25_dir / "imgs" / f"{c['name']}.npz", cvpr25_dir / "gts" / f"{c['name']}.npz"
        assert hashlib.sha256(ip.read_bytes()).hexdigest() == c["input_sha256"]
        assert hashlib.sha256(gp.read_bytes()).hexdigest() == c["gt_sha256"]
    total = sum(p.stat().st_size for p in cvpr25_dir.rglob("*") if p.is_file())
    assert total < 5_000_000


def test_inputs_and_gt_follow_the_format(cvpr25_dir):
    with_boxes = 0
    for spec in CVPR25:
        inp = _load(cvpr25_dir / "imgs" / f"{spec.name}.npz")
        with np.load(cvpr25_dir / "gts" / f"{spec.name}.npz") as f:   # no pickle in the GT
            assert f.files == ["gts"]
            gts = f["gts"]
        assert "gts" not in inp
        imgs = inp["imgs"]
        assert imgs.dtype == np.uint8 and imgs.ndim == 3 and imgs.shape == gts.shape
        assert 28 <= imgs.shape[0] <= 48 and 96 <= imgs.shape[1] <= 128
        assert inp["spacing"].shape == (3,) and inp["spacing"].dtype == np.float64
        labels = np.unique(gts)
        assert gts.dtype == np.uint8 and list(labels) == list(range(int(gts.max()) + 1))  # sequential
        assert ("boxes" in inp) == spec.boxes
        if spec.boxes:
            with_boxes += 1
            boxes = inp["boxes"]
            assert boxes.dtype == object and boxes.shape == (int(gts.max()),)
            for lab, b in enumerate(boxes, start=1):
                assert list(b) == list(BOX_KEYS)
                m = gts == lab
                z = np.nonzero(m.any(axis=(1, 2)))[0]
                assert (b["z_min"], b["z_max"]) == (z.min(), z.max()) and b["z_mid"] == z[len(z) // 2]
                ys, xs = np.nonzero(m[b["z_mid"]])
                H, W = m.shape[1:]
                assert 0 <= b["z_mid_x_min"] <= xs.min() and xs.max() <= b["z_mid_x_max"] <= W - 1
                assert 0 <= b["z_mid_y_min"] <= ys.min() and ys.max() <= b["z_mid_y_max"] <= H - 1
                assert xs.min() - b["z_mid_x_min"] <= int(5 * W / 256)
    assert 0 < with_boxes < len(CVPR25)


def test_members_are_what_np_savez_compressed_writes(cvpr25_dir):
    path = cvpr25_dir / "imgs" / f"{CVPR25[0].name}.npz"
    data = _load(path)
    ref = path.with_name("ref.npz")
    try:
        np.savez_compressed(ref, imgs=data["imgs"], spacing=data["spacing"], boxes=list(data["boxes"]))
        with zipfile.ZipFile(path) as a, zipfile.ZipFile(ref) as b:
            assert a.namelist() == b.namelist()
            for name in a.namelist():
                assert a.read(name) == b.read(name), name
    finally:
        ref.unlink(missing_ok=True)


def test_a_vessel_case_without_boxes():
    spec = next(s for s in CVPR25 if s.keep == (6,))
    assert not spec.boxes and spec.modality == "CT"
    from evalkit.demodata.cvpr25 import make_interactive_case

    _inputs, gt = make_interactive_case(spec)
    gts = gt["gts"]
    assert int(gts.max()) == 1
    slices = gts.any(axis=(1, 2))
    assert slices.mean() > 0.8                            # runs through nearly every slice
    assert (gts == 1).sum() / slices.sum() < 0.02 * gts.shape[1] * gts.shape[2]   # thin in-plane


def test_deterministic_bytes(tmp_path, cvpr25_dir):
    generate(tmp_path, "cvpr25", seed=0)
    for p in sorted((cvpr25_dir / "imgs").glob("*.npz")):
        assert (tmp_path / "imgs" / p.name).read_bytes() == p.read_bytes()
    generate(tmp_path / "s1", "cvpr25", seed=1)
    assert (tmp_path / "s1" / "imgs" / "CT_abdomen_0001.npz").read_bytes() != \
        (cvpr25_dir / "imgs" / "CT_abdomen_0001.npz").read_bytes()


def test_box_dict_enlargement_and_clipping():
    m = np.zeros((5, 256, 256), dtype=bool)
    m[1:4, 0:10, 100:120] = True
    b = box_dict(m, 5)
    assert (b["z_min"], b["z_max"], b["z_mid"]) == (1, 3, 2)
    assert (b["z_mid_x_min"], b["z_mid_x_max"]) == (95, 124)
    assert (b["z_mid_y_min"], b["z_mid_y_max"]) == (0, 14)
    assert box_dict(m, 0)["z_mid_y_max"] == 9


def test_cli_writes_cvpr25(tmp_path):
    out = tmp_path / "d"
    r = subprocess.run([sys.executable, "-m", "evalkit.cli", "demo-data", "--preset", "cvpr25", "--out", str(out)],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert "manifest" in r.stdout and (out / "manifest.csv").is_file()
    assert "cvpr25" in PRESETS
