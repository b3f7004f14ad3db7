"""Text-guided demo cases (CVPR25 text track): ``evalkit demo-data --preset cvpr25-text``.

Each case is a small 3D phantom with a ``text_prompts`` dict in its input
(``{"1": "liver", ..., "instance_label": 0}``, a pickled 0-d object array as the
official files hold it) and no boxes; the ground truth lives in ``gts/`` only.

* semantic cases (``instance_label`` 0): several organs with their own mean
  intensity, non-sequential class ids, and one prompted class that is absent;
* instance cases (``instance_label`` 1): many lesions or cells of one class,
  each GT instance its own label ``1..n``.

Intensities (uint8, before smooth noise of std ~6): outside the body 5, body
60, liver 150, kidney 200, spleen 120, aorta 230, liver tumours 90, PET
lesions 220 on 25, nuclei 180 on 30. ``reference_submissions/text-threshold``
maps prompt keywords to these windows (a baseline).

Deterministic: a case depends only on ``(seed, name)``
(:func:`evalkit.demodata.generate.case_rng`); files are byte-identical for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalkit.demodata.presets import CaseSpec
from evalkit.demodata.shapes import smooth_noise


@dataclass(frozen=True)
class TextCase:
    """What a text demo case holds: ``classes`` (id -> description), ``instance_label``."""

    classes: dict[int, str]
    instance_label: int
    absent: tuple[int, ...] = ()  # prompted classes that the phantom does not contain


#: Case name -> prompts (the specs are ``presets.PRESETS["cvpr25-text"]``).
TEXT_CASES: dict[str, TextCase] = {
    "3DText_CT_0001": TextCase({1: "liver", 2: "right kidney", 3: "spleen", 5: "aorta",
                                6: "gallbladder"}, 0, absent=(6,)),
    "3DText_MR_0001": TextCase({1: "liver", 2: "left kidney", 3: "right kidney"}, 0),
    "3DText_CT_0002": TextCase({1: "liver tumors"}, 1),
    "3DText_PET_0001": TextCase({1: "hypermetabolic lesions"}, 1),
    "3DText_Microscopy_0001": TextCase({1: "cell nuclei"}, 1),
}

TEXT_PRESET: tuple[CaseSpec, ...] = (
    CaseSpec("3DText_CT_0001", "CT", (24, 128, 128), 4, (2.5, 0.8, 0.8)),
    CaseSpec("3DText_MR_0001", "MR", (20, 112, 112), 3, (3.0, 0.9, 0.9)),
    CaseSpec("3DText_CT_0002", "CT", (24, 128, 128), 24, (2.5, 0.8, 0.8)),
    CaseSpec("3DText_PET_0001", "PET", (24, 96, 96), 15, (3.0, 4.0, 4.0)),
    CaseSpec("3DText_Microscopy_0001", "Microscopy", (12, 128, 128), 80, (1.0, 0.5, 0.5)),
)


def _ellipsoid(shape, center, radii) -> np.ndarray:
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    return (((zz - center[0]) / radii[0]) ** 2 + ((yy - center[1]) / radii[1]) ** 2
            + ((xx - center[2]) / radii[2]) ** 2) <= 1.0


def _jitter(rng: np.random.Generator, x: float, frac: float = 0.04) -> float:
    return float(x * (1 + rng.uniform(-frac, frac)))


def _abdomen(rng: np.random.Generator, shape, organs: dict[int, str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Body, organ intensities and labels of an abdominal phantom: ``(mean, labels, body)``."""
    D, H, W = shape
    body = _ellipsoid(shape, (D / 2, H / 2, W / 2), (D * 0.9, H * 0.42, W * 0.46))
    mean = np.where(body, 60.0, 5.0)
    labels = np.zeros(shape, np.uint16)
    places = {
        "liver": ((D / 2, H * 0.45, W * 0.33), (D * 0.35, H * 0.17, W * 0.15), 150.0),
        "spleen": ((D / 2, H * 0.45, W * 0.72), (D * 0.25, H * 0.09, W * 0.07), 120.0),
        "right kidney": ((D / 2, H * 0.62, W * 0.36), (D * 0.22, H * 0.07, W * 0.05), 200.0),
        "left kidney": ((D / 2, H * 0.62, W * 0.64), (D * 0.22, H * 0.07, W * 0.05), 200.0),
        "aorta": ((D / 2, H * 0.6, W * 0.5), (D * 2.0, H * 0.03, W * 0.03), 230.0),
    }
    for cid, name in organs.items():
        c, r, value = places[name]
        m = _ellipsoid(shape, [_jitter(rng, x) for x in c], [_jitter(rng, x, 0.08) for x in r]) & body
        labels[m] = cid
        mean[m] = value
    return mean, labels, body


def _blobs(rng: np.random.Generator, shape, n: int, allowed: np.ndarray, r_lo: float, r_hi: float,
           anisotropy: tuple[float, float, float]) -> np.ndarray:
    """``n`` non-touching ellipsoids inside ``allowed``, labelled ``1..n`` (fewer if no room)."""
    labels = np.zeros(shape, np.uint16)
    grown = np.zeros(shape, bool)
    k = 0
    for _ in range(50 * n):
        if k == n:
            break
        r = rng.uniform(r_lo, r_hi)
        radii = [max(1.0, r * a) for a in anisotropy]
        c = [rng.uniform(ri, s - 1 - ri) for ri, s in zip(radii, shape)]
        m = _ellipsoid(shape, c, radii)
        halo = _ellipsoid(shape, c, [ri + 1.5 for ri in radii])
        if not m.any() or not allowed[m].all() or grown[halo].any():
            continue
        k += 1
        labels[m] = k
        grown |= halo
    return labels


def phantom(rng: np.random.Generator, spec: CaseSpec) -> tuple[np.ndarray, np.ndarray]:
    """``(imgs uint8, gts uint16)`` of the text case ``spec`` (module docstring)."""
    case = TEXT_CASES[spec.name]
    shape = tuple(spec.shape)
    if case.instance_label == 0:
        present = {c: d for c, d in case.classes.items() if c not in case.absent}
        mean, gts, _ = _abdomen(rng, shape, present)
        noise = 6.0
    elif spec.modality == "CT":
        mean, liver, _ = _abdomen(rng, shape, {1: "liver"})
        inside = np.zeros(shape, bool)
        inside[liver == 1] = True
        gts = _blobs(rng, shape, spec.n_instances, inside, 1.5, 3.5, (0.4, 1.0, 1.0))
        mean[gts > 0] = 90.0
        noise = 6.0
    elif spec.modality == "PET":
        D, H, W = shape
        body = _ellipsoid(shape, (D / 2, H / 2, W / 2), (D * 0.9, H * 0.42, W * 0.46))
        mean = np.where(body, 25.0, 3.0)
        gts = _blobs(rng, shape, spec.n_instances, body, 1.2, 2.5, (0.7, 1.0, 1.0))
        mean[gts > 0] = 220.0
        noise = 5.0
    else:  # microscopy nuclei
        mean = np.full(shape, 30.0)
        gts = _blobs(rng, shape, spec.n_instances, np.ones(shape, bool), 2.5, 4.5, (0.5, 1.0, 1.0))
        mean[gts > 0] = 180.0
        noise = 7.0
    img = mean + noise * smooth_noise(rng, shape, 2.0) + 2.0 * rng.standard_normal(shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), gts


def text_prompts(name: str) -> np.ndarray:
    """The ``text_prompts`` member of case ``name``: a 0-d object array holding the dict."""
    case = TEXT_CASES[name]
    obj = {**{str(k): v for k, v in sorted(case.classes.items())}, "instance_label": case.instance_label}
    out = np.empty((), dtype=object)
    out[()] = obj
    return out
