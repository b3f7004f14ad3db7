"""Corrupted files never escape as anything but a ContractError (or load fine)."""

from __future__ import annotations

import io

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalkit.contract import ContractError, load_npz


def _valid_npz_bytes(compressed: bool) -> bytes:
    buf = io.BytesIO()
    save = np.savez_compressed if compressed else np.savez
    save(buf, segs=np.arange(60, dtype=np.uint16).reshape(3, 4, 5), spacing=np.ones(3))
    return buf.getvalue()


BASES = {c: _valid_npz_bytes(c) for c in (False, True)}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    compressed=st.booleans(),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.one_of(st.none(), st.integers(1, 10_000)),
)
def test_corrupted_bytes_raise_only_contract_errors(tmp_path, compressed, edits, cut):
    raw = bytearray(BASES[compressed])
    for pos, value in edits:
        raw[pos % len(raw)] = value
    if cut is not None:
        raw = raw[: cut % len(raw) + 1]
    path = tmp_path / "3DBox_CT_0001.npz"
    path.write_bytes(bytes(raw))
    try:
        out = load_npz(path, keys=["segs"], max_decompressed_bytes=1_000_000)
    except ContractError as err:
        assert err.reason in {"bad_zip", "zip_bomb", "missing_key", "pickled"}, err
        assert "3DBox_CT_0001" in str(err)
    else:
        assert out["segs"].nbytes <= 1_000_000
