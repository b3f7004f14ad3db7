"""Misbehave on one run of an interactive case, answer a fixed block otherwise (stdlib only).

The run number comes from the input itself: run 1 has no ``clicks_order``; run k > 1 has
``clicks_order`` of shape (classes, k - 1), read from its .npy header (never unpickled).
A case named ``<anything>_<mode><k>`` misbehaves on run k: ``timeout`` sleeps, ``oom``
allocates memory, ``invalid`` writes the wrong shape, ``nothing`` writes nothing,
``crash`` exits 3. Otherwise label 1 fills the first half of every slice.
"""

import os
import re
import sys
import time

from npzio import read_arrays, write_npz

INPUTS, OUTPUTS = "/workspace/inputs", "/workspace/outputs"

for name in sorted(os.listdir(INPUTS)):
    arrays = read_arrays(os.path.join(INPUTS, name))
    order = arrays.get("clicks_order")
    run = 1 if order is None else order[1][1] + 1
    _, shape, _ = arrays["imgs"]
    print(f"{name}: run {run}, members {','.join(sorted(arrays))}", file=sys.stderr)
    m = re.search(r"_(timeout|oom|invalid|nothing|crash)(\d+)\.npz$", name)
    mode = m.group(1) if m and int(m.group(2)) == run else ""
    if mode == "timeout":
        time.sleep(3600)
    if mode == "oom":
        hog = [bytearray(1 << 26) for _ in range(1 << 12)]
    if mode == "crash":
        print("deliberate crash", file=sys.stderr)
        sys.exit(3)
    if mode == "nothing":
        continue
    d, h, w = shape
    if mode == "invalid":
        d += 1
    plane = bytes([1]) * ((h // 2) * w) + bytes(h * w - (h // 2) * w)
    write_npz(os.path.join(OUTPUTS, name), "segs", "|u1", (d, h, w), plane * d)
