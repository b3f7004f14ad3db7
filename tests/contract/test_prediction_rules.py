"""Predictions as the official scorer takes them, and hostile headers that cost no memory
(hardening issue, items 5 and 9)."""

from __future__ import annotations

import tracemalloc
import zipfile

import numpy as np
import numpy.lib.format as npformat
import pytest

from evalkit.contract import ContractError, load_prediction
from evalkit.metrics.scoring import score_case
from evalkit.metrics.settings import MetricSettings

SHAPE = (24, 32)
CASE = "2DBox_US_0042"


def _gt(tmp_path):
    gt = np.zeros(SHAPE, np.uint8)
    gt[3:10, 4:12] = 1
    gt[14:20, 18:30] = 2
    path = tmp_path / "gt" / f"{CASE}.npz"
    path.parent.mkdir(exist_ok=True)
    np.savez_compressed(path, gts=gt)
    return gt, path


def _pred(tmp_path, segs, name="pred"):
    path = tmp_path / name / f"{CASE}.npz"
    path.parent.mkdir(exist_ok=True)
    np.savez_compressed(path, segs=segs)
    return path


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16, np.int8, np.float32, np.float64])
def test_official_scorer_dtypes_score_like_uint16(tmp_path, dtype):
    gt, gt_path = _gt(tmp_path)
    pred = gt.copy()
    pred[3:5, 4:12] = 0  # not perfect: the scores must be computed, not defaulted
    ref = score_case(CASE, gt_path, _pred(tmp_path, pred.astype(np.uint16), "ref"), MetricSettings())
    got = score_case(CASE, gt_path, _pred(tmp_path, pred.astype(dtype)), MetricSettings())
    assert ref.row["status"] == "ok" and 0 < ref.row["dsc"] < 1
    assert got.row["status"] == "ok", got.row["reason"]
    assert (got.row["dsc"], got.row["nsd"]) == (ref.row["dsc"], ref.row["nsd"])
    assert np.dtype(dtype).name in got.row["reason"]  # the conversion is noted on the case


@pytest.mark.parametrize(("values", "found"), [
    (np.nan, "NaN"), (np.inf, "NaN or infinite"), (-1.0, "negative"), (0.5, "non-integral"),
])
def test_non_label_floats_are_refused(tmp_path, values, found):
    gt, gt_path = _gt(tmp_path)
    pred = gt.astype(np.float32)
    pred[0, 0] = values
    res = score_case(CASE, gt_path, _pred(tmp_path, pred), MetricSettings())
    assert res.row["status"] == "invalid_output" and res.row["dsc"] == 0
    assert "bad_values" in res.row["reason"] and found in res.row["reason"]


def test_negative_signed_labels_are_refused(tmp_path):
    gt, _ = _gt(tmp_path)
    pred = gt.astype(np.int64)
    pred[1, 1] = -3
    with pytest.raises(ContractError) as info:
        load_prediction(_pred(tmp_path, pred), SHAPE)
    assert info.value.reason == "bad_values"


def test_strict_switch_keeps_the_unsigned_rule(tmp_path):
    gt, _ = _gt(tmp_path)
    path = _pred(tmp_path, gt.astype(np.int64))
    with pytest.raises(ContractError) as info:
        load_prediction(path, SHAPE, {"segs_dtypes": "unsigned"})
    assert info.value.reason == "bad_dtype" and "uint16" in str(info.value)
    ok = load_prediction(_pred(tmp_path, gt.astype(np.uint16), "u"), SHAPE, {"segs_dtypes": "unsigned"})
    assert ok.dtype == np.uint16


def test_converted_map_is_the_smallest_unsigned_dtype(tmp_path):
    segs = np.zeros(SHAPE, np.int64)
    segs[0, 0] = 300
    out = load_prediction(_pred(tmp_path, segs), SHAPE)
    assert out.dtype == np.uint16 and out[0, 0] == 300 and out.sum() == 300


def _huge_declared(path, shape, dtype=np.uint8, chunk=1 << 24):
    """An .npz whose ``segs`` declares ``shape`` of zeros: a few MB on disk."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape)) * dtype.itemsize
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("segs.npy", "w", force_zip64=True) as f:
        npformat.write_array_header_1_0(
            f, {"descr": dtype.str, "fortran_order": False, "shape": tuple(shape)})
        zeros = bytes(chunk)
        while n > 0:
            f.write(zeros[: min(n, chunk)])
            n -= chunk
    return path


@pytest.mark.parametrize(("declared", "dtype", "reason"), [
    ((16384, 32768), np.uint8, "bad_shape"),        # 512 MiB of the wrong 2D shape
    ((512, 1024, 1024), np.uint8, "bad_shape"),     # 512 MiB, 3D
    ((4096, 65536), np.complex64, "bad_dtype"),     # 2 GiB of a dtype that is no label map
])
def test_huge_declared_members_cost_no_memory(tmp_path, declared, dtype, reason):
    path = _huge_declared(tmp_path / f"{CASE}.npz", declared, dtype=dtype)
    assert path.stat().st_size < 16 << 20  # a few MB on disk
    tracemalloc.start()
    try:
        with pytest.raises(ContractError) as info:
            load_prediction(path, SHAPE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.reason == reason
    if reason == "bad_shape":
        assert str(declared[0]) in str(info.value)
    assert peak < 8 << 20, f"loader peaked at {peak / 2**20:.0f} MiB for a refused header"
