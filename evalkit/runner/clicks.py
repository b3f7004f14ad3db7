"""Simulated refinement clicks of the CVPR 2025 interactive protocol (pure numpy/scipy).

Before each click iteration (2..6) the harness derives one click per class from
the previous prediction and the ground truth (facts: ``shared/spec/cvpr25.md``;
the official script is ``CVPR25_iter_eval.py`` of JunMa11/CVPR-MedSegFMCompetition,
commit 748e862). :func:`next_clicks` does exactly what that script does, with
scipy in place of ``cc3d`` and ``skimage``, and without touching NumPy's global
random state.

Conventions (every function here):

* arrays are 3D label maps ``(D, H, W)`` in array-index order; a click position
  ``zyx`` is a tuple of three Python ints ``(z, y, x)``: voxel indices into that
  array (not millimetres, not ``x, y, z``);
* the classes of a case are the labels present in the ground truth, sorted,
  0 (background) excluded. (The official script takes ``np.sort(pd.unique(gts))[1:]``,
  which drops the smallest label; that is 0 whenever the GT has a background
  voxel. A GT with no voxel of 0 would lose its smallest label there; here it is
  kept.)
* ``kind`` is ``"fg"`` (the clicked voxel belongs to the class in the GT: the
  prediction missed it), ``"bg"`` (it does not: the prediction over-segments
  there) or ``None`` (the prediction of that class is already perfect: no click,
  ``zyx`` is ``None``).

The simulation of one class ``c`` (previous prediction ``P``, GT ``G``):

1. ``error = (P == c) != (G == c)``; empty -> no click (``kind = None``);
2. the largest 26-connected component of ``error``; among components of equal
   size the one whose first voxel in C (raster) order comes first, which is
   the lowest component id of ``cc3d.connected_components`` and of
   ``scipy.ndimage.label`` (both number components in raster order);
3. its Euclidean distance transform (voxel units, spacing ignored) computed in
   the component's bounding box padded by ``max(int(0.25 * extent), 1)``
   voxels per axis, zeros in the padding; when the padded box has more than
   ``max_edt_voxels`` voxels it is first max-pooled 2x2x2 (zero-padded at the
   far end to even extents), transformed, and each value repeated 2x2x2;
4. the transform multiplied by the component mask; if that is all zero the mask
   itself is used;
5. the click is a voxel holding the maximum; with several, the one at index
   ``RandomState(seed).choice(n)`` of their list in C order (the official
   ``np.random.seed(42)`` + ``np.random.choice``, same draw);
6. ``kind`` is ``"bg"`` when the GT there is not ``c`` (over-segmentation),
   else ``"fg"`` (under-segmentation).

``ClickSettings.uint8_prev`` (official quirk): the previous prediction is cast
to uint8 before it is compared, so a label 256 reads as 0 and 257 as 1. Strict:
compared as stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

KINDS = ("fg", "bg")

_STRUCTURE_26 = np.ones((3, 3, 3), dtype=bool)


@dataclass(frozen=True)
class Click:
    """One class's click of one iteration.

    ``label``: the class (a GT label >= 1). ``kind``: ``"fg"``, ``"bg"`` or
    ``None`` (class already perfect, no click). ``zyx``: voxel indices
    ``(z, y, x)`` as Python ints, ``None`` exactly when ``kind`` is ``None``.
    """

    label: int
    kind: str | None
    zyx: tuple[int, int, int] | None

    def __post_init__(self) -> None:
        if self.kind not in (*KINDS, None):
            raise ValueError(f"click kind must be 'fg', 'bg' or None, found {self.kind!r}")
        if (self.kind is None) != (self.zyx is None):
            raise ValueError("a click has a position exactly when it has a kind")
        if self.zyx is not None and len(self.zyx) != 3:
            raise ValueError(f"a click position is (z, y, x), found {self.zyx!r}")

    def to_dict(self) -> dict[str, Any]:
        """``{"label": int, "kind": "fg" | "bg" | None, "zyx": [z, y, x] | None}`` (JSON-ready)."""
        return {"label": int(self.label), "kind": self.kind,
                "zyx": None if self.zyx is None else [int(v) for v in self.zyx]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Click:
        """The inverse of :meth:`to_dict`."""
        zyx = d.get("zyx")
        return cls(int(d["label"]), d.get("kind"),
                   None if zyx is None else tuple(int(v) for v in zyx))


@dataclass(frozen=True)
class ClickSettings:
    """How clicks are simulated.

    ``uint8_prev``: cast the previous prediction to uint8 before comparing
    (official quirk; labels above 255 wrap). ``max_edt_voxels``: above this many
    voxels in the padded box the EDT is computed on a 2x2x2 max-pooled box
    (official 60,000,000). ``seed``: seed of the tie-break draw (official 42).
    """

    uint8_prev: bool = True
    max_edt_voxels: int = 60_000_000
    seed: int = 42


def case_labels(gts: np.ndarray) -> list[int]:
    """The classes of a case: the labels present in ``gts``, sorted, 0 excluded (Python ints)."""
    return [int(v) for v in np.unique(gts) if v != 0]


def next_clicks(prev_segs: np.ndarray | None, gts: np.ndarray,
                settings: ClickSettings = ClickSettings()) -> list[Click]:
    """One :class:`Click` per class of ``gts`` (sorted labels, 0 excluded) from the previous prediction.

    ``prev_segs``: the previous iteration's ``segs`` (integer label map of the
    shape of ``gts``), ``None`` = no prediction (all zeros). ``gts``: the GT label
    map ``(D, H, W)``. Returns ``[]`` for a GT without labels. Deterministic:
    the same inputs give the same clicks (module docstring for the rules).
    """
    gts = np.asarray(gts)
    if gts.ndim != 3:
        raise ValueError(f"clicks need a 3D label map (D, H, W), found shape {gts.shape}")
    if prev_segs is None:
        segs = np.zeros(gts.shape, dtype=np.uint8)
    else:
        segs = np.asarray(prev_segs)
        if segs.shape != gts.shape:
            raise ValueError(f"previous prediction shape {segs.shape} differs from GT shape {gts.shape}")
        if settings.uint8_prev:
            segs = segs.astype(np.uint8)
    out = []
    for label in case_labels(gts):
        g = gts == label
        error = (segs == label) != g
        if not error.any():
            out.append(Click(label, None, None))
            continue
        zyx = click_position(largest_component(error), settings)
        out.append(Click(label, "fg" if g[zyx] else "bg", zyx))
    return out


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 26-connected component of a non-empty bool mask (bool, same shape).

    Ties: the component whose first voxel in C order comes first (``ndimage.label``
    numbers components in that order, as ``cc3d`` does, so this is the lowest id).
    """
    labels, n = ndimage.label(mask, structure=_STRUCTURE_26)
    if n == 0:
        raise ValueError("largest_component needs a non-empty mask")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def max_pool2(a: np.ndarray) -> np.ndarray:
    """2x2x2 max pooling of a 3D array, zero-padded at the far end of odd axes
    (output extents ``ceil(n / 2)``; what ``skimage.measure.block_reduce(a, (2, 2, 2), np.max)`` gives)."""
    pad = [(0, n % 2) for n in a.shape]
    if any(p for _, p in pad):
        a = np.pad(a, pad, constant_values=0)
    d, h, w = (n // 2 for n in a.shape)
    return a.reshape(d, 2, h, 2, w, 2).max(axis=(1, 3, 5))


def component_edt(component: np.ndarray, settings: ClickSettings = ClickSettings()
                  ) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The distance transform of a component inside its bounding box (step 3, before the mask).

    Returns ``(dist, origin)``: ``dist`` float64 over the component's bounding box
    (voxel units), ``origin`` the box's first voxel ``(z, y, x)`` in the full array.
    """
    coords = np.argwhere(component)
    lo = coords.min(axis=0)
    hi = coords.max(axis=0) + 1
    extent = hi - lo
    pad = np.maximum((extent * 0.25).astype(int), 1)
    padded = np.zeros(tuple(extent + 2 * pad), dtype=np.uint8)
    inner = tuple(slice(int(p), int(p + e)) for p, e in zip(pad, extent))
    padded[inner] = component[tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))]
    if padded.size > settings.max_edt_voxels:
        dist = ndimage.distance_transform_edt(max_pool2(padded))
        dist = dist.repeat(2, axis=0).repeat(2, axis=1).repeat(2, axis=2)
    else:
        dist = ndimage.distance_transform_edt(padded)
    return np.ascontiguousarray(dist[inner], dtype=np.float64), tuple(int(v) for v in lo)


def click_position(component: np.ndarray, settings: ClickSettings = ClickSettings()
                   ) -> tuple[int, int, int]:
    """The click voxel ``(z, y, x)`` of one error component (steps 3-5 of the module docstring).

    Works on the component's bounding box only: the voxels holding the maximum
    all lie inside it, and C order inside the box is their C order in the full
    array, so the seeded draw picks the same voxel as on the full array.
    """
    dist, origin = component_edt(component, settings)
    box = tuple(slice(o, o + n) for o, n in zip(origin, dist.shape))
    mask = component[box]
    dist *= mask
    values = dist if dist.sum() != 0 else mask
    candidates = np.argwhere(values == values.max())
    pick = candidates[np.random.RandomState(settings.seed).choice(len(candidates))]
    return tuple(int(p + o) for p, o in zip(pick, origin))


@dataclass
class ClickHistory:
    """The clicks of one case, accumulated over the iterations (what the harness writes).

    ``labels``: the case's classes (sorted GT labels, 0 excluded), fixed.
    ``iterations``: ``[(iteration, clicks)]`` in the order added; ``iteration`` is
    the protocol iteration that received the clicks (2..6: the first click
    iteration is 2), ``clicks`` one :class:`Click` per label, in label order.
    """

    labels: list[int]
    iterations: list[tuple[int, list[Click]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.labels = [int(v) for v in self.labels]

    def add(self, clicks: Sequence[Click], iteration: int | None = None) -> None:
        """Append one iteration's clicks (one per label, in label order).

        ``iteration`` defaults to the next one (2 for the first clicks).
        """
        clicks = list(clicks)
        got = [c.label for c in clicks]
        if got != self.labels:
            raise ValueError(f"clicks are for labels {got}, the case has labels {self.labels}")
        if iteration is None:
            iteration = self.iterations[-1][0] + 1 if self.iterations else 2
        self.iterations.append((int(iteration), clicks))

    @classmethod
    def from_iterations(cls, labels: Iterable[int],
                        iterations: Iterable[Sequence[Click]], first: int = 2) -> ClickHistory:
        """A history from the clicks of consecutive iterations ``first, first + 1, ...``."""
        history = cls(list(labels))
        for i, clicks in enumerate(iterations):
            history.add(clicks, first + i)
        return history

    def to_members(self, numpy_scalars: bool = False) -> dict[str, list]:
        """The Python objects the official script saves as ``clicks`` and ``clicks_order``.

        ``clicks``: one dict per label ``{"fg": [[z, y, x], ...], "bg": [...]}`` in
        click order; ``clicks_order``: one list per label of ``"fg"`` / ``"bg"`` /
        ``None`` (one entry per iteration). Coordinates are Python ints;
        ``numpy_scalars=True`` gives ``np.int64`` values, the objects the official
        script pickles (it appends ``list(tuple(np.argwhere(...)[i]))``).
        ``np.savez`` stores ``clicks`` as a 1-D object array of dicts and
        ``clicks_order`` as a 2-D array (labels x iterations): unicode ``<U2``
        when it holds no ``None``, else object.
        """
        conv = np.int64 if numpy_scalars else int
        clicks: list[dict[str, list]] = [{"fg": [], "bg": []} for _ in self.labels]
        order: list[list[str | None]] = [[] for _ in self.labels]
        for _, its in self.iterations:
            for i, c in enumerate(its):
                order[i].append(c.kind)
                if c.kind is not None:
                    clicks[i][c.kind].append([conv(v) for v in c.zyx])
        return {"clicks": clicks, "clicks_order": order}

    def to_dict(self) -> dict[str, Any]:
        """Our pickle-free record: ``{"labels": [...], "iterations": [{"iteration": k,
        "clicks": [{"label", "kind", "zyx"}, ...]}, ...]}`` (plain ints, ``None`` for no click)."""
        return {"labels": list(self.labels),
                "iterations": [{"iteration": k, "clicks": [c.to_dict() for c in clicks]}
                               for k, clicks in self.iterations]}

    def to_json(self) -> str:
        """:meth:`to_dict` as one line of JSON text (deterministic: same clicks, same text)."""
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClickHistory:
        """The inverse of :meth:`to_dict` (checks that every iteration has one click per label)."""
        history = cls([int(v) for v in data["labels"]])
        for it in data["iterations"]:
            history.add([Click.from_dict(c) for c in it["clicks"]], int(it["iteration"]))
        return history

    @classmethod
    def from_json(cls, text: str | dict[str, Any]) -> ClickHistory:
        """The inverse of :meth:`to_json` (also takes the parsed dict)."""
        return cls.from_dict(json.loads(text) if isinstance(text, str) else text)
