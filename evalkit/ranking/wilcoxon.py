"""Paired one-sided Wilcoxon signed-rank tests for all algorithm pairs at once, and Holm;
:func:`paired_wilcoxon`, the two-sided test of one vector of differences (``compare``).

Conventions are R's ``wilcox.test(x, y, paired = TRUE, exact = FALSE,
correct = TRUE)`` (and scipy's ``wilcoxon(..., zero_method="wilcox",
correction=True, method="approx")``, which agrees with it, one-sided included):
differences ``d = x - y`` on the cases both algorithms have; zero differences
dropped; ``V`` = sum of the average ranks of ``|d|`` over positive ``d``; normal
approximation with tie-corrected variance
``n(n+1)(2n+1)/24 - sum(t^3 - t)/48`` and continuity correction 0.5 towards the
null; all differences zero gives p = 1; no common case gives p = NaN.

The tests are vectorised over the K(K-1)/2 unordered pairs: the sort of ``|d|``
is shared by both orders of a pair and by every bootstrap sample (a bootstrap
sample only re-weights the cases; a case drawn k times counts as k equal rows).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr


class PairedSignedRanks:
    """Precomputed sort structure of the paired differences of one ranking task.

    ``values``: ``(n_cases, K)``, NaN = missing. Pairs are ``(i, j)`` with i < j,
    difference ``values[:, i] - values[:, j]``.
    """

    def __init__(self, values: np.ndarray):
        x = np.asarray(values, dtype=float)
        if x.ndim != 2:
            raise ValueError(f"values must be (n_cases, K), found shape {x.shape}.")
        n, k = x.shape
        self.k = k
        self.i, self.j = np.triu_indices(k, 1)
        d = x[:, self.i] - x[:, self.j]  # (n, P)
        self.diff = d
        self.paired = ~np.isnan(d)
        nonzero = self.paired & (d != 0)
        absd = np.where(nonzero, np.abs(np.where(self.paired, d, 0.0)), np.inf)
        order = np.argsort(absd, axis=0, kind="stable")
        s = np.take_along_axis(absd, order, axis=0)
        use = np.take_along_axis(nonzero, order, axis=0)  # in sorted order
        positive = np.take_along_axis(d > 0, order, axis=0) & use
        # gathers from the weights with a zero-weight sentinel at index n for unused entries
        self.n = n
        self.order_use = np.where(use, order, n)
        self.order_pos = np.where(positive, order, n)
        rows = np.arange(n)[:, None]
        new = np.ones_like(s, dtype=bool)
        new[1:] = s[1:] != s[:-1]
        is_end = np.ones_like(s, dtype=bool)
        is_end[:-1] = new[1:]
        start = np.maximum.accumulate(np.where(new, rows, 0), axis=0)
        end = np.minimum.accumulate(np.where(is_end, rows, n)[::-1], axis=0)[::-1]
        p = d.shape[1]
        cols = np.arange(p)[None, :]
        # flat positions in the (n + 1, P) cumulative-weight array: weight before / through the group
        self.before_at = (start * p + cols).ravel()
        self.after_at = ((end + 1) * p + cols).ravel()
        first = np.flatnonzero((new & use).ravel())
        self.first_at, self.first_col = first, first % p if p else first

    def statistics(
        self, weights: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(V, n_nonzero, tie_term, n_paired)`` per pair, each shape ``(P,)``.

        ``weights`` (n_cases,) non-negative integer multiplicities (bootstrap
        counts); ``None`` = 1 each. A tie group of total weight W occupies ranks
        (before + 1 .. before + W), average (2 before + W + 1) / 2; ``tie_term`` =
        sum over tie groups of W^3 - W.
        """
        w_ext = np.zeros(self.n + 1)
        if weights is None:
            w_ext[: self.n] = 1.0
            n_paired = self.paired.sum(axis=0).astype(float)
        else:
            w_ext[: self.n] = np.asarray(weights, dtype=float)
            n_paired = w_ext[: self.n] @ self.paired
        ws = w_ext[self.order_use]
        p = ws.shape[1]
        cw = np.zeros((self.n + 1, p))
        np.cumsum(ws, axis=0, out=cw[1:])
        flat = cw.ravel()
        before = flat[self.before_at]
        after = flat[self.after_at]
        wpos = w_ext[self.order_pos].ravel()
        v = 0.5 * (wpos * (before + after + 1.0)).reshape(-1, p).sum(axis=0)
        gw = (after - before)[self.first_at]
        ties = np.bincount(self.first_col, weights=gw**3 - gw, minlength=p)
        return v, cw[-1], ties, n_paired

    def pvalues(
        self, *, larger_better: bool, weights: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """One-sided p-values ``p[i, j]`` for "algorithm i better than j" and ``n_pairs[i, j]``.

        "Better" is ``x_i > x_j`` (alternative "greater") for a larger-better metric
        and "less" for smaller-better. Diagonal NaN.
        """
        v, n, ties, n_paired = self.statistics(weights)
        z = v - n * (n + 1) / 4.0
        with np.errstate(invalid="ignore", divide="ignore"):
            sigma = np.sqrt(n * (n + 1) * (2 * n + 1) / 24.0 - ties / 48.0)
            p_greater = ndtr(-((z - 0.5) / sigma))
            p_less = ndtr((z + 0.5) / sigma)
        for p in (p_greater, p_less):
            p[n == 0] = 1.0
            p[n_paired == 0] = np.nan
        upper, lower = (p_greater, p_less) if larger_better else (p_less, p_greater)
        out = np.full((self.k, self.k), np.nan)
        out[self.i, self.j] = upper
        out[self.j, self.i] = lower
        npairs = np.zeros((self.k, self.k))
        npairs[self.i, self.j] = n_paired
        npairs[self.j, self.i] = n_paired
        return out, npairs

    def median_differences(self) -> np.ndarray:
        """``med[i, j]`` = median over common cases of ``x_i - x_j`` (zeros included),
        in metric units; NaN without common cases or on the diagonal."""
        out = np.full((self.k, self.k), np.nan)
        if self.diff.shape[1]:
            has = self.paired.any(axis=0)
            med = np.full(self.diff.shape[1], np.nan)
            med[has] = np.nanmedian(self.diff[:, has], axis=0)
            out[self.i, self.j] = med
            out[self.j, self.i] = -med
        return out


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm step-down adjustment over all non-NaN entries of ``pvalues`` (any shape).

    Same as R's ``p.adjust(p, "holm")``: NaN entries are left NaN and not counted
    in the number of tests m.
    """
    p = np.asarray(pvalues, dtype=float)
    flat = p.ravel()
    out = np.full(flat.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(flat))
    m = ok.size
    if m:
        order = ok[np.argsort(flat[ok], kind="stable")]
        adj = np.maximum.accumulate((m - np.arange(m)) * flat[order])
        out[order] = np.minimum(adj, 1.0)
    return out.reshape(p.shape)


def wilcoxon_matrix(
    values: np.ndarray, *, larger_better: bool, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Raw one-sided p-values ``(K, K)`` and pair counts for ``values`` ``(n_cases, K)``."""
    return PairedSignedRanks(values).pvalues(larger_better=larger_better, weights=weights)


def paired_wilcoxon(diff: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of one vector of paired differences.

    ``diff`` (n,): differences ``b - a`` per case, in metric units; non-finite
    entries (NaN, inf) are left out. The rank statistics are those of
    :class:`PairedSignedRanks` (zero differences dropped, average ranks of ``|d|``,
    tie-corrected variance); the normal approximation with continuity correction 0.5
    towards the null is evaluated in the order ``scipy.stats.wilcoxon(d,
    zero_method="wilcox", correction=True, method="asymptotic")`` uses, so the value
    equals scipy's to the last bit. Every difference zero: 1.0. No finite
    difference: NaN.
    """
    d = np.asarray(diff, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan")
    if np.all(d == 0):
        return 1.0
    v, n, ties, _ = PairedSignedRanks(np.column_stack([d, np.zeros_like(d)])).statistics()
    v, n, ties = float(v[0]), float(n[0]), float(ties[0])
    se = np.sqrt((n * (n + 1.0) * (2.0 * n + 1.0) - ties / 2) / 24)
    z = (v - n * (n + 1.0) * 0.25) / se
    z = z - np.sign(z) * 0.5 / se
    return float(2 * ndtr(-abs(z)))
