"""The ``cvpr25`` preset: deterministic 3D cases in the CVPR 2025 interactive format.

Layout (as the other presets; GT never in the input files):

* ``<out>/imgs/<case>.npz``: ``imgs`` uint8 ``(D, H, W)``, ``spacing`` float64
  ``(3,)`` (mm, array-axis order), and, for cases with box prompts, ``boxes``:
  a pickled 1-D object array holding one dict per class in label order, keys
  ``z_min, z_max, z_mid, z_mid_x_min, z_mid_y_min, z_mid_x_max, z_mid_y_max``
  (:func:`box_dicts`). Written like the organisers' ``np.savez_compressed``
  (same members, same ``.npy`` bytes, pickle protocol 3), with fixed zip
  timestamps so equal seeds give equal bytes.
* ``<out>/gts/<case>.npz``: ``gts`` only (uint8, labels ``1..n`` sequential).
* ``<out>/manifest.csv``: ``case, modality, dim``.
* ``<out>/demodata.json``: preset, seed, versions, the sha256 of every file.

Cases: :data:`evalkit.demodata.presets.CVPR25` (CT, MR, PET; names such as
``CT_abdomen_0001``, one without a modality token; some without ``boxes``; an
aorta-only vessel case). Images and labels come from the CVPR24 phantoms of
:mod:`evalkit.demodata.volumes`, with the kept labels relabelled sequentially.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy

from evalkit.demodata import volumes
from evalkit.demodata.generate import _sha256, case_rng
from evalkit.demodata.npzio import write_npz
from evalkit.demodata.presets import CVPR25, InteractiveCaseSpec
from evalkit.progress import progress as progress_bar

PHANTOMS_3D = {"CT": volumes.ct, "MR": volumes.mr, "PET": volumes.pet}
BOX_KEYS = ("z_min", "z_max", "z_mid", "z_mid_x_min", "z_mid_y_min", "z_mid_x_max", "z_mid_y_max")


def box_dict(mask: np.ndarray, shift: int) -> dict[str, Any]:
    """The box prompt of one class, as the organisers compute it (``get_boxes.py``).

    ``mask``: bool ``(D, H, W)``, non-empty. ``z_min``/``z_max``: first and last
    slice holding the class; ``z_mid``: the middle one of the slices that hold it
    (``unique(z)[n // 2]``); the 2D box ``z_mid_x_min .. z_mid_y_max`` (inclusive
    pixel indices) is the class's extent on slice ``z_mid`` enlarged by
    ``int(shift * W / 256)`` columns and ``int(shift * H / 256)`` rows per side,
    clipped to the image. ``shift``: 0..5 px. Values are NumPy integers (Python
    ``0``/``W - 1``/``H - 1`` where clipping picked the bound), as in their files.
    """
    z_idx = np.where(mask)[0]
    z_min, z_max = np.min(z_idx), np.max(z_idx)
    slices = np.unique(z_idx)
    z_mid = slices[len(slices) // 2]
    mid = mask[z_mid]
    y_idx, x_idx = np.where(mid)
    x_min, x_max = np.min(x_idx), np.max(x_idx)
    y_min, y_max = np.min(y_idx), np.max(y_idx)
    H, W = mid.shape
    sx, sy = int(shift * W / 256), int(shift * H / 256)
    return {"z_min": z_min, "z_max": z_max, "z_mid": z_mid,
            "z_mid_x_min": max(0, x_min - sx), "z_mid_y_min": max(0, y_min - sy),
            "z_mid_x_max": min(W - 1, x_max + sx), "z_mid_y_max": min(H - 1, y_max + sy)}


def box_dicts(gts: np.ndarray, rng: np.random.Generator) -> list[dict[str, Any]]:
    """One :func:`box_dict` per label of ``gts`` (sorted, 0 excluded), each with a
    shift drawn from ``rng`` (uniform 0..5, in label order)."""
    return [box_dict(gts == lab, int(rng.integers(0, 6))) for lab in np.unique(gts) if lab != 0]


def keep_labels(gts: np.ndarray, keep: tuple[int, ...] | None) -> np.ndarray:
    """``gts`` with only the labels ``keep`` (relabelled 1..n in that order) as uint8."""
    if keep is None:
        keep = tuple(int(v) for v in np.unique(gts) if v != 0)
    lut = np.zeros(int(gts.max()) + 1, dtype=np.uint8)
    for new, old in enumerate(keep, start=1):
        lut[old] = new
    out = lut[gts]
    if len(np.unique(out)) != len(keep) + 1:
        raise RuntimeError("a kept label has no voxel (a generator bug)")
    return out


def make_interactive_case(spec: InteractiveCaseSpec, seed: int = 0
                          ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One case in memory: ``(input members, GT members)`` (module docstring)."""
    rng = case_rng(seed, spec.name)
    ph = PHANTOMS_3D[spec.modality](rng, tuple(spec.shape), spec.n_instances, spacing=tuple(spec.spacing))
    gts = keep_labels(ph.gts, spec.keep)
    inputs: dict[str, np.ndarray] = {"imgs": ph.imgs, "spacing": np.asarray(ph.spacing, dtype=np.float64)}
    if spec.boxes:
        boxes = np.empty(int(gts.max()), dtype=object)  # what np.savez makes of a list of dicts
        for i, d in enumerate(box_dicts(gts, rng)):
            boxes[i] = d
        inputs["boxes"] = boxes
    return inputs, {"gts": gts}


def generate_cvpr25(out_dir: str | Path, seed: int = 0, *, progress: bool | None = None) -> list[Path]:
    """Write the ``cvpr25`` preset under ``out_dir``; return the input paths (sorted)."""
    out = Path(out_dir)
    written, records = [], []
    for spec in progress_bar(CVPR25, desc="demo-data cvpr25", unit="case", enabled=bool(progress),
                             lines="end"):
        inputs, gts = make_interactive_case(spec, seed)
        ipath = write_npz(out / "imgs" / f"{spec.name}.npz", inputs, objects=("boxes",))
        gpath = write_npz(out / "gts" / f"{spec.name}.npz", gts)
        written.append(ipath)
        records.append({
            "name": spec.name, "modality": spec.manifest_modality, "dim": 3,
            "shape": list(inputs["imgs"].shape), "n_instances": int(gts["gts"].max()),
            "spacing": [float(s) for s in inputs["spacing"]], "boxes": spec.boxes,
            "input_sha256": _sha256(ipath), "gt_sha256": _sha256(gpath),
        })
    records.sort(key=lambda r: r["name"])
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["case", "modality", "dim"])
        for r in records:
            w.writerow([r["name"], r["modality"], 3])
    from evalkit import __version__

    meta = {"generator": "evalkit.demodata", "evalkit": __version__, "numpy": np.__version__,
            "scipy": scipy.__version__, "preset": "cvpr25", "seed": int(seed), "cases": records}
    (out / "demodata.json").write_text(json.dumps(meta, indent=2) + "\n")
    return sorted(written)
