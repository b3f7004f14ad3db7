"""The restricted unpickler: organiser members load, anything else is refused unrun."""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from evalkit.contract import ContractError
from evalkit.contract.npz import load_npz
from evalkit.contract.safepickle import check_plain, restricted_loads

BOXES = [{"z_min": 3, "z_max": 9, "z_mid": 6, "z_mid_x_min": 10, "z_mid_y_min": 12,
          "z_mid_x_max": 30, "z_mid_y_max": 33},
         {"z_min": 0, "z_max": 2, "z_mid": 1, "z_mid_x_min": 0, "z_mid_y_min": 0,
          "z_mid_x_max": 5, "z_mid_y_max": 5}]


def _npy_pickle(obj) -> bytes:
    """The pickle numpy writes after the header of an object member."""
    buf = io.BytesIO()
    np.save(buf, np.asanyarray(obj), allow_pickle=True)
    raw = buf.getvalue()
    stream = io.BytesIO(raw)
    np.lib.format.read_magic(stream)
    np.lib.format.read_array_header_1_0(stream)
    return raw[stream.tell():]


class _Boom:
    """Unpickling this runs a shell command (what allow_pickle=True would do)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("obj", [
    BOXES,
    {"1": "liver", "2": "left kidney"},
    [{"fg": [[np.int64(3), np.int64(4), np.int64(5)]], "bg": []}, {"fg": [], "bg": [[1, 2, 3]]}],
    [["fg", None], ["bg", "fg"]],
    np.array([np.arange(6, dtype=np.uint16).reshape(2, 3), 1.5, True, None, "x"], dtype=object),
])
def test_organiser_members_round_trip(obj):
    got = restricted_loads(_npy_pickle(obj))
    want = np.asanyarray(obj)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert repr(got.tolist()) == repr(want.tolist())


def test_hostile_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"
    payload = pickle.dumps(_Boom(str(marker)), protocol=4)
    with pytest.raises(ContractError) as info:
        restricted_loads(payload, what="member 'boxes'", case="c1", file="c1.npz", key="boxes")
    assert info.value.reason == "pickled"
    assert "posix.system" in str(info.value) or "os.system" in str(info.value)
    assert not marker.exists()
    # control: the unrestricted loader would have run it
    pickle.loads(payload)
    assert marker.exists()


def test_hostile_member_in_npz_is_refused(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "case.npz"
    np.savez_compressed(path, imgs=np.zeros((2, 4, 4), np.uint8),
                        boxes=np.array([_Boom(str(marker))], dtype=object))
    with pytest.raises(ContractError) as info:
        load_npz(path, keys=["imgs", "boxes"], objects=["boxes"])
    assert info.value.reason == "pickled" and info.value.key == "boxes"
    assert not marker.exists()


def test_object_member_not_named_in_objects_is_refused(tmp_path):
    path = tmp_path / "case.npz"
    np.savez_compressed(path, boxes=np.asanyarray(BOXES))
    with pytest.raises(ContractError) as info:
        load_npz(path, keys=["boxes"])
    assert info.value.reason == "pickled"
    got = load_npz(path, keys=["boxes"], objects=["boxes"])["boxes"]
    assert got.tolist() == BOXES


def test_other_globals_and_direct_ndarray_calls_are_refused():
    class_pickle = pickle.dumps(zipfile.ZipInfo("x"), protocol=4)
    with pytest.raises(ContractError):
        restricted_loads(class_pickle)
    # a pickle calling numpy.ndarray((huge,)) directly would allocate anything it names
    huge = (b"\x80\x04\x8c\x05numpy\x94\x8c\x07ndarray\x94\x93\x94"
            b"\x8a\x08\x00\x00\x00\x00\x00\x01\x00\x00\x85\x94R\x94.")
    with pytest.raises(ContractError):
        restricted_loads(huge)
    with pytest.raises(ContractError):
        restricted_loads(b"not a pickle")


def test_check_plain_bounds_depth_and_types():
    deep: list = []
    for _ in range(40):
        deep = [deep]
    with pytest.raises(ValueError, match="deeper"):
        check_plain(deep)
    with pytest.raises(ValueError, match="type"):
        check_plain({"a": {1, 2}})
    check_plain({"a": [1, 2.0, None, "s", np.float32(1)]})
