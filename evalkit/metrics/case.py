"""One case: label maps (or files, or a runner status) -> instance rows + a case row.

Every enabled scored metric (``[metrics] enabled``, :mod:`evalkit.metrics.registry`)
gets an instance column ``<column>`` and case columns ``<column>`` (rounded) and
``<column>_unrounded``; its ``case`` function makes the case value from the
instance values. For DSC and NSD the case values follow the settings
(:mod:`evalkit.metrics.settings`):

* labels: ``1..max(gts)`` (official; ``max`` as a Python int so a uint8 255 does
  not wrap) or every label present in GT or prediction (strict: a prediction
  label with no GT instance scores DSC 0 / NSD 0, it is not ignored);
* case DSC / NSD: ``mean`` (one NaN label makes the case NaN; no labels: NaN) or
  ``nanmean`` (labels absent from both masks ignored; no labels: NaN);
* DSC gate (official): case NSD is computed only when case DSC > gate, NaN
  counting as false; otherwise case NSD = 0.0;
* 2D NSD: slab (official) or DeepMind contour (strict), spacing 1 (pixels);
  3D NSD at the GT spacing as stored, array-axis order.

Instance rows always carry the per-label NSD, also when the gate sets the case
NSD to 0 (the gate is a case-level rule). Rounded case values use NumPy's
round-half-to-even, as ``round(np.float64(x), digits)`` did in the official script.

A missing or invalid prediction gives each metric its ``missing_value`` (DSC and
NSD 0) for the case and for every instance present in the GT.

Instance-level metrics (``level = "matching"``: F1, DSC_TP, PQ, Precision,
Recall; :mod:`evalkit.metrics.instance_match`) get one value per case from the
matching of the two whole label maps; their instance-table column is NaN.

Text cases (CVPR25 text track, ``prompts``: :class:`evalkit.contract.text.TextPrompts`):

* ``uint8_cast`` (official): GT and prediction are cast to uint8 first (wrap);
* semantic (``instance_label`` 0): the per-label metrics (DSC, NSD) over the
  labels both prompted and present in the GT (``unique_skips_first``: the
  smallest GT value counts as background, as ``np.unique(gt)[1:]``); the
  matching metrics are NaN (not applicable);
* instance (``instance_label`` 1): the matching metrics; the per-label metrics
  are NaN and there are no instance rows.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evalkit.metrics import registry
from evalkit.metrics.boxes import bounding_boxes
from evalkit.metrics.instance_match import match_instances
from evalkit.metrics.instances import instance_columns, instance_dtypes, score_instances
from evalkit.metrics.registry import Metric
from evalkit.metrics.settings import MetricSettings


def case_columns(metrics: Sequence[Metric]) -> list[str]:
    """The case table's columns: ``<column>`` of every metric, then every ``<column>_unrounded``."""
    cols = [m.column for m in metrics]
    return ["case", "modality", "dim", "n_instances", *cols, *(f"{c}_unrounded" for c in cols),
            "status", "reason"]


def instance_table_columns(metrics: Sequence[Metric]) -> list[str]:
    """The instance table's columns: ``case, modality, dim`` and :func:`instance_columns`."""
    return ["case", "modality", "dim", *instance_columns(metrics)]


DEFAULT_METRICS = (registry.DSC, registry.NSD)
#: The columns with the default (cvpr24) metrics, DSC and NSD.
CASE_COLUMNS = case_columns(DEFAULT_METRICS)
INSTANCE_TABLE_COLUMNS = instance_table_columns(DEFAULT_METRICS)


@dataclass(frozen=True)
class CaseContext:
    """What a metric's ``case`` function may use besides its instance values.

    ``settings``: the metric settings. ``dsc``: the unrounded case DSC (the
    instance DSC mean under ``case_mean``), computed whether DSC is enabled or
    not, for the NSD gate.
    """

    settings: MetricSettings
    dsc: float


def case_mean(values: np.ndarray, ctx: CaseContext) -> float:
    """The case value as the mean of its instances under ``settings.case_mean`` (:func:`aggregate`)."""
    return aggregate(values, ctx.settings.case_mean)


def surfel_kind(dim: int, settings: MetricSettings) -> str:
    """The surfel kind for a case of dimensionality ``dim`` under ``settings``."""
    if dim == 3:
        return "3d"
    if dim == 2:
        return "2d-slab" if settings.nsd_2d_as_slab else "2d-contour"
    raise ValueError(f"dim must be 2 or 3, found {dim!r}")


def case_labels(gt: np.ndarray, pred: np.ndarray | None, settings: MetricSettings) -> list[int]:
    """The labels a case is scored on (sorted ints >= 1).

    Official: ``1..max(gt)`` (empty for an all-zero GT). Strict: every label that
    occurs in ``gt`` or ``pred`` (``pred`` may be ``None``: none); a label above
    ``settings.max_label`` raises ``ValueError``.
    """
    top = int(gt.max()) if gt.size else 0
    if settings.labels_from_gt_max:
        return list(range(1, top + 1))
    present = set(_present(gt, settings.max_label))
    if pred is not None:
        present |= set(_present(pred, settings.max_label))
    return sorted(present)


def text_labels(gt: np.ndarray, prompts, settings: MetricSettings) -> list[int]:
    """The labels a semantic text case is scored on: prompted and present in ``gt`` (sorted).

    ``prompts``: :class:`evalkit.contract.text.TextPrompts`. With
    ``settings.unique_skips_first`` the smallest value of ``gt`` is dropped even
    when it is not 0 (official ``np.unique(gt)[1:]``; only differs for a GT
    without background).
    """
    present = _present(gt, max(settings.max_label, int(gt.max()) if gt.size else 0))
    if settings.unique_skips_first and gt.size and present and not (gt == 0).any():
        present = present[1:]
    wanted = set(prompts.class_ids)
    return [x for x in present if x in wanted]


def _present(a: np.ndarray, max_label: int = 65535) -> list[int]:
    if a.size == 0:
        return []
    top = int(a.max())
    if top < 1:
        return []
    if top > max_label:
        raise ValueError(f"label map holds label {top}, above the largest allowed label {max_label}")
    return [i for i, box in enumerate(bounding_boxes(a, top)) if box is not None]


def aggregate(values: np.ndarray, how: str) -> float:
    """Mean (``"mean"``: any NaN -> NaN) or NaN-ignoring mean; empty -> NaN."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.mean(values) if how == "mean" else np.nanmean(values))


def round_value(x: float, digits: int) -> float:
    """NumPy round-half-to-even of ``x`` to ``digits`` decimals (NaN stays NaN)."""
    return float(np.round(np.float64(x), digits))


#: The kinds of a text case (:attr:`evalkit.contract.text.TextPrompts.kind`).
TEXT_KINDS = ("semantic", "instance")


def applies(metric: Metric, kind: str | None) -> bool:
    """Whether ``metric`` has a value for a case of ``kind`` (module docstring).

    ``kind``: ``None`` for a box or click case (every metric applies), else a
    text case's kind: ``"semantic"`` (the per-label metrics, ``level =
    "instance"``: DSC, NSD...) or ``"instance"`` (the matching metrics, ``level =
    "matching"``: F1, DSC_TP...). A metric that does not apply is NaN in the
    case row whatever the prediction; ``compare`` counts such a pair as equal.
    Raises ``ValueError`` for another ``kind``.
    """
    if kind is None:
        return True
    if kind not in TEXT_KINDS:
        raise ValueError(f"case kind must be None, 'semantic' or 'instance', found {kind!r}")
    return (metric.level == "matching") == (kind == "instance")


def _split(metrics: Sequence[Metric]) -> tuple[list[Metric], list[Metric]]:
    per_label = [m for m in metrics if m.level == "instance"]
    return per_label, [m for m in metrics if m.level == "matching"]


def _with_columns(inst: pd.DataFrame, metrics: Sequence[Metric]) -> pd.DataFrame:
    """``inst`` with a NaN column for every metric it lacks, in :func:`instance_columns` order."""
    for m in metrics:
        if m.column not in inst.columns:
            inst[m.column] = math.nan
    return inst[instance_columns(metrics)].astype(instance_dtypes(metrics))


def score_arrays(
    gt: np.ndarray,
    pred: np.ndarray,
    *,
    spacing: tuple[float, ...] | None,
    dim: int,
    settings: MetricSettings,
    prompts=None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Score one case from its label maps.

    ``gt``, ``pred``: integer label maps of one shape, ``(H, W)`` (``dim=2``) or
    ``(D, H, W)`` (``dim=3``); ``spacing``: mm per voxel in array-axis order (3D;
    ignored in 2D, where distances are in pixels). ``prompts``: the
    :class:`~evalkit.contract.text.TextPrompts` of a text case (``None``: a box
    case). Returns the case values (``n_instances``, then ``<column>`` and
    ``<column>_unrounded`` of every enabled metric: ``settings.metrics``) and the
    instance table (:func:`~evalkit.metrics.instances.instance_columns`).
    """
    if gt.shape != pred.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from GT shape {gt.shape}")
    if gt.ndim != dim:
        raise ValueError(f"a {dim}D case needs a {dim}D label map, found shape {gt.shape}")
    kind = surfel_kind(dim, settings)
    if dim == 3:
        if spacing is None or len(spacing) != 3:
            raise ValueError(f"a 3D case needs a spacing of 3 values, found {spacing!r}")
        sp = tuple(float(s) for s in spacing)
    else:
        sp = (1.0, 1.0)
    if settings.uint8_cast:
        gt, pred = gt.astype(np.uint8), pred.astype(np.uint8)
    metrics = settings.metrics
    per_label, matching = _split(metrics)
    text_kind = None if prompts is None else prompts.kind
    values: dict[Metric, float] = {}
    if text_kind == "instance":
        labels: list[int] = []
        inst = _with_columns(pd.DataFrame({"label": [], "gt_voxels": [], "pred_voxels": []}), metrics)
        values.update({m: math.nan for m in per_label if not applies(m, text_kind)})
    else:
        labels = text_labels(gt, prompts, settings) if prompts is not None else case_labels(gt, pred, settings)
        computed = per_label if registry.DSC in per_label else [registry.DSC, *per_label]  # DSC feeds the gate
        inst = score_instances(
            gt, pred, labels, kind=kind, spacing=sp, tolerance_mm=settings.tolerance_mm, metrics=computed
        )
        ctx = CaseContext(settings, aggregate(inst["dsc"].to_numpy(), settings.case_mean))
        values.update({m: registry.compute(m.case)(inst[m.column].to_numpy(), ctx) for m in per_label})
        inst = _with_columns(inst, metrics)
    if matching:
        if text_kind == "semantic":
            values.update({m: math.nan for m in matching if not applies(m, text_kind)})
        else:
            scores = match_instances(gt, pred, threshold=settings.iou_threshold,
                                     uint8_cast=settings.uint8_cast, split_binary=settings.split_binary,
                                     empty_as_zero=settings.empty_instances_zero)
            ctx = CaseContext(settings, math.nan)
            values.update({m: float(registry.compute(m.case)(scores, ctx)) for m in matching})
            if text_kind == "instance":
                labels = list(range(1, scores.n_gt + 1))
    ordered = {m: values[m] for m in metrics}
    return case_values(len(labels), ordered, settings), inst


def score_missing(gt: np.ndarray, settings: MetricSettings,
                  prompts=None) -> tuple[dict[str, Any], pd.DataFrame]:
    """Score a case whose prediction is missing or invalid: each metric's ``missing_value``.

    Instance rows are those of an empty prediction: ``missing_value`` for labels
    in the GT (DSC/NSD 0), NaN for labels in neither. The case value is the
    ``missing_value`` whatever the labels. Text cases (``prompts``): the metrics
    that do not apply to the case's kind are NaN (module docstring), the
    semantic labels are the prompted ones present.
    """
    metrics = settings.metrics
    if settings.uint8_cast:
        gt = gt.astype(np.uint8)
    text_kind = None if prompts is None else prompts.kind
    if text_kind == "instance":
        labels: list[int] = []
    elif prompts is not None:
        labels = text_labels(gt, prompts, settings)
    else:
        labels = case_labels(gt, None, settings)
    boxes = bounding_boxes(gt, max(labels, default=0))
    rows = []
    for label in labels:
        box = boxes[label]
        n_g = 0 if box is None else int(np.count_nonzero(gt[box] == label))
        rows.append((label, *(m.missing_value if n_g and m.level == "instance" else math.nan
                              for m in metrics), n_g, 0))
    inst = pd.DataFrame(rows, columns=instance_columns(metrics)).astype(instance_dtypes(metrics))
    values = {m: m.missing_value for m in metrics}
    values.update({m: math.nan for m in metrics if not applies(m, text_kind)})
    if text_kind == "instance":
        labels = list(range(1, len(_present(gt, int(gt.max()) if gt.size else 0)) + 1))
    return case_values(len(labels), values, settings), inst


def case_values(n: int, values: dict[Metric, float], settings: MetricSettings) -> dict[str, Any]:
    """The case row's values: ``n_instances``, each ``<column>`` rounded, each ``<column>_unrounded``."""
    out: dict[str, Any] = {"n_instances": int(n)}
    for m, v in values.items():
        out[m.column] = round_value(v, settings.round_digits)
    for m, v in values.items():
        out[f"{m.column}_unrounded"] = float(v)
    return out
