"""The one join of scores and journal: a run's results, per submission and long.

Every metric's values come from where the registry says
(:mod:`evalkit.metrics.registry`): ``source = "scores"`` metrics from the
submission's ``scores/<sub>/cases.csv`` column ``<column>`` (the rounded case
value), ``source = "runner"`` metrics from the field ``<column>`` of the case's
latest journal record (``NaN`` when the case has no record or the field is
empty, e.g. no wall clock after a harness failure: ranked worst).

* :func:`submission_cases`: one submission, one row per scored case.
* :func:`results_table`: every submission, long (the ranking input ``results.csv``).
  An infinite value (HD95 / ASSD of an instance with an empty mask) is written
  as missing, NaN: the ranking refuses ``inf`` and ranks a missing value worst,
  which is what ``inf`` means for a smaller-is-better metric.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from evalkit.errors import EvalkitError
from evalkit.metrics import registry
from evalkit.metrics.registry import Metric
from evalkit.runfolder import RunFolder, RunFolderError, latest_by_case, read_journal

RESULTS_COLUMNS = ["task", "case", "algorithm", "metric", "value"]


class ResultsError(EvalkitError, ValueError):
    """A metric asked for that a submission's scores do not hold (not in ``[metrics] enabled``)."""


def _column(scores: pd.DataFrame, metric: Metric, path) -> pd.Series:
    if metric.column not in scores.columns:
        raise ResultsError(
            f"{path}: no column {metric.column!r} for metric {metric.name}; add {metric.name!r} to "
            "[metrics] enabled of the challenge file and score again.")
    return scores[metric.column]


def _runner_values(journal: dict, cases: Iterable[str], metric: Metric) -> list:
    return [getattr(journal.get(c), metric.column, None) for c in cases]


def submission_cases(run: RunFolder, name: str, metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """One submission's case table: ``case, modality, status`` and one column per metric.

    Rows are ``scores/<name>/cases.csv``'s, in its order. ``metrics``: registry
    names; ``None``: every scored metric whose column the scores hold, then every
    runner metric. A metric's column is named ``Metric.column`` (``dsc``,
    ``wall_s``); runner values are the latest journal record's (``None``/NaN
    when absent). Raises :class:`~evalkit.runfolder.RunFolderError` when the
    submission has no scores, :class:`ResultsError` for a scored metric they lack.
    """
    path = run.scores_cases(name)
    if not path.is_file():
        raise RunFolderError(f"{path}: no scores for submission '{name}' in {run.root} "
                             f"(submissions there: {run.submissions()}).")
    scores = pd.read_csv(path)
    if metrics is None:
        chosen = [m for m in registry.REGISTRY.values()
                  if m.source == "runner" or m.column in scores.columns]
        chosen.sort(key=lambda m: m.source != "scores")
    else:
        chosen = registry.metrics(metrics)
    out = scores[["case", "modality", "status"]].copy()
    journal = None
    for m in chosen:
        if m.source == "scores":
            out[m.column] = _column(scores, m, path)
        else:
            if journal is None:
                journal = latest_by_case(read_journal(run.submission(name).journal))
            out[m.column] = _runner_values(journal, scores["case"], m)
    return out


def results_table(run: RunFolder, ranked: Iterable[str], *, drop_inapplicable: bool = False) -> pd.DataFrame:
    """The long table ranked, ``task, case, algorithm, metric, value``, from all submissions.

    ``ranked``: the ranked metric names (the keys of ``[ranking] metrics``), in
    the order rows are written per case. Submissions in :meth:`RunFolder.submissions`
    order, those without scores skipped; cases in their ``cases.csv`` order.
    ``task`` is the case's modality; ``value`` a float (NaN when missing or infinite).
    ``drop_inapplicable`` (text challenges, ``[contract] inputs = "text"``): a
    (case, scored metric) that is NaN for every submission (F1 of a semantic
    case, DSC of an instance case: the metric does not apply) gets no rows, so
    it is neither a missing value nor part of a ranking task; a NaN beside other
    submissions' values stays (missing, ranked worst).
    Raises :class:`ResultsError` when a ranked scored metric is not in a
    submission's scores.
    """
    metrics = registry.metrics(ranked)
    rows = []
    for name in run.submissions():
        path = run.scores_cases(name)
        if not path.is_file():
            continue
        scores = pd.read_csv(path)
        journal = latest_by_case(read_journal(run.submission(name).journal))
        columns = [_column(scores, m, path).tolist() if m.source == "scores"
                   else _runner_values(journal, scores["case"], m) for m in metrics]
        for i, (modality, case) in enumerate(zip(scores["modality"], scores["case"])):
            for m, values in zip(metrics, columns):
                value = math.nan if values[i] is None else float(values[i])
                rows.append((modality, case, name, m.name, value if not math.isinf(value) else math.nan))
    table = pd.DataFrame(rows, columns=RESULTS_COLUMNS)
    if drop_inapplicable and len(table):
        scored = {m.name for m in metrics if m.source == "scores"}
        any_value = table.groupby(["case", "metric"])["value"].transform(lambda v: v.notna().any())
        table = table[any_value | ~table["metric"].isin(scored)].reset_index(drop=True)
    return table
