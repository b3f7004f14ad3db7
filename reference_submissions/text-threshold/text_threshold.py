"""Classical text baseline (text-threshold): prompt keywords -> intensity windows (numpy, scipy).

A BASELINE, not a model: it understands a few words only. For every input case
(``imgs`` uint8 ``(D, H, W)``, ``text_prompts`` = {class id: description,
"instance_label": 0 or 1}) each prompted class whose description contains a
known keyword gets the voxels inside that keyword's intensity window:

* semantic case (instance_label 0): the largest 6-connected component of the
  window, labelled with the class id (classes in id order, later ones win);
* instance case (instance_label 1): every 6-connected component of the window
  (on the raw image; semantic cases on a 3x3x3 mean) with at least
  ``MIN_VOXELS`` voxels, labelled 1..n.

Tumours are looked for inside the liver only. A description without a known
keyword gets nothing. Output:
``/workspace/outputs/<same name>.npz`` with ``segs`` (uint16).
Exit status: 0 ok, 1 a case failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from case_io import read_members
from scipy import ndimage

#: keyword (lower case, matched as a substring) -> inclusive uint8 window
WINDOWS: list[tuple[str, tuple[int, int]]] = [
    ("tumor", (72, 108)),
    ("tumour", (72, 108)),
    ("lesion", (150, 255)),
    ("nucle", (120, 255)),
    ("cell", (120, 255)),
    ("kidney", (185, 215)),
    ("aorta", (216, 250)),
    ("liver", (136, 164)),
    ("spleen", (106, 134)),
]
MIN_VOXELS = 4
FACES = ndimage.generate_binary_structure(3, 1)


def window_for(description: str) -> tuple[int, int] | None:
    text = description.lower()
    for word, window in WINDOWS:
        if word in text:
            return window
    return None


def largest_component(mask: np.ndarray) -> np.ndarray:
    lab, n = ndimage.label(mask, structure=FACES)
    if n == 0:
        return mask
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))


def predict(imgs: np.ndarray, prompts: dict) -> np.ndarray:
    instance = int(prompts.get("instance_label", 0)) == 1
    classes = sorted((int(k), str(v)) for k, v in prompts.items() if k != "instance_label")
    segs = np.zeros(imgs.shape, np.uint16)
    # organs are large: a 3x3x3 mean steadies the window; lesions and cells are too small for it
    smooth = imgs if instance else ndimage.uniform_filter(imgs.astype(np.float32), size=3)
    for cid, description in classes:
        window = window_for(description)
        if window is None:
            continue
        mask = (smooth >= window[0]) & (smooth <= window[1])
        if "tumo" in description.lower():  # liver tumours: only inside the (hole-filled) liver
            blurred = ndimage.uniform_filter(imgs.astype(np.float32), size=3)
            liver = largest_component((blurred >= 136) & (blurred <= 164))
            mask &= ndimage.binary_fill_holes(ndimage.binary_closing(liver, FACES, iterations=2))
        if instance:
            lab, n = ndimage.label(mask, structure=FACES)
            sizes = np.bincount(lab.ravel())
            keep = np.flatnonzero(sizes >= MIN_VOXELS)
            keep = keep[keep != 0]
            lut = np.zeros(n + 1, np.uint16)
            lut[keep] = np.arange(1, keep.size + 1)
            segs = lut[lab]
        else:
            segs[largest_component(mask)] = cid
    return segs


def main(inputs: str, outputs: str) -> int:
    out = Path(outputs)
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in sorted(Path(inputs).glob("*.npz")):
        try:
            data = read_members(path)  # text_prompts through case_io's restricted unpickler
            imgs = data["imgs"]
            prompts = data["text_prompts"].item()
            segs = predict(imgs, prompts)
            np.savez_compressed(out / path.name, segs=segs)
            print(f"{path.name}: {len(np.unique(segs)) - 1} labels", flush=True)
        except Exception as exc:  # noqa: BLE001 - report and go on with the next case
            failed += 1
            print(f"{path.name}: failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
