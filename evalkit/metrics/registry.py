"""The metric registry: every metric is declared once, here.

A :class:`Metric` says what every later stage needs to know about a metric:
its name in ``results.csv`` and the ranking (``"DSC"``), its column in the
scores tables (``"dsc"``), which direction is better, the value a case gets when
its prediction is missing or invalid, its unit, and where its values come from
(``"scores"``: computed by the metrics stage per instance and aggregated per
case; ``"runner"``: a field of the runner's journal record, such as the wall
clock). The scoring tables, ``results.csv``, the report's columns and figures,
``check`` and ``compare`` iterate over the registry instead of naming metrics.

Which metrics a challenge computes is ``[metrics] enabled`` (scored metrics) in
the challenge file; which of them are ranked, and in which direction, is
``[ranking] metrics`` (checked against the registry at load).

How a scored metric is computed is named here, not imported: ``instance`` and
``case`` are ``"module:function"`` references into the metric modules
(:mod:`evalkit.metrics.overlap`, :mod:`evalkit.metrics.case`, ...), resolved on
first use by :func:`compute`. So this module stays declarative and cheap to
import for the stages that only need names and directions (ranking, report).

* ``instance(geometry) -> float``: the value of one instance (label) from its
  :class:`~evalkit.metrics.geometry.InstanceGeometry` (crop, masks, surfels,
  distances, all computed once per instance and shared by every metric). An
  instance absent from both masks is NaN for every metric (never computed).
* ``case(values, context) -> float``: the unrounded case value from the
  instance values (float64 array, label order) and a
  :class:`~evalkit.metrics.case.CaseContext` (settings, case DSC). The scores
  table keeps it as ``<column>_unrounded`` and rounds it half-to-even to
  ``round_digits`` as ``<column>``.

A metric with ``level = "matching"`` (F1, DSC_TP, PQ...) is not computed per
label: its ``case`` function takes the case's instance matching, an
:class:`~evalkit.metrics.instance_match.InstanceScores` (``case(scores, context)``),
and it names no ``instance`` function; its instance-table column is NaN.

How to add a metric: docs/design.md, "How to add".
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from evalkit.errors import EvalkitError


class UnknownMetricError(EvalkitError, ValueError):
    """A metric name that is not in the registry; the message lists the known ones."""


@dataclass(frozen=True)
class Metric:
    """One metric, as every stage sees it.

    ``name``: the name in ``results.csv``, the ranking and the report (``"DSC"``).
    ``column``: the column in ``instances.csv`` / ``cases.csv`` (``"dsc"``; the
    case table also has ``<column>_unrounded``); runner metrics: the
    :class:`~evalkit.runfolder.CaseRecord` field (``"wall_s"``).
    ``direction``: ``"larger"`` or ``"smaller"`` is better.
    ``missing_value``: the instance and case value of a missing or invalid
    prediction (DSC 0; a distance: ``inf``); ``nan`` = ranked worst.
    ``unit``: ``""`` (a ratio), ``"mm"``, ``"s"``. ``bounds``: the value range
    (``(0, 1)`` for overlap ratios; ``None`` unbounded), used for axes.
    ``source``: ``"scores"`` or ``"runner"``. ``optional``: off unless the
    challenge enables it. ``title``: a short human label for tables and axes.
    ``instance`` / ``case`` (scored metrics): ``"module:function"`` computing an
    instance value and aggregating a case (module docstring).
    ``level``: ``"instance"`` (per label, then ``case`` over the labels; the
    default) or ``"matching"`` (one value per case from the instance matching,
    :mod:`evalkit.metrics.instance_match`; ``case(scores, context)``, no ``instance``).
    ``iteration`` (scored metrics of a multi-run protocol, instead of
    ``instance`` / ``case``): ``"module:function"`` making the case value from
    the case's per-iteration curves, ``f(dscs, nsds, *, n_clicks, include_box)
    -> float`` (:mod:`evalkit.metrics.interactive`); ``""`` for every other metric.
    """

    name: str
    column: str
    direction: str
    missing_value: float
    unit: str = ""
    bounds: tuple[float, float] | None = None
    source: str = "scores"
    optional: bool = False
    title: str = ""
    instance: str = ""
    case: str = ""
    iteration: str = ""
    level: str = "instance"

    def __post_init__(self) -> None:
        if self.level not in ("instance", "matching"):
            raise ValueError(f"metric {self.name}: level must be 'instance' or 'matching'")
        if self.direction not in ("larger", "smaller"):
            raise ValueError(f"metric {self.name}: direction must be 'larger' or 'smaller'")
        if self.source not in ("scores", "runner"):
            raise ValueError(f"metric {self.name}: source must be 'scores' or 'runner'")
        if self.iteration:
            if self.source != "scores" or ":" not in self.iteration or self.instance or self.case:
                raise ValueError(f"metric {self.name}: an iteration metric is scored and names only its "
                                 "iteration function as 'module:function'")
        elif self.source == "scores" and self.level == "matching":
            if ":" not in self.case:
                raise ValueError(f"metric {self.name}: a matching metric names its case function "
                                 "as 'module:function'")
        elif self.source == "scores" and not (":" in self.instance and ":" in self.case):
            raise ValueError(f"metric {self.name}: a scored metric names its instance and case "
                             "functions as 'module:function'")

    @property
    def larger_is_better(self) -> bool:
        return self.direction == "larger"

    @property
    def label(self) -> str:
        """Axis / column label with the unit: ``"HD95 (mm)"``."""
        return f"{self.name} ({self.unit})" if self.unit else self.name


REGISTRY: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Add ``metric`` to the registry (its name and column must be new); returns it.

    Runner metrics may share a column (one journal field under two names, e.g.
    ``RunningTime`` and ``TotalRunningTime`` are both ``wall_s``)."""
    if metric.name in REGISTRY:
        raise ValueError(f"metric {metric.name} is registered twice")
    if any(m.column == metric.column and not (m.source == metric.source == "runner")
           for m in REGISTRY.values()):
        raise ValueError(f"metric {metric.name}: column {metric.column!r} is taken")
    REGISTRY[metric.name] = metric
    return metric


def get(name: str) -> Metric:
    """The registered metric called ``name``; :class:`UnknownMetricError` otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownMetricError(
            f"unknown metric {name!r}; known metrics: {', '.join(REGISTRY)}") from None


def metrics(names: Iterable[str]) -> list[Metric]:
    """The metrics called ``names``, in that order."""
    return [get(n) for n in names]


def scored(enabled: Iterable[str]) -> list[Metric]:
    """The ``source = "scores"`` metrics among ``enabled`` (``[metrics] enabled``), in registry order."""
    want = set(enabled)
    for n in want:
        get(n)
    return [m for m in REGISTRY.values() if m.source == "scores" and m.name in want]


def enabled_scored(challenge) -> list[Metric]:
    """The scored metrics a challenge computes, in registry order: ``[metrics] enabled``
    of ``challenge`` (an :class:`evalkit.config.Challenge`), or the registry's
    non-optional ones when the file has no such key (run folders made before it existed)."""
    enabled = challenge.metrics.get("enabled")
    if enabled is None:
        enabled = [m.name for m in REGISTRY.values() if not m.optional]
    return scored(enabled)


@functools.cache
def compute(ref: str) -> Callable:
    """The function named by ``ref`` (``"package.module:function"``), imported once."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


# DSC: 2|G∧P| / (|G| + |P|) per instance; case = mean of the instances (``case_mean``).
DSC = register(Metric("DSC", "dsc", "larger", 0.0, bounds=(0.0, 1.0), title="Dice similarity coefficient",
                      instance="evalkit.metrics.overlap:dsc", case="evalkit.metrics.case:case_mean"))
# NSD: surface Dice at ``tolerance_mm``; case = mean, or 0.0 when the case DSC fails ``nsd_dsc_gate``.
NSD = register(Metric("NSD", "nsd", "larger", 0.0, bounds=(0.0, 1.0), title="normalized surface Dice",
                      instance="evalkit.metrics.overlap:nsd", case="evalkit.metrics.overlap:nsd_case"))
RUNNING_TIME = register(Metric("RunningTime", "wall_s", "smaller", math.nan, unit="s", source="runner",
                               title="running time per case (runner wall clock)"))
# HD95 / ASSD: surface-distance's robust Hausdorff (95 %) and area-weighted symmetric mean distance;
# mm (pixels in 2D); case = mean; empty-mask conventions in evalkit/metrics/distances.py.
HD95 = register(Metric("HD95", "hd95", "smaller", math.inf, unit="mm", optional=True,
                       title="95th percentile Hausdorff distance",
                       instance="evalkit.metrics.distances:hd95", case="evalkit.metrics.case:case_mean"))
ASSD = register(Metric("ASSD", "assd", "smaller", math.inf, unit="mm", optional=True,
                       title="average symmetric surface distance",
                       instance="evalkit.metrics.distances:assd", case="evalkit.metrics.case:case_mean"))

# The CVPR 2025 interactive protocol (evalkit/metrics/interactive.py): per case, from the per-iteration
# DSC / NSD curves (iteration 1 the box, 2..6 one click per class). AUC: trapezoid over the click
# iterations (x = 0..4, range 0..4; strict: all six, 0..5); Final: the last iteration. Unrounded.
DSC_AUC = register(Metric("DSC_AUC", "dsc_auc", "larger", 0.0, bounds=(0.0, 5.0), optional=True,
                          title="area under the DSC-per-click curve",
                          iteration="evalkit.metrics.interactive:dsc_auc"))
NSD_AUC = register(Metric("NSD_AUC", "nsd_auc", "larger", 0.0, bounds=(0.0, 5.0), optional=True,
                          title="area under the NSD-per-click curve",
                          iteration="evalkit.metrics.interactive:nsd_auc"))
DSC_FINAL = register(Metric("DSC_Final", "dsc_final", "larger", 0.0, bounds=(0.0, 1.0), optional=True,
                            title="DSC after the last click",
                            iteration="evalkit.metrics.interactive:dsc_final"))
NSD_FINAL = register(Metric("NSD_Final", "nsd_final", "larger", 0.0, bounds=(0.0, 1.0), optional=True,
                            title="NSD after the last click",
                            iteration="evalkit.metrics.interactive:nsd_final"))
# The sum of a case's container wall times over its iterations (start-up included, click generation
# excluded): the case record's wall_s, which a multi-run protocol sums over its runs.
TOTAL_RUNNING_TIME = register(Metric("TotalRunningTime", "wall_s", "smaller", math.nan, unit="s",
                                     source="runner", optional=True,
                                     title="running time per case, all iterations (runner wall clock)"))
# Instance-level metrics (level "matching", evalkit/metrics/instance_match.py): Hungarian matching
# of the instances at IoU >= iou_threshold; F1 / precision / recall of the matched pairs, DSC_TP the
# mean Dice of the matched pairs, PQ = SQ x RQ as panoptica defines it. Empty conventions there.
F1 = register(Metric("F1", "f1", "larger", 0.0, bounds=(0.0, 1.0), optional=True, level="matching",
                     title="instance F1 at the IoU threshold",
                     case="evalkit.metrics.instance_match:f1_value"))
DSC_TP = register(Metric("DSC_TP", "dsc_tp", "larger", 0.0, bounds=(0.0, 1.0), optional=True,
                         level="matching", title="mean Dice of the matched instances",
                         case="evalkit.metrics.instance_match:dsc_tp_value"))
PQ = register(Metric("PQ", "pq", "larger", 0.0, bounds=(0.0, 1.0), optional=True, level="matching",
                     title="panoptic quality (SQ x RQ)",
                     case="evalkit.metrics.instance_match:pq_value"))
PRECISION = register(Metric("Precision", "precision", "larger", 0.0, bounds=(0.0, 1.0), optional=True,
                            level="matching", title="instance precision at the IoU threshold",
                            case="evalkit.metrics.instance_match:precision_value"))
RECALL = register(Metric("Recall", "recall", "larger", 0.0, bounds=(0.0, 1.0), optional=True,
                         level="matching", title="instance recall at the IoU threshold",
                         case="evalkit.metrics.instance_match:recall_value"))
