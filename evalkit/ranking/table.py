"""The long results table -> dense per-task arrays, with every check on the way.

Input columns (``docs/design.md``): ``task, case, algorithm, metric, value``.
A *ranking task* is a (task, metric) pair. The algorithms are those of the whole
table; the cases of a task are those seen in any of its rows (any metric, any
algorithm). Every missing algorithm x case x metric combination is inserted as NaN
and counted; an explicit NaN (empty cell) counts as missing too.

Errors (:class:`RankingInputError`, naming rows, keys, expected and found):
missing columns, empty table, empty key cells, a duplicate
(task, case, algorithm, metric) row, a metric not in ``[ranking].metrics``,
a non-numeric or infinite value, fewer than two algorithms, a task with fewer
than two cases. A ranking task in which fewer than two algorithms have any value
is ranked (the others take the worst rank), with a warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evalkit.errors import EvalkitError
from evalkit.ranking.schemas import RESULTS_COLUMNS as COLUMNS
from evalkit.ranking.schemas import RESULTS_KEYS as KEYS


class RankingInputError(EvalkitError, ValueError):
    """A results table that cannot be ranked; the message says where and why."""


@dataclass(frozen=True)
class TaskArrays:
    """One task's values: ``values[m, c, a]`` for ``metrics[m]``, ``cases[c]``,
    algorithm ``a`` (of :attr:`ResultsCube.algorithms`); NaN = missing."""

    task: str
    metrics: tuple[str, ...]
    cases: tuple[str, ...]
    values: np.ndarray  # (n_metrics, n_cases, n_algorithms) float64


@dataclass(frozen=True)
class ResultsCube:
    algorithms: tuple[str, ...]
    tasks: tuple[TaskArrays, ...]
    n_rows: int  # rows in the input table
    n_inserted: int  # missing combinations inserted as NaN

    def ranking_tasks(self):
        """Yield ``(task_arrays, metric_index, metric)`` in a fixed order."""
        for t in self.tasks:
            for m, metric in enumerate(t.metrics):
                yield t, m, metric


def _rows(mask: pd.Series | np.ndarray, df: pd.DataFrame, limit: int = 5) -> str:
    sub = df.loc[np.asarray(mask)]
    shown = sub.head(limit).to_dict("records")
    more = f" (and {len(sub) - limit} more)" if len(sub) > limit else ""
    return f"{shown}{more}"


def prepare_results(results: pd.DataFrame, directions: dict[str, str]) -> ResultsCube:
    """Check ``results`` and turn it into dense arrays.

    ``directions`` maps every allowed metric to ``"larger"`` or ``"smaller"``.
    Tasks, cases, metrics and algorithms are sorted (as strings), so the output does
    not depend on row order. Raises :class:`RankingInputError`.
    """
    if not isinstance(results, pd.DataFrame):
        raise RankingInputError(
            f"results must be a pandas DataFrame, found {type(results).__name__}."
        )
    missing_cols = [c for c in COLUMNS if c not in results.columns]
    if missing_cols:
        raise RankingInputError(
            f"results table: missing column(s) {missing_cols}; expected columns {list(COLUMNS)}, "
            f"found {list(results.columns)}."
        )
    df = results.loc[:, list(COLUMNS)].reset_index(drop=True)
    if df.empty:
        raise RankingInputError("results table is empty: nothing to rank.")
    codes: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray] = {}
    for key in KEYS:
        raw_codes, uniques = pd.factorize(df[key], use_na_sentinel=True)
        text = np.array([str(u).strip() for u in uniques], dtype=object)
        empty_label = np.flatnonzero(text == "")
        empty = (raw_codes < 0) | np.isin(raw_codes, empty_label)
        if empty.any():
            raise RankingInputError(
                f"results table: empty '{key}' in {int(empty.sum())} row(s), e.g. {_rows(empty, df)}."
            )
        # the same text from different raw values (1 and "1") is one label; sort as text
        names, inverse = np.unique(
            np.array([str(u) for u in uniques], dtype=str), return_inverse=True
        )
        codes[key] = inverse[raw_codes]
        labels[key] = np.array([str(x) for x in names], dtype=object)

    unknown = sorted(set(labels["metric"]) - set(directions))
    if unknown:
        raise RankingInputError(
            f"results table: unknown metric(s) {unknown}; expected one of {sorted(directions)} "
            "(the keys of [ranking].metrics in the challenge file)."
        )

    raw = df["value"]
    if raw.dtype == bool:
        raise RankingInputError("results table: column 'value' is boolean; expected numbers.")
    values = pd.to_numeric(raw, errors="coerce")
    candidates = values.isna().to_numpy() & raw.notna().to_numpy()
    if candidates.any():
        bad = np.zeros(len(df), dtype=bool)
        idx = np.flatnonzero(candidates)
        bad[idx] = raw.iloc[idx].astype(str).str.strip().to_numpy() != ""
        if bad.any():
            raise RankingInputError(
                f"results table: non-numeric 'value' in {int(bad.sum())} row(s), expected a number "
                f"(or an empty cell for missing), found e.g. {_rows(bad, df)}."
            )
    vals = values.to_numpy(dtype=float, na_value=np.nan)
    inf = np.isinf(vals)
    if inf.any():
        raise RankingInputError(
            f"results table: infinite 'value' in {int(inf.sum())} row(s), e.g. {_rows(inf, df)}; "
            "write a failed case as an empty cell (missing), not as inf."
        )

    sizes = [len(labels[k]) for k in KEYS]
    combined = np.zeros(len(df), dtype=np.int64)
    for key, size in zip(KEYS, sizes):
        combined = combined * size + codes[key]
    dup = pd.Series(combined).duplicated(keep=False).to_numpy()
    if dup.any():
        raise RankingInputError(
            f"results table: {int(dup.sum())} duplicate row(s) for the same "
            f"(task, case, algorithm, metric); expected one value each, found e.g. {_rows(dup, df)}."
        )

    algorithms = tuple(str(a) for a in labels["algorithm"])
    if len(algorithms) < 2:
        raise RankingInputError(
            f"results table: ranking needs at least two algorithms, found {list(algorithms)}."
        )

    tasks: list[TaskArrays] = []
    n_inserted = 0
    order = np.argsort(codes["task"], kind="stable")
    bounds = np.searchsorted(codes["task"][order], np.arange(len(labels["task"]) + 1))
    for ti, task in enumerate(labels["task"]):
        idx = order[bounds[ti] : bounds[ti + 1]]
        case_ids, c = np.unique(codes["case"][idx], return_inverse=True)
        metric_ids, m = np.unique(codes["metric"][idx], return_inverse=True)
        cases = tuple(str(x) for x in labels["case"][case_ids])
        metrics = tuple(str(x) for x in labels["metric"][metric_ids])
        if len(cases) < 2:
            # Not an error: a one-case task still has a well-defined ranking (its per-case
            # ranks), and the Wilcoxon test is defined (as in R) but can never reach
            # significance on one pair; every bootstrap sample redraws the same case.
            warnings.warn(
                f"ranking task {task}: only {len(cases)} case ({list(cases)}); it is ranked, "
                "but no pair can be significant (one paired difference, p >= 0.5) and its "
                "bootstrap ranking is trivially stable. Add cases for a meaningful analysis.",
                stacklevel=2,
            )
        arr = np.full((len(metrics), len(cases), len(algorithms)), np.nan)
        arr[m, c, codes["algorithm"][idx]] = vals[idx]
        n_inserted += arr.size - len(idx)
        for mi, metric in enumerate(metrics):
            present = (~np.isnan(arr[mi])).any(axis=0)
            if present.sum() < 2:
                warnings.warn(
                    f"ranking task {task}/{metric}: only {int(present.sum())} algorithm(s) have any "
                    "value; all others take the worst rank on every case.",
                    stacklevel=2,
                )
        tasks.append(TaskArrays(str(task), metrics, cases, arr))
    return ResultsCube(algorithms, tuple(tasks), len(df), int(n_inserted))
