"""Per-task ranking schemes on arrays: rank-then-aggregate, aggregate-then-rank,
test-then-rank, and the missing-value policies of the last two.

All functions work on one ranking task's values ``(n_cases, K)`` (NaN = missing)
or on a stack of bootstrap weights ``(B, n_cases)`` and return scores and ranks
along the last axis (K algorithms). Rank 1 is best.
"""

from __future__ import annotations

import numpy as np

from evalkit.ranking.ranks import rank_rows, round_for_ties
from evalkit.ranking.table import RankingInputError


class MissingPolicyError(RankingInputError):
    """A scheme needs an explicit missing-value policy and the data has missing values
    (a :class:`RankingInputError`, so callers that catch bad input catch this too)."""


def apply_missing_policy(
    values: np.ndarray, policy: float | str, *, where: str, scheme: str
) -> np.ndarray:
    """Values with the policy applied: a number fills every NaN; ``"drop"`` keeps NaN
    (they are then ignored); ``"worst-rank"`` is refused when anything is missing,
    because it only has a meaning in rank-then-aggregate."""
    if isinstance(policy, str):
        if policy == "worst-rank" and np.isnan(values).any():
            raise MissingPolicyError(
                f"{where}: {int(np.isnan(values).sum())} missing value(s) and scheme '{scheme}' "
                "has no rank to give them. Set ranking.missing_value to a number (e.g. 0 for "
                "DSC), a table metric -> number, or 'drop'."
            )
        return values
    return np.where(np.isnan(values), policy, values)


def fill_before_ranking(values: np.ndarray, policy: float | str) -> np.ndarray:
    """rank-then-aggregate's missing-value policy: a number replaces every NaN before
    the per-case ranking (challengeR's ``as.challenge(na.treat = x)``);
    ``"worst-rank"`` keeps NaN, which the ranking puts last (``rankNA2``)."""
    if isinstance(policy, str):
        if policy != "worst-rank":
            raise ValueError(
                f"rank-then-aggregate takes 'worst-rank' or a number, found {policy!r}."
            )
        return values
    return np.where(np.isnan(values), policy, values)


def rank_then_aggregate(
    case_ranks: np.ndarray,
    ties: str,
    how: str = "mean",
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean (challengeR's ``rankThenAggregate(FUN = mean)``) or median (``FUN =
    median``) of the per-case ranks ``(n, K)`` per algorithm, then ranked (smaller
    better) with the same tie method. Returns ``(score, rank)``, each ``(K,)``."""
    if how == "mean":
        score = case_ranks.mean(axis=0)
    elif how == "median":
        score = np.median(case_ranks, axis=0)
    else:
        raise ValueError(f"aggregate must be 'mean' or 'median', found {how!r}.")
    return score, rank_rows(score, larger_better=False, ties=ties, rng=rng)


def aggregate_values(values: np.ndarray, how: str) -> np.ndarray:
    """Mean or median over cases (axis 0) ignoring NaN; all-NaN columns give NaN.
    Means are rounded to 10 significant digits (:func:`round_for_ties`)."""
    valid = ~np.isnan(values)
    count = valid.sum(axis=0)
    out = np.full(values.shape[1], np.nan)
    has = count > 0
    if how == "mean":
        out[has] = round_for_ties(np.where(valid, values, 0.0).sum(axis=0)[has] / count[has])
    elif how == "median":
        if has.any():
            out[has] = np.nanmedian(values[:, has], axis=0)
    else:
        raise ValueError(f"aggregate must be 'mean' or 'median', found {how!r}.")
    return out


def aggregate_then_rank(
    values: np.ndarray,
    *,
    how: str,
    larger_better: bool,
    ties: str,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Aggregate per algorithm, then rank in the metric's direction. An algorithm
    with no value at all (policy "drop") has a NaN aggregate and takes the worst rank."""
    score = aggregate_values(values, how)
    return score, rank_rows(score, larger_better=larger_better, ties=ties, rng=rng)


def test_then_rank(
    significant: np.ndarray, ties: str, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Share of the other K-1 algorithms each one beats significantly
    (``significant[i, j]``: i significantly superior to j), ranked larger-better."""
    k = significant.shape[-1]
    score = np.nan_to_num(significant.astype(float)).sum(axis=-1) / (k - 1)
    return score, rank_rows(score, larger_better=True, ties=ties, rng=rng)


def weighted_aggregate(values: np.ndarray, counts: np.ndarray, how: str) -> np.ndarray:
    """Per-sample aggregates ``(B, K)`` of ``values`` ``(n, K)`` where case c is
    counted ``counts[b, c]`` times (NaN values ignored; none left gives NaN)."""
    valid = ~np.isnan(values)
    c = np.asarray(counts, dtype=float)
    if how == "mean":
        num = c @ np.where(valid, values, 0.0)
        den = c @ valid.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return round_for_ties(np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan))
    if how != "median":
        raise ValueError(f"aggregate must be 'mean' or 'median', found {how!r}.")
    b, k = c.shape[0], values.shape[1]
    out = np.full((b, k), np.nan)
    for a in range(k):
        ok = np.flatnonzero(valid[:, a])
        if ok.size == 0:
            continue
        order = ok[np.argsort(values[ok, a], kind="stable")]
        xs = values[order, a]
        cw = np.cumsum(c[:, order], axis=1)
        total = cw[:, -1]
        lo_pos = np.floor((total - 1) / 2)
        hi_pos = np.floor(total / 2)
        lo = np.minimum((cw <= lo_pos[:, None]).sum(axis=1), xs.size - 1)
        hi = np.minimum((cw <= hi_pos[:, None]).sum(axis=1), xs.size - 1)
        out[:, a] = np.where(total > 0, (xs[lo] + xs[hi]) / 2.0, np.nan)
    return out
