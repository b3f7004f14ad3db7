"""Row-wise ranking with challengeR's conventions, vectorised over leading axes.

Every function here ranks along the **last axis** (the algorithms) and treats all
leading axes as independent rows, so one call ranks every case of a task, or every
bootstrap sample, at once. Values are compared by exact equality (no tolerance),
like R's ``rank``.

Missing values (NaN) follow challengeR's ``rankNA2``: they all tie for the worst
rank, (largest non-missing rank) + 1 with ``"min"`` ties, or
(largest non-missing rank) + (k + 1) / 2 for k missing values with ``"average"``
ties. A row with every value missing gives 1 ("min") or (k + 1) / 2 ("average").
"""

from __future__ import annotations

import numpy as np

TIES = ("min", "average")


def _check_ties(ties: str) -> None:
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, found {ties!r}.")


def _oriented(values: np.ndarray, larger_better: bool) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return -v if larger_better else v


def _better_and_equal(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For oriented values ``s`` (smaller is better), per entry: the number of
    non-missing entries of its row strictly better, and the size of its tie group
    (itself included). NaN compares false, so missing entries count for nothing."""
    better = (s[..., None, :] < s[..., :, None]).sum(axis=-1)
    equal = (s[..., None, :] == s[..., :, None]).sum(axis=-1)
    return better, equal


def rank_rows(values: np.ndarray, *, larger_better: bool, ties: str = "min") -> np.ndarray:
    """Rank every row of ``values`` (shape ``(..., K)``) along its last axis.

    Rank 1 is best: the largest value when ``larger_better``, else the smallest.
    ``ties``: ``"min"`` (1, 1, 3) or ``"average"`` (1.5, 1.5, 3). NaN is missing and
    ranked worst as described in the module docstring. Returns float ranks of the
    same shape.
    """
    parts = rank_parts(values, larger_better=larger_better, ties=ties)
    return parts[0] + parts[1]


def rank_parts(
    values: np.ndarray, *, larger_better: bool, ties: str = "min"
) -> tuple[np.ndarray, np.ndarray]:
    """Split the ``rankNA2`` rank of each entry into ``(A, C)`` with rank = A + C.

    The split is what challengeR's bootstrap needs: when a case is drawn k times,
    challengeR ranks the k duplicated rows of every algorithm together (they share
    one case id), so each of an algorithm's k rows gets the rank ``k * A + C`` and
    together they add ``k**2 * A + k * C`` to its rank sum, for both tie methods and
    for missing values. With k = 1 that is the ordinary rank.

    Derivation (b = number of strictly better non-missing values, t = tie-group size,
    M = number of missing values, all on the undrawn case; a k-fold draw multiplies
    b, t and M by k):

    - non-missing, min:      rank_k = k b + 1               -> A = b,       C = 1
    - non-missing, average:  rank_k = k b + (k t + 1)/2     -> A = b + t/2, C = 1/2
    - missing, min:          rank_k = k b_w + 2             -> A = b_w,     C = 2
    - missing, average:      rank_k = k(b_w + t_w/2) + 1/2 + (k M + 1)/2
                                                            -> A = b_w + t_w/2 + M/2, C = 1
    - all missing, min:      rank_k = 1                     -> A = 0,       C = 1
    - all missing, average:  rank_k = (k M + 1)/2           -> A = M/2,     C = 1/2

    where (b_w, t_w) belong to the worst non-missing tie group.
    """
    _check_ties(ties)
    s = _oriented(values, larger_better)
    if s.ndim == 0:
        raise ValueError("values must have at least one axis (the algorithms).")
    valid = ~np.isnan(s)
    better, equal = _better_and_equal(s)
    n_missing = (~valid).sum(axis=-1, keepdims=True)
    any_valid = valid.any(axis=-1, keepdims=True)
    if ties == "min":
        a_valid = better.astype(float)
        worst = np.where(valid, better, -1).max(axis=-1, keepdims=True).astype(float)
        a_missing = np.where(any_valid, worst, 0.0)
        c_valid, c_missing = 1.0, np.where(any_valid, 2.0, 1.0)
    else:
        a_valid = better + equal / 2.0
        worst = np.where(valid, a_valid, -1.0).max(axis=-1, keepdims=True)
        a_missing = np.where(any_valid, worst + n_missing / 2.0, n_missing / 2.0)
        c_valid, c_missing = 0.5, np.where(any_valid, 1.0, 0.5)
    a = np.where(valid, a_valid, a_missing)
    c = np.where(valid, c_valid, c_missing)
    return a, np.broadcast_to(c, a.shape).astype(float)


def to_average_ranks(ranks: np.ndarray) -> np.ndarray:
    """Convert tied ranks to average ranks along the last axis (1, 1, 3 -> 1.5, 1.5, 3).

    Used by the euclidean consensus. Ranks must be finite (they are ranks, not data).
    """
    return rank_rows(ranks, larger_better=False, ties="average")


TIE_DIGITS = 10


def round_for_ties(values: np.ndarray, digits: int = TIE_DIGITS) -> np.ndarray:
    """Round to ``digits`` significant digits so that averages which are equal in exact
    arithmetic tie although floating-point sums taken in a different order differ in
    the last bits (e.g. a mean over duplicated cases, or 0.1 + 0.2 vs 0.3). Used on
    means and consensus scores before they are ranked; NaN, inf and 0 pass through.
    Scores that differ by less than 1e-10 relative are treated as tied."""
    x = np.asarray(values, dtype=float)
    ok = np.isfinite(x) & (x != 0)
    mag = np.floor(np.log10(np.abs(np.where(ok, x, 1.0))))
    scale = 10.0 ** (digits - 1 - mag)
    return np.where(ok, np.round(x * scale) / scale, x)
