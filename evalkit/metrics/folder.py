"""Score a folder of predictions against a folder of ground truth, in parallel.

Cases are the GT folder's ``*.npz`` files; the prediction of case ``X`` is
``<pred_dir>/X.npz``. Cases are scored in worker processes, largest GT file
first, with a progress bar on stderr. One bad case never stops the run: every
case ends with a status (see :mod:`evalkit.metrics.scoring`); a worker process
that dies takes only its own case (``harness_error``), the others are retried.

Output tables (columns as docs/design.md "Scores"), sorted by case (and label):
``cases`` (:func:`~evalkit.metrics.case.case_columns`) and ``instances``
(:func:`~evalkit.metrics.case.instance_table_columns`), with the columns of the
enabled metrics (``settings.metrics``).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.metrics import registry
from evalkit.metrics.case import DEFAULT_METRICS, case_columns, instance_table_columns
from evalkit.metrics.registry import Metric
from evalkit.metrics.scoring import CaseResult, score_case
from evalkit.metrics.settings import MetricSettings
from evalkit.progress import progress as progress_bar
from evalkit.provenance import CORE_PACKAGES, versions
from evalkit.runfolder import latest_by_case, read_journal


def read_statuses(path: str | Path) -> dict[str, tuple[str, str]]:
    """Runner statuses from a journal (``journal.jsonl``): ``case -> (status, reason)``.

    The last record of a case wins (later attempts). Read with the one journal
    reader, :func:`evalkit.runfolder.read_journal`, and its policy for bad lines.
    """
    return {case: (rec.status, rec.reason or "")
            for case, rec in latest_by_case(read_journal(path)).items()}


def _size(path: Path) -> int:
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0


def _jobs(gt_dir: Path, pred_dir: Path | None, statuses: Mapping[str, tuple[str, str]],
          inputs_dir: Path | None = None):
    gt_files = sorted(p for p in gt_dir.iterdir() if p.name.endswith(".npz"))
    jobs = []
    for gt_path in gt_files:
        case = gt_path.name[: -len(".npz")]
        pred_path = None if pred_dir is None else pred_dir / gt_path.name
        status, reason = statuses.get(case, (None, None))
        weight = _size(gt_path) + (0 if pred_path is None else _size(pred_path))
        jobs.append((weight, case, gt_path, pred_path, status, reason,
                     None if inputs_dir is None else inputs_dir / gt_path.name))
    jobs.sort(key=lambda j: (-j[0], j[1]))  # largest first, ties by name
    return jobs


def score_folder(
    gt_dir: str | Path,
    pred_dir: str | Path | None,
    settings: MetricSettings,
    *,
    limits: Mapping[str, Any] | None = None,
    aliases: Mapping[str, str] | None = None,
    statuses: Mapping[str, tuple[str, str]] | None = None,
    workers: int | None = None,
    progress: bool = True,
    inputs_dir: str | Path | None = None,
    case_info: Mapping[str, tuple[str, int]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score every GT case of ``gt_dir`` against ``pred_dir``; returns ``(cases, instances)``.

    ``settings``: see :func:`evalkit.metrics.settings_from_challenge`; ``limits``
    and ``aliases``: the challenge's ``contract`` section and modality aliases;
    ``statuses``: runner statuses (:func:`read_statuses`); ``workers``: processes
    (default ``settings.workers``; 1 = in this process); ``inputs_dir``: the
    input cases (``<case>.npz``; text cases read their ``text_prompts`` there);
    ``case_info``: ``case -> (modality, dim)`` from case discovery (free case
    names), else both come from the name. Raises
    ``FileNotFoundError`` if ``gt_dir`` is not a folder; never for a bad case.
    """
    gt_dir = Path(gt_dir)
    if not gt_dir.is_dir():
        raise FileNotFoundError(f"{gt_dir}: ground-truth folder not found")
    pred_dir = None if pred_dir is None else Path(pred_dir)
    jobs = _jobs(gt_dir, pred_dir, statuses or {}, None if inputs_dir is None else Path(inputs_dir))
    workers = max(1, min(int(workers or settings.workers), len(jobs) or 1))
    kwargs = {"limits": dict(limits) if limits else None,
              "aliases": dict(aliases) if aliases is not None else None}
    info = dict(case_info or {})
    results: dict[str, CaseResult] = {}
    bar = progress_bar(total=len(jobs), desc="score", unit="case", enabled=progress, lines="end")
    try:
        if workers == 1:
            for _, case, gt_path, pred_path, status, reason, input_path in jobs:
                results[case] = score_case(case, gt_path, pred_path, settings, runner_status=status,
                                           runner_reason=reason, input_path=input_path,
                                           modality_dim=info.get(case), **kwargs)
                bar.update()
        else:
            pending = _run_pool(jobs, settings, kwargs, workers, results, bar, info=info)
            # A dead worker broke the pool: retry the unfinished cases one process each,
            # so only the case that kills its process is lost.
            for job in pending:
                _run_pool([job], settings, kwargs, 1, results, bar, lost_ok=True, info=info)
    finally:
        bar.close()
    return tables_from_results([results[j[1]] for j in sorted(jobs, key=lambda j: j[1])],
                               settings.metrics)


def _run_pool(jobs, settings, kwargs, workers, results, bar, lost_ok=False, info=None) -> list:
    """Run ``jobs`` in a pool; returns the jobs left unfinished if the pool broke."""
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {
            pool.submit(score_case, case, gt_path, pred_path, settings, runner_status=status,
                        runner_reason=reason, input_path=input_path,
                        modality_dim=(info or {}).get(case), **kwargs):
                (case, gt_path, pred_path, status, reason, input_path)
            for _, case, gt_path, pred_path, status, reason, input_path in jobs
        }
        try:
            for fut in as_completed(futures):
                case = futures[fut][0]
                results[case] = fut.result()
                bar.update()
        except BrokenProcessPool:
            left = [(0, *futures[f]) for f in futures if futures[f][0] not in results]
            if not lost_ok:
                return left
            for _, case, gt_path, *_rest in left:
                results[case] = _died(case, gt_path, kwargs, settings.metrics)
                bar.update()
    return []


def _died(case: str, gt_path: Path, kwargs, metrics: list[Metric]) -> CaseResult:
    from evalkit.metrics.scoring import _empty_instances, _nan_values, _result

    dim = 3 if case.startswith("3D") else 2
    modality = ""
    from evalkit.contract import parse_case_name

    with contextlib.suppress(Exception):
        modality, dim = parse_case_name(case, kwargs.get("aliases"))
    return _result(case, modality, dim, _nan_values(metrics), "harness_error",
                   "the scoring process died (out of memory or killed)", _empty_instances(metrics), metrics)


def tables_from_results(
    results: list[CaseResult], metrics: list[Metric] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``cases`` and ``instances`` tables (design columns and dtypes) of scored cases, in order.

    ``metrics``: the enabled scored metrics (``settings.metrics``); ``None``: the
    scored metrics whose columns occur in the rows (DSC and NSD if none do). A
    row lacking a metric's columns (a hand-made failure row) gets NaN there.
    """
    if metrics is None:
        seen = set().union(*(r.row for r in results)) if results else set()
        metrics = ([m for m in registry.REGISTRY.values() if m.source == "scores" and m.column in seen]
                   or list(DEFAULT_METRICS))
    values = [m.column for m in metrics]
    values += [f"{c}_unrounded" for c in values]
    cases = pd.DataFrame([r.row for r in results], columns=case_columns(metrics))
    cases = cases.astype({"case": "object", "modality": "object", "dim": "int64",
                          "n_instances": "int64", **{c: "float64" for c in values},
                          "status": "object", "reason": "object"})
    inst_cols = instance_table_columns(metrics)
    metric_cols = {m.column for m in metrics}
    parts = [r.instances for r in results if len(r.instances)]
    if parts:
        inst = pd.concat(parts, ignore_index=True)[inst_cols]
    else:
        inst = pd.DataFrame({c: pd.Series(dtype="float64" if c in metric_cols else
                                          ("object" if c in ("case", "modality") else "int64"))
                             for c in inst_cols})
    inst = inst.astype({"dim": "int64", "label": "int64", "gt_voxels": "int64",
                        "pred_voxels": "int64", **{c: "float64" for c in metric_cols}})
    return cases.reset_index(drop=True), inst.reset_index(drop=True)


def output_paths(out: str | Path) -> dict[str, Path]:
    """Where :func:`write_scores` writes, given the cases CSV path ``out``.

    Instances go beside it: ``instances.csv`` when ``out`` is named ``cases.csv``
    (the run-folder layout of docs/design.md), else ``<stem>_instances.csv``.
    Parquet copies use the same stems; ``<stem>_meta.json`` records settings,
    configuration and versions.
    """
    out = Path(out)
    stem = out.stem
    inst_stem = "instances" if stem == "cases" else f"{stem}_instances"
    return {
        "cases": out,
        "instances": out.with_name(f"{inst_stem}.csv"),
        "cases_parquet": out.with_name(f"{stem}.parquet"),
        "instances_parquet": out.with_name(f"{inst_stem}.parquet"),
        "meta": out.with_name(f"{stem}_meta.json"),
    }


def write_scores(
    cases: pd.DataFrame,
    instances: pd.DataFrame,
    out: str | Path,
    *,
    settings: MetricSettings,
    challenge_toml: str | None = None,
    extra: Mapping[str, Any] | None = None,
    parquet: bool = True,
) -> dict[str, Path]:
    """Write the cases and instances tables (CSV, Parquet) and a meta JSON; returns the paths."""
    paths = output_paths(out)
    paths["cases"].parent.mkdir(parents=True, exist_ok=True)
    cases.to_csv(paths["cases"], index=False)
    instances.to_csv(paths["instances"], index=False)
    if parquet:
        cases.to_parquet(paths["cases_parquet"], index=False)
        instances.to_parquet(paths["instances_parquet"], index=False)
    else:
        paths.pop("cases_parquet")
        paths.pop("instances_parquet")
    meta = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": settings.as_dict(),
        "versions": versions((*CORE_PACKAGES, "surface-distance")),
        "n_cases": len(cases),
        "status_counts": {str(k): int(v) for k, v in cases["status"].value_counts().items()},
        "challenge_toml": challenge_toml,
        **dict(extra or {}),
    }
    paths["meta"].write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return paths
