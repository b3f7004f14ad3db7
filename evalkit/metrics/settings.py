"""Metric settings: the ``[metrics]`` section of the challenge file, resolved.

``mode = "official"`` takes every quirk switch from ``[metrics.official]``;
``mode = "strict"`` ignores them and fixes each one:

=====================  ==========================  ==============================
switch                 official (CVPR24)           strict
=====================  ==========================  ==============================
labels_from_gt_max     labels 1..max(gts)          labels in GT or prediction
case_mean              "mean" (NaN label -> NaN)   "nanmean"
nsd_dsc_gate           0.2 (NSD only if DSC > it)  none (``false`` in TOML)
nsd_2d_as_slab         (H, W, 1) slab, (1, 1, 1)   DeepMind 2D contour NSD
uint8_cast             false (CVPR25 text: true:   no cast
                       GT and prediction cast to
                       uint8, labels wrap)
unique_skips_first     false (CVPR25 text: true:   the non-zero labels
                       the smallest GT value is
                       dropped as background)
empty_instances_zero   true (undefined instance    NaN when neither map has an
                       ratios are 0)               instance (panoptica)
=====================  ==========================  ==============================

Instance matching (:mod:`evalkit.metrics.instance_match`, metrics F1, DSC_TP, PQ,
Precision, Recall) also reads ``iou_threshold`` (0.5) and ``split_binary``
(off by default; the text track turns it on: a binary prediction is split into
connected components; a rule of that track, not a quirk, so strict mode keeps it).

``enabled`` lists the scored metrics computed (names of
:mod:`evalkit.metrics.registry`, e.g. ``["DSC", "NSD", "HD95"]``); the scores
tables get their columns in registry order, whatever order the list has.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from evalkit.config import ConfigError
from evalkit.metrics import registry
from evalkit.metrics.registry import Metric

DEFAULT_ENABLED = ("DSC", "NSD")


def enabled_metrics(names: Iterable[str], key: str = "metrics.enabled") -> tuple[str, ...]:
    """``names`` checked against the registry's scored metrics, in registry order, once each.

    Raises :class:`~evalkit.config.ConfigError` naming ``key`` and the known
    scored metrics for a name that is not one, or a value that is not a list of
    strings.
    """
    known = [m.name for m in registry.REGISTRY.values() if m.source == "scores"]
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{key} must be a list of metric names, found {names!r}; "
                          f"known metrics: {', '.join(known)}")
    names = list(names)
    for n in names:
        if n not in known:
            extra = (" (it is measured by the runner, not scored)"
                     if n in registry.REGISTRY else "")
            raise ConfigError(f"{key}: unknown metric {n!r}{extra}; known metrics: {', '.join(known)}")
    return tuple(m.name for m in registry.scored(names))


@dataclass(frozen=True)
class MetricSettings:
    """Resolved metric behaviour.

    ``tolerance_mm``: NSD tolerance (mm; pixels in 2D, which has no spacing).
    ``round_digits``: digits of the rounded case values. ``workers``: processes
    for folder scoring. ``nsd_dsc_gate``: ``None`` disables the gate.
    ``max_label``: largest label value scored (prediction labels above it make
    the prediction invalid; bounds the work a hostile file can cause).
    ``enabled``: the scored metrics computed (registry names, registry order).
    """

    mode: str = "official"
    tolerance_mm: float = 2.0
    round_digits: int = 4
    workers: int = 2
    labels_from_gt_max: bool = True
    case_mean: str = "mean"
    nsd_dsc_gate: float | None = 0.2
    nsd_2d_as_slab: bool = True
    max_label: int = 65535
    enabled: tuple[str, ...] = DEFAULT_ENABLED
    iou_threshold: float = 0.5
    split_binary: bool = False
    uint8_cast: bool = False
    unique_skips_first: bool = False
    empty_instances_zero: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "enabled", enabled_metrics(self.enabled))
        if self.mode not in ("official", "strict"):
            raise ValueError(f"metrics.mode must be 'official' or 'strict', found {self.mode!r}")
        if self.case_mean not in ("mean", "nanmean"):
            raise ValueError(
                f"metrics.official.case_mean must be 'mean' or 'nanmean', found {self.case_mean!r}"
            )
        if not (isinstance(self.tolerance_mm, (int, float)) and math.isfinite(self.tolerance_mm)
                and self.tolerance_mm >= 0):
            raise ValueError(f"metrics.tolerance_mm must be a number >= 0, found {self.tolerance_mm!r}")
        if not (isinstance(self.iou_threshold, (int, float)) and 0 < self.iou_threshold <= 1):
            raise ValueError(f"metrics.iou_threshold must be in (0, 1], found {self.iou_threshold!r}")
        if not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"metrics.workers must be an integer >= 1, found {self.workers!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def metrics(self) -> list[Metric]:
        """The enabled scored metrics, in registry order."""
        return registry.metrics(self.enabled)


STRICT_SWITCHES = {
    "labels_from_gt_max": False,
    "case_mean": "nanmean",
    "nsd_dsc_gate": None,
    "nsd_2d_as_slab": False,
    "uint8_cast": False,
    "unique_skips_first": False,
    "empty_instances_zero": False,
}


def settings_from_section(metrics: dict[str, Any], max_label: int = 65535) -> MetricSettings:
    """Build settings from a challenge's ``metrics`` dict (``challenge.metrics``)."""
    mode = metrics.get("mode", "official")
    official = dict(metrics.get("official", {}))
    gate = official.get("nsd_dsc_gate", 0.2)
    if gate is False:
        gate = None
    elif gate is not None:
        if isinstance(gate, bool) or not isinstance(gate, (int, float)):
            raise ValueError(
                f"metrics.official.nsd_dsc_gate must be a number or false, found {gate!r}"
            )
        gate = float(gate)
    switches = {
        "labels_from_gt_max": bool(official.get("labels_from_gt_max", True)),
        "case_mean": official.get("case_mean", "mean"),
        "nsd_dsc_gate": gate,
        "nsd_2d_as_slab": bool(official.get("nsd_2d_as_slab", True)),
        "uint8_cast": bool(official.get("uint8_cast", False)),
        "unique_skips_first": bool(official.get("unique_skips_first", False)),
        "empty_instances_zero": bool(official.get("empty_instances_zero", True)),
    }
    if mode == "strict":
        switches = dict(STRICT_SWITCHES)
    return MetricSettings(
        mode=mode,
        tolerance_mm=float(metrics.get("tolerance_mm", 2.0)),
        round_digits=int(metrics.get("round_digits", 4)),
        workers=int(metrics.get("workers", 2)),
        max_label=int(max_label),
        enabled=enabled_metrics(metrics.get("enabled", DEFAULT_ENABLED)),
        iou_threshold=float(metrics.get("iou_threshold", 0.5)),
        split_binary=bool(metrics.get("split_binary", False)),
        **switches,
    )


def settings_from_challenge(challenge: Any, mode: str | None = None) -> MetricSettings:
    """Settings from a loaded :class:`evalkit.config.Challenge`; ``mode`` overrides its mode."""
    section = dict(challenge.metrics)
    if mode is not None:
        section["mode"] = mode
    max_label = int(challenge.contract.get("max_instances", 65535))
    return settings_from_section(section, max_label=max_label)
