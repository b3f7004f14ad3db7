"""The case lists of the presets: ``tiny`` (tests), ``demo`` (default), ``paper``, ``cvpr25``.

A preset is data only: case name, canonical modality, spatial shape, number of
instances and (3D) voxel spacing. The ``paper`` preset reproduces Table 6 of the
Rep-MedSAM paper (case IDs, shapes and object counts of its runtime benchmark);
Table 6 gives no spacing, so the spacings there are typical values for the
modality (slice thickness first, matching the array axes ``(D, H, W)``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CaseSpec:
    """One case to generate.

    ``name`` is the file stem (``3DBox_CT_0001``); ``modality`` the canonical
    modality that picks the phantom (the name may use an alias such as
    ``Microscope``); ``shape`` is ``(D, H, W)`` in 3D and ``(H, W)`` in 2D (the image
    gets 3 channels); ``spacing`` mm per axis in 3D, ``None`` in 2D.
    """

    name: str
    modality: str
    shape: tuple[int, ...]
    n_instances: int
    spacing: tuple[float, float, float] | None = None

    @property
    def dim(self) -> int:
        return len(self.shape)


def _c3(name, modality, shape, n, spacing):
    return CaseSpec(name, modality, shape, n, spacing)


def _c2(name, modality, shape, n):
    return CaseSpec(name, modality, shape, n, None)


TINY: tuple[CaseSpec, ...] = (
    _c3("3DBox_CT_0001", "CT", (8, 64, 64), 2, (2.5, 0.8, 0.8)),
    _c2("2DBox_US_0001", "US", (96, 96), 1),
    _c2("2DBox_Microscopy_0001", "Microscopy", (128, 128), 8),
    _c2("2DBox_Fundus_0001", "Fundus", (128, 128), 1),
)

DEMO: tuple[CaseSpec, ...] = (
    _c3("3DBox_CT_0001", "CT", (32, 256, 256), 4, (2.5, 0.8, 0.8)),
    _c3("3DBox_MR_0001", "MR", (28, 224, 224), 3, (4.0, 0.9, 0.9)),
    _c3("3DBox_PET_0001", "PET", (36, 192, 192), 2, (3.0, 4.0, 4.0)),
    _c2("2DBox_US_0001", "US", (256, 256), 2),
    _c2("2DBox_X-Ray_0001", "X-Ray", (512, 512), 3),
    _c2("2DBox_Dermoscopy_0001", "Dermoscopy", (600, 800), 1),
    _c2("2DBox_Endoscopy_0001", "Endoscopy", (480, 560), 1),
    _c2("2DBox_Fundus_0001", "Fundus", (768, 768), 2),
    _c2("2DBox_Microscopy_0001", "Microscopy", (768, 1024), 60),
    _c2("2DBox_OCT_0001", "OCT", (496, 512), 3),
)

#: Table 6 of the Rep-MedSAM paper: case ID, size, number of objects.
PAPER: tuple[CaseSpec, ...] = (
    _c3("3DBox_CT_0566", "CT", (287, 512, 512), 6, (1.5, 0.78, 0.78)),
    _c3("3DBox_CT_0888", "CT", (237, 512, 512), 6, (2.0, 0.8, 0.8)),
    _c3("3DBox_CT_0860", "CT", (246, 512, 512), 1, (1.5, 0.7, 0.7)),
    _c3("3DBox_MR_0621", "MR", (115, 400, 400), 6, (1.5, 0.6, 0.6)),
    _c3("3DBox_MR_0121", "MR", (64, 290, 320), 6, (3.0, 0.9, 0.9)),
    _c3("3DBox_MR_0179", "MR", (84, 512, 512), 1, (2.0, 0.5, 0.5)),
    _c3("3DBox_PET_0001", "PET", (264, 200, 200), 1, (3.0, 4.07, 4.07)),
    _c2("2DBox_US_0525", "US", (256, 256), 1),
    _c2("2DBox_X-Ray_0053", "X-Ray", (320, 640), 34),
    _c2("2DBox_Dermoscopy_0003", "Dermoscopy", (3024, 4032), 1),
    _c2("2DBox_Endoscopy_0086", "Endoscopy", (480, 560), 1),
    _c2("2DBox_Fundus_0003", "Fundus", (2048, 2048), 1),
    _c2("2DBox_Microscope_0008", "Microscopy", (1536, 2040), 19),
    _c2("2DBox_Microscope_0016", "Microscopy", (1920, 2560), 241),
)



#: Real images with real masks from two PyPI wheels (``evalkit.demodata.real``; no phantom).
REAL: tuple[CaseSpec, ...] = (
    _c3("3DBox_MR_0901", "MR", (25, 117, 99), 2, (4.0, 2.0, 2.0)),
    _c2("2DBox_Microscopy_0901", "Microscopy", (512, 512), 125),
)


@dataclass(frozen=True)
class InteractiveCaseSpec(CaseSpec):
    """A case of the CVPR 2025 interactive format (:mod:`evalkit.demodata.cvpr25`).

    ``n_instances`` is the phantom's instance count; ``keep`` the phantom labels
    kept, relabelled ``1..len(keep)`` in that order (``None``: all of them);
    ``boxes``: whether the input carries box prompts (vessels do not);
    ``manifest_modality``: the modality ``manifest.csv`` gives (the name may not carry one).
    """

    boxes: bool = True
    keep: tuple[int, ...] | None = None
    manifest_modality: str = ""


def _ci(name, modality, shape, n, spacing, boxes=True, keep=None, manifest=""):
    return InteractiveCaseSpec(name, modality, shape, n, spacing, boxes, keep, manifest or modality)


#: CVPR 2025 interactive track: 3D only, names without the 3DBox_ form, boxes as dicts
#: (optional), GT in its own folder; one name carries no modality token.
CVPR25: tuple[InteractiveCaseSpec, ...] = (
    _ci("CT_abdomen_0001", "CT", (40, 112, 112), 4, (2.5, 0.8, 0.8)),
    _ci("CT_abdomen_0002", "CT", (36, 96, 96), 3, (3.0, 0.9, 0.9)),
    _ci("CT_aorta_0003", "CT", (40, 96, 96), 6, (2.5, 0.8, 0.8), boxes=False, keep=(6,)),
    _ci("MR_brain_0001", "MR", (32, 128, 128), 3, (4.0, 0.9, 0.9)),
    _ci("MR_brain_0002", "MR", (28, 112, 112), 1, (4.0, 1.0, 1.0), boxes=False),
    _ci("PET_lesion_0001", "PET", (36, 96, 96), 2, (3.0, 4.0, 4.0)),
    _ci("study_0007", "MR", (32, 96, 96), 2, (3.5, 1.0, 1.0)),
)

PRESETS: dict[str, tuple[CaseSpec, ...]] = {"tiny": TINY, "demo": DEMO, "paper": PAPER, "real": REAL,
                                            "cvpr25": CVPR25}
# text.py needs CaseSpec from here, so it is imported last
from evalkit.demodata.text import TEXT_PRESET

PRESETS["cvpr25-text"] = TEXT_PRESET
