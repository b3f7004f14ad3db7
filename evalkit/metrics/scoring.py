"""Score one case from files: GT file + prediction file (or a runner status).

Never raises for a bad case: every outcome is a :class:`CaseResult` with a
status and a one-line reason.

Statuses
--------
``ok``
    Prediction loaded and scored.
runner statuses (``nonzero_exit``, ``oom``, ``timeout``, ``missing_output``, ...)
    The runner said the case produced no usable output: scored as an empty
    prediction, each metric's ``missing_value`` (DSC 0 and NSD 0, contract.md),
    the runner's reason kept.
``missing_output``
    No prediction file: ``missing_value`` (DSC 0 / NSD 0).
``invalid_output``
    The prediction file is unreadable, pickled, a symlink, oversized, a zip
    bomb, of the wrong shape or dtype, or holds labels above ``max_label``
    (strict mode): ``missing_value`` (DSC 0 / NSD 0), the contract's reason code
    and message kept.
``gt_error``
    The ground truth itself is unusable (organiser's problem): every metric NaN.
``harness_error``
    Scoring failed unexpectedly (a bug, out of memory): every metric NaN.

Text cases (``limits["inputs"] == "text"``, the CVPR25 text track): the case's
``text_prompts`` come from its *input* file (``input_path``, read with the
restricted unpickler, :mod:`evalkit.contract.text`); a missing or bad input is
``gt_error`` (an organiser's file).

The columns are those of the enabled metrics (``settings.metrics``).
"""

from __future__ import annotations

import math
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalkit.contract import ContractError, load_gt, load_prediction, parse_case_name
from evalkit.contract.text import load_text_prompts
from evalkit.metrics.case import (
    INSTANCE_TABLE_COLUMNS,
    case_columns,
    instance_table_columns,
    score_arrays,
    score_missing,
)
from evalkit.metrics.instances import instance_columns, instance_dtypes
from evalkit.metrics.registry import Metric
from evalkit.metrics.settings import MetricSettings

OK = "ok"


@dataclass
class CaseResult:
    """One scored case: ``row`` (a dict with :func:`case_columns`) and its instance rows."""

    row: dict[str, Any]
    instances: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=INSTANCE_TABLE_COLUMNS))


def _one_line(text: str, limit: int = 500) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _as_unsigned(a: np.ndarray) -> np.ndarray:
    """A validated non-negative signed label map viewed as unsigned (same bits, no copy)."""
    if a.dtype.kind == "i":
        return a.view(a.dtype.newbyteorder("=").str.replace("i", "u"))
    return a


def _result(case, modality, dim, values, status, reason, inst, metrics: list[Metric]) -> CaseResult:
    row = {"case": case, "modality": modality, "dim": dim, **values, "status": status,
           "reason": _one_line(reason)}
    inst = inst.copy()
    inst.insert(0, "dim", dim)
    inst.insert(0, "modality", modality)
    inst.insert(0, "case", case)
    return CaseResult({k: row[k] for k in case_columns(metrics)}, inst[instance_table_columns(metrics)])


def _nan_values(metrics: list[Metric]) -> dict[str, Any]:
    return {"n_instances": 0, **{m.column: math.nan for m in metrics},
            **{f"{m.column}_unrounded": math.nan for m in metrics}}


def score_case(
    case: str,
    gt_path: str | Path,
    pred_path: str | Path | None,
    settings: MetricSettings,
    *,
    limits: dict[str, Any] | None = None,
    aliases: dict[str, str] | None = None,
    runner_status: str | None = None,
    runner_reason: str | None = None,
    input_path: str | Path | None = None,
    modality_dim: tuple[str, int] | None = None,
) -> CaseResult:
    """Score one case from its GT file and prediction file.

    ``case``: case name (file stem; modality and dim come from it via
    :func:`evalkit.contract.parse_case_name` with ``aliases``). ``pred_path``:
    the participant's ``.npz`` (``None``: no output). ``limits``: the
    challenge's ``[contract]`` section. ``runner_status``: the runner's status
    for the case; anything other than ``ok`` scores DSC 0 / NSD 0 without
    reading the prediction. ``input_path``: the case's input ``.npz`` (needed by
    text cases, for their ``text_prompts``). ``modality_dim``: the case's
    modality and dim as case discovery found them (free case names, a manifest);
    ``None``: parsed from the name. Never raises (see the module docstring).
    """
    metrics = settings.metrics
    dim = 3 if case.startswith("3D") else 2
    modality = ""
    try:
        modality, dim = modality_dim if modality_dim is not None else parse_case_name(case, aliases)
    except ContractError as exc:
        return _result(case, modality, dim, _nan_values(metrics), "gt_error", exc.as_status(),
                       _empty_instances(metrics), metrics)
    try:
        gt = load_gt(gt_path, dim, None, limits, case=case)
    except ContractError as exc:
        return _result(case, modality, dim, _nan_values(metrics), "gt_error", exc.as_status(),
                       _empty_instances(metrics), metrics)
    except Exception as exc:  # noqa: BLE001 - a bad case must not stop the run
        return _result(case, modality, dim, _nan_values(metrics), "harness_error",
                       f"loading GT: {type(exc).__name__}: {exc}", _empty_instances(metrics), metrics)
    prompts = input_spacing = None
    if (limits or {}).get("inputs", "boxes") == "text":
        try:
            if input_path is None:
                raise ContractError("missing_file", case=case, key="text_prompts",
                                    expected="the case's input file (text cases read their text_prompts there)",
                                    fix="score with the inputs folder (evalkit score --inputs DIR)")
            prompts, input_spacing = load_text_prompts(input_path, limits, case=case, with_spacing=True)
        except ContractError as exc:
            return _result(case, modality, dim, _nan_values(metrics), "gt_error", exc.as_status(),
                           _empty_instances(metrics), metrics)
        except Exception as exc:  # noqa: BLE001 - a bad case must not stop the run
            return _result(case, modality, dim, _nan_values(metrics), "harness_error",
                           f"loading text_prompts: {type(exc).__name__}: {exc}",
                           _empty_instances(metrics), metrics)
    gts = _as_unsigned(gt.gts)
    spacing = None if gt.spacing is None else tuple(float(s) for s in gt.spacing)
    if prompts is not None and input_spacing is not None:
        spacing = tuple(float(s) for s in input_spacing)  # the official text script's spacing
    try:
        if runner_status is not None and runner_status != OK:
            values, inst = score_missing(gts, settings, prompts)
            reason = runner_reason or f"runner status {runner_status}"
            return _result(case, modality, dim, values, runner_status, reason, inst, metrics)
        if pred_path is None:
            values, inst = score_missing(gts, settings, prompts)
            return _result(case, modality, dim, values, "missing_output",
                           "missing_file: no prediction file", inst, metrics)
        notes: list[str] = []
        try:
            pred = load_prediction(pred_path, gts.shape, limits, case=case, notes=notes)
            _check_label_range(pred, settings, case, pred_path)
        except ContractError as exc:
            values, inst = score_missing(gts, settings, prompts)
            status = "missing_output" if exc.reason == "missing_file" else "invalid_output"
            return _result(case, modality, dim, values, status, exc.as_status(), inst, metrics)
        values, inst = score_arrays(gts, pred, spacing=spacing, dim=dim, settings=settings, prompts=prompts)
        return _result(case, modality, dim, values, OK, "; ".join(notes), inst, metrics)
    except Exception as exc:  # noqa: BLE001 - a bad case must not stop the run
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
        return _result(case, modality, dim, _nan_values(metrics), "harness_error",
                       f"scoring: {type(exc).__name__}: {exc}{where}", _empty_instances(metrics), metrics)


def _check_label_range(pred: np.ndarray, settings: MetricSettings, case: str, path) -> None:
    """Strict mode scores every prediction label: bound them (a hostile file could hold 2**63)."""
    if settings.labels_from_gt_max or pred.size == 0:
        return
    top = int(pred.max())
    if top > settings.max_label:
        raise ContractError(
            "bad_values", case=case, file=path, key="segs",
            expected=f"labels 0..{settings.max_label} (contract.max_instances)",
            found=f"largest label {top}",
            fix="label i must be the instance prompted by box i, 0 the background",
        )


def _empty_instances(metrics: list[Metric]) -> pd.DataFrame:
    dtypes = instance_dtypes(metrics)
    return pd.DataFrame({c: pd.Series(dtype=dtypes[c]) for c in instance_columns(metrics)})
