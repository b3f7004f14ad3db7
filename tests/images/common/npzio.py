"""Minimal .npz reading/writing with the Python standard library only (no numpy in test images).

read_arrays(path) -> {key: (descr, shape, raw_bytes)}; write_npz(path, key, descr, shape, data).
Only C-order little-endian integer/uint8 arrays, which is all the contract needs.
"""

import ast
import struct
import zipfile

FORMATS = {"|u1": "B", "<u1": "B", "|i1": "b", "<i1": "b", "<u2": "H", "<i2": "h",
           "<u4": "I", "<i4": "i", "<u8": "Q", "<i8": "q", "<f4": "f", "<f8": "d"}


def parse_npy(blob):
    if blob[:6] != b"\x93NUMPY":
        raise ValueError("not an .npy member")
    major = blob[6]
    if major == 1:
        (hlen,), start = struct.unpack("<H", blob[8:10]), 10
    else:
        (hlen,), start = struct.unpack("<I", blob[8:12]), 12
    header = ast.literal_eval(blob[start:start + hlen].decode("latin1"))
    if header["fortran_order"]:
        raise ValueError("fortran order not supported")
    return header["descr"], tuple(header["shape"]), blob[start + hlen:]


def read_arrays(path):
    out = {}
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            key = name.removesuffix(".npy")
            out[key] = parse_npy(zf.read(name))
    return out


def values(descr, raw):
    fmt = FORMATS[descr]
    n = len(raw) // struct.calcsize(fmt)
    return list(struct.unpack(f"<{n}{fmt}", raw))


def npy_bytes(descr, shape, data):
    if len(shape) == 1:
        shape_txt = f"({shape[0]},)"
    else:
        shape_txt = "(" + ", ".join(str(s) for s in shape) + ")"
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_txt}, }}"
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * (pad % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + bytes(data)


def write_npz(path, key, descr, shape, data):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(key + ".npy", npy_bytes(descr, shape, data))
