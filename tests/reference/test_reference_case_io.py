"""Input checking, cgroup CPU limit and the classical baselines' logic (no Docker)."""

from __future__ import annotations

import case_io
import numpy as np
import pytest
from case_io import CaseError, cpu_limit, load_case, run_folder


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_valid_2d_and_3d(tmp_path):
    c2 = load_case(_write(tmp_path / "2DBox_US_0001.npz", imgs=np.zeros((10, 12, 3), np.uint8),
                          boxes=np.array([[0, 0, 11, 9]])))
    assert c2.dim == 2 and c2.boxes.shape == (1, 4)
    c3 = load_case(_write(tmp_path / "3DBox_CT_0001.npz", imgs=np.zeros((4, 10, 12), np.uint8),
                          boxes=np.array([[1, 1, 0, 5, 5, 3]]), spacing=np.ones(3)))
    assert c3.dim == 3 and c3.boxes.shape == (1, 6)
    grey = load_case(_write(tmp_path / "2DBox_XRay_0001.npz", imgs=np.zeros((10, 12), np.uint8),
                            boxes=np.array([[0, 0, 3, 3]])))
    assert grey.imgs.shape == (10, 12, 3)


@pytest.mark.parametrize("name,arrays,needle", [
    ("2DBox_US_0001.npz", {"imgs": np.zeros((10, 12, 3), np.uint8)}, "'boxes'"),
    ("2DBox_US_0001.npz", {"imgs": np.zeros((10, 12, 3), np.uint8),
                           "boxes": np.zeros((0, 4), np.int64)}, "at least one box"),
    ("2DBox_US_0001.npz", {"imgs": np.zeros((10, 12, 3), np.uint8),
                           "boxes": np.array([[5, 5, 40, 8]])}, "inside the image"),
    ("2DBox_US_0001.npz", {"imgs": np.zeros((10, 12, 3), np.uint8),
                           "boxes": np.array([[-1, 5, 4, 8]])}, "inside the image"),
    ("2DBox_US_0001.npz", {"imgs": np.zeros((10, 12, 3), np.uint8),
                           "boxes": np.array([[6, 5, 4, 8]])}, "x_min <= x_max"),
    ("3DBox_CT_0001.npz", {"imgs": np.zeros((4, 10, 12), np.uint8),
                           "boxes": np.array([[1, 1, 5, 5]])}, "(N, 6)"),
    ("3DBox_CT_0001.npz", {"imgs": np.zeros((4, 10, 12), np.uint8),
                           "boxes": np.array([[1, 1, 0, 5, 5, 4]])}, "z in 0..3"),
    ("2DBox_US_0001.npz", {"imgs": np.full((10, 12, 3), 300, np.int32),
                           "boxes": np.array([[1, 1, 5, 5]])}, "values 0..255"),
    ("3DBox_CT_0001.npz", {"imgs": np.zeros((10, 12, 3, 2), np.uint8),
                           "boxes": np.array([[1, 1, 0, 5, 5, 1]])}, "(D, H, W)"),
])
def test_malformed_cases_name_the_problem(tmp_path, name, arrays, needle):
    path = _write(tmp_path / name, **arrays)
    with pytest.raises(CaseError) as err:
        load_case(path)
    assert name in str(err.value) and needle in str(err.value)


def test_pickled_array_is_refused(tmp_path):
    path = tmp_path / "2DBox_US_0001.npz"
    np.savez(path, imgs=np.zeros((4, 4, 3), np.uint8), boxes=np.array([[0, 0, 1, 1]], dtype=object))
    with pytest.raises(CaseError, match="without pickle"):
        load_case(path)


def test_run_folder_keeps_going_and_reports(tmp_path, capsys):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    _write(inp / "2DBox_US_0001.npz", imgs=np.zeros((10, 12, 3), np.uint8))
    _write(inp / "2DBox_US_0002.npz", imgs=np.zeros((10, 12, 3), np.uint8),
           boxes=np.array([[0, 0, 3, 3]]))
    status = run_folder(lambda c: np.ones(c.imgs.shape[:2], np.uint8), inp, out)
    assert status == 2
    assert "ERROR 2DBox_US_0001.npz: key 'boxes'" in capsys.readouterr().err
    segs = np.load(out / "2DBox_US_0002.npz")["segs"]
    assert segs.dtype == np.uint16 and segs.shape == (10, 12)
    assert not (out / "2DBox_US_0001.npz").exists()


def test_cpu_limit_reads_cgroup_quota(monkeypatch, tmp_path):
    real_read = case_io.Path.read_text
    files = {"/sys/fs/cgroup/cpu.max": "150000 100000\n"}

    def fake_read(self, *a, **k):
        if str(self) in files:
            return files[str(self)]
        if str(self).startswith("/sys/fs/cgroup"):
            raise FileNotFoundError(str(self))
        return real_read(self, *a, **k)

    monkeypatch.setattr(case_io.Path, "read_text", fake_read)
    monkeypatch.setattr(case_io.os, "sched_getaffinity", lambda pid: set(range(8)))
    assert cpu_limit() == 2  # v2: 1.5 CPUs -> 2 threads
    files.clear()
    files.update({"/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "300000",
                  "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000"})
    assert cpu_limit() == 3  # v1
    files["/sys/fs/cgroup/cpu/cpu.cfs_quota_us"] = "-1"
    assert cpu_limit() == 8  # no quota: the affinity mask
    files["/sys/fs/cgroup/cpu/cpu.cfs_quota_us"] = "5000000"
    assert cpu_limit() == 8  # a quota above the affinity mask is capped by it


def test_box_fill_and_threshold():
    import box_fill
    import box_threshold

    segs = box_fill.fill_boxes((5, 6), np.array([[1, 1, 3, 2], [2, 2, 5, 4]]))
    assert (segs == 1).sum() == 3 * 1 + 1 and (segs == 2).sum() == 4 * 3
    img = np.full((20, 20), 30, np.uint8)
    img[5:15, 6:14] = 200
    fg = box_threshold.segment_box(img)
    assert fg.sum() == 80 and fg[5:15, 6:14].all()
    dark = 255 - img  # a dark object on a bright background is still the object
    assert (box_threshold.segment_box(dark) == fg).all()
    assert box_threshold.segment_box(np.full((4, 4), 7, np.uint8)).all()
