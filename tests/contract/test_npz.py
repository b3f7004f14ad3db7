"""Safe .npz loading: every hostile file is refused with the right reason, nothing unpickled."""

from __future__ import annotations

import io
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from contract_helpers import assert_names, write_2d

from evalkit.contract import ContractError, load_input, load_npz, load_prediction
from evalkit.contract.npz import _BoundedReader


class Marker:
    """Unpickling this object creates a file: proof that code ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def _reason(path, **kw) -> ContractError:
    with pytest.raises(ContractError) as info:
        load_npz(path, **kw)
    return info.value


def test_pickled_object_array_is_refused_without_unpickling(tmp_path):
    # Control: the marker mechanism works (np.load with allow_pickle=True runs it).
    control_marker = tmp_path / "control_ran"
    control = tmp_path / "control.npz"
    np.savez(control, segs=np.array([Marker(control_marker)], dtype=object), allow_pickle=True)
    np.load(control, allow_pickle=True)["segs"]
    assert control_marker.exists()

    marker = tmp_path / "payload_ran"
    path = tmp_path / "3DBox_CT_0001.npz"
    np.savez(path, segs=np.array([Marker(marker)], dtype=object), allow_pickle=True)
    err = _reason(path, keys=["segs"])
    assert err.reason == "pickled"
    assert_names(err, "3DBox_CT_0001", path, "segs")
    assert not marker.exists()
    with pytest.raises(ContractError) as info:
        load_prediction(path, (1,))
    assert info.value.reason == "pickled"
    assert not marker.exists()


def test_unrequested_members_are_never_inflated(tmp_path):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "2DBox_CT_0002.npz"
    segs = np.ones((3, 4), np.uint16)
    np.savez(path, segs=segs, cache=np.array([Marker(marker)], dtype=object), allow_pickle=True)
    out = load_npz(path, keys=["segs"])
    assert list(out) == ["segs"]
    np.testing.assert_array_equal(out["segs"], segs)
    assert not marker.exists()


def test_symlink_to_a_valid_file_outside_the_folder_is_refused(tmp_path):
    outside = write_2d(tmp_path / "elsewhere.npz")
    load_npz(outside)  # the target itself is fine
    folder = tmp_path / "outputs"
    folder.mkdir()
    link = folder / "2DBox_CT_0001.npz"
    link.symlink_to(outside)
    err = _reason(link)
    assert err.reason == "symlink"
    assert_names(err, "2DBox_CT_0001", link, None)
    with pytest.raises(ContractError) as info:
        load_input(link)
    assert info.value.reason == "symlink"


def test_empty_file(tmp_path):
    path = tmp_path / "2DBox_US_0003.npz"
    path.write_bytes(b"")
    err = _reason(path)
    assert err.reason == "empty_file"
    assert_names(err, "2DBox_US_0003", path, None)


def test_missing_file(tmp_path):
    err = _reason(tmp_path / "2DBox_US_0004.npz")
    assert err.reason == "missing_file"
    assert "2DBox_US_0004" in str(err)


def test_directory_and_fifo_are_not_regular_files(tmp_path):
    d = tmp_path / "2DBox_US_0005.npz"
    d.mkdir()
    assert _reason(d).reason == "not_regular_file"
    fifo = tmp_path / "2DBox_US_0006.npz"
    os.mkfifo(fifo)  # opening a FIFO for reading would block: must be refused before
    err = _reason(fifo)
    assert err.reason == "not_regular_file"
    assert "named pipe" in str(err)


def test_file_above_max_file_bytes(case2d):
    size = case2d.stat().st_size
    err = _reason(case2d, max_file_bytes=size - 1)
    assert err.reason == "too_large"
    assert str(size) in str(err)
    assert load_npz(case2d, max_file_bytes=size)  # at the limit is fine


def test_plain_npy_and_non_zip_are_bad_zip(tmp_path):
    npy = tmp_path / "2DBox_CT_0007.npz"
    with open(npy, "wb") as fh:
        np.save(fh, np.zeros(3, np.uint8))
    err = _reason(npy)
    assert err.reason == "bad_zip"
    assert ".npy" in str(err)
    txt = tmp_path / "2DBox_CT_0008.npz"
    txt.write_text("not an archive")
    assert _reason(txt).reason == "bad_zip"


def test_truncated_zip(case3d):
    data = case3d.read_bytes()
    case3d.write_bytes(data[: len(data) // 2])
    err = _reason(case3d)
    assert err.reason == "bad_zip"
    assert_names(err, "3DBox_MR_0001", case3d, None)


def test_bad_crc(tmp_path):
    path = tmp_path / "2DBox_CT_0009.npz"
    np.savez(path, segs=np.zeros((20, 20), np.uint8))  # stored: the data bytes are in the file
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("segs.npy")
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack(
        "<HH", raw[info.header_offset + 26 : info.header_offset + 30]
    )
    data_start = info.header_offset + 30 + name_len + extra_len
    raw[data_start + info.file_size - 5] ^= 0xFF  # inside the array data, not the header
    path.write_bytes(bytes(raw))
    err = _reason(path, keys=["segs"])
    assert err.reason == "bad_zip"
    assert "CRC" in str(err)
    assert err.key == "segs"


def _patch_declared_size(path: Path, member: str, new_size: int) -> None:
    """Rewrite a member's uncompressed size in both the local and the central header."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    struct.pack_into("<I", raw, info.header_offset + 22, new_size)
    central = raw.find(b"PK\x01\x02")
    while central != -1:
        n = struct.unpack_from("<H", raw, central + 28)[0]
        if raw[central + 46 : central + 46 + n] == member.encode():
            struct.pack_into("<I", raw, central + 24, new_size)
            break
        central = raw.find(b"PK\x01\x02", central + 4)
    else:
        raise AssertionError(f"no central header for {member}")
    path.write_bytes(bytes(raw))


def test_declared_huge_member_is_a_zip_bomb_before_inflating(tmp_path):
    path = tmp_path / "3DBox_CT_0010.npz"
    np.savez_compressed(path, segs=np.zeros((4, 4, 4), np.uint8))
    _patch_declared_size(path, "segs.npy", 0xFFFF_FFF0)  # ~4.3 GB, above the bundled 4 GB
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("segs.npy").file_size == 0xFFFF_FFF0
    err = _reason(path, keys=["segs"])
    assert err.reason == "zip_bomb"
    assert_names(err, "3DBox_CT_0010", path, None)
    assert str(0xFFFF_FFF0) in str(err)


def test_highly_compressible_array_above_a_small_limit(tmp_path):
    path = tmp_path / "3DBox_CT_0011.npz"
    np.savez_compressed(path, segs=np.zeros((64, 128, 128), np.uint8))  # 1 MiB -> ~1 KB
    assert path.stat().st_size < 10_000
    err = _reason(path, keys=["segs"], max_decompressed_bytes=500_000)
    assert err.reason == "zip_bomb"
    assert load_npz(path, keys=["segs"], max_decompressed_bytes=2_000_000)["segs"].shape == (
        64,
        128,
        128,
    )


def test_member_understating_its_size_is_refused(tmp_path):
    path = tmp_path / "2DBox_CT_0012.npz"
    np.savez_compressed(path, segs=np.zeros((100, 100), np.uint16))
    _patch_declared_size(path, "segs.npy", 1000)  # the array needs 20000 bytes
    err = _reason(path, keys=["segs"])
    assert err.reason in ("bad_zip", "zip_bomb")
    assert err.key == "segs"


def test_bounded_reader_raises_past_its_limit():
    seen = []

    def overflow(count):
        seen.append(count)
        raise ContractError("zip_bomb", file="x.npz", key="segs", found=f"{count}")

    reader = _BoundedReader(io.BytesIO(b"a" * 100), 64, overflow)
    assert reader.read(64) == b"a" * 64
    with pytest.raises(ContractError) as info:
        reader.read(10)
    assert info.value.reason == "zip_bomb"
    assert seen == [65]
    assert _BoundedReader(io.BytesIO(b"a" * 10), 64, overflow).read() == b"a" * 10


def test_missing_key_lists_what_is_there(case2d):
    err = _reason(case2d, keys={"segs": "uint16 label map"})
    assert err.reason == "missing_key"
    assert_names(err, "2DBox_CT_0001", case2d, "segs")
    assert "'imgs'" in str(err) and "'boxes'" in str(err)
    assert load_npz(case2d, keys=["imgs", "spacing"], optional=["spacing"]).keys() == {"imgs"}


def test_round_trip_keeps_dtype_shape_and_order(tmp_path):
    path = tmp_path / "3DBox_CT_0013.npz"
    fortran = np.asfortranarray(np.arange(24, dtype=np.int16).reshape(2, 3, 4))
    big = np.arange(6, dtype=">u2")
    np.savez_compressed(path, a=fortran, b=big, c=np.float32(1.5))
    out = load_npz(path)
    assert set(out) == {"a", "b", "c"}
    np.testing.assert_array_equal(out["a"], fortran)
    np.testing.assert_array_equal(out["b"], big)
    assert out["b"].dtype == np.dtype(">u2")
    assert out["c"].shape == () and out["c"] == np.float32(1.5)


def test_too_many_members_refused_before_zipfile_parses_them(tmp_path):
    path = tmp_path / "2DBox_CT_0014.npz"
    np.savez(path, **{f"m{i}": np.zeros(1, np.uint8) for i in range(300)}, segs=np.zeros(2))
    err = _reason(path, keys=["segs"])
    assert err.reason == "bad_zip"
    assert "301 members" in str(err)
