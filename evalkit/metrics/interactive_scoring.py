"""Score interactive (CVPR25) cases from files: GT, the input's spacing and each run's prediction.

The runner's journal gives, per case, one ``record = "run"`` line per container run
whose ``output`` names the prediction standing after that run (the run's own, a
stale one under the official keep-outputs switch, or none: an empty prediction);
see :mod:`evalkit.runner.interactive`. This module turns them into

* one row per case (``cases.csv``): ``case, modality, dim, n_instances`` (GT
  classes), the interactive case metrics of the registry (``DSC_AUC``, ``NSD_AUC``,
  ``DSC_Final``, ``NSD_Final``: their ``<column>`` and ``<column>_unrounded``, equal:
  the official table is not rounded), ``dsc_1 .. dsc_N`` and ``nsd_1 .. nsd_N``,
  ``status`` and ``reason``;
* one row per run (``iterations.csv``): ``case, modality, iteration, status,
  scored_run`` (the run whose prediction was scored, empty for none), ``dsc, nsd,
  wall_s``, ``reason``.

The formulas are :mod:`evalkit.metrics.interactive`'s. Conventions: a skipped box run
(no boxes) and a run without a standing prediction score 0, as do runs a case never
reached; a case ``over_budget`` scores 0 everywhere (the README's rule); a case the
harness could not run (``harness_error``) or whose GT is unusable is NaN (not the
participant's fault, and ranked worst). Never raises for a bad case.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalkit.contract import ContractError, load_gt, load_interactive_input, load_prediction
from evalkit.metrics import registry
from evalkit.metrics.settings import MetricSettings
from evalkit.runfolder import CaseRecord

#: The interactive case metrics, in table order (registry names).
CASE_METRICS = ("DSC_AUC", "NSD_AUC", "DSC_Final", "NSD_Final")
ITERATION_COLUMNS = ["case", "modality", "iteration", "status", "scored_run", "dsc", "nsd",
                     "wall_s", "reason"]


@dataclass(frozen=True)
class InteractiveScoring:
    """How interactive cases are scored.

    ``runs``: runs per case (box run + clicks, 6). ``clicks``: the click runs the AUC
    covers when ``auc_clicks_only`` (official; else every run on ``x = 0 .. runs-1``).
    ``labels_present_in_gt``: DSC/NSD over the GT's labels (official; strict: the
    labels of GT or prediction). ``tolerance_mm``, ``nsd_dsc_gate`` (``None``: no gate)
    as in :class:`~evalkit.metrics.settings.MetricSettings`.
    """

    runs: int = 6
    clicks: int = 5
    auc_clicks_only: bool = True
    labels_present_in_gt: bool = True
    tolerance_mm: float = 2.0
    nsd_dsc_gate: float | None = 0.2

    @classmethod
    def from_challenge(cls, challenge: Any, settings: MetricSettings) -> InteractiveScoring:
        official = challenge.metrics.get("official") or {}
        strict = settings.mode == "strict"
        clicks = int((challenge.data.get("protocol") or {}).get("clicks", 5))
        return cls(runs=clicks + 1, clicks=clicks,
                   auc_clicks_only=not strict and bool(official.get("auc_clicks_only", True)),
                   labels_present_in_gt=not strict and bool(official.get("labels_present_in_gt",
                                                                         True)),
                   tolerance_mm=settings.tolerance_mm, nsd_dsc_gate=settings.nsd_dsc_gate)


def case_columns(n_runs: int) -> list[str]:
    """The columns of the interactive ``cases.csv`` for ``n_runs`` runs per case."""
    cols = ["case", "modality", "dim", "n_instances"]
    for name in CASE_METRICS:
        c = registry.get(name).column
        cols += [c, f"{c}_unrounded"]
    cols += [f"dsc_{k}" for k in range(1, n_runs + 1)] + [f"nsd_{k}" for k in range(1, n_runs + 1)]
    return cols + ["status", "reason"]


def _run_values(gts: np.ndarray, segs: np.ndarray | None, spacing: np.ndarray,
                how: InteractiveScoring) -> tuple[float, float]:
    from evalkit.metrics.interactive import iteration_dsc, iteration_nsd

    if segs is None:
        segs = np.zeros(gts.shape, np.uint8)
    if not how.labels_present_in_gt:  # strict: a label only the prediction has counts (DSC 0)
        extra = np.setdiff1d(np.unique(segs), np.unique(gts))
        extra = extra[extra != 0]
        if extra.size:
            return _strict_values(gts, segs, spacing, how)
    dsc = iteration_dsc(gts, segs)
    nsd = iteration_nsd(gts, segs, spacing, tolerance_mm=how.tolerance_mm,
                        dsc_gate=how.nsd_dsc_gate, dsc=dsc)
    return float(dsc), float(nsd)


def _strict_values(gts, segs, spacing, how) -> tuple[float, float]:
    """Strict mode with prediction-only labels: each such label scores DSC 0 and NSD 0,
    averaged with the GT labels' values."""
    from evalkit.metrics.interactive import iteration_dsc, iteration_nsd

    n_gt = len([v for v in np.unique(gts) if v != 0])
    n_extra = len([v for v in np.setdiff1d(np.unique(segs), np.unique(gts)) if v != 0])
    dsc_gt = iteration_dsc(gts, segs)
    nsd_gt = iteration_nsd(gts, segs, spacing, tolerance_mm=how.tolerance_mm, dsc_gate=None,
                           dsc=dsc_gt)
    dsc = dsc_gt * n_gt / (n_gt + n_extra)
    gate = how.nsd_dsc_gate
    nsd = 0.0 if gate is not None and not dsc > gate else nsd_gt * n_gt / (n_gt + n_extra)
    return float(dsc), float(nsd)


def score_interactive_case(case: str, modality: str, gt_path: str | Path, input_path: str | Path,
                           sub_root: str | Path, runs: Sequence[CaseRecord],
                           case_record: CaseRecord | None, how: InteractiveScoring, *,
                           limits: dict[str, Any]) -> tuple[dict[str, Any], pd.DataFrame]:
    """Score one interactive case; returns its ``cases.csv`` row and its ``iterations.csv`` rows.

    ``runs``: the case's run records of its latest attempt (journal order);
    ``case_record``: its case record (``None``: never finished, e.g. the harness was
    killed: NaN). Predictions are loaded with the contract's checks; a run whose
    prediction file fails them scores 0 (status ``invalid_output`` on its row).
    """
    row: dict[str, Any] = {"case": case, "modality": modality, "dim": 3, "n_instances": 0}
    status = case_record.status if case_record is not None else "harness_error"
    reason = case_record.reason if case_record is not None else "the case never finished"
    per_run: list[dict[str, Any]] = []
    try:
        inp = load_interactive_input(input_path, limits, case=case)
        gts = load_gt(gt_path, 3, inp.spatial_shape, limits, case=case).gts
    except ContractError as exc:
        return _fill(row, how, math.nan, "gt_error", str(exc)), _rows(case, modality, [])
    row["n_instances"] = int(np.count_nonzero(np.unique(gts)))
    if status == "harness_error":
        return _fill(row, how, math.nan, status, reason), _rows(case, modality, [])
    by_iteration = {r.iteration: r for r in runs}
    dscs, nsds = [], []
    try:
        for k in range(1, how.runs + 1):
            rec = by_iteration.get(k)
            entry = {"iteration": k, "status": rec.status if rec else "not_run",
                     "scored_run": "", "wall_s": (rec.wall_s if rec else math.nan),
                     "reason": rec.reason if rec else "not reached"}
            segs = None
            if rec is not None and rec.output and rec.status != "skipped":
                path = Path(sub_root) / rec.output
                try:
                    segs = load_prediction(path, inp.spatial_shape, limits, case=case)
                    entry["scored_run"] = Path(rec.output).stem
                except ContractError as exc:
                    entry.update(status="invalid_output", reason=str(exc))
            if status == "over_budget":  # the whole case scores 0: say so on every run
                entry["reason"] = f"case over budget: scores 0; {entry['reason']}".rstrip("; ")
            if rec is None or rec.status == "skipped" or status == "over_budget":
                dsc = nsd = 0.0
            else:
                dsc, nsd = _run_values(gts, segs, inp.spacing, how)
            entry.update(dsc=dsc, nsd=nsd)
            dscs.append(dsc)
            nsds.append(nsd)
            per_run.append(entry)
    except Exception as exc:  # noqa: BLE001 - a scoring bug: recorded, never fatal to the run
        return (_fill(row, how, math.nan, "harness_error",
                      f"scoring failed: {type(exc).__name__}: {exc}; "
                      f"{traceback.format_exc(limit=2)}"), _rows(case, modality, per_run))
    from evalkit.metrics.interactive import auc

    values = {"DSC_AUC": auc(dscs, n_clicks=how.clicks, include_box=not how.auc_clicks_only),
              "NSD_AUC": auc(nsds, n_clicks=how.clicks, include_box=not how.auc_clicks_only),
              "DSC_Final": dscs[-1], "NSD_Final": nsds[-1]}
    for name, value in values.items():
        c = registry.get(name).column
        row[c] = row[f"{c}_unrounded"] = float(value)
    for k in range(1, how.runs + 1):
        row[f"dsc_{k}"], row[f"nsd_{k}"] = dscs[k - 1], nsds[k - 1]
    row.update(status=status, reason=" ".join(str(reason).split())[:500])
    return row, _rows(case, modality, per_run)


def _fill(row: dict[str, Any], how: InteractiveScoring, value: float, status: str,
          reason: str) -> dict[str, Any]:
    for name in CASE_METRICS:
        c = registry.get(name).column
        row[c] = row[f"{c}_unrounded"] = value
    for k in range(1, how.runs + 1):
        row[f"dsc_{k}"] = row[f"nsd_{k}"] = value
    row.update(status=status, reason=" ".join(str(reason).split())[:500])
    return row


def _rows(case: str, modality: str, per_run: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([{"case": case, "modality": modality, **r} for r in per_run],
                        columns=ITERATION_COLUMNS)


def interactive_tables(results: Sequence[tuple[dict[str, Any], pd.DataFrame]],
                       how: InteractiveScoring) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``cases.csv`` and ``iterations.csv`` frames of scored cases (in the given order)."""
    cases = pd.DataFrame([r for r, _ in results], columns=case_columns(how.runs))
    parts = [t for _, t in results if len(t)]
    iterations = (pd.concat(parts, ignore_index=True) if parts
                  else pd.DataFrame(columns=ITERATION_COLUMNS))
    return cases, iterations
