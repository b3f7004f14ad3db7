"""Interactive (CVPR 2025) test submission, python3 stdlib only.

The iteration is read from the input: 1 + the number of click iterations, which
is the second extent of the ``clicks_order`` member's ``.npy`` header (the
official harness stores it as a (classes, iterations) array; no unpickling).
Answer for iteration ``it`` (k = it - 1 click iterations so far): inside the
central block (slices D/3..2D/3, rows and columns H/4..3H/4, W/4..3W/4) of the
uint8 image, label 1 where the intensity is >= 140 - 8 k, label 2 where
>= 220 - 8 k (a threshold that moves with every iteration); 0 elsewhere;
written as uint8 ``segs``.

A perfect class: for ``study_0007`` from iteration 3 on, label 1 is exactly the
GT's class 1 (``oracle_study_0007.bin``: zlib of that mask as uint8 bytes, the
demo set's ``study_0007`` at seed 0; test data only, the GT never enters a real
container), so the harness finds class 1 perfect and gives it no click.

Deliberate failures (exit 0, nothing written):
* ``CT_abdomen_0001``: iteration 3 (two click iterations in the input), so the
  harness finds iteration 2's file still there (stale) when the outputs folder
  is kept;
* ``MR_brain_0001``: iteration 1 (the box run), so no file exists at all yet.
"""

import os
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import npzio

IN, OUT = "/workspace/inputs", "/workspace/outputs"
SKIP = {("CT_abdomen_0001", 3), ("MR_brain_0001", 1)}


def iteration(arrays):
    if "clicks_order" not in arrays:
        return 1
    _descr, shape, _ = arrays["clicks_order"]
    return 1 + (shape[1] if len(shape) == 2 else 0)


def table(k):
    out = bytearray(256)
    for v in range(256):
        out[v] = 2 if v >= 220 - 8 * k else (1 if v >= 140 - 8 * k else 0)
    return bytes(out)


def answer(path):
    arrays = npzio.read_arrays(path)
    it = iteration(arrays)
    stem = os.path.basename(path)[:-4]
    if (stem, it) in SKIP:
        print(f"{stem}: iteration {it}: deliberately writing nothing")
        return
    descr, shape, raw = arrays["imgs"]
    if descr not in ("|u1", "<u1"):
        raise SystemExit(f"{stem}: imgs must be uint8, found {descr}")
    d, h, w = shape
    lut = table(it - 1)
    segs = bytearray(d * h * w)
    x0, x1 = w // 4, 3 * w // 4
    for z in range(d // 3, 2 * d // 3):
        for y in range(h // 4, 3 * h // 4):
            a = (z * h + y) * w
            segs[a + x0:a + x1] = raw[a + x0:a + x1].translate(lut)
    oracle = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"oracle_{stem}.bin")
    if it >= 3 and os.path.exists(oracle):
        with open(oracle, "rb") as fh:
            mask = zlib.decompress(fh.read())
        if len(mask) != len(segs):
            raise SystemExit(f"{stem}: oracle of {len(mask)} voxels for an image of {len(segs)}")
        for i, m in enumerate(mask):
            if m:
                segs[i] = 1
            elif segs[i] == 1:
                segs[i] = 0
    npzio.write_npz(os.path.join(OUT, os.path.basename(path)), "segs", "|u1", shape, segs)
    print(f"{stem}: iteration {it}: wrote segs")


if __name__ == "__main__":
    for name in sorted(os.listdir(IN)):
        if name.endswith(".npz"):
            answer(os.path.join(IN, name))
