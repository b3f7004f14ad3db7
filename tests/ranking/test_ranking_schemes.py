"""Hand-computed examples for every scheme, tie rule, missing-value rule and the consensus."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ranking_helpers import config, long_table

from evalkit.ranking import MissingPolicyError, RankingInputError, rank_results
from evalkit.ranking.consensus import euclidean_consensus

# DSC (larger better), 4 cases; B has no row for case 3 (inserted as missing).
#        c0   c1   c2   c3
# A     .9   .6   .9   .7
# B     .8   .8   .9   --
# C     .7   .8   .5   .8
EXAMPLE = {"A": [0.9, 0.6, 0.9, 0.7], "B": [0.8, 0.8, 0.9, None], "C": [0.7, 0.8, 0.5, 0.8]}


def by_alg(df: pd.DataFrame, col: str) -> dict:
    return dict(zip(df["algorithm"], df[col]))


def test_rank_then_aggregate_min_ties_by_hand():
    r = rank_results(long_table(EXAMPLE), config())
    # per-case "min" ranks: c0 A1 B2 C3 | c1 A3 B1 C1 | c2 A1 B1 C3 | c3 C1 A2 B(missing) 3
    cr = r.case_ranks.pivot(index="case", columns="algorithm", values="rank")
    assert cr.loc["CT_c1"].tolist() == [3, 1, 1]
    assert cr.loc["CT_c3"].tolist() == [2, 3, 1]
    tr = r.task_ranking
    # mean ranks A 7/4, B 7/4, C 8/4 -> ranks 1, 1, 3
    assert by_alg(tr, "score") == {"A": 1.75, "B": 1.75, "C": 2.0}
    assert by_alg(tr, "rank") == {"A": 1, "B": 1, "C": 3}
    assert by_alg(tr, "n_missing") == {"A": 0, "B": 1, "C": 0}
    assert set(tr["n_cases"]) == {4}
    assert r.meta["n_missing_inserted"] == 1 and r.meta["n_missing_total"] == 1
    # one task: consensus = tied task ranks made average (1.5, 1.5, 3), final "min" ranks 1, 1, 3
    assert by_alg(r.final_ranking, "consensus_score") == {"A": 1.5, "B": 1.5, "C": 3.0}
    assert by_alg(r.final_ranking, "final_rank") == {"A": 1, "B": 1, "C": 3}


def test_rank_then_aggregate_average_ties_by_hand():
    r = rank_results(long_table(EXAMPLE), config(ties="average"))
    # c1 A3 B1.5 C1.5 | c2 A1.5 B1.5 C3 | c3 C1 A2 B 2+(1+1)/2=3
    tr = r.task_ranking
    assert by_alg(tr, "score") == {"A": 7.5 / 4, "B": 2.0, "C": 8.5 / 4}
    assert by_alg(tr, "rank") == {"A": 1, "B": 2, "C": 3}


def test_explicit_nan_counts_as_missing_not_inserted():
    df = long_table({"A": [0.9, 0.6], "B": [0.8, float("nan")]})
    r = rank_results(df, config())
    assert r.meta["n_missing_inserted"] == 0 and r.meta["n_missing_total"] == 1
    assert by_alg(r.task_ranking, "n_missing") == {"A": 0, "B": 1}


def test_aggregate_then_rank_needs_explicit_missing_policy():
    with pytest.raises(MissingPolicyError, match="CT/DSC.*missing_value"):
        rank_results(long_table(EXAMPLE), config(scheme="aggregate-then-rank"))
    with pytest.raises(RankingInputError):  # callers catching bad input catch this too
        rank_results(long_table(EXAMPLE), config(scheme="test-then-rank"))


def test_aggregate_then_rank_mean_fill_value():
    r = rank_results(long_table(EXAMPLE), config(scheme="aggregate-then-rank", missing_value=0))
    # means: A 3.1/4, B (2.5+0)/4, C 2.8/4 -> A, C, B
    s = by_alg(r.task_ranking, "score")
    assert (
        s["A"] == pytest.approx(0.775)
        and s["B"] == pytest.approx(0.625)
        and s["C"] == pytest.approx(0.7)
    )
    assert by_alg(r.task_ranking, "rank") == {"A": 1, "B": 3, "C": 2}


def test_aggregate_then_rank_mean_drop():
    r = rank_results(
        long_table(EXAMPLE), config(scheme="aggregate-then-rank", missing_value="drop")
    )
    # B's mean over its 3 cases: 2.5/3 = 0.833 -> B first
    assert by_alg(r.task_ranking, "rank") == {"A": 2, "B": 1, "C": 3}


def test_aggregate_then_rank_median_and_ties():
    # dyadic values, so medians are exact: A med(.25,.5,.75,1)=.625, B med(.5,.75,.5,1)=.625,
    # C med(.25,.25,.5,1)=.375; RunningTime smaller-better: A 2, B 1, C 3 (medians)
    df = long_table(
        {
            ("CT", "DSC"): {
                "A": [0.25, 0.5, 0.75, 1.0],
                "B": [0.5, 0.75, 0.5, 1.0],
                "C": [0.25, 0.25, 0.5, 1.0],
            },
            ("CT", "RunningTime"): {"A": [2, 2, 1, 3], "B": [1, 1, 1, 5], "C": [3, 3, 3, 3]},
        }
    )
    r = rank_results(df, config(scheme="aggregate-then-rank", aggregate="median"))
    tr = r.task_ranking
    dsc = tr[tr.metric == "DSC"]
    assert by_alg(dsc, "score") == {"A": 0.625, "B": 0.625, "C": 0.375}
    assert by_alg(dsc, "rank") == {"A": 1, "B": 1, "C": 3}
    rt = tr[tr.metric == "RunningTime"]
    assert by_alg(rt, "score") == {"A": 2.0, "B": 1.0, "C": 3.0}
    assert by_alg(rt, "rank") == {"A": 2, "B": 1, "C": 3}
    r = rank_results(df, config(scheme="aggregate-then-rank", aggregate="median", ties="average"))
    dsc = r.task_ranking[r.task_ranking.metric == "DSC"]
    assert by_alg(dsc, "rank") == {"A": 1.5, "B": 1.5, "C": 3}


def test_test_then_rank_by_hand():
    # 12 cases; A = B + 1/4 and C = B - 1/4 on every case (exact in binary):
    # one-sided p ~ 3e-4 for each "better" pair, Holm x6 still < 0.05.
    b = [c / 16 for c in range(12)]
    df = long_table({"A": [v + 0.25 for v in b], "B": b, "C": [v - 0.25 for v in b]})
    r = rank_results(df, config(scheme="test-then-rank"))
    assert by_alg(r.task_ranking, "score") == {"A": 1.0, "B": 0.5, "C": 0.0}
    assert by_alg(r.task_ranking, "rank") == {"A": 1, "B": 2, "C": 3}
    sig = r.significance.set_index(["algorithm", "other"])["significant"]
    assert sig[("A", "B")] and sig[("A", "C")] and sig[("B", "C")]
    assert not sig[("B", "A")] and not sig[("C", "A")] and not sig[("C", "B")]


def test_test_then_rank_ties_when_nothing_significant():
    df = long_table({"A": [0.5, 0.6, 0.7], "B": [0.6, 0.5, 0.7], "C": [0.7, 0.5, 0.6]})
    r = rank_results(df, config(scheme="test-then-rank"))
    assert by_alg(r.task_ranking, "rank") == {"A": 1, "B": 1, "C": 1}


def test_euclidean_consensus_by_hand():
    # task 1 ranks (1, 1, 3) -> average (1.5, 1.5, 3); task 2 ranks (3, 1, 2)
    ranks = np.array([[1.0, 1.0, 3.0], [3.0, 1.0, 2.0]])
    score, rank = euclidean_consensus(ranks)
    assert score.tolist() == [2.25, 1.25, 2.5] and rank.tolist() == [2, 1, 3]
    score, rank = euclidean_consensus(ranks, np.array([1.0, 3.0]))
    # A (1.5 + 9)/4, B (1.5 + 3)/4, C (3 + 6)/4
    assert score.tolist() == [2.625, 1.125, 2.25] and rank.tolist() == [3, 1, 2]
    _, rank = euclidean_consensus(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]))
    assert rank.tolist() == [1, 1, 1]  # all tied at 2 -> "min" ties


def test_consensus_through_pipeline_with_task_weights():
    # CT/DSC gives A 1, B 1 (tie), C 3 (EXAMPLE); MR/DSC gives A 3, B 1, C 2.
    df = pd.concat(
        [
            long_table(EXAMPLE, task="CT"),
            long_table({"A": [0.1, 0.2], "B": [0.9, 0.8], "C": [0.5, 0.5]}, task="MR"),
        ]
    )
    r = rank_results(df, config())
    assert by_alg(r.final_ranking, "consensus_score") == {"A": 2.25, "B": 1.25, "C": 2.5}
    assert r.final_ranking["algorithm"].tolist() == ["B", "A", "C"]
    r = rank_results(df, config(task_weights={"CT/DSC": 1, "MR/DSC": 3}))
    assert by_alg(r.final_ranking, "final_rank") == {"A": 3, "B": 1, "C": 2}
    assert r.meta["task_weights"] == {"CT/DSC": 1.0, "MR/DSC": 3.0}


def test_pipeline_matches_independent_pandas_rank_then_aggregate():
    """Without missing values, challengeR's rank-then-aggregate is pandas' group-by
    rank("min") + mean + rank("min"); the consensus is mean of average ranks."""
    from ranking_helpers import random_table

    df = random_table(np.random.default_rng(5), n_alg=6, digits=1)  # coarse values: many ties
    r = rank_results(df, config())
    d = df.copy()
    d["asc"] = d["metric"].eq("RunningTime")
    d["r"] = np.where(
        d["asc"],
        d.groupby(["task", "metric", "case"])["value"].rank(method="min", ascending=True),
        d.groupby(["task", "metric", "case"])["value"].rank(method="min", ascending=False),
    )
    mean = d.groupby(["task", "metric", "algorithm"])["r"].mean()
    task_rank = mean.groupby(level=[0, 1]).rank(method="min")
    avg = task_rank.groupby(level=[0, 1]).rank(method="average")
    final = avg.groupby(level=2).mean().rank(method="min")
    got = r.task_ranking.set_index(["task", "metric", "algorithm"])
    pd.testing.assert_series_equal(got["score"], mean.rename("score"), check_like=True)
    pd.testing.assert_series_equal(got["rank"], task_rank.rename("rank"), check_like=True)
    assert by_alg(r.final_ranking, "final_rank") == final.to_dict()


def test_means_equal_in_exact_arithmetic_tie():
    # 0.1 + 0.2 != 0.3 in floating point; the means (0.15) must still tie.
    df = long_table({"A": [0.1, 0.2], "B": [0.3, 0.0], "C": [0.0, 0.1]})
    r = rank_results(df, config(scheme="aggregate-then-rank"))
    assert by_alg(r.task_ranking, "rank") == {"A": 1, "B": 1, "C": 3}
