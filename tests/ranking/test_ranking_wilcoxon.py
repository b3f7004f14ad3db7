"""Vectorised one-sided Wilcoxon signed-rank tests and Holm, against R and scipy.

Expected numbers come from R 4.2.2 (Debian bookworm's r-base-core, installed once
with ``apt-get install -y r-base-core``; the suite does not need R). Script and
output:

    x <- c(0.91, 0.85, 0.85, 0.70, 0.60, 0.95, 0.80, 0.88, 0.75, 0.66)
    y <- c(0.89, 0.85, 0.80, 0.75, 0.55, 0.90, 0.80, 0.83, 0.70, 0.70)
    for (alt in c("greater", "less", "two.sided")) {
      r <- suppressWarnings(wilcox.test(x, y, paired=TRUE, exact=FALSE, alternative=alt))
      cat(alt, sprintf("V=%.1f p=%.17g\\n", r$statistic, r$p.value))
    }
    # greater V=27.0 p=0.11466597119582377
    # less V=27.0 p=0.91044540363663895
    # two.sided V=27.0 p=0.22933194239164753
    a <- c(3, 1, 2, 2, 5, 4, 0, 1); b <- c(1, 1, 0, 4, 3, 2, 0, 3)
    # greater V=14.0 p=0.242009177352391
    # less V=14.0 p=0.8246258844740102
    wilcox.test(c(1,2), c(1,2), paired=TRUE, exact=FALSE, alternative="greater")$p.value
    # [1] 1
    p.adjust(c(0.01, 0.04, 0.03, 0.005, 0.5, NA), method="holm")
    # [1] 0.040 0.090 0.090 0.025 0.500    NA

    A <- c(0.91, 0.85, 0.85, 0.70, 0.60, 0.95, 0.80, 0.88, 0.75, 0.66, 0.93, 0.81)
    B <- c(0.89, 0.85, 0.80, 0.75, 0.55, 0.90, 0.80, 0.83, 0.70, 0.70, 0.90, 0.78)
    C <- c(0.80, 0.85, 0.70, 0.60, 0.50, 0.90, 0.79, 0.80, 0.70, 0.60, 0.85, 0.81)
    # all 6 ordered pairs, alternative "greater", then p.adjust(p, "holm"):
    #                   A B                   A C                   B A
    # 0.0755829213484505158 0.0029446350209087406 0.9379703190972183968
    #                   B C                   C A                   C B
    # 0.0121326380868917311 0.9978541090063640651 0.9911414173414947459
    #                  A B                  A C                  B A
    # 0.302331685393802063 0.017667810125452443 1.000000000000000000
    #                  B C                  C A                  C B
    # 0.060663190434458655 1.000000000000000000 1.000000000000000000

    t1 <- c(1.2, 3.4, 2.2, 2.2, 5.0, 0.9, 1.1, 4.0)   # runtimes, smaller better
    t2 <- c(1.5, 3.4, 2.0, 2.9, 5.5, 1.3, 1.1, 4.6)
    wilcox.test(t1, t2, paired=TRUE, exact=FALSE, alternative="less")$p.value
    # [1] 0.029586033912929716
    wilcox.test(t2, t1, paired=TRUE, exact=FALSE, alternative="less")$p.value
    # [1] 0.98198415689088325

scipy 1.17's ``wilcoxon(..., correction=True, alternative="greater"/"less",
method="approx")`` gives the same numbers (checked below), so its one-sided
continuity-correction sign agrees with R's (0.5 towards the null).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wilcoxon

from evalkit.ranking.wilcoxon import PairedSignedRanks, holm, wilcoxon_matrix

X = [0.91, 0.85, 0.85, 0.70, 0.60, 0.95, 0.80, 0.88, 0.75, 0.66]
Y = [0.89, 0.85, 0.80, 0.75, 0.55, 0.90, 0.80, 0.83, 0.70, 0.70]
A3 = [0.91, 0.85, 0.85, 0.70, 0.60, 0.95, 0.80, 0.88, 0.75, 0.66, 0.93, 0.81]
B3 = [0.89, 0.85, 0.80, 0.75, 0.55, 0.90, 0.80, 0.83, 0.70, 0.70, 0.90, 0.78]
C3 = [0.80, 0.85, 0.70, 0.60, 0.50, 0.90, 0.79, 0.80, 0.70, 0.60, 0.85, 0.81]


def pair(x, y, larger_better=True):
    return wilcoxon_matrix(np.column_stack([x, y]), larger_better=larger_better)[0]


def test_matches_r_with_ties_and_zeros():
    p = pair(X, Y)
    assert p[0, 1] == pytest.approx(0.11466597119582377, rel=1e-12)  # x better (greater)
    assert p[1, 0] == pytest.approx(0.91044540363663895, rel=1e-12)  # y better = "less" for x - y
    a = [3, 1, 2, 2, 5, 4, 0, 1]
    b = [1, 1, 0, 4, 3, 2, 0, 3]
    p = pair(a, b)
    assert p[0, 1] == pytest.approx(0.242009177352391, rel=1e-12)
    assert p[1, 0] == pytest.approx(0.8246258844740102, rel=1e-12)


def test_smaller_better_uses_alternative_less_like_r():
    t1 = [1.2, 3.4, 2.2, 2.2, 5.0, 0.9, 1.1, 4.0]
    t2 = [1.5, 3.4, 2.0, 2.9, 5.5, 1.3, 1.1, 4.6]
    p = pair(t1, t2, larger_better=False)
    assert p[0, 1] == pytest.approx(0.029586033912929716, rel=1e-12)
    assert p[1, 0] == pytest.approx(0.98198415689088325, rel=1e-12)


def test_three_algorithms_and_holm_match_r():
    p = wilcoxon_matrix(np.column_stack([A3, B3, C3]), larger_better=True)[0]
    r_raw = {
        (0, 1): 0.0755829213484505158,
        (0, 2): 0.0029446350209087406,
        (1, 0): 0.9379703190972183968,
        (1, 2): 0.0121326380868917311,
        (2, 0): 0.9978541090063640651,
        (2, 1): 0.9911414173414947459,
    }
    r_holm = {
        (0, 1): 0.302331685393802063,
        (0, 2): 0.017667810125452443,
        (1, 0): 1.0,
        (1, 2): 0.060663190434458655,
        (2, 0): 1.0,
        (2, 1): 1.0,
    }
    adj = holm(p)
    for (i, j), v in r_raw.items():
        assert p[i, j] == pytest.approx(v, rel=1e-12)
        assert adj[i, j] == pytest.approx(r_holm[(i, j)], rel=1e-12)
    assert np.isnan(p.diagonal()).all() and np.isnan(adj.diagonal()).all()


def test_scipy_one_sided_correction_agrees_with_r():
    for alt, expected in (("greater", 0.11466597119582377), ("less", 0.91044540363663895)):
        res = wilcoxon(
            X, Y, zero_method="wilcox", correction=True, alternative=alt, method="approx"
        )
        assert res.pvalue == pytest.approx(expected, rel=1e-12)


def test_all_differences_zero_gives_p_one():
    p = pair([0.5, 0.7, 0.9], [0.5, 0.7, 0.9])
    assert p[0, 1] == 1.0 and p[1, 0] == 1.0


def test_no_common_case_gives_nan_and_is_not_counted_by_holm():
    x = np.array([[0.5, np.nan], [0.7, np.nan], [np.nan, 0.2], [np.nan, 0.4]])
    p, n = wilcoxon_matrix(x, larger_better=True)
    assert np.isnan(p[0, 1]) and n[0, 1] == 0


def test_pairs_use_only_common_cases():
    x = np.array(X + [0.99, np.nan])
    y = np.array(Y + [np.nan, 0.10])
    p, n = wilcoxon_matrix(np.column_stack([x, y]), larger_better=True)
    assert n[0, 1] == len(X)
    assert p[0, 1] == pytest.approx(0.11466597119582377, rel=1e-12)


def test_holm_matches_r_p_adjust_and_ignores_nan():
    out = holm(np.array([0.01, 0.04, 0.03, 0.005, 0.5, np.nan]))
    np.testing.assert_allclose(out[:5], [0.040, 0.090, 0.090, 0.025, 0.500], rtol=1e-12)
    assert np.isnan(out[5])


def test_holm_matches_statsmodels_on_random_pvalues():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(3)
    p = rng.random(40) ** 3
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=1e-12)


def test_matrix_matches_scipy_for_every_pair_on_tied_data():
    rng = np.random.default_rng(7)
    x = rng.integers(0, 6, size=(25, 5)).astype(float)  # many ties and zero differences
    for larger_better, alt in ((True, "greater"), (False, "less")):
        p, _ = wilcoxon_matrix(x, larger_better=larger_better)
        for i in range(5):
            for j in range(5):
                if i == j:
                    continue
                d = x[:, i] - x[:, j]
                if not d.any():
                    continue
                ref = wilcoxon(
                    x[:, i],
                    x[:, j],
                    zero_method="wilcox",
                    correction=True,
                    alternative=alt,
                    method="approx",
                ).pvalue
                assert p[i, j] == pytest.approx(ref, rel=1e-10), (i, j, larger_better)


def test_weights_equal_duplicated_rows():
    rng = np.random.default_rng(11)
    x = rng.integers(0, 5, size=(15, 4)).astype(float)
    x[rng.random(x.shape) < 0.1] = np.nan
    w = rng.integers(0, 4, size=15)
    expanded = np.repeat(x, w, axis=0)
    p_w, n_w = PairedSignedRanks(x).pvalues(larger_better=True, weights=w)
    p_e, n_e = PairedSignedRanks(expanded).pvalues(larger_better=True)
    np.testing.assert_allclose(p_w, p_e, rtol=1e-12)
    np.testing.assert_array_equal(n_w, n_e)


def test_median_differences_sign_and_zeros():
    x = np.array([[1.0, 0.0], [2.0, 2.0], [3.0, 1.0]])  # differences 1, 0, 2 -> median 1
    med = PairedSignedRanks(x).median_differences()
    assert med[0, 1] == 1.0 and med[1, 0] == -1.0
