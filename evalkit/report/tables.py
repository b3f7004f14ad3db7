"""Leaderboard and failure tables (pure functions: tables in, tables out).

Conventions
-----------
* ``mean_rank`` is the ranking stage's ``consensus_score`` (mean over ranking tasks of
  the per-task rank); ``final_rank`` is copied unchanged.
* Bootstrap columns come from ``bootstrap_ranks.csv`` rows with ``scope == "final"``:
  ``boot_median_rank``, ``rank_ci_lo`` / ``rank_ci_hi`` (2.5 % / 97.5 % quantiles) and
  ``p_rank1``. They are NaN when the ranking has no bootstrap.
* Per-modality columns ``<metric>_<modality>`` are plain means over that modality's
  cases of the values in ``results.csv`` (the ranking input); missing values are
  skipped (``n_missing`` counts cases without a value). ``<metric>_all`` pools every case. Values
  are in the metric's unit (:mod:`evalkit.metrics.registry`; runtime in seconds).
* Failure columns ``failed_<status>`` count cases whose status is not ``ok``, taken
  from the scores tables (runner or metrics status) and, for algorithms without
  scores, from the runner journal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from evalkit.metrics.registry import REGISTRY

OK = "ok"


def modality_means(results: pd.DataFrame, metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """Mean value per (algorithm, task, metric).

    ``results``: long table ``task, case, algorithm, metric, value``. Returns
    ``algorithm, task, metric, mean, median, n_cases, n_missing`` (NaN values are
    skipped and counted in ``n_missing``).
    """
    df = results if metrics is None else results[results["metric"].isin(list(metrics))]
    g = df.groupby(["algorithm", "task", "metric"], sort=False)["value"]
    out = g.agg(mean="mean", median="median", n_cases="count", n_rows="size").reset_index()
    out["n_missing"] = out.pop("n_rows") - out["n_cases"]
    return out


def failure_counts(
    scores: pd.DataFrame, journals: dict[str, pd.DataFrame], algorithms: list[str]
) -> pd.DataFrame:
    """Cases per non-``ok`` status for each algorithm.

    Returns one row per algorithm (in the given order) with ``n_failed`` and one
    ``failed_<status>`` column per status seen, all integers (0 when none).
    """
    per_alg: dict[str, pd.Series] = {}
    have_scores = set(scores["algorithm"]) if not scores.empty else set()
    for alg in algorithms:
        if alg in have_scores:
            status = scores.loc[scores["algorithm"] == alg, "status"]
        elif alg in journals and "status" in journals[alg].columns:
            status = journals[alg]["status"]
        else:
            status = pd.Series([], dtype=str)
        status = status.fillna("unknown").astype(str)
        per_alg[alg] = status[status != OK].value_counts()
    statuses = sorted({s for counts in per_alg.values() for s in counts.index})
    rows = []
    for alg in algorithms:
        counts = per_alg[alg]
        row = {"algorithm": alg, "n_failed": int(counts.sum())}
        row.update({f"failed_{s}": int(counts.get(s, 0)) for s in statuses})
        rows.append(row)
    return pd.DataFrame(rows, columns=["algorithm", "n_failed"] + [f"failed_{s}" for s in statuses])


def leaderboard(
    final_ranking: pd.DataFrame,
    results: pd.DataFrame,
    modalities: list[str],
    metrics: list[str],
    bootstrap_ranks: pd.DataFrame | None = None,
    failures: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The published leaderboard, one row per algorithm, sorted by final rank.

    Columns: ``final_rank, algorithm, mean_rank, boot_median_rank, rank_ci_lo,
    rank_ci_hi, p_rank1``, then ``<metric>_all`` and ``<metric>_<modality>`` for
    every metric and modality, ``n_cases`` (distinct cases with any result),
    ``n_missing`` (cases of the first metric that some algorithm has and this one lacks
    or has as NaN), then the failure columns.
    """
    board = final_ranking[["final_rank", "algorithm", "consensus_score"]].rename(
        columns={"consensus_score": "mean_rank"}
    )
    board = board.sort_values(["final_rank", "algorithm"], kind="stable").reset_index(drop=True)
    fr = pd.to_numeric(board["final_rank"])
    board["final_rank"] = fr.astype(int) if (fr.notna().all() and (fr % 1 == 0).all()) else fr

    boot_cols = ["boot_median_rank", "rank_ci_lo", "rank_ci_hi", "p_rank1"]
    if bootstrap_ranks is not None:
        fin = bootstrap_ranks[bootstrap_ranks["scope"] == "final"]
        fin = fin[["algorithm", "median_rank", "rank_lo", "rank_hi", "p_rank1"]]
        fin.columns = ["algorithm"] + boot_cols
        board = board.merge(fin, on="algorithm", how="left")
    else:
        for col in boot_cols:
            board[col] = np.nan

    overall = results.groupby(["algorithm", "metric"])["value"].mean().unstack("metric")
    for metric in metrics:
        board[f"{metric}_all"] = (
            board["algorithm"]
            .map(overall[metric] if metric in overall.columns else {})
            .astype(float)
        )
    means = modality_means(results, metrics)
    for metric in metrics:
        for mod in modalities:
            sel = means[(means["metric"] == metric) & (means["task"] == mod)]
            board[f"{metric}_{mod}"] = (
                board["algorithm"].map(dict(zip(sel["algorithm"], sel["mean"]))).astype(float)
            )

    board["n_cases"] = (
        board["algorithm"].map(results.groupby("algorithm")["case"].nunique()).fillna(0).astype(int)
    )
    first = metrics[0] if metrics else None
    if first is not None:
        sel = results[results["metric"] == first]
        pairs = sel[["task", "case"]].drop_duplicates()
        present = sel.dropna(subset=["value"]).drop_duplicates(["algorithm", "task", "case"])
        present = present.groupby("algorithm").size()
        n_all = len(pairs)
        board["n_missing"] = n_all - board["algorithm"].map(present).fillna(0).astype(int)
    if failures is not None and not failures.empty:
        board = board.merge(failures, on="algorithm", how="left")
        for col in failures.columns[1:]:
            board[col] = board[col].fillna(0).astype(int)
    return board


def failure_details(
    scores: pd.DataFrame, journals: dict[str, pd.DataFrame], log_lines: dict[tuple[str, str], str]
) -> pd.DataFrame:
    """One row per failed case: ``algorithm, case, status, reason, last_log_line``.

    ``reason`` comes from the scores table (or the journal); ``log_lines`` maps
    ``(algorithm, case)`` to the last line of that case's log (already bounded).
    """
    rows = []
    have_scores = set(scores["algorithm"]) if not scores.empty else set()
    for alg in sorted(have_scores | set(journals)):
        if alg in have_scores:
            df = scores[scores["algorithm"] == alg]
        else:
            df = journals[alg]
        if "status" not in df.columns:
            continue
        bad = df[df["status"].fillna("unknown").astype(str) != OK]
        for _, r in bad.iterrows():
            reason = r.get("reason", "")
            if alg in journals and (not isinstance(reason, str) or not reason):
                j = journals[alg]
                hit = (
                    j.loc[j["case"].astype(str) == str(r["case"]), "reason"]
                    if "reason" in j.columns
                    else pd.Series([], dtype=object)
                )
                reason = hit.iloc[0] if len(hit) else ""
            rows.append(
                {
                    "algorithm": alg,
                    "case": str(r["case"]),
                    "status": str(r.get("status") if pd.notna(r.get("status")) else "unknown"),
                    "reason": "" if not isinstance(reason, str) else reason[:300],
                    "last_log_line": log_lines.get((alg, str(r["case"])), ""),
                }
            )
    return pd.DataFrame(rows, columns=["algorithm", "case", "status", "reason", "last_log_line"])


# ----------------------------------------------------------------------------- interactive runs

#: Statuses of a run that are not failures of the algorithm (they still get a column).
NOT_FAILED = ("skipped", "not_run")


def run_count(scores: pd.DataFrame, metrics: Iterable) -> int:
    """Runs per case in an interactive ``cases.csv``: the largest ``k`` with a
    ``<column>_<k>`` column for the first of ``metrics`` (registry ``Metric`` objects); 0 if none."""
    metrics = list(metrics)
    if not metrics or scores.empty:
        return 0
    k = 0
    while f"{metrics[0].column}_{k + 1}" in scores.columns:
        k += 1
    return k


def run_curves(
    scores: pd.DataFrame,
    metrics: Iterable,
    runs: int,
    by: tuple[str, ...] = ("algorithm",),
    samples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean per run of each per-run metric, with its 95 % bootstrap interval.

    ``scores``: interactive ``cases.csv`` rows (``algorithm, modality`` and
    ``<column>_<k>`` for ``k = 1 .. runs``, :attr:`Metric.column`); ``metrics``: the
    per-run metrics (DSC, NSD); ``by``: grouping columns (``("algorithm",)`` or
    ``("algorithm", "modality")``). Returns ``*by, metric, run, n, mean, ci_lo,
    ci_hi``: ``n`` cases with a value (NaN values, e.g. harness errors, are left
    out), ``ci_lo``/``ci_hi`` the percentile bootstrap interval of the mean over
    cases (``samples`` resamples, ``seed``; the values of
    :func:`evalkit.ranking.bootstrap.bootstrap_mean_ci`, whose draws depend only on the
    number of cases, so they are drawn once per number and shared by every column),
    equal to the mean for one case, NaN for none.
    """
    from evalkit.ranking.bootstrap import draw_indices

    cols = [*by, "metric", "run", "n", "mean", "ci_lo", "ci_hi"]
    rows = []
    if scores.empty or runs <= 0:
        return pd.DataFrame(columns=cols)
    draws: dict[int, np.ndarray] = {}

    def interval(vals: np.ndarray) -> tuple[float, float]:
        n = len(vals)
        if n not in draws:
            draws[n] = draw_indices(np.random.default_rng(seed), n, samples)
        means = vals[draws[n]].mean(axis=1)
        return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))

    for key, group in scores.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        for m in metrics:
            for k in range(1, runs + 1):
                col = f"{m.column}_{k}"
                if col not in group.columns:
                    continue
                vals = pd.to_numeric(group[col], errors="coerce").dropna().to_numpy(float)
                if len(vals) > 1:
                    lo, hi = interval(vals)
                elif len(vals) == 1:
                    lo = hi = float(vals[0])
                else:
                    lo = hi = math.nan
                mean = float(vals.mean()) if len(vals) else math.nan
                rows.append((*key, m.name, k, len(vals), mean, lo, hi))
    return pd.DataFrame(rows, columns=cols)


def iteration_failures(
    iterations: pd.DataFrame, scores: pd.DataFrame, algorithms: list[str], runs: int
) -> pd.DataFrame:
    """Failures by run of an interactive evaluation, one row per algorithm and run.

    ``iterations``: run rows (``algorithm, case, iteration, status, scored_run``,
    ``scored_run`` = the run whose prediction was scored, -1 for none; see
    :class:`evalkit.report.inputs.RunData`); ``scores``: case rows (``algorithm, case,
    status``). Columns: ``algorithm, run, cases`` (cases with a row for that run),
    ``ok``, one column per other status seen (``timeout``, ``skipped`` (no boxes),
    ``not_run`` (a case that ended earlier), ...), ``stale`` (runs scored with an
    earlier run's prediction: the official keep-outputs rule after a failed run) and
    ``over_budget`` (cases whose runs went over the time budget at this run: their
    last run). All counts are integers; algorithms in the given order, runs 1..``runs``.
    """
    it = (
        iterations[iterations["algorithm"].isin(algorithms)] if not iterations.empty else iterations
    )
    statuses = sorted(set(it["status"]) - {OK}) if not it.empty else []
    statuses = [s for s in statuses if s not in NOT_FAILED] + [
        s for s in NOT_FAILED if s in statuses
    ]
    over: dict[tuple[str, int], int] = {}
    if not scores.empty and not it.empty:
        bad = scores[scores["status"].astype(str) == "over_budget"]
        ran = it[it["status"] != "not_run"]
        last = ran.groupby(["algorithm", "case"])["iteration"].max()
        for alg, case in zip(bad["algorithm"], bad["case"].astype(str)):
            k = int(last.get((alg, case), 0))
            over[(alg, k)] = over.get((alg, k), 0) + 1
    rows = []
    for alg in algorithms:
        a = it[it["algorithm"] == alg] if not it.empty else it
        for k in range(1, runs + 1):
            r = a[a["iteration"] == k] if not a.empty else a
            counts = r["status"].value_counts() if not r.empty else pd.Series(dtype=int)
            stale = (
                int(((r["scored_run"] >= 1) & (r["scored_run"] != k)).sum()) if not r.empty else 0
            )
            row = {"algorithm": alg, "run": k, "cases": len(r), OK: int(counts.get(OK, 0))}
            row.update({s: int(counts.get(s, 0)) for s in statuses})
            row.update(stale=stale, over_budget=over.get((alg, k), 0))
            rows.append(row)
    return pd.DataFrame(
        rows, columns=["algorithm", "run", "cases", OK, *statuses, "stale", "over_budget"]
    )


# ----------------------------------------------------------------------------- formatting


def _fmt(value: object, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "–"
        if float(value).is_integer() and abs(value) < 1e6 and digits == 0:
            return str(int(value))
        return f"{value:.{digits}f}"
    return str(value)


def format_leaderboard(board: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """String-formatted copy for Markdown/HTML: ranks with 2 decimals, rank interval
    as ``[lo, hi]``, metric means with ``digits`` decimals, those of a metric with a
    unit (runtime in s, a distance in mm; :mod:`evalkit.metrics.registry`) with 2."""
    with_unit = tuple(m.name for m in REGISTRY.values() if m.unit)
    out = pd.DataFrame(index=board.index)
    for col in board.columns:
        v = board[col]
        if col in ("rank_ci_lo", "rank_ci_hi"):
            continue
        if col == "boot_median_rank":
            out["boot median rank"] = [_fmt(x, 1) for x in v]
            out["95% rank interval"] = [
                "–" if (pd.isna(lo) or pd.isna(hi)) else f"[{lo:g}, {hi:g}]"
                for lo, hi in zip(board["rank_ci_lo"], board["rank_ci_hi"])
            ]
        elif col == "mean_rank" or col == "p_rank1":
            out[col] = [_fmt(x, 3) for x in v]
        elif col.startswith(with_unit):
            out[col] = [_fmt(x, 2) for x in v]
        elif pd.api.types.is_float_dtype(v):
            out[col] = [_fmt(x, digits) for x in v]
        else:
            out[col] = [str(x) for x in v]
    return out


def to_markdown(table: pd.DataFrame) -> str:
    """GitHub-flavoured Markdown table; ``|`` in cells is escaped, newlines removed."""

    def cell(x: object) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ").replace("\r", " ")

    head = "| " + " | ".join(cell(c) for c in table.columns) + " |"
    sep = "| " + " | ".join("---" for _ in table.columns) + " |"
    body = ["| " + " | ".join(cell(x) for x in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, sep, *body]) + "\n"


def to_html_table(table: pd.DataFrame, css_class: str = "board") -> str:
    """An escaped HTML ``<table>`` (no index)."""
    return table.to_html(index=False, escape=True, classes=css_class, border=0, na_rep="–")
