"""Interactive (CVPR 2025) test submission, python3 stdlib only.

The iteration is read from the input: 1 + the number of click iterations, which
is the second extent of the ``clicks_order`` member's ``.npy`` header (the
official harness stores it as a (classes, iterations) array; no unpickling).
Answer for iteration ``it`` (k = it - 1 click iterations so far): on the uint8
image, label 1 where the intensity is >= 140 - 8 k, label 2 where >= 220 - 8 k
(a threshold that moves with every iteration), written as uint8 ``segs``.

Deliberate failures (exit 0, nothing written):
* ``CT_abdomen_0001``: iteration 3 (two click iterations in the input), so the
  harness finds iteration 2's file still there (stale) when the outputs folder
  is kept;
* ``MR_brain_0001``: iteration 1 (the box run), so no file exists at all yet.
"""

import os
import sys

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
    n = 1
    for s in shape:
        n *= s
    segs = raw[:n].translate(table(it - 1))
    npzio.write_npz(os.path.join(OUT, os.path.basename(path)), "segs", "|u1", shape, segs)
    print(f"{stem}: iteration {it}: wrote segs")


if __name__ == "__main__":
    for name in sorted(os.listdir(IN)):
        if name.endswith(".npz"):
            answer(os.path.join(IN, name))
