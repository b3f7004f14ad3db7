"""Bad input gets a clear error (naming rows/keys, expected and found) or a documented
behaviour, never a wrong number."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ranking_helpers import config, long_table

from evalkit.ranking import RankingConfigError, RankingInputError, rank_results, significance

GOOD = {"A": [0.9, 0.6, 0.8], "B": [0.8, 0.7, 0.5], "C": [0.1, 0.2, 0.3]}


def test_duplicate_row_is_an_error_naming_the_row():
    df = long_table(GOOD)
    df = pd.concat([df, df.iloc[[4]].assign(value=0.99)], ignore_index=True)
    with pytest.raises(
        RankingInputError, match=r"2 duplicate row\(s\).*'case': 'CT_c1'.*'algorithm': 'B'"
    ):
        rank_results(df, config())


def test_unknown_metric_is_an_error_listing_known_ones():
    df = long_table(GOOD, metric="HD95")
    with pytest.raises(
        RankingInputError, match=r"unknown metric\(s\) \['HD95'\].*'DSC', 'NSD', 'RunningTime'"
    ):
        rank_results(df, config())


def test_non_numeric_value_is_an_error():
    df = long_table(GOOD).astype({"value": object})
    df.loc[3, "value"] = "0.8x"
    with pytest.raises(RankingInputError, match=r"non-numeric 'value' in 1 row.*0\.8x"):
        rank_results(df, config())


def test_infinite_value_is_an_error():
    df = long_table(GOOD)
    df.loc[2, "value"] = np.inf
    with pytest.raises(RankingInputError, match="infinite 'value'"):
        rank_results(df, config())


def test_boolean_values_rejected():
    df = long_table(GOOD)
    df["value"] = df["value"] > 0.5
    with pytest.raises(RankingInputError, match="boolean"):
        rank_results(df, config())


def test_single_algorithm_is_an_error():
    with pytest.raises(RankingInputError, match=r"at least two algorithms, found \['A'\]"):
        rank_results(long_table({"A": [0.9, 0.6, 0.8]}), config())


def test_task_with_one_case_is_ranked_with_a_warning():
    """A demo-sized test set has one case per modality: it is ranked on that case, with a
    warning that no pair can be significant (one paired difference gives p >= 0.5, as R's
    wilcox.test does) and that its bootstrap is trivially stable."""
    df = pd.concat([long_table(GOOD, task="CT"), long_table({"A": [0.5], "B": [0.4]}, task="MR")])
    with pytest.warns(UserWarning, match=r"task MR: only 1 case \(\['MR_c0'\]\)"):
        res = rank_results(df, config())
    mr = res.task_ranking[res.task_ranking.task == "MR"].set_index("algorithm")["rank"]
    assert mr["A"] == 1 and mr["B"] == 2
    sig = res.significance[res.significance.task == "MR"]
    ab = sig[sig.algorithm.isin(["A", "B"]) & sig.other.isin(["A", "B"])]
    assert len(ab) == 2 and (ab["p_raw"] >= 0.5).all()
    assert not sig["significant"].any()


def test_task_with_one_algorithm_ranks_the_others_worst_with_a_warning():
    """A ranking task where only one algorithm has values (the others failed or did not
    submit) is ranked: the others tie for the worst rank on every case, counted as missing;
    their Wilcoxon tests have no common case (p = NaN, not significant)."""
    df = pd.concat([long_table(GOOD, task="CT"), long_table({"A": [0.5, 0.6]}, task="MR")])
    with pytest.warns(UserWarning, match="MR/DSC: only 1 algorithm"):
        r = rank_results(df, config())
    mr = r.task_ranking[r.task_ranking.task == "MR"].set_index("algorithm")
    assert mr["rank"].to_dict() == {"A": 1, "B": 2, "C": 2}
    assert mr["n_missing"].to_dict() == {"A": 0, "B": 2, "C": 2}
    sig = r.significance[r.significance.task == "MR"]
    assert sig["p_raw"].isna().all() and not sig["significant"].any()
    assert (sig["n_pairs"] == 0).all()


def test_missing_columns_and_empty_keys():
    df = long_table(GOOD)
    with pytest.raises(RankingInputError, match=r"missing column\(s\) \['value'\]"):
        rank_results(df.drop(columns="value"), config())
    bad = df.copy()
    bad.loc[0, "algorithm"] = " "
    with pytest.raises(RankingInputError, match="empty 'algorithm' in 1 row"):
        rank_results(bad, config())
    bad = df.copy()
    bad.loc[1, "case"] = None
    with pytest.raises(RankingInputError, match="empty 'case'"):
        rank_results(bad, config())
    with pytest.raises(RankingInputError, match="empty"):
        rank_results(df.iloc[:0], config())


def test_numeric_and_text_ids_are_one_label():
    df = long_table(GOOD)
    # case 0, 1, 2 as integers for A and as text "0", "1", "2" for the others
    ids = df["case"].str.replace("CT_c", "", regex=False)
    df["case"] = [int(c) if a == "A" else c for c, a in zip(ids, df["algorithm"])]
    r = rank_results(df, config())
    assert r.meta["n_missing_total"] == 0 and set(r.case_ranks["case"]) == {"0", "1", "2"}


@pytest.mark.parametrize(
    "override, match",
    [
        ({"scheme": "rank-then-vote"}, "ranking.scheme"),
        ({"ties": "dense"}, "ranking.ties"),
        ({"aggregate": "mode"}, "ranking.aggregate"),
        ({"bootstrap_samples": -1}, "ranking.bootstrap_samples"),
        ({"alpha": 1.5}, "ranking.alpha"),
        ({"missing_value": "zero"}, "ranking.missing_value"),
        ({"missing_value": {"DSC": float("nan")}}, "ranking.missing_value.DSC"),
        ({"metrics": {"DSC": "higher"}}, "ranking.metrics.DSC"),
        ({"task_weights": {"CT/HD": 2}}, r"unknown ranking task\(s\) \['CT/HD'\]"),
        ({"task_weights": {"CT/DSC": -1}}, "ranking.task_weights.CT/DSC"),
        ({"task_weights": {"CT/DSC": 0}}, "all weights are zero"),
        ({"bogus": 1}, "unknown ranking keys"),
    ],
)
def test_bad_settings_are_clear_errors(override, match):
    with pytest.raises(RankingConfigError, match=match):
        rank_results(long_table(GOOD), config(**override))


def test_missing_value_table_needs_every_metric():
    df = long_table({"A": [0.9, None, 0.8], "B": [0.8, 0.7, 0.5]})
    with pytest.raises(RankingConfigError, match="no entry for metric 'DSC'"):
        rank_results(df, config(scheme="aggregate-then-rank", missing_value={"NSD": 0}))


def test_significance_alone_uses_fill_value_when_configured():
    df = long_table({"A": [0.9, 0.8, 0.7, None], "B": [0.5, 0.4, 0.3, 0.2]})
    pairwise = significance(df, config()).set_index(["algorithm", "other"])
    filled = significance(df, config(missing_value=0)).set_index(["algorithm", "other"])
    assert pairwise.loc[("A", "B"), "n_pairs"] == 3 and filled.loc[("A", "B"), "n_pairs"] == 4
    assert list(significance(df, config()).columns) == [
        "task",
        "metric",
        "algorithm",
        "other",
        "p_raw",
        "p_holm",
        "significant",
        "median_diff",
        "n_pairs",
    ]
