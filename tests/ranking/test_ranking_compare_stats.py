"""The statistics ``compare`` uses, now in ranking: the two-sided paired Wilcoxon
equals scipy's to the last bit, and the bootstrap interval of a mean equals the
percentile bootstrap ``compare`` computed before (same draws, same quantiles)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import wilcoxon

from evalkit.ranking.bootstrap import bootstrap_mean_ci, draw_counts, draw_indices
from evalkit.ranking.wilcoxon import paired_wilcoxon


def _differences(rng: np.random.Generator, kind: int, n: int) -> np.ndarray:
    if kind == 0:  # continuous, no ties
        return rng.normal(size=n)
    if kind == 1:  # 4-digit rounded values: ties and zeros, like DSC differences
        return np.round(rng.normal(scale=0.01, size=n), 3)
    if kind == 2:  # few distinct values: heavy ties
        return rng.integers(-3, 4, size=n).astype(float)
    d = np.round(rng.normal(size=n), 1)  # with missing values
    d[rng.uniform(size=n) < 0.2] = np.nan
    return d


def _scipy_two_sided(d: np.ndarray) -> float:
    """What compare computed before the move (scipy, normal approximation)."""
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return float("nan")
    if np.all(d == 0):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(wilcoxon(d, zero_method="wilcox", correction=True, method="approx").pvalue)


@pytest.mark.parametrize("kind", [0, 1, 2, 3])
def test_paired_wilcoxon_equals_scipy_bit_for_bit(kind):
    rng = np.random.default_rng(100 + kind)
    for _ in range(300):
        d = _differences(rng, kind, int(rng.integers(1, 70)))
        expected = _scipy_two_sided(d)
        got = paired_wilcoxon(d)
        assert got == expected or (np.isnan(got) and np.isnan(expected)), (d, got, expected)


def test_paired_wilcoxon_edge_cases():
    assert paired_wilcoxon(np.zeros(5)) == 1.0
    assert np.isnan(paired_wilcoxon(np.array([])))
    assert np.isnan(paired_wilcoxon(np.array([np.nan, np.inf])))
    assert paired_wilcoxon(np.array([0.0, 0.0, 0.1])) == _scipy_two_sided(np.array([0.1]))
    # symmetric in sign: swapping A and B gives the same two-sided p
    d = np.array([0.3, -0.1, 0.2, 0.25, 0.05, -0.02])
    assert paired_wilcoxon(d) == paired_wilcoxon(-d)


def _old_bootstrap_mean_ci(diff: np.ndarray, samples: int, seed: int) -> tuple[float, float]:
    """compare's interval before the move, written out."""
    n = len(diff)
    if n == 0:
        return (float("nan"), float("nan"))
    idx = np.random.default_rng(seed).integers(0, n, size=(samples, n))
    means = diff[idx].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def test_bootstrap_mean_ci_equals_the_old_interval_exactly():
    rng = np.random.default_rng(5)
    for trial in range(60):
        d = _differences(rng, trial % 3, int(rng.integers(1, 90)))
        samples, seed = int(rng.integers(1, 3000)), int(rng.integers(0, 2**31))
        assert bootstrap_mean_ci(d, samples, seed) == _old_bootstrap_mean_ci(d, samples, seed)
    lo, hi = bootstrap_mean_ci(np.array([]), 100, 0)
    assert np.isnan(lo) and np.isnan(hi)
    assert bootstrap_mean_ci(np.zeros(7), 50, 1) == (0.0, 0.0)


def test_bootstrap_mean_ci_covers_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small, large = rng.normal(1.0, 1.0, 20), rng.normal(1.0, 1.0, 2000)
    lo_s, hi_s = bootstrap_mean_ci(small, 2000, 1)
    lo_l, hi_l = bootstrap_mean_ci(large, 2000, 1)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert hi_l - lo_l < (hi_s - lo_s) / 3


def test_counts_and_indices_are_the_same_draw():
    """The ranking's case multiplicities are the bincount of compare's indices."""
    idx = draw_indices(np.random.default_rng(3), 9, 40)
    counts = draw_counts(np.random.default_rng(3), 9, 40)
    assert counts.shape == (40, 9) and (counts.sum(axis=1) == 9).all()
    for row_idx, row_counts in zip(idx, counts):
        assert (np.bincount(row_idx, minlength=9) == row_counts).all()
