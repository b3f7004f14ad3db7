"""Ranking options that were accepted and silently ignored (issue 12 item 8), now done
as challengeR does: rankThenAggregate(FUN = median), a numeric missing value under
rank-then-aggregate (as.challenge(na.treat = x)), and R's tie methods max, first,
last and random (seeded). Hand-worked examples first, then checks against ranking
the resampled table."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ranking_helpers import config, long_table, random_table

from evalkit.ranking import RankingConfigError, rank_results
from evalkit.ranking.pipeline import analyse, bootstrap_task_ranks, draw_counts
from evalkit.ranking.ranks import rank_parts, rank_rows
from evalkit.ranking.settings import parse_settings


def task_ranks(result, metric: str = "DSC") -> dict[str, float]:
    t = result.task_ranking
    return dict(zip(t[t.metric == metric].algorithm, t[t.metric == metric]["rank"]))


def task_scores(result, metric: str = "DSC") -> dict[str, float]:
    t = result.task_ranking
    return dict(zip(t[t.metric == metric].algorithm, t[t.metric == metric]["score"]))


# ----------------------------------------------------------------------------- aggregate = median

# cases 0-2: A 1st, B 2nd, C 3rd; cases 3-4: B 1st, C 2nd, A 3rd.
# per-case ranks A [1,1,1,3,3], B [2,2,2,1,1], C [3,3,3,2,2]
MEDIAN_CASE = {"A": [0.9, 0.9, 0.9, 0.5, 0.5], "B": [0.8, 0.8, 0.8, 0.9, 0.9],
               "C": [0.7, 0.7, 0.7, 0.8, 0.8]}


def test_rank_then_aggregate_median_hand_example():
    df = long_table(MEDIAN_CASE)
    mean = rank_results(df, config())
    assert task_scores(mean) == pytest.approx({"A": 1.8, "B": 1.6, "C": 2.6})
    assert task_ranks(mean) == {"B": 1, "A": 2, "C": 3}
    median = rank_results(df, config(aggregate="median"))  # was ignored: gave the mean's ranks
    assert task_scores(median) == {"A": 1, "B": 2, "C": 3}
    assert task_ranks(median) == {"A": 1, "B": 2, "C": 3}


def test_rank_then_aggregate_median_of_an_even_count_and_ties():
    # ranks A [1, 2], B [2, 1]: medians 1.5 and 1.5 tie -> both 1 ("min")
    r = rank_results(long_table({"A": [0.9, 0.1], "B": [0.5, 0.6]}), config(aggregate="median"))
    assert task_scores(r) == {"A": 1.5, "B": 1.5} and task_ranks(r) == {"A": 1, "B": 1}


def test_median_bootstrap_equals_ranking_the_resampled_table():
    df = random_table(
        np.random.default_rng(3), n_alg=4, tasks=("CT",), n_cases=(9,), missing=0.1, digits=1
    )
    cfg = config(aggregate="median")
    a = analyse(df, cfg)
    counts = draw_counts(np.random.default_rng(5), 9, 6)
    for run in a.runs:
        boot = bootstrap_task_ranks(run, counts, parse_settings(cfg))
        for b in range(counts.shape[0]):
            repeated = np.repeat(run.case_ranks, counts[b], axis=0)
            expected = rank_rows(np.median(repeated, axis=0), larger_better=False, ties="min")
            assert boot[b].tolist() == expected.tolist()


# ----------------------------------------------------------------------------- missing_value = x


def test_numeric_missing_value_fills_before_ranking_hand_example():
    # case 0: A 0.9, B missing, C 0.0; case 1: C 0.7 > B 0.6 > A 0.5
    df = long_table({"A": [0.9, 0.5], "B": [None, 0.6], "C": [0.0, 0.7]})
    worst = rank_results(df, config())  # rankNA2: case 0 ranks A 1, C 2, B 3
    assert task_scores(worst) == {"A": 2, "B": 2.5, "C": 1.5}
    assert task_ranks(worst) == {"C": 1, "A": 2, "B": 3}
    filled = rank_results(df, config(missing_value=0))  # B = 0 ties C: A 1, B 2, C 2
    assert task_scores(filled) == {"A": 2, "B": 2, "C": 1.5}
    assert task_ranks(filled) == {"C": 1, "A": 2, "B": 2}
    cases = filled.case_ranks.set_index(["case", "algorithm"])
    assert math.isnan(cases.loc[("CT_c0", "B"), "value"])  # the table keeps the raw value
    assert cases.loc[("CT_c0", "B"), "rank"] == 2
    assert filled.meta["n_missing_total"] == 1
    per_metric = rank_results(df, config(missing_value={"DSC": 0}))
    assert task_ranks(per_metric) == task_ranks(filled)


def test_fill_value_larger_than_all_makes_missing_best():
    df = long_table({"A": [0.9, 0.5], "B": [None, 0.6]})
    assert task_ranks(rank_results(df, config(missing_value=1.0))) == {"B": 1, "A": 2}


def test_filled_bootstrap_uses_the_filled_ranks():
    df = random_table(
        np.random.default_rng(6), n_alg=4, tasks=("CT",), n_cases=(10,), missing=0.2, digits=1
    )
    cfg = config(missing_value=0)
    a = analyse(df, cfg)
    counts = draw_counts(np.random.default_rng(2), 10, 5)
    for run in a.runs:
        filled = np.where(np.isnan(run.values), 0.0, run.values)
        ranks = rank_rows(filled, larger_better=run.larger_better, ties="min")
        assert run.case_ranks.tolist() == ranks.tolist()
        boot = bootstrap_task_ranks(run, counts, parse_settings(cfg))
        expected = rank_rows(counts @ ranks, larger_better=False, ties="min")
        assert boot.tolist() == expected.tolist()


# ----------------------------------------------------------------------------- tie methods

X = np.array([0.8, 0.9, 0.7, 0.8])  # larger better: 0.9 first, two 0.8 tie for 2nd/3rd
Y = np.array([0.9, 0.8, np.nan, 0.8, np.nan])  # two missing values


@pytest.mark.parametrize(
    "ties, on_x, on_y",
    [
        ("max", [3, 1, 4, 3], [1, 3, 5, 3, 5]),
        ("first", [2, 1, 4, 3], [1, 2, 4, 3, 5]),
        ("last", [3, 1, 4, 2], [1, 3, 5, 2, 4]),
        # unchanged, for comparison
        ("min", [2, 1, 4, 2], [1, 2, 3, 2, 3]),
        ("average", [2.5, 1, 4, 2.5], [1, 2.5, 4, 2.5, 4]),
    ],
)
def test_tie_methods_hand_examples(ties, on_x, on_y):
    assert rank_rows(X, larger_better=True, ties=ties).tolist() == on_x
    assert rank_rows(Y, larger_better=True, ties=ties).tolist() == on_y


def test_random_ties_hand_example():
    seen = set()
    for seed in range(20):
        r = rank_rows(X, larger_better=True, ties="random", rng=np.random.default_rng(seed))
        assert r[1] == 1 and r[2] == 4 and sorted([r[0], r[3]]) == [2, 3]
        seen.add((r[0], r[3]))
        # challengeR's rankNA2: missing values share (max rank) + 1 = 4
        ry = rank_rows(Y, larger_better=True, ties="random", rng=np.random.default_rng(seed))
        assert ry[0] == 1 and sorted([ry[1], ry[3]]) == [2, 3] and ry[2] == ry[4] == 4
    assert seen == {(2, 3), (3, 2)}  # both orders occur
    again = rank_rows(X, larger_better=True, ties="random", rng=np.random.default_rng(7))
    assert again.tolist() == rank_rows(
        X, larger_better=True, ties="random", rng=np.random.default_rng(7)).tolist()
    with pytest.raises(ValueError, match="rng"):
        rank_rows(X, larger_better=True, ties="random")


def test_all_missing_row_under_each_method():
    x = np.full(3, np.nan)
    assert rank_rows(x, larger_better=True, ties="max").tolist() == [3, 3, 3]
    assert rank_rows(x, larger_better=True, ties="first").tolist() == [1, 2, 3]
    assert rank_rows(x, larger_better=True, ties="last").tolist() == [3, 2, 1]
    rng = np.random.default_rng(0)
    assert rank_rows(x, larger_better=True, ties="random", rng=rng).tolist() == [1, 1, 1]


def reference_rank(values, larger_better: bool, ties: str) -> list[float]:
    """R's rank(ties.method = max / first / last) with evalkit's rule for NaN (the
    missing values take the last places, ordered by the same method), the slow way."""
    k = len(values)
    present = [i for i, v in enumerate(values) if v is not None]
    missing = [i for i, v in enumerate(values) if v is None]
    out = [0.0] * k
    for i in present:
        v = values[i]
        better = sum(1 for j in present if (values[j] > v if larger_better else values[j] < v))
        same = [j for j in present if values[j] == v]
        if ties == "max":
            out[i] = better + len(same)
        elif ties == "first":
            out[i] = better + same.index(i) + 1
        else:
            out[i] = better + len(same) - same.index(i)
    for n, i in enumerate(missing):
        out[i] = {"max": k, "first": len(present) + n + 1, "last": k - n}[ties]
    return out


values_st = st.lists(
    st.one_of(st.none(), st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0])), min_size=1, max_size=7
)


@settings(max_examples=200, deadline=None)
@given(values_st, st.booleans(), st.sampled_from(["max", "first", "last"]))
def test_tie_methods_match_the_reference(vals, larger_better, ties):
    x = np.array([math.nan if v is None else v for v in vals])
    assert rank_rows(x, larger_better=larger_better, ties=ties).tolist() == reference_rank(
        vals, larger_better, ties
    )


@settings(max_examples=200, deadline=None)
@given(values_st, st.integers(1, 4), st.booleans())
def test_max_rank_parts_reproduce_duplicated_case_ranking(vals, k, larger_better):
    """challengeR-compat bootstrap under "max": k duplicated rows ranked together."""
    x = np.array([math.nan if v is None else v for v in vals])
    a, c = rank_parts(x, larger_better=larger_better, ties="max")
    joint = reference_rank([v for v in vals for _ in range(k)], larger_better, "max")
    assert (k * a + c).tolist() == [joint[i * k] for i in range(len(vals))]


def test_tie_method_applies_to_the_task_rank_too():
    # A and B tie on every case: "max" ranks them 2, 2 (mean 2, 2 -> task ranks 2, 2);
    # "first" 1, 2 and "last" 2, 1 in algorithm order
    df = long_table({"A": [0.9, 0.9], "B": [0.9, 0.9], "C": [0.1, 0.1]})
    assert task_ranks(rank_results(df, config(ties="max"))) == {"A": 2, "B": 2, "C": 3}
    assert task_ranks(rank_results(df, config(ties="first"))) == {"A": 1, "B": 2, "C": 3}
    assert task_ranks(rank_results(df, config(ties="last"))) == {"A": 2, "B": 1, "C": 3}


@pytest.mark.parametrize("ties", ["max", "first", "last"])
def test_new_ties_bootstrap_equals_ranking_the_resampled_table(ties):
    df = random_table(
        np.random.default_rng(8), n_alg=4, tasks=("CT",), n_cases=(8,), missing=0.1, digits=1
    )
    cfg = config(ties=ties)
    a = analyse(df, cfg)
    counts = draw_counts(np.random.default_rng(4), 8, 5)
    for run in a.runs:
        boot = bootstrap_task_ranks(run, counts, parse_settings(cfg))
        expected = rank_rows(counts @ run.case_ranks, larger_better=False, ties=ties)
        assert boot.tolist() == expected.tolist()


def test_max_ties_work_with_challenger_compat():
    df = random_table(
        np.random.default_rng(1), n_alg=4, tasks=("CT",), n_cases=(6,), missing=0.2, digits=1
    )
    r = rank_results(df, config(ties="max", challenger_compat=True, bootstrap_samples=20))
    assert len(r.bootstrap_ranks) > 0


def test_random_ties_are_reproducible_with_the_seed_and_differ_between_seeds():
    df = random_table(
        np.random.default_rng(0), n_alg=5, tasks=("CT",), n_cases=(12,), missing=0.1, digits=0
    )
    one = rank_results(df, config(ties="random", seed=1, bootstrap_samples=30))
    again = rank_results(df, config(ties="random", seed=1, bootstrap_samples=30))
    assert one.case_ranks.equals(again.case_ranks)
    assert one.bootstrap_ranks.equals(again.bootstrap_ranks)
    other = rank_results(df, config(ties="random", seed=2, bootstrap_samples=30))
    assert not one.case_ranks["rank"].equals(other.case_ranks["rank"])
    # no missing value on a case -> its ranks are a permutation of 1..K
    for (_, _, _), g in one.case_ranks.groupby(["task", "metric", "case"]):
        if not g["value"].isna().any():
            assert sorted(g["rank"]) == [1, 2, 3, 4, 5]


# ----------------------------------------------------------------------------- refused


@pytest.mark.parametrize(
    "override, key",
    [
        ({"missing_value": "drop"}, "ranking.missing_value"),
        ({"missing_value": {"DSC": "drop"}}, "ranking.missing_value"),
        ({"scheme": "test-then-rank", "aggregate": "median", "missing_value": "drop"},
         "ranking.aggregate"),
        ({"aggregate": "median", "challenger_compat": True}, "ranking.aggregate"),
        ({"ties": "random", "challenger_compat": True}, "ranking.ties"),
    ],
)
def test_combinations_that_would_be_ignored_are_refused(override, key):
    with pytest.raises(RankingConfigError, match=key):
        parse_settings(config(**override))
