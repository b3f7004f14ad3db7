"""Results table -> every ranking table: per-task ranking, consensus, significance,
bootstrap stability. The public entry points are :func:`rank_results`,
:func:`significance` and :func:`bootstrap_ranking`; all take the long results
table (``task, case, algorithm, metric, value``) and the ``[ranking]`` section of
the challenge file (``load_challenge().ranking``) and return tables.

Missing values: rank-then-aggregate uses challengeR's worst-rank rule, or replaces
them by ``ranking.missing_value`` before ranking when that is a number.
aggregate-then-rank and test-then-rank need ``ranking.missing_value`` to be a
number (fill) or ``"drop"`` when anything is missing (an error otherwise). The
significance tables use the fill value when one is configured, otherwise the cases
both algorithms have.

Bootstrap: per task (modality) the cases are drawn n of n with replacement, once
per sample, and the same draw serves every metric of the task. Sample b's per-task
rankings are recomputed from case multiplicities ``counts[b]`` (a case drawn k
times weighs k) and the final rank is the consensus of the resampled task rankings.
``challenger_compat = true`` reproduces challengeR instead: in rank-then-aggregate
a case drawn k times weighs k**2 in the rank deviations (its k duplicated rows are
ranked together under one case id), and test-then-rank tests each drawn case once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evalkit.progress import progress as progress_bar
from evalkit.provenance import versions
from evalkit.ranking import schemas
from evalkit.ranking.bootstrap import draw_counts
from evalkit.ranking.consensus import euclidean_consensus, kendall_tau_b
from evalkit.ranking.ranks import rank_parts, rank_rows
from evalkit.ranking.schemas import conform
from evalkit.ranking.schemes import (
    aggregate_then_rank,
    apply_missing_policy,
    fill_before_ranking,
    rank_then_aggregate,
    test_then_rank,
    weighted_aggregate,
)
from evalkit.ranking.settings import RankingConfigError, RankingSettings, parse_settings
from evalkit.ranking.table import ResultsCube, prepare_results
from evalkit.ranking.wilcoxon import PairedSignedRanks, holm


@dataclass
class TaskRun:
    """Full-data analysis of one ranking task (arrays over K algorithms)."""

    task: str
    metric: str
    task_index: int
    larger_better: bool
    cases: tuple[str, ...]
    values: np.ndarray  # (n, K) raw, NaN = missing
    scheme_values: np.ndarray  # (n, K) after the missing policy (aggregate/test schemes)
    case_ranks: np.ndarray  # (n, K) rankNA2 ranks
    parts: tuple[np.ndarray, np.ndarray]  # rank = A + C (see ranks.rank_parts)
    n_missing: np.ndarray  # (K,)
    signed_ranks: PairedSignedRanks
    p_raw: np.ndarray  # (K, K)
    p_holm: np.ndarray
    significant: np.ndarray
    median_diff: np.ndarray
    n_pairs: np.ndarray
    score: np.ndarray  # (K,)
    rank: np.ndarray  # (K,)
    weight: float


@dataclass
class Analysis:
    settings: RankingSettings
    cube: ResultsCube
    runs: list[TaskRun]
    final_score: np.ndarray
    final_rank: np.ndarray

    @property
    def algorithms(self) -> tuple[str, ...]:
        return self.cube.algorithms

    @property
    def weights(self) -> np.ndarray:
        return np.array([r.weight for r in self.runs])


def _weights(cube: ResultsCube, s: RankingSettings) -> dict[str, float]:
    keys = [f"{t.task}/{metric}" for t, _, metric in cube.ranking_tasks()]
    unknown = sorted(set(s.task_weights) - set(keys))
    if unknown:
        raise RankingConfigError(
            f"ranking.task_weights: unknown ranking task(s) {unknown}; "
            f"expected keys '<task>/<metric>' among {keys}."
        )
    w = {k: float(s.task_weights.get(k, 1.0)) for k in keys}
    if not sum(w.values()) > 0:
        raise RankingConfigError("ranking.task_weights: all weights are zero.")
    return w


def _significance_values(values: np.ndarray, policy: float | str) -> np.ndarray:
    return values if isinstance(policy, str) else np.where(np.isnan(values), policy, values)


def analyse(results: pd.DataFrame, ranking_config: Mapping[str, Any] | RankingSettings) -> Analysis:
    """Check the inputs and compute everything on the full data (no bootstrap)."""
    s = parse_settings(ranking_config)
    cube = prepare_results(results, dict(s.metrics))
    weights = _weights(cube, s)
    rng = s.tie_rng(0)  # None unless ties = "random"
    runs: list[TaskRun] = []
    for ti, t in enumerate(cube.tasks):
        for m, metric in enumerate(t.metrics):
            where = f"ranking task {t.task}/{metric}"
            lb = s.larger_better(metric)
            x = t.values[m]
            policy = s.missing_policy(metric)
            ranked = fill_before_ranking(x, policy) if s.scheme == "rank-then-aggregate" else x
            parts = rank_parts(ranked, larger_better=lb, ties=s.ties, rng=rng)
            case_ranks = parts[0] + parts[1]
            psr = PairedSignedRanks(_significance_values(x, policy))
            p_raw, n_pairs = psr.pvalues(larger_better=lb)
            p_holm = holm(p_raw)
            significant = p_holm <= s.alpha
            scheme_values = x
            if s.scheme == "rank-then-aggregate":
                score, rank = rank_then_aggregate(case_ranks, s.ties, s.aggregate, rng)
            else:
                scheme_values = apply_missing_policy(x, policy, where=where, scheme=s.scheme)
                if s.scheme == "aggregate-then-rank":
                    score, rank = aggregate_then_rank(
                        scheme_values, how=s.aggregate, larger_better=lb, ties=s.ties, rng=rng
                    )
                else:
                    score, rank = test_then_rank(significant, s.ties, rng)
            runs.append(
                TaskRun(
                    task=t.task,
                    metric=metric,
                    task_index=ti,
                    larger_better=lb,
                    cases=t.cases,
                    values=x,
                    scheme_values=scheme_values,
                    case_ranks=case_ranks,
                    parts=parts,
                    n_missing=np.isnan(x).sum(axis=0),
                    signed_ranks=psr,
                    p_raw=p_raw,
                    p_holm=p_holm,
                    significant=significant,
                    median_diff=psr.median_differences(),
                    n_pairs=n_pairs,
                    score=score,
                    rank=rank,
                    weight=weights[f"{t.task}/{metric}"],
                )
            )
    task_ranks = np.stack([r.rank for r in runs])
    final_score, final_rank = euclidean_consensus(task_ranks, np.array([r.weight for r in runs]))
    return Analysis(s, cube, runs, final_score, final_rank)


# ----------------------------------------------------------------------------- bootstrap


def bootstrap_task_ranks(
    run: TaskRun, counts: np.ndarray, s: RankingSettings, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Task ranks ``(B, K)`` of ``run`` recomputed on each row of ``counts`` ``(B, n)``.
    ``rng`` breaks ties under ``ties = "random"`` (default: ``s.tie_rng(1)``)."""
    c = counts.astype(float)
    rng = rng if rng is not None else s.tie_rng(1)
    if s.scheme == "rank-then-aggregate":
        a, k = run.parts
        if s.aggregate == "median":
            agg = weighted_aggregate(run.case_ranks, c, "median")
            return rank_rows(agg, larger_better=False, ties=s.ties, rng=rng)
        sums = (c * c) @ a + c @ k if s.challenger_compat else c @ (a + k)
        return rank_rows(sums, larger_better=False, ties=s.ties, rng=rng)
    if s.scheme == "aggregate-then-rank":
        agg = weighted_aggregate(run.scheme_values, c, s.aggregate)
        return rank_rows(agg, larger_better=run.larger_better, ties=s.ties, rng=rng)
    # the significance values equal the scheme values here: filled with the configured
    # number, or raw ("drop": the cases both algorithms have)
    psr = run.signed_ranks
    out = np.empty((c.shape[0], run.values.shape[1]))
    for b in range(c.shape[0]):
        w = (c[b] > 0).astype(float) if s.challenger_compat else c[b]
        p, _ = psr.pvalues(larger_better=run.larger_better, weights=w)
        out[b] = test_then_rank(holm(p) <= s.alpha, s.ties, rng)[1]
    return out


@dataclass
class BootstrapArrays:
    task_ranks: list[np.ndarray]  # per ranking task, (B, K)
    final_ranks: np.ndarray  # (B, K)
    tau: list[np.ndarray]  # per ranking task, (B,)


def bootstrap_arrays(analysis: Analysis, *, progress: bool = False) -> BootstrapArrays:
    """Run the bootstrap of ``analysis`` (B = ``settings.bootstrap_samples`` >= 1)."""
    s = analysis.settings
    b = s.bootstrap_samples
    if b < 1:
        raise ValueError("bootstrap_samples must be >= 1 to bootstrap.")
    rng = np.random.default_rng(s.seed)
    tie_rng = s.tie_rng(1)
    task_ranks: list[np.ndarray] = []
    counts = None
    current = -1
    for run in progress_bar(analysis.runs, desc="bootstrap", unit="task", enabled=progress, lines="end"):
        if run.task_index != current:  # runs are grouped by task: one draw per task
            current = run.task_index
            counts = draw_counts(rng, len(run.cases), b)
        task_ranks.append(bootstrap_task_ranks(run, counts, s, tie_rng))
    _, final = euclidean_consensus(np.stack(task_ranks, axis=1), analysis.weights)
    tau = [kendall_tau_b(tr, run.rank) for tr, run in zip(task_ranks, analysis.runs)]
    return BootstrapArrays(task_ranks, final, tau)


# ----------------------------------------------------------------------------- tables


def task_ranking_table(a: Analysis) -> pd.DataFrame:
    k = len(a.algorithms)
    df = pd.DataFrame(
        {
            "task": np.repeat([r.task for r in a.runs], k),
            "metric": np.repeat([r.metric for r in a.runs], k),
            "algorithm": np.tile(a.algorithms, len(a.runs)),
            "score": np.concatenate([r.score for r in a.runs]),
            "rank": np.concatenate([r.rank for r in a.runs]),
            "n_cases": np.repeat([len(r.cases) for r in a.runs], k),
            "n_missing": np.concatenate([r.n_missing for r in a.runs]).astype(int),
        }
    )
    df = df.sort_values(["task", "metric", "rank", "algorithm"], kind="stable")
    return conform("task_ranking", df.reset_index(drop=True))


def final_ranking_table(a: Analysis) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "algorithm": list(a.algorithms),
            "consensus_score": a.final_score,
            "final_rank": a.final_rank,
        }
    )
    df = df.sort_values(["final_rank", "algorithm"], kind="stable").reset_index(drop=True)
    return conform("final_ranking", df)


def case_ranks_table(a: Analysis) -> pd.DataFrame:
    k = len(a.algorithms)
    parts = []
    for r in a.runs:
        n = len(r.cases)
        parts.append(
            pd.DataFrame(
                {
                    "task": r.task,
                    "metric": r.metric,
                    "case": np.repeat(r.cases, k),
                    "algorithm": np.tile(a.algorithms, n),
                    "value": r.values.ravel(),
                    "rank": r.case_ranks.ravel(),
                }
            )
        )
    return conform("case_ranks", pd.concat(parts, ignore_index=True))


def significance_table(a: Analysis) -> pd.DataFrame:
    k = len(a.algorithms)
    i, j = np.nonzero(~np.eye(k, dtype=bool))
    alg = np.asarray(a.algorithms, dtype=object)
    parts = []
    for r in a.runs:
        parts.append(
            pd.DataFrame(
                {
                    "task": r.task,
                    "metric": r.metric,
                    "algorithm": alg[i],
                    "other": alg[j],
                    "p_raw": r.p_raw[i, j],
                    "p_holm": r.p_holm[i, j],
                    "significant": r.significant[i, j],
                    "median_diff": r.median_diff[i, j],
                    "n_pairs": r.n_pairs[i, j].astype(int),
                }
            )
        )
    return conform("significance", pd.concat(parts, ignore_index=True))


def _rank_summary(ranks: np.ndarray, full: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "median_rank": np.median(ranks, axis=0),
        "rank_lo": np.quantile(ranks, 0.025, axis=0),
        "rank_hi": np.quantile(ranks, 0.975, axis=0),
        "p_rank1": (ranks == 1).mean(axis=0),
        "full_rank": full,
    }


def _frequencies(ranks: np.ndarray, algorithms: tuple[str, ...]) -> pd.DataFrame:
    rows_alg, rows_rank, rows_freq = [], [], []
    for a, name in enumerate(algorithms):
        vals, freq = np.unique(ranks[:, a], return_counts=True)
        rows_alg += [name] * vals.size
        rows_rank.append(vals)
        rows_freq.append(freq)
    return pd.DataFrame(
        {
            "algorithm": rows_alg,
            "rank": np.concatenate(rows_rank),
            "frequency": np.concatenate(rows_freq),
        }
    )


@dataclass
class BootstrapTables:
    bootstrap_ranks: pd.DataFrame
    bootstrap_rank_frequencies: pd.DataFrame
    kendall_tau: pd.DataFrame
    kendall_tau_summary: pd.DataFrame


def bootstrap_tables(a: Analysis, boot: BootstrapArrays) -> BootstrapTables:
    """Tables of ``docs/design.md``. Frequencies are counts of samples (out of B),
    one row per rank actually taken (absent rows = 0)."""
    scopes = [("task", r.task, r.metric, tr, r.rank) for r, tr in zip(a.runs, boot.task_ranks)]
    scopes.append(("final", "", "", boot.final_ranks, a.final_rank))
    summary, freq = [], []
    for scope, task, metric, ranks, full in scopes:
        head = {"scope": scope, "task": task, "metric": metric}
        summary.append(
            pd.DataFrame({**head, "algorithm": list(a.algorithms), **_rank_summary(ranks, full)})
        )
        f = _frequencies(ranks, a.algorithms)
        freq.append(pd.concat([pd.DataFrame(head, index=f.index), f], axis=1))
    tau = pd.concat(
        [
            pd.DataFrame(
                {"task": r.task, "metric": r.metric, "sample": np.arange(t.size), "tau": t}
            )
            for r, t in zip(a.runs, boot.tau)
        ],
        ignore_index=True,
    )
    tau_summary = (
        tau.groupby(["task", "metric"], sort=False)["tau"]
        .agg(
            mean="mean",
            median="median",
            q25=lambda v: v.quantile(0.25),
            q75=lambda v: v.quantile(0.75),
        )
        .reset_index()
    )
    return BootstrapTables(
        conform("bootstrap_ranks", pd.concat(summary, ignore_index=True)),
        conform("bootstrap_rank_frequencies", pd.concat(freq, ignore_index=True)),
        conform("kendall_tau", tau),
        conform("kendall_tau_summary", tau_summary),
    )


# ----------------------------------------------------------------------------- public API


@dataclass
class RankingResult:
    """Every output table of ``evalkit rank``; names and columns are
    :data:`evalkit.ranking.schemas.TABLES` (listed in ``docs/design.md``, Ranking outputs).

    Bootstrap tables are ``None`` when ``bootstrap_samples = 0``.
    """

    task_ranking: pd.DataFrame
    final_ranking: pd.DataFrame
    case_ranks: pd.DataFrame
    significance: pd.DataFrame
    bootstrap_ranks: pd.DataFrame | None
    bootstrap_rank_frequencies: pd.DataFrame | None
    kendall_tau: pd.DataFrame | None
    kendall_tau_summary: pd.DataFrame | None
    meta: dict[str, Any]

    TABLES = tuple(schemas.TABLES)  # output table names, in the order written


def _meta(a: Analysis) -> dict[str, Any]:
    s = a.settings
    return {
        "scheme": s.scheme,
        "ties": s.ties,
        "seed": s.seed,
        "B": s.bootstrap_samples,
        "challenger_compat": s.challenger_compat,
        "settings": s.as_dict(),
        "versions": versions(),
        "algorithms": list(a.algorithms),
        "tasks": {
            t.task: {"metrics": list(t.metrics), "n_cases": len(t.cases)} for t in a.cube.tasks
        },
        "task_weights": {f"{r.task}/{r.metric}": r.weight for r in a.runs},
        "n_rows": a.cube.n_rows,
        "n_missing_inserted": a.cube.n_inserted,
        "n_missing_total": int(sum(int(r.n_missing.sum()) for r in a.runs)),
    }


def rank_results(
    results: pd.DataFrame,
    ranking_config: Mapping[str, Any] | RankingSettings,
    *,
    progress: bool = False,
) -> RankingResult:
    """Rank a long results table with the ``[ranking]`` settings; bootstrap included
    when ``bootstrap_samples > 0``. Raises ``RankingInputError`` /
    ``RankingConfigError`` / ``MissingPolicyError`` with the offending key or rows."""
    a = analyse(results, ranking_config)
    boot = (
        bootstrap_tables(a, bootstrap_arrays(a, progress=progress))
        if a.settings.bootstrap_samples > 0
        else BootstrapTables(None, None, None, None)
    )
    return RankingResult(
        task_ranking=task_ranking_table(a),
        final_ranking=final_ranking_table(a),
        case_ranks=case_ranks_table(a),
        significance=significance_table(a),
        bootstrap_ranks=boot.bootstrap_ranks,
        bootstrap_rank_frequencies=boot.bootstrap_rank_frequencies,
        kendall_tau=boot.kendall_tau,
        kendall_tau_summary=boot.kendall_tau_summary,
        meta=_meta(a),
    )


def significance(
    results: pd.DataFrame, ranking_config: Mapping[str, Any] | RankingSettings
) -> pd.DataFrame:
    """The significance table alone (``significance.csv``): per ranking task and ordered
    pair, one-sided Wilcoxon p-value, its Holm adjustment, ``significant``
    (adjusted p <= alpha: algorithm superior to other), median paired difference
    (algorithm minus other, metric units) and the number of paired cases."""
    return significance_table(analyse(results, ranking_config))


def bootstrap_ranking(
    results: pd.DataFrame,
    ranking_config: Mapping[str, Any] | RankingSettings,
    *,
    progress: bool = False,
) -> BootstrapTables:
    """The bootstrap tables alone (needs ``bootstrap_samples >= 1``)."""
    a = analyse(results, ranking_config)
    return bootstrap_tables(a, bootstrap_arrays(a, progress=progress))
