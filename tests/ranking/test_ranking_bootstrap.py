"""Bootstrap: correct weighting of repeated draws, the challengeR-compat grouping,
shared draws across a task's metrics, seeding, summaries, Kendall's tau-b."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ranking_helpers import config, long_table, random_table, reference_rank_na2
from scipy.stats import kendalltau

from evalkit.ranking import bootstrap_ranking, rank_results
from evalkit.ranking.consensus import kendall_tau_b
from evalkit.ranking.pipeline import analyse, bootstrap_task_ranks, draw_counts
from evalkit.ranking.ranks import rank_rows
from evalkit.ranking.schemes import weighted_aggregate
from evalkit.ranking.settings import parse_settings


def expand(df: pd.DataFrame, task: str, cases: tuple[str, ...], counts: np.ndarray) -> pd.DataFrame:
    """The rows of ``task`` with case i repeated counts[i] times under NEW ids (the correct
    bootstrap sample: every draw its own case)."""
    parts = []
    for case, k in zip(cases, counts):
        rows = df[(df.task == task) & (df.case == case)]
        for r in range(int(k)):
            parts.append(rows.assign(case=f"{case}#{r}"))
    return pd.concat(parts, ignore_index=True)


def test_compat_differs_from_correct_weighting_by_hand():
    # A best on c0; B best on c1, c2, c3. Draw: c0 twice, c1, c2 once, c3 never.
    df = long_table({"A": [0.9, 0.5, 0.5, 0.5], "B": [0.8, 0.6, 0.6, 0.6]})
    counts = np.array([[2, 1, 1, 0]])
    a = analyse(df, config())
    run = a.runs[0]
    # correct: rank sums A 1+1+2+2 = 6, B 2+2+1+1 = 6 -> tie
    correct = bootstrap_task_ranks(run, counts, parse_settings(config()))
    assert correct.tolist() == [[1, 1]]
    # challengeR: the 2 copies of c0 ranked together -> B gets 3 on both (k(r-1)+1),
    # mean rank B = 1 + (1/n) sum k^2 (r-1) = 1 + 4/4 = 2 > A's 1.5 -> A alone first
    compat = bootstrap_task_ranks(run, counts, parse_settings(config(challenger_compat=True)))
    assert compat.tolist() == [[1, 2]]


def test_correct_weighting_equals_ranking_the_resampled_table():
    df = random_table(
        np.random.default_rng(2), n_alg=4, tasks=("CT",), n_cases=(10,), missing=0.1, digits=1
    )
    for ties in ("min", "average"):
        cfg = config(ties=ties)
        a = analyse(df, cfg)
        counts = draw_counts(np.random.default_rng(9), 10, 6)
        for run in a.runs:
            boot = bootstrap_task_ranks(run, counts, parse_settings(cfg))
            for b in range(counts.shape[0]):
                sample = expand(df, "CT", run.cases, counts[b])
                full = rank_results(sample, cfg).task_ranking
                full = full[full.metric == run.metric].set_index("algorithm")["rank"]
                assert boot[b].tolist() == full.loc[list(a.algorithms)].tolist()


def test_compat_equals_ranking_duplicated_rows_under_one_case_id():
    df = random_table(
        np.random.default_rng(4), n_alg=5, tasks=("CT",), n_cases=(8,), missing=0.15, digits=1
    )
    counts = draw_counts(np.random.default_rng(1), 8, 5)
    for ties in ("min", "average"):
        cfg = config(ties=ties, challenger_compat=True)
        a = analyse(df, cfg)
        for run in a.runs:
            got = bootstrap_task_ranks(run, counts, parse_settings(cfg))
            for b in range(counts.shape[0]):
                sums = np.zeros(len(a.algorithms))
                for c, k in enumerate(counts[b]):
                    if k == 0:
                        continue
                    row = [None if np.isnan(v) else v for v in run.values[c]]
                    joint = reference_rank_na2(
                        [v for v in row for _ in range(k)], run.larger_better, ties
                    )
                    sums += k * np.array(joint[::k])  # k rows per algorithm, same rank each
                assert got[b].tolist() == rank_rows(sums, larger_better=False, ties=ties).tolist()


def test_same_draw_for_all_metrics_of_a_task():
    vals = {
        "A": [0.9, 0.5, 0.7, 0.2, 0.6],
        "B": [0.8, 0.6, 0.7, 0.3, 0.1],
        "C": [0.1, 0.9, 0.2, 0.3, 0.5],
    }
    df = long_table({("CT", "DSC"): vals, ("CT", "NSD"): vals})
    r = rank_results(df, config(bootstrap_samples=200))
    freq = r.bootstrap_rank_frequencies
    dsc = freq[freq.metric == "DSC"].drop(columns="metric").reset_index(drop=True)
    nsd = freq[freq.metric == "NSD"].drop(columns="metric").reset_index(drop=True)
    pd.testing.assert_frame_equal(dsc, nsd)
    assert not r.kendall_tau.empty


def test_seeded_and_reproducible():
    df = random_table(np.random.default_rng(0))
    one = rank_results(df, config(bootstrap_samples=100, seed=5))
    two = rank_results(df, config(bootstrap_samples=100, seed=5))
    other = rank_results(df, config(bootstrap_samples=100, seed=6))
    pd.testing.assert_frame_equal(one.bootstrap_rank_frequencies, two.bootstrap_rank_frequencies)
    pd.testing.assert_frame_equal(one.kendall_tau, two.kendall_tau)
    assert not one.kendall_tau["tau"].equals(other.kendall_tau["tau"])
    assert one.meta["seed"] == 5 and one.meta["B"] == 100


def test_summary_tables_are_consistent():
    df = random_table(np.random.default_rng(1), n_alg=4)
    r = rank_results(df, config(bootstrap_samples=300))
    br, fr = r.bootstrap_ranks, r.bootstrap_rank_frequencies
    assert set(br["scope"]) == {"task", "final"}
    assert (br.loc[br.scope == "final", ["task", "metric"]] == "").all().all()
    assert len(br) == (6 + 1) * 4  # 6 ranking tasks + final, 4 algorithms
    totals = fr.groupby(["scope", "task", "metric", "algorithm"])["frequency"].sum()
    assert (totals == 300).all()
    p1 = (
        fr[fr["rank"] == 1].groupby(["scope", "task", "metric", "algorithm"])["frequency"].sum()
        / 300
    )
    merged = br.set_index(["scope", "task", "metric", "algorithm"])["p_rank1"]
    np.testing.assert_allclose(p1.reindex(merged.index, fill_value=0.0), merged)
    assert ((br.rank_lo <= br.median_rank) & (br.median_rank <= br.rank_hi)).all()
    full = r.final_ranking.set_index("algorithm")["final_rank"]
    fb = br[br.scope == "final"].set_index("algorithm")["full_rank"]
    assert fb.to_dict() == full.to_dict()
    s = r.kendall_tau_summary
    assert list(s.columns) == ["task", "metric", "mean", "median", "q25", "q75"]
    assert ((s.q25 <= s["median"]) & (s["median"] <= s.q75)).all()
    assert len(r.kendall_tau) == 6 * 300


def test_bootstrap_ranking_alone_equals_rank_results_part():
    df = random_table(np.random.default_rng(8), n_alg=3)
    cfg = config(bootstrap_samples=50)
    alone = bootstrap_ranking(df, cfg)
    full = rank_results(df, cfg)
    pd.testing.assert_frame_equal(alone.bootstrap_ranks, full.bootstrap_ranks)


def test_kendall_tau_b_matches_scipy_with_ties():
    rng = np.random.default_rng(3)
    x = rng.integers(1, 5, size=(50, 7)).astype(float)
    y = rng.integers(1, 5, size=7).astype(float)
    got = kendall_tau_b(x, y)
    for b in range(50):
        ref = kendalltau(x[b], y).statistic
        if np.isnan(ref):
            assert np.isnan(got[b])
        else:
            assert got[b] == pytest.approx(ref, rel=1e-12)
    assert np.isnan(kendall_tau_b(np.ones((1, 3)), np.array([1.0, 2.0, 3.0]))[0])


def test_weighted_aggregates_equal_expanded_arrays():
    rng = np.random.default_rng(12)
    x = rng.integers(0, 10, size=(9, 4)).astype(float)
    x[rng.random(x.shape) < 0.2] = np.nan
    x[:, 3] = np.nan  # an algorithm with nothing left
    counts = draw_counts(rng, 9, 20)
    for how, fn in (("mean", np.nanmean), ("median", np.nanmedian)):
        got = weighted_aggregate(x, counts, how)
        for b in range(20):
            e = np.repeat(x, counts[b], axis=0)
            with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
                ref = fn(e, axis=0)
            np.testing.assert_allclose(got[b], ref, equal_nan=True)


def test_test_then_rank_bootstrap_weighting_and_compat():
    df = random_table(
        np.random.default_rng(6), n_alg=3, tasks=("CT",), n_cases=(14,), metrics=("DSC",), digits=2
    )
    counts = draw_counts(np.random.default_rng(2), 14, 3)
    a = analyse(df, config(scheme="test-then-rank"))
    run = a.runs[0]
    got = bootstrap_task_ranks(run, counts, parse_settings(config(scheme="test-then-rank")))
    compat = bootstrap_task_ranks(
        run, counts, parse_settings(config(scheme="test-then-rank", challenger_compat=True))
    )
    for b in range(3):
        sample = expand(df, "CT", run.cases, counts[b])
        ref = rank_results(sample, config(scheme="test-then-rank")).task_ranking.set_index(
            "algorithm"
        )
        assert got[b].tolist() == ref.loc[list(a.algorithms), "rank"].tolist()
        unique = expand(df, "CT", run.cases, counts[b] > 0)  # challengeR drops duplicate draws
        ref = rank_results(unique, config(scheme="test-then-rank")).task_ranking.set_index(
            "algorithm"
        )
        assert compat[b].tolist() == ref.loc[list(a.algorithms), "rank"].tolist()


def test_draw_counts_are_n_of_n():
    c = draw_counts(np.random.default_rng(0), 7, 500)
    assert c.shape == (500, 7) and (c.sum(axis=1) == 7).all()
    assert abs(c.mean() - 1) < 0.05
