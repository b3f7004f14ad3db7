"""Parity of the interactive metrics with the official CVPR25_iter_eval.py (commit 748e862).

``score_iterations`` on the official per-iteration predictions (the saved
``all_segs``; ``None`` for iteration 1 of a case without boxes) reproduces every
DSC_k, NSD_k, DSC_AUC, NSD_AUC, DSC_Final and NSD_Final of the official metrics
CSV to 1e-12. Data: tests/data/cvpr25/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from evalkit.metrics.interactive import score_iterations

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the official-data loaders
import cvpr25_official as official

CASES = [(t, c) for t in official.teams() for c in official.metrics_table(t).index]


@pytest.mark.parametrize("team,case", CASES)
def test_scores_equal_the_official_csv(team, case):
    row = official.metrics_table(team).loc[case]
    spacing = official.case_info()[case]["spacing"]
    ours = score_iterations(official.gts(case), official.predictions(team, case), spacing)
    assert set(ours) <= set(row.index)
    for key, value in ours.items():
        assert abs(value - float(row[key])) <= 1e-12, (team, case, key, value, row[key])


def test_every_case_of_the_demo_set_is_in_the_official_tables():
    names = set(official.case_info())
    for team in official.teams():
        assert set(official.metrics_table(team).index) == names
