"""Writing a preset to disk in the official layout.

``<out>/imgs/<case>.npz`` holds ``imgs``, ``boxes`` (and ``spacing`` in 3D);
``<out>/gts/<case>.npz`` holds ``gts`` (and ``spacing`` in 3D);
``<out>/demodata.json`` records preset, seed, versions and the sha256 of every file.
The same seed gives byte-identical ``.npz`` files on the same software stack.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy

from evalkit.demodata import images, volumes
from evalkit.demodata.boxes import boxes_from_labels
from evalkit.demodata.npzio import write_npz
from evalkit.demodata.presets import PRESETS, CaseSpec
from evalkit.demodata.text import TEXT_CASES, phantom, text_prompts
from evalkit.demodata.volumes import Phantom
from evalkit.progress import progress as progress_bar

#: Canonical modality -> phantom function ``(rng, shape, n_instances[, spacing]) -> Phantom``.
PHANTOMS: dict[str, Callable[..., Phantom]] = {
    "CT": volumes.ct,
    "MR": volumes.mr,
    "PET": volumes.pet,
    "US": images.us,
    "X-Ray": images.xray,
    "Dermoscopy": images.dermoscopy,
    "Endoscopy": images.endoscopy,
    "Fundus": images.fundus,
    "Microscopy": images.microscopy,
    "OCT": images.oct,
}


def case_rng(seed: int, name: str) -> np.random.Generator:
    """The generator of one case: seeded by ``(seed, crc32(name))``, so a case does not
    depend on which other cases are generated or in what order."""
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, found {seed}")
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def make_case(spec: CaseSpec, seed: int = 0) -> tuple[Phantom, np.ndarray]:
    """Generate one case in memory: ``(phantom, boxes)`` with boxes from the final labels."""
    try:
        fn = PHANTOMS[spec.modality]
    except KeyError:
        raise ValueError(f"{spec.name}: no phantom for modality {spec.modality!r}; "
                         f"known: {sorted(PHANTOMS)}") from None
    rng = case_rng(seed, spec.name)
    if spec.dim == 3:
        ph = fn(rng, tuple(spec.shape), spec.n_instances, spacing=tuple(spec.spacing))
    else:
        ph = fn(rng, tuple(spec.shape), spec.n_instances)
    return ph, boxes_from_labels(ph.gts, spec.n_instances)


def make_text_case(spec: CaseSpec, seed: int = 0) -> tuple[Phantom, None]:
    """Generate one text case (:mod:`evalkit.demodata.text`) in memory: ``(phantom, None)``."""
    imgs, gts = phantom(case_rng(seed, spec.name), spec)
    return Phantom(imgs, gts, np.asarray(spec.spacing, dtype=np.float64)), None


def case_arrays(ph: Phantom, boxes: np.ndarray) -> tuple[dict, dict]:
    """The members of the input file and of the GT file of a case."""
    inputs: dict[str, np.ndarray] = {"imgs": ph.imgs, "boxes": boxes}
    gts: dict[str, np.ndarray] = {"gts": ph.gts}
    if ph.spacing is not None:
        inputs["spacing"] = ph.spacing
        gts["spacing"] = ph.spacing
    return inputs, gts


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def generate(out_dir: str | Path, preset: str = "demo", seed: int = 0, *,
             progress: bool | None = None) -> list[Path]:
    """Write every case of ``preset`` under ``out_dir``; return the input paths (sorted).

    ``preset`` is ``"tiny"``, ``"demo"``, ``"paper"`` (several hundred MB, minutes),
    ``"cvpr25"`` (the CVPR 2025 interactive format, :mod:`evalkit.demodata.cvpr25`) or
    ``"cvpr25-text"`` (text prompts, no boxes: :mod:`evalkit.demodata.text`). ``progress`` shows a tqdm bar on stderr (default:
    only for ``paper``). Existing files of the same names are replaced; other files
    in ``out_dir`` are left alone. Also writes ``<out>/demodata.json``.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    if preset == "real":  # converted from files in two wheels, not generated
        from evalkit.demodata.real import generate_real

        return generate_real(out_dir)
    if preset == "cvpr25":  # the interactive format: boxes as dicts, a manifest (demodata/cvpr25.py)
        from evalkit.demodata.cvpr25 import generate_cvpr25

        return generate_cvpr25(out_dir, seed, progress=progress)
    out = Path(out_dir)
    specs = PRESETS[preset]
    show = (preset == "paper") if progress is None else progress
    written: list[Path] = []
    records = []
    for spec in progress_bar(specs, desc=f"demo-data {preset}", unit="case", enabled=show, lines="end"):
        ph, boxes = make_text_case(spec, seed) if spec.name in TEXT_CASES else make_case(spec, seed)
        inputs, gts = case_arrays(ph, boxes)
        if spec.name in TEXT_CASES:  # text track: text_prompts (pickled dict) instead of boxes
            del inputs["boxes"]
            inputs["text_prompts"] = text_prompts(spec.name)
        ipath = write_npz(out / "imgs" / f"{spec.name}.npz", inputs, objects=("text_prompts",))
        gpath = write_npz(out / "gts" / f"{spec.name}.npz", gts)
        written.append(ipath)
        records.append({
            "name": spec.name, "modality": spec.modality, "dim": spec.dim,
            "shape": list(ph.imgs.shape), "n_instances": spec.n_instances,
            "spacing": None if ph.spacing is None else [float(s) for s in ph.spacing],
            "input_sha256": _sha256(ipath), "gt_sha256": _sha256(gpath),
        })
    from evalkit import __version__

    meta = {
        "generator": "evalkit.demodata", "evalkit": __version__, "numpy": np.__version__,
        "scipy": scipy.__version__, "preset": preset, "seed": int(seed),
        "cases": sorted(records, key=lambda r: r["name"]),
    }
    (out / "demodata.json").write_text(json.dumps(meta, indent=2) + "\n")
    return sorted(written)
