"""Per-case ranks (challengeR rankNA2), tie rules and the challengeR-compat rank split."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ranking_helpers import reference_rank_na2

from evalkit.ranking.ranks import rank_parts, rank_rows, to_average_ranks


def test_min_ties_hand_example():
    # DSC larger-better: 0.9 best; two 0.8 tie at 2; 0.7 is 4th with "min".
    r = rank_rows(np.array([0.8, 0.9, 0.7, 0.8]), larger_better=True, ties="min")
    assert r.tolist() == [2, 1, 4, 2]


def test_average_ties_hand_example():
    r = rank_rows(np.array([0.8, 0.9, 0.7, 0.8]), larger_better=True, ties="average")
    assert r.tolist() == [2.5, 1, 4, 2.5]


def test_smaller_better_direction():
    # RunningTime: fastest first
    r = rank_rows(np.array([3.0, 1.0, 2.0, 1.0]), larger_better=False, ties="min")
    assert r.tolist() == [4, 1, 3, 1]


def test_missing_gets_max_rank_plus_one_min_ties():
    # non-missing ranks 1, 2, 2 -> max 2 -> both missing get 3 (not 4: rankNA2, not "bottom")
    r = rank_rows(np.array([0.9, 0.8, np.nan, 0.8, np.nan]), larger_better=True, ties="min")
    assert r.tolist() == [1, 2, 3, 2, 3]


def test_missing_average_ties():
    # non-missing average ranks 1, 2.5, 2.5 -> max 2.5; k = 2 missing -> 2.5 + (2+1)/2 = 4
    r = rank_rows(np.array([0.9, 0.8, np.nan, 0.8, np.nan]), larger_better=True, ties="average")
    assert r.tolist() == [1, 2.5, 4, 2.5, 4]


def test_all_missing_row():
    x = np.full(3, np.nan)
    assert rank_rows(x, larger_better=True, ties="min").tolist() == [1, 1, 1]
    assert rank_rows(x, larger_better=True, ties="average").tolist() == [2, 2, 2]


def test_rows_are_independent():
    x = np.array([[1.0, 2.0, 3.0], [3.0, np.nan, 1.0]])
    assert rank_rows(x, larger_better=True).tolist() == [[3, 2, 1], [1, 3, 2]]


def test_to_average_ranks_converts_ties():
    assert to_average_ranks(np.array([1.0, 1.0, 3.0])).tolist() == [1.5, 1.5, 3]
    assert to_average_ranks(np.array([2.0, 1.0, 2.0, 4.0])).tolist() == [2.5, 1, 2.5, 4]


def test_unknown_ties_rejected():
    with pytest.raises(ValueError, match="ties"):
        rank_rows(np.array([1.0, 2.0]), larger_better=True, ties="dense")


values_st = st.lists(
    st.one_of(st.none(), st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0])), min_size=1, max_size=7
)


@settings(max_examples=200, deadline=None)
@given(values_st, st.booleans(), st.sampled_from(["min", "average"]))
def test_matches_reference_rank_na2(vals, larger_better, ties):
    x = np.array([math.nan if v is None else v for v in vals])
    expected = reference_rank_na2(vals, larger_better, ties)
    assert rank_rows(x, larger_better=larger_better, ties=ties).tolist() == expected


@settings(max_examples=200, deadline=None)
@given(values_st, st.integers(1, 4), st.booleans(), st.sampled_from(["min", "average"]))
def test_rank_parts_reproduce_duplicated_case_ranking(vals, k, larger_better, ties):
    """challengeR ranks a case drawn k times as k*K rows under one case id: each of an
    algorithm's k rows gets rankNA2 of the duplicated row, i.e. k*A + C."""
    x = np.array([math.nan if v is None else v for v in vals])
    a, c = rank_parts(x, larger_better=larger_better, ties=ties)
    duplicated = [v for v in vals for _ in range(k)]  # each algorithm's value k times
    joint = reference_rank_na2(duplicated, larger_better, ties)
    per_algorithm = [joint[i * k] for i in range(len(vals))]  # the k copies share one rank
    assert (k * a + c).tolist() == per_algorithm
    assert (a + c).tolist() == reference_rank_na2(vals, larger_better, ties)
