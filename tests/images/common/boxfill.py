"""Answer every staged case with its boxes filled (label i = box i, later boxes overwrite).

2D box [x0, y0, x1, y1] fills rows y0:y1, columns x0:x1; 3D box
[x0, y0, z0, x1, y1, z1] fills slices z0..z1 (inclusive), rows y0:y1, columns x0:x1.
Output: /workspace/outputs/<same name>.npz with uint16 ``segs``.
"""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import npzio

IN, OUT = "/workspace/inputs", "/workspace/outputs"


def answer(path):
    arrays = npzio.read_arrays(path)
    _descr, shape, _ = arrays["imgs"]
    bdescr, bshape, braw = arrays["boxes"]
    boxes = npzio.values(bdescr, braw)
    ncol = bshape[1]
    dim = 3 if ncol == 6 else 2
    spatial = shape if dim == 3 else shape[:2]
    if dim == 2:
        spatial = (1,) + tuple(spatial)
    d, h, w = spatial
    segs = bytearray(d * h * w * 2)
    for i in range(bshape[0]):
        b = boxes[i * ncol:(i + 1) * ncol]
        if dim == 2:
            x0, y0, x1, y1 = b
            z0, z1 = 0, 0
        else:
            x0, y0, z0, x1, y1, z1 = b
        run = struct.pack("<H", i + 1) * (x1 - x0)
        for z in range(z0, z1 + 1):
            for y in range(y0, y1):
                start = ((z * h + y) * w + x0) * 2
                segs[start:start + len(run)] = run
    out_shape = spatial if dim == 3 else spatial[1:]
    npzio.write_npz(os.path.join(OUT, os.path.basename(path)), "segs", "<u2", out_shape, segs)


if __name__ == "__main__":
    for name in sorted(os.listdir(IN)):
        if name.endswith(".npz"):
            answer(os.path.join(IN, name))
            print("wrote", name)
