"""CVPR25 interactive inputs in the reference images' case reader (common/case_io.py)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from case_io import CaseError, load_case

BOX = {"z_min": 1, "z_max": 4, "z_mid": 2, "z_mid_x_min": 3, "z_mid_y_min": 4,
       "z_mid_x_max": 9, "z_mid_y_max": 8}


def _write_iter(path, with_boxes=True, clicks=None, order=None, prev=True, **extra):
    """An input as the official loop writes it (np.savez of lists -> object arrays)."""
    imgs = np.zeros((6, 10, 12), np.uint8)
    kw = {"imgs": imgs, "spacing": np.ones(3)}
    if with_boxes:
        kw["boxes"] = [BOX, dict(BOX, z_min=0, z_max=5)]
    if clicks is not None:
        kw["clicks"] = clicks
        kw["clicks_order"] = order
    if prev:
        kw["prev_pred"] = np.ones(imgs.shape, np.uint8)
    kw.update(extra)
    np.savez_compressed(path, **kw)
    return path


def test_box_iteration_reads_dict_boxes_without_a_3d_prefix(tmp_path):
    case = load_case(_write_iter(tmp_path / "CT_liver_0001.npz", prev=False))
    it = case.interactive
    assert case.dim == 3 and case.boxes.shape == (0, 6) and it.n_classes == 2
    assert it.boxes[0].box == (3, 4, 9, 8) and (it.boxes[0].z_min, it.boxes[0].z_mid,
                                                 it.boxes[0].z_max) == (1, 2, 4)
    assert it.prev_pred is None and all(len(f) == 0 for f in it.fg) and it.order == ((), ())


def test_click_iteration_reads_clicks_order_and_prev_pred(tmp_path):
    clicks = [{"fg": [[np.int64(2), np.int64(5), np.int64(6)]], "bg": []},
              {"fg": [[1, 2, 3]], "bg": [[4, 5, 6]]}]
    order = [["fg", None], ["fg", "bg"]]  # with None: an object array; without: a str array
    case = load_case(_write_iter(tmp_path / "MR_0002.npz", clicks=clicks, order=order))
    it = case.interactive
    assert it.fg[0].tolist() == [[2, 5, 6]] and it.bg[0].shape == (0, 3)
    assert it.bg[1].tolist() == [[4, 5, 6]] and it.order == (("fg", None), ("fg", "bg"))
    assert it.prev_pred.dtype == np.uint16 and it.prev_pred.shape == (6, 10, 12)
    case = load_case(_write_iter(tmp_path / "MR_0003.npz", clicks=clicks,
                                 order=[["fg"], ["bg"]]))
    assert case.interactive.order == (("fg",), ("bg",))


def test_classes_without_boxes_come_from_clicks(tmp_path):
    case = load_case(_write_iter(tmp_path / "Vessel_0001.npz", with_boxes=False,
                                 clicks=[{"fg": [[3, 3, 3]], "bg": []}], order=[["fg"]]))
    assert case.interactive.boxes == (None,) and case.interactive.fg[0].tolist() == [[3, 3, 3]]


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/evalkit-refclicks-pwned",))


def test_hostile_pickle_is_refused_without_running_it(tmp_path):
    if os.path.exists("/tmp/evalkit-refclicks-pwned"):
        os.remove("/tmp/evalkit-refclicks-pwned")
    path = _write_iter(tmp_path / "CT_0009.npz", clicks=[{"fg": [_Evil()], "bg": []}] * 2,
                       order=[["fg"], ["fg"]])
    with pytest.raises(CaseError, match="refusing to unpickle") as err:
        load_case(path)
    assert "CT_0009.npz" in str(err.value) and "'clicks'" in str(err.value)
    assert not os.path.exists("/tmp/evalkit-refclicks-pwned")


@pytest.mark.parametrize("kw,needle", [
    ({"clicks": [{"fg": [[9, 0, 0]], "bg": []}] * 2, "order": [["fg"]] * 2}, "inside the image"),
    ({"clicks": [{"fg": [[1, 0]], "bg": []}] * 2, "order": [["fg"]] * 2}, "[z, y, x]"),
    ({"clicks": [{"fg": [], "bg": []}] * 3, "order": [[None]] * 3}, "one entry per class"),
    ({"clicks": [{"fg": [], "bg": []}] * 2, "order": [["up"]] * 2}, "'fg'/'bg'/None"),
    ({"clicks": [{"fg": [], "bg": []}] * 2, "order": [[None]] * 2,
      "prev_pred": np.zeros((6, 10), np.uint8)}, "prev_pred"),
    ({"boxes": [dict(BOX, z_max=9)] * 2}, "z_max"),
    ({"boxes": [{"z_min": 1}] * 2}, "key 'z_max'"),
])
def test_malformed_interactive_inputs_name_the_problem(tmp_path, kw, needle):
    extra = {k: v for k, v in kw.items() if k not in ("clicks", "order")}
    path = _write_iter(tmp_path / "PET_0001.npz", clicks=kw.get("clicks"), order=kw.get("order"),
                       **extra)
    with pytest.raises(CaseError) as err:
        load_case(path)
    assert "PET_0001.npz" in str(err.value) and needle in str(err.value)
