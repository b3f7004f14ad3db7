"""Tests of the demo data generator: determinism, contract compliance, box exactness."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from evalkit.contract import ContractError, discover_cases, load_gt, load_input
from evalkit.demodata import PHANTOMS, PRESETS, boxes_from_labels, generate, make_case, write_npz
from evalkit.demodata.presets import CaseSpec


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate(out, "demo", seed=0)
    return out


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    generate(out, "tiny", seed=0)
    return out


def _extent_boxes(gts: np.ndarray, n: int) -> np.ndarray:
    """Boxes recomputed independently of the generator (np.nonzero per label)."""
    rows = []
    for label in range(1, n + 1):
        idx = np.nonzero(gts == label)
        lo = [int(a.min()) for a in idx]
        hi = [int(a.max()) for a in idx]
        if gts.ndim == 2:
            rows.append([lo[1], lo[0], hi[1], hi[0]])
        else:
            rows.append([lo[2], lo[1], lo[0], hi[2], hi[1], hi[0]])
    return np.asarray(rows)


# ----------------------------------------------------------------- building blocks


def test_boxes_from_labels_2d_and_3d_inclusive():
    lab = np.zeros((10, 12), dtype=np.uint8)
    lab[2:5, 3:9] = 1
    lab[7, 11] = 2
    assert boxes_from_labels(lab, 2).tolist() == [[3, 2, 8, 4], [11, 7, 11, 7]]
    vol = np.zeros((4, 6, 8), dtype=np.uint16)
    vol[1:3, 2:4, 5:8] = 1
    assert boxes_from_labels(vol, 1).tolist() == [[5, 2, 1, 7, 3, 2]]
    assert boxes_from_labels(vol, 1).dtype == np.int64


def test_boxes_from_labels_refuses_absent_label():
    lab = np.zeros((5, 5), dtype=np.uint8)
    lab[1, 1] = 1
    lab[3, 3] = 3
    with pytest.raises(ValueError, match=r"\[2\]"):
        boxes_from_labels(lab, 3)


def test_write_npz_is_deterministic_and_loads_without_pickle(tmp_path):
    arrays = {"imgs": np.arange(60, dtype=np.uint8).reshape(4, 5, 3),
              "boxes": np.array([[0, 1, 2, 3]], dtype=np.int64)}
    a = write_npz(tmp_path / "a.npz", arrays)
    b = write_npz(tmp_path / "sub" / "b.npz", arrays)
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as zf:
        assert [i.filename for i in zf.infolist()] == ["imgs.npy", "boxes.npy"]
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in zf.infolist())
    with np.load(a, allow_pickle=False) as data:
        np.testing.assert_array_equal(data["imgs"], arrays["imgs"])
        np.testing.assert_array_equal(data["boxes"], arrays["boxes"])
    with pytest.raises(TypeError, match="object"):
        write_npz(tmp_path / "c.npz", {"x": np.array([{}], dtype=object)})
    assert not (tmp_path / "c.npz").exists()
    assert not list(tmp_path.glob(".*.tmp"))


# ----------------------------------------------------------------- determinism


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    pa = generate(a, "tiny", seed=7)
    pb = generate(b, "tiny", seed=7)
    assert [p.name for p in pa] == [p.name for p in pb]
    ta, tb = _tree_bytes(a), _tree_bytes(b)
    assert set(ta) == set(tb)
    assert len([k for k in ta if k.endswith(".npz")]) == 2 * len(PRESETS["tiny"])
    for key in ta:
        assert ta[key] == tb[key], f"{key} differs between two runs with the same seed"


def test_different_seed_gives_different_files(tmp_path):
    generate(tmp_path / "a", "tiny", seed=1)
    generate(tmp_path / "b", "tiny", seed=2)
    ta, tb = _tree_bytes(tmp_path / "a"), _tree_bytes(tmp_path / "b")
    for key in ta:
        if key.endswith(".npz"):
            assert ta[key] != tb[key], f"{key} identical for seeds 1 and 2"


def test_case_does_not_depend_on_other_cases():
    spec = PRESETS["tiny"][1]
    ph1, b1 = make_case(spec, seed=3)
    make_case(PRESETS["tiny"][0], seed=3)
    ph2, b2 = make_case(spec, seed=3)
    np.testing.assert_array_equal(ph1.imgs, ph2.imgs)
    np.testing.assert_array_equal(b1, b2)


# ----------------------------------------------------------------- contract compliance


def _check_folder(root: Path, preset: str) -> dict[str, tuple]:
    specs = {s.name: s for s in PRESETS[preset]}
    cases = discover_cases(root / "imgs", root / "gts")
    assert sorted(c.name for c in cases) == sorted(specs)
    loaded = {}
    for case in cases:
        spec = specs[case.name]
        assert case.modality == spec.modality
        assert case.dim == spec.dim
        inp = load_input(case)
        gt = load_gt(case.gt_path, case.dim, inp.spatial_shape, n_boxes=inp.n_instances)
        n = spec.n_instances
        assert inp.imgs.dtype == np.uint8
        assert inp.spatial_shape == tuple(spec.shape)
        assert inp.boxes.shape == (n, 4 if spec.dim == 2 else 6)
        assert np.issubdtype(inp.boxes.dtype, np.integer)
        assert np.issubdtype(gt.gts.dtype, np.unsignedinteger)
        labels = np.unique(gt.gts)
        assert labels.tolist() == list(range(n + 1)), f"{case.name}: labels {labels.tolist()}"
        np.testing.assert_array_equal(inp.boxes, _extent_boxes(gt.gts, n), err_msg=case.name)
        if spec.dim == 3:
            np.testing.assert_array_equal(inp.spacing, gt.spacing)
            np.testing.assert_allclose(inp.spacing, spec.spacing)
            assert len(set(inp.spacing.tolist())) > 1, f"{case.name}: spacing is isotropic"
            assert inp.spacing[1] == inp.spacing[2], f"{case.name}: in-plane spacing comes last"
        else:
            assert inp.imgs.shape[2] == 3
            with np.load(case.input_path, allow_pickle=False) as raw:
                assert "spacing" not in raw.files
        loaded[case.name] = (inp, gt)
    return loaded


def test_tiny_cases_pass_the_contract(tiny_dir):
    loaded = _check_folder(tiny_dir, "tiny")
    # the tiny CT puts the lesion (label 2) inside the liver (label 1): later overwrites earlier
    inp, _gt = loaded["3DBox_CT_0001"]
    b1, b2 = inp.boxes
    assert (b2[:3] >= b1[:3]).all() and (b2[3:] <= b1[3:]).all()


def test_demo_cases_pass_the_contract(demo_dir):
    loaded = _check_folder(demo_dir, "demo")
    modalities = {s.modality for s in PRESETS["demo"]}
    assert modalities == set(PHANTOMS)
    inp, _ = loaded["2DBox_Microscopy_0001"]
    assert inp.n_instances >= 50
    for name, (inp, _) in loaded.items():
        if inp.dim == 3:
            depth = inp.imgs.shape[0]
            assert 24 <= depth <= 40 and 192 <= min(inp.imgs.shape[1:]) <= 256, name
            assert 2 <= inp.n_instances <= 4, name
        else:
            assert 256 <= min(inp.imgs.shape[:2]) and max(inp.imgs.shape[:2]) <= 1024, name


def test_demo_record_pins_every_file(demo_dir):
    import hashlib

    meta = json.loads((demo_dir / "demodata.json").read_text())
    assert meta["preset"] == "demo" and meta["seed"] == 0
    assert len(meta["cases"]) == len(PRESETS["demo"])
    for rec in meta["cases"]:
        path = demo_dir / "imgs" / f"{rec['name']}.npz"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == rec["input_sha256"]


def _gray(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) if img.ndim == 2 else img.astype(np.float32).mean(axis=-1)


def _middle(gts: np.ndarray, label: int, img: np.ndarray, dim: int):
    """``(mask, labels, grey image)`` of the instance's middle slice (3D) or the image (2D)."""
    mask = gts == label
    if dim == 3:
        zs = np.flatnonzero(mask.any(axis=(1, 2)))
        z = zs[len(zs) // 2]
        return mask[z], gts[z], _gray(img[z])
    return mask, gts, _gray(img)


def test_demo_objects_differ_from_their_surroundings_on_average(demo_dir):
    """Each instance still differs on average from the unlabelled ring just outside it
    (a box prompt is answerable), and in microscopy most cells touch a neighbour of
    similar intensity (so a box holds parts of other cells)."""
    from scipy import ndimage

    touching = 0
    for case in discover_cases(demo_dir / "imgs", demo_dir / "gts"):
        inp = load_input(case)
        gts = load_gt(case.gt_path, case.dim, inp.spatial_shape).gts
        for label in range(1, inp.n_instances + 1):
            mask, lab, img = _middle(gts, label, inp.imgs, case.dim)
            width = max(2, round(0.02 * min(mask.shape)))
            grown = ndimage.binary_dilation(mask, iterations=width) & ~mask
            ring = grown & (lab == 0)
            if "Microscopy" in case.name:
                touching += bool(((lab > 0) & grown).any())
            if ring.sum() < 10:  # enclosed by other instances
                continue
            inside = float(np.mean(img[mask]))
            outside = float(np.mean(img[ring]))
            assert abs(inside - outside) >= 8, (
                f"{case.name} label {label}: mean inside {inside:.0f} vs ring {outside:.0f}")
    assert touching >= 20, f"only {touching} microscopy cells touch a neighbour"


def _otsu_dice(patch: np.ndarray, truth: np.ndarray) -> float:
    """Dice of the better side of Otsu's split of ``patch`` against ``truth``."""
    hist = np.bincount(patch.astype(np.uint8).ravel(), minlength=256).astype(np.float64)
    levels = np.arange(256.0)
    w0, m0 = np.cumsum(hist), np.cumsum(hist * levels)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (m0[-1] * w0 / w0[-1] - m0) ** 2 / (w0 * (w0[-1] - w0))
    t = int(np.nanargmax(np.where(np.isfinite(between[:-1]), between[:-1], -1)))
    best = 0.0
    for fg in (patch > t, patch <= t):
        best = max(best, 2 * float((fg & truth).sum()) / (fg.sum() + truth.sum()))
    return best


@pytest.mark.parametrize("name", ["2DBox_Dermoscopy_0001", "2DBox_Microscopy_0001", "2DBox_Fundus_0001",
                                  "3DBox_CT_0001"])
def test_demo_boxes_hold_confounders_a_threshold_gets_wrong(demo_dir, name):
    """Realism the box-threshold baseline fails on: a variegated lesion, touching cells,
    vessels and a rim gradient over the disc, organs of similar density touching the
    target. Even the better side of Otsu's split in the box misses some instance by
    more than 5 % Dice."""
    inp = load_input(demo_dir / "imgs" / f"{name}.npz")
    gts = load_gt(demo_dir / "gts" / f"{name}.npz", inp.dim, inp.spatial_shape).gts
    grey = _gray(inp.imgs) if inp.dim == 2 else inp.imgs
    worst = 1.0
    for label, box in enumerate(inp.boxes, start=1):
        if inp.dim == 2:
            x0, y0, x1, y1 = (int(v) for v in box)
            sl = (slice(y0, y1 + 1), slice(x0, x1 + 1))
        else:
            x0, y0, z0, x1, y1, z1 = (int(v) for v in box)
            sl = (slice(z0, z1 + 1), slice(y0, y1 + 1), slice(x0, x1 + 1))
        worst = min(worst, _otsu_dice(np.rint(grey[sl]), gts[sl] == label))
    assert worst < 0.95, f"{name}: Otsu in the box reaches Dice {worst:.3f} on every instance"


# ----------------------------------------------------------------- phantoms and presets


@pytest.mark.parametrize("modality", sorted(PHANTOMS))
def test_phantom_functions_are_pure_and_typed(modality):
    spec = next(s for s in PRESETS["demo"] if s.modality == modality)
    small = tuple(max(48, s // 3) for s in spec.shape) if spec.dim == 2 else (12, 96, 96)
    n = min(spec.n_instances, 12)
    small_spec = CaseSpec(spec.name, modality, small, n, spec.spacing)
    a, boxes = make_case(small_spec, seed=11)
    b, _ = make_case(small_spec, seed=11)
    np.testing.assert_array_equal(a.imgs, b.imgs)
    np.testing.assert_array_equal(a.gts, b.gts)
    assert a.imgs.dtype == np.uint8
    assert a.imgs.shape == (small + (3,) if spec.dim == 2 else small)
    assert a.gts.shape == small
    assert int(a.gts.max()) == n and boxes.shape[0] == n
    assert (a.spacing is None) == (spec.dim == 2)
    assert a.imgs.std() > 5, "a phantom should not be flat"


def test_paper_preset_reproduces_rep_medsam_table6():
    table6 = {
        "3DBox_CT_0566": ((287, 512, 512), 6), "3DBox_CT_0888": ((237, 512, 512), 6),
        "3DBox_CT_0860": ((246, 512, 512), 1), "3DBox_MR_0621": ((115, 400, 400), 6),
        "3DBox_MR_0121": ((64, 290, 320), 6), "3DBox_MR_0179": ((84, 512, 512), 1),
        "3DBox_PET_0001": ((264, 200, 200), 1), "2DBox_US_0525": ((256, 256), 1),
        "2DBox_X-Ray_0053": ((320, 640), 34), "2DBox_Dermoscopy_0003": ((3024, 4032), 1),
        "2DBox_Endoscopy_0086": ((480, 560), 1), "2DBox_Fundus_0003": ((2048, 2048), 1),
        "2DBox_Microscope_0008": ((1536, 2040), 19), "2DBox_Microscope_0016": ((1920, 2560), 241),
    }
    got = {s.name: (tuple(s.shape), s.n_instances) for s in PRESETS["paper"]}
    assert got == table6


@pytest.mark.parametrize("name", ["2DBox_X-Ray_0053", "2DBox_US_0525", "2DBox_Endoscopy_0086"])
def test_small_paper_cases_generate_with_their_object_counts(name):
    spec = next(s for s in PRESETS["paper"] if s.name == name)
    ph, boxes = make_case(spec, seed=0)
    assert ph.imgs.shape == tuple(spec.shape) + (3,)
    assert boxes.shape == (spec.n_instances, 4)
    np.testing.assert_array_equal(boxes, _extent_boxes(ph.gts, spec.n_instances))


@pytest.mark.slow
def test_paper_microscopy_with_241_cells():
    spec = next(s for s in PRESETS["paper"] if s.name == "2DBox_Microscope_0016")
    ph, boxes = make_case(spec, seed=0)
    assert boxes.shape == (241, 4)
    assert np.unique(ph.gts).size == 242


# ----------------------------------------------------------------- CLI


def test_cli_writes_tiny_preset_and_preview(tmp_path):
    out, png = tmp_path / "data", tmp_path / "preview.png"
    proc = subprocess.run(
        [sys.executable, "-m", "evalkit.cli", "demo-data", "--out", str(out), "--preset", "tiny",
         "--seed", "5", "--preview", str(png)],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert str(out / "imgs") in proc.stdout and str(png) in proc.stdout
    assert len(list((out / "imgs").glob("*.npz"))) == len(PRESETS["tiny"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    meta = json.loads((out / "demodata.json").read_text())
    assert meta["seed"] == 5 and meta["preset"] == "tiny"


def test_cli_rejects_unknown_preset(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "evalkit.cli", "demo-data", "--out", str(tmp_path), "--preset", "huge"],
        capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0 and "huge" in proc.stderr


def test_generated_input_is_refused_when_boxes_break_the_contract(tiny_dir, tmp_path):
    """Sanity check of the validator on our own files: a corrupted box is caught."""
    src = tiny_dir / "imgs" / "2DBox_US_0001.npz"
    with np.load(src, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["boxes"] = arrays["boxes"].copy()
    arrays["boxes"][0, 2] = arrays["imgs"].shape[1]  # x_max == W: out of bounds
    bad = write_npz(tmp_path / "2DBox_US_0001.npz", arrays)
    with pytest.raises(ContractError):
        load_input(bad)


@pytest.mark.parametrize("seed", range(10))
def test_tiny_cases_generate_for_many_seeds(seed):
    """Placement never loses an instance, whatever the seed (boxes_from_labels would raise)."""
    for spec in PRESETS["tiny"]:
        ph, boxes = make_case(spec, seed)
        assert np.unique(ph.gts).tolist() == list(range(spec.n_instances + 1))
        np.testing.assert_array_equal(boxes, _extent_boxes(ph.gts, spec.n_instances))


def test_cvpr25_text_preset_is_deterministic_and_keeps_gt_out_of_the_inputs(tmp_path):
    from evalkit.config import load_challenge
    from evalkit.contract import discover_cases, load_input
    from evalkit.demodata.generate import generate
    from evalkit.demodata.text import TEXT_CASES

    a, b = tmp_path / "a", tmp_path / "b"
    generate(a, preset="cvpr25-text", seed=0)
    generate(b, preset="cvpr25-text", seed=0)
    ch = load_challenge("cvpr25-text")
    cases = discover_cases(a / "imgs", a / "gts", challenge=ch)
    assert [c.name for c in cases] == sorted(TEXT_CASES)
    kinds = set()
    for c in cases:
        assert (a / "imgs" / c.file_name).read_bytes() == (b / "imgs" / c.file_name).read_bytes()
        x = load_input(c, ch.contract)
        with np.load(c.input_path) as inp:
            assert "gts" not in inp.files and "boxes" not in inp.files
        with np.load(c.gt_path) as gt:
            assert gt.files == ["gts", "spacing"]
            labels = np.unique(gt["gts"])[1:]
        kinds.add(x.text.kind)
        if x.text.kind == "instance":
            assert labels.tolist() == list(range(1, len(labels) + 1)) and len(labels) >= 10
        else:
            assert set(labels) <= set(x.text.classes) and len(labels) >= 3
            if c.name == "3DText_CT_0001":  # a prompted class that is absent (gallbladder)
                assert 6 in x.text.classes and 6 not in labels
    assert kinds == {"semantic", "instance"}
    from evalkit.demodata.preview import render_preview

    assert render_preview(a, tmp_path / "preview.png").stat().st_size > 10_000  # no boxes to draw
