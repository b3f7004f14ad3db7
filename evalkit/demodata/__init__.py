"""Deterministic demo challenge data: phantoms for every CVPR24 modality.

``generate(out_dir, preset="demo", seed=0)`` writes ``<out>/imgs/*.npz`` and
``<out>/gts/*.npz`` in the official case format (contract.md); the per-modality
functions in :mod:`~evalkit.demodata.volumes` (CT, MR, PET) and
:mod:`~evalkit.demodata.images` (US, X-Ray, Dermoscopy, Endoscopy, Fundus,
Microscopy, OCT) return ``(imgs, gts, spacing)`` arrays without touching disk.
"""

from evalkit.demodata.boxes import boxes_from_labels
from evalkit.demodata.generate import PHANTOMS, case_rng, generate, make_case
from evalkit.demodata.npzio import write_npz
from evalkit.demodata.presets import PRESETS, CaseSpec
from evalkit.demodata.volumes import Phantom

__all__ = ["PHANTOMS", "PRESETS", "CaseSpec", "Phantom", "boxes_from_labels", "case_rng",
           "generate", "make_case", "write_npz"]
