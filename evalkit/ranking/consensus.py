"""challengeR's "euclidean" consensus of several task rankings, and Kendall's tau-b."""

from __future__ import annotations

import numpy as np

from evalkit.ranking.ranks import rank_rows, round_for_ties, to_average_ranks


def euclidean_consensus(
    task_ranks: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Consensus of ``task_ranks`` ``(..., T, K)`` (T task rankings of K algorithms).

    Each task ranking's ties are first made average ranks (1, 1, 3 -> 1.5, 1.5, 3),
    then the (weighted) mean over the T tasks is the consensus score and its rank
    ("min" ties, smaller better) the final rank; scores are rounded to 10
    significant digits first so that exactly equal weighted means tie. ``weights`` ``(T,)`` non-negative,
    not all zero; ``None`` = equal. Returns ``(score, rank)``, each ``(..., K)``.
    """
    r = np.asarray(task_ranks, dtype=float)
    t = r.shape[-2]
    w = np.ones(t) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (t,) or (w < 0).any() or not w.sum() > 0:
        raise ValueError(f"weights must be {t} non-negative numbers, not all zero; found {w}.")
    avg = to_average_ranks(r)
    score = round_for_ties(np.einsum("t,...tk->...k", w, avg) / w.sum())
    return score, rank_rows(score, larger_better=False, ties="min")


def kendall_tau_b(rankings: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Kendall's tau-b between each row of ``rankings`` ``(B, K)`` and ``reference`` ``(K,)``.

    tau_b = (concordant - discordant) / sqrt((n0 - n1)(n0 - n2)) over the K(K-1)/2
    pairs, with n1, n2 the pairs tied in either ranking. NaN where either ranking
    is constant (undefined), as in ``scipy.stats.kendalltau``.
    """
    x = np.atleast_2d(np.asarray(rankings, dtype=float))
    y = np.asarray(reference, dtype=float)
    i, j = np.triu_indices(y.size, 1)
    sx = np.sign(x[:, i] - x[:, j])
    sy = np.sign(y[i] - y[j])
    den = np.sqrt(np.count_nonzero(sx, axis=1) * float(np.count_nonzero(sy)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (sx * sy).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)
