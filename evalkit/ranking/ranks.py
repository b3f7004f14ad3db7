"""Row-wise ranking with challengeR's conventions, vectorised over leading axes.

Every function here ranks along the **last axis** (the algorithms) and treats all
leading axes as independent rows, so one call ranks every case of a task, or every
bootstrap sample, at once. Values are compared by exact equality (no tolerance),
like R's ``rank``.

Tie methods are R's ``rank(ties.method=)``: ``"min"`` (1, 1, 3), ``"average"``
(1.5, 1.5, 3), ``"max"`` (2, 2, 3), ``"first"`` (1, 2, 3 in algorithm order),
``"last"`` (2, 1, 3: reverse algorithm order) and ``"random"`` (a tie group's ranks
permuted at random by the ``rng`` given; the ranking seed makes it reproducible).

Missing values (NaN) follow challengeR's ``rankNA2``: they all tie for the worst
rank, (largest non-missing rank) + 1 with ``"min"`` or ``"random"`` ties, or
(largest non-missing rank) + (k + 1) / 2 for k missing values with ``"average"``
ties. A row with every value missing gives 1 ("min", "random") or (k + 1) / 2
("average"). challengeR leaves missing values unranked (NA) under ``"max"``,
``"first"`` and ``"last"``; evalkit gives them the last k places, resolved by the
same method: all K under ``"max"``, in algorithm order under ``"first"`` and in
reverse order under ``"last"``.
"""

from __future__ import annotations

import numpy as np

TIES = ("min", "average", "max", "first", "last", "random")
ORDERED_TIES = ("first", "last", "random")  # every entry of a row gets its own rank


def _check_ties(ties: str, rng: np.random.Generator | None) -> None:
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, found {ties!r}.")
    if ties == "random" and rng is None:
        raise ValueError("ties = 'random' needs a random generator (rng=...), seeded for reproducibility.")


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


def _order_keys(shape: tuple[int, ...], ties: str, rng: np.random.Generator | None) -> np.ndarray:
    """Per entry, the key that orders a tie group: its index ("first"), the reversed
    index ("last") or a random permutation of each row ("random")."""
    k = shape[-1]
    if ties == "first":
        return np.broadcast_to(np.arange(k, dtype=float), shape)
    if ties == "last":
        return np.broadcast_to(np.arange(k, 0, -1, dtype=float), shape)
    return rng.random(shape).argsort(axis=-1).astype(float)  # type: ignore[union-attr]


def _ordered_ranks(s: np.ndarray, ties: str, rng: np.random.Generator | None) -> np.ndarray:
    """Ranks under "first" / "last" / "random" (see the module docstring for NaN)."""
    valid = ~np.isnan(s)
    key = _order_keys(s.shape, ties, rng)
    better, _ = _better_and_equal(s)
    same = s[..., None, :] == s[..., :, None]
    before = key[..., None, :] < key[..., :, None]
    rank_valid = better + (same & before).sum(axis=-1) + 1.0
    n_valid = valid.sum(axis=-1, keepdims=True)
    if ties == "random":  # challengeR's rankNA2: every missing value gets max rank + 1
        rank_missing = np.broadcast_to(n_valid + 1.0, s.shape)
    else:
        missing_before = (~valid[..., None, :] & before).sum(axis=-1)
        rank_missing = n_valid + missing_before + 1.0
    return np.where(valid, rank_valid, rank_missing)


def rank_rows(
    values: np.ndarray,
    *,
    larger_better: bool,
    ties: str = "min",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Rank every row of ``values`` (shape ``(..., K)``) along its last axis.

    Rank 1 is best: the largest value when ``larger_better``, else the smallest.
    ``ties``: one of :data:`TIES` (module docstring); ``"random"`` needs ``rng``,
    which is used only then. NaN is missing and ranked worst as described in the
    module docstring. Returns float ranks of the same shape.
    """
    parts = rank_parts(values, larger_better=larger_better, ties=ties, rng=rng)
    return parts[0] + parts[1]


def rank_parts(
    values: np.ndarray,
    *,
    larger_better: bool,
    ties: str = "min",
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Split the ``rankNA2`` rank of each entry into ``(A, C)`` with rank = A + C.

    The split is what challengeR's bootstrap needs: when a case is drawn k times,
    challengeR ranks the k duplicated rows of every algorithm together (they share
    one case id), so each of an algorithm's k rows gets the rank ``k * A + C`` and
    together they add ``k**2 * A + k * C`` to its rank sum, for the tie methods
    "min", "average" and "max" and for missing values. With k = 1 that is the
    ordinary rank.

    Derivation (b = number of strictly better non-missing values, t = tie-group size,
    M = number of missing values, all on the undrawn case; a k-fold draw multiplies
    b, t and M by k):

    - non-missing, min:      rank_k = k b + 1               -> A = b,       C = 1
    - non-missing, average:  rank_k = k b + (k t + 1)/2     -> A = b + t/2, C = 1/2
    - non-missing, max:      rank_k = k (b + t)             -> A = b + t,   C = 0
    - missing, min:          rank_k = k b_w + 2             -> A = b_w,     C = 2
    - missing, average:      rank_k = k(b_w + t_w/2) + 1/2 + (k M + 1)/2
                                                            -> A = b_w + t_w/2 + M/2, C = 1
    - missing, max:          rank_k = k K                   -> A = K,       C = 0
    - all missing, min:      rank_k = 1                     -> A = 0,       C = 1
    - all missing, average:  rank_k = (k M + 1)/2           -> A = M/2,     C = 1/2

    where (b_w, t_w) belong to the worst non-missing tie group and K is the row
    length. "first", "last" and "random" give every duplicated row its own rank,
    which depends on the order of the duplicated rows; for them ``A = rank - 1``,
    ``C = 1`` (right for k = 1; the configuration refuses challenger_compat with
    these methods).
    """
    _check_ties(ties, rng)
    s = _oriented(values, larger_better)
    if s.ndim == 0:
        raise ValueError("values must have at least one axis (the algorithms).")
    if ties in ORDERED_TIES:
        rank = _ordered_ranks(s, ties, rng)
        return rank - 1.0, np.ones_like(rank)
    valid = ~np.isnan(s)
    better, equal = _better_and_equal(s)
    n_missing = (~valid).sum(axis=-1, keepdims=True)
    any_valid = valid.any(axis=-1, keepdims=True)
    if ties == "min":
        a_valid = better.astype(float)
        worst = np.where(valid, better, -1).max(axis=-1, keepdims=True).astype(float)
        a_missing = np.where(any_valid, worst, 0.0)
        c_valid, c_missing = 1.0, np.where(any_valid, 2.0, 1.0)
    elif ties == "max":
        a_valid = (better + equal).astype(float)
        a_missing = np.full(n_missing.shape, float(s.shape[-1]))
        c_valid, c_missing = 0.0, 0.0
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
