"""Byte-reproducible ``.npz`` writing.

``np.savez_compressed`` stamps the current time into every zip entry, so two runs
with the same seed would differ in bytes. :func:`write_npz` writes the same
container (a zip of ``<key>.npy`` members, deflated) with a fixed timestamp, fixed
permissions and members in the given order, so equal arrays give equal bytes.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npformat

#: Timestamp written into every zip member (the earliest a zip file can hold).
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)


def write_npz(path: str | Path, arrays: dict[str, np.ndarray], *, compresslevel: int = 6,
              objects: tuple[str, ...] = ()) -> Path:
    """Write ``arrays`` to ``path`` as a compressed ``.npz`` with deterministic bytes.

    Members are ``<key>.npy`` in the order of ``arrays``; object arrays are refused
    (they would need pickle) except under the keys named in ``objects`` (organiser-side
    files of the CVPR 2025 formats, whose ``boxes`` / ``text_prompts`` are pickled: written as
    ``np.savez_compressed`` writes them, pickle protocol 3). The file is written next to its target and renamed
    into place, so a reader never sees half a file. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED,
                             compresslevel=compresslevel) as zf:
            for key, value in arrays.items():
                arr = np.asarray(value)
                if arr.dtype.hasobject and key not in objects:
                    raise TypeError(f"{path.name}: key {key!r} is an object array; refusing to pickle")
                info = zipfile.ZipInfo(f"{key}.npy", date_time=FIXED_DATE_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                info.create_system = 3  # unix, whatever the host
                with zf.open(info, "w", force_zip64=True) as member:
                    npformat.write_array(member, arr, allow_pickle=key in objects)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
