# A hostile prediction: about 0.5 MB on disk whose segs declares a 512 MiB array of the
# wrong shape (zeros deflate to almost nothing).
python3 - <<'PY'
import os, zipfile
for name in os.listdir("/workspace/inputs"):
    with zipfile.ZipFile("/workspace/outputs/" + name, "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("segs.npy", "w", force_zip64=True) as f:
        header = "{'descr': '|u1', 'fortran_order': False, 'shape': (16384, 32768), }"
        header += " " * (63 - (10 + len(header)) % 64) + "\n"
        f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1"))
        block = bytes(1 << 24)
        for _ in range(32):
            f.write(block)
PY
